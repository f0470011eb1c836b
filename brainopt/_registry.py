"""Which States an optimizer trains, under which paths, and how gradients map onto them.

A registered State may hold one array, a Quantity, or a pytree of them (as
``brainstate.nn.Linear`` holds ``{'weight': ..., 'bias': ...}``). Every array
in it is a *leaf* with a dotted name (``'l1.weight.bias'``); the compiled step
works on dicts keyed by these names.
"""
import difflib
import operator
from collections.abc import Mapping
from typing import Dict, List, NamedTuple, Tuple

import brainstate
import jax
import jax.numpy as jnp
import numpy as np

from . import _fastpath, units

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
    simple: bool                  # one array leaf, no unit: its leaf name is the State's name


def describe_leaves(path, state) -> Entry:
    name = path_str(path)
    flat, treedef = jax.tree_util.tree_flatten_with_path(state.value, is_leaf=units.is_quantity)
    leaves, us, shapes, dtypes = [], [], [], []
    for kp, leaf in flat:
        leaf_name = '.'.join([name] + [_key_str(k) for k in kp]) if kp else name
        mantissa, unit = units.split(leaf)
        try:
            if isinstance(mantissa, (str, bytes)) or mantissa is None:
                raise TypeError
            dtype = jnp.result_type(mantissa)
        except (TypeError, ValueError):
            raise TypeError(f'register_trainable_weights: parameter {leaf_name!r} holds {mantissa!r} '
                            f'({type(mantissa).__name__}), not an array; a trained State holds floating-point '
                            f'arrays (or Quantities of them); nothing was registered') from None
        if not jnp.issubdtype(dtype, jnp.inexact):
            raise TypeError(f'register_trainable_weights: parameter {leaf_name!r} has dtype {dtype}; '
                            f'only floating-point parameters can be trained')
        leaves.append(leaf_name)
        us.append(unit)
        shapes.append(tuple(np.shape(mantissa)))
        dtypes.append(dtype)
    simple = len(leaves) == 1 and us[0] is None and treedef.num_nodes == 1 and leaves[0] == name
    return Entry(path, name, state, treedef, tuple(leaves), tuple(us), tuple(shapes), tuple(dtypes), simple)


_ArrayImpl = type(jnp.zeros(()))
_aval = operator.attrgetter('aval')
_Tracer = jax.core.Tracer


def read_params(entries: List[Entry]) -> Dict[str, jax.Array]:
    """Current parameter mantissas, ``{leaf name: array}``."""
    return params_of(entries, _fastpath.read_values([e.state for e in entries]))


def params_of(entries: List[Entry], values) -> Dict[str, jax.Array]:
    """The parameter mantissas ``{leaf name: array}`` in the States' ``values`` (a sequence aligned with
    ``entries``)."""
    out = {}
    for e, value in zip(entries, values):
        if e.simple and type(value) is _ArrayImpl:
            out[e.name] = value
        elif len(e.leaves) == 1 and e.units[0] is None and not isinstance(value, (dict, list, tuple)):
            out[e.leaves[0]] = units.split(value)[0]
        else:
            for name, leaf in zip(e.leaves, jax.tree.leaves(value, is_leaf=units.is_quantity)):
                out[name] = units.split(leaf)[0]
    return out


def values_of(entries: List[Entry], params: Dict[str, jax.Array]) -> list:
    """The States' values (a list aligned with ``entries``) holding the parameter mantissas ``params``, each with
    its State's structure and units."""
    return [params[e.name] if e.simple else
            jax.tree.unflatten(e.treedef, [units.merge(params[n], u_) for n, u_ in zip(e.leaves, e.units)])
            for e in entries]


