r"""Cosine annealing: :class:`CosineAnnealingLR`, :class:`CosineAnnealingWarmRestarts` (SGDR),
:class:`WarmupCosineSchedule`.

The names, arguments and defaults are those of ``braintools.optim``; the
values are those of ``torch.optim.lr_scheduler``:
``schedule(k)`` is torch's ``scheduler.get_last_lr()[0]`` after ``k`` calls
of ``scheduler.step()``.
"""
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate as check
from . import _common as c
from .base import LRScheduler, with_stepping_doc

__all__ = ['CosineAnnealingLR', 'CosineAnnealingWarmRestarts', 'WarmupCosineSchedule']

_INT32_MAX = int(np.iinfo(np.int32).max)


@with_stepping_doc
class CosineAnnealingLR(LRScheduler):
    r"""Anneal the learning rate from ``base_lr`` to ``eta_min`` along half a cosine over ``T_max`` steps.

    .. math::

        \eta_k = \eta_{min} + (\text{base\_lr} - \eta_{min})\,
        \frac{1 + \cos(\pi k / T_{max})}{2}

    This is torch's closed form, and equals the values of
    ``torch.optim.lr_scheduler.CosineAnnealingLR``
    for every ``k``: after ``T_max`` steps the cosine goes on, so the
    learning rate climbs back to ``base_lr`` at ``k = 2 T_max`` (period
    ``2 T_max``). ``braintools.optim.CosineAnnealingLR`` instead holds
    ``eta_min`` after ``T_max``; to hold it, choose ``T_max`` at least the
    number of steps, or follow with a constant in :class:`SequentialLR`.

    Parameters
    ----------
    base_lr : float, default 1e-3
        Learning rate of the first step (``>= 0``).
    T_max : int, default 50
        Number of steps of the half cosine (``>= 1``).
    eta_min : float, default 0
        Learning rate reached after ``T_max`` steps (``>= 0``).

    {stepping}

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.CosineAnnealingLR(base_lr=1.0, T_max=4, eta_min=0.0)
    >>> [round(float(sched(k)), 6) for k in range(9)]
    [1.0, 0.853553, 0.5, 0.146447, 0.0, 0.146447, 0.5, 0.853553, 1.0]
    """

    def __init__(self, base_lr: float = 1e-3, T_max: int = 50, eta_min: float = 0., last_epoch: int = 0, *,
                 stepping: str = 'epoch'):
        owner = type(self).__name__
        self._init_stepping(stepping, last_epoch)
        self.base_lr = c.base_lr(base_lr, owner)
        self.T_max = c.integer('T_max', T_max, low=1, owner=owner)
        self.eta_min = check.real('eta_min', eta_min, low=0., owner=owner)

    def __call__(self, step: Any) -> jax.Array:
        t = c.as_step(step)
        period = 2 * self.T_max
        r = t % period if period <= _INT32_MAX else t
        # (1 + cos(pi r / T)) / 2 = sin(pi/2 (T - r) / T) ** 2, with T - r in (-T, T]
        factor = c.cosine_factor(self.T_max - r, self.T_max)
        return c.f32(self.eta_min) + c.f32(self.base_lr - self.eta_min) * factor


@with_stepping_doc
class CosineAnnealingWarmRestarts(LRScheduler):
    r"""Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter, 2017).

    .. math::

        \eta_k = \eta_{min} + (\text{base\_lr} - \eta_{min})\,
        \frac{1 + \cos(\pi T_{cur} / T_i)}{2}

    The ``i``-th cycle (``i = 0, 1, ...``) lasts :math:`T_i = T_0 \, T_{mult}^i`
    steps and starts at step :math:`S_i = T_0 (T_{mult}^i - 1) / (T_{mult} - 1)`
    (:math:`S_i = i\,T_0` when :math:`T_{mult} = 1`); :math:`T_{cur} = k - S_i`
    counts the steps since the last restart. The cycle of ``k`` is found from
    a table of the integer starts (no logarithm), so restarts fall exactly on
    :math:`S_i`. Same values as
    ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`` (its ``step()`` without an epoch).

    Parameters
    ----------
    base_lr : float, default 1e-3
        Learning rate at the start of every cycle (``>= 0``).
    T_0 : int, default 10
        Number of steps of the first cycle (``>= 1``).
    T_mult : int, default 1
        Factor by which each cycle is longer than the previous one (``>= 1``).
    eta_min : float, default 0
        Learning rate approached at the end of every cycle (``>= 0``).

    {stepping}

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.CosineAnnealingWarmRestarts(base_lr=1.0, T_0=2, T_mult=2)
    >>> [round(float(sched(k)), 6) for k in range(8)]
    [1.0, 0.5, 1.0, 0.853553, 0.5, 0.146447, 1.0, 0.96194]
    """

    def __init__(self, base_lr: float = 1e-3, T_0: int = 10, T_mult: int = 1, eta_min: float = 0.,
                 last_epoch: int = 0, *, stepping: str = 'epoch'):
        owner = type(self).__name__
        self._init_stepping(stepping, last_epoch)
        self.base_lr = c.base_lr(base_lr, owner)
        self.T_0 = c.integer('T_0', T_0, low=1, owner=owner)
        self.T_mult = c.integer('T_mult', T_mult, low=1, owner=owner)
        self.eta_min = check.real('eta_min', eta_min, low=0., owner=owner)
        if self.T_mult > 1:
            # starts of every cycle that begins within int32, and their lengths (Python ints, exact)
            starts, lengths = [0], [self.T_0]
            while starts[-1] + lengths[-1] <= _INT32_MAX:
                starts.append(starts[-1] + lengths[-1])
                lengths.append(lengths[-1] * self.T_mult)
            self._restarts = np.asarray(starts[1:], np.int32)
            self._starts = np.asarray(starts, np.int32)
            self._lengths = np.asarray(lengths, np.float32)

    def __call__(self, step: Any) -> jax.Array:
        t = c.as_step(step)
        if self.T_mult == 1:
            remaining = self.T_0 - t % self.T_0
            length = self.T_0
        else:
            cycle = jnp.sum(t[..., None] >= self._restarts, axis=-1)
            length = jnp.asarray(self._lengths)[cycle]
            remaining = length - (t - jnp.asarray(self._starts)[cycle]).astype(jnp.float32)
        # (1 + cos(pi T_cur / T_i)) / 2 = sin(pi/2 (T_i - T_cur) / T_i) ** 2
        factor = c.cosine_factor(remaining, length)
        return c.f32(self.eta_min) + c.f32(self.base_lr - self.eta_min) * factor



