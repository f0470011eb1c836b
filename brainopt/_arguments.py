"""A constructor argument assigned to a built optimizer: ``opt.betas = (0.8, 0.99)``, ``opt.eps = 1e-6``,
``opt.momentum = 0.5``, Keras's ``opt.beta_1 = 0.8`` (issue 21).

The optimizer's own class checks the new value, as its constructor does: two *probes* are built, the class with
the arguments the optimizer was built with and the class with the new one (the learning rate replaced by a
number, so that a schedule stays with its one optimizer, and no weights registered). What differs between them is
what the argument sets: the rule (its numbers), a shared option (Keras's ``clipnorm`` is the per-parameter
clipping norm), a dialect's own record of it. The optimizer takes that part of the second probe:

- a shared option that may be assigned (``grad_clip_norm``, ...) is set as ``opt.<option> = value`` sets it: live;
- a rule with other numbers replaces the rule. Where only its live hyperparameters differ
  (:attr:`brainopt.rules.Rule.live_names`: Adam's betas and eps, SGD's momentum, ...), their new numbers go to
  ``opt.hyperparams`` and every step compiled before reads them on its next call; otherwise (a number that is a
  constant of the compiled program) every such step traces again on its next call. A rule that would keep other
  accumulators (other slots, or slots of other shapes: ``amsgrad``, ``momentum`` from 0) is refused, as is a
  change of a shared option fixed at construction (Keras's ``use_ema``): they would need a new optimizer.

Nothing changes unless the whole assignment is accepted.
"""
import inspect
import numbers

import jax
import numpy as np

from . import _registry as registry

__all__ = []


class Arguments:
    """The arguments an optimizer was built with, by name (defaults included); a plain object, so that
    ``brainstate.graph`` does not list the States of a template optimizer among its own."""

    __slots__ = ('values', 'parameters', 'probe')

    def __init__(self, values, parameters):
        self.values, self.parameters = values, parameters
        self.probe = None       # the class built with ``values`` (kept by an assignment for the next one)


