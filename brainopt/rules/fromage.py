"""Fromage (Bernstein et al., 2020): a step of relative size lr, then shrink back."""
import jax.numpy as jnp

from .base import Rule

__all__ = ['FromageRule']


def safe_norm(x, min_norm):
    """``max(||x||, min_norm)``, as optax's ``safe_norm``."""
    return jnp.maximum(jnp.sqrt(jnp.sum(x * x)), min_norm)


class FromageRule(Rule):
    r"""The Fromage update (``optax.fromage``):

    .. math::

        \theta_t = \frac{1}{\sqrt{1+\eta^2}}
        \left(\theta_{t-1} - \eta\,\frac{\|\theta_{t-1}\|}{\|g_t\|}\, g_t\right)

    with both norms floored at ``min_norm``. No slot.
    """

    slots = ()

    lr_unit = (0, 0)        # a relative step: ||theta|| / ||g|| carries the unit

    hyper_names = ('min_norm',)

    def __init__(self, min_norm: float):
        self.min_norm = min_norm

    def update_leaf(self, grad, param, slots, count, lr, hyper):
        dt = grad.dtype
        ratio = (safe_norm(param, hyper['min_norm']) / safe_norm(grad, hyper['min_norm'])).astype(dt)
        mult = (1 / jnp.sqrt(1 + lr * lr))
        # optax: updates = -(lr * mult) * ratio * g + (mult - 1) * p
        return -(lr * mult).astype(dt) * (ratio * grad) + (mult - 1).astype(dt) * param, {}

    def config(self):
        return {'min_norm': self.min_norm}
