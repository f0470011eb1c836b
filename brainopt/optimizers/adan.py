"""``brainopt.Adan``."""
from typing import Tuple

from .. import _validate as check
from ..optimizer import with_shared_options
from ..rules.adan import AdanRule
from ..transforms.lr import LearningRate
from . import _hyper
from .lamb import IN_RULE, RuleDecayOptimizer

__all__ = ['Adan']


@with_shared_options
class Adan(RuleDecayOptimizer):
    r"""Adan: adaptive Nesterov momentum, from moving averages of the gradient and of its differences.

    With :math:`\Delta_t = g_t - g_{t-1}` (:math:`\Delta_1 = 0`):

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        d_t = \beta_2 d_{t-1} + (1-\beta_2) \Delta_t, \\
        n_t = \beta_3 n_{t-1} + (1-\beta_3)\big(g_t + (1-\beta_2)\Delta_t\big)^2, \\
        \theta_t = \theta_{t-1} - \eta\lambda\theta_{t-1} - \eta\,
        \frac{m_t/(1-\beta_1^t) + (1-\beta_2)\, d_t/(1-\beta_2^t)}{\sqrt{n_t/(1-\beta_3^t)} + \epsilon}

    Algorithm 1 of the paper as ``optax.adan`` computes it (with
    ``eps_root=0``; optax's default adds ``1e-8`` under the root). **The
    betas are decay rates** (optax's and the authors' PyTorch code's
    convention, default ``(0.98, 0.92, 0.99)``); the paper and brainpy.optim
    2.x write their complements, ``(0.02, 0.08, 0.01)``. **Weight decay is
    decoupled by default** (:math:`\lambda` scaled by the learning rate, as
    optax and the authors' ``no_prox=True``); the paper's proximal form
    :math:`\theta_t = (\theta_{t-1} - \eta u_t)/(1+\eta\lambda)` (the authors'
    and brainpy's default) differs from it by :math:`O((\eta\lambda)^2)` a
    step: ``no_prox=False`` gives it. The authors' code weighs the difference term by
    :math:`\beta_2` where the paper and optax use :math:`1-\beta_2`; this
    follows the paper. No torch.optim, Keras or braintools.optim
    counterpart. A parameter registered after the first update starts with
    ``prev_grad = 0``. Slots: ``exp_avg`` (:math:`m`), ``exp_avg_diff``
    (:math:`d`), ``exp_avg_sq`` (:math:`n`), ``prev_grad``.

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1e-3
        Learning rate.
    betas : (float, float, float), default (0.98, 0.92, 0.99)
        Decay rates :math:`(\beta_1, \beta_2, \beta_3)` of the gradient, the
        gradient difference and the squared term, each in [0, 1).
    eps : float, default 1e-8
        Added to the bias-corrected root; >= 0.
    weight_decay : float, default 0.0
        Weight decay :math:`\lambda`.
    weight_decay_mode : {'decoupled', 'coupled'}, default 'decoupled'
        See above.
    no_prox : bool, default True
        True: decoupled decay :math:`\theta \leftarrow \theta - \eta\lambda\theta`
        beside the step (optax). False: the paper's proximal step
        :math:`\theta_t = (\theta_{t-1} - \eta u_t)/(1+\eta\lambda)`
        (brainpy.optim's default and meaning), applied by the rule; it is a
        form of decoupled decay, so it needs that mode.
    {shared_options}

    References
    ----------
    X. Xie, P. Zhou, H. Li, Z. Lin, S. Yan, "Adan: Adaptive Nesterov Momentum
    Algorithm for Faster Optimizing Deep Models", IEEE TPAMI 2024,
    arXiv:2208.06677.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([1.0, -2.0]))
    >>> opt = brainopt.Adan(lr=0.1).register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.array([3.0, -4.0])})   # first step: about -lr * sign(g)
    >>> [round(float(x), 4) for x in w.value]
    [0.9, -1.9]
    """

    def __init__(self, lr: LearningRate = 1e-3, betas: Tuple[float, ...] = (0.98, 0.92, 0.99), eps: float = 1e-8,
                 weight_decay: float = 0.0, *, weight_decay_mode: str = 'decoupled', no_prox: bool = True, **options):
        owner = type(self).__name__
        b1, b2, b3 = check.decay_rates('betas', betas, n=3, owner=owner)
        if not isinstance(no_prox, bool):
            raise TypeError(f'{owner}: no_prox must be a bool, got {no_prox!r}')
        if not no_prox and weight_decay_mode != 'decoupled':
            raise ValueError(f"{owner}: no_prox=False is the proximal form of decoupled weight decay; "
                             f"weight_decay_mode must be 'decoupled', got {weight_decay_mode!r}")
        rule = AdanRule(b1, b2, b3, _hyper.non_negative(owner, 'eps', eps), proximal=not no_prox)
        # proximal: the rule decays (mode 'rule', the engine adds none); otherwise the engine's decoupled or coupled
        super().__init__(rule, lr, weight_decay=weight_decay,
                         weight_decay_mode=IN_RULE if not no_prox else weight_decay_mode, **options)
