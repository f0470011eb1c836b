"""The shared options, each tested once, against formulas written here in numpy."""
import brainstate
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainopt
from brainopt.rules import Rule

from table import OPTIMIZERS
from ulps import assert_ulp_close, cross_program_ulps


def states_of(**arrays):
    return {k: brainstate.ParamState(jnp.asarray(v, jnp.float32)) for k, v in arrays.items()}


def np_adagrad(p, g, s, lr, eps=1e-10):
    s = s + g * g
    return p - lr * g / (np.sqrt(s) + eps), s


@pytest.fixture(params=OPTIMIZERS, ids=repr)
def info(request):
    return request.param


class CountingRule(Rule):
    """SGD that counts, at run time, how often its math executes."""
    slots = ('runs',)

    def __init__(self):
        self.executions = 0

    def _tick(self):
        self.executions += 1

    def init_leaf(self, param):
        return {'runs': jnp.zeros_like(param)}

    def update_leaf(self, grad, param, slots, count, lr):
        jax.debug.callback(self._tick)
        return -lr * grad, {'runs': slots['runs'] + 1}


def test_accumulation_applies_the_mean_and_skips_the_rule_in_between():
    rule = CountingRule()
    w = brainstate.ParamState(jnp.zeros(3))
    opt = brainopt.Optimizer(rule, lr=1.0, gradient_accumulation_steps=3).register_trainable_weights({'w': w})
    grads = [np.array([1., 2., 3.]), np.array([4., 5., 6.]), np.array([7., 8., 9.])]
    for i, g in enumerate(grads[:2]):
        info = opt.update({'w': jnp.asarray(g, jnp.float32)})
        assert not bool(info.applied)
        np.testing.assert_array_equal(w.value, 0.)
        assert int(opt.step_count.value) == 0 and int(opt.accum_count.value) == i + 1
    jax.effects_barrier()
    assert rule.executions == 0                       # the rule's math never ran while accumulating
    info = opt.update({'w': jnp.asarray(grads[2], jnp.float32)})
    jax.effects_barrier()
    assert bool(info.applied) and rule.executions == 1
    # the means of small integers (12/3, 15/3, 18/3) times lr 1: exact in float32
    np.testing.assert_allclose(w.value, -np.mean(grads, axis=0), rtol=1e-6)
    np.testing.assert_array_equal(opt.get_slot('grad_accum', 'w'), 0.)
    assert int(opt.step_count.value) == 1 and int(opt.accum_count.value) == 0


def test_accumulation_equals_one_step_on_the_mean(info):
    info.skip_if('test_accumulation_equals_one_step_on_the_mean')
    rng = np.random.RandomState(0)
    micro = [rng.randn(4, 3).astype(np.float32) for _ in range(8)]
    acc_w, one_w = states_of(w=np.ones((4, 3))), states_of(w=np.ones((4, 3)))
    acc_opt = info.make(gradient_accumulation_steps=4).register_trainable_weights(acc_w)
    one_opt = info.make().register_trainable_weights(one_w)
    for k in range(2):
        for g in micro[4 * k:4 * k + 4]:
            info.update(acc_opt, {'w': jnp.asarray(g)})
        info.update(one_opt, {'w': jnp.asarray(np.mean(micro[4 * k:4 * k + 4], axis=0))})
    # two brainopt programs (the accumulated mean vs numpy's mean, stepped): 2 optimizer steps
    assert_ulp_close(acc_w['w'].value, one_w['w'].value, cross_program_ulps(2))


def test_skip_nonfinite_moves_nothing(info):
    ws = states_of(a=np.ones(3), b=np.ones(2))
    opt = info.make(**info.supported(skip_nonfinite=True, use_ema=True, gradient_accumulation_steps=2))
    opt.register_trainable_weights(ws)
    for _ in range(3):
        info.update(opt, {'a': jnp.full(3, 0.5), 'b': jnp.full(2, -0.5)})
    snapshot = jax.tree.map(np.array, {k: s.value for k, s in brainstate.graph.states(opt).items()})
    params = {k: np.array(s.value) for k, s in ws.items()}
    info_ = info.update(opt, {'a': jnp.array([0.5, np.nan, 0.5]), 'b': jnp.array([np.inf, 0.])})
    assert not bool(info_.applied) and not bool(info_.finite)
    for k, s in ws.items():
        np.testing.assert_array_equal(s.value, params[k])
    after = {k: s.value for k, s in brainstate.graph.states(opt).items()}
    for k, v in snapshot.items():
        if k == ('skipped_steps',):
            assert int(after[k]) == int(v) + 1
        else:
            jax.tree.map(np.testing.assert_array_equal, after[k], v)


