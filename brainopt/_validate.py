"""Hyperparameter checks shared by every optimizer and feature.

Each check raises at construction time with the parameter's name, what was
expected and what was received, so a bad value never reaches a compiled step.
"""
import numbers

__all__ = []


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def real(name, value, *, low=None, high=None, low_open=False, high_open=False, owner=''):
    """Return ``float(value)`` after checking it lies in the given interval."""
    where = f'{owner}: ' if owner else ''
    if not _is_real(value):
        raise TypeError(f'{where}{name} must be a real number, got {value!r} ({type(value).__name__})')
    value = float(value)
    if value != value:
        raise ValueError(f'{where}{name} must not be NaN')
    bad = ((low is not None and (value < low or (low_open and value == low))) or
           (high is not None and (value > high or (high_open and value == high))))
    if bad:
        lo = '' if low is None else ('(' if low_open else '[') + repr(low)
        hi = '' if high is None else repr(high) + (')' if high_open else ']')
        if low is not None and high is not None:
            interval = f'in {lo}, {hi}'
        elif low is not None:
            interval = f'{">" if low_open else ">="} {low!r}'
        else:
            interval = f'{"<" if high_open else "<="} {high!r}'
        raise ValueError(f'{where}{name} must be {interval}, got {value!r}')
    return value


def optional_real(name, value, **kwargs):
    return None if value is None else real(name, value, **kwargs)


def positive_int(name, value, *, owner='', allow_none=False):
    where = f'{owner}: ' if owner else ''
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f'{where}{name} must be a positive integer{" or None" if allow_none else ""}, '
                        f'got {value!r} ({type(value).__name__})')
    if value < 1:
        raise ValueError(f'{where}{name} must be a positive integer, got {value!r}')
    return int(value)


def decay_rates(name, value, *, n=2, owner=''):
    """``n`` decay rates (``betas``), each in [0, 1), as a tuple of floats."""
    where = f'{owner}: ' if owner else ''
    if not (isinstance(value, (tuple, list)) and len(value) == n):
        names = ', '.join(f'beta{i + 1}' for i in range(n))
        raise TypeError(f'{where}{name} must be a tuple of {n} decay rates ({names}), got {value!r}')
    return tuple(real(f'{name}[{i}]', b, low=0., high=1., high_open=True, owner=owner) for i, b in enumerate(value))
