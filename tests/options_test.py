"""Tests for the registry of the PseudoSeg step's options (core/tasks/options/base.py)."""

import dataclasses

import pytest

from core import config
from core.tasks import options  # pylint: disable=unused-import
from core.tasks.options import base as options_base
from research import pseudo_label_options  # pylint: disable=unused-import


def test_every_option_section_is_read_by_a_registered_option():
  assert ({cls.section for cls in options_base._REGISTRY} ==
          set(config.OPTION_SECTIONS))


def test_state_settings_name_real_settings():
  cfg = config.ExperimentConfig()
  for setting, what in options_base.state_settings():
    section, name = setting.split('.')
    assert name in [f.name for f in dataclasses.fields(getattr(cfg, section))]
    assert what


def test_the_config_turns_on_exactly_its_options():
  cfg = config.override(config.smoke(), ema_decay=0.9, cutmix=True,
                        unsup_rampup_steps=10, score_pseudo_labels=True)
  built = options_base.from_config(cfg, 5, 255)
  assert sorted(type(o).__name__ for o in built) == [
      'ConsistencyRampup', 'CutMix', 'EmaTeacher', 'PseudoLabelScores']
  assert options_base.from_config(config.smoke(), 5, 255) == []


def test_a_set_section_whose_option_is_not_registered_is_refused(monkeypatch):
  cfg = config.override(config.smoke(), oracle_pseudo_labels=True)
  monkeypatch.setattr(options_base, '_REGISTRY', [
      cls for cls in options_base._REGISTRY if cls.section != 'diagnostics'])
  with pytest.raises(ValueError, match="sets 'diagnostics'.*no option"):
    options_base.from_config(cfg, 5, 255)
  assert options_base.from_config(config.smoke(), 5, 255) == []
