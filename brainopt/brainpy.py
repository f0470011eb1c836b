"""brainpy 2.x optimizers and schedulers on brainstate States: brainpy's names, defaults and semantics.

``brainopt.brainpy.Adam(lr, train_vars=None, beta1=0.9, beta2=0.999, eps=1e-8,
weight_decay=None, name=None)`` takes the arguments of ``brainpy.optim.Adam``,
with ``register_train_vars``, ``train_vars()``, ``update(grads)``,
``save_states`` / ``load_states`` and ``state_dict`` / ``load_state_dict``
(keyed by parameter path, so a freshly built optimizer loads them). Each
class is the brainopt optimizer of the same rule, not a second copy of it:

* ``weight_decay`` (``None`` or a float in [0, 1]) is brainpy's: decoupled and
  *not* scaled by the learning rate, ``p <- (1 - wd) p - step``
  (``weight_decay_mode='decoupled_unscaled'``); AdamW's is scaled by the lr,
  Adan's is proximal unless ``no_prox=True``, LARS's sits in its trust ratio;
* ``lr`` is a float or a brainpy scheduler (``opt.lr()`` is its current value).
  Call-based schedulers (``ExponentialDecayLR``, ``InverseTimeDecayLR``,
  ``PolynomialDecayLR``, ``PiecewiseConstantLR``,
  ``CosineAnnealingWarmRestarts``) advance on every update; epoch-based ones
  (``StepLR``, ``MultiStepLR``, ``CosineAnnealingLR``, ``ExponentialLR``) on
  ``sched.step_epoch()``;
* ``Adadelta`` ignores its ``lr``, as brainpy's does.

Momentum keeps the learning rate inside its buffer, and Adam and AdamW add
``eps`` to the uncorrected root, as brainpy computes them (the rules' forms
``lr_in_buffer=True`` and ``keras=True``, which is brainpy's formula too);
Adan weights the gradient difference by brainpy's ``1 - beta2``
(``paper_diff_weight=True``) and LARS divides by ``|g| + wd |p|`` with the lr
inside its buffer (``brainpy=True``).
Where brainpy's code departs from its documented formula (bias corrections read
from the epoch counter, MomentumNesterov running plain momentum), the
documented formula is what runs; ``docs/dialects.md`` lists these.

Examples
--------
>>> import brainstate, jax.numpy as jnp
>>> import brainopt.brainpy as bp
>>> w = brainstate.ParamState(jnp.array([1.0, -2.0]))
>>> opt = bp.SGD(lr=bp.ExponentialDecayLR(0.1, decay_steps=1, decay_rate=0.5), train_vars={'w': w},
...              weight_decay=0.5)
>>> for _ in range(2):
...     _ = opt.update({"w": jnp.array([1.0, 1.0])})  # p <- (1 - wd) p - lr_i g, lr_i = 0.1 * 0.5**i
>>> [round(float(x), 6) for x in w.value], round(float(opt.lr()), 6)
([0.15, -0.6], 0.025)
"""
import numbers
import warnings

import brainstate
import jax
import jax.numpy as jnp

import brainopt.optimizers as _o
from brainopt import _eager
from brainopt import _validate as check
from brainopt.optimizer import Optimizer as _Optimizer
from brainopt.rules.adam import AdamRule
from brainopt.rules.adan import AdanRule
from brainopt.rules.lars import LarsRule
from brainopt.rules.sgd import SGDRule
from brainopt.schedules.base import LRScheduler

__all__ = [
    # optimizers
    'SGD', 'Momentum', 'MomentumNesterov', 'Adagrad', 'Adadelta', 'RMSProp', 'Adam', 'LARS', 'Adan', 'AdamW',
    # schedulers
    'Scheduler', 'CallBasedScheduler', 'Constant', 'StepLR', 'MultiStepLR', 'CosineAnnealingLR', 'ExponentialLR',
    'CosineAnnealingWarmRestarts', 'ExponentialDecayLR', 'ExponentialDecay', 'InverseTimeDecayLR',
    'InverseTimeDecay', 'PolynomialDecayLR', 'PolynomialDecay', 'PiecewiseConstantLR', 'PiecewiseConstant',
    'make_schedule',
]


