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
import contextlib
import functools
import inspect
import re
from collections.abc import Mapping
from typing import Any, Dict, NamedTuple, Optional

import brainstate
import jax
import jax.numpy as jnp

from . import _registry as registry
from . import _validate as check
from . import units
from .rules.base import Rule
from .transforms import accumulation, clipping, ema
from .transforms import weight_decay as decay
from .transforms.lr import as_schedule, describe

__all__ = ['Optimizer', 'OptimState', 'UpdateInfo']


class OptimState(brainstate.LongTermState):
    """A State that holds optimizer memory (accumulators, step counts, EMA weights)."""


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
        True when every gradient element was finite.
    """
    lr: Any
    grad_norm: Any
    applied: Any
    finite: Any


SHARED_OPTIONS_DOC = """
    lr : float, LRScheduler or callable
        Learning rate: a non-negative float, an :class:`brainopt.LRScheduler`,
        or any callable of the step count (an optax schedule works). It is
        evaluated inside the compiled step with the number of updates applied
        before this one (0 on the first).
    weight_decay : float, default 0.0
        Weight decay coefficient. Its meaning is set by ``weight_decay_mode``.
    weight_decay_mode : {'coupled', 'decoupled'}, default 'coupled'
        ``'coupled'`` adds ``weight_decay * p`` to the gradient before the
        rule (L2 penalty; torch.optim and braintools). ``'decoupled'``
        shrinks the weights by ``p * weight_decay * lr`` beside the rule
        (Keras and AdamW).
    weight_decay_exclude : str, sequence of str, or callable, optional
        Parameters that do not decay: regular expressions searched in the
        dotted parameter path (``'bias'``), or a predicate of the path that
        returns True to exclude.
    grad_clip_value : float, optional
        Clip every gradient element into ``[-v, v]`` (Keras ``clipvalue``).
    grad_clip_norm : float, optional
        Clip the global L2 norm over all gradients (braintools
        ``grad_clip_norm``, Keras ``global_clipnorm``, torch
        ``clip_grad_norm_``). Non-finite elements are left out of the norm.
    grad_clip_norm_per_param : float, optional
        Clip each parameter's own gradient norm (Keras ``clipnorm``).
    use_ema : bool, default False
        Keep an exponential moving average of the parameters (Keras).
    ema_momentum : float, default 0.99
        ``avg = m * avg + (1 - m) * p``; the first applied update sets
        ``avg = p``.
    ema_overwrite_frequency : int, optional
        Every this many applied updates, overwrite the parameters with their
        average. Otherwise call :meth:`copy_ema_to_params` at the end, or
        evaluate inside ``with opt.ema_weights():``.
    loss_scale_factor : float, optional
        Gradients are divided by it before anything else.
    gradient_accumulation_steps : int, optional
        ``k`` calls of :meth:`update` accumulate; the k-th applies their mean
        once. In between, the parameters, the rule's slots, the step count
        and the EMA do not move, and the rule does not run. The step count
        that schedules and EMA see counts applied updates, not calls.
    skip_nonfinite : bool, default False
        If a gradient holds NaN or Inf, skip the whole call: nothing moves
        and ``skipped_steps`` counts it. Off, such a step is applied as
        computed, and ``update``'s result reports ``finite=False``.
    name : str, optional
        Prefix of the optimizer's State names (default: the class name).
