"""Golden trajectories of SGD, Adam, AdamW and RMSprop against the real peers.

Peers: torch.optim 2.13 (the reference formulas), optax 0.2 and Keras 3 (jax
backend), run live through ``tests/peers.py``: 12 steps of the same
deterministic problem, gradients from one numpy function of each library's own
current parameters, so trajectories agree to float32 round-off (rtol 2e-6,
atol 1e-7, as ``test_golden.py``). Where a peer's formula differs from
torch's, the test says how, and a ``*_differs`` test pins that the difference
is real (so that the matching tests can tell the formulas apart).
"""
import functools
import inspect

import brainstate
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import brainopt

from peers import (
    assert_trajectories_close,
    keras_trajectory,
    make_problem,
    max_abs_diff,
    optax_trajectory,
    torch_trajectory,
)
from runner import brainopt_trajectory

RTOL, ATOL = 2e-6, 1e-7        # float32 round-off over 12 steps

SHAPES = (('w', (3, 4)), ('b', (4,)), ('v', (7,)))


@pytest.fixture(scope='module')
def problem():
    return make_problem(seed=1, shapes=SHAPES, steps=12)


def _sched():
    return optax.exponential_decay(0.1, transition_steps=3, decay_rate=0.5, staircase=True)


# -- torch.optim: the reference formulas; both libraries take the same keyword arguments ----------------
TORCH_CASES = [
    ('SGD', dict(lr=0.1)),
    ('SGD', dict(lr=0.1, momentum=0.9)),
    ('SGD', dict(lr=0.1, momentum=0.9, nesterov=True)),
    ('SGD', dict(lr=0.1, momentum=0.8, dampening=0.3, weight_decay=0.1)),
    ('SGD', dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05)),
    ('Adam', dict(lr=0.05)),
    ('Adam', dict(lr=0.05, betas=(0.8, 0.9), amsgrad=True)),
    ('Adam', dict(lr=0.05, eps=1e-3, weight_decay=0.1)),                # coupled L2
    ('Adam', dict(lr=0.05, betas=(0.3, 0.99), amsgrad=True, weight_decay=0.1)),   # lerp's second branch
    ('Adam', dict(lr=0.05, betas=(0.0, 0.0))),                         # no averaging, no correction
    ('AdamW', dict(lr=0.05)),                                           # weight_decay=1e-2 by default, both
    ('AdamW', dict(lr=0.05, weight_decay=0.3, amsgrad=True)),
    ('AdamW', dict(lr=0.05, betas=(0.5, 0.9), eps=1e-2, weight_decay=0.1)),
    ('RMSprop', dict(lr=0.01)),
    ('RMSprop', dict(lr=0.01, alpha=0.9, momentum=0.8, centered=True)),
    ('RMSprop', dict(lr=0.01, alpha=0.5, eps=1e-2, weight_decay=0.1, centered=True)),
    ('RMSprop', dict(lr=0.01, alpha=0.9, eps=0.1, momentum=0.9, weight_decay=0.1)),
]


@pytest.mark.parametrize('name,kwargs', TORCH_CASES, ids=[f'{n}-{i}' for i, (n, _) in enumerate(TORCH_CASES)])
def test_torch_golden(problem, name, kwargs):
    expected = torch_trajectory(problem, name, **kwargs)
    actual = brainopt_trajectory(problem, getattr(brainopt, name)(**kwargs))
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL, err_msg=f'torch {name} {kwargs}')


def test_torch_golden_adam_global_clip(problem):
    # torch.nn.utils.clip_grad_norm_ divides by (norm + 1e-6): equal to 1e-6 relative (as test_golden.py)
    expected = torch_trajectory(problem, 'Adam', lr=0.05, clip_grad_norm=0.5)
    actual = brainopt_trajectory(problem, brainopt.Adam(lr=0.05, grad_clip_norm=0.5))
    assert_trajectories_close(actual, expected, rtol=1e-5, atol=1e-6)


