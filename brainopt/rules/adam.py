"""Adam (Kingma and Ba, 2015) and its AMSGrad variant (Reddi, Kale and Kumar, 2018)."""
import math

import jax.numpy as jnp

from .base import Rule, complement, complements, full_like, shared

__all__ = ['AdamRule']


def bias_correction(beta: float, step):
    """``1 - beta ** step`` in float32, accurate to about one ulp for ``beta`` near 1.

    Written as ``-expm1(step * log(beta))`` with ``log(beta)`` taken in double
    precision: ``1 - float32(0.999) ** t`` cancels, and loses ~1e-5 relative
    (``float32(0.999)`` alone is 1.3e-8 off); torch.optim evaluates the
    correction in double precision on the host, which this reproduces.
    """
    if beta == 0:
        return jnp.ones_like(step)
    return -jnp.expm1(step * jnp.float32(math.log(beta)))


def log_beta(beta: float) -> float:
    """``log(beta)`` in double precision, ``-inf`` for 0 (then ``-expm1(t log beta) = 1`` for every ``t >= 1``):
    what :func:`live_bias_correction` reads for a live ``beta`` (``'log(<name>)'`` of :meth:`Rule.derived`)."""
    return math.log(beta) if beta > 0 else -math.inf


def live_bias_correction(hyper, name, step):
    """:func:`bias_correction` of ``hyper[name]``: from the logarithm the engine computed on the host where the
    hyperparameter is live (``hyper['log(<name>)']``), else from the constant."""
    key = f'log({name})'
    if key in hyper:
        return -jnp.expm1(step * hyper[key])
    return bias_correction(hyper[name], step)


def beta_numbers(values, *names):
    """What :meth:`Rule.derived` gives for decay rates that a rule bias-corrects: ``'1-<name>'`` and
    ``'log(<name>)'`` of each (:func:`live_corrected`)."""
    return {**complements(values, *names), **{f'log({n})': log_beta(values[n]) for n in names if n in values}}


def live_corrected(hyper, name, count, dt):
    """:func:`corrected` of ``hyper[name]``, live or not (:func:`live_bias_correction`)."""
    return shared(('bias_correction', name, dt), (count, hyper),
                  lambda c, h: live_bias_correction(h, name, (c + 1).astype(jnp.float32)).astype(dt))


def corrected(beta: float, count, dt):
    """:func:`bias_correction` at ``t = count + 1``, cast to ``dt``: computed once per update call
    (:func:`brainopt.rules.base.shared`), not once per parameter."""
    return shared(('bias_correction', beta, dt), (count,),
                  lambda c: bias_correction(beta, (c + 1).astype(jnp.float32)).astype(dt))


def lerp(start, end, weight, small=None, rest=None):
    """``start + weight * (end - start)``, in torch's two-branch form.

    ``torch.lerp`` computes ``start + w (end - start)`` for ``|w| < 0.5`` and
    ``end - (end - start)(1 - w)`` otherwise; torch.optim's moving averages
    of the gradient use it, so the rules that follow torch do too. For a
    ``weight`` that is a traced value (a live hyperparameter), ``small`` gives
    the branch (``|w| < 0.5``, from the Python value: part of the rule's
    :meth:`~brainopt.rules.Rule.structure`) and ``rest`` the number ``1 - w``.
    """
    if small is None:
        small = abs(weight) < 0.5
    if small:
        return start + weight * (end - start)
    return end - (end - start) * (1 - weight if rest is None else rest)


