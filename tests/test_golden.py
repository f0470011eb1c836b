"""Golden trajectories: brainopt against the real peers, run live in the suite.

Peers and versions: torch.optim (torch 2.13.0), optax 0.2.x, Keras 3 (jax
backend). Each problem runs 12 steps; brainopt and the peer see gradients
from the same numpy function of their own current parameters
(``tests/peers.py``), so the trajectories agree to float32 round-off.
"""
import optax
import pytest

import brainopt

from peers import (
    assert_trajectories_close,
    keras_finalize,
    keras_trajectory,
    keras_trajectory_with_ema,
    make_problem,
    optax_trajectory,
    torch_trajectory,
)
from runner import brainopt_trajectory

RTOL, ATOL = 2e-6, 1e-7        # float32 round-off over 12 steps

SHAPES = (('w', (3, 4)), ('b', (4,)), ('v', (7,)))


@pytest.fixture(scope='module')
def problem():
    return make_problem(seed=1, shapes=SHAPES, steps=12)


# -- torch.optim -------------------------------------------------------------------------
TORCH_CASES = [
    ('Adadelta', dict(lr=1.0, rho=0.9, eps=1e-6), {}),
    ('Adadelta', dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1), {}),
    ('Adagrad', dict(lr=0.1), {}),
    ('Adagrad', dict(lr=0.2, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.3, eps=1e-8), {}),
]


@pytest.mark.parametrize('name,kwargs,_', TORCH_CASES, ids=lambda v: str(v) if isinstance(v, str) else '')
def test_torch_golden(problem, name, kwargs, _):
    expected = torch_trajectory(problem, name, **kwargs)
    actual = brainopt_trajectory(problem, getattr(brainopt, name)(**kwargs))
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL, err_msg=f'torch {name} {kwargs}')


@pytest.mark.parametrize('name,kwargs', [('Adadelta', dict(lr=1.0, rho=0.9, eps=1e-6)), ('Adagrad', dict(lr=0.1))])
def test_torch_golden_global_clip(problem, name, kwargs):
    # torch.nn.utils.clip_grad_norm_ divides by (norm + 1e-6): equal to 1e-6 relative.
    expected = torch_trajectory(problem, name, clip_grad_norm=0.5, **kwargs)
    actual = brainopt_trajectory(problem, getattr(brainopt, name)(grad_clip_norm=0.5, **kwargs))
    assert_trajectories_close(actual, expected, rtol=1e-5, atol=1e-6)


def test_torch_golden_clip_value(problem):
    expected = torch_trajectory(problem, 'Adagrad', lr=0.1, clip_grad_value=0.2)
    actual = brainopt_trajectory(problem, brainopt.Adagrad(lr=0.1, grad_clip_value=0.2))
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL)


# -- optax ---------------------------------------------------------------------------------
def test_optax_adadelta(problem):
    expected = optax_trajectory(problem, optax.adadelta(learning_rate=1.0, rho=0.9, eps=1e-6))
    actual = brainopt_trajectory(problem, brainopt.Adadelta(lr=1.0, rho=0.9, eps=1e-6))
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL)


def test_optax_adadelta_coupled_decay_and_global_clip(problem):
    tx = optax.chain(optax.clip_by_global_norm(0.7), optax.add_decayed_weights(0.05),
                     optax.scale_by_adadelta(rho=0.9, eps=1e-6), optax.scale(-1.0))
    expected = optax_trajectory(problem, tx)
    actual = brainopt_trajectory(problem, brainopt.Adadelta(lr=1.0, weight_decay=0.05, grad_clip_norm=0.7))
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL)


def test_optax_adagrad_inside_eps(problem):
    # optax puts eps inside the square root, as brainopt's eps_placement='inside'
    expected = optax_trajectory(problem, optax.adagrad(0.3, initial_accumulator_value=0.1, eps=1e-7))
    actual = brainopt_trajectory(problem, brainopt.Adagrad(
        lr=0.3, initial_accumulator_value=0.1, eps=1e-7, eps_placement='inside'))
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL)


def test_optax_schedule_as_lr(problem):
    sched = optax.exponential_decay(0.5, transition_steps=3, decay_rate=0.5, staircase=True)
    expected = optax_trajectory(problem, optax.adagrad(sched, initial_accumulator_value=0.1, eps=1e-7))
    actual = brainopt_trajectory(problem, brainopt.Adagrad(
        lr=sched, initial_accumulator_value=0.1, eps=1e-7, eps_placement='inside'), jit=True)
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL)


# -- Keras 3, every base option ------------------------------------------------------------
KERAS_BASE = {
    'Adadelta': (dict(learning_rate=1.0, rho=0.95, epsilon=1e-7), dict(lr=1.0, rho=0.95, eps=1e-7)),
    'Adagrad': (dict(learning_rate=0.3, initial_accumulator_value=0.1, epsilon=1e-7),
                dict(lr=0.3, initial_accumulator_value=0.1, eps=1e-7, eps_placement='inside')),
}

# Keras option -> the brainopt option with the same meaning
KERAS_OPTIONS = {
    'plain': ({}, {}),
    'weight_decay': (dict(weight_decay=0.1), dict(weight_decay=0.1, weight_decay_mode='decoupled')),
    'clipnorm': (dict(clipnorm=0.3), dict(grad_clip_norm_per_param=0.3)),
    'clipvalue': (dict(clipvalue=0.2), dict(grad_clip_value=0.2)),
    'global_clipnorm': (dict(global_clipnorm=0.5), dict(grad_clip_norm=0.5)),
    'accumulation': (dict(gradient_accumulation_steps=3), dict(gradient_accumulation_steps=3)),
}


