"""Weight decay: coupled (L2 added to the gradient) or decoupled (shrink the weights).

Which parameters decay is decided once, at registration, by
:func:`decay_mask`; the compiled step receives the decided set.
"""
import re
from typing import Callable, Iterable, Optional, Union

import jax.numpy as jnp

__all__ = ['decay_mask', 'add_coupled', 'apply_decoupled', 'proximal', 'MODES', 'DECOUPLED']

#: accepted values of ``weight_decay_mode``: ``'coupled'`` (torch.optim, braintools), ``'decoupled'`` (AdamW; the
#: rule sees the weights before the shrink), ``'decoupled_first'`` (Keras: shrink, then the rule runs on the shrunk
#: weights), ``'decoupled_unscaled'`` (brainpy 2.x: ``p - p * wd``, not scaled by the lr), ``'proximal'`` (Adan's
#: ``(p + step) / (1 + wd * lr)``)
MODES = ('coupled', 'decoupled', 'decoupled_first', 'decoupled_unscaled', 'proximal')

#: the modes that shrink the weights beside the rule
DECOUPLED = ('decoupled', 'decoupled_first', 'decoupled_unscaled')

Exclude = Optional[Union[str, Iterable[str], Callable[[str], bool]]]


def _excluded(exclude: Exclude, path: str) -> bool:
    if exclude is None:
        return False
    if callable(exclude):
        return bool(exclude(path))
    if isinstance(exclude, str):
        exclude = (exclude,)
    return any(re.search(p, path) for p in exclude)


def decay_mask(names, exclude: Exclude):
    """Leaf names that receive weight decay.

    ``exclude`` is ``None``, a regular expression (or several) searched in the
    dotted parameter path (``'bias'`` excludes ``'l1.weight.bias'``, as Keras's
    ``exclude_from_weight_decay(var_names=['bias'])`` does), or a predicate of
    the path that returns True for parameters to exclude.
    """
    return frozenset(n for n in names if not _excluded(exclude, n))


def coefficient(weight_decay, name):
    """The coefficient of leaf ``name``: ``weight_decay`` is one number, or a dict ``{leaf name: number}``
    (an optimizer whose leaves decay differently, as Keras's Muon's AdamW leaves; a missing leaf: 0)."""
    return weight_decay.get(name, 0.0) if isinstance(weight_decay, dict) else weight_decay


def add_coupled(grads, params, weight_decay, mask):
    """L2 penalty: ``g + weight_decay * p`` (torch.optim and braintools meaning)."""
    return {k: g + coefficient(weight_decay, k) * params[k] if k in mask else g for k, g in grads.items()}


def apply_decoupled(params, weight_decay, lr, mask):
    """Shrink the weights: ``p - p * weight_decay * lr`` (Keras and AdamW meaning).

    ``lr=None``: ``p - p * weight_decay``, not scaled by the learning rate (brainpy 2.x).
    """
    out = {}
    for k, p in params.items():
        wd = coefficient(weight_decay, k)
        if k in mask and not (isinstance(wd, (int, float)) and wd == 0):
            factor = wd if lr is None else wd * lr
            p = p - p * jnp.asarray(factor).astype(p.dtype)
        out[k] = p
    return out


def proximal(params, deltas, weight_decay, lr, mask):
    """The proximal decay of Adan (Algorithm 1, brainpy's default): the step becomes
    ``(p + delta) / (1 + weight_decay * lr) - p``."""
    out = {}
    for k, d in deltas.items():
        if k in mask:
            p = params[k]
            d = (p + d) / (1 + jnp.asarray(coefficient(weight_decay, k) * lr).astype(p.dtype)) - p
        out[k] = d
    return out
