"""The learning-rate schedule interface: a closed form of a counter, and the two ways of advancing it.

Every schedule is a pure ``jax.numpy`` function ``f(k)`` of a counter ``k``
(``sched(k)``). What ``k`` is depends on the schedule's ``stepping``:

* ``stepping='update'``: ``k`` is the optimizer's number of applied updates
  (its ``step_count`` State). The schedule holds no State; ``update()``
  advances it. optax and Keras schedules work this way.
* ``stepping='epoch'``: ``k`` is the schedule's own ``last_epoch`` State,
  advanced by ``sched.step()`` (once per epoch, as torch.optim and
  braintools.optim users write it). The optimizer's checkpoint holds the
  State.

Calling ``step()`` on a per-update schedule is an error, so the two are never
silently confused.
"""
import functools
import inspect
import numbers
import weakref
from typing import Any, Tuple

import brainstate
import jax
import jax.numpy as jnp
import numpy as np

from .._signature import show_signature
from . import _common as c

__all__ = ['LRScheduler']

STEPPINGS = ('update', 'epoch')


def _python_value(owner, name, value, dtype):
    """A Python value given for a State of ``dtype``: an integer State takes only an integer (``3``, not ``3.5``
    or ``True``), a float State only a real number."""
    if dtype.kind in 'iu':
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f'{owner}.load_state_values: {name!r} must be an integer ({dtype}), got {value!r} '
                             f'({type(value).__name__}); nothing was loaded')
        info = np.iinfo(dtype)
        if not info.min <= value <= info.max:
            raise ValueError(f'{owner}.load_state_values: {name!r} must fit in {dtype}, got {value!r}; '
                             f'nothing was loaded')
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f'{owner}.load_state_values: {name!r} must be a real number ({dtype}), got {value!r} '
                         f'({type(value).__name__}); nothing was loaded')
    return value


def _non_negative_count(value, why=''):
    """None if ``value`` (a numpy array) holds only integers ``>= 0``, else what is wrong."""
    if value.dtype.kind not in 'iu':
        return f'must be an integer count, got dtype {value.dtype}'
    if np.any(value < 0):
        shown = value.item() if value.ndim == 0 else value.tolist()
        return f'must be an integer >= 0{" " + why if why else ""}, got {shown}'
    return None


class _Attachment:
    """A weak reference to the optimizer a schedule is attached to.

    A plain object, so that ``brainstate.graph`` does not walk from a
    schedule back into its optimizer.
    """

    def __init__(self, optimizer):
        self.ref = weakref.ref(optimizer)


def _accept_quantity_lrs(init):
    """Wrap a schedule's ``__init__`` so that its learning rates may be Quantities of one dimension.

    Each Quantity argument becomes its number in SI units (``0.1 * u.mV ** 2`` -> ``1e-7``) before the
    schedule checks it, and ``self.unit`` records the unit; the optimizer then treats the schedule as a
    physical learning rate (the rule runs in SI units). Plain numbers among them (``eta_min=0.0``) are taken
    in SI units too. Only the outermost ``__init__`` of a subclass chain converts.
    """
    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        if getattr(self, '_converting_units', False):
            return init(self, *args, **kwargs)
        from .. import units
        bound = inspect.signature(init).bind(self, *args, **kwargs)
        unit = None
        for name, value in list(bound.arguments.items()):
            if units.is_quantity(value):
                if unit is not None and not value.unit.has_same_dim(unit):
                    raise ValueError(f'{type(self).__name__}: {name}={value} and the other learning rates (in '
                                     f'{unit}) must share one dimension')
                unit = value.unit if unit is None else unit
                bound.arguments[name] = float(value.to_decimal(units.si_unit(value.unit)))
        self._converting_units = True
        try:
            init(*bound.args, **bound.kwargs)
        finally:
            self._converting_units = False
        if unit is not None:
            self.unit = unit
    return wrapper