@with_stepping_doc
class WarmupCosineSchedule(LRScheduler):
    r"""Linear warmup to ``base_lr``, then half a cosine down to ``eta_min`` at ``total_steps``.

    .. math::

        \eta_k = \begin{cases}
            \eta_{start} + (\text{base\_lr} - \eta_{start})\, k / W & k < W \\
            \eta_{min} + (\text{base\_lr} - \eta_{min})\,
            \frac{1 + \cos(\pi \min(k - W, D) / D)}{2} & k \ge W
        \end{cases}

    with :math:`W` = ``warmup_steps`` and :math:`D = \max(T - W, 1)`,
    :math:`T` = ``total_steps``; ``eta_min`` is held from ``total_steps``
    on. braintools.optim's formula, and the values of
    ``optax.warmup_cosine_decay_schedule(init_value=warmup_start_lr,
    peak_value=base_lr, warmup_steps=W, decay_steps=T, end_value=eta_min)``.
    Like optax's, it is stepped per update by default.

    The default ``warmup_start_lr=None`` means ``base_lr / (W + 1)``: the
    first step never has learning rate 0 (braintools's default 0.0 does;
    pass ``warmup_start_lr=0.0`` to get it).

    Parameters
    ----------
    base_lr : float, default 1e-3
        Peak learning rate, reached at ``k = warmup_steps`` (``>= 0``).
    warmup_steps : int, default 1000
        Length of the linear warmup (``>= 0``).
    total_steps : int, default 10000
        Where the cosine reaches ``eta_min`` (``>= warmup_steps``).
    warmup_start_lr : float, optional
        Learning rate at ``k = 0`` (``>= 0``); default ``base_lr / (warmup_steps + 1)``.
    eta_min : float, default 0
        Final learning rate (``>= 0``).
    {stepping}

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.WarmupCosineSchedule(1.0, warmup_steps=2, total_steps=6, warmup_start_lr=0.5)
    >>> [round(float(sched(k)), 6) for k in range(8)]
    [0.5, 0.75, 1.0, 0.853553, 0.5, 0.146447, 0.0, 0.0]
    """

    def __init__(self, base_lr: float = 1e-3, warmup_steps: int = 1000, total_steps: int = 10000,
                 warmup_start_lr=None, eta_min: float = 0.0, last_epoch: int = 0, *, stepping: str = 'update'):
        owner = type(self).__name__
        self._init_stepping(stepping, last_epoch)
        self.base_lr = c.base_lr(base_lr, owner)
        self.warmup_steps = c.integer('warmup_steps', warmup_steps, low=0, owner=owner)
        self.total_steps = c.integer('total_steps', total_steps, low=0, owner=owner)
        if self.total_steps < self.warmup_steps:
            raise ValueError(f'{owner}: total_steps must be >= warmup_steps = {self.warmup_steps}, '
                             f'got {total_steps!r}')
        self.warmup_start_lr = check.optional_real('warmup_start_lr', warmup_start_lr, low=0., owner=owner)
        self.eta_min = check.real('eta_min', eta_min, low=0., owner=owner)

    def __call__(self, step: Any) -> jax.Array:
        t = c.as_step(step)
        w = self.warmup_steps
        decay = max(self.total_steps - w, 1)
        done = jnp.clip(t - w, 0, decay)
        w_peak, w_end = c.cos_weights(decay - done, done, decay)
        out = c.f32(self.base_lr) * w_peak + c.f32(self.eta_min) * w_end
        if w == 0:
            return out
        start = self.base_lr / (w + 1) if self.warmup_start_lr is None else self.warmup_start_lr
        up = jnp.minimum(t, w)
        warm = (c.f32(start) * ((w - up).astype(jnp.float32) / jnp.float32(w))
                + c.f32(self.base_lr) * (up.astype(jnp.float32) / jnp.float32(w)))
        return jnp.where(t < w, warm, out)
