r"""Data-parallel training of the spiking network over a device mesh, with JAX's own sharding.

What this example shows
-----------------------
* The spiking network of ``examples/spiking_digits.py`` (LIF neurons, weights
  in mV, surrogate gradient) trained with :class:`brainopt.Adam` and a cosine
  schedule on a mesh of devices: the parameters are replicated on every device
  (``NamedSharding(mesh, PartitionSpec())``), each batch is split along the
  mesh axis ``'data'``, and ``brainopt.jit`` compiles one step in
  which XLA computes each device's share of the batch and sums the gradients
  across devices. The model and the training step are the single-device ones:
  only where the arrays live changes.
* ``--zero``: :meth:`brainopt.Optimizer.shard_accumulators` splits Adam's
  moments along ``'data'`` too (ZeRO stage 1), so that each device holds a
  quarter (on 4 devices) of the optimizer state.
* The same run on one device, on the same global batches: the result is the
  same to float32 round-off, which the script checks and prints.

On a machine with only a CPU, this script asks XLA for 8 simulated CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=8``, set before jax
starts); on a machine with GPUs it uses them. Across several hosts, call
``jax.distributed.initialize()`` first (``docs/sharding.md``).

Run it
------
::

    python examples/data_parallel.py           # 10 epochs on every device, then the same on one device
    python examples/data_parallel.py --fast    # 20 updates of a smaller network (what the tests run)
    python examples/data_parallel.py --zero    # Adam's moments split across the devices (ZeRO-1)
"""
import os

os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=8')   # before jax starts

import argparse  # noqa: E402
import pathlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import brainstate  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P

import brainopt  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import spiking_digits as sd  # noqa: E402

DEFAULTS = dict(hidden=128, batch=64, epochs=10, lr=1e-2, updates=None)
FAST = dict(hidden=64, batch=64, epochs=1, lr=1e-2, updates=20)


def train(devices, batches, cfg, seed, zero=False, progress=False):
    """Train a fresh network on ``batches`` (a list of ``(spikes, labels)``) over a mesh of ``devices``.

    Returns
    -------
    model, opt, losses
        The trained network, its optimizer and the loss of every update.
    """
    mesh = Mesh(np.array(devices), ('data',))
    replicated = NamedSharding(mesh, P())
    by_example = NamedSharding(mesh, P(None, 'data'))    # spikes are (time, batch, 64): split the batch
    labels_by_example = NamedSharding(mesh, P('data'))

    brainstate.random.seed(seed)
    model = sd.SpikingNet(cfg['hidden'])
    params = model.states(brainstate.ParamState)
    for st in params.values():
        st.value = jax.device_put(st.value, replicated)
    schedule = brainopt.CosineAnnealingLR(base_lr=cfg['lr'], T_max=len(batches), eta_min=cfg['lr'] / 20,
                                          stepping='update')
    opt = brainopt.Adam(lr=schedule).register_trainable_weights(params)
    if zero:
        opt.shard_accumulators(mesh, axis='data')

    def loss_fn(spikes, labels):
        logits, _ = model.run(spikes)
        return sd.cross_entropy(logits, labels)

    @brainopt.jit
    def train_step(spikes, labels):
        grads, loss = brainstate.transform.grad(loss_fn, grad_states=params, return_value=True)(spikes, labels)
        opt.update(grads)
        return loss

    from tqdm.auto import tqdm
    losses = []
    for spikes, labels in tqdm(batches, desc=f'{len(devices)} device(s)', disable=not progress):
        loss = train_step(jax.device_put(spikes, by_example), jax.device_put(labels, labels_by_example))
        losses.append(float(loss))
    return model, opt, losses


def main(argv=None):
    """Train on every device and on one, on the same batches, and compare.

    Returns
    -------
    dict
        ``devices`` (how many), ``losses`` and ``single_losses`` (per update),
        ``max_loss_diff`` and ``max_param_diff`` (largest absolute difference
        of a loss and of a weight in mV between the two runs),
        ``test_accuracy``, ``seconds`` and ``single_seconds``, and the
        data-parallel ``model`` and ``optimizer``.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--fast', action='store_true', help='20 updates of a 64-neuron network')
    parser.add_argument('--zero', action='store_true', help="split Adam's moments across the devices (ZeRO-1)")
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    cfg = dict(FAST if args.fast else DEFAULTS)

    devices = jax.devices()
    if cfg['batch'] % len(devices):
        raise SystemExit(f'the batch ({cfg["batch"]}) must split evenly over the {len(devices)} devices')
    x_train, x_test, y_train, y_test = sd.load_digits(args.seed)
    rng = np.random.default_rng(args.seed)
    batches = []
    for _ in range(cfg['epochs']):
        order = rng.permutation(len(x_train))
        spikes, labels = sd.encode(rng, x_train[order]), y_train[order]
        for i in range(len(x_train) // cfg['batch']):
            sl = slice(i * cfg['batch'], (i + 1) * cfg['batch'])
            batches.append((spikes[:, sl], labels[sl]))
    batches = batches[:cfg['updates']]
    print(f'{len(devices)} devices ({devices[0].platform}), {len(batches)} updates of {cfg["batch"]} images, '
          f'hidden={cfg["hidden"]}{", ZeRO-1" if args.zero else ""}')

    t0 = time.perf_counter()
    model, opt, losses = train(devices, batches, cfg, args.seed, zero=args.zero, progress=not args.no_progress)
    seconds = time.perf_counter() - t0
    moment = opt.slots['exp_avg'].value['w_in']          # the raw array (get_slot adds its unit)
    print(f'data parallel: {seconds:.1f} s; loss {losses[0]:.3f} -> {losses[-1]:.3f}; '
          f'exp_avg of w_in split as {moment.sharding.spec}')

    t0 = time.perf_counter()
    single, _, single_losses = train(devices[:1], batches, cfg, args.seed, progress=not args.no_progress)
    single_seconds = time.perf_counter() - t0
    param_diff = max(float(np.max(np.abs(np.asarray(a.value.mantissa) - np.asarray(b.value.mantissa))))
                     for a, b in ((model.w_in, single.w_in), (model.w_out, single.w_out)))
    loss_diff = float(np.max(np.abs(np.asarray(losses) - np.asarray(single_losses))))
    print(f'one device:    {single_seconds:.1f} s; '
          f'largest difference: loss {loss_diff:.2e}, weight {param_diff:.2e} mV')

    s_test = sd.encode(np.random.default_rng(args.seed + 10_000), x_test)
    logits, _ = model.run(jax.numpy.asarray(s_test))
    accuracy = float(np.mean(np.argmax(np.asarray(logits), axis=1) == y_test))
    print(f'test accuracy: {accuracy:.1%}')
    return dict(devices=len(devices), losses=losses, single_losses=single_losses, max_loss_diff=loss_diff,
                max_param_diff=param_diff, test_accuracy=accuracy, seconds=seconds, single_seconds=single_seconds,
                model=model, optimizer=opt)


if __name__ == '__main__':
    main()
