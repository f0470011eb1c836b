"""Update rules: one file per algorithm family, the math and its slots only."""
from .adadelta import AdadeltaRule
from .adagrad import AdagradRule
from .adam import AdamRule
from .base import Rule
from .rmsprop import RMSpropRule
from .sgd import SGDRule

__all__ = ['Rule', 'AdadeltaRule', 'AdagradRule', 'AdamRule', 'RMSpropRule', 'SGDRule']
