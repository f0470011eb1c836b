"""Saving and loading training state: the state dict, the file format, its checks.

The optimizer's state dict is a plain nested dict of host numpy arrays (one
string leaf names the optimizer's type), keyed by slot and parameter path, so
it loads into a freshly built optimizer regardless of object ids or the order
in which States were created, and any pytree checkpointer (orbax) can hold it.

The file format is a ``.npz`` archive (numpy's zip of ``.npy`` arrays) read
with ``allow_pickle=False``, so loading never runs code. One JSON entry,
``__brainopt__``, holds the format version, the nested structure, each
array's dtype (bfloat16 and other ml_dtypes are stored bit-for-bit as
unsigned integers) and each Quantity's unit. Writing goes to a temporary file
in the same directory, is flushed to disk, and replaces the target with one
atomic ``os.replace``: a crash in the middle leaves the previous file intact,
and the next save removes the temporary file it left (see
:mod:`brainopt.checkpoint_file`, which also numbers and rotates checkpoints).

Loading reads the whole file first: every zip entry's CRC-32, every array and
the header are checked and decoded, and a truncated, damaged or unreadable
file raises :class:`CheckpointError` naming it. Then it checks everything
(structure, paths, shapes, dtypes, units, the optimizer's type, the format
version) before it writes anything, so after an error nothing is half-loaded.
"""
import contextlib
import difflib
import errno
import json
import operator
import os
import struct
import zipfile
import zlib
from collections.abc import Mapping
from typing import Any, Dict, Optional

import brainstate
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from . import _arguments, units
from . import _registry as registry
from . import checkpoint_file as files

__all__ = ['save_checkpoint', 'load_checkpoint', 'latest_checkpoint', 'CheckpointError', 'FORMAT_VERSION']

#: the version this brainopt writes; it reads this one and every older one
FORMAT_VERSION = 1
_META = '__brainopt__'
_FORMAT = 'brainopt-checkpoint'


class CheckpointError(ValueError):
    """A state dict or checkpoint file does not fit what it is loaded into, or a checkpoint file is missing,
    truncated, damaged, or cannot be read or written. A failed write is also an ``OSError`` (with the
    ``errno`` of the failure)."""


class _WriteError(CheckpointError, OSError):
    """save_checkpoint could not write the file: a CheckpointError, and an OSError as before."""


# -- the optimizer's state dict ----------------------------------------------------------------
def _host(x):
    """A host copy (the eager update donates the optimizer's buffers, so never an alias)."""
    return np.array(x, copy=True)


def optimizer_state_dict(opt) -> Dict[str, Any]:
    """Everything ``opt`` needs to continue, as a nested dict of numpy arrays."""
    opt._settle()
    d = {'optimizer': type(opt).__name__,
         'step_count': _host(opt.step_count.value),
         'slots': {s: {k: _host(v) for k, v in st.value.items()} for s, st in opt.slots.items()}}
    if opt.use_ema:
        d['ema'] = {k: _host(v) for k, v in opt.ema.value.items()}
    if opt._accumulating:
        d['grad_accum'] = {k: _host(v) for k, v in opt.grad_accum.value.items()}
        d['accum_count'] = _host(opt.accum_count.value)
    if opt.skip_nonfinite:
        d['skipped_steps'] = _host(opt.skipped_steps.value)
    schedules, lrs = _group_schedules(opt), {}
    if schedules:
        d['schedule'] = {i: jax.tree.map(_host, s.state_values()) for i, s in schedules.items()}
    for i, g in enumerate(opt._groups):
        if g.source.scheduler is None and g.source.unit is None and not callable(g.lr):
            lrs[str(i)] = np.asarray(g.lr, np.float64)    # a constant lr can be changed during training
    if lrs:
        d['lr'] = lrs
    # each group's weight decay, which may be changed during training too (a file without it keeps the
    # optimizer's own on load)
    d['weight_decay'] = {str(i): np.asarray(g.weight_decay, np.float64) for i, g in enumerate(opt._groups)}
    # the shared options that are numbers, those set (an option left out is off), and the rule's numbers as the
    # optimizer has them now: both may be assigned during training (a file without them keeps the optimizer's own)
    from .optimizer import LIVE_OPTIONS
    d['options'] = {k: np.asarray(getattr(opt, k), np.float64) for k in LIVE_OPTIONS
                    if getattr(opt, k) is not None and (k != 'ema_momentum' or opt.use_ema)}
    d['arguments'] = {k: np.asarray(v, np.int64 if _integers(v) else np.float64)
                      for k, v in _arguments.numbers_of(opt).items()}
    return d


