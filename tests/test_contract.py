"""Contract tests: every row of the optimizer table must satisfy each of them."""
import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainopt

from cross_program import STEPS, bound, grads_of, three_ways, values, worst_ulps
from models import MLP, X, Y
from table import OPTIMIZERS
from ulps import assert_trees_ulp_close, cross_program_ulps


def assert_tree_equal(a, b):
    jax.tree.map(lambda x, y: np.testing.assert_array_equal(x, y), a, b)


@pytest.fixture(params=OPTIMIZERS, ids=repr)
def info(request):
    return request.param


@pytest.mark.parametrize('way', ['jit', 'for_loop'])
def test_eager_agrees_with_jit_and_for_loop_and_trains(info, way):
    """The same steps eagerly and inside ``brainstate.transform.jit`` (or ``for_loop``), differently compiled
    programs, give the same parameters and optimizer States within ``bound(info)`` ulps (tests/ulps.py says why);
    and the dict-valued ParamStates of the MLP train."""
    runs, train_step, first = three_ways(info, ways=(way,))
    ulps, where = worst_ulps(runs)
    assert ulps <= bound(info), f'{info.name}: {where} is {ulps:.1f} ulps from the eager run (bound {bound(info)})'
    if way == 'for_loop':
        assert int(runs['for_loop'][1].step_count.value) == STEPS
        return
    for _ in range(26):
        loss = train_step(X, Y)
    assert float(loss) < 0.9 * float(first)


def test_second_step_does_not_recompile(info):
    model = MLP()
    opt = info.make(**info.supported(use_ema=True, gradient_accumulation_steps=2, skip_nonfinite=True,
                                     grad_clip_norm=1.0))
    opt.register_trainable_weights(model.states(brainstate.ParamState))
    traces = []

    @brainstate.transform.jit
    def train_step(x, y):
        traces.append(1)
        grads, loss = grads_of(model, x, y)
        info.update(opt, grads, lambda: grads_of(model, x, y)[0])
        return loss

    for _ in range(4):
        train_step(X, Y)
    assert len(traces) == 1
    # the eager path: one compiled, cached computation
    for _ in range(3):
        info.update(opt, grads_of(model)[0], lambda: grads_of(model)[0])
    assert info.cache_sizes(opt) == [1] * len(info.compiled)


def test_dtype_and_shape_are_kept(info):
    """float32, bfloat16 and float16 parameters side by side in one optimizer keep dtype and shape."""
    dtypes = {'f32': jnp.float32, 'bf16': jnp.bfloat16, 'f16': jnp.float16}
    states = {}
    for tag, dtype in dtypes.items():
        states[f'm_{tag}'] = brainstate.ParamState(jnp.ones((3, 5), dtype))
        states[f's_{tag}'] = brainstate.ParamState(jnp.asarray(0.5, dtype))
    opt = info.make().register_trainable_weights(states)
    grads = {}
    for tag, dtype in dtypes.items():
        grads[f'm_{tag}'] = jnp.full((3, 5), 0.1, dtype)
        grads[f's_{tag}'] = jnp.asarray(-0.2, dtype)
    for _ in range(3):
        info.update(opt, grads)
    for tag, dtype in dtypes.items():
        m, s = states[f'm_{tag}'], states[f's_{tag}']
        assert m.value.dtype == dtype and s.value.dtype == dtype, tag
        assert m.value.shape == (3, 5) and s.value.shape == ()
        assert not np.allclose(np.asarray(m.value, np.float32), 1.0), tag
        for slot in info.slots:
            # a per-tensor scalar estimate may be kept in float32 (Prodigy's d); an array slot has the dtype
            allowed = (dtype, jnp.float32) if info.slot_shape(slot, (3, 5)) == () else (dtype,)
            assert opt.get_slot(slot, f'm_{tag}').dtype in allowed, (tag, slot)
            assert opt.get_slot(slot, f'm_{tag}').shape == info.slot_shape(slot, (3, 5))
            assert opt.get_slot(slot, f's_{tag}').shape == info.slot_shape(slot, ())


