"""``brainopt.ScheduleFreeSGD`` and ``brainopt.ScheduleFreeAdamW``."""
import contextlib
from typing import Tuple

import jax.numpy as jnp

from .. import _registry as registry
from .. import _validate as check
from ..optimizer import Optimizer, with_shared_options
from ..rules.schedule_free import ScheduleFreeRule
from ..transforms.lr import LearningRate
from .lamb import RuleDecayOptimizer, with_rule_decay_doc

__all__ = ['ScheduleFreeSGD', 'ScheduleFreeAdamW']


def _common(owner, momentum, warmup_steps, weight_lr_power, name='momentum'):
    beta = check.real(name, momentum, low=0., high=1., low_open=True, high_open=True, owner=owner)
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int):
        raise TypeError(f'{owner}: warmup_steps must be a non-negative integer, got {warmup_steps!r}')
    if warmup_steps < 0:
        raise ValueError(f'{owner}: warmup_steps must be a non-negative integer, got {warmup_steps!r}')
    power = check.real('weight_lr_power', weight_lr_power, low=0., owner=owner)
    return beta, warmup_steps, power


class _EvalAtX:
    """The evaluation point of a schedule-free optimizer."""

    def eval_param_values(self):
        """``{dotted parameter name: x}``, the averaged point, without touching the parameters."""
        params = registry.read_params(self._weights.entries)
        return self.rule.eval_params(params, self.slots['z'].value, self.rule.hyper()['beta'])

    @contextlib.contextmanager
    def eval_params(self):
        """Evaluate at :math:`x`, the average; the trained :math:`y` comes back on exit.

        The parameters being trained are the interpolation :math:`y`; the
        point whose loss the method guarantees is :math:`x = (y - (1-\\beta)
        z)/\\beta` (``optax.contrib.schedule_free_eval_params``). Inside the
        block the parameter States hold :math:`x`.
        """
        saved = registry.read_params(self._weights.entries)
        x = self.rule.eval_params(saved, self.slots['z'].value, self.rule.hyper()['beta'])
        registry.write_params(self._weights.entries, {k: jnp.asarray(v) for k, v in x.items()})
        try:
            yield self
        finally:
            registry.write_params(self._weights.entries, saved)


SF_DOC = r"""    The gradient is taken at :math:`y` (the parameters being trained), the
    base step moves :math:`z`, and :math:`x` averages the :math:`z` iterates
    with weights :math:`(\gamma^{\max}_t)^p` (uniform for a constant rate):

    .. math::

        \gamma_t = \eta_t \min(1, t/T_w), \qquad
        c_t = \frac{(\gamma^{\max}_t)^p}{\sum_{i\le t} (\gamma^{\max}_i)^p}, \qquad
        z_t = z_{t-1} - \gamma_t u_t, \\
        x_t = (1-c_t)\,x_{t-1} + c_t z_t, \qquad
        y_t = \beta x_t + (1-\beta) z_t
"""


def _with_sf_doc(cls):
    cls.__doc__ = cls.__doc__.replace('    {schedule_free}\n', '\n' + SF_DOC + '\n')
    return cls


