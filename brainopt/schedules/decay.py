r"""Decay: :class:`StepLR`, :class:`MultiStepLR`, :class:`ExponentialLR`, :class:`PolynomialLR` (torch's),
:class:`ExponentialDecayLR` and :class:`PiecewiseConstantSchedule` (optax's).

The names, arguments and defaults are those of ``braintools.optim``. The
first four have the values of ``torch.optim.lr_scheduler``: ``schedule(k)``
is torch's ``scheduler.get_last_lr()[0]`` after ``k`` calls of
``scheduler.step()``; they step per epoch by default. The last two have the
values of optax's ``exponential_decay`` and ``piecewise_constant_schedule``
at count ``k``, and step per update by default, as optax's do.
"""
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate as check
from . import _common as c
from .base import LRScheduler, with_stepping_doc

__all__ = ['StepLR', 'MultiStepLR', 'ExponentialLR', 'PolynomialLR', 'ExponentialDecayLR', 'PiecewiseConstantSchedule']


@with_stepping_doc
class StepLR(LRScheduler):
    r"""Decay the learning rate by ``gamma`` every ``step_size`` steps.

    .. math::

        \eta_k = \text{base\_lr} \cdot \gamma^{\lfloor k / \text{step\_size} \rfloor}

    where :math:`k` is the counter (epochs stepped, or updates applied; see ``stepping``).
    Same values as ``torch.optim.lr_scheduler.StepLR``.

    Parameters
    ----------
    base_lr : float, default 1e-3
        Learning rate of the first ``step_size`` steps (``>= 0``).
    step_size : int, default 30
        Number of steps between two decays (``>= 1``).
    gamma : float, default 0.1
        Multiplicative factor of each decay (``> 0``).

    {stepping}

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.StepLR(base_lr=0.1, step_size=2, gamma=0.5)
    >>> [round(float(sched(k)), 6) for k in range(6)]
    [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    """

    def __init__(self, base_lr: float = 1e-3, step_size: int = 30, gamma: float = 0.1, last_epoch: int = 0, *,
                 stepping: str = 'epoch'):
        owner = type(self).__name__
        self._init_stepping(stepping, last_epoch)
        self.base_lr = c.base_lr(base_lr, owner)
        self.step_size = c.integer('step_size', step_size, low=1, owner=owner)
        self.gamma = check.real('gamma', gamma, low=0., low_open=True, owner=owner)
        self._table = c.power_table(self.gamma)

    def __call__(self, step: Any) -> jax.Array:
        n = c.as_step(step) // self.step_size
        return c.f32(self.base_lr) * c.int_power(self._table, n)


@with_stepping_doc
class MultiStepLR(LRScheduler):
    r"""Decay the learning rate by ``gamma`` at each milestone.

    .. math::

        \eta_k = \text{base\_lr} \cdot \gamma^{\#\{m \in \text{milestones} : m \le k\}}

    A milestone listed twice decays twice (as in torch); the order of the
    milestones does not matter. Same values as
    ``torch.optim.lr_scheduler.MultiStepLR``.

    Parameters
    ----------
    base_lr : float, default 1e-3
        Learning rate before the first milestone (``>= 0``).
    milestones : sequence of int, default (30, 60, 90)
        Update counts (``>= 0``) from which the learning rate is multiplied
        by ``gamma`` once more.
    gamma : float, default 0.1
        Multiplicative factor of each decay (``> 0``).

    {stepping}

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.MultiStepLR(base_lr=1.0, milestones=[2, 5], gamma=0.1)
    >>> [round(float(sched(k)), 6) for k in range(7)]
    [1.0, 1.0, 0.1, 0.1, 0.1, 0.01, 0.01]
    """

    def __init__(self, base_lr: float = 1e-3, milestones=(30, 60, 90), gamma: float = 0.1, last_epoch: int = 0, *,
                 stepping: str = 'epoch'):
        owner = type(self).__name__
        self._init_stepping(stepping, last_epoch)
        self.base_lr = c.base_lr(base_lr, owner)
        self.milestones = c.milestones('milestones', milestones, owner, increasing=False)
        self.gamma = check.real('gamma', gamma, low=0., low_open=True, owner=owner)
        self._sorted = np.asarray(sorted(self.milestones), np.int32)
        # base_lr * gamma ** i for every possible count, in float64, rounded once
        self._values = (self.base_lr * self.gamma ** np.arange(len(self.milestones) + 1.)).astype(np.float32)

    def __call__(self, step: Any) -> jax.Array:
        t = c.as_step(step)
        count = jnp.sum(t[..., None] >= self._sorted, axis=-1)
        return jnp.asarray(self._values)[count]


