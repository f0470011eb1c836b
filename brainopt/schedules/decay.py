r"""Multiplicative decay: :class:`StepLR`, :class:`MultiStepLR`, :class:`ExponentialLR`, :class:`PolynomialLR`.

The names, arguments and defaults are those of ``braintools.optim``; the
values are those of ``torch.optim.lr_scheduler`` stepped once per update:
``schedule(k)`` is torch's ``scheduler.get_last_lr()[0]`` after ``k`` calls
of ``scheduler.step()``.
"""
import jax.numpy as jnp
import numpy as np

from .. import _validate as check
from . import _common as c
from .base import LRScheduler

__all__ = ['StepLR', 'MultiStepLR', 'ExponentialLR', 'PolynomialLR']


class StepLR(LRScheduler):
    r"""Decay the learning rate by ``gamma`` every ``step_size`` updates.

    .. math::

        \eta_k = \text{base\_lr} \cdot \gamma^{\lfloor k / \text{step\_size} \rfloor}

    where :math:`k` is the number of updates applied before this one.
    Same values as ``torch.optim.lr_scheduler.StepLR`` stepped once per update.

    Parameters
    ----------
    base_lr : float, default 1e-3
        Learning rate of the first ``step_size`` updates (``>= 0``).
    step_size : int, default 30
        Number of updates between two decays (``>= 1``).
    gamma : float, default 0.1
        Multiplicative factor of each decay (``> 0``).

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.StepLR(base_lr=0.1, step_size=2, gamma=0.5)
    >>> [round(float(sched(k)), 6) for k in range(6)]
    [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    """

    def __init__(self, base_lr: float = 1e-3, step_size: int = 30, gamma: float = 0.1):
        owner = type(self).__name__
        self.base_lr = c.base_lr(base_lr, owner)
        self.step_size = c.integer('step_size', step_size, low=1, owner=owner)
        self.gamma = check.real('gamma', gamma, low=0., low_open=True, owner=owner)
        self._table = c.power_table(self.gamma)

    def __call__(self, step):
        n = c.as_step(step) // self.step_size
        return c.f32(self.base_lr) * c.int_power(self._table, n)


class MultiStepLR(LRScheduler):
    r"""Decay the learning rate by ``gamma`` at each milestone.

    .. math::

        \eta_k = \text{base\_lr} \cdot \gamma^{\#\{m \in \text{milestones} : m \le k\}}

    A milestone listed twice decays twice (as in torch); the order of the
    milestones does not matter. Same values as
    ``torch.optim.lr_scheduler.MultiStepLR`` stepped once per update.

    Parameters
    ----------
    base_lr : float, default 1e-3
        Learning rate before the first milestone (``>= 0``).
    milestones : sequence of int, default (30, 60, 90)
        Update counts (``>= 0``) from which the learning rate is multiplied
        by ``gamma`` once more.
    gamma : float, default 0.1
        Multiplicative factor of each decay (``> 0``).

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.MultiStepLR(base_lr=1.0, milestones=[2, 5], gamma=0.1)
    >>> [round(float(sched(k)), 6) for k in range(7)]
    [1.0, 1.0, 0.1, 0.1, 0.1, 0.01, 0.01]
    """

    def __init__(self, base_lr: float = 1e-3, milestones=(30, 60, 90), gamma: float = 0.1):
        owner = type(self).__name__
        self.base_lr = c.base_lr(base_lr, owner)
        self.milestones = c.milestones('milestones', milestones, owner, increasing=False)
        self.gamma = check.real('gamma', gamma, low=0., low_open=True, owner=owner)
        self._sorted = np.asarray(sorted(self.milestones), np.int32)
        # base_lr * gamma ** i for every possible count, in float64, rounded once
        self._values = (self.base_lr * self.gamma ** np.arange(len(self.milestones) + 1.)).astype(np.float32)

    def __call__(self, step):
        t = c.as_step(step)
        count = jnp.sum(t[..., None] >= self._sorted, axis=-1)
        return jnp.asarray(self._values)[count]


class ExponentialLR(LRScheduler):
    r"""Multiply the learning rate by ``gamma`` after every update.

    .. math::

        \eta_k = \text{base\_lr} \cdot \gamma^{k}

    Same values as ``torch.optim.lr_scheduler.ExponentialLR`` stepped once per
    update. ``gamma ** k`` is formed from float64 powers ``gamma ** (2 ** j)``,
    so it keeps float32 accuracy for large ``k``.

    Parameters
    ----------
    base_lr : float, default 1e-3
        Learning rate of the first update (``>= 0``).
    gamma : float, default 0.95
        Multiplicative factor per update (``> 0``).

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.ExponentialLR(base_lr=1.0, gamma=0.5)
    >>> [round(float(sched(k)), 6) for k in range(4)]
    [1.0, 0.5, 0.25, 0.125]
    """

    def __init__(self, base_lr: float = 1e-3, gamma: float = 0.95):
        owner = type(self).__name__
        self.base_lr = c.base_lr(base_lr, owner)
        self.gamma = check.real('gamma', gamma, low=0., low_open=True, owner=owner)
        self._table = c.power_table(self.gamma)

    def __call__(self, step):
        return c.f32(self.base_lr) * c.int_power(self._table, c.as_step(step))


class PolynomialLR(LRScheduler):
    r"""Decay the learning rate to 0 along a polynomial over ``total_iters`` updates.

    .. math::

        \eta_k = \text{base\_lr} \cdot
        \left(1 - \frac{\min(k, \text{total\_iters})}{\text{total\_iters}}\right)^{\text{power}}

    The learning rate is 0 from update ``total_iters`` on (``power > 0``).
    Same values as ``torch.optim.lr_scheduler.PolynomialLR`` stepped once per
    update.

    Parameters
    ----------
    base_lr : float, default 1e-3
        Learning rate of the first update (``>= 0``).
    total_iters : int, default 5
        Number of updates over which the learning rate decays (``>= 1``).
    power : float, default 1.0
        Power of the polynomial (``>= 0``); 1 is a linear decay.

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.PolynomialLR(base_lr=1.0, total_iters=4, power=2.0)
    >>> [round(float(sched(k)), 6) for k in range(6)]
    [1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0]
    """

    def __init__(self, base_lr: float = 1e-3, total_iters: int = 5, power: float = 1.0):
        owner = type(self).__name__
        self.base_lr = c.base_lr(base_lr, owner)
        self.total_iters = c.integer('total_iters', total_iters, low=1, owner=owner)
        self.power = check.real('power', power, low=0., owner=owner)

    def __call__(self, step):
        t = c.as_step(step)
        # 1 - min(k, T) / T = (T - min(k, T)) / T: exact integers, then one rounding
        remaining = (self.total_iters - jnp.minimum(t, self.total_iters)).astype(jnp.float32)
        return c.f32(self.base_lr) * jnp.power(remaining / jnp.float32(self.total_iters), jnp.float32(self.power))

