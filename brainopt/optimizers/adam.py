"""``brainopt.Adam`` and ``brainopt.AdamW``."""
from typing import Optional, Tuple

from .. import _validate as check
from ..optimizer import Optimizer, with_shared_options
from ..rules.adam import AdamRule
from ..transforms.lr import LearningRate
from ._hyper import DEFAULT_BETAS, betas_or_aliases

__all__ = ['Adam', 'AdamW']


def _adam_rule(owner, betas, eps, amsgrad):
    b1, b2 = check.decay_rates('betas', betas, owner=owner)
    eps = check.real('eps', eps, low=0., owner=owner)
    if not isinstance(amsgrad, bool):
        raise TypeError(f'{owner}: amsgrad must be a bool, got {amsgrad!r}')
    return AdamRule(b1, b2, eps, amsgrad)


@with_shared_options
class Adam(Optimizer):
    r"""Adam: bias-corrected running averages of the gradient and its square.

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \\
        \theta_t = \theta_{t-1} - \frac{\eta}{1-\beta_1^t}\;
        \frac{m_t}{\sqrt{v_t}\,/\sqrt{1-\beta_2^t} + \epsilon}

    with :math:`t` the number of updates applied, this one included.
    :math:`\epsilon` is added to the bias-corrected root, as torch.optim,
    optax and braintools.optim do (Keras adds it to the uncorrected root;
    ``docs/conventions.md``). ``weight_decay`` is the L2 term of torch.optim's
    Adam (coupled); for decoupled decay use :class:`brainopt.AdamW`. Slots,
    one array per parameter each: ``exp_avg`` (:math:`m`), ``exp_avg_sq``
    (:math:`v`), and with ``amsgrad`` ``max_exp_avg_sq``.

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1e-3
        Learning rate.
    betas : (float, float), default (0.9, 0.999)
        Decay rates :math:`(\beta_1, \beta_2)` of the two moments, each in
        [0, 1).
    eps : float, default 1e-8
        Added to the bias-corrected root; >= 0.
    amsgrad : bool, default False
        AMSGrad: divide by the root of the running maximum of :math:`v_t`
        (the uncorrected moment, as torch.optim and Keras; optax and
        braintools.optim take the maximum of the corrected one).
    beta1, beta2 : float, optional
        braintools.optim's and brainstate's tutorials' spelling of
        ``betas[0]`` and ``betas[1]`` (either alone keeps the other's
        default); giving ``betas`` too is a TypeError.
    {shared_options}

    References
    ----------
    D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization",
    ICLR 2015, arXiv:1412.6980.
    S. J. Reddi, S. Kale, S. Kumar, "On the Convergence of Adam and Beyond",
    ICLR 2018.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([1.0, -2.0]))
    >>> opt = brainopt.Adam(lr=0.1)
    >>> opt = opt.register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.array([3.0, -4.0])})   # first step: about -lr * sign(g)
    >>> w.value
    Array([ 0.9, -1.9], dtype=float32)
    """

    def __init__(self, lr: LearningRate = 1e-3, betas: Tuple[float, ...] = DEFAULT_BETAS, *, eps: float = 1e-8,
                 amsgrad: bool = False, beta1: Optional[float] = None, beta2: Optional[float] = None, **options):
        owner = type(self).__name__
        betas = betas_or_aliases(owner, betas, beta1, beta2)
        super().__init__(_adam_rule(owner, betas, eps, amsgrad), lr, **options)


@with_shared_options
class AdamW(Optimizer):
    r"""AdamW: Adam with weight decay decoupled from the gradient.

    .. math::

        \theta_t = \theta_{t-1} - \eta \lambda\, \theta_{t-1}
        - \frac{\eta}{1-\beta_1^t}\;
        \frac{m_t}{\sqrt{v_t}\,/\sqrt{1-\beta_2^t} + \epsilon}

    with :math:`m_t, v_t` as in :class:`brainopt.Adam` and :math:`\lambda` =
    ``weight_decay``, scaled by the learning rate: torch.optim.AdamW,
    ``optax.adamw`` and Keras ``AdamW`` (whose :math:`\epsilon` sits on the
    uncorrected root). This is :class:`brainopt.Adam`'s rule with
    ``weight_decay_mode='decoupled'``, the only mode AdamW accepts. Slots as
    Adam's.

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1e-3
        Learning rate.
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the two moments, each in [0, 1).
    eps : float, default 1e-8
        Added to the bias-corrected root; >= 0.
    weight_decay : float, default 1e-2
        Decoupled decay :math:`\lambda` (torch.optim and braintools.optim
        default; optax's is 1e-4, Keras's 4e-3).
    amsgrad : bool, default False
        AMSGrad, as in :class:`brainopt.Adam`.
    {shared_options}

    References
    ----------
    I. Loshchilov, F. Hutter, "Decoupled Weight Decay Regularization",
    ICLR 2019, arXiv:1711.05101.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([1.0, -2.0]))
    >>> opt = brainopt.AdamW(lr=0.5, weight_decay=0.5)
    >>> opt = opt.register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.array([3.0, -4.0])})   # p - lr*wd*p - lr * sign(g)
    >>> [round(float(x), 6) for x in w.value]
    [0.25, -1.0]
    """

    def __init__(self, lr: LearningRate = 1e-3, betas: Tuple[float, ...] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, *, amsgrad: bool = False, **options):
        mode = options.pop('weight_decay_mode', 'decoupled')
        if mode != 'decoupled':
            raise ValueError(f"AdamW: weight_decay_mode must be 'decoupled' (the meaning of AdamW), got {mode!r}; "
                             f"for the coupled L2 term use brainopt.Adam(weight_decay=...)")
        super().__init__(_adam_rule(type(self).__name__, betas, eps, amsgrad), lr, weight_decay=weight_decay,
                         weight_decay_mode='decoupled', **options)
