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
from .._exports import collect

__all__ = collect(__name__, __path__, globals())
