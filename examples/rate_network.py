r"""Train a continuous-time rate RNN on a click-accumulation working-memory task.

What this example shows
-----------------------
* A small continuous-time **rate recurrent network** written with brainstate
  modules: ``brainstate.nn.Linear`` layers for the input, recurrent and readout
  weights, and a ``brainstate.HiddenState`` for the firing-rate-like hidden
  variable, integrated with forward Euler,

  .. math::

      h_{t+1} = h_t + \frac{dt}{\tau}\bigl(-h_t + \tanh(W_{rec} h_t + W_{in} x_t + b)\bigr),
      \qquad y_t = W_{out} h_{t+1},

  with ``dt / tau = 0.2``, unrolled over the trial with
  ``brainstate.transform.for_loop``.
* Training it with :class:`brainopt.Adadelta` inside one
  ``brainopt.jit``-compiled step: ``brainstate.transform.grad``
  gives the gradients of the ``ParamState`` weights, ``opt.update(grads)``
  applies them, and the ``UpdateInfo`` it returns (learning rate, gradient norm) is
  logged.

The task ("Poisson clicks", after Brunton, Botvinick & Brody, Science 2013)
---------------------------------------------------------------------------
During the first ``T_STIM`` steps of a trial, clicks arrive at random on a
"left" and a "right" input channel, each side with its own random rate. Then
the inputs fall silent for a delay of ``T_DELAY`` steps. At every step the
network must report the running difference ``#right - #left`` of the clicks
heard so far (scaled), so during the delay it has to *hold* the accumulated
evidence in its recurrent activity: a working-memory integrator, which the
network can only solve by learning a (near) line attractor. The loss is the
mean squared error over the whole trial; the final-step error and the accuracy
of the sign of the final output (the "left or right?" choice) are printed too.

All data come from ``numpy.random.default_rng(seed)``; nothing is downloaded.
Initial and final losses are measured on a fixed held-out batch of trials.

Run it
------
::

    python examples/rate_network.py            # full run: 2000 steps, about 30 s on 2 CPU cores
    python examples/rate_network.py --fast     # 150 small steps, about 10 s (mostly start-up and compiling)
    python examples/rate_network.py --steps 2000 --seed 1
"""
import argparse
import time

import brainstate
import jax.numpy as jnp
import numpy as np

import brainopt

# -- the task ------------------------------------------------------------------------------
T_STIM = 25          # steps with clicks
T_DELAY = 50         # silent steps the evidence must be held through (10 time constants)
N_IN = 2             # left clicks, right clicks
CLICK_SCALE = 0.25   # target = CLICK_SCALE * (#right - #left): of order 1, like the tanh rates


def make_trials(rng, batch, t_stim=T_STIM, t_delay=T_DELAY):
    """A batch of click trials, time-major.

    Returns
    -------
    x : float32 array (T, batch, 2)
        Clicks on the left (channel 0) and right (channel 1) inputs.
    y : float32 array (T, batch, 1)
        ``CLICK_SCALE`` times the running count of right minus left clicks.
    """
    # each trial draws its own click probabilities, so both the sign and the
    # size of the evidence vary from trial to trial
    p = rng.uniform(0.05, 0.45, size=(1, batch, N_IN))
    clicks = (rng.random((t_stim, batch, N_IN)) < p).astype(np.float32)
    x = np.concatenate([clicks, np.zeros((t_delay, batch, N_IN), np.float32)], axis=0)
    evidence = np.cumsum(x[..., 1] - x[..., 0], axis=0)
    y = (CLICK_SCALE * evidence)[..., None].astype(np.float32)
    return x, y


