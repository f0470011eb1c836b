"""Golden trajectories of the layer-wise, factored and learning-rate-free optimizers against the real peers.

Peers, run live through ``tests/peers.py`` (12 steps of the same deterministic problem, gradients from one numpy
function of each library's own current parameters): optax 0.2.8 (``optax.lamb``, ``lars``, ``novograd``,
``fromage``, ``adafactor``, ``sm3``, ``optax.contrib.muon``, ``prodigy``, ``schedule_free_sgd``,
``schedule_free_adamw``), Keras 3.15 on the jax backend (``Lamb``, ``Adafactor``, ``Muon``, ``ScheduleFreeAdamW``)
and torch.optim 2.13 (``Muon``, whose Newton-Schulz runs in bfloat16, so only to 1e-2). Where no peer has a
behaviour (the schedule-free warm-up of the authors' code), the reference is the formula written here in numpy,
and says so. Where a peer's formula differs from the one brainopt follows, a ``*_differs`` test shows the
difference is real.

Adam-style bias corrections: optax and Keras evaluate ``1 - beta**t`` in float32 from ``float32(beta)``;
brainopt (as torch) evaluates it exactly (``brainopt.rules.adam.bias_correction``). Cases with a second moment
therefore use betas that float32 holds exactly and whose powers do not cancel (0.75, 0.875), as
``test_golden_catalogue.py`` does.
"""
import inspect

import brainstate
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from optax import contrib

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
EXACT = (0.75, 0.875)


@pytest.fixture(scope='module')
def problem():
    return make_problem(seed=1, shapes=SHAPES, steps=12)


def _sched():
    return optax.exponential_decay(0.1, transition_steps=3, decay_rate=0.5, staircase=True)


