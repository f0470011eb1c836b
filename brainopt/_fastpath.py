"""The one module of brainopt that reaches past a public API, why, and how it is guarded.

Everything else in brainopt reads and writes States through ``state.value`` and
discovers what a function touches with ``brainstate.transform.StatefulFunction``.
Two things of the eager ``Optimizer.update`` cannot be done at its target speed
(issue 29: within 1.5x of raw ``jax.jit`` optax with donated buffers) that way:

1. **Reading and writing States.** ``State.value`` costs about 1.9 us to read
   and 7.6 us to write (brainstate 0.5.4: trace records, tracer and tree checks,
   hook dispatch). Outside every brainstate trace, with no hook registered,
   those steps do nothing. ``python benchmarks/bench_fastpath.py``, 2026-12-07,
   2-core AMD EPYC, jax 0.10.2 (interleaved runs, median, ratio to donated
   optax): at 50 tensors of 64x64, Adam 0.89 ms (1.26x) through this module
   against 1.18 ms (1.67x) through ``state.value``; SGD with momentum 0.69 ms
   (1.50x) against 0.97 ms (2.12x); at 400 tensors Adam 1.20x against 1.32x.
   The public path is over the 1.5x target, so :func:`read_values` and
   :func:`value_writer` get and set the State's ``_value`` slot directly when,
   and only when, that is all ``state.value`` would do.
2. **Donating a parameter's buffer.** Never donating the parameters costs
   3.8x at one tensor of 10M floats (Adam 53.7 ms against 12.9 ms: a fresh
   40 MB output per call), 1.63x at 400 tensors. Donating an array that a user
   still holds would delete it under them, and whether anything besides the
   optimizer's own records holds an array is only known to CPython's reference
   count (:data:`refcount`); without it (another Python) every parameter is
   copied once per update: correct, slower.

Guards. The brainstate path is taken only on a brainstate version in
:data:`CHECKED_BRAINSTATE` (the versions tests/test_fastpath.py ran on) whose
classes still have the probed layout; on any other version brainopt uses
``state.value``, which is correct everywhere. tests/test_fastpath.py fails
loudly when a checked version no longer takes this path, or when a write here
leaves a State different from what ``state.value = v`` leaves (every attribute
compared), so a change in brainstate cannot make brainopt silently wrong or
silently slow.
"""
import operator
import sys

import brainstate
import jax.numpy as jnp

__all__ = []

# the brainstate versions whose State internals tests/test_fastpath.py checked against the public setter
CHECKED_BRAINSTATE = ('0.5.0', '0.5.1', '0.5.2', '0.5.3', '0.5.4')


# what State.value's getter and setter call on the State: a class that defines none of them itself reads and writes
# exactly as brainstate.State does
_PATH = ('value', '_read_value', '_write_value', '_check_value_tree', 'check_if_deleted', '_check_invalidated',
         '_check_tracer_write_outside_trace', '_execute_read_hooks', '_execute_write_before_hooks',
         '_execute_write_after_hooks', '__getattribute__', '__getattr__', '__setattr__')


class _PlainClasses(dict):
    """``plain[cls]``: whether ``cls`` (a State class) reads and writes its value exactly as ``brainstate.State``
    (a subclass such as ``brainopt.OptimState`` that adds methods but overrides nothing ``state.value`` calls);
    decided once per class."""

    def __missing__(self, cls):
        base = brainstate.State
        ok = issubclass(cls, base) and all(getattr(cls, n, None) is getattr(base, n, None) for n in _PATH)
        self[cls] = ok
        return ok


def _probe():
    """``(TRACE_CONTEXT, invalidated value type, plain State classes)``, or the reason why the path is off."""
    if brainstate.__version__ not in CHECKED_BRAINSTATE:
        return f'brainstate {brainstate.__version__} is not one of the checked versions {CHECKED_BRAINSTATE}'
    try:
        from brainstate._state import TRACE_CONTEXT, _InvalidatedTraceValue
        classes = _PlainClasses()
        probe = brainstate.ParamState(jnp.zeros(()))
        if not {'_value', '_been_writen', '_hooks_manager'} <= set(vars(probe)) or \
                not isinstance(TRACE_CONTEXT.state_stack, list):
            return 'a brainstate State no longer has the attributes _value, _been_writen and _hooks_manager'
        if probe._hooks_manager._has_hooks is not False:
            return 'brainstate\'s hook manager no longer has the flag _has_hooks'
        handle = probe.register_hook('read', lambda ctx: None)
        if probe._hooks_manager._has_hooks is not True:         # the flag must follow registration
            return 'brainstate\'s hook manager no longer sets _has_hooks when a hook is registered'
        probe.unregister_hook(handle)
        return TRACE_CONTEXT, _InvalidatedTraceValue, classes
    except (ImportError, AttributeError, TypeError) as err:
        return f'brainstate {brainstate.__version__} moved an internal: {err}'


_INTERNALS = _probe()
#: why the brainstate fast path is off (None when it is on)
REASON = _INTERNALS if isinstance(_INTERNALS, str) else None
if REASON is not None:
    _INTERNALS = None


