"""Gradient accumulation: k calls accumulate, the k-th applies their mean."""
import jax.numpy as jnp

__all__ = ['accumulate', 'mean', 'zeros_like_tree']


def accumulate(acc, grads, count, steps):
    """Add ``grads`` to ``acc``; return ``(new_acc, new_count, ready)``.

    ``ready`` is True on the ``steps``-th call.
    """
    new_acc = {k: acc[k] + g for k, g in grads.items()}
    new_count = count + 1
    return new_acc, new_count, new_count >= steps


def mean(acc, steps):
    """The mean of ``steps`` accumulated gradients (Keras computes ``(g + acc) / steps`` alike)."""
    return {k: a / jnp.asarray(steps, a.dtype) for k, a in acc.items()}


def zeros_like_tree(tree):
    return {k: jnp.zeros_like(v) for k, v in tree.items()}