# -- optax ------------------------------------------------------------------------------------------------
# optax.sgd and optax.rmsprop put the learning rate before/after the momentum trace in the same places as torch
# (sgd: trace, then lr; rmsprop: lr, then trace -- equal for a constant lr). optax.rmsprop's default
# eps_in_sqrt=True is brainopt's eps_placement='inside'.
#
# Adam's bias corrections: optax and Keras evaluate 1 - b2**t in float32 from float32(b2), which for b2=0.999
# is 1.3e-5 (relative) off the exact value that torch (in double) and brainopt (bias_correction) use; the step
# is then 6.5e-6 off, i.e. up to ~3e-7 absolute per step at lr=0.05. The formula is therefore pinned with betas
# that float32 holds exactly and whose powers do not cancel (0.75, 0.875): there the peers agree to round-off.
# With the default betas, test_adam_default_betas_differ_only_by_float32_bias_correction shows that the whole
# difference is that float32 evaluation.
BC_ATOL = 5e-6     # 12 steps x 6.5e-6 x lr 0.05 bounds the drift that the float32 corrections cause
EXACT_BETAS = dict(b1=0.75, b2=0.875)

OPTAX_CASES = {
    'sgd': (lambda: optax.sgd(0.1), lambda: brainopt.SGD(lr=0.1), False),
    'sgd-momentum': (lambda: optax.sgd(0.1, momentum=0.9), lambda: brainopt.SGD(lr=0.1, momentum=0.9), False),
    'sgd-nesterov': (lambda: optax.sgd(0.1, momentum=0.9, nesterov=True),
                     lambda: brainopt.SGD(lr=0.1, momentum=0.9, nesterov=True), False),
    'sgd-coupled-decay': (lambda: optax.chain(optax.add_decayed_weights(0.1), optax.sgd(0.1, momentum=0.9)),
                          lambda: brainopt.SGD(lr=0.1, momentum=0.9, weight_decay=0.1), False),
    # a schedule multiplies the buffer (torch, optax); Keras would keep lr inside the buffer instead
    'sgd-momentum-schedule': (lambda: optax.sgd(_sched(), momentum=0.9),
                              lambda: brainopt.SGD(lr=_sched(), momentum=0.9), True),
    'adam': (lambda: optax.adam(0.05, **EXACT_BETAS, eps=1e-8),
             lambda: brainopt.Adam(lr=0.05, betas=(0.75, 0.875)), False),
    'adam-eps': (lambda: optax.adam(0.05, **EXACT_BETAS, eps=1e-2),
                 lambda: brainopt.Adam(lr=0.05, betas=(0.75, 0.875), eps=1e-2), False),
    'adam-schedule': (lambda: optax.adam(_sched(), **EXACT_BETAS),
                      lambda: brainopt.Adam(lr=_sched(), betas=(0.75, 0.875)), True),
    'adam-coupled-decay': (lambda: optax.chain(optax.add_decayed_weights(0.1), optax.adam(0.05, **EXACT_BETAS)),
                           lambda: brainopt.Adam(lr=0.05, betas=(0.75, 0.875), weight_decay=0.1), False),
    'adamw': (lambda: optax.adamw(0.05, **EXACT_BETAS, weight_decay=0.3),
              lambda: brainopt.AdamW(lr=0.05, betas=(0.75, 0.875), weight_decay=0.3), False),
    'rmsprop-outside': (lambda: optax.rmsprop(0.01, decay=0.99, eps=1e-8, eps_in_sqrt=False),
                        lambda: brainopt.RMSprop(lr=0.01), False),
    'rmsprop-inside': (lambda: optax.rmsprop(0.01, decay=0.9, eps=1e-2),
                       lambda: brainopt.RMSprop(lr=0.01, alpha=0.9, eps=1e-2, eps_placement='inside'), False),
    'rmsprop-centered-momentum': (
        lambda: optax.rmsprop(0.01, decay=0.9, eps=1e-3, eps_in_sqrt=False, centered=True, momentum=0.8),
        lambda: brainopt.RMSprop(lr=0.01, alpha=0.9, eps=1e-3, centered=True, momentum=0.8), False),
    'rmsprop-centered-inside': (
        lambda: optax.rmsprop(0.01, decay=0.9, eps=1e-3, centered=True),
        lambda: brainopt.RMSprop(lr=0.01, alpha=0.9, eps=1e-3, centered=True, eps_placement='inside'), False),
}


