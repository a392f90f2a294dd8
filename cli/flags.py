"""absl flags generated from core.config's declarations, one flag per setting.

Every field of the chosen `ExperimentConfig` sections becomes a flag of the same name,
with the field's default and help sentence. `config_from_flags` validates the config the
flags give before anything is built or read: a bad value stops the binary with one line
naming the flag and what it allows. The flags of evaluation and export that no config
field declares are held to the same rule by `checked` and `checked_checkpoint`.
"""

import dataclasses

from absl import flags

from core import config as config_lib
from core import experiments

SUPERVISED_SECTIONS = ('model', 'data', 'train')
PSEUDOSEG_SECTIONS = ('model', 'data', 'strong_aug', 'pseudo_label', 'loss',
                      'ema_teacher', 'alignment', 'cutmix', 'feature_dropout',
                      'rampup', 'diagnostics', 'train')
# Settings every training run must give.
REQUIRED = ('record_dir', 'model_dir')

_HOLDERS = {}
# (binary, --experiment, --allow_random_init) once define_flags gave a binary.
_EXPERIMENT = {}


def _define(name, default, help_text, flag_values):
  if isinstance(default, bool):
    return flags.DEFINE_bool(name, default, help_text, flag_values=flag_values)
  if isinstance(default, int):
    return flags.DEFINE_integer(name, default, help_text,
                                flag_values=flag_values)
  if isinstance(default, float):
    return flags.DEFINE_float(name, default, help_text, flag_values=flag_values)
  if isinstance(default, tuple):
    return flags.DEFINE_list(name, [str(x) for x in default], help_text,
                             flag_values=flag_values)
  return flags.DEFINE_string(name, default, help_text, flag_values=flag_values)


def define_flags(sections, overrides=None, flag_values=flags.FLAGS,
                 binary=None):
  """Defines one absl flag per config field of the given sections.

  Args:
    sections: names of ExperimentConfig fields to expose.
    overrides: optional {field: default} to change a default for this binary.
    flag_values: the FlagValues to define them in (tests pass their own).
    binary: the binary's file name ('train_wss.py'): also defines
      --experiment (core/experiments.py: a named config that the flags given
      then override) and --allow_random_init.
  """
  if binary:
    _EXPERIMENT['binary'] = binary
    _EXPERIMENT['name'] = flags.DEFINE_string(
        'experiment', '', 'A named configuration to start from (the flags '
        'given override it); "list" prints those of this binary.',
        flag_values=flag_values)
    _EXPERIMENT['allow_random_init'] = flags.DEFINE_bool(
        'allow_random_init', False, 'Let a paper recipe (--experiment) start '
        'without --init_checkpoint, from random weights.',
        flag_values=flag_values)
  base = config_lib.ExperimentConfig()
  overrides = overrides or {}
  for section in sections:
    for f in dataclasses.fields(getattr(base, section)):
      default = overrides.get(f.name, getattr(getattr(base, section), f.name))
      help_text = f.metadata['help']
      if f.name in REQUIRED:
        help_text += ' Required.'
      holder = _define(f.name, default, help_text, flag_values)
      _HOLDERS[(section, f.name)] = (holder, f)


def _usage_error(message):
  """Stops the binary with one line (no traceback): the flag and the problem."""
  return SystemExit('FATAL Flags parsing error: %s' % message)


def usage_error(message):
  """SystemExit for flags a binary refuses together: one line, as `checked`."""
  return _usage_error(message)


def _field_value(field, value):
  """A flag's value as the config field holds it (a list flag gives a tuple)."""
  if not isinstance(field.default, tuple):
    return value
  item = type(field.default[0]) if field.default else int
  try:
    return tuple(item(v) for v in value)
  except ValueError:
    raise _usage_error('--%s must be a list of %s, got %r.' % (
        field.name, item.__name__, ','.join(value))) from None


