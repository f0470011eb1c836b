"""Non-finite gradients, for every optimizer of the table, inside ``brainstate.transform.jit``.

With ``skip_nonfinite=True`` a NaN or an Inf anywhere skips the whole call: parameters, slots, EMA, the
accumulated gradient and its count, the step count (so the schedule) do not move, bit for bit, and only
``skipped_steps`` advances. Without it the step is applied as computed (``docs/concepts.md``): it counts,
``UpdateInfo`` reports ``finite=False``, and, global-norm clipping included, the other parameters move exactly
as they would have with a zero in place of the bad element (the norm leaves non-finite elements out).

The eager path is covered by ``tests/test_features.py`` (``test_skip_nonfinite_moves_nothing``); here the three
optimizers of a row run in one compiled step, so each row compiles once.
"""
import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainopt

from table import OPTIMIZERS

SHAPES = {'a': (3, 4), 'b': (5,)}
T_MAX = 7


def fresh_states(seed=0):
    rng = np.random.RandomState(seed)
    return {k: brainstate.ParamState(jnp.asarray(rng.randn(*s), jnp.float32)) for k, s in SHAPES.items()}


def np_cosine(base_lr, step):
    """CosineAnnealingLR(base_lr, T_max=T_MAX, eta_min=base_lr / 10), written out in numpy."""
    eta_min = base_lr / 10
    return eta_min + (base_lr - eta_min) * (1 + np.cos(np.pi * step / T_MAX)) / 2


def host(tree):
    return jax.tree.map(lambda x: np.array(x, copy=True), tree)


def bits_equal(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return jax.tree.structure(a) == jax.tree.structure(b) and all(
        x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes() for x, y in zip(la, lb))


def opt_states(opt):
    return host({k: s.value for k, s in brainstate.graph.states(opt).items()})


@pytest.mark.parametrize('info', OPTIMIZERS, ids=repr)
def test_nonfinite_gradients(info):
    info.skip_if('test_nonfinite_gradients')
    rng = np.random.RandomState(1)
    base_lr = info.kwargs.get('lr', 0.01)
    sched = brainopt.CosineAnnealingLR(base_lr=base_lr, T_max=T_MAX, eta_min=base_lr / 10, stepping='update')
    ws_skip, ws_bad, ws_zero = fresh_states(), fresh_states(), fresh_states()
    skip = info.make(lr=sched, skip_nonfinite=True, use_ema=True, gradient_accumulation_steps=2,
                     grad_clip_norm=1.0).register_trainable_weights(ws_skip)
    # skip off, clipped by global norm (and by value after it): one gets the bad element, the other a zero there
    bad = info.make(use_ema=True, grad_clip_norm=0.5, grad_clip_value=0.3).register_trainable_weights(ws_bad)
    zero = info.make(use_ema=True, grad_clip_norm=0.5, grad_clip_value=0.3).register_trainable_weights(ws_zero)

    @brainstate.transform.jit
    def step(g_skip, g_bad, g_zero):
        return info.update(skip, g_skip), info.update(bad, g_bad), info.update(zero, g_zero)

    def good():
        return {k: np.asarray(rng.randn(*s) * 2, np.float32) for k, s in SHAPES.items()}

    def poisoned(where, value):
        g = good()
        leaf, index = where
        g[leaf][index] = value
        return g

    # the skipping optimizer's calls: accumulate, skip, apply, skip ... (True: finite)
    calls = [(True, good()), (False, poisoned(('a', (1, 2)), np.nan)), (True, good()),
             (False, poisoned(('b', (4,)), np.inf)), (False, poisoned(('a', (2, 3)), -np.inf)),
             (False, {k: np.full(s, np.nan, np.float32) for k, s in SHAPES.items()}),
             (True, good()), (False, poisoned(('a', (0, 0)), np.nan)), (True, good())]
    shared_slots = bool(info.global_slots)
    applied_before, skipped_before = 0, 0
    for i, (finite, g_skip) in enumerate(calls):
        g_bad = good()
        g_bad['b'][i % 5] = np.nan if i % 2 else np.inf
        g_zero = {k: v.copy() for k, v in g_bad.items()}
        g_zero['b'][i % 5] = 0.
        before_params, before_states = host({k: s.value for k, s in ws_skip.items()}), opt_states(skip)
        out_skip, out_bad, out_zero = step(*[{k: jnp.asarray(v) for k, v in g.items()}
                                             for g in (g_skip, g_bad, g_zero)])
        after_params, after_states = host({k: s.value for k, s in ws_skip.items()}), opt_states(skip)

        # -- skip on: the whole step is skipped, bit for bit, and only the skip counter moves -----------------
        assert bool(out_skip.finite) == finite, i
        # the schedule held; float32 cosine vs the float64 formula, a cos and ~5 roundings: within 8 ulps (< rtol 1e-6)
        np.testing.assert_allclose(out_skip.lr, np_cosine(base_lr, applied_before), rtol=1e-6)
        if not finite:
            assert not bool(out_skip.applied)
            assert bits_equal(after_params, before_params), f'call {i}: a skipped call moved the parameters'
            skipped = after_states.pop(('skipped_steps',))
            assert int(skipped) == int(before_states.pop(('skipped_steps',))) + 1
            assert bits_equal(after_states, before_states), f'call {i}: a skipped call moved the optimizer'
            skipped_before += 1
        else:
            assert int(after_states[('skipped_steps',)]) == skipped_before
            changed = not bits_equal(after_states, before_states)
            assert changed, f'call {i}: a finite call changed nothing'
            applied_before += int(bool(out_skip.applied))
        assert int(skip.step_count.value) == applied_before and int(skip.skipped_steps.value) == skipped_before

        # -- skip off: applied as computed and reported; clipping lets no NaN or Inf reach the other parameters
        assert not bool(out_bad.finite) and bool(out_zero.finite) and bool(out_bad.applied), i
        assert not np.isfinite(float(out_bad.grad_norm))
        assert int(bad.step_count.value) == i + 1
        if not shared_slots:      # Prodigy's step size d is one number for every parameter: its rule spreads it
            for k in ('a',):
                np.testing.assert_array_equal(ws_bad[k].value, ws_zero[k].value, err_msg=f'call {i}: {k}')
                assert np.all(np.isfinite(ws_bad[k].value))
                for slot in info.slots:
                    jax.tree.map(lambda x, y: np.testing.assert_array_equal(x, y, err_msg=f'call {i}: {slot} {k}'),
                                 bad.get_slot(slot, k), zero.get_slot(slot, k))
    assert applied_before == 2 and skipped_before == 5
