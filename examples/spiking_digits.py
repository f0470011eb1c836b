r"""Train a spiking network of leaky integrate-and-fire neurons to read handwritten digits.

What this example shows
-----------------------
* A **spiking neural network** written with brainstate and brainunit: 64 input
  spike trains, a layer of leaky integrate-and-fire (LIF) neurons, and 10
  leaky-integrator readout neurons, simulated with forward Euler in physical
  units (``ms``, ``mV``),

  .. math::

      V_{t+1} = V_t + \frac{dt}{\tau}\,(V_{rest} - V_t) + W^\top s_t, \qquad
      s_{t+1} = H(V_{t+1} - V_{th}), \qquad V_{t+1} \leftarrow V_{reset}
      \text{ where } s_{t+1} = 1,

  with :math:`\tau = 10` ms, :math:`dt = 1` ms, :math:`V_{rest} = V_{reset} =
  -65` mV and :math:`V_{th} = -50` mV. The weights are ``brainstate.ParamState``
  s holding ``brainunit`` quantities in mV (the jump of the membrane potential
  caused by one presynaptic spike), and the optimizer keeps them in mV.
* A **surrogate gradient** (Neftci, Mostafa & Zenke, IEEE Signal Processing
  Magazine 2019): the spike is the Heaviside step :math:`H` in the forward
  pass, and the derivative of a steep sigmoid in the backward pass, so that
  backpropagation through time can train the weights.
* Training with :class:`brainopt.Adam` and a :class:`brainopt.CosineAnnealingLR`
  schedule inside one ``brainopt.jit``-compiled step, with a
  progress bar (tqdm) that shows the loss; then the test accuracy, a checkpoint
  of the model and the optimizer (``brainopt.save_checkpoint``), and a PNG plot
  of the loss, test-accuracy and learning-rate curves.

The data
--------
scikit-learn's 8x8 handwritten digits (1797 images, 10 classes; the file ships
inside the scikit-learn package, nothing is downloaded), split 80/20 into
stratified training and test sets. Each pixel (0..16) becomes a Bernoulli
spike train over ``T = 40`` steps of 1 ms whose rate is proportional to its
intensity (up to 250 Hz). The training set is encoded anew every epoch; the
test set once, with its own seed. The readout's mean membrane potential
(relative to rest, in mV) is the logit of each class; the loss is the
cross-entropy.

Run it
------
::

    python examples/spiking_digits.py              # full run: 40 epochs, about 95% test accuracy
    python examples/spiking_digits.py --fast       # 3 epochs of a smaller network, about 80%

On 2 CPU cores shared with other jobs (load average 9) the full run trained
in 23 s and took 52 s in all (start-up, compilation, the plot); the fast run
trains in about 10 s. With ``--fast`` the script fails unless the test loss
falls.
    python examples/spiking_digits.py --epochs 60 --seed 1 --out /tmp/snn

Results go to ``--out`` (default ``examples/out/``): ``spiking_digits.npz``
(see ``brainopt.load_checkpoint``) and ``spiking_digits.png``.
"""
import argparse
import pathlib
import time

import brainstate
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

import brainopt

# -- the neurons -----------------------------------------------------------------------------
DT = 1.0 * u.ms            # Euler step
TAU = 10.0 * u.ms          # membrane time constant of the LIF and readout neurons
V_REST = -65.0 * u.mV      # resting potential
V_RESET = -65.0 * u.mV     # potential after a spike
V_TH = -50.0 * u.mV        # firing threshold
SURROGATE_SLOPE = 5.0      # steepness of the surrogate sigmoid, per unit of (V - V_th) / (V_th - V_rest)

# -- the data --------------------------------------------------------------------------------
N_STEPS = 40               # time steps per image (40 ms)
MAX_RATE = 250.0 * u.Hz    # firing rate of a pixel of full intensity
N_IN, N_CLASSES = 64, 10


