"""The package structure holds: imports run one way, no flags in the library.

  binaries -> cli -> core, datasets, research;  research -> core, datasets;
  datasets -> augment;  core imports none of datasets, augment, research, cli.
  launch (how a program starts and reports errors) imports none of them; the
  binaries and the conversion tools of datasets/ use it, the library does not.
  benchmarks (a program of its own) may import all of them; none imports it.
"""

import ast
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ('core', 'datasets', 'augment', 'research', 'cli', 'launch',
            'benchmarks')
# Which first-party packages each package must not import.
FORBIDDEN = {
    'core': ('datasets', 'augment', 'research', 'cli', 'launch', 'benchmarks'),
    'datasets': ('core', 'research', 'cli', 'benchmarks'),
    'augment': ('core', 'datasets', 'research', 'cli', 'launch', 'benchmarks'),
    'research': ('cli', 'launch', 'benchmarks'),
    'cli': ('benchmarks',),
    'launch': ('core', 'datasets', 'augment', 'research', 'cli', 'benchmarks'),
    'benchmarks': (),
}


def _modules(package):
  for folder, _, names in os.walk(os.path.join(ROOT, package)):
    for name in sorted(names):
      if name.endswith('.py'):
        yield os.path.join(folder, name)


def _imported(path):
  """Top-level package names a module imports (anywhere in it)."""
  with open(path) as f:
    tree = ast.parse(f.read(), path)
  names = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names.update(alias.name.split('.')[0] for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      names.add(node.module.split('.')[0])
  return names


@pytest.mark.parametrize('package', PACKAGES)
def test_imports_run_one_way(package):
  wrong = {}
  for path in _modules(package):
    bad = sorted(_imported(path) & set(FORBIDDEN[package]))
    if bad:
      wrong[os.path.relpath(path, ROOT)] = bad
  assert not wrong, wrong


def test_only_the_conversion_tools_of_datasets_use_launch():
  # launch defines --verbose; a library module importing it would define a flag.
  wrong = [os.path.relpath(p, ROOT) for p in _modules('datasets')
           if 'launch' in _imported(p) and "__name__ == '__main__'" not in
           open(p).read()]
  assert not wrong, wrong


@pytest.mark.parametrize('package', ('core', 'datasets', 'augment', 'research'))
def test_library_reads_no_flags(package):
  readers = [os.path.relpath(p, ROOT) for p in _modules(package)
             if re.search(r'(^|[^_\w])FLAGS\.|flags\.FLAGS', open(p).read())]
  assert not readers, readers


def test_no_module_edits_the_import_path():
  editors = []
  for folder, dirs, names in os.walk(ROOT):
    dirs[:] = [d for d in dirs if not d.startswith('.')]
    for name in names:
      path = os.path.join(folder, name)
      if name.endswith('.py') and path != os.path.abspath(__file__):
        if re.search(r'\bsys\.path\b', open(path, encoding='utf-8').read()):
          editors.append(os.path.relpath(path, ROOT))
  assert not editors, editors


def test_every_package_is_installed_by_pyproject():
  with open(os.path.join(ROOT, 'pyproject.toml')) as f:
    text = f.read()
  for package in PACKAGES:
    assert '"%s*"' % package in text, package
