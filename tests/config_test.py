"""Tests for core/config.py: one declaration per setting, checked wherever built."""

import dataclasses
import json

import pytest

from core import config


def _all_fields():
  cfg = config.ExperimentConfig()
  return [(section.name, f) for section in dataclasses.fields(cfg)
          for f in dataclasses.fields(getattr(cfg, section.name))]


def test_every_setting_has_a_help_sentence():
  for section, f in _all_fields():
    text = f.metadata.get('help', '')
    assert len(text.split()) >= 3 and text.rstrip().endswith(('.', ')')), (
        '%s.%s: %r' % (section, f.name, text))


def test_setting_names_are_unique_across_sections():
  names = [f.name for _, f in _all_fields()]
  assert len(names) == len(set(names))


@pytest.mark.parametrize('settings, message', [
    (dict(train_steps=-5), 'train.train_steps must be >= 1, got -5'),
    (dict(batch_size=0), 'train.batch_size must be >= 1, got 0'),
    (dict(steps_per_loop=0), 'train.steps_per_loop must be >= 1, got 0'),
    (dict(crop_size=(0, 0)), 'data.crop_size must be two positive integers'),
    (dict(ema_decay=1.0), r'ema_teacher.ema_decay must be in \[0, 1\), got 1.0'),
    (dict(cutmix_area=0.0), r'cutmix.cutmix_area must be in \(0, 1\], got 0.0'),
    (dict(backbone='vgg'), "model.backbone must be one of 'mobilenet_v2' | "),
    (dict(cam_level='last'),
     'model.cam_level must be "" or a backbone level such as 3, got \'last\''),
    (dict(hue=0.7), r'strong_aug.hue must be in \[0, 0.5\], got 0.7'),
    (dict(output_stride=32), 'model.output_stride must be one of 8 | 16'),
    (dict(width_multiplier='wide'), 'model.width_multiplier must be of type float'),
    (dict(oracle_share=0.5),
     'diagnostics.oracle_share needs oracle_pseudo_labels, got 0.5 without it'),
    (dict(min_scale=2.0, max_scale=1.0), 'data.min_scale must be <= max_scale'),
    (dict(decoder_image_labels=0.1, use_image_labels=True),
     'decoder_image_labels is for the unlabeled mode'),
    (dict(cpu_replicas=2),
     "train.cpu_replicas is for strategy mirrored, got strategy 'default'"),
    (dict(cpu_replicas=-1), 'train.cpu_replicas must be >= 0, got -1'),
])
def test_bad_values_are_refused_naming_the_setting(settings, message):
  with pytest.raises(config.ConfigError, match=message):
    config.override(config.ExperimentConfig(), **settings)


def test_a_config_json_is_checked_too():
  record = json.loads(config.ExperimentConfig().to_json())
  record['train']['batch_size'] = 0
  with pytest.raises(config.ConfigError, match='train.batch_size'):
    config.from_dict(record)


def test_flag_form_of_the_message():
  with pytest.raises(config.ConfigError) as raised:
    config.override(config.ExperimentConfig(), oracle_share=0.5)
  assert raised.value.as_flags() == (
      '--oracle_share needs --oracle_pseudo_labels, got 0.5 without it')
  assert (raised.value.section, raised.value.name) == ('diagnostics',
                                                       'oracle_share')


def test_integers_stand_for_floats_and_round_trip():
  cfg = config.override(config.ExperimentConfig(), temperature=1, train_steps=7)
  assert isinstance(cfg.pseudo_label.temperature, float)
  assert config.from_dict(json.loads(cfg.to_json())) == cfg


def test_override_refuses_unknown_names():
  with pytest.raises(KeyError, match='is not a setting'):
    config.override(config.ExperimentConfig(), train_stepz=3)


def test_defaults_and_smoke_preset_are_valid():
  assert config.smoke().train.train_steps == 4
  assert config.ExperimentConfig().model.backbone == 'mobilenet_v2'


def test_a_setting_is_read_from_the_section_an_older_record_holds_it_in():
  # Runs written when the options' settings sat in pseudo_label and loss.
  record = json.loads(config.ExperimentConfig().to_json())
  for section in ('ema_teacher', 'cutmix', 'rampup'):
    del record[section]
  record['pseudo_label'].update(ema_decay=0.99, cutmix=True, cutmix_area=0.3)
  record['loss']['unsup_rampup_steps'] = 300
  cfg = config.from_dict(record)
  assert cfg.ema_teacher.ema_decay == 0.99
  assert (cfg.cutmix.cutmix, cfg.cutmix.cutmix_area) == (True, 0.3)
  assert cfg.rampup.unsup_rampup_steps == 300