@pytest.mark.parametrize('case', sorted(OPTAX_CASES))
def test_optax_golden(problem, case):
    tx, opt, jit = OPTAX_CASES[case]
    expected = optax_trajectory(problem, tx())
    actual = brainopt_trajectory(problem, opt(), jit=jit)
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL, err_msg=f'optax {case}')


def _float32_bias_correction(beta, step):
    # what optax (optax.tree.bias_correction) and Keras (ops.power of float32 beta) compute
    return 1 - jnp.float32(beta) ** step


@pytest.mark.parametrize('peer', ['optax-adam', 'optax-adamw', 'keras-adam'])
def test_adam_default_betas_differ_only_by_float32_bias_correction(problem, monkeypatch, peer):
    """With betas (0.9, 0.999) brainopt stays within BC_ATOL of optax and Keras, and with their float32
    bias corrections swapped in it equals them to round-off: the correction is the whole difference."""
    import brainopt.rules.adam as adam_rule
    if peer == 'optax-adam':
        expected, make = optax_trajectory(problem, optax.adam(0.05)), functools.partial(brainopt.Adam, lr=0.05)
    elif peer == 'optax-adamw':
        expected = optax_trajectory(problem, optax.adamw(0.05, weight_decay=1e-2))
        make = functools.partial(brainopt.AdamW, lr=0.05)
    else:
        expected = keras_trajectory(problem, 'Adam', learning_rate=0.05, epsilon=0.0)
        make = functools.partial(brainopt.Adam, lr=0.05, eps=0.0)
    exact = brainopt_trajectory(problem, make())
    assert_trajectories_close(exact, expected, rtol=RTOL, atol=BC_ATOL)
    assert max_abs_diff(exact, expected) > 1e-7           # the float32 corrections do show
    monkeypatch.setattr(adam_rule, 'bias_correction', _float32_bias_correction)
    # (the betas are live: the rule reads them through live_bias_correction)
    monkeypatch.setattr(adam_rule, 'live_bias_correction',
                        lambda hyper, name, step: _float32_bias_correction(hyper[name], step))
    assert_trajectories_close(brainopt_trajectory(problem, make()), expected, rtol=RTOL, atol=ATOL)


def test_optax_amsgrad_differs(problem):
    """optax.amsgrad takes the maximum of the *bias-corrected* second moment; torch, Keras and brainopt take it
    of the raw moment, then correct. brainopt follows torch."""
    kwargs = dict(lr=0.05, betas=(0.8, 0.9), amsgrad=True)
    torch_ref = torch_trajectory(problem, 'Adam', **kwargs)
    optax_ref = optax_trajectory(problem, optax.amsgrad(0.05, b1=0.8, b2=0.9, eps=1e-8))
    assert max_abs_diff(torch_ref, optax_ref) > 1e-3
    assert_trajectories_close(brainopt_trajectory(problem, brainopt.Adam(**kwargs)), torch_ref, rtol=RTOL, atol=ATOL)


