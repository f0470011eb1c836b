"""Yogi (Zaheer, Reddi, Sachan, Kale and Kumar, 2018): Adam with an additive second moment."""
import jax.numpy as jnp

from .adam import beta_numbers, live_corrected
from .base import Rule, complement, full_like

__all__ = ['YogiRule']


class YogiRule(Rule):
    r"""The Yogi update, as ``optax.yogi`` (and braintools.optim, which calls it).

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = v_{t-1} - (1-\beta_2)\,\operatorname{sign}(v_{t-1} - g_t^2)\, g_t^2, \\
        \theta_t = \theta_{t-1} - \eta\,\frac{m_t/(1-\beta_1^t)}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}

    with both moments starting at ``initial_accumulator_value`` (optax's
    ``1e-6``). The arithmetic follows optax; the bias corrections are
    :func:`brainopt.rules.adam.bias_correction`'s. Slots: ``exp_avg``
    (:math:`m`), ``exp_avg_sq`` (:math:`v`).
    """
    slots = ('exp_avg', 'exp_avg_sq')

    lr_unit = (1, 0)
    slot_units = {'exp_avg': (0, 1), 'exp_avg_sq': (0, 2)}
    eps_units = {'eps': (0, 1)}

    hyper_names = ('b1', 'b2', 'eps')
    live_names = ('b1', 'b2', 'eps')

    def __init__(self, b1: float, b2: float, eps: float, initial_accumulator_value: float):
        self.b1, self.b2, self.eps = b1, b2, eps
        self.initial_accumulator_value = initial_accumulator_value

    def init_leaf(self, param):
        return {s: full_like(param, self.initial_accumulator_value) for s in self.slots}

    def derived(self, values):
        return beta_numbers(values, 'b1', 'b2')

    def update_leaf(self, grad, param, slots, count, lr, hyper):
        b1, dt = hyper['b1'], grad.dtype
        m = complement(hyper, 'b1') * grad + b1 * slots['exp_avg']
        g2 = grad * grad
        v = slots['exp_avg_sq']
        v = v - complement(hyper, 'b2') * jnp.sign(v - g2) * g2
        m_hat = m / live_corrected(hyper, 'b1', count, dt)
        v_hat = v / live_corrected(hyper, 'b2', count, dt)
        return -lr.astype(dt) * (m_hat / (jnp.sqrt(v_hat) + hyper['eps'])), {'exp_avg': m, 'exp_avg_sq': v}

    def config(self):
        return {'betas': (self.b1, self.b2), 'eps': self.eps,
                'initial_accumulator_value': self.initial_accumulator_value}
