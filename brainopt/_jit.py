"""``brainopt.jit``: ``brainstate.transform.jit`` that updates the States a function writes in place.

``brainstate.transform.jit`` never donates: every State that the compiled
function writes (parameters, an optimizer's moments, a model's hidden states)
gets a freshly allocated output on every call. ``brainopt.jit`` compiles the
same program and donates the input buffers of the written States, so XLA
writes their new values in place, where that is safe:

* an array that something besides the State holds (a variable of the user's,
  another State, an argument of the call, the function's return value) is
  copied once instead of donated, so it stays valid; so is every array this
  function did not write on its previous call (a model's initial weights, a
  value assigned or loaded in between);
* a State that the function only reads is passed as it is and never donated.

Whether anything else holds an array is known from CPython's reference count
(``brainopt/_fastpath.py``); where the interpreter has none, every written
array is copied (correct, without the in-place update).
"""
import functools
import itertools
import operator
import warnings
import weakref
from typing import Any, Callable, Optional

import brainstate
import jax
import jax.numpy as jnp

from . import _fastpath
from ._eager import _ARRAY, WrittenValues, _ArrayImpl

__all__ = ['jit']

_UNSPECIFIED = object()
_aval = operator.attrgetter('aval')     # an array's shape, dtype, weak type and sharding (cached by the array)


def _index_tuple(nums, what):
    if nums is None:
        return ()
    nums = tuple(nums) if isinstance(nums, (tuple, list, range)) else (nums,)
    for i in nums:
        if not isinstance(i, int) or isinstance(i, bool) or i < 0:
            raise ValueError(f'brainopt.jit: {what} must be non-negative ints (positions of positional '
                             f'arguments), got {i!r}')
    return nums


def _copy_leaves(value):
    return jax.tree.map(lambda x: jnp.array(x, copy=True) if isinstance(x, jax.Array) else x, value)


def _token(value):
    """What identifies ``value`` without holding it (a reference would change its reference count): a weak reference
    to an array, the keys and weak references of a dict of arrays; None for anything else."""
    if type(value) is _ArrayImpl:
        return weakref.ref(value)
    if type(value) is dict and set(map(type, value.values())) <= _ARRAY:
        return tuple(value), list(map(weakref.ref, value.values()))
    return None


def _is(value, token):
    """Whether ``value`` is the value :func:`_token` was taken of (the same arrays in the same places)."""
    if type(token) is weakref.ref:
        return token() is value
    return (type(value) is dict and tuple(value) == token[0]
            and all(map(operator.is_, value.values(), map(operator.call, token[1]))))


class _Trace:
    """What one call's key maps to: the States of the function, which of them it writes, and the structure,
    shapes and dtypes of their values when it was traced."""

    __slots__ = ('states', 'mask', 'unmask', 'signature', 'written', 'keys', 'stable', 'reader', 'writer')

    def __init__(self, states, mask):
        self.states, self.mask, self.unmask = states, mask, tuple(not w for w in mask)
        self.written = tuple(itertools.compress(states, mask))
        self.keys = tuple(map(id, self.written))       # the written States' keys in WrittenValues
        self.reader, self.writer = _fastpath.StateAccess(states), _fastpath.StateAccess(self.written)
        self.signature = None   # of [written values, read values], when every leaf is a jax.Array
        self.stable = None      # whether the values the program writes have the signature it was traced for

    def split(self, values):
        """``(written, read)``: the values of the States this function writes, and of those it only reads."""
        return list(itertools.compress(values, self.mask)), list(itertools.compress(values, self.unmask))


