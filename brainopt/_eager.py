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
import jax
import jax.numpy as jnp

from . import _fastpath
from ._fastpath import refcount

__all__ = []


_ArrayImpl = type(jnp.zeros(()))


def tree_counts(value):
    """The reference count of every node of a State's value (its containers, Quantities and arrays, depth first),
    as a tuple; a plain array's and a flat dict of arrays' without walking."""
    if type(value) is _ArrayImpl:
        return (refcount(value),)
    if type(value) is dict and all(type(v) is _ArrayImpl for v in value.values()):
        return (refcount(value), *map(refcount, value.values()))
    out = []
    stack = [value]
    while stack:
        node = stack.pop()
        out.append(refcount(node))
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
        elif not isinstance(node, jax.Array):
            stack.extend(jax.tree_util.tree_flatten(node, is_leaf=lambda x: x is not node)[0])
    return tuple(out)


def no_more_references(now, then):
    """Whether no node of a value has gained a reference (``now``, ``then``: :func:`tree_counts` of it)."""
    return len(now) == len(then) and all(map(operator.le, now, then))


class WrittenValues:
    """Values just written into States, each with the reference counts of its nodes (:func:`tree_counts`), to tell
    on the next call whether a State still holds that value and nothing has taken a reference to it, or to a part
    of it, since. :meth:`note` and :meth:`unchanged` count from the same places (the State, the caller's lists of
    values, this record, the loop here), so equal counts mean no new holder."""

    def __init__(self):
        self.records = {}

    def note(self, keys, values):
        """Record ``values`` (aligned with ``keys``), replacing every earlier record."""
        records = self.records = {k: (v, None) for k, v in zip(keys, values)}
        counts = list(map(tree_counts, values))       # after every record holds its value, as in unchanged()
        self.records = {k: (r[0], c) for (k, r), c in zip(records.items(), counts)}

    def unchanged(self, keys, values):
        """One bool per key: its State holds the value noted, and no node of it gained a reference."""
        records = self.records
        found = [records.get(k) for k in keys]
        counts = list(map(tree_counts, values))
        return [r is not None and r[0] is v and no_more_references(c, r[1])
                for r, v, c in zip(found, values, counts)]


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
        held = self._held_trees(entries) if self.trees.records else ()
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
            self.refs = {k: refcount(p) for k, p in params.items()}
            containers, tops = self._tops(entries)
            self.trees.note([e.name for e in containers], tops)
        else:             # a hook may keep what it was given: nothing is donated next time
            self.forget()

    def forget(self):
        self.written, self.refs = {}, {}
        self.trees.records = {}


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
