"""Two real training scripts of the ecosystem, ported with the optimizer's import changed and nothing else
(issue 33), for tests/test_ported_scripts.py. Run in a subprocess (``python ported_job.py integrator_rnn``):
each script sets up brainstate (its environment, its seeds) in its own way, and the suite's process stays clean.

Each ``script_<name>(optim)`` is the script's own code, reduced in size, with ``braintools.optim`` written
``optim`` (``braintools.optim`` or ``brainopt``); both runs start from the same seed, so from the same
parameters. The job prints one JSON line ``{name: {'braintools': {...}, 'brainopt': {...}}}`` with the trained
parameters and the loss history, so the test compares them (integrator_rnn adds a control run,
``'brainopt_epoch_stepping'``, see below).

* ``integrator_rnn``: chaobrain/brainstate ``examples/300_integrator_rnn.py``, a rate RNN (ReLU, trainable
  initial state) learning to integrate white noise; ``Adam(lr=ExponentialDecayLR(...), eps=1e-1)``, no
  ``sched.step()`` anywhere. braintools 0.3's ``ExponentialDecayLR`` never decays there (its lr is read from
  the epoch counter, which only ``sched.step()`` advances), brainopt's decays per update (optax's meaning,
  docs/conventions.md "Schedules": ``stepping``). The control run ``brainopt_epoch_stepping`` is brainopt
  with ``ExponentialDecayLR(..., stepping='epoch')``, braintools's behaviour, the script's text unchanged.
* ``horn_delayed_match``: chaobrain/brainmass ``docs/tutorials/08_training_on_tasks.ipynb``, a HORN network
  (damped harmonic oscillators) trained through time on a delayed match-to-sample task; ``Adam(lr=3e-2)``,
  ``optimizer.step(grads)``.

Not ported, for want of brainpy (not installed, and not a dependency of brainopt's tests): every spiking
network trained with braintools.optim found in the ecosystem's repositories builds its neurons with
``brainpy.state`` (brainstate 0.5.4's ``brainstate.nn.LIF``, ``Expon``, ``Neuron`` themselves import brainpy),
e.g. chaobrain/brainstate ``docs/tutorials/brain_dynamics/05_training_an_snn.ipynb``.
"""
import json
import sys

import brainstate
import braintools
import brainunit as u
import jax
import numpy as np

import brainopt

from ecosystem_job import plain


def _seed():
    np.random.seed(0)
    brainstate.random.seed(0)


