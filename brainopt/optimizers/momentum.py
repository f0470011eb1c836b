"""``brainopt.Momentum`` and ``brainopt.MomentumNesterov``: braintools.optim's names for SGD with momentum."""
from .. import _validate as check
from ..optimizer import Optimizer, with_shared_options
from ..rules.sgd import SGDRule
from ..transforms.lr import LearningRate

__all__ = ['Momentum', 'MomentumNesterov']


@with_shared_options
class Momentum(Optimizer):
    r"""Heavy-ball momentum: braintools.optim's ``Momentum``.

    .. math::

        b_t = \mu b_{t-1} + g_t \quad (b_0 = 0), \qquad
        \theta_t = \theta_{t-1} - \eta\, b_t

    This is :class:`brainopt.SGD` with ``momentum=μ`` (no dampening) and the
    same arithmetic: ``optax.sgd(lr, momentum)`` (``optax.trace``, then the
    learning rate), which braintools.optim builds it from, and
    torch.optim.SGD(momentum=μ). A schedule multiplies the buffer, as in
    optax and torch. Slot, one array per parameter: ``momentum_buffer``
    (:math:`b`); with ``momentum=0`` none (plain SGD).

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1e-3
        Learning rate.
    momentum : float, default 0.9
        Momentum factor :math:`\mu`; >= 0.
    {shared_options}

    References
    ----------
    B. T. Polyak, "Some methods of speeding up the convergence of iteration
    methods", USSR Comp. Math. and Math. Phys. 4(5), 1964.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([1.0, -2.0]))
    >>> opt = brainopt.Momentum(lr=0.1).register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.array([1.0, 1.0])})    # b = g
    >>> _ = opt.update({'w': jnp.array([1.0, 1.0])})    # b = 0.9 b + g = 1.9
    >>> w.value
    Array([ 0.71, -2.29], dtype=float32)
    """

    def __init__(self, lr: LearningRate = 1e-3, momentum: float = 0.9, **options):
        momentum = check.real('momentum', momentum, low=0., owner=type(self).__name__)
        super().__init__(SGDRule(momentum, 0.0, False), lr, **options)


@with_shared_options
class MomentumNesterov(Optimizer):
    r"""Nesterov momentum: braintools.optim's ``MomentumNesterov``.

    .. math::

        b_t = \mu b_{t-1} + g_t \quad (b_0 = 0), \qquad
        \theta_t = \theta_{t-1} - \eta\,(g_t + \mu b_t)

    This is :class:`brainopt.SGD` with ``momentum=μ, nesterov=True``:
    ``optax.sgd(lr, momentum, nesterov=True)`` (braintools.optim's
    ``optax.trace(nesterov=True)``) and torch.optim.SGD(momentum=μ,
    nesterov=True). Slot: ``momentum_buffer`` (:math:`b`).

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1e-3
        Learning rate.
    momentum : float, default 0.9
        Momentum factor :math:`\mu`; > 0 (torch's check for Nesterov).
    {shared_options}

    References
    ----------
    Y. Nesterov, "A method for unconstrained convex minimization problem with
    the rate of convergence O(1/k^2)", Doklady AN SSSR 269, 1983.
    I. Sutskever, J. Martens, G. Dahl, G. Hinton, "On the importance of
    initialization and momentum in deep learning", ICML 2013.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([1.0, -2.0]))
    >>> opt = brainopt.MomentumNesterov(lr=0.1, momentum=0.5).register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.array([1.0, 1.0])})    # b = 1, step g + 0.5 b = 1.5
    >>> w.value
    Array([ 0.85, -2.15], dtype=float32)
    """

    def __init__(self, lr: LearningRate = 1e-3, momentum: float = 0.9, **options):
        momentum = check.real('momentum', momentum, low=0., low_open=True, owner=type(self).__name__)
        super().__init__(SGDRule(momentum, 0.0, True), lr, **options)
