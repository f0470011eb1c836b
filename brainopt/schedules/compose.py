r"""Composition of schedules: :class:`SequentialLR` (one after another) and :class:`ChainedScheduler` (product).

The names and arguments are those of ``braintools.optim``; the values are
those of ``torch.optim.lr_scheduler``: ``schedule(k)`` is torch's
``scheduler.get_last_lr()[0]`` after ``k`` calls of ``scheduler.step()``.
Both compositions are pure functions of the step too: every part is
evaluated at the composite's counter with its closed form ``part(k)``, and
the result selected or multiplied with ``jax.numpy``, so they run inside
``jit`` with a traced step.

One counter drives every part: the composite's own (its ``stepping``). The
parts' own counters and States are not used, and are not among the
composite's States (so an optimizer's checkpoint holds only the composite's
``last_epoch``). With ``stepping=None`` the composite takes the stepping its
brainopt parts share (``'update'`` when it has only other callables, such as
optax schedules); parts that disagree are an error, so a per-update part is
never silently stepped per epoch.
"""
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import _common as c
from .base import LRScheduler

__all__ = ['SequentialLR', 'ChainedScheduler']


class _Parts:
    """The parts of a composite, in a plain object: ``brainstate.graph`` does not list their States."""

    def __init__(self, parts):
        self.parts = parts

    @property
    def call_user_code(self):
        """Whether a part is a plain callable or a schedule that calls user code."""
        return any(not isinstance(s, LRScheduler) or s.calls_user_code for s in self.parts)


def _composite_stepping(schedulers, stepping, owner):
    """The composite's stepping: the one given, or the one its brainopt parts share."""
    if stepping is not None:
        return stepping
    ours = {s.stepping for s in schedulers if isinstance(s, LRScheduler)}
    if len(ours) > 1:
        found = ', '.join(f'{type(s).__name__}: {s.stepping!r}' for s in schedulers if isinstance(s, LRScheduler))
        raise ValueError(f"{owner}: the schedulers have different stepping ({found}); one counter drives every "
                         f"part: pass stepping='epoch' or stepping='update' to {owner}")
    return ours.pop() if ours else 'update'


def _check_schedulers(schedulers, owner, *, need_base_lr):
    if isinstance(schedulers, (str, bytes)) or not hasattr(schedulers, '__iter__'):
        raise TypeError(f'{owner}: schedulers must be a sequence of schedules, got {schedulers!r}')
    schedulers = list(schedulers)
    if not schedulers:
        raise ValueError(f'{owner}: schedulers must hold at least one schedule, got an empty sequence')
    for i, s in enumerate(schedulers):
        if isinstance(s, _without_closed_form()):
            raise TypeError(f'{owner}: schedulers[{i}] ({type(s).__name__}) has no closed form of the step '
                            f'and cannot be a part of a composite')
        if need_base_lr:
            if not isinstance(s, LRScheduler) or not isinstance(getattr(s, 'base_lr_for_chain', None), float):
                raise TypeError(f'{owner}: schedulers[{i}] must be a brainopt schedule with a base_lr '
                                f'(StepLR, LinearLR, ...), got {s!r} ({type(s).__name__})')
        elif not callable(s):
            raise TypeError(f'{owner}: schedulers[{i}] must be a schedule (a callable of the step), '
                            f'got {s!r} ({type(s).__name__})')
    return tuple(schedulers)


def _without_closed_form():
    from .recursive import ReduceLROnPlateau
    return ReduceLROnPlateau


