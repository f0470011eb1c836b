"""``brainopt.Yogi``."""
from typing import Tuple

from .. import _validate as check
from ..optimizer import Optimizer, with_shared_options
from ..rules.yogi import YogiRule
from ..transforms.lr import LearningRate
from . import _hyper

__all__ = ['Yogi']


@with_shared_options
class Yogi(Optimizer):
    r"""Yogi: Adam whose second moment moves additively, by at most :math:`(1-\beta_2) g_t^2` a step.

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = v_{t-1} - (1-\beta_2)\,\operatorname{sign}(v_{t-1} - g_t^2)\, g_t^2, \\
        \theta_t = \theta_{t-1} - \eta\,\frac{m_t/(1-\beta_1^t)}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}

    ``optax.yogi``'s formula, which braintools.optim calls, with braintools's
    names and defaults (no torch.optim or Keras counterpart). Both moments
    start at ``initial_accumulator_value`` (optax's ``1e-6``). The bias
    corrections are evaluated as accurately as torch does for Adam; optax's
    float32 ``1 - β₂ᵗ`` is 1.3e-5 relative off at β₂ = 0.999. ``weight_decay``
    is coupled (braintools). Slots: ``exp_avg`` (:math:`m`), ``exp_avg_sq``
    (:math:`v`).

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1e-3
        Learning rate.
    betas : (float, float), default (0.9, 0.999)
        :math:`(\beta_1, \beta_2)`, each in [0, 1).
    eps : float, default 1e-3
        Added to the bias-corrected root; >= 0.
    weight_decay : float, default 0.0
        Weight decay (coupled L2 unless ``weight_decay_mode='decoupled'``).
    initial_accumulator_value : float, default 1e-6
        Initial value of both moments; >= 0.
    {shared_options}

    References
    ----------
    M. Zaheer, S. Reddi, D. Sachan, S. Kale, S. Kumar, "Adaptive Methods for
    Nonconvex Optimization", NeurIPS 2018.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([1.0, -2.0]))
    >>> opt = brainopt.Yogi(lr=0.1, eps=0.0).register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.array([3.0, -4.0])})   # first step: about -lr * sign(g)
    >>> [round(float(x), 4) for x in w.value]
    [0.9, -1.9]
    """

    def __init__(self, lr: LearningRate = 1e-3, betas: Tuple[float, ...] = (0.9, 0.999), eps: float = 1e-3,
                 weight_decay: float = 0.0, *, initial_accumulator_value: float = 1e-6, **options):
        owner = type(self).__name__
        b1, b2 = check.decay_rates('betas', betas, owner=owner)
        rule = YogiRule(b1, b2, _hyper.non_negative(owner, 'eps', eps),
                        _hyper.non_negative(owner, 'initial_accumulator_value', initial_accumulator_value))
        super().__init__(rule, lr, weight_decay=weight_decay, **options)
