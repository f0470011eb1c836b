"""brainopt/_fastpath.py, the one module that reaches past brainstate's public API: it must be on where it was
checked, leave every State exactly as the public setter does, and step aside wherever brainstate would do more.

A brainstate release that changes what ``state.value = v`` does fails here (the attribute comparison), not
silently in a user's run; one that moves an internal turns the path off with a reason, which fails the first test
on a version listed as checked.
"""
import re
import subprocess
import sys

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainopt
from brainopt import _fastpath

CHECKED = brainstate.__version__ in _fastpath.CHECKED_BRAINSTATE


@pytest.fixture
def public_only(monkeypatch):
    """brainopt as it runs on a brainstate version that was not checked: state.value everywhere."""
    monkeypatch.setattr(_fastpath, '_INTERNALS', None)


def test_the_fast_path_is_on_for_a_checked_brainstate():
    if not CHECKED:
        pytest.skip(f'brainstate {brainstate.__version__} is not in CHECKED_BRAINSTATE: brainopt uses state.value')
    assert _fastpath.REASON is None, f'the checked brainstate {brainstate.__version__} lost the fast path: ' \
                                     f'{_fastpath.REASON}'
    assert _fastpath.REFCOUNTS, 'CPython reference counts are unavailable: every parameter would be copied'


