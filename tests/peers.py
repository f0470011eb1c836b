"""Peer-library reference trajectories for brainopt's tests.

Golden values for brainopt's optimizer tests are produced by *real* peer
libraries -- ``torch.optim``, ``optax`` and ``keras.optimizers`` -- and never by
brainopt itself.  This module runs one small, fully deterministic optimisation
problem through each peer and returns the parameter trajectory (the parameters
after every step) as numpy ``float32`` arrays.  A brainopt test runs the same
problem through brainopt and compares against these trajectories.

The problem
-----------
A separable quadratic with a time-varying linear term::

    grad_t(p)[name] = grad_scale * (a[name] * p[name] + b[t][name])

with ``a > 0`` (positive curvature) so every reasonable optimiser is stable.

Why gradients are computed in numpy
-----------------------------------
Each framework has its own autodiff, its own kernels and its own rules for
fusing/reordering float32 arithmetic.  If every framework differentiated the
loss itself, trajectories could diverge by a few ULPs for reasons that have
nothing to do with the optimiser under test.  Instead there is exactly one
gradient function, :meth:`Problem.grad`, written in numpy float32.  Every runner
pulls the current parameters out of its framework as numpy, calls
``problem.grad`` and pushes the gradient back in.  Given bit-identical
parameters, all frameworks therefore see bit-identical gradients, and any
difference between trajectories is attributable to the optimiser update rule
alone.

Keras is forced onto the JAX backend (``KERAS_BACKEND=jax``) -- without it
Keras 3 tries to import TensorFlow.  ``torch``, ``optax``, ``jax`` and
``keras`` are imported lazily inside the runners, so importing this module is
cheap.

Peer quirks worth knowing when writing comparisons
--------------------------------------------------
* Keras ``weight_decay`` is *decoupled* for every optimizer
  (``var -= var * wd * lr`` before the update step), while torch's
  ``weight_decay`` for Adadelta/Adagrad/Adam/SGD/RMSprop is an L2 term added to
  the gradient.  Only ``torch.optim.AdamW`` is decoupled.
* Keras Adagrad divides by ``sqrt(acc + epsilon)``; torch Adagrad divides by
  ``sqrt(acc) + eps``.  Keras/torch Adadelta use the same formula.
* Keras applies at most one of ``clipnorm`` (per variable), ``global_clipnorm``
  and ``clipvalue``, in that priority order.  Keras' global clip has no
  epsilon (``g * min(1, c / norm)``); ``torch.nn.utils.clip_grad_norm_`` uses
  ``g * min(1, c / (norm + 1e-6))``.
* Keras EMA: the moving averages live in ``opt._model_variables_moving_average``
  (a list, one ``keras.Variable`` per model variable in build order, named
  ``f"{var.name}_average"``, e.g. path ``"sgd/w_average"``).  While
  ``opt.iterations == 0`` the momentum is forced to 0, so after the first step
  the EMA equals the freshly updated parameters; afterwards
  ``ema = m * ema + (1 - m) * param``.  With ``ema_overwrite_frequency=k`` the
  params are replaced by the EMA after every ``k``-th step.  With gradient
  accumulation the EMA is still updated on *every* call (and ``iterations``
  counts real updates), so it drifts towards params between updates.
* Defaults differ: e.g. Adadelta torch ``lr=1.0, rho=0.9, eps=1e-6`` vs Keras
  ``learning_rate=1e-3, rho=0.95, epsilon=1e-7``; Adagrad torch ``eps=1e-10,
  initial_accumulator_value=0`` vs Keras ``epsilon=1e-7,
  initial_accumulator_value=0.1``; Adam torch ``eps=1e-8`` vs Keras ``1e-7``.
  Always pass every hyper-parameter explicitly.
* float32: Keras SGD and ``optax.sgd`` reproduce ``p - lr * g`` in numpy
  bit-for-bit; torch SGD (``p.add_(g, alpha=-lr)``) can differ by ~1 ULP.
* Keras ``loss_scale_factor`` divides incoming gradients by the factor before
  clipping/updating; ``gradient_accumulation_steps`` averages the gradients of
  ``k`` consecutive calls and only updates on every ``k``-th call.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import dataclasses
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    "Params",
    "Trajectory",
    "Problem",
    "make_problem",
    "numpy_trajectory",
    "torch_trajectory",
    "optax_trajectory",
    "keras_trajectory",
    "keras_trajectory_with_ema",
    "keras_finalize",
    "assert_trajectories_close",
    "max_abs_diff",
]

#: One set of parameters: name -> float32 array.
Params = Dict[str, np.ndarray]
#: Parameters after each step; ``len(trajectory) == problem.steps``.
Trajectory = List[Params]

DEFAULT_SHAPES: Tuple[Tuple[str, Tuple[int, ...]], ...] = (("w", (3, 4)), ("b", (4,)))


# ---------------------------------------------------------------------------
# The shared problem
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Problem:
    """A deterministic separable quadratic problem.

    Attributes:
        params0: initial parameters, name -> float32 array.
        a: per-element positive curvature, name -> float32 array.
        b: per-step linear terms, ``b[t][name]`` float32 arrays, ``len == steps``.
        steps: number of optimisation steps.
        grad_scale: every gradient is multiplied by this (loss-scaling tests).
        nan_at: if not None, the gradient at this step has NaN in flat element
            0 of the first parameter (for non-peer NaN-handling tests).
    """

    params0: Params
    a: Params
    b: List[Params]
    steps: int
    grad_scale: float = 1.0
    nan_at: Optional[int] = None

    @property
    def names(self) -> List[str]:
        """Parameter names in their fixed (creation) order."""
        return list(self.params0.keys())

    def initial_params(self) -> Params:
        """A fresh copy of :attr:`params0`."""
        return {k: v.copy() for k, v in self.params0.items()}

    def grad(self, params: Mapping[str, Any], t: int) -> Params:
        """Gradient at step ``t`` (0-based) for parameters ``params``.

        Computed in numpy float32:
        ``grad_scale * (a * p + b[t])``, with the optional NaN injection.
        ``params`` may hold anything ``np.asarray`` accepts (numpy, jax arrays).
        """
        if not 0 <= t < self.steps:
            raise IndexError(f"step {t} out of range for a {self.steps}-step problem")
        out: Params = {}
        scale = np.float32(self.grad_scale)
        for name in self.names:
            p = np.asarray(params[name], dtype=np.float32)
            g = (self.a[name] * p + self.b[t][name]).astype(np.float32)
            if self.grad_scale != 1.0:
                g = (scale * g).astype(np.float32)
            out[name] = g
        if self.nan_at is not None and t == self.nan_at:
            first = self.names[0]
            g = out[first].copy()
            g.reshape(-1)[0] = np.nan
            out[first] = g
        return out


def make_problem(
    seed: int = 0,
    shapes: Sequence[Tuple[str, Tuple[int, ...]]] = DEFAULT_SHAPES,
    steps: int = 12,
    grad_scale: float = 1.0,
    nan_at: Optional[int] = None,
) -> Problem:
    """Build a :class:`Problem` deterministically from ``seed``.

    ``params0 ~ 0.5 * N(0, 1)``, ``a ~ U(0.5, 2.0)``, ``b[t] ~ 0.3 * N(0, 1)``.
    """
    rng = np.random.default_rng(seed)
    shapes = [(str(n), tuple(int(d) for d in s)) for n, s in shapes]
    params0 = {n: (0.5 * rng.standard_normal(s)).astype(np.float32) for n, s in shapes}
    a = {n: rng.uniform(0.5, 2.0, size=s).astype(np.float32) for n, s in shapes}
    b = [
        {n: (0.3 * rng.standard_normal(s)).astype(np.float32) for n, s in shapes}
        for _ in range(steps)
    ]
    return Problem(params0=params0, a=a, b=b, steps=int(steps),
                   grad_scale=float(grad_scale), nan_at=nan_at)


def _snapshot(values: Mapping[str, Any]) -> Params:
    """Copy name -> array-like into name -> fresh float32 numpy array."""
    return {k: np.array(v, dtype=np.float32, copy=True) for k, v in values.items()}


# ---------------------------------------------------------------------------
# Plain numpy (for hand-written reference loops)
# ---------------------------------------------------------------------------


def numpy_trajectory(
    problem: Problem,
    update: Callable[[Params, Params, int], Params],
) -> Trajectory:
    """Run a hand-written update rule ``update(params, grads, t) -> new_params``.

    Handy for checking a peer (or brainopt) against a formula written out in a
    test.  ``params``/``grads`` are float32 numpy dicts.
    """
    params = problem.initial_params()
    traj: Trajectory = []
    for t in range(problem.steps):
        grads = problem.grad(params, t)
        params = _snapshot(update(params, grads, t))
        traj.append(_snapshot(params))
    return traj


# ---------------------------------------------------------------------------
# torch.optim
# ---------------------------------------------------------------------------


def torch_trajectory(
    problem: Problem,
    opt_name: str,
    *,
    clip_grad_norm: Optional[float] = None,
    clip_grad_value: Optional[float] = None,
    **kwargs: Any,
) -> Trajectory:
    """Trajectory of ``torch.optim.<opt_name>(params, **kwargs)``.

    Parameters are float32 ``torch.nn.Parameter``s in ``problem.names`` order.
    Each step sets ``.grad`` from :meth:`Problem.grad`, optionally applies
    ``clip_grad_norm_`` (over all params) and/or ``clip_grad_value_``, then
    calls ``opt.step()``.  Optimizers that need a closure (LBFGS) are not
    supported.
    """
    import torch

    names = problem.names
    params = [
        torch.nn.Parameter(torch.tensor(problem.params0[n], dtype=torch.float32))
        for n in names
    ]
    opt = getattr(torch.optim, opt_name)(params, **kwargs)

    def current() -> Params:
        return {n: p.detach().cpu().numpy().copy() for n, p in zip(names, params)}

    traj: Trajectory = []
    for t in range(problem.steps):
        grads = problem.grad(current(), t)
        for n, p in zip(names, params):
            p.grad = torch.tensor(grads[n], dtype=torch.float32)
        if clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, clip_grad_norm)
        if clip_grad_value is not None:
            torch.nn.utils.clip_grad_value_(params, clip_grad_value)
        opt.step()
        traj.append(current())
    return traj


# ---------------------------------------------------------------------------
# optax
# ---------------------------------------------------------------------------


def optax_trajectory(problem: Problem, tx: Any) -> Trajectory:
    """Trajectory of an ``optax.GradientTransformation`` (run eagerly, no jit).

    Params are a dict of jnp float32 arrays; each step does
    ``updates, state = tx.update(g, state, params)`` then
    ``params = optax.apply_updates(params, updates)``.
    """
    import jax.numpy as jnp
    import optax

    params = {n: jnp.asarray(v, dtype=jnp.float32) for n, v in problem.params0.items()}
    state = tx.init(params)
    traj: Trajectory = []
    for t in range(problem.steps):
        grads_np = problem.grad(_snapshot(params), t)
        grads = {n: jnp.asarray(g, dtype=jnp.float32) for n, g in grads_np.items()}
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        traj.append(_snapshot(params))
    return traj


# ---------------------------------------------------------------------------
# keras.optimizers (JAX backend)
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class _KerasRun:
    traj: Trajectory
    ema_traj: Optional[Trajectory]
    optimizer: Any
    variables: List[Any]


def _keras_run(problem: Problem, opt_name: str, record_ema: bool,
               kwargs: Dict[str, Any]) -> _KerasRun:
    import jax.numpy as jnp
    import keras

    if keras.backend.backend() != "jax":  # pragma: no cover - env guard
        raise RuntimeError(
            f"keras backend is {keras.backend.backend()!r}; peers.py needs 'jax' "
            "(set KERAS_BACKEND=jax before keras is first imported)")

    names = problem.names
    variables = [
        keras.Variable(problem.params0[n].copy(), dtype="float32", name=n)
        for n in names
    ]
    opt = getattr(keras.optimizers, opt_name)(**kwargs)

    def read(vs) -> Params:
        return {n: np.array(v.value, dtype=np.float32, copy=True)
                for n, v in zip(names, vs)}

    traj: Trajectory = []
    ema_traj: Optional[Trajectory] = [] if record_ema else None
    for t in range(problem.steps):
        grads_np = problem.grad(read(variables), t)
        grads = [jnp.asarray(grads_np[n], dtype=jnp.float32) for n in names]
        opt.apply(grads, variables)
        traj.append(read(variables))
        if ema_traj is not None:
            ema_traj.append(read(opt._model_variables_moving_average))
    return _KerasRun(traj, ema_traj, opt, variables)


def keras_trajectory(problem: Problem, opt_name: str, **kwargs: Any) -> Trajectory:
    """Trajectory of ``keras.optimizers.<opt_name>(**kwargs)``.

    ``kwargs`` are Keras' own (``learning_rate``, ``epsilon``,
    ``weight_decay``, ``clipnorm``, ``global_clipnorm``, ``clipvalue``,
    ``use_ema``, ``loss_scale_factor``, ``gradient_accumulation_steps`` ...).
    Each step calls ``opt.apply(grads, variables)`` with the variables in
    ``problem.names`` order.
    """
    return _keras_run(problem, opt_name, False, dict(kwargs)).traj


def keras_trajectory_with_ema(
    problem: Problem, opt_name: str, **kwargs: Any
) -> Tuple[Trajectory, Trajectory]:
    """``(param_trajectory, ema_trajectory)`` for a Keras optimizer with EMA.

    ``use_ema`` defaults to True here.  The EMA trajectory holds the values of
    ``opt._model_variables_moving_average`` after each step.
    """
    kwargs = dict(kwargs)
    kwargs.setdefault("use_ema", True)
    if not kwargs["use_ema"]:
        raise ValueError("keras_trajectory_with_ema needs use_ema=True")
    run = _keras_run(problem, opt_name, True, kwargs)
    assert run.ema_traj is not None
    return run.traj, run.ema_traj


def keras_finalize(problem: Problem, opt_name: str, **kwargs: Any) -> Params:
    """Params after all steps followed by ``opt.finalize_variable_values``.

    With ``use_ema=True`` this overwrites the params with their moving
    averages; otherwise it returns the last params unchanged.
    """

    run = _keras_run(problem, opt_name, False, dict(kwargs))
    run.optimizer.finalize_variable_values(run.variables)
    return {n: np.array(v.value, dtype=np.float32, copy=True)
            for n, v in zip(problem.names, run.variables)}


# ---------------------------------------------------------------------------
# Comparison helper
# ---------------------------------------------------------------------------


def max_abs_diff(a: Trajectory, b: Trajectory) -> float:
    """The largest absolute difference between two trajectories (float64), for the ``*_differs`` tests."""
    return max(float(np.max(np.abs(np.asarray(x[k], np.float64) - np.asarray(y[k], np.float64))))
               for x, y in zip(a, b) for k in y)


def assert_trajectories_close(
    actual: Sequence[Mapping[str, Any]],
    expected: Sequence[Mapping[str, Any]],
    rtol: float = 1e-6,
    atol: float = 0.0,
    err_msg: str = "",
) -> None:
    """Assert two trajectories have equal length/keys and allclose values.

    ``actual`` entries may hold any array-like (jax arrays, numpy); they are
    converted with ``np.asarray``.  The failure message names the step and
    parameter.
    """
    assert len(actual) == len(expected), (
        f"{err_msg} trajectory lengths differ: {len(actual)} vs {len(expected)}")
    for t, (pa, pe) in enumerate(zip(actual, expected)):
        assert set(pa.keys()) == set(pe.keys()), (
            f"{err_msg} step {t}: keys differ {sorted(pa)} vs {sorted(pe)}")
        for name in pe:
            np.testing.assert_allclose(
                np.asarray(pa[name], dtype=np.float32),
                np.asarray(pe[name], dtype=np.float32),
                rtol=rtol, atol=atol,
                err_msg=f"{err_msg} step {t}, param {name!r}")
