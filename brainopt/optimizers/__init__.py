"""The public optimizers: each binds one rule to the shared engine."""
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ['Adadelta', 'Adagrad', 'Adam', 'AdamW', 'RMSprop', 'SGD']
