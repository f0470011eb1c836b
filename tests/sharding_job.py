"""The multi-device checks of tests/test_sharding.py, run in a process of its own with 8 simulated CPU devices.

``XLA_FLAGS=--xla_force_host_platform_device_count=8`` must be set before jax starts, so
tests/test_sharding.py runs this script in a subprocess; it asserts everything and prints ``SHARDING OK``.
Run it by hand with ``XLA_FLAGS=--xla_force_host_platform_device_count=8 python tests/sharding_job.py``.
"""
import importlib.util
import os
import pathlib
import sys

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import brainopt

from ulps import assert_ulp_close, cross_program_ulps  # tests/ is sys.path[0]: this file runs as a script

ROOT = pathlib.Path(__file__).resolve().parent.parent
assert jax.device_count() == 8, f'expected 8 devices (XLA_FLAGS={os.environ.get("XLA_FLAGS")!r}), got {jax.devices()}'
MESH = Mesh(np.array(jax.devices()).reshape(4, 2), ('data', 'model'))
SPECS = {'w': P('data', 'model'), 'b': P('model'), 'v': P(None, 'model')}
SHAPES = {'w': (16, 8), 'b': (8,), 'v': (6, 4)}


def sharded_params(seed=0):
    rng = np.random.RandomState(seed)
    return {k: brainstate.ParamState(jax.device_put(jnp.asarray(rng.randn(*SHAPES[k]), jnp.float32),
                                                    NamedSharding(MESH, SPECS[k]))) for k in SHAPES}


def sharded_grads(seed):
    rng = np.random.RandomState(seed + 100)
    return {k: jax.device_put(jnp.asarray(rng.randn(*SHAPES[k]), jnp.float32), NamedSharding(MESH, SPECS[k]))
            for k in SHAPES}


def spec(x):
    s = x.sharding
    assert isinstance(s, NamedSharding), f'{s} is not a NamedSharding'
    return s.spec


def accumulators(opt):
    out = {(s, k): v for s, st in opt.slots.items() for k, v in st.value.items()}
    if opt.use_ema:
        out.update({('ema', k): v for k, v in opt.ema.value.items()})
    if opt._accumulating:
        out.update({('grad_accum', k): v for k, v in opt.grad_accum.value.items()})
    return out


def check_kept(opt, ws, where):
    """Parameters keep their sharding; an accumulator of the parameter's shape has exactly its sharding,
    any other lives on all of the mesh's devices (never gathered to one)."""
    for k, st in ws.items():
        assert st.value.sharding == NamedSharding(MESH, SPECS[k]), (where, k, st.value.sharding)
    for (slot, k), v in accumulators(opt).items():
        assert len(v.sharding.device_set) == 8, (where, slot, k, v.sharding)
        if v.shape == SHAPES[k]:
            assert v.sharding.is_equivalent_to(NamedSharding(MESH, SPECS[k]), v.ndim), (where, slot, k, v.sharding)


def test_parameters_and_accumulators_keep_their_sharding():
    for cls, kw in [(brainopt.Adam, {}), (brainopt.Adafactor, {})]:      # element-wise; factored slots
        eager_w, jit_w = sharded_params(), sharded_params()
        opts = [cls(lr=0.01, use_ema=True, gradient_accumulation_steps=2, **kw).register_trainable_weights(w)
                for w in (eager_w, jit_w)]
        check_kept(opts[0], eager_w, f'{cls.__name__} at registration')
        step = brainstate.transform.jit(lambda g: opts[1].update(g))
        for i in range(4):
            opts[0].update(sharded_grads(i))
            step(sharded_grads(i))
        check_kept(opts[0], eager_w, f'{cls.__name__} eager')
        check_kept(opts[1], jit_w, f'{cls.__name__} jit')
        # a checkpoint loads straight back into the shards (nothing passes through one device)
        saved = opts[0].state_dict()
        opts[1].load_state_dict(saved)
        check_kept(opts[1], jit_w, f'{cls.__name__} after load_state_dict')
        for (slot, k), v in accumulators(opts[1]).items():
            expected = saved[slot][k] if slot in ('ema', 'grad_accum') else saved['slots'][slot][k]
            np.testing.assert_array_equal(np.asarray(v), expected)
        for k in SHAPES:        # the eager update and the jitted one are different programs: 4 steps apart
            assert_ulp_close(eager_w[k].value, jit_w[k].value, cross_program_ulps(4), err_msg=k)
    # an element-wise rule's step moves no parameter or accumulator between devices: no all-gather at all
    ws = sharded_params()
    opt = brainopt.Adam(lr=0.01).register_trainable_weights(ws)
    assert 'all-gather' not in compiled_step(opt, ws, sharded_grads(0)), 'the Adam step gathers'


