"""Adadelta (Zeiler, 2012)."""
import jax.numpy as jnp

from .base import AfterParam, Rule, after, complement, complements, full_like

__all__ = ['AdadeltaRule']


class AdadeltaRule(Rule):
    r"""The Adadelta update, with :math:`\epsilon` inside both square roots.

    .. math::

        v_t = \rho v_{t-1} + (1-\rho) g_t^2, \qquad
        \Delta_t = \sqrt{\frac{u_{t-1} + \epsilon}{v_t + \epsilon}}\, g_t, \\
        u_t = \rho u_{t-1} + (1-\rho) \Delta_t^2, \qquad
        \theta_t = \theta_{t-1} - \eta \Delta_t

    This is the formula of the paper, torch.optim, optax and Keras alike. The
    ratio is taken under one square root, and the slot update runs after the
    parameter's (:class:`AfterParam`), so the compiled step streams each array
    once or twice and keeps no full-size temporaries.
    """
    slots = ('square_avg', 'acc_delta')

    lr_unit = (0, 0)        # the step is sqrt(acc_delta) / sqrt(square_avg) * g: already in P
    slot_units = {'square_avg': (0, 2), 'acc_delta': (2, 0)}

    hyper_names = ('rho', 'eps')
    live_names = ('rho', 'eps')

    def __init__(self, rho: float, eps: float):
        self.rho = rho
        self.eps = eps

    def init_leaf(self, param):
        return {'square_avg': full_like(param, 0.), 'acc_delta': full_like(param, 0.)}

    def derived(self, values):
        return complements(values, 'rho')

    def update_leaf(self, grad, param, slots, count, lr, hyper):
        rho, eps = hyper['rho'], hyper['eps']
        square_avg = rho * slots['square_avg'] + complement(hyper, 'rho') * grad * grad

        def delta(acc):
            return jnp.sqrt((acc + eps) / (square_avg + eps)) * grad

        def acc_delta(new_param):
            # the parameter's loop and this one each compute delta (one sqrt each) from the old acc_delta;
            # this one runs second, so acc_delta is updated in place with no full-size temporary
            d = delta(after(slots['acc_delta'], new_param))
            return rho * slots['acc_delta'] + complement(hyper, 'rho') * d * d

        return -lr.astype(grad.dtype) * delta(slots['acc_delta']), \
            {'square_avg': square_avg, 'acc_delta': AfterParam(acc_delta)}

    def config(self):
        return {'rho': self.rho, 'eps': self.eps}
