"""The training run that tests/test_checkpoint.py interrupts, saves, and resumes in a new process.

One deterministic run per optimizer row: the contract's two-layer MLP, a fresh
batch per call (numpy RandomState(call)), a NaN gradient on one call, and
every stateful feature on: a schedule, EMA, gradient accumulation over two
calls, and skipping of non-finite steps. ``python tests/resume_job.py DIR``
resumes every ``DIR/*.half.npz`` and writes ``*.final.npz``.
"""
import os
import sys

import brainstate
import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import brainopt  # noqa: E402

from models import MLP  # noqa: E402,F401  (test_checkpoint uses resume_job.MLP)
from table import OPTIMIZERS  # noqa: E402

CALLS = 10           # 5 applied updates of 2 accumulated calls; one call is non-finite
NAN_CALL = 3


def row(name):
    return next(r for r in OPTIMIZERS if r.name == name)


def base_lr(info):
    lr = info.kwargs.get('lr', 1e-3)
    return lr if isinstance(lr, float) else 1e-2


def build(name, schedule, seed=0):
    """A fresh model and optimizer, as a new process would build them."""
    info = row(name)
    lr0 = base_lr(info)
    if schedule == 'callable':
        lr = lambda step: lr0 * 0.8 ** (step // 2)  # noqa: E731  (any callable of the step)
    else:
        lr = brainopt.ExponentialLR(base_lr=lr0, gamma=0.8, stepping='epoch')
    model = MLP(seed)
    opt = info.make(**info.supported(lr=lr, use_ema=True, ema_momentum=0.5, gradient_accumulation_steps=2,
                                     skip_nonfinite=True))
    opt.register_trainable_weights(model.states(brainstate.ParamState))
    return model, opt


def batch(call):
    rng = np.random.RandomState(call)
    return jnp.asarray(rng.randn(16, 4), jnp.float32), jnp.asarray(rng.randn(16, 2), jnp.float32)


def applied(name):
    """The updates applied in CALLS calls: one call is non-finite, the others accumulate in pairs where the row
    takes accumulation."""
    return (CALLS - 1) // (2 if row(name).supported(gradient_accumulation_steps=2) else 1)


def _loss(values, x, y):
    """The MLP's mean squared error as a pure function of its parameter values (what ``model(x)`` computes)."""
    l1, l2 = values[('l1', 'weight')], values[('l2', 'weight')]
    return jnp.mean((jnp.tanh(x @ l1['weight'] + l1['bias']) @ l2['weight'] + l2['bias'] - y) ** 2)


# one compiled gradient for every row and both processes (brainstate's eager grad of the model re-traces and runs
# op by op on each call: ~40 ms, a third of the resume test's time); the test is of the checkpoint, not of grad
_GRAD = jax.jit(jax.grad(_loss))


def run(model, opt, calls, name='Adam'):
    info = row(name)
    params = model.states(brainstate.ParamState)
    for call in calls:
        x, y = batch(call)

        def grad_fn(x=x, y=y):
            return _GRAD({k: s.value for k, s in params.items()}, x, y)
        grads = grad_fn()
        if call == NAN_CALL:
            grads = {k: {n: g * jnp.nan for n, g in v.items()} for k, v in grads.items()}
        info.update(opt, grads, grad_fn)
        sched = opt.lr
        if hasattr(sched, 'step') and getattr(sched, 'stepping', None) == 'epoch' and call % 4 == 3:
            sched.step()                # an "epoch" of four calls


def key(name, schedule):
    return f'{name}--{schedule}'


def resume_all(directory):
    for fname in sorted(os.listdir(directory)):
        if not fname.endswith('.half.npz'):
            continue
        name, schedule = fname[:-len('.half.npz')].split('--')
        model, opt = build(name, schedule, seed=123)      # different initial values: the file must overwrite them
        brainopt.load_checkpoint(os.path.join(directory, fname), model=model, optimizer=opt)
        run(model, opt, range(CALLS // 2, CALLS), name)
        brainopt.save_checkpoint(os.path.join(directory, f'{key(name, schedule)}.final.npz'), model=model,
                                 optimizer=opt)


if __name__ == '__main__':
    resume_all(sys.argv[1])
