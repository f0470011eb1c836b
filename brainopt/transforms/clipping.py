"""Gradient clipping: by value, by each parameter's norm, by the global norm.

All functions take and return dicts ``{leaf_name: array}``.
"""
import jax.numpy as jnp

__all__ = ['clip_by_value', 'clip_by_param_norm', 'clip_by_global_norm', 'global_norm', 'all_finite']


def clip_by_value(grads, max_value):
    """Clip every element into ``[-max_value, max_value]`` (Keras ``clipvalue``)."""
    return {k: jnp.clip(g, -max_value, max_value) for k, g in grads.items()}


def clip_by_param_norm(grads, max_norm):
    """Scale each parameter's gradient so that its own L2 norm is at most ``max_norm``.

    Keras's ``clipnorm``: ``g * max_norm / max(||g||, max_norm)``.
    """
    out = {}
    for k, g in grads.items():
        norm = jnp.sqrt(jnp.sum(g * g))
        out[k] = g * max_norm / jnp.maximum(norm, max_norm).astype(g.dtype)
    return out


def global_norm(grads, finite_only=False):
    """L2 norm over all gradients together, in float32.

    With ``finite_only`` the non-finite elements are left out of the sum, so
    that one NaN cannot turn every other parameter's clipped gradient to NaN.
    """
    total = jnp.zeros((), jnp.float32)
    for g in grads.values():
        g = g.astype(jnp.float32)
        if finite_only:
            g = jnp.where(jnp.isfinite(g), g, 0.)
        total = total + jnp.sum(g * g)
    return jnp.sqrt(total)


def all_finite(grads):
    """True when every element of every gradient is finite (a bool scalar)."""
    flags = [jnp.all(jnp.isfinite(g)) for g in grads.values()]
    return jnp.stack(flags).all() if flags else jnp.asarray(True)


def clip_by_global_norm(grads, max_norm):
    """Scale all gradients by ``max_norm / norm`` when their global norm exceeds it.

    Below the threshold the gradients pass through untouched (optax's
    ``clip_by_global_norm``). The norm is taken over finite elements only: a
    NaN in one parameter does not poison the others.
    """
    norm = global_norm(grads, finite_only=True)
    clip = norm > max_norm
    scale = jnp.where(clip, max_norm / jnp.where(clip, norm, 1.), 1.)
    return {k: jnp.where(clip, g * scale.astype(g.dtype), g) for k, g in grads.items()}
