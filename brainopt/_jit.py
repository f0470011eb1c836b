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
import operator
import warnings
from typing import Any, Callable, Optional

import brainstate
import jax
import jax.numpy as jnp

from . import _fastpath
from ._eager import WrittenValues

__all__ = ['jit']

_UNSPECIFIED = object()
_ArrayImpl = type(jnp.zeros(()))
_shape, _dtype, _weak = operator.attrgetter('shape'), operator.attrgetter('dtype'), operator.attrgetter('weak_type')


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
        self._traces = {}       # _arg_key -> (states, write mask, the states' value signature)
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
    def _donatable(self, states, values, mask):
        """The written States' values, each passed as it is (donated) when this function wrote it on its previous
        call and nothing else has taken a reference to it or to any part of it since; otherwise copied."""
        keys = [id(s) for s, w in zip(states, mask) if w]
        written = [v for v, w in zip(values, mask) if w]
        fresh = self._owned.unchanged(keys, written)
        return [v if ok else _copy_leaves(v) for v, ok in zip(written, fresh)]

    def _remember(self, states, mask, out):
        """Note what the written States now hold (not what a hook or the caller may keep: a hook may keep what it
        was given, the caller holds the return value), for :meth:`_donatable` on the next call."""
        if not _fastpath.REFCOUNTS or brainstate.has_state_hooks():
            self._owned.records = {}
            return
        returned = {id(x) for x in jax.tree.leaves(out)}
        values = _fastpath.read_values(states)
        # (comprehensions: a loop variable left holding a value would count as one more reference to it)
        keep = [w and not s.has_hooks() and (not returned or returned.isdisjoint(map(id, jax.tree.leaves(v))))
                for s, v, w in zip(states, values, mask)]
        keys = [id(s) for s, k in zip(states, keep) if k]
        written = [v for v, k in zip(values, keep) if k]
        self._owned.note(keys, written)

    # -- which States, cached ---------------------------------------------------------------------------
    def _arg_key(self, args, kwargs):
        """What brainstate's cache key of this call depends on, from attribute reads only: the static arguments,
        the structure of the others and each array's shape, dtype and weak type. None when an argument is not a
        jax.Array (brainstate's own key is then computed)."""
        static = self._static_argnums
        dyn = tuple(a for i, a in enumerate(args) if i not in static) if static else args
        names = self._static_argnames
        dyn_kw = {k: v for k, v in kwargs.items() if k not in names} if names else kwargs
        leaves, treedef = jax.tree.flatten((dyn, dyn_kw))
        if not all(type(x) is _ArrayImpl for x in leaves):
            return None
        key = (treedef, tuple(map(_shape, leaves)), tuple(map(_dtype, leaves)), tuple(map(_weak, leaves)),
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
        if not all(type(x) is _ArrayImpl for x in leaves):
            return None
        return treedef, tuple(map(_shape, leaves)), tuple(map(_dtype, leaves))

    def _lookup(self, args, kwargs):
        """``(States, write mask, their values)`` of this call; ``(None, None, None)`` inside another trace.

        brainstate's ``get_state_trace`` abstracts every argument and every State's value on each call (about
        0.5 ms at 50 parameters with Adam's 100 accumulators); a call whose arguments have the key of an earlier one
        and whose States still hold values of the same structure, shapes and dtypes (what brainstate's staleness
        check compares) reuses what it returned then."""
        key = self._arg_key(args, kwargs)
        cached = self._traces.get(key) if key is not None else None
        if cached is not None:
            states, mask, signature = cached
            values = _fastpath.read_values(states)
            if self._signature(values) == signature:
                return states, mask, values
        trace = self.stateful_fun.get_state_trace(*args, **kwargs, compile_if_miss=True)
        states = tuple(trace.states)
        values = _fastpath.read_values(states)
        if any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves((values, args, kwargs))):
            return None, None, None
        writes = {id(s) for s in trace.get_write_states()}
        mask = tuple(id(s) in writes for s in states)
        if key is not None:
            signature = self._signature(values)
            if signature is not None:
                if len(self._traces) >= 32:
                    self._traces.clear()
                self._traces[key] = (states, mask, signature)
        return states, mask, values

    # -- the call ---------------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if jax.config.jax_disable_jit:
            return self.origin_fun(*args, **kwargs)
        if self._sharded:
            return self._brainstate_jit()(*args, **kwargs)
        states, mask, values = self._lookup(args, kwargs)
        if states is None:
            # inside another transformation (brainstate.transform.jit, for_loop, grad, vmap): nothing to donate
            return self._brainstate_jit()(*args, **kwargs)
        written = self._donatable(states, values, mask)
        read = [v for v, w in zip(values, mask) if not w]
        del values
        with warnings.catch_warnings():
            # a written State whose new value has another shape or dtype cannot reuse its buffer: jax says so
            # once per compilation; the value is then written to a new buffer, as brainstate.transform.jit does
            warnings.filterwarnings('ignore', message='Some donated buffers were not usable')
            new_values, out = self._jit(mask, written, read, *args, **kwargs)
        del written
        write = _fastpath.value_writer()            # the step's outputs: concrete arrays, never tracers
        for s, v, w in zip(states, new_values, mask):
            if w:            # a State only read keeps its value: the program returns it unchanged
                write(s, v)
        del new_values
        self._remember(states, mask, out)
        return out

    # -- brainstate.transform.jit's other methods ---------------------------------------------------------
    def clear_cache(self):
        """Forget every compiled program (and what this function wrote)."""
        self.stateful_fun.clear_cache()
        self._jit.clear_cache()
        self._owned.records, self._traces = {}, {}
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
