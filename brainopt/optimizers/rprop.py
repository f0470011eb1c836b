"""``brainopt.Rprop``."""
from .. import _validate as check
from ..optimizer import Optimizer, with_shared_options
from ..rules.rprop import RpropRule
from ..transforms.lr import LearningRate
from . import _hyper

__all__ = ['Rprop']


@with_shared_options
class Rprop(Optimizer):
    r"""Rprop: per-element step sizes that grow while the gradient keeps its sign and shrink when it flips.

    .. math::

        \Delta_t = \operatorname{clip}\big(\Delta_{t-1}\cdot\eta^{\pm},\ \Delta_{\min}, \Delta_{\max}\big),
        \qquad \theta_t = \theta_{t-1} - \operatorname{sign}(g_t)\,\Delta_t

    with :math:`\eta^+` where :math:`g_t g_{t-1} > 0`, :math:`\eta^-` where
    it is negative (and there the step is skipped and :math:`g_t` forgotten,
    so the next step does not shrink again), 1 where it is zero. This is
    torch.optim.Rprop, with its names and defaults (braintools.optim's too).
    **The learning rate is the initial step size** :math:`\Delta_0`, as in
    torch and ``optax.rprop``: each parameter's step sizes start at the
    learning rate of its first update, and later values of a schedule do not
    change them (braintools.optim 0.3 ignored ``lr``). Before a parameter's
    first update its ``step_size`` slot holds ``-1``. Slots: ``prev`` (the
    last gradient, zero where the sign flipped), ``step_size``
    (:math:`\Delta`).

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1e-2
        Initial step size :math:`\Delta_0`.
    etas : (float, float), default (0.5, 1.2)
        :math:`(\eta^-, \eta^+)` with :math:`0 < \eta^- < 1 < \eta^+`.
    step_sizes : (float, float), default (1e-6, 50.0)
        :math:`(\Delta_{\min}, \Delta_{\max})`, :math:`0 \le \Delta_{\min} \le \Delta_{\max}`.
    {shared_options}

    References
    ----------
    M. Riedmiller, H. Braun, "A direct adaptive method for faster
    backpropagation learning: the RPROP algorithm", IEEE ICNN 1993.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([1.0, -2.0]))
    >>> opt = brainopt.Rprop(lr=0.1).register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.array([3.0, -4.0])})   # step lr against the sign
    >>> _ = opt.update({'w': jnp.array([3.0, 4.0])})    # same sign: x1.2; flipped: x0.5 and no step
    >>> opt.get_slot('step_size', 'w')
    Array([0.12, 0.05], dtype=float32)
    >>> [round(float(x), 6) for x in w.value]
    [0.78, -1.9]
    """

    def __init__(self, lr: LearningRate = 1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0), **options):
        owner = type(self).__name__
        eta_minus, eta_plus = _hyper.pair(owner, 'etas', etas, '(eta_minus, eta_plus)')
        eta_minus = check.real('etas[0]', eta_minus, low=0., high=1., low_open=True, high_open=True, owner=owner)
        eta_plus = check.real('etas[1]', eta_plus, low=1., low_open=True, owner=owner)
        lo, hi = _hyper.pair(owner, 'step_sizes', step_sizes, '(min_step_size, max_step_size)')
        lo = check.real('step_sizes[0]', lo, low=0., owner=owner)
        hi = check.real('step_sizes[1]', hi, low=lo, owner=owner)
        super().__init__(RpropRule(eta_minus, eta_plus, lo, hi), lr, **options)
