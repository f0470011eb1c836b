"""Golden trajectories of the minor variants: Adan's proximal decay, AdaBelief's AMSGrad, Muon's exclusions,
Lars's Nesterov momentum and Lookahead's state reset.

Peers, run live through ``tests/peers.py`` (12 steps of one deterministic problem): optax 0.2.8
(``optax.lars(nesterov=True)``, ``optax.lookahead(reset_state=True)``) and Keras 3.15 on the jax backend
(``keras.optimizers.Muon(exclude_layers=..., exclude_embeddings=...)``). Where no installed peer has the variant
(Adan's proximal step: brainpy.optim, the authors' code; AdaBelief's AMSGrad: the authors' ``adabelief-pytorch``)
the reference is the formula written here in numpy, in float64, and says so.
"""
import math

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import brainopt
import brainopt.keras

from peers import (
    assert_trajectories_close,
    keras_trajectory,
    make_problem,
    max_abs_diff,
    numpy_trajectory,
    optax_trajectory,
)
from runner import brainopt_trajectory

RTOL, ATOL = 2e-6, 1e-7
EXACT = (0.75, 0.875)       # betas whose powers float32 holds without the peers' bias-correction round-off


@pytest.fixture(scope='module')
def problem():
    return make_problem(seed=5, shapes=(('w', (3, 4)), ('b', (4,))), steps=12)


def _numpy(problem, step, init):
    """``numpy_trajectory`` with per-parameter float64 state: ``step(p, g, state, t) -> p``."""
    state = {n: init(v) for n, v in problem.params0.items()}
    return numpy_trajectory(problem, lambda p, g, t: {n: step(np.float64(p[n]), np.float64(g[n]), state[n], t + 1)
                                                      for n in p})


def test_adan_proximal_numpy_golden(problem):
    """no_prox=False: Algorithm 1 of the Adan paper, its proximal step theta = (theta - lr u) / (1 + lr wd), with
    brainpy.optim's meaning of the weights (decay rates here; brainpy passes their complements). Numpy formula."""
    lr, wd, (b1, b2, b3), eps = 0.05, 0.3, (0.9, 0.8, 0.95), 1e-8

    def step(p, g, s, t):
        diff = np.zeros_like(g) if t == 1 else g - s['prev']
        s['m'] = b1 * s['m'] + (1 - b1) * g
        s['d'] = b2 * s['d'] + (1 - b2) * diff
        s['n'] = b3 * s['n'] + (1 - b3) * (g + (1 - b2) * diff) ** 2
        s['prev'] = g
        u = (s['m'] / (1 - b1 ** t) + (1 - b2) * s['d'] / (1 - b2 ** t)) / (np.sqrt(s['n'] / (1 - b3 ** t)) + eps)
        return (p - lr * u) / (1 + lr * wd)

    expected = _numpy(problem, step, lambda v: {k: np.zeros(v.shape) for k in ('m', 'd', 'n', 'prev')})
    actual = brainopt_trajectory(problem, brainopt.Adan(lr=lr, betas=(b1, b2, b3), eps=eps, weight_decay=wd,
                                                        no_prox=False))
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL)
    # the decoupled (optax) form differs by O((lr wd)^2) a step: visible
    decoupled = brainopt_trajectory(problem, brainopt.Adan(lr=lr, betas=(b1, b2, b3), eps=eps, weight_decay=wd))
    assert max_abs_diff(decoupled, expected) > 1e-4
    with pytest.raises(ValueError, match="no_prox=False .* weight_decay_mode must be 'decoupled'"):
        brainopt.Adan(no_prox=False, weight_decay_mode='coupled')
    with pytest.raises(TypeError, match='no_prox must be a bool'):
        brainopt.Adan(no_prox=0)


def test_adabelief_amsgrad_numpy_golden(problem):
    """amsgrad=True: the authors' adabelief-pytorch 0.2, ``max_exp_avg_var = max(max_exp_avg_var, s + eps)``, then
    ``denom = sqrt(max) / sqrt(bc2) + eps``. Numpy formula (with eps_root = eps, the authors' single epsilon)."""
    lr, (b1, b2), eps = 0.05, (0.9, 0.99), 1e-6

    def step(p, g, s, t):
        s['m'] = b1 * s['m'] + (1 - b1) * g
        s['s'] = b2 * s['s'] + (1 - b2) * (g - s['m']) ** 2 + eps
        s['max'] = np.maximum(s['max'], s['s'])
        denom = np.sqrt(s['max']) / math.sqrt(1 - b2 ** t) + eps
        return p - lr / (1 - b1 ** t) * s['m'] / denom

    expected = _numpy(problem, step, lambda v: {k: np.zeros(v.shape) for k in ('m', 's', 'max')})
    opt = brainopt.AdaBelief(lr=lr, betas=(b1, b2), eps=eps, eps_root=eps, amsgrad=True)
    assert_trajectories_close(brainopt_trajectory(problem, opt), expected, rtol=RTOL, atol=ATOL)
    assert opt.rule.slots == ('exp_avg', 'exp_avg_var', 'max_exp_avg_var')
    plain = brainopt_trajectory(problem, brainopt.AdaBelief(lr=lr, betas=(b1, b2), eps=eps, eps_root=eps))
    assert max_abs_diff(plain, expected) > 1e-4


