"""``brainopt.AdaBelief``."""
from typing import Tuple

from .. import _validate as check
from ..optimizer import Optimizer, with_shared_options
from ..rules.adabelief import AdaBeliefRule
from ..transforms.lr import LearningRate
from . import _hyper

__all__ = ['AdaBelief']


@with_shared_options
class AdaBelief(Optimizer):
    r"""AdaBelief: Adam with the second moment of the gradient's deviation from its running mean.

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        s_t = \beta_2 s_{t-1} + (1-\beta_2)(g_t - m_t)^2 + \epsilon_{\mathrm{root}}, \\
        \theta_t = \theta_{t-1} - \eta\,\frac{m_t/(1-\beta_1^t)}{\sqrt{s_t/(1-\beta_2^t)} + \epsilon}

    ``optax.adabelief``'s formula, which braintools.optim calls, with
    braintools's names and defaults (no torch.optim or Keras counterpart).
    The paper and the authors' code use one :math:`\epsilon` in both places
    (pass ``eps_root=eps``); optax and braintools keep
    :math:`\epsilon_{\mathrm{root}} = 10^{-16}` whatever ``eps`` is, and so
    does the default here. The bias corrections are as accurate as torch's
    for Adam (optax's float32 ones are 1.3e-5 relative off at β₂ = 0.999).
    ``weight_decay`` is coupled (braintools). Slots: ``exp_avg`` (:math:`m`),
    ``exp_avg_var`` (:math:`s`), and with ``amsgrad`` ``max_exp_avg_var``.

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1e-3
        Learning rate.
    betas : (float, float), default (0.9, 0.999)
        :math:`(\beta_1, \beta_2)`, each in [0, 1).
    eps : float, default 1e-16
        Added to the bias-corrected root; >= 0.
    weight_decay : float, default 0.0
        Weight decay (coupled L2 unless ``weight_decay_mode='decoupled'``).
    eps_root : float, default 1e-16
        Added to :math:`s_t` on every step; >= 0.
    amsgrad : bool, default False
        Divide by the root of the running maximum of :math:`s_t` (the
        authors' ``adabelief-pytorch``; optax and braintools.optim have no
        such option).
    {shared_options}

    References
    ----------
    J. Zhuang, T. Tang, Y. Ding, S. Tatikonda, N. Dvornek, X. Papademetris,
    J. Duncan, "AdaBelief Optimizer: Adapting Stepsizes by the Belief in
    Observed Gradients", NeurIPS 2020, arXiv:2010.07468.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([1.0, -2.0]))
    >>> opt = brainopt.AdaBelief(lr=0.1).register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.array([3.0, -4.0])})   # s_1 = 0.001 (0.9 g)^2: the step is lr * sign(g) / 0.9
    >>> [round(float(x), 4) for x in w.value]
    [0.8889, -1.8889]
    """

    def __init__(self, lr: LearningRate = 1e-3, betas: Tuple[float, ...] = (0.9, 0.999), eps: float = 1e-16,
                 weight_decay: float = 0.0, *, eps_root: float = 1e-16, amsgrad: bool = False, **options):
        owner = type(self).__name__
        b1, b2 = check.decay_rates('betas', betas, owner=owner)
        if not isinstance(amsgrad, bool):
            raise TypeError(f'{owner}: amsgrad must be a bool, got {amsgrad!r}')
        rule = AdaBeliefRule(b1, b2, _hyper.non_negative(owner, 'eps', eps),
                             _hyper.non_negative(owner, 'eps_root', eps_root), amsgrad)
        super().__init__(rule, lr, weight_decay=weight_decay, **options)
