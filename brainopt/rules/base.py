"""The contract between an update rule and the engine.

An update rule is its slots plus a short function. It never sees loss
scaling, accumulation, clipping, weight decay, EMA or units: the engine
(:mod:`brainopt.optimizer`) applies those around it, once, for every rule.
"""
import contextlib
import copy
import threading
from typing import Dict, Optional, Tuple

import jax
import jax.numpy as jnp

__all__ = ['Rule', 'AfterParam']


class Rule:
    """Base class of the per-parameter update rules.

    A subclass names its ``slots`` (the accumulators its paper needs, one array
    of the parameter's shape per slot) and implements :meth:`init_leaf` and
    :meth:`update_leaf` for one parameter array. The engine maps them over
    every parameter. A rule that needs information across parameters
    overrides :meth:`init` and :meth:`update` instead.

    The rule returns the *change* of the parameter, learning rate included, so
    that each rule can keep the exact arithmetic order of its reference
    implementation.
    """

    #: names of the per-parameter accumulators, in order; a rule whose slots depend on its
    #: hyperparameters sets ``self.slots`` in ``__init__`` (SGD without momentum keeps none)
    slots: Tuple[str, ...] = ()

    #: the learning rate's dimension as exponents ``(a, b)`` of the parameter's unit P and the gradient's unit
    #: G (``lr ~ P^a G^b``) for the step to be in P: SGD ``(1, -1)``, Adam ``(1, 0)``, Adadelta ``(0, 0)``.
    #: None: not declared, and a Quantity lr is refused.
    lr_unit: Optional[Tuple[int, int]] = None

    #: each slot's true unit as exponents ``(a, b)`` of P and G (a second moment: ``(0, 2)``); slots not listed
    #: are reported without a unit
    slot_units: Dict[str, Tuple[int, int]] = {}

    #: True for a rule whose ``update`` takes ``decay=``, the step's :class:`brainopt.transforms.weight_decay.Plan`
    #: (a rule that applies weight decay itself, a rule that wraps one); the engine then passes it
    takes_decay: bool = False

    def init_leaf(self, param: jax.Array) -> Dict[str, jax.Array]:
        """Initial slot values for one parameter array."""
        return {}

    def update_leaf(self, grad, param, slots, count, lr):
        """Return ``(delta, new_slots)`` for one parameter array.

        Parameters
        ----------
        grad : jax.Array
            The processed gradient (after scaling, accumulation, clipping and
            coupled weight decay).
        param : jax.Array
            The parameter before the update.
        slots : dict
            This parameter's slot arrays, keyed by slot name.
        count : jax.Array
            Number of updates applied before this one (int32 scalar, 0 first).
        lr : jax.Array
            The learning rate of this step (float32 scalar).
        """
        raise NotImplementedError

    # -- whole-tree versions; the engine calls these ---------------------------------
    def init(self, params: Dict[str, jax.Array]) -> Dict[str, Dict[str, jax.Array]]:
        """Slots for a dict of parameter arrays, as ``{slot: {leaf_name: array}}``."""
        per_leaf = {name: self.init_leaf(p) for name, p in params.items()}
        return {s: {name: per_leaf[name][s] for name in params} for s in self.slots}

    def update(self, grads, params, state, count, lr):
        """Return ``(deltas, new_state)`` for dicts keyed by leaf name."""
        deltas, new_state = {}, {s: {} for s in self.slots}
        for name, g in grads.items():
            leaf_slots = {s: state[s][name] for s in self.slots}
            delta, leaf_slots = self.update_leaf(g, params[name], leaf_slots, count, lr)
            deltas[name] = delta
            for s in self.slots:
                new_state[s][name] = leaf_slots[s]
        return deltas, new_state

    def config(self) -> dict:
        """The rule's hyperparameters, for ``repr`` and checkpoints."""
        return {}

    def bind(self, values: Dict[str, object]) -> 'Rule':
        """A copy of this rule whose hyperparameters ``values`` (``{name: number}``) replace its own; this rule is
        unchanged. The engine runs such a copy for the parameters whose epsilon, given as a Quantity, has its own
        number in their unit."""
        clone = copy.copy(self)
        vars(clone).update(values)
        return clone

    def __repr__(self):
        args = ', '.join(f'{k}={v!r}' for k, v in self.config().items())
        return f'{type(self).__name__}({args})'


_SHARED = threading.local()


@contextlib.contextmanager
def shared_scope():
    """Within one ``rule.update`` call, :func:`shared` computes each per-step scalar once (the engine opens it)."""
    outer = getattr(_SHARED, 'memo', None)
    _SHARED.memo = {} if outer is None else outer
    try:
        yield
    finally:
        _SHARED.memo = outer


def shared(key, args, fn):
    """``fn(*args)``, computed once per update call for the same ``key`` and the same ``args`` objects.

    For the scalars that depend on the step and the learning rate but not on
    the parameter (bias corrections, a step size cast to the parameter's
    dtype): a rule computes them per leaf, and tracing 400 leaves would trace
    them 400 times (XLA merges the copies, but tracing each costs time). The
    arrays in ``args`` stay referenced while the scope is open, so their ids
    are unique. Outside a scope it simply calls ``fn``.
    """
    memo = getattr(_SHARED, 'memo', None)
    if memo is None:
        return fn(*args)
    k = (key, tuple(id(a) for a in args))
    hit = memo.get(k)
    if hit is None:
        hit = memo[k] = (fn(*args), args)
    return hit[0]


def full_like(param, value):
    """A fresh buffer (never an alias of ``param``) filled with ``value``."""
    return jnp.full(jnp.shape(param), value, dtype=jnp.result_type(param))


class AfterParam:
    """A slot value computed from the parameter's new value: ``fn(new_param)``.

    A rule returns one in place of a slot array when the slot's update must
    read the *old* value of a slot that the parameter's update also reads.
    XLA on CPU writes each output in its own loop, and a slot donated in place
    would be overwritten before the parameter's loop reads it, so XLA copies it
    (or materialises the shared term as a full-size temporary). Handing the
    slot update the new parameter (:func:`after`) makes it run second and
    read the old slot in place: no copy, no temporary.
    """

    __slots__ = ('fn',)

    def __init__(self, fn):
        self.fn = fn


def after(x, token):
    """``x``, computed once ``token`` (an array of x's shape) exists: a data dependency that never
    changes a value (it selects on the sign bit of ``token`` being above 1, never true)."""
    bits = jax.lax.bitcast_convert_type(token, jnp.uint32 if token.dtype.itemsize == 4 else
                                        {2: jnp.uint16, 8: jnp.uint64, 1: jnp.uint8}[token.dtype.itemsize])
    return jnp.where((bits >> (8 * token.dtype.itemsize - 1)) > 1, token.astype(x.dtype), x)
