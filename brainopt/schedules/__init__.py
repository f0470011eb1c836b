"""Learning-rate schedules: a closed form of a counter, stepped per update or per epoch.

``sched(k)`` is the learning rate at counter value ``k``: a pure
``jax.numpy`` function, the value torch's ``scheduler.get_last_lr()``
reports after ``k`` calls of ``scheduler.step()``. The counter is the
optimizer's number of applied updates (``stepping='update'``) or the
schedule's own ``last_epoch`` State, advanced by ``sched.step()``
(``stepping='epoch'``); see ``docs/schedules.md``. Names, arguments and
defaults follow ``braintools.optim`` (Keras's for :class:`InverseTimeDecay`
and :class:`CosineDecay`).

A new schedule is one new class in a module here, imported below and listed in ``__all__``.
"""
from .base import LRScheduler
from .compose import ChainedScheduler, SequentialLR
from .cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts, WarmupCosineSchedule
from .cyclic import CyclicLR, OneCycleLR
from .decay import ExponentialDecayLR, ExponentialLR, MultiStepLR, PiecewiseConstantSchedule, PolynomialLR, StepLR
from .factor import ConstantLR, LambdaLR, LinearLR, WarmupScheduler
from .keras import CosineDecay, InverseTimeDecay
from .plot import plot_schedule, schedule_values
from .recursive import MultiplicativeLR, ReduceLROnPlateau

__all__ = [
    'LRScheduler', 'SequentialLR', 'ChainedScheduler', 'CosineAnnealingLR', 'CosineAnnealingWarmRestarts',
    'WarmupCosineSchedule', 'CyclicLR', 'OneCycleLR', 'StepLR', 'MultiStepLR', 'ExponentialLR', 'PolynomialLR',
    'ExponentialDecayLR', 'PiecewiseConstantSchedule', 'LinearLR', 'ConstantLR', 'LambdaLR', 'WarmupScheduler',
    'InverseTimeDecay', 'CosineDecay', 'plot_schedule', 'schedule_values', 'MultiplicativeLR', 'ReduceLROnPlateau',
]
