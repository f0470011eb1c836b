"""``brainopt.Fromage``."""
from .. import _validate as check
from ..optimizer import Optimizer, with_shared_options
from ..rules.fromage import FromageRule
from ..transforms.lr import LearningRate

__all__ = ['Fromage']


@with_shared_options
class Fromage(Optimizer):
    r"""Fromage: a step of relative size :math:`\eta` per tensor, then a shrink.

    .. math::

        \theta_t = \frac{1}{\sqrt{1+\eta_t^2}}
        \left(\theta_{t-1} - \eta_t\,\frac{\|\theta_{t-1}\|}{\|g_t\|}\, g_t\right)

    with norms over each whole parameter tensor, each floored at
    ``min_norm`` (``optax.fromage``). The learning rate :math:`\eta_t` is the
    relative size of each step and is read every update, a schedule included
    (braintools.optim 0.3 passed only its initial value to optax). Names and
    defaults are braintools.optim's (``lr=1.0``; the paper suggests 0.01).
    No slot.

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1.0
        Relative step size.
    momentum : float, default 0.0
        Accepted for braintools.optim compatibility; Fromage has no momentum,
        so any other value is an error (braintools warned and ignored it).
    min_norm : float, default 1e-6
        Floor of both norms; >= 0.
    {shared_options}

    References
    ----------
    J. Bernstein, A. Vahdat, Y. Yue, M.-Y. Liu, "On the distance between two
    neural networks and the stability of learning", NeurIPS 2020,
    arXiv:2002.03432.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([3.0, 4.0]))
    >>> opt = brainopt.Fromage(lr=0.01).register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.array([0.0, 1.0])})   # |dw| = lr * |w| = 0.05, then shrink
    >>> [round(float(x), 4) for x in w.value]
    [2.9999, 3.9498]
    """

    def __init__(self, lr: LearningRate = 1.0, momentum: float = 0.0, *, min_norm: float = 1e-6, **options):
        owner = type(self).__name__
        momentum = check.real('momentum', momentum, owner=owner)
        if momentum != 0:
            raise ValueError(f'{owner}: momentum must be 0 (Fromage has no momentum term), got {momentum!r}')
        min_norm = check.real('min_norm', min_norm, low=0., owner=owner)
        super().__init__(FromageRule(min_norm), lr, **options)
