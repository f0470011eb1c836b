"""The public optimizers: each binds one rule to the shared engine.

A new optimizer is one new file here, imported below and listed in ``__all__`` (and in ``docs/api.rst``;
``tests/test_exports.py`` checks that the three agree).
"""
from .adabelief import AdaBelief
from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .adan import Adan
from .fromage import Fromage
from .ftrl import Ftrl
from .lamb import Lamb
from .lars import Lars
from .lbfgs import LBFGS, LineSearchInfo
from .lion import Lion
from .lookahead import Lookahead
from .momentum import Momentum, MomentumNesterov
from .muon import Muon
from .nadam import Nadam
from .novograd import Novograd
from .prodigy import Prodigy
from .radam import RAdam
from .rmsprop import RMSprop
from .rprop import Rprop
from .sam import SAM
from .schedule_free import ScheduleFreeAdamW, ScheduleFreeSGD
from .sgd import SGD
from .sm3 import SM3
from .yogi import Yogi

__all__ = [
    'AdaBelief', 'Adadelta', 'Adafactor', 'Adagrad', 'Adam', 'AdamW', 'Adamax', 'Adan', 'Fromage', 'Ftrl', 'Lamb',
    'Lars', 'LBFGS', 'LineSearchInfo', 'Lion', 'Lookahead', 'Momentum', 'MomentumNesterov', 'Muon', 'Nadam',
    'Novograd', 'Prodigy', 'RAdam', 'RMSprop', 'Rprop', 'SAM', 'ScheduleFreeSGD', 'ScheduleFreeAdamW', 'SGD', 'SM3',
    'Yogi',
]