def test_nonfinite_without_skip_is_reported():
    ws = states_of(a=np.ones(3))
    opt = brainopt.Adagrad(lr=0.1).register_trainable_weights(ws)
    out = opt.update({'a': jnp.array([np.nan, 1., 1.])})
    assert not bool(out.finite) and bool(out.applied) and np.isnan(float(out.grad_norm))


def test_one_nan_does_not_poison_others_through_global_clipping():
    ws = states_of(a=np.ones(3), b=np.ones(4))
    opt = brainopt.Adagrad(lr=0.1, grad_clip_norm=1.0).register_trainable_weights(ws)
    g_b = np.array([3., 0., 4., 0.], np.float32)    # norm 5 -> clipped to 1 over the finite part
    opt.update({'a': jnp.array([np.nan, 0., 0.]), 'b': jnp.asarray(g_b)})
    assert np.all(np.isfinite(ws['b'].value))
    expected, _ = np_adagrad(np.ones(4, np.float32), g_b / 5.0, np.zeros(4, np.float32), 0.1)
    np.testing.assert_allclose(ws['b'].value, expected, rtol=1e-6)   # float32 numpy, same ~6 roundings: < 8 ulps


def test_clipping_order_value_after_global_norm():
    """Per-parameter norm, then global norm, then value: written out in numpy."""
    g = {'a': np.array([3., 4.], np.float32), 'b': np.array([0., 12.], np.float32)}
    ws = states_of(a=np.zeros(2), b=np.zeros(2))
    opt = brainopt.Optimizer(CountingRule(), lr=1.0, grad_clip_norm_per_param=10.0, grad_clip_norm=6.5,
                             grad_clip_value=2.0).register_trainable_weights(ws)
    opt.update({k: jnp.asarray(v) for k, v in g.items()})
    per = {k: v * 10.0 / max(np.linalg.norm(v), 10.0) for k, v in g.items()}    # b: [0, 10]
    norm = np.sqrt(sum(np.sum(v * v) for v in per.values()))                   # sqrt(25 + 100)
    glob = {k: v * 6.5 / norm for k, v in per.items()}
    for k in g:
        # float32 numpy of the same norms and scalings, ~6 roundings: within 8 ulps (< rtol 1e-6)
        np.testing.assert_allclose(ws[k].value, -np.clip(glob[k], -2.0, 2.0), rtol=1e-6)


def test_weight_decay_exclude_by_pattern_and_predicate():
    g = np.array([0.3, -0.2], np.float32)
    for exclude in ['bias', ['bi.s'], lambda path: path.endswith('bias')]:
        ws = states_of(weight=np.ones(2), bias=np.ones(2))
        opt = brainopt.Adagrad(lr=0.1, weight_decay=0.5, weight_decay_exclude=exclude).register_trainable_weights(ws)
        opt.update({'weight': jnp.asarray(g), 'bias': jnp.asarray(g)})
        one = np.ones(2, np.float32)
        decayed, plain = np_adagrad(one, g + 0.5 * one, 0 * one, 0.1)[0], np_adagrad(one, g, 0 * one, 0.1)[0]
        # float32 numpy Adagrad, one step of ~6 roundings: within 8 ulps (< rtol 1e-6)
        np.testing.assert_allclose(ws['weight'].value, decayed, rtol=1e-6)
        np.testing.assert_allclose(ws['bias'].value, plain, rtol=1e-6)       # likewise: within 8 ulps


def test_update_info_reports_lr_and_norm():
    ws = states_of(a=np.ones(2))
    opt = brainopt.Adagrad(lr=lambda step: 0.1 / (1 + step), loss_scale_factor=4.0).register_trainable_weights(ws)
    lrs = [float(opt.update({'a': jnp.array([4., 0.])}).lr) for _ in range(3)]
    np.testing.assert_allclose(lrs, [0.1, 0.05, 0.1 / 3], rtol=1e-6)    # float32 0.1 / k: 2 roundings, < 2 ulps
    out = opt.update({'a': jnp.array([12., 16.])})
    np.testing.assert_allclose(float(out.grad_norm), 5.0, rtol=1e-6)       # after loss scaling: exact in float32
    np.testing.assert_allclose(float(opt.current_lr), 0.1 / 5, rtol=1e-6)  # float32 0.1 / 5: 2 roundings, < 2 ulps


