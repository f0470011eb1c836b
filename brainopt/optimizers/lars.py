"""``brainopt.Lars``."""
from .. import _validate as check
from ..optimizer import Optimizer, with_shared_options
from ..rules.lars import LarsRule
from ..transforms.lr import LearningRate

__all__ = ['Lars']


@with_shared_options
class Lars(Optimizer):
    r"""LARS: momentum SGD with a layer-wise trust ratio.

    .. math::

        \tilde g_t = g_t + \lambda\,\theta_{t-1}, \qquad
        b_t = \mu b_{t-1} + \tau\, \frac{\|\theta_{t-1}\|}{\|\tilde g_t\| + \epsilon}\,\tilde g_t,
        \qquad \theta_t = \theta_{t-1} - \eta\, b_t

    with norms over each whole parameter tensor, the trust ratio 1 where
    either norm is 0, :math:`\tau` = ``trust_coefficient`` and :math:`\lambda`
    = ``weight_decay``, coupled: added to the gradient before the trust ratio
    (``optax.lars``, braintools.optim; the paper divides by
    :math:`\|g\| + \lambda\|\theta\|` instead). Names and defaults are
    braintools.optim's. The learning rate multiplies the buffer, as in
    braintools (``optax.lars`` scales by it before the momentum trace: the same
    for a constant rate, not under a schedule). Slots: ``momentum_buffer``
    (one array per parameter) when ``momentum > 0``, none otherwise.

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1.0
        Learning rate.
    momentum : float, default 0.9
        :math:`\mu`, >= 0.
    weight_decay : float, default 0.0
        Coupled L2 coefficient :math:`\lambda` (``weight_decay_mode``).
    trust_coefficient : float, default 0.001
        :math:`\tau`, >= 0.
    eps : float, default 1e-8
        Added to the gradient norm; >= 0.
    nesterov : bool, default False
        Nesterov momentum: step along :math:`u_t + \mu b_t` with :math:`u_t`
        the trust-scaled gradient (``optax.lars(nesterov=True)``); needs
        ``momentum > 0``.
    {shared_options}

    References
    ----------
    Y. You, I. Gitman, B. Ginsburg, "Large Batch Training of Convolutional
    Networks", arXiv:1708.03888, 2017.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([3.0, 4.0]))
    >>> opt = brainopt.Lars(lr=1.0, trust_coefficient=0.1).register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.array([0.0, 2.0])})   # step 0.1 * |w| = 0.5 along g
    >>> [round(float(x), 4) for x in w.value]
    [3.0, 3.5]
    """

    def __init__(self, lr: LearningRate = 1.0, momentum: float = 0.9, weight_decay: float = 0.0,
                 trust_coefficient: float = 0.001, eps: float = 1e-8, *, nesterov: bool = False, **options):
        owner = type(self).__name__
        momentum = check.real('momentum', momentum, low=0., owner=owner)
        trust_coefficient = check.real('trust_coefficient', trust_coefficient, low=0., owner=owner)
        eps = check.real('eps', eps, low=0., owner=owner)
        if not isinstance(nesterov, bool):
            raise TypeError(f'{owner}: nesterov must be a bool, got {nesterov!r}')
        if nesterov and momentum == 0:
            raise ValueError(f'{owner}: nesterov=True needs momentum > 0, got momentum={momentum!r}')
        super().__init__(LarsRule(momentum, trust_coefficient, eps, nesterov), lr, weight_decay=weight_decay,
                         **options)
