"""The dtype of the optimizer's memory (``state_dtype``): slots kept in another floating dtype than their
parameter, the rule computing in the wider of the two."""
import jax.numpy as jnp

__all__ = ['check_state_dtype', 'cast_floats', 'widen']


def check_state_dtype(value, owner):
    if value is None:
        return None
    try:
        dtype = jnp.dtype(value)
    except TypeError:
        dtype = None
    if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f'{owner}: state_dtype must be a floating dtype such as jnp.bfloat16 or jnp.float32, '
                        f'got {value!r}')
    return dtype


def cast_floats(tree, dtype):
    """Floating arrays of ``{name: array}`` in ``dtype`` (None: unchanged)."""
    if dtype is None:
        return tree
    return {k: v.astype(dtype) if jnp.issubdtype(jnp.result_type(v), jnp.floating) else v for k, v in tree.items()}


def widen(grads, params, slots, dtype):
    """Gradients, parameters and slots in the wider of each parameter's dtype and ``dtype``."""
    wide = {k: jnp.promote_types(jnp.result_type(p), dtype) for k, p in params.items()}
    grads = {k: g.astype(wide[k]) for k, g in grads.items()}
    params = {k: p.astype(wide[k]) for k, p in params.items()}
    slots = {s: {k: v.astype(wide[k]) if jnp.issubdtype(jnp.result_type(v), jnp.floating) else v
                 for k, v in values.items()} for s, values in slots.items()}
    return grads, params, slots
