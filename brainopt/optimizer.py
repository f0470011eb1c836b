"""The brainstate-facing Optimizer: registration, the update pipeline, its States.

Every shared feature is applied here, once, in this order (``docs/concepts.md``):

1. loss scaling: ``g = g / loss_scale_factor``
2. non-finite check: with ``skip_nonfinite`` a NaN/Inf anywhere skips the call
3. accumulation: k calls accumulate, the k-th continues with their mean
4. clipping: per-parameter norm, then global norm, then value
5. coupled weight decay: ``g = g + wd * p``
6. decoupled weight decay: ``p = p - p * wd * lr``
7. the update rule (its slots, the learning rate of this step)
8. EMA of the parameters, and its periodic overwrite
"""
import functools
import inspect
import numbers
import operator
from collections.abc import Mapping
from typing import Any, Dict, List, NamedTuple, Optional

import brainstate
import jax
import jax.numpy as jnp

from . import _arguments, _eager, _fastpath, units
from . import _registry as registry
from . import _validate as check
from . import sharding as placement
from ._optimizer_braintools import BraintoolsNamesMixin
from ._optimizer_memory import MemoryMixin
from ._optimizer_units import UnitsMixin, accept_quantity_hyperparameters
from ._shared_doc import with_shared_options  # noqa: F401  (the optimizers import it from here)
from ._signature import show_signature
from .rules.base import AfterParam, Rule
from .transforms import accumulation, clipping, dtypes, ema, loss_scale
from .transforms import weight_decay as decay
from .transforms.lr import FixedRate, LearningRate, as_schedule, describe

__all__ = ['Optimizer', 'OptimState', 'UpdateInfo']


class OptimState(brainstate.LongTermState):
    """A State that holds optimizer memory (accumulators, step counts, EMA weights).

    The values stay plain arrays (the compiled step works on numbers); an
    optimizer labels each of its slots with the true unit of every parameter's
    accumulator, which ``repr`` shows (``'v_th': float32[3] in 1 / mV^2``).
    :meth:`brainopt.Optimizer.get_slot` returns them as Quantities.
    """

    def __repr__(self):
        labels = getattr(self, '_units', None)
        value = self.value
        if not labels or not isinstance(value, dict):
            return super().__repr__()
        lines = []
        for k, v in value.items():
            unit = labels.get(k)
            dtype, shape = getattr(v, 'dtype', type(v).__name__), list(jnp.shape(v))
            lines.append(f'    {k!r}: {dtype}{shape}' + (f' in {unit}' if unit is not None else ''))
        return f'{type(self).__name__}(\n  value={{\n' + ',\n'.join(lines) + f'\n  }},\n  name={self.name}\n)'


class UpdateInfo(NamedTuple):
    """What :meth:`Optimizer.update` returns, for a training loop to log.

    Attributes
    ----------
    lr : jax.Array
        The learning rate of this call (float32 scalar).
    grad_norm : jax.Array
        Global L2 norm of the incoming gradients after loss scaling and
        before clipping (NaN or Inf when a gradient is not finite).
    applied : jax.Array
        True when the parameters moved: False on a skipped non-finite step
        and on the calls that only accumulate.
    finite : jax.Array
        True when every gradient element was finite and every learning rate
        computed by user code (a callable, ``LambdaLR``) was a finite number
        ``>= 0`` (eagerly, such a rate is an error instead).
    """
    lr: Any
    grad_norm: Any
    applied: Any
    finite: Any


def _hyper_key(name, group):
    """The key of a parameter group's hyperparameter in ``opt.hyperparams``: ``'lr'``, ``'lr[1]'``, ..."""
    return name if group == 0 else f'{name}[{group}]'


def _lr_value(number):
    """A learning rate as the step reads it: a float32 scalar (what a schedule's rate is too)."""
    return jnp.asarray(number, jnp.float32)


def _weak_value(number):
    """A weight decay coefficient or a shared option (a clipping threshold, ...) as the step reads it: a weakly
    typed scalar, so that it meets a parameter or gradient in that array's dtype, as the Python number did."""
    return jnp.asarray(number) if isinstance(number, jax.core.Tracer) else jnp.asarray(float(number))


#: the shared options that are numbers a user may assign after construction (``opt.grad_clip_norm = 0.5``): kept in
#: ``opt.hyperparams`` under their names while they are not None (``ema_momentum`` while ``use_ema``), read by every
#: step; their checks (as at construction: ``optional`` ones may be None, turning the feature off)
LIVE_OPTIONS = {
    'grad_clip_value': dict(optional=True, low=0., low_open=True),
    'grad_clip_norm': dict(optional=True, low=0., low_open=True),
    'grad_clip_norm_per_param': dict(optional=True, low=0., low_open=True),
    'loss_scale_factor': dict(optional=True, low=0., low_open=True),
    'ema_momentum': dict(optional=False, low=0., high=1.),
}

#: the value of ``opt.hyperparams['structure@n']``: no data, only a key that changes
_STRUCTURE = jnp.zeros((0,), jnp.int8)


def _is_traced(*trees):
    return any(isinstance(x, jax.core.Tracer) for t in trees for x in jax.tree.leaves(t))


class _Group:
    """A parameter group: its learning rate (and schedule) and its weight decay."""

    def __init__(self, source, lr, weight_decay):
        self.source, self.lr, self.weight_decay = source, lr, weight_decay
        self.paths = []          # dotted paths of its States
        self.leaves = []         # dotted names of its arrays




