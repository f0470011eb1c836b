"""Golden trajectories of the element-wise catalogue against the real peers.

Momentum, MomentumNesterov, Adamax, Nadam, RAdam, Rprop, Yogi, AdaBelief,
Lion, Adan and Ftrl. Peers, run live through ``tests/peers.py``: torch.optim
(torch 2.13.0: Adamax, NAdam, RAdam, Rprop, SGD), optax 0.2.8 (sgd, adamax,
nadam, radam, rprop, yogi, adabelief, lion, adan) and Keras 3.15 on the jax
backend (SGD, Adamax, Nadam, Lion, Ftrl). 12 steps of one deterministic
problem, gradients from one numpy function of each library's own parameters,
so trajectories agree to float32 round-off (rtol 2e-6, atol 1e-7).

Where a peer's formula differs from the one brainopt follows, the matching
test says how and a ``*_differs`` test pins that the difference is real.
Two step-dependent scalars are computed differently from every peer (in
closed form, see ``brainopt/rules/adam_family.py``); they are checked against
float64 numpy written here from the papers' definitions.
"""
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
# optax evaluates 1 - b^t in float32 from float32(b): 1.3e-5 relative off at b=0.999 (and ~1e-6 at 0.98);
# brainopt's corrections are torch's double-precision ones (see test_golden_catalogue.py). Cases with the
# default betas therefore get this absolute slack; cases with betas float32 holds exactly get none.
BC_ATOL = 5e-6
EXACT = (0.75, 0.875)

SHAPES = (('w', (3, 4)), ('b', (4,)), ('v', (7,)))


@pytest.fixture(scope='module')
def problem():
    return make_problem(seed=1, shapes=SHAPES, steps=12)


def _sched():
    return optax.exponential_decay(0.05, transition_steps=3, decay_rate=0.5, staircase=True)


# -- torch.optim: same keyword arguments in both libraries (torch's names, ours) ------------------------
TORCH_CASES = [
    # (torch.optim class, brainopt class, the shared keyword arguments, torch-only ones)
    ('Adamax', 'Adamax', dict(lr=0.05), {}),
    ('Adamax', 'Adamax', dict(lr=0.05, betas=(0.3, 0.9), eps=1e-2, weight_decay=0.1), {}),   # lerp's 2nd branch
    ('NAdam', 'Nadam', dict(lr=0.05), {}),
    ('NAdam', 'Nadam', dict(lr=0.05, betas=(0.8, 0.9), momentum_decay=0.1, weight_decay=0.1), {}),
    ('NAdam', 'Nadam', dict(lr=0.05, eps=1e-2, momentum_decay=0.0), {}),
    ('NAdam', 'Nadam', dict(lr=0.05, betas=(0.99, 0.95), momentum_decay=1.0), {}),
    ('RAdam', 'RAdam', dict(lr=0.05), {}),                                   # rho_t > 5 from step 6 on
    ('RAdam', 'RAdam', dict(lr=0.05, betas=(0.8, 0.9), eps=1e-2, weight_decay=0.1), {}),
    ('RAdam', 'RAdam', dict(lr=0.05, betas=(0.9, 0.6)), {}),                 # rho_inf < 5: never rectified
    ('Rprop', 'Rprop', dict(lr=0.01), {}),
    ('Rprop', 'Rprop', dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-2, 0.08)), {}),        # both clamps bite
    ('SGD', 'Momentum', dict(lr=0.1, momentum=0.9), {}),
    ('SGD', 'Momentum', dict(lr=0.1, momentum=0.5, weight_decay=0.1), {}),
    ('SGD', 'MomentumNesterov', dict(lr=0.1, momentum=0.9), dict(nesterov=True)),
    ('SGD', 'MomentumNesterov', dict(lr=0.05, momentum=0.8, weight_decay=0.1), dict(nesterov=True)),
]


@pytest.mark.parametrize('torch_name,name,kwargs,torch_only', TORCH_CASES,
                         ids=[f'{n}-{i}' for i, (_, n, _, _) in enumerate(TORCH_CASES)])
