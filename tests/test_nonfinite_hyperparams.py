"""Infinite and NaN hyperparameters: refused everywhere, at construction, with the argument's name.

One rule (``docs/conventions.md``, "Infinite and NaN hyperparameters"): every numeric hyperparameter is finite.
No hyperparameter gives infinity a documented meaning (``None`` is how the clipping thresholds, Adafactor's
``clip_threshold`` and ``beta1`` say "none"), so ``DOCUMENTED_INF`` is empty and ``allow_inf=True`` of
``brainopt._validate.real`` is used by no call site. Covered: every numeric argument of every row of the
contract table (discovered from the constructor's signature, plus the shared options), of every schedule, of
the Keras and brainpy dialects (under the dialect's own names), ``add_param_group`` and ``set_lr``.

Only construction runs per case (nothing compiles); a few rows then show, with one eager update, that a
refused construction changed nothing.
"""
import inspect
import math
import numbers
import pathlib
import warnings

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainopt
import brainopt.brainpy as bpd
import brainopt.keras as kd
import brainopt.schedules as bs
from brainopt import _validate

from table import OPTIMIZERS

BAD = (math.inf, -math.inf, math.nan)

#: the shared options every optimizer takes (through ``**options``, so not in every signature)
SHARED = ('lr', 'weight_decay', 'grad_clip_value', 'grad_clip_norm', 'grad_clip_norm_per_param', 'ema_momentum',
          'loss_scale_factor', 'ema_overwrite_frequency', 'gradient_accumulation_steps')
#: numeric hyperparameters whose default is None (None: derived or off), by name
OPTIONAL_NUMERIC = ('beta1', 'beta3', 'clip_threshold')
#: (class name, argument) -> what infinity means there, as documented: none does (a row here would be accepted
#: and its effect checked instead of refused)
DOCUMENTED_INF = {}