# -- schedulers ----------------------------------------------------------------------------------------------
def _real(owner, name, value, low=None, high=None):
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f'{owner}: {name} must be a real number, got {value!r}')
    value = check.real(name, value, owner=owner)        # finite: NaN and +-inf are refused
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f'{owner}: {name} must be in [{low}, {high}], got {value!r}')
    return value


def _int(owner, name, value, low):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise ValueError(f'{owner}: {name} must be an integer >= {low}, got {value!r}')
    return int(value)


class Scheduler(LRScheduler):
    """brainpy's epoch-based scheduler: ``sched()`` is the rate now, ``sched(i)`` the rate at epoch ``i``,
    ``sched.step_epoch()`` moves to the next epoch.

    brainpy counts ``last_epoch`` from -1 and evaluates at ``i = last_epoch + 1``;
    the ``last_epoch`` State here holds ``i`` (brainopt's counter), so it reads
    one more than brainpy's.
    """

    def __init__(self, lr, last_epoch: int = -1):
        owner = type(self).__name__
        self.lr = self.base_lr = _real(owner, 'lr', lr, low=0.)
        self._init_stepping('epoch', _int(owner, 'last_epoch', last_epoch, -1) + 1)

    def _value(self, i):
        raise NotImplementedError

    def __call__(self, i=None):
        if i is None:
            return self.current_lr
        return jnp.asarray(self._value(jnp.asarray(i, jnp.float32)), jnp.float32)

    def step_call(self):
        """Nothing: an epoch-based scheduler moves on :meth:`step_epoch` only."""

    def set_value(self, learning_rate):
        """Replace the base learning rate."""
        self.lr = self.base_lr = _real(type(self).__name__, 'learning_rate', learning_rate, low=0.)
        opt = self.attached_optimizer
        if opt is not None:
            opt._structure_changed()     # the rate is part of the program: every compiled step traces again


class CallBasedScheduler(Scheduler):
    """brainpy's call-based scheduler: the counter is the number of updates applied (brainpy's
    ``last_call + 1``), which the optimizer advances."""

    def __init__(self, lr, last_epoch: int = -1, last_call: int = -1):
        owner = type(self).__name__
        self.lr = self.base_lr = _real(owner, 'lr', lr, low=0.)
        if last_epoch != -1 or last_call != -1:
            raise ValueError(f"{owner}: last_epoch and last_call must be -1: the counter is the optimizer's step "
                             f"count (load a checkpoint to resume), got {last_epoch!r}, {last_call!r}")

    def __call__(self, i=None):
        if i is None and self.attached_optimizer is None:
            i = 0                   # not yet an optimizer's lr: brainpy's last_call = -1
        return super().__call__(i)

    @property
    def last_call(self):
        """brainpy's ``last_call``: updates applied minus one."""
        opt = self.attached_optimizer
        return -1 if opt is None else int(opt.step_count.value) - 1

    def step_call(self):
        """Nothing: ``opt.update()`` advances the counter."""


class Constant(CallBasedScheduler):
    """A constant learning rate (what brainpy makes of a float)."""

    def __init__(self, lr, last_epoch: int = -1, last_call: int = -1):
        super().__init__(lr, last_epoch, last_call)

    def _value(self, i):
        return jnp.full_like(i, self.lr)


