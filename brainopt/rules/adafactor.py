"""Adafactor (Shazeer and Stern, 2018): factored second moments, update clipping, relative scale."""
import jax.numpy as jnp

from .base import Rule, full_like

__all__ = ['AdafactorRule']


def _rms(x):
    return jnp.sqrt(jnp.mean(x * x))


def _nothing(param):
    """The placeholder of a slot a parameter does not use: a zero-size array."""
    return jnp.zeros((0,), jnp.result_type(param))


class AdafactorRule(Rule):
    r"""The Adafactor update, as ``optax.adafactor`` and braintools.optim's names.

    For a parameter of rank >= 2 (with ``factored``) the second moment of
    :math:`G = g^2 + \epsilon_1` is kept as its means over the last axis
    (``row_var``, shape ``p.shape[:-1]``) and over the second-to-last axis
    (``col_var``, shape ``p.shape[:-2] + p.shape[-1:]``), and
    :math:`\hat V = R\,C / \mathrm{mean}(R)`; other parameters keep the full
    moment (``variance``). A slot a parameter does not use holds a zero-size
    array. With :math:`\hat\beta_{2,t} = 1 - t^{-c}` (``decay_rate`` c):

    .. math::

        U_t = g_t / \sqrt{\hat V_t}, \qquad
        \hat U_t = U_t / \max(1, \mathrm{RMS}(U_t)/d), \qquad
        \Delta_t = \eta\, \max(\epsilon_2, \mathrm{RMS}(\theta_{t-1}))\, \hat U_t

    and with ``beta1`` the step is the moving average
    :math:`m_t = \beta_1 m_{t-1} + (1-\beta_1)\Delta_t` (slot ``exp_avg``,
    no bias correction), else :math:`\Delta_t`.

    With ``cap_lr`` (Keras's form) the rule uses :math:`\eta =
    \min(\eta_t, 1/\sqrt{t})` in place of the learning rate it is given,
    :math:`t` the update being made (1 first); the engine's decoupled weight
    decay keeps the uncapped :math:`\eta_t`, as Keras's does.
    """

    lr_unit = (0, 0)        # relative step: RMS(theta) carries the unit
    slot_units = {'row_var': (0, 2), 'col_var': (0, 2), 'variance': (0, 2), 'exp_avg': (1, 0)}
    eps_units = {'eps1': (0, 2), 'eps2': (1, 0)}

    hyper_names = ('eps1', 'eps2', 'clip_threshold', 'decay_rate', 'beta1')

    def __init__(self, eps1, eps2, clip_threshold, decay_rate, beta1, factored, cap_lr=False):
        self.cap_lr = bool(cap_lr)
        self.eps1, self.eps2 = eps1, eps2
        self.clip_threshold, self.decay_rate, self.beta1, self.factored = clip_threshold, decay_rate, beta1, factored
        self.slots = ('row_var', 'col_var', 'variance') + (('exp_avg',) if beta1 is not None else ())

    def is_factored(self, param):
        return self.factored and jnp.ndim(param) >= 2

    def init_leaf(self, param):
        shape = jnp.shape(param)
        dt = jnp.result_type(param)
        if self.is_factored(param):
            out = {'row_var': jnp.zeros(shape[:-1], dt), 'col_var': jnp.zeros(shape[:-2] + shape[-1:], dt),
                   'variance': _nothing(param)}
        else:
            out = {'row_var': _nothing(param), 'col_var': _nothing(param), 'variance': full_like(param, 0.)}
        if self.beta1 is not None:
            out['exp_avg'] = full_like(param, 0.)
        return out

    def update_leaf(self, grad, param, slots, count, lr, hyper):
        dt = grad.dtype
        t = (count + 1).astype(jnp.float32)
        beta2 = (1 - t ** -hyper['decay_rate']).astype(dt)
        if self.cap_lr:
            lr = jnp.minimum(lr, 1 / jnp.sqrt(t))
        sq = grad * grad + hyper['eps1']
        new = dict(slots)
        if self.is_factored(param):
            row = beta2 * slots['row_var'] + (1 - beta2) * jnp.mean(sq, axis=-1)
            col = beta2 * slots['col_var'] + (1 - beta2) * jnp.mean(sq, axis=-2)
            new['row_var'], new['col_var'] = row, col
            row_factor = (row / jnp.mean(row, axis=-1, keepdims=True)) ** -0.5
            u = grad * row_factor[..., None] * (col ** -0.5)[..., None, :]
        else:
            v = beta2 * slots['variance'] + (1 - beta2) * sq
            new['variance'] = v
            u = grad * v ** -0.5
        if hyper['clip_threshold'] is not None:
            u = u / jnp.maximum(1, _rms(u) / hyper['clip_threshold'])
        step = u * lr.astype(dt) * jnp.maximum(_rms(param), hyper['eps2']).astype(dt)
        if 'exp_avg' in slots:
            step = new['exp_avg'] = hyper['beta1'] * slots['exp_avg'] + (1 - hyper['beta1']) * step
        return -step, new

    def config(self):
        return {'eps': (self.eps1, self.eps2), 'clip_threshold': self.clip_threshold,
                'decay_rate': self.decay_rate, 'beta1': self.beta1, 'factored': self.factored}
        # cap_lr is a rule form (Keras's), not an option of brainopt.Adafactor: not in its repr
