"""Which States an optimizer trains, under which paths, and how gradients map onto them.

A registered State may hold one array, a Quantity, or a pytree of them (as
``brainstate.nn.Linear`` holds ``{'weight': ..., 'bias': ...}``). Every array
in it is a *leaf* with a dotted name (``'l1.weight.bias'``); the compiled step
works on dicts keyed by these names.
"""
import difflib
from collections.abc import Mapping
from typing import Dict, List, NamedTuple, Tuple

import brainstate
import jax
import jax.numpy as jnp
import numpy as np

from . import units

__all__ = []


def path_str(path: Tuple) -> str:
    return '.'.join(str(p) for p in path)


def _key_str(k) -> str:
    for attr in ('key', 'idx', 'name'):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def flatten_states(tree, where='register_trainable_weights') -> Dict[Tuple, brainstate.State]:
    """``{path tuple: State}`` for a dict (tuple or str keys), nested dicts/lists, or one State."""
    out = {}

    def rec(node, path):
        if isinstance(node, brainstate.State):
            out[path] = node
        elif isinstance(node, Mapping):
            for k, v in node.items():
                rec(v, path + (tuple(k) if isinstance(k, tuple) else (k,)))
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                rec(v, path + (i,))
        else:
            raise TypeError(f'{where}: the entry at path {path_str(path)!r} is a {type(node).__name__}, '
                            f'not a brainstate.State; pass model.states(brainstate.ParamState) or a dict of States')

    rec(tree, ())
    return out


class Entry(NamedTuple):
    """One registered State and the leaves inside it."""
    path: Tuple
    name: str
    state: brainstate.State
    treedef: object
    leaves: Tuple[str, ...]       # dotted leaf names
    units: Tuple[object, ...]     # unit per leaf, or None
    shapes: Tuple[Tuple[int, ...], ...]
    dtypes: Tuple[object, ...]


def describe_leaves(path, state) -> Entry:
    name = path_str(path)
    flat, treedef = jax.tree_util.tree_flatten_with_path(state.value, is_leaf=units.is_quantity)
    leaves, us, shapes, dtypes = [], [], [], []
    for kp, leaf in flat:
        leaf_name = '.'.join([name] + [_key_str(k) for k in kp]) if kp else name
        mantissa, unit = units.split(leaf)
        dtype = jnp.result_type(mantissa)
        if not jnp.issubdtype(dtype, jnp.inexact):
            raise TypeError(f'register_trainable_weights: parameter {leaf_name!r} has dtype {dtype}; '
                            f'only floating-point parameters can be trained')
        leaves.append(leaf_name)
        us.append(unit)
        shapes.append(tuple(np.shape(mantissa)))
        dtypes.append(dtype)
    return Entry(path, name, state, treedef, tuple(leaves), tuple(us), tuple(shapes), tuple(dtypes))


def read_params(entries: List[Entry]) -> Dict[str, jax.Array]:
    """Current parameter mantissas, ``{leaf name: array}``."""
    out = {}
    for e in entries:
        for name, leaf in zip(e.leaves, jax.tree.leaves(e.state.value, is_leaf=units.is_quantity)):
            out[name] = units.split(leaf)[0]
    return out


def write_params(entries: List[Entry], values: Dict[str, jax.Array]):
    for e in entries:
        e.state.value = jax.tree.unflatten(
            e.treedef, [units.merge(values[n], u_) for n, u_ in zip(e.leaves, e.units)])


def match_grads(entries: List[Entry], by_path: Dict[Tuple, Entry], prefixes, grads) -> Dict[str, jax.Array]:
    """Map a gradient dict onto leaf names, checking keys, structure, shape and dtype.

    ``grads`` has the structure that was registered: what
    ``brainstate.transform.grad`` returns for ``grad_states=model.states(...)``
    (tuple keys), or the same nesting as a dict of States that was registered.
    """
    if not isinstance(grads, Mapping):
        raise TypeError(f'update: grads must be a dict keyed like the registered weights, '
                        f'got {type(grads).__name__}')
    found = {}

    def rec(node, path):
        if path in by_path:
            found[path] = node
            return
        if isinstance(node, Mapping) and (not path or path in prefixes):
            for k, v in node.items():
                rec(v, path + (tuple(k) if isinstance(k, tuple) else (k,)))
            return
        known = [e.name for e in entries]
        close = difflib.get_close_matches(path_str(path), known, n=1)
        hint = f'; did you mean {close[0]!r}?' if close else f'; registered paths: {known}'
        raise KeyError(f'update: gradient for unknown parameter path {path_str(path)!r}{hint}')

    rec(grads, ())
    missing = [e.name for e in entries if e.path not in found]
    if missing:
        raise KeyError(f'update: no gradient for registered parameter path(s) {missing}; '
                       f'grads must hold one entry per registered weight')
    out = {}
    for e in entries:
        g = found[e.path]
        flat, treedef = jax.tree_util.tree_flatten(g, is_leaf=units.is_quantity)
        if treedef != e.treedef:
            raise ValueError(f'update: gradient for {e.name!r} has structure {treedef}, '
                             f'expected the structure of the parameter {e.treedef}')
        for name, leaf, unit, shape, dtype in zip(e.leaves, flat, e.units, e.shapes, e.dtypes):
            # fast path: a plain array of exactly the parameter's shape and dtype
            if getattr(leaf, 'dtype', None) == dtype and not units.is_quantity(leaf) and leaf.shape == shape:
                out[name] = leaf
                continue
            if leaf is None:
                raise ValueError(f'update: gradient for {name!r} is None')
            m = units.grad_mantissa(leaf, unit, name)
            gshape = tuple(np.shape(m))
            if gshape != shape:
                raise ValueError(f'update: gradient for {name!r} has shape {gshape}, expected {shape} '
                                 f'(the parameter\'s shape; gradients are never broadcast)')
            gdtype = jnp.result_type(m)
            if not jnp.issubdtype(gdtype, jnp.inexact) or (
                    jnp.issubdtype(gdtype, jnp.complexfloating) != jnp.issubdtype(dtype, jnp.complexfloating)):
                raise TypeError(f'update: gradient for {name!r} has dtype {gdtype}, expected a floating '
                                f'dtype like the parameter\'s {dtype}')
            out[name] = m if gdtype == dtype else jnp.asarray(m, dtype)
    return out
