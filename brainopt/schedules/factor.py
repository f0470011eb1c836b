r"""``base_lr`` times a factor of the step: :class:`LinearLR`, :class:`ConstantLR`, :class:`LambdaLR`,
:class:`WarmupScheduler`.

:class:`LinearLR`, :class:`ConstantLR` and :class:`WarmupScheduler` are the usual warmups.
The names, arguments and defaults are those of ``braintools.optim``;
the values are those of ``torch.optim.lr_scheduler``:
``schedule(k)`` is torch's ``scheduler.get_last_lr()[0]`` after ``k`` calls
of ``scheduler.step()``.
"""
from typing import Any

import jax
import jax.numpy as jnp

from .. import _validate as check
from . import _common as c
from .base import LRScheduler, with_stepping_doc

__all__ = ['LinearLR', 'ConstantLR', 'LambdaLR', 'WarmupScheduler']


@with_stepping_doc
class LinearLR(LRScheduler):
    r"""Move the factor of ``base_lr`` linearly from ``start_factor`` to ``end_factor`` over ``total_iters`` steps.

    .. math::

        \eta_k = \text{base\_lr} \left(s\,(1 - x_k) + e\,x_k\right), \qquad
        x_k = \frac{\min(k, \text{total\_iters})}{\text{total\_iters}}

    with :math:`s` = ``start_factor`` and :math:`e` = ``end_factor``; the
    learning rate stays at ``end_factor * base_lr`` from step
    ``total_iters`` on. Same values as ``torch.optim.lr_scheduler.LinearLR``.
    Unlike torch, a ``start_factor`` of 0 (warmup from
    zero) and factors above 1 are accepted; ``total_iters=0`` gives
    ``end_factor * base_lr`` from the first step (as in braintools).

    Parameters
    ----------
    base_lr : float, default 1e-3
        The learning rate that the factors multiply (``>= 0``).
    start_factor : float, default 1/3
        Factor of the first step (``>= 0``).
    end_factor : float, default 1.0
        Factor from step ``total_iters`` on (``>= 0``).
    total_iters : int, default 5
        Number of steps of the ramp (``>= 0``).

    {stepping}

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.LinearLR(base_lr=1.0, start_factor=0.25, end_factor=1.0, total_iters=3)
    >>> [round(float(sched(k)), 6) for k in range(5)]
    [0.25, 0.5, 0.75, 1.0, 1.0]
    """

    def __init__(self, base_lr: float = 1e-3, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = 0, *,
                 stepping: str = 'epoch'):
        owner = type(self).__name__
        self._init_stepping(stepping, last_epoch)
        self.base_lr = c.base_lr(base_lr, owner)
        self.start_factor = check.real('start_factor', start_factor, low=0., owner=owner)
        self.end_factor = check.real('end_factor', end_factor, low=0., owner=owner)
        self.total_iters = c.integer('total_iters', total_iters, low=0, owner=owner)

    def __call__(self, step: Any) -> jax.Array:
        t = c.as_step(step)
        end = c.f32(self.base_lr * self.end_factor)
        if self.total_iters == 0:
            return jnp.broadcast_to(end, t.shape)
        start = c.f32(self.base_lr * self.start_factor)
        # both weights from exact integers, and a sum of two non-negative terms: no cancellation
        done = jnp.minimum(t, self.total_iters)
        x = done.astype(jnp.float32) / jnp.float32(self.total_iters)
        one_minus_x = (self.total_iters - done).astype(jnp.float32) / jnp.float32(self.total_iters)
        return start * one_minus_x + end * x


@with_stepping_doc
class ConstantLR(LRScheduler):
    r"""Multiply ``base_lr`` by a constant ``factor`` for the first ``total_iters`` steps.

    .. math::

        \eta_k = \begin{cases}
            \text{factor} \cdot \text{base\_lr} & k < \text{total\_iters} \\
            \text{base\_lr} & k \ge \text{total\_iters}
        \end{cases}

    Same values as ``torch.optim.lr_scheduler.ConstantLR`` (for
    ``total_iters >= 1``; with ``total_iters=0`` the factor never applies,
    as in braintools and in torch's closed form). Unlike torch,
    factors above 1 are accepted.

    Parameters
    ----------
    base_lr : float, default 1e-3
        Learning rate from step ``total_iters`` on (``>= 0``).
    factor : float, default 1/3
        Factor of the first ``total_iters`` steps (``>= 0``).
    total_iters : int, default 5
        Number of steps that use the factor (``>= 0``).

    {stepping}

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.ConstantLR(base_lr=1.0, factor=0.5, total_iters=2)
    >>> [round(float(sched(k)), 6) for k in range(4)]
    [0.5, 0.5, 1.0, 1.0]
    """

    def __init__(self, base_lr: float = 1e-3, factor: float = 1.0 / 3, total_iters: int = 5, last_epoch: int = 0, *,
                 stepping: str = 'epoch'):
        owner = type(self).__name__
        self._init_stepping(stepping, last_epoch)
        self.base_lr = c.base_lr(base_lr, owner)
        self.factor = check.real('factor', factor, low=0., owner=owner)
        self.total_iters = c.integer('total_iters', total_iters, low=0, owner=owner)

    def __call__(self, step: Any) -> jax.Array:
        t = c.as_step(step)
        return jnp.where(t < self.total_iters, c.f32(self.base_lr * self.factor), c.f32(self.base_lr))


