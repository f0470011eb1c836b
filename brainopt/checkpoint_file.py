"""The checkpoint file on disk: its content's encoding, atomic writes, leftover temporary files, numbered
checkpoints in a directory.

No error messages for the user here: :mod:`brainopt.checkpoint` reads and checks the file and turns the
``OSError`` raised here into :class:`brainopt.CheckpointError`.

The content is a JSON skeleton of the nested dict (:func:`encode`) whose arrays are stored beside it as
``a<i>``; :func:`decode` rebuilds the dict.

A save writes ``.{name}.{host}-{pid}.{random}.tmp`` in the target's directory, flushes it to disk and renames it
over the target with one atomic ``os.replace``: a process killed in the middle leaves the previous file intact.
What it cannot clean up, its temporary file, the next save to the same path removes (every ``.{name}.*.tmp`` of
that path, older brainopt's ``.{name}.{random}.tmp`` included), except one that its name says belongs to a
process still running on this host, which may be saving right now.

Numbered checkpoints (``save_checkpoint(directory, step=...)``) are ``checkpoint_{step:08d}.npz``; only names of
exactly that form count as checkpoints, so temporary files and other files in the directory are never taken for
one.
"""
import os
import re
import socket
import struct
import tempfile
import warnings
from collections.abc import Mapping
from typing import Callable, Dict, Optional

import brainunit as u
import jax.numpy as jnp
import numpy as np

from . import units

__all__ = ['encode', 'decode', 'write_atomic', 'remove_leftovers', 'step_name', 'step_of', 'numbered', 'rotate',
           'entries_in_end_record']

#: this host, as temporary file names hold it (only letters, digits, ``_`` and ``-``: no dot, so the name parses)
HOST = re.sub(r'[^A-Za-z0-9_-]', '_', socket.gethostname())[:40] or 'host'
# the middle of a temporary file's name: "{host}-{pid}.{random}", or an older brainopt's "{random}"
_OWNER = re.compile(r'(?:(?P<host>[A-Za-z0-9_-]+)-(?P<pid>[0-9]{1,10})\.)?[A-Za-z0-9_]+')
_STEP = re.compile(r'checkpoint_([0-9]{8,})\.npz')
_STEP_TMP = re.compile(r'\.(checkpoint_[0-9]{8,}\.npz)\.')
_PID_MAX = 1 << 22                  # Linux's largest pid_max
_IN_FLIGHT: set = set()                  # this process's temporary files being written now (other threads' saves)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (one of another user counts: it may not be signalled)."""
    if os.name == 'nt':             # os.kill there terminates the process: count it as running
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:                 # PermissionError: it exists, owned by someone else
        return True
    return True


def _is_leftover(name: str, base: str) -> bool:
    """Whether ``name`` is a temporary file of a save of ``base`` that no running save owns."""
    prefix = f'.{base}.'
    if not (name.startswith(prefix) and name.endswith('.tmp')):
        return False
    owner = _OWNER.fullmatch(name[len(prefix):-len('.tmp')])
    if owner is None:
        return False                # another file's name that merely starts like ours
    if owner['pid'] is None or owner['host'] != HOST:
        return True                 # an older brainopt's name, or another host's: nothing to ask
    pid = int(owner['pid'])
    if pid == os.getpid() or not 0 < pid < _PID_MAX:
        return True
    return not _alive(pid)


def remove_leftovers(directory, base: Optional[str] = None) -> list:
    """Delete what interrupted saves left in ``directory``: the temporary files of ``base`` (a file name), or
    of every ``checkpoint_<step>.npz`` when ``base`` is None. Best effort: returns the names removed."""
    directory = os.fspath(directory)
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    removed = []
    for name in names:
        of = base
        if of is None:
            m = _STEP_TMP.match(name)
            of = m[1] if m else None
        full = os.path.join(directory, name)
        if of is None or full in _IN_FLIGHT or not _is_leftover(name, of):
            continue
        try:
            os.unlink(full)
            removed.append(name)
        except OSError:             # gone already (another save cleaned it), or not ours to delete
            pass
    return removed


