"""Weight decay: coupled (L2 added to the gradient) or decoupled (shrink the weights).

The one owner of weight decay. Which parameters decay is decided once, at
registration, by :func:`decay_mask`; each step, the engine gives :class:`Plan`
the optimizer's ``weight_decay_mode`` and each parameter group's coefficient of
every decaying leaf (:func:`coefficients`: the group's, or a dialect's per-leaf
one), and the plan applies the decay where the mode puts it: to the gradient,
to the weights beside the rule, to the rule's step, or handed to a rule that
decays itself. No other module reads the mode to decide how to decay.
"""
import re
from typing import Callable, Iterable, Optional, Union

import jax.numpy as jnp

__all__ = ['decay_mask', 'coefficients', 'is_zero', 'Plan', 'needs_dimensionless_lr', 'add_coupled', 'apply_decoupled',
           'proximal', 'MODES', 'DECOUPLED']

#: accepted values of ``weight_decay_mode``: ``'coupled'`` (torch.optim, braintools), ``'decoupled'`` (AdamW; the
#: rule sees the weights before the shrink), ``'decoupled_first'`` (Keras: shrink, then the rule runs on the shrunk
#: weights), ``'decoupled_unscaled'`` (brainpy 2.x: ``p - p * wd``, not scaled by the lr), ``'proximal'`` (Adan's
#: ``(p + step) / (1 + wd * lr)``)
MODES = ('coupled', 'decoupled', 'decoupled_first', 'decoupled_unscaled', 'proximal')

#: the modes that shrink the weights beside the rule
DECOUPLED = ('decoupled', 'decoupled_first', 'decoupled_unscaled')

Exclude = Optional[Union[str, Iterable[str], Callable[[str], bool]]]


def _excluded(exclude: Exclude, path: str) -> bool:
    if exclude is None:
        return False
    if callable(exclude):
        return bool(exclude(path))
    if isinstance(exclude, str):
        exclude = (exclude,)
    return any(re.search(p, path) for p in exclude)


def decay_mask(names, exclude: Exclude):
    """Leaf names that receive weight decay.

    ``exclude`` is ``None``, a regular expression (or several) searched in the
    dotted parameter path (``'bias'`` excludes ``'l1.weight.bias'``, as Keras's
    ``exclude_from_weight_decay(var_names=['bias'])`` does), or a predicate of
    the path that returns True for parameters to exclude.
    """
    return frozenset(n for n in names if not _excluded(exclude, n))


def is_zero(c):
    """Whether a coefficient is the number 0 (no decay, no operation). An array is never: an optimizer's live
    coefficient (``opt.hyperparams``) is there only while it is not zero, and may be a traced value."""
    return isinstance(c, (int, float)) and c == 0


def coefficient(weight_decay, name):
    """The coefficient of leaf ``name``: ``weight_decay`` is one number, or a dict ``{leaf name: number}``
    (an optimizer whose leaves decay differently, as Keras's Muon's AdamW leaves; a missing leaf: 0)."""
    return weight_decay.get(name, 0.0) if isinstance(weight_decay, dict) else weight_decay


def add_coupled(grads, params, weight_decay, mask):
    """L2 penalty: ``g + weight_decay * p`` (torch.optim and braintools meaning)."""
    return {k: g + coefficient(weight_decay, k) * params[k] if k in mask else g for k, g in grads.items()}


def apply_decoupled(params, weight_decay, lr, mask):
    """Shrink the weights: ``p - p * weight_decay * lr`` (Keras and AdamW meaning).

    ``lr=None``: ``p - p * weight_decay``, not scaled by the learning rate (brainpy 2.x).
    """
    out = {}
    for k, p in params.items():
        wd = coefficient(weight_decay, k)
        if k in mask and not is_zero(wd):
            factor = wd if lr is None else wd * lr
            p = p - p * jnp.asarray(factor).astype(p.dtype)
        out[k] = p
    return out


def proximal(params, deltas, weight_decay, lr, mask):
    """The proximal decay of Adan (Algorithm 1, brainpy's default): the step becomes
    ``(p + delta) / (1 + weight_decay * lr) - p``."""
    out = {}
    for k, d in deltas.items():
        if k in mask:
            p = params[k]
            d = (p + d) / (1 + jnp.asarray(coefficient(weight_decay, k) * lr).astype(p.dtype)) - p
        out[k] = d
    return out


