"""brainopt: gradient optimizers and learning-rate schedules for brainstate."""
from . import rules, schedules, transforms
from .optimizer import Optimizer, OptimState, UpdateInfo
from .optimizers import SGD, Adadelta, Adagrad, Adam, AdamW, RMSprop
from .schedules import (ChainedScheduler, ConstantLR, CosineAnnealingLR, CosineAnnealingWarmRestarts, ExponentialLR,
                        LambdaLR, LinearLR, LRScheduler, MultiStepLR, PolynomialLR, SequentialLR, StepLR)

__version__ = '0.1.0'

__all__ = [
    # the engine
    'Optimizer', 'OptimState', 'UpdateInfo',
    # optimizers
    'SGD', 'Adadelta', 'Adagrad', 'Adam', 'AdamW', 'RMSprop',
    # schedules
    'LRScheduler', 'StepLR', 'MultiStepLR', 'ExponentialLR', 'PolynomialLR', 'CosineAnnealingLR',
    'CosineAnnealingWarmRestarts', 'LinearLR', 'ConstantLR', 'LambdaLR', 'SequentialLR', 'ChainedScheduler',
    # modules
    'rules', 'schedules', 'transforms',
]
