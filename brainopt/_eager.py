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
import itertools
import operator

import brainunit as u
import jax
import jax.numpy as jnp

from . import _fastpath
from . import _registry as registry
from ._fastpath import refcount

__all__ = []


_ArrayImpl = type(jnp.zeros(()))
_Quantity = u.Quantity
_ARRAY = frozenset([_ArrayImpl])
_ARRAY_OR_DICT = frozenset([_ArrayImpl, dict])


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
            children = jax.tree_util.tree_flatten(node, is_leaf=lambda x: x is not node)[0]
            if not (len(children) == 1 and children[0] is node):     # a leaf (a numpy array, a number) ends here
                stack.extend(children)
    return out


class _Dicts(tuple):
    """The layout of :func:`_flat` for values that are arrays and flat dicts of arrays: ``(types, keys)``, each
    value's type and each dict's keys, in order."""

    __slots__ = ()


def _flat(values):
    """``(nodes, layout)``: the nodes of ``values`` in one list, and what each value contributed. Every value a plain
    array: the values themselves, layout None. Arrays and flat dicts of arrays (an optimizer's parameters and slot
    dicts): the values, then each dict's arrays, layout a :class:`_Dicts`. Else, value by value (the value's nodes
    in turn), layout per value None for an array, a dict's keys for a dict of arrays (the dict, then its arrays),
    or the number of nodes of any other tree."""
    types = list(map(type, values))
    kinds = set(types)
    if kinds <= _ARRAY:
        return list(values), None
    if kinds <= _ARRAY_OR_DICT:
        dicts = [v for v, kind in zip(values, types) if kind is dict]
        inner = list(itertools.chain.from_iterable(map(dict.values, dicts)))
        if set(map(type, inner)) <= _ARRAY:
            return list(values) + inner, _Dicts((tuple(types), tuple(map(tuple, dicts))))
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


def _spans(layout, count):
    """For each of the ``count`` values, the indices of its nodes in the list :func:`_flat` returned."""
    if layout is None:
        return [(i,) for i in range(count)]
    out = []
    if type(layout) is _Dicts:
        types, keys = layout
        start, dicts = count, iter(keys)
        for i, kind in enumerate(types):
            if kind is dict:
                end = start + len(next(dicts))
                out.append((i, *range(start, end)))
                start = end
            else:
                out.append((i,))
        return out
    start = 0
    for entry in layout:
        end = start + (1 if entry is None else len(entry) + 1 if type(entry) is tuple else entry)
        out.append(tuple(range(start, end)))
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
            for i, span in enumerate(_spans(layout, len(values))):
                if (keep is not None and not keep[i]) or \
                        (held and not returned.isdisjoint(id(nodes[j]) for j in span)):
                    for j in span:
                        counts[j] = -1
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
        return [all(ok[j] for j in span) for span in _spans(layout, len(values))], all(same)


class Ownership:
    """The parameter values that an optimizer wrote into its States on its last eager call, to tell which of them
    it may donate to the next one.

    A parameter is donated only when its State still holds exactly what the optimizer wrote, node for node (the
    array; for a State holding a dict or a Quantity, the value around the arrays too), and nothing has taken a
    reference to any of those nodes since (:class:`WrittenValues`): whoever holds ``state.value`` or a part of it
    (a user's variable, another State, a checkpoint just loaded, a gradient passed to the same call) keeps a valid
    array, because that parameter is copied once instead. Where the interpreter does not count references
    (:data:`brainopt._fastpath.refcount`), every parameter is copied."""

    def __init__(self):
        self.written = WrittenValues()
        self._entries, self._count = None, -1
        self.fast = None        # StateAccess.fast() at the last read, for the write that follows it

    def _layout(self, entries):
        """The States of ``entries`` (the optimizer's list, which registration only appends to), read and written
        through one :class:`brainopt._fastpath.StateAccess`."""
        if entries is not self._entries or len(entries) != self._count:
            self._entries, self._count = entries, len(entries)
            self.access = _fastpath.StateAccess([e.state for e in entries])
            self.names = tuple(e.name for e in entries)
            self.simple = all(e.simple for e in entries)
            self.leaf_names = tuple(n for e in entries for n in e.leaves)
            self.written.forget()
        return self.access

    def read(self, entries):
        """``(leaves, fresh, traced)``: the parameters as their States hold them, a list in the order of the leaf
        names (``leaf_names``: each entry's leaves in turn); per entry whether its value is the one this optimizer
        wrote last, which nothing else has referenced since; and whether any parameter is a tracer (read inside a
        brainstate transformation). A list, not a dict keyed by name: at 50 parameters the dict costs more than
        everything else that is read here."""
        access = self._layout(entries)
        self.fast = access.fast()       # (write() reuses it: nothing between the two runs user code)
        values = access.read(self.fast)
        fresh, _ = self.written.check(self.names, values)     # (before anything else holds the values: counted)
        if self.simple and set(map(type, values)) <= _ARRAY:
            return values, fresh, False
        leaves = list(registry.params_of(entries, values).values())
        return leaves, fresh, any(issubclass(t, jax.core.Tracer) for t in set(map(type, leaves)))

    @staticmethod
    def donatable(entries, leaves, fresh):
        """``leaves`` safe to donate: those of an entry that is not ``fresh`` are replaced by copies (in a new list).
        A parameter's array that is also passed as a gradient is never fresh: the gradients hold a reference to it."""
        if all(fresh):
            return leaves
        leaves, start = list(leaves), 0
        for e, ok in zip(entries, fresh):
            end = start + len(e.leaves)
            if not ok:
                leaves[start:end] = [jnp.array(x, copy=True) for x in leaves[start:end]]
            start = end
        return leaves

    def values(self, entries, leaves):
        """The States' new values (a list aligned with ``entries``) holding the parameters ``leaves`` (a list, as
        :meth:`read` returns; for plain arrays the list itself)."""
        self._layout(entries)
        if self.simple:
            return leaves
        return registry.values_of(entries, dict(zip(self.leaf_names, leaves)))

    def write(self, entries, values):
        """Write ``values`` (the States' new values, a list aligned with ``entries``; the caller holds no other
        reference to them) and note them."""
        plain = self._layout(entries).write(values, self.fast)
        self.fast = None
        if plain and _fastpath.REFCOUNTS:
            self.written.note(self.names, values)
        else:             # a hook may keep what it was given: nothing is donated next time
            self.written.forget()


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
