r"""Keras's schedules: :class:`InverseTimeDecay` and :class:`CosineDecay` (with its linear warmup).

Names, arguments and defaults are those of ``keras.optimizers.schedules``;
``schedule(k)`` is Keras's ``schedule(k)``, and, as in Keras, the counter is
the optimizer's number of applied updates by default (``stepping='update'``).
"""

from typing import Any

import jax
import jax.numpy as jnp

from .. import _validate as check
from . import _common as c
from .base import LRScheduler, with_stepping_doc

__all__ = ['InverseTimeDecay', 'CosineDecay']


def _positive(name, value, owner):
    return check.real(name, value, low=0., low_open=True, owner=owner)


@with_stepping_doc
class InverseTimeDecay(LRScheduler):
    r"""Inverse-time decay (Keras's ``InverseTimeDecay``).

    .. math::

        \eta_k = \frac{\eta_0}{1 + \text{decay\_rate} \cdot p}, \qquad
        p = k / \text{decay\_steps} \ (\lfloor k / \text{decay\_steps} \rfloor \text{ if staircase})

    Parameters
    ----------
    initial_learning_rate : float
        :math:`\eta_0` (``>= 0``).
    decay_steps : float
        Steps per unit of :math:`p` (``> 0``).
    decay_rate : float
        Rate of the decay (``>= 0``).
    staircase : bool, default False
        Decay in stairs.
    name : str, default 'InverseTimeDecay'
        Kept for Keras compatibility (``get_config``).
    {stepping}

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.InverseTimeDecay(1.0, decay_steps=2, decay_rate=1.0)
    >>> [round(float(sched(k)), 6) for k in range(4)]
    [1.0, 0.666667, 0.5, 0.4]
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase: bool = False,
                 name: str = 'InverseTimeDecay', *, stepping: str = 'update'):
        owner = type(self).__name__
        self._init_stepping(stepping, 0)
        self.initial_learning_rate = check.real('initial_learning_rate', initial_learning_rate, low=0., owner=owner)
        self.decay_steps = _positive('decay_steps', decay_steps, owner)
        self.decay_rate = check.real('decay_rate', decay_rate, low=0., owner=owner)
        if not isinstance(staircase, bool):
            raise TypeError(f'{owner}: staircase must be a bool, got {staircase!r}')
        self.staircase = staircase
        self.name = str(name)

    @property
    def base_lr(self):
        """``initial_learning_rate``."""
        return self.initial_learning_rate

    def __call__(self, step: Any) -> jax.Array:
        t = c.as_step(step)
        if self.staircase and float(self.decay_steps).is_integer():
            p = (t // int(self.decay_steps)).astype(jnp.float32)
        else:
            p = t.astype(jnp.float32) / jnp.float32(self.decay_steps)
            p = jnp.floor(p) if self.staircase else p
        return c.f32(self.initial_learning_rate) / (1 + c.f32(self.decay_rate) * p)


@with_stepping_doc
class CosineDecay(LRScheduler):
    r"""Cosine decay, with an optional linear warmup before it (Keras's ``CosineDecay``).

    Without warmup (``warmup_target=None``):

    .. math::

        \eta_k = \eta_0 \left((1 - \alpha)\,\frac{1 + \cos(\pi \min(k, D) / D)}{2} + \alpha\right)

    With ``warmup_target`` :math:`\eta_w` and ``warmup_steps`` :math:`W`:
    :math:`\eta_k = \eta_0 + (\eta_w - \eta_0)\,k / W` for :math:`k < W`,
    then the cosine above from :math:`\eta_w` with :math:`k - W`
    (held from :math:`k = W + D` on). :math:`D` = ``decay_steps``.

    The warmup starts at ``initial_learning_rate``, as in Keras: Keras's
    usual ``CosineDecay(0.0, ..., warmup_target=lr, warmup_steps=W)`` spends
    its first step at learning rate 0 because it asks for it.

    Parameters
    ----------
    initial_learning_rate : float
        :math:`\eta_0`: the start of the cosine, or of the warmup (``>= 0``).
    decay_steps : float
        Length :math:`D` of the cosine (``> 0``).
    alpha : float, default 0.0
        Final learning rate as a fraction of the cosine's start (``>= 0``).
    name : str, default 'CosineDecay'
        Kept for Keras compatibility (``get_config``).
    warmup_target : float, optional
        Learning rate at the end of the warmup; None: no warmup.
    warmup_steps : int, default 0
        Length of the warmup (``>= 0``).
    {stepping}

    Examples
    --------
    >>> import brainopt
    >>> sched = brainopt.schedules.CosineDecay(0.1, decay_steps=4, warmup_target=1.0, warmup_steps=2)
    >>> [round(float(sched(k)), 6) for k in range(8)]
    [0.1, 0.55, 1.0, 0.853553, 0.5, 0.146447, 0.0, 0.0]
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha: float = 0.0, name: str = 'CosineDecay',
                 warmup_target=None, warmup_steps: int = 0, *, stepping: str = 'update'):
        owner = type(self).__name__
        self._init_stepping(stepping, 0)
        self.initial_learning_rate = check.real('initial_learning_rate', initial_learning_rate, low=0., owner=owner)
        self.decay_steps = _positive('decay_steps', decay_steps, owner)
        self.alpha = check.real('alpha', alpha, low=0., owner=owner)
        self.name = str(name)
        self.warmup_target = check.optional_real('warmup_target', warmup_target, low=0., owner=owner)
        self.warmup_steps = c.integer('warmup_steps', warmup_steps, low=0, owner=owner)

    @property
    def base_lr(self):
        """``initial_learning_rate``."""
        return self.initial_learning_rate

    def _cosine(self, done, peak):
        """``peak * ((1 - alpha) * c + alpha)``, ``done`` in ``[0, D]`` (float32)."""
        d = jnp.float32(self.decay_steps)
        w_start, _ = c.cos_weights(d - done, done, d)
        return c.f32(peak) * (c.f32(1 - self.alpha) * w_start + c.f32(self.alpha))

    def __call__(self, step: Any) -> jax.Array:
        t = c.as_step(step).astype(jnp.float32)
        d = jnp.float32(self.decay_steps)
        if self.warmup_target is None:
            return self._cosine(jnp.minimum(t, d), self.initial_learning_rate)
        w = self.warmup_steps
        t = jnp.minimum(t, d + w)
        cos = self._cosine(jnp.maximum(t - w, 0.), self.warmup_target)
        if w == 0:
            return cos
        up = jnp.minimum(t, w)
        warm = (c.f32(self.initial_learning_rate) * ((w - up) / jnp.float32(w))
                + c.f32(self.warmup_target) * (up / jnp.float32(w)))
        return jnp.where(t < w, warm, cos)
