"""The engine's speed contract (issue 8): no recompilation, safe donation, deferred info,
the compiled step's traffic, ``state_dtype``, and ``brainopt.train.train_step``.

Golden values: numpy formulas written here (Adam with rounded moments, the global
norm), never brainopt's own output.
"""
import os
import tempfile

import brainstate
import brainunit as u
import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import brainopt
from brainopt import _registry as registry
from brainopt.train import train_step

from ulps import assert_trees_ulp_close, assert_ulp_close, cross_program_ulps


class CompileCounter:
    """Counts XLA backend compilations while active (jax.monitoring)."""

    def __init__(self):
        self.count, self.active = 0, False
        jax.monitoring.register_event_duration_secs_listener(self._on_event)

    def _on_event(self, event, duration, **kwargs):
        if self.active and event == '/jax/core/compile/backend_compile_duration':
            self.count += 1

    def __enter__(self):
        self.count, self.active = 0, True
        return self

    def __exit__(self, *exc):
        self.active = False


COUNTER = CompileCounter()


def _model():
    brainstate.random.seed(0)
    return brainstate.nn.Linear(3, 2)


def _loss(model):
    x, y = jnp.linspace(-1, 1, 12).reshape(4, 3), jnp.ones((4, 2))
    return lambda: jnp.mean((model(x) - y) ** 2)


def test_second_step_never_recompiles_eagerly_in_jit_and_in_train_step():
    model = _model()
    params = model.states(brainstate.ParamState)
    opt = brainopt.Adam(lr=1e-2).register_trainable_weights(params)
    grad_fn = brainstate.transform.grad(_loss(model), grad_states=params)
    grads = grad_fn()
    opt.update(grads)                                  # compiles here
    with COUNTER as c:
        for _ in range(3):
            opt.update(grad_fn())
            jax.block_until_ready(model.weight.value)
    assert c.count == 0, f'eager update compiled {c.count} times after the first call'

    @brainstate.transform.jit
    def step():
        return opt.update(grad_fn()).grad_norm

    step()
    with COUNTER as c:
        for _ in range(3):
            jax.block_until_ready(step())
    assert c.count == 0, f'update inside brainstate.transform.jit compiled {c.count} times after the first call'

    fused = train_step(_loss(model), opt)
    fused()
    with COUNTER as c:
        for _ in range(3):
            jax.block_until_ready(fused())
    assert c.count == 0, f'train_step compiled {c.count} times after the first call'
    assert int(opt.step_count.value) == 3 * 4          # every call applied exactly one update


def test_donation_never_invalidates_arrays_the_optimizer_did_not_write():
    init = jnp.array([1.0, 2.0, 3.0])
    w = brainstate.ParamState(init)
    opt = brainopt.SGD(lr=0.5, momentum=0.9).register_trainable_weights({'w': w})
    opt.update({'w': jnp.ones(3)})
    np.testing.assert_allclose(np.asarray(init), [1.0, 2.0, 3.0])          # the user's array survives
    def buffers():
        return {w.value.unsafe_buffer_pointer(), opt.slots['momentum_buffer'].value['w'].unsafe_buffer_pointer()}
    before = buffers()
    opt.update({'w': jnp.ones(3)})                 # nobody else holds the parameter: it is updated in place
    assert buffers() == before
    held = w.value
    opt.update({'w': jnp.ones(3)})                                         # a variable holds it: copied, never deleted
    # two float32 momentum steps, ~4 roundings at |p| <= 3 vs the float64 values: within 8 ulps (< rtol 1e-6)
    np.testing.assert_allclose(np.asarray(held), [1.0 - 0.5 - 0.5 * 1.9, 2.0 - 0.5 - 0.95, 3.0 - 1.45], rtol=1e-6)
    # a gradient that is the parameter's own array is copied, not donated twice
    before = np.asarray(w.value)
    opt.update({'w': w.value})
    buf = 0.9 * (0.9 * (0.9 * 1.0 + 1.0) + 1.0) + before                    # numpy: momentum buffer, fifth step
    np.testing.assert_allclose(np.asarray(w.value), before - 0.5 * buf, rtol=1e-6)   # ~8 float32 roundings: < 8 ulps
    # an array assigned by the user is copied once, then updated in place again
    mine = jnp.zeros(3)
    w.value = mine
    opt.update({'w': jnp.ones(3)})
    np.testing.assert_allclose(np.asarray(mine), 0.0)


