"""Invariants over random inputs (hypothesis): shapes, dtypes, hyperparameters in range, optimizer rows.

* eager ``update`` equals the same update traced into ``brainstate.transform.jit``;
* ``gradient_accumulation_steps=k`` fed k micro-batches equals one step on their mean, for a random splitting
  of the same gradients (to round-off);
* a run interrupted at any step, its state dict loaded into a fresh optimizer, continues bit-identically;
* parameters stored as brainunit Quantities keep their units, and so does their EMA.

Each example compiles (about a second), so every property draws few examples; ``derandomize=True`` makes
the draws the same on every run (CI is reproducible), ``database=None`` writes nothing, and a failure is
reported as drawn (shrinking would compile hundreds of times).
"""
import inspect

import brainstate
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from table import OPTIMIZERS

FEW = settings(max_examples=6, deadline=None, derandomize=True, database=None,
               phases=[Phase.explicit, Phase.generate],
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16, 'float16': jnp.float16}
# eager and jit compile the same step in two contexts; XLA may round one operation differently: a few ulps
TOL = {'float32': 1e-5, 'bfloat16': 3e-2, 'float16': 4e-3}

shapes = st.lists(st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple), min_size=1, max_size=3)


@st.composite
def configs(draw, dtypes=('float32', 'bfloat16', 'float16'), rows=OPTIMIZERS):
    """A row of the table, hyperparameters in range, parameter shapes, a dtype and a seed."""
    info = draw(st.sampled_from(rows))
    params = inspect.signature(info.cls.__init__).parameters
    kw = {'lr': draw(st.sampled_from([1e-3, 1e-2, 0.05])) if 'lr' in params else None,
          'weight_decay': draw(st.sampled_from([0.0, 1e-3, 0.05])),
          'grad_clip_norm': draw(st.sampled_from([None, 1.0, 10.0])),
          'use_ema': draw(st.booleans())}
    if 'betas' in params and len(params['betas'].default) == 2:
        b1 = draw(st.sampled_from([0.0, 0.5, 0.9]) if info.name != 'ScheduleFreeAdamW' else st.just(0.9))
        kw['betas'] = (b1, draw(st.sampled_from([0.9, 0.99, 0.999])))
    if info.name == 'AdamW-amsgrad':
        kw['weight_decay'] = max(kw['weight_decay'], 1e-3)
    kw = info.supported(**{k: v for k, v in kw.items() if v is not None})
    return info, kw, draw(shapes), draw(st.sampled_from(dtypes)), draw(st.integers(0, 2 ** 16))


def make_params(shape_list, dtype, seed, unit=None):
    rng = np.random.RandomState(seed)
    out = {}
    for i, s in enumerate(shape_list):
        v = jnp.asarray(rng.randn(*s), DTYPES[dtype])
        out[f'p{i}'] = brainstate.ParamState(v if unit is None else v * unit)
    return out


def grad_stream(shape_list, dtype, seed, n):
    rng = np.random.RandomState(seed + 1)
    return [{f'p{i}': np.asarray(rng.randn(*s), np.float32).astype(DTYPES[dtype]) for i, s in enumerate(shape_list)}
            for _ in range(n)]


def values(tree):
    return jax.tree.map(lambda x: np.asarray(x, np.float32), tree, is_leaf=lambda x: isinstance(x, u.Quantity))


def opt_values(opt):
    return {k: values(s.value) for k, s in brainstate.graph.states(opt).items()}


def bits(tree):
    return [(np.asarray(x).dtype, np.asarray(x).tobytes()) for x in jax.tree.leaves(tree)]


@FEW
@given(configs())
def test_eager_equals_jit(config):
    info, kw, shape_list, dtype, seed = config
    grads = grad_stream(shape_list, dtype, seed, 3)
    eager_w, jit_w = make_params(shape_list, dtype, seed), make_params(shape_list, dtype, seed)
    eager = info.make(**kw).register_trainable_weights(eager_w)
    jitted = info.make(**kw).register_trainable_weights(jit_w)
    step = brainstate.transform.jit(lambda g: info.update(jitted, g))
    for g in grads:
        info.update(eager, {k: jnp.asarray(v) for k, v in g.items()})
        step({k: jnp.asarray(v) for k, v in g.items()})
    tol = TOL[dtype]
    for k in eager_w:
        assert eager_w[k].value.dtype == DTYPES[dtype] and eager_w[k].value.shape == jit_w[k].value.shape
        np.testing.assert_allclose(values(eager_w[k].value), values(jit_w[k].value), rtol=tol, atol=tol, err_msg=k)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=tol, atol=tol), opt_values(eager),
                 opt_values(jitted))


