r"""Schedules with memory: :class:`MultiplicativeLR` and :class:`ReduceLROnPlateau`.

Each keeps the learning rate in force in an ``lr`` State, which ``step()``
changes from its previous value (and, for :class:`ReduceLROnPlateau`, from
the metric). They are per-epoch only (``stepping='epoch'``): the optimizer
reads the ``lr`` State, and ``sched.step()`` moves it, eagerly or inside
``brainstate.transform.jit`` / ``for_loop``. The values are those of
``torch.optim.lr_scheduler``.
"""
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate as check
from . import _common as c
from .base import LRScheduler, _non_negative_count

__all__ = ['MultiplicativeLR', 'ReduceLROnPlateau']


class _Recursive(LRScheduler):
    """A per-epoch schedule whose learning rate is a State (see the module docstring)."""

    steppings = ('epoch',)

    def _init_lr_state(self, value, extra=()):
        from ..optimizer import OptimState  # here: optimizer.py may import the schedules
        owner = type(self).__name__
        self.lr = OptimState(jnp.asarray(value, jnp.float32), name=f'{owner}.lr')
        for name, v in extra:
            setattr(self, name, OptimState(v, name=f'{owner}.{name}'))
        self._state_names = ('last_epoch', 'lr') + tuple(name for name, _ in extra)

    def _states(self):
        return {k: getattr(self, k) for k in self._state_names}

    def lr_at(self, count, values):
        """The ``lr`` State's value: the learning rate that the last ``step()`` set."""
        return jnp.asarray(values['lr'], jnp.float32)

    def _check_state_value(self, name, value):
        if name == 'lr' and np.isnan(value).any():
            return 'must not be NaN (it is the learning rate in force)'
        return super()._check_state_value(name, value)


class MultiplicativeLR(_Recursive):
    r"""Multiply the learning rate by ``lr_lambda(k)`` at every ``step()``.

    .. math::

        \eta_0 = \text{base\_lr}, \qquad \eta_k = \eta_{k-1} \cdot \text{lr\_lambda}(k)

    Same values as ``torch.optim.lr_scheduler.MultiplicativeLR``. The
    learning rate is a float32 State multiplied once per ``step()``, so after
    ``k`` steps it is within about ``k`` float32 roundings of torch's float64
    product. ``sched(k)`` evaluates the product from scratch (``k``
    multiplications; for plotting).

    Parameters
    ----------
    base_lr : float
        Learning rate before the first ``step()`` (``>= 0``).
    lr_lambda : callable
        ``lr_lambda(k)``: the factor of step ``k = 1, 2, ...``, called with
        an int32 ``jax`` array, possibly traced: write it with ``jax.numpy``.
    last_epoch : int, default 0
        Initial value of the epoch counter; the learning rate starts at
        ``sched(last_epoch)``.

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.MultiplicativeLR(1.0, lambda k: 0.5)
    >>> sched.step(); sched.step()
    >>> float(sched.current_lr)
    0.25
    """

    def __init__(self, base_lr: float, lr_lambda, last_epoch: int = 0):
        owner = type(self).__name__
        self._init_stepping('epoch', last_epoch)
        self.base_lr = c.base_lr(base_lr, owner)
        if not callable(lr_lambda):
            raise TypeError(f'{owner}: lr_lambda must be a callable of the step, got {lr_lambda!r} '
                            f'({type(lr_lambda).__name__})')
        self.lr_lambda = lr_lambda
        self._init_lr_state(self(self._initial_epoch))

    @property
    def calls_user_code(self):
        return True        # lr_lambda: the user's function

    def _factor(self, k):
        return jnp.asarray(self.lr_lambda(k), jnp.float32)

    def __call__(self, step: Any) -> jax.Array:
        t = c.as_step(step)

        def one(k):
            return jax.lax.fori_loop(1, k + 1, lambda i, lr: lr * self._factor(i), c.f32(self.base_lr))

        if t.ndim == 0:
            return one(t)
        return jax.vmap(one)(t.reshape(-1)).reshape(t.shape)

    def step(self, metric=None):
        """Advance one epoch: ``lr <- lr * lr_lambda(last_epoch + 1)``."""
        super().step(metric)
        self.lr.value = self.lr.value * self._factor(self.last_epoch.value)


