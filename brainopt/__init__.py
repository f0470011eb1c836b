"""brainopt: gradient optimizers and learning-rate schedules for brainstate."""
from . import rules, transforms
from .optimizer import Optimizer, OptimState, UpdateInfo
from .optimizers import Adadelta, Adagrad
from .schedules import LRScheduler

__version__ = '0.1.0'

__all__ = ['Optimizer', 'OptimState', 'UpdateInfo', 'Adadelta', 'Adagrad', 'LRScheduler', 'rules', 'transforms']