def _integers(value):
    return all(isinstance(v, int) for v in (value if isinstance(value, (tuple, list)) else (value,)))


def _group_schedules(opt):
    """``{group index: schedule}`` for the groups whose schedule keeps state."""
    out = {}
    for i, g in enumerate(opt._groups):
        sched = g.source.scheduler
        if sched is not None and sched.state_values():
            out[str(i)] = sched
    return out


def _fail(opt, msg):
    raise CheckpointError(f'{type(opt).__name__}.load_state_dict: {msg}; nothing was loaded')


def _check_arrays(opt, where, saved, current):
    """``saved`` must have exactly the keys, shapes and dtypes of ``current`` (a dict of arrays)."""
    if not isinstance(saved, Mapping):
        _fail(opt, f'{where} must be a dict keyed by parameter path, got {type(saved).__name__}')
    unknown = sorted(set(saved) - set(current))
    missing = sorted(set(current) - set(saved))
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(current), n=1)
        hint = f' (did you mean {close[0]!r}?)' if close else ''
        _fail(opt, f'{where} holds unknown parameter path(s) {unknown}{hint}; this optimizer trains '
                   f'{sorted(current)}')
    if missing:
        _fail(opt, f'{where} has no entry for registered parameter path(s) {missing}')
    for k, cur in current.items():
        _check_one(opt, f'{where}[{k!r}]', saved[k], cur)


def _check_one(opt, where, value, cur):
    if units.is_quantity(value) or not hasattr(value, 'shape') or not hasattr(value, 'dtype'):
        if not isinstance(value, (int, float, np.number)):
            _fail(opt, f'{where} must be an array, got {type(value).__name__}')
        value = np.asarray(value)
    if tuple(value.shape) != tuple(np.shape(cur)):
        _fail(opt, f'{where} has shape {tuple(value.shape)}, expected {tuple(np.shape(cur))}')
    if np.dtype(value.dtype) != np.dtype(jnp.result_type(cur)):
        _fail(opt, f'{where} has dtype {np.dtype(value.dtype)}, expected {np.dtype(jnp.result_type(cur))}')


def _check_count(opt, where, value, below=None, why=None):
    """A counter entry (already checked for shape and dtype) must hold an integer ``>= 0`` (``< below``)."""
    a = np.asarray(value)
    shown = a.item() if a.ndim == 0 else a.tolist()
    if a.dtype.kind not in 'iu' or np.any(a < 0):
        _fail(opt, f'{where} must be a non-negative integer count, got {shown}')
    if below is not None and np.any(a >= below):
        _fail(opt, f'{where} must be < {why} ({below}), got {shown}')


def _group_numbers(opt, d, key, what):
    """``d[key]`` (``{group index: number}``, absent: ``{}``) as ``{int index: float}``, each index a group of
    ``opt`` and each value a finite number ``>= 0``."""
    saved = d.get(key, {})
    if not isinstance(saved, Mapping):
        _fail(opt, f"[{key!r}] must be a dict of group index -> {what}, got {type(saved).__name__}")
    out = {}
    for i, value in saved.items():
        if not (str(i).isdigit() and int(i) < len(opt._groups)):
            _fail(opt, f"[{key!r}] names parameter group {i!r}; this optimizer has {len(opt._groups)} group(s)")
        if np.ndim(value) != 0:
            _fail(opt, f"[{key!r}][{i!r}] must be a number, got shape {np.shape(value)}")
        number = float(np.asarray(value))
        if not np.isfinite(number) or number < 0:
            _fail(opt, f"[{key!r}][{i!r}] must be a finite non-negative number, got {number}")
        out[int(i)] = number
    return out


