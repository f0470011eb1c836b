"""Checkpoint faults in the user's words: a damaged, truncated, empty or unreadable file, a save killed or refused
by the disk, and numbered checkpoints with rotation.

Every read fault raises ``brainopt.CheckpointError`` naming the file and what is wrong, and loads nothing (the
model's parameters and the optimizer's States are bit-for-bit what they were). Every write fault raises
``CheckpointError`` naming the file and the system's reason, keeps the previous checkpoint, and leaves no
temporary file; a save killed mid-write leaves one, which the next save removes.
"""
import errno
import io
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zipfile

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainopt
from brainopt import checkpoint, checkpoint_file

import resume_job
from ulps import bits

HERE = os.path.dirname(__file__)
ENV = {**os.environ, 'JAX_PLATFORMS': 'cpu'}


def everything(model, opt):
    """The model's parameters and every State of the optimizer, bit for bit."""
    params = model.states(brainstate.ParamState) if isinstance(model, brainstate.graph.Node) else model
    return {'params': bits({k: s.value for k, s in params.items()}),
            'optimizer': bits({k: s.value for k, s in brainstate.graph.states(opt).items()})}


def trained(seed=0, steps=2):
    """The two-layer MLP of the resume test and an Adam with EMA, after ``steps`` updates."""
    model = resume_job.MLP(seed)
    opt = brainopt.Adam(lr=0.1, use_ema=True).register_trainable_weights(model.states(brainstate.ParamState))
    for call in range(steps):
        x, y = resume_job.batch(call)
        params = model.states(brainstate.ParamState)
        opt.update(brainstate.transform.grad(lambda: jnp.mean((model(x) - y) ** 2), grad_states=params)())
    return model, opt


def listing(directory):
    return sorted(os.listdir(directory))


@pytest.fixture(scope='module')
def saved(tmp_path_factory):
    """A checkpoint of a trained model, and a fresh model and optimizer (other values) to load it into."""
    d = tmp_path_factory.mktemp('saved')
    model, opt = trained()
    path = d / 'ck.npz'
    brainopt.save_checkpoint(path, model=model, optimizer=opt, extra={'epoch': 4})
    return path.read_bytes(), everything(model, opt)


@pytest.fixture
def target():
    return trained(seed=9, steps=1)


def refused(path, target, *words):
    """Load ``path`` into ``target``: it must raise CheckpointError with ``words`` and the path in the message,
    and change nothing. Returns the message."""
    model, opt = target
    before = everything(model, opt)
    with pytest.raises(brainopt.CheckpointError) as e:
        brainopt.load_checkpoint(path, model=model, optimizer=opt)
    message = str(e.value)
    assert repr(os.fspath(path)) in message and 'nothing was loaded' in message, message
    for w in words:
        assert w in message, message
    assert everything(model, opt) == before, 'a refused checkpoint changed the model or the optimizer'
    return message


# -- reading ---------------------------------------------------------------------------------------
@pytest.mark.parametrize('keep', [1, 10, 100, 'half', -22, -1], ids=lambda k: f'keep{k}')
def test_a_truncated_checkpoint_names_the_file_and_loads_nothing(saved, target, tmp_path, keep):
    data, _ = saved
    n = len(data) // 2 if keep == 'half' else keep % len(data)
    path = tmp_path / 'ck.npz'
    path.write_bytes(data[:n])
    message = refused(path, target, 'is truncated or damaged')
    assert 'not a complete zip archive' in message or 'a zip entry is damaged' in message, message
    assert listing(tmp_path) == ['ck.npz'] and path.read_bytes() == data[:n]


def test_an_empty_file(target, tmp_path):
    path = tmp_path / 'ck.npz'
    path.write_bytes(b'')
    refused(path, target, 'is empty (0 bytes)')
    assert listing(tmp_path) == ['ck.npz']


def test_a_directory_a_missing_file_and_a_file_that_is_no_zip(target, tmp_path):
    (tmp_path / 'run').mkdir()
    message = refused(tmp_path / 'run', target, 'is a directory, not a checkpoint file')
    assert 'latest_checkpoint' in message
    refused(tmp_path / 'gone.npz', target, 'does not exist')
    (tmp_path / 'notes.npz').write_text('these are not arrays\n')
    refused(tmp_path / 'notes.npz', target, 'is not a brainopt checkpoint', 'not a .npz (zip) archive')
    assert listing(tmp_path) == ['notes.npz', 'run']