#: the mode of a rule that applies its coefficients itself (Lamb, Novograd, Adan, Lars, ...)
IN_RULE = 'rule'


def needs_dimensionless_lr(mode) -> bool:
    """Whether decay in ``mode`` multiplies the weights by ``weight_decay * lr`` (so a Quantity lr must be
    dimensionless)."""
    return mode in ('decoupled', 'decoupled_first', 'proximal')


def coefficients(leaves, weight_decay, mask):
    """``{leaf: coefficient}`` of the leaves of ``leaves`` that decay: in ``mask`` and with a non-zero
    coefficient (``weight_decay`` is one number, or a dict per leaf)."""
    out = {}
    for k in leaves:
        if k in mask:
            c = coefficient(weight_decay, k)
            if not is_zero(c):
                out[k] = c
    return out


class Plan:
    """How one step of one parameter group applies weight decay.

    Parameters
    ----------
    mode : str
        The optimizer's ``weight_decay_mode`` (:data:`MODES`, or ``'rule'``).
    coef : dict
        ``{leaf: coefficient}`` of the leaves that decay (:func:`coefficients`).

    The engine calls, in order: :meth:`before_rule` (a decoupled shrink),
    :meth:`coupled` (the L2 gradient), the rule (with :attr:`in_rule`, the
    coefficients of a rule that decays itself), then :meth:`after_rule` (the
    proximal step). A rule that wraps another (Lookahead) reads
    :meth:`fast_base` and :meth:`proximal_divisor` to know what the engine will
    write.
    """

    __slots__ = ('mode', 'coef')

    def __init__(self, mode, coef):
        self.mode = mode if coef else None
        self.coef = coef

    @property
    def in_rule(self):
        """The coefficients handed to a rule that decays itself (``{}`` in another mode: it then decays nothing)."""
        return self.coef if self.mode == IN_RULE else {}

    def _shrink(self, params, lr):
        return apply_decoupled(params, self.coef, None if self.mode == 'decoupled_unscaled' else lr, self.coef)

    def before_rule(self, params, lr):
        """``(the weights the rule sees, the weights the rule's step is added to)``: both ``params`` unless the
        decay is decoupled (the shrunk weights; Keras's ``'decoupled_first'`` also hands them to the rule)."""
        if self.mode not in DECOUPLED:
            return params, params
        shrunk = self._shrink(params, lr)
        return (shrunk if self.mode == 'decoupled_first' else params), shrunk

    def fast_base(self, params, lr):
        """What the engine adds the rule's step to, given the weights the rule saw."""
        return self._shrink(params, lr) if self.mode in ('decoupled', 'decoupled_unscaled') else params

    def coupled(self, grads, params):
        """The gradient with the L2 term ``weight_decay * p`` (coupled mode)."""
        return add_coupled(grads, params, self.coef, self.coef) if self.mode == 'coupled' else grads

    def coupled_objective(self, value, params):
        """``value + sum_k coef_k |p_k|^2 / 2`` (coupled mode), in float32: the objective whose gradient
        :meth:`coupled` gives, for a method that reads the loss value itself (L-BFGS's line search)."""
        if self.mode != 'coupled':
            return value
        squares = [jnp.sum(jnp.square(params[k].astype(jnp.float32))) for k in self.coef]
        coefs = list(self.coef.values())
        first = coefs[0]
        if all(c is first or (isinstance(c, float) and isinstance(first, float) and c == first) for c in coefs):
            # one coefficient (a group's: one array, or equal numbers): (wd / 2) times the sum
            return value + 0.5 * coefs[0] * sum(squares[1:], squares[0])
        return value + sum(0.5 * c * sq for c, sq in zip(coefs, squares))

    def after_rule(self, params, deltas, lr):
        """The step after proximal decay (Adan): ``(p + delta) / (1 + weight_decay * lr) - p``."""
        return proximal(params, deltas, self.coef, lr, self.coef) if self.mode == 'proximal' else deltas

    def proximal_divisor(self, leaf, lr, dtype):
        """``1 + weight_decay * lr`` of a leaf whose step the engine divides (proximal mode), else None."""
        if self.mode != 'proximal' or leaf not in self.coef:
            return None
        return 1 + jnp.asarray(self.coef[leaf] * lr).astype(dtype)