# -- Keras 3 ------------------------------------------------------------------------------------------------
# Keras SGD keeps m = mu*m - lr*g and adds m (nesterov: mu*m - lr*g): with a constant learning rate that is
# -lr times torch's buffer, so the trajectories coincide. Keras Adam adds epsilon to the *uncorrected* root
# (alpha = lr*sqrt(1-b2^t)/(1-b1^t); m*alpha/(sqrt(v)+eps)), equal to torch's formula only at epsilon=0: the
# Adam cases pass epsilon=0 (test_keras_adam_epsilon_differs pins the difference). Keras RMSprop adds epsilon
# inside the root (eps_placement='inside') and keeps lr inside its momentum (equal for a constant lr). Keras's
# weight_decay is decoupled for every optimizer.
KERAS_CASES = {
    'sgd': ('SGD', dict(learning_rate=0.1), 'SGD', dict(lr=0.1)),
    'sgd-momentum': ('SGD', dict(learning_rate=0.1, momentum=0.9), 'SGD', dict(lr=0.1, momentum=0.9)),
    'sgd-nesterov': ('SGD', dict(learning_rate=0.1, momentum=0.9, nesterov=True),
                     'SGD', dict(lr=0.1, momentum=0.9, nesterov=True)),
    'sgd-momentum-decay': ('SGD', dict(learning_rate=0.1, momentum=0.9, weight_decay=0.1),
                           'SGD', dict(lr=0.1, momentum=0.9, weight_decay=0.1, weight_decay_mode='decoupled')),
    'adam': ('Adam', dict(learning_rate=0.05, beta_1=0.75, beta_2=0.875, epsilon=0.0),
             'Adam', dict(lr=0.05, betas=(0.75, 0.875), eps=0.0)),
    'adam-amsgrad': ('Adam', dict(learning_rate=0.05, beta_1=0.75, beta_2=0.875, epsilon=0.0, amsgrad=True),
                     'Adam', dict(lr=0.05, betas=(0.75, 0.875), eps=0.0, amsgrad=True)),
    'adam-decay-is-adamw': ('Adam', dict(learning_rate=0.05, beta_1=0.75, beta_2=0.875, epsilon=0.0,
                                         weight_decay=0.1),
                            'AdamW', dict(lr=0.05, betas=(0.75, 0.875), eps=0.0, weight_decay=0.1)),
    'adamw': ('AdamW', dict(learning_rate=0.05, beta_1=0.75, beta_2=0.875, weight_decay=0.3, epsilon=0.0,
                            amsgrad=True),
              'AdamW', dict(lr=0.05, betas=(0.75, 0.875), weight_decay=0.3, eps=0.0, amsgrad=True)),
    'adam-clip-accumulation': (
        'Adam', dict(learning_rate=0.05, beta_1=0.75, beta_2=0.875, epsilon=0.0, global_clipnorm=0.5,
                     gradient_accumulation_steps=3),
        'Adam', dict(lr=0.05, betas=(0.75, 0.875), eps=0.0, grad_clip_norm=0.5, gradient_accumulation_steps=3)),
    'rmsprop': ('RMSprop', dict(learning_rate=0.01, rho=0.9, epsilon=1e-7),
                'RMSprop', dict(lr=0.01, alpha=0.9, eps=1e-7, eps_placement='inside')),
    'rmsprop-centered-momentum': (
        'RMSprop', dict(learning_rate=0.01, rho=0.9, epsilon=1e-3, centered=True, momentum=0.8),
        'RMSprop', dict(lr=0.01, alpha=0.9, eps=1e-3, centered=True, momentum=0.8, eps_placement='inside')),
    'rmsprop-large-eps-decay': (
        'RMSprop', dict(learning_rate=0.01, rho=0.5, epsilon=0.1, weight_decay=0.1),
        'RMSprop', dict(lr=0.01, alpha=0.5, eps=0.1, eps_placement='inside', weight_decay=0.1,
                        weight_decay_mode='decoupled')),
}


@pytest.mark.parametrize('case', sorted(KERAS_CASES))
def test_keras_golden(problem, case):
    k_name, k_kwargs, b_name, b_kwargs = KERAS_CASES[case]
    expected = keras_trajectory(problem, k_name, **k_kwargs)
    actual = brainopt_trajectory(problem, getattr(brainopt, b_name)(**b_kwargs))
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL, err_msg=f'keras {case}')


def test_keras_adam_epsilon_differs(problem):
    """Keras's epsilon sits on the uncorrected root; torch's (brainopt's) on the corrected one."""
    torch_ref = torch_trajectory(problem, 'Adam', lr=0.05, eps=0.1)
    keras_ref = keras_trajectory(problem, 'Adam', learning_rate=0.05, beta_1=0.9, beta_2=0.999, epsilon=0.1)
    assert max_abs_diff(torch_ref, keras_ref) > 1e-2
    assert_trajectories_close(brainopt_trajectory(problem, brainopt.Adam(lr=0.05, eps=0.1)), torch_ref,
                              rtol=RTOL, atol=ATOL)