def write_params(entries: List[Entry], values: Dict[str, jax.Array]):
    """Write new parameter values into their States. Every caller writes the parameters before anything else, so a
    refused write (below) leaves the model and the optimizer as they were."""
    write = _fastpath.value_writer()
    # (the types, then a subclass check per distinct type: the eager path pays ~4 us at 50 tensors, not ~13)
    if write is not _fastpath.public_write and \
            any(issubclass(k, _Tracer) for k in set(map(type, values.values()))):
        # tracers while no brainstate trace runs: a raw jax.jit / grad / vmap. brainstate's own setter refuses to
        # store them (a leaked tracer would break the State for good); the fast path must not skip that check
        write = _fastpath.public_write
    for e, value in zip(entries, values_of(entries, values)):
        try:
            write(e.state, value)
        except brainstate.TraceContextError as err:
            raise brainstate.TraceContextError(
                f'the optimizer was traced by a JAX transformation that brainstate does not see (jax.jit, '
                f'jax.grad, jax.vmap, ...) and would store its tracers in the parameter {e.name!r}, breaking '
                f'it for every later use. Trace the training step with brainstate.transform.jit (or grad, vmap, '
                f'for_loop), or use brainopt.train_step; nothing was written') from err


def _leaf_diff(entry: Entry, grad) -> str:
    """Which leaves a gradient of the wrong structure lacks or adds, with a did-you-mean."""
    flat, _ = jax.tree_util.tree_flatten_with_path(grad, is_leaf=units.is_quantity)
    got = ['.'.join([entry.name] + [_key_str(k) for k in kp]) if kp else entry.name for kp, _ in flat]
    unknown = [n for n in got if n not in entry.leaves]
    missing = [n for n in entry.leaves if n not in got]
    out = ''
    if unknown:
        close = difflib.get_close_matches(unknown[0], missing or list(entry.leaves), n=1)
        out += f'; unknown leaf {unknown[0]!r}' + (f' (did you mean {close[0]!r}?)' if close else '')
    if missing:
        out += f'; no gradient for leaf(s) {missing}'
    return out


def match_grads(entries: List[Entry], by_path: Dict[Tuple, Entry], prefixes, grads,
                cache=None) -> Dict[str, jax.Array]:
    """Map a gradient dict onto leaf names, checking keys, structure, shape and dtype.

    ``grads`` has the structure that was registered: what
    ``brainstate.transform.grad`` returns for ``grad_states=model.states(...)``
    (tuple keys), or the same nesting as a dict of States that was registered.
    With a ``cache`` dict, a gradient tree whose structure was matched before
    (plain arrays of the exact shapes and dtypes) is matched by one C++
    flatten and a shape/dtype comparison per leaf.
    """
    if cache is None:
        return _match_grads(entries, by_path, prefixes, grads)
    try:
        flat, treedef = jax.tree_util.tree_flatten(grads)
    except Exception:  # noqa: BLE001 - keys jax cannot sort: the general path reports what is wrong
        return _match_grads(entries, by_path, prefixes, grads)
    key = (treedef, len(entries))
    layout = cache.get(key)
    if layout is not None:
        names, avals = layout
        try:       # (one C-level map of a plain attribute: ~3 us at 50 tensors, ~13 for shape and dtype)
            if tuple(map(_aval, flat)) == avals:
                return dict(zip(names, flat))
        except AttributeError:   # a leaf that is not an array: the general path says what is wrong
            pass
    out = _match_grads(entries, by_path, prefixes, grads)
    ids = {id(v): k for k, v in out.items()}
    names = [ids.get(id(x)) for x in flat]
    if len(names) == len(out) and None not in names and len(set(names)) == len(names) and len(cache) < 8 and \
            all(isinstance(x, jax.Array) for x in flat):       # (numpy leaves, accepted as they are, have no aval)
        cache[key] = (tuple(names), tuple(map(_aval, flat)))     # (shape, dtype and weak type of each leaf)
    return out


def known_layout(cache, treedef, flat, count) -> bool:
    """Whether gradients flattened to ``(flat, treedef)`` have a structure that :func:`match_grads` matched before
    (with this ``cache``, for ``count`` registered States) and leaves of the same shapes and dtypes: then they
    match again, leaf for leaf, without a look at their keys."""
    layout = cache.get((treedef, count))
    try:
        return layout is not None and tuple(map(_aval, flat)) == layout[1]
    except AttributeError:       # a leaf that is not an array
        return False


def _match_grads(entries, by_path, prefixes, grads):
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
                             f'expected the structure of the parameter {e.treedef}{_leaf_diff(e, g)}')
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
