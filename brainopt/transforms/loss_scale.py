"""Loss scaling: the gradients of a loss multiplied by ``loss_scale_factor``
(Keras's option, for low-precision training) are divided by it before anything
else sees them. Written once: the engine, SAM (both of its gradients) and
L-BFGS (its gradients and its objective's value) call :func:`unscale`."""
import jax
import jax.numpy as jnp

__all__ = ['unscale']


def unscale(tree, factor):
    """``tree`` (a dict of gradients, or a loss value) with every array divided by ``factor``, in the array's own
    dtype; ``tree`` itself when ``factor`` is None."""
    if factor is None:
        return tree
    return jax.tree.map(lambda x: x / jnp.asarray(factor, jnp.result_type(x)), tree)
