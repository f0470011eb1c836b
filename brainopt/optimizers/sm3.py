"""``brainopt.SM3``."""
from .. import _validate as check
from ..optimizer import Optimizer, with_shared_options
from ..rules.sm3 import SM3Rule
from ..transforms.lr import LearningRate

__all__ = ['SM3']


@with_shared_options
class SM3(Optimizer):
    r"""SM3: Adagrad whose accumulator costs one vector per axis, not a full array.

    A parameter of rank :math:`k \ge 2` keeps one accumulator per axis,
    :math:`\mu^{(i)}` of length ``shape[i]`` (the cover of its rows, its
    columns, ...); a vector or a scalar keeps its full diagonal accumulator:

    .. math::

        \nu_t = \min_i \mu^{(i)}_{t-1} + g_t^2, \qquad
        \mu^{(i)}_t = \max_{\text{axes} \ne i}\, \nu_t, \\
        b_t = \beta b_{t-1} + (1-\beta)\, \frac{g_t}{\sqrt{\nu_t + \epsilon}}, \qquad
        \theta_t = \theta_{t-1} - \eta\, b_t

    with the quotient 0 where :math:`\nu_t = 0` (``optax.sm3``, whose
    formula braintools.optim runs). :math:`\epsilon` sits inside the root.
    Names and defaults are braintools.optim's; ``weight_decay`` is coupled
    (braintools). Slots: ``accumulator``, the per-axis vectors concatenated
    (length ``sum(shape)``; the parameter's own shape for rank < 2), and
    ``momentum_buffer`` (one array per parameter) when ``momentum > 0``.

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1.0
        Learning rate.
    momentum : float, default 0.9
        :math:`\beta` in [0, 1).
    eps : float, default 1e-8
        Inside the root; >= 0.
    weight_decay : float, default 0.0
        Coupled L2 coefficient (``weight_decay_mode``).
    {shared_options}

    References
    ----------
    R. Anil, V. Gupta, T. Koren, Y. Singer, "Memory-Efficient Adaptive
    Optimization", NeurIPS 2019, arXiv:1901.11150.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.zeros((100, 30)))
    >>> opt = brainopt.SM3(lr=0.1, momentum=0.0).register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.full((100, 30), 2.0)})   # first step: lr * sign(g)
    >>> round(float(w.value[0, 0]), 4)
    -0.1
    >>> opt.get_slot('accumulator', 'w').shape            # 100 + 30 numbers, not 3000
    (130,)
    """

    def __init__(self, lr: LearningRate = 1.0, momentum: float = 0.9, eps: float = 1e-8, weight_decay: float = 0.0,
                 **options):
        owner = type(self).__name__
        momentum = check.real('momentum', momentum, low=0., high=1., high_open=True, owner=owner)
        eps = check.real('eps', eps, low=0., owner=owner)
        super().__init__(SM3Rule(momentum, eps), lr, weight_decay=weight_decay, **options)
