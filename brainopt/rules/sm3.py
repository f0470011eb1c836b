"""SM3 (Anil et al., 2019): Adagrad with one accumulator per row, column, ... of a tensor."""
import functools

import jax
import jax.numpy as jnp

from .base import Rule, full_like

__all__ = ['SM3Rule']


class SM3Rule(Rule):
    r"""The SM3-II update, as ``optax.sm3`` (``b2 = 1``).

    A parameter of rank :math:`k \ge 2` keeps one accumulator vector per axis,
    :math:`\mu^{(i)}` of length ``shape[i]``, concatenated into the slot
    ``accumulator`` (length ``sum(shape)``); a vector or a scalar keeps a
    full (diagonal) accumulator of its own shape:

    .. math::

        \nu_t = \min_i \mu^{(i)}_{t-1}\ (\text{broadcast}) + g_t^2, \qquad
        \mu^{(i)}_t = \max_{\text{axes} \ne i} \nu_t, \\
        u_t = g_t / \sqrt{\nu_t + \epsilon}\ (0 \text{ where } \nu_t = 0), \qquad
        b_t = \beta b_{t-1} + (1-\beta) u_t, \qquad \Delta_t = -\eta\, b_t

    ``momentum_buffer`` (:math:`b`) only when :math:`\beta > 0`.
    """

    lr_unit = (1, 0)        # g / sqrt(nu) is dimensionless
    slot_units = {'accumulator': (0, 2), 'momentum_buffer': (0, 0)}
    eps_units = {'eps': (0, 2)}

    hyper_names = ('momentum', 'eps')

    def __init__(self, momentum: float, eps: float):
        self.momentum, self.eps = momentum, eps
        self.slots = ('accumulator',) + (('momentum_buffer',) if momentum > 0 else ())

    @staticmethod
    def _covered(param):
        return jnp.ndim(param) >= 2

    def init_leaf(self, param):
        shape, dt = jnp.shape(param), jnp.result_type(param)
        acc = jnp.zeros((sum(shape),), dt) if self._covered(param) else full_like(param, 0.)
        out = {'accumulator': acc}
        if self.momentum > 0:
            out['momentum_buffer'] = full_like(param, 0.)
        return out

    def update_leaf(self, grad, param, slots, count, lr, hyper):
        dt, shape, k = grad.dtype, grad.shape, grad.ndim
        acc = slots['accumulator']
        if self._covered(param):
            offsets = [sum(shape[:i]) for i in range(k + 1)]
            mus = [acc[offsets[i]:offsets[i + 1]].reshape([1] * i + [shape[i]] + [1] * (k - i - 1))
                   for i in range(k)]
            nu = grad * grad + functools.reduce(jnp.minimum, mus)
            new_acc = jnp.concatenate([jnp.max(nu, axis=tuple(a for a in range(k) if a != i)) for i in range(k)])
        else:
            nu = grad * grad + acc
            new_acc = nu
        u = grad * jnp.where(nu > 0, jax.lax.rsqrt(nu + hyper['eps']), 0).astype(dt)
        new = {'accumulator': new_acc}
        if 'momentum_buffer' in slots:
            u = new['momentum_buffer'] = (1 - hyper['momentum']) * u + hyper['momentum'] * slots['momentum_buffer']
        return -lr.astype(dt) * u, new

    def config(self):
        return {'momentum': self.momentum, 'eps': self.eps}

