"""What makes an eager ``Optimizer.update`` cheap: donated buffers and deferred reductions.

Called outside any ``jit``, an update runs one cached compiled step. Two
things keep it at the cost of its memory traffic:

* **Donation.** The step donates the optimizer's own buffers and the
  parameter arrays that the optimizer itself wrote on its previous eager
  call and that nothing else references (:class:`Ownership`): XLA then
  updates them in place instead of allocating fresh arrays (at 10M floats a
  fresh 40 MB output costs more than the update). Any other array (the one a
  model was built with, one a user assigned or still holds in a variable,
  one shared with another State, a checkpoint just loaded) is copied once
  instead, so no array that user code can reach is ever invalidated.
* **Deferred reductions.** The global gradient norm and the all-finite
  flag of :class:`brainopt.UpdateInfo` are extra passes over every
  gradient. Eagerly they are computed only if read (:class:`Deferred`),
  from the gradients the call received; inside a user's ``jit`` an unused
  output is dead code that XLA removes anyway.
"""
import operator

import brainstate
import brainunit as u
import jax
import jax.numpy as jnp

from . import _fastpath
from ._fastpath import refcount

__all__ = []


_ArrayImpl = type(jnp.zeros(()))
_Quantity = u.Quantity
_ARRAY = frozenset([_ArrayImpl])


def tree_nodes(value):
    """Every node of a State's value (its containers, Quantities and arrays), depth first."""
    out = []
    stack = [value]
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
        elif not isinstance(node, jax.Array):
            stack.extend(jax.tree_util.tree_flatten(node, is_leaf=lambda x: x is not node)[0])
    return out


def _flat(values):
    """``(nodes, layout)``: the nodes of ``values`` in one list, and what each value contributed (None when every
    value is a plain array, one node each; else, per value, None for an array, a dict's keys for a dict of arrays
    (the dict, then its arrays), or the number of nodes of any other tree)."""
    types = list(map(type, values))
    if set(types) <= _ARRAY:
        return list(values), None
    nodes, layout = [], []
    node, extend, entry = nodes.append, nodes.extend, layout.append
    for value, kind in zip(values, types):
        if kind is _ArrayImpl:
            node(value)
            entry(None)
        elif kind is dict and set(map(type, value.values())) <= _ARRAY:
            node(value)
            extend(value.values())
            entry(tuple(value))
        elif kind is _Quantity and type(value.mantissa) is _ArrayImpl:
            node(value)
            node(value.mantissa)
            entry(2)
        else:
            sub = tree_nodes(value)
            extend(sub)
            entry(len(sub))
    return nodes, tuple(layout)


def _bounds(layout):
    """Each value's (start, end) in the nodes of :func:`_flat`."""
    out, start = [], 0
    for entry in layout:
        end = start + (1 if entry is None else len(entry) + 1 if type(entry) is tuple else entry)
        out.append((start, end))
        start = end
    return out


class WrittenValues:
    """Values just written into States, with the reference count of each of their nodes (a dict, a Quantity and
    the arrays inside), to tell on the next call, for each, whether its State still holds it, node for node, and
    nothing has taken a reference to it or to a part of it since.

    The counts are only comparable when :meth:`note` and :meth:`check` count from the same places: the caller
    holds the list of values it passes (and nothing else holds them on its behalf), this record holds every node
    once, and the list of nodes here once more. Everything is done with ``map`` over builtins: at 50 parameters
    with Adam's 100 accumulators a Python loop per value costs as much as the update itself."""

    def __init__(self):
        self.forget()

    def forget(self):
        """Drop the record: the next :meth:`check` finds nothing fresh."""
        self.keys, self.nodes, self.counts, self.layout = None, (), (), None

    def note(self, keys, values, keep=None, returned=None):
        """Record ``values`` (a list, aligned with ``keys``), replacing the earlier record; ``keep[i]`` False: value
        ``i`` may be held by someone else (a hook) and is never found fresh; nor is a value with a node whose id
        is in ``returned`` (the caller's return value holds it)."""
        self.forget()
        nodes, layout = _flat(values)
        self.keys, self.nodes, self.layout = keys, tuple(nodes), layout
        counts = list(map(refcount, nodes)) if _fastpath.REFCOUNTS else [-1] * len(nodes)
        held = returned and not returned.isdisjoint(map(id, nodes))
        if held or (keep is not None and not all(keep)):
            bounds = [(i, i + 1) for i in range(len(values))] if layout is None else _bounds(layout)
            for i, (start, end) in enumerate(bounds):
                if (keep is not None and not keep[i]) or (held and not returned.isdisjoint(map(id, nodes[start:end]))):
                    counts[start:end] = [-1] * (end - start)
        self.counts = tuple(counts)

    def check(self, keys, values):
        """``(fresh, same)``: ``fresh[i]``, the value ``i`` is the one noted for ``keys[i]``, node for node, and
        none of its nodes gained a reference; ``same``, every value is the one noted, node for node (and a dict
        has the same keys), whatever its count."""
        if keys is not self.keys and keys != self.keys:
            return [False] * len(values), False
        nodes, layout = _flat(values)
        if layout != self.layout or len(nodes) != len(self.nodes):
            return [False] * len(values), False
        same = list(map(operator.is_, nodes, self.nodes))
        if not _fastpath.REFCOUNTS:
            return [False] * len(values), all(same)
        ok = list(map(operator.and_, same, map(operator.le, map(refcount, nodes), self.counts)))
        if all(ok):
            return [True] * len(values), True
        if layout is None:
            return ok, all(same)
        return [all(ok[start:end]) for start, end in _bounds(layout)], all(same)

    def unchanged(self, keys, values):
        """``check(keys, values)[0]``."""
        return self.check(keys, values)[0]


