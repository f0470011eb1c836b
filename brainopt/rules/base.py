"""The contract between an update rule and the engine.

An update rule is its slots plus a short function. It never sees loss
scaling, accumulation, clipping, weight decay, EMA or units: the engine
(:mod:`brainopt.optimizer`) applies those around it, once, for every rule.
"""
import contextlib
import inspect
import threading
from typing import Dict, Optional, Tuple

import jax
import jax.numpy as jnp

__all__ = ['Rule', 'AfterParam', 'complement', 'complements']


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

    #: names of the numeric hyperparameters the update reads: the engine passes their values in ``hyper``
    #: (:meth:`hyper`), and the rule reads them from there, never from its own attributes (which hold the values
    #: it was constructed with, for :meth:`hyper` and :meth:`config`); structural options (``amsgrad``, ``nesterov``,
    #: a dialect's arithmetic) stay attributes
    hyper_names: Tuple[str, ...] = ()

    #: the hyperparameters (of :attr:`hyper_names`) that a compiled step reads as values: the engine keeps them,
    #: and the numbers :meth:`derived` computes from them, in the optimizer's State ``opt.hyperparams``, so a new
    #: value reaches a step compiled before without tracing it again. The update may read their Python values (the
    #: rule's attributes) only for what :meth:`structure` returns, and :meth:`init_leaf` never reads them (a new
    #: value keeps the accumulators as they are); every other name is a constant of the program
    live_names: Tuple[str, ...] = ()

    #: True for a rule whose ``update`` takes ``decay=``, the step's :class:`brainopt.transforms.weight_decay.Plan`
    #: (a rule that applies weight decay itself, a rule that wraps one); the engine then passes it
    takes_decay: bool = False

    def init_leaf(self, param: jax.Array) -> Dict[str, jax.Array]:
        """Initial slot values for one parameter array."""
        return {}

    def update_leaf(self, grad, param, slots, count, lr, hyper):
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
        hyper : dict
            The values of the rule's hyperparameters for this step, keyed by the names in :attr:`hyper_names`.
        """
        raise NotImplementedError

    # -- whole-tree versions; the engine calls these ---------------------------------
    def init(self, params: Dict[str, jax.Array]) -> Dict[str, Dict[str, jax.Array]]:
        """Slots for a dict of parameter arrays, as ``{slot: {leaf_name: array}}``."""
        per_leaf = {name: self.init_leaf(p) for name, p in params.items()}
        return {s: {name: per_leaf[name][s] for name in params} for s in self.slots}

    def update(self, grads, params, state, count, lr, hyper):
        """Return ``(deltas, new_state)`` for dicts keyed by leaf name; ``hyper`` as :meth:`update_leaf`."""
        deltas, new_state = {}, {s: {} for s in self.slots}
        for name, g in grads.items():
            leaf_slots = {s: state[s][name] for s in self.slots}
            if self._leaf_takes_hyper:
                delta, leaf_slots = self.update_leaf(g, params[name], leaf_slots, count, lr, hyper)
            else:       # a rule written before hyper existed: it reads its own attributes
                delta, leaf_slots = self.update_leaf(g, params[name], leaf_slots, count, lr)
            deltas[name] = delta
            for s in self.slots:
                new_state[s][name] = leaf_slots[s]
        return deltas, new_state

    def config(self) -> dict:
        """The rule's hyperparameters, for ``repr`` and checkpoints."""
        return {}

    def hyper(self) -> Dict[str, object]:
        """``{name: value}`` of the hyperparameters in :attr:`hyper_names`, as the rule was constructed: what the
        engine passes to :meth:`update` unless it has other values for a step."""
        return {name: getattr(self, name) for name in self.hyper_names}

    def live_values(self) -> Dict[str, float]:
        """``{name: value}`` of the :attr:`live_names`, as the rule holds them."""
        return {name: getattr(self, name) for name in self.live_names}

    def derived(self, values: Dict[str, float]) -> Dict[str, float]:
        """The numbers the update reads that are computed from the live hyperparameters ``values`` (Python
        numbers), on the host in double precision as a constant would be: ``'1-<name>'`` (:func:`complement`),
        ``'log(<name>)'`` (:func:`brainopt.rules.adam.bias_correction`), ... None by default."""
        return {}

    def structure(self, values: Dict[str, float]) -> tuple:
        """What of the live values ``values`` selects the program (a branch taken for ``momentum == 0``, torch's
        two forms of ``lerp``): a new value that changes it makes every compiled step trace again."""
        return ()

    def with_values(self, hyper: Dict[str, object], values: Dict[str, object]) -> Dict[str, object]:
        """``hyper`` (as :meth:`hyper` returns) with the hyperparameters ``values`` (``{name: number}``) replaced:
        the engine passes it for the parameters whose epsilon, given as a Quantity, has its own number in their
        unit. Neither this rule nor ``hyper`` is changed."""
        return {**hyper, **values}

    # -- rules written before ``hyper`` ---------------------------------------------------------------
    _leaf_takes_hyper = True
    _update_takes_hyper = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._leaf_takes_hyper = _takes_hyper(cls.update_leaf)
        cls._update_takes_hyper = _takes_hyper(cls.update)

    @property
    def takes_hyper(self) -> bool:
        """Whether this rule's update receives ``hyper`` (every rule of brainopt's does). A user's rule written
        with ``update_leaf(grad, param, slots, count, lr)`` still runs, reading its own attributes; it cannot take
        a hyperparameter given as a Quantity, which reaches an update only through ``hyper``."""
        return self._update_takes_hyper and (self._leaf_takes_hyper or type(self).update is not Rule.update)

    def __repr__(self):
        args = ', '.join(f'{k}={v!r}' for k, v in self.config().items())
        return f'{type(self).__name__}({args})'


def _takes_hyper(method):
    """Whether a rule's ``update`` or ``update_leaf`` has a ``hyper`` parameter."""
    try:
        return 'hyper' in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


def run_update(rule, grads, params, state, count, lr, hyper, **extra):
    """``rule.update(grads, params, state, count, lr, hyper, **extra)``; without ``hyper`` for a rule whose
    ``update`` does not take it (:attr:`Rule.takes_hyper`)."""
    if rule._update_takes_hyper:
        return rule.update(grads, params, state, count, lr, hyper, **extra)
    return rule.update(grads, params, state, count, lr, **extra)


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


def complement(hyper, name):
    """``1 - hyper[name]`` as the engine computed it on the host in double precision for a live hyperparameter
    (``hyper['1-<name>']``, :meth:`Rule.derived`), or from the constant: in float32, ``1 - b2`` for ``b2 = 0.999``
    loses 5e-5 relative, which torch's and Keras's double-precision ``1 - beta2`` do not."""
    key = f'1-{name}'
    return hyper[key] if key in hyper else 1 - hyper[name]


def complements(values, *names):
    """``{'1-<name>': 1 - value}`` for :meth:`Rule.derived`, computed in double precision."""
    return {f'1-{n}': 1 - values[n] for n in names if n in values}


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
