"""``brainopt.Prodigy``."""
from typing import Tuple

from .. import _validate as check
from ..rules.prodigy import ProdigyRule
from ..transforms.lr import LearningRate
from .lamb import RuleDecayOptimizer, with_rule_decay_doc

__all__ = ['Prodigy']


@with_rule_decay_doc
class Prodigy(RuleDecayOptimizer):
    r"""Prodigy: AdamW whose step size :math:`d` is estimated from the distance travelled.

    With :math:`\hat\eta_t = d\,\eta_t\sqrt{1-\beta_2^t}/(1-\beta_1^t)` and
    the sums running over *all* registered parameters:

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1)\, d g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2)\, d^2 g_t^2, \\
        s_t = \beta_3 s_{t-1} + \hat\eta_t\, d\, g_t / d_0, \qquad
        r_t = \beta_3 r_{t-1} + \frac{d}{d_0}\,\hat\eta_t \sum \langle g_t, \theta_0 - \theta_{t-1}\rangle, \\
        d \leftarrow \max\!\Big(d,\ c\,\frac{r_t}{\sum \|s_t\|_1}\Big), \qquad
        \theta_t = \theta_{t-1} - \hat\eta_t\lambda\,\theta_{t-1}
        - \hat\eta_t\,\frac{m_t}{\sqrt{v_t} + d\,\epsilon}

    (:math:`\hat\eta_t` uses :math:`d` before its update, the denominator
    after it). :math:`\eta` is a multiplier of the estimated step, 1 by
    default: learning-rate free, and a schedule still shapes it. Only
    ``optax.contrib.prodigy`` among the peers has Prodigy: brainopt takes its
    names, defaults and formula, which always bias-corrects (the authors'
    ``prodigyopt`` names ``estim_lr0``/``estim_lr_coef`` ``d0``/``d_coef`` and
    bias-corrects only with ``use_bias_correction=True``). With
    ``safeguard_warmup`` the sum :math:`s` uses :math:`d` instead of
    :math:`\hat\eta_t`. ``weight_decay`` :math:`\lambda` is scaled by
    :math:`\hat\eta_t` (``weight_decay_mode='rule'``, optax and the paper).
    Where every gradient is 0 the estimate keeps its value (optax: NaN).

    Slots: ``exp_avg``, ``exp_avg_sq``, ``grad_sum`` and ``params0`` (one
    array per parameter each) and two scalars per parameter: ``numerator``
    (its share of :math:`r`) and ``d`` (the global estimate, read it with
    ``opt.get_slot('d', path)``).

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1.0
        Multiplier of the estimated step size.
    betas : (float, float), default (0.9, 0.999)
        Adam's :math:`(\beta_1, \beta_2)`, each in [0, 1).
    beta3 : float or None, default None
        Decay of :math:`s` and :math:`r` in [0, 1]; None means
        :math:`\sqrt{\beta_2}`.
    eps : float, default 1e-8
        Times :math:`d`, added to the root; >= 0.
    estim_lr0 : float, default 1e-6
        The initial estimate :math:`d_0`; > 0.
    estim_lr_coef : float, default 1.0
        :math:`c`, multiplies the estimate; > 0.
    weight_decay : float, default 0.0
        :math:`\lambda`, scaled by :math:`\hat\eta_t`.
    safeguard_warmup : bool, default False
        Leave the learning rate out of :math:`s` (for warm-up schedules).
    {rule_decay}
    {shared_options}

    References
    ----------
    K. Mishchenko, A. Defazio, "Prodigy: An Expeditiously Adaptive
    Parameter-Free Learner", ICML 2024, arXiv:2306.06101.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([1.0, -1.0]))
    >>> opt = brainopt.Prodigy().register_trainable_weights({'w': w})
    >>> for _ in range(50):
    ...     _ = opt.update({'w': w.value - jnp.array([3.0, 2.0])})   # minimum at (3, 2)
    >>> float(opt.get_slot('d', 'w')) > 1e-3       # d grew from 1e-6 without a learning rate
    True
    """

    def __init__(self, lr: LearningRate = 1.0, betas: Tuple[float, ...] = (0.9, 0.999), beta3=None, eps: float = 1e-8,
                 estim_lr0: float = 1e-6, estim_lr_coef: float = 1.0, weight_decay: float = 0.0,
                 safeguard_warmup: bool = False, **options):
        owner = type(self).__name__
        b1, b2 = check.decay_rates('betas', betas, owner=owner)
        beta3 = b2 ** 0.5 if beta3 is None else check.real('beta3', beta3, low=0., high=1., owner=owner)
        eps = check.real('eps', eps, low=0., owner=owner)
        estim_lr0 = check.real('estim_lr0', estim_lr0, low=0., low_open=True, owner=owner)
        estim_lr_coef = check.real('estim_lr_coef', estim_lr_coef, low=0., low_open=True, owner=owner)
        if not isinstance(safeguard_warmup, bool):
            raise TypeError(f'{owner}: safeguard_warmup must be a bool, got {safeguard_warmup!r}')
        rule = ProdigyRule(b1, b2, beta3, eps, estim_lr0, estim_lr_coef, safeguard_warmup)
        super().__init__(rule, lr, weight_decay, **options)
