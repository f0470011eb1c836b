"""brainopt: gradient optimizers and learning-rate schedules for brainstate."""
from . import optimizers, rules, schedules, transforms
from .checkpoint import CheckpointError, latest_checkpoint, load_checkpoint, save_checkpoint
from .optimizer import Optimizer, OptimState, UpdateInfo
from .train import train_step
from .optimizers import *  # noqa: F401,F403  (every public optimizer; see optimizers/__init__.py)
from .schedules import *  # noqa: F401,F403  (every public schedule; see schedules/__init__.py)

from ._exports import show_signature as _show_signature

_show_signature(Optimizer)
_show_signature(OptimState)

from . import _ecosystem

_ecosystem.install()     # isinstance(opt, braintools.optim.Optimizer), once braintools.optim is imported

__version__ = '0.1.0'

__all__ = (
    # the engine
    ['Optimizer', 'OptimState', 'UpdateInfo', 'train_step']
    # checkpoints
    + ['save_checkpoint', 'load_checkpoint', 'latest_checkpoint', 'CheckpointError']
    # optimizers and schedules, as their packages list them
    + list(optimizers.__all__) + list(schedules.__all__)
    # modules
    + ['optimizers', 'rules', 'schedules', 'transforms']
)
