"""Stochastic gradient descent, with heavy-ball or Nesterov momentum."""
from typing import Tuple

import jax.numpy as jnp

from .base import Rule, complement, complements, full_like

__all__ = ['SGDRule']


class SGDRule(Rule):
    r"""The torch.optim SGD update.

    .. math::

        b_t = \mu b_{t-1} + (1-\tau) g_t \quad (b_1 = g_1), \qquad
        d_t = \begin{cases} g_t + \mu b_t & \text{Nesterov} \\ b_t & \text{otherwise} \end{cases},
        \qquad \theta_t = \theta_{t-1} - \eta\, d_t

    with :math:`\mu` = ``momentum`` and :math:`\tau` = ``dampening``. Without
    momentum (:math:`\mu = 0`) the rule is :math:`\theta_t = \theta_{t-1} -
    \eta g_t` and keeps no slot at all; with momentum it keeps one,
    ``momentum_buffer``. ``slots`` is therefore set per instance.

    The buffer starts at zero, so :math:`\mu \cdot 0 + g_1 = g_1` reproduces
    torch's first step exactly when ``dampening == 0``. With dampening, torch
    skips the damping on a parameter's first step; here the first step is the
    optimizer's first applied update (``count == 0``).

    ``lr_in_buffer=True`` keeps the learning rate inside the buffer, as Keras
    and brainpy do: :math:`b_t = \mu b_{t-1} + \eta_t g_t`, :math:`\theta_t =
    \theta_{t-1} - b_t` (Nesterov: :math:`- (\mu b_t + \eta_t g_t)`). The
    two forms agree for a constant :math:`\eta`; under a schedule the buffer
    keeps the rates of the steps that filled it. The buffer is then in the
    parameter's unit (Keras stores :math:`-b_t`).
    """

    lr_unit = (1, -1)
    slot_units = {'momentum_buffer': (0, 1)}

    hyper_names = ('momentum', 'dampening')
    live_names: Tuple[str, ...] = ('momentum', 'dampening')

    def __init__(self, momentum: float = 0.0, dampening: float = 0.0, nesterov: bool = False,
                 lr_in_buffer: bool = False):
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self._undamped = dampening == 0     # (structure): read by the update, not the dampening itself
        self.lr_in_buffer = bool(lr_in_buffer)
        self.slots = ('momentum_buffer',) if momentum > 0 else ()
        if not self.slots:
            self.live_names = ()        # without momentum neither number is read
        if self.lr_in_buffer:
            self.slot_units = {'momentum_buffer': (1, 0)}

    def init_leaf(self, param):
        return {'momentum_buffer': full_like(param, 0.)} if self.slots else {}

    def derived(self, values):
        return complements(values, 'dampening')

    def structure(self, values):
        return (values.get('dampening') == 0,)

    def update_leaf(self, grad, param, slots, count, lr, hyper):
        lr = lr.astype(grad.dtype)
        if not self.slots:
            return -lr * grad, {}
        mu, undamped = hyper['momentum'], complement(hyper, 'dampening')
        buf = slots['momentum_buffer']
        if self.lr_in_buffer:   # Keras: m = m*mu - g*lr; p += m (Nesterov: p += m*mu - g*lr); here b = -m
            step = grad * lr if self._undamped else jnp.where(count == 0, grad * lr, grad * lr * undamped)
            buf = buf * mu + step
            return -(buf * mu + grad * lr) if self.nesterov else -buf, {'momentum_buffer': buf}
        # torch: buf.mul_(momentum).add_(grad, alpha=1 - dampening)
        if self._undamped:
            buf = buf * mu + grad
        else:
            buf = jnp.where(count == 0, grad, buf * mu + grad * undamped)
        direction = grad + buf * mu if self.nesterov else buf
        return -lr * direction, {'momentum_buffer': buf}

    def config(self):
        return {'momentum': self.momentum, 'dampening': self.dampening, 'nesterov': self.nesterov,
                **({'lr_in_buffer': True} if self.lr_in_buffer else {})}