def test_muon_exclusions_keras_golden():
    """Keras decides which parameters fall back to AdamW: not 2-D, 'embedding' in the path (exclude_embeddings),
    or a match of exclude_layers. brainopt decides the same on dotted paths."""
    prob = make_problem(seed=6, shapes=(('w', (3, 4)), ('embedding', (5, 3)), ('head', (4, 2)), ('b', (4,))),
                        steps=12)
    keras_kw = dict(learning_rate=0.05, adam_beta_1=0.75, adam_beta_2=0.875, epsilon=0.0, weight_decay=0.0,
                    adam_weight_decay=0.0, rms_rate=0.2)
    ours = dict(lr=0.05, weight_decay=0.0, adam_betas=EXACT, adam_eps=0.0, adjust_lr_fn='match_rms_adamw')
    expected = keras_trajectory(prob, 'Muon', exclude_layers=['hea'], **keras_kw)
    opt = brainopt.Muon(exclude_layers=['hea'], **ours)
    assert_trajectories_close(brainopt_trajectory(prob, opt), expected, rtol=RTOL, atol=ATOL)
    assert opt.get_slot('exp_avg_sq', 'head').shape == (4, 2) and opt.get_slot('exp_avg_sq', 'w').shape == (0,)
    # nothing excluded: both 2-D layers take the Muon step, in Keras and here
    kept = keras_trajectory(prob, 'Muon', exclude_embeddings=False, **keras_kw)
    assert_trajectories_close(brainopt_trajectory(prob, brainopt.Muon(exclude_embeddings=False, **ours)), kept,
                              rtol=RTOL, atol=ATOL)
    assert max_abs_diff(kept, expected) > 1e-3
    with pytest.raises(ValueError, match=r"exclude_layers\[0\]='\(' is not a regular expression"):
        brainopt.Muon(exclude_layers=['('])
    # the Keras dialect takes Keras's arguments as they are, at Keras's default epsilon
    keras_kw = dict(keras_kw, epsilon=1e-7)
    dialect = brainopt.keras.Muon(exclude_layers=['hea'], **keras_kw)
    assert_trajectories_close(brainopt_trajectory(prob, dialect),
                              keras_trajectory(prob, 'Muon', exclude_layers=['hea'], **keras_kw), rtol=RTOL, atol=ATOL)
    keras_kw['rms_rate'] = 0.1                  # Keras's scale of the Muon step
    assert_trajectories_close(brainopt_trajectory(prob, brainopt.keras.Muon(**keras_kw)),
                              keras_trajectory(prob, 'Muon', **keras_kw), rtol=RTOL, atol=ATOL)


def test_lars_nesterov_optax_golden(problem):
    expected = optax_trajectory(problem, optax.lars(0.5, trust_coefficient=0.1, eps=1e-8, momentum=0.8,
                                                    nesterov=True))
    actual = brainopt_trajectory(problem, brainopt.Lars(lr=0.5, trust_coefficient=0.1, momentum=0.8, nesterov=True))
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL)
    plain = optax_trajectory(problem, optax.lars(0.5, trust_coefficient=0.1, eps=1e-8, momentum=0.8))
    assert max_abs_diff(plain, expected) > 1e-3
    with pytest.raises(ValueError, match='nesterov=True needs momentum > 0'):
        brainopt.Lars(momentum=0.0, nesterov=True)


def test_lookahead_reset_state_optax_golden(problem):
    """reset_state=True: the fast optimizer's state (Adam's moments and its count) restarts at every sync."""
    def optax_run(reset):
        params = optax.LookaheadParams.init_synced({n: jnp.asarray(v) for n, v in problem.params0.items()})
        tx = optax.lookahead(optax.adam(0.05, b1=EXACT[0], b2=EXACT[1]), sync_period=3, slow_step_size=0.5,
                             reset_state=reset)
        state, traj = tx.init(params), []
        for t in range(problem.steps):
            g = problem.grad({n: np.asarray(x) for n, x in params.fast.items()}, t)
            updates, state = tx.update({n: jnp.asarray(v) for n, v in g.items()}, state, params)
            params = optax.apply_updates(params, updates)
            traj.append({n: np.asarray(x) for n, x in params.fast.items()})
        return traj

    expected = optax_run(True)
    opt = brainopt.Lookahead(brainopt.Adam(lr=0.05, betas=EXACT), sync_period=3, alpha=0.5, reset_state=True)
    assert_trajectories_close(brainopt_trajectory(problem, opt), expected, rtol=RTOL, atol=ATOL)
    assert max_abs_diff(optax_run(False), expected) > 1e-4
    assert 'reset_state=True' in repr(opt)