# -- optax --------------------------------------------------------------------------------------------------
OPTAX_CASES = {
    'lamb': (lambda: optax.lamb(0.05, b1=0.75, b2=0.875),
             lambda: brainopt.Lamb(lr=0.05, betas=EXACT)),
    'lamb-decay-inside-trust-ratio': (lambda: optax.lamb(0.05, b1=0.75, b2=0.875, eps=1e-3, weight_decay=0.3),
                                      lambda: brainopt.Lamb(lr=0.05, betas=EXACT, eps=1e-3, weight_decay=0.3)),
    'lamb-schedule': (lambda: optax.lamb(_sched(), b1=0.75, b2=0.875, weight_decay=0.1),
                      lambda: brainopt.Lamb(lr=_sched(), betas=EXACT, weight_decay=0.1)),
    'lars': (lambda: optax.lars(0.5, trust_coefficient=0.1, eps=1e-8),
             lambda: brainopt.Lars(lr=0.5, trust_coefficient=0.1)),
    'lars-coupled-decay': (lambda: optax.lars(0.5, weight_decay=0.2, trust_coefficient=0.05, momentum=0.8),
                           lambda: brainopt.Lars(lr=0.5, weight_decay=0.2, trust_coefficient=0.05, momentum=0.8,
                                                 eps=0.0)),
    'lars-no-momentum': (lambda: optax.lars(0.5, trust_coefficient=0.1, momentum=0.0),
                         lambda: brainopt.Lars(lr=0.5, trust_coefficient=0.1, momentum=0.0, eps=0.0)),
    # braintools.optim's chain: the learning rate after the momentum trace (optax.lars scales before it)
    'lars-schedule-braintools-order': (
        lambda: optax.chain(optax.scale_by_trust_ratio(trust_coefficient=0.1, eps=1e-8), optax.trace(decay=0.9),
                            optax.scale_by_learning_rate(_sched())),
        lambda: brainopt.Lars(lr=_sched(), trust_coefficient=0.1)),
    'novograd': (lambda: optax.novograd(0.05, b1=0.9, b2=0.999, eps=1e-8),
                 lambda: brainopt.Novograd(lr=0.05)),
    'novograd-decay': (lambda: optax.novograd(0.05, b1=0.5, b2=0.25, eps=1e-3, weight_decay=0.2),
                       lambda: brainopt.Novograd(lr=0.05, betas=(0.5, 0.25), eps=1e-3, weight_decay=0.2)),
    'fromage': (lambda: optax.fromage(0.05), lambda: brainopt.Fromage(lr=0.05)),
    'fromage-schedule': (lambda: optax.fromage(_sched()), lambda: brainopt.Fromage(lr=_sched())),
    'adafactor': (lambda: optax.adafactor(0.05, min_dim_size_to_factor=1),
                  lambda: brainopt.Adafactor(lr=0.05)),
    'adafactor-beta1-eps': (lambda: optax.adafactor(0.05, min_dim_size_to_factor=1, momentum=0.8, eps=1e-3,
                                                    clipping_threshold=0.5),
                            lambda: brainopt.Adafactor(lr=0.05, beta1=0.8, eps=(1e-3, 1e-3), clip_threshold=0.5)),
    'adafactor-not-factored': (lambda: optax.adafactor(0.05, factored=False, decay_rate=0.5),
                               lambda: brainopt.Adafactor(lr=0.05, factored=False, decay_rate=0.5)),
    'adafactor-no-clip-schedule': (lambda: optax.adafactor(_sched(), min_dim_size_to_factor=1,
                                                           clipping_threshold=None),
                                   lambda: brainopt.Adafactor(lr=_sched(), clip_threshold=None)),
    # decoupled decay p - lr*wd*p: optax adds weight_decay_rate*p after its learning rate, so rate = lr * wd
    'adafactor-decoupled-decay': (lambda: optax.adafactor(0.05, min_dim_size_to_factor=1, momentum=0.5,
                                                          weight_decay_rate=0.05 * 0.4),
                                  lambda: brainopt.Adafactor(lr=0.05, beta1=0.5, weight_decay=0.4)),
    'sm3': (lambda: optax.sm3(0.1), lambda: brainopt.SM3(lr=0.1)),
    'sm3-no-momentum': (lambda: optax.sm3(0.1, momentum=0.0), lambda: brainopt.SM3(lr=0.1, momentum=0.0)),
    'sm3-coupled-decay': (lambda: optax.chain(optax.add_decayed_weights(0.1), optax.sm3(0.1, momentum=0.5)),
                          lambda: brainopt.SM3(lr=0.1, momentum=0.5, weight_decay=0.1)),
    'prodigy': (lambda: contrib.prodigy(1.0, betas=EXACT),
                lambda: brainopt.Prodigy(betas=EXACT)),
    'prodigy-decay-d0': (lambda: contrib.prodigy(0.5, betas=EXACT, beta3=0.8, eps=1e-4, estim_lr0=1e-3,
                                                 estim_lr_coef=2.0, weight_decay=0.1),
                         lambda: brainopt.Prodigy(lr=0.5, betas=EXACT, beta3=0.8, eps=1e-4, estim_lr0=1e-3,
                                                  estim_lr_coef=2.0, weight_decay=0.1)),
    'prodigy-safeguard': (lambda: contrib.prodigy(1.0, betas=EXACT, safeguard_warmup=True, estim_lr0=1e-3),
                          lambda: brainopt.Prodigy(betas=EXACT, safeguard_warmup=True, estim_lr0=1e-3)),
    'schedule-free-sgd': (lambda: contrib.schedule_free_sgd(0.1, b1=0.9),
                          lambda: brainopt.ScheduleFreeSGD(lr=0.1)),
    'schedule-free-sgd-decay': (lambda: contrib.schedule_free_sgd(0.1, b1=0.5, weight_decay=0.2,
                                                                  weight_lr_power=1.0),
                                lambda: brainopt.ScheduleFreeSGD(lr=0.1, momentum=0.5, weight_decay=0.2,
                                                                 weight_lr_power=1.0)),
    'schedule-free-adamw': (lambda: contrib.schedule_free_adamw(0.05, b1=0.9, b2=0.875),
                            lambda: brainopt.ScheduleFreeAdamW(lr=0.05, betas=(0.9, 0.875))),
    'schedule-free-adamw-decay': (lambda: contrib.schedule_free_adamw(0.05, b1=0.75, b2=0.875, eps=1e-3,
                                                                      weight_decay=0.3),
                                  lambda: brainopt.ScheduleFreeAdamW(lr=0.05, betas=EXACT, eps=1e-3,
                                                                     weight_decay=0.3)),
}


