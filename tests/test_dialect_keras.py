"""``brainopt.keras`` against Keras 3 (JAX backend), run live in each test.

Every Keras optimizer that brainopt has runs three configurations that together use every Keras base option:
weight decay with ``exclude_from_weight_decay`` + ``clipnorm`` + ``loss_scale_factor``; gradient accumulation with
EMA, ``global_clipnorm`` and a Keras learning-rate schedule (Keras counts every call); EMA overwrite with
``clipvalue`` and decay. Trajectories (and the EMA, ``iterations``, ``learning_rate`` and
``finalize_variable_values``) equal Keras's to float32 round-off. ``test_each_base_option_alone`` runs each option
by itself once. The cases use Keras's defaults where Keras's arithmetic differs from the default form of brainopt's
rule (Adam's epsilon on the uncorrected root and float32 bias corrections, Adamax's epsilon outside the maximum,
SGD and RMSprop momentum with the learning rate inside the buffer, under a schedule): the dialect runs the rule's
Keras form, and ``test_default_rule_form_differs_from_keras`` shows that the default form would not do.
"""
import inspect

import brainstate
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import brainopt.keras as bk
from brainopt.rules.adafactor import AdafactorRule
from brainopt.rules.adam import AdamRule
from brainopt.rules.adam_family import AdamaxRule
from brainopt.rules.rmsprop import RMSpropRule
from brainopt.rules.sgd import SGDRule

from peers import assert_trajectories_close, make_problem, max_abs_diff

RTOL, ATOL = 2e-6, 1e-7        # float32 round-off over 15 steps
STEPS = 15

# Keras name -> its hyperparameters in these tests, chosen so that every step moves (Adam, Adamax, Muon: Keras's
# defaults, epsilon=1e-7 included; AdamW: betas inexact in float32 and a large epsilon)
HYPER = {
    'Adadelta': dict(learning_rate=0.5, rho=0.9, epsilon=1e-3),
    'Adafactor': dict(learning_rate=0.05, beta_2_decay=-0.5, epsilon_2=1e-2, clip_threshold=0.5),
    'Adagrad': dict(learning_rate=0.1, initial_accumulator_value=0.1, epsilon=1e-3),
    'Adam': dict(learning_rate=0.05, amsgrad=True),
    'AdamW': dict(learning_rate=0.05, beta_1=0.8, beta_2=0.95, epsilon=1e-3),
    'Adamax': dict(learning_rate=0.05),
    'Ftrl': dict(learning_rate=0.2, learning_rate_power=-0.3, l1_regularization_strength=0.01,
                 l2_regularization_strength=0.02, l2_shrinkage_regularization_strength=0.03, beta=0.5),
    'Lamb': dict(learning_rate=0.05, beta_1=0.75, beta_2=0.875),
    'Lion': dict(learning_rate=0.01, beta_1=0.5, beta_2=0.75),
    'Muon': dict(learning_rate=0.05, momentum=0.8),
    'Nadam': dict(learning_rate=0.05, beta_1=0.75, beta_2=0.875, epsilon=1e-7),
    'RMSprop': dict(learning_rate=0.01, rho=0.875, momentum=0.5, epsilon=1e-3, centered=True),
    'SGD': dict(learning_rate=0.1, momentum=0.75, nesterov=True),
    'ScheduleFreeAdamW': dict(learning_rate=0.05, beta_1=0.75, beta_2=0.875, epsilon=1e-3, warmup_steps=3),
}


def _schedule():
    return keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.75)


def _configs(name):
    """Three configurations that together use every Keras base option (Muon: its AdamW leaves decay with their own
    adam_weight_decay)."""
    hyper = HYPER[name]
    wd = dict(weight_decay=0.1, adam_weight_decay=0.3) if name == 'Muon' else dict(weight_decay=0.1)
    return [
        ('decay-exclude-clipnorm-lossscale', dict(hyper, **wd, clipnorm=0.5, loss_scale_factor=64.0), ['b'], 64.0),
        ('accumulation-ema-globalclip-schedule',
         dict(hyper, learning_rate=_schedule(), gradient_accumulation_steps=3, use_ema=True, ema_momentum=0.5,
              global_clipnorm=0.5), None, 1.0),
        ('ema-overwrite-clipvalue-decay',
         dict(hyper, **wd, use_ema=True, ema_momentum=0.75, ema_overwrite_frequency=4, clipvalue=0.3), None, 1.0),
    ]


