"""A long run: 10,000 jitted updates of the spiking example's network, with a schedule and EMA.

The whole run is one ``brainstate.transform.for_loop`` (one compilation, seconds of work). It must stay
finite, its step counter must read exactly 10,000, and the learning rate of every one of the 10,000 updates
must equal, bit for bit, the schedule recomputed here in numpy: ``MultiStepLR`` with a power-of-two base and
``gamma=0.5`` is exact in float32, so an update that read the wrong step (one off at a milestone) fails.
"""
import importlib.util
import pathlib
import time

import brainstate
import brainunit as u
import jax.numpy as jnp
import numpy as np

import brainopt

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / 'examples' / 'spiking_digits.py'
N_UPDATES = 10_000
MILESTONES = list(range(1250, N_UPDATES, 1250))       # 7 halvings
BASE_LR = 2.0 ** -6


def load_example():
    spec = importlib.util.spec_from_file_location('brainopt_example_spiking_digits_long', EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def np_lr(k):
    """The learning rate of the update that follows ``k`` applied ones, in numpy."""
    return np.float32(BASE_LR * 0.5 ** np.sum(np.asarray(MILESTONES) <= k))


def test_ten_thousand_jitted_steps_stay_finite_and_on_schedule():
    ex = load_example()
    x_train, _, y_train, _ = ex.load_digits(0)
    rng = np.random.default_rng(0)
    n_pool, batch = 16, 8                          # a pool of 16 fixed mini-batches of 8 images, cycled
    idx = rng.permutation(len(x_train))[:n_pool * batch].reshape(n_pool, batch)
    spikes = jnp.asarray(np.stack([ex.encode(rng, x_train[i], n_steps=10) for i in idx]))   # (16, 10, 8, 64)
    labels = jnp.asarray(y_train[idx])

    brainstate.random.seed(0)
    model = ex.SpikingNet(ex.FAST['hidden'])
    params = model.states(brainstate.ParamState)
    sched = brainopt.MultiStepLR(base_lr=BASE_LR, milestones=MILESTONES, gamma=0.5, stepping='update')
    opt = brainopt.Adam(lr=sched, use_ema=True, ema_momentum=0.999, grad_clip_norm=10.0)
    opt.register_trainable_weights(params)
    w0 = np.asarray(model.w_in.value.mantissa).copy()

    def loss_fn(s, y):
        logits, _ = model.run(s)
        return ex.cross_entropy(logits, y)

    def body(i):
        j = i % n_pool
        grads, loss = brainstate.transform.grad(loss_fn, grad_states=params, return_value=True)(spikes[j], labels[j])
        info = opt.update(grads)
        return loss, info.lr, info.grad_norm

    t0 = time.perf_counter()
    losses, lrs, norms = brainstate.transform.for_loop(body, jnp.arange(N_UPDATES))
    losses, lrs, norms = np.asarray(losses), np.asarray(lrs), np.asarray(norms)
    seconds = time.perf_counter() - t0

    assert int(opt.step_count.value) == N_UPDATES
    expected = np.array([np_lr(k) for k in range(N_UPDATES)])
    mismatch = np.flatnonzero(lrs != expected)
    assert mismatch.size == 0, f'updates {mismatch[:5]} read lr {lrs[mismatch[:5]]}, expected {expected[mismatch[:5]]}'
    assert np.all(np.isfinite(losses)) and np.all(np.isfinite(norms))
    for st in (model.w_in, model.w_out):
        assert st.value.unit == u.mV and np.all(np.isfinite(st.value.mantissa))
    for path in opt.param_paths:
        ema = opt.get_slot('ema', path)
        assert ema.unit == u.mV and np.all(np.isfinite(ema.mantissa))
    assert not np.array_equal(np.asarray(model.w_in.value.mantissa), w0)
    # it learned the pool it cycles through
    assert losses[-n_pool:].mean() < 0.5 * losses[:n_pool].mean(), (losses[:n_pool].mean(), losses[-n_pool:].mean())
    print(f'{N_UPDATES} updates in {seconds:.1f} s (compilation included)')