class StepLR(Scheduler):
    """``lr * gamma ** floor(i / step_size)``, ``i`` the epoch."""

    def __init__(self, lr, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        super().__init__(lr, last_epoch)
        self.step_size = _int('StepLR', 'step_size', step_size, 1)
        self.gamma = _real('StepLR', 'gamma', gamma, 0., 1.)

    def _value(self, i):
        return self.lr * self.gamma ** jnp.floor(i / self.step_size)


class MultiStepLR(Scheduler):
    """``lr * gamma ** (number of milestones <= i)``, ``i`` the epoch."""

    def __init__(self, lr, milestones, gamma: float = 0.1, last_epoch: int = -1):
        super().__init__(lr, last_epoch)
        self.milestones = tuple(_int('MultiStepLR', 'milestones', m, 0) for m in milestones)
        self.gamma = _real('MultiStepLR', 'gamma', gamma, 0., 1.)

    def _value(self, i):
        return self.lr * self.gamma ** sum((i >= m).astype(jnp.float32) for m in self.milestones)


class CosineAnnealingLR(Scheduler):
    """``eta_min + (lr - eta_min) (1 + cos(pi i / T_max)) / 2``, ``i`` the epoch."""

    def __init__(self, lr, T_max: int, eta_min: float = 0., last_epoch: int = -1):
        super().__init__(lr, last_epoch)
        self.T_max = _int('CosineAnnealingLR', 'T_max', T_max, 1)
        self.eta_min = _real('CosineAnnealingLR', 'eta_min', eta_min, low=0.)

    def _value(self, i):
        return self.eta_min + (self.lr - self.eta_min) * (1 + jnp.cos(jnp.pi * i / self.T_max)) / 2


class ExponentialLR(Scheduler):
    """``lr * gamma ** i``, ``i`` the epoch."""

    def __init__(self, lr, gamma: float, last_epoch: int = -1):
        super().__init__(lr, last_epoch)
        self.gamma = _real('ExponentialLR', 'gamma', gamma, 0., 1.)

    def _value(self, i):
        return self.lr * self.gamma ** i


class CosineAnnealingWarmRestarts(CallBasedScheduler):
    """SGDR with epoch ``i / num_call_per_epoch`` (fractional), ``i`` the updates applied."""

    def __init__(self, lr, num_call_per_epoch: int, T_0: int, T_mult: int = 1, eta_min: float = 0.,
                 last_epoch: int = -1, last_call: int = -1):
        super().__init__(lr, last_epoch, last_call)
        owner = 'CosineAnnealingWarmRestarts'
        self.num_call_per_epoch = _int(owner, 'num_call_per_epoch', num_call_per_epoch, 1)
        self.T_0, self.T_mult = _int(owner, 'T_0', T_0, 1), _int(owner, 'T_mult', T_mult, 1)
        self.eta_min = _real(owner, 'eta_min', eta_min, low=0.)

    def current_epoch(self, i=None):
        """``floor(i / num_call_per_epoch)``."""
        i = self.attached_optimizer.step_count.value if i is None else i
        return jnp.floor(jnp.asarray(i, jnp.float32) / self.num_call_per_epoch)

    def _value(self, i):
        epoch = i / self.num_call_per_epoch
        if self.T_mult == 1:
            t_cur, t_i = epoch % self.T_0, jnp.float32(self.T_0)
        else:
            n = jnp.floor(jnp.log(epoch / self.T_0 * (self.T_mult - 1) + 1) / jnp.log(float(self.T_mult)))
            t_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
            t_i = self.T_0 * self.T_mult ** n
        t_cur, t_i = jnp.where(epoch >= self.T_0, t_cur, epoch), jnp.where(epoch >= self.T_0, t_i, self.T_0)
        return self.eta_min + (self.lr - self.eta_min) * (1 + jnp.cos(jnp.pi * t_cur / t_i)) / 2


class ExponentialDecayLR(CallBasedScheduler):
    """``lr * decay_rate ** (i / decay_steps)``, ``i`` the updates applied."""

    def __init__(self, lr, decay_steps, decay_rate, last_epoch: int = -1, last_call: int = -1):
        super().__init__(lr, last_epoch, last_call)
        self.decay_steps = _real(type(self).__name__, 'decay_steps', decay_steps, low=1e-12)
        self.decay_rate = _real(type(self).__name__, 'decay_rate', decay_rate, low=0.)

    def _value(self, i):
        return self.lr * self.decay_rate ** (i / self.decay_steps)


class InverseTimeDecayLR(ExponentialDecayLR):
    """``lr / (1 + decay_rate * i / decay_steps)`` (``floor`` of the ratio with ``staircase``)."""

    def __init__(self, lr, decay_steps, decay_rate, staircase=False, last_epoch: int = -1, last_call: int = -1):
        super().__init__(lr, decay_steps, decay_rate, last_epoch, last_call)
        self.staircase = bool(staircase)

    def _value(self, i):
        ratio = i / self.decay_steps
        return self.lr / (1 + self.decay_rate * (jnp.floor(ratio) if self.staircase else ratio))


class PolynomialDecayLR(CallBasedScheduler):
    """``(1 - min(i, decay_steps) / decay_steps) ** power * (lr - final_lr) + final_lr``."""

    def __init__(self, lr, decay_steps, final_lr, power=1.0, last_epoch: int = -1, last_call: int = -1):
        super().__init__(lr, last_epoch, last_call)
        self.decay_steps = _real(type(self).__name__, 'decay_steps', decay_steps, low=1e-12)
        self.final_lr = _real(type(self).__name__, 'final_lr', final_lr, low=0.)
        self.power = _real(type(self).__name__, 'power', power)

    def _value(self, i):
        i = jnp.minimum(i, self.decay_steps)
        return (1 - i / self.decay_steps) ** self.power * (self.lr - self.final_lr) + self.final_lr


class PiecewiseConstantLR(CallBasedScheduler):
    """``values[number of boundaries < i]``: the value changes one update after each boundary."""

    def __init__(self, boundaries, values, last_epoch: int = -1, last_call: int = -1):
        super().__init__(0., last_epoch, last_call)
        if len(boundaries) != len(values) - 1:
            raise ValueError(f'PiecewiseConstantLR: boundaries must be one shorter than values, got '
                             f'{len(boundaries)} boundaries and {len(values)} values')
        self.boundaries = tuple(_real('PiecewiseConstantLR', 'boundaries', b) for b in boundaries)
        self.values = tuple(_real('PiecewiseConstantLR', 'values', v, low=0.) for v in values)

    def _value(self, i):
        index = sum((i > b).astype(jnp.int32) for b in self.boundaries) if self.boundaries else 0
        return jnp.asarray(self.values, jnp.float32)[index]


def _deprecated(cls, new):
    class Alias(cls):
        def __init__(self, *args, **kwargs):
            warnings.warn(f'{type(self).__name__} is abandoned, please use {new} instead.', DeprecationWarning,
                          stacklevel=2)
            super().__init__(*args, **kwargs)

    Alias.__doc__ = f'Deprecated name of :class:`{new}` (as in brainpy).'
    return Alias


ExponentialDecay = _deprecated(ExponentialDecayLR, 'ExponentialDecayLR')
InverseTimeDecay = _deprecated(InverseTimeDecayLR, 'InverseTimeDecayLR')
PolynomialDecay = _deprecated(PolynomialDecayLR, 'PolynomialDecayLR')
PiecewiseConstant = _deprecated(PiecewiseConstantLR, 'PiecewiseConstantLR')
for _alias, _name in ((ExponentialDecay, 'ExponentialDecay'), (InverseTimeDecay, 'InverseTimeDecay'),
                      (PolynomialDecay, 'PolynomialDecay'), (PiecewiseConstant, 'PiecewiseConstant')):
    _alias.__name__ = _alias.__qualname__ = _name


def make_schedule(lr):
    """A brainpy scheduler from a float (``Constant``) or a scheduler (unchanged)."""
    if isinstance(lr, LRScheduler):
        return lr
    if isinstance(lr, numbers.Real) and not isinstance(lr, bool):
        return Constant(lr)
    raise TypeError(f'lr must be a float or a brainpy scheduler, got {lr!r} ({type(lr).__name__})')


# -- optimizers ----------------------------------------------------------------------------------------------
def _decay(owner, weight_decay, mode='decoupled_unscaled'):
    if weight_decay is None:
        return {}
    return dict(weight_decay=_real(owner, 'weight_decay', weight_decay, 0., 1.), weight_decay_mode=mode)


def _implicit(owner, where, positional, named, kind, prefix):
    """``{key: object}`` from brainpy's forms: objects, lists/tuples of them, dicts of them, and keywords."""
    out = {}

    def take(key, obj):
        if not isinstance(obj, kind):
            raise TypeError(f'{owner}.{where}: {key!r} must be a {getattr(kind, "__name__", kind)}, '
                            f'got {type(obj).__name__}')
        out[key] = obj

    for item in positional:
        if isinstance(item, dict):
            for k, v in item.items():
                take(k, v)
        elif isinstance(item, (list, tuple)):
            for v in item:
                take(f'{prefix}{id(v)}', v)
        else:
            take(f'{prefix}{id(item)}', item)
    for k, v in named.items():
        take(k, v)
    return out


class _Registered:
    """What register_implicit_vars / register_implicit_nodes recorded; a plain object, so that brainstate.graph
    does not count those States as the optimizer's memory."""

    def __init__(self):
        self.vars, self.nodes = {}, {}


class _Brainpy:
    """brainpy's registration, checkpoint and inspection methods, over a brainopt optimizer."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if '__init__' in cls.__dict__:      # NaN and +-inf refused under this dialect's argument names
            cls.__init__ = check.finite_arguments(cls.__dict__['__init__'])

    @property
    def _implicit(self):
        if '_implicit_registry' not in vars(self):
            self._implicit_registry = _Registered()
        return self._implicit_registry

    def register_train_vars(self, train_vars=None):
        """Register a dict ``{name: State}`` of variables to train (brainpy's name)."""
        train_vars = {} if train_vars is None else train_vars
        if not isinstance(train_vars, dict):
            raise TypeError(f'{type(self).__name__}.register_train_vars: "train_vars" must be a dict of States, '
                            f'got {type(train_vars).__name__}')
        return self.register_trainable_weights(train_vars) if train_vars else self

    def register_vars(self, train_vars=None):
        """Deprecated name of :meth:`register_train_vars` (warns, as brainpy does)."""
        warnings.warn('Using "register_train_vars()" instead.', UserWarning, stacklevel=2)
        return self.register_train_vars(train_vars)

    @property
    def vars_to_train(self):
        """The registered States, ``{path: State}``."""
        return {e.name: e.state for e in self._weights.entries}

    def train_vars(self, method='absolute', level=-1, include_self=True):
        """The trainable variables: the registered States, ``{path: State}``."""
        return self.vars_to_train

    def check_grads(self, grads):
        """brainpy's check: one gradient per registered State."""
        if len(grads) != len(self._weights.entries):
            raise ValueError(f'The length of "grads" must be equal to "self.vars_to_train", while we got '
                             f'{len(grads)} != {len(self._weights.entries)}!')

    def vars(self, method='absolute', level=-1, include_self=True, exclude_types=None):
        """The optimizer's own States (its accumulators and counters), ``{dotted path: State}``, and those
        given to :meth:`register_implicit_vars` under their keys."""
        own = {'.'.join(map(str, k)): v for k, v in brainstate.graph.states(self).items()}
        return {**own, **self._implicit.vars}

    def nodes(self, method='absolute', level=-1, include_self=True):
        """``{name: self}`` and the nodes given to :meth:`register_implicit_nodes` under their keys."""
        return {**({self.name: self} if include_self else {}), **self._implicit.nodes}

    def register_implicit_vars(self, *variables, var_cls=None, **named_variables):
        """Record States that :meth:`vars` lists (brainpy's method): each positional argument is a State, a
        list/tuple of States (keyed ``var<id>``, as brainpy keys them) or a dict ``{key: State}``; keyword
        arguments are ``key=State``. ``var_cls`` (default ``brainstate.State``) is the type each must have."""
        self._implicit.vars.update(_implicit(type(self).__name__, 'register_implicit_vars', variables,
                                             named_variables, brainstate.State if var_cls is None else var_cls, 'var'))

    def register_implicit_nodes(self, *nodes, node_cls=None, **named_nodes):
        """Record objects that :meth:`nodes` lists (brainpy's method), given as for
        :meth:`register_implicit_vars` (keys ``node<id>``); ``node_cls`` defaults to ``brainstate.graph.Node``."""
        self._implicit.nodes.update(_implicit(type(self).__name__, 'register_implicit_nodes', nodes, named_nodes,
                                              brainstate.graph.Node if node_cls is None else node_cls, 'node'))

    def tree_flatten(self):
        """``(values, aux)``: the arrays of the optimizer's own States (its memory; brainpy's dynamic values)
        and what :meth:`tree_unflatten` needs to rebuild it. The arrays are the States' own: like any array
        read from an optimizer State, they are donated (invalid) after its next eager update."""
        graphdef, states = brainstate.graph.treefy_split(self)
        values, treedef = jax.tree_util.tree_flatten(states)
        return tuple(values), (graphdef, treedef)

    @classmethod
    def tree_unflatten(cls, aux, dynamic_values):
        """A new optimizer of this class, with the configuration and registered parameters of the one that
        :meth:`tree_flatten` flattened, whose memory holds copies of ``dynamic_values``."""
        graphdef, treedef = aux
        if len(dynamic_values) != treedef.num_leaves:
            raise ValueError(f'{cls.__name__}.tree_unflatten: expected {treedef.num_leaves} values, '
                             f'got {len(dynamic_values)}')
        values = [jnp.array(v, copy=True) for v in dynamic_values]
        new = brainstate.graph.treefy_merge(graphdef, jax.tree_util.tree_unflatten(treedef, values))
        if not isinstance(new, cls):
            raise TypeError(f'{cls.__name__}.tree_unflatten: aux describes a {type(new).__name__}')
        new._ownership = _eager.Ownership()     # its own record of the arrays it wrote, never the original's
        implicit, new._implicit_registry = new._implicit, _Registered()
        new._implicit.vars.update(implicit.vars)
        new._implicit.nodes.update(implicit.nodes)
        new._reset_compiled()
        return new

    def unique_name(self, name=None, type_=None):
        """The optimizer's name (``name``, when given)."""
        return self.name if name is None else name

    def to(self, device):
        """Move the optimizer's States to ``device`` (a ``jax.Device``)."""
        for state in self.vars().values():
            state.value = jax.device_put(state.value, device)
        return self

    def cpu(self):
        """Move the optimizer's States to the CPU."""
        return self.to(jax.devices('cpu')[0])

    def cuda(self):
        """Move the optimizer's States to the first GPU (a RuntimeError, nothing moved, where JAX has none)."""
        return self.to(self._first_device('gpu', 'cuda'))

    def tpu(self):
        """Move the optimizer's States to the first TPU (a RuntimeError, nothing moved, where JAX has none)."""
        return self.to(self._first_device('tpu', 'tpu'))

    def _first_device(self, platform, method):
        try:
            return jax.devices(platform)[0]
        except RuntimeError as e:
            raise RuntimeError(f'{type(self).__name__}.{method}(): JAX has no {platform.upper()} here (it reports: '
                               f'{str(e).splitlines()[0]}); install jax for that device, or use cpu() / '
                               f'to(device)') from None

    def load_state_dict(self, state_dict, warn=True, compatible='v2'):
        """Load what :meth:`state_dict` returned (``warn`` and ``compatible`` are accepted for brainpy's
        signature; every mismatch raises ``brainopt.CheckpointError``)."""
        return super().load_state_dict(state_dict)

    def save_states(self, filename, variables=None):
        """Save the optimizer's state to ``filename`` (``variables`` must be None: the optimizer is saved)."""
        if variables is not None:
            raise ValueError(f'{type(self).__name__}.save_states: variables must be None (the optimizer saves its '
                             f'own states; use brainopt.save_checkpoint(path, model=...) for a model)')
        return super().save_states(filename)

    def load_states(self, filename, verbose=False):
        """Load a file written by :meth:`save_states`."""
        return super().load_states(filename)


class SGD(_Brainpy, _o.SGD):
    """``brainpy.optim.SGD``: ``p <- p - lr g`` (with decay ``(1 - wd) p - lr g``)."""

    def __init__(self, lr, train_vars=None, weight_decay=None, name=None):
        super().__init__(lr=make_schedule(lr), name=name, **_decay('SGD', weight_decay))
        self.register_train_vars(train_vars)


class Momentum(_Brainpy, _o.Momentum):
    """``brainpy.optim.Momentum``: ``v <- mu v - lr g``, ``p <- p + v`` (rule: :class:`brainopt.Momentum` with
    the learning rate inside the buffer, ``lr_in_buffer=True``)."""

    def __init__(self, lr, train_vars=None, momentum=0.9, weight_decay=None, name=None):
        super().__init__(lr=make_schedule(lr), momentum=momentum, name=name, **_decay('Momentum', weight_decay))
        self.register_train_vars(train_vars)

    def _dialect_rule(self, rule):
        return SGDRule(rule.momentum, 0.0, False, lr_in_buffer=True)


class MomentumNesterov(_Brainpy, _o.MomentumNesterov):
    """``brainpy.optim.MomentumNesterov``: Nesterov's accelerated gradient, its documented formula
    (rule: :class:`brainopt.MomentumNesterov`; brainpy 2.x's code runs plain momentum)."""

    def __init__(self, lr, train_vars=None, weight_decay=None, momentum=0.9, name=None):
        super().__init__(lr=make_schedule(lr), momentum=momentum, name=name,
                         **_decay('MomentumNesterov', weight_decay))
        self.register_train_vars(train_vars)


class Adagrad(_Brainpy, _o.Adagrad):
    """``brainpy.optim.Adagrad``: ``p <- p - lr g / sqrt(G + eps)``, ``G`` the sum of squared gradients."""

    def __init__(self, lr, train_vars=None, weight_decay=None, epsilon=1e-6, name=None):
        super().__init__(lr=make_schedule(lr), eps=epsilon, eps_placement='inside', name=name,
                         **_decay('Adagrad', weight_decay))
        self.register_train_vars(train_vars)


class Adadelta(_Brainpy, _o.Adadelta):
    """``brainpy.optim.Adadelta``: the step ``sqrt((D + eps) / (S + eps)) g`` is not scaled by ``lr``
    (brainpy ignores it; ``opt.lr`` keeps the scheduler given)."""

    def __init__(self, lr=0.01, train_vars=None, weight_decay=None, epsilon=1e-6, rho=0.95, name=None):
        self._ignored_lr = make_schedule(lr)
        super().__init__(lr=1.0, rho=rho, eps=epsilon, name=name, **_decay('Adadelta', weight_decay))
        self.register_train_vars(train_vars)

    @property
    def lr(self):
        """The learning rate given (brainpy's Adadelta does not use it)."""
        return self._ignored_lr

    @lr.setter
    def lr(self, value):
        self._ignored_lr = make_schedule(value)


class RMSProp(_Brainpy, _o.RMSprop):
    """``brainpy.optim.RMSProp``: ``p <- p - lr g / sqrt(c + eps)``, no momentum."""

    def __init__(self, lr, train_vars=None, weight_decay=None, epsilon=1e-6, rho=0.9, name=None):
        super().__init__(lr=make_schedule(lr), alpha=rho, eps=epsilon, eps_placement='inside', name=name,
                         **_decay('RMSProp', weight_decay))
        self.register_train_vars(train_vars)


class Adam(_Brainpy, _o.Adam):
    """``brainpy.optim.Adam``: ``eps`` on the uncorrected root, bias-corrected by the number of updates
    (rule: :class:`brainopt.Adam` in its ``keras=True`` form, brainpy's formula)."""

    def __init__(self, lr, train_vars=None, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=None, name=None):
        super().__init__(lr=make_schedule(lr), betas=(beta1, beta2), eps=eps, name=name,
                         **_decay('Adam', weight_decay))
        self.register_train_vars(train_vars)

    def _dialect_rule(self, rule):
        return AdamRule(rule.b1, rule.b2, rule.eps, keras=True)


class AdamW(_Brainpy, _o.AdamW):
    """``brainpy.optim.AdamW``: ``p <- p (1 - lr wd)``, then the Adam step (decay scaled by the lr; ``eps`` on
    the uncorrected root, as :class:`Adam`)."""

    def __init__(self, lr, train_vars=None, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 name=None):
        super().__init__(lr=make_schedule(lr), betas=(beta1, beta2), eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, name=name)
        self.register_train_vars(train_vars)

    def _dialect_rule(self, rule):
        return AdamRule(rule.b1, rule.b2, rule.eps, rule.amsgrad, keras=True)


class LARS(_Brainpy, _o.Lars):
    """``brainpy.optim.LARS`` (rule: :class:`brainopt.Lars` in its ``brainpy=True`` form; ``tc`` is the trust
    coefficient): ``m <- mu m + lr tc |p| / (|g| + wd |p| + eps) (g + wd p)``, ``p <- p - m``, the weight decay
    applied by the rule (``weight_decay_mode='rule'``)."""

    def __init__(self, lr, train_vars=None, momentum=0.9, weight_decay=1e-4, tc=1e-3, eps=1e-5, name=None):
        # the rule decays, inside its trust ratio; the engine adds none
        super().__init__(lr=make_schedule(lr), momentum=momentum, weight_decay=weight_decay, trust_coefficient=tc,
                         eps=eps, name=name, weight_decay_mode='rule')
        self.register_train_vars(train_vars)

    def _dialect_rule(self, rule):
        return LarsRule(rule.momentum, rule.trust_coefficient, rule.eps, rule.nesterov, brainpy=True)


class Adan(_Brainpy, _o.Adan):
    """``brainpy.optim.Adan``: ``betas`` are brainpy's (the complements of brainopt's decay rates); the decay is
    proximal, ``(p - step) / (1 + wd lr)``, or with ``no_prox=True`` ``p (1 - wd lr) - step``; the gradient
    difference is weighted by brainpy's ``1 - betas[1]`` (rule: :class:`brainopt.Adan`, ``paper_diff_weight=True``)."""

    _fixed_attributes = _Optimizer._fixed_attributes | {'no_prox'}

    def __init__(self, lr=1e-3, train_vars=None, betas=(0.02, 0.08, 0.01), eps=1e-8, weight_decay=0.02,
                 no_prox=False, name=None):
        if not (isinstance(betas, (tuple, list)) and len(betas) == 3):
            raise TypeError(f'Adan: betas must be three numbers, got {betas!r}')
        self.no_prox = bool(no_prox)
        super().__init__(lr=make_schedule(lr), betas=tuple(1 - _real('Adan', 'betas', b, 0., 1.) for b in betas),
                         eps=eps, weight_decay=weight_decay, name=name,
                         weight_decay_mode='decoupled' if no_prox else 'proximal')
        self.register_train_vars(train_vars)

    def _dialect_rule(self, rule):
        # brainpy weights the gradient difference by its 1 - beta2 (the paper's form)
        return AdanRule(rule.b1, rule.b2, rule.b3, rule.eps, rule.proximal, paper_diff_weight=True)
