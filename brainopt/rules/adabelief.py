"""AdaBelief (Zhuang et al., 2020): Adam whose second moment tracks the gradient's deviation from its mean."""
from typing import Tuple

import jax.numpy as jnp

from .adam import beta_numbers, live_corrected
from .base import Rule, complement, full_like

__all__ = ['AdaBeliefRule']


class AdaBeliefRule(Rule):
    r"""The AdaBelief update, as ``optax.adabelief`` and the authors' implementation.

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        s_t = \beta_2 s_{t-1} + (1-\beta_2)(g_t - m_t)^2 + \epsilon_{\mathrm{root}}, \\
        \theta_t = \theta_{t-1} - \eta\,\frac{m_t/(1-\beta_1^t)}{\sqrt{s_t/(1-\beta_2^t)} + \epsilon}

    :math:`\epsilon_{\mathrm{root}}` is added to the stored :math:`s_t` on
    every step (the authors' in-place ``add_(eps)``, optax's ``eps_root``).
    With ``amsgrad`` (the authors' ``adabelief-pytorch``), the root is taken
    of :math:`\hat s_t = \max(\hat s_{t-1}, s_t)` (slot ``max_exp_avg_var``)
    before the bias correction.
    The arithmetic follows optax. Slots: ``exp_avg`` (:math:`m`),
    ``exp_avg_var`` (:math:`s`).
    """
    slots: Tuple[str, ...] = ('exp_avg', 'exp_avg_var')

    lr_unit = (1, 0)
    slot_units = {'exp_avg': (0, 1), 'exp_avg_var': (0, 2), 'max_exp_avg_var': (0, 2)}
    eps_units = {'eps': (0, 1), 'eps_root': (0, 2)}

    hyper_names = ('b1', 'b2', 'eps', 'eps_root')
    live_names = ('b1', 'b2', 'eps', 'eps_root')

    def __init__(self, b1: float, b2: float, eps: float, eps_root: float, amsgrad: bool = False):
        self.b1, self.b2, self.eps, self.eps_root, self.amsgrad = b1, b2, eps, eps_root, amsgrad
        self.slots = ('exp_avg', 'exp_avg_var') + (('max_exp_avg_var',) if amsgrad else ())

    def init_leaf(self, param):
        return {s: full_like(param, 0.) for s in self.slots}

    def derived(self, values):
        return beta_numbers(values, 'b1', 'b2')

    def update_leaf(self, grad, param, slots, count, lr, hyper):
        b1, b2, dt = hyper['b1'], hyper['b2'], grad.dtype
        m = complement(hyper, 'b1') * grad + b1 * slots['exp_avg']
        err = grad - m
        s = complement(hyper, 'b2') * (err * err) + b2 * slots['exp_avg_var'] + hyper['eps_root']
        new = {'exp_avg': m, 'exp_avg_var': s}
        if self.amsgrad:
            s = new['max_exp_avg_var'] = jnp.maximum(slots['max_exp_avg_var'], s)
        m_hat = m / live_corrected(hyper, 'b1', count, dt)
        s_hat = s / live_corrected(hyper, 'b2', count, dt)
        return -lr.astype(dt) * (m_hat / (jnp.sqrt(s_hat) + hyper['eps'])), new

    def config(self):
        return {'betas': (self.b1, self.b2), 'eps': self.eps, 'eps_root': self.eps_root, 'amsgrad': self.amsgrad}
