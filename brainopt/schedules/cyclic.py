r"""Cyclical schedules: :class:`CyclicLR` (Smith, 2017) and :class:`OneCycleLR` (Smith & Topin, 2019).

The names, arguments and defaults are those of ``braintools.optim``; the
values are those of ``torch.optim.lr_scheduler``: ``schedule(k)`` is torch's
``scheduler.get_last_lr()[0]`` after ``k`` calls of ``scheduler.step()``.
torch steps these two once per batch. Here that is ``sched.step()`` after
every batch (the default ``stepping='epoch'``: the counter advances when you
call ``step()``), or ``stepping='update'``, and the optimizer counts.
Momentum cycling (torch's ``cycle_momentum``) is not done: a schedule sets
only the learning rate.
"""
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _validate as check
from . import _common as c
from .base import LRScheduler, with_stepping_doc

__all__ = ['CyclicLR', 'OneCycleLR']

_MODES = ('triangular', 'triangular2', 'exp_range')


@with_stepping_doc
class CyclicLR(LRScheduler):
    r"""Cycle the learning rate between ``base_lr`` and ``max_lr`` (cyclical learning rates).

    .. math::

        \eta_k = \text{base\_lr} + (\text{max\_lr} - \text{base\_lr})\, h(k)\, s, \qquad
        h(k) = \begin{cases} r / U & r \le U \\ (U + D - r) / D & r > U \end{cases}

    with :math:`U` = ``step_size_up``, :math:`D` = ``step_size_down``,
    :math:`r = k \bmod (U + D)`, the cycle :math:`n = \lfloor k / (U + D)
    \rfloor + 1`, and the scale :math:`s`: 1 (``'triangular'``),
    :math:`2^{-(n - 1)}` (``'triangular2'``), :math:`\gamma^k`
    (``'exp_range'``), or ``scale_fn(n)`` / ``scale_fn(k)`` (by
    ``scale_mode``). torch's formula; braintools.optim's
    ``|k / U - 2n + 1|`` is the same only when ``U = D``.

    Parameters
    ----------
    base_lr : float, default 1e-3
        Lower end of the cycle (``>= 0``).
    max_lr : float, default 1e-2
        Upper end of the cycle (``>= 0``).
    step_size_up : int, default 2000
        Steps from ``base_lr`` up to ``max_lr`` (``>= 1``).
    step_size_down : int, optional
        Steps back down (``>= 1``); default ``step_size_up``.
    mode : {'triangular', 'triangular2', 'exp_range'}, default 'triangular'
        The scale :math:`s`, when ``scale_fn`` is None.
    gamma : float, default 1.0
        Base of ``'exp_range'`` (``> 0``).
    scale_fn : callable, optional
        A custom scale, called with an int32 ``jax`` array (the cycle
        :math:`n` or the step :math:`k`); write it with ``jax.numpy``.
        Replaces ``mode``.
    scale_mode : {'cycle', 'iterations'}, default 'cycle'
        What ``scale_fn`` receives (``mode`` sets it when ``scale_fn`` is None).
    {stepping}

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.CyclicLR(0.1, 0.5, step_size_up=2, mode='triangular2')
    >>> [round(float(sched(k)), 6) for k in range(9)]
    [0.1, 0.3, 0.5, 0.3, 0.1, 0.2, 0.3, 0.2, 0.1]
    """

    def __init__(self, base_lr: float = 1e-3, max_lr: float = 1e-2, step_size_up: int = 2000,
                 step_size_down=None, mode: str = 'triangular', gamma: float = 1.0, scale_fn=None,
                 scale_mode: str = 'cycle', last_epoch: int = 0, *, stepping: str = 'epoch'):
        owner = type(self).__name__
        self._init_stepping(stepping, last_epoch)
        self.base_lr = c.base_lr(base_lr, owner)
        self.max_lr = check.real('max_lr', max_lr, low=0., owner=owner)
        self.step_size_up = c.integer('step_size_up', step_size_up, low=1, owner=owner)
        self.step_size_down = (None if step_size_down is None
                               else c.integer('step_size_down', step_size_down, low=1, owner=owner))
        if mode not in _MODES:
            raise ValueError(f"{owner}: mode must be one of {', '.join(map(repr, _MODES))}, got {mode!r}")
        self.mode = mode
        self.gamma = check.real('gamma', gamma, low=0., low_open=True, owner=owner)
        if scale_fn is not None and not callable(scale_fn):
            raise TypeError(f'{owner}: scale_fn must be None or a callable, got {scale_fn!r}')
        self.scale_fn = scale_fn
        if scale_mode not in ('cycle', 'iterations'):
            raise ValueError(f"{owner}: scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}")
        self.scale_mode = scale_mode
        self._table = c.power_table(self.gamma)

    @property
    def calls_user_code(self):
        return self.scale_fn is not None

    def __call__(self, step: Any) -> jax.Array:
        t = c.as_step(step)
        up = self.step_size_up
        down = up if self.step_size_down is None else self.step_size_down
        total = up + down
        r = t % total
        cycle = t // total + 1
        h = jnp.where(r <= up, r.astype(jnp.float32) / jnp.float32(up),
                      (total - r).astype(jnp.float32) / jnp.float32(down))
        if self.scale_fn is not None:
            arg = cycle if self.scale_mode == 'cycle' else t
            scale = jnp.asarray(self.scale_fn(arg), jnp.float32)
        elif self.mode == 'triangular':
            scale = jnp.float32(1.)
        elif self.mode == 'triangular2':
            scale = jnp.ldexp(jnp.float32(1.), -(cycle - 1))        # exact 2 ** -(n - 1)
        else:
            scale = c.int_power(self._table, t)
        return c.f32(self.base_lr) + c.f32(self.max_lr - self.base_lr) * (h * scale)


