"""``brainopt.Novograd``."""
from typing import Tuple

from .. import _validate as check
from ..rules.novograd import NovogradRule
from ..transforms.lr import LearningRate
from .lamb import RuleDecayOptimizer, with_rule_decay_doc

__all__ = ['Novograd']


@with_rule_decay_doc
class Novograd(RuleDecayOptimizer):
    r"""NovoGrad: gradients normalised by a per-tensor second moment.

    .. math::

        v_t = \beta_2 v_{t-1} + (1-\beta_2)\|g_t\|^2, \qquad
        m_t = \beta_1 m_{t-1} + \frac{g_t}{\sqrt{v_t} + \epsilon} + \lambda\,\theta_{t-1},
        \qquad \theta_t = \theta_{t-1} - \eta\, m_t

    with :math:`\|g_t\|` the norm of each whole parameter tensor, and on the
    first update :math:`v_1 = \|g_1\|^2` and :math:`m_1` = the normalised
    gradient (no :math:`\beta` weighting, no bias correction), as
    ``optax.novograd``. :math:`\lambda` (``weight_decay``) is added to the
    normalised gradient inside the momentum (paper, optax, braintools:
    ``weight_decay_mode='rule'``). Names and defaults are braintools.optim's
    (optax's are ``b2=0.25, eps=1e-6``). Slots: ``exp_avg`` (one array per
    parameter) and ``exp_avg_sq`` (one *scalar* per parameter tensor). A
    parameter registered after the first update starts with
    :math:`v = (1-\beta_2)\|g\|^2`.

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1e-3
        Learning rate.
    betas : (float, float), default (0.9, 0.999)
        :math:`(\beta_1, \beta_2)`, each in [0, 1).
    eps : float, default 1e-8
        Added to the root; >= 0.
    weight_decay : float, default 0.0
        :math:`\lambda`, inside the momentum.
    {rule_decay}
    {shared_options}

    References
    ----------
    B. Ginsburg et al., "Stochastic Gradient Methods with Layer-wise Adaptive
    Moments for Training of Deep Networks", arXiv:1905.11286, 2019.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([1.0, 1.0]))
    >>> opt = brainopt.Novograd(lr=0.5).register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.array([3.0, 4.0])})   # first step: lr * g / |g|
    >>> [round(float(x), 4) for x in w.value]
    [0.7, 0.6]
    >>> opt.get_slot('exp_avg_sq', 'w')                 # one scalar per tensor
    Array(25., dtype=float32)
    """

    def __init__(self, lr: LearningRate = 1e-3, betas: Tuple[float, ...] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, **options):
        owner = type(self).__name__
        b1, b2 = check.decay_rates('betas', betas, owner=owner)
        eps = check.real('eps', eps, low=0., owner=owner)
        super().__init__(NovogradRule(b1, b2, eps), lr, weight_decay, **options)