def script_integrator_rnn(optim, n_hidden=100, num_batch=16, batches=8, epochs=2):
    """chaobrain/brainstate, ``examples/300_integrator_rnn.py`` at commit
    e5eb83cd342b685c4fffaa3d55dd10467f9c5daf (v0.5.4, the installed brainstate; the file last changed in
    8d9251f4ca25581826d1900fc7e5df1d8bc7f1c0).

    The script's code as it is, indented into this function, with ``braintools.optim`` written ``optim``.
    Reduced: ``num_batch`` 512 -> 16, batches per epoch (``train_data``'s ``range(500)``) -> 8, epochs
    ``range(5)`` -> 2 (16 updates instead of 2,500; past about 20 this reduced training amplifies
    perturbations: braintools against itself with lr 0.025 * (1 + 1e-5) differs by 2e-4 after 18 updates,
    1e-3 after 30, while it differs by 2e-5 after 12). Kept: 100 hidden units, ``dt = 0.04`` (25 time steps),
    the L2 term, ``ExponentialDecayLR(0.025, decay_steps=1, decay_rate=0.99975)``, ``Adam(lr=lr, eps=1e-1)``,
    its synthetic data (white noise and its running sum). Added: the seeds (the script sets none),
    ``losses.append(float(loss))`` to keep the loss history, and the lr at the end in the result. Dropped:
    the final prediction on one sample and its matplotlib plot (after training; they change nothing). The
    module-level code became the function's body; ``n_hidden`` names the script's 100.

    With the import changed and nothing else the script runs, but not the same training: braintools 0.3
    applies lr 0.025 at every update (``LRScheduler.__call__(count)`` ignores ``count``; ``get_lr`` reads
    ``last_epoch``, which no ``step()`` advances), brainopt ``0.025 * 0.99975**t`` at update ``t``.
    """
    from typing import Callable

    import jax.numpy as jnp

    _seed()

    dt = 0.04
    num_step = int(1.0 / dt)

    @brainstate.transform.jit(static_argnums=2)
    def build_inputs_and_targets(mean=0.025, scale=0.01, batch_size=10):
        # Create the white noise input
        sample = brainstate.random.normal(size=(1, batch_size, 1))
        bias = mean * 2.0 * (sample - 0.5)
        samples = brainstate.random.normal(size=(num_step, batch_size, 1))
        noise_t = scale / dt ** 0.5 * samples
        inputs = bias + noise_t
        targets = jnp.cumsum(inputs, axis=0)
        return inputs, targets

    def train_data():
        for _ in range(batches):
            yield build_inputs_and_targets(0.025, 0.01, num_batch)

    class RNNCell(brainstate.nn.Module):
        def __init__(
            self,
            num_in: int,
            num_out: int,
            state_initializer: Callable = braintools.init.ZeroInit(),
            w_initializer: Callable = braintools.init.XavierNormal(),
            b_initializer: Callable = braintools.init.ZeroInit(),
            activation: Callable = brainstate.nn.relu,
            train_state: bool = False,
        ):
            super().__init__()

            # parameters
            self.num_out = num_out
            self.train_state = train_state

            # parameters
            self.num_in = num_in

            # initializers
            self._state_initializer = state_initializer
            self._w_initializer = w_initializer
            self._b_initializer = b_initializer

            # activation function
            self.activation = activation

            # weights
            W = braintools.init.param(self._w_initializer, (num_in + num_out, self.num_out))
            b = braintools.init.param(self._b_initializer, (self.num_out,))
            self.W = brainstate.ParamState(W)
            self.b = None if (b is None) else brainstate.ParamState(b)

            # state
            if train_state:
                self.state2train = brainstate.ParamState(braintools.init.ZeroInit()(self.num_out))

        def init_state(self, batch_size=None, **kwargs):
            self.state = brainstate.HiddenState(
                braintools.init.param(self._state_initializer, (self.num_out,), batch_size))
            if self.train_state:
                self.state.value = jnp.repeat(jnp.expand_dims(self.state2train.value, axis=0), batch_size, axis=0)

        def update(self, x):
            x = jnp.concat([x, self.state.value], axis=-1)
            h = x @ self.W.value
            if self.b is not None:
                h += self.b.value
            h = self.activation(h)
            self.state.value = h
            return h

    class RNN(brainstate.nn.Module):
        def __init__(self, num_in, num_hidden):
            super().__init__()
            self.rnn = RNNCell(num_in, num_hidden, train_state=True)
            self.out = brainstate.nn.Linear(num_hidden, 1)

        def update(self, x):
            return x >> self.rnn >> self.out

    model = RNN(1, n_hidden)
    weights = model.states(brainstate.ParamState)

    @brainstate.transform.jit
    def f_predict(inputs):
        brainstate.nn.init_all_states(model, batch_size=inputs.shape[1])
        return brainstate.transform.for_loop(model.update, inputs)

    def f_loss(inputs, targets, l2_reg=2e-4):
        predictions = f_predict(inputs)
        mse = braintools.metric.squared_error(predictions, targets).mean()
        l2 = 0.0
        for weight in weights.values():
            for leaf in jax.tree.leaves(weight.value):
                l2 += jnp.sum(leaf ** 2)
        return mse + l2_reg * l2

    # define optimizer
    lr = optim.ExponentialDecayLR(0.025, decay_steps=1, decay_rate=0.99975)
    opt = optim.Adam(lr=lr, eps=1e-1)
    opt.register_trainable_weights(weights)

    @brainstate.transform.jit
    def f_train(inputs, targets):
        grads, l = brainstate.transform.grad(f_loss, weights, return_value=True)(inputs, targets)
        opt.update(grads)
        return l

    losses = []
    for i_epoch in range(epochs):
        for i_batch, (inps, tars) in enumerate(train_data()):
            loss = f_train(inps, tars)
            losses.append(float(loss))
            if (i_batch + 1) % 100 == 0:
                print(f'Epoch {i_epoch}, Batch {i_batch + 1:3d}, Loss {loss:.5f}')

    params = {'losses': np.asarray(losses), 'lr_at_end': float(opt.current_lr)}
    for path, state in weights.items():
        params['.'.join(map(str, path))] = state.value
    return params


