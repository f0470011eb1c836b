"""Every optimizer trains the rate-network example's model (examples/rate_network.py).

Each row of the optimizer table, plus SAM and LBFGS, trains the leaky rate RNN of the example on its
click-accumulation task for ``STEPS`` updates, from the same initial weights and on the same trials. The model's
gradient is compiled once for all of them; each optimizer compiles only its own update (an eager ``update()`` is
one cached compiled step). The held-out loss must end below ``BOUND`` times its start: a rule that does not
descend (a wrong sign, a step that ignores the gradient, a stuck accumulator) leaves the loss near its start or
blows it up. The trials are shorter than the example's (10 click steps, 10 delay steps) to keep the
compilation cheap; the learning rate per optimizer is tuned here (``LR``).
"""
import importlib.util
import pathlib

import brainstate
import jax.numpy as jnp
import numpy as np
import pytest

import brainopt

from table import OPTIMIZERS

STEPS = 40
BOUND = 0.5
HIDDEN, BATCH, T_STIM, T_DELAY = 16, 16, 10, 10

#: the learning rate per row where the row's own does not train this network in STEPS updates
LR = {
    'SGD': 0.5, 'SGD-nesterov': 0.1, 'Momentum': 0.1, 'MomentumNesterov': 0.1,
    'Adagrad': 0.05, 'Adam': 0.01, 'AdamW-amsgrad': 0.01, 'RMSprop': 0.003,
    'Lookahead-SGD': 0.3, 'ScheduleFreeSGD': 0.5,
}
#: other options per row: plain gradient steps large enough to learn in STEPS updates need a clip against the
#: occasional exploding gradient of backpropagation through time (the example clips too)
OPTIONS = {'SGD': dict(grad_clip_norm=3.0)}


def _example():
    path = pathlib.Path(__file__).parent.parent / 'examples' / 'rate_network.py'
    spec = importlib.util.spec_from_file_location('brainopt_example_rate_network_train_all', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXAMPLE = _example()


class Setup:
    """One model, its compiled gradient and held-out loss, and the trials: shared by every optimizer, so that each
    optimizer compiles only its own update (eager ``update()`` is one cached compiled step)."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.batches = [tuple(jnp.asarray(a) for a in EXAMPLE.make_trials(rng, BATCH, T_STIM, T_DELAY))
                        for _ in range(STEPS)]
        x_val, y_val = (jnp.asarray(a) for a in EXAMPLE.make_trials(np.random.default_rng(1), BATCH, T_STIM, T_DELAY))
        brainstate.random.seed(0)
        self.model = EXAMPLE.RateRNN(EXAMPLE.N_IN, HIDDEN, 1)
        self.model.init_state(BATCH)
        self.params = self.model.states(brainstate.ParamState)
        self.initial = {k: s.value for k, s in self.params.items()}

        def loss_fn(x, y):
            return jnp.mean((self.model.run(x) - y) ** 2)

        self.loss = brainstate.transform.jit(loss_fn)
        self.grad = brainstate.transform.jit(brainstate.transform.grad(loss_fn, grad_states=self.params))
        self.held_out = lambda: float(self.loss(x_val, y_val))

    def reset(self):
        for k, s in self.params.items():
            s.value = self.initial[k]

    def train(self, opt, info):
        """Held-out loss before and after STEPS updates of ``opt`` from the initial weights."""
        self.reset()
        opt.register_trainable_weights(self.params)
        start = self.held_out()
        for x, y in self.batches:
            grad_fn = lambda: self.grad(x, y)  # noqa: E731  (SAM takes the gradient again at the perturbed weights)
            info.update(opt, grad_fn(), grad_fn)
        return start, self.held_out()


@pytest.fixture(scope='module')
def setup():
    return Setup()


@pytest.mark.parametrize('info', OPTIMIZERS, ids=repr)
def test_every_optimizer_trains_the_rate_network(info, setup):
    info.skip_if('test_every_optimizer_trains_the_rate_network')
    opt = info.make(**({'lr': LR[info.name]} if info.name in LR else {}), **OPTIONS.get(info.name, {}))
    start, end = setup.train(opt, info)
    assert np.isfinite(end) and end < BOUND * start, f'{info.name}: held-out loss {start:.4f} -> {end:.4f}'


def test_lbfgs_with_line_search_trains_the_rate_network(setup):
    """LBFGS is a full-batch method: one fixed batch, its strong-Wolfe line search (the table's row has none),
    15 iterations."""
    setup.reset()
    lbfgs = brainopt.LBFGS(lr=1.0, linesearch='strong_wolfe').register_trainable_weights(setup.params)
    x, y = setup.batches[0]
    value_fn = lambda: setup.loss(x, y)  # noqa: E731  (the same function object on every call: one compilation)
    first = float(value_fn())
    for _ in range(15):
        lbfgs.update(setup.grad(x, y), value_fn=value_fn)
    last = float(value_fn())
    assert np.isfinite(last) and last < BOUND * first, f'LBFGS: loss {first:.4f} -> {last:.4f}'