# -- the model -------------------------------------------------------------------------------
class RateRNN(brainstate.nn.Module):
    """A leaky rate network ``tau dh/dt = -h + tanh(W_rec h + W_in x + b)`` with a linear readout.

    Parameters
    ----------
    n_in, n_hidden, n_out : int
        Sizes of the input, the recurrent population and the readout.
    dt_over_tau : float
        Euler step relative to the membrane time constant (``dt / tau``).
    """

    def __init__(self, n_in, n_hidden, n_out, dt_over_tau=0.2):
        super().__init__()
        self.n_hidden = n_hidden
        self.alpha = dt_over_tau
        normal = brainstate.nn.init.Normal
        self.w_in = brainstate.nn.Linear(n_in, n_hidden, w_init=normal(scale=1.0 / n_in ** 0.5), b_init=None)
        # a weak random recurrent matrix (spectral radius about 0.5), so that
        # activity decays at first and learning has to build the memory; this
        # layer's bias is the b of the equation

        self.w_rec = brainstate.nn.Linear(n_hidden, n_hidden, w_init=normal(scale=0.5 / n_hidden ** 0.5))
        self.readout = brainstate.nn.Linear(n_hidden, n_out, w_init=normal(scale=1.0 / n_hidden ** 0.5))

    def init_state(self, batch_size=None, **kwargs):
        self.h = brainstate.HiddenState(jnp.zeros((batch_size, self.n_hidden)))

    def reset_state(self, batch_size=None, **kwargs):
        self.h.value = jnp.zeros((batch_size, self.n_hidden))

    def update(self, x):
        """One Euler step; returns the readout of the new hidden state."""
        h = self.h.value
        h = h + self.alpha * (-h + jnp.tanh(self.w_rec(h) + self.w_in(x)))
        self.h.value = h
        return self.readout(h)

    def run(self, xs):
        """Reset the hidden state and unroll over the leading (time) axis of ``xs``."""
        self.reset_state(xs.shape[1])
        return brainstate.transform.for_loop(self.update, xs)


# -- training --------------------------------------------------------------------------------
class CosineDecay(brainopt.LRScheduler):
    """``lr`` decaying along half a cosine to ``final_fraction * lr`` after ``steps`` updates.

    A :class:`brainopt.LRScheduler` is a pure ``jax.numpy`` function of the
    number of updates already applied; the optimizer evaluates it inside the
    compiled step.
    """

    def __init__(self, lr, steps, final_fraction=0.05):
        self.lr, self.steps, self.final_fraction = float(lr), int(steps), float(final_fraction)

    def __call__(self, step):
        progress = jnp.minimum(step / max(self.steps, 1), 1.0)
        cosine = 0.5 * (1.0 + jnp.cos(jnp.pi * progress))
        return self.lr * (self.final_fraction + (1.0 - self.final_fraction) * cosine)

    def get_config(self):
        return dict(lr=self.lr, steps=self.steps, final_fraction=self.final_fraction)


DEFAULTS = dict(hidden=64, batch=64, steps=2000, lr=1.0, log_every=200)
FAST = dict(hidden=32, batch=16, steps=150, lr=1.0, log_every=25)


