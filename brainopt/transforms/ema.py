"""Exponential moving average of the parameters (Keras's ``use_ema``)."""
import jax.numpy as jnp

__all__ = ['ema_update', 'ema_overwrite']


def ema_update(averages, params, momentum, count):
    """``avg = m * avg + (1 - m) * p`` with ``m = 0`` on the first applied update.

    On the first update the average is set to the parameters, as Keras does,
    so that the average never mixes in the value it was initialised with.
    """
    first = count == 0
    out = {}
    for k, p in params.items():
        m = jnp.where(first, 0., momentum).astype(p.dtype)
        out[k] = m * averages[k] + (1 - m) * p
    return out


def ema_overwrite(params, averages, frequency, count):
    """Replace the parameters by their averages every ``frequency`` applied updates."""
    now = (count + 1) % frequency == 0
    return {k: jnp.where(now, averages[k], p) for k, p in params.items()}
