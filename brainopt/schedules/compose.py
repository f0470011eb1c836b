r"""Composition of schedules: :class:`SequentialLR` (one after another) and :class:`ChainedScheduler` (product).

The names and arguments are those of ``braintools.optim``; the values are
those of ``torch.optim.lr_scheduler`` stepped once per update:
``schedule(k)`` is torch's ``scheduler.get_last_lr()[0]`` after ``k`` calls
of ``scheduler.step()``. Both compositions are pure functions of the step
too: every part is evaluated and the result selected or multiplied with
``jax.numpy``, so they run inside ``jit`` with a traced step.
"""
import jax.numpy as jnp
import numpy as np

from . import _common as c
from .base import LRScheduler

__all__ = ['SequentialLR', 'ChainedScheduler']


def _check_schedulers(schedulers, owner, *, need_base_lr):
    if isinstance(schedulers, (str, bytes)) or not hasattr(schedulers, '__iter__'):
        raise TypeError(f'{owner}: schedulers must be a sequence of schedules, got {schedulers!r}')
    schedulers = list(schedulers)
    if not schedulers:
        raise ValueError(f'{owner}: schedulers must hold at least one schedule, got an empty sequence')
    for i, s in enumerate(schedulers):
        if need_base_lr:
            if not isinstance(s, LRScheduler) or not isinstance(getattr(s, 'base_lr', None), float):
                raise TypeError(f'{owner}: schedulers[{i}] must be a brainopt schedule with a base_lr '
                                f'(StepLR, LinearLR, ...), got {s!r} ({type(s).__name__})')
        elif not callable(s):
            raise TypeError(f'{owner}: schedulers[{i}] must be a schedule (a callable of the step), '
                            f'got {s!r} ({type(s).__name__})')
    return tuple(schedulers)


class SequentialLR(LRScheduler):
    r"""Run schedules one after the other, switching at the milestones.

    .. math::

        \eta_k = s_i(k - m_i), \qquad i = \#\{j : \text{milestones}_j \le k\},
        \quad m_0 = 0,\ m_i = \text{milestones}_{i-1}

    Each schedule restarts from its own step 0 at its milestone. Same values
    as ``torch.optim.lr_scheduler.SequentialLR`` stepped once per update, when
    the parts have the same ``base_lr`` (in torch they share the optimizer's
    initial learning rate; here each part keeps its own).

    Parameters
    ----------
    schedulers : sequence of schedules
        The parts, in order: brainopt schedules or any callable of the step
        (an optax schedule works).
    milestones : sequence of int
        ``len(schedulers) - 1`` strictly increasing update counts (``>= 0``):
        part ``i + 1`` starts at update ``milestones[i]``.

    Examples
    --------
    Five updates of linear warmup, then exponential decay:

    >>> import brainopt
    >>> from brainopt.schedules import LinearLR, ExponentialLR, SequentialLR
    >>> sched = SequentialLR([LinearLR(1.0, start_factor=0.2, total_iters=4), ExponentialLR(1.0, gamma=0.5)],
    ...                      milestones=[4])
    >>> [round(float(sched(k)), 6) for k in range(7)]
    [0.2, 0.4, 0.6, 0.8, 1.0, 0.5, 0.25]
    """

    def __init__(self, schedulers, milestones):
        owner = type(self).__name__
        self.schedulers = _check_schedulers(schedulers, owner, need_base_lr=False)
        self.milestones = c.milestones('milestones', milestones, owner, increasing=True)
        if len(self.milestones) != len(self.schedulers) - 1:
            raise ValueError(f'{owner}: milestones must hold len(schedulers) - 1 = {len(self.schedulers) - 1} '
                             f'update counts, got {len(self.milestones)}: {list(self.milestones)}')
        self._milestones = np.asarray(self.milestones, np.int32)
        self._offsets = (0,) + self.milestones

    @property
    def base_lr(self):
        """The first part's ``base_lr`` (None if it has none)."""
        return getattr(self.schedulers[0], 'base_lr', None)

    def __call__(self, step):
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
        return dict(schedulers=list(self.schedulers), milestones=list(self.milestones))


class ChainedScheduler(LRScheduler):
    r"""Multiply the factors of several schedules.

    .. math::

        \eta_k = \text{base\_lr}_0 \prod_i \frac{s_i(k)}{\text{base\_lr}_i}

    where :math:`s_i` are the schedules and :math:`\text{base\_lr}_i` their
    ``base_lr`` (a part with ``base_lr = 0`` contributes a factor 0). As in
    braintools, the result starts from the first part's ``base_lr``.

    Same values as ``torch.optim.lr_scheduler.ChainedScheduler`` stepped once
    per update, when the parts have the same ``base_lr`` and each changes the
    learning rate by a factor: :class:`StepLR`, :class:`MultiStepLR`,
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

    Examples
    --------
    A constant factor 0.5 for 2 updates, times an exponential decay:

    >>> import brainopt
    >>> from brainopt.schedules import ConstantLR, ExponentialLR, ChainedScheduler
    >>> sched = ChainedScheduler([ConstantLR(1.0, factor=0.5, total_iters=2), ExponentialLR(1.0, gamma=0.5)])
    >>> [round(float(sched(k)), 6) for k in range(4)]
    [0.5, 0.25, 0.25, 0.125]
    """

    def __init__(self, schedulers):
        owner = type(self).__name__
        self.schedulers = _check_schedulers(schedulers, owner, need_base_lr=True)

    @property
    def base_lr(self):
        """The first part's ``base_lr``."""
        return self.schedulers[0].base_lr

    def __call__(self, step):
        t = c.as_step(step)
        out = jnp.asarray(self.schedulers[0](t), jnp.float32)
        for s in self.schedulers[1:]:
            value = jnp.asarray(s(t), jnp.float32)
            out = out * (value / jnp.float32(s.base_lr) if s.base_lr != 0 else jnp.zeros_like(value))
        return out

    def get_config(self):
        return dict(schedulers=list(self.schedulers))
