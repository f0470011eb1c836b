r"""``base_lr`` times a factor of the step: :class:`LinearLR`, :class:`ConstantLR`, :class:`LambdaLR`.

The first two are the usual warmups. The names, arguments and defaults of
:class:`LinearLR` and :class:`ConstantLR` are those of ``braintools.optim``;
the values are those of ``torch.optim.lr_scheduler`` stepped once per update:
``schedule(k)`` is torch's ``scheduler.get_last_lr()[0]`` after ``k`` calls
of ``scheduler.step()``.
"""
import jax.numpy as jnp

from .. import _validate as check
from . import _common as c
from .base import LRScheduler

__all__ = ['LinearLR', 'ConstantLR', 'LambdaLR']


class LinearLR(LRScheduler):
    r"""Move the factor of ``base_lr`` linearly from ``start_factor`` to ``end_factor`` over ``total_iters`` updates.

    .. math::

        \eta_k = \text{base\_lr} \left(s\,(1 - x_k) + e\,x_k\right), \qquad
        x_k = \frac{\min(k, \text{total\_iters})}{\text{total\_iters}}

    with :math:`s` = ``start_factor`` and :math:`e` = ``end_factor``; the
    learning rate stays at ``end_factor * base_lr`` from update
    ``total_iters`` on. Same values as ``torch.optim.lr_scheduler.LinearLR``
    stepped once per update. Unlike torch, a ``start_factor`` of 0 (warmup from
    zero) and factors above 1 are accepted; ``total_iters=0`` gives
    ``end_factor * base_lr`` from the first update (as in braintools).

    Parameters
    ----------
    base_lr : float, default 1e-3
        The learning rate that the factors multiply (``>= 0``).
    start_factor : float, default 1/3
        Factor of the first update (``>= 0``).
    end_factor : float, default 1.0
        Factor from update ``total_iters`` on (``>= 0``).
    total_iters : int, default 5
        Number of updates of the ramp (``>= 0``).

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.LinearLR(base_lr=1.0, start_factor=0.25, end_factor=1.0, total_iters=3)
    >>> [round(float(sched(k)), 6) for k in range(5)]
    [0.25, 0.5, 0.75, 1.0, 1.0]
    """

    def __init__(self, base_lr: float = 1e-3, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5):
        owner = type(self).__name__
        self.base_lr = c.base_lr(base_lr, owner)
        self.start_factor = check.real('start_factor', start_factor, low=0., owner=owner)
        self.end_factor = check.real('end_factor', end_factor, low=0., owner=owner)
        self.total_iters = c.integer('total_iters', total_iters, low=0, owner=owner)

    def __call__(self, step):
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


class ConstantLR(LRScheduler):
    r"""Multiply ``base_lr`` by a constant ``factor`` for the first ``total_iters`` updates.

    .. math::

        \eta_k = \begin{cases}
            \text{factor} \cdot \text{base\_lr} & k < \text{total\_iters} \\
            \text{base\_lr} & k \ge \text{total\_iters}
        \end{cases}

    Same values as ``torch.optim.lr_scheduler.ConstantLR`` stepped once per
    update (for ``total_iters >= 1``; with ``total_iters=0`` the factor never
    applies, as in braintools and in torch's closed form). Unlike torch,
    factors above 1 are accepted.

    Parameters
    ----------
    base_lr : float, default 1e-3
        Learning rate from update ``total_iters`` on (``>= 0``).
    factor : float, default 1/3
        Factor of the first ``total_iters`` updates (``>= 0``).
    total_iters : int, default 5
        Number of updates that use the factor (``>= 0``).

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.ConstantLR(base_lr=1.0, factor=0.5, total_iters=2)
    >>> [round(float(sched(k)), 6) for k in range(4)]
    [0.5, 0.5, 1.0, 1.0]
    """

    def __init__(self, base_lr: float = 1e-3, factor: float = 1.0 / 3, total_iters: int = 5):
        owner = type(self).__name__
        self.base_lr = c.base_lr(base_lr, owner)
        self.factor = check.real('factor', factor, low=0., owner=owner)
        self.total_iters = c.integer('total_iters', total_iters, low=0, owner=owner)

    def __call__(self, step):
        t = c.as_step(step)
        return jnp.where(t < self.total_iters, c.f32(self.base_lr * self.factor), c.f32(self.base_lr))


class LambdaLR(LRScheduler):
    r"""``base_lr`` times a function of the step.

    .. math::

        \eta_k = \text{base\_lr} \cdot \text{lr\_lambda}(k)

    Same values as ``torch.optim.lr_scheduler.LambdaLR`` stepped once per
    update. Here ``lr_lambda`` receives the step as an int32 ``jax`` array,
    possibly traced inside ``jit``: write it with operators and ``jax.numpy``
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
        ``lr_lambda(k)``: the factor of update ``k`` (0 on the first).

    Examples
    --------
    >>> import brainopt
    >>> import jax.numpy as jnp
    >>> sched = brainopt.schedules.LambdaLR(0.1, lambda k: jnp.minimum(1.0, (k + 1) / 4))
    >>> [round(float(sched(k)), 6) for k in range(6)]
    [0.025, 0.05, 0.075, 0.1, 0.1, 0.1]
    """

    def __init__(self, base_lr: float, lr_lambda):
        owner = type(self).__name__
        self.base_lr = c.base_lr(base_lr, owner)
        if not callable(lr_lambda):
            raise TypeError(f'{owner}: lr_lambda must be a callable of the step, got {lr_lambda!r} '
                            f'({type(lr_lambda).__name__})')
        self.lr_lambda = lr_lambda

    def __call__(self, step):
        factor = jnp.asarray(self.lr_lambda(c.as_step(step)), jnp.float32)
        return c.f32(self.base_lr) * factor