def load_optimizer_state_dict(opt, d):
    """Check ``d`` against ``opt`` completely, then write it; on any error nothing changes."""
    if not isinstance(d, Mapping):
        _fail(opt, f'expected a dict from state_dict(), got {type(d).__name__}')
    kind = d.get('optimizer')
    if kind != type(opt).__name__:
        _fail(opt, f'the state dict is from a {kind!r} optimizer, not a {type(opt).__name__!r}')
    if not opt._weights.entries:
        _fail(opt, 'no weights are registered; call register_trainable_weights(...) before loading')
    features = {'ema': opt.use_ema, 'grad_accum': opt._accumulating, 'accum_count': opt._accumulating,
                'skipped_steps': opt.skip_nonfinite}
    options = {'ema': 'use_ema=True', 'grad_accum': 'gradient_accumulation_steps > 1',
               'accum_count': 'gradient_accumulation_steps > 1', 'skipped_steps': 'skip_nonfinite=True'}
    for key, on in features.items():
        if (key in d) != on:
            has = 'holds' if key in d else 'has no'
            _fail(opt, f'the state dict {has} {key!r}, but this optimizer was built '
                       f'{"with" if on else "without"} {options[key]}')
    known = {'optimizer', 'step_count', 'slots', 'schedule', 'lr', 'weight_decay', 'options',
             'arguments'} | set(features)
    extra = sorted(set(d) - known)
    if extra:
        _fail(opt, f'unknown entries {extra}; expected the keys of state_dict(): {sorted(known)}')
    _check_one(opt, "['step_count']", d.get('step_count'), opt.step_count.value)
    _check_count(opt, "['step_count']", d['step_count'])
    slots = d.get('slots')
    if not isinstance(slots, Mapping) or set(slots) != set(opt.slots):
        got = sorted(slots) if isinstance(slots, Mapping) else slots
        _fail(opt, f"['slots'] holds {got}, expected this rule's slots {sorted(opt.slots)}")
    for s, st in opt.slots.items():
        _check_arrays(opt, f"['slots'][{s!r}]", slots[s], st.value)
    if opt.use_ema:
        _check_arrays(opt, "['ema']", d['ema'], opt.ema.value)
    if opt._accumulating:
        _check_arrays(opt, "['grad_accum']", d['grad_accum'], opt.grad_accum.value)
        _check_one(opt, "['accum_count']", d['accum_count'], opt.accum_count.value)
        _check_count(opt, "['accum_count']", d['accum_count'], below=opt.gradient_accumulation_steps,
                     why='gradient_accumulation_steps')
    if opt.skip_nonfinite:
        _check_one(opt, "['skipped_steps']", d['skipped_steps'], opt.skipped_steps.value)
        _check_count(opt, "['skipped_steps']", d['skipped_steps'])
    schedules = _group_schedules(opt)
    saved = d.get('schedule', {})
    if not isinstance(saved, Mapping) or set(saved) != set(schedules):
        got = sorted(saved) if isinstance(saved, Mapping) else saved
        _fail(opt, f"the state dict holds schedule state for parameter group(s) {got}, but this optimizer's "
                   f"stateful schedules are in group(s) {sorted(schedules)} (lr {[g.lr for g in opt._groups]})")
    for i, sched in schedules.items():
        values = sched.state_values()
        flat_saved, flat_cur = jax.tree_util.tree_flatten_with_path(saved[i])[0], \
            jax.tree_util.tree_flatten_with_path(values)[0]
        if jax.tree.structure(saved[i]) != jax.tree.structure(values):
            _fail(opt, f"['schedule'][{i!r}] has entries {[jax.tree_util.keystr(p) for p, _ in flat_saved]}, "
                       f"expected {[jax.tree_util.keystr(p) for p, _ in flat_cur]} (the state of {sched!r})")
        for (p, a), (_, b) in zip(flat_saved, flat_cur):
            _check_one(opt, f"['schedule'][{i!r}]{jax.tree_util.keystr(p)}", a, b)
        check = getattr(sched, 'check_state_values', None)     # the schedule's own rules (last_epoch >= 0, ...)
        if check is not None:
            try:
                check(dict(saved[i]))
            except (TypeError, ValueError, KeyError) as e:
                _fail(opt, f"['schedule'][{i!r}]: {e.args[0] if e.args else e}".replace('; nothing was loaded', ''))
    lrs = _group_numbers(opt, d, 'lr', 'constant learning rate')
    for i, lr in lrs.items():
        group = opt._groups[i]
        if group.source.scheduler is not None or group.source.unit is not None or callable(group.lr):
            _fail(opt, f"the state dict holds a constant lr ({lr}) for group {i}, but this optimizer's lr there is "
                       f"{group.lr!r}")
    decays = _group_numbers(opt, d, 'weight_decay', 'weight decay')
    options = _saved_options(opt, d)
    arguments = _saved_arguments(opt, d)

    # -- everything fits: write ---------------------------------------------------------------
    copy = lambda x: jnp.array(x, copy=True)  # noqa: E731
    opt.step_count.value = copy(d['step_count'])
    for s, st in opt.slots.items():
        st.value = {k: _placed(slots[s][k], v) for k, v in st.value.items()}
    if opt.use_ema:
        opt.ema.value = {k: _placed(d['ema'][k], v) for k, v in opt.ema.value.items()}
    if opt._accumulating:
        opt.grad_accum.value = {k: _placed(d['grad_accum'][k], v) for k, v in opt.grad_accum.value.items()}
        opt.accum_count.value = copy(d['accum_count'])
    if opt.skip_nonfinite:
        opt.skipped_steps.value = copy(d['skipped_steps'])
    for i, sched in schedules.items():
        sched.load_state_values(jax.tree.map(copy, saved[i]))
    for i, lr in lrs.items():
        if lr != opt._groups[i].lr:
            opt.set_lr(lr, i)
    for i, wd in decays.items():
        if wd != opt._groups[i].weight_decay:
            opt.param_groups[i]['weight_decay'] = wd
    for name, value in options.items():
        if value != getattr(opt, name):
            opt._set_option(name, value)
    arguments()