@pytest.mark.parametrize('case', sorted(OPTAX_CASES))
def test_optax_golden(problem, case):
    tx, opt = OPTAX_CASES[case]
    expected = optax_trajectory(problem, tx())
    actual = brainopt_trajectory(problem, opt())
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL, err_msg=f'optax {case}')


def test_optax_golden_jit_and_clip(problem):
    """The compiled path and a shared option around a layer-wise rule: global clipping before LAMB."""
    expected = optax_trajectory(problem, optax.chain(optax.clip_by_global_norm(0.5),
                                                     optax.lamb(0.05, b1=0.75, b2=0.875, weight_decay=0.1)))
    actual = brainopt_trajectory(problem, brainopt.Lamb(lr=0.05, betas=EXACT, weight_decay=0.1, grad_clip_norm=0.5),
                                 jit=True)
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL)


def test_lars_schedule_differs_from_optax_order(problem):
    """optax.lars multiplies by the learning rate before the momentum trace; braintools (and brainopt) after."""
    braintools_order = optax_trajectory(problem, OPTAX_CASES['lars-schedule-braintools-order'][0]())
    optax_order = optax_trajectory(problem, optax.lars(_sched(), trust_coefficient=0.1, eps=1e-8))
    assert max_abs_diff(braintools_order, optax_order) > 1e-4


# -- Keras 3 ------------------------------------------------------------------------------------------------
KERAS_CASES = {
    'lamb': ('Lamb', dict(learning_rate=0.05, beta_1=0.75, beta_2=0.875, epsilon=1e-6),
             lambda: brainopt.Lamb(lr=0.05, betas=EXACT)),
    'adafactor': ('Adafactor', dict(learning_rate=0.05), lambda: brainopt.Adafactor(lr=0.05)),
    'adafactor-eps-clip': ('Adafactor', dict(learning_rate=0.05, epsilon_1=1e-3, epsilon_2=0.1, clip_threshold=0.5,
                                             beta_2_decay=-0.5),
                           lambda: brainopt.Adafactor(lr=0.05, eps=(1e-3, 0.1), clip_threshold=0.5, decay_rate=0.5)),
    # Keras: momentum m = mu*m + g; brainopt (torch): b = lerp(b, g, 1 - mu) = (1 - mu) m: the same after NS.
    # Keras's AdamW side puts epsilon on the uncorrected root: equal at epsilon = 0.
    'muon': ('Muon', dict(learning_rate=0.05, adam_beta_1=0.75, adam_beta_2=0.875, epsilon=0.0, weight_decay=0.0,
                          adam_weight_decay=0.0, rms_rate=0.2),
             lambda: brainopt.Muon(lr=0.05, weight_decay=0.0, adam_betas=EXACT, adam_eps=0.0,
                                   adjust_lr_fn='match_rms_adamw')),
    'muon-decay-ratio': ('Muon', dict(learning_rate=0.05, adam_beta_1=0.75, adam_beta_2=0.875, epsilon=0.0,
                                      weight_decay=0.2, adam_weight_decay=0.2, rms_rate=0.2, momentum=0.8,
                                      adam_lr_ratio=0.5),
                         lambda: brainopt.Muon(lr=0.05, weight_decay=0.2, momentum=0.8, adam_betas=EXACT,
                                               adam_eps=0.0, adam_lr_ratio=0.5, adjust_lr_fn='match_rms_adamw')),
    'muon-no-nesterov': ('Muon', dict(learning_rate=0.05, adam_beta_1=0.75, adam_beta_2=0.875, epsilon=0.0,
                                      weight_decay=0.0, adam_weight_decay=0.0, rms_rate=0.2, nesterov=False),
                         lambda: brainopt.Muon(lr=0.05, weight_decay=0.0, nesterov=False, adam_betas=EXACT,
                                               adam_eps=0.0, adjust_lr_fn='match_rms_adamw')),
    'schedule-free-adamw': ('ScheduleFreeAdamW', dict(learning_rate=0.05, beta_1=0.9, beta_2=0.875, epsilon=1e-3),
                            lambda: brainopt.ScheduleFreeAdamW(lr=0.05, betas=(0.9, 0.875), eps=1e-3)),
}