class _ParamGroup(dict):
    """One entry of ``opt.param_groups``. torch's idiom ``group['lr'] = value`` (manual warm-up and decay) sets
    the group's learning rate, as ``opt.set_lr(value, group=i)``; ``group['weight_decay'] = value`` its decay;
    ``group['betas'] = value`` (torch's OneCycleLR cycling the momentum) the rule's numbers, which every group
    shares, as ``opt.betas = value``. Any other change is refused: it would change nothing."""

    def __init__(self, opt, index, items):
        super().__init__(items)
        self._opt, self._index = opt, index

    def __setitem__(self, key, value):
        if key == 'lr':
            self._opt.set_lr(value, self._index)
        elif key == 'weight_decay':
            self._opt._set_group_decay(value, self._index)
        elif key in self and key != 'params':
            _arguments.assign(self._opt, {key: value})     # the rule's (every group's): checked by the constructor
        else:
            shared = sorted(k for k in self if k not in ('params', 'lr', 'weight_decay'))
            raise KeyError(f"{type(self._opt).__name__}.param_groups[{self._index}][{key!r}] cannot be assigned: "
                           f"a group's 'lr' and 'weight_decay' can, and the optimizer's {shared} (every group's); "
                           f"States join a group with add_param_group")
        super().__setitem__(key, value)

    def update(self, *args, **kwargs):
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def _refuse(self, *args, **kwargs):
        raise TypeError(f'{type(self._opt).__name__}.param_groups[{self._index}]: a parameter group\'s entries '
                        f'cannot be removed')

    __delitem__ = pop = popitem = clear = setdefault = _refuse


class _Weights:
    """The registered parameters; a plain object, so that ``brainstate.graph``
    does not list the model's States among the optimizer's."""

    def __init__(self):
        self.entries = []
        self.by_path = {}
        self.ids = set()
        self.prefixes = set()
        self.leaf_names = []
        self.grad_layouts = {}   # gradient tree structures matched before (registry.match_grads)
        # the keys of gradients given as a flat dict that jax flattens in its own order: (keys, treedef, count)
        self.last_flat = None


