"""``brainopt.Lion``."""
from typing import Tuple

from .. import _validate as check
from ..optimizer import Optimizer, with_shared_options
from ..rules.lion import LionRule
from ..transforms.lr import LearningRate

__all__ = ['Lion']


@with_shared_options
class Lion(Optimizer):
    r"""Lion: a step of fixed size along the sign of an interpolated momentum.

    .. math::

        c_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        \theta_t = \theta_{t-1} - \eta\,\big(\operatorname{sign}(c_t) + \lambda\,\theta_{t-1}\big), \qquad
        m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t

    ``optax.lion`` and Keras ``Lion`` (equal to round-off), with braintools.optim's
    names and defaults (no torch.optim counterpart). **Weight decay is
    decoupled by default** (:math:`\lambda` = ``weight_decay``, scaled by the
    learning rate, as in the paper, optax, Keras and braintools.optim, whose
    Lion adds the decay after the sign); ``weight_decay_mode='coupled'``
    adds :math:`\lambda\theta` to the gradient instead, where the sign then
    swallows its magnitude. Defaults: braintools's ``lr=1e-4``,
    ``weight_decay=0`` (optax's is 1e-3, Keras's ``learning_rate`` 1e-3).
    Slot: ``exp_avg`` (:math:`m`).

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1e-4
        Learning rate (Lion wants one 3-10 times smaller than Adam's).
    betas : (float, float), default (0.9, 0.99)
        :math:`\beta_1` (interpolation for the step) and :math:`\beta_2`
        (decay of the momentum), each in [0, 1).
    weight_decay : float, default 0.0
        Decoupled weight decay :math:`\lambda`.
    weight_decay_mode : {'decoupled', 'coupled'}, default 'decoupled'
        See above.
    {shared_options}

    References
    ----------
    X. Chen, C. Liang, D. Huang, E. Real, K. Wang, Y. Liu, H. Pham, X. Dong,
    T. Luong, C.-J. Hsieh, Y. Lu, Q. V. Le, "Symbolic Discovery of
    Optimization Algorithms", NeurIPS 2023, arXiv:2302.06675.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([1.0, -2.0]))
    >>> opt = brainopt.Lion(lr=0.1).register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.array([3.0, -4.0])})   # -lr * sign(g)
    >>> w.value
    Array([ 0.9, -1.9], dtype=float32)
    """

    def __init__(self, lr: LearningRate = 1e-4, betas: Tuple[float, ...] = (0.9, 0.99), weight_decay: float = 0.0, *,
                 weight_decay_mode: str = 'decoupled', **options):
        b1, b2 = check.decay_rates('betas', betas, owner=type(self).__name__)
        super().__init__(LionRule(b1, b2), lr, weight_decay=weight_decay, weight_decay_mode=weight_decay_mode,
                         **options)