def config_from_flags():
  """The ExperimentConfig of the flags defined by `define_flags`, validated.

  Call it first in `main`: nothing has been built or read yet.

  Raises:
    SystemExit: a required flag is missing or a setting has a value it does
      not allow; the message names the flag and what it allows.
  """
  experiment = _chosen_experiment()
  base = experiment.build() if experiment else config_lib.ExperimentConfig()
  sections = {}
  for (section, name), (holder, field) in _HOLDERS.items():
    # Over an experiment, only the flags given on the command line count.
    if experiment is None or holder.present:
      sections.setdefault(section, {})[name] = _field_value(field,
                                                            holder.value)
  try:
    cfg = config_lib.replace(base, **sections)
  except config_lib.ConfigError as e:
    raise _usage_error(e.as_flags() + '.') from None
  for (section, name) in _HOLDERS:
    if name in REQUIRED and not getattr(getattr(cfg, section), name):
      raise _usage_error('--%s is required.' % name)
  if (experiment and experiment.needs_init_checkpoint and
      not cfg.train.init_checkpoint and
      not _EXPERIMENT['allow_random_init'].value):
    raise _usage_error(
        '--experiment=%s is the paper\'s recipe, which starts from an '
        'ImageNet backbone: give --init_checkpoint (README "ImageNet '
        'backbones"), or --allow_random_init to train from random weights.' %
        experiment.name)
  return cfg


def experiment_list(binary):
  """The lines --experiment=list prints: the experiments `binary` runs."""
  lines = []
  for name in experiments.names():
    experiment = experiments.get(name)
    if experiment.binary == binary:
      lines.append('%-36s %s' % (name, experiment.summary))
  return lines


def _chosen_experiment():
  """The Experiment of --experiment (None without one); prints the list and
  exits for --experiment=list."""
  if not _EXPERIMENT:
    return None
  name = _EXPERIMENT['name'].value
  binary = _EXPERIMENT['binary']
  if not name:
    return None
  if name == 'list':
    print('\n'.join(experiment_list(binary)))
    raise SystemExit(0)
  try:
    experiment = experiments.get(name)
  except KeyError as e:
    raise _usage_error('--experiment: %s' % e.args[0]) from None
  if experiment.binary != binary:
    raise _usage_error('--experiment=%s is run by %s, not %s.' % (
        name, experiment.binary, binary))
  return experiment


def define_weights_flag():
  """--weights of the binaries that load a trained run (eval, export)."""
  return flags.DEFINE_enum(
      'weights', 'model', ['model', 'teacher'],
      'Which saved weights to load: the trained model, or the EMA teacher of a '
      'train_wss.py run with --ema_decay.')


# Checks of the flags that no config field declares (evaluation, export).
POSITIVE_NUMBERS = config_lib.Check(
    lambda v: len(v) > 0 and all(x > 0 for x in v),
    'must be one or more positive numbers')
SIZE_OR_EMPTY = config_lib.Check(
    lambda v: not v or config_lib.positive_pair()(v),
    'must be empty or two positive integers, "height,width"')


def checked(holder, check, item=None):
  """The value of a flag that no config field declares, parsed and checked.

  Call it first in `main`, before anything is read or built.

  Args:
    holder: the flag's FlagHolder.
    check: a `core.config.Check` of the value (e.g. `config_lib.in_range(1)`);
      an unset flag (None) passes.
    item: for a list flag, the type of its items; the value is then a tuple.

  Raises:
    SystemExit: the value is not one the check allows; the message names the
      flag and what it allows.
  """
  value = holder.value
  if item is not None:
    try:
      value = tuple(item(v) for v in value)
    except ValueError:
      raise _usage_error('--%s must be a list of %s, got %r.' % (
          holder.name, item.__name__, ','.join(value))) from None
  if value is not None and not check(value):
    raise _usage_error('--%s %s, got %r.' % (holder.name, check.allows, value))
  return value


def define_checkpoint_flag():
  """--checkpoint of the binaries that load a trained run (eval, export)."""
  return flags.DEFINE_string(
      'checkpoint', '', 'A checkpoint prefix, e.g. RUN/ckpt-400; default: the '
      'latest in --model_dir.')


def checked_checkpoint(holder):
  """--checkpoint's value ('' = the run's latest), refused if there is none.

  Raises:
    SystemExit: naming the flag and the missing checkpoint.
  """
  path = holder.value
  if not path:
    return path
  # TensorFlow's file system (gs:// and the like), loaded only for a path given:
  # the binaries check their flags without loading TensorFlow.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if not tf.io.gfile.exists(path + '.index'):
    raise _usage_error('--%s %s: no such checkpoint (no %s.index).' % (
        holder.name, path, path))
  return path
