"""Update rules: one file per algorithm family, the math and its slots only.

Each module lists its rules in ``__all__``; they are collected here.
"""
import importlib
import pkgutil

from .base import Rule

__all__ = ['Rule']
for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith('_') or _info.name == 'base':
        continue
    _module = importlib.import_module(f'{__name__}.{_info.name}')
    for _name in _module.__all__:
        globals()[_name] = getattr(_module, _name)
        __all__.append(_name)
del _info, _module, _name