def _saved_options(opt, d):
    """``d['options']`` checked as assignments are: ``{option: value or None}`` for every shared option that is a
    number (absent from ``d``: ``{}``, the optimizer keeps its own)."""
    from .optimizer import LIVE_OPTIONS
    if 'options' not in d:
        return {}
    saved = d['options']
    if not isinstance(saved, Mapping):
        _fail(opt, f"['options'] must be a dict of option name -> number, got {type(saved).__name__}")
    unknown = sorted(set(saved) - set(LIVE_OPTIONS))
    if unknown:
        _fail(opt, f"['options'] holds unknown option(s) {unknown}; expected some of {sorted(LIVE_OPTIONS)}")
    out = {}
    for name in LIVE_OPTIONS:
        if name == 'ema_momentum' and not opt.use_ema:
            continue
        value = saved.get(name)
        if value is not None:
            if np.ndim(value) != 0:
                _fail(opt, f"['options'][{name!r}] must be a number, got shape {np.shape(value)}")
            value = float(np.asarray(value))
        try:
            out[name] = opt._checked_option(name, value)
        except (TypeError, ValueError, AttributeError) as e:
            _fail(opt, f"['options'][{name!r}]: {e}")
    return out


def _saved_arguments(opt, d):
    """``d['arguments']`` (the rule's numbers, by constructor argument) checked as assignments are; returns what
    writes them."""
    saved = d.get('arguments', {})
    if not isinstance(saved, Mapping):
        _fail(opt, f"['arguments'] must be a dict of argument name -> number, got {type(saved).__name__}")
    current = _arguments.numbers_of(opt)
    unknown = sorted(set(saved) - set(current))
    if unknown:
        _fail(opt, f"['arguments'] holds {unknown}, which are not numeric arguments of {type(opt).__name__} "
                   f"(those are {sorted(current)})")
    changes = {}
    for name, value in saved.items():
        a = np.asarray(value)
        if a.ndim > 1 or a.dtype.kind not in 'iuf':
            _fail(opt, f"['arguments'][{name!r}] must be a number or a vector of numbers, got {a.dtype} of shape "
                       f"{a.shape}")
        value = a.item() if a.ndim == 0 else tuple(a.tolist())
        if value != (tuple(current[name]) if isinstance(current[name], list) else current[name]):
            changes[name] = value
    if not changes:
        return lambda: None
    try:
        return _arguments.prepare(opt, changes)
    except (TypeError, ValueError, AttributeError) as e:
        _fail(opt, f"['arguments']: {e}")