def record(opt, init, bound):
    """Keep the arguments of ``bound`` (``inspect.signature(init).bind(opt, ...)``), defaults included, on
    ``opt``."""
    signature = inspect.signature(init)
    bound = signature.bind(*bound.args, **bound.kwargs)
    bound.apply_defaults()
    values = {}
    for i, (name, value) in enumerate(bound.arguments.items()):
        kind = signature.parameters[name].kind
        if i == 0:
            continue                            # self
        if kind is inspect.Parameter.VAR_KEYWORD:
            values.update(value)
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                return                          # cannot be given by name again: nothing is assignable
        else:
            values[name] = value
    _one_spelling(values, opt)
    named = frozenset(n for n, p in list(signature.parameters.items())[1:]
                      if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    opt.__dict__['_arguments'] = Arguments(values, named)


#: constructor arguments that are not hyperparameters: never assigned through :func:`assign`
_NOT_ASSIGNABLE = frozenset(['train_vars', 'base_optimizer', 'rule', 'name'])


def _one_spelling(values, opt):
    """braintools's ``beta1=``/``beta2=`` kept as the ``betas`` they make in ``opt`` (built with ``values``): one
    spelling, as ``state_dict()`` and ``param_groups`` show it."""
    if 'betas' in values and (values.get('beta1') is not None or values.get('beta2') is not None):
        values.update(betas=tuple(opt.rule.config()['betas']), beta1=None, beta2=None)


def is_argument(opt, name):
    """Whether ``name`` is a named parameter of the constructor ``opt`` was built by, one that may be assigned
    (not the learning rate, which has its own setter, nor the weights or a template)."""
    args = opt.__dict__.get('_arguments')
    return (args is not None and (name in args.parameters or name in getattr(opt, '_shared_argument_names', ()))
            and name not in _NOT_ASSIGNABLE and name not in _LR_NAMES)


#: the learning rate's names, given to a probe as a number
_LR_NAMES = ('lr', 'learning_rate')
#: Adam's spellings of the decay rates: assigning one drops the other (both together are refused)
_ALIASES = {'betas': ('beta1', 'beta2'), 'beta1': ('betas',), 'beta2': ('betas',)}


def _probe(cls, values):
    """``cls`` built with ``values``: a learning rate that is not a number is given as one (a schedule belongs to
    one optimizer), and nothing registered (brainpy's ``train_vars``)."""
    values = dict(values)
    for name in _LR_NAMES:
        if name in values and not isinstance(values[name], numbers.Real):
            values[name] = 1e-3
    if not any(n in values for n in _LR_NAMES) and 'base_optimizer' in values:
        values['lr'] = 1e-3                     # a wrapper: the template's schedule stays with the template
    if values.get('train_vars') is not None:
        values['train_vars'] = None
    return cls(**values)


def _plain(value):
    """Whether ``value`` is data that an assignment may change (numbers, strings, None, tuples of them)."""
    if value is None or isinstance(value, (bool, numbers.Number, str)):
        return True
    if isinstance(value, (tuple, list, frozenset)):
        return all(_plain(v) for v in value)
    return False


def _rule_numbers(rule):
    """What tells two rules apart: their class and attributes, those of the rules and brainopt objects they hold
    (Muon's Adam for vectors) too. Anything else (a user's function) differs from every other object, so that a
    rule holding one is always taken (which is never wrong, only traces again)."""
    if _plain(rule):
        return rule
    if isinstance(rule, (tuple, list)):
        return type(rule), tuple(_rule_numbers(v) for v in rule)
    if isinstance(rule, dict):
        return dict, {k: _rule_numbers(v) for k, v in rule.items()}
    if isinstance(rule, np.ndarray):
        return np.ndarray, rule.shape, rule.dtype.str, rule.tobytes()
    if type(rule).__module__.startswith('brainopt.') and hasattr(rule, '__dict__'):
        return type(rule), {k: _rule_numbers(v) for k, v in vars(rule).items()}
    return _Unique()


class _Unique:
    """Equal to nothing but itself."""


def _memory_layout(opt, rule):
    """The shapes and dtypes of the accumulators that ``rule`` keeps for the registered weights."""
    shapes = jax.eval_shape(rule.init, _params(opt))
    return tuple(rule.slots), jax.tree.map(lambda x: (x.shape, x.dtype), shapes)


def _params(opt):
    return registry.read_params(opt._weights.entries) if opt._weights.entries else {}


def _same_start(opt, old, new):
    """Whether rules ``old`` and ``new`` start the registered weights' accumulators at the same values."""
    params = _params(opt)
    a, b = jax.tree.leaves(old.init(params)), jax.tree.leaves(new.init(params))
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b))


