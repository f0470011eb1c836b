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


def test_dict_valued_param_state_trains(info):
    model = MLP()
    opt = info.make().register_trainable_weights(model.states(brainstate.ParamState))
    _, first = grads_of(model)
    for _ in range(30):
        grads, loss = grads_of(model)
        opt.update(grads)
    assert float(loss) < 0.9 * float(first)


def test_eager_equals_jit(info):
    eager_model, jit_model = MLP(), MLP()
    eager_opt = info.make(use_ema=True).register_trainable_weights(eager_model.states(brainstate.ParamState))
    jit_opt = info.make(use_ema=True).register_trainable_weights(jit_model.states(brainstate.ParamState))

    @brainstate.transform.jit
    def train_step(x, y):
        grads, loss = grads_of(jit_model, x, y)
        jit_opt.update(grads)
        return loss

    for _ in range(5):
        grads, _ = grads_of(eager_model)
        eager_opt.update(grads)
        train_step(X, Y)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
                 values(eager_model), values(jit_model))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
                 opt_values(eager_opt), opt_values(jit_opt))


def test_for_loop_equals_python_loop(info):
    loop_model, py_model = MLP(), MLP()
    loop_opt = info.make().register_trainable_weights(loop_model.states(brainstate.ParamState))
    py_opt = info.make().register_trainable_weights(py_model.states(brainstate.ParamState))

    def body(i):
        grads, loss = grads_of(loop_model)
        loop_opt.update(grads)
        return loss

    brainstate.transform.for_loop(body, jnp.arange(4))
    for _ in range(4):
        py_opt.update(grads_of(py_model)[0])
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
                 values(loop_model), values(py_model))
    assert int(loop_opt.step_count.value) == 4


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


@pytest.mark.parametrize('dtype', [jnp.float32, jnp.bfloat16, jnp.float16])
def test_dtype_and_shape_are_kept(info, dtype):
    states = {'m': brainstate.ParamState(jnp.ones((3, 5), dtype)), 's': brainstate.ParamState(jnp.asarray(0.5, dtype))}
    opt = info.make().register_trainable_weights(states)
    for _ in range(3):
        opt.update({'m': jnp.full((3, 5), 0.1, dtype), 's': jnp.asarray(-0.2, dtype)})
    for name, st in states.items():
        assert st.value.dtype == dtype, name
    assert states['m'].value.shape == (3, 5) and states['s'].value.shape == ()
    assert not np.allclose(np.asarray(states['m'].value, np.float32), 1.0)
    for slot in info.slots:
        assert opt.get_slot(slot, 'm').dtype == dtype and opt.get_slot(slot, 'm').shape == info.slot_shape(slot, (3, 5))
        assert opt.get_slot(slot, 's').shape == info.slot_shape(slot, ())


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


@pytest.mark.parametrize('case', ['missing', 'unknown', 'misspelled', 'shape', 'dtype', 'structure', 'not_a_dict'])
def test_bad_gradients_raise_and_change_nothing(info, case):
    model, opt = _trained(info, use_ema=True)
    grads = dict(grads_of(model)[0])
    key = ('l1', 'weight')
    if case == 'missing':
        del grads[key]
        err, match = KeyError, r"no gradient for registered parameter path\(s\) \['l1.weight'\]"
    elif case == 'unknown':
        grads[('l3', 'weight')] = grads[key]
        err, match = KeyError, "unknown parameter path 'l3.weight'"
    elif case == 'misspelled':
        grads[('l1', 'wieght')] = grads.pop(key)
        err, match = KeyError, "unknown parameter path 'l1.wieght'; did you mean 'l1.weight'"
    elif case == 'shape':
        grads[key] = dict(grads[key], bias=jnp.ones((1,)))
        err, match = ValueError, r"'l1.weight.bias' has shape \(1,\), expected \(8,\).*never broadcast"
    elif case == 'dtype':
        grads[key] = dict(grads[key], bias=jnp.ones((8,), jnp.int32))
        err, match = TypeError, "'l1.weight.bias' has dtype int32"
    elif case == 'structure':
        grads[key] = grads[key]['weight']
        err, match = ValueError, "gradient for 'l1.weight' has structure"
    else:
        grads = [grads[key]]
        err, match = TypeError, 'grads must be a dict'
    before_model, before_opt = values(model), opt_values(opt)
    with pytest.raises(err, match=match):
        opt.update(grads)
    assert_tree_equal(values(model), before_model)
    assert_tree_equal(opt_values(opt), before_opt)


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
