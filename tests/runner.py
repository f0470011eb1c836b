"""Run a peers.Problem through brainopt, exactly as the peers run it.

The gradient is computed by the same numpy function that the peers use
(``problem.grad``), from brainopt's current parameters, so any difference
from a peer's trajectory comes from the optimizer alone.
"""
import brainstate
import jax.numpy as jnp
import numpy as np

from peers import Problem


def make_states(problem: Problem):
    return {n: brainstate.ParamState(jnp.asarray(v)) for n, v in problem.initial_params().items()}


def brainopt_trajectory(problem: Problem, opt, *, jit=False, with_ema=False, infos=None):
    """Params after each step (and the EMA after each step when ``with_ema``)."""
    states = make_states(problem)
    opt.register_trainable_weights(states)

    def step(g):
        return opt.update(g)

    if jit:
        step = brainstate.transform.jit(step)
    traj, ema_traj = [], []
    for t in range(problem.steps):
        current = {n: np.asarray(s.value) for n, s in states.items()}
        info = step({n: jnp.asarray(v) for n, v in problem.grad(current, t).items()})
        if infos is not None:
            infos.append(info)
        traj.append({n: np.asarray(s.value) for n, s in states.items()})
        if with_ema:
            ema_traj.append({n: np.asarray(opt.get_slot('ema', n)) for n in states})
    return (traj, ema_traj) if with_ema else traj
