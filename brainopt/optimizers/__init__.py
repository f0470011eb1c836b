"""The public optimizers: each binds one rule to the shared engine."""
from .adadelta import Adadelta
from .adagrad import Adagrad

__all__ = ['Adadelta', 'Adagrad']
