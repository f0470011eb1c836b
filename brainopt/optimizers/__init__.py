"""The public optimizers: each binds one rule to the shared engine.

Every module of this package lists its public classes in ``__all__``; they are
collected here, so that a new optimizer is one new file.
"""
import importlib
import pkgutil

__all__ = []
for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith('_'):
        continue
    _module = importlib.import_module(f'{__name__}.{_info.name}')
    for _name in _module.__all__:
        globals()[_name] = getattr(_module, _name)
        __all__.append(_name)
del _info, _module, _name
