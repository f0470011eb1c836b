"""Prodigy (Mishchenko and Defazio, 2024): Adam whose step size D is estimated on the fly."""
import functools

import jax.numpy as jnp

from ..transforms.weight_decay import is_zero
from .adam import bias_correction
from .base import full_like
from .lamb import DecayInRule

__all__ = ['ProdigyRule']


class ProdigyRule(DecayInRule):
    r"""The Prodigy update of ``optax.contrib.prodigy``.

    With :math:`d` the current estimate, :math:`\hat\eta = d\,\eta
    \sqrt{1-\beta_2^t}/(1-\beta_1^t)` and sums over *all* parameters:

    .. math::

        m_t = \beta_1 m + (1-\beta_1)\, d g_t, \qquad
        v_t = \beta_2 v + (1-\beta_2)\, d^2 g_t^2, \qquad
        s_t = \beta_3 s + \hat\eta\, d\, g_t / d_0, \\
        r_t = \beta_3 r + (d/d_0)\, \hat\eta\, \langle g_t, \theta_0 - \theta_{t-1}\rangle, \qquad
        d' = \max\!\Big(d,\ c\, \frac{\sum r_t}{\sum \|s_t\|_1}\Big), \\
        \Delta_t = -\hat\eta\, \lambda\, \theta_{t-1} - \hat\eta\, \frac{m_t}{\sqrt{v_t} + d'\epsilon}

    Slots per parameter: ``exp_avg`` (m), ``exp_avg_sq`` (v), ``grad_sum``
    (s), ``params0`` (:math:`\theta_0`), and two scalars: ``numerator``,
    this parameter's share of :math:`r` (the global :math:`r` is their sum),
    and ``d``, the global estimate, the same in every entry (a parameter
    registered later joins with :math:`d_0` and takes the global value at
    its first update, since :math:`d` only grows).
    """

    slots = ('exp_avg', 'exp_avg_sq', 'grad_sum', 'params0', 'numerator', 'd')

    # d estimates the distance to the solution (in P): lr only scales it; d g is a pure number
    lr_unit = (0, 0)
    slot_units = {'exp_avg': (1, 1), 'exp_avg_sq': (2, 2), 'grad_sum': (1, 1), 'params0': (1, 0),
                  'numerator': (1, 0), 'd': (1, 0)}

    hyper_names = ('b1', 'b2', 'beta3', 'eps', 'estim_lr0', 'estim_lr_coef')

    def __init__(self, b1, b2, beta3, eps, estim_lr0, estim_lr_coef, safeguard_warmup, weight_decay=0.0):
        self.b1, self.b2, self.beta3, self.eps = b1, b2, beta3, eps
        self.estim_lr0, self.estim_lr_coef, self.safeguard_warmup = estim_lr0, estim_lr_coef, safeguard_warmup
        self.weight_decay = weight_decay

    def init_leaf(self, param):
        return {'exp_avg': full_like(param, 0.), 'exp_avg_sq': full_like(param, 0.), 'grad_sum': full_like(param, 0.),
                'params0': jnp.array(param, copy=True),
                # the two global estimates stay float32 whatever the parameters' dtypes, so that a step never
                # changes a slot's dtype (which would recompile the next one)
                'numerator': jnp.zeros((), jnp.float32), 'd': jnp.asarray(self.estim_lr0, jnp.float32)}

    def update(self, grads, params, state, count, lr, hyper, decay=None):
        names = list(grads)
        if not names:
            return {}, {s: {} for s in self.slots}
        b1, b2, b3, d0 = hyper['b1'], hyper['b2'], hyper['beta3'], hyper['estim_lr0']
        d = functools.reduce(jnp.maximum, [state['d'][n] for n in names])
        dt = d.dtype
        step = (count + 1).astype(jnp.float32)
        bc = jnp.sqrt(bias_correction(b2, step)) / bias_correction(b1, step)
        dlr = (d * lr * bc).astype(dt)
        new = {s: {} for s in self.slots}
        for n in names:
            g, p = grads[n], params[n]
            dg = d.astype(g.dtype) * g
            new['exp_avg'][n] = b1 * state['exp_avg'][n] + (1 - b1) * dg
            new['exp_avg_sq'][n] = b2 * state['exp_avg_sq'][n] + (1 - b2) * dg * dg
            scale = d if self.safeguard_warmup else dlr
            new['grad_sum'][n] = b3 * state['grad_sum'][n] + (scale * dg / d0).astype(g.dtype)
            acum = jnp.sum(g * (state['params0'][n] - p))
            new['numerator'][n] = (b3 * state['numerator'][n] + (d / d0) * dlr * acum).astype(dt)
            new['params0'][n] = state['params0'][n]
        numerator = sum(new['numerator'][n] for n in names)
        denominator = sum(jnp.sum(jnp.abs(new['grad_sum'][n])) for n in names)
        estimate = hyper['estim_lr_coef'] * numerator / jnp.where(denominator > 0, denominator, 1)
        d_new = jnp.maximum(d, jnp.where(denominator > 0, estimate, d)).astype(dt)
        deltas = {}
        for n in names:
            p, m, v = params[n], new['exp_avg'][n], new['exp_avg_sq'][n]
            pdt = p.dtype
            step_ = -dlr.astype(pdt) * m / (jnp.sqrt(v) + (d_new * hyper['eps']).astype(pdt))
            wd = self.decay_of(n, decay)
            deltas[n] = step_ if is_zero(wd) else step_ - (wd * dlr).astype(pdt) * p
            new['d'][n] = d_new.astype(state['d'][n].dtype)
        return deltas, new

    def config(self):
        return {'betas': (self.b1, self.b2), 'beta3': self.beta3, 'eps': self.eps, 'estim_lr0': self.estim_lr0,
                'estim_lr_coef': self.estim_lr_coef, 'safeguard_warmup': self.safeguard_warmup}
