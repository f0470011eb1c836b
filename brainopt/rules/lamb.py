"""LAMB (You et al., 2020): Adam's direction, rescaled per tensor by a trust ratio.

Also home of :class:`DecayInRule`, the base of the rules whose paper puts
weight decay *inside* their math (LAMB, Novograd, Prodigy, schedule-free
AdamW), where neither the engine's coupled nor its decoupled decay can put it.
"""
import jax.numpy as jnp

from ..transforms.weight_decay import is_zero
from .adam import beta_numbers, lerp, live_corrected
from .base import Rule, complement, full_like

__all__ = ['DecayInRule', 'LambRule']


def l2_norm(x):
    """Frobenius norm of a whole tensor (any rank, a scalar included)."""
    return jnp.sqrt(jnp.sum(x * x))


class DecayInRule(Rule):
    """A rule that applies weight decay itself, where its paper puts it.

    ``weight_decay`` is the coefficient (0 disables it) and ``decay_mask`` the
    leaf names that decay (``None``: all), for the rule used on its own. Inside
    an optimizer the engine passes each step's plan (``decay=``), whose
    coefficients (:attr:`~brainopt.transforms.weight_decay.Plan.in_rule`: each
    decaying leaf's, that of the leaf's parameter group after
    ``weight_decay_exclude``) take their place. Subclasses implement
    :meth:`update_leaf_decay`, which receives the coefficient of that leaf.
    """

    weight_decay = 0.0
    decay_mask = None
    takes_decay = True

    def decay_of(self, name, plan=None):
        """The coefficient of leaf ``name``: the plan's (inside an optimizer), else the rule's own."""
        if plan is not None:
            return plan.in_rule.get(name, 0.0)
        if self.decay_mask is not None and name not in self.decay_mask:
            return 0.0
        return self.weight_decay

    def update_leaf_decay(self, grad, param, slots, count, lr, hyper, weight_decay):
        raise NotImplementedError

    def update_leaf(self, grad, param, slots, count, lr, hyper):
        return self.update_leaf_decay(grad, param, slots, count, lr, hyper, self.weight_decay)

    def update(self, grads, params, state, count, lr, hyper, decay=None):
        deltas, new_state = {}, {s: {} for s in self.slots}
        for name, g in grads.items():
            leaf_slots = {s: state[s][name] for s in self.slots}
            deltas[name], leaf_slots = self.update_leaf_decay(g, params[name], leaf_slots, count, lr, hyper,
                                                              self.decay_of(name, decay))
            for s in self.slots:
                new_state[s][name] = leaf_slots[s]
        return deltas, new_state


class LambRule(DecayInRule):
    r"""The LAMB update: optax.lamb, Keras Lamb and braintools.optim.Lamb.

    .. math::

        r_t = \frac{m_t/(1-\beta_1^t)}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon} + \lambda\,\theta_{t-1},
        \qquad \theta_t = \theta_{t-1} - \eta\,\frac{\|\theta_{t-1}\|}{\|r_t\|}\, r_t

    with :math:`m_t, v_t` Adam's moments and the trust ratio taken as 1 where
    either norm is 0. :math:`\lambda` (``weight_decay``) sits inside the
    trust ratio, as in the paper, optax and braintools.
    """

    slots = ('exp_avg', 'exp_avg_sq')

    lr_unit = (0, 0)        # the trust ratio ||theta|| / ||r|| carries the parameter's unit
    slot_units = {'exp_avg': (0, 1), 'exp_avg_sq': (0, 2)}
    eps_units = {'eps': (0, 1)}

    hyper_names = ('b1', 'b2', 'eps')
    live_names = ('b1', 'b2', 'eps')

    def __init__(self, b1: float, b2: float, eps: float, weight_decay: float = 0.0):
        self.b1, self.b2, self.eps, self.weight_decay = b1, b2, eps, weight_decay
        self._small = abs(1 - b1) < 0.5     # torch's lerp branch (structure): read by the update, not b1 itself

    def init_leaf(self, param):
        return {s: full_like(param, 0.) for s in self.slots}

    def derived(self, values):
        return beta_numbers(values, 'b1', 'b2')

    def structure(self, values):
        return (abs(1 - values['b1']) < 0.5,) if 'b1' in values else ()    # torch's lerp branch

    def update_leaf_decay(self, grad, param, slots, count, lr, hyper, weight_decay):
        b1, b2, dt = hyper['b1'], hyper['b2'], grad.dtype
        m = lerp(slots['exp_avg'], grad, complement(hyper, 'b1'), small=self._small, rest=b1)
        v = slots['exp_avg_sq'] * b2 + complement(hyper, 'b2') * grad * grad
        m_hat = m / live_corrected(hyper, 'b1', count, dt)
        v_hat = v / live_corrected(hyper, 'b2', count, dt)
        r = m_hat / (jnp.sqrt(v_hat) + hyper['eps'])
        if not is_zero(weight_decay):
            r = r + weight_decay * param
        p_norm, r_norm = l2_norm(param), l2_norm(r)
        ratio = jnp.where((p_norm > 0) & (r_norm > 0), p_norm / jnp.where(r_norm > 0, r_norm, 1), 1).astype(dt)
        return -lr.astype(dt) * (ratio * r), {'exp_avg': m, 'exp_avg_sq': v}

    def config(self):
        return {'betas': (self.b1, self.b2), 'eps': self.eps}