class AdamRule(Rule):
    r"""The Adam update, with :math:`\epsilon` outside the root, as torch.optim.

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \\
        \theta_t = \theta_{t-1} - \frac{\eta}{1-\beta_1^t}\,
        \frac{m_t}{\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon}

    with :math:`t` = ``count + 1``. With ``amsgrad`` the root is taken of
    :math:`\hat v_t = \max(\hat v_{t-1}, v_t)` (the raw second moment, before
    bias correction, as torch.optim and Keras; optax takes the maximum of the
    bias-corrected moment). The arithmetic follows torch's single-tensor
    kernel: ``lerp`` for :math:`m`, ``(1-\beta_2) g \cdot g`` added to
    :math:`\beta_2 v`, and ``(-step_size * m) / denom``, with the bias
    corrections as accurate as torch's double-precision ones
    (:func:`bias_correction`).

    ``keras=True`` computes Keras 3's Adam instead: :math:`\epsilon` on the
    uncorrected root, :math:`\theta_t = \theta_{t-1} - \alpha_t m_t /
    (\sqrt{v_t} + \epsilon)` with :math:`\alpha_t = \eta
    \sqrt{1-\beta_2^t}/(1-\beta_1^t)` and the powers taken in float32, in
    Keras's arithmetic order (``m += (g - m)(1-\beta_1)``), so that the
    trajectory equals Keras's to round-off.
    """

    lr_unit = (1, 0)
    slot_units = {'exp_avg': (0, 1), 'exp_avg_sq': (0, 2), 'max_exp_avg_sq': (0, 2)}

    hyper_names = ('b1', 'b2', 'eps')
    live_names = ('b1', 'b2', 'eps')

    def __init__(self, b1: float, b2: float, eps: float, amsgrad: bool = False, keras: bool = False):
        self.b1 = b1
        self.b2 = b2
        self.eps = eps
        self.amsgrad = amsgrad
        self.keras = bool(keras)
        self._small = abs(1 - b1) < 0.5     # torch's lerp branch (structure): read by the update, not b1 itself
        self.slots = ('exp_avg', 'exp_avg_sq') + (('max_exp_avg_sq',) if amsgrad else ())

    def init_leaf(self, param):
        return {s: full_like(param, 0.) for s in self.slots}

    def derived(self, values):
        return beta_numbers(values, 'b1', 'b2')

    def structure(self, values):
        return (abs(1 - values['b1']) < 0.5,) if 'b1' in values else ()    # torch's lerp branch

    def update_leaf(self, grad, param, slots, count, lr, hyper):
        if self.keras:
            return self._keras_update(grad, slots, count, lr, hyper)
        b1, b2, dt = hyper['b1'], hyper['b2'], grad.dtype
        m = lerp(slots['exp_avg'], grad, complement(hyper, 'b1'), small=self._small, rest=b1)
        v = slots['exp_avg_sq'] * b2 + complement(hyper, 'b2') * grad * grad
        new = {'exp_avg': m, 'exp_avg_sq': v}
        if self.amsgrad:
            v = new['max_exp_avg_sq'] = jnp.maximum(slots['max_exp_avg_sq'], v)
        step_size, root_bc2 = shared((type(self), 'adam', dt), (count, lr, hyper),
                                     lambda c, r, h: self._corrections(c, r, dt, h))
        denom = jnp.sqrt(v) / root_bc2 + hyper['eps']
        return -step_size * m / denom, new

    @staticmethod
    def _corrections(count, lr, dt, hyper):
        """``lr / (1 - b1^t)`` and ``sqrt(1 - b2^t)`` (the same for every parameter of a dtype)."""
        step = (count + 1).astype(jnp.float32)
        return ((lr / live_bias_correction(hyper, 'b1', step)).astype(dt),
                jnp.sqrt(live_bias_correction(hyper, 'b2', step)).astype(dt))

    def _keras_update(self, grad, slots, count, lr, hyper):
        # keras/src/optimizers/adam.py, operation by operation
        b1, b2, dt = hyper['b1'], hyper['b2'], grad.dtype
        alpha = shared((type(self), 'keras', dt), (count, lr, hyper),
                       lambda c, r, h: self._keras_alpha(c, r, dt, b1, b2))
        m = slots['exp_avg'] + (grad - slots['exp_avg']) * complement(hyper, 'b1')
        v = slots['exp_avg_sq'] + (grad * grad - slots['exp_avg_sq']) * complement(hyper, 'b2')
        new = {'exp_avg': m, 'exp_avg_sq': v}
        if self.amsgrad:
            v = new['max_exp_avg_sq'] = jnp.maximum(slots['max_exp_avg_sq'], v)
        return -(m * alpha) / (jnp.sqrt(v) + hyper['eps']), new

    @staticmethod
    def _keras_alpha(count, lr, dt, b1, b2):
        t = (count + 1).astype(dt)
        b1_power, b2_power = jnp.power(jnp.asarray(b1, dt), t), jnp.power(jnp.asarray(b2, dt), t)
        return lr.astype(dt) * jnp.sqrt(1 - b2_power) / (1 - b1_power)

    def config(self):
        return {'betas': (self.b1, self.b2), 'eps': self.eps, 'amsgrad': self.amsgrad,
                **({'keras': True} if self.keras else {})}
