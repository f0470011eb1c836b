"""Checks of the hyperparameters that several optimizers of the catalogue share (betas, pairs)."""
from .. import _validate as check

__all__ = []


def pair(owner, name, value, what):
    """``value`` as a 2-tuple, or a TypeError naming ``name`` and what its two entries mean."""
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise TypeError(f'{owner}: {name} must be a pair {what}, got {value!r}')
    return tuple(value)


def betas(owner, value, n=2):
    """``n`` decay rates, each in [0, 1)."""
    names = ', '.join(f'beta{i + 1}' for i in range(n))
    if not (isinstance(value, (tuple, list)) and len(value) == n):
        raise TypeError(f'{owner}: betas must be a tuple of {n} decay rates ({names}), got {value!r}')
    return tuple(check.real(f'betas[{i}]', b, low=0., high=1., high_open=True, owner=owner)
                 for i, b in enumerate(value))


def non_negative(owner, name, value):
    return check.real(name, value, low=0., owner=owner)