def test_torch_golden(problem, torch_name, name, kwargs, torch_only):
    expected = torch_trajectory(problem, torch_name, **kwargs, **torch_only)
    actual = brainopt_trajectory(problem, getattr(brainopt, name)(**kwargs))
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL, err_msg=f'torch {torch_name} {kwargs}')


@pytest.mark.parametrize('torch_name,name', [('NAdam', 'Nadam'), ('RAdam', 'RAdam')])
def test_torch_golden_decoupled_weight_decay(problem, torch_name, name):
    """torch's ``decoupled_weight_decay=True`` (``p *= 1 - lr wd``) is ``weight_decay_mode='decoupled'``."""
    expected = torch_trajectory(problem, torch_name, lr=0.05, weight_decay=0.3, decoupled_weight_decay=True)
    actual = brainopt_trajectory(problem, getattr(brainopt, name)(lr=0.05, weight_decay=0.3,
                                                                  weight_decay_mode='decoupled'))
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL)


def test_rprop_lr_is_the_initial_step_size(problem):
    """A schedule's first value starts the step sizes (torch's lr); its later values change nothing."""
    expected = torch_trajectory(problem, 'Rprop', lr=0.05)
    actual = brainopt_trajectory(problem, brainopt.Rprop(lr=_sched()))
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL)
    smaller = brainopt_trajectory(problem, brainopt.Rprop(lr=0.01))
    assert max_abs_diff(smaller, expected) > 1e-2


def test_rprop_late_parameter_starts_at_the_current_lr():
    w, v = brainstate.ParamState(jnp.ones(2)), brainstate.ParamState(jnp.ones(2))
    opt = brainopt.Rprop(lr=lambda step: 0.1 / (1 + step)).register_trainable_weights({'w': w})
    for _ in range(2):
        opt.update({'w': jnp.ones(2)})
    opt.register_trainable_weights({'v': v})
    np.testing.assert_array_equal(opt.get_slot('step_size', 'v'), -1.0)
    opt.update({'w': jnp.ones(2), 'v': jnp.array([1.0, -1.0])})
    # float32 lr(2) = 0.1 / 3, 0.1 * 1.2 * 1.2 and 1 -+ lr(2): 2-4 roundings each, within 4 ulps (< rtol 1e-6)
    np.testing.assert_allclose(opt.get_slot('step_size', 'v'), 0.1 / 3, rtol=1e-6)      # lr(2), sign product 0
    np.testing.assert_allclose(opt.get_slot('step_size', 'w'), 0.1 * 1.2 ** 2, rtol=1e-6)   # within 4 ulps
    np.testing.assert_allclose(v.value, [1 - 0.1 / 3, 1 + 0.1 / 3], rtol=1e-6)             # within 4 ulps


# -- optax --------------------------------------------------------------------------------------------------
def _bt_momentum(lr, momentum, nesterov, wd=0.0):
    # exactly the chain braintools.optim 0.3 builds for Momentum / MomentumNesterov
    return optax.chain(optax.add_decayed_weights(wd), optax.trace(decay=momentum, nesterov=nesterov), optax.scale(-lr))


