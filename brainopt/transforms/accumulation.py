"""Gradient accumulation: k calls accumulate, the k-th applies their mean."""
import jax.numpy as jnp

__all__ = ['accumulate', 'zeros_like_tree']


def accumulate(acc, grads, count, steps):
    """Add ``grads`` to ``acc``; return ``(new_acc, new_count, ready, mean)``.

    ``ready`` is True on the ``steps``-th call, and ``mean`` is then the mean of
    the accumulated gradients (Keras computes ``(g + acc) / steps`` the same way).
    """
    new_acc = {k: acc[k] + g for k, g in grads.items()}
    new_count = count + 1
    ready = new_count >= steps
    mean = {k: a / jnp.asarray(steps, a.dtype) for k, a in new_acc.items()}
    return new_acc, new_count, ready, mean


def zeros_like_tree(tree):
    return {k: jnp.zeros_like(v) for k, v in tree.items()}