def test_permission_denied_and_an_io_error_while_reading(saved, target, tmp_path, monkeypatch):
    data, _ = saved
    path = tmp_path / 'ck.npz'
    path.write_bytes(data)

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, 'Permission denied', os.fspath(path))

    monkeypatch.setattr(checkpoint, 'open', denied, raising=False)      # shadows the builtin in that module
    refused(path, target, 'cannot be read: permission denied')

    class Failing(io.FileIO):
        def read(self, *a):
            raise OSError(errno.EIO, 'Input/output error')

        readall = readinto = read

    monkeypatch.setattr(checkpoint, 'open', lambda p, mode: Failing(p, 'r'), raising=False)
    refused(path, target, 'could not be read (Input/output error)')
    monkeypatch.undo()
    assert path.read_bytes() == data


@pytest.mark.skipif(not hasattr(os, 'geteuid') or os.geteuid() == 0,
                    reason='root reads a file whatever its mode (the monkeypatched test above covers this)')
def test_an_unreadable_file_by_its_mode(saved, target, tmp_path):
    path = tmp_path / 'ck.npz'
    path.write_bytes(saved[0])
    os.chmod(path, 0)
    try:
        refused(path, target, 'cannot be read: permission denied')
    finally:
        os.chmod(path, 0o644)


def _regions(data):
    """``{offset: region}`` for every byte of a zip written by numpy: each entry's local header, its data (the
    .npy of an array, or brainopt's JSON header), then the central directory and the end records."""
    regions = ['directory and end records'] * len(data)
    for info in zipfile.ZipFile(io.BytesIO(data)).infolist():
        name_len, extra_len = struct.unpack('<HH', data[info.header_offset + 26:info.header_offset + 30])
        start = info.header_offset + 30 + name_len + extra_len
        regions[info.header_offset:start] = ['local header'] * (start - info.header_offset)
        kind = 'JSON header' if info.filename == '__brainopt__.npy' else 'array data'
        regions[start:start + info.compress_size] = [kind] * info.compress_size
    return regions


def test_one_flipped_bit_anywhere_raises_or_loads_exactly_the_undamaged_checkpoint(tmp_path):
    """Flip one bit of every byte of a small checkpoint, one at a time. Zip protects each entry by a CRC-32 and
    the loader reads every entry to its end and checks them all before it assigns anything, so each damaged
    file either raises CheckpointError (nothing loaded) or is damaged only where zip ignores the byte (a
    timestamp, a local copy of a size) and loads exactly what the undamaged file holds."""
    w = brainstate.ParamState(jnp.asarray([0.5, -1.25, 3.0], jnp.float32))
    opt = brainopt.Adam(lr=0.1).register_trainable_weights({'w': w})
    opt.update({'w': jnp.asarray([1.0, 2.0, -3.0])})
    good = tmp_path / 'good.npz'
    brainopt.save_checkpoint(good, model={'w': w}, optimizer=opt, extra={'epoch': 7})
    data = good.read_bytes()
    regions = _regions(data)

    v = brainstate.ParamState(jnp.zeros(3, jnp.float32))
    model, target = {'w': v}, brainopt.Adam(lr=0.1).register_trainable_weights({'w': v})
    states = [v] + list(brainstate.graph.states(target).values())      # every State a load can write

    def now():
        return [(str(np.asarray(x).dtype), np.shape(x), np.asarray(x).tobytes())
                for x in jax.tree.leaves([s.value for s in states])]

    initial, initial_bits = [s.value for s in states], now()
    brainopt.load_checkpoint(good, model=model, optimizer=target)
    reference = now()
    assert everything(model, target) == everything({'w': w}, opt) and reference != initial_bits

    bad = tmp_path / 'bad.npz'
    bad.write_bytes(data)
    fd = os.open(bad, os.O_WRONLY)         # flip a byte in place: rewriting the file costs ms, this costs us
    outcomes = {}
    start = time.perf_counter()
    try:
        for offset in range(len(data)):
            os.pwrite(fd, bytes([data[offset] ^ 1 << (offset % 8)]), offset)
            for s, x in zip(states, initial):          # (a plain assignment: no compiled program, no copy)
                s.value = x
            try:
                extra = brainopt.load_checkpoint(bad, model=model, optimizer=target)
            except brainopt.CheckpointError as e:
                assert repr(str(bad)) in str(e) and 'nothing was loaded' in str(e), (offset, str(e))
                assert now() == initial_bits, f'offset {offset}: a refused load changed a State'
                outcome = 'raised'
            else:
                assert now() == reference, f'offset {offset}: a damaged file loaded other values'
                assert int(extra['epoch']) == 7
                outcome = 'loaded identically'
            os.pwrite(fd, data[offset:offset + 1], offset)
            key = (regions[offset], outcome)
            outcomes[key] = outcomes.get(key, 0) + 1
    finally:
        os.close(fd)
    assert bad.read_bytes() == data
    elapsed = time.perf_counter() - start
    print(f'{len(data)} bytes flipped in {elapsed:.1f} s:', outcomes)
    # every byte of every array (its .npy header included) and of the JSON header is guarded by the CRC
    assert outcomes[('array data', 'raised')] > 0 and ('array data', 'loaded identically') not in outcomes
    assert outcomes[('JSON header', 'raised')] > 0 and ('JSON header', 'loaded identically') not in outcomes
    # zip itself ignores some bytes (times, the local headers' copies of CRC and sizes): those load as before
    assert outcomes.get(('local header', 'loaded identically'), 0) > 0
    assert outcomes[('directory and end records', 'raised')] > 0
    assert sum(outcomes.values()) == len(data)