def _no_trace_no_global_hooks(names):
    """The path's internals when no brainstate trace runs and no global hook of these kinds is registered."""
    internals = _INTERNALS
    if internals is None or internals[0].state_stack or (brainstate.has_state_hooks() and
                                                         any(map(brainstate.has_state_hooks, names))):
        return None
    return internals


def read_values(states):
    """``[state.value for state in states]``. A State of an ordinary class without a hook, read outside every
    brainstate trace while no global read hook is registered, is read from its ``_value`` slot: all that
    ``state.value`` would do there."""
    internals = _no_trace_no_global_hooks(('read',))
    if internals is None:
        return [state.value for state in states]
    _, invalidated, classes = internals
    out = []
    for state in states:
        d = vars(state)
        if classes[type(state)] and not d['_hooks_manager']._has_hooks:
            value = d['_value']
            if not isinstance(value, invalidated):
                out.append(value)
                continue
        out.append(state.value)       # brainstate raises its own error, or runs the hooks
    return out


def public_write(state, value):
    state.value = value


def value_writer():
    """A function ``write(state, value)`` equal to ``state.value = value``, for concrete values (never tracers:
    brainstate's setter refuses to store them outside a trace, and the caller must keep that check). Take a new one
    for every batch of writes: it holds only while no trace starts and no hook is registered."""
    internals = _no_trace_no_global_hooks(('write_before', 'write_after'))
    if internals is None:
        return public_write
    classes = internals[2]

    def write(state, value):
        _store(classes, state, value)
    return write


def _store(classes, state, value):
    """``state.value = value``, directly into the State's slot where that is all the setter would do; True when so
    (no hook saw the value)."""
    d = vars(state)
    if classes[type(state)] and not d['_hooks_manager']._has_hooks:
        d['_value'] = value
        d['_been_writen'] = True      # what the setter sets besides the value
        return True
    state.value = value
    return False


def write_values(states, values):
    """``state.value = value`` for each pair (concrete values, as :func:`value_writer`); returns True when every
    write stored the value and nothing else (no hook of the State's or a global one saw it), False when a hook may
    have been given a value (the caller must then assume that the hook kept it)."""
    internals = _no_trace_no_global_hooks(('write_before', 'write_after'))
    if internals is None:
        for state, value in zip(states, values):
            state.value = value
        return False
    classes = internals[2]
    return all([_store(classes, state, value) for state, value in zip(states, values)])   # (a list: every write)


READ_WRITE = ('read', 'write_before', 'write_after')
_VALUE, _MANAGER = operator.itemgetter('_value'), operator.itemgetter('_hooks_manager')
_HAS_HOOKS = operator.attrgetter('_has_hooks')


class StateAccess:
    """:func:`read_values` and :func:`write_values` for one fixed sequence of States, read and written many times
    (what ``brainopt.jit`` does on every call): the States' attribute dicts are looked up once, and a call checks
    every State's hook flag with one ``map`` instead of a Python loop per State."""

    __slots__ = ('states', 'dicts', 'plain')

    def __init__(self, states):
        self.states = tuple(states)
        self.dicts = [vars(s) for s in self.states]
        self.plain = None       # whether every State is of a class that reads and writes as brainstate.State

    def _fast(self, names):
        internals = _no_trace_no_global_hooks(names)
        if internals is None:
            return False
        if self.plain is None:
            classes = internals[2]
            self.plain = all(classes[type(s)] for s in self.states) and \
                all('_hooks_manager' in d and '_value' in d for d in self.dicts)
        return self.plain and not any(map(_HAS_HOOKS, map(_MANAGER, self.dicts)))

    def fast(self):
        """Whether both :meth:`read` and :meth:`write` may take the fast path now (no trace runs, no hook of any
        kind on these States or global): a caller that reads, computes without running user code, and writes
        checks once and passes the answer to both."""
        return self._fast(READ_WRITE)

    def read(self, fast=None):
        """``[state.value for state in states]``; ``fast``: what :meth:`fast` said just before (else checked)."""
        if self._fast(('read',)) if fast is None else fast:
            values = list(map(_VALUE, self.dicts))
            if _INTERNALS[1] not in set(map(type, values)):
                return values
        return read_values(self.states)

    def write(self, values, fast=None):
        """``state.value = value`` for each pair, as :func:`write_values` (and its return value); ``fast``: what
        :meth:`fast` said when these States were read, with no user code run since (else checked)."""
        if not (self._fast(('write_before', 'write_after')) if fast is None else fast):
            return write_values(self.states, values)
        for d, v in zip(self.dicts, values):
            d['_value'] = v
            d['_been_writen'] = True      # what the setter sets besides the value
        return True


def _refcount_works():
    if not hasattr(sys, 'getrefcount') or sys.implementation.name != 'cpython':
        return False
    x = jnp.zeros(())
    before = sys.getrefcount(x)
    held = [x]
    return sys.getrefcount(x) == before + 1 and held[0] is x


#: whether :func:`refcount` counts references (CPython); without it nothing is donated that might be held elsewhere
REFCOUNTS = _refcount_works()


def _uncounted(x):
    return None


#: ``refcount(x)``: how many references hold ``x`` (CPython's count, consistent between two calls from the same
#: place), or None where the interpreter does not count them: the caller must then assume that someone else holds it
refcount = sys.getrefcount if REFCOUNTS else _uncounted