def test_ema_context_restores_and_copy_overwrites(info):
    ws = states_of(a=np.ones(3))
    opt = info.make(use_ema=True, ema_momentum=0.5).register_trainable_weights(ws)
    trail = []
    for _ in range(4):
        info.update(opt, {'a': jnp.full(3, 0.3)})
        trail.append(np.array(ws['a'].value))
    ema = trail[0]
    for p in trail[1:]:
        ema = 0.5 * ema + 0.5 * p                            # Keras: the first update sets avg = p
    trained = np.array(ws['a'].value)
    with opt.ema_weights():
        # float32 numpy EMA (halvings exact, 3 sums): within 4 ulps (< rtol 1e-6)
        np.testing.assert_allclose(ws['a'].value, ema, rtol=1e-6)
    np.testing.assert_array_equal(ws['a'].value, trained)
    with pytest.raises(ZeroDivisionError):
        with opt.ema_weights():
            1 / 0
    np.testing.assert_array_equal(ws['a'].value, trained)
    opt.copy_ema_to_params()
    np.testing.assert_allclose(ws['a'].value, ema, rtol=1e-6)     # as above: within 4 ulps (< rtol 1e-6)
    info.update(opt, {'a': jnp.full(3, 0.3)})                 # params do not alias the donated EMA buffer
    assert np.all(np.isfinite(ws['a'].value))


def test_ema_needs_use_ema():
    opt = brainopt.Adagrad().register_trainable_weights(states_of(a=np.ones(2)))
    with pytest.raises(RuntimeError, match='use_ema=True'):
        opt.copy_ema_to_params()


def test_quantity_parameters_keep_their_unit(info):
    thr = brainstate.ParamState(jnp.array([-50., -55.]) * u.mV)
    w = brainstate.ParamState(jnp.ones(2))
    opt = info.make().register_trainable_weights({'thr': thr, 'w': w})

    def loss():
        return jnp.sum((thr.value / u.mV + 52.) ** 2) + jnp.sum(w.value ** 2)

    first = None
    for _ in range(20):
        grads, value = brainstate.transform.grad(loss, grad_states={'thr': thr, 'w': w}, return_value=True)()
        first = value if first is None else first
        info.update(opt, grads, brainstate.transform.grad(loss, grad_states={'thr': thr, 'w': w}))
    assert thr.value.unit == u.mV
    assert float(value) < float(first)


def test_gradient_of_wrong_dimension_is_an_error():
    thr = brainstate.ParamState(jnp.array([-50.]) * u.mV)
    opt = brainopt.Adagrad().register_trainable_weights({'thr': thr})
    with pytest.raises(ValueError, match=r"'thr' has unit .*s.*does not belong"):
        opt.update({'thr': jnp.array([1.]) * u.second})


def test_lr_setter_takes_effect_without_stale_cache():
    ws = states_of(a=np.zeros(1))
    opt = brainopt.Optimizer(CountingRule(), lr=1.0).register_trainable_weights(ws)
    opt.update({'a': jnp.ones(1)})
    opt.lr = 0.25
    opt.update({'a': jnp.ones(1)})
    np.testing.assert_allclose(ws['a'].value, [-1.25])


class HalvingSchedule(brainopt.LRScheduler):
    """Halve the learning rate every 2 updates: a pure jnp function of the step."""

    def __call__(self, step):
        return 0.4 * 0.5 ** (step // 2)


def test_lr_scheduler_object_inside_jit():
    ws = states_of(a=np.zeros(1))
    opt = brainopt.Optimizer(CountingRule(), lr=HalvingSchedule()).register_trainable_weights(ws)
    step = brainstate.transform.jit(lambda g: opt.update(g).lr)
    lrs = [float(step({'a': jnp.ones(1)})) for _ in range(5)]
    np.testing.assert_allclose(lrs, [0.4, 0.4, 0.2, 0.2, 0.1], rtol=1e-6)    # float32 0.4 * 2^-k: half an ulp
    np.testing.assert_allclose(ws['a'].value, [-sum(lrs)], rtol=1e-6)       # 5 float32 sums: within 4 ulps


def test_repr_shows_every_option_that_is_not_default():
    text = repr(brainopt.Adadelta(lr=0.5, grad_clip_norm=10.0, use_ema=True))
    assert text == 'Adadelta(lr=0.5, rho=0.9, eps=1e-06, grad_clip_norm=10.0, use_ema=True)'