_CONTAINERS = {
    'dict': lambda: {'a': jnp.ones(3), 'b': jnp.ones(2)},                  # brainstate.nn.Linear's weight
    'nested': lambda: {'x': {'a': jnp.ones(3)}, 'b': jnp.ones(2)},
    'quantity': lambda: jnp.ones(3) * u.mV,
}


@pytest.mark.parametrize('kind', list(_CONTAINERS))
def test_a_parameter_value_the_user_holds_survives_the_next_update(kind):
    """A State holding a dict or a Quantity: whoever holds ``state.value`` (or a part of it) holds the arrays
    inside, though their own reference counts do not show it."""
    w = brainstate.ParamState(_CONTAINERS[kind]())
    opt = brainopt.SGD(lr=0.5, momentum=0.9).register_trainable_weights({'w': w})
    g = {'w': _CONTAINERS[kind]()}

    def buffers():
        return [x.unsafe_buffer_pointer() for x in jax.tree.leaves(w.value)]
    opt.update(g)
    before = buffers()
    opt.update(g)                              # nobody else holds the value: updated in place
    assert buffers() == before
    held = w.value['x'] if kind == 'nested' else w.value
    opt.update(g)
    # numpy: p = 1, buf = 1 then 1.9; after two steps p = 1 - 0.5 - 0.95 = -0.45 (float32: within 1 ulp of 4 roundings)
    for leaf in jax.tree.leaves(held):
        np.testing.assert_allclose(np.asarray(leaf), -0.45, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.tree.leaves(w.value)[0]), -0.45 - 0.5 * 2.71, rtol=1e-6)


@pytest.mark.parametrize('step', ['eager', 'brainopt.jit'])
def test_numpy_values_assigned_to_a_container_state_are_trained(step):
    """A dict State that the user fills with numpy arrays between updates (the record of what the optimizer wrote
    once looped forever on a numpy leaf). SIGALRM turns a hang into a failure."""
    import signal

    def hang(*_):
        raise TimeoutError('the update did not return within 60 s')
    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(60)
    try:
        w = brainstate.ParamState({'a': jnp.ones(3), 'b': jnp.ones(2)})
        opt = brainopt.SGD(lr=0.5).register_trainable_weights({'w': w})
        g = {'w': {'a': jnp.ones(3), 'b': jnp.ones(2)}}
        update = opt.update if step == 'eager' else brainopt.jit(lambda g: opt.update(g) and None)
        update(g)
        w.value = {'a': np.full(3, 4.0, np.float32), 'b': np.full(2, 4.0, np.float32)}
        update(g)
        update(g)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    for leaf in jax.tree.leaves(w.value):
        np.testing.assert_array_equal(np.asarray(leaf), 3.0)      # 4 - 0.5 - 0.5: exact in float32