# -- a save killed, a save refused ------------------------------------------------------------------
N_LARGE = 2_500_000           # float32: 10 MB for the parameter, 30 MB for the file with Adam's two moments

_KILLED = r'''
import os, sys, time
sys.path.insert(0, {here!r})
import brainstate, brainopt, jax.numpy as jnp
import numpy.lib.format as npy_format
w = brainstate.ParamState(jnp.full({n}, 2.0, jnp.float32))          # other values than the checkpoint on disk
opt = brainopt.Adam(lr=0.1).register_trainable_weights({{'w': w}})
opt.update({{'w': jnp.ones({n}, jnp.float32)}})

def hang():
    sys.stdout.write('writing\n'); sys.stdout.flush()
    time.sleep(600)                                 # until the parent kills it

if {when!r} == 'mid-write':                         # the first array (10 MB) is in the file, the rest is not
    write_array = npy_format.write_array
    def write_then_hang(*a, **k):
        write_array(*a, **k)
        hang()
    npy_format.write_array = write_then_hang
else:                                               # all is written, not yet flushed and renamed
    os.fsync = lambda fd: hang()
brainopt.save_checkpoint({path!r}, model={{'w': w}}, optimizer=opt)
'''


def _large(value):
    w = brainstate.ParamState(jnp.full(N_LARGE, value, jnp.float32))
    opt = brainopt.Adam(lr=0.1).register_trainable_weights({'w': w})
    opt.update({'w': jnp.full(N_LARGE, 0.5, jnp.float32)})
    return {'w': w}, opt