def _is_real(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _label(v):
    return 'nan' if v != v else repr(v)


def bad_values(name, default):
    """``[(name, bad value)]``: each of +inf, -inf, NaN; for a tuple default (betas), in one entry at a time."""
    if isinstance(default, tuple):
        return [(name, default[:i] + (v,) + default[i + 1:]) for i in range(len(default)) for v in BAD]
    return [(name, v) for v in BAD]


def numeric_hyperparameters(cls, refuses=(), shared=SHARED):
    """``{name: default}`` of ``cls``'s numeric hyperparameters: a real default, a tuple of reals, one of
    ``OPTIONAL_NUMERIC``, and the shared options it does not refuse outright."""
    out = {}
    for name, p in inspect.signature(cls).parameters.items():
        d = p.default
        if _is_real(d) or (isinstance(d, tuple) and d and all(_is_real(x) for x in d)):
            out[name] = d
        elif d is None and name in OPTIONAL_NUMERIC:
            out[name] = 0.5
    for name in shared:
        if name not in out and name not in refuses:
            out[name] = 1.0
    return out


def optimizer_cases(info):
    return [c for name, d in numeric_hyperparameters(info.cls, info.refuses).items() for c in bad_values(name, d)]


def assert_refused(label, action, name):
    """``action()`` raises one ValueError/TypeError (nothing chained) whose message names ``name``."""
    with pytest.raises((ValueError, TypeError)) as excinfo:
        action()
    e = excinfo.value
    assert e.__cause__ is None and (e.__context__ is None or e.__suppress_context__), f'{label}: chained: {e!r}'
    assert name in str(e), f'{label}: {name!r} is not in the message {str(e)!r}'


# -- the contract table -------------------------------------------------------------------------------------
@pytest.mark.parametrize('info', OPTIMIZERS, ids=repr)
def test_every_numeric_hyperparameter_refuses_inf_and_nan(info):
    cases = optimizer_cases(info)
    names = {n for n, _ in cases}
    assert {'lr', 'weight_decay', 'ema_momentum', 'loss_scale_factor'} <= names, names
    free = brainopt.StepLR(0.1, step_size=2)
    for name, value in cases:
        kwargs = {name: value} if name == 'lr' else {name: value, 'lr': free}
        assert_refused(f'{info.name}({name}={_label(value)})', lambda kw=kwargs: info.make(**kw), name)
    assert free.attached_optimizer is None, 'a refused construction kept the schedule'


def test_the_issue_examples_name_class_and_argument():
    cases = [(lambda: brainopt.Adam(eps=math.inf), 'Adam: eps must be finite, got inf'),
             (lambda: brainopt.Adam(loss_scale_factor=math.inf), 'Adam: loss_scale_factor must be finite, got inf'),
             (lambda: brainopt.SGD(momentum=math.inf), 'SGD: momentum must be finite, got inf'),
             (lambda: brainopt.RMSprop(momentum=math.inf), 'RMSprop: momentum must be finite, got inf'),
             (lambda: brainopt.Adagrad(lr_decay=math.inf), 'Adagrad: lr_decay must be finite, got inf'),
             (lambda: brainopt.SAM(brainopt.SGD(lr=0.1), rho=math.inf), 'SAM: rho must be finite, got inf'),
             (lambda: brainopt.SGD(weight_decay=math.inf), 'SGD: weight_decay must be finite, got inf'),
             (lambda: brainopt.Adam(lr=-math.inf), 'Adam: lr must be finite, got -inf'),
             (lambda: brainopt.Muon(ns_coefficients=(3.0, math.nan, 2.0)), 'Muon: ns_coefficients[1] must not be NaN'),
             (lambda: bs.StepLR(base_lr=math.inf), 'StepLR: base_lr must be finite, got inf')]
    for make, message in cases:
        with pytest.raises(ValueError) as excinfo:
            make()
        assert str(excinfo.value) == message


def test_allow_inf_is_explicit_and_nan_is_never_allowed():
    """The opt-in exists for a documented infinity (no call site needs it today); NaN is refused regardless."""
    assert _validate.real('t', math.inf, low=0., allow_inf=True) == math.inf
    with pytest.raises(ValueError, match='t must be >= 0.0, got -inf'):
        _validate.real('t', -math.inf, low=0., allow_inf=True)
    with pytest.raises(ValueError, match='t must not be NaN'):
        _validate.real('t', math.nan, allow_inf=True)
    with pytest.raises(ValueError, match='X: t must be finite, got inf'):
        _validate.real('t', math.inf, owner='X')
    with pytest.raises(ValueError, match='X: t must be finite'):
        _validate.real('t', 10 ** 400, owner='X')          # an int past the float range
    assert DOCUMENTED_INF == {}


def _params(seed=0):
    rng = np.random.RandomState(seed)
    return {'w': brainstate.ParamState(jnp.asarray(rng.randn(3, 2), jnp.float32)),
            'b': brainstate.ParamState(jnp.asarray(rng.randn(2), jnp.float32))}


def _one_update(info, opt, params):
    """One eager update; the parameters and every entry of the optimizer's state dict after it."""
    info.update(opt, {k: jnp.full_like(s.value, 0.5) for k, s in params.items()})
    flat, _ = jax.tree_util.tree_flatten_with_path(opt.state_dict())
    return ({k: np.asarray(s.value) for k, s in params.items()},
            {jax.tree_util.keystr(p): np.asarray(x) for p, x in flat})


@pytest.mark.parametrize('name', ['Adam', 'SGD-nesterov', 'Adagrad', 'SAM-Adam'])
def test_a_refused_construction_changes_nothing(name):
    """Every refused construction of the row, then a correct one: its update (with the schedule the refused
    calls were given) equals that of an optimizer built where nothing was ever refused, bit for bit."""
    info = next(i for i in OPTIMIZERS if i.name == name)
    sched = brainopt.StepLR(0.05, step_size=1, gamma=0.5, stepping='update')
    for arg, value in optimizer_cases(info):
        with pytest.raises((ValueError, TypeError)):
            info.make(**({arg: value} if arg == 'lr' else {arg: value, 'lr': sched}))
    assert sched.attached_optimizer is None
    opt = info.make(lr=sched)
    params = _params()
    opt.register_trainable_weights(params)
    untouched = info.make(lr=brainopt.StepLR(0.05, step_size=1, gamma=0.5, stepping='update'))
    params2 = _params()
    untouched.register_trainable_weights(params2)
    got, want = _one_update(info, opt, params), _one_update(info, untouched, params2)
    for a, b in zip(got, want):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=f'{name}: {k}')