def test_eager_info_is_deferred_and_equals_the_numpy_norm():
    w = brainstate.ParamState(jnp.ones((2, 3)))
    b = brainstate.ParamState(jnp.ones(3))
    opt = brainopt.Adam(lr=1e-3, loss_scale_factor=2.0).register_trainable_weights({'w': w, 'b': b})
    gw, gb = np.arange(6.0, dtype=np.float32).reshape(2, 3), np.array([1.0, -2.0, 2.0], np.float32)
    info = opt.update({'w': jnp.asarray(gw), 'b': jnp.asarray(gb)})
    expected = np.sqrt(np.sum(gw ** 2) + np.sum(gb ** 2)) / 2.0                   # after loss scaling
    np.testing.assert_allclose(float(info.grad_norm), expected, rtol=1e-6)   # sqrt(64) / 2: exact in float32
    assert bool(info.finite) and bool(info.applied)
    assert info.grad_norm > 0 and np.isclose(np.asarray(info.grad_norm) * 2, 2 * expected)
    assert jnp.asarray(info.grad_norm).dtype == jnp.float32 and info.grad_norm.shape == ()
    bad = opt.update({'w': jnp.asarray(gw), 'b': jnp.array([np.nan, 0., 0.], jnp.float32)})
    assert not bool(bad.finite) and np.isnan(float(bad.grad_norm))
    # inside jit the same fields are plain traced values
    out = brainstate.transform.jit(lambda g: opt.update(g))({'w': jnp.asarray(gw), 'b': jnp.asarray(gb)})
    np.testing.assert_allclose(float(out.grad_norm), expected, rtol=1e-6)    # sqrt(64) / 2: exact in float32


def test_compiled_updates_move_no_more_than_their_slots_need():
    n = 200_000
    for make, most in [(lambda: brainopt.Adam(1e-3), 40), (lambda: brainopt.Adadelta(1.0), 52),
                       (lambda: brainopt.Adagrad(1e-2), 28), (lambda: brainopt.SGD(1e-2, momentum=0.9), 24)]:
        opt = make().register_trainable_weights({'w': brainstate.ParamState(jnp.ones(n))})
        w = opt._weights
        params = list(registry.read_params(w.entries).values())
        compiled = opt._compiled.lower(params, *jax.tree_util.tree_flatten({'w': jnp.ones(n)}),
                                       opt._read_state(), [{}]).compile()
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, list) else cost
        name = type(opt).__name__
        assert cost['bytes accessed'] / n <= most + 0.1, (name, cost['bytes accessed'] / n)
        assert compiled.memory_analysis().temp_size_in_bytes < n, (name, 'full-size temporary')


def _numpy_adam(p, grads, lr, b1, b2, eps, slot_dtype, param_dtype):
    """Adam (torch's arithmetic) in float32 numpy, moments rounded to ``slot_dtype`` after every step."""
    p = np.asarray(p, np.float32)
    m = np.zeros_like(p).astype(slot_dtype)
    v = np.zeros_like(p).astype(slot_dtype)
    for t, g in enumerate(grads, start=1):
        g = np.asarray(g, np.float32)
        m32, v32 = m.astype(np.float32), v.astype(np.float32)
        m32 = m32 + np.float32(1 - b1) * (g - m32)
        v32 = v32 * np.float32(b2) + np.float32(1 - b2) * g * g
        m, v = m32.astype(slot_dtype), v32.astype(slot_dtype)
        step_size = np.float32(lr / (1 - b1 ** t))
        denom = np.sqrt(v32) / np.float32(np.sqrt(1 - b2 ** t)) + np.float32(eps)
        p = (p + (-step_size * m32 / denom)).astype(param_dtype).astype(np.float32)
    return p, m, v


