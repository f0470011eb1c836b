"""Contract tests: every row of the optimizer table must satisfy each of them."""
import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainopt
from models import MLP, X, Y
from table import OPTIMIZERS


def loss_of(model):
    def loss_fn(x, y):
        return jnp.mean((model(x) - y) ** 2)
    return loss_fn


def grads_of(model, x=X, y=Y):
    params = model.states(brainstate.ParamState)
    return brainstate.transform.grad(loss_of(model), grad_states=params, return_value=True)(x, y)


def values(model):
    return jax.tree.map(np.asarray, {k: s.value for k, s in model.states(brainstate.ParamState).items()})


def opt_values(opt):
    return jax.tree.map(np.asarray, {k: s.value for k, s in brainstate.graph.states(opt).items()})


def assert_tree_equal(a, b):
    jax.tree.map(lambda x, y: np.testing.assert_array_equal(x, y), a, b)


@pytest.fixture(params=OPTIMIZERS, ids=repr)
def info(request):
    return request.param


def test_eager_jit_and_for_loop_agree_and_train(info):
    """The same steps eagerly, inside ``brainstate.transform.jit`` and inside ``for_loop`` give the same
    parameters and the same optimizer States; and the dict-valued ParamStates of the MLP train."""
    eager_model, jit_model, loop_model = MLP(), MLP(), MLP()
    eager_opt = info.make(use_ema=True).register_trainable_weights(eager_model.states(brainstate.ParamState))
    jit_opt = info.make(use_ema=True).register_trainable_weights(jit_model.states(brainstate.ParamState))
    loop_opt = info.make(use_ema=True).register_trainable_weights(loop_model.states(brainstate.ParamState))

    @brainstate.transform.jit
    def train_step(x, y):
        grads, loss = grads_of(jit_model, x, y)
        jit_opt.update(grads)
        return loss

    def body(i):
        grads, loss = grads_of(loop_model)
        loop_opt.update(grads)
        return loss

    first = train_step(X, Y)                  # the loss before the first update
    eager_opt.update(grads_of(eager_model)[0])
    for _ in range(3):
        eager_opt.update(grads_of(eager_model)[0])
        train_step(X, Y)
    brainstate.transform.for_loop(body, jnp.arange(4))
    for model, opt in ((jit_model, jit_opt), (loop_model, loop_opt)):
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
                     values(eager_model), values(model))
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
                     opt_values(eager_opt), opt_values(opt))
    assert int(loop_opt.step_count.value) == 4
    for _ in range(26):
        loss = train_step(X, Y)
    assert float(loss) < 0.9 * float(first)


def test_second_step_does_not_recompile(info):
    model = MLP()
    opt = info.make(use_ema=True, gradient_accumulation_steps=2, skip_nonfinite=True, grad_clip_norm=1.0)
    opt.register_trainable_weights(model.states(brainstate.ParamState))
    traces = []

    @brainstate.transform.jit
    def train_step(x, y):
        traces.append(1)
        grads, loss = grads_of(model, x, y)
        opt.update(grads)
        return loss

    for _ in range(4):
        train_step(X, Y)
    assert len(traces) == 1
    # the eager path: one compiled, cached computation
    for _ in range(3):
        opt.update(grads_of(model)[0])
    assert opt._compiled._cache_size() == 1


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
        opt.update(grads)
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
    assert set(states.keys()) == {('step_count',)} | {('slots', s) for s in info.slots}
    assert all(isinstance(s, brainopt.OptimState) for s in states.values())
    # memory, in bytes: the step counter plus exactly the paper's slots (Adam: two float32 arrays per parameter)
    shapes = [np.shape(x) for x in jax.tree.leaves(values(model))]
    held = sum(np.asarray(x).nbytes for s in states.values() for x in jax.tree.leaves(s.value))
    needed = 4 + sum(4 * int(np.prod(info.slot_shape(slot, shape))) for slot in info.slots for shape in shapes)
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
        opt.update(g)
        reference.update(g)
    before = {s: jax.tree.map(np.array, opt.slots[s].value) for s in info.slots}
    opt.register_trainable_weights({'readout': readout})
    opt.register_trainable_weights({'l1': model.l1.weight})       # registering again is harmless
    for s in info.slots:
        for k, v in before[s].items():
            np.testing.assert_array_equal(opt.slots[s].value[k], v)
        assert 'readout' in opt.slots[s].value
    assert int(opt.step_count.value) == 3
    g = grads_of(model)[0]
    opt.update({'l1': g[('l1', 'weight')], 'l2': g[('l2', 'weight')], 'readout': jnp.ones(2)})
    reference.update({'l1': g[('l1', 'weight')], 'l2': g[('l2', 'weight')]})
    for s in info.slots:
        if s in info.global_slots:
            continue
        for k in before[s]:
            np.testing.assert_allclose(opt.slots[s].value[k], reference.slots[s].value[k], rtol=1e-6)
    assert not np.allclose(readout.value, 1.0)