@with_shared_options
@_with_sf_doc
class ScheduleFreeSGD(_EvalAtX, Optimizer):
    r"""Schedule-free SGD: momentum by interpolation and averaging, no schedule needed.
    {schedule_free}
    with :math:`u_t = g_t` (plus the coupled ``weight_decay`` term
    :math:`\lambda y`, as optax and the reference code). Evaluate at :math:`x`
    with ``with opt.eval_params(): ...``. Names and defaults are the authors'
    ``schedulefree.SGDScheduleFree`` (optax's ``b1`` is ``momentum``); the
    warm-up is theirs and Keras's, :math:`\min(1, t/T_w)` with :math:`t`
    counting from 1 (optax's warm-up schedule starts at 0 and is read one
    step apart for the step and the weight). Slots: ``z`` (one array per
    parameter), ``weight_sum`` and ``lr_max`` (one scalar per parameter, equal
    across parameters).

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1.0
        Learning rate (a schedule multiplies the warm-up).
    momentum : float, default 0.9
        :math:`\beta` in (0, 1).
    weight_decay : float, default 0.0
        Coupled L2 coefficient, at :math:`y`.
    warmup_steps : int, default 0
        :math:`T_w`; 0 disables the warm-up.
    weight_lr_power : float, default 2.0
        :math:`p`; >= 0.
    {shared_options}

    References
    ----------
    A. Defazio, X. Yang, H. Mehta, K. Mishchenko, A. Khaled, A. Cutkosky,
    "The Road Less Scheduled", NeurIPS 2024, arXiv:2405.15682.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([1.0]))
    >>> opt = brainopt.ScheduleFreeSGD(lr=0.5).register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.array([1.0])})   # z = 0.5, x = z (c_1 = 1), y = 0.9 x + 0.1 z
    >>> round(float(w.value[0]), 4)
    0.5
    >>> with opt.eval_params():
    ...     round(float(w.value[0]), 4)
    0.5
    """

    def __init__(self, lr: LearningRate = 1.0, momentum: float = 0.9, weight_decay: float = 0.0, warmup_steps: int = 0,
                 weight_lr_power: float = 2.0, **options):
        owner = type(self).__name__
        beta, warmup_steps, power = _common(owner, momentum, warmup_steps, weight_lr_power)
        rule = ScheduleFreeRule('sgd', beta, None, None, warmup_steps, power)
        super().__init__(rule, lr, weight_decay=weight_decay, **options)


@with_rule_decay_doc
@_with_sf_doc
class ScheduleFreeAdamW(_EvalAtX, RuleDecayOptimizer):
    r"""Schedule-free AdamW: Adam's second moment, interpolation and averaging, no schedule.
    {schedule_free}
    with :math:`v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2` and
    :math:`u_t = g_t/(\sqrt{v_t/(1-\beta_2^t)} + \epsilon) + \lambda y_{t-1}`:
    the decay sits in the :math:`z` step, after the normalisation
    (``weight_decay_mode='rule'``; the reference code and optax; Keras decays
    :math:`y` beside the step, ``'decoupled'``). Evaluate at :math:`x` with
    ``with opt.eval_params(): ...`` (Keras's ``finalize_variable_values``
    leaves :math:`y`). Names and defaults are the authors'
    ``schedulefree.AdamWScheduleFree`` (optax: ``b1``, ``b2``); the warm-up
    is theirs and Keras's (see :class:`ScheduleFreeSGD`); Keras averages
    uniformly (:math:`c_t = 1/t`), the same for a constant rate without
    warm-up. Slots: ``z``, ``exp_avg_sq`` (one array per parameter each),
    ``weight_sum`` and ``lr_max`` (one scalar per parameter).

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 0.0025
        Learning rate.
    betas : (float, float), default (0.9, 0.999)
        :math:`\beta` in (0, 1) and :math:`\beta_2` in [0, 1).
    eps : float, default 1e-8
        Added to the bias-corrected root; >= 0.
    weight_decay : float, default 0.0
        :math:`\lambda`, inside the :math:`z` step.
    warmup_steps : int, default 0
        :math:`T_w`; 0 disables the warm-up.
    weight_lr_power : float, default 2.0
        :math:`p`; >= 0.
    {rule_decay}
    {shared_options}

    References
    ----------
    A. Defazio et al., "The Road Less Scheduled", NeurIPS 2024,
    arXiv:2405.15682.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([1.0, 1.0]))
    >>> opt = brainopt.ScheduleFreeAdamW(lr=0.1).register_trainable_weights({'w': w})
    >>> for _ in range(3):
    ...     _ = opt.update({'w': w.value})
    >>> with opt.eval_params():                 # x, the average of the z iterates
    ...     x = [round(float(v), 4) for v in w.value]
    >>> x, [round(float(v), 4) for v in w.value]
    ([0.8061, 0.8061], [0.7968, 0.7968])
    """

    def __init__(self, lr: LearningRate = 0.0025, betas: Tuple[float, ...] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, warmup_steps: int = 0, weight_lr_power: float = 2.0, **options):
        owner = type(self).__name__
        b1, b2 = check.decay_rates('betas', betas, owner=owner)
        beta, warmup_steps, power = _common(owner, b1, warmup_steps, weight_lr_power, 'betas[0]')
        eps = check.real('eps', eps, low=0., owner=owner)
        rule = ScheduleFreeRule('adamw', beta, b2, eps, warmup_steps, power)
        super().__init__(rule, lr, weight_decay, **options)
