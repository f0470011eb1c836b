r"""Adam's torch.optim relatives: Adamax, NAdam (scheduled momentum) and RAdam.

Each follows torch.optim's single-tensor kernel, with the step-dependent
scalars (bias corrections, NAdam's momentum product, RAdam's SMA length)
computed in float32 as accurately as torch computes them in double precision
on the host.
"""
import functools
import math

import jax.numpy as jnp
import numpy as np

from .adam import beta_numbers, bias_correction, corrected, lerp, live_bias_correction
from .base import Rule, complement, full_like

__all__ = ['AdamaxRule', 'NadamRule', 'RAdamRule']


class AdamaxRule(Rule):
    r"""Adamax: Adam with the infinity norm, as torch.optim.Adamax and ``optax.adamax``.

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        u_t = \max(\beta_2 u_{t-1},\ |g_t| + \epsilon), \qquad
        \theta_t = \theta_{t-1} - \frac{\eta}{1-\beta_1^t}\,\frac{m_t}{u_t}

    :math:`\epsilon` sits inside the maximum (torch, optax); with
    ``keras=True`` it is added outside, as Keras 3 computes it:
    :math:`u_t = \max(\beta_2 u_{t-1}, |g_t|)`, :math:`\theta_t =
    \theta_{t-1} - \eta m_t / ((1-\beta_1^t)(u_t + \epsilon))` with
    :math:`\beta_1^t` taken in float32. Slots: ``exp_avg`` (:math:`m`),
    ``exp_inf`` (:math:`u`).
    """
    slots = ('exp_avg', 'exp_inf')

    lr_unit = (1, 0)        # m / u is dimensionless: the step is in lr's unit
    slot_units = {'exp_avg': (0, 1), 'exp_inf': (0, 1)}
    eps_units = {'eps': (0, 1)}

    hyper_names = ('b1', 'b2', 'eps')
    live_names = ('b1', 'b2', 'eps')

    def __init__(self, b1: float, b2: float, eps: float, keras: bool = False):
        self.b1, self.b2, self.eps = b1, b2, eps
        self.keras = bool(keras)
        self._small = abs(1 - b1) < 0.5     # torch's lerp branch (structure): read by the update, not b1 itself

    def derived(self, values):
        return beta_numbers(values, 'b1')

    def structure(self, values):
        return (abs(1 - values['b1']) < 0.5,) if 'b1' in values else ()    # torch's lerp branch

    def init_leaf(self, param):
        return {s: full_like(param, 0.) for s in self.slots}

    def update_leaf(self, grad, param, slots, count, lr, hyper):
        if self.keras:          # keras/src/optimizers/adamax.py, operation by operation
            dt = grad.dtype
            m = slots['exp_avg'] + (grad - slots['exp_avg']) * complement(hyper, 'b1')
            u = jnp.maximum(slots['exp_inf'] * hyper['b2'], jnp.abs(grad))
            b1_power = jnp.power(jnp.asarray(hyper['b1'], dt), (count + 1).astype(dt))
            return -(lr.astype(dt) * m) / ((1 - b1_power) * (u + hyper['eps'])), {'exp_avg': m, 'exp_inf': u}
        m = lerp(slots['exp_avg'], grad, complement(hyper, 'b1'), small=self._small, rest=hyper['b1'])
        u = jnp.maximum(slots['exp_inf'] * hyper['b2'], jnp.abs(grad) + hyper['eps'])
        step = (count + 1).astype(jnp.float32)
        clr = (lr / live_bias_correction(hyper, 'b1', step)).astype(grad.dtype)
        return -clr * m / u, {'exp_avg': m, 'exp_inf': u}

    def config(self):
        return {'betas': (self.b1, self.b2), 'eps': self.eps, **({'keras': True} if self.keras else {})}


# -- NAdam's momentum schedule ------------------------------------------------------------------
_SERIES_TERMS = 32      # sum_{k>K} 2^-k / k < 1e-10: far below float32 round-off