def test_rmsprop_eps_placement_is_pinned(problem):
    """brainopt.RMSprop's default is torch's eps after the root; 'inside' is Keras's (and optax's default)."""
    torch_ref = torch_trajectory(problem, 'RMSprop', lr=0.01, alpha=0.9, eps=0.1)
    keras_ref = keras_trajectory(problem, 'RMSprop', learning_rate=0.01, rho=0.9, epsilon=0.1)
    assert max_abs_diff(torch_ref, keras_ref) > 1e-3
    outside = brainopt_trajectory(problem, brainopt.RMSprop(lr=0.01, alpha=0.9, eps=0.1))
    inside = brainopt_trajectory(problem, brainopt.RMSprop(lr=0.01, alpha=0.9, eps=0.1, eps_placement='inside'))
    assert_trajectories_close(outside, torch_ref, rtol=RTOL, atol=ATOL)
    assert_trajectories_close(inside, keras_ref, rtol=RTOL, atol=ATOL)


# -- memory: exactly the slots each variant needs -------------------------------------------------------------
SLOT_CASES = [
    (lambda: brainopt.SGD(lr=0.1), ()),
    (lambda: brainopt.SGD(lr=0.1, momentum=0.9, dampening=0.1), ('momentum_buffer',)),
    (lambda: brainopt.Adam(), ('exp_avg', 'exp_avg_sq')),
    (lambda: brainopt.Adam(amsgrad=True), ('exp_avg', 'exp_avg_sq', 'max_exp_avg_sq')),
    (lambda: brainopt.AdamW(), ('exp_avg', 'exp_avg_sq')),
    (lambda: brainopt.RMSprop(), ('square_avg',)),
    (lambda: brainopt.RMSprop(momentum=0.9), ('square_avg', 'momentum_buffer')),
    (lambda: brainopt.RMSprop(centered=True), ('square_avg', 'grad_avg')),
    (lambda: brainopt.RMSprop(momentum=0.9, centered=True), ('square_avg', 'momentum_buffer', 'grad_avg')),
]


@pytest.mark.parametrize('make,slots', SLOT_CASES, ids=[str(i) for i in range(len(SLOT_CASES))])
def test_slots_are_exactly_what_the_variant_needs(make, slots):
    ws = {'a': brainstate.ParamState(jnp.ones((2, 3))), 'b': brainstate.ParamState(jnp.zeros(4))}
    opt = make().register_trainable_weights(ws)
    assert opt.rule.slots == slots and tuple(opt.slots) == slots
    opt.update({'a': jnp.full((2, 3), 0.5), 'b': jnp.full(4, -0.5)})
    states = brainstate.graph.states(opt)
    assert set(states) == {('step_count',), ('hyperparams',)} | {('slots', s) for s in slots}
    for s in slots:
        assert opt.get_slot(s, 'a').shape == (2, 3) and opt.get_slot(s, 'b').shape == (4,)
    assert not np.allclose(ws['a'].value, 1.0)


def test_plain_sgd_keeps_no_state_but_the_step_count():
    """The engine with an empty slot tuple: no slot States, eager and traced updates, a clear get_slot error."""
    w = brainstate.ParamState(jnp.array([1.0, -2.0]))
    opt = brainopt.SGD(lr=0.5).register_trainable_weights({'w': w})
    assert opt.slots == {} and set(brainstate.graph.states(opt)) == {('step_count',), ('hyperparams',)}
    opt.update({'w': jnp.array([1.0, 1.0])})

    @brainstate.transform.jit
    def step(g):
        return opt.update({'w': g}).applied

    assert bool(step(jnp.array([1.0, 1.0])))
    np.testing.assert_array_equal(w.value, [0.0, -3.0])
    assert int(opt.step_count.value) == 2
    with pytest.raises(KeyError, match="SGD has no slot 'momentum_buffer'"):
        opt.get_slot('momentum_buffer', 'w')
    # a parameter registered later gets no slot either
    opt.register_trainable_weights({'v': brainstate.ParamState(jnp.ones(3))})
    assert opt.slots == {}


