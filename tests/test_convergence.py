"""The convergence table: every optimizer reduces a convex quadratic and the Rosenbrock function.

From a fixed start, within a bounded number of steps, each row of the
optimizer table must bring the objective below a fixed fraction of its start.
The learning rate per problem is part of the table (``LR``): the default of
the row unless the algorithm's scale needs another (Adadelta and Prodigy set
their own step sizes; Rosenbrock's curved valley needs small steps).
"""
import brainstate
import jax.numpy as jnp
import numpy as np
import pytest

import brainopt

from table import OPTIMIZERS

STEPS = 500


def quadratic(x):
    """A convex quadratic, condition number 100, minimum 0 at the origin."""
    a = jnp.asarray([1.0, 4.0, 20.0, 100.0])
    return 0.5 * jnp.sum(a * x ** 2)


def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


PROBLEMS = {
    # name: (function, start, the fraction of the start value to reach)
    'quadratic': (quadratic, [1.0, -1.0, 0.5, -0.5], 1e-2),
    'rosenbrock': (rosenbrock, [-1.2, 1.0], 0.2),
}

#: learning rates per (row, problem) where the row's own does not suit the problem
LR = {
    ('SGD', 'quadratic'): 0.01, ('SGD', 'rosenbrock'): 1e-3,
    ('SGD-nesterov', 'quadratic'): 0.005, ('SGD-nesterov', 'rosenbrock'): 2e-4,
    ('Adagrad', 'quadratic'): 0.3, ('Adagrad', 'rosenbrock'): 0.3,
    ('Adam', 'quadratic'): 0.05, ('Adam', 'rosenbrock'): 0.02,
    ('AdamW-amsgrad', 'quadratic'): 0.05, ('AdamW-amsgrad', 'rosenbrock'): 0.02,
    ('RMSprop', 'quadratic'): 0.01, ('RMSprop', 'rosenbrock'): 0.01,
    ('Momentum', 'quadratic'): 0.03, ('Momentum', 'rosenbrock'): 0.003,
    ('MomentumNesterov', 'quadratic'): 0.01, ('MomentumNesterov', 'rosenbrock'): 0.003,
    ('RAdam', 'rosenbrock'): 0.005,
    ('ScheduleFreeSGD', 'rosenbrock'): 0.005,
    ('Lookahead-SGD', 'quadratic'): 0.01, ('Lookahead-SGD', 'rosenbrock'): 0.005,
}


def minimize(info, problem, steps=STEPS):
    f, start, _ = PROBLEMS[problem]
    x = brainstate.ParamState(jnp.asarray(start, jnp.float32))
    lr = LR.get((info.name, problem))
    opt = info.make(**({} if lr is None else {'lr': lr}))
    opt.register_trainable_weights({'x': x})
    grad = brainstate.transform.grad(lambda: f(x.value), grad_states={'x': x}, return_value=True)

    @brainstate.transform.jit
    def run():
        def body(i):
            g, value = grad()
            info.update(opt, g, lambda: grad()[0])       # SAM's row also gets the gradient function
            return value
        return brainstate.transform.for_loop(body, jnp.arange(steps))

    values = np.asarray(run())
    return float(f(jnp.asarray(start, jnp.float32))), float(f(x.value)), values


@pytest.mark.parametrize('problem', list(PROBLEMS))
@pytest.mark.parametrize('info', OPTIMIZERS, ids=repr)
def test_reduces_the_objective(info, problem):
    start, end, values = minimize(info, problem)
    assert np.isfinite(end), f'{info.name} diverged on {problem}'
    assert end < PROBLEMS[problem][2] * start, f'{info.name} on {problem}: {start} -> {end} in {STEPS} steps'


# -- the optimizers whose update takes more than gradients (no table row) ------------------------------
def _minimize_with(opt, problem, steps, call):
    f, start, fraction = PROBLEMS[problem]
    x = brainstate.ParamState(jnp.asarray(start, jnp.float32))
    opt.register_trainable_weights({'x': x})
    value_fn = lambda: f(x.value)  # noqa: E731
    grad_fn = brainstate.transform.grad(value_fn, grad_states={'x': x})
    for _ in range(steps):
        call(opt, grad_fn, value_fn)
    first, last = float(f(jnp.asarray(start, jnp.float32))), float(f(x.value))
    assert np.isfinite(last) and last < fraction * first, f'{problem}: {first} -> {last}'


@pytest.mark.parametrize('problem', list(PROBLEMS))
def test_lbfgs_with_line_search_reduces_the_objective(problem):
    _minimize_with(brainopt.LBFGS(linesearch='strong_wolfe'), problem, 30,
                   lambda opt, grad_fn, value_fn: opt.update(grad_fn(), value_fn=value_fn))
