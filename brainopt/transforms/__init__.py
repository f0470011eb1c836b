"""Shared features, one concept a file, each written once for every rule.

The engine in :mod:`brainopt.optimizer` composes them in one documented
order (see ``docs/concepts.md``).
"""
from . import accumulation, clipping, dtypes, ema, loss_scale, lr, weight_decay

__all__ = ['accumulation', 'clipping', 'dtypes', 'ema', 'loss_scale', 'lr', 'weight_decay']