@pytest.mark.parametrize('case', sorted(KERAS_CASES))
def test_keras_golden(problem, case):
    k_name, k_kwargs, opt = KERAS_CASES[case]
    expected = keras_trajectory(problem, k_name, **k_kwargs)
    actual = brainopt_trajectory(problem, opt())
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL, err_msg=f'keras {case}')


def test_keras_adafactor_factors_the_last_two_axes():
    """A rank-3 parameter: brainopt and Keras factor over the last two axes (optax over the two largest)."""
    prob = make_problem(seed=2, shapes=(('k', (5, 3, 4)), ('b', (4,))), steps=12)
    expected = keras_trajectory(prob, 'Adafactor', learning_rate=0.05)
    assert_trajectories_close(brainopt_trajectory(prob, brainopt.Adafactor(lr=0.05)), expected,
                              rtol=RTOL, atol=ATOL)
    largest = optax_trajectory(prob, optax.adafactor(0.05, min_dim_size_to_factor=1))
    assert max_abs_diff(largest, expected) > 1e-5


def test_keras_adafactor_relative_step_differs(problem):
    """Keras caps the learning rate at 1/sqrt(t); brainopt (optax, braintools) uses it as given."""
    keras_ref = keras_trajectory(problem, 'Adafactor', learning_rate=0.9)
    optax_ref = optax_trajectory(problem, optax.adafactor(0.9, min_dim_size_to_factor=1))
    assert max_abs_diff(keras_ref, optax_ref) > 1e-3
    assert_trajectories_close(brainopt_trajectory(problem, brainopt.Adafactor(lr=0.9)), optax_ref,
                              rtol=RTOL, atol=ATOL)


def test_keras_lamb_decay_differs(problem):
    """Keras decays the weights first and takes the trust ratio of the decayed weights, outside it; the paper's
    decay (optax, braintools, brainopt's default) is inside the ratio. brainopt's 'decoupled' mode is the engine's
    (the rule sees the weights before the decay), so it equals neither Keras nor optax here."""
    keras_ref = keras_trajectory(problem, 'Lamb', learning_rate=0.05, beta_1=0.75, beta_2=0.875, weight_decay=0.3)
    optax_ref = optax_trajectory(problem, optax.lamb(0.05, b1=0.75, b2=0.875, weight_decay=0.3))
    assert max_abs_diff(keras_ref, optax_ref) > 1e-4


# -- Muon: optax (width scaling, no Nesterov) and torch (bfloat16) ------------------------------------------
def test_optax_muon_golden(problem):
    """optax's bias-corrected momentum is a multiple of torch's buffer, so without Nesterov the
    orthogonalised step is the same; 'original' scaling is optax's width scaling in the x @ W layout."""
    tx = contrib.muon(0.05, beta=0.9, eps=1e-8, nesterov=False, adam_b1=0.75, adam_b2=0.875)
    expected = optax_trajectory(problem, tx)
    actual = brainopt_trajectory(problem, brainopt.Muon(lr=0.05, weight_decay=0.0, momentum=0.9, nesterov=False,
                                                        eps=1e-8, adam_betas=EXACT, adam_eps=1e-8))
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL)


def test_optax_muon_nesterov_differs(problem):
    """optax's Nesterov form bias-corrects the momentum and the gradient separately: not a multiple of torch's."""
    kw = dict(beta=0.9, eps=1e-8, adam_b1=0.75, adam_b2=0.875)
    ours = brainopt_trajectory(problem, brainopt.Muon(lr=0.05, weight_decay=0.0, momentum=0.9, eps=1e-8,
                                                      adam_betas=EXACT, adam_eps=1e-8))
    optax_ref = optax_trajectory(problem, contrib.muon(0.05, nesterov=True, **kw))
    assert max_abs_diff([{'w': x['w']} for x in ours], [{'w': x['w']} for x in optax_ref]) > 1e-5