OPTAX_CASES = {
    # name: (optax transformation, brainopt optimizer, jit, atol)
    'momentum': (lambda: optax.sgd(0.1, momentum=0.9), lambda: brainopt.Momentum(lr=0.1), False, ATOL),
    'momentum-braintools-chain': (lambda: _bt_momentum(0.1, 0.8, False, 0.1),
                                  lambda: brainopt.Momentum(lr=0.1, momentum=0.8, weight_decay=0.1), False, ATOL),
    'momentum-schedule': (lambda: optax.sgd(_sched(), momentum=0.9),
                          lambda: brainopt.Momentum(lr=_sched(), momentum=0.9), True, ATOL),
    'nesterov': (lambda: optax.sgd(0.1, momentum=0.9, nesterov=True),
                 lambda: brainopt.MomentumNesterov(lr=0.1), False, ATOL),
    'nesterov-braintools-chain': (lambda: _bt_momentum(0.1, 0.7, True, 0.1),
                                  lambda: brainopt.MomentumNesterov(lr=0.1, momentum=0.7, weight_decay=0.1),
                                  False, ATOL),
    'adamax': (lambda: optax.adamax(0.05, *EXACT, eps=1e-8), lambda: brainopt.Adamax(0.05, EXACT), False, ATOL),
    'adamax-eps-decay': (lambda: optax.chain(optax.add_decayed_weights(0.1), optax.adamax(0.05, 0.5, 0.75, eps=0.1)),
                         lambda: brainopt.Adamax(0.05, (0.5, 0.75), 0.1, 0.1), False, ATOL),
    'adamax-defaults': (lambda: optax.adamax(0.05), lambda: brainopt.Adamax(0.05), False, BC_ATOL),
    # optax.radam puts eps on the corrected root and rectifies from rho >= 5: equal to torch's at eps=0
    'radam-eps0': (lambda: optax.radam(0.05, *EXACT, eps=0.0), lambda: brainopt.RAdam(0.05, EXACT, 0.0), False, ATOL),
    'yogi': (lambda: optax.yogi(0.05, *EXACT), lambda: brainopt.Yogi(0.05, EXACT), False, ATOL),
    'yogi-eps-init-decay': (
        lambda: optax.chain(optax.add_decayed_weights(0.1),
                            optax.scale_by_yogi(0.5, 0.75, eps=1e-2, initial_accumulator_value=0.1),
                            optax.scale_by_learning_rate(0.05)),
        lambda: brainopt.Yogi(0.05, (0.5, 0.75), 1e-2, 0.1, initial_accumulator_value=0.1), False, ATOL),
    'yogi-defaults': (lambda: optax.yogi(0.05), lambda: brainopt.Yogi(0.05), False, BC_ATOL),
    'adabelief': (lambda: optax.adabelief(0.05, *EXACT), lambda: brainopt.AdaBelief(0.05, EXACT), False, ATOL),
    'adabelief-eps-root-decay': (
        lambda: optax.chain(optax.add_decayed_weights(0.1), optax.adabelief(0.05, 0.5, 0.75, eps=1e-3, eps_root=1e-2)),
        lambda: brainopt.AdaBelief(0.05, (0.5, 0.75), 1e-3, 0.1, eps_root=1e-2), False, ATOL),
    'adabelief-schedule': (lambda: optax.adabelief(_sched(), *EXACT),
                           lambda: brainopt.AdaBelief(_sched(), EXACT), True, ATOL),
    'adabelief-defaults': (lambda: optax.adabelief(0.05), lambda: brainopt.AdaBelief(0.05), False, BC_ATOL),
    'lion': (lambda: optax.lion(0.01, weight_decay=0.0), lambda: brainopt.Lion(0.01), False, ATOL),
    # optax.lion's decay is -lr (sign + wd p) in one update; the engine's p - p wd lr, then the step
    'lion-decay': (lambda: optax.lion(0.01, 0.5, 0.8, weight_decay=0.3),
                   lambda: brainopt.Lion(0.01, (0.5, 0.8), 0.3), False, ATOL),
    'adan': (lambda: optax.adan(0.05, 0.75, 0.875, 0.5, eps=1e-8, eps_root=0.0),
             lambda: brainopt.Adan(0.05, (0.75, 0.875, 0.5)), False, ATOL),
    'adan-eps-decay': (lambda: optax.adan(0.05, 0.5, 0.75, 0.875, eps=1e-2, eps_root=0.0, weight_decay=0.2),
                       lambda: brainopt.Adan(0.05, (0.5, 0.75, 0.875), 1e-2, 0.2), False, ATOL),
    'adan-schedule': (lambda: optax.adan(_sched(), 0.75, 0.875, 0.5, eps_root=0.0),
                      lambda: brainopt.Adan(_sched(), (0.75, 0.875, 0.5)), True, ATOL),
    'adan-defaults': (lambda: optax.adan(0.05, eps_root=0.0), lambda: brainopt.Adan(0.05), False, BC_ATOL),
}