@with_shared_options
class Optimizer(UnitsMixin, MemoryMixin, BraintoolsNamesMixin, brainstate.graph.Node):
    """An update rule composed with every shared feature, on brainstate States.

    Subclasses (:class:`brainopt.Adadelta`, :class:`brainopt.Adagrad`, ...)
    only choose the :class:`brainopt.rules.Rule`.

    Parameters
    ----------
    rule : Rule
        The update rule.
    {shared_options}
    """

    _quantity_hypers: Dict[str, Any] = {}      # {name: Quantity}: epsilons given with a unit (set per instance)
    _fixed_attributes = frozenset(['rule'])

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if '__init__' in cls.__dict__:
            cls.__init__ = accept_quantity_hyperparameters(cls.__dict__['__init__'])
        show_signature(cls)

    def __init__(
        self,
        rule: Rule,
        lr: LearningRate = 1e-3,
        *,
        weight_decay: float = 0.0,
        weight_decay_mode: str = 'coupled',
        weight_decay_exclude=None,
        grad_clip_value: Optional[float] = None,
        grad_clip_norm: Optional[float] = None,
        grad_clip_norm_per_param: Optional[float] = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: Optional[int] = None,
        loss_scale_factor: Optional[float] = None,
        gradient_accumulation_steps: Optional[int] = None,
        skip_nonfinite: bool = False,
        count_calls: bool = False,
        state_dtype=None,
        name: Optional[str] = None,
    ):
        owner = type(self).__name__
        if not isinstance(rule, Rule):
            raise TypeError(f'{owner}: rule must be a brainopt.rules.Rule, got {type(rule).__name__}')
        self.rule = rule = self._dialect_rule(rule)
        self._groups: List[_Group] = []
        self.weight_decay = check.real('weight_decay', weight_decay, low=0., owner=owner)
        # 'rule': the rule applies the decay itself (Lamb, Novograd, ...); also when a wrapper (SAM, Lookahead)
        # takes such an optimizer as its template
        modes = decay.MODES + (('rule',) if hasattr(getattr(rule, 'inner', rule), 'decay_of') else ())
        if weight_decay_mode not in modes:
            raise ValueError(f"{owner}: weight_decay_mode must be one of {', '.join(map(repr, modes))}, "
                             f"got {weight_decay_mode!r}")
        self.weight_decay_mode = weight_decay_mode
        if not (weight_decay_exclude is None or callable(weight_decay_exclude) or isinstance(weight_decay_exclude, str)
                or all(isinstance(p, str) for p in weight_decay_exclude)):
            raise TypeError(f'{owner}: weight_decay_exclude must be a pattern string, a sequence of them, '
                            f'or a predicate of the parameter path, got {weight_decay_exclude!r}')
        self.weight_decay_exclude = weight_decay_exclude
        self.grad_clip_value = check.optional_real(
            'grad_clip_value', grad_clip_value, low=0., low_open=True, owner=owner)
        self.grad_clip_norm = check.optional_real('grad_clip_norm', grad_clip_norm, low=0., low_open=True, owner=owner)
        self.grad_clip_norm_per_param = check.optional_real(
            'grad_clip_norm_per_param', grad_clip_norm_per_param, low=0., low_open=True, owner=owner)
        if not isinstance(use_ema, bool):
            raise TypeError(f'{owner}: use_ema must be a bool, got {use_ema!r}')
        self.use_ema = use_ema
        self.ema_momentum = check.real('ema_momentum', ema_momentum, low=0., high=1., owner=owner)
        self.ema_overwrite_frequency = check.positive_int(
            'ema_overwrite_frequency', ema_overwrite_frequency, owner=owner, allow_none=True)
        self.loss_scale_factor = check.optional_real(
            'loss_scale_factor', loss_scale_factor, low=0., low_open=True, owner=owner)
        self.gradient_accumulation_steps = check.positive_int(
            'gradient_accumulation_steps', gradient_accumulation_steps, owner=owner, allow_none=True)
        if not isinstance(skip_nonfinite, bool):
            raise TypeError(f'{owner}: skip_nonfinite must be a bool, got {skip_nonfinite!r}')
        self.skip_nonfinite = skip_nonfinite
        if not isinstance(count_calls, bool):
            raise TypeError(f'{owner}: count_calls must be a bool, got {count_calls!r}')
        self.count_calls = count_calls
        self.state_dtype = dtypes.check_state_dtype(state_dtype, owner)
        self.name = owner if name is None else str(name)
        # the lr last: a schedule is attached only to an optimizer whose every option was valid
        self._set_lr(lr, 0)
        self._groups[0].weight_decay = self.weight_decay

        # -- the optimizer's memory: every piece is an OptimState --------------------
        self.step_count = OptimState(jnp.zeros((), jnp.int32), name=f'{self.name}.step_count')
        self.slots = {s: OptimState({}, name=f'{self.name}.{s}') for s in rule.slots}
        if use_ema:
            self.ema = OptimState({}, name=f'{self.name}.ema')
        if self._accumulating:
            self.grad_accum = OptimState({}, name=f'{self.name}.grad_accum')
            self.accum_count = OptimState(jnp.zeros((), jnp.int32), name=f'{self.name}.accum_count')
        if skip_nonfinite:
            self.skipped_steps = OptimState(jnp.zeros((), jnp.int32), name=f'{self.name}.skipped_steps')

        # the numbers a user may assign after construction (each group's lr and weight decay), read by every
        # step, compiled or not, at their current values (live_hyperparameters below)
        self._structure = 0
        self.hyperparams = OptimState({}, name=f'{self.name}.hyperparams')
        self._lay_out_hyperparams()

        self._weights = _Weights()
        self._leaf_units: Dict[str, Any] = {}
        self._decay_mask: frozenset = frozenset()
        self._reset_compiled()

    def _dialect_rule(self, rule: Rule) -> Rule:
        """The rule this optimizer runs, given the one its class built. A dialect (``brainopt.keras``,
        ``brainopt.brainpy``) returns its form of that rule (built with the rule's own constructor argument,
        ``keras=True``, ``lr_in_buffer=True``, ...): chosen here, once, before anything reads the rule."""
        return rule

    @property
    def _accumulating(self):
        return self.gradient_accumulation_steps is not None and self.gradient_accumulation_steps > 1

    # -- learning rate ------------------------------------------------------------------
    @property
    def lr(self):
        """The learning rate as given: a number, a schedule or a callable (of the first group). A number is
        returned as a :class:`~brainopt.transforms.lr.FixedRate`, the float with braintools.optim's schedule
        methods (``opt.lr()``, ``opt.lr.step_epoch()``)."""
        self._settle()
        lr = self._groups[0].lr
        if isinstance(lr, numbers.Real) and not isinstance(lr, bool):
            return FixedRate(lr)
        return lr

    @lr.setter
    def lr(self, value):
        self.set_lr(value)

    def set_lr(self, value: LearningRate, group: int = 0) -> None:
        """Replace the learning rate (a float, a schedule or a callable) of one parameter group.

        A number for a number is what every step reads from its next call on, compiled or not, without tracing
        again (:attr:`hyperparams`); it may be a traced JAX scalar (a hypergradient, see
        ``docs/conventions.md``). Any other change (a schedule, a callable, a Quantity) makes every compiled step
        trace again on its next call."""
        if not (isinstance(group, int) and 0 <= group < len(self._groups)):
            raise IndexError(f'{type(self).__name__}.set_lr: group must be an index below {len(self._groups)}, '
                             f'got {group!r}')
        self._settle()
        new = as_schedule(value, type(self).__name__)
        physical = new.unit is not None
        factors = None
        if physical != (self._groups[group].source.unit is not None):
            factors = self._si_factors(self._groups[group], to_si=physical)   # checked before anything changes
        was_number = self._groups[group].source.number is not None
        self._set_lr(value, group)
        if factors:
            # the rule now runs in (or no longer in) SI units: carry its accumulators over
            for s, by_leaf in factors.items():
                self.slots[s].value = {**self.slots[s].value,
                                       **{n: self.slots[s].value[n] * jnp.asarray(f, self.slots[s].value[n].dtype)
                                          for n, f in by_leaf.items()}}
        self._label_slots()
        number = self._groups[group].source.number
        if was_number and number is not None:
            # a number for a number: the value every step reads, compiled or not (nothing traces again)
            self._lay_out_hyperparams({_hyper_key('lr', group): _lr_value(number)})
        else:
            # a schedule, a callable or a Quantity is part of the program: every compiled step traces again
            self._structure_changed()

    @property
    def _schedule(self):
        return self._groups[0].source

    def _set_lr(self, value, group):
        source = as_schedule(value, type(self).__name__)
        if source.unit is not None and group < len(self._groups):
            probe = _Group(source, value, self._groups[group].weight_decay)
            self._check_lr_units(probe, {n: self._leaf_units[n] for n in self._groups[group].leaves}, 'lr')
        if source.scheduler is not None and hasattr(source.scheduler, 'attach'):
            try:
                source.scheduler.attach(self)    # one schedule drives one optimizer (an error otherwise)
            except RuntimeError as e:
                raise RuntimeError(f'{type(self).__name__}: lr: {e}') from None
        if group == len(self._groups):
            self._groups.append(_Group(source, value, self._groups[0].weight_decay if self._groups else 0.0))
            return
        old = self._groups[group].source.scheduler
        self._groups[group].source, self._groups[group].lr = source, value
        if old is not None and old is not source.scheduler and hasattr(old, 'detach') and \
                all(g.source.scheduler is not old for g in self._groups):
            old.detach()

    def _reset_compiled(self):
        self._memory_access = None
        # the eager path: one cached computation that donates the parameters this optimizer wrote (argument 0,
        # see _eager.Ownership) and its own buffers (argument 3); UpdateInfo's reductions are deferred
        self._compiled = jax.jit(self._eager_step, donate_argnums=(0, 3), static_argnums=(2, 5))
        self._grad_info = jax.jit(lambda grads, hyper: self._grad_norm_finite(self._match(grads), hyper))
        if not hasattr(self, '_ownership'):
            self._ownership = _eager.Ownership()


    @property
    def current_lr(self):
        """The learning rate that the next update applies (of the first group)."""
        self._settle()
        return self._schedule(self._lr_count_now(), self._schedule.values())

    def _lr_count_now(self):
        """The counter that the learning rate of the next update sees, from the States' current values."""
        acc = self.accum_count.value if self._accumulating else 0
        return self._lr_count(self.step_count.value, acc)

    def _lr_count(self, count, acc_count):
        """The counter the learning rate sees: applied updates, or with ``count_calls`` (Keras) the calls."""
        if self.count_calls and self._accumulating:
            return count * self.gradient_accumulation_steps + acc_count
        return count

    @property
    def param_groups(self):
        """The parameter groups, each ``{'params': [paths], 'lr': ..., 'weight_decay': ..., 'betas': ...}``.

        As in torch, ``opt.param_groups[i]['lr'] = value`` sets a group's
        learning rate (as :meth:`set_lr`) and ``['weight_decay'] = value`` its
        weight decay. The rule's numeric hyperparameters (``'betas'``,
        ``'eps'``, ``'momentum'``, ...) are the optimizer's, shared by every
        group: ``['betas'] = value`` sets them, as ``opt.betas = value`` does
        (torch's OneCycleLR cycling the momentum), and every group shows the
        new value. Nothing else may be assigned. A step already compiled
        (``brainstate.transform.jit``, ``brainopt.jit``, the eager update's)
        uses the new values from its next call (:attr:`hyperparams`).

        Group 0 holds what :meth:`register_trainable_weights` registered;
        :meth:`add_param_group` adds the others. Change a group's learning rate
        with :meth:`set_lr`.
        """
        self._settle()
        shared = _arguments.numbers_of(self)
        return [_ParamGroup(self, i, {'params': list(g.paths), 'lr': g.lr, 'weight_decay': g.weight_decay, **shared})
                for i, g in enumerate(self._groups)]

    def _set_group_decay(self, value, group):
        """``param_groups[group]['weight_decay'] = value``."""
        owner = f'{type(self).__name__}.param_groups[{group}]'
        self._settle()
        value = check.live_real('weight_decay', value, low=0., owner=owner)
        self._groups[group].weight_decay = value
        # zero and non-zero decay are different programs (a zero decay adds no operation): the key is there or not
        self._lay_out_hyperparams({_hyper_key('weight_decay', group): _weak_value(value)})

    # -- live hyperparameters ------------------------------------------------------------------
    def _lay_out_hyperparams(self, changed=None):
        """Write :attr:`hyperparams` from the parameter groups: ``'lr'`` (``'lr[i]'`` for group ``i``) where a
        group's learning rate is a number, ``'weight_decay'`` (``'weight_decay[i]'``) where its decay is not zero,
        and, after a change of the program's structure, ``'structure@n'`` (an empty array whose key changes with
        each such change, so that every compiled step, which compares the structure of the States it reads,
        traces again). A value in ``changed`` (``{key: array}``) is the new one; every other keeps the State's
        (a traced value of an enclosing transformation stays traced)."""
        old = {**self.hyperparams.value, **(changed or {})}
        new = {}

        def put(key, fresh, number):
            new[key] = old[key] if key in old else fresh(number)
        for i, g in enumerate(self._groups):
            if g.source.number is not None:
                put(_hyper_key('lr', i), _lr_value, g.source.number)
            if not decay.is_zero(g.weight_decay):
                put(_hyper_key('weight_decay', i), _weak_value, g.weight_decay)
        for key in LIVE_OPTIONS:
            value = getattr(self, key)
            if value is not None and (key != 'ema_momentum' or self.use_ema):
                put(key, _weak_value, value)
        for key, value in self._rule_live_numbers().items():
            put(key, _weak_value, value)
        if self._structure:
            new[f'structure@{self._structure}'] = _STRUCTURE
        self.hyperparams.value = new

    def _rule_live_numbers(self):
        """``{key: number}`` of the rule's live hyperparameters and the numbers derived from them
        (:attr:`brainopt.rules.Rule.live_names`), as :attr:`hyperparams` holds them; an epsilon given as a Quantity
        is not among them (its number depends on each parameter's unit)."""
        rule = self.__dict__.get('rule')
        if rule is None or not rule.live_names:
            return {}
        values = {n: v for n, v in rule.live_values().items() if n not in self._quantity_hypers}
        return {**values, **rule.derived(values)}

    def _set_option(self, name, value):
        """``opt.<name> = value`` for a shared option that is a number (:data:`LIVE_OPTIONS`) or ``weight_decay``
        (every parameter group's, and the default of a group added later): checked as at construction, then what
        every step reads from its next call on. None for a number (or a number for None) turns the feature off
        (on): a change of structure, after which every compiled step traces again."""
        self._settle()
        number = self._checked_option(name, value)
        if name == 'weight_decay':
            for i in range(len(self._groups)):
                self._set_group_decay(number, i)
            object.__setattr__(self, 'weight_decay', number)
            return
        was = getattr(self, name)
        object.__setattr__(self, name, number)
        if (was is None) != (number is None):
            self._structure_changed()
        elif number is not None:
            self._lay_out_hyperparams({name: _weak_value(number)})

    def _checked_option(self, name, value):
        """The value of ``opt.<name> = value`` for :meth:`_set_option`, checked as at construction."""
        owner = f'{type(self).__name__}.{name}'
        if name == 'weight_decay':
            return check.live_real('weight_decay', value, low=0., owner=owner)
        spec = dict(LIVE_OPTIONS[name])
        if spec.pop('optional') and value is None:
            number = None
        else:
            number = check.live_real(name, value, owner=owner, **spec)
        self._check_option(name, number)
        if name == 'ema_momentum' and not self.use_ema:
            raise AttributeError(f'{owner}: this optimizer was built with use_ema=False, so it keeps no moving '
                                 f'average whose momentum could change; build it with use_ema=True')
        return number

    def _check_option(self, name, value):
        """Refuse a value of a shared option that this optimizer does not support (L-BFGS: clipping), as its
        constructor does."""

    def _settle(self):
        """A group's learning rate or weight decay assigned as a traced value inside a transformation that has
        ended (a hypergradient) is replaced by the number its State now holds (the transformation wrote it)."""
        hyper = None
        for i, g in enumerate(self._groups):
            for name in ('lr', 'weight_decay'):
                if isinstance(getattr(g, name), jax.core.Tracer):
                    hyper = self.hyperparams.value if hyper is None else hyper
                    value = hyper.get(_hyper_key(name, i))
                    if value is None or isinstance(value, jax.core.Tracer):
                        continue                # (still inside that transformation)
                    number = float(value)
                    if name == 'lr':
                        g.lr, g.source = number, as_schedule(number, type(self).__name__)
                    else:
                        g.weight_decay = number

    def _structure_changed(self, changed=None):
        """Something that a compiled step is built from changed (a schedule replaced, a Quantity lr, the set of
        parameters that decay): every compiled step traces again on its next call (the eager one too). ``changed``
        as for :meth:`_lay_out_hyperparams`."""
        self._structure += 1
        self._lay_out_hyperparams(changed)

    # -- registration ---------------------------------------------------------------------
    def register_trainable_weights(self, states: Any) -> 'Optimizer':
        """Register the States to train (into the first parameter group).

        Parameters
        ----------
        states : dict or pytree of brainstate.State
            What ``model.states(brainstate.ParamState)`` returns (tuple-path
            keys), or any dict / nested dict / list of States. A State's
            value may be an array, a Quantity, or a pytree of them. Calling
            it again adds new weights and keeps every existing accumulator;
            a State registered by an earlier call is ignored (it keeps its
            first path). One State under two paths in one call is an error:
            it would be trained twice per update.

        Returns
        -------
        Optimizer
            ``self``, so that calls can be chained.
        """
        return self._register(states, self._groups[0], 'register_trainable_weights')

    def add_param_group(self, states: Any, *, lr: Optional[LearningRate] = None,
                        weight_decay: Optional[float] = None) -> 'Optimizer':
        """Train more States with their own learning rate (or schedule) and weight decay.

        The group runs this optimizer's rule with every other option of the
        optimizer; only ``lr`` and ``weight_decay`` are its own.

        Parameters
        ----------
        states : dict or pytree of brainstate.State
            As for :meth:`register_trainable_weights`; or torch's form, a dict
            ``{'params': states, 'lr': ..., 'weight_decay': ...}``.
        lr : float, LRScheduler or callable, optional
            The group's learning rate (default: the first group's).
        weight_decay : float, optional
            The group's weight decay (default: the optimizer's), in the
            optimizer's ``weight_decay_mode``.

        Returns
        -------
        Optimizer
            ``self``.

        Examples
        --------
        >>> import brainstate, brainopt, jax.numpy as jnp
        >>> w, b = brainstate.ParamState(jnp.ones(2)), brainstate.ParamState(jnp.ones(2))
        >>> opt = brainopt.SGD(lr=0.1).register_trainable_weights({'w': w})
        >>> opt = opt.add_param_group({'b': b}, lr=0.5)
        >>> _ = opt.update({'w': jnp.ones(2), 'b': jnp.ones(2)})
        >>> [round(float(w.value[0]), 6), round(float(b.value[0]), 6)]
        [0.9, 0.5]
        """
        owner = f'{type(self).__name__}.add_param_group'
        if isinstance(states, Mapping) and 'params' in states and not isinstance(states['params'], brainstate.State):
            unknown = sorted(set(states) - {'params', 'lr', 'weight_decay'})
            if unknown:
                raise ValueError(f"{owner}: a group may set 'lr' and 'weight_decay' only, got {unknown}; "
                                 f"for other hyperparameters build a second optimizer")
            if lr is not None or weight_decay is not None:
                raise TypeError(f"{owner}: give lr and weight_decay either in the dict or as arguments, not both")
            lr, weight_decay, states = states.get('lr'), states.get('weight_decay'), states['params']
        wd = self.weight_decay if weight_decay is None else check.live_real('weight_decay', weight_decay, low=0.,
                                                                           owner=owner)
        index = len(self._groups)
        self._set_lr(self._groups[0].lr if lr is None else lr, index)
        self._groups[index].weight_decay = wd
        try:
            self._register(states, self._groups[index], 'add_param_group')
        except Exception:
            sched = self._groups.pop().source.scheduler      # a failed group leaves its schedule free
            if hasattr(sched, 'detach') and all(g.source.scheduler is not sched for g in self._groups):
                sched.detach()
            raise
        self._lay_out_hyperparams()
        self._reset_compiled()
        return self

    def _register(self, states, group, where):
        w = self._weights
        new = []
        taken = set(w.leaf_names)
        seen = {}                                # id(state) -> its path in this call
        for path, state in registry.flatten_states(states, where=where).items():
            if id(state) in seen:
                raise ValueError(f'{where}: one State is given under two paths, {registry.path_str(seen[id(state)])!r} '
                                 f'and {registry.path_str(path)!r}; it would be trained twice per update. Give each '
                                 f'State once; nothing was registered')
            seen[id(state)] = path
            if id(state) in w.ids:
                if where != 'register_trainable_weights':
                    first = next(e.name for e in w.entries if e.state is state)
                    raise ValueError(f'{where}: the State at {registry.path_str(path)!r} is already registered (as '
                                     f'{first!r}); a State trains in one parameter group only; nothing was registered')
                continue                         # registering a model again: its known States keep their path
            if path in w.by_path:
                raise ValueError(f'{where}: path {registry.path_str(path)!r} is already '
                                 f'registered to another State')
            entry = registry.describe_leaves(path, state)
            clash = taken.intersection(entry.leaves)
            if clash:
                raise ValueError(f'{where}: parameter name(s) {sorted(clash)} are used twice; '
                                 f'give the States distinct paths')
            taken.update(entry.leaves)
            new.append(entry)
        if not new:
            return self
        leaf_units = {n: un for e in new for n, un in zip(e.leaves, e.units)}
        self._check_lr_units(group, leaf_units, where)
        physical = group.source.unit is not None
        for n, un in leaf_units.items():        # a Quantity epsilon must fit every parameter, before anything moves
            self._hyper_numbers(n, units.si_unit(un) if physical and un is not None else un)
        params = registry.read_params(new)
        # with a Quantity lr the rule runs in SI units: slots that start from the parameter start from its SI value
        init_params = {k: jnp.asarray(v) * jnp.asarray(units.si_factor(leaf_units[k]), jnp.result_type(v))
                       for k, v in params.items()} if physical else params
        for s, values in placement.init_accumulators(self, self.rule.init, init_params).items():
            self.slots[s].value = {**self.slots[s].value, **dtypes.cast_floats(values, self.state_dtype)}
        if self.use_ema:
            self.ema.value = {**self.ema.value, **{k: jnp.array(v, copy=True) for k, v in params.items()}}
        if self._accumulating:
            self.grad_accum.value = {**self.grad_accum.value, **accumulation.zeros_like_tree(params)}
        for e in new:
            w.entries.append(e)
            w.by_path[e.path] = e
            w.ids.add(id(e.state))
            w.leaf_names.extend(e.leaves)
            w.prefixes.update(e.path[:i] for i in range(1, len(e.path)))
            group.paths.append(e.name)
            group.leaves.extend(e.leaves)
        self._leaf_units.update(leaf_units)
        self._decay_mask = decay.decay_mask(w.leaf_names, self.weight_decay_exclude)
        self._label_slots()
        return self

    @property
    def param_paths(self):
        """Dotted paths of the registered States, in registration order."""
        return [e.name for e in self._weights.entries]

    # -- the update -----------------------------------------------------------------------
    def update(self, grads: Any) -> UpdateInfo:
        """Apply one step of gradients.

        Parameters
        ----------
        grads : dict
            What ``brainstate.transform.grad(..., grad_states=...)`` returns:
            one gradient per registered State, with the State's structure and
            each array's exact shape.

        Returns
        -------
        UpdateInfo
            The learning rate used, the global gradient norm, whether the
            step was applied and whether the gradients were finite.

        Notes
        -----
        Called eagerly, the whole step runs as one compiled, cached
        computation that donates the optimizer's own buffers: an array
        obtained earlier from one of its States is invalid after the call
        (read it again). An array read from a parameter State stays valid:
        a parameter is donated only where nothing else holds it. Inside ``brainstate.transform.jit``, ``for_loop``
        or ``scan`` it is traced into the caller's computation.
        """
        w = self._weights
        own = self._ownership
        self._check_registered()
        params, fresh, traced = own.read(w.entries)     # (a list, in the order of w.leaf_names)
        state, hyper = self._read_memory()
        sched = [g.source.values() for g in self._groups]
        flat, treedef, matched = self._flat_grads(grads)
        if traced or type(state['step']) is not _eager._ArrayImpl or (any(sched) and _is_traced(sched)) or \
                (matched is not None and any(issubclass(t, jax.core.Tracer) for t in set(map(type, flat)))) or \
                not set(map(type, hyper.values())) <= _eager._ARRAY:      # (a traced lr: a hypergradient)
            # inside a transformation (matched None: every leaf is a concrete array)
            del flat
            new_params, new_state, info = self._pure_step(dict(zip(w.leaf_names, params)), self._match(grads),
                                                          state, sched, hyper)
            registry.write_params(w.entries, new_params)
            self._write_state(new_state)
            return info
        if matched is None:
            matched = False
        elif not matched and not registry.known_layout(w.grad_layouts, treedef, flat, len(w.entries)):
            self._match(grads)     # checked before anything is compiled (an error names the path); layout noted
        elif not matched and type(grads) is dict and len(grads) == len(flat) and \
                all(map(operator.is_, flat, grads.values())):
            w.last_flat = (tuple(grads), treedef, len(w.entries))
        new_params, new_state, info, lr_ok = self._compiled(own.donatable(w.entries, params, fresh), flat, treedef,
                                                            state, sched, matched, hyper)
        del params, flat
        if isinstance(new_state['step'], jax.core.Tracer):  # (then every output is one) inside a raw jax.jit:
            registry.write_params(w.entries, dict(zip(w.leaf_names, new_params)))   # refused with brainstate's reason
        values = own.values(w.entries, new_params)
        del new_params       # (Ownership counts references: this list holds the new values, and nothing else here)
        own.write(w.entries, values)
        del values
        self._write_state(new_state, eager=True)
        if lr_ok is not None and not bool(lr_ok):
            raise self._bad_lr_error()       # the step left everything as it was
        reductions = _eager.Deferred(functools.partial(self._grad_info, grads, hyper))
        return info._replace(
            grad_norm=_eager.Deferred(lambda: reductions.value[0]),
            finite=info.finite if info.finite is not None else _eager.Deferred(lambda: reductions.value[1]))

    def _flat_grads(self, grads):
        """``(flat, treedef, matched)``: the gradients flattened as jax does (``matched`` False), or, for dict keys
        that jax cannot sort, matched by name first (True). ``matched`` is None when they are a flat dict with the
        keys and the order of a call's whose layout was known, and concrete arrays for values: jax would flatten them
        to the list of values (a training loop's gradients: no tree walk). Their shapes and dtypes are not compared
        here: the compiled step's signature does that, and one it has not seen traces it again, where
        :meth:`_match` checks them."""
        last = self._weights.last_flat
        if last is not None and type(grads) is dict:
            values = list(grads.values())
            if set(map(type, values)) <= _eager._ARRAY and tuple(grads) == last[0] and \
                    len(self._weights.entries) == last[2]:
                return values, last[1], None
        try:
            flat, treedef = jax.tree_util.tree_flatten(grads)
            return flat, treedef, False
        except Exception:  # noqa: BLE001 - dict keys that jax cannot sort: matched here, by name
            flat, treedef = jax.tree_util.tree_flatten(self._match(grads))
            return flat, treedef, True

    def _eager_step(self, params, flat_grads, treedef, state, sched, matched=False, hyper=None):
        """The eager path's compiled step (``params``: a list in the order of the leaf names). It takes the
        gradients as the caller gave them (flattened) and matches them to the parameters while it is traced: a call
        whose gradients have the structure, shapes and dtypes of an earlier one does nothing in Python for them (jax
        checks its signature), and any other traces again, where :meth:`_match` checks them. ``matched``: the
        gradients are already ``{leaf name: array}``."""
        grads = treedef.unflatten(flat_grads)
        names = self._weights.leaf_names      # (registration only appends: the first len(params) are these)
        new_params, *rest = self._pure_step(dict(zip(names, params)), grads if matched else self._match(grads),
                                            state, sched, hyper, info=False, guard=True)
        return [new_params[n] for n in names[:len(params)]], *rest

    def _check_registered(self):
        if not self._weights.entries:
            raise RuntimeError(f'{type(self).__name__}.update was called before register_trainable_weights; '
                               f'call opt.register_trainable_weights(model.states(brainstate.ParamState)) first')

    def _match(self, grads):
        """The gradients matched to the registered parameters, ``{leaf name: array}`` (every mismatch is an error
        naming its path)."""
        w = self._weights
        return registry.match_grads(w.entries, w.by_path, w.prefixes, grads, cache=w.grad_layouts)

    def _matched(self, grads):
        """The gradients matched to the registered parameters, and the parameters' current values."""
        self._check_registered()
        return self._match(grads), registry.read_params(self._weights.entries)

    def _grad_norm_finite(self, grads, hyper):
        """UpdateInfo's ``grad_norm`` and ``finite`` of these gradients (after loss scaling)."""
        grads = loss_scale.unscale(grads, hyper.get('loss_scale_factor'))
        return clipping.global_norm(grads), clipping.all_finite(grads)

    def step(self, grads: Any, **kwargs: Any) -> UpdateInfo:
        """:meth:`update` under braintools.optim's other name (``opt.step(grads)``)."""
        return self.update(grads, **kwargs)

    def _memory(self):
        """``(keys, access)``: the optimizer's States in the order of :meth:`_read_state` (the step count, the
        slots, then the optional ones under ``keys``), read and written through one StateAccess."""
        if self._memory_access is None:
            extra = [('ema', 'ema')] if self.use_ema else []
            if self._accumulating:
                extra += [('acc', 'grad_accum'), ('acc_count', 'accum_count')]
            if self.skip_nonfinite:
                extra.append(('skipped', 'skipped_steps'))
            states = [self.step_count, *self.slots.values(), *(getattr(self, a) for _, a in extra)]
            # read with the hyperparameters (last), written without them: no step writes them
            self._memory_access = (tuple(k for k, _ in extra), _fastpath.StateAccess(states + [self.hyperparams]),
                                   _fastpath.StateAccess(states))
        return self._memory_access

    def _read_memory(self):
        """``(state, hyper)``: the optimizer's memory as the step takes it, and the values of :attr:`hyperparams`
        (which the step reads and never writes)."""
        keys, access, _ = self._memory()
        values = access.read()
        n = len(self.slots) + 1
        state = {'step': values[0], 'slots': dict(zip(self.slots, values[1:n]))}
        state.update(zip(keys, values[n:-1]))
        return state, values[-1]

    def _read_state(self) -> Dict[str, Any]:
        return self._read_memory()[0]

    def _write_state(self, state, eager=False):
        """Write the optimizer's States; ``eager``: the values are concrete arrays that the compiled step returned,
        so the fast writer may store them (it never checks for tracers)."""
        keys, _, access = self._memory()
        values = [state['step'], *map(state['slots'].__getitem__, self.slots), *map(state.__getitem__, keys)]
        if eager:
            access.write(values)
        else:
            for st, v in zip(access.states, values):
                st.value = v

    def _pure_step(self, params, grads, state, sched=None, hyper=None, info=True, guard=False):
        """The whole update as a pure function of arrays: the one builder.

        ``sched`` holds, per parameter group, the values of its schedule's own
        States (a per-epoch schedule's epoch), and ``hyper`` the values of
        :attr:`hyperparams` (the learning rates and weight decays that are
        numbers); the step reads them and never writes them. With ``info=False`` the returned UpdateInfo holds None
        for ``grad_norm`` (and for ``finite`` unless ``skip_nonfinite`` needs
        it): the eager path computes them only when read.

        A learning rate computed by user code (``LRSource.user_code``) that is
        not a finite number >= 0 makes ``finite`` False, so that
        ``skip_nonfinite`` skips the step. With ``guard=True`` (the eager path)
        such a step changes nothing at all, and a fourth value says whether
        the rates were good (None when no rate comes from user code): the
        caller raises.
        """
        count = state['step']
        if sched is None:
            sched = [{} for _ in self._groups]
        if hyper is None:
            hyper = self.hyperparams.value
        lr_count = self._lr_count(count, state['acc_count']) if self._accumulating else count
        lrs = self._group_lrs(lr_count, sched, hyper)
        lr = lrs[0]
        lr_ok = self._lr_ok(lrs)
        grads = loss_scale.unscale(grads, hyper.get('loss_scale_factor'))
        grad_norm = clipping.global_norm(grads) if info else None
        finite = clipping.all_finite(grads) if info or self.skip_nonfinite else None
        if finite is not None and lr_ok is not None:
            finite = jnp.logical_and(finite, lr_ok)

        def apply(g, state):
            g = self._clip(g, hyper)
            p = params
            deltas, slots = {}, {s: {} for s in state['slots']}
            for index, (group, group_lr) in enumerate(zip(self._groups, lrs)):
                if not group.leaves:
                    continue
                one = len(self._groups) == 1
                sub = (lambda d: d) if one else (lambda d: {k: d[k] for k in group.leaves})  # noqa: E731
                gg, pp = sub(g), sub(params)
                wd = hyper.get(_hyper_key('weight_decay', index), 0.0)
                plan = decay.Plan(self.weight_decay_mode,
                                  decay.coefficients(group.leaves, self._group_decay(group, wd), self._decay_mask))
                pp, base = plan.before_rule(pp, group_lr)
                p = {**p, **base}
                physical = group.source.unit is not None
                if physical:
                    # a physical lr: the rule runs in SI units, so that the same physical fit takes the same steps
                    # whether a parameter is stored in mV or in V; only the step is converted back
                    c = {k: units.si_factor(self._leaf_units[k]) for k in gg}
                    gg = {k: v / jnp.asarray(c[k], v.dtype) for k, v in gg.items()}
                    pp = {k: v * jnp.asarray(c[k], v.dtype) for k, v in pp.items()}
                gg = plan.coupled(gg, pp)
                slots_in = {s: sub(v) for s, v in state['slots'].items()}
                if self.state_dtype is not None:     # the rule computes in the wider of parameter and state dtype
                    gg, pp, slots_in = dtypes.widen(gg, pp, slots_in, self.state_dtype)
                d, sl = self._rule_update(gg, pp, slots_in, count, group_lr, physical, plan, hyper)
                if physical:
                    d = {k: v / jnp.asarray(c[k], v.dtype) for k, v in d.items()}
                d = plan.after_rule(sub(params), d, group_lr)
                deltas.update(d)
                for s_name, v in sl.items():
                    slots[s_name].update(v)
            p = {k: p[k] + deltas[k].astype(p[k].dtype) for k in p}
            for values in slots.values():
                for k, v in values.items():
                    if isinstance(v, AfterParam):
                        values[k] = v.fn(p[k])
            if self.state_dtype is not None:
                slots = {s_name: dtypes.cast_floats(v, self.state_dtype) for s_name, v in slots.items()}
            state = dict(state, slots=slots, step=count + 1)
            if self.use_ema and not ema_every_call:
                p, state = self._ema(p, state, count, hyper)
            return p, state, jnp.asarray(True)

        # Keras (count_calls): with accumulation the EMA moves, and may overwrite, on every call
        ema_every_call = self.use_ema and self.count_calls and self._accumulating

        def on_finite():
            if not self._accumulating:
                return apply(grads, state)
            acc, acc_count, ready = accumulation.accumulate(
                state['acc'], grads, state['acc_count'], self.gradient_accumulation_steps)

            def release():
                p, s, applied = apply(accumulation.mean(acc, self.gradient_accumulation_steps), state)
                return p, dict(s, acc=accumulation.zeros_like_tree(acc), acc_count=jnp.zeros_like(acc_count)), applied

            def hold():
                return params, dict(state, acc=acc, acc_count=acc_count), jnp.asarray(False)

            p, s, applied = jax.lax.cond(ready, release, hold)
            if ema_every_call:
                p, s = self._ema(p, s, count, hyper)
            return p, s, applied

        def run():
            if self.skip_nonfinite:
                return jax.lax.cond(finite, on_finite, lambda: self._skipped(params, state))
            return on_finite()

        if guard and lr_ok is not None:
            new_params, new_state, applied = jax.lax.cond(lr_ok, run, lambda: (params, state, jnp.asarray(False)))
        else:
            new_params, new_state, applied = run()
        new_params, new_state = placement.constrain(self, new_params, new_state)     # ZeRO-1 only
        out = UpdateInfo(lr=lr, grad_norm=grad_norm, applied=applied, finite=finite)
        return (new_params, new_state, out, lr_ok) if guard else (new_params, new_state, out)

    def _lr_ok(self, lrs):
        """Whether every rate computed by user code (a callable, a schedule that calls one) is a finite number
        >= 0; None when no group's rate comes from user code (floats and brainopt's schedules are checked at
        construction)."""
        checked = [x for g, x in zip(self._groups, lrs) if g.source.user_code]
        if not checked:
            return None
        return functools.reduce(jnp.logical_and, [jnp.isfinite(x) & (x >= 0) for x in checked])

    def _bad_lr_error(self):
        """The error of an eager update whose rate from user code was negative or not finite (the rates
        recomputed here, outside the step, to name the group and the value)."""
        self._settle()
        owner = type(self).__name__
        lr_count = self._lr_count_now()
        found = []
        for i, g in enumerate(self._groups):
            if g.source.user_code:
                v = float(g.source(lr_count))
                if not (v == v and abs(v) != float('inf') and v >= 0):
                    found.append(f"{'lr' if len(self._groups) == 1 else f'the lr of parameter group {i}'} "
                                 f"({describe(g.lr)}) gave {v:g} at step {int(lr_count)}")
        what = '; '.join(found) or 'a learning rate from user code was negative or not finite'
        return ValueError(f'{owner}.update: {what}; a learning rate must be a finite number >= 0. The update was '
                          f'not applied: the parameters and the optimizer state are unchanged')

    def _group_lrs(self, lr_count, sched, hyper):
        """Each parameter group's learning rate in the step: the number in ``hyper`` (the State's current value),
        or its schedule's (or callable's) rate at ``lr_count``."""
        return [hyper[_hyper_key('lr', i)] if g.source.number is not None else g.source(lr_count, v)
                for i, (g, v) in enumerate(zip(self._groups, sched))]

    def _group_decay(self, group, wd):
        """The weight decay coefficient of a parameter group for the engine's modes, given ``wd``, the group's
        coefficient as the step reads it (an array, or 0.0): that, or a dict ``{leaf name: coefficient}`` where a
        dialect decays its leaves differently (``brainopt.keras.Muon``)."""
        return wd

    @staticmethod
    def _skipped(params, state):
        """What a step skipped by ``skip_nonfinite`` leaves: the parameters and the state as they were, one more
        skipped step counted, and ``applied`` False."""
        return params, dict(state, skipped=state['skipped'] + 1), jnp.asarray(False)

    def _ema(self, p, state, count, hyper):
        """Move the EMA towards ``p``; overwrite ``p`` with it every ``ema_overwrite_frequency`` updates."""
        state = dict(state, ema=ema.ema_update(state['ema'], p, hyper['ema_momentum'], count))
        if self.ema_overwrite_frequency is not None:
            p = ema.ema_overwrite(p, state['ema'], self.ema_overwrite_frequency, count)
        return p, state

    @staticmethod
    def _clip(grads, hyper):
        """Clipping by each parameter's norm, the global norm, then by value, with the thresholds the step reads
        (``hyper``: present while not None)."""
        if 'grad_clip_norm_per_param' in hyper:
            grads = clipping.clip_by_param_norm(grads, hyper['grad_clip_norm_per_param'])
        if 'grad_clip_norm' in hyper:
            grads = clipping.clip_by_global_norm(grads, hyper['grad_clip_norm'])
        if 'grad_clip_value' in hyper:
            grads = clipping.clip_by_value(grads, hyper['grad_clip_value'])
        return grads

    def shard_accumulators(self, mesh, axis='data'):
        """Split every accumulator along the data-parallel mesh axis ``axis`` (ZeRO stage 1): see
        :func:`brainopt.sharding.shard_accumulators`. Returns ``self``."""
        return placement.shard_accumulators(self, mesh, axis)


    def _group_of(self, leaf):
        return next(g for g in self._groups if leaf in g.leaves)

    def _entry(self, path):
        w = self._weights
        key = registry.path_str(path) if isinstance(path, tuple) else str(path)
        for e in w.entries:
            if e.name == key:
                return e
        raise KeyError(f'no registered parameter at path {key!r}; registered paths: {self.param_paths}')


    def __repr__(self):
        args = [f'lr={describe(self.lr)}'] + [f'{k}={self._quantity_hypers.get(k, v)!r}'
                                              for k, v in self.rule.config().items()]
        shared = inspect.signature(Optimizer.__init__).parameters
        args += [f'{k}={getattr(self, k)!r}' for k, p in shared.items()
                 if p.kind is p.KEYWORD_ONLY and k != 'name' and getattr(self, k) != p.default]
        return f'{type(self).__name__}({", ".join(args)})'


show_signature(Optimizer)
show_signature(OptimState)