def test_states_are_the_only_memory(info):
    """Accumulators are OptimStates named by slot, keyed by parameter path: exactly the paper's slots."""
    model = MLP()
    opt = info.make().register_trainable_weights(model.states(brainstate.ParamState))
    states = brainstate.graph.states(opt)
    assert set(states.keys()) == {('step_count',), ('hyperparams',)} | {('slots', s) for s in info.slots}
    assert all(isinstance(s, brainopt.OptimState) for s in states.values())
    # memory, in bytes: the step counter, the live hyperparameters (a float32 lr, a weight decay where not 0, the
    # rule's live numbers and those derived from them, one float32 scalar each) plus exactly the paper's slots
    # (Adam: two float32 arrays per parameter)
    shapes = [np.shape(x) for x in jax.tree.leaves(values(model))]
    held = sum(np.asarray(x).nbytes for s in states.values() for x in jax.tree.leaves(s.value))
    live = 4 * len(opt.hyperparams.value)
    rule = set(opt.rule.live_names) | set(opt.rule.derived(opt.rule.live_values()))
    assert set(opt.hyperparams.value) == {'lr'} | rule | (
        {'weight_decay'} if opt.param_groups[0]['weight_decay'] != 0 else set())
    needed = 4 + live + sum(4 * int(np.prod(info.slot_shape(slot, shape))) for slot in info.slots for shape in shapes)
    assert held == needed, f'{info.name} holds {held} bytes of optimizer state, its slots need {needed}'
    for slot in info.slots:
        assert sorted(states[('slots', slot)].value) == ['l1.weight.bias', 'l1.weight.weight',
                                                          'l2.weight.bias', 'l2.weight.weight']
        assert set(opt.get_slot(slot, ('l1', 'weight'))) == {'weight', 'bias'}
    # model States are not listed as the optimizer's
    assert not any(isinstance(s, brainstate.ParamState) for s in states.values())


def test_adding_weights_later_keeps_accumulators(info):
    model = MLP()
    readout = brainstate.ParamState(jnp.ones((2,)))
    opt = info.make().register_trainable_weights({'l1': model.l1.weight, 'l2': model.l2.weight})
    reference = info.make().register_trainable_weights({'l1': MLP().l1.weight, 'l2': MLP().l2.weight})
    for _ in range(3):
        g = grads_of(model)[0]
        g = {'l1': g[('l1', 'weight')], 'l2': g[('l2', 'weight')]}
        info.update(opt, g)
        info.update(reference, g)
    before = {s: jax.tree.map(np.array, opt.slots[s].value) for s in info.slots}
    opt.register_trainable_weights({'readout': readout})
    opt.register_trainable_weights({'l1': model.l1.weight})       # registering again is harmless
    for s in info.slots:
        for k, v in before[s].items():
            np.testing.assert_array_equal(opt.slots[s].value[k], v)
        assert 'readout' in opt.slots[s].value
    assert int(opt.step_count.value) == 3
    g = grads_of(model)[0]
    info.update(opt, {'l1': g[('l1', 'weight')], 'l2': g[('l2', 'weight')], 'readout': jnp.ones(2)})
    info.update(reference, {'l1': g[('l1', 'weight')], 'l2': g[('l2', 'weight')]})
    for s in info.slots:
        if s in info.global_slots:
            continue
        for k in before[s]:      # one more parameter makes the eager update another compiled program: 4 steps
            assert_trees_ulp_close(opt.slots[s].value[k], reference.slots[s].value[k], cross_program_ulps(4),
                                   err_msg=f'{s}[{k}]')
    assert not np.allclose(readout.value, 1.0)


# bad input (gradients, registration, hyperparameters, schedules, state dicts) is tested for every row in
# tests/test_errors.py