@pytest.mark.parametrize('param_dtype, state_dtype', [(jnp.float32, jnp.bfloat16), (jnp.bfloat16, jnp.float32)])
def test_state_dtype_against_numpy_with_rounded_moments(param_dtype, state_dtype):
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal(64).astype(np.float32)
    grads = [rng.standard_normal(64).astype(np.float32) for _ in range(4)]
    np_param = ml_dtypes.bfloat16 if param_dtype == jnp.bfloat16 else np.float32
    np_state = ml_dtypes.bfloat16 if state_dtype == jnp.bfloat16 else np.float32
    p0 = p0.astype(np_param)
    grads = [g.astype(np_param) for g in grads]
    w = brainstate.ParamState(jnp.asarray(p0))
    opt = brainopt.Adam(lr=0.1, state_dtype=state_dtype).register_trainable_weights({'w': w})
    for g in grads:
        opt.update({'w': jnp.asarray(g)})
    p, m, v = _numpy_adam(p0, grads, 0.1, 0.9, 0.999, 1e-8, np_state, np_param)
    got_m, got_v = opt.get_slot('exp_avg', 'w'), opt.get_slot('exp_avg_sq', 'w')
    assert got_m.dtype == state_dtype and got_v.dtype == state_dtype and w.value.dtype == param_dtype
    np.testing.assert_allclose(np.asarray(got_m, np.float32), m.astype(np.float32), rtol=1e-2 if
                               state_dtype == jnp.bfloat16 else 1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(got_v, np.float32), v.astype(np.float32), rtol=1e-2 if
                               state_dtype == jnp.bfloat16 else 1e-5, atol=1e-9)
    tol = dict(rtol=1e-2, atol=1e-2) if param_dtype == jnp.bfloat16 else dict(rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(np.asarray(w.value, np.float32), p, **tol)
    if state_dtype == jnp.bfloat16:
        # the moments really are rounded: the same run with float32 moments ends elsewhere
        p32, _, _ = _numpy_adam(p0, grads, 0.1, 0.9, 0.999, 1e-8, np.float32, np_param)
        assert np.max(np.abs(p32 - p)) > 1e-5


def test_state_dtype_checkpoint_round_trip_and_bad_value():
    with pytest.raises(TypeError, match='state_dtype'):
        brainopt.Adam(state_dtype=jnp.int32)
    with pytest.raises(TypeError, match='state_dtype'):
        brainopt.Adam(state_dtype='not a dtype')
    w = brainstate.ParamState(jnp.linspace(-1, 1, 8))
    opt = brainopt.Adadelta(lr=1.0, state_dtype=jnp.bfloat16).register_trainable_weights({'w': w})
    for k in range(3):
        opt.update({'w': jnp.linspace(-1, 1, 8) * (k + 1)})
    path = os.path.join(tempfile.mkdtemp(), 'bf16.npz')
    brainopt.save_checkpoint(path, optimizer=opt)
    w2 = brainstate.ParamState(jnp.asarray(w.value))
    opt2 = brainopt.Adadelta(lr=1.0, state_dtype=jnp.bfloat16).register_trainable_weights({'w': w2})
    brainopt.load_checkpoint(path, optimizer=opt2)
    for s in ('square_avg', 'acc_delta'):
        a, b = opt.get_slot(s, 'w'), opt2.get_slot(s, 'w')
        assert b.dtype == jnp.bfloat16
        np.testing.assert_array_equal(np.asarray(a).view(np.uint16), np.asarray(b).view(np.uint16))
    opt.update({'w': jnp.ones(8)})
    opt2.update({'w': jnp.ones(8)})
    np.testing.assert_array_equal(np.asarray(w.value), np.asarray(w2.value))


def test_train_step_equals_grad_then_update_and_donates():
    runs = []
    for fused in (False, True):
        model = _model()
        params = model.states(brainstate.ParamState)
        opt = brainopt.Adam(lr=0.05, grad_clip_norm=0.5).register_trainable_weights(params)
        init_weight = model.weight.value
        if fused:
            step = train_step(lambda x: _loss(model)() * x, opt)
        else:
            @brainstate.transform.jit
            def step(x):
                grads, loss = brainstate.transform.grad(lambda x: _loss(model)() * x, grad_states=params,
                                                        return_value=True)(x)
                return loss, opt.update(grads)
        losses = [float(step(jnp.float32(2.0))[0]) for _ in range(4)]
        runs.append((losses, jax.tree.map(lambda a: np.array(a, copy=True), model.weight.value),
                     np.array(opt.slots['exp_avg_sq'].value['weight.weight'], copy=True)))
        np.asarray(jax.tree.leaves(init_weight)[0])          # the model's initial arrays are never donated
        if fused:
            held = jax.tree.leaves(model.weight.value)[0]
            kept = np.array(held, copy=True)
            step(jnp.float32(2.0))
            np.testing.assert_array_equal(np.asarray(held), kept)   # copied, never invalidated under the user
            with pytest.raises(TypeError, match='optimizer'):
                train_step(_loss(model), object())
    (l0, w0, v0), (l1, w1, v1) = runs
    # train_step and the jit step are two programs: call t's loss is t updates and a forward pass in, the rest 4
    for t, (a, b) in enumerate(zip(l1, l0)):
        assert_ulp_close(np.float32(a), np.float32(b), cross_program_ulps(t + 1), err_msg=f'loss {t}')
    assert_trees_ulp_close(w1, w0, cross_program_ulps(4), err_msg='weight')
    assert_ulp_close(v1, v0, cross_program_ulps(4), err_msg='exp_avg_sq')


def test_gradients_whose_keys_jax_cannot_sort_still_train_and_fail_clearly():
    """``('a', 0)`` and ``('a', 'x')`` cannot be sorted (jax flattens a dict in key order): the eager path matches
    such gradients by name before its compiled step instead of handing jax the dict."""
    s1, s2 = brainstate.ParamState(jnp.ones(2)), brainstate.ParamState(jnp.ones(3))
    opt = brainopt.SGD(lr=0.5).register_trainable_weights({('a', 0): s1, ('a', 'x'): s2})
    g = {('a', 0): jnp.ones(2), ('a', 'x'): jnp.ones(3)}
    for _ in range(3):
        opt.update(g)
    np.testing.assert_array_equal(np.asarray(s1.value), -0.5)     # 1 - 3 * 0.5: exact
    np.testing.assert_array_equal(np.asarray(s2.value), -0.5)
    with pytest.raises(KeyError, match="unknown parameter path 'a.y'"):
        opt.update({('a', 0): jnp.ones(2), ('a', 'y'): jnp.ones(3)})
    np.testing.assert_array_equal(np.asarray(s2.value), -0.5)


def test_gradients_of_a_known_layout_with_a_wrong_shape_fail_clearly_and_change_nothing():
    """After a few updates the eager path stops walking gradients whose dict has the keys it saw before (their
    shapes are left to the compiled step's signature): a wrong shape still raises the error naming the path, and
    neither the parameters nor the step count move."""
    a, b = brainstate.ParamState(jnp.ones(3)), brainstate.ParamState(jnp.ones((2, 2)))
    opt = brainopt.Adam(lr=0.1).register_trainable_weights({'a': a, 'b': b})
    for _ in range(3):
        opt.update({'a': jnp.ones(3), 'b': jnp.ones((2, 2))})
    before = [np.asarray(a.value).copy(), np.asarray(b.value).copy(), int(opt.step_count.value)]
    with pytest.raises(ValueError, match=r"gradient for 'a' has shape \(4,\), expected \(3,\)"):
        opt.update({'a': jnp.ones(4), 'b': jnp.ones((2, 2))})
    np.testing.assert_array_equal(np.asarray(a.value), before[0])
    np.testing.assert_array_equal(np.asarray(b.value), before[1])
    assert int(opt.step_count.value) == before[2] == 3
    opt.update({'a': jnp.ones(3), 'b': jnp.ones((2, 2))})
    assert int(opt.step_count.value) == 4


def test_an_optimizer_of_an_empty_dict_state_steps():
    """A dict State with no leaves yet is a parameter of nothing: an update counts the step and changes nothing."""
    state = brainstate.ParamState({})
    opt = brainopt.SGD(lr=0.1).register_trainable_weights({'a': state})
    info = opt.update({'a': {}})
    assert bool(info.applied) and int(opt.step_count.value) == 1 and state.value == {}