def script_horn_delayed_match(optim, n_samples=96, n_train=64, n_hidden=16, n_epochs=5):
    """chaobrain/brainmass, ``docs/tutorials/08_training_on_tasks.ipynb`` at commit
    52e913b162847efd4cb5371e0152830b9771ea26 (tag v0.1.1, the installed brainmass; the notebook is unchanged
    from its last change, 4919d5f7bf470f8342f5125a039770e6aaab23a2, to the newest commit seen,
    293eaeb8948474c645208b68c531b7cb5482d4fb).

    The notebook's code cells in order, indented into this function, with ``braintools.optim`` written
    ``optim``. Reduced: ``delayed_match_task(n_samples=320)`` -> 96 (its own synthetic data, seed 0),
    ``n_train`` 256 -> 64 (2 updates an epoch at its ``batch_size = 32``), ``n_hidden`` 64 -> 16,
    ``n_epochs`` 20 -> 5 (10 updates instead of 160). Kept: ``seq_len=8``, ``alpha=0.2``, ``omega``, the
    loss, ``Adam(lr=3e-2)``, ``optimizer.step(grads)``, the per-epoch permutation and the test evaluation.
    Dropped: the matplotlib figures, the prints of shapes and of the final accuracy, the display-only
    expressions; ``np.random.seed(0)`` added beside the notebook's own ``brainstate.random.seed(0)``.
    """
    import brainmass
    import jax.numpy as jnp

    _seed()

    brainstate.environ.set(dt=1.0 * u.ms)
    brainstate.random.seed(0)

    inputs_np, targets_np = brainmass.datasets.delayed_match_task(
        n_samples=n_samples, seq_len=8, n_symbols=2, seed=0,
    )

    inputs = jnp.asarray(inputs_np, dtype=jnp.float32)
    targets = jnp.asarray(targets_np, dtype=jnp.int32)

    # Hold out a test split.
    X_train, y_train = inputs[:n_train], targets[:n_train]
    X_test, y_test = inputs[n_train:], targets[n_train:]
    n_symbols = inputs.shape[2]

    net = brainmass.HORNSeqNetwork(
        n_input=n_symbols,
        n_hidden=n_hidden,
        n_output=2,
        alpha=0.2,                    # excitability (raised from the 0.04 default)
        omega=2 * np.pi / 28,
    )
    brainstate.nn.init_all_states(net)

    def reset_hidden(batch_size):
        # HORN allocates hidden states unbatched; broadcast them to the batch shape.
        for layer in net.layers:
            shape = (batch_size,) + tuple(layer.horn.in_size)
            layer.horn.x.value = jnp.zeros(shape)
            layer.horn.y.value = jnp.zeros(shape)

    def logits(batch_inputs):                 # batch_inputs: (B, T, n_symbols) -> (B, 2)
        reset_hidden(batch_inputs.shape[0])
        seq = jnp.transpose(batch_inputs, (1, 0, 2))   # (T, B, n_symbols): time leads
        return net(seq)

    # A trainable weight = a ParamState. HORN's Linear layers expose several.
    weights = net.states(brainstate.ParamState)

    optimizer = optim.Adam(lr=3e-2)
    optimizer.register_trainable_weights(weights)

    def loss_and_acc(batch_inputs, batch_targets):
        lg = logits(batch_inputs)
        logp = jax.nn.log_softmax(lg, axis=-1)
        ce = -jnp.mean(logp[jnp.arange(batch_targets.shape[0]), batch_targets])
        acc = jnp.mean(jnp.argmax(lg, axis=-1) == batch_targets)
        return ce, acc

    @brainstate.transform.jit
    def train_step(batch_inputs, batch_targets):
        grad_fn = brainstate.transform.grad(
            lambda: loss_and_acc(batch_inputs, batch_targets),
            weights, has_aux=True, return_value=True,
        )
        grads, loss, acc = grad_fn()
        optimizer.step(grads)
        return loss, acc

    @brainstate.transform.jit
    def evaluate(batch_inputs, batch_targets):
        return loss_and_acc(batch_inputs, batch_targets)

    batch_size = 32
    history = {'epoch': [], 'train_loss': [], 'train_acc': [], 'test_acc': []}

    for epoch in range(n_epochs):
        perm = np.random.RandomState(epoch).permutation(n_train)
        losses, accs = [], []
        for start in range(0, n_train, batch_size):
            idx = perm[start:start + batch_size]
            if len(idx) < batch_size:
                continue
            loss, acc = train_step(X_train[idx], y_train[idx])
            losses.append(float(loss)); accs.append(float(acc))
        _, test_acc = evaluate(X_test, y_test)
        history['epoch'].append(epoch)
        history['train_loss'].append(float(np.mean(losses)))
        history['train_acc'].append(float(np.mean(accs)))
        history['test_acc'].append(float(test_acc))
        if epoch % 4 == 0 or epoch == n_epochs - 1:
            print(f"epoch {epoch:2d}: train_loss={np.mean(losses):.4f} "
                  f"train_acc={np.mean(accs):.3f}  test_acc={float(test_acc):.3f}")

    params = {'losses': np.asarray(history['train_loss']), 'test_acc': np.asarray(history['test_acc'])}
    for path, state in weights.items():
        params['.'.join(map(str, path))] = state.value
    return params


class _BrainoptEpochStepping:
    """brainopt, except that ``ExponentialDecayLR`` is built with ``stepping='epoch'``: braintools 0.3's
    behaviour, whose ``ExponentialDecayLR`` reads its epoch counter (advanced by ``sched.step()`` only, which
    integrator_rnn never calls), so its lr stays at ``base_lr``. The control run of integrator_rnn: the
    script's text is the same, only what ``optim.ExponentialDecayLR`` builds differs."""

    def __getattr__(self, name):
        return getattr(brainopt, name)

    @staticmethod
    def ExponentialDecayLR(*args, **kwargs):
        return brainopt.ExponentialDecayLR(*args, stepping='epoch', **kwargs)


RUNS = {'integrator_rnn': script_integrator_rnn, 'horn_delayed_match': script_horn_delayed_match}
#: further runs of a script, beside braintools.optim and brainopt: {name: {run name: optim}}
CONTROLS = {'integrator_rnn': {'brainopt_epoch_stepping': _BrainoptEpochStepping()}}


if __name__ == '__main__':
    out = {}
    for name in sys.argv[1:]:
        out[name] = {'braintools': plain(RUNS[name](braintools.optim)), 'brainopt': plain(RUNS[name](brainopt))}
        for run, optim in CONTROLS.get(name, {}).items():
            out[name][run] = plain(RUNS[name](optim))
    print('RESULT ' + json.dumps(out))
