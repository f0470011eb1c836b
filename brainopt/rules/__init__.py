"""Update rules: one file per algorithm family, the math and its slots only."""
from .adadelta import AdadeltaRule
from .adagrad import AdagradRule
from .base import Rule

__all__ = ['Rule', 'AdadeltaRule', 'AdagradRule']