class ReduceLROnPlateau(_Recursive):
    r"""Divide the learning rate by ``1 / factor`` when a metric stops improving.

    After each ``step(metric)``: the metric is better than the best so far
    when ``metric < best * (1 - threshold)`` (``mode='min'``,
    ``threshold_mode='rel'``; ``best - threshold`` for ``'abs'``; ``>`` and
    ``1 + threshold`` / ``+ threshold`` for ``mode='max'``). A better metric
    becomes the best and resets the count of bad epochs; otherwise the count
    grows. During ``cooldown`` epochs after a reduction, bad epochs are not
    counted. When the count exceeds ``patience``, the learning rate becomes
    ``max(lr * factor, min_lr)`` (if that changes it by more than ``eps``),
    the count restarts and the cooldown begins.

    torch's algorithm, with the same values as
    ``torch.optim.lr_scheduler.ReduceLROnPlateau`` fed the same metrics (the
    metric and ``best`` are float32 here). braintools.optim differs in one
    point: it does not let an improving metric update ``best`` during the
    cooldown; brainopt follows torch.

    ``step(metric)`` is jnp-only, so it runs inside ``jit`` and ``for_loop``
    with a traced metric. There is no closed form of the step:
    ``sched(k)`` raises; read :attr:`current_lr`.

    Parameters
    ----------
    base_lr : float, default 1e-3
        Learning rate before any reduction (``>= 0``).
    mode : {'min', 'max'}, default 'min'
        Whether a lower or a higher metric is better.
    factor : float, default 0.1
        Factor of each reduction, in ``[0, 1)``.
    patience : int, default 10
        Bad epochs tolerated before a reduction (``>= 0``).
    threshold : float, default 1e-4
        How much better a metric must be to count (``>= 0``).
    threshold_mode : {'rel', 'abs'}, default 'rel'
        Relative or absolute ``threshold``.
    cooldown : int, default 0
        Epochs after a reduction during which bad epochs are not counted (``>= 0``).
    min_lr : float, default 0
        Lower bound of the learning rate (``>= 0``).
    eps : float, default 1e-8
        Smallest change of the learning rate that is applied (``>= 0``).
    last_epoch : int, default 0
        Initial value of the epoch counter.

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.ReduceLROnPlateau(1.0, factor=0.5, patience=1)
    >>> for loss in [1.0, 0.5, 0.6, 0.6, 0.7]:
    ...     sched.step(loss)
    >>> float(sched.current_lr)
    0.5
    """

    def __init__(self, base_lr: float = 1e-3, mode: str = 'min', factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = 'rel', cooldown: int = 0, min_lr: float = 0,
                 eps: float = 1e-8, last_epoch: int = 0):
        owner = type(self).__name__
        self._init_stepping('epoch', last_epoch)
        self.base_lr = c.base_lr(base_lr, owner)
        if mode not in ('min', 'max'):
            raise ValueError(f"{owner}: mode must be 'min' or 'max', got {mode!r}")
        self.mode = mode
        self.factor = check.real('factor', factor, low=0., high=1., high_open=True, owner=owner)
        self.patience = c.integer('patience', patience, low=0, owner=owner)
        self.threshold = check.real('threshold', threshold, low=0., owner=owner)
        if threshold_mode not in ('rel', 'abs'):
            raise ValueError(f"{owner}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.threshold_mode = threshold_mode
        self.cooldown = c.integer('cooldown', cooldown, low=0, owner=owner)
        self.min_lr = check.real('min_lr', min_lr, low=0., owner=owner)
        self.eps = check.real('eps', eps, low=0., owner=owner)
        worst = jnp.float32(jnp.inf if mode == 'min' else -jnp.inf)
        self._init_lr_state(self.base_lr, extra=[
            ('best', worst),
            ('num_bad_epochs', jnp.zeros((), jnp.int32)),
            ('cooldown_counter', jnp.zeros((), jnp.int32)),
        ])

    def __call__(self, step: Any) -> jax.Array:
        raise TypeError('ReduceLROnPlateau has no closed form of the step: its learning rate depends on the '
                        'metrics given to step(metric). Read sched.current_lr instead.')

    def _check_state_value(self, name, value):
        if name == 'lr' and not (np.isfinite(value).all() and (value >= 0).all()):
            return f'must be a finite learning rate >= 0 (as base_lr), got {value.item()}'
        if name == 'best' and np.isnan(value).any():
            return "must not be NaN (it is the best metric so far; +-inf is the 'nothing seen yet' value)"
        if name in ('num_bad_epochs', 'cooldown_counter'):
            return _non_negative_count(value)
        return super()._check_state_value(name, value)

    def _is_better(self, a, best):
        th = jnp.float32(self.threshold)
        if self.mode == 'min':
            return a < (best * (1 - th) if self.threshold_mode == 'rel' else best - th)
        return a > (best * (1 + th) if self.threshold_mode == 'rel' else best + th)

    def step(self, metric=None):
        """Advance one epoch with this epoch's ``metric`` (a number or a scalar array, possibly traced).

        A NaN metric is not an improvement (as in torch): it counts as a bad
        epoch and leaves ``best`` unchanged.

        Raises
        ------
        TypeError
            When ``metric`` is missing, or is not a real number or an array of
            a real dtype (a string, a complex number, a bool). Nothing changes.
        ValueError
            When ``metric`` is an array that is not a scalar (shape ``()``). Nothing changes.
        """
        owner = type(self).__name__
        if metric is None:
            raise TypeError(f'{owner}.step(metric) needs the metric of this epoch (e.g. the validation loss)')
        current = _metric(owner, metric)
        self.last_epoch.value = self.last_epoch.value + 1
        better = self._is_better(current, self.best.value)
        self.best.value = jnp.where(better, current, self.best.value)
        bad = jnp.where(better, 0, self.num_bad_epochs.value + 1)
        cool = self.cooldown_counter.value
        in_cooldown = cool > 0
        cool = jnp.where(in_cooldown, cool - 1, cool)
        bad = jnp.where(in_cooldown, 0, bad)
        reduce = bad > self.patience
        lr = self.lr.value
        new_lr = jnp.maximum(lr * jnp.float32(self.factor), jnp.float32(self.min_lr))
        self.lr.value = jnp.where(reduce & (lr - new_lr > jnp.float32(self.eps)), new_lr, lr)
        self.cooldown_counter.value = jnp.where(reduce, self.cooldown, cool).astype(jnp.int32)
        self.num_bad_epochs.value = jnp.where(reduce, 0, bad).astype(jnp.int32)


def _metric(owner, metric):
    """``metric`` as a float32 scalar array, after checking it is a real number or a real scalar array."""
    bad = None
    if hasattr(metric, 'dtype') and hasattr(metric, 'shape'):
        dtype = metric.dtype
        try:
            real = jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.floating)
        except TypeError:
            real = False
        if not real:
            bad = f'an array of dtype {dtype}'
    elif isinstance(metric, bool) or not isinstance(metric, numbers.Real):
        bad = f'{metric!r} ({type(metric).__name__})'
    if bad is not None:
        raise TypeError(f'{owner}.step(metric): the metric must be a real number or a scalar array of a real '
                        f'dtype, got {bad}')
    if tuple(getattr(metric, 'shape', ())) != ():
        raise ValueError(f'{owner}.step(metric): the metric must be a scalar, got shape {tuple(metric.shape)}')
    return jnp.asarray(metric, jnp.float32)