@pytest.mark.parametrize('case', sorted(OPTAX_CASES))
def test_optax_golden(problem, case):
    tx, opt, jit, atol = OPTAX_CASES[case]
    expected = optax_trajectory(problem, tx())
    actual = brainopt_trajectory(problem, opt(), jit=jit)
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=atol, err_msg=f'optax {case}')


@pytest.mark.parametrize('case,module', [('yogi-defaults', 'yogi'), ('adabelief-defaults', 'adabelief'),
                                         ('adan-defaults', 'adan')])
def test_default_betas_differ_only_by_float32_bias_correction(problem, monkeypatch, case, module):
    """With optax's float32 ``1 - b**t`` swapped in, the default-beta cases equal optax to round-off."""
    import importlib
    tx, opt, _, _ = OPTAX_CASES[case]
    expected = optax_trajectory(problem, tx())
    assert max_abs_diff(brainopt_trajectory(problem, opt()), expected) > 2e-7          # the corrections do show
    float32_correction = lambda beta, step: 1 - jnp.float32(beta) ** step  # noqa: E731
    # the rules take it through brainopt.rules.adam.corrected (once per step) or import it themselves
    for name in {'adam', module}:
        rules_module = importlib.import_module(f'brainopt.rules.{name}')
        if hasattr(rules_module, 'bias_correction'):
            monkeypatch.setattr(rules_module, 'bias_correction', float32_correction)
    # (live betas are corrected through brainopt.rules.adam.live_bias_correction)
    monkeypatch.setattr(importlib.import_module('brainopt.rules.adam'), 'live_bias_correction',
                        lambda hyper, name, step: float32_correction(hyper[name], step))
    assert_trajectories_close(brainopt_trajectory(problem, opt()), expected, rtol=RTOL, atol=ATOL)


def test_optax_nadam_differs(problem):
    """optax.nadam is Adam with a fixed-beta1 look-ahead, not Dozat's scheduled momentum (torch, Keras, braintools,
    brainopt): even with momentum_decay large enough that mu_t is beta1 almost at once, the two differ."""
    torch_ref = torch_trajectory(problem, 'NAdam', lr=0.05, betas=EXACT)
    optax_ref = optax_trajectory(problem, optax.nadam(0.05, *EXACT))
    assert max_abs_diff(torch_ref, optax_ref) > 1e-2
    assert_trajectories_close(brainopt_trajectory(problem, brainopt.Nadam(0.05, EXACT)), torch_ref,
                              rtol=RTOL, atol=ATOL)


def test_optax_rprop_differs(problem):
    """optax.rprop 0.2.8 returns the step it stored on the previous call (its first update is zero), so it runs
    one update behind torch's Rprop, which brainopt follows."""
    torch_ref = torch_trajectory(problem, 'Rprop', lr=0.01)
    optax_ref = optax_trajectory(problem, optax.rprop(0.01))
    for k in problem.names:
        np.testing.assert_array_equal(optax_ref[0][k], problem.params0[k])
    assert max_abs_diff(torch_ref, optax_ref) > 5e-3
    assert_trajectories_close(brainopt_trajectory(problem, brainopt.Rprop(0.01)), torch_ref, rtol=RTOL, atol=ATOL)


def test_optax_radam_eps_differs(problem):
    """optax.radam (and braintools.optim's RAdam) adds eps to the corrected root; torch and brainopt to the raw."""
    torch_ref = torch_trajectory(problem, 'RAdam', lr=0.05, betas=EXACT, eps=0.1)
    optax_ref = optax_trajectory(problem, optax.radam(0.05, *EXACT, eps=0.1))
    assert max_abs_diff(torch_ref, optax_ref) > 1e-3
    assert_trajectories_close(brainopt_trajectory(problem, brainopt.RAdam(0.05, EXACT, 0.1)), torch_ref,
                              rtol=RTOL, atol=ATOL)