class _MomentumSchedule:
    r"""Dozat's scheduled momentum :math:`\mu_t = \beta_1 (1 - \tfrac12\, 0.96^{t\psi})` and the
    product :math:`P_t = \prod_{i=1}^t \mu_i`, both as functions of the step alone.

    torch.optim.NAdam keeps :math:`P_t` in a per-parameter float32 state and
    multiplies it on every step. Here it is computed from ``t`` in closed form,
    so the rule needs no scalar slot and a parameter registered late sees the
    same product as the others:

    .. math::

        \log P_t = t \log\beta_1 + \sum_{i=1}^t \log(1 - \tfrac12 q^i)
        = t \log\beta_1 - \sum_{k\ge1} \frac{2^{-k}}{k}\,
          \frac{q^k}{1-q^k}\,(1 - q^{kt}), \qquad q = 0.96^\psi,

    a series that converges like :math:`2^{-k}` whatever :math:`q`; its
    coefficients are computed once in double precision and ``1 - q^{kt}`` as
    ``-expm1``, so :math:`\log P_t` is accurate to a few float32 ulps.
    """

    def __init__(self, b1: float, psi: float):
        self.b1, self.psi = b1, psi
        self.log_b1 = math.log(b1) if b1 > 0 else -math.inf
        self.a = psi * -math.log(0.96)                     # q = exp(-a)
        if self.a > 0:
            k: np.ndarray = np.arange(1, _SERIES_TERMS + 1, dtype=np.float64)
            self.coef = np.asarray(0.5 ** k / k * np.exp(-k * self.a) / -np.expm1(-k * self.a), np.float32)
            self.ka = np.asarray(k * self.a, np.float32)

    def log_mu(self, t):
        """``log(mu_t)`` for a float32 step ``t``."""
        return self.log_b1 + jnp.log1p(-0.5 * jnp.exp(t * jnp.float32(-self.a)))

    def mu(self, t):
        return self.b1 * (1 - 0.5 * jnp.exp(t * jnp.float32(-self.a)))

    def one_minus_mu(self, t):
        """``1 - mu_t`` as ``(1 - b1) + b1/2 q^t``: a sum of two positive terms, no cancellation."""
        return jnp.float32(1 - self.b1) + jnp.float32(0.5 * self.b1) * jnp.exp(t * jnp.float32(-self.a))

    def log_product(self, t):
        """``log(P_t)`` for float32 steps ``t >= 1`` (a scalar or an array)."""
        if self.a == 0:                                     # psi = 0: mu_t = b1 / 2 for every t
            return t * jnp.float32(self.log_b1 + math.log(0.5))
        tail = jnp.sum(self.coef * -jnp.expm1(-self.ka * jnp.asarray(t)[..., None]), axis=-1)
        return t * jnp.float32(self.log_b1) - tail


@functools.lru_cache(maxsize=64)
def _momentum_schedule(b1, psi):
    """The :class:`_MomentumSchedule` of these hyperparameters, built once (its series coefficients are numpy
    arrays, never arrays of a trace: the object outlives the trace that first asked for it)."""
    return _MomentumSchedule(b1, psi)


class NadamRule(Rule):
    r"""NAdam with Dozat's momentum schedule, as torch.optim.NAdam (and Keras Nadam at :math:`\psi = 1`).

    .. math::

        \mu_t = \beta_1\big(1 - \tfrac12\, 0.96^{t\psi}\big), \quad
        P_t = \prod_{i\le t} \mu_i, \quad
        \hat v_t = \frac{v_t}{1-\beta_2^t}, \\
        \theta_t = \theta_{t-1}
        - \eta\,\frac{1-\mu_t}{1-P_t}\,\frac{g_t}{\sqrt{\hat v_t}+\epsilon}
        - \eta\,\frac{\mu_{t+1}}{1-P_t\,\mu_{t+1}}\,\frac{m_t}{\sqrt{\hat v_t}+\epsilon}

    with :math:`m_t, v_t` Adam's moments and :math:`\psi` = ``momentum_decay``.
    :math:`P_t` comes from :class:`_MomentumSchedule` (closed form), not from a
    slot. Slots: ``exp_avg``, ``exp_avg_sq``.
    """
    slots = ('exp_avg', 'exp_avg_sq')

    lr_unit = (1, 0)
    slot_units = {'exp_avg': (0, 1), 'exp_avg_sq': (0, 2)}
    eps_units = {'eps': (0, 1)}

    hyper_names = ('b1', 'b2', 'eps', 'momentum_decay')

    def __init__(self, b1: float, b2: float, eps: float, momentum_decay: float):
        self.b1, self.b2, self.eps, self.momentum_decay = b1, b2, eps, momentum_decay

    def init_leaf(self, param):
        return {s: full_like(param, 0.) for s in self.slots}

    @staticmethod
    def coefficients(count, lr, hyper):
        """``(lr (1-mu_t)/(1-P_t), lr mu_{t+1}/(1-P_t mu_{t+1}))`` at step ``t = count + 1``, float32."""
        sch = _momentum_schedule(hyper['b1'], hyper['momentum_decay'])
        t = (count + 1).astype(jnp.float32)
        log_p = sch.log_product(t)
        mu_next = sch.mu(t + 1)
        c_grad = lr * sch.one_minus_mu(t) / -jnp.expm1(log_p)
        c_mom = lr * mu_next / -jnp.expm1(log_p + sch.log_mu(t + 1))
        return c_grad, c_mom

    def update_leaf(self, grad, param, slots, count, lr, hyper):
        b2, dt = hyper['b2'], grad.dtype
        m = lerp(slots['exp_avg'], grad, 1 - hyper['b1'])
        v = slots['exp_avg_sq'] * b2 + (1 - b2) * grad * grad
        denom = jnp.sqrt(v / corrected(b2, count, dt)) + hyper['eps']
        c_grad, c_mom = self.coefficients(count, lr, hyper)
        delta = -c_grad.astype(dt) * grad / denom + -c_mom.astype(dt) * m / denom
        return delta, {'exp_avg': m, 'exp_avg_sq': v}

    def config(self):
        return {'betas': (self.b1, self.b2), 'eps': self.eps, 'momentum_decay': self.momentum_decay}


