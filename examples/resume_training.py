"""Stop training, save a checkpoint, resume in a new process: the result is bit-identical.

A small regression network is trained with Adam, a per-epoch ``StepLR``
schedule, EMA of the weights and gradient accumulation, for ``2 * N`` steps in
three ways:

1. in one go (``--phase all``);
2. ``N`` steps, then ``brainopt.save_checkpoint`` (``--phase first``);
3. in a **new Python process**: a freshly built model and optimizer,
   ``brainopt.load_checkpoint``, then the other ``N`` steps (``--phase second``).

Run without ``--phase`` it runs all three (2 and 3 as subprocesses, as a killed
notebook or a cluster job would) and compares every parameter and every
optimizer State bit for bit.

Run it::

    python examples/resume_training.py            # 200 + 200 steps
    python examples/resume_training.py --fast     # 20 + 20 steps (the tests run this)
"""
import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

import brainstate
import jax
import jax.numpy as jnp
import numpy as np

import brainopt

STEPS_PER_EPOCH = 10


class Net(brainstate.nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = brainstate.nn.Linear(3, 16)
        self.l2 = brainstate.nn.Linear(16, 1)

    def __call__(self, x):
        return self.l2(jnp.tanh(self.l1(x)))


def build(seed):
    brainstate.random.seed(seed)
    model = Net()
    sched = brainopt.StepLR(base_lr=1e-2, step_size=2, gamma=0.5)          # per epoch: sched.step()
    opt = brainopt.Adam(lr=sched, use_ema=True, gradient_accumulation_steps=2)
    opt.register_trainable_weights(model.states(brainstate.ParamState))
    return model, opt, sched


def batch(step):
    rng = np.random.default_rng(step)            # the data of step k, whichever process trains it
    x = rng.normal(size=(32, 3)).astype(np.float32)
    y = np.sin(x.sum(axis=1, keepdims=True)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(y)


def train(model, opt, sched, steps):
    params = model.states(brainstate.ParamState)

    @brainopt.jit
    def train_step(x, y):
        grads, loss = brainstate.transform.grad(lambda: jnp.mean((model(x) - y) ** 2), grad_states=params,
                                                return_value=True)()
        opt.update(grads)
        return loss

    for k in steps:
        loss = train_step(*batch(k))
        if (k + 1) % STEPS_PER_EPOCH == 0:
            sched.step()
    return float(loss)


def snapshot(model, opt):
    """Every parameter and optimizer State, as raw bytes."""
    tree = {'params': {k: s.value for k, s in model.states(brainstate.ParamState).items()},
            'optimizer': {k: s.value for k, s in brainstate.graph.states(opt).items()}}
    return {jax.tree_util.keystr(p): np.asarray(x).tobytes() for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--phase', choices=['all', 'first', 'second'])
    parser.add_argument('--steps', type=int, default=200, help='steps before and after the interruption')
    parser.add_argument('--fast', action='store_true', help='20 + 20 steps')
    parser.add_argument('--dir', type=pathlib.Path, default=None, help='where the checkpoints go')
    args = parser.parse_args(argv)
    n = 20 if args.fast else args.steps
    folder = args.dir or pathlib.Path(tempfile.mkdtemp(prefix='brainopt-resume-'))
    if args.phase == 'first':
        model, opt, sched = build(seed=0)
        train(model, opt, sched, range(n))
        brainopt.save_checkpoint(folder / 'half.npz', model=model, optimizer=opt, extra={'next_step': n})
        return {}
    if args.phase == 'second':
        model, opt, sched = build(seed=1)       # other initial weights: the checkpoint must replace them
        start = int(brainopt.load_checkpoint(folder / 'half.npz', model=model, optimizer=opt)['next_step'])
        train(model, opt, sched, range(start, 2 * n))
        brainopt.save_checkpoint(folder / 'resumed.npz', model=model, optimizer=opt)
        return {}

    model, opt, sched = build(seed=0)
    loss = train(model, opt, sched, range(2 * n))
    if args.phase == 'all':
        return {'loss': loss}
    here = [sys.executable, os.path.abspath(__file__), '--steps', str(n), '--dir', str(folder)]
    for phase in ('first', 'second'):
        subprocess.run(here + ['--phase', phase], check=True)
    resumed_model, resumed_opt, _ = build(seed=2)
    brainopt.load_checkpoint(folder / 'resumed.npz', model=resumed_model, optimizer=resumed_opt)
    a, b = snapshot(model, opt), snapshot(resumed_model, resumed_opt)
    identical = a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    print(f'{2 * n} steps in one go: loss {loss:.4f}, lr now {float(opt.current_lr):.2e}; '
          f'interrupted after {n}, resumed in a new process: bit-identical = {identical} '
          f'({len(a)} arrays compared)')
    if not identical:
        raise SystemExit('the resumed run differs from the uninterrupted one')
    return {'identical': identical, 'loss': loss, 'arrays': len(a)}


if __name__ == '__main__':
    main()
