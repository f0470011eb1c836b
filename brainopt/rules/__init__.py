"""Update rules: one file per algorithm family, the math and its slots only.

Each module lists its rules in ``__all__``; they are imported here explicitly.
"""
from .adabelief import AdaBeliefRule
from .adadelta import AdadeltaRule
from .adafactor import AdafactorRule
from .adagrad import AdagradRule
from .adam import AdamRule
from .adam_family import AdamaxRule, NadamRule, RAdamRule
from .adan import AdanRule
from .base import Rule
from .fromage import FromageRule
from .ftrl import FtrlRule
from .lamb import DecayInRule, LambRule
from .lars import LarsRule
from .lbfgs import LBFGSRule, strong_wolfe
from .lion import LionRule
from .lookahead import LookaheadRule
from .muon import MuonRule, newton_schulz
from .novograd import NovogradRule
from .prodigy import ProdigyRule
from .rmsprop import RMSpropRule
from .rprop import RpropRule
from .sam import sam_perturbation
from .schedule_free import ScheduleFreeRule
from .sgd import SGDRule
from .sm3 import SM3Rule
from .yogi import YogiRule

__all__ = [
    'Rule', 'AdaBeliefRule', 'AdadeltaRule', 'AdafactorRule', 'AdagradRule', 'AdamRule', 'AdamaxRule', 'NadamRule',
    'RAdamRule', 'AdanRule', 'FromageRule', 'FtrlRule', 'DecayInRule', 'LambRule', 'LarsRule', 'LBFGSRule',
    'strong_wolfe', 'LionRule', 'LookaheadRule', 'MuonRule', 'newton_schulz', 'NovogradRule', 'ProdigyRule',
    'RMSpropRule', 'RpropRule', 'sam_perturbation', 'ScheduleFreeRule', 'SGDRule', 'SM3Rule', 'YogiRule',
]