def load_digits(seed, test_fraction=0.2):
    """scikit-learn's 8x8 digits, pixels scaled to [0, 1], split into stratified training and test sets.

    Returns
    -------
    x_train, x_test : float32 arrays (n, 64)
    y_train, y_test : int32 arrays (n,)
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    digits = sklearn_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int32)
    return train_test_split(x, y, test_size=test_fraction, stratify=y, random_state=seed)


def encode(rng, pixels, n_steps=N_STEPS, max_rate=MAX_RATE, dt=DT):
    """Bernoulli (discretised Poisson) spike trains, time-major: float32 array (n_steps, n, 64).

    A pixel of intensity ``p`` in [0, 1] spikes in each step with probability
    ``p * max_rate * dt``.
    """
    prob = pixels * float(max_rate * dt)      # Hz * ms: brainunit makes it a plain number
    return (rng.random((n_steps,) + pixels.shape) < prob).astype(np.float32)


# -- the model -------------------------------------------------------------------------------
def spike(x):
    """Heaviside step of ``x`` in the forward pass; in the backward pass, the derivative
    of ``sigmoid(SURROGATE_SLOPE * x)`` (the surrogate gradient)."""
    soft = jax.nn.sigmoid(SURROGATE_SLOPE * x)
    hard = (x >= 0).astype(x.dtype)
    return soft + jax.lax.stop_gradient(hard - soft)


class SpikingNet(brainstate.nn.Module):
    """64 input spike trains -> ``n_hidden`` LIF neurons -> 10 leaky-integrator readout neurons.

    Parameters
    ----------
    n_hidden : int
        Number of LIF neurons.

    Notes
    -----
    The membrane potentials are carried through the time loop
    (``brainstate.transform.scan``) rather than kept in ``HiddenState`` s, so
    that the same compiled code runs batches of any size.
    """

    def __init__(self, n_hidden):
        super().__init__()
        self.n_hidden = n_hidden
        # Initial weights in mV. An average image sends a hidden neuron about 5
        # input spikes per ms; at 0.3 mV each they hold its potential about
        # tau * 1.5 mV/ms = 15 mV above rest, at threshold, so that the random
        # part of the weights makes some neurons fire from the first update.
        w_in = brainstate.random.normal(0.3, 1.5, (N_IN, n_hidden))
        w_out = brainstate.random.normal(0.0, 1.0 / n_hidden ** 0.5, (n_hidden, N_CLASSES))
        self.w_in = brainstate.ParamState(w_in * u.mV)
        self.w_out = brainstate.ParamState(w_out * u.mV)

    def run(self, spikes):
        """Simulate the network on time-major input spikes (T, n, 64).

        Returns
        -------
        logits : array (n, 10)
            Mean readout potential relative to rest, in mV, as a plain number.
        rate : array ()
            Mean firing rate of the hidden neurons, in Hz, as a plain number.
        """
        batch = spikes.shape[1]
        decay = DT / TAU                                   # a plain number: ms / ms
        v_hidden = jnp.full((batch, self.n_hidden), V_REST.to_decimal(u.mV)) * u.mV
        v_out = jnp.full((batch, N_CLASSES), V_REST.to_decimal(u.mV)) * u.mV

        def step(carry, s_in):
            v_h, v_o = carry
            v_h = v_h + decay * (V_REST - v_h) + s_in @ self.w_in.value
            s_h = spike((v_h - V_TH) / (V_TH - V_REST))     # dimensionless argument
            # reset: the surrogate gradient flows through the spike, not through the reset
            v_h = u.math.where(jax.lax.stop_gradient(s_h) > 0, V_RESET, v_h)
            v_o = v_o + decay * (V_REST - v_o) + s_h @ self.w_out.value
            return (v_h, v_o), (v_o, s_h)

        _, (v_outs, s_hidden) = brainstate.transform.scan(step, (v_hidden, v_out), spikes)
        logits = ((v_outs - V_REST) / u.mV).mean(axis=0)
        rate = s_hidden.mean() / float(DT / u.second)
        return logits, rate


# -- training --------------------------------------------------------------------------------
DEFAULTS = dict(hidden=128, batch=64, epochs=40, lr=1e-2)
FAST = dict(hidden=64, batch=64, epochs=3, lr=1e-2)

OUT = pathlib.Path(__file__).resolve().parent / 'out'


def cross_entropy(logits, labels):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1))


def save_plot(path, losses, lrs, epoch_accuracy, steps_per_epoch):
    """Write the loss, test-accuracy and learning-rate curves to a PNG file."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    steps = np.arange(1, len(losses) + 1)
    fig, (ax_loss, ax_acc, ax_lr) = plt.subplots(3, 1, figsize=(7, 7.5), sharex=True)
    ax_loss.plot(steps, losses, lw=0.6, color='tab:blue', alpha=0.4, label='per update')
    k = max(1, steps_per_epoch)
    if len(losses) >= k:
        smooth = np.convolve(losses, np.ones(k) / k, mode='valid')
        ax_loss.plot(steps[k - 1:], smooth, color='tab:blue', label=f'mean of {k} updates (one epoch)')
    ax_loss.set_ylabel('training loss')
    ax_loss.set_yscale('log')
    ax_loss.legend(loc='upper right')
    ax_acc.plot([e * steps_per_epoch for e, _ in epoch_accuracy], [a for _, a in epoch_accuracy],
                'o-', ms=3, color='tab:orange')
    ax_acc.axhline(0.9, color='gray', lw=0.8, ls='--')
    ax_acc.set_ylabel('test accuracy')
    ax_acc.set_ylim(0, 1)
    ax_lr.plot(steps, lrs, color='tab:green')
    ax_lr.set_ylabel('learning rate')
    ax_lr.set_xlabel('update')
    fig.suptitle('LIF network on 8x8 digits, brainopt.Adam + CosineAnnealingLR')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    """Train the network and return what it learned.

    Returns
    -------
    dict
        ``test_accuracy`` (after training), ``initial_test_loss`` and
        ``final_test_loss`` (cross-entropy on the test set), ``losses`` and
        ``lrs`` (per update), ``epoch_accuracy`` (``(epoch, test accuracy)``
        pairs, epoch 0 before training), ``hidden_rate_hz`` (mean firing rate
        of the LIF neurons on the test set), ``seconds`` (training wall time,
        compilation included), ``checkpoint`` and ``plot`` (paths), and the
        trained ``model`` and its ``optimizer``.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--fast', action='store_true',
                        help='3 epochs of a 64-neuron network (about 10 s); fails unless the loss falls')
    parser.add_argument('--epochs', type=int, default=None, help='passes over the training set (default 40)')
    parser.add_argument('--hidden', type=int, default=None, help='number of LIF neurons (default 128)')
    parser.add_argument('--lr', type=float, default=None, help='initial Adam learning rate (default 1e-2)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the split, the spike trains and the weights')
    parser.add_argument('--out', type=pathlib.Path, default=OUT, help='folder for the checkpoint and the plot')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)

    cfg = dict(FAST if args.fast else DEFAULTS)
    for key in ('epochs', 'hidden', 'lr'):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)

    x_train, x_test, y_train, y_test = load_digits(args.seed)
    rng = np.random.default_rng(args.seed)
    s_test = encode(np.random.default_rng(args.seed + 10_000), x_test)   # one fixed encoding
    batch = cfg['batch']
    steps_per_epoch = len(x_train) // batch         # the last partial batch of an epoch is dropped
    n_updates = steps_per_epoch * cfg['epochs']

    brainstate.random.seed(args.seed)
    model = SpikingNet(cfg['hidden'])
    params = model.states(brainstate.ParamState)

    # Adam with a cosine decay of the learning rate over the whole run, to
    # 1/20 of its initial value: the spike trains are random, so the gradients
    # stay noisy to the end, and the decay lets the weights settle.
    # stepping='update': the schedule's counter is the optimizer's number of
    # applied updates, so the decay happens inside the compiled step.
    schedule = brainopt.CosineAnnealingLR(base_lr=cfg['lr'], T_max=n_updates, eta_min=cfg['lr'] / 20,
                                          stepping='update')
    opt = brainopt.Adam(lr=schedule)
    opt.register_trainable_weights(params)

    def loss_fn(spikes, labels):
        logits, _ = model.run(spikes)
        return cross_entropy(logits, labels)

    @brainopt.jit
    def train_step(spikes, labels):
        grads, loss = brainstate.transform.grad(loss_fn, grad_states=params, return_value=True)(spikes, labels)
        info = opt.update(grads)
        return loss, info.lr

    @brainopt.jit
    def evaluate(spikes, labels):
        logits, rate = model.run(spikes)
        return cross_entropy(logits, labels), jnp.mean(jnp.argmax(logits, axis=1) == labels), rate

    def test():
        return tuple(float(v) for v in evaluate(s_test, y_test))

    initial_loss, initial_acc, _ = test()
    print(f'SpikingNet(hidden={cfg["hidden"]}), {opt!r}')
    print(f'{len(x_train)} training and {len(x_test)} test images; batch {batch}, {cfg["epochs"]} epochs, '
          f'{n_updates} updates')
    print(f'before training: test loss {initial_loss:.3f}, test accuracy {initial_acc:.1%}')

    from tqdm.auto import tqdm

    losses, lrs, epoch_accuracy = [], [], [(0, initial_acc)]
    t0 = time.perf_counter()
    with tqdm(total=n_updates, desc='training', unit='step', disable=args.no_progress) as bar:
        for epoch in range(1, cfg['epochs'] + 1):
            order = rng.permutation(len(x_train))
            spikes = encode(rng, x_train[order])
            labels = y_train[order]
            for i in range(steps_per_epoch):
                sl = slice(i * batch, (i + 1) * batch)
                loss, lr = train_step(spikes[:, sl], labels[sl])
                losses.append(float(loss))
                lrs.append(float(lr))
                bar.update(1)
                if i % 5 == 0:
                    bar.set_postfix(epoch=epoch, loss=f'{np.mean(losses[-steps_per_epoch:]):.3f}', lr=f'{lrs[-1]:.1e}')
            epoch_accuracy.append((epoch, test()[1]))
    seconds = time.perf_counter() - t0

    final_loss, accuracy, rate = test()
    print(f'trained in {seconds:.1f} s ({len(losses)} updates, compilation included)')
    print(f'test loss {initial_loss:.3f} -> {final_loss:.3f}; mean hidden firing rate {rate:.1f} Hz')
    print(f'test accuracy: {accuracy:.1%}')

    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = args.out / 'spiking_digits.npz'
    brainopt.save_checkpoint(checkpoint, model=model, optimizer=opt,
                             extra=dict(epochs=cfg['epochs'], hidden=cfg['hidden'], seed=args.seed,
                                        test_accuracy=accuracy))
    plot = args.out / 'spiking_digits.png'
    save_plot(plot, losses, lrs, epoch_accuracy, steps_per_epoch)
    print(f'wrote {checkpoint} and {plot}')
    if args.fast and cfg['lr'] > 0 and not final_loss < 0.8 * initial_loss:
        raise RuntimeError(f'--fast: the test loss fell only from {initial_loss:.3f} to {final_loss:.3f}')
    return dict(test_accuracy=accuracy, initial_test_loss=initial_loss, final_test_loss=final_loss,
                losses=losses, lrs=lrs, epoch_accuracy=epoch_accuracy, hidden_rate_hz=rate,
                seconds=seconds, checkpoint=checkpoint, plot=plot, model=model, optimizer=opt)


if __name__ == '__main__':
    main()
