"""RMSprop (Tieleman and Hinton, 2012), centered (Graves, 2013) and with momentum."""
from typing import Tuple

import jax.numpy as jnp

from .adam import lerp
from .base import Rule, complement, complements, full_like

__all__ = ['RMSpropRule']


class RMSpropRule(Rule):
    r"""The RMSprop update of torch.optim.

    .. math::

        v_t = \alpha v_{t-1} + (1-\alpha) g_t^2, \qquad
        \bar g_t = \alpha \bar g_{t-1} + (1-\alpha) g_t \ \ (\text{centered}), \\
        r_t = \sqrt{v_t - \bar g_t^2} + \epsilon \ \ (\text{centered; otherwise } \sqrt{v_t} + \epsilon), \\
        b_t = \mu b_{t-1} + g_t / r_t, \qquad \theta_t = \theta_{t-1} - \eta\, b_t
        \quad (\mu > 0; \text{ otherwise } \theta_t = \theta_{t-1} - \eta\, g_t / r_t)

    ``eps_placement='outside'`` (torch.optim, brainopt's default) adds
    :math:`\epsilon` after the root; ``'inside'`` (Keras, optax's default,
    braintools.optim) takes :math:`\sqrt{v_t [- \bar g_t^2] + \epsilon}`.
    Slots: ``square_avg``; ``momentum_buffer`` only when ``momentum > 0``;
    ``grad_avg`` only when ``centered``.

    ``lr_in_buffer=True`` keeps the learning rate inside the momentum buffer,
    as Keras does: :math:`b_t = \mu b_{t-1} + \eta_t g_t / r_t`,
    :math:`\theta_t = \theta_{t-1} - b_t` (the same for a constant
    :math:`\eta`; the buffer is then in the parameter's unit).
    """

    lr_unit = (1, 0)
    slot_units = {'square_avg': (0, 2), 'grad_avg': (0, 1), 'momentum_buffer': (0, 0)}

    hyper_names = ('alpha', 'eps', 'momentum')
    live_names: Tuple[str, ...] = ('alpha', 'eps', 'momentum')

    def __init__(self, alpha: float, eps: float, momentum: float = 0.0, centered: bool = False,
                 eps_placement: str = 'outside', lr_in_buffer: bool = False):
        if eps_placement not in ('outside', 'inside'):
            raise ValueError(f"RMSprop: eps_placement must be 'outside' or 'inside', got {eps_placement!r}")
        self.alpha = alpha
        self.eps = eps
        self.momentum = momentum
        self.centered = centered
        self._small = abs(1 - alpha) < 0.5  # torch's lerp branch (structure): read by the update, not alpha itself
        self.eps_placement = eps_placement
        self.lr_in_buffer = bool(lr_in_buffer)
        if self.lr_in_buffer:
            self.slot_units = dict(self.slot_units, momentum_buffer=(1, 0))
        self.eps_units = {'eps': (0, 1) if eps_placement == 'outside' else (0, 2)}
        self.slots = (('square_avg',) + (('momentum_buffer',) if momentum > 0 else ())
                      + (('grad_avg',) if centered else ()))
        if momentum == 0:
            self.live_names = ('alpha', 'eps')      # (no buffer: the momentum is not read)

    def init_leaf(self, param):
        return {s: full_like(param, 0.) for s in self.slots}

    def derived(self, values):
        return complements(values, 'alpha')

    def structure(self, values):
        return (abs(1 - values['alpha']) < 0.5,) if 'alpha' in values else ()    # torch's lerp branch

    def update_leaf(self, grad, param, slots, count, lr, hyper):
        alpha, eps = hyper['alpha'], hyper['eps']
        lr = lr.astype(grad.dtype)
        square_avg = slots['square_avg'] * alpha + complement(hyper, 'alpha') * grad * grad
        new = {'square_avg': square_avg}
        if self.centered:
            grad_avg = new['grad_avg'] = lerp(slots['grad_avg'], grad, complement(hyper, 'alpha'),
                                              small=self._small, rest=alpha)
            var = square_avg - grad_avg * grad_avg
        else:
            var = square_avg
        if self.eps_placement == 'outside':
            avg = jnp.sqrt(var) + eps
        else:
            avg = jnp.sqrt(var + eps)
        if self.lr_in_buffer:   # Keras: increment = lr g / root; b = mu b + increment; p -= b
            increment = lr * grad / avg
            if 'momentum_buffer' in slots:
                buf = new['momentum_buffer'] = hyper['momentum'] * slots['momentum_buffer'] + increment
                return -buf, new
            return -increment, new
        if 'momentum_buffer' in slots:
            buf = new['momentum_buffer'] = slots['momentum_buffer'] * hyper['momentum'] + grad / avg
            return -lr * buf, new
        return -lr * grad / avg, new

    def config(self):
        return {'alpha': self.alpha, 'eps': self.eps, 'momentum': self.momentum, 'centered': self.centered,
                'eps_placement': self.eps_placement, **({'lr_in_buffer': True} if self.lr_in_buffer else {})}