@pytest.mark.parametrize('option', sorted(KERAS_OPTIONS))
@pytest.mark.parametrize('name', sorted(KERAS_BASE))
def test_keras_golden(problem, name, option):
    (k_base, b_base), (k_opt, b_opt) = KERAS_BASE[name], KERAS_OPTIONS[option]
    expected = keras_trajectory(problem, name, **k_base, **k_opt)
    actual = brainopt_trajectory(problem, getattr(brainopt, name)(**b_base, **b_opt))
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL, err_msg=f'keras {name} {option}')


@pytest.mark.parametrize('name', sorted(KERAS_BASE))
def test_keras_golden_loss_scale(name):
    scaled = make_problem(seed=1, shapes=SHAPES, steps=12, grad_scale=128.0)
    k_base, b_base = KERAS_BASE[name]
    expected = keras_trajectory(scaled, name, loss_scale_factor=128.0, **k_base)
    actual = brainopt_trajectory(scaled, getattr(brainopt, name)(loss_scale_factor=128.0, **b_base))
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize('freq', [None, 4])
@pytest.mark.parametrize('name', sorted(KERAS_BASE))
def test_keras_golden_ema(problem, name, freq):
    k_base, b_base = KERAS_BASE[name]
    exp_params, exp_ema = keras_trajectory_with_ema(
        problem, name, use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=freq, **k_base)
    params, ema = brainopt_trajectory(problem, getattr(brainopt, name)(
        use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=freq, **b_base), with_ema=True)
    assert_trajectories_close(params, exp_params, rtol=RTOL, atol=ATOL, err_msg='params')
    assert_trajectories_close(ema, exp_ema, rtol=RTOL, atol=ATOL, err_msg='ema')


def test_keras_golden_finalize(problem):
    k_base, b_base = KERAS_BASE['Adadelta']
    expected = keras_finalize(problem, 'Adadelta', use_ema=True, ema_momentum=0.8, **k_base)
    opt = brainopt.Adadelta(use_ema=True, ema_momentum=0.8, **b_base)
    brainopt_trajectory(problem, opt)
    opt.copy_ema_to_params()
    from runner import np
    actual = {n: np.asarray(e.state.value) for n, e in zip(opt.param_paths, opt._weights.entries)}
    assert_trajectories_close([actual], [expected], rtol=RTOL, atol=ATOL)


def test_keras_golden_combined_clip_and_decay(problem):
    """Keras's clip + decoupled decay + accumulation together."""
    k_base, b_base = KERAS_BASE['Adagrad']
    expected = keras_trajectory(problem, 'Adagrad', weight_decay=0.05, global_clipnorm=0.4,
                                gradient_accumulation_steps=2, **k_base)
    actual = brainopt_trajectory(problem, brainopt.Adagrad(
        weight_decay=0.05, weight_decay_mode='decoupled', grad_clip_norm=0.4, gradient_accumulation_steps=2,
        **b_base))
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL)


# -- conventions, pinned with an eps large enough to tell the placements apart ----------------
def test_adagrad_eps_placement_is_pinned(problem):
    """brainopt.Adagrad's default is torch's eps outside the root; 'inside' is Keras's."""
    import numpy as np
    torch_ref = torch_trajectory(problem, 'Adagrad', lr=0.3, eps=0.1, initial_accumulator_value=0.1)
    keras_ref = keras_trajectory(problem, 'Adagrad', learning_rate=0.3, epsilon=0.1, initial_accumulator_value=0.1)
    # the peers really disagree here, so these tests can tell the placements apart
    assert np.max(np.abs(torch_ref[-1]['w'] - keras_ref[-1]['w'])) > 1e-3
    outside = brainopt_trajectory(problem, brainopt.Adagrad(lr=0.3, eps=0.1, initial_accumulator_value=0.1))
    inside = brainopt_trajectory(problem, brainopt.Adagrad(
        lr=0.3, eps=0.1, initial_accumulator_value=0.1, eps_placement='inside'))
    assert_trajectories_close(outside, torch_ref, rtol=RTOL, atol=ATOL)
    assert_trajectories_close(inside, keras_ref, rtol=RTOL, atol=ATOL)


def test_adadelta_eps_inside_both_roots(problem):
    """A large eps makes every placement choice visible; torch and Keras agree with brainopt."""
    kwargs = dict(lr=1.0, rho=0.9, eps=0.05)
    assert_trajectories_close(brainopt_trajectory(problem, brainopt.Adadelta(**kwargs)),
                              torch_trajectory(problem, 'Adadelta', **kwargs), rtol=RTOL, atol=ATOL)
    assert_trajectories_close(brainopt_trajectory(problem, brainopt.Adadelta(**kwargs)),
                              keras_trajectory(problem, 'Adadelta', learning_rate=1.0, rho=0.9, epsilon=0.05),
                              rtol=RTOL, atol=ATOL)


def test_weight_decay_meanings_differ(problem):
    """Coupled (default) is torch's weight_decay; 'decoupled' is Keras's. They are not interchangeable."""
    import numpy as np
    coupled = brainopt_trajectory(problem, brainopt.Adadelta(lr=1.0, weight_decay=0.1))
    decoupled = brainopt_trajectory(problem, brainopt.Adadelta(lr=1.0, weight_decay=0.1, weight_decay_mode='decoupled'))
    assert_trajectories_close(coupled, torch_trajectory(problem, 'Adadelta', lr=1.0, weight_decay=0.1),
                              rtol=RTOL, atol=ATOL)
    assert_trajectories_close(decoupled, keras_trajectory(problem, 'Adadelta', learning_rate=1.0, rho=0.9,
                                                          epsilon=1e-6, weight_decay=0.1), rtol=RTOL, atol=ATOL)
    assert np.max(np.abs(coupled[-1]['w'] - decoupled[-1]['w'])) > 1e-2
