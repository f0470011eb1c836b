"""Rprop (Riedmiller and Braun, 1993): per-element step sizes driven by the gradient's sign."""
import jax.numpy as jnp

from .base import Rule, full_like

__all__ = ['RpropRule']

#: the value of ``step_size`` before a parameter's first update (step sizes are never negative)
UNSET = -1.0


class RpropRule(Rule):
    r"""The torch.optim.Rprop update (Rprop without weight backtracking).

    .. math::

        s_t = g_t\, g^{\mathrm{prev}}_{t-1}, \qquad
        \Delta_t = \operatorname{clip}\Big(\Delta_{t-1}\cdot
          \begin{cases} \eta^+ & s_t > 0 \\ \eta^- & s_t < 0 \\ 1 & s_t = 0 \end{cases},
          \ \Delta_{\min}, \Delta_{\max}\Big), \\
        g^{\mathrm{prev}}_t = \begin{cases} 0 & s_t < 0 \\ g_t & \text{otherwise} \end{cases},
        \qquad \theta_t = \theta_{t-1} - \operatorname{sign}(g^{\mathrm{prev}}_t)\,\Delta_t

    The step sizes :math:`\Delta` start at the learning rate of a parameter's
    first update (torch fills them with the group's ``lr`` when the state is
    created); later values of the learning rate are not used. Until then
    ``step_size`` holds ``-1`` (a step size is never negative). Slots:
    ``prev`` (:math:`g^{\mathrm{prev}}`) and ``step_size`` (:math:`\Delta`).
    """
    slots = ('prev', 'step_size')

    lr_unit = (1, 0)        # the initial step size: in the parameter's unit (as step_sizes)
    slot_units = {'prev': (0, 1), 'step_size': (1, 0)}

    hyper_names = ('eta_minus', 'eta_plus', 'step_size_min', 'step_size_max')

    def __init__(self, eta_minus: float, eta_plus: float, step_size_min: float, step_size_max: float):
        self.eta_minus, self.eta_plus = eta_minus, eta_plus
        self.step_size_min, self.step_size_max = step_size_min, step_size_max

    def init_leaf(self, param):
        return {'prev': full_like(param, 0.), 'step_size': full_like(param, UNSET)}

    def update_leaf(self, grad, param, slots, count, lr, hyper):
        dt = grad.dtype
        size = slots['step_size']
        size = jnp.where(size < 0, lr.astype(dt), size)
        sign = jnp.sign(grad * slots['prev'])
        factor = jnp.where(sign > 0, jnp.asarray(hyper['eta_plus'], dt),
                           jnp.where(sign < 0, jnp.asarray(hyper['eta_minus'], dt), jnp.ones((), dt)))
        size = jnp.clip(size * factor, hyper['step_size_min'], hyper['step_size_max'])
        grad = jnp.where(sign < 0, jnp.zeros((), dt), grad)
        return -(jnp.sign(grad) * size), {'prev': grad, 'step_size': size}

    def config(self):
        return {'etas': (self.eta_minus, self.eta_plus), 'step_sizes': (self.step_size_min, self.step_size_max)}
