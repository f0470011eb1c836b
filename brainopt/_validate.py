"""Hyperparameter checks shared by every optimizer and feature.

Each check raises at construction time with the parameter's name, what was
expected and what was received, so a bad value never reaches a compiled step.

Every numeric hyperparameter is finite: :func:`real` refuses NaN always and
+-inf unless its call site passes ``allow_inf=True``, which only a
hyperparameter whose documentation gives infinity a meaning may do
(docs/conventions.md, "Infinite and NaN hyperparameters", lists them).
"""
import functools
import inspect
import math
import numbers

__all__ = []


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def live_real(name, value, *, owner='', **bounds):
    """A hyperparameter that the optimizer keeps in its state (``opt.lr``, a group's weight decay): a traced JAX
    scalar (a hypergradient, ``brainstate.transform.grad`` with respect to it) is returned as it is, unchecked (its
    value is not known); a concrete 0-d array is checked as the number it holds; anything else as :func:`real`."""
    import jax
    import numpy as np
    if isinstance(value, jax.core.Tracer):
        if value.ndim != 0 or not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
            where = f'{owner}: ' if owner else ''
            raise TypeError(f'{where}{name} must be a real scalar, got a traced {value.dtype} of shape {value.shape}')
        return value
    if isinstance(value, (jax.Array, np.ndarray)) and value.ndim == 0 and \
            (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
        value = value.item()
    return real(name, value, owner=owner, **bounds)


def real(name, value, *, low=None, high=None, low_open=False, high_open=False, owner='', allow_inf=False):
    """Return ``float(value)`` after checking it is finite and lies in the given interval.

    NaN is always refused; +-inf too unless ``allow_inf=True`` (then only the
    interval decides), which a call site passes only where its documentation
    says what an infinite value means.
    """
    where = f'{owner}: ' if owner else ''
    if not _is_real(value):
        raise TypeError(f'{where}{name} must be a real number, got {value!r} ({type(value).__name__})')
    try:
        value = float(value)
    except OverflowError:                       # an int too large for a float: not finite either
        raise ValueError(f'{where}{name} must be finite, got {value!r}') from None
    if value != value:
        raise ValueError(f'{where}{name} must not be NaN')
    if math.isinf(value) and not allow_inf:
        raise ValueError(f'{where}{name} must be finite, got {value!r}')
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


def _finite_argument(owner, name, value):
    """Refuse a NaN or infinite ``value`` (a real number, or a tuple/list of them) under ``name``."""
    if _is_real(value):
        real(name, value, owner=owner)
    elif isinstance(value, (tuple, list)) and value and all(_is_real(v) for v in value):
        for i, v in enumerate(value):
            real(f'{name}[{i}]', v, owner=owner)


def finite_arguments(init):
    """Wrap a dialect class's ``__init__`` so that every numeric argument, under the name the caller used
    (Keras's ``beta_1``, brainpy's ``epsilon``, or one passed through ``**kwargs`` such as ``clipnorm``),
    is refused when NaN or infinite before the dialect renames it for the brainopt optimizer beneath.
    Arguments that are not real numbers (schedules, Quantities, names) are left to the class's own checks.
    """
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:
            return init(self, *args, **kwargs)          # a wrong call: the class reports it
        owner = type(self).__name__
        for name, value in list(bound.arguments.items())[1:]:
            if signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
                for key, v in value.items():
                    _finite_argument(owner, key, v)
            elif signature.parameters[name].kind is not inspect.Parameter.VAR_POSITIONAL:
                _finite_argument(owner, name, value)
        return init(self, *args, **kwargs)
    return wrapper