# -- Keras 3 -------------------------------------------------------------------------------------------------
KERAS_CASES = {
    # name: (Keras optimizer, its kwargs, brainopt optimizer)
    'momentum': ('SGD', dict(learning_rate=0.1, momentum=0.9), lambda: brainopt.Momentum(0.1)),
    'nesterov': ('SGD', dict(learning_rate=0.1, momentum=0.9, nesterov=True), lambda: brainopt.MomentumNesterov(0.1)),
    # Keras Adamax adds epsilon outside the maximum: equal at epsilon=0 (test_keras_adamax_epsilon_differs)
    'adamax': ('Adamax', dict(learning_rate=0.05, beta_1=0.75, beta_2=0.875, epsilon=0.0),
               lambda: brainopt.Adamax(0.05, EXACT, 0.0)),
    'adamax-decay': ('Adamax', dict(learning_rate=0.05, beta_1=0.5, beta_2=0.9, epsilon=0.0, weight_decay=0.1),
                     lambda: brainopt.Adamax(0.05, (0.5, 0.9), 0.0, 0.1, weight_decay_mode='decoupled')),
    # Keras Nadam is Dozat's schedule with 0.96**t, i.e. torch's and brainopt's momentum_decay=1
    'nadam': ('Nadam', dict(learning_rate=0.05, beta_1=0.75, beta_2=0.875, epsilon=1e-7),
              lambda: brainopt.Nadam(0.05, EXACT, 1e-7, momentum_decay=1.0)),
    'nadam-eps': ('Nadam', dict(learning_rate=0.05, beta_1=0.9, beta_2=0.875, epsilon=1e-2),
                  lambda: brainopt.Nadam(0.05, (0.9, 0.875), 1e-2, momentum_decay=1.0)),
    'lion': ('Lion', dict(learning_rate=0.01, beta_1=0.9, beta_2=0.99), lambda: brainopt.Lion(0.01)),
    'lion-decay-clip': ('Lion', dict(learning_rate=0.01, beta_1=0.5, beta_2=0.8, weight_decay=0.3, clipvalue=0.2),
                        lambda: brainopt.Lion(0.01, (0.5, 0.8), 0.3, grad_clip_value=0.2)),
    'ftrl': ('Ftrl', dict(learning_rate=0.1), lambda: brainopt.Ftrl(0.1)),
    'ftrl-all-arguments': (
        'Ftrl', dict(learning_rate=0.2, learning_rate_power=-0.3, initial_accumulator_value=0.05,
                     l1_regularization_strength=0.01, l2_regularization_strength=0.02,
                     l2_shrinkage_regularization_strength=0.03, beta=0.5),
        lambda: brainopt.Ftrl(0.2, -0.3, 0.05, 0.01, 0.02, 0.03, 0.5)),
    'ftrl-l1-sparsity': ('Ftrl', dict(learning_rate=0.2, l1_regularization_strength=0.4, initial_accumulator_value=0.0),
                         lambda: brainopt.Ftrl(0.2, initial_accumulator_value=0.0, l1_regularization_strength=0.4)),
    'ftrl-fixed-rate': ('Ftrl', dict(learning_rate=0.1, learning_rate_power=0.0, l2_regularization_strength=0.1),
                        lambda: brainopt.Ftrl(0.1, 0.0, l2_regularization_strength=0.1)),
}


@pytest.mark.parametrize('case', sorted(KERAS_CASES))
def test_keras_golden(problem, case):
    k_name, k_kwargs, make = KERAS_CASES[case]
    expected = keras_trajectory(problem, k_name, **k_kwargs)
    actual = brainopt_trajectory(problem, make())
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL, err_msg=f'keras {case}')