# -- RAdam's SMA length --------------------------------------------------------------------------
def _one_minus_bernoulli(s):
    r""":math:`h(s) = 1 - s/(e^s - 1)` in float32, accurate for every :math:`s \ge 0`.

    Below 0.5 the series :math:`s/2 - s^2/12 + s^4/720 - s^6/30240 + s^8/1209600`
    (the next term is below 1e-10 relative); above, the direct form has no
    cancellation to speak of.
    """
    small = jnp.minimum(s, 0.5)
    s2 = small * small
    series = small * 0.5 - s2 * (1 / 12 - s2 * (1 / 720 - s2 * (1 / 30240 - s2 * (1 / 1209600))))
    big = jnp.maximum(s, 0.5)
    direct = 1 - big / jnp.expm1(big)
    return jnp.where(s < 0.5, series, direct)


def _radam_constants(b2):
    """``(L, h(L), rho_inf, rect_scale)`` of RAdam for ``b2`` (in double precision; None where undefined)."""
    rho_inf = 2 / (1 - b2) - 1
    L = h_L = rect_scale = None
    if b2 > 0:
        L = -math.log(b2)
        h_L = float(1 - L / math.expm1(L)) if L >= 1e-4 else L / 2 - L ** 2 / 12 + L ** 4 / 720
    if rho_inf > 5:
        rect_scale = rho_inf / ((rho_inf - 4) * (rho_inf - 2))
    return L, h_L, rho_inf, rect_scale


class RAdamRule(Rule):
    r"""RAdam (rectified Adam), as torch.optim.RAdam.

    .. math::

        \rho_\infty = \frac{2}{1-\beta_2} - 1, \qquad
        \rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t}, \qquad
        r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}, \\
        \theta_t = \theta_{t-1} - \eta\,\frac{m_t}{1-\beta_1^t}\cdot
        \begin{cases} r_t\,\dfrac{\sqrt{1-\beta_2^t}}{\sqrt{v_t}+\epsilon} & \rho_t > 5 \\
        1 & \text{otherwise} \end{cases}

    :math:`\epsilon` is added to the *uncorrected* root (torch); optax and
    braintools.optim add it to the corrected one. :math:`\rho_t` cancels badly
    in float32 (at :math:`t = 1`, :math:`\rho_\infty = 1999` minus 1998 for
    :math:`\beta_2 = 0.999`), so it is evaluated as
    :math:`\rho_t = 1 + \frac{2}{L}\,(h(tL) - h(L))` with
    :math:`L = -\log\beta_2` and :math:`h(s) = 1 - s/(e^s-1)`, which is exact
    algebra and loses nothing. Slots: ``exp_avg``, ``exp_avg_sq``.

    Units: the rectified step ``lr * m / sqrt(v)`` needs ``lr`` in the
    parameter's unit, the first, unrectified steps (:math:`\rho_t \le 5`)
    ``lr * m`` (torch's) need it in the parameter's unit squared: no one
    dimension fits both, so a Quantity ``lr`` is refused (``lr_unit`` None).
    """
    slots = ('exp_avg', 'exp_avg_sq')

    lr_unit = None
    slot_units = {'exp_avg': (0, 1), 'exp_avg_sq': (0, 2)}
    eps_units = {'eps': (0, 1)}

    hyper_names = ('b1', 'b2', 'eps')

    def __init__(self, b1: float, b2: float, eps: float):
        self.b1, self.b2, self.eps = b1, b2, eps

    @staticmethod
    def rho(step, b2):
        """The SMA length :math:`\\rho_t` at a float32 step ``t >= 1``."""
        if b2 == 0:
            return jnp.ones_like(step)
        L, h_L, _, _ = _radam_constants(b2)
        return 1 + jnp.float32(2 / L) * (_one_minus_bernoulli(step * jnp.float32(L)) - jnp.float32(h_L))

    def update_leaf(self, grad, param, slots, count, lr, hyper):
        b1, b2, dt = hyper['b1'], hyper['b2'], grad.dtype
        m = lerp(slots['exp_avg'], grad, 1 - b1)
        v = slots['exp_avg_sq'] * b2 + (1 - b2) * grad * grad
        new = {'exp_avg': m, 'exp_avg_sq': v}
        step = (count + 1).astype(jnp.float32)
        scaled = m / corrected(b1, count, dt) * lr.astype(dt)
        _, _, rho_inf, rect_scale = _radam_constants(b2)
        if rho_inf <= 5:                            # beta2 <= 2/3: never rectified
            return -scaled, new
        rho = jnp.maximum(self.rho(step, b2), 5.)
        rect = jnp.sqrt(jnp.float32(rect_scale) * (rho - 4) * (rho - 2) / rho)
        adaptive = jnp.sqrt(bias_correction(b2, step)).astype(dt) / (jnp.sqrt(v) + hyper['eps'])
        on = self.rho(step, b2) > 5
        return jnp.where(on, -(scaled * adaptive * rect.astype(dt)), -scaled), new

    def init_leaf(self, param):
        return {s: full_like(param, 0.) for s in self.slots}

    def config(self):
        return {'betas': (self.b1, self.b2), 'eps': self.eps}