def test_sgd_dampening_skipped_on_the_first_update():
    """torch: the first step copies the gradient into the buffer; dampening applies from the second on."""
    w = brainstate.ParamState(jnp.zeros(1))
    opt = brainopt.SGD(lr=1.0, momentum=0.5, dampening=0.5).register_trainable_weights({'w': w})
    opt.update({'w': jnp.ones(1)})
    np.testing.assert_allclose(opt.get_slot('momentum_buffer', 'w'), [1.0])
    opt.update({'w': jnp.ones(1)})
    np.testing.assert_allclose(opt.get_slot('momentum_buffer', 'w'), [0.5 * 1.0 + 0.5 * 1.0])


def test_adamw_is_adam_with_decoupled_decay(problem):
    a = brainopt_trajectory(problem, brainopt.AdamW(lr=0.05, weight_decay=0.2))
    b = brainopt_trajectory(problem, brainopt.Adam(lr=0.05, weight_decay=0.2, weight_decay_mode='decoupled'))
    assert_trajectories_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"AdamW: weight_decay_mode must be 'decoupled'.*brainopt.Adam"):
        brainopt.AdamW(weight_decay_mode='coupled')


def test_bias_correction_is_as_accurate_as_torchs_double():
    from brainopt.rules.adam import bias_correction
    steps = np.arange(1, 2001, dtype=np.float32)
    for beta in (0.5, 0.9, 0.99, 0.999, 0.9999):
        exact = 1 - np.float64(beta) ** steps.astype(np.float64)
        ours = np.asarray(bias_correction(beta, jnp.asarray(steps)), np.float64)
        np.testing.assert_allclose(ours, exact, rtol=4e-7)   # a few ulps; the naive float32 form: 2e-5
    np.testing.assert_array_equal(bias_correction(0.0, jnp.asarray(steps)), 1.0)


def test_keyword_only_after_the_arguments_peers_agree_on():
    """braintools and torch put weight_decay at different positions; a positional call that would mean
    different things in them is an error here rather than a silent reinterpretation."""
    with pytest.raises(TypeError):
        brainopt.SGD(0.1, 0.9, 1e-4)            # braintools: weight_decay; torch: dampening
    with pytest.raises(TypeError):
        brainopt.Adam(1e-3, (0.9, 0.999), 1e-8)  # braintools: beta1 (deprecated); torch: eps
    with pytest.raises(TypeError):
        brainopt.RMSprop(1e-2, 0.99, 1e-8, 0.1)  # both: weight_decay
    assert brainopt.AdamW(1e-3, (0.9, 0.999), 1e-8, 0.1).weight_decay == 0.1   # both peers agree here


@pytest.mark.parametrize('name', ['SGD', 'Adam', 'AdamW', 'RMSprop'])
def test_braintools_defaults_and_keywords(name):
    """Every braintools.optim argument is accepted, with the same default (beta1/beta2, deprecated there,
    are left out)."""
    import braintools.optim as bt
    ours = dict(inspect.signature(getattr(brainopt, name)).parameters)
    shared = inspect.signature(brainopt.Optimizer.__init__).parameters
    # braintools's class signature reads (*args, **kwargs): its __init__ holds the arguments
    theirs = {k: p for k, p in inspect.signature(getattr(bt, name).__init__).parameters.items()
              if k != 'self' and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    assert theirs
    for k, p in theirs.items():
        if k in ('beta1', 'beta2'):
            continue
        mine = ours.get(k, shared.get(k))
        assert mine is not None, (name, k)
        assert mine.default == p.default or (isinstance(p.default, tuple) and tuple(mine.default) == p.default), \
            (name, k, mine.default, p.default)