class JittedFunction:
    """What :func:`brainopt.jit` returns: call it as the function itself.

    Attributes
    ----------
    origin_fun : callable
        The function that was compiled.
    stateful_fun : brainstate.transform.StatefulFunction
        Its State discovery (which States it reads and writes).
    """

    def __init__(self, fun, static_argnums, static_argnames, donate_argnums, donate_argnames, options,
                 shardings):
        self.origin_fun = fun
        self._static_argnums, self._static_argnames = static_argnums, static_argnames
        self._no_static = not static_argnums and not static_argnames
        self._options = options
        self._plain_options = dict(options, static_argnums=static_argnums, static_argnames=static_argnames,
                                   donate_argnums=donate_argnums, donate_argnames=donate_argnames, **shardings)
        self._plain = None
        self.stateful_fun = brainstate.transform.StatefulFunction(
            fun, static_argnums=static_argnums, static_argnames=static_argnames, name='jit', return_only_write=True)
        self._sharded = bool(shardings)
        jit_options = {k: v for k, v in options.items() if k != 'name'}
        self._jit = jax.jit(self._pure, static_argnums=(0,) + tuple(i + 3 for i in static_argnums),
                            static_argnames=static_argnames,
                            donate_argnums=(1,) + tuple(i + 3 for i in donate_argnums),
                            donate_argnames=donate_argnames, **jit_options)
        self._owned = WrittenValues()   # by id(State): the value this function wrote there last
        self._traces = {}       # _arg_key -> _Trace
        self._left = None       # (_Trace, _token of each value its States held after the last call)
        functools.update_wrapper(self, fun, updated=())

    # -- the compiled program --------------------------------------------------------------------------
    def _pure(self, mask, written, read, *args, **kwargs):
        written, read = iter(written), iter(read)
        values = [next(written) if w else next(read) for w in mask]
        return self.stateful_fun.jaxpr_call(values, *args, **kwargs)

    def _brainstate_jit(self):
        """``brainstate.transform.jit`` of the same function with the same options (inside another trace, with
        shardings, and for ahead-of-time inspection)."""
        if self._plain is None:
            self._plain = brainstate.transform.jit(self.origin_fun, **self._plain_options)
        return self._plain

    # -- donation ---------------------------------------------------------------------------------------
    def _remember(self, trace, written, plain, out):
        """Note what the written States now hold, for the next call's donation check; what a hook or the caller may
        keep (a hook may keep what it was given, the caller holds the return value) is never donated. ``plain``:
        the values were stored with no hook seeing them. ``written``: the caller's only list of them (as when
        :meth:`_lookup` checks them)."""
        keep = None
        returned = {id(x) for x in jax.tree.leaves(out)}
        hooks = brainstate.has_state_hooks()
        if not plain or hooks:
            keep = [not hooks and (plain or not s.has_hooks()) for s in trace.written]
        self._owned.note(trace.keys, written, keep, returned)

    # -- which States, cached ---------------------------------------------------------------------------
    def _arg_key(self, args, kwargs):
        """What brainstate's cache key of this call depends on, from attribute reads only: the static arguments,
        the structure of the others and each array's abstract value (shape, dtype, weak type, sharding). None when
        an argument is not a jax.Array (brainstate's own key is then computed).

        Positional arguments only, each an array or a flat dict of arrays (a batch, a dict of gradients), with no
        static argument: the key is each argument's abstract value, or its keys (in order) and their abstract
        values, without a tree walk (jax interns abstract values: comparing them is comparing identities)."""
        if not kwargs and self._no_static:
            key = []
            for a in args:
                kind = type(a)
                if kind is _ArrayImpl:
                    key.append(a.aval)
                elif kind is dict and set(map(type, a.values())) <= _ARRAY:
                    key.append((tuple(a), tuple(map(_aval, a.values()))))
                else:
                    break
            else:
                return tuple(key)
        static = self._static_argnums
        dyn = tuple(a for i, a in enumerate(args) if i not in static) if static else args
        names = self._static_argnames
        dyn_kw = {k: v for k, v in kwargs.items() if k not in names} if names else kwargs
        leaves, treedef = jax.tree.flatten((dyn, dyn_kw))
        if not set(map(type, leaves)) <= _ARRAY:
            return None
        key = (treedef, tuple(map(_aval, leaves)),
               tuple(args[i] for i in static if i < len(args)),
               tuple(sorted((k, v) for k, v in kwargs.items() if k in names)) if names else ())
        try:
            hash(key)
        except TypeError:            # an unhashable static argument: brainstate says what is wrong
            return None
        return key

    @staticmethod
    def _signature(values):
        """The structure, shapes and dtypes of the States' values; None unless every leaf is a concrete jax.Array
        (a tracer of an enclosing transformation, a numpy array or a Python number take brainstate's path)."""
        leaves, treedef = jax.tree.flatten(values)
        if not set(map(type, leaves)) <= _ARRAY:
            return None
        return treedef, tuple(map(_aval, leaves))

    def _lookup(self, args, kwargs):
        """``(_Trace, written values, read values, fresh, fast)`` of this call (``fresh[i]``: written value ``i`` may
        be donated; ``fast``: the States' :meth:`~brainopt._fastpath.StateAccess.fast` for the write, when the call
        will not trace, else None); ``(None,) * 5`` inside another trace.

        brainstate's ``get_state_trace`` abstracts every argument and every State's value on each call (about
        0.5 ms at 50 parameters with Adam's 100 accumulators); a call whose arguments have the key of an earlier one
        and whose States still hold values of the same structure, shapes and dtypes (what brainstate's staleness
        check compares) reuses what it returned then. Values that are the very arrays the last call left, written
        by a program known to keep the signature, are not compared again."""
        key = self._arg_key(args, kwargs)
        trace = self._traces.get(key) if key is not None else None
        if trace is not None:
            fast = trace.reader.fast()
            written, read = trace.split(trace.reader.read(fast))
            fresh, same = self._owned.check(trace.keys, written)
            left = self._left
            if (same and left is not None and left[0] is trace and all(map(_is, read, left[1]))) or \
                    self._signature([written, read]) == trace.signature:
                return trace, written, read, fresh, fast
            del written, read
        found = self.stateful_fun.get_state_trace(*args, **kwargs, compile_if_miss=True)
        states = tuple(found.states)
        values = _fastpath.read_values(states)
        if any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves((values, args, kwargs))):
            return None, None, None, None, None
        writes = {id(s) for s in found.get_write_states()}
        trace = _Trace(states, tuple(id(s) in writes for s in states))
        written, read = trace.split(values)
        del values
        if key is not None:
            trace.signature = self._signature([written, read])
            if trace.signature is not None:
                if len(self._traces) >= 32:
                    self._traces.clear()
                self._traces[key] = trace
        return trace, written, read, self._owned.check(trace.keys, written)[0], None

    def _leave(self, trace, written, read):
        """Note that the States hold ``written`` and ``read``, if they are known to have the signature ``trace``
        was traced for (checked once per trace: the program writes values of the same structure, shapes and
        dtypes); the written ones are in :attr:`_owned`, the read ones are identified by weak references."""
        self._left = None
        if trace.signature is None:
            return
        if trace.stable is None:
            trace.stable = self._signature([written, read]) == trace.signature
        if trace.stable:
            tokens = list(map(_token, read))
            if None not in tokens:     # else (a Quantity, a nested tree) the signature is compared on each call
                self._left = (trace, tokens)

    # -- the call ---------------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if jax.config.jax_disable_jit:
            return self.origin_fun(*args, **kwargs)
        if self._sharded:
            return self._brainstate_jit()(*args, **kwargs)
        trace, written, read, fresh, fast = self._lookup(args, kwargs)
        if trace is None:
            # inside another transformation (brainstate.transform.jit, for_loop, grad, vmap): nothing to donate
            return self._brainstate_jit()(*args, **kwargs)
        self._left = None
        mask = trace.mask
        if not all(fresh):          # an array someone else may hold (or that this function did not write): copied
            written = [v if ok else _copy_leaves(v) for v, ok in zip(written, fresh)]
        if trace.stable:
            new_values, out = self._jit(mask, written, read, *args, **kwargs)
        else:
            with warnings.catch_warnings():
                # a written State whose new value has another shape or dtype cannot reuse its buffer: jax says so
                # once per compilation; the value is then written to a new buffer, as brainstate.transform.jit does
                warnings.filterwarnings('ignore', message='Some donated buffers were not usable')
                new_values, out = self._jit(mask, written, read, *args, **kwargs)
        del written
        # the step's outputs: concrete arrays, never tracers (a State only read keeps its value: the program
        # returns it unchanged)
        written = list(itertools.compress(new_values, mask))
        del new_values
        plain = trace.writer.write(written, fast)     # (a known trace: no user code ran since the read)
        self._leave(trace, written, read)
        del read
        self._remember(trace, written, plain, out)
        return out

    # -- brainstate.transform.jit's other methods ---------------------------------------------------------
    def clear_cache(self):
        """Forget every compiled program (and what this function wrote)."""
        self.stateful_fun.clear_cache()
        self._jit.clear_cache()
        self._owned.forget()
        self._traces, self._left = {}, None
        if self._plain is not None:
            self._plain.clear_cache()

    def eval_shape(self, *args, **kwargs):
        """The shapes of the outputs (the program of ``brainstate.transform.jit``, run on nothing)."""
        return self._brainstate_jit().eval_shape(*args, **kwargs)

    def lower(self, *args, **kwargs):
        """The lowered program, for inspection (``brainstate.transform.jit``'s, which donates nothing)."""
        return self._brainstate_jit().lower(*args, **kwargs)

    def trace(self, *args, **kwargs):
        """The traced program, for inspection (``brainstate.transform.jit``'s)."""
        return self._brainstate_jit().trace(*args, **kwargs)

    def compile(self, *args, **kwargs):
        """The compiled program, for inspection (``brainstate.transform.jit``'s)."""
        return self._brainstate_jit().compile(*args, **kwargs)