def test_an_unchecked_brainstate_version_takes_the_public_path():
    code = ('import brainstate; brainstate.__version__ = "99.0"; from brainopt import _fastpath as f; '
            'print(f.REASON); print(f.read_values is not None, f.value_writer() is f.public_write)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout
    assert 'brainstate 99.0 is not one of the checked versions' in out and out.endswith('True True\n')


def _snapshot(state):
    return dict(vars(state))


def _changes(before, after):
    """The attributes that the write rebound (by identity), with their new values."""
    return {k: after[k] for k in after if k not in before or after[k] is not before[k]}


@pytest.mark.skipif(not CHECKED, reason='the fast path is off on an unchecked brainstate')
@pytest.mark.parametrize('cls', [brainstate.ParamState, brainstate.State, brainstate.ShortTermState,
                                 brainstate.HiddenState, brainstate.LongTermState, brainopt.OptimState])
@pytest.mark.parametrize('batch', [False, True])
def test_a_fast_write_leaves_the_state_as_the_public_setter_does(cls, batch):
    a, b = cls(jnp.zeros(3)), cls(jnp.zeros(3))
    new = jnp.ones(3)
    before_a, before_b = _snapshot(a), _snapshot(b)
    assert _fastpath._INTERNALS[2][cls], f'{cls.__name__} does not take the fast path'
    if batch:
        assert _fastpath.write_values([a], [new]) is True
    else:
        write = _fastpath.value_writer()
        assert write is not _fastpath.public_write
        write(a, new)
    b.value = new
    got, want = _changes(before_a, _snapshot(a)), _changes(before_b, _snapshot(b))
    assert got.keys() == want.keys(), f'the setter of brainstate {brainstate.__version__} now changes ' \
                                      f'{sorted(want)}, the fast write {sorted(got)}'
    for k in want:
        assert got[k] is new if k == '_value' else got[k] == want[k], k
    assert _fastpath.read_values([a, b]) == [a.value, b.value] == [new, new]


class _Logged(brainstate.ParamState):
    """A State class that changes what writing does: never plain."""

    def _write_value(self, v):
        self.log = getattr(self, 'log', 0) + 1
        super()._write_value(v)


def test_a_state_class_that_overrides_the_setter_is_written_through_it():
    a = _Logged(jnp.zeros(3))
    assert not _fastpath._PlainClasses()[_Logged]
    assert _fastpath.write_values([a], [jnp.ones(3)]) is False
    assert a.log == 1
    opt = brainopt.SGD(lr=0.5).register_trainable_weights({'w': a})
    opt.update({'w': jnp.ones(3)})
    assert a.log == 2 and np.asarray(a.value).tolist() == [0.5, 0.5, 0.5]


def _hooked(kind):
    state = brainstate.ParamState(jnp.zeros(3))
    seen = []
    state.register_hook(kind, lambda ctx: seen.append(kind))
    return state, seen


@pytest.mark.parametrize('kind', ['read', 'write_before', 'write_after'])
def test_a_state_with_a_hook_is_read_and_written_through_brainstate(kind):
    state, seen = _hooked(kind)
    opt = brainopt.SGD(lr=0.5).register_trainable_weights({'w': state})
    seen.clear()                          # (registering reads the State)
    opt.update({'w': jnp.ones(3)})
    assert seen, f'the {kind} hook did not run during an eager update'
    np.testing.assert_array_equal(np.asarray(state.value), -0.5)


def test_a_global_hook_is_honoured():
    seen = []
    handle = brainstate.register_state_hook('write_after', lambda ctx: seen.append(1))
    try:
        state = brainstate.ParamState(jnp.zeros(3))
        brainopt.SGD(lr=0.5).register_trainable_weights({'w': state}).update({'w': jnp.ones(3)})
    finally:
        brainstate.unregister_state_hook(handle)
    assert seen


def test_inside_a_brainstate_trace_every_access_is_public():
    state = brainstate.ParamState(jnp.zeros(3))
    with brainstate.StateTraceStack() as trace:
        _fastpath.read_values([state])
        assert _fastpath.value_writer() is _fastpath.public_write
    assert any(s is state for s in trace.states), 'the read was not recorded by the running trace'


def _run(public, monkeypatch):
    if public:
        monkeypatch.setattr(_fastpath, '_INTERNALS', None)
    model = {'w': brainstate.ParamState(jnp.linspace(-1.0, 1.0, 6)), 'b': brainstate.ParamState(jnp.ones(2))}
    opt = brainopt.Adam(lr=0.1, use_ema=True, grad_clip_norm=1.0).register_trainable_weights(model)
    for t in range(4):
        opt.update({'w': jnp.full(6, 0.3 * t - 0.5), 'b': jnp.full(2, 1.0 + t)})
    states = {k: s.value for k, s in brainstate.graph.states(opt).items()}
    return jax.tree.map(np.asarray, ({k: s.value for k, s in model.items()}, states))


def test_the_public_path_gives_bit_identical_results(monkeypatch):
    fast = _run(False, monkeypatch)
    public = _run(True, monkeypatch)
    for a, b in zip(jax.tree.leaves(fast), jax.tree.leaves(public)):
        np.testing.assert_array_equal(np.atleast_1d(a).view(np.uint8), np.atleast_1d(b).view(np.uint8))


def test_without_reference_counts_every_parameter_is_copied_never_deleted(monkeypatch):
    from brainopt import _eager
    monkeypatch.setattr(_fastpath, 'REFCOUNTS', False)
    monkeypatch.setattr(_eager, 'refcount', _fastpath._uncounted)
    w = brainstate.ParamState(jnp.zeros(3))
    opt = brainopt.SGD(lr=0.5, momentum=0.9).register_trainable_weights({'w': w})
    opt.update({'w': jnp.ones(3)})
    held = w.value                                          # the last update wrote it and a variable holds it
    opt.update({'w': jnp.ones(3)})
    np.testing.assert_array_equal(np.asarray(held), -0.5)   # SGD step 1: 0 - 0.5 * 1, exact


def test_no_private_brainstate_name_outside_the_guarded_module():
    import pathlib
    pattern = re.compile(r'brainstate\._|from brainstate\.[a-z_.]*\._|_hooks_manager|assign_state_vals_v2|'
                         r'been_writen|getrefcount|vars\(state\)')
    root = pathlib.Path(brainopt.__file__).parent
    found = [f'{p.relative_to(root)}:{i}' for p in sorted(root.rglob('*.py')) if p.name != '_fastpath.py'
             for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not found, f'brainstate internals outside brainopt/_fastpath.py: {found}'



@pytest.mark.parametrize('where', ['eager', 'brainopt.jit'])
def test_an_array_a_hook_keeps_is_never_donated(where):
    """A write hook may keep the value it was given (a logger, a monitor): no reference count taken after the write
    can tell it from the State's own, so nothing written while a hook is registered is donated next time."""
    w = brainstate.ParamState(jnp.zeros(3))
    kept = []
    w.register_hook('write_after', lambda ctx: kept.append(ctx.value))
    opt = brainopt.SGD(lr=0.5).register_trainable_weights({'w': w})
    if where == 'eager':
        step = opt.update
    else:
        step = brainopt.jit(lambda g: opt.update(g))
    for _ in range(3):
        step({'w': jnp.ones(3)})
    # SGD without momentum: the value after call k is -0.5 k, exactly
    assert [float(np.asarray(v)[0]) for v in kept[-3:]] == [-0.5, -1.0, -1.5]
