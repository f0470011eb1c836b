"""Optimizer state on many devices, with JAX's own sharding (``jax.sharding.Mesh``, ``NamedSharding``).

Two things live here.

* **Accumulators follow their parameters.** When weights are registered, each
  accumulator is created directly with its parameter's sharding by one compiled
  initialisation whose output shardings are given (:func:`init_accumulators`):
  nothing is built on one device first. An accumulator of the parameter's
  shape gets exactly the parameter's sharding; any other (a factored row or
  column vector, a per-tensor scalar) is replicated over the parameter's mesh.
  The update keeps them so: the rule's arithmetic is element-wise, and XLA
  propagates the shardings through it.
* **ZeRO stage 1** (:func:`shard_accumulators`, also
  ``opt.shard_accumulators(mesh, axis='data')``): in data parallelism the
  parameters are replicated on every device, and so, by default, is every
  accumulator (Adam: twice the model). This option splits each accumulator
  along the data-parallel mesh axis instead, so that a device holds
  ``1/n`` of the optimizer state. The parameters keep their own sharding:
  every device computes the update of its slice and XLA gathers the new
  parameters (one all-gather per step, the price of ZeRO-1).

See ``docs/sharding.md`` for a data-parallel training loop and for running the
same code across hosts with ``jax.distributed.initialize()``.
"""
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ['shard_accumulators', 'zero_spec']


def _multi_device(x):
    sharding = getattr(x, 'sharding', None)
    return sharding is not None and len(sharding.device_set) > 1


def _like_param(shape, param):
    """The sharding of an accumulator of ``shape`` kept for ``param``."""
    sharding = param.sharding
    if tuple(shape) == tuple(param.shape):
        return sharding
    if isinstance(sharding, NamedSharding):
        return NamedSharding(sharding.mesh, PartitionSpec())
    devices = sorted(sharding.device_set, key=lambda d: d.id)
    return NamedSharding(Mesh(np.array(devices), ('devices',)), PartitionSpec())


def zero_spec(shape, spec, axis, size):
    """The PartitionSpec that also splits an array of ``shape`` along mesh axis ``axis`` (of ``size`` devices).

    The first dimension that is not already split and whose length is a
    multiple of ``size`` is split along ``axis``; an array with no such
    dimension (a scalar, an odd length) keeps ``spec``, as does one that is
    already split along ``axis``.

    Examples
    --------
    >>> from jax.sharding import PartitionSpec as P
    >>> from brainopt.sharding import zero_spec
    >>> zero_spec((6, 16), P(), 'data', 8)
    P(None, 'data')
    >>> zero_spec((16, 8), P(None, 'model'), 'data', 4)
    P('data', 'model')
    >>> zero_spec((), P(), 'data', 8)
    P()
    """
    entries = tuple(spec) + (None,) * (len(shape) - len(tuple(spec)))
    if any(e == axis or (isinstance(e, tuple) and axis in e) for e in entries):
        return PartitionSpec(*entries)
    for d, (n, e) in enumerate(zip(shape, entries)):
        if e is None and n >= size and n % size == 0:
            return PartitionSpec(*entries[:d], axis, *entries[d + 1:])
    return PartitionSpec(*entries)


class _Zero:
    """What :func:`shard_accumulators` decided: the mesh, the axis, and each array's sharding."""

    def __init__(self, mesh, axis):
        self.mesh, self.axis = mesh, axis
        self.size = mesh.shape[axis]
        self.params = {}     # leaf -> the parameter's sharding, kept through every update

    def target(self, shape, param_shape, param_sharding):
        """An accumulator's sharding: its parameter's (on this mesh), split along the data axis too."""
        spec = PartitionSpec()
        if isinstance(param_sharding, NamedSharding) and param_sharding.mesh == self.mesh and \
                tuple(shape) == tuple(param_shape):
            spec = param_sharding.spec
        return NamedSharding(self.mesh, zero_spec(shape, spec, self.axis, self.size))


def init_accumulators(opt, init_fn, params):
    """``init_fn(params)`` (a rule's ``init``), each output created with its parameter's sharding (see above)."""
    zero = getattr(opt, '_zero', None)
    if zero is None and not any(_multi_device(p) for p in params.values()):
        return init_fn(params)
    shapes = jax.eval_shape(init_fn, params)
    if zero is None:
        out = {s: {k: _like_param(v.shape, params[k]) for k, v in d.items()} for s, d in shapes.items()}
    else:
        out = {s: {k: zero.target(v.shape, np.shape(params[k]), getattr(params[k], 'sharding', None))
                   for k, v in d.items()} for s, d in shapes.items()}
    return jax.jit(init_fn, out_shardings=out)(params)