def test_ftrl_l1_makes_parameters_exactly_zero(problem):
    """The sparsity the L1 case above pins is real: some coordinates sit at exactly 0, as in Keras."""
    keras_ref = keras_trajectory(problem, 'Ftrl', **KERAS_CASES['ftrl-l1-sparsity'][1])
    ours = brainopt_trajectory(problem, KERAS_CASES['ftrl-l1-sparsity'][2]())
    zeros = sum(int(np.sum(p[k] == 0)) for p in ours for k in p)
    assert zeros > 0 and zeros == sum(int(np.sum(p[k] == 0)) for p in keras_ref for k in p)


def test_keras_adamax_epsilon_differs(problem):
    """Keras: m / (max(b2 u, |g|) + eps); torch, optax, brainopt: m / max(b2 u, |g| + eps)."""
    torch_ref = torch_trajectory(problem, 'Adamax', lr=0.05, eps=0.1)
    keras_ref = keras_trajectory(problem, 'Adamax', learning_rate=0.05, beta_1=0.9, beta_2=0.999, epsilon=0.1)
    assert max_abs_diff(torch_ref, keras_ref) > 5e-5        # where b2 u wins the maximum: by eps * lr / (u (1-b1^t))
    assert_trajectories_close(brainopt_trajectory(problem, brainopt.Adamax(0.05, eps=0.1)), torch_ref,
                              rtol=RTOL, atol=ATOL)


def test_keras_nadam_is_momentum_decay_one(problem):
    """Keras's schedule 0.96**t is torch's 0.96**(t psi) at psi=1, far from torch's default psi=0.004."""
    keras_ref = keras_trajectory(problem, 'Nadam', learning_rate=0.05, beta_1=0.9, beta_2=0.875, epsilon=1e-8)
    torch_one = torch_trajectory(problem, 'NAdam', lr=0.05, betas=(0.9, 0.875), momentum_decay=1.0)
    torch_default = torch_trajectory(problem, 'NAdam', lr=0.05, betas=(0.9, 0.875))
    assert_trajectories_close(keras_ref, torch_one, rtol=RTOL, atol=ATOL)
    assert max_abs_diff(torch_default, keras_ref) > 1e-3


# -- the closed forms, against float64 numpy written from the definitions -----------------------------------
@pytest.mark.parametrize('b1,psi', [(0.9, 4e-3), (0.9, 1.0), (0.99, 1e-5), (0.999, 0.05), (0.5, 0.0), (0.0, 4e-3)])
def test_nadam_momentum_product_closed_form(b1, psi):
    """log P_t against prod_{i<=t} b1 (1 - 0.5 * 0.96**(i psi)) in float64, and the two step coefficients."""
    from brainopt.rules.adam_family import NadamRule, _momentum_schedule
    steps = np.unique(np.concatenate([np.arange(1, 200), np.geomspace(200, 3e5, 60).astype(int)]))
    i = np.arange(1, steps[-1] + 2, dtype=np.float64)
    mu = b1 * (1 - 0.5 * 0.96 ** (i * psi))
    with np.errstate(divide='ignore'):
        log_p = np.cumsum(np.log(mu))                       # log P_t at t = i
    rule = NadamRule(b1, 0.999, 1e-8, psi)
    ours = np.asarray(_momentum_schedule(b1, psi).log_product(jnp.asarray(steps, jnp.float32)), np.float64)
    exact = log_p[steps - 1]
    finite = np.isfinite(exact)
    np.testing.assert_allclose(ours[finite], exact[finite], rtol=1e-6)     # float32 closed form: < 8 float32 ulps
    assert np.all(np.isneginf(ours[~finite]))
    # the coefficients torch computes in double: lr (1-mu_t)/(1-P_t) and lr mu_{t+1}/(1-P_t mu_{t+1})
    c_grad, c_mom = rule.coefficients(jnp.asarray(steps - 1, jnp.int32), jnp.float32(1.0), rule.hyper())
    p_t = np.exp(log_p[steps - 1])
    # float32 coefficients vs the float64 formulas: an exp of log P_t and ~4 roundings, within 8 ulps (< rtol 1e-6)
    np.testing.assert_allclose(c_grad, (1 - mu[steps - 1]) / (1 - p_t), rtol=1e-6)
    np.testing.assert_allclose(c_mom, mu[steps] / (1 - p_t * mu[steps]), rtol=1e-6)      # likewise: within 8 ulps


