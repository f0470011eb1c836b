"""Learning-rate schedules."""
from .base import LRScheduler

__all__ = ['LRScheduler']
