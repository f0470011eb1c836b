"""``brainopt.Adagrad``."""
from .. import _validate as check
from ..optimizer import Optimizer, with_shared_options
from ..rules.adagrad import AdagradRule
from ..transforms.lr import LearningRate

__all__ = ['Adagrad']


@with_shared_options
class Adagrad(Optimizer):
    r"""Adagrad: per-element step sizes from the sum of all squared gradients.

    .. math::

        s_t = s_{t-1} + g_t^2, \qquad
        \eta_t = \frac{\eta}{1 + t\,\lambda}, \qquad
        \theta_t = \theta_{t-1} - \eta_t\, \frac{g_t}{\sqrt{s_t} + \epsilon}

    with :math:`t` the number of updates applied before this one and
    :math:`\lambda` = ``lr_decay``. :math:`\epsilon` is added *after* the
    square root, as torch.optim does; Keras and optax add it inside
    (``eps_placement='inside'``; see ``docs/conventions.md``). Slot, one
    array per parameter: ``sum`` (:math:`s`, starting at
    ``initial_accumulator_value``).

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1e-2
        Learning rate.
    lr_decay : float, default 0.0
        torch.optim's decay of the learning rate over updates; >= 0.
    initial_accumulator_value : float, default 0.0
        Starting value of ``sum``; >= 0.
    eps : float, default 1e-10
        Added to the root of ``sum``; >= 0.
    eps_placement : {'outside', 'inside'}, default 'outside'
        ``'outside'``: :math:`\sqrt{s_t} + \epsilon` (torch.optim);
        ``'inside'``: :math:`\sqrt{s_t + \epsilon}` (Keras, optax).
    {shared_options}

    References
    ----------
    J. Duchi, E. Hazan, Y. Singer, "Adaptive Subgradient Methods for Online
    Learning and Stochastic Optimization", JMLR 12, 2011.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([1.0, -2.0]))
    >>> opt = brainopt.Adagrad(lr=0.5)
    >>> opt = opt.register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.array([3.0, -4.0])})   # first step: -lr * sign(g)
    >>> w.value
    Array([ 0.5, -1.5], dtype=float32)
    """

    def __init__(self, lr: LearningRate = 1e-2, lr_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, eps_placement: str = 'outside', **options):
        lr_decay = check.real('lr_decay', lr_decay, low=0., owner='Adagrad')
        initial = check.real('initial_accumulator_value', initial_accumulator_value, low=0., owner='Adagrad')
        eps = check.real('eps', eps, low=0., owner='Adagrad')
        super().__init__(AdagradRule(lr_decay, initial, eps, eps_placement), lr, **options)