def compiled_step(opt, ws, grads):
    """The optimised HLO of ``opt``'s whole step."""
    params = {k: st.value for k, st in ws.items()}
    args = (params, grads, opt._read_state(), [g.source.values() for g in opt._groups])
    return jax.jit(opt._pure_step).lower(*args).compile().as_text()


def test_zero_stage_1():
    """Accumulators split along 'data' on top of their parameter's sharding; the same numbers as without."""
    plain_w, zero_w = sharded_params(), sharded_params()
    plain = brainopt.Adam(lr=0.01, use_ema=True, gradient_accumulation_steps=2).register_trainable_weights(plain_w)
    zero = brainopt.Adam(lr=0.01, use_ema=True, gradient_accumulation_steps=2).register_trainable_weights(zero_w)
    assert zero.shard_accumulators(MESH, axis='data') is zero
    expected = {'w': P('data', 'model'), 'b': P('model'), 'v': P(None, 'model')}   # 6 rows: not a multiple of 4
    step = brainstate.transform.jit(lambda g: zero.update(g))
    for i in range(4):
        plain.update(sharded_grads(i))
        (zero.update if i % 2 else step)(sharded_grads(i))
        for (slot, k), v in accumulators(zero).items():
            assert v.sharding.is_equivalent_to(NamedSharding(MESH, expected[k]), v.ndim), (i, slot, k, v.sharding)
        for k in SHAPES:
            assert zero_w[k].value.sharding == NamedSharding(MESH, SPECS[k]), (i, k, zero_w[k].value.sharding)
    for k in SHAPES:            # sharded differently, so compiled differently: 4 steps apart
        assert_ulp_close(plain_w[k].value, zero_w[k].value, cross_program_ulps(4), err_msg=k)
    # replicated parameters (pure data parallelism): each device holds 1/4 of a splittable accumulator
    w = brainstate.ParamState(jax.device_put(jnp.ones((16, 6)), NamedSharding(MESH, P())))
    opt = brainopt.Adam(lr=0.01).register_trainable_weights({'w': w}).shard_accumulators(MESH, 'data')
    # ZeRO-1's price: the updated slices of the parameter are gathered (and so the check above can fail)
    assert 'all-gather' in compiled_step(opt, {'w': w}, {'w': jnp.ones((16, 6))})
    opt.update({'w': jnp.ones((16, 6))})
    m = opt.get_slot('exp_avg', 'w')
    assert spec(m) == P('data') and {s.data.shape for s in m.addressable_shards} == {(4, 6)}
    assert spec(w.value) == P() and float(w.value[0, 0]) != 1.0
    try:
        opt.shard_accumulators(MESH, axis='batch')
    except ValueError as e:
        assert "'batch'" in str(e) and 'data' in str(e)
    else:
        raise AssertionError('an unknown mesh axis was accepted')


def test_data_parallel_example():
    spec_ = importlib.util.spec_from_file_location('data_parallel', ROOT / 'examples' / 'data_parallel.py')
    module = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(module)
    result = module.main(['--fast', '--no-progress', '--zero'])
    assert result['devices'] == 8
    assert result['max_param_diff'] <= 1e-4, result['max_param_diff']
    assert result['max_loss_diff'] <= 1e-4, result['max_loss_diff']


if __name__ == '__main__':
    names = sys.argv[1:] or [n for n in dict(globals()) if n.startswith('test_')]
    for name in names:
        globals()[name]()
        print(name, 'passed', flush=True)
    print('SHARDING OK')