def write_atomic(path, write: Callable) -> None:
    """Write ``path`` through ``write(file)`` atomically.

    The data goes to a temporary file in the same directory, is flushed to disk and renamed over ``path``. On
    any error the temporary file is removed and the error raised (an ``OSError`` for the disk's own: full, too
    large, permission denied); ``path`` is then unchanged.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    os.makedirs(directory, exist_ok=True)
    remove_leftovers(directory, base)
    fd, tmp = tempfile.mkstemp(prefix=f'.{base}.{HOST}-{os.getpid()}.', suffix='.tmp', dir=directory)
    _IN_FLIGHT.add(tmp)
    try:
        with os.fdopen(fd, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)        # mkstemp makes it private; a checkpoint gets a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    finally:
        _IN_FLIGHT.discard(tmp)
    try:                                     # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


# -- the content: a JSON skeleton and its arrays --------------------------------------------------
def unit_to_json(unit):
    return {'dim': [float(x) for x in unit.dim._dims], 'scale': unit.scale, 'base': unit.base,
            'factor': unit.factor, 'name': unit.name, 'dispname': unit.dispname}


def unit_from_json(d):
    return u.Unit(dim=u.get_or_create_dimension([float(x) for x in d['dim']]), scale=d['scale'], base=d['base'],
                  factor=d['factor'], name=d['name'], dispname=d['dispname'])


def encode(tree, arrays, path=''):
    """JSON skeleton of a nested dict; arrays go to ``arrays`` (``a<i>``), strings stay inline. ``path`` names the
    entry in errors (``['extra']['ids']``). Raises before anything is written."""
    if isinstance(tree, Mapping):
        for k in tree:
            if not isinstance(k, str):
                raise TypeError(f'save_checkpoint: keys must be strings, got {k!r} in {path or "the content"}')
        return {'dict': {k: encode(v, arrays, f'{path}[{k!r}]') for k, v in tree.items()}}
    if isinstance(tree, str):
        return {'str': tree}
    unit = None
    if units.is_quantity(tree):
        tree, unit = tree.mantissa, tree.unit
    if isinstance(tree, (bool, int, float)):
        tree = np.asarray(tree)
    if not hasattr(tree, 'dtype'):
        raise TypeError(f'save_checkpoint: {path} is a {type(tree).__name__}, which a checkpoint cannot hold; '
                        f'expected arrays, numbers, Quantities, strings and dicts of them; nothing was written')
    if np.dtype(tree.dtype).hasobject:
        raise TypeError(f'save_checkpoint: {path} is an array of Python objects (dtype object), which only pickle '
                        f'could store and a checkpoint never holds; convert it to a numeric or string array '
                        f'(np.asarray(..., dtype=...)); nothing was written')
    a = np.asarray(tree)
    dtype = str(a.dtype)
    if a.dtype.kind == 'V' or a.dtype.name not in np.sctypeDict:     # bfloat16, float8: store the bits
        a = a.view(np.dtype(f'u{a.dtype.itemsize}'))
    key = f'a{len(arrays)}'
    arrays[key] = a
    node = {'array': key, 'dtype': dtype}
    if unit is not None:
        node['unit'] = unit_to_json(unit)
    return node


def decode(node, read):
    """The nested dict a JSON skeleton describes; ``read(key)`` gives the array ``key``."""
    if not isinstance(node, dict):
        raise TypeError(f'an entry of the structure is a {type(node).__name__}, not a JSON object')
    if 'dict' in node:
        if not isinstance(node['dict'], dict):
            raise TypeError(f"a 'dict' entry of the structure is a {type(node['dict']).__name__}")
        return {k: decode(v, read) for k, v in node['dict'].items()}
    if 'str' in node:
        return node['str']
    a = read(node['array'])
    if str(a.dtype) != node['dtype']:
        a = a.view(jnp.dtype(node['dtype']))
    return u.Quantity(a, unit=unit_from_json(node['unit'])) if 'unit' in node else a


# -- numbered checkpoints ------------------------------------------------------------------------
def step_name(step: int) -> str:
    """The file name of the checkpoint of ``step``: ``checkpoint_00000042.npz``."""
    return f'checkpoint_{step:08d}.npz'


def step_of(name: str) -> Optional[int]:
    """The step of a numbered checkpoint's file name, or None for any other name."""
    m = _STEP.fullmatch(name)
    if m is None or name != step_name(int(m[1])):
        return None
    return int(m[1])


def numbered(directory) -> Dict[int, str]:
    """``{step: path}`` of the numbered checkpoints (regular files) in ``directory``; ``{}`` if it is missing."""
    directory = os.fspath(directory)
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return {}
    out = {}
    for name in names:
        step = step_of(name)
        if step is not None and os.path.isfile(os.path.join(directory, name)):
            out[step] = os.path.join(directory, name)
    return out


def rotate(directory, keep: int, written: int) -> list:
    """Delete all numbered checkpoints of ``directory`` but the newest ``keep``, by step; the one of step
    ``written`` (just saved) is always kept. Returns the paths deleted."""
    paths = numbered(directory)
    others = sorted((s for s in paths if s != written), reverse=True)
    deleted = []
    for step in others[keep - 1:]:
        try:
            os.unlink(paths[step])
            deleted.append(paths[step])
        except FileNotFoundError:
            pass
        except OSError as e:
            warnings.warn(f'save_checkpoint: could not delete the old checkpoint {paths[step]!r} '
                          f'({e.strerror or e})', RuntimeWarning, stacklevel=3)
    return deleted


def entries_in_end_record(f):
    """The total entry count in the zip's end-of-central-directory record (PKWARE APPNOTE 4.3.16: signature
    PK\\x05\\x06, the count at offset 10), or None where there is none or it is zip64's placeholder 0xFFFF."""
    size = f.seek(0, os.SEEK_END)
    f.seek(max(0, size - (22 + 0xFFFF)))        # the record is 22 bytes plus a comment of at most 64 KiB
    tail = f.read()
    i = tail.rfind(b'PK\x05\x06')
    if i < 0 or len(tail) - i < 22:
        return None
    total = struct.unpack('<H', tail[i + 10:i + 12])[0]
    return None if total == 0xFFFF else total