def jit(fun: Optional[Callable] = None, *, static_argnums: Any = None, static_argnames: Any = None,
        donate_argnums: Any = None, donate_argnames: Any = None, in_shardings: Any = _UNSPECIFIED,
        out_shardings: Any = _UNSPECIFIED, keep_unused: bool = False, device: Any = None, backend: Any = None,
        inline: bool = False, name: Optional[str] = None, **kwargs: Any):
    """Compile a function of brainstate States, updating the States it writes in place.

    A drop-in for ``brainstate.transform.jit``: the same options, the same
    State discovery (the States the function reads and writes are found when
    it is first traced), the same retracing when argument shapes change, and
    ``grad``, ``for_loop``, ``vmap`` inside. The difference: the buffers of
    the States that the function writes are donated to the compiled program,
    so their new values are written in place instead of into fresh arrays on
    every call (parameters, an optimizer's accumulators, a model's hidden
    states). For a training step that is most of the difference between
    ``brainstate.transform.jit`` and hand-written ``jax.jit`` with
    ``donate_argnums`` (``docs/benchmarks.md``).

    Nothing the user can reach is invalidated: an array that something else
    holds (a variable, another State, an argument, the return value) or that
    this function did not write itself is copied once instead of donated, and
    a State that is only read is never donated. Results are bit-identical to
    ``brainstate.transform.jit``.

    Parameters
    ----------
    fun : callable
        The function; ``@brainopt.jit`` and ``@brainopt.jit(static_argnums=...)``
        both work.
    static_argnums, static_argnames, donate_argnums, donate_argnames, keep_unused, device, backend, inline, name
        As for ``brainstate.transform.jit`` (``donate_argnums`` donates
        arguments of yours as well).
    in_shardings, out_shardings
        As for ``brainstate.transform.jit``; with either, the call is
        ``brainstate.transform.jit``'s (nothing is donated).
    **kwargs
        Passed to ``jax.jit``.

    Returns
    -------
    JittedFunction
        Call it as ``fun``. Inside another brainstate transformation it is
        ``brainstate.transform.jit`` of ``fun``. ``eval_shape``, ``lower``,
        ``trace``, ``compile`` and ``clear_cache`` work as brainstate's.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> model = brainstate.nn.Linear(3, 1)
    >>> params = model.states(brainstate.ParamState)
    >>> opt = brainopt.Adam(lr=1e-2).register_trainable_weights(params)
    >>> @brainopt.jit
    ... def step(x, y):
    ...     loss_fn = lambda: jnp.mean((model(x) - y) ** 2)
    ...     grads, loss = brainstate.transform.grad(loss_fn, grad_states=params, return_value=True)()
    ...     opt.update(grads)
    ...     return loss
    >>> x, y = jnp.ones((8, 3)), jnp.zeros((8, 1))
    >>> first = step(x, y)
    >>> for _ in range(20):
    ...     loss = step(x, y)
    >>> bool(loss < first), int(opt.step_count.value)
    (True, 21)
    """
    static_argnums = _index_tuple(static_argnums, 'static_argnums')
    donate_argnums = _index_tuple(donate_argnums, 'donate_argnums')
    if isinstance(static_argnames, str):
        static_argnames = (static_argnames,)
    static_argnames = tuple(static_argnames or ())
    options = dict(keep_unused=keep_unused, device=device, backend=backend, inline=inline, name=name, **kwargs)
    shardings = {k: v for k, v in (('in_shardings', in_shardings), ('out_shardings', out_shardings))
                 if v is not _UNSPECIFIED}

    def wrap(f):
        if not callable(f):
            raise TypeError(f'brainopt.jit: expected a function, got {f!r}')
        return JittedFunction(f, static_argnums, static_argnames, donate_argnums, donate_argnames, options,
                              shardings)
    return wrap if fun is None else wrap(fun)