"""


def with_shared_options(cls):
    """Put the shared options' documentation in place of ``{shared_options}`` in a class docstring
    (without its ``lr`` entry when the class documents ``lr`` itself)."""
    if cls.__doc__ and '{shared_options}' in cls.__doc__:
        text = SHARED_OPTIONS_DOC.strip('\n')
        if re.search(r'^\s*lr : ', cls.__doc__.split('{shared_options}')[0], re.M):
            text = text[text.index('    weight_decay : '):]
        cls.__doc__ = cls.__doc__.replace('{shared_options}', text)
    return cls


def _is_traced(*trees):
    return any(isinstance(x, jax.core.Tracer) for t in trees for x in jax.tree.leaves(t))


class _Group:
    """A parameter group: its learning rate (and schedule) and its weight decay."""

    def __init__(self, source, lr, weight_decay):
        self.source, self.lr, self.weight_decay = source, lr, weight_decay
        self.paths = []          # dotted paths of its States
        self.leaves = []         # dotted names of its arrays


class _Weights:
    """The registered parameters; a plain object, so that ``brainstate.graph``
    does not list the model's States among the optimizer's."""

    def __init__(self):
        self.entries = []
        self.by_path = {}
        self.ids = set()
        self.prefixes = set()
        self.leaf_names = []


@with_shared_options
class Optimizer(brainstate.graph.Node):
    """An update rule composed with every shared feature, on brainstate States.

    Subclasses (:class:`brainopt.Adadelta`, :class:`brainopt.Adagrad`, ...)
    only choose the :class:`brainopt.rules.Rule`.

    Parameters
    ----------
    rule : Rule
        The update rule.
    {shared_options}
    """

    def __init__(
        self,
        rule: Rule,
        lr=1e-3,
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
        name: Optional[str] = None,
    ):
        owner = type(self).__name__
        if not isinstance(rule, Rule):
            raise TypeError(f'{owner}: rule must be a brainopt.rules.Rule, got {type(rule).__name__}')
        self.rule = rule
        self._groups = []
        self._set_lr(lr, 0)
        self.weight_decay = check.real('weight_decay', weight_decay, low=0., owner=owner)
        self._groups[0].weight_decay = self.weight_decay
        if weight_decay_mode not in decay.MODES:
            raise ValueError(f"{owner}: weight_decay_mode must be 'coupled' or 'decoupled', got {weight_decay_mode!r}")
        self.weight_decay_mode = weight_decay_mode
        if not (weight_decay_exclude is None or callable(weight_decay_exclude) or isinstance(weight_decay_exclude, str)
                or all(isinstance(p, str) for p in weight_decay_exclude)):
            raise TypeError(f'{owner}: weight_decay_exclude must be a pattern string, a sequence of them, '
                            f'or a predicate of the parameter path, got {weight_decay_exclude!r}')
        self.weight_decay_exclude = weight_decay_exclude
        self.grad_clip_value = check.optional_real('grad_clip_value', grad_clip_value, low=0., low_open=True, owner=owner)
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
        self.name = owner if name is None else str(name)

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

        self._weights = _Weights()
        self._leaf_units = {}
        self._decay_mask = frozenset()
        self._reset_compiled()

    @property
    def _accumulating(self):
        return self.gradient_accumulation_steps is not None and self.gradient_accumulation_steps > 1

    # -- learning rate ------------------------------------------------------------------
    @property
    def lr(self):
        """The learning rate as given: a float, a schedule or a callable (of the first group)."""
        return self._groups[0].lr

    @lr.setter
    def lr(self, value):
        self.set_lr(value)

    def set_lr(self, value, group: int = 0):
        """Replace the learning rate (a float, a schedule or a callable) of one parameter group."""
        if not (isinstance(group, int) and 0 <= group < len(self._groups)):
            raise IndexError(f'{type(self).__name__}.set_lr: group must be an index below {len(self._groups)}, '
                             f'got {group!r}')
        self._set_lr(value, group)
        self._reset_compiled()

    @property
    def _schedule(self):
        return self._groups[0].source

    def _set_lr(self, value, group):
        source = as_schedule(value, type(self).__name__)
        if source.unit is not None and group < len(self._groups):
            probe = _Group(source, value, self._groups[group].weight_decay)
            self._check_lr_units(probe, {n: self._leaf_units[n] for n in self._groups[group].leaves}, 'lr')
        if source.scheduler is not None and hasattr(source.scheduler, 'attach'):
            source.scheduler.attach(self)        # one schedule drives one optimizer (an error otherwise)
        if group == len(self._groups):
            self._groups.append(_Group(source, value, self._groups[0].weight_decay if self._groups else 0.0))
            return
        old = self._groups[group].source.scheduler
        self._groups[group].source, self._groups[group].lr = source, value
        if old is not None and old is not source.scheduler and hasattr(old, 'detach') and \
                all(g.source.scheduler is not old for g in self._groups):
            old.detach()

    def _reset_compiled(self):
        # the eager path: one cached computation that donates the optimizer's own buffers (argument 2)
        self._compiled = jax.jit(self._pure_step, donate_argnums=(2,))

    def _check_lr_units(self, group, leaf_units, where):
        """A Quantity lr must give every parameter of its group a step in the parameter's own unit."""
        unit = group.source.unit
        if unit is None:
            return
        owner = type(self).__name__
        exponents = getattr(self.rule, 'lr_unit', None)
        if exponents is None:
            raise TypeError(f'{owner}: {type(self.rule).__name__} does not declare the dimension of its learning '
                            f'rate, so a Quantity lr ({describe(group.lr)}) cannot be checked; give a float')
        if group.weight_decay and self.weight_decay_mode == 'decoupled' and not unit.is_unitless:
            raise ValueError(f'{owner}: decoupled weight decay shrinks p by p * weight_decay * lr, which needs a '
                             f'dimensionless lr; got lr in {unit}')
        for name, p_unit in leaf_units.items():
            want = units.expected_lr_unit(exponents, p_unit)
            ok = unit.is_unitless if want is None else unit.has_same_dim(want)
            if not ok:
                raise ValueError(
                    f'{owner}.{where}: the learning rate {describe(group.lr)} does not fit parameter {name!r} in '
                    f'{p_unit if p_unit is not None else "no unit"}: {type(self.rule).__name__} needs an lr '
                    f'{"in " + str(want) + " (or another unit of that dimension)" if want is not None else "without dimension"}'
                    f' so that the step is in the parameter\'s unit')

    @property
    def current_lr(self):
        """The learning rate that the next update applies (of the first group)."""
        return self._schedule(self.step_count.value, self._schedule.values())

    @property
    def param_groups(self):
        """The parameter groups, each ``{'params': [paths], 'lr': ..., 'weight_decay': ...}`` (a copy).

        Group 0 holds what :meth:`register_trainable_weights` registered;
        :meth:`add_param_group` adds the others. Change a group's learning rate
        with :meth:`set_lr`.
        """
        return [{'params': list(g.paths), 'lr': g.lr, 'weight_decay': g.weight_decay} for g in self._groups]

    # -- registration ---------------------------------------------------------------------
    def register_trainable_weights(self, states):
        """Register the States to train (into the first parameter group).

        Parameters
        ----------
        states : dict or pytree of brainstate.State
            What ``model.states(brainstate.ParamState)`` returns (tuple-path
            keys), or any dict / nested dict / list of States. A State's
            value may be an array, a Quantity, or a pytree of them. Calling
            it again adds new weights and keeps every existing accumulator;
            a State already registered is ignored.

        Returns
        -------
        Optimizer
            ``self``, so that calls can be chained.
        """
        return self._register(states, self._groups[0], 'register_trainable_weights')

    def add_param_group(self, states, *, lr=None, weight_decay=None):
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
        wd = self.weight_decay if weight_decay is None else check.real('weight_decay', weight_decay, low=0.,
                                                                      owner=owner)
        index = len(self._groups)
        self._set_lr(self._groups[0].lr if lr is None else lr, index)
        self._groups[index].weight_decay = wd
        try:
            self._register(states, self._groups[index], 'add_param_group')
        except Exception:
            self._groups.pop()
            raise
        self._reset_compiled()
        return self

    def _register(self, states, group, where):
        w = self._weights
        new = []
        taken = set(w.leaf_names)
        for path, state in registry.flatten_states(states, where=where).items():
            if id(state) in w.ids:
                continue
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
        params = registry.read_params(new)
        for s, values in self.rule.init(params).items():
            self.slots[s].value = {**self.slots[s].value, **values}
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
        return self

    @property
    def param_paths(self):
        """Dotted paths of the registered States, in registration order."""
        return [e.name for e in self._weights.entries]

    # -- the update -----------------------------------------------------------------------
    def update(self, grads) -> UpdateInfo:
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
        (read it again). Inside ``brainstate.transform.jit``, ``for_loop``
        or ``scan`` it is traced into the caller's computation.
        """
        w = self._weights
        if not w.entries:
            raise RuntimeError(f'{type(self).__name__}.update was called before register_trainable_weights; '
                               f'call opt.register_trainable_weights(model.states(brainstate.ParamState)) first')
        g = registry.match_grads(w.entries, w.by_path, w.prefixes, grads)
        params = registry.read_params(w.entries)
        state = self._read_state()
        sched = [g.source.values() for g in self._groups]
        step = self._pure_step if _is_traced(g, params, state, sched) else self._compiled
        new_params, new_state, info = step(params, g, state, sched)
        registry.write_params(w.entries, new_params)
        self._write_state(new_state)
        return info

    def _read_state(self) -> Dict[str, Any]:
        state = {'step': self.step_count.value, 'slots': {s: st.value for s, st in self.slots.items()}}
        if self.use_ema:
            state['ema'] = self.ema.value
        if self._accumulating:
            state['acc'] = self.grad_accum.value
            state['acc_count'] = self.accum_count.value
        if self.skip_nonfinite:
            state['skipped'] = self.skipped_steps.value
        return state

    def _write_state(self, state):
        self.step_count.value = state['step']
        for s, st in self.slots.items():
            st.value = state['slots'][s]
        if self.use_ema:
            self.ema.value = state['ema']
        if self._accumulating:
            self.grad_accum.value = state['acc']
            self.accum_count.value = state['acc_count']
        if self.skip_nonfinite:
            self.skipped_steps.value = state['skipped']

    def _pure_step(self, params, grads, state, sched=None):
        """The whole update as a pure function of arrays: the one builder.

        ``sched`` holds, per parameter group, the values of its schedule's own
        States (a per-epoch schedule's epoch); the step reads them and never
        writes them.
        """
        count = state['step']
        if sched is None:
            sched = [{} for _ in self._groups]
        lrs = [g.source(count, v) for g, v in zip(self._groups, sched)]
        lr = lrs[0]
        if self.loss_scale_factor is not None:
            grads = {k: g / jnp.asarray(self.loss_scale_factor, g.dtype) for k, g in grads.items()}
        grad_norm = clipping.global_norm(grads)
        finite = functools.reduce(jnp.logical_and, [jnp.all(jnp.isfinite(g)) for g in grads.values()])

        def apply(g, state):
            g = self._clip(g)
            p = params
            deltas, slots = {}, {s: {} for s in state['slots']}
            for group, group_lr in zip(self._groups, lrs):
                if not group.leaves:
                    continue
                one = len(self._groups) == 1
                sub = (lambda d: d) if one else (lambda d: {k: d[k] for k in group.leaves})  # noqa: E731
                gg, pp = sub(g), sub(params)
                mask = self._decay_mask if one else self._decay_mask.intersection(group.leaves)
                if group.weight_decay and self.weight_decay_mode == 'decoupled':
                    p = {**p, **decay.apply_decoupled(pp, group.weight_decay, group_lr, mask)}
                physical = group.source.unit is not None
                if physical:
                    # a physical lr: the rule runs in SI units, so that the same physical fit takes the same steps
                    # whether a parameter is stored in mV or in V; only the step is converted back
                    c = {k: units.si_factor(self._leaf_units[k]) for k in gg}
                    gg = {k: v / jnp.asarray(c[k], v.dtype) for k, v in gg.items()}
                    pp = {k: v * jnp.asarray(c[k], v.dtype) for k, v in pp.items()}
                if group.weight_decay and self.weight_decay_mode == 'coupled':
                    gg = decay.add_coupled(gg, pp, group.weight_decay, mask)
                d, sl = self.rule.update(gg, pp, {s: sub(v) for s, v in state['slots'].items()}, count, group_lr)
                if physical:
                    d = {k: v / jnp.asarray(c[k], v.dtype) for k, v in d.items()}
                deltas.update(d)
                for s_name, v in sl.items():
                    slots[s_name].update(v)
            p = {k: p[k] + deltas[k].astype(p[k].dtype) for k in p}
            state = dict(state, slots=slots, step=count + 1)
            if self.use_ema:
                state['ema'] = ema.ema_update(state['ema'], p, self.ema_momentum, count)
                if self.ema_overwrite_frequency is not None:
                    p = ema.ema_overwrite(p, state['ema'], self.ema_overwrite_frequency, count)
            return p, state, jnp.asarray(True)

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

            return jax.lax.cond(ready, release, hold)

        if self.skip_nonfinite:
            def skip():
                return params, dict(state, skipped=state['skipped'] + 1), jnp.asarray(False)

            new_params, new_state, applied = jax.lax.cond(finite, on_finite, skip)
        else:
            new_params, new_state, applied = on_finite()
        return new_params, new_state, UpdateInfo(lr=lr, grad_norm=grad_norm, applied=applied, finite=finite)

    def _clip(self, grads):
        if self.grad_clip_norm_per_param is not None:
            grads = clipping.clip_by_param_norm(grads, self.grad_clip_norm_per_param)
        if self.grad_clip_norm is not None:
            grads = clipping.clip_by_global_norm(grads, self.grad_clip_norm)
        if self.grad_clip_value is not None:
            grads = clipping.clip_by_value(grads, self.grad_clip_value)
        return grads

    # -- reading the optimizer's memory ---------------------------------------------------
    def get_slot(self, slot: str, path):
        """One parameter's accumulator, with the structure of its State's value.

        Parameters
        ----------
        slot : str
            A slot of the rule (``opt.rule.slots``), or ``'ema'``, or
            ``'grad_accum'`` when those features are on.
        path : tuple or str
            The parameter's path as registered (``('l1', 'weight')``) or dotted
            (``'l1.weight'``).

        Returns
        -------
        The accumulator, as a ``brainunit.Quantity`` in its true unit for a
        parameter with a unit (a second moment of a threshold in mV is in
        ``1/mV^2``: the gradient of a dimensionless loss is in ``1/mV``; in
        SI units when the group's lr is a Quantity, since the rule then runs
        in SI units). A slot whose rule does not declare its unit
        (``Rule.slot_units``) comes back as plain numbers.
        """
        entry = self._entry(path)
        stores = {**self.slots, **({'ema': self.ema} if self.use_ema else {}),
                  **({'grad_accum': self.grad_accum} if self._accumulating else {})}
        if slot not in stores:
            raise KeyError(f'{type(self).__name__} has no slot {slot!r}; its slots are {sorted(stores)}')
        values = stores[slot].value
        exponents = {'ema': (1, 0), 'grad_accum': (0, 1)}.get(slot, self.rule.slot_units.get(slot))
        leaves = []
        for n in entry.leaves:
            p_unit = self._leaf_units.get(n)
            if p_unit is not None and exponents is not None and slot in self.rule.slots and \
                    self._group_of(n).source.unit is not None:
                p_unit = units.si_unit(p_unit)       # the rule ran in SI units
            unit = None if exponents is None else units.power(p_unit, exponents[0] - exponents[1])
            leaves.append(units.merge(values[n], unit))
        return jax.tree.unflatten(entry.treedef, leaves)

    def _group_of(self, leaf):
        return next(g for g in self._groups if leaf in g.leaves)

    def _entry(self, path):
        w = self._weights
        key = registry.path_str(path) if isinstance(path, tuple) else str(path)
        for e in w.entries:
            if e.name == key:
                return e
        raise KeyError(f'no registered parameter at path {key!r}; registered paths: {self.param_paths}')

    # -- checkpoints ------------------------------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        """Everything this optimizer needs to continue, as a nested dict of host numpy arrays.

        Keys: ``'optimizer'`` (the class name), ``'step_count'``, ``'slots'``
        (``{slot: {parameter path: array}}``), and when those features are on
        ``'ema'``, ``'grad_accum'`` and ``'accum_count'``, ``'skipped_steps'``,
        ``'schedule'`` (the schedule's own state) and ``'lr'`` (a constant
        learning rate). The arrays are copies: later updates do not change
        them. It is a plain pytree, for any pytree checkpointer.
        """
        from . import checkpoint
        return checkpoint.optimizer_state_dict(self)

    def load_state_dict(self, state_dict) -> None:
        """Load what :meth:`state_dict` returned, into an optimizer with the same
        registered parameter paths.

        Everything is checked before anything is written: a different
        optimizer type, a missing or unknown parameter path, a shape or dtype
        mismatch or a feature switched on in one and off in the other raises
        :class:`brainopt.CheckpointError`, and the optimizer is unchanged.
        """
        from . import checkpoint
        checkpoint.load_optimizer_state_dict(self, state_dict)

    def save_states(self, filename) -> None:
        """Save :meth:`state_dict` to a file (brainpy's name; see :func:`brainopt.save_checkpoint`)."""
        from . import checkpoint
        checkpoint.save_checkpoint(filename, optimizer=self)

    def load_states(self, filename) -> None:
        """Load a file written by :meth:`save_states` or :func:`brainopt.save_checkpoint`."""
        from . import checkpoint
        checkpoint.load_checkpoint(filename, optimizer=self)

    # -- EMA --------------------------------------------------------------------------------
    def _require_ema(self, what):
        if not self.use_ema:
            raise RuntimeError(f'{type(self).__name__}.{what} needs use_ema=True')

    def copy_ema_to_params(self):
        """Overwrite the parameters with their moving averages (Keras's
        ``finalize_variable_values``)."""
        self._require_ema('copy_ema_to_params')
        registry.write_params(self._weights.entries, {k: jnp.array(v, copy=True) for k, v in self.ema.value.items()})

    @contextlib.contextmanager
    def ema_weights(self):
        """Evaluate with the EMA weights; the trained weights come back on exit.

        Examples
        --------
        >>> import brainstate, brainopt, jax.numpy as jnp
        >>> w = brainstate.ParamState(jnp.ones(3))
        >>> opt = brainopt.Adagrad(lr=0.1, use_ema=True)
        >>> opt = opt.register_trainable_weights({'w': w})
        >>> _ = opt.update({'w': jnp.ones(3)})
        >>> trained = w.value
        >>> with opt.ema_weights():
        ...     bool((w.value == opt.get_slot('ema', 'w')).all())
        True
        >>> bool((w.value == trained).all())
        True
        """
        self._require_ema('ema_weights')
        saved = registry.read_params(self._weights.entries)
        self.copy_ema_to_params()
        try:
            yield self
        finally:
            registry.write_params(self._weights.entries, saved)

    def __repr__(self):
        args = [f'lr={describe(self.lr)}'] + [f'{k}={v!r}' for k, v in self.rule.config().items()]
        shared = inspect.signature(Optimizer.__init__).parameters
        args += [f'{k}={getattr(self, k)!r}' for k, p in shared.items()
                 if p.kind is p.KEYWORD_ONLY and k != 'name' and getattr(self, k) != p.default]
        return f'{type(self).__name__}({", ".join(args)})'