@with_stepping_doc
class ExponentialLR(LRScheduler):
    r"""Multiply the learning rate by ``gamma`` after every step.

    .. math::

        \eta_k = \text{base\_lr} \cdot \gamma^{k}

    Same values as ``torch.optim.lr_scheduler.ExponentialLR``. ``gamma ** k``
    is formed from float64 powers ``gamma ** (2 ** j)``, so it keeps float32
    accuracy for large ``k``.

    Parameters
    ----------
    base_lr : float, default 1e-3
        Learning rate of the first step (``>= 0``).
    gamma : float, default 0.95
        Multiplicative factor per step (``> 0``).

    {stepping}

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.ExponentialLR(base_lr=1.0, gamma=0.5)
    >>> [round(float(sched(k)), 6) for k in range(4)]
    [1.0, 0.5, 0.25, 0.125]
    """

    def __init__(self, base_lr: float = 1e-3, gamma: float = 0.95, last_epoch: int = 0, *,
                 stepping: str = 'epoch'):
        owner = type(self).__name__
        self._init_stepping(stepping, last_epoch)
        self.base_lr = c.base_lr(base_lr, owner)
        self.gamma = check.real('gamma', gamma, low=0., low_open=True, owner=owner)
        self._table = c.power_table(self.gamma)

    def __call__(self, step: Any) -> jax.Array:
        return c.f32(self.base_lr) * c.int_power(self._table, c.as_step(step))


@with_stepping_doc
class PolynomialLR(LRScheduler):
    r"""Decay the learning rate to 0 along a polynomial over ``total_iters`` steps.

    .. math::

        \eta_k = \text{base\_lr} \cdot
        \left(1 - \frac{\min(k, \text{total\_iters})}{\text{total\_iters}}\right)^{\text{power}}

    The learning rate is 0 from step ``total_iters`` on (``power > 0``).
    Same values as ``torch.optim.lr_scheduler.PolynomialLR``.

    Parameters
    ----------
    base_lr : float, default 1e-3
        Learning rate of the first step (``>= 0``).
    total_iters : int, default 5
        Number of steps over which the learning rate decays (``>= 1``).
    power : float, default 1.0
        Power of the polynomial (``>= 0``); 1 is a linear decay.

    {stepping}

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.PolynomialLR(base_lr=1.0, total_iters=4, power=2.0)
    >>> [round(float(sched(k)), 6) for k in range(6)]
    [1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0]
    """

    def __init__(self, base_lr: float = 1e-3, total_iters: int = 5, power: float = 1.0, last_epoch: int = 0, *,
                 stepping: str = 'epoch'):
        owner = type(self).__name__
        self._init_stepping(stepping, last_epoch)
        self.base_lr = c.base_lr(base_lr, owner)
        self.total_iters = c.integer('total_iters', total_iters, low=1, owner=owner)
        self.power = check.real('power', power, low=0., owner=owner)

    def __call__(self, step: Any) -> jax.Array:
        t = c.as_step(step)
        # 1 - min(k, T) / T = (T - min(k, T)) / T: exact integers, then one rounding
        remaining = (self.total_iters - jnp.minimum(t, self.total_iters)).astype(jnp.float32)
        return c.f32(self.base_lr) * jnp.power(remaining / jnp.float32(self.total_iters), jnp.float32(self.power))



