"""LARS (You, Gitman and Ginsburg, 2017): SGD with a per-tensor trust ratio."""
import jax.numpy as jnp

from ..transforms.weight_decay import is_zero
from .base import full_like
from .lamb import DecayInRule, l2_norm

__all__ = ['LarsRule']


class LarsRule(DecayInRule):
    r"""The LARS update: braintools.optim.Lars, ``optax.lars``.

    .. math::

        b_t = \mu b_{t-1} + \tau\, \frac{\|\theta_{t-1}\|}{\|g_t\| + \epsilon}\, g_t,
        \qquad \theta_t = \theta_{t-1} - \eta\, b_t

    with :math:`\tau` = ``trust_coefficient`` and the trust ratio 1 where
    either norm is 0. The gradient already holds the coupled weight decay
    (the engine adds it before the rule, as optax and braintools add it
    before the trust ratio). The learning rate multiplies the buffer
    (braintools; optax multiplies before the trace: equal for a constant
    rate). Without momentum the rule keeps no slot. With ``nesterov`` the
    step is :math:`\eta\,(u_t + \mu b_t)` (``optax.lars(nesterov=True)``,
    its ``trace``), :math:`u_t` the trust-scaled gradient.

    ``brainpy=True`` is ``brainpy.optim.LARS`` (and the paper's trust ratio):
    the rule applies the weight decay :math:`\lambda` itself (the optimizer's
    ``weight_decay_mode='rule'``, the gradient then holds none) and keeps the
    learning rate inside the buffer,

    .. math::

        b_t = \mu b_{t-1} + \eta_t\, \frac{\tau\,\|\theta_{t-1}\|}
        {\|g_t\| + \lambda\|\theta_{t-1}\| + \epsilon}\,(g_t + \lambda\theta_{t-1}),
        \qquad \theta_t = \theta_{t-1} - b_t

    (Nesterov: :math:`-(\eta_t u_t + \mu b_t)`), the trust ratio at least 1
    where either norm is 0 (brainpy's ``maximum``).
    """

    lr_unit = (0, 0)        # the trust ratio ||theta|| / ||g|| turns g into the parameter's unit
    slot_units = {'momentum_buffer': (1, 0)}
    eps_units = {'eps': (0, 1)}

    hyper_names = ('momentum', 'trust_coefficient', 'eps')

    def __init__(self, momentum: float, trust_coefficient: float, eps: float, nesterov: bool = False,
                 brainpy: bool = False):
        self.momentum, self.trust_coefficient, self.eps, self.nesterov = momentum, trust_coefficient, eps, nesterov
        self.brainpy = bool(brainpy)
        self.slots = ('momentum_buffer',) if momentum > 0 else ()

    def init_leaf(self, param):
        return {'momentum_buffer': full_like(param, 0.)} if self.slots else {}

    def update_leaf_decay(self, grad, param, slots, count, lr, hyper, weight_decay):
        dt = grad.dtype
        p_norm, g_norm = l2_norm(param), l2_norm(grad)
        if self.brainpy:
            # brainpy: tc |p| / (|g| + wd |p| + eps), lr * maximum(|p| == 0 or |g| == 0, ratio), on g + wd p
            ratio = hyper['trust_coefficient'] * p_norm / (g_norm + weight_decay * p_norm + hyper['eps'])
            ratio = jnp.where((p_norm == 0) | (g_norm == 0), jnp.maximum(1, ratio), ratio).astype(dt)
            u = lr.astype(dt) * ratio * (grad if is_zero(weight_decay) else grad + weight_decay * param)
            if not self.slots:
                return -u, {}
            buf = hyper['momentum'] * slots['momentum_buffer'] + u
            return -(u + hyper['momentum'] * buf if self.nesterov else buf), {'momentum_buffer': buf}
        ratio = hyper['trust_coefficient'] * p_norm / (g_norm + hyper['eps'])
        ratio = jnp.where((p_norm == 0) | (g_norm == 0), 1, ratio).astype(dt)
        u = grad * ratio
        if not self.slots:
            return -lr.astype(dt) * u, {}
        buf = u + hyper['momentum'] * slots['momentum_buffer']
        direction = u + hyper['momentum'] * buf if self.nesterov else buf
        return -lr.astype(dt) * direction, {'momentum_buffer': buf}

    def config(self):
        return {'momentum': self.momentum, 'trust_coefficient': self.trust_coefficient, 'eps': self.eps,
                **({'nesterov': True} if self.nesterov else {}), **({'brainpy': True} if self.brainpy else {})}
