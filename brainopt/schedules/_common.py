"""Argument checks and float32-accurate building blocks shared by the schedules.

Every schedule is a pure ``jax.numpy`` function of the step, so it runs inside
``jit`` with a traced int32 step. The helpers here keep the float32 result
within a few units in the last place of the exact (float64) value:

* integer powers ``gamma ** n`` come from a table of ``gamma ** (2 ** k)``
  computed in float64 (binary exponentiation), not from ``exp(n * log(gamma))``;
* the cosine factor ``(1 + cos(pi * c / T)) / 2`` is evaluated as
  ``sin(pi / 2 * (T - c) / T) ** 2``, which has no cancellation near its zero.
"""
import numbers

import jax.numpy as jnp
import numpy as np

from .._validate import real

__all__ = []

#: bits of a non-negative int32 step
_BITS = 31


def as_step(step):
    """The step as an int32 array, clipped to ``>= 0`` (a schedule starts at step 0)."""
    return jnp.maximum(jnp.asarray(step).astype(jnp.int32), 0)


def f32(value):
    return jnp.asarray(value, jnp.float32)


# -- argument checks ---------------------------------------------------------------------------
def integer(name, value, *, low, owner):
    """Return ``int(value)`` after checking it is an integer ``>= low``."""
    where = f'{owner}: ' if owner else ''
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f'{where}{name} must be an integer >= {low}, got {value!r} ({type(value).__name__})')
    if value < low:
        what = 'a positive integer' if low == 1 else f'an integer >= {low}'
        raise ValueError(f'{where}{name} must be {what}, got {value!r}')
    if value > np.iinfo(np.int32).max:
        raise ValueError(f'{where}{name} must fit in int32 (the step is int32), got {value!r}')
    return int(value)


def base_lr(value, owner):
    return real('base_lr', value, low=0., owner=owner)


def milestones(name, values, owner, *, increasing):
    """A sequence of non-negative integers; strictly increasing if asked."""
    where = f'{owner}: ' if owner else ''
    if isinstance(values, (str, bytes)) or not hasattr(values, '__iter__'):
        raise TypeError(f'{where}{name} must be a sequence of non-negative integers, got {values!r}')
    values = list(values)
    out = [integer(f'{name}[{i}]', v, low=0, owner=owner) for i, v in enumerate(values)]
    if increasing and any(b <= a for a, b in zip(out, out[1:])):
        raise ValueError(f'{where}{name} must be strictly increasing, got {values!r}')
    return tuple(out)


# -- float32-accurate pieces -----------------------------------------------------------------
def power_table(gamma):
    """``gamma ** (2 ** k)`` for ``k = 0..30``, computed in float64, rounded once to float32."""
    with np.errstate(over='ignore', under='ignore'):
        table = np.float64(gamma) ** (2.0 ** np.arange(_BITS))
        return table.astype(np.float32)


def int_power(table, n):
    """``gamma ** n`` for an int32 array ``n >= 0``, from :func:`power_table`'s ``table``.

    Multiplies the table entries of the set bits of ``n``: at most
    ``popcount(n)`` roundings, so ``gamma ** 30`` is as accurate as three
    float32 products, whatever ``gamma``.
    """
    n = jnp.asarray(n)
    bits = (n[..., None] >> jnp.arange(_BITS, dtype=n.dtype)) & 1
    return jnp.prod(jnp.where(bits == 1, jnp.asarray(table), jnp.float32(1.)), axis=-1)


def cosine_factor(remaining, period):
    """``(1 + cos(pi * (period - remaining) / period)) / 2`` in float32, without cancellation.

    Equal to ``sin(pi / 2 * remaining / period) ** 2``; ``remaining`` is an
    integer array in ``[-period, period]``, ``period`` a float32 array or a
    positive number.
    """
    ratio = jnp.asarray(remaining).astype(jnp.float32) / jnp.asarray(period, jnp.float32)
    s = jnp.sin(jnp.float32(np.pi / 2) * ratio)
    return s * s


def cos_weights(remaining, done, length):
    """``((1 + cos(pi d / L)) / 2, (1 - cos(pi d / L)) / 2)`` for ``d = done``, ``L = length = remaining + done``.

    Both as ``sin(...) ** 2`` of a non-negative argument, so each is accurate
    to float32 relative precision even where it is tiny: ``a * w0 + b * w1``
    interpolates from ``a`` to ``b`` along half a cosine with no cancellation.
    """
    length = jnp.asarray(length, jnp.float32)
    half_pi = jnp.float32(np.pi / 2)
    s0 = jnp.sin(half_pi * (jnp.asarray(remaining, jnp.float32) / length))
    s1 = jnp.sin(half_pi * (jnp.asarray(done, jnp.float32) / length))
    return s0 * s0, s1 * s1


def frac_power(gamma, table, numerator, denominator):
    """``gamma ** (numerator / denominator)`` in float32, for int32 ``numerator >= 0`` and an int ``denominator >= 1``.

    Split as ``gamma ** q * gamma ** (r / denominator)`` with ``q, r =
    divmod(numerator, denominator)``: the integer power from
    ``table`` (:func:`power_table` of ``gamma``), the fractional one from ``exp`` of an argument below
    ``|log(gamma)|``, so the result keeps float32 accuracy for large steps.
    """
    n = jnp.asarray(numerator)
    q, r = n // denominator, n % denominator
    log_gamma = jnp.float32(np.log(np.float64(gamma)))
    frac = jnp.exp(log_gamma * (r.astype(jnp.float32) / jnp.float32(denominator)))
    return int_power(table, q) * frac