class Ownership:
    """The parameter arrays (and, for a State holding a dict or a Quantity, the value around them) that an optimizer
    wrote on its last eager call, by leaf name."""

    def __init__(self):
        self.written, self.refs, self.trees = {}, {}, WrittenValues()

    def prepare(self, params, grads, entries=()):
        """``params`` safe to donate: any array this optimizer did not write, that is
        also passed as a gradient, or that something else may have referenced since it
        was written (a user's variable, another State), is replaced by a copy: such an
        array survives the call.

        The last test counts references (:data:`brainopt._fastpath.refcount`, where
        the interpreter counts them; elsewhere every parameter is copied):
        :meth:`remember` notes how many an array had when the optimizer had just
        written it (its State, this record, the dict of new parameters); here the
        same places hold it (the dict of parameters read back instead of the dict
        written), so one more means someone else holds it. A State whose value is a
        container (``{'weight': ..., 'bias': ...}``, a Quantity) is checked node by
        node: whoever holds ``state.value`` or a part of it holds the arrays inside.
        """
        written, refs, out = self.written, self.refs, None
        grad_ids = None
        held = self._held_trees(entries) if self.trees.keys else ()
        for k, p in params.items():
            if written.get(k) is p and refcount(p) <= refs[k] and k not in held:
                if grad_ids is None:
                    grad_ids = {id(g) for g in grads.values()}
                if id(p) not in grad_ids:
                    continue
            if out is None:
                out = dict(params)
            out[k] = jnp.array(p, copy=True)
        return params if out is None else out

    @staticmethod
    def _tops(entries):
        """The container States and their values (one list holds the values: prepare and remember count alike)."""
        containers = [e for e in entries if not e.simple]
        return containers, _fastpath.read_values([e.state for e in containers])

    def _held_trees(self, entries):
        """The leaf names of container States that someone besides the optimizer may hold (or that changed)."""
        containers, tops = self._tops(entries)
        fresh = self.trees.unchanged([e.name for e in containers], tops)
        return {leaf for e, ok in zip(containers, fresh) if not ok for leaf in e.leaves}

    def remember(self, params, entries=()):
        """Note the parameter arrays just written into the States (call it after writing them)."""
        if _fastpath.REFCOUNTS and not brainstate.has_state_hooks() and \
                not any(e.state.has_hooks() for e in entries):
            self.written = dict(params)
            containers, tops = self._tops(entries)
            self.trees.note([e.name for e in containers], tops)
            del tops
            # counted after the record of the containers holds its arrays, as it still does in prepare()
            self.refs = {k: refcount(p) for k, p in params.items()}
        else:             # a hook may keep what it was given: nothing is donated next time
            self.forget()

    def forget(self):
        self.written, self.refs = {}, {}
        self.trees.forget()


class Deferred:
    """A scalar computed on first use: a jax scalar in all but its type.

    ``float()``, ``bool()``, ``int()``, numpy and jax functions, arithmetic,
    comparisons, ``repr`` and every attribute of a ``jax.Array``
    (``.item()``, ``.shape``, ``.block_until_ready()``) work on the value;
    ``value`` gives the array itself.
    """

    __slots__ = ('_fn', '_value')

    def __init__(self, fn):
        self._fn = fn
        self._value = None

    @property
    def value(self) -> jax.Array:
        if self._fn is not None:
            self._value, self._fn = self._fn(), None
        return self._value

    def __jax_array__(self):
        return self.value

    def __array__(self, dtype=None, copy=None):
        import numpy as np
        return np.asarray(self.value, dtype=dtype)

    def __getattr__(self, name):
        return getattr(self.value, name)

    def __float__(self):
        return float(self.value)

    def __int__(self):
        return int(self.value)

    def __bool__(self):
        return bool(self.value)

    def __index__(self):
        return operator.index(self.value)

    def __repr__(self):
        return repr(self.value)

    def __format__(self, spec):
        return format(self.value, spec)

    def __hash__(self):
        return id(self)


def _unwrap(x):
    return x.value if isinstance(x, Deferred) else x


def _binary(op):
    return lambda self, other: op(self.value, _unwrap(other))


def _reflected(op):
    return lambda self, other: op(_unwrap(other), self.value)


for _name in ('add', 'sub', 'mul', 'truediv', 'floordiv', 'mod', 'pow', 'and', 'or', 'xor'):
    _op = getattr(operator, _name + '_') if _name in ('and', 'or') else getattr(operator, _name)
    setattr(Deferred, f'__{_name}__', _binary(_op))
    setattr(Deferred, f'__r{_name}__', _reflected(_op))
for _name in ('lt', 'le', 'gt', 'ge', 'eq', 'ne'):
    setattr(Deferred, f'__{_name}__', _binary(getattr(operator, _name)))
for _name in ('neg', 'pos', 'abs', 'invert'):
    setattr(Deferred, f'__{_name}__', (lambda op: lambda self: op(self.value))(getattr(operator, _name)))