@with_stepping_doc
class OneCycleLR(LRScheduler):
    r"""The 1cycle policy: warm up to ``max_lr``, then anneal far below the start.

    With :math:`\eta_0 = \text{max\_lr} / \text{div\_factor}` and
    :math:`\eta_{min} = \eta_0 / \text{final\_div\_factor}` (torch's), and
    :math:`T` = ``total_steps``, :math:`p` = ``pct_start``, the phases are

    * :math:`\eta_0 \to \text{max\_lr}` over :math:`k \in [0, pT - 1]`,
      then :math:`\text{max\_lr} \to \eta_{min}` over :math:`[pT - 1, T - 1]`;
    * with ``three_phase``: :math:`\eta_0 \to \text{max\_lr}` over
      :math:`[0, pT - 1]`, back to :math:`\eta_0` over
      :math:`[pT - 1, 2pT - 2]`, then to :math:`\eta_{min}` over
      :math:`[2pT - 2, T - 1]`,

    each along half a cosine (``'cos'``) or a line (``'linear'``). From
    :math:`k = T - 1` on the learning rate stays :math:`\eta_{min}` (torch
    raises after ``total_steps`` steps). torch's formula: braintools.optim
    warms up over :math:`pT` steps and ends at
    ``max_lr / final_div_factor``; brainopt follows torch.

    Parameters
    ----------
    max_lr : float, default 1e-2
        Peak learning rate (``>= 0``).
    total_steps : int, optional
        Length of the cycle (``>= 2``). If None, ``epochs * steps_per_epoch``.
    epochs, steps_per_epoch : int, optional
        Give these two instead of ``total_steps``.
    pct_start : float, default 0.3
        Fraction of the cycle spent warming up, in ``(0, 1)``.
    anneal_strategy : {'cos', 'linear'}, default 'cos'
        Shape of each phase.
    div_factor : float, default 25.0
        :math:`\text{max\_lr} / \eta_0` (``> 0``).
    final_div_factor : float, default 1e4
        :math:`\eta_0 / \eta_{min}` (``> 0``).
    three_phase : bool, default False
        Use torch's three phases (keyword-only; not in braintools).
    {stepping}

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.OneCycleLR(1.0, total_steps=6, pct_start=0.5, anneal_strategy='linear',
    ...                                       div_factor=4., final_div_factor=2.5)
    >>> [round(float(sched(k)), 6) for k in range(7)]
    [0.25, 0.625, 1.0, 0.7, 0.4, 0.1, 0.1]
    """

    def __init__(self, max_lr: float = 1e-2, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start: float = 0.3, anneal_strategy: str = 'cos', div_factor: float = 25.0,
                 final_div_factor: float = 1e4, last_epoch: int = 0, *, three_phase: bool = False,
                 stepping: str = 'epoch'):
        owner = type(self).__name__
        self._init_stepping(stepping, last_epoch)
        self.max_lr = check.real('max_lr', max_lr, low=0., owner=owner)
        if total_steps is not None:
            self.total_steps = c.integer('total_steps', total_steps, low=2, owner=owner)
            for name, value in (('epochs', epochs), ('steps_per_epoch', steps_per_epoch)):
                if value is not None:       # unused beside total_steps (torch's rule), but never a bad number
                    c.integer(name, value, low=1, owner=owner)
            self.epochs = self.steps_per_epoch = None
        elif epochs is not None and steps_per_epoch is not None:
            self.epochs = c.integer('epochs', epochs, low=1, owner=owner)
            self.steps_per_epoch = c.integer('steps_per_epoch', steps_per_epoch, low=1, owner=owner)
            self.total_steps = c.integer('epochs * steps_per_epoch', self.epochs * self.steps_per_epoch,
                                         low=2, owner=owner)
        else:
            raise ValueError(f'{owner}: give total_steps, or both epochs and steps_per_epoch')
        self._given_total = total_steps
        self.pct_start = check.real('pct_start', pct_start, low=0., high=1., low_open=True, high_open=True,
                                    owner=owner)
        if anneal_strategy not in ('cos', 'linear'):
            raise ValueError(f"{owner}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        self.div_factor = check.real('div_factor', div_factor, low=0., low_open=True, owner=owner)
        self.final_div_factor = check.real('final_div_factor', final_div_factor, low=0., low_open=True,
                                           owner=owner)
        if not isinstance(three_phase, bool):
            raise TypeError(f'{owner}: three_phase must be a bool, got {three_phase!r}')
        self.three_phase = three_phase
        initial = self.max_lr / self.div_factor
        low = initial / self.final_div_factor
        T, p = self.total_steps, self.pct_start
        if three_phase:
            ends = [p * T - 1, 2 * p * T - 2, T - 1.]
            lrs = [(initial, self.max_lr), (self.max_lr, initial), (initial, low)]
        else:
            ends = [p * T - 1, T - 1.]
            lrs = [(initial, self.max_lr), (self.max_lr, low)]
        starts = [0.] + ends[:-1]
        if any(e - s <= 0 for s, e in zip(starts, ends)):
            raise ValueError(f'{owner}: pct_start={pct_start!r} with total_steps={T} leaves a phase of no steps '
                             f'(phase ends {[round(e, 6) for e in ends]}); use more steps or another pct_start')
        self._phases = [(np.float32(s), np.float32(e), a, b) for (s, e), (a, b) in zip(zip(starts, ends), lrs)]

    @property
    def base_lr(self):
        """The first learning rate, ``max_lr / div_factor``."""
        return self.max_lr / self.div_factor

    def __call__(self, step: Any) -> jax.Array:
        t = jnp.minimum(c.as_step(step), self.total_steps - 1).astype(jnp.float32)
        out = None
        # phase i holds k in (end_{i-1}, end_i]; the first also holds k = 0
        for start, end, lr_a, lr_b in reversed(self._phases):
            length = jnp.float32(end - start)
            remaining, done = jnp.float32(end) - t, t - jnp.float32(start)
            if self.anneal_strategy == 'cos':
                w_a, w_b = c.cos_weights(remaining, done, length)
            else:
                w_a, w_b = remaining / length, done / length
            value = c.f32(lr_a) * w_a + c.f32(lr_b) * w_b
            out = value if out is None else jnp.where(t <= jnp.float32(end), value, out)
        assert out is not None            # the constructor made at least one phase
        return out

    def get_config(self):
        cfg = super().get_config()
        cfg['total_steps'] = self._given_total
        return cfg
