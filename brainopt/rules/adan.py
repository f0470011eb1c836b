"""Adan (Xie et al., 2022): adaptive Nesterov momentum through a moving average of gradient differences."""
import jax.numpy as jnp

from ..transforms.weight_decay import is_zero
from .adam import beta_numbers, live_corrected
from .base import complement, full_like
from .lamb import DecayInRule

__all__ = ['AdanRule']


class AdanRule(DecayInRule):
    r"""The Adan update (Algorithm 1 of the paper), as ``optax.adan`` with ``eps_root=0``.

    With :math:`\beta_i` the decay rates (the complements of the paper's
    :math:`\beta_i`) and :math:`\Delta_t = g_t - g_{t-1}` (:math:`\Delta_1 = 0`):

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        d_t = \beta_2 d_{t-1} + (1-\beta_2) \Delta_t, \\
        n_t = \beta_3 n_{t-1} + (1-\beta_3)\big(g_t + (1-\beta_2)\Delta_t\big)^2, \\
        \theta_t = \theta_{t-1} - \eta\,
        \frac{m_t/(1-\beta_1^t) + (1-\beta_2)\, d_t/(1-\beta_2^t)}{\sqrt{n_t/(1-\beta_3^t)} + \epsilon}

    :math:`\Delta_1 = 0` on the optimizer's first update (optax); a parameter
    registered later starts from ``prev_grad = 0``. With ``proximal`` the rule applies the weight decay
    itself, in the paper's proximal form (the authors' and brainpy's
    ``no_prox=False``): :math:`\theta_t = (\theta_{t-1} - \eta u_t)/(1 + \eta\lambda)`.
    Slots: ``exp_avg``
    (:math:`m`), ``exp_avg_diff`` (:math:`d`), ``exp_avg_sq`` (:math:`n`),
    ``prev_grad`` (:math:`g_{t-1}`).

    ``paper_diff_weight=True`` weights the gradient difference (in :math:`n_t`
    and in the step) by the decay rate :math:`\beta_2` instead of
    :math:`1-\beta_2`: the paper's :math:`1-\beta_2` in its own convention
    (Algorithm 1), the authors' code and ``brainpy.optim.Adan``. The two forms
    agree while the gradient does not change.
    """
    slots = ('exp_avg', 'exp_avg_diff', 'exp_avg_sq', 'prev_grad')

    lr_unit = (1, 0)
    slot_units = {'exp_avg': (0, 1), 'exp_avg_diff': (0, 1), 'exp_avg_sq': (0, 2), 'prev_grad': (0, 1)}
    eps_units = {'eps': (0, 1)}

    hyper_names = ('b1', 'b2', 'b3', 'eps')
    live_names = ('b1', 'b2', 'b3', 'eps')

    def __init__(self, b1: float, b2: float, b3: float, eps: float, proximal: bool = False,
                 paper_diff_weight: bool = False):
        self.b1, self.b2, self.b3, self.eps, self.proximal = b1, b2, b3, eps, proximal
        self.paper_diff_weight = bool(paper_diff_weight)

    def init_leaf(self, param):
        return {s: full_like(param, 0.) for s in self.slots}

    def derived(self, values):
        return beta_numbers(values, 'b1', 'b2', 'b3')

    def update_leaf_decay(self, grad, param, slots, count, lr, hyper, weight_decay):
        b1, b2, b3, dt = hyper['b1'], hyper['b2'], hyper['b3'], grad.dtype
        diff = jnp.where(count == 0, jnp.zeros((), dt), grad - slots['prev_grad'])
        m = complement(hyper, 'b1') * grad + b1 * slots['exp_avg']
        d = complement(hyper, 'b2') * diff + b2 * slots['exp_avg_diff']
        w = b2 if self.paper_diff_weight else complement(hyper, 'b2')     # the weight of the gradient difference
        sq = grad + w * diff
        n = complement(hyper, 'b3') * (sq * sq) + b3 * slots['exp_avg_sq']
        m_hat = m / live_corrected(hyper, 'b1', count, dt)
        d_hat = d / live_corrected(hyper, 'b2', count, dt)
        n_hat = n / live_corrected(hyper, 'b3', count, dt)
        u = (m_hat + w * d_hat) / (jnp.sqrt(n_hat) + hyper['eps'])
        new = {'exp_avg': m, 'exp_avg_diff': d, 'exp_avg_sq': n, 'prev_grad': grad}
        lr = lr.astype(dt)
        if self.proximal and not is_zero(weight_decay):
            # (p - lr u) / (1 + lr wd) - p, without subtracting two nearly equal numbers
            return -(lr * u + (lr * weight_decay) * param) / (1 + lr * weight_decay), new
        return -lr * u, new

    def config(self):
        return {'betas': (self.b1, self.b2, self.b3), 'eps': self.eps, **({'no_prox': False} if self.proximal else {}),
                **({'paper_diff_weight': True} if self.paper_diff_weight else {})}