def _placed(value, current):
    """A device copy of a loaded array, laid out as the array it replaces: a sharded parameter or accumulator
    goes straight back to its shards instead of passing through one device."""
    sharding = getattr(current, 'sharding', None)
    if isinstance(current, jax.Array) and sharding is not None and not isinstance(current, jax.core.Tracer):
        return jax.device_put(np.asarray(value), sharding)
    return jnp.array(value, copy=True)


# -- model states ------------------------------------------------------------------------------
def _model_states(model) -> Dict[str, brainstate.State]:
    """``{dotted path: State}`` of what a checkpoint saves of a model: its long-term States
    (parameters and other persistent values; not the hidden states a forward pass resets)."""
    if isinstance(model, brainstate.graph.Node):
        tree = brainstate.graph.states(model, brainstate.LongTermState)     # any Node, not only an nn.Module
    else:
        tree = model
    return {registry.path_str(p): s for p, s in registry.flatten_states(tree, where='save_checkpoint').items()}


def _leaves_of(value):
    flat, _ = jax.tree_util.tree_flatten_with_path(value, is_leaf=units.is_quantity)
    return {jax.tree_util.keystr(p): leaf for p, leaf in flat}


def model_state_dict(model) -> Dict[str, Dict[str, Any]]:
    """``{state path: {leaf key: array or Quantity}}``, host copies."""
    out = {}
    for path, st in _model_states(model).items():
        out[path] = {k: (u.Quantity(_host(leaf.mantissa), unit=leaf.unit) if units.is_quantity(leaf) else _host(leaf))
                     for k, leaf in _leaves_of(st.value).items()}
    return out


def _check_model(saved, model):
    states = _model_states(model)
    where = 'load_checkpoint'
    unknown, missing = sorted(set(saved) - set(states)), sorted(set(states) - set(saved))
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(states), n=1)
        hint = f' (did you mean {close[0]!r}?)' if close else ''
        raise CheckpointError(f'{where}: the checkpoint holds model state(s) {unknown} that the model does not '
                              f'have{hint}; nothing was loaded')
    if missing:
        raise CheckpointError(f'{where}: the model has state(s) {missing} that the checkpoint does not hold; '
                              f'nothing was loaded')
    plan = []
    for path, st in states.items():
        cur, got = _leaves_of(st.value), saved[path]
        if set(cur) != set(got):
            raise CheckpointError(f'{where}: model state {path!r} holds {sorted(got)} in the checkpoint, '
                                  f'{sorted(cur)} in the model; nothing was loaded')
        for k, leaf in cur.items():
            name = f'{path}{k}'
            m, unit = units.split(leaf)
            sm, sunit = units.split(got[k])
            if (unit is None) != (sunit is None) or (unit is not None and unit != sunit):
                raise CheckpointError(f'{where}: model state {name!r} is in {unit or "no unit"} in the model '
                                      f'but {sunit or "no unit"} in the checkpoint; nothing was loaded')
            if tuple(np.shape(sm)) != tuple(np.shape(m)):
                raise CheckpointError(f'{where}: model state {name!r} has shape {tuple(np.shape(sm))} in the '
                                      f'checkpoint, {tuple(np.shape(m))} in the model; nothing was loaded')
            if np.dtype(sm.dtype) != np.dtype(jnp.result_type(m)):
                raise CheckpointError(f'{where}: model state {name!r} has dtype {np.dtype(sm.dtype)} in the '
                                      f'checkpoint, {np.dtype(jnp.result_type(m))} in the model; nothing was loaded')
        plan.append((st, got))
    return plan


def _load_model(plan):
    for st, got in plan:
        flat, treedef = jax.tree_util.tree_flatten_with_path(st.value, is_leaf=units.is_quantity)
        leaves = []
        for p, current in flat:
            m, unit = units.split(got[jax.tree_util.keystr(p)])
            leaves.append(units.merge(_placed(m, units.split(current)[0]), unit))
        st.value = jax.tree.unflatten(treedef, leaves)