# -- parameter groups and assigned learning rates -----------------------------------------------------------
def test_add_param_group_and_set_lr_refuse_inf_and_change_nothing():
    w, b = brainstate.ParamState(jnp.ones(2)), brainstate.ParamState(jnp.ones(2))
    opt = brainopt.SGD(lr=0.1, momentum=0.9).register_trainable_weights({'w': w})
    free = brainopt.StepLR(0.1, step_size=2)
    before = (len(opt.param_groups), list(opt.param_paths), opt.lr)
    for v in BAD:
        assert_refused(f'add_param_group(lr={v})', lambda v=v: opt.add_param_group({'b': b}, lr=v), 'lr')
        assert_refused(f'add_param_group(weight_decay={v})',
                       lambda v=v: opt.add_param_group({'b': b}, lr=free, weight_decay=v), 'weight_decay')
        assert_refused(f'add_param_group(dict, weight_decay={v})',
                       lambda v=v: opt.add_param_group({'params': {'b': b}, 'weight_decay': v}), 'weight_decay')
        assert_refused(f'set_lr({v})', lambda v=v: opt.set_lr(v), 'lr')

        def assign(v=v):
            opt.lr = v
        assert_refused(f'opt.lr = {v}', assign, 'lr')
        assert (len(opt.param_groups), list(opt.param_paths), opt.lr) == before
        assert free.attached_optimizer is None
    # the same group then goes in, and the update equals an optimizer that never saw a refusal
    opt.add_param_group({'b': b}, lr=0.5, weight_decay=0.1)
    w2, b2 = brainstate.ParamState(jnp.ones(2)), brainstate.ParamState(jnp.ones(2))
    ref = brainopt.SGD(lr=0.1, momentum=0.9).register_trainable_weights({'w': w2})
    ref.add_param_group({'b': b2}, lr=0.5, weight_decay=0.1)
    g = {'w': jnp.full(2, 0.3), 'b': jnp.full(2, -0.2)}
    opt.update(g)
    ref.update(g)
    np.testing.assert_array_equal(np.asarray(w.value), np.asarray(w2.value))
    np.testing.assert_array_equal(np.asarray(b.value), np.asarray(b2.value))


# -- schedules ----------------------------------------------------------------------------------------------
_ONE = lambda k: 1.0  # noqa: E731

#: the arguments each schedule needs besides its defaults, and its numeric arguments without a real default
SCHEDULES = {
    'SequentialLR': (lambda: dict(schedulers=[bs.StepLR(0.1), bs.StepLR(0.1)], milestones=[3]), ['milestones']),
    'ChainedScheduler': (lambda: dict(schedulers=[bs.StepLR(0.1), bs.ExponentialLR(0.1)]), []),   # no number
    'CosineAnnealingLR': (dict, []),
    'CosineAnnealingWarmRestarts': (dict, []),
    'WarmupCosineSchedule': (dict, ['warmup_start_lr']),
    'CyclicLR': (dict, ['step_size_down']),
    'OneCycleLR': (lambda: dict(total_steps=100), ['total_steps', 'epochs', 'steps_per_epoch']),
    'StepLR': (dict, []),
    'MultiStepLR': (dict, ['milestones']),
    'ExponentialLR': (dict, []),
    'PolynomialLR': (dict, []),
    'ExponentialDecayLR': (dict, ['end_value']),
    'PiecewiseConstantSchedule': (lambda: dict(boundaries=[5, 9], values=[1.0, 0.5, 0.1]), ['boundaries', 'values']),
    'LinearLR': (dict, []),
    'ConstantLR': (dict, []),
    'LambdaLR': (lambda: dict(base_lr=0.1, lr_lambda=_ONE), ['base_lr']),
    'WarmupScheduler': (dict, ['warmup_start_lr']),
    'InverseTimeDecay': (lambda: dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5),
                         ['initial_learning_rate', 'decay_steps', 'decay_rate']),
    'CosineDecay': (lambda: dict(initial_learning_rate=0.1, decay_steps=10),
                    ['initial_learning_rate', 'decay_steps', 'warmup_target']),
    'MultiplicativeLR': (lambda: dict(base_lr=0.1, lr_lambda=_ONE), ['base_lr']),
    'ReduceLROnPlateau': (dict, []),
}


def schedule_cases(cls, base, extra):
    out = []
    params = list(inspect.signature(cls.__init__).parameters.items())[1:]
    for name, p in params:
        d = p.default
        if _is_real(d) or (isinstance(d, tuple) and d and all(_is_real(x) for x in d)):
            out += bad_values(name, d)
    for name in extra:
        value = base.get(name, 1.0)
        out += bad_values(name, tuple(value) if isinstance(value, (list, tuple)) else 1.0)
    return out


def test_every_schedule_is_in_the_table():
    classes = {n for n in bs.__all__ if inspect.isclass(getattr(bs, n))} - {'LRScheduler'}
    assert classes == set(SCHEDULES)


