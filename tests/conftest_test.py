"""The test workers' share of the cores (conftest.share_the_cores)."""

from tests import conftest


def test_each_of_two_workers_gets_one_thread_of_two_cores():
  environ = {'PYTEST_XDIST_WORKER_COUNT': '2'}
  conftest.share_the_cores(environ, 2)
  assert environ['TF_NUM_INTRAOP_THREADS'] == '1'
  assert environ['TF_NUM_INTEROP_THREADS'] == '1'


def test_more_cores_are_shared_out_and_a_user_setting_is_kept():
  environ = {'PYTEST_XDIST_WORKER_COUNT': '4', 'TF_NUM_INTEROP_THREADS': '3'}
  conftest.share_the_cores(environ, 16)
  assert environ['TF_NUM_INTRAOP_THREADS'] == '4'
  assert environ['TF_NUM_INTEROP_THREADS'] == '3'


def test_one_process_keeps_tensorflows_own_pools():
  for environ in ({}, {'PYTEST_XDIST_WORKER_COUNT': '1'}):
    conftest.share_the_cores(environ, 2)
    assert 'TF_NUM_INTRAOP_THREADS' not in environ