# -- the file ----------------------------------------------------------------------------------
def write_file(path, content: Dict[str, Any]):
    """Encode ``content`` and write it to ``path`` atomically (an OSError if the disk refuses)."""
    arrays: Dict[str, np.ndarray] = {}
    meta = {'format': _FORMAT, 'version': FORMAT_VERSION, 'tree': files.encode(content, arrays)}
    arrays[_META] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    # numpy's stub lets a ** entry stand for allow_pickle; the keys here are parameter paths and the meta key
    files.write_atomic(path, lambda f: np.savez(f, **arrays))  # type: ignore[arg-type]


# what zipfile, numpy, json and zlib raise on a truncated or damaged file (zipfile: a flipped flag bit asks for
# encryption or an unknown compression, NotImplementedError / RuntimeError)
_DAMAGE = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error, EOFError, ValueError, KeyError,
           IndexError, TypeError, NotImplementedError, RuntimeError, OverflowError, OSError)


@contextlib.contextmanager
def _reading(where, what):
    """Any error while a checkpoint is read and decoded: a CheckpointError naming the file (nothing is loaded
    until reading is done)."""
    try:
        yield
    except CheckpointError:
        raise
    except _DAMAGE as e:
        if isinstance(e, OSError) and e.errno not in (None, errno.EINVAL):     # the disk's error, not the data's
            raise CheckpointError(f'{where} could not be read ({e.strerror or e}); nothing was loaded') from e
        if 'allow_pickle' in str(e):
            raise CheckpointError(f'{where} holds a pickled object array, and loading never unpickles '
                                  f'(allow_pickle=False): {e}; nothing was loaded') from e
        raise CheckpointError(f'{where} is truncated or damaged ({what}): {type(e).__name__}: {e}; '
                              f'nothing was loaded') from e


def _open(path, where):
    try:
        return open(path, 'rb')
    except FileNotFoundError as e:
        raise CheckpointError(f'{where} does not exist; nothing was loaded') from e
    except IsADirectoryError as e:
        raise CheckpointError(f'{where} is a directory, not a checkpoint file (brainopt.latest_checkpoint('
                              f'directory) finds the newest checkpoint in a directory); nothing was loaded') from e
    except PermissionError as e:
        raise CheckpointError(f'{where} cannot be read: permission denied; nothing was loaded') from e
    except OSError as e:
        raise CheckpointError(f'{where} could not be read ({e.strerror or e}); nothing was loaded') from e


def _verify(archive, f):
    """Read every entry to its end: zipfile checks each one's local header against the directory, and its CRC.
    Every entry the end record counts must be there (zipfile stops early, silently, at a damaged length)."""
    infos = archive.infolist()
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise zipfile.BadZipFile('an entry name appears twice in the zip directory')
    total = files.entries_in_end_record(f)
    if total is not None and total != len(infos):
        raise zipfile.BadZipFile(f'the zip end record counts {total} entries, its directory lists {len(infos)}')
    for info in infos:
        with archive.open(info) as m:
            while m.read(1 << 20):
                pass
    return set(names)


def _array(archive, key):
    with archive.open(key + '.npy') as m:
        return np.lib.format.read_array(m, allow_pickle=False)


def read_file(path) -> Dict[str, Any]:
    """The content of a checkpoint file, every byte checked and every array decoded (nothing is loaded)."""
    path = os.fspath(path)
    where = f'load_checkpoint: {path!r}'
    with _open(path, where) as f, _reading(where, 'not a complete zip archive'):
        if os.fstat(f.fileno()).st_size == 0:
            raise CheckpointError(f'{where} is empty (0 bytes); nothing was loaded')
        try:
            archive = zipfile.ZipFile(f)
        except zipfile.BadZipFile as e:
            f.seek(0)
            head = f.read(4)
            if not (head.startswith(b'PK') or b'PK\x03\x04'.startswith(head)):
                raise CheckpointError(f'{where} is not a brainopt checkpoint: not a .npz (zip) archive, it begins '
                                      f'with {head!r}; nothing was loaded') from e
            raise
        with archive:
            with _reading(where, 'a zip entry is damaged'):
                names = _verify(archive, f)
            if _META + '.npy' not in names:
                raise CheckpointError(f'load_checkpoint: {path!r} is a .npz file without brainopt\'s header; '
                                      f'it was not written by brainopt.save_checkpoint; nothing was loaded')
            with _reading(where, "brainopt's header is damaged"):
                meta = json.loads(bytes(_array(archive, _META)).decode())
                if not isinstance(meta, dict):
                    raise TypeError(f'the header is a JSON {type(meta).__name__}, not an object')
            if meta.get('format') != _FORMAT:
                raise CheckpointError(f'load_checkpoint: {path!r} has format {meta.get("format")!r}, not '
                                      f'{_FORMAT!r}; nothing was loaded')
            version = meta.get('version')
            if not isinstance(version, int) or version > FORMAT_VERSION:
                raise CheckpointError(f'load_checkpoint: {path!r} was written in format version {version}, newer '
                                      f'than the version {FORMAT_VERSION} this brainopt reads; upgrade brainopt; '
                                      f'nothing was loaded')
            with _reading(where, 'an array or the structure is damaged'):
                return files.decode(meta['tree'], lambda key: _array(archive, key))