@pytest.mark.parametrize('b2', [0.6, 0.9, 0.99, 0.999, 0.9999, 0.99999])
def test_radam_sma_length_is_accurate(b2):
    """rho_t = rho_inf - 2 t b2^t / (1 - b2^t), evaluated in float64 numpy, against the rule's float32."""
    from brainopt.rules.adam_family import RAdamRule
    t = np.unique(np.geomspace(1, 1e6, 400).astype(np.int64)).astype(np.float64)
    b = np.float64(b2)
    exact = (2 / (1 - b) - 1) - 2 * t * b ** t / -np.expm1(t * np.log(b))
    ours = np.asarray(RAdamRule.rho(jnp.asarray(t, jnp.float32), b2), np.float64)
    np.testing.assert_allclose(ours, exact, rtol=2e-6, atol=2e-6)
    naive = (2 / (1 - np.float32(b2)) - 1) - 2 * np.float32(t) * np.float32(b2) ** np.float32(t) / (
        1 - np.float32(b2) ** np.float32(t))
    if b2 >= 0.999:                                     # what the direct float32 formula would give
        assert np.max(np.abs(naive - exact) / exact) > 1e-5


# -- the arguments of braintools.optim, torch.optim and Keras ----------------------------------------------
BRAINTOOLS = ['Momentum', 'MomentumNesterov', 'Adamax', 'Nadam', 'RAdam', 'Rprop', 'Yogi', 'AdaBelief', 'Lion']


def _signature(cls):
    """The constructor's arguments, without ``self`` (brainstate's metaclass hides them from ``signature(cls)``)."""
    return [(k, p) for k, p in inspect.signature(cls.__init__).parameters.items() if k != 'self']


def _params(cls):
    return {**dict(_signature(brainopt.Optimizer)), **dict(_signature(cls))}


def _same_default(mine, theirs):
    return mine == theirs or (isinstance(theirs, (tuple, list)) and tuple(mine) == tuple(theirs))


@pytest.mark.parametrize('name', BRAINTOOLS)
def test_braintools_arguments_and_defaults(name):
    import braintools.optim as bt
    ours = _params(getattr(brainopt, name))
    for k, p in _signature(getattr(bt, name)):
        assert k in ours, (name, k)
        assert _same_default(ours[k].default, p.default), (name, k, ours[k].default, p.default)


@pytest.mark.parametrize('torch_name,name', [('Adamax', 'Adamax'), ('NAdam', 'Nadam'), ('RAdam', 'RAdam'),
                                             ('Rprop', 'Rprop')])
def test_torch_arguments_and_positions(torch_name, name):
    """torch's arguments (bar its execution flags) with its defaults, at the same positions after ``params``."""
    import torch
    skip = {'params', 'foreach', 'maximize', 'capturable', 'differentiable', 'decoupled_weight_decay'}
    theirs = [(k, p) for k, p in inspect.signature(getattr(torch.optim, torch_name)).parameters.items()
              if k not in skip]
    ours = _signature(getattr(brainopt, name))
    for (k, p), (k2, p2) in zip(theirs, ours):
        assert k == k2 and _same_default(p2.default, p.default), (name, k, k2, p2.default, p.default)


def test_keras_ftrl_arguments():
    import keras
    theirs = list(inspect.signature(keras.optimizers.Ftrl).parameters.items())[:7]
    ours = _signature(brainopt.Ftrl)[:7]
    assert [k for k, _ in ours] == ['lr'] + [k for k, _ in theirs[1:]]
    assert [p.default for _, p in ours] == [p.default for _, p in theirs]