def run_keras(problem, name, kwargs, exclude=None):
    """Keras: params, EMA and learning rate after each call; iterations; params after finalize."""
    names = problem.names
    variables = [keras.Variable(problem.params0[n].copy(), dtype='float32', name=n) for n in names]
    opt = getattr(keras.optimizers, name)(**kwargs)
    if exclude:
        opt.exclude_from_weight_decay(var_names=exclude)

    def read(vs):
        return {n: np.array(v.value, np.float32) for n, v in zip(names, vs)}

    opt.build(variables)
    # Keras's own stateless step under jax.jit (what Keras's JAX trainer runs): eager apply() re-traces its
    # lax.cond branches on every call, seconds per run
    step = jax.jit(lambda ov, g, tv: opt.stateless_apply(ov, g, tv))
    traj, ema, lrs = [], [], []
    for t in range(problem.steps):
        lrs.append(float(opt.learning_rate))
        g = problem.grad(read(variables), t)
        new_tv, new_ov = step([v.value for v in opt.variables], [jnp.asarray(g[n]) for n in names],
                              [v.value for v in variables])
        for v, value in zip(list(variables) + list(opt.variables), list(new_tv) + list(new_ov)):
            v.assign(value)
        traj.append(read(variables))
        if kwargs.get('use_ema'):
            ema.append(read(opt._model_variables_moving_average))
    iterations = int(opt.iterations)
    opt.finalize_variable_values(variables)
    return traj, ema, lrs, iterations, read(variables)


def run_dialect(problem, name, kwargs, exclude=None, rule=None):
    """brainopt.keras, the same loop (``update`` eagerly: one compiled step); ``rule(opt.rule)`` replaces the rule."""
    states = {n: brainstate.ParamState(jnp.asarray(v)) for n, v in problem.initial_params().items()}
    opt = getattr(bk, name)(**kwargs)
    if rule is not None:
        object.__setattr__(opt, 'rule', rule(opt.rule))    # (the test's swap, before anything is registered)
    if exclude:
        opt.exclude_from_weight_decay(var_names=exclude)
    opt.register_trainable_weights(states)
    traj, ema, lrs = [], [], []
    for t in range(problem.steps):
        lrs.append(float(opt.learning_rate))
        opt.update({n: jnp.asarray(v) for n, v in problem.grad({n: s.value for n, s in states.items()}, t).items()})
        traj.append({n: np.asarray(s.value) for n, s in states.items()})
        if kwargs.get('use_ema'):
            ema.append({n: np.asarray(opt.get_slot('ema', n)) for n in states})
    iterations = int(opt.iterations)
    opt.finalize_variable_values()
    return traj, ema, lrs, iterations, {n: np.asarray(s.value) for n, s in states.items()}


def assert_runs_equal(ours, theirs, what):
    (traj, ema, lrs, it, final), (k_traj, k_ema, k_lrs, k_it, k_final) = ours, theirs
    assert_trajectories_close(traj, k_traj, rtol=RTOL, atol=ATOL, err_msg=what)
    assert_trajectories_close(ema, k_ema, rtol=RTOL, atol=ATOL, err_msg=f'{what} (EMA)')
    assert_trajectories_close([final], [k_final], rtol=RTOL, atol=ATOL, err_msg=f'{what} (finalize)')
    # Keras peer: the same float32 learning-rate formulas, within 4 ulps (< rtol 1e-6)
    np.testing.assert_allclose(lrs, k_lrs, rtol=1e-6, err_msg=f'{what} (learning_rate)')
    assert it == k_it, (what, it, k_it)


@pytest.mark.parametrize('name', sorted(HYPER))
def test_trajectories_equal_keras(name):
    """The three configurations of one optimizer; the signature's defaults are Keras's."""
    ours_sig = inspect.signature(getattr(bk, name).__init__).parameters
    for arg, p in inspect.signature(getattr(keras.optimizers, name).__init__).parameters.items():
        if arg in ours_sig and arg != 'name':
            assert ours_sig[arg].default == p.default, (name, arg, ours_sig[arg].default, p.default)
    for label, kwargs, exclude, scale in _configs(name):
        problem = make_problem(seed=1, steps=STEPS, grad_scale=scale)
        theirs = run_keras(problem, name, kwargs, exclude)
        kwargs = dict(kwargs, learning_rate=_schedule()) if 'gradient_accumulation_steps' in kwargs else kwargs
        assert_runs_equal(run_dialect(problem, name, kwargs, exclude), theirs, f'{name} {label}')


BASE_OPTIONS = {
    'weight_decay': dict(weight_decay=0.2), 'clipnorm': dict(clipnorm=0.3), 'clipvalue': dict(clipvalue=0.2),
    'global_clipnorm': dict(global_clipnorm=0.4), 'use_ema': dict(use_ema=True),
    'ema_momentum': dict(use_ema=True, ema_momentum=0.5),
    'ema_overwrite_frequency': dict(use_ema=True, ema_overwrite_frequency=3),
    'loss_scale_factor': dict(loss_scale_factor=32.0),
    'gradient_accumulation_steps': dict(gradient_accumulation_steps=2),
}


def test_each_base_option_alone():
    """Each Keras base option by itself, on Adagrad (the seed's second optimizer)."""
    for option, extra in BASE_OPTIONS.items():
        problem = make_problem(seed=4, steps=12, grad_scale=extra.get('loss_scale_factor', 1.0))
        kwargs = dict(HYPER['Adagrad'], **extra)
        assert_runs_equal(run_dialect(problem, 'Adagrad', kwargs), run_keras(problem, 'Adagrad', kwargs), option)


