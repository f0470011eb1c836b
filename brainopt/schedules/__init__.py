"""Learning-rate schedules: a closed form of a counter, stepped per update or per epoch.

``sched(k)`` is the learning rate at counter value ``k``: a pure
``jax.numpy`` function, the value torch's ``scheduler.get_last_lr()``
reports after ``k`` calls of ``scheduler.step()``. The counter is the
optimizer's number of applied updates (``stepping='update'``) or the
schedule's own ``last_epoch`` State, advanced by ``sched.step()``
(``stepping='epoch'``); see ``docs/schedules.md``. Names, arguments and
defaults follow ``braintools.optim`` (Keras's for :class:`InverseTimeDecay`
and :class:`CosineDecay`).

Every module of this package lists its public names in ``__all__``; they are
collected here, so that a new schedule is one new file (or one new class).
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