def test_momentum_zero_keeps_no_buffer():
    w = brainstate.ParamState(jnp.ones(2))
    opt = brainopt.Momentum(lr=0.5, momentum=0.0).register_trainable_weights({'w': w})
    assert opt.rule.slots == () and set(brainstate.graph.states(opt)) == {('step_count',), ('hyperparams',)}
    opt.update({'w': jnp.ones(2)})
    np.testing.assert_array_equal(w.value, [0.5, 0.5])


@pytest.mark.parametrize('make,arg', [
    (lambda: brainopt.Lion(weight_decay_mode='l2'), 'weight_decay_mode'),
    (lambda: brainopt.Adan(betas=(0.9, 0.9)), 'betas'),
    (lambda: brainopt.Rprop(etas=(0.5, 1.0)), r'etas\[1\]'),
    (lambda: brainopt.Rprop(step_sizes=(1.0, 0.5)), r'step_sizes\[1\]'),
    (lambda: brainopt.Ftrl(learning_rate_power=0.5), 'learning_rate_power'),
])
def test_more_bad_hyperparameters(make, arg):
    with pytest.raises((ValueError, TypeError), match=arg):
        make()


def test_lion_and_adan_decay_is_decoupled_by_default(problem):
    for make in (lambda **kw: brainopt.Lion(0.01, weight_decay=0.3, **kw),
                 lambda **kw: brainopt.Adan(0.05, weight_decay=0.3, **kw)):
        default = brainopt_trajectory(problem, make())
        assert_trajectories_close(default, brainopt_trajectory(problem, make(weight_decay_mode='decoupled')),
                                  rtol=0, atol=0)
        assert max_abs_diff(default, brainopt_trajectory(problem, make(weight_decay_mode='coupled'))) > 1e-3


def test_ftrl_accumulator_growth_has_no_cancellation():
    """sigma = (n_new^-p - n^-p) / lr, against float64 numpy, once g^2 << n: Keras's float32 difference of the two
    powers is tens of percent off there; brainopt's n^-p expm1(-p log1p(g^2/n)) keeps float32 accuracy."""
    n0, g, lr, p0 = 1e4, 0.03, 0.5, 1e3
    for power in (-0.5, -0.3):
        w = brainstate.ParamState(jnp.full(1, p0))
        opt = brainopt.Ftrl(lr, power, initial_accumulator_value=n0).register_trainable_weights({'w': w})
        opt.update({'w': jnp.full(1, g)})
        sigma = ((n0 + g * g) ** -power - n0 ** -power) / lr                # float64
        ours = (float(opt.get_slot('linear', 'w')[0]) - g) / -p0             # z = g - sigma p0
        np.testing.assert_allclose(ours, sigma, rtol=1e-4)
        keras_f32 = (np.float32(n0 + g * g) ** np.float32(-power) - np.float32(n0) ** np.float32(-power)) / lr
        assert abs(keras_f32 - sigma) / sigma > 0.1


def test_ftrl_without_gradient_or_regularization_keeps_the_parameter():
    """n = 0 and no L2/beta make the denominator 0: Keras writes 0/0 = NaN, brainopt leaves the parameter."""
    import keras
    var = keras.Variable(np.array([1.0, 2.0], np.float32))
    keras.optimizers.Ftrl(learning_rate=0.1, initial_accumulator_value=0.0).apply([jnp.array([0.0, 1.0])], [var])
    keras_value = np.asarray(var.value)
    assert np.isnan(keras_value[0])
    w = brainstate.ParamState(jnp.array([1.0, 2.0]))
    opt = brainopt.Ftrl(0.1, initial_accumulator_value=0.0).register_trainable_weights({'w': w})
    opt.update({'w': jnp.array([0.0, 1.0])})
    np.testing.assert_allclose(w.value, [1.0, keras_value[1]], rtol=1e-6)   # Keras peer, one Ftrl step: < 8 ulps