def _state_targets(opt, zero, params):
    """``{(store, slot, leaf): sharding}`` for every accumulator the optimizer holds now."""
    stores = {('slots', s): st for s, st in opt.slots.items()}
    if opt.use_ema:
        stores[('ema', None)] = opt.ema
    if opt._accumulating:
        stores[('acc', None)] = opt.grad_accum
    return {(kind, slot, k): zero.target(np.shape(v), np.shape(params[k]), zero.params[k])
            for (kind, slot), st in stores.items() for k, v in st.value.items()}


def shard_accumulators(opt, mesh, axis='data'):
    """Split every accumulator of ``opt`` along the data-parallel mesh axis ``axis`` (ZeRO stage 1).

    The rule's slots, the EMA and the accumulated gradient are each split
    along their first dimension whose length is a multiple of the axis size
    (on top of the parameter's own sharding); arrays without one stay as they
    are. They stay split through every update, eager or traced, and the
    parameters keep the sharding they have on ``mesh`` (one not on the mesh
    yet is replicated over it). Call it after
    :meth:`~brainopt.Optimizer.register_trainable_weights` (weights
    registered later get split slots too). The numbers do not change: this
    moves memory, not arithmetic.

    Parameters
    ----------
    opt : brainopt.Optimizer
        The optimizer, with its weights registered.
    mesh : jax.sharding.Mesh
        The device mesh of the training step.
    axis : str, default 'data'
        The mesh axis over which the batch is split.

    Returns
    -------
    brainopt.Optimizer
        ``opt``.

    Examples
    --------
    >>> import brainstate, brainopt, jax, numpy as np, jax.numpy as jnp
    >>> mesh = jax.sharding.Mesh(np.array(jax.devices()), ('data',))
    >>> w = brainstate.ParamState(jnp.ones((8, 4)))
    >>> opt = brainopt.Adam(lr=0.1).register_trainable_weights({'w': w})
    >>> opt = opt.shard_accumulators(mesh, axis='data')
    >>> _ = opt.update({'w': jnp.ones((8, 4))})
    >>> m = opt.get_slot('exp_avg', 'w')       # on n devices, each holds 8/n of its rows
    >>> m.sharding.mesh.axis_names, m.shape
    (('data',), (8, 4))
    """
    owner = f'{type(opt).__name__}.shard_accumulators'
    if not isinstance(mesh, Mesh):
        raise TypeError(f'{owner}: mesh must be a jax.sharding.Mesh, got {type(mesh).__name__}')
    if axis not in mesh.axis_names:
        raise ValueError(f'{owner}: axis {axis!r} is not an axis of the mesh; its axes are {list(mesh.axis_names)}')
    from . import _registry as registry
    params = registry.read_params(opt._weights.entries)
    zero = _Zero(mesh, axis)
    for k, p in params.items():
        s = getattr(p, 'sharding', None)
        zero.params[k] = s if isinstance(s, NamedSharding) and s.mesh == mesh else \
            NamedSharding(mesh, PartitionSpec())
    targets = _state_targets(opt, zero, params)
    # place the parameters on the mesh as kept, and every accumulator split; device to device, never via one
    registry.write_params(opt._weights.entries, {k: jax.device_put(p, zero.params[k]) for k, p in params.items()})
    for s, st in opt.slots.items():
        st.value = {k: jax.device_put(v, targets[('slots', s, k)]) for k, v in st.value.items()}
    if opt.use_ema:
        opt.ema.value = {k: jax.device_put(v, targets[('ema', None, k)]) for k, v in opt.ema.value.items()}
    if opt._accumulating:
        opt.grad_accum.value = {k: jax.device_put(v, targets[('acc', None, k)])
                                for k, v in opt.grad_accum.value.items()}
    opt._zero = zero
    opt._reset_compiled()
    return opt


def constrain(opt, params, state):
    """Inside the step: keep the parameters' and the split accumulators' shardings (no-op without ZeRO)."""
    zero = getattr(opt, '_zero', None)
    if zero is None:
        return params, state
    wsc = jax.lax.with_sharding_constraint

    def split(tree):
        return {k: wsc(v, zero.target(np.shape(v), np.shape(params[k]), zero.params.get(k))) for k, v in tree.items()}

    state = dict(state, slots={s: split(d) for s, d in state['slots'].items()})
    if 'ema' in state:
        state['ema'] = split(state['ema'])
    if 'acc' in state:
        state['acc'] = split(state['acc'])
    params = {k: wsc(v, zero.params[k]) if k in zero.params else v for k, v in params.items()}
    return params, state