@pytest.mark.parametrize('when', ['mid-write', 'before-rename'])
def test_a_save_killed_mid_write_keeps_the_previous_checkpoint_and_the_next_save_removes_its_leftover(tmp_path,
                                                                                                       when):
    path = tmp_path / 'ck.npz'
    model, opt = _large(1.0)
    assert brainopt.save_checkpoint(path, model=model, optimizer=opt) == os.fspath(path)
    previous, size = everything(model, opt), path.stat().st_size
    child = subprocess.Popen([sys.executable, '-c', _KILLED.format(here=HERE, n=N_LARGE, when=when, path=str(path))],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    try:
        line = child.stdout.readline()              # the child is now inside save_checkpoint, the .tmp open
        assert line == b'writing\n', child.stderr.read()[-3000:]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(60)
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    names = listing(tmp_path)
    assert len(names) == 2 and names[1] == 'ck.npz' and names[0].endswith('.tmp'), names
    leftover = tmp_path / names[0]
    host_pid = f'.ck.npz.{checkpoint_file.HOST}-{child.pid}.'
    assert names[0].startswith(host_pid), names      # the name says whose it was
    if when == 'mid-write':
        assert 4 * N_LARGE < leftover.stat().st_size < size      # one array of three
    else:
        assert leftover.stat().st_size == size       # full size: the pre-empted run filling the disk
    # the previous checkpoint is intact and loads bit for bit
    fresh_model, fresh_opt = _large(0.0)
    brainopt.load_checkpoint(path, model=fresh_model, optimizer=fresh_opt)
    assert everything(fresh_model, fresh_opt) == previous
    # the next save succeeds and removes what the killed one left
    fresh_opt.update({'w': jnp.full(N_LARGE, 0.25, jnp.float32)})
    brainopt.save_checkpoint(path, model=fresh_model, optimizer=fresh_opt)
    assert listing(tmp_path) == ['ck.npz']
    check_model, check_opt = _large(0.0)
    brainopt.load_checkpoint(path, model=check_model, optimizer=check_opt)
    assert everything(check_model, check_opt) == everything(fresh_model, fresh_opt) != previous


_SIZE_LIMIT = r'''
import json, os, resource, signal, sys
sys.path.insert(0, {here!r})
import brainstate, brainopt, jax.numpy as jnp
w = brainstate.ParamState(jnp.full(1_000_000, 2.0, jnp.float32))
opt = brainopt.Adam(lr=0.1).register_trainable_weights({{'w': w}})
opt.update({{'w': jnp.ones(1_000_000, jnp.float32)}})
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)       # a write past the limit fails with EFBIG instead of a signal
resource.setrlimit(resource.RLIMIT_FSIZE, (2 ** 20, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    brainopt.save_checkpoint({path!r}, model={{'w': w}}, optimizer=opt)
except brainopt.CheckpointError as e:
    print(json.dumps({{'message': str(e), 'oserror': isinstance(e, OSError), 'errno': e.errno,
                      'cause': type(e.__cause__).__name__, 'cause_errno': e.__cause__.errno}}))
else:
    print(json.dumps({{'message': None}}))
'''


def test_a_save_past_the_file_size_limit_raises_and_keeps_the_previous_checkpoint(saved, tmp_path):
    data, _ = saved
    path = tmp_path / 'ck.npz'
    path.write_bytes(data)
    proc = subprocess.run([sys.executable, '-c', _SIZE_LIMIT.format(here=HERE, path=str(path))],
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result['message'] == (f"save_checkpoint: could not write {str(path)!r}: File too large; the previous "
                                 f"checkpoint is unchanged"), result
    assert result['oserror'] and result['errno'] == errno.EFBIG == result['cause_errno']
    assert result['cause'] == 'OSError'
    assert path.read_bytes() == data and listing(tmp_path) == ['ck.npz']


def test_a_save_denied_by_the_directory_raises_and_leaves_nothing(tmp_path, monkeypatch):
    model, opt = trained(steps=1)

    def denied(*a, dir=None, **k):
        raise PermissionError(errno.EACCES, 'Permission denied', dir)

    monkeypatch.setattr(tempfile, 'mkstemp', denied)
    with pytest.raises(brainopt.CheckpointError) as e:
        brainopt.save_checkpoint(tmp_path / 'ck.npz', model=model, optimizer=opt)
    assert str(e.value) == (f"save_checkpoint: could not write {str(tmp_path / 'ck.npz')!r}: Permission denied; "
                            f"no file was written")
    assert isinstance(e.value, OSError) and e.value.errno == errno.EACCES
    assert isinstance(e.value.__cause__, PermissionError)
    assert listing(tmp_path) == []


@pytest.mark.skipif(not hasattr(os, 'geteuid') or os.geteuid() == 0,
                    reason='root writes into a directory whatever its mode (the monkeypatched test above covers it)')
def test_a_save_into_a_read_only_directory(saved, tmp_path):
    data, _ = saved
    path = tmp_path / 'ck.npz'
    path.write_bytes(data)
    model, opt = trained(steps=1)
    os.chmod(tmp_path, 0o555)
    try:
        with pytest.raises(brainopt.CheckpointError, match='Permission denied; the previous checkpoint is unchanged'):
            brainopt.save_checkpoint(path, model=model, optimizer=opt)
    finally:
        os.chmod(tmp_path, 0o755)
    assert path.read_bytes() == data and listing(tmp_path) == ['ck.npz']


def test_leftovers_removed_and_kept(tmp_path):
    """The next save removes its path's temporary files, except one of a live process on this host (it may be
    saving now); another checkpoint's temporary files are not its own."""
    sleeper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    host = checkpoint_file.HOST
    try:
        names = {'.ck.npz.abc_123.tmp': 'removed',                      # an older brainopt's name
                 f'.ck.npz.{host}-{dead.pid}.k2j4h1x0.tmp': 'removed',   # its process has ended
                 f'.ck.npz.{host}-{os.getpid()}.zzzz1234.tmp': 'removed',  # this process's, not being written
                 f'.ck.npz.other-node-7-{sleeper.pid}.q1w2e3r4.tmp': 'removed',  # another host's: nothing to ask
                 f'.ck.npz.{host}-{sleeper.pid}.a1b2c3d4.tmp': 'kept',   # a live process of this host
                 f'.ck.npz.old.{host}-{dead.pid}.x1y2z3w4.tmp': 'kept',  # a save of ck.npz.old, not of ck.npz
                 '.ck.npz.tmp': 'kept',
                 'ck.npz.tmp': 'kept'}
        for name in names:
            (tmp_path / name).write_bytes(b'x' * 100)
        brainopt.save_checkpoint(tmp_path / 'ck.npz', extra={'epoch': 1})
        assert listing(tmp_path) == sorted(['ck.npz'] + [n for n, what in names.items() if what == 'kept'])
    finally:
        sleeper.kill()
        sleeper.wait()


# -- numbered checkpoints ----------------------------------------------------------------------------
def test_rotation_keeps_the_newest_and_latest_checkpoint_finds_it(tmp_path):
    model, opt = trained(steps=1)
    d = tmp_path / 'run'
    assert brainopt.latest_checkpoint(d) is None                     # not made yet
    written = []
    for step in (0, 100, 200, 300, 400):
        written.append(brainopt.save_checkpoint(d, step=step, keep=2, model=model, optimizer=opt,
                                                extra={'step': step}))
        assert brainopt.latest_checkpoint(d) == written[-1]
    assert written[-1] == os.path.join(os.fspath(d), 'checkpoint_00000400.npz')
    assert listing(d) == ['checkpoint_00000300.npz', 'checkpoint_00000400.npz']
    # what is not a numbered checkpoint is never taken for one, nor deleted
    others = [f'.checkpoint_00000900.npz.{checkpoint_file.HOST}-{os.getpid()}.a1b2c3d4.tmp',
              'checkpoint_00000800.npz.bak', 'checkpoint_999.npz', 'checkpoint_000000700.npz', 'notes.txt']
    for name in others:
        (d / name).write_bytes(b'x')
    (d / 'checkpoint_00000600.npz').mkdir()
    assert brainopt.latest_checkpoint(d) == written[-1]
    fresh, fresh_opt = trained(seed=3, steps=0)
    assert int(brainopt.load_checkpoint(brainopt.latest_checkpoint(d), model=fresh,
                                        optimizer=fresh_opt)['step']) == 400
    # the next numbered save removes that leftover (this process's, not in flight) and rotates
    brainopt.save_checkpoint(d, step=500, keep=2, model=model, optimizer=opt)
    assert listing(d) == sorted(['checkpoint_00000400.npz', 'checkpoint_00000500.npz',
                                 'checkpoint_00000600.npz'] + others[1:])
    # the file just written is kept even when older than the others; keep=None keeps all
    brainopt.save_checkpoint(d, step=50, keep=2, model=model, optimizer=opt)
    assert [n for n in listing(d) if checkpoint_file.step_of(n) is not None and (d / n).is_file()] == \
        ['checkpoint_00000050.npz', 'checkpoint_00000500.npz']
    brainopt.save_checkpoint(d, step=np.int64(10 ** 9), model=model, optimizer=opt)
    assert brainopt.latest_checkpoint(d).endswith('checkpoint_1000000000.npz')
    assert len(checkpoint_file.numbered(d)) == 3
    assert brainopt.save_checkpoint(d, step=jnp.asarray(7), model=model) == os.path.join(os.fspath(d),
                                                                                         'checkpoint_00000007.npz')


def test_latest_checkpoint_of_a_file_or_an_empty_directory(tmp_path):
    assert brainopt.latest_checkpoint(tmp_path) is None
    (tmp_path / 'x.npz').write_bytes(b'')
    with pytest.raises(NotADirectoryError, match="latest_checkpoint: .*x.npz' is a file, not a directory"):
        brainopt.latest_checkpoint(tmp_path / 'x.npz')
    with pytest.raises(brainopt.CheckpointError, match="x.npz' is a file; with step= the path is the directory"):
        brainopt.save_checkpoint(tmp_path / 'x.npz', step=1, extra={'a': 1})


@pytest.mark.parametrize('kwargs,error,message', [
    ({'step': -1}, ValueError, 'step must be a non-negative int, got -1'),
    ({'step': 1.5}, TypeError, 'step must be an int, got 1.5'),
    ({'step': True}, TypeError, 'step must be an int, got True'),
    ({'step': '3'}, TypeError, "step must be an int, got '3'"),
    ({'step': 1, 'keep': 0}, ValueError, 'keep must be an int >= 1'),
    ({'step': 1, 'keep': -2}, ValueError, 'keep must be an int >= 1 (how many checkpoints to keep) or None (keep '
                                          'all), got -2'),
    ({'step': 1, 'keep': True}, TypeError, 'keep must be an int, got True'),
    ({'step': 1, 'keep': 2.0}, TypeError, 'keep must be an int, got 2.0'),
    ({'keep': 2}, ValueError, 'keep= needs step='),
], ids=lambda x: repr(x) if isinstance(x, dict) else '')
def test_bad_step_and_keep_are_refused_before_anything_is_written(tmp_path, kwargs, error, message):
    with pytest.raises(error) as e:
        brainopt.save_checkpoint(tmp_path / 'run', extra={'epoch': 1}, **kwargs)
    assert str(e.value).startswith('save_checkpoint: ') and message in str(e.value), str(e.value)
    assert listing(tmp_path) == []


# -- what a checkpoint cannot hold ---------------------------------------------------------------------
@pytest.mark.parametrize('value,words', [
    (np.array([{'a': 1}, None], dtype=object), ['array of Python objects', 'dtype object']),
    (np.array(['a', 1, 2.5], dtype=object), ['array of Python objects']),
    ([1, 2, 3], ['is a list', 'cannot hold']),
    (object(), ['is a object', 'cannot hold']),
])
def test_extra_that_only_pickle_could_store_is_refused_before_writing(tmp_path, value, words):
    """save_checkpoint refuses an ``extra`` value that the no-pickle format cannot hold, naming its key, and writes
    nothing (before: an object array was pickled into the file, and load_checkpoint refused its own file)."""
    model, opt = trained(steps=1)
    path = tmp_path / 'ck.npz'
    brainopt.save_checkpoint(path, model=model, optimizer=opt, extra={'epoch': 1})
    before = path.read_bytes()
    with pytest.raises(TypeError) as e:
        brainopt.save_checkpoint(path, model=model, optimizer=opt, extra={'epoch': 2, 'ids': value})
    message = str(e.value)
    assert "['extra']['ids']" in message and 'nothing was written' in message, message
    for w in words:
        assert w in message, message
    assert path.read_bytes() == before and listing(tmp_path) == ['ck.npz']
    # a string array and numbers are stored without pickle, and load back
    brainopt.save_checkpoint(path, model=model, optimizer=opt, extra={'names': np.array(['a', 'bc']), 'epoch': 2})
    extra = brainopt.load_checkpoint(path, model=model, optimizer=opt)
    assert list(extra['names']) == ['a', 'bc'] and int(extra['epoch']) == 2