def _count(name, value, minimum, what):
    """An int argument (any integer scalar, not a bool) of at least ``minimum``."""
    try:
        if isinstance(value, (bool, np.bool_)):
            raise TypeError
        value = operator.index(value)
    except TypeError:
        raise TypeError(f'save_checkpoint: {name} must be an int, got {value!r} ({type(value).__name__})') from None
    if value < minimum:
        raise ValueError(f'save_checkpoint: {name} must be {what}, got {value}')
    return value


def save_checkpoint(path, *, model=None, optimizer=None, extra: Optional[Dict[str, Any]] = None,
                    step: Optional[int] = None, keep: Optional[int] = None) -> str:
    """Save training state to one file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (conventionally ``*.npz``). An existing file is
        replaced only once the new one is completely on disk. With ``step``,
        the directory that holds the numbered checkpoints (created if needed).
    model : brainstate.graph.Node or dict of States, optional
        A model (its long-term States: parameters and other persistent
        values) or any dict / pytree of States, saved under their paths.
    optimizer : brainopt.Optimizer, optional
        Saved as :meth:`brainopt.Optimizer.state_dict`.
    extra : dict, optional
        More arrays, numbers or strings to keep (the epoch, a data seed).
    step : int, optional
        Number the checkpoint: the file is ``path/checkpoint_{step:08d}.npz``
        (``checkpoint_00000042.npz``), which :func:`latest_checkpoint` finds.
    keep : int, optional
        With ``step``: after the new file is on disk, keep only the newest
        ``keep`` numbered checkpoints of the directory (by step; the one just
        written is always kept) and delete the older ones. None keeps all.

    Returns
    -------
    str
        The path of the file written.

    Raises
    ------
    CheckpointError
        If the file cannot be written (disk full, file too large, permission
        denied): the message names the path and the reason; the previous
        checkpoint is unchanged and no temporary file is left. The error is
        also an ``OSError`` and comes from the one the system raised.

    Notes
    -----
    A save killed in the middle leaves the previous checkpoint intact and a
    hidden ``.{name}.{host}-{pid}.{random}.tmp`` beside it; the next save to
    the same path (with ``step``: to the same directory) deletes it, unless it
    belongs to a process still running on this host.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp, tempfile, os
    >>> w = brainstate.ParamState(jnp.ones(3))
    >>> opt = brainopt.Adam(lr=0.1).register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.ones(3)})
    >>> path = os.path.join(tempfile.mkdtemp(), 'ckpt.npz')
    >>> brainopt.save_checkpoint(path, model={'w': w}, optimizer=opt, extra={'epoch': 1}) == path
    True
    >>> w2 = brainstate.ParamState(jnp.zeros(3))
    >>> opt2 = brainopt.Adam(lr=0.1).register_trainable_weights({'w': w2})
    >>> int(brainopt.load_checkpoint(path, model={'w': w2}, optimizer=opt2)['epoch'])
    1
    >>> bool((w2.value == w.value).all()), int(opt2.step_count.value)
    (True, 1)

    Numbered checkpoints, the newest two kept:

    >>> folder = tempfile.mkdtemp()
    >>> for step in (100, 200, 300):
    ...     written = brainopt.save_checkpoint(folder, step=step, keep=2, model={'w': w}, optimizer=opt)
    >>> sorted(os.listdir(folder))
    ['checkpoint_00000200.npz', 'checkpoint_00000300.npz']
    """
    if step is not None:
        step = _count('step', step, 0, 'a non-negative int')
    if keep is not None:
        if step is None:
            raise ValueError('save_checkpoint: keep= needs step=: rotation keeps the newest numbered checkpoints '
                             '(path is then their directory, each file checkpoint_<step>.npz)')
        keep = _count('keep', keep, 1, 'an int >= 1 (how many checkpoints to keep) or None (keep all)')
    if model is None and optimizer is None and not extra:
        raise ValueError('save_checkpoint: nothing to save; pass model=, optimizer= or extra=')
    target = os.fspath(path)
    if step is not None:
        if os.path.exists(target) and not os.path.isdir(target):
            raise CheckpointError(f'save_checkpoint: {target!r} is a file; with step= the path is the directory '
                                  f'that holds the numbered checkpoints')
        target = os.path.join(target, files.step_name(step))
    content = {}
    if model is not None:
        content['model'] = model_state_dict(model)
    if optimizer is not None:
        content['optimizer'] = optimizer.state_dict()
    if extra:
        content['extra'] = dict(extra)
    try:
        if step is not None:
            files.remove_leftovers(path)          # what interrupted saves of any step left in the directory
        write_file(target, content)
    except OSError as e:
        kept = 'the previous checkpoint is unchanged' if os.path.isfile(target) else 'no file was written'
        error = _WriteError(f'save_checkpoint: could not write {target!r}: {e.strerror or e}; {kept}')
        error.errno = e.errno
        raise error from e
    if keep is not None and step is not None:
        files.rotate(path, keep, step)
    return target