class LRScheduler(brainstate.graph.Node):
    """Base class of learning-rate schedules.

    A subclass defines ``__call__(step)``: the learning rate at counter value
    ``step`` as a float32 ``jax`` array, written with ``jax.numpy`` so that it
    works inside ``jit`` with a traced int32 step. The base class provides the
    two ways of stepping (see :mod:`brainopt.schedules`), the protocol that
    the optimizer calls (:meth:`lr_at`, :meth:`state_values`,
    :meth:`load_state_values`, :meth:`attach`) and :meth:`step`.

    A subclass that only defines ``__call__`` is a per-update schedule; one
    that calls ``self._init_stepping(stepping, last_epoch)`` in its
    constructor can step either way.

    A schedule whose value depends on its own history (``MultiplicativeLR``,
    ``ReduceLROnPlateau``) keeps the learning rate in a State and overrides
    :meth:`lr_at` and :meth:`step`.
    """

    #: the unit of a schedule built from Quantity learning rates (``StepLR(base_lr=0.1 * u.mV ** 2)``): its
    #: arguments were converted to SI numbers, which ``__call__`` returns; None for a plain schedule
    unit = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if '__init__' in cls.__dict__:
            cls.__init__ = _accept_quantity_lrs(cls.__dict__['__init__'])
        if '__call__' in cls.__dict__:
            cls.__call__ = _now_without_a_step(cls.__dict__['__call__'])
        show_signature(cls)

    #: ``stepping`` values this class accepts (recursive schedules: ``('epoch',)``)
    steppings: Tuple[str, ...] = STEPPINGS
    #: a subclass that only defines ``__call__`` (and never calls ``_init_stepping``) is per-update
    stepping = 'update'
    _initial_epoch = 0
    _attachment = None

    @property
    def calls_user_code(self):
        """Whether the rate comes from code whose values brainopt cannot check at construction: a subclass
        defined outside brainopt, or a schedule that calls a function it was given (``LambdaLR``'s
        ``lr_lambda``). The optimizer then checks each rate as the step computes it (finite, ``>= 0``;
        ``docs/conventions.md``, "What a callable learning rate may return")."""
        return not type(self).__module__.startswith('brainopt.')

    def _init_stepping(self, stepping, last_epoch):
        """Check ``stepping`` and ``last_epoch`` and create the ``last_epoch`` State if epoch-stepped."""
        owner = type(self).__name__
        if stepping not in self.steppings:
            allowed = ' or '.join(repr(s) for s in self.steppings)
            raise ValueError(f'{owner}: stepping must be {allowed}, got {stepping!r}')
        self.stepping = stepping
        self._initial_epoch = c.integer('last_epoch', last_epoch, low=0, owner=owner)
        if stepping == 'epoch':
            from ..optimizer import OptimState  # here: optimizer.py may import the schedules
            self.last_epoch = OptimState(jnp.asarray(self._initial_epoch, jnp.int32), name=f'{owner}.last_epoch')
        elif self._initial_epoch != 0:
            raise ValueError(f"{owner}: last_epoch={last_epoch} needs stepping='epoch'; with stepping='update' "
                             f"the counter is the optimizer's step count")

    # -- the closed form ------------------------------------------------------------------
    def __call__(self, step: Any) -> jax.Array:
        """The learning rate at counter value ``step`` (float32; ``step`` an int or int32 array)."""
        raise NotImplementedError

    @property
    def base_lr_for_chain(self):
        """The learning rate that :class:`ChainedScheduler` divides this schedule by to get its factor."""
        return self.base_lr

    # -- the protocol the optimizer calls -------------------------------------------------
    def lr_at(self, count, values):
        """The learning rate in force, as a pure function.

        Parameters
        ----------
        count : int32 array
            The optimizer's number of applied updates (possibly traced).
        values : dict
            What :meth:`state_values` returned (possibly traced).

        Returns
        -------
        jax.Array
            float32 scalar: ``self(count)`` for a per-update schedule,
            ``self(values['last_epoch'])`` for a per-epoch one.
        """
        if self.stepping == 'update':
            return jnp.asarray(self(count), jnp.float32)
        return jnp.asarray(self(values['last_epoch']), jnp.float32)

    def _states(self):
        """name -> State of this schedule's mutable state ({} for a per-update schedule)."""
        return {'last_epoch': self.last_epoch} if self.stepping == 'epoch' else {}

    def state_values(self):
        """The values of the schedule's States, ``{name: jax array}`` (``{}`` when it has none)."""
        return {k: s.value for k, s in self._states().items()}

    def load_state_values(self, values):
        """Set the schedule's States from what :meth:`state_values` returned (e.g. from a checkpoint).

        Every value is checked first (:meth:`check_state_values`); on an error
        nothing is changed.

        Raises
        ------
        KeyError
            When ``values`` lacks a State or has one this schedule does not know.
        ValueError
            When a value's shape or dtype is not the State's, or its value is
            one the constructor would refuse (``last_epoch=-5``).
        """
        new = self.check_state_values(values)
        states = self._states()
        for k, v in new.items():
            states[k].value = v

    def check_state_values(self, values):
        """Check ``values`` as :meth:`load_state_values` would, and return them as arrays; change nothing.

        Besides the keys, shapes and dtypes of the States, each concrete value
        must be one that the schedule could hold: ``last_epoch`` an integer
        ``>= 0`` (the constructor's rule), and a subclass's own States as
        :meth:`_check_state_value` says. Traced values (inside ``jit``) are
        checked for shape and dtype only.
        """
        owner = type(self).__name__
        states = self._states()
        if not isinstance(values, dict):
            raise TypeError(f'{owner}.load_state_values: expected a dict name -> array, got {type(values).__name__}')
        missing, extra = sorted(set(states) - set(values)), sorted(set(values) - set(states))
        if missing or extra:
            raise KeyError(f'{owner}.load_state_values: expected the keys {sorted(states)} '
                           f"(stepping={self.stepping!r}), got {sorted(values)}"
                           + (f'; missing {missing}' if missing else '') + (f'; unexpected {extra}' if extra else ''))
        new = {}
        for k, state in states.items():
            old = state.value
            v = values[k]
            if hasattr(v, 'dtype') and np.dtype(v.dtype) != np.dtype(old.dtype):
                raise ValueError(f'{owner}.load_state_values: {k!r} must have dtype {np.dtype(old.dtype)}, '
                                 f'got {np.dtype(v.dtype)}')
            if not hasattr(v, 'dtype'):
                v = _python_value(owner, k, v, np.dtype(old.dtype))
            v = jnp.asarray(v, old.dtype)
            if v.shape != old.shape:
                raise ValueError(f'{owner}.load_state_values: {k!r} must have shape {old.shape}, got {v.shape}')
            if not isinstance(v, jax.core.Tracer):
                problem = self._check_state_value(k, np.asarray(v))
                if problem:
                    raise ValueError(f'{owner}.load_state_values: {k!r} {problem}; nothing was loaded')
            new[k] = v
        return new

    def _check_state_value(self, name, value):
        """What is wrong with the concrete value ``value`` (a numpy array) of State ``name``, or None.

        The base class checks ``last_epoch`` as the constructor does; a
        subclass with States of its own extends it.
        """
        if name == 'last_epoch':
            return _non_negative_count(value, "(the constructor's rule for last_epoch)")
        return None

    def step(self, metric=None):
        """Advance a per-epoch schedule by one epoch (torch's ``scheduler.step()``).

        Works eagerly and inside ``brainstate.transform.jit`` / ``for_loop``.

        Raises
        ------
        RuntimeError
            On a per-update schedule (``stepping='update'``): its counter is
            the optimizer's step count, which ``update()`` advances.
        TypeError
            When given a metric (only :class:`ReduceLROnPlateau` takes one).
        """
        self._require_epoch('step')
        if metric is not None:
            raise TypeError(f'{type(self).__name__}.step() takes no metric (only ReduceLROnPlateau.step(metric) '
                            f'does); got {metric!r}. To move to a given epoch, use '
                            f"load_state_values({{'last_epoch': epoch}})")
        self.last_epoch.value = self.last_epoch.value + 1

    def _require_epoch(self, what):
        if self.stepping != 'epoch':
            name = type(self).__name__
            raise RuntimeError(
                f"{name}.{what}(): this schedule has stepping='update': its counter is the optimizer's number of "
                f"applied updates, and opt.update() advances it. To advance it yourself once per epoch with "
                f"sched.step(), construct it with {name}(..., stepping='epoch').")

    def attach(self, optimizer):
        """Record that ``optimizer`` uses this schedule as its learning rate.

        The optimizer calls it when given the schedule. A schedule belongs to
        one optimizer (its counter and States are that optimizer's):
        attaching it to a second one raises ``RuntimeError``. Attaching to
        the same optimizer again does nothing.
        """
        current = self.attached_optimizer
        if current is not None and current is not optimizer:
            raise RuntimeError(
                f'{self!r} is already the learning rate of {type(current).__name__} '
                f'(name={getattr(current, "name", None)!r}); a schedule belongs to one optimizer. '
                f'Build one schedule per optimizer.')
        self._attachment = _Attachment(optimizer)

    def detach(self):
        """Forget the optimizer this schedule was attached to."""
        self._attachment = None

    @property
    def attached_optimizer(self):
        """The optimizer this schedule is attached to, or None."""
        return None if self._attachment is None else self._attachment.ref()

    # -- reading the learning rate --------------------------------------------------------
    @property
    def current_lr(self):
        """The learning rate in force now (float32 scalar).

        Per epoch: the value at ``last_epoch``. Per update: the value at the
        attached optimizer's step count (an error when not attached).
        """
        if self.stepping == 'epoch':
            return self.lr_at(jnp.zeros((), jnp.int32), self.state_values())
        opt = self.attached_optimizer
        if opt is None:
            raise RuntimeError(f"{type(self).__name__}.current_lr: a schedule with stepping='update' follows the "
                               f"step count of its optimizer, and none is attached; give it to an optimizer as lr, "
                               f"or evaluate sched(step) for a given step")
        return self.lr_at(opt.step_count.value, self.state_values())

    def get_last_lr(self):
        """``[current_lr]``, as torch's ``scheduler.get_last_lr()`` (one parameter group)."""
        return [self.current_lr]

    # -- braintools.optim's names (docs/migration_braintools.md) ----------------------------
    def step_epoch(self):
        """:meth:`step`, under braintools.optim's and brainpy's name (``opt.lr.step_epoch()``)."""
        self.step()

    @property
    def base_lrs(self):
        """braintools.optim's ``base_lrs``: ``[base_lr]`` (one schedule drives one parameter group)."""
        return [getattr(self, 'base_lr', None)]

    def get_lr(self):
        """braintools.optim's ``get_lr()``: :meth:`get_last_lr`, the rate in force now."""
        return self.get_last_lr()

    @property
    def optimizer(self):
        """braintools.optim's name of :attr:`attached_optimizer`."""
        return self.attached_optimizer

    @property
    def current_lrs(self):
        """braintools.optim's ``current_lrs``: an object whose ``.value`` is ``[current_lr]`` (read-only)."""
        return CurrentLRs(self)

    def attach_optimizer(self, optimizer):
        """Make this schedule the learning rate of ``optimizer`` (braintools.optim's name):
        ``optimizer.set_lr(self)``; nothing when it already is."""
        if self.attached_optimizer is not optimizer:
            optimizer.set_lr(self)

    def state_dict(self):
        """braintools.optim's ``state_dict()``: the schedule's States (``last_epoch``, and a recursive
        schedule's own), ``base_lrs`` and, where defined, ``current_lrs``, as numpy values and lists.

        The optimizer's own :meth:`brainopt.Optimizer.state_dict` and the checkpoints already hold the
        schedule; this is for scripts that save the schedule on its own.
        """
        out = {k: np.asarray(v) for k, v in self.state_values().items()}
        out['base_lrs'] = self.base_lrs
        if self.stepping == 'epoch' or self.attached_optimizer is not None:
            out['current_lrs'] = [float(self.current_lr)]
        return out

    def load_state_dict(self, state_dict):
        """Load what :meth:`state_dict` returned. Its States are checked as :meth:`load_state_values`
        checks them, and ``base_lrs``, when given, must be this schedule's (the rate is computed from the
        constructor's arguments, not loaded); ``current_lrs`` is derived and ignored. On an error nothing
        changes."""
        owner = type(self).__name__
        if not isinstance(state_dict, dict):
            raise TypeError(f'{owner}.load_state_dict: expected a dict, got {type(state_dict).__name__}')
        if 'base_lrs' in state_dict:
            mine = self.base_lrs
            theirs = list(state_dict['base_lrs'])
            if len(theirs) != 1 or theirs[0] != mine[0]:
                raise ValueError(f"{owner}.load_state_dict: ['base_lrs'] is {theirs}, but this schedule was built "
                                 f'with base_lr={mine[0]!r}: build it with the saved arguments; nothing was loaded')
        self.load_state_values({k: v for k, v in state_dict.items() if k not in ('base_lrs', 'current_lrs')})

    # -- configuration --------------------------------------------------------------------
    def get_config(self) -> dict:
        """The constructor's arguments, read back from the attributes of the same name.

        ``last_epoch`` is the value given to the constructor (the State holds
        the current one). A subclass that stores its arguments under other
        names overrides this.
        """
        params = inspect.signature(type(self).__init__).parameters.values()
        out = {}
        for p in list(params)[1:]:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if p.name == 'last_epoch':
                out[p.name] = self._initial_epoch
            elif hasattr(self, p.name):
                out[p.name] = getattr(self, p.name)
        return out

    def __repr__(self):
        items = [(k, v) for k, v in self.get_config().items() if not (k == 'last_epoch' and v == 0)]
        physical = '' if self.unit is None else f'; in SI units of {self.unit}'
        return f'{type(self).__name__}({", ".join(f"{k}={v!r}" for k, v in items)}{physical})'


