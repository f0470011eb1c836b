"""Schedules that torch does not have, against the library they come from, run live here.

* Keras 3.15.1 (JAX backend), ``keras.optimizers.schedules``: InverseTimeDecay, CosineDecay (with warmup).
* optax 0.2.8: ExponentialDecayLR (``optax.exponential_decay``), WarmupCosineSchedule
  (``optax.warmup_cosine_decay_schedule``), PiecewiseConstantSchedule (``optax.piecewise_constant_schedule``).
* WarmupScheduler: no peer has braintools's formula with our default start, so its golden values are the
  formula written independently in numpy (float64) below.

Each is checked eagerly, inside ``jit`` (per update, through ``lr_at``), stepped per epoch inside
``brainstate.transform.jit``, and after a half-way save and load. The ``*_differs`` tests show where
braintools.optim 0.3 (or Keras) computes something else, and that the difference is real.
"""
import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from brainopt import schedules as bs

N = 40


def keras_values(make):
    import keras
    sched = make(keras.optimizers.schedules)
    return np.asarray([np.asarray(sched(k)) for k in range(N)], np.float64)


def optax_values(schedule):
    return np.asarray(jax.vmap(schedule)(jnp.arange(N)), np.float64)


def warmup_numpy(base, w, start):
    k = np.arange(N, dtype=np.float64)
    return np.where(k < w, start + (base - start) * np.minimum(k, w) / max(w, 1), base)


# Keras's 0.5 * (1 + cos(x)) loses up to ~6e-8 of the peak near x = pi (float32 cancellation); ours does not.
KERAS_ATOL = 1e-7

# (id, brainopt schedule, golden values (a thunk), rtol, atol relative to the largest value)
PEERS = [
    ('keras-InverseTimeDecay', bs.InverseTimeDecay(0.1, decay_steps=5, decay_rate=0.5),
     lambda: keras_values(lambda s: s.InverseTimeDecay(0.1, 5, 0.5)), 1e-6, 0.),
    ('keras-InverseTimeDecay-staircase', bs.InverseTimeDecay(1.0, decay_steps=3, decay_rate=2.0, staircase=True),
     lambda: keras_values(lambda s: s.InverseTimeDecay(1.0, 3, 2.0, staircase=True)), 1e-6, 0.),
    ('keras-InverseTimeDecay-float-steps', bs.InverseTimeDecay(0.3, decay_steps=2.5, decay_rate=0.7, staircase=True),
     lambda: keras_values(lambda s: s.InverseTimeDecay(0.3, 2.5, 0.7, staircase=True)), 1e-6, 0.),
    ('keras-CosineDecay', bs.CosineDecay(0.1, decay_steps=30),
     lambda: keras_values(lambda s: s.CosineDecay(0.1, 30)), 1e-6, KERAS_ATOL),
    ('keras-CosineDecay-alpha', bs.CosineDecay(1.0, decay_steps=25, alpha=0.1),
     lambda: keras_values(lambda s: s.CosineDecay(1.0, 25, alpha=0.1)), 1e-6, KERAS_ATOL),
    ('keras-CosineDecay-warmup-from-0', bs.CosineDecay(0.0, decay_steps=25, warmup_target=0.5, warmup_steps=8),
     lambda: keras_values(lambda s: s.CosineDecay(0.0, 25, warmup_target=0.5, warmup_steps=8)), 1e-6, KERAS_ATOL),
    ('keras-CosineDecay-warmup-alpha', bs.CosineDecay(0.01, decay_steps=20, alpha=0.05, warmup_target=0.2,
                                                      warmup_steps=6),
     lambda: keras_values(lambda s: s.CosineDecay(0.01, 20, alpha=0.05, warmup_target=0.2, warmup_steps=6)),
     1e-6, KERAS_ATOL),
    ('optax-ExponentialDecayLR', bs.ExponentialDecayLR(0.1, decay_steps=7, decay_rate=0.5),
     lambda: optax_values(optax.exponential_decay(0.1, 7, 0.5)), 2e-6, 0.),
    ('optax-ExponentialDecayLR-staircase-begin', bs.ExponentialDecayLR(1.0, 4, 0.8, transition_begin=5,
                                                                        staircase=True),
     lambda: optax_values(optax.exponential_decay(1.0, 4, 0.8, transition_begin=5, staircase=True)), 1e-6, 0.),
    ('optax-ExponentialDecayLR-end', bs.ExponentialDecayLR(0.5, 3, 0.7, end_value=0.02),
     lambda: optax_values(optax.exponential_decay(0.5, 3, 0.7, end_value=0.02)), 2e-6, 0.),
    ('optax-ExponentialDecayLR-growth', bs.ExponentialDecayLR(0.01, 5, 1.5, transition_begin=2, end_value=0.1),
     lambda: optax_values(optax.exponential_decay(0.01, 5, 1.5, transition_begin=2, end_value=0.1)), 2e-6, 0.),
    ('optax-WarmupCosineSchedule', bs.WarmupCosineSchedule(0.5, warmup_steps=8, total_steps=30, warmup_start_lr=0.01,
                                                           eta_min=0.001),
     lambda: optax_values(optax.warmup_cosine_decay_schedule(0.01, 0.5, 8, 30, end_value=0.001)), 1e-6, 1e-7),
    ('optax-WarmupCosineSchedule-default-start', bs.WarmupCosineSchedule(1.0, warmup_steps=9, total_steps=35),
     lambda: optax_values(optax.warmup_cosine_decay_schedule(0.1, 1.0, 9, 35)), 1e-6, 1e-7),
    ('optax-PiecewiseConstantSchedule', bs.PiecewiseConstantSchedule(boundaries=[5, 12, 30],
                                                                     values=[0.1, 0.05, 0.2, 0.001]),
     lambda: optax_values(optax.piecewise_constant_schedule(0.1, {5: 0.5, 12: 4.0, 30: 0.005})), 1e-6, 0.),
    ('numpy-WarmupScheduler', bs.WarmupScheduler(0.2, warmup_epochs=7),
     lambda: warmup_numpy(0.2, 7, 0.2 / 8), 1e-6, 0.),
    ('numpy-WarmupScheduler-start', bs.WarmupScheduler(0.2, warmup_epochs=13, warmup_start_lr=0.05),
     lambda: warmup_numpy(0.2, 13, 0.05), 1e-6, 0.),
]
GOLDEN = {}


