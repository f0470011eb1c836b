"""Lion (Chen et al., 2023): the sign of an interpolated momentum."""
import jax.numpy as jnp

from .base import Rule, complement, complements, full_like

__all__ = ['LionRule']


class LionRule(Rule):
    r"""The Lion update, as ``optax.lion`` and Keras ``Lion``.

    .. math::

        c_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        \theta_t = \theta_{t-1} - \eta\,\operatorname{sign}(c_t), \qquad
        m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t

    Weight decay is the engine's (decoupled by default for Lion). Slot:
    ``exp_avg`` (:math:`m`).
    """
    slots = ('exp_avg',)

    lr_unit = (1, 0)        # sign(c) is a pure number: the step is lr itself
    slot_units = {'exp_avg': (0, 1)}

    hyper_names = ('b1', 'b2')
    live_names = ('b1', 'b2')

    def __init__(self, b1: float, b2: float):
        self.b1, self.b2 = b1, b2

    def init_leaf(self, param):
        return {'exp_avg': full_like(param, 0.)}

    def derived(self, values):
        return complements(values, 'b1', 'b2')

    def update_leaf(self, grad, param, slots, count, lr, hyper):
        m = slots['exp_avg']
        direction = jnp.sign(complement(hyper, 'b1') * grad + hyper['b1'] * m)
        m = complement(hyper, 'b2') * grad + hyper['b2'] * m
        return -lr.astype(grad.dtype) * direction, {'exp_avg': m}

    def config(self):
        return {'betas': (self.b1, self.b2)}