def test_torch_muon_bfloat16_agrees_to_1e2():
    """torch.optim.Muon (2-D parameters only) runs Newton-Schulz in bfloat16: the same steps to ~1e-2."""
    prob = make_problem(seed=3, shapes=(('w', (3, 4)), ('u', (6, 2))), steps=12)
    kw = dict(lr=0.05, weight_decay=0.1, adjust_lr_fn='match_rms_adamw')     # symmetric in the layout
    actual = brainopt_trajectory(prob, brainopt.Muon(**kw))
    assert_trajectories_close(actual, torch_trajectory(prob, 'Muon', **kw), rtol=2e-2, atol=2e-3)
    # 'original': torch reads shape[0]/shape[1] of its (fan_out, fan_in) weights, brainopt shape[1]/shape[0]
    # of its (fan_in, fan_out) ones: u (6 x 2) is scaled by sqrt(3) in torch, by 1 here
    torch_original = torch_trajectory(prob, 'Muon', lr=0.05, weight_decay=0.1)
    ours_original = brainopt_trajectory(prob, brainopt.Muon(lr=0.05, weight_decay=0.1))
    assert max_abs_diff([{'u': s['u']} for s in ours_original], [{'u': s['u']} for s in torch_original]) > 1e-3


# -- schedule-free: evaluation at x, warm-up --------------------------------------------------------------
def _optax_run_with_state(problem, tx):
    params = {n: jnp.asarray(v) for n, v in problem.params0.items()}
    state = tx.init(params)
    for t in range(problem.steps):
        g = {n: jnp.asarray(v) for n, v in problem.grad({k: np.asarray(p) for k, p in params.items()}, t).items()}
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
    return params, state