@pytest.fixture(params=PEERS, ids=[p[0] for p in PEERS])
def peer(request):
    name, sched, golden, rtol, atol = request.param
    if name not in GOLDEN:
        GOLDEN[name] = golden()
    return sched, GOLDEN[name], rtol, atol


def close(values, peer):
    sched, expected, rtol, atol = peer
    values = np.asarray(values)
    assert values.dtype == np.float32
    np.testing.assert_allclose(values, expected, rtol=rtol, atol=atol * np.max(np.abs(expected)))


def test_eager_matches_peer(peer):
    close([peer[0](k) for k in range(N)], peer)


def test_per_update_lr_at_inside_jit_matches_peer(peer):
    sched = type(peer[0])(**{**peer[0].get_config(), 'stepping': 'update'})
    lr = jax.jit(lambda k: sched.lr_at(k, sched.state_values()))
    close([lr(jnp.int32(k)) for k in range(N)], peer)


def test_per_epoch_step_inside_jit_and_after_save_load_matches_peer(peer):
    def make():
        return type(peer[0])(**{**peer[0].get_config(), 'stepping': 'epoch'})

    first = make()

    @brainstate.transform.jit
    def epoch():
        lr = first.current_lr
        first.step()
        return lr

    head = [epoch() for _ in range(N // 2)]
    second = make()
    second.load_state_values(jax.tree.map(np.asarray, first.state_values()))
    tail = []
    for _ in range(N - N // 2):
        tail.append(second.current_lr)
        second.step()
    close(head + tail, peer)


def test_exponential_decay_stays_accurate_over_long_runs():
    """The split power keeps float32 accuracy at step 100000, where optax's float32 ``power`` has drifted."""
    sched = bs.ExponentialDecayLR(1.0, decay_steps=1000, decay_rate=0.96)
    k = np.array([0, 1, 999, 1000, 12345, 99999, 100000, 1234567])
    exact = 0.96 ** (k / 1000.)
    np.testing.assert_allclose(jax.jit(sched)(jnp.asarray(k, jnp.int32)), exact, rtol=6e-7)


# -- warmups -------------------------------------------------------------------------------------------
@pytest.mark.parametrize('sched', [
    bs.WarmupScheduler(), bs.WarmupScheduler(0.1, warmup_epochs=1000), bs.WarmupCosineSchedule(),
    bs.WarmupCosineSchedule(3e-4, warmup_steps=10000, total_steps=20000), bs.LinearLR(), bs.OneCycleLR(total_steps=10),
    bs.CosineDecay(1e-3, 100, warmup_target=1e-2, warmup_steps=50),
    bs.SequentialLR([bs.WarmupScheduler(0.1, 5), bs.CosineAnnealingLR(0.1, 20)], [5]),
], ids=lambda s: type(s).__name__)
def test_warmups_never_start_at_zero_unless_asked(sched):
    assert float(sched(0)) > 0
    assert float(sched.current_lr if sched.stepping == 'epoch' else sched(0)) > 0


def test_warmup_from_zero_when_asked():
    assert float(bs.WarmupScheduler(0.1, 4, warmup_start_lr=0.0)(0)) == 0.0
    assert float(bs.WarmupCosineSchedule(0.1, 4, 10, warmup_start_lr=0.0)(0)) == 0.0
    assert float(bs.LinearLR(0.1, start_factor=0.0)(0)) == 0.0
    assert float(bs.CosineDecay(0.0, 10, warmup_target=0.1, warmup_steps=4)(0)) == 0.0


# -- where braintools.optim 0.3 or Keras computes something else -----------------------------------------
def bt_lrs(sched, n):
    out = []
    for _ in range(n):
        out.append(float(sched.get_last_lr()[0]))
        sched.step()
    return np.asarray(out)


def test_braintools_warmup_default_starts_at_zero_differs():
    import braintools.optim as bt
    theirs = bt_lrs(bt.WarmupScheduler(base_lr=0.1, warmup_epochs=4), 6)
    ours = bs.WarmupScheduler(0.1, warmup_epochs=4)(jnp.arange(6))
    assert theirs[0] == 0.0 and float(ours[0]) == pytest.approx(0.02)
    np.testing.assert_allclose(ours[4:], theirs[4:], rtol=1e-6)          # both reach base_lr at W: f32(0.1) each
    # braintools's float32 linear ramp vs ours: ~3 roundings each, within 8 ulps (< rtol 1e-6)
    np.testing.assert_allclose(bs.WarmupScheduler(0.1, 4, warmup_start_lr=0.0)(jnp.arange(6)), theirs, rtol=1e-6)


def test_braintools_one_cycle_differs():
    """braintools ends at max_lr / final_div_factor and peaks one step later; torch (and brainopt) do not."""
    import braintools.optim as bt
    theirs = bt_lrs(bt.OneCycleLR(max_lr=0.5, total_steps=N), N + 1)
    ours = np.asarray(bs.OneCycleLR(0.5, total_steps=N)(jnp.arange(N + 1)))
    np.testing.assert_allclose(ours[-2:], 0.5 / 25 / 1e4, rtol=1e-6)   # float32 0.5 / 25 / 1e4: ~3 roundings, < 4 ulps
    np.testing.assert_allclose(theirs[-1], 0.5 / 1e4, rtol=1e-5)
    assert np.argmax(ours) == 11 and np.argmax(theirs) == 12
    theirs, ours = theirs[:-1], ours[:-1]
    assert not np.allclose(theirs, ours, rtol=1e-3)


def test_braintools_cyclic_asymmetric_differs():
    """With step_size_up != step_size_down braintools's |k/U - 2n + 1| is not the torch triangle."""
    import braintools.optim as bt
    theirs = bt_lrs(bt.CyclicLR(base_lr=0.1, max_lr=1.0, step_size_up=2, step_size_down=6), 8)
    ours = np.asarray(bs.CyclicLR(0.1, 1.0, step_size_up=2, step_size_down=6)(jnp.arange(8)))
    # float32 0.1 + 0.9 * (a fraction k / U): ~4 roundings, within 4 ulps (< rtol 1e-6)
    np.testing.assert_allclose(ours, [0.1, 0.55, 1.0, 0.85, 0.7, 0.55, 0.4, 0.25], rtol=1e-6)
    assert not np.allclose(theirs, ours)
    sym = bs.CyclicLR(0.1, 1.0, step_size_up=3)(jnp.arange(12))
    # braintools peer: two float32 triangles of ~4 roundings each, within 8 ulps (< rtol 1e-6)
    np.testing.assert_allclose(bt_lrs(bt.CyclicLR(base_lr=0.1, max_lr=1.0, step_size_up=3), 12), sym, rtol=1e-6)


def test_keras_piecewise_constant_boundary_differs():
    """Keras changes the value after a boundary (k > b); braintools and optax (and brainopt) at it (k >= b)."""
    import keras
    theirs = keras.optimizers.schedules.PiecewiseConstantDecay([5, 9], [1.0, 0.5, 0.1])
    ours = bs.PiecewiseConstantSchedule(boundaries=[5, 9], values=[1.0, 0.5, 0.1])
    assert float(ours(5)) == 0.5 and float(np.asarray(theirs(5))) == 1.0
    np.testing.assert_allclose([float(np.asarray(theirs(k + 1))) for k in range(12)], ours(jnp.arange(12)))
