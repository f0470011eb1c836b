"""``brainopt.train_step``: forward, backward and update compiled together, buffers donated."""
from typing import Callable

import brainstate

from ._jit import jit

__all__ = ['train_step']


class _TrainStep:
    """The function that :func:`train_step` compiles with :func:`brainopt.jit`."""

    def __init__(self, loss_fn, optimizer, has_aux):
        self.loss_fn, self.optimizer, self.has_aux = loss_fn, optimizer, has_aux

    def __call__(self, *args, **kwargs):
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


def train_step(loss_fn: Callable, optimizer, *, has_aux: bool = False) -> Callable:
    """One compiled training step: forward, backward and update, with every written buffer donated.

    ``step = train_step(loss_fn, opt)`` compiles, on its first call,
    the gradient of ``loss_fn`` with respect to the optimizer's registered
    weights and ``opt.update`` into one XLA computation. The computation
    donates the buffers of every State it writes (the parameters, the
    optimizer's accumulators, a model's hidden states), so XLA updates them in
    place. It is :func:`brainopt.jit` of ``brainstate.transform.grad`` of
    ``loss_fn`` and ``opt.update``: write that step yourself when it does more
    (several losses, metrics, an inner loop).

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
    The step is :func:`brainopt.jit` of the gradient and the update: the
    States it writes are updated in place, and an array that something
    else holds (a variable of yours, a model's initial weights, a value you
    assign, a loaded checkpoint) is copied once instead, never invalidated.
    Calls with new argument shapes compile again, as ``jax.jit`` does.

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
    return jit(_TrainStep(loss_fn, optimizer, has_aux), name='train_step')