show_signature(LRScheduler)


class CurrentLRs:
    """``sched.current_lrs`` (and ``opt.lr.current_lrs`` of a number): ``.value`` is ``[current_lr]`` of the
    schedule or rate, read when asked."""

    def __init__(self, schedule):
        self._schedule = schedule

    @property
    def value(self):
        return [self._schedule.current_lr]

    def __repr__(self):
        return f'current_lrs({self.value})'


def _now_without_a_step(call):
    """``sched()`` with no step is the rate in force now (``current_lr``), as braintools.optim's and
    brainpy's ``opt.lr()``; ``sched(step)`` is unchanged. A ``__call__`` whose step has a default keeps its
    own meaning of ``sched()`` (brainopt.brainpy's schedulers)."""
    params = list(inspect.signature(call).parameters.values())
    if len(params) < 2 or params[1].default is not inspect.Parameter.empty or \
            params[1].kind not in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
        return call

    @functools.wraps(call)
    def __call__(self, *args, **kwargs):
        if not args and not kwargs:
            return self.current_lr
        return call(self, *args, **kwargs)

    return __call__


_STEPPING_DOC = """last_epoch : int, default 0
        Initial value of the epoch counter (with ``stepping='epoch'``), to
        resume a run as in braintools.optim.
    stepping : {{'epoch', 'update'}}, default {default!r}
        What the counter ``k`` is. ``'epoch'``: the schedule's own
        ``last_epoch`` State, advanced by ``sched.step()`` (torch.optim and
        braintools.optim usage). ``'update'``: the optimizer's number of
        applied updates, advanced by ``opt.update()``; ``sched.step()`` is
        then an error."""


def with_stepping_doc(cls):
    """Replace ``{stepping}`` in a schedule's docstring by the documentation of ``last_epoch`` and ``stepping``."""
    default = inspect.signature(cls.__init__).parameters['stepping'].default
    if cls.__doc__ and '{stepping}' in cls.__doc__:
        cls.__doc__ = cls.__doc__.replace('{stepping}', _STEPPING_DOC.format(default=default))
    return cls
