"""Learning rates: a float, an ``LRScheduler``, or any callable of the step."""
import numbers

import jax.numpy as jnp

from .._validate import real

__all__ = ['as_schedule', 'describe']


def as_schedule(lr, owner=''):
    """Return a function ``step -> float32 learning rate`` for any accepted ``lr``.

    ``step`` is the number of updates applied before the current one (0 on the
    first update), so an optax schedule (``optax.linear_schedule(...)``) and a
    brainopt ``LRScheduler`` are called the same way.
    """
    if isinstance(lr, numbers.Real) and not isinstance(lr, bool):
        value = real('lr', lr, low=0., owner=owner)
        return lambda step: jnp.asarray(value, jnp.float32)
    if callable(lr):
        return lambda step: jnp.asarray(lr(step), jnp.float32)
    raise TypeError(f'{owner + ": " if owner else ""}lr must be a non-negative float, an LRScheduler '
                    f'or a callable of the step count, got {lr!r} ({type(lr).__name__})')


def describe(lr):
    return repr(float(lr)) if isinstance(lr, numbers.Real) else repr(lr)
