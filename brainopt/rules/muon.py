"""Muon (Jordan et al., 2024): momentum orthogonalised by a Newton-Schulz iteration."""
import math
import re

import jax.numpy as jnp

from .adam import AdamRule, lerp
from .base import Rule, full_like

__all__ = ['MuonRule', 'newton_schulz']


def newton_schulz(x, coefficients, steps: int, eps: float):
    r"""Approximate the orthogonal factor :math:`UV^\top` of ``x = U S V^T`` (torch.optim.Muon's iteration).

    ``x / max(||x||_F, eps)``, then ``steps`` times ``X <- a X + (b A + c A A) X``
    with ``A = X X^T``, on the wide orientation of the matrix (in float32
    here; torch runs it in bfloat16).
    """
    a, b, c = coefficients
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    x = x / jnp.maximum(jnp.sqrt(jnp.sum(x * x)), eps)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


def lr_ratio(shape, adjust_lr_fn, rms_rate=0.2):
    """How a 2-D parameter of shape ``(fan_in, fan_out)`` scales the learning rate (``rms_rate``: Keras's
    factor of ``'match_rms_adamw'``)."""
    fan_in, fan_out = shape
    if adjust_lr_fn is None or adjust_lr_fn == 'original':
        return math.sqrt(max(1.0, fan_out / fan_in))
    if adjust_lr_fn == 'match_rms_adamw':
        return rms_rate * math.sqrt(max(fan_in, fan_out))
    return 1.0


class MuonRule(Rule):
    r"""Muon for 2-D parameters, Adam for the others.

    A 2-D parameter: :math:`b_t = \mu b_{t-1} + (1-\mu) g_t` (torch's
    ``lerp``), :math:`d_t = (1-\mu) g_t + \mu b_t` with ``nesterov`` else
    :math:`b_t`, and :math:`\Delta_t = -\eta\, s\, \mathrm{NS}(d_t)` with
    :math:`s` from ``adjust_lr_fn`` (:func:`lr_ratio`). Any other parameter
    takes :class:`brainopt.rules.AdamRule`'s step with ``adam_betas``,
    ``adam_eps`` and learning rate :math:`\eta \cdot` ``adam_lr_ratio``; its
    first moment lives in ``momentum_buffer`` and its second in
    ``exp_avg_sq``, which 2-D parameters leave as a zero-size array. A 2-D
    parameter whose dotted path matches one of ``exclude_layers`` (regular
    expressions, searched) or, with ``exclude_embeddings``, contains
    ``'embedding'`` (any case) takes the Adam step too, as Keras decides.
    """

    slots = ('momentum_buffer', 'exp_avg_sq')

    lr_unit = (1, 0)        # NS(d) and Adam's m / sqrt(v) are dimensionless
    slot_units = {'momentum_buffer': (0, 1), 'exp_avg_sq': (0, 2)}

    hyper_names = ('momentum', 'eps', 'rms_rate', 'adam_lr_ratio', 'ns_coefficients')

    def __init__(self, momentum, nesterov, ns_coefficients, eps, ns_steps, adjust_lr_fn,
                 adam_betas, adam_eps, adam_lr_ratio, exclude_layers=(), exclude_embeddings=False, rms_rate=0.2,
                 keras=False):
        self.exclude_layers, self.exclude_embeddings = tuple(exclude_layers), exclude_embeddings
        self.momentum, self.nesterov = momentum, nesterov
        self.ns_coefficients, self.eps, self.ns_steps, self.adjust_lr_fn = ns_coefficients, eps, ns_steps, adjust_lr_fn
        # keras: the Adam step of the other leaves in Keras's form (AdamRule(keras=True))
        self.adam = AdamRule(adam_betas[0], adam_betas[1], adam_eps, keras=keras)
        self.adam_lr_ratio = adam_lr_ratio
        self.rms_rate = rms_rate     # the factor of adjust_lr_fn='match_rms_adamw' (Keras's rms_rate)

    @staticmethod
    def uses_muon(param):
        return jnp.ndim(param) == 2

    def excluded(self, name):
        """Whether the parameter at dotted path ``name`` takes the Adam step whatever its shape (Keras's rule)."""
        if self.exclude_embeddings and 'embedding' in name.lower():
            return True
        return any(re.search(p, name) for p in self.exclude_layers)

    def init(self, params):
        per_leaf = {n: self.init_leaf(p, self.uses_muon(p) and not self.excluded(n)) for n, p in params.items()}
        return {s: {n: per_leaf[n][s] for n in params} for s in self.slots}

    def hyper(self):
        """Muon's own hyperparameters, and the Adam step's (of the leaves that take it) under ``'adam'``."""
        return {**super().hyper(), 'adam': self.adam.hyper()}

    def update(self, grads, params, state, count, lr, hyper):
        deltas, new_state = {}, {s: {} for s in self.slots}
        for n, g in grads.items():
            muon = self.uses_muon(params[n]) and not self.excluded(n)
            deltas[n], leaf = self.update_leaf(g, params[n], {s: state[s][n] for s in self.slots}, count, lr, hyper,
                                              muon)
            for s in self.slots:
                new_state[s][n] = leaf[s]
        return deltas, new_state

    def init_leaf(self, param, muon=None):
        muon = self.uses_muon(param) if muon is None else muon
        second = jnp.zeros((0,), jnp.result_type(param)) if muon else full_like(param, 0.)
        return {'momentum_buffer': full_like(param, 0.), 'exp_avg_sq': second}

    def update_leaf(self, grad, param, slots, count, lr, hyper, muon=None):
        dt = grad.dtype
        if not (self.uses_muon(param) if muon is None else muon):
            delta, new = self.adam.update_leaf(
                grad, param, {'exp_avg': slots['momentum_buffer'], 'exp_avg_sq': slots['exp_avg_sq']},
                count, lr * hyper['adam_lr_ratio'], hyper['adam'])
            return delta, {'momentum_buffer': new['exp_avg'], 'exp_avg_sq': new['exp_avg_sq']}
        buf = lerp(slots['momentum_buffer'], grad, 1 - hyper['momentum'])
        direction = lerp(grad, buf, hyper['momentum']) if self.nesterov else buf
        ortho = newton_schulz(direction.astype(jnp.float32), hyper['ns_coefficients'], self.ns_steps, hyper['eps'])
        scale = lr * lr_ratio(param.shape, self.adjust_lr_fn, hyper['rms_rate'])
        return (-scale * ortho).astype(dt), {'momentum_buffer': buf, 'exp_avg_sq': slots['exp_avg_sq']}

    def config(self):
        return {'momentum': self.momentum, 'nesterov': self.nesterov, 'ns_coefficients': self.ns_coefficients,
                'eps': self.eps, 'ns_steps': self.ns_steps, 'adjust_lr_fn': self.adjust_lr_fn,
                'adam_betas': (self.adam.b1, self.adam.b2), 'adam_eps': self.adam.eps,
                'adam_lr_ratio': self.adam_lr_ratio,
                **({'exclude_layers': self.exclude_layers} if self.exclude_layers else {}),
                **({} if self.exclude_embeddings else {'exclude_embeddings': False}),
                **({} if self.rms_rate == 0.2 else {'rms_rate': self.rms_rate})}