def main(argv=None):
    """Train the network and return its losses.

    Returns
    -------
    dict
        ``initial_loss`` and ``final_loss`` (MSE on a fixed held-out batch
        before and after training), ``losses`` (the training loss of every
        step), ``eval_losses`` (``(step, held-out loss)`` pairs), and the
        held-out ``final_step_mse`` and ``choice_accuracy``.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--fast', action='store_true', help='150 steps on a batch of 16 (about 10 s, mostly compiling)')
    parser.add_argument('--steps', type=int, default=None, help='number of training steps')
    parser.add_argument('--seed', type=int, default=0, help='seed of the data and of the initial weights')
    parser.add_argument('--lr', type=float, default=None, help='initial Adadelta learning rate (default 1.0)')
    args = parser.parse_args(argv)

    cfg = dict(FAST if args.fast else DEFAULTS)
    if args.steps is not None:
        cfg['steps'] = args.steps
    if args.lr is not None:
        cfg['lr'] = args.lr
    n_steps, batch = cfg['steps'], cfg['batch']

    brainstate.random.seed(args.seed)          # initial weights
    rng = np.random.default_rng(args.seed)     # trials
    model = RateRNN(N_IN, cfg['hidden'], 1)
    model.init_state(batch)
    params = model.states(brainstate.ParamState)

    # Adadelta with the paper's rho=0.9 and eps=1e-6. Settings, and why:
    # * lr starts at 1.0 (the paper's "no learning rate"); 3.0 did not help
    #   (slightly higher final loss). It decays along a cosine to 5% of that
    #   by the last step: the clicks are random, so the gradients stay
    #   noisy, and with a constant lr the held-out loss kept wandering
    #   between about 0.03 and 0.19 and ended at 0.07, against 0.004 with
    #   the decay (default run, seed 0).
    # * grad_clip_norm=10.0 is a safety net against the occasional exploding
    #   gradient of backpropagation through time, set above the usual
    #   gradient norm (median 1.6, 99th percentile 4.8 here; it clipped one
    #   step in 2000). A tight clip of 1.0 was active on 70% of the steps
    #   and ended 1.5x higher (3x with a constant lr): Adadelta normalises by
    #   running averages of g^2, and rescaling each gradient by a different
    #   factor only adds noise to those averages.
    opt = brainopt.Adadelta(lr=CosineDecay(cfg['lr'], n_steps, final_fraction=0.05),
                            rho=0.9, eps=1e-6, grad_clip_norm=10.0)
    opt.register_trainable_weights(params)

    def loss_fn(x, y):
        return jnp.mean((model.run(x) - y) ** 2)

    @brainopt.jit
    def train_step(x, y):
        grads, loss = brainstate.transform.grad(loss_fn, grad_states=params, return_value=True)(x, y)
        info = opt.update(grads)
        return loss, info.grad_norm, info.lr

    @brainopt.jit
    def evaluate(x, y):
        out = model.run(x)
        decided = y[-1] != 0   # trials with as many left as right clicks have no right answer
        correct = (jnp.sign(out[-1]) == jnp.sign(y[-1])) & decided
        return jnp.mean((out - y) ** 2), jnp.mean((out[-1] - y[-1]) ** 2), correct.sum() / decided.sum()

    # the held-out batch (same batch size, so the hidden state keeps its shape)
    x_val, y_val = make_trials(np.random.default_rng(args.seed + 10_000), batch)
    initial_loss = float(evaluate(x_val, y_val)[0])
    print(f'RateRNN(hidden={cfg["hidden"]}), {opt!r}, batch={batch}, steps={n_steps}')
    print(f'held-out loss of a network that always answers 0: {float(np.mean(y_val ** 2)):.4f}')
    print(f'step {0:5d}  held-out loss {initial_loss:.4f}')

    losses, eval_losses = [], [(0, initial_loss)]
    t0 = time.perf_counter()
    for step in range(1, n_steps + 1):
        x, y = make_trials(rng, batch)
        loss, gnorm, lr = train_step(x, y)
        losses.append(float(loss))
        if step % cfg['log_every'] == 0 or step == n_steps:
            val = float(evaluate(x_val, y_val)[0])
            eval_losses.append((step, val))
            print(f'step {step:5d}  train loss {losses[-1]:.4f}  held-out loss {val:.4f}  '
                  f'|g| {float(gnorm):.2f}  lr {float(lr):.3f}  ({time.perf_counter() - t0:.1f} s)')

    final_loss, final_step_mse, accuracy = (float(v) for v in evaluate(x_val, y_val))
    print(f'held-out error at the last step {final_step_mse:.4f}, choice accuracy {accuracy:.1%}')
    print(f'initial loss {initial_loss:.4f} -> final loss {final_loss:.4f} '
          f'({final_loss / initial_loss:.1%} of the initial loss)')
    return dict(initial_loss=initial_loss, final_loss=final_loss, losses=losses, eval_losses=eval_losses,
                final_step_mse=final_step_mse, choice_accuracy=accuracy)


if __name__ == '__main__':
    main()
