"""``brainopt.RMSprop``."""
from .. import _validate as check
from ..optimizer import Optimizer, with_shared_options
from ..rules.rmsprop import RMSpropRule
from ..transforms.lr import LearningRate

__all__ = ['RMSprop']


@with_shared_options
class RMSprop(Optimizer):
    r"""RMSprop: divide the gradient by a running root mean square of it.

    .. math::

        v_t = \alpha v_{t-1} + (1-\alpha) g_t^2, \qquad
        r_t = \sqrt{v_t} + \epsilon, \\
        b_t = \mu b_{t-1} + g_t / r_t, \qquad
        \theta_t = \theta_{t-1} - \eta\, b_t

    (with ``momentum=0``: :math:`\theta_t = \theta_{t-1} - \eta g_t / r_t`).
    ``centered`` subtracts the square of a running mean of the gradient,
    :math:`\bar g_t = \alpha \bar g_{t-1} + (1-\alpha) g_t`, under the root:
    :math:`r_t = \sqrt{v_t - \bar g_t^2} + \epsilon`. This is torch.optim's
    formula, :math:`\epsilon` *after* the root; Keras, optax's default and
    braintools.optim add it inside (``eps_placement='inside'``; see
    ``docs/conventions.md``). Slots, one array per parameter each:
    ``square_avg`` (:math:`v`), ``momentum_buffer`` (:math:`b`, only when
    ``momentum > 0``) and ``grad_avg`` (:math:`\bar g`, only when
    ``centered``).

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1e-2
        Learning rate.
    alpha : float, default 0.99
        Decay of the running averages, in [0, 1] (Keras and optax call it
        ``rho``/``decay``, default 0.9).
    eps : float, default 1e-8
        Added to the root; >= 0.
    momentum : float, default 0.0
        Momentum factor :math:`\mu`; >= 0.
    centered : bool, default False
        Normalise by the estimated standard deviation instead of the root
        mean square.
    eps_placement : {'outside', 'inside'}, default 'outside'
        ``'outside'``: :math:`\sqrt{v_t} + \epsilon` (torch.optim);
        ``'inside'``: :math:`\sqrt{v_t + \epsilon}` (Keras, optax,
        braintools.optim).
    {shared_options}

    References
    ----------
    T. Tieleman, G. Hinton, Lecture 6.5, "RMSProp", COURSERA: Neural
    Networks for Machine Learning, 2012.
    A. Graves, "Generating Sequences With Recurrent Neural Networks",
    arXiv:1308.0850, 2013 (the centered form).

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([1.0, -2.0]))
    >>> opt = brainopt.RMSprop(lr=0.01, alpha=0.75)
    >>> opt = opt.register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.array([3.0, -4.0])})   # first step: -lr * sign(g) / sqrt(1 - alpha)
    >>> w.value
    Array([ 0.98, -1.98], dtype=float32)
    """

    def __init__(self, lr: LearningRate = 1e-2, alpha: float = 0.99, eps: float = 1e-8, *, momentum: float = 0.0,
                 centered: bool = False, eps_placement: str = 'outside', **options):
        alpha = check.real('alpha', alpha, low=0., high=1., owner='RMSprop')
        eps = check.real('eps', eps, low=0., owner='RMSprop')
        momentum = check.real('momentum', momentum, low=0., owner='RMSprop')
        if not isinstance(centered, bool):
            raise TypeError(f'RMSprop: centered must be a bool, got {centered!r}')
        super().__init__(RMSpropRule(alpha, eps, momentum, centered, eps_placement), lr, **options)