# -- bad input: one clear error, naming the parameter, and nothing changes -------------------------
def _trained(info, **kw):
    model = MLP()
    opt = info.make(**kw).register_trainable_weights(model.states(brainstate.ParamState))
    opt.update(grads_of(model)[0])
    return model, opt


BAD_GRADIENTS = ['missing', 'unknown', 'misspelled', 'shape', 'dtype', 'structure', 'not_a_dict']


def _bad(grads, case):
    grads = dict(grads)
    key = ('l1', 'weight')
    if case == 'missing':
        del grads[key]
        return grads, KeyError, r"no gradient for registered parameter path\(s\) \['l1.weight'\]"
    if case == 'unknown':
        grads[('l3', 'weight')] = grads[key]
        return grads, KeyError, "unknown parameter path 'l3.weight'"
    if case == 'misspelled':
        grads[('l1', 'wieght')] = grads.pop(key)
        return grads, KeyError, "unknown parameter path 'l1.wieght'; did you mean 'l1.weight'"
    if case == 'shape':
        grads[key] = dict(grads[key], bias=jnp.ones((1,)))
        return grads, ValueError, r"'l1.weight.bias' has shape \(1,\), expected \(8,\).*never broadcast"
    if case == 'dtype':
        grads[key] = dict(grads[key], bias=jnp.ones((8,), jnp.int32))
        return grads, TypeError, "'l1.weight.bias' has dtype int32"
    if case == 'structure':
        grads[key] = grads[key]['weight']
        return grads, ValueError, "gradient for 'l1.weight' has structure"
    return [grads[key]], TypeError, 'grads must be a dict'


def test_bad_gradients_raise_and_change_nothing(info):
    model, opt = _trained(info, use_ema=True)
    good = grads_of(model)[0]
    before_model, before_opt = values(model), opt_values(opt)
    for case in BAD_GRADIENTS:
        grads, err, match = _bad(good, case)
        with pytest.raises(err, match=match):
            opt.update(grads)
        assert_tree_equal(values(model), before_model)
        assert_tree_equal(opt_values(opt), before_opt)
    opt.update(good)                       # and the optimizer still works afterwards
    assert int(opt.step_count.value) == 2


def test_update_before_register(info):
    with pytest.raises(RuntimeError, match='before register_trainable_weights'):
        info.make().update({'w': jnp.ones(2)})


def test_non_state_leaf_is_named(info):
    with pytest.raises(TypeError, match=r"path 'layer.w' is a .*Array.*not a brainstate.State"):
        info.make().register_trainable_weights({'layer': {'w': jnp.ones(3)}})


def test_integer_parameter_is_rejected(info):
    with pytest.raises(TypeError, match="parameter 'n' has dtype int32"):
        info.make().register_trainable_weights({'n': brainstate.ParamState(jnp.arange(3))})


def test_bad_hyperparameters_name_the_argument(info):
    for arg, value, err in info.bad_hyperparams:
        with pytest.raises(err, match=arg):
            info.make(**{arg: value})