@with_stepping_doc
class ExponentialDecayLR(LRScheduler):
    r"""Exponential decay by ``decay_rate`` every ``decay_steps``, continuous or in stairs, after a delay.

    .. math::

        \eta_k = \text{base\_lr} \cdot \text{decay\_rate}^{\,p}, \qquad
        p = \frac{\max(k - \text{transition\_begin}, 0)}{\text{decay\_steps}}

    with :math:`p` rounded down when ``staircase``, and the result bounded by
    ``end_value`` (below when ``decay_rate < 1``, above otherwise). Same
    values as ``optax.exponential_decay(init_value=base_lr,
    transition_steps=decay_steps, decay_rate, transition_begin, staircase,
    end_value)`` (braintools.optim builds it from that). The power is formed
    as an integer power times a fractional one, so it keeps float32 accuracy
    over long runs.

    Parameters
    ----------
    base_lr : float, default 1e-3
        Learning rate until ``transition_begin`` (``>= 0``).
    decay_steps : int, default 1000
        Steps per factor ``decay_rate`` (``>= 1``).
    decay_rate : float, default 0.96
        Factor per ``decay_steps`` (``> 0``; above 1 it grows).
    transition_begin : int, default 0
        Steps before the decay starts (``>= 0``).
    staircase : bool, default False
        Decay in stairs (``p`` an integer) instead of continuously.
    end_value : float, optional
        Bound of the learning rate (``>= 0``).
    {stepping}

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.ExponentialDecayLR(1.0, decay_steps=2, decay_rate=0.25, end_value=0.1)
    >>> [round(float(sched(k)), 6) for k in range(5)]
    [1.0, 0.5, 0.25, 0.125, 0.1]
    """

    def __init__(self, base_lr: float = 1e-3, decay_steps: int = 1000, decay_rate: float = 0.96,
                 transition_begin: int = 0, staircase: bool = False, end_value=None, last_epoch: int = 0, *,
                 stepping: str = 'update'):
        owner = type(self).__name__
        self._init_stepping(stepping, last_epoch)
        self.base_lr = c.base_lr(base_lr, owner)
        self.decay_steps = c.integer('decay_steps', decay_steps, low=1, owner=owner)
        self.decay_rate = check.real('decay_rate', decay_rate, low=0., low_open=True, owner=owner)
        self.transition_begin = c.integer('transition_begin', transition_begin, low=0, owner=owner)
        if not isinstance(staircase, bool):
            raise TypeError(f'{owner}: staircase must be a bool, got {staircase!r}')
        self.staircase = staircase
        self.end_value = check.optional_real('end_value', end_value, low=0., owner=owner)
        self._table = c.power_table(self.decay_rate)

    def __call__(self, step: Any) -> jax.Array:
        n = jnp.maximum(c.as_step(step) - self.transition_begin, 0)
        if self.staircase:
            factor = c.int_power(self._table, n // self.decay_steps)
        else:
            factor = c.frac_power(self.decay_rate, self._table, n, self.decay_steps)
        out = c.f32(self.base_lr) * factor
        if self.end_value is not None:
            bound = jnp.maximum if self.decay_rate < 1 else jnp.minimum
            out = bound(out, c.f32(self.end_value))
        return out


@with_stepping_doc
class PiecewiseConstantSchedule(LRScheduler):
    r"""Constant learning rates between boundaries.

    .. math::

        \eta_k = \text{values}_i, \qquad i = \#\{b \in \text{boundaries} : b \le k\}

    The value changes *at* a boundary (``k = b`` already has the next
    value), as in braintools.optim and optax's
    ``piecewise_constant_schedule`` (which takes factors; here the values
    are the learning rates themselves). Keras's ``PiecewiseConstantDecay``
    changes one step later (``k > b``).

    Parameters
    ----------
    base_lr : float, default 1e-3
        Kept for braintools.optim compatibility; the learning rates are
        ``values`` (``>= 0``). A :class:`ChainedScheduler` takes
        ``values[0]`` as this schedule's base.
    boundaries : sequence of int, default [1000, 2000]
        Strictly increasing steps (``>= 0``) where the value changes.
    values : sequence of float, default [1.0, 0.1, 0.01]
        ``len(boundaries) + 1`` learning rates (``>= 0``).
    {stepping}

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.PiecewiseConstantSchedule(boundaries=[2, 4], values=[0.1, 0.05, 0.01])
    >>> [round(float(sched(k)), 6) for k in range(6)]
    [0.1, 0.1, 0.05, 0.05, 0.01, 0.01]
    """

    def __init__(self, base_lr: float = 1e-3, boundaries=None, values=None, last_epoch: int = 0, *,
                 stepping: str = 'update'):
        owner = type(self).__name__
        self._init_stepping(stepping, last_epoch)
        self.base_lr = c.base_lr(base_lr, owner)
        self.boundaries = c.milestones('boundaries', [1000, 2000] if boundaries is None else boundaries,
                                       owner, increasing=True)
        values = [1.0, 0.1, 0.01] if values is None else values
        if isinstance(values, (str, bytes)) or not hasattr(values, '__iter__'):
            raise TypeError(f'{owner}: values must be a sequence of learning rates, got {values!r}')
        self.values = tuple(check.real(f'values[{i}]', v, low=0., owner=owner) for i, v in enumerate(values))
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(f'{owner}: values must hold len(boundaries) + 1 = {len(self.boundaries) + 1} '
                             f'learning rates, got {len(self.values)}')
        self._boundaries = np.asarray(self.boundaries, np.int32)
        self._values = np.asarray(self.values, np.float32)

    @property
    def base_lr_for_chain(self):
        return self.values[0]

    def __call__(self, step: Any) -> jax.Array:
        t = c.as_step(step)
        return jnp.asarray(self._values)[jnp.sum(t[..., None] >= self._boundaries, axis=-1)]

    def get_config(self):
        return dict(super().get_config(), boundaries=list(self.boundaries), values=list(self.values))
