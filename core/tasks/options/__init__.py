"""The options of the PseudoSeg task; importing the package registers every one."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
  importlib.import_module('%s.%s' % (__name__, _module.name))
