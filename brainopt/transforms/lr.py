"""Learning rates: a float, an ``LRScheduler``, or any callable of the step."""
import inspect
import numbers
from typing import Any, Callable, Union

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from .. import units
from .._validate import live_real
from ..schedules.base import CurrentLRs, LRScheduler

__all__ = ['as_schedule', 'describe', 'LRSource', 'FixedRate', 'LearningRate']

#: what ``lr`` may be: a number, a brainunit Quantity (a physical rate), an ``LRScheduler`` or a callable of the
#: step count (an optax schedule)
LearningRate = Union[float, u.Quantity, LRScheduler, Callable[[Any], Any]]


class LRSource:
    """The learning rate as the compiled step sees it: a pure function of the
    optimizer's applied-update count and of the schedule's own state values.

    A float and a plain callable of the step (an optax schedule) keep no state.
    A :class:`brainopt.LRScheduler` may: a per-epoch schedule keeps its epoch
    (and ReduceLROnPlateau its best metric) in States, which the optimizer
    reads with :meth:`values` and hands to the compiled step, so that the
    step never closes over a stale value.
    """

    def __init__(self, lr, owner=''):
        self.scheduler = None
        self.unit = None             # a Quantity lr: its unit; the step then runs in SI units
        # a rate computed by code brainopt cannot check at construction (a callable, a schedule that calls one):
        # the optimizer checks each value the step computes (finite, >= 0)
        self.user_code = False
        self.number = None           # a plain number (or a traced scalar): the optimizer keeps it in its state
        if units.is_quantity(lr):
            where = f'{owner}: ' if owner else ''
            if np.ndim(lr.mantissa) != 0:
                raise ValueError(f'{where}a Quantity lr must be a scalar, got shape {np.shape(lr.mantissa)}')
            value = float(lr.to_decimal(units.si_unit(lr.unit)))
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f'{where}lr must be a finite number >= 0, got {lr}')
            self.unit = lr.unit
            self._fn = lambda step, values: jnp.asarray(value, jnp.float32)
        elif (isinstance(lr, numbers.Real) and not isinstance(lr, bool)) or _is_scalar_array(lr):
            # finite: live_real refuses NaN and +-inf (a traced value is taken as it is: a hypergradient)
            self.number = value = live_real('lr', lr, low=0., owner=owner)
            self._fn = lambda step, values: jnp.asarray(value, jnp.float32)
        elif hasattr(lr, 'lr_at') and hasattr(lr, 'state_values'):
            self.scheduler = lr
            self.unit = getattr(lr, 'unit', None)    # a schedule of Quantity lrs: its values are SI numbers
            self.user_code = bool(getattr(lr, 'calls_user_code', True))
            self._fn = lambda step, values: jnp.asarray(lr.lr_at(step, values), jnp.float32)
        elif callable(lr):
            _takes_the_step(lr, owner)
            self.user_code = True
            self._fn = lambda step, values: _returned(lr, step, owner)
        else:
            raise TypeError(f'{owner + ": " if owner else ""}lr must be a non-negative float, an LRScheduler '
                            f'or a callable of the step count, got {lr!r} ({type(lr).__name__})')

    def values(self):
        """The schedule's state values (an empty dict when it keeps none)."""
        return {} if self.scheduler is None else self.scheduler.state_values()

    def __call__(self, step, values=None):
        return self._fn(step, self.values() if values is None else values)


def _is_scalar_array(x):
    """A 0-d jax or numpy array of real numbers (a concrete one or a tracer): a number, as a learning rate."""
    dtype = getattr(x, 'dtype', None)
    return isinstance(x, (jax.Array, np.ndarray)) and x.ndim == 0 and dtype is not None and \
        (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer))


def _takes_the_step(fn, owner):
    """A callable lr is called as ``lr(step)``: one that cannot take the step (Keras's zero-argument form) is
    refused here, at construction, with the form that works."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):          # a builtin or C callable: its first call tells
        return
    try:
        signature.bind(0)
    except TypeError:
        raise TypeError(f'{owner + ": " if owner else ""}a callable lr is called with the step count, lr(step), '
                        f'but {fn!r} cannot take it; write lr=lambda step: ... (brainopt.keras accepts Keras\'s '
                        f'zero-argument learning_rate)') from None


def _returned(fn, step, owner):
    """``fn(step)`` as a float32 scalar; a value that is no real number is refused naming lr."""
    value = fn(step)
    where = f'{owner + ": " if owner else ""}lr(step)'
    if isinstance(value, (str, bytes)) or value is None or isinstance(value, complex):
        raise TypeError(f'{where} must return a real number, got {value!r} ({type(value).__name__})')
    try:
        out = jnp.asarray(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f'{where} must return a real number, got {value!r} ({type(value).__name__})') from e
    if out.ndim != 0 or not (jnp.issubdtype(out.dtype, jnp.floating) or jnp.issubdtype(out.dtype, jnp.integer)):
        raise TypeError(f'{where} must return a real scalar, got {out.dtype} of shape {out.shape}')
    return out.astype(jnp.float32)


class FixedRate(float):
    """``opt.lr`` of an optimizer given a number: that number, a float, with the methods a braintools.optim
    script calls on ``opt.lr`` (which is a ``ConstantLR`` there): ``opt.lr()`` is the rate, ``step()`` and
    ``step_epoch()`` do nothing (the rate is fixed), ``get_last_lr()`` is ``[rate]``, ``current_lr`` the rate
    and ``current_lrs.value`` ``[rate]``. It compares, prints and computes as the float it is."""
    __slots__ = ()

    def __call__(self, step=None):
        return float(self)

    def step(self, *args, **kwargs):
        """Nothing: a fixed rate has no schedule to advance."""

    def step_epoch(self):
        """Nothing: a fixed rate has no schedule to advance."""

    def get_last_lr(self):
        return [float(self)]

    @property
    def current_lr(self):
        return float(self)

    @property
    def current_lrs(self):
        return CurrentLRs(self)

    def __repr__(self):
        return float.__repr__(self)


def as_schedule(lr, owner=''):
    """Return an :class:`LRSource`, callable as ``source(step[, values])``.

    ``step`` is the number of updates applied before the current one (0 on the
    first update), so an optax schedule (``optax.linear_schedule(...)``) and a
    brainopt ``LRScheduler`` are called the same way.
    """
    return LRSource(lr, owner)


def describe(lr):
    if units.is_quantity(lr):
        return f'{float(lr.mantissa)!r} * {lr.unit}'
    return repr(float(lr)) if isinstance(lr, numbers.Real) else repr(lr)