@pytest.mark.parametrize('name', sorted(SCHEDULES))
def test_every_schedule_argument_refuses_inf_and_nan(name):
    cls = getattr(bs, name)
    make_base, extra = SCHEDULES[name]
    cls(**make_base())                                         # the base configuration is valid
    cases = schedule_cases(cls, make_base(), extra)
    assert cases or name == 'ChainedScheduler', name     # ChainedScheduler takes schedules only
    for arg, value in cases:
        assert_refused(f'{name}({arg}={_label(value) if not isinstance(value, tuple) else value})',
                       lambda a=arg, v=value: cls(**{**make_base(), a: v}), arg)


# -- dialects -----------------------------------------------------------------------------------------------
_KERAS_BASE = ('learning_rate', 'weight_decay', 'clipnorm', 'clipvalue', 'global_clipnorm', 'ema_momentum',
               'loss_scale_factor', 'ema_overwrite_frequency', 'gradient_accumulation_steps')
_BRAINPY_REQUIRED = {
    'StepLR': dict(lr=0.1, step_size=3), 'MultiStepLR': dict(lr=0.1, milestones=[3]),
    'CosineAnnealingLR': dict(lr=0.1, T_max=3), 'ExponentialLR': dict(lr=0.1, gamma=0.5),
    'CosineAnnealingWarmRestarts': dict(lr=0.1, num_call_per_epoch=2, T_0=3),
    'ExponentialDecayLR': dict(lr=0.1, decay_steps=2, decay_rate=0.5),
    'InverseTimeDecayLR': dict(lr=0.1, decay_steps=2, decay_rate=0.5),
    'PolynomialDecayLR': dict(lr=0.1, decay_steps=2, final_lr=0.01),
    'PiecewiseConstantLR': dict(boundaries=[2], values=[0.1, 0.01]), 'Constant': dict(lr=0.1),
}
_BRAINPY_SKIP = {'Scheduler', 'CallBasedScheduler', 'make_schedule',             # abstract / a function
                 'ExponentialDecay', 'InverseTimeDecay', 'PolynomialDecay', 'PiecewiseConstant'}  # deprecated aliases


def dialect_cases(cls, base, shared):
    params = inspect.signature(cls.__init__).parameters
    out = []
    for name, p in params.items():
        d = base.get(name, p.default)
        if _is_real(d) or (isinstance(d, tuple) and d and all(_is_real(x) for x in d)):
            out += bad_values(name, d)
        elif isinstance(d, list) and d and all(_is_real(x) for x in d):
            out += bad_values(name, tuple(d))
        elif name == 'weight_decay' and d is None:
            out += bad_values(name, 1.0)
    done = {n for n, _ in out}
    return out + [c for n in shared if n not in done for c in bad_values(n, 1.0)]


@pytest.mark.parametrize('name', kd.__all__)
def test_keras_dialect_refuses_inf_and_nan_under_keras_names(name):
    cls = getattr(kd, name)
    cls()
    for arg, value in dialect_cases(cls, {}, _KERAS_BASE):
        assert_refused(f'keras.{name}({arg}={value})', lambda a=arg, v=value: cls(**{a: v}), arg)


@pytest.mark.parametrize('name', sorted(set(bpd.__all__) - _BRAINPY_SKIP))
def test_brainpy_dialect_refuses_inf_and_nan_under_brainpy_names(name):
    cls = getattr(bpd, name)
    params = inspect.signature(cls.__init__).parameters
    if name in _BRAINPY_REQUIRED:
        base = _BRAINPY_REQUIRED[name]
    else:
        base = {'lr': 0.1} if params['lr'].default is inspect.Parameter.empty else {}
    cls(**base)
    for arg, value in dialect_cases(cls, base, ()):
        assert_refused(f'brainpy.{name}({arg}={value})', lambda a=arg, v=value: cls(**{**base, a: v}), arg)
    if hasattr(cls, 'set_value'):
        sched = cls(**base)
        for v in BAD:
            assert_refused(f'brainpy.{name}.set_value({v})', lambda v=v: sched.set_value(v), 'learning_rate')


def test_brainpy_deprecated_aliases_refuse_too():
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        for v in BAD:
            assert_refused('ExponentialDecay', lambda v=v: bpd.ExponentialDecay(0.1, 2, v), 'decay_rate')
            assert_refused('PiecewiseConstant', lambda v=v: bpd.PiecewiseConstant([v], [0.1, 0.01]), 'boundaries')


# -- docs ---------------------------------------------------------------------------------------------------
def test_conventions_state_the_rule():
    text = (pathlib.Path(__file__).parent.parent / 'docs' / 'conventions.md').read_text()
    assert '## Infinite and NaN hyperparameters' in text
    section = text.split('## Infinite and NaN hyperparameters', 1)[1].split('\n## ', 1)[0]
    assert 'finite' in section and 'allow_inf' in section
