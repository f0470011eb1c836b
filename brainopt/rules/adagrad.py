"""Adagrad (Duchi, Hazan and Singer, 2011)."""
import jax.numpy as jnp

from .base import Rule, full_like

__all__ = ['AdagradRule']


class AdagradRule(Rule):
    r"""The Adagrad update.

    .. math::

        s_t = s_{t-1} + g_t^2, \qquad
        \eta_t = \frac{\eta}{1 + t\,\lambda_{\text{decay}}}, \qquad
        \theta_t = \theta_{t-1} - \eta_t \frac{g_t}{\sqrt{s_t} + \epsilon}

    with :math:`t` the number of updates applied before this one.
    ``eps_placement='outside'`` (the torch.optim formula above, brainopt's
    default) adds :math:`\epsilon` after the square root; ``'inside'`` (Keras,
    optax) divides by :math:`\sqrt{s_t + \epsilon}`.
    """
    slots = ('sum',)

    lr_unit = (1, 0)
    slot_units = {'sum': (0, 2)}

    hyper_names = ('lr_decay', 'eps')
    live_names = ('lr_decay', 'eps')

    def __init__(self, lr_decay: float, initial_accumulator_value: float, eps: float,
                 eps_placement: str = 'outside'):
        if eps_placement not in ('outside', 'inside'):
            raise ValueError(f"Adagrad: eps_placement must be 'outside' or 'inside', got {eps_placement!r}")
        self.lr_decay = lr_decay
        self._constant = lr_decay == 0      # (structure): read by the update, not lr_decay itself
        self.initial_accumulator_value = initial_accumulator_value
        self.eps = eps
        self.eps_placement = eps_placement

    def init_leaf(self, param):
        return {'sum': full_like(param, self.initial_accumulator_value)}

    def structure(self, values):
        return (values.get('lr_decay') == 0,)

    def update_leaf(self, grad, param, slots, count, lr, hyper):
        total = slots['sum'] + grad * grad
        if self.eps_placement == 'outside':
            std = jnp.sqrt(total) + hyper['eps']
        else:
            std = jnp.sqrt(total + hyper['eps'])
        clr = lr if self._constant else lr / (1 + count * hyper['lr_decay'])
        return -clr.astype(grad.dtype) * grad / std, {'sum': total}

    def config(self):
        return {'lr_decay': self.lr_decay, 'initial_accumulator_value': self.initial_accumulator_value,
                'eps': self.eps, 'eps_placement': self.eps_placement}
