"""NovoGrad (Ginsburg et al., 2019): a layer-wise second moment, one scalar per tensor."""
import jax.numpy as jnp

from ..transforms.weight_decay import is_zero
from .base import full_like
from .lamb import DecayInRule

__all__ = ['NovogradRule']


class NovogradRule(DecayInRule):
    r"""The NovoGrad update: ``optax.novograd``, braintools.optim.Novograd.

    .. math::

        v_t = \beta_2 v_{t-1} + (1-\beta_2)\|g_t\|^2 \quad (v_1 = \|g_1\|^2), \\
        m_t = \beta_1 m_{t-1} + \frac{g_t}{\sqrt{v_t} + \epsilon} + \lambda\,\theta_{t-1}
        \quad (m_1 = \text{the second term}), \qquad
        \theta_t = \theta_{t-1} - \eta\, m_t

    :math:`v` is one scalar per parameter tensor (slot ``exp_avg_sq``, shape
    ``()``); :math:`m` (``exp_avg``) has the parameter's shape. The first
    step is the optimizer's first applied update (``count == 0``).
    """

    slots = ('exp_avg', 'exp_avg_sq')

    lr_unit = (1, 0)        # g / sqrt(v) is dimensionless
    slot_units = {'exp_avg': (0, 0), 'exp_avg_sq': (0, 2)}
    eps_units = {'eps': (0, 1)}

    hyper_names = ('b1', 'b2', 'eps')

    def __init__(self, b1: float, b2: float, eps: float, weight_decay: float = 0.0):
        self.b1, self.b2, self.eps, self.weight_decay = b1, b2, eps, weight_decay

    def init_leaf(self, param):
        return {'exp_avg': full_like(param, 0.), 'exp_avg_sq': jnp.zeros((), jnp.result_type(param))}

    def update_leaf_decay(self, grad, param, slots, count, lr, hyper, weight_decay):
        dt = grad.dtype
        first = count == 0
        sq = jnp.sum(grad * grad)
        v = jnp.where(first, sq, hyper['b2'] * slots['exp_avg_sq'] + (1 - hyper['b2']) * sq).astype(dt)
        u = grad / (jnp.sqrt(v) + hyper['eps'])
        if not is_zero(weight_decay):
            u = u + weight_decay * param
        m = jnp.where(first, u, hyper['b1'] * slots['exp_avg'] + u).astype(dt)
        return -lr.astype(dt) * m, {'exp_avg': m, 'exp_avg_sq': v}

    def config(self):
        return {'betas': (self.b1, self.b2), 'eps': self.eps}