@with_stepping_doc
class LambdaLR(LRScheduler):
    r"""``base_lr`` times a function of the step.

    .. math::

        \eta_k = \text{base\_lr} \cdot \text{lr\_lambda}(k)

    Same values as ``torch.optim.lr_scheduler.LambdaLR``. Here ``lr_lambda``
    receives the step as an int32 ``jax`` array, possibly traced inside
    ``jit``: write it with operators and ``jax.numpy``
    (``lambda k: 0.95 ** k``, ``lambda k: jnp.minimum(1.0, (k + 1) / 10)``),
    without a Python ``if``, ``min`` or ``max`` on ``k``. The result is as
    accurate as the lambda's float32 arithmetic: ``0.9 ** k`` computed by
    ``jnp.power`` in float32 is about ``k * 3e-8`` off in relative terms,
    where :class:`ExponentialLR` stays within a few ``1e-7``.

    Parameters
    ----------
    base_lr : float
        The learning rate that the factor multiplies (``>= 0``).
    lr_lambda : callable
        ``lr_lambda(k)``: the factor of step ``k`` (0 on the first).

    {stepping}

    Examples
    --------
    >>> import brainopt
    >>> import jax.numpy as jnp
    >>> sched = brainopt.schedules.LambdaLR(0.1, lambda k: jnp.minimum(1.0, (k + 1) / 4))
    >>> [round(float(sched(k)), 6) for k in range(6)]
    [0.025, 0.05, 0.075, 0.1, 0.1, 0.1]
    """

    def __init__(self, base_lr: float, lr_lambda, last_epoch: int = 0, *,
                 stepping: str = 'epoch'):
        owner = type(self).__name__
        self._init_stepping(stepping, last_epoch)
        self.base_lr = c.base_lr(base_lr, owner)
        if not callable(lr_lambda):
            raise TypeError(f'{owner}: lr_lambda must be a callable of the step, got {lr_lambda!r} '
                            f'({type(lr_lambda).__name__})')
        self.lr_lambda = lr_lambda

    @property
    def calls_user_code(self):
        return True        # lr_lambda: the user's function

    def __call__(self, step: Any) -> jax.Array:
        factor = jnp.asarray(self.lr_lambda(c.as_step(step)), jnp.float32)
        return c.f32(self.base_lr) * factor



@with_stepping_doc
class WarmupScheduler(LRScheduler):
    r"""Linear warmup from ``warmup_start_lr`` to ``base_lr`` over ``warmup_epochs``, then constant.

    .. math::

        \eta_k = \eta_{start} + (\text{base\_lr} - \eta_{start})\,
        \frac{\min(k, W)}{W}, \qquad W = \text{warmup\_epochs}

    (braintools.optim's ``WarmupScheduler``; ``W = 0`` gives ``base_lr``
    from the start). The default ``warmup_start_lr=None`` means
    :math:`\eta_{start} = \text{base\_lr} / (W + 1)`: the ramp
    ``base_lr * (k + 1) / (W + 1)``, which skips the zero of a ramp from 0,
    so the first step never has learning rate 0 and ``base_lr`` is still
    reached at ``k = W``. braintools's default ``warmup_start_lr=0.0``
    spends the first step at learning rate 0; pass ``warmup_start_lr=0.0``
    to get that.

    Parameters
    ----------
    base_lr : float, default 1e-3
        Learning rate from ``k = warmup_epochs`` on (``>= 0``).
    warmup_epochs : int, default 5
        Length of the ramp in counter steps (``>= 0``).
    warmup_start_lr : float, optional
        Learning rate at ``k = 0`` (``>= 0``); default ``base_lr / (warmup_epochs + 1)``.
    {stepping}

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.WarmupScheduler(base_lr=1.0, warmup_epochs=3)
    >>> [round(float(sched(k)), 6) for k in range(5)]
    [0.25, 0.5, 0.75, 1.0, 1.0]
    >>> sched.step()      # per epoch (the default stepping)
    >>> float(sched.current_lr)
    0.5
    """

    def __init__(self, base_lr: float = 1e-3, warmup_epochs: int = 5, warmup_start_lr=None, last_epoch: int = 0, *,
                 stepping: str = 'epoch'):
        owner = type(self).__name__
        self._init_stepping(stepping, last_epoch)
        self.base_lr = c.base_lr(base_lr, owner)
        self.warmup_epochs = c.integer('warmup_epochs', warmup_epochs, low=0, owner=owner)
        self.warmup_start_lr = check.optional_real('warmup_start_lr', warmup_start_lr, low=0., owner=owner)

    def __call__(self, step: Any) -> jax.Array:
        t = c.as_step(step)
        w = self.warmup_epochs
        if w == 0:
            return jnp.broadcast_to(c.f32(self.base_lr), t.shape)
        start = self.base_lr / (w + 1) if self.warmup_start_lr is None else self.warmup_start_lr
        done = jnp.minimum(t, w)
        # both weights from exact integers: no cancellation near either end
        return (c.f32(start) * ((w - done).astype(jnp.float32) / jnp.float32(w))
                + c.f32(self.base_lr) * (done.astype(jnp.float32) / jnp.float32(w)))