def load_checkpoint(path, *, model=None, optimizer=None) -> Dict[str, Any]:
    """Load what :func:`save_checkpoint` wrote into a model and an optimizer.

    The whole file is read and checked first: a missing, empty, truncated
    or damaged file (every zip entry's CRC-32 is verified), a directory, or
    one that cannot be read raises :class:`CheckpointError` naming the path
    and what is wrong. Then everything is checked against the model and the
    optimizer (paths, shapes, dtypes, units, the optimizer's type, the format
    version): an error names what differs. After any error nothing is loaded.

    Returns
    -------
    dict
        The ``extra`` entries that were saved (empty if none).
    """
    content = read_file(path)
    if model is not None and 'model' not in content:
        raise CheckpointError(f'load_checkpoint: {os.fspath(path)!r} holds no model state')
    if optimizer is not None and 'optimizer' not in content:
        raise CheckpointError(f'load_checkpoint: {os.fspath(path)!r} holds no optimizer state')
    plan = _check_model(content['model'], model) if model is not None else None
    if optimizer is not None:
        optimizer.load_state_dict(content['optimizer'])      # checks all, then writes
    if plan is not None:
        _load_model(plan)
    return content.get('extra', {})


def latest_checkpoint(directory) -> Optional[str]:
    """The numbered checkpoint of the highest step in a directory.

    Parameters
    ----------
    directory : str or os.PathLike
        Where :func:`save_checkpoint` wrote with ``step=``.

    Returns
    -------
    str or None
        The path of ``checkpoint_{step:08d}.npz`` with the highest step, or
        None if the directory holds none or does not exist. Only files named
        exactly so count: temporary files of a save in progress or killed,
        and any other file, are never returned.

    Raises
    ------
    NotADirectoryError
        If ``directory`` is a file.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp, tempfile, os
    >>> w = brainstate.ParamState(jnp.ones(3))
    >>> folder = tempfile.mkdtemp()
    >>> brainopt.latest_checkpoint(folder) is None
    True
    >>> for step in (5, 10):
    ...     _ = brainopt.save_checkpoint(folder, step=step, model={'w': w})
    >>> os.path.basename(brainopt.latest_checkpoint(folder))
    'checkpoint_00000010.npz'
    """
    directory = os.fspath(directory)
    if os.path.exists(directory) and not os.path.isdir(directory):
        error = NotADirectoryError(f'latest_checkpoint: {directory!r} is a file, not a directory of checkpoints')
        error.errno = errno.ENOTDIR
        raise error
    found = files.numbered(directory)
    return found[max(found)] if found else None
