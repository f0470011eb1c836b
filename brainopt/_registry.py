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


def _fast_access(kind):
    """A predicate ``plain(state)``: True when reading (``kind='read'``) or writing ``state.value``
    would do nothing but get or set ``_value``: an ordinary State, no brainstate trace running, no
    hook registered on it, no hook of that kind registered globally. Returns None when no State qualifies.

    ``State.value`` costs about 3 us to read and 20 us to write (trace records,
    tracer and tree checks, hook dispatch); outside every trace and without
    hooks those steps have no effect, so the eager update skips them. Anything
    unusual (a State subclass with its own storage, a hook, an active trace, a
    brainstate without these attributes) takes the public ``state.value``.
    """
    if _INTERNALS is None:
        return None
    trace_context, global_hooks, invalidated, classes = _INTERNALS
    names = ('read',) if kind == 'read' else ('write_before', 'write_after')
    if trace_context.state_stack or any(global_hooks.instance().has_hooks(n) for n in names):
        return None

    def plain(state):
        d = vars(state)
        # the hook manager's own flag: set while any hook of any kind is registered on this State
        return (type(state) in classes and not d['_hooks_manager']._has_hooks
                and not isinstance(d.get('_value', invalidated), invalidated))
    return plain


def _find_internals():
    try:        # brainstate internals that the fast paths rely on; without them the public API is used
        from brainstate._state import TRACE_CONTEXT, _InvalidatedTraceValue
        from brainstate._state_global_hooks import GlobalHookRegistry
        base = brainstate.State
        classes = {c for c in (brainstate.State, brainstate.ParamState, brainstate.LongTermState,
                               brainstate.ShortTermState, brainstate.HiddenState)
                   if c.value is base.value and c._read_value is base._read_value
                   and c._write_value is base._write_value}
        probe = brainstate.ParamState(jnp.zeros(()))
        if not {'_value', '_hooks_manager'} <= set(vars(probe)) or probe.hooks._has_hooks is not False:
            return None
        probe.register_hook('read', lambda ctx: None)
        if probe.hooks._has_hooks is not True:          # the flag must follow registration
            return None
        return TRACE_CONTEXT, GlobalHookRegistry, _InvalidatedTraceValue, frozenset(classes)
    except (ImportError, AttributeError, TypeError):  # pragma: no cover - another brainstate
        return None


_INTERNALS = _find_internals()
_ArrayImpl = type(jnp.zeros(()))
_Tracer = jax.core.Tracer


def read_params(entries: List[Entry]) -> Dict[str, jax.Array]:
    """Current parameter mantissas, ``{leaf name: array}``."""
    out = {}
    plain = _fast_access('read')
    for e in entries:
        state = e.state
        value = vars(state)['_value'] if plain is not None and plain(state) else state.value
        if e.simple and type(value) is _ArrayImpl:
            out[e.name] = value
        elif len(e.leaves) == 1 and e.units[0] is None and not isinstance(value, (dict, list, tuple)):
            out[e.leaves[0]] = units.split(value)[0]
        else:
            for name, leaf in zip(e.leaves, jax.tree.leaves(value, is_leaf=units.is_quantity)):
                out[name] = units.split(leaf)[0]
    return out


def write_params(entries: List[Entry], values: Dict[str, jax.Array]):
    """Write new parameter values into their States. Every caller writes the parameters before anything else, so a
    refused write (below) leaves the model and the optimizer as they were."""
    plain = _fast_access('write')
    # (the types, then a subclass check per distinct type: the eager path pays ~4 us at 50 tensors, not ~13)
    if plain is not None and any(issubclass(k, _Tracer) for k in set(map(type, values.values()))):
        # tracers while no brainstate trace runs: a raw jax.jit / grad / vmap. brainstate's own setter refuses to
        # store them (a leaked tracer would break the State for good); the fast path must not skip that check
        plain = None
    for e in entries:
        if e.simple:
            value = values[e.name]
        else:
            value = jax.tree.unflatten(e.treedef, [units.merge(values[n], u_) for n, u_ in zip(e.leaves, e.units)])
        state = e.state
        if plain is not None and plain(state):
            d = vars(state)
            d['_value'] = value
            d['_been_writen'] = True
        else:
            try:
                state.value = value
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
        names, shapes, dtypes = layout
        if all(getattr(x, 'shape', None) == shape and getattr(x, 'dtype', None) == dtype
               for x, shape, dtype in zip(flat, shapes, dtypes)):
            return dict(zip(names, flat))
    out = _match_grads(entries, by_path, prefixes, grads)
    ids = {id(v): k for k, v in out.items()}
    names = [ids.get(id(x)) for x in flat]
    if len(names) == len(out) and None not in names and len(set(names)) == len(names) and len(cache) < 8:
        cache[key] = (tuple(names), tuple(out[n].shape for n in names), tuple(out[n].dtype for n in names))
    return out


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
