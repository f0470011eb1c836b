"""Many devices, on JAX's own sharding (``brainopt/sharding.py``, ``examples/data_parallel.py``).

The multi-device checks need 8 devices, and ``XLA_FLAGS=--xla_force_host_platform_device_count=8`` must be
set before jax starts: they run in one subprocess, ``tests/sharding_job.py``, which asserts everything
(parameters and accumulators keep their sharding through eager and jitted updates with nothing gathered;
ZeRO-1 splits the accumulators and changes no number; the data-parallel example equals its single-device
run). The checks here need no second device.
"""
import os
import pathlib
import subprocess
import sys

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import brainopt
from brainopt.sharding import zero_spec

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_zero_spec_splits_the_first_free_divisible_dimension():
    assert zero_spec((16, 6), P(), 'data', 4) == P('data', None)
    assert zero_spec((6, 16), P(), 'data', 4) == P(None, 'data')
    assert zero_spec((16, 8), P(None, 'model'), 'data', 4) == P('data', 'model')
    assert zero_spec((16, 8), P('data', None), 'data', 4) == P('data', None)           # already split
    assert zero_spec((16, 8), P(('data', 'model'),), 'data', 8) == P(('data', 'model'), None)
    assert zero_spec((6, 3), P(), 'data', 4) == P(None, None)                           # nothing divides
    assert zero_spec((), P(), 'data', 4) == P()
    assert zero_spec((2,), P(), 'data', 4) == P(None)                                  # shorter than the axis


def test_shard_accumulators_on_one_device_and_its_errors():
    mesh = Mesh(np.array(jax.devices()[:1]), ('data',))
    w = brainstate.ParamState(jnp.ones((4, 2)))
    ref = brainstate.ParamState(jnp.ones((4, 2)))
    opt = brainopt.Adam(lr=0.1, use_ema=True).register_trainable_weights({'w': w})
    plain = brainopt.Adam(lr=0.1, use_ema=True).register_trainable_weights({'w': ref})
    with pytest.raises(TypeError, match=r'Adam.shard_accumulators: mesh must be a jax.sharding.Mesh, got tuple'):
        opt.shard_accumulators((1,), axis='data')
    with pytest.raises(ValueError, match=r"axis 'batch' is not an axis of the mesh; its axes are \['data'\]"):
        opt.shard_accumulators(mesh, axis='batch')
    assert opt.shard_accumulators(mesh) is opt
    for _ in range(2):
        opt.update({'w': jnp.full((4, 2), 0.5)})
        plain.update({'w': jnp.full((4, 2), 0.5)})
    np.testing.assert_array_equal(w.value, ref.value)            # it moves memory, not arithmetic
    assert isinstance(opt.get_slot('exp_avg', 'w').sharding, NamedSharding)


def test_many_devices_in_a_subprocess():
    env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=8', JAX_PLATFORMS='cpu',
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / 'tests'), os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run([sys.executable, str(ROOT / 'tests' / 'sharding_job.py')], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and 'SHARDING OK' in proc.stdout, out[-6000:]
    for name in ('test_parameters_and_accumulators_keep_their_sharding', 'test_zero_stage_1',
                 'test_data_parallel_example'):
        assert f'{name} passed' in proc.stdout, out[-6000:]