def prepare(opt, changes):
    """Check the constructor arguments ``changes`` (``{name: value}``) for a built optimizer and return a function
    that sets them; or raise (TypeError or ValueError as the constructor does, AttributeError for a change the
    optimizer cannot take) having changed nothing."""
    from ._optimizer_braintools import ASSIGNABLE_OPTIONS, FIXED_OPTIONS
    from .optimizer import _weak_value
    owner = type(opt).__name__
    args = opt.__dict__['_arguments']
    values = dict(args.values)
    for name, value in changes.items():
        for alias in _ALIASES.get(name, ()):
            if alias == 'betas' and values.get('betas') is not None:    # beta1= alone: the other from betas
                b1, b2 = values.pop('betas')
                other, rate = ('beta1', b1) if name == 'beta2' else ('beta2', b2)
                if values.get(other) is None:
                    values[other] = rate
            else:
                values.pop(alias, None)
        values[name] = value
    shown = ', '.join(f'{k}={v!r}' for k, v in changes.items())
    before = args.probe if args.probe is not None else _probe(type(opt), args.values)
    try:
        after = _probe(type(opt), values)
    except (TypeError, ValueError) as e:
        message = str(e)
        message = message[len(owner) + 2:] if message.startswith(f'{owner}: ') else message
        raise type(e)(f'{owner}: cannot assign {shown}: {message}') from None
    _one_spelling(values, after)
    how = f'Build a new optimizer with {shown} (its accumulators start anew)'

    rule, live = None, False
    if _rule_numbers(before.rule) != _rule_numbers(after.rule):
        rule, live = after.rule, _only_live_values_differ(opt.rule, after.rule)
    if rule is not None and not live:      # (a live number never shapes the accumulators: Rule.live_names)
        if _memory_layout(opt, after.rule) != _memory_layout(opt, opt.rule):
            raise AttributeError(f'{owner}: {shown} cannot be assigned to a built optimizer: it changes the '
                                 f'accumulators the update keeps. {how}')
        if not _same_start(opt, opt.rule, after.rule):
            raise AttributeError(f'{owner}: {shown} cannot be assigned after weights are registered: it sets the '
                                 f'values their accumulators start from, and theirs have started. {how}, or assign '
                                 f'it before register_trainable_weights')
    options, copied = {}, {}
    for key in sorted(set(vars(before)) | set(vars(after))):
        old, new = vars(before).get(key), vars(after).get(key)
        if key in ('rule', '_structure') or not (_plain(old) and _plain(new)) or old == new:
            continue
        if key in ASSIGNABLE_OPTIONS:
            options[key] = new
        elif key in FIXED_OPTIONS or key in opt._fixed_attributes:
            sets = '' if key in changes else f' (assigning {shown} sets it)'
            raise AttributeError(f'{owner}.{key} cannot be changed after construction{sets}: the update is built '
                                 f'with it. {how}')
        else:
            copied[key] = new
    for key, value in options.items():
        opt._checked_option(key, value)         # (the optimizer's own refusals: L-BFGS's clipping, EMA without EMA)
    quantities = after._quantity_hypers if after._quantity_hypers != before._quantity_hypers else None

    def write():
        for key, value in options.items():
            opt._set_option(key, value)
        for key, value in copied.items():
            object.__setattr__(opt, key, value)
        if rule is not None:
            object.__setattr__(opt, 'rule', rule)
        if quantities is not None:
            object.__setattr__(opt, '_quantity_hypers', dict(quantities))
        args.values, args.probe = values, after
        numbers = {k: _weak_value(v) for k, v in opt._rule_live_numbers().items()} if rule is not None else None
        if (rule is not None and not live) or copied or quantities is not None:
            opt._structure_changed(numbers)
        elif rule is not None:      # only live numbers: the steps compiled before read them from opt.hyperparams
            opt._lay_out_hyperparams(numbers)
    return write


def _only_live_values_differ(old, new):
    """Whether rule ``new`` differs from ``old`` only in the values of its live hyperparameters, and not in the
    structure they select (:meth:`brainopt.rules.Rule.structure`)."""
    def rest(rule):
        kind, numbers = _rule_numbers(rule)
        return kind, {k: v for k, v in numbers.items() if k not in rule.live_names}
    return (type(old) is type(new) and rest(old) == rest(new)
            and old.structure(old.live_values()) == new.structure(new.live_values()))


def assign(opt, changes):
    """Set the constructor arguments ``changes`` (``{name: value}``) of a built optimizer (:func:`prepare`)."""
    prepare(opt, changes)()


def numbers_of(opt):
    """The arguments of the rule to save in a state dict: those given as numbers or tuples of numbers, by name
    (not a bool, which shapes the program; not the learning rate, the weight decay or another shared option, which
    the state dict holds as the optimizer has them now)."""
    args = opt.__dict__.get('_arguments')
    if args is None:
        return {}
    shared = _shared_names(opt)
    return {k: v for k, v in args.values.items() if k not in shared and _numeric(v)}


def _shared_names(opt):
    """The argument names of the learning rate and the shared options (brainopt's, and a dialect's own)."""
    from .optimizer import Optimizer
    return (set(inspect.signature(Optimizer.__init__).parameters) | set(_LR_NAMES)
            | set(getattr(opt, '_shared_argument_names', ())))


def _numeric(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Real):
        return True
    return isinstance(value, (tuple, list)) and bool(value) and all(_numeric(v) for v in value)

