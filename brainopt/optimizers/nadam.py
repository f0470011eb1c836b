"""``brainopt.Nadam``."""
from typing import Tuple

from .. import _validate as check
from ..optimizer import Optimizer, with_shared_options
from ..rules.adam_family import NadamRule
from ..transforms.lr import LearningRate
from . import _hyper

__all__ = ['Nadam']


@with_shared_options
class Nadam(Optimizer):
    r"""NAdam: Adam with Nesterov momentum on Dozat's momentum schedule.

    .. math::

        \mu_t = \beta_1\big(1 - \tfrac12\, 0.96^{t\psi}\big), \qquad
        P_t = \prod_{i=1}^{t} \mu_i, \qquad
        \hat v_t = \frac{v_t}{1-\beta_2^t}, \\
        \theta_t = \theta_{t-1}
        - \eta\,\frac{1-\mu_t}{1-P_t}\,\frac{g_t}{\sqrt{\hat v_t}+\epsilon}
        - \eta\,\frac{\mu_{t+1}}{1-P_t\,\mu_{t+1}}\,\frac{m_t}{\sqrt{\hat v_t}+\epsilon}

    with :math:`m_t, v_t` Adam's moments and :math:`\psi` =
    ``momentum_decay``. This is torch.optim.NAdam and braintools.optim's
    Nadam (the meaning that has ``momentum_decay``). Keras's Nadam is this
    with :math:`\psi = 1` (it has no ``momentum_decay``: its schedule is
    :math:`0.96^t`). ``optax.nadam`` is another method, Adam with a fixed
    :math:`\beta_1` look-ahead, :math:`\hat m_t = \beta_1 m_t/(1-\beta_1^{t+1})
    + (1-\beta_1) g_t/(1-\beta_1^t)`. ``weight_decay`` is coupled (torch's
    default); torch's ``decoupled_weight_decay=True`` is
    ``weight_decay_mode='decoupled'`` here. :math:`P_t` is computed from the
    step count in closed form, not kept in a slot. Slots: ``exp_avg``,
    ``exp_avg_sq``.

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 2e-3
        Learning rate.
    betas : (float, float), default (0.9, 0.999)
        :math:`(\beta_1, \beta_2)`, each in [0, 1).
    eps : float, default 1e-8
        Added to the bias-corrected root; >= 0.
    weight_decay : float, default 0.0
        Weight decay (coupled L2 unless ``weight_decay_mode='decoupled'``).
    momentum_decay : float, default 4e-3
        :math:`\psi` of the momentum schedule; >= 0.
    {shared_options}

    References
    ----------
    T. Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016
    workshop.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([1.0, -2.0]))
    >>> opt = brainopt.Nadam(lr=0.1).register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.array([3.0, -4.0])})
    >>> [round(float(x), 4) for x in w.value]     # -lr * sign(g) * (1 + 0.1 mu_2 / (1 - mu_1 mu_2))
    [0.8944, -1.8944]
    """

    def __init__(self, lr: LearningRate = 2e-3, betas: Tuple[float, ...] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3, **options):
        owner = type(self).__name__
        b1, b2 = check.decay_rates('betas', betas, owner=owner)
        rule = NadamRule(b1, b2, _hyper.non_negative(owner, 'eps', eps),
                         _hyper.non_negative(owner, 'momentum_decay', momentum_decay))
        super().__init__(rule, lr, weight_decay=weight_decay, **options)
