"""Schedule-free SGD and AdamW (Defazio et al., 2024): averaging instead of a schedule."""
import jax.numpy as jnp

from ..transforms.weight_decay import is_zero
from .adam import corrected
from .base import full_like
from .lamb import DecayInRule

__all__ = ['ScheduleFreeRule']


class ScheduleFreeRule(DecayInRule):
    r"""The schedule-free update; the trained parameters are :math:`y`.

    .. math::

        \gamma_t = \eta_t \min(1, t/T_w), \qquad
        \gamma^{\max}_t = \max(\gamma^{\max}_{t-1}, \gamma_t), \qquad
        c_t = \frac{(\gamma^{\max}_t)^p}{\sum_{i \le t} (\gamma^{\max}_i)^p}, \\
        z_t = z_{t-1} - \gamma_t\, u_t, \qquad
        x_t = (1-c_t)\, x_{t-1} + c_t z_t, \qquad
        y_t = \beta x_t + (1-\beta) z_t

    with :math:`x_{t-1} = (y_{t-1} - (1-\beta) z_{t-1})/\beta`, :math:`g_t`
    taken at :math:`y`, and :math:`u_t = g_t` (``base='sgd'``) or
    :math:`u_t = g_t / (\sqrt{v_t/(1-\beta_2^t)} + \epsilon) + \lambda y_{t-1}`
    with :math:`v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2` (``base='adamw'``).
    Slots: ``z`` (starts at the parameter), ``exp_avg_sq`` (AdamW), and two
    scalars per parameter, ``weight_sum`` (:math:`\sum (\gamma^{\max})^p`)
    and ``lr_max``: both depend on the step only, so they are equal across
    parameters, and a parameter registered later starts its own average.
    """

    hyper_names = ('beta', 'b2', 'eps', 'warmup_steps', 'weight_lr_power')

    def __init__(self, base, beta, b2, eps, warmup_steps, weight_lr_power, weight_decay=0.0):
        self.base, self.beta, self.b2, self.eps = base, beta, b2, eps
        self.warmup_steps, self.weight_lr_power, self.weight_decay = warmup_steps, weight_lr_power, weight_decay
        self.slots = ('z',) + (('exp_avg_sq',) if base == 'adamw' else ()) + ('weight_sum', 'lr_max')
        # SGD: z - lr g, lr in P^2; AdamW: z - lr g / sqrt(v), lr in P. lr_max is in lr's unit, weight_sum in
        # lr ** weight_lr_power (declared when that power is an integer)
        a, b = self.lr_unit = (1, -1) if base == 'sgd' else (1, 0)
        self.slot_units = {'z': (1, 0), 'exp_avg_sq': (0, 2), 'lr_max': (a, b)}
        if float(weight_lr_power).is_integer():
            self.slot_units['weight_sum'] = (a * int(weight_lr_power), b * int(weight_lr_power))

    def init_leaf(self, param):
        dt = jnp.result_type(param)
        out = {'z': jnp.array(param, copy=True), 'weight_sum': jnp.zeros((), dt), 'lr_max': jnp.zeros((), dt)}
        if self.base == 'adamw':
            out['exp_avg_sq'] = full_like(param, 0.)
        return out

    def update_leaf_decay(self, grad, param, slots, count, lr, hyper, weight_decay):
        dt, beta = grad.dtype, hyper['beta']
        step = (count + 1).astype(jnp.float32)
        if hyper['warmup_steps']:
            lr = lr * jnp.minimum(1.0, step / hyper['warmup_steps'])
        lr = lr.astype(dt)
        lr_max = jnp.maximum(slots['lr_max'], lr)
        weight = lr_max ** hyper['weight_lr_power']
        weight_sum = slots['weight_sum'] + weight
        c = jnp.where(weight_sum > 0, weight / jnp.where(weight_sum > 0, weight_sum, 1), 0).astype(dt)
        new = {'weight_sum': weight_sum, 'lr_max': lr_max}
        if self.base == 'adamw':
            v = new['exp_avg_sq'] = slots['exp_avg_sq'] * hyper['b2'] + (1 - hyper['b2']) * grad * grad
            u = grad / (jnp.sqrt(v / corrected(hyper['b2'], count, dt)) + hyper['eps'])
            if not is_zero(weight_decay):
                u = u + weight_decay * param
        else:
            u = grad
        z_old = slots['z']
        z = new['z'] = z_old - lr * u
        x_old = (param - (1 - beta) * z_old) / beta
        x = (1 - c) * x_old + c * z
        y = beta * x + (1 - beta) * z
        return y - param, new

    @staticmethod
    def eval_params(params, z, beta):
        """:math:`x = (y - (1-\\beta) z)/\\beta` for dicts of parameters and ``z`` slots."""
        return {k: (y - (1 - beta) * z[k]) / beta for k, y in params.items()}

    def config(self):
        out = {'momentum' if self.base == 'sgd' else 'betas':
               self.beta if self.base == 'sgd' else (self.beta, self.b2)}
        if self.base == 'adamw':
            out['eps'] = self.eps
        out.update(warmup_steps=self.warmup_steps, weight_lr_power=self.weight_lr_power)
        return out
