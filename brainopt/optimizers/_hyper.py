"""Checks of the hyperparameters that several optimizers of the catalogue share (betas, pairs)."""
from .. import _validate as check

__all__ = []


def pair(owner, name, value, what):
    """``value`` as a 2-tuple, or a TypeError naming ``name`` and what its two entries mean."""
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise TypeError(f'{owner}: {name} must be a pair {what}, got {value!r}')
    return tuple(value)


def non_negative(owner, name, value):
    return check.real(name, value, low=0., owner=owner)
