"""``brainopt.Adamax``."""
from typing import Tuple

from .. import _validate as check
from ..optimizer import Optimizer, with_shared_options
from ..rules.adam_family import AdamaxRule
from ..transforms.lr import LearningRate
from . import _hyper

__all__ = ['Adamax']


@with_shared_options
class Adamax(Optimizer):
    r"""Adamax: Adam with the infinity norm in place of the root mean square.

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        u_t = \max(\beta_2 u_{t-1},\ |g_t| + \epsilon), \qquad
        \theta_t = \theta_{t-1} - \frac{\eta}{1-\beta_1^t}\,\frac{m_t}{u_t}

    The formula of torch.optim.Adamax and ``optax.adamax`` (which
    braintools.optim calls), with braintools's and torch's defaults.
    :math:`\epsilon` is inside the maximum; Keras adds it outside,
    :math:`m_t / (u_t + \epsilon)` with :math:`u_t = \max(\beta_2 u_{t-1},
    |g_t|)`, which equals this only at :math:`\epsilon = 0`.
    ``weight_decay`` is coupled (L2, torch and braintools). Slots, one array
    per parameter each: ``exp_avg`` (:math:`m`), ``exp_inf`` (:math:`u`).

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 2e-3
        Learning rate.
    betas : (float, float), default (0.9, 0.999)
        Decay rates :math:`(\beta_1, \beta_2)` of the mean and of the
        infinity norm, each in [0, 1).
    eps : float, default 1e-8
        Added to :math:`|g_t|` inside the maximum; >= 0.
    weight_decay : float, default 0.0
        Weight decay (coupled L2 unless ``weight_decay_mode='decoupled'``).
    {shared_options}

    References
    ----------
    D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization",
    ICLR 2015, arXiv:1412.6980 (section 7.1).

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([1.0, -2.0]))
    >>> opt = brainopt.Adamax(lr=0.1).register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.array([3.0, -4.0])})   # first step: -lr * sign(g)
    >>> w.value
    Array([ 0.9, -1.9], dtype=float32)
    """

    def __init__(self, lr: LearningRate = 2e-3, betas: Tuple[float, ...] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, **options):
        owner = type(self).__name__
        b1, b2 = check.decay_rates('betas', betas, owner=owner)
        rule = AdamaxRule(b1, b2, _hyper.non_negative(owner, 'eps', eps))
        super().__init__(rule, lr, weight_decay=weight_decay, **options)
