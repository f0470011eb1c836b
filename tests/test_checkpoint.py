"""Checkpoints: a resumed run is bit-identical to one never interrupted; loading checks before it writes.

The resume test trains every optimizer of the table with a schedule, EMA,
gradient accumulation and skipped steps all active, saves half-way, resumes in
a new Python process from a freshly built model and optimizer, and compares
every parameter and every optimizer State bit for bit.
"""
import json
import os
import subprocess
import sys
import zipfile

import brainstate
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainopt
from brainopt import checkpoint

import resume_job
from table import OPTIMIZERS
from ulps import bits

HERE = os.path.dirname(__file__)


def everything(model, opt):
    return {'params': bits({k: s.value for k, s in model.states(brainstate.ParamState).items()}),
            'optimizer': bits({k: s.value for k, s in brainstate.graph.states(opt).items()})}


ROWS = [r.name for r in OPTIMIZERS]
# every row with a per-epoch schedule (its State is in the checkpoint); a plain callable once
CASES = [(name, 'epoch') for name in ROWS] + [('Adam', 'callable')]


@pytest.fixture(scope='module')
def resumed(tmp_path_factory):
    """Run the first half of every (row, schedule) here and save; the second half in one new process, from a
    freshly built model and optimizer. The uninterrupted reference is the same objects here running on past the
    save (saving only reads), so each row builds and compiles once here, not twice."""
    d = tmp_path_factory.mktemp('resume')
    reference = {}
    for name, schedule in CASES:
        model, opt = resume_job.build(name, schedule)
        resume_job.run(model, opt, range(resume_job.CALLS // 2), name)
        brainopt.save_checkpoint(d / f'{resume_job.key(name, schedule)}.half.npz', model=model, optimizer=opt)
        resume_job.run(model, opt, range(resume_job.CALLS // 2, resume_job.CALLS), name)
        reference[name, schedule] = (everything(model, opt), int(opt.skipped_steps.value),
                                     int(opt.step_count.value))
    proc = subprocess.run([sys.executable, os.path.join(HERE, 'resume_job.py'), str(d)], capture_output=True,
                          text=True, env={**os.environ, 'JAX_PLATFORMS': 'cpu'})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return d, reference


@pytest.mark.xdist_group('resume')      # one worker runs them all: the module fixture then runs once, not per worker
@pytest.mark.parametrize('name,schedule', CASES, ids=[f'{n}-{s}' for n, s in CASES])
def test_resumed_run_is_bit_identical(resumed, name, schedule):
    directory, reference = resumed
    expected, skipped, applied = reference[name, schedule]
    assert skipped == 1 and applied == resume_job.applied(name)
    fresh_model, fresh_opt = resume_job.build(name, schedule, seed=7)
    brainopt.load_checkpoint(directory / f'{resume_job.key(name, schedule)}.final.npz', model=fresh_model,
                             optimizer=fresh_opt)
    actual = everything(fresh_model, fresh_opt)
    assert actual.keys() == expected.keys()
    for part in expected:
        assert actual[part].keys() == expected[part].keys()
        for k in expected[part]:
            assert actual[part][k] == expected[part][k], f'{part} {k} differs after resuming'


# -- the state dict --------------------------------------------------------------------------------
def _trained(opt_factory=lambda: brainopt.Adam(lr=0.1, use_ema=True), steps=3):
    model = resume_job.MLP()
    opt = opt_factory().register_trainable_weights(model.states(brainstate.ParamState))
    for call in range(steps):
        x, y = resume_job.batch(call)
        params = model.states(brainstate.ParamState)
        opt.update(brainstate.transform.grad(lambda: jnp.mean((model(x) - y) ** 2), grad_states=params)())
    return model, opt


def test_state_dict_is_keyed_by_slot_and_path_and_holds_host_copies():
    model, opt = _trained()
    d = opt.state_dict()
    assert d['optimizer'] == 'Adam'
    assert set(d['slots']) == {'exp_avg', 'exp_avg_sq'}
    assert set(d['slots']['exp_avg']) == {'l1.weight.weight', 'l1.weight.bias', 'l2.weight.weight', 'l2.weight.bias'}
    before = bits(d)
    x, y = resume_job.batch(9)
    params = model.states(brainstate.ParamState)
    opt.update(brainstate.transform.grad(lambda: jnp.mean((model(x) - y) ** 2), grad_states=params)())
    assert bits(d) == before            # the eager update donated the optimizer's buffers; the dict is a copy
    assert all(isinstance(x, (np.ndarray, str)) for x in jax.tree.leaves(d))


def test_state_dict_is_a_plain_pytree_that_round_trips_through_tree_map():
    _, opt = _trained()
    d = jax.tree.map(lambda x: x if isinstance(x, str) else np.array(x), opt.state_dict())
    _, fresh = _trained(steps=0)
    fresh.load_state_dict(d)
    assert bits(fresh.state_dict()) == bits(opt.state_dict())


def test_load_does_not_depend_on_construction_order():
    """Keys are paths: States created in another order (other ids) load the same values."""
    w1, w2 = brainstate.ParamState(jnp.ones(3)), brainstate.ParamState(jnp.ones(2))
    opt = brainopt.Adagrad(lr=0.1).register_trainable_weights({'a': w1, 'b': w2})
    opt.update({'a': jnp.ones(3), 'b': 2 * jnp.ones(2)})
    v2, v1 = brainstate.ParamState(jnp.ones(2)), brainstate.ParamState(jnp.ones(3))
    fresh = brainopt.Adagrad(lr=0.1).register_trainable_weights({'b': v2, 'a': v1})
    fresh.load_state_dict(opt.state_dict())
    np.testing.assert_array_equal(fresh.get_slot('sum', 'b'), opt.get_slot('sum', 'b'))
    np.testing.assert_array_equal(fresh.get_slot('sum', 'a'), opt.get_slot('sum', 'a'))


def test_changed_constant_lr_is_saved_and_restored():
    _, opt = _trained(lambda: brainopt.SGD(lr=0.1))
    opt.lr = 0.025
    _, fresh = _trained(lambda: brainopt.SGD(lr=0.1), steps=0)
    fresh.load_state_dict(opt.state_dict())
    assert fresh.lr == 0.025


# -- mismatches: one clear error each, nothing changed -----------------------------------------------
def _mutations():
    def drop_path(d):
        del d['slots']['exp_avg']['l2.weight.bias']

    def misspell(d):
        d['slots']['exp_avg']['l1.wieght.bias'] = d['slots']['exp_avg'].pop('l1.weight.bias')

    def reshape(d):
        d['slots']['exp_avg_sq']['l1.weight.weight'] = np.zeros((3, 3), np.float32)

    def retype(d):
        d['slots']['exp_avg']['l2.weight.weight'] = d['slots']['exp_avg']['l2.weight.weight'].astype(np.float16)

    def other_type(d):
        d['optimizer'] = 'Adagrad'

    def no_ema(d):
        del d['ema']

    def bad_step(d):
        d['step_count'] = np.zeros((2,), np.int32)

    return [(drop_path, "no entry for registered parameter path(s) ['l2.weight.bias']"),
            (misspell, "did you mean 'l1.weight.bias'"),
            (reshape, "has shape (3, 3), expected (4, 8)"),
            (retype, "has dtype float16, expected float32"),
            (other_type, "from a 'Adagrad' optimizer, not a 'Adam'"),
            (no_ema, "has no 'ema', but this optimizer was built with use_ema=True"),
            (bad_step, "['step_count'] has shape (2,), expected ()")]


@pytest.mark.parametrize('mutate,message', _mutations(), ids=lambda m: getattr(m, '__name__', ''))
def test_mismatch_raises_and_changes_nothing(mutate, message):
    _, source = _trained()
    d = source.state_dict()
    mutate(d)
    _, target = _trained(steps=1)
    before = bits(target.state_dict())
    with pytest.raises(brainopt.CheckpointError) as e:
        target.load_state_dict(d)
    assert message in str(e.value) and 'nothing was loaded' in str(e.value)
    assert bits(target.state_dict()) == before


def test_file_mismatch_leaves_model_and_optimizer_unchanged(tmp_path):
    model, opt = _trained()
    path = tmp_path / 'c.npz'
    brainopt.save_checkpoint(path, model=model, optimizer=opt)
    other, other_opt = _trained(lambda: brainopt.Adam(lr=0.1, use_ema=True), steps=1)
    other.l3 = brainstate.nn.Linear(2, 2)               # a state the file does not hold
    before = everything(other, other_opt)
    with pytest.raises(brainopt.CheckpointError, match=r"the model has state\(s\) \['l3.weight'\]"):
        brainopt.load_checkpoint(path, model=other, optimizer=other_opt)
    assert everything(other, other_opt) == before
    # the model fits, the optimizer does not: the model is not written either
    model2, sgd = _trained(lambda: brainopt.SGD(lr=0.1), steps=1)
    before = everything(model2, sgd)
    with pytest.raises(brainopt.CheckpointError, match="from a 'Adam' optimizer, not a 'SGD'"):
        brainopt.load_checkpoint(path, model=model2, optimizer=sgd)
    assert everything(model2, sgd) == before


def _rewrite_meta(path, edit):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(bytes(arrays['__brainopt__']).decode())
    edit(meta)
    arrays['__brainopt__'] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **arrays)


def test_newer_format_version_and_foreign_files_are_refused(tmp_path):
    model, opt = _trained()
    path = str(tmp_path / 'c.npz')
    brainopt.save_checkpoint(path, model=model, optimizer=opt)
    _rewrite_meta(path, lambda m: m.update(version=checkpoint.FORMAT_VERSION + 1))
    with pytest.raises(brainopt.CheckpointError, match=f'format version {checkpoint.FORMAT_VERSION + 1}, newer'):
        brainopt.load_checkpoint(path, optimizer=opt)
    np.savez(tmp_path / 'plain.npz', x=np.ones(3))
    with pytest.raises(brainopt.CheckpointError, match='without brainopt\'s header'):
        brainopt.load_checkpoint(tmp_path / 'plain.npz', optimizer=opt)


def test_loading_never_unpickles(tmp_path):
    """An object array (which only pickle can hold) is refused, not executed."""
    model, opt = _trained()
    path = str(tmp_path / 'c.npz')
    brainopt.save_checkpoint(path, optimizer=opt)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays['a0'] = np.array([object()], dtype=object)
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match='allow_pickle'):
        brainopt.load_checkpoint(path, optimizer=opt)


# -- the file: dtypes, units, atomicity ---------------------------------------------------------------
def test_dtypes_and_units_survive_the_file(tmp_path):
    states = {'v_th': brainstate.ParamState(jnp.asarray([-50.0, -52.0], jnp.float32) * u.mV),
              'tau': brainstate.ParamState(jnp.asarray(10.0, jnp.float32) * u.ms),
              'g': brainstate.ParamState(jnp.ones(3, jnp.bfloat16) * (u.nS / u.ms ** 2)),
              'w': brainstate.ParamState(jnp.linspace(0, 1, 4).astype(jnp.float16))}
    opt = brainopt.Adam(lr=0.01, use_ema=True).register_trainable_weights(states)
    opt.update({k: jax.tree.map(lambda v: jnp.ones_like(u.get_mantissa(v)), s.value, is_leaf=u.math.is_quantity)
                for k, s in states.items()})
    path = tmp_path / 'units.npz'
    brainopt.save_checkpoint(path, model=states, optimizer=opt)
    fresh = {k: brainstate.ParamState(jax.tree.map(lambda v: v * 0, s.value, is_leaf=u.math.is_quantity))
             for k, s in states.items()}
    fresh_opt = brainopt.Adam(lr=0.01, use_ema=True).register_trainable_weights(fresh)
    brainopt.load_checkpoint(path, model=fresh, optimizer=fresh_opt)
    for k in states:
        a, b = states[k].value, fresh[k].value
        assert u.get_unit(a) == u.get_unit(b), k
        assert jnp.result_type(u.get_mantissa(a)) == jnp.result_type(u.get_mantissa(b)), k
        np.testing.assert_array_equal(np.asarray(u.get_mantissa(a), np.float32),
                                      np.asarray(u.get_mantissa(b), np.float32))
    assert fresh['g'].value.unit == u.nS / u.ms ** 2 and fresh['g'].value.dtype == jnp.bfloat16
    assert bits(fresh_opt.state_dict()) == bits(opt.state_dict())


def test_unit_mismatch_is_refused(tmp_path):
    states = {'v_th': brainstate.ParamState(jnp.asarray([-50.0]) * u.mV)}
    brainopt.save_checkpoint(tmp_path / 'c.npz', model=states)
    in_volts = {'v_th': brainstate.ParamState(jnp.asarray([-0.05]) * u.volt)}
    with pytest.raises(brainopt.CheckpointError, match="'v_th' is in V in the model but mV in the checkpoint"):
        brainopt.load_checkpoint(tmp_path / 'c.npz', model=in_volts)
    assert in_volts['v_th'].value.unit == u.volt


def test_save_states_and_load_states_brainpy_names(tmp_path):
    _, opt = _trained(lambda: brainopt.Adagrad(lr=0.1))
    opt.save_states(str(tmp_path / 'opt.npz'))
    _, fresh = _trained(lambda: brainopt.Adagrad(lr=0.1), steps=0)
    fresh.load_states(str(tmp_path / 'opt.npz'))
    assert bits(fresh.state_dict()) == bits(opt.state_dict())


_KILLED_MID_SAVE = r'''
import os, sys
sys.path.insert(0, {here!r})
import brainopt, resume_job
model, opt = resume_job.build('Adam', 'callable')
resume_job.run(model, opt, range(4))
def die_half_way(fd):
    os.ftruncate(fd, os.fstat(fd).st_size // 2)     # only half of the new file reached the disk
    sys.stdout.buffer.write(b'writing\n'); sys.stdout.flush()
    os._exit(9)                                     # and the process dies before the rename
os.fsync = die_half_way
brainopt.save_checkpoint({path!r}, model=model, optimizer=opt)
'''


def test_a_process_killed_mid_save_leaves_the_previous_checkpoint(tmp_path):
    path = str(tmp_path / 'run.npz')
    model, opt = resume_job.build('Adam', 'callable')
    resume_job.run(model, opt, range(2))
    brainopt.save_checkpoint(path, model=model, optimizer=opt)
    saved = everything(model, opt)
    proc = subprocess.run([sys.executable, '-c', _KILLED_MID_SAVE.format(here=HERE, path=path)],
                          capture_output=True, env={**os.environ, 'JAX_PLATFORMS': 'cpu'})
    assert proc.returncode == 9 and b'writing' in proc.stdout, proc.stderr[-2000:]
    assert zipfile.is_zipfile(path)
    fresh_model, fresh_opt = resume_job.build('Adam', 'callable', seed=5)
    brainopt.load_checkpoint(path, model=fresh_model, optimizer=fresh_opt)
    assert everything(fresh_model, fresh_opt) == saved


def test_an_error_mid_save_removes_the_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / 'run.npz'
    _, opt = _trained()
    brainopt.save_checkpoint(path, optimizer=opt)
    before = path.read_bytes()

    def fail(*a, **k):
        raise OSError('disk full')

    monkeypatch.setattr(checkpoint.os, 'replace', fail)
    with pytest.raises(OSError, match='disk full'):
        brainopt.save_checkpoint(path, optimizer=opt)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ['run.npz']


def test_checkpoint_gets_a_normal_files_permissions(tmp_path):
    _, opt = _trained(steps=1)
    brainopt.save_checkpoint(tmp_path / 'c.npz', optimizer=opt)
    (tmp_path / 'plain').write_bytes(b'')
    assert os.stat(tmp_path / 'c.npz').st_mode == os.stat(tmp_path / 'plain').st_mode
