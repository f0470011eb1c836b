"""``brainopt.train_step``: forward, backward and update compiled together, buffers donated."""
from typing import Callable

import brainstate
import jax

from . import _fastpath

__all__ = ['train_step']


class _TrainStep:
    """The callable that :func:`train_step` returns."""

    def __init__(self, loss_fn, optimizer, has_aux):
        self.loss_fn, self.optimizer, self.has_aux = loss_fn, optimizer, has_aux
        self._fun = brainstate.transform.StatefulFunction(self._body, name='train_step', return_only_write=True)
        self._jit = jax.jit(self._pure, static_argnums=(0,), donate_argnums=(1,))
        self._written = {}       # id(State) -> the leaves this step wrote there last

    def _body(self, *args, **kwargs):
        opt = self.optimizer
        grad_states = {e.path: e.state for e in opt._weights.entries}
        if not grad_states:
            raise RuntimeError(f'train_step: {type(opt).__name__} has no registered weights; call '
                               f'opt.register_trainable_weights(model.states(brainstate.ParamState)) first')
        grad_fn = brainstate.transform.grad(self.loss_fn, grad_states=grad_states, return_value=True,
                                            has_aux=self.has_aux)
        out = grad_fn(*args, **kwargs)
        grads, value = (out[0], (out[1], out[2])) if self.has_aux else out
        return value, opt.update(grads)

    def _pure(self, mask, written, read, args, kwargs):
        written, read = iter(written), iter(read)
        values = [next(written) if w else next(read) for w in mask]
        return self._fun.jaxpr_call(values, *args, **kwargs)

    def _own(self, state, value):
        """``value`` safe to donate: leaves this step did not write itself are copied."""
        last = self._written.get(id(state))
        leaves, treedef = jax.tree.flatten(value)
        if last is not None and len(last) == len(leaves) and all(a is b for a, b in zip(last, leaves)):
            return value
        return jax.tree.unflatten(treedef, [jax.numpy.array(x, copy=True) if isinstance(x, jax.Array) else x
                                            for x in leaves])

    def __call__(self, *args, **kwargs):
        if jax.config.jax_disable_jit:
            return self._body(*args, **kwargs)
        trace = self._fun.get_state_trace(*args, **kwargs, compile_if_miss=True)
        states = trace.states
        values = _fastpath.read_values(states)        # = trace.get_state_values(), without the bookkeeping
        writes = {id(s) for s in trace.get_write_states()}
        mask = tuple(id(s) in writes for s in states)
        written = [self._own(s, v) for s, v, w in zip(states, values, mask) if w]
        read = [v for v, w in zip(values, mask) if not w]
        new_values, out = self._jit(mask, written, read, args, kwargs)
        write = _fastpath.value_writer()             # the step's outputs: concrete arrays, never tracers
        for s, v, w in zip(states, new_values, mask):
            if w:             # a State only read keeps its value: the step returns it unchanged
                write(s, v)
        self._written = {id(s): jax.tree.leaves(v) for s, v, w in zip(states, new_values, mask) if w}
        return out


def train_step(loss_fn: Callable, optimizer, *, has_aux: bool = False) -> Callable:
    """One compiled training step: forward, backward and update, with every written buffer donated.

    ``step = train_step(loss_fn, opt)`` compiles, on its first call,
    the gradient of ``loss_fn`` with respect to the optimizer's registered
    weights and ``opt.update`` into one XLA computation. The computation
    donates the buffers of every State it writes (the parameters, the
    optimizer's accumulators, a model's hidden states), so XLA updates them in
    place: the fastest way to train. It is what
    ``brainstate.transform.jit`` of the same step computes, without the fresh
    allocation of every written State on every call.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(*args, **kwargs)`` returns a scalar loss computed from the
        model's States (and, with ``has_aux``, ``(loss, aux)``).
    optimizer : brainopt.Optimizer
        An optimizer whose weights are registered.
    has_aux : bool, default False
        ``loss_fn`` returns ``(loss, aux)``.

    Returns
    -------
    callable
        ``step(*args, **kwargs)`` returns ``(loss, info)`` (``((loss, aux),
        info)`` with ``has_aux``), ``info`` the :class:`brainopt.UpdateInfo`
        of the update.

    Notes
    -----
    Donation: an array that the step wrote into a State is invalid after the
    next call (``RuntimeError: Array has been deleted``); read the State
    again instead of keeping its old value. Arrays that the step did not
    write itself (a model's initial weights, a value you assign, a loaded
    checkpoint) are copied once on the next call, never invalidated. Calls
    with new argument shapes compile again, as ``jax.jit`` does.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> model = brainstate.nn.Linear(3, 1)
    >>> opt = brainopt.Adam(lr=1e-2)
    >>> opt = opt.register_trainable_weights(model.states(brainstate.ParamState))
    >>> def loss_fn(x, y):
    ...     return jnp.mean((model(x) - y) ** 2)
    >>> from brainopt import train_step
    >>> step = train_step(loss_fn, opt)
    >>> x, y = jnp.ones((8, 3)), jnp.zeros((8, 1))
    >>> first, _ = step(x, y)
    >>> for _ in range(20):
    ...     loss, info = step(x, y)
    >>> bool(loss < first), int(opt.step_count.value)
    (True, 21)
    """
    if not callable(loss_fn):
        raise TypeError(f'train_step: loss_fn must be callable, got {loss_fn!r}')
    from .optimizer import Optimizer
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f'train_step: optimizer must be a brainopt.Optimizer, got {type(optimizer).__name__}')
    if not isinstance(has_aux, bool):
        raise TypeError(f'train_step: has_aux must be a bool, got {has_aux!r}')
    return _TrainStep(loss_fn, optimizer, has_aux)