def test_exclude_by_state_and_errors():
    """var_list excludes by State (Keras: by variable); Keras's argument checks are Keras's."""
    problem = make_problem(seed=2, steps=10)
    states = {n: brainstate.ParamState(jnp.asarray(v)) for n, v in problem.initial_params().items()}
    opt = bk.SGD(learning_rate=0.1, weight_decay=0.5).register_trainable_weights(states)
    opt.exclude_from_weight_decay(var_list=[states['w']])       # after registration: takes effect at once
    opt.update({'w': jnp.zeros((3, 4)), 'b': jnp.zeros(4)})
    np.testing.assert_array_equal(states['w'].value, problem.params0['w'])
    # float32 p - p * 0.05 vs numpy's float32 p * 0.95: 3 roundings, within 2 ulps (< rtol 1e-6)
    np.testing.assert_allclose(states['b'].value, problem.params0['b'] * (1 - 0.05), rtol=1e-6)
    with pytest.raises(ValueError, match='only one of'):
        bk.Adam(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match='gradient_accumulation_steps'):
        bk.Adam(gradient_accumulation_steps=1)
    with pytest.raises(ValueError, match='not recognized'):
        bk.Adam(lr=0.1)
    with pytest.raises(TypeError, match='var_list'):
        opt.exclude_from_weight_decay(var_list=['w'])


def test_learning_rate_callable_and_setter():
    """A callable of no argument (Keras's form) is a learning rate; setting learning_rate takes effect."""
    problem = make_problem(seed=3, steps=10)
    kwargs = dict(learning_rate=lambda: 0.125)
    assert_runs_equal(run_dialect(problem, 'SGD', kwargs), run_keras(problem, 'SGD', kwargs), 'callable lr')
    w = brainstate.ParamState(jnp.ones(2))
    opt = bk.SGD(learning_rate=0.1).register_trainable_weights({'w': w})
    opt.learning_rate = 0.5
    opt.update({'w': jnp.ones(2)})
    np.testing.assert_allclose(w.value, [0.5, 0.5])
    assert float(opt.learning_rate) == 0.5


def test_adafactor_cap_binds_with_weight_decay_and_accumulation():
    """learning_rate 1.0 > 1/sqrt(t): Keras caps the rule's step size at 1/sqrt(t) but decays the weights with the
    uncapped rate (and reports it as learning_rate); with accumulation t counts the updates applied."""
    for label, kwargs in [('decay', dict(learning_rate=1.0, weight_decay=0.1)),
                          ('decay-accumulation', dict(learning_rate=0.7, weight_decay=0.05,
                                                      gradient_accumulation_steps=2)),
                          ('decay-ema-schedule', dict(learning_rate=_schedule(), weight_decay=0.05, use_ema=True))]:
        problem = make_problem(seed=7, steps=STEPS)
        theirs = run_keras(problem, 'Adafactor', kwargs)
        ours_kwargs = dict(kwargs, learning_rate=_schedule()) if callable(kwargs['learning_rate']) else kwargs
        assert_runs_equal(run_dialect(problem, 'Adafactor', ours_kwargs), theirs, f'Adafactor {label}')
    # the cap binds here: the same run with the rule uncapped moves elsewhere
    uncapped = run_dialect(problem, 'Adafactor', dict(learning_rate=1.0, weight_decay=0.1),
                           rule=lambda r: AdafactorRule(r.eps1, r.eps2, r.clip_threshold, r.decay_rate, r.beta1,
                                                        r.factored, cap_lr=False))
    capped = run_dialect(problem, 'Adafactor', dict(learning_rate=1.0, weight_decay=0.1))
    assert max_abs_diff(uncapped[0], capped[0]) > 1e-2


# the default (torch) form of each rule that the dialect runs in Keras's form
DEFAULT_FORM = {
    'Adam': lambda r: AdamRule(r.b1, r.b2, r.eps, r.amsgrad),
    'Adamax': lambda r: AdamaxRule(r.b1, r.b2, r.eps),
    'SGD': lambda r: SGDRule(r.momentum, 0.0, r.nesterov),
    'RMSprop': lambda r: RMSpropRule(r.alpha, r.eps, r.momentum, r.centered, r.eps_placement),
}


def test_default_rule_form_differs_from_keras():
    """Keras adds Adam's epsilon to the uncorrected root and Adamax's outside the maximum, and keeps the learning
    rate inside SGD's and RMSprop's momentum buffer (m = mu m - lr_t g): the dialect's Keras form of each rule equals
    Keras (above, and here with a large epsilon / a fast schedule), the default form does not."""
    problem = make_problem(seed=1, steps=STEPS)
    for name, epsilon in [('Adam', 0.1), ('Adamax', 0.1), ('SGD', None), ('RMSprop', None)]:
        def kwargs():           # a fresh schedule for each run
            return dict(HYPER[name], epsilon=epsilon) if epsilon else dict(HYPER[name], learning_rate=_schedule())
        theirs = run_keras(problem, name, kwargs())[0]
        assert_trajectories_close(run_dialect(problem, name, kwargs())[0], theirs, rtol=RTOL, atol=ATOL, err_msg=name)
        default = max_abs_diff(run_dialect(problem, name, kwargs(), rule=DEFAULT_FORM[name])[0], theirs)
        assert default > 1e-4, name
