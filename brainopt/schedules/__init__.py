"""Learning-rate schedules: pure ``jax.numpy`` functions of the step.

``schedule(k)`` is the learning rate of the update that comes after ``k``
applied updates, the value torch's ``scheduler.get_last_lr()`` reports after
``k`` calls of ``scheduler.step()``. Names, arguments and defaults follow
``braintools.optim``.
"""
from .base import LRScheduler
from .compose import ChainedScheduler, SequentialLR
from .cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts
from .decay import ExponentialLR, MultiStepLR, PolynomialLR, StepLR
from .factor import ConstantLR, LambdaLR, LinearLR

__all__ = [
    'LRScheduler',
    'StepLR', 'MultiStepLR', 'ExponentialLR', 'PolynomialLR',
    'CosineAnnealingLR', 'CosineAnnealingWarmRestarts',
    'LinearLR', 'ConstantLR', 'LambdaLR',
    'SequentialLR', 'ChainedScheduler',
]
