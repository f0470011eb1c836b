"""``brainopt.SGD``."""
from .. import _validate as check
from ..optimizer import Optimizer, with_shared_options
from ..rules.sgd import SGDRule
from ..transforms.lr import LearningRate

__all__ = ['SGD']


@with_shared_options
class SGD(Optimizer):
    r"""Stochastic gradient descent, with optional heavy-ball or Nesterov momentum.

    .. math::

        b_t = \mu b_{t-1} + (1-\tau)\, g_t \quad (b_1 = g_1), \qquad
        \theta_t = \theta_{t-1} - \eta \begin{cases}
            g_t + \mu b_t & \text{nesterov} \\ b_t & \text{otherwise}
        \end{cases}

    with :math:`\mu` = ``momentum`` and :math:`\tau` = ``dampening``: the
    formula of torch.optim.SGD (and of ``optax.sgd`` and braintools.optim,
    which have no dampening). Keras keeps :math:`-\eta b_t` in its buffer
    instead; with a constant learning rate the trajectories are the same
    (``docs/conventions.md``). With ``momentum=0`` the optimizer keeps no slot
    at all; otherwise one array per parameter: ``momentum_buffer``
    (:math:`b`).

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1e-3
        Learning rate.
    momentum : float, default 0.0
        Momentum factor :math:`\mu`; >= 0.
    dampening : float, default 0.0
        Dampening :math:`\tau` of the gradient entering the buffer, in [0, 1]
        (torch.optim). Not applied on the optimizer's first update, as torch
        does not apply it on a parameter's first step; a parameter registered
        after that starts from a zero buffer.
    nesterov : bool, default False
        Nesterov momentum; needs ``momentum > 0`` and ``dampening == 0``.
    {shared_options}

    References
    ----------
    B. T. Polyak, "Some methods of speeding up the convergence of iteration
    methods", USSR Comp. Math. and Math. Phys. 4(5), 1964.
    I. Sutskever, J. Martens, G. Dahl, G. Hinton, "On the importance of
    initialization and momentum in deep learning", ICML 2013.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([1.0, -2.0]))
    >>> opt = brainopt.SGD(lr=0.1, momentum=0.9)
    >>> opt = opt.register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.array([1.0, 1.0])})    # b = g
    >>> _ = opt.update({'w': jnp.array([1.0, 1.0])})    # b = 0.9 b + g = 1.9
    >>> w.value
    Array([ 0.71, -2.29], dtype=float32)
    >>> opt.get_slot('momentum_buffer', 'w')
    Array([1.9, 1.9], dtype=float32)
    """

    def __init__(self, lr: LearningRate = 1e-3, momentum: float = 0.0, *, dampening: float = 0.0,
                 nesterov: bool = False, **options):
        momentum = check.real('momentum', momentum, low=0., owner='SGD')
        dampening = check.real('dampening', dampening, low=0., high=1., owner='SGD')
        if not isinstance(nesterov, bool):
            raise TypeError(f'SGD: nesterov must be a bool, got {nesterov!r}')
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f'SGD: nesterov=True needs momentum > 0 and dampening == 0, '
                             f'got momentum={momentum!r}, dampening={dampening!r}')
        super().__init__(SGDRule(momentum, dampening, nesterov), lr, **options)