class SequentialLR(LRScheduler):
    r"""Run schedules one after the other, switching at the milestones.

    .. math::

        \eta_k = s_i(k - m_i), \qquad i = \#\{j : \text{milestones}_j \le k\},
        \quad m_0 = 0,\ m_i = \text{milestones}_{i-1}

    Each schedule restarts from its own step 0 at its milestone. Same values
    as ``torch.optim.lr_scheduler.SequentialLR``, when
    the parts have the same ``base_lr`` (in torch they share the optimizer's
    initial learning rate; here each part keeps its own).

    Parameters
    ----------
    schedulers : sequence of schedules
        The parts, in order: brainopt schedules or any callable of the step
        (an optax schedule works).
    milestones : sequence of int
        ``len(schedulers) - 1`` strictly increasing counter values (``>= 0``):
        part ``i + 1`` starts at ``k = milestones[i]``.
    last_epoch : int, default 0
        Initial value of the epoch counter (with ``stepping='epoch'``).
    stepping : {'epoch', 'update'}, optional
        What the counter that drives every part is: ``'epoch'``, the
        composite's ``last_epoch`` State advanced by ``sched.step()``;
        ``'update'``, the optimizer's applied updates. Default: the stepping
        that the brainopt parts share (``'epoch'`` for parts built with
        their defaults), or ``'update'`` when there are none.

    Examples
    --------
    Four epochs of linear warmup, then exponential decay:

    >>> import brainopt
    >>> from brainopt.schedules import LinearLR, ExponentialLR, SequentialLR
    >>> sched = SequentialLR([LinearLR(1.0, start_factor=0.2, total_iters=4), ExponentialLR(1.0, gamma=0.5)],
    ...                      milestones=[4])
    >>> [round(float(sched(k)), 6) for k in range(7)]
    [0.2, 0.4, 0.6, 0.8, 1.0, 0.5, 0.25]
    >>> for epoch in range(5):
    ...     sched.step()
    >>> float(sched.current_lr)
    0.5
    """

    def __init__(self, schedulers, milestones, last_epoch: int = 0, *, stepping=None):
        owner = type(self).__name__
        parts = _check_schedulers(schedulers, owner, need_base_lr=False)
        self._init_stepping(_composite_stepping(parts, stepping, owner), last_epoch)
        self._parts = _Parts(parts)
        self.milestones = c.milestones('milestones', milestones, owner, increasing=True)
        if len(self.milestones) != len(self.schedulers) - 1:
            raise ValueError(f'{owner}: milestones must hold len(schedulers) - 1 = {len(self.schedulers) - 1} '
                             f'update counts, got {len(self.milestones)}: {list(self.milestones)}')
        self._milestones = np.asarray(self.milestones, np.int32)
        self._offsets = (0,) + self.milestones

    @property
    def schedulers(self):
        """The parts, in order."""
        return self._parts.parts

    @property
    def calls_user_code(self):
        return self._parts.call_user_code

    @property
    def base_lr(self):
        """The first part's ``base_lr`` (None if it has none)."""
        return getattr(self.schedulers[0], 'base_lr', None)

    def __call__(self, step: Any) -> jax.Array:
        t = c.as_step(step)
        if not self.milestones:
            return jnp.asarray(self.schedulers[0](t), jnp.float32)
        part = jnp.sum(t[..., None] >= self._milestones, axis=-1)   # bisect_right(milestones, k)
        values = [jnp.asarray(s(jnp.maximum(t - off, 0)), jnp.float32)
                  for s, off in zip(self.schedulers, self._offsets)]
        out = values[-1]
        for i in range(len(values) - 2, -1, -1):
            out = jnp.where(part == i, values[i], out)
        return out

    def get_config(self):
        return dict(schedulers=list(self.schedulers), milestones=list(self.milestones),
                    last_epoch=self._initial_epoch, stepping=self.stepping)


class ChainedScheduler(LRScheduler):
    r"""Multiply the factors of several schedules.

    .. math::

        \eta_k = \text{base\_lr}_0 \prod_i \frac{s_i(k)}{\text{base\_lr}_i}

    where :math:`s_i` are the schedules and :math:`\text{base\_lr}_i` their
    ``base_lr`` (a part with ``base_lr = 0`` contributes a factor 0). As in
    braintools, the result starts from the first part's ``base_lr``.

    Same values as ``torch.optim.lr_scheduler.ChainedScheduler``, when the
    parts have the same ``base_lr`` and each changes the learning rate by a
    factor: :class:`StepLR`, :class:`MultiStepLR`,
    :class:`ExponentialLR`, :class:`PolynomialLR`, :class:`LinearLR`,
    :class:`ConstantLR`, and :class:`CosineAnnealingLR` with ``eta_min=0``
    up to update ``T_max``. (torch's ``LambdaLR`` and
    ``CosineAnnealingWarmRestarts`` overwrite the learning rate, and its
    ``CosineAnnealingLR`` shifts it when ``eta_min > 0`` and adds to it one
    update after each minimum, instead of scaling it; torch's chain of those
    depends on their order. Here it is always the product above.)

    Parameters
    ----------
    schedulers : sequence of brainopt schedules
        The parts; each must have a ``base_lr`` (any schedule of this
        package, or a :class:`SequentialLR` whose first part has one).
    stepping : {'epoch', 'update'}, optional
        What the counter that drives every part is (see
        :class:`SequentialLR`). Default: the stepping the parts share.

    Examples
    --------
    A constant factor 0.5 for 2 updates, times an exponential decay:

    >>> import brainopt
    >>> from brainopt.schedules import ConstantLR, ExponentialLR, ChainedScheduler
    >>> sched = ChainedScheduler([ConstantLR(1.0, factor=0.5, total_iters=2), ExponentialLR(1.0, gamma=0.5)])
    >>> [round(float(sched(k)), 6) for k in range(4)]
    [0.5, 0.25, 0.25, 0.125]
    """

    def __init__(self, schedulers, *, stepping=None):
        owner = type(self).__name__
        parts = _check_schedulers(schedulers, owner, need_base_lr=True)
        self._init_stepping(_composite_stepping(parts, stepping, owner), 0)
        self._parts = _Parts(parts)

    @property
    def schedulers(self):
        """The parts."""
        return self._parts.parts

    @property
    def calls_user_code(self):
        return self._parts.call_user_code

    @property
    def base_lr(self):
        """The first part's ``base_lr``."""
        return self.schedulers[0].base_lr_for_chain

    def __call__(self, step: Any) -> jax.Array:
        t = c.as_step(step)
        out = jnp.asarray(self.schedulers[0](t), jnp.float32)
        for s in self.schedulers[1:]:
            value = jnp.asarray(s(t), jnp.float32)
            base = s.base_lr_for_chain
            out = out * (value / jnp.float32(base) if base != 0 else jnp.zeros_like(value))
        return out

    def get_config(self):
        return dict(schedulers=list(self.schedulers), stepping=self.stepping)