@FEW
@given(configs(dtypes=('float32',), rows=[r for r in OPTIMIZERS if r.supported(gradient_accumulation_steps=2)]),
       st.integers(2, 4), st.data())
def test_accumulating_k_micro_batches_equals_one_step_on_their_mean(config, k, data):
    info, kw, shape_list, dtype, seed = config
    rng = np.random.RandomState(seed + 2)
    acc_w, one_w = make_params(shape_list, dtype, seed), make_params(shape_list, dtype, seed)
    acc = info.make(gradient_accumulation_steps=k, **kw).register_trainable_weights(acc_w)
    one = info.make(**kw).register_trainable_weights(one_w)
    for mean in grad_stream(shape_list, dtype, seed, 2):
        # a random splitting of the same gradient into k micro-batches: random parts that sum to k * mean
        weights = data.draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, -1.0]), min_size=k, max_size=k))
        parts = {n: [m * w + np.asarray(rng.randn(*m.shape), np.float32) for w in weights] for n, m in mean.items()}
        for n, m in mean.items():
            parts[n][-1] = k * m - np.sum(parts[n][:-1], axis=0, dtype=np.float32)
        exact = {n: np.sum(p, axis=0, dtype=np.float32) / np.float32(k) for n, p in parts.items()}
        for i in range(k):
            info.update(acc, {n: jnp.asarray(p[i]) for n, p in parts.items()})
        info.update(one, {n: jnp.asarray(v) for n, v in exact.items()})
    assert int(acc.step_count.value) == int(one.step_count.value) == 2
    for n in acc_w:
        np.testing.assert_allclose(values(acc_w[n].value), values(one_w[n].value), rtol=2e-5, atol=2e-6, err_msg=n)


@FEW
@given(configs(), st.integers(0, 4), st.booleans())
def test_resuming_from_a_state_dict_at_any_step_is_bit_identical(config, stop, features):
    info, kw, shape_list, dtype, seed = config
    more = info.supported(gradient_accumulation_steps=2, skip_nonfinite=True) if features else {}
    grads = grad_stream(shape_list, dtype, seed, 5)
    if features:
        grads[1] = {n: np.full_like(g, np.nan) for n, g in grads[1].items()}     # a skipped call
    feed = [{n: jnp.asarray(v) for n, v in g.items()} for g in grads]
    w = make_params(shape_list, dtype, seed)
    opt = info.make(**kw, **more).register_trainable_weights(w)
    for g in feed[:stop]:
        info.update(opt, g)
    saved_params = {n: np.array(s.value, copy=True) for n, s in w.items()}
    saved = opt.state_dict()
    for g in feed[stop:]:
        info.update(opt, g)
    # a fresh optimizer (as in a new process) loads the state dict and runs the rest
    w2 = {n: brainstate.ParamState(jnp.asarray(v)) for n, v in saved_params.items()}
    opt2 = info.make(**kw, **more).register_trainable_weights(w2)
    opt2.load_state_dict(saved)
    for g in feed[stop:]:
        info.update(opt2, g)
    assert bits({n: s.value for n, s in w.items()}) == bits({n: s.value for n, s in w2.items()})
    assert bits({k: s.value for k, s in brainstate.graph.states(opt).items()}) == \
        bits({k: s.value for k, s in brainstate.graph.states(opt2).items()})


@FEW
@given(configs(dtypes=('float32',)), st.sampled_from([u.mV, u.ms, u.nS, u.volt]))
def test_units_are_kept(config, unit):
    info, kw, shape_list, dtype, seed = config
    kw = dict(kw, use_ema=True)
    w = make_params(shape_list, dtype, seed, unit)
    opt = info.make(**kw).register_trainable_weights(w)
    before = {n: np.asarray(s.value.mantissa) for n, s in w.items()}
    for g in grad_stream(shape_list, dtype, seed, 2):
        info.update(opt, {n: jnp.asarray(v) * unit for n, v in g.items()})  # unit_aware=False labels grads so
    for n, s in w.items():
        assert isinstance(s.value, u.Quantity) and s.value.unit == unit, n
        assert np.all(np.isfinite(s.value.mantissa)) and not np.array_equal(s.value.mantissa, before[n])
        ema = opt.get_slot('ema', n)
        assert isinstance(ema, u.Quantity) and ema.unit == unit, n
