"""``brainopt.Adadelta``."""
from .. import _validate as check
from ..optimizer import Optimizer, with_shared_options
from ..rules.adadelta import AdadeltaRule
from ..transforms.lr import LearningRate

__all__ = ['Adadelta']


@with_shared_options
class Adadelta(Optimizer):
    r"""Adadelta: per-element step sizes from running averages of squared
    gradients and squared updates.

    .. math::

        v_t = \rho v_{t-1} + (1-\rho) g_t^2, \qquad
        \Delta_t = \sqrt{\frac{u_{t-1} + \epsilon}{v_t + \epsilon}}\; g_t, \\
        u_t = \rho u_{t-1} + (1-\rho) \Delta_t^2, \qquad
        \theta_t = \theta_{t-1} - \eta\, \Delta_t

    :math:`\epsilon` sits inside both square roots, as in the paper,
    torch.optim, optax and Keras (``docs/conventions.md``). Slots, one array
    per parameter each: ``square_avg`` (:math:`v`) and ``acc_delta``
    (:math:`u`).

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1.0
        Scale of the step. The paper has no learning rate (``lr=1.0``).
    rho : float, default 0.9
        Decay of both running averages, in [0, 1) (at 1 the averages never
        move from zero).
    eps : float, default 1e-6
        Added inside both square roots; >= 0.
    {shared_options}

    References
    ----------
    M. D. Zeiler, "ADADELTA: An Adaptive Learning Rate Method",
    arXiv:1212.5701, 2012.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> model = brainstate.nn.Linear(3, 2)
    >>> opt = brainopt.Adadelta(lr=1.0, rho=0.9)
    >>> opt = opt.register_trainable_weights(model.states(brainstate.ParamState))
    >>> def loss_fn(x):
    ...     return jnp.sum(model(x) ** 2)
    >>> grads = brainstate.transform.grad(loss_fn, grad_states=model.states(brainstate.ParamState))(jnp.ones((4, 3)))
    >>> info = opt.update(grads)
    >>> bool(info.applied), int(opt.step_count.value)
    (True, 1)
    """

    def __init__(self, lr: LearningRate = 1.0, rho: float = 0.9, eps: float = 1e-6, **options):
        rho = check.real('rho', rho, low=0., high=1., high_open=True, owner='Adadelta')
        eps = check.real('eps', eps, low=0., owner='Adadelta')
        super().__init__(AdadeltaRule(rho=rho, eps=eps), lr, **options)
