"""brainopt: gradient optimizers and learning-rate schedules for brainstate."""
from . import _ecosystem, optimizers, rules, schedules, transforms
from ._jit import jit
from .checkpoint import CheckpointError, latest_checkpoint, load_checkpoint, save_checkpoint
from .optimizer import Optimizer, OptimState, UpdateInfo
from .optimizers import (
    LBFGS,
    SAM,
    SGD,
    SM3,
    AdaBelief,
    Adadelta,
    Adafactor,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Adan,
    Fromage,
    Ftrl,
    Lamb,
    Lars,
    LineSearchInfo,
    Lion,
    Lookahead,
    Momentum,
    MomentumNesterov,
    Muon,
    Nadam,
    Novograd,
    Prodigy,
    RAdam,
    RMSprop,
    Rprop,
    ScheduleFreeAdamW,
    ScheduleFreeSGD,
    Yogi,
)
from .schedules import (
    ChainedScheduler,
    ConstantLR,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    CosineDecay,
    CyclicLR,
    ExponentialDecayLR,
    ExponentialLR,
    InverseTimeDecay,
    LambdaLR,
    LinearLR,
    LRScheduler,
    MultiplicativeLR,
    MultiStepLR,
    OneCycleLR,
    PiecewiseConstantSchedule,
    PolynomialLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
    WarmupCosineSchedule,
    WarmupScheduler,
    plot_schedule,
    schedule_values,
)
from .train import train_step

_ecosystem.install()     # isinstance(opt, braintools.optim.Optimizer), once braintools.optim is imported

__version__ = '0.1.0'

__all__ = [
    # the engine
    'Optimizer', 'OptimState', 'UpdateInfo', 'jit', 'train_step',
    # checkpoints
    'save_checkpoint', 'load_checkpoint', 'latest_checkpoint', 'CheckpointError',
    # optimizers (brainopt.optimizers.__all__)
    'AdaBelief', 'Adadelta', 'Adafactor', 'Adagrad', 'Adam', 'AdamW', 'Adamax', 'Adan', 'Fromage', 'Ftrl', 'Lamb',
    'Lars', 'LBFGS', 'LineSearchInfo', 'Lion', 'Lookahead', 'Momentum', 'MomentumNesterov', 'Muon', 'Nadam',
    'Novograd', 'Prodigy', 'RAdam', 'RMSprop', 'Rprop', 'SAM', 'ScheduleFreeSGD', 'ScheduleFreeAdamW', 'SGD', 'SM3',
    'Yogi',
    # schedules (brainopt.schedules.__all__)
    'LRScheduler', 'SequentialLR', 'ChainedScheduler', 'CosineAnnealingLR', 'CosineAnnealingWarmRestarts',
    'WarmupCosineSchedule', 'CyclicLR', 'OneCycleLR', 'StepLR', 'MultiStepLR', 'ExponentialLR', 'PolynomialLR',
    'ExponentialDecayLR', 'PiecewiseConstantSchedule', 'LinearLR', 'ConstantLR', 'LambdaLR', 'WarmupScheduler',
    'InverseTimeDecay', 'CosineDecay', 'plot_schedule', 'schedule_values', 'MultiplicativeLR', 'ReduceLROnPlateau',
    # modules
    'optimizers', 'rules', 'schedules', 'transforms',
]