@pytest.mark.parametrize('kind', ['sgd', 'adamw'])
def test_eval_params_equal_optax_schedule_free_eval_params(problem, kind):
    if kind == 'sgd':
        tx, opt = contrib.schedule_free_sgd(0.1, b1=0.8), brainopt.ScheduleFreeSGD(lr=0.1, momentum=0.8)
    else:
        tx = contrib.schedule_free_adamw(0.05, b1=0.8, b2=0.875, weight_decay=0.1)
        opt = brainopt.ScheduleFreeAdamW(lr=0.05, betas=(0.8, 0.875), weight_decay=0.1)
    params, state = _optax_run_with_state(problem, tx)
    x_ref = contrib.schedule_free_eval_params(state, params)
    traj = brainopt_trajectory(problem, opt)
    y = {k: np.asarray(v) for k, v in traj[-1].items()}
    entries = opt._weights.entries
    with opt.eval_params():
        x = {e.name: np.asarray(e.state.value) for e in entries}
    for n in problem.names:
        np.testing.assert_allclose(x[n], x_ref[n], rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(params[n], y[n], rtol=RTOL, atol=ATOL)
        np.testing.assert_array_equal(np.asarray(next(e.state.value for e in entries if e.name == n)), y[n])
        assert np.max(np.abs(x[n] - y[n])) > 1e-4                    # x and y are different points
    np.testing.assert_array_equal(opt.eval_param_values()['w'], x['w'])


def test_keras_finalize_leaves_y(problem):
    """Keras's finalize_variable_values does not move a ScheduleFreeAdamW to x: its variables stay y."""
    from peers import keras_finalize
    final = keras_finalize(problem, 'ScheduleFreeAdamW', learning_rate=0.05, beta_1=0.9, beta_2=0.875)
    traj = keras_trajectory(problem, 'ScheduleFreeAdamW', learning_rate=0.05, beta_1=0.9, beta_2=0.875)
    for n in problem.names:
        np.testing.assert_array_equal(final[n], traj[-1][n])


def np_schedule_free(problem, lr, beta, warmup, power=2.0, adam=None):
    """The authors' schedule-free step (schedulefree.SGDScheduleFree / AdamWScheduleFree), written in numpy:
    warm-up (k+1)/T_w, weights lr_max**power; no peer runs this warm-up (optax's starts at 0 and is read one
    step apart for z and for the weight; Keras averages uniformly)."""
    y = problem.initial_params()
    z = {k: v.copy() for k, v in y.items()}
    v = {k: np.zeros_like(p) for k, p in y.items()}
    lr_max, wsum, traj = 0.0, 0.0, []
    for k in range(problem.steps):
        g = problem.grad(y, k)
        lr_k = lr * min(1.0, (k + 1) / warmup)
        lr_max = max(lr_max, lr_k)
        weight = lr_max ** power
        wsum += weight
        c = weight / wsum
        for n in y:
            if adam is None:
                u = g[n].astype(np.float64)
            else:
                b2, eps = adam
                v[n] = b2 * v[n] + (1 - b2) * g[n].astype(np.float64) ** 2
                u = g[n] / (np.sqrt(v[n] / (1 - b2 ** (k + 1))) + eps)
            x = (y[n] - (1 - beta) * z[n]) / beta
            z[n] = z[n] - lr_k * u
            x = (1 - c) * x + c * z[n]
            y[n] = (beta * x + (1 - beta) * z[n]).astype(np.float32)
        traj.append({n: p.copy() for n, p in y.items()})
    return traj


@pytest.mark.parametrize('adam', [None, (0.875, 1e-8)])
def test_schedule_free_warmup_follows_the_authors(problem, adam):
    expected = np_schedule_free(problem, 0.1, 0.9, warmup=5, adam=adam)
    if adam is None:
        opt = brainopt.ScheduleFreeSGD(lr=0.1, warmup_steps=5)
        optax_ref = optax_trajectory(problem, contrib.schedule_free_sgd(0.1, warmup_steps=5))
    else:
        opt = brainopt.ScheduleFreeAdamW(lr=0.1, betas=(0.9, 0.875), warmup_steps=5)
        optax_ref = optax_trajectory(problem, contrib.schedule_free_adamw(0.1, b2=0.875, warmup_steps=5))
    assert_trajectories_close(brainopt_trajectory(problem, opt), expected, rtol=1e-5, atol=1e-6)
    assert max_abs_diff(optax_ref, expected) > 1e-3                       # optax's warm-up is another one


# -- memory: exactly the slots each needs, of the sizes the papers promise ---------------------------------
def _slot_shapes(opt, name):
    return {s: tuple(np.shape(opt.get_slot(s, name))) for s in opt.rule.slots}


def _registered(opt, **shapes):
    states = {k: brainstate.ParamState(jnp.ones(s)) for k, s in shapes.items()}
    opt.register_trainable_weights(states)
    opt.update({k: jnp.full(s, 0.5) for k, s in shapes.items()})
    return opt


def test_adafactor_keeps_row_and_column_vectors():
    opt = _registered(brainopt.Adafactor(lr=0.01), w=(64, 32), k=(5, 6, 7), b=(32,))
    assert _slot_shapes(opt, 'w') == {'row_var': (64,), 'col_var': (32,), 'variance': (0,)}
    assert _slot_shapes(opt, 'k') == {'row_var': (5, 6), 'col_var': (5, 7), 'variance': (0,)}
    assert _slot_shapes(opt, 'b') == {'row_var': (0,), 'col_var': (0,), 'variance': (32,)}
    opt = _registered(brainopt.Adafactor(lr=0.01, beta1=0.9, factored=False), w=(4, 3))
    assert _slot_shapes(opt, 'w') == {'row_var': (0,), 'col_var': (0,), 'variance': (4, 3), 'exp_avg': (4, 3)}


def test_sm3_keeps_one_vector_per_axis():
    opt = _registered(brainopt.SM3(), w=(100, 30), k=(2, 3, 4), b=(30,), s=())
    assert _slot_shapes(opt, 'w') == {'accumulator': (130,), 'momentum_buffer': (100, 30)}
    assert _slot_shapes(opt, 'k')['accumulator'] == (9,)
    assert _slot_shapes(opt, 'b')['accumulator'] == (30,) and _slot_shapes(opt, 's')['accumulator'] == ()
    assert brainopt.SM3(momentum=0.0).rule.slots == ('accumulator',)
    # the accumulator of a matrix is its row maxima then its column maxima of g^2: here all 0.25
    np.testing.assert_allclose(opt.get_slot('accumulator', 'w'), 0.25)


def test_novograd_second_moment_is_one_scalar_per_tensor():
    opt = _registered(brainopt.Novograd(), w=(3, 4), b=(4,))
    assert _slot_shapes(opt, 'w') == {'exp_avg': (3, 4), 'exp_avg_sq': ()}
    np.testing.assert_allclose(opt.get_slot('exp_avg_sq', 'w'), 12 * 0.25, rtol=1e-6)   # twelve 0.5^2: exact in float32


def test_muon_slots_follow_the_parameter_shape():
    opt = _registered(brainopt.Muon(), w=(3, 4), b=(4,))
    assert _slot_shapes(opt, 'w') == {'momentum_buffer': (3, 4), 'exp_avg_sq': (0,)}
    assert _slot_shapes(opt, 'b') == {'momentum_buffer': (4,), 'exp_avg_sq': (4,)}


def test_prodigy_d_is_global(problem):
    opt = brainopt.Prodigy(betas=EXACT)
    brainopt_trajectory(problem, opt)
    ds = [float(opt.get_slot('d', n)) for n in problem.names]
    assert ds[0] > 1e-6 and ds == [ds[0]] * len(ds)
    assert set(opt.rule.slots) == {'exp_avg', 'exp_avg_sq', 'grad_sum', 'params0', 'numerator', 'd'}
    np.testing.assert_array_equal(opt.get_slot('params0', 'w'), problem.params0['w'])


def test_schedule_free_slots():
    sgd = _registered(brainopt.ScheduleFreeSGD(), w=(3, 4))
    assert _slot_shapes(sgd, 'w') == {'z': (3, 4), 'weight_sum': (), 'lr_max': ()}
    adamw = _registered(brainopt.ScheduleFreeAdamW(), w=(3, 4))
    assert _slot_shapes(adamw, 'w') == {'z': (3, 4), 'exp_avg_sq': (3, 4), 'weight_sum': (), 'lr_max': ()}


# -- hyperparameters: braintools.optim's names and defaults ----------------------------------------------
@pytest.mark.parametrize('name', ['Lamb', 'Lars', 'Novograd', 'Fromage', 'Adafactor', 'SM3'])
def test_braintools_defaults_and_keywords(name):
    import braintools.optim as bt
    ours = dict(inspect.signature(getattr(brainopt, name)).parameters)
    shared = inspect.signature(brainopt.Optimizer.__init__).parameters
    # braintools's class signature reads (*args, **kwargs): its __init__ holds the arguments
    theirs = [p for k, p in inspect.signature(getattr(bt, name).__init__).parameters.items()
              if k != 'self' and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    assert theirs
    for p in theirs:
        k = p.name
        mine = ours.get(k, shared.get(k))
        assert mine is not None, (name, k)
        if name == 'Adafactor' and k == 'lr':        # braintools: None, meaning 1e-3
            assert mine.default == 1e-3 and brainopt.Adafactor(lr=None).lr == 1e-3
            continue
        assert mine.default == p.default or (isinstance(p.default, tuple) and tuple(mine.default) == p.default), \
            (name, k, mine.default, p.default)


def test_fromage_rejects_momentum():
    with pytest.raises(ValueError, match='momentum must be 0'):
        brainopt.Fromage(momentum=0.9)


def test_weight_decay_in_rule_honours_exclude(problem):
    """Lamb's in-rule decay skips excluded parameters: with 'b' and 'v' excluded they follow the undecayed run."""
    decayed = brainopt_trajectory(problem, brainopt.Lamb(lr=0.05, betas=EXACT, weight_decay=0.3,
                                                         weight_decay_exclude=['^b$', '^v$']))
    plain = brainopt_trajectory(problem, brainopt.Lamb(lr=0.05, betas=EXACT))
    full = optax_trajectory(problem, optax.lamb(0.05, b1=0.75, b2=0.875, weight_decay=0.3))
    assert_trajectories_close([{'w': s['w']} for s in decayed], [{'w': s['w']} for s in full], rtol=RTOL, atol=ATOL)
    assert_trajectories_close([{k: s[k] for k in 'bv'} for s in decayed], [{k: s[k] for k in 'bv'} for s in plain],
                              rtol=0, atol=0)
    assert repr(brainopt.Lamb(weight_decay=0.3)) == 'Lamb(lr=0.001, betas=(0.9, 0.999), eps=1e-06, weight_decay=0.3)'
    assert brainopt.Lamb(weight_decay=0.3).weight_decay_mode == 'rule'

