"""``brainopt.brainpy`` against brainpy 2.x's formulas, written here independently in numpy.

brainpy 2.6 does not import with the installed jax (it needs ``jax.experimental.host_callback``), so it cannot run
live: each reference below is the formula of brainpy 2.x's documentation (and of its source,
brainpy/_src/optimizers/optimizer.py and scheduler.py, where they agree), in float32 numpy. Where brainpy's code
departs from its documentation, the documented formula is the reference and the test says so.
"""
import os
import tempfile

import brainstate
import jax.numpy as jnp
import numpy as np
import pytest

import brainopt
import brainopt.brainpy as bp

from peers import assert_trajectories_close, make_problem, max_abs_diff, numpy_trajectory

RTOL, ATOL = 2e-6, 1e-7
f32 = np.float32


def run(problem, opt):
    states = {n: brainstate.ParamState(jnp.asarray(v)) for n, v in problem.initial_params().items()}
    getattr(opt, 'register_train_vars', opt.register_trainable_weights)(states)
    traj = []
    for t in range(problem.steps):
        opt.update({n: jnp.asarray(v) for n, v in problem.grad({n: s.value for n, s in states.items()}, t).items()})
        traj.append({n: np.asarray(s.value) for n, s in states.items()})
    return traj


def stateful(init, step):
    """A numpy update ``step(p, g, slots, t) -> p`` with per-parameter slots created by ``init(p)``."""
    slots = {}

    def update(params, grads, t):
        out = {}
        for k in params:
            s = slots.setdefault(k, init(params[k]))
            out[k] = step(params[k], grads[k], s, t)
        return out
    return update


def zeros(*names):
    return lambda p: {n: np.zeros_like(p) for n in names}


WD = f32(0.05)


def lr_exp(t):                                      # ExponentialDecayLR(0.1, decay_steps=4, decay_rate=0.5) at call t
    return f32(0.1 * 0.5 ** (t / 4))


def np_sgd(p, g, s, t):
    return (1 - WD) * p - lr_exp(t) * g


def np_momentum(p, g, s, t, lr=lr_exp):              # v = mu v - lr g; p = (1 - wd) p + v   (the lr inside v)
    s['v'] = f32(0.9) * s['v'] - lr(t) * g
    return (1 - WD) * p + s['v']


def np_nesterov(p, g, s, t):
    # Nesterov's method with the gradient taken at the parameters (Sutskever et al. 2013): b = mu b + g,
    # p -= lr (g + mu b). brainpy 2.x's MomentumNesterov code runs plain momentum instead (np_momentum).
    s['v'] = f32(0.9) * s['v'] + g
    return (1 - WD) * p - f32(0.05) * (g + f32(0.9) * s['v'])


def np_adagrad(p, g, s, t):                           # c += g^2; p -= lr g / sqrt(c + eps)
    s['c'] = s['c'] + g * g
    return (1 - WD) * p - lr_exp(t) * g / np.sqrt(s['c'] + f32(1e-6))


def np_adadelta(p, g, s, t):                          # lr ignored
    rho, eps = f32(0.95), f32(1e-6)
    s['c'] = rho * s['c'] + (1 - rho) * g * g
    u = g * np.sqrt(s['d'] + eps) / np.sqrt(s['c'] + eps)
    s['d'] = rho * s['d'] + (1 - rho) * u * u
    return (1 - WD) * p - u


def np_rmsprop(p, g, s, t):
    rho, eps = f32(0.9), f32(1e-6)
    s['c'] = rho * s['c'] + (1 - rho) * g * g
    return (1 - WD) * p - lr_exp(t) * g / np.sqrt(s['c'] + eps)


def _adam_step(s, g, t, lr, b1=0.9, b2=0.999, eps=0.0, amsgrad=False):
    # Kingma and Ba with t the number of updates (brainpy's code reads t from the epoch counter instead);
    # eps on the uncorrected root, as brainpy (brainopt's default rule puts it on the corrected one)
    s['m'] = f32(b1) * s['m'] + f32(1 - b1) * g
    s['v'] = f32(b2) * s['v'] + f32(1 - b2) * g * g
    v = s['v']
    if amsgrad:
        s['vmax'] = v = np.maximum(s['vmax'], v)
    step = t + 1
    # the powers in float32, as brainpy's jax code computes beta ** step (jax's default precision)
    lr_t = f32(lr) * np.sqrt(1 - f32(b2) ** f32(step)) / (1 - f32(b1) ** f32(step))
    return lr_t * s['m'] / (np.sqrt(v) + f32(eps))


def np_adam(p, g, s, t):
    return (1 - WD) * p - _adam_step(s, g, t, lr_exp(t), eps=1e-3)


def np_adamw(p, g, s, t):                             # p <- p (1 - lr wd), then Adam
    p = p * (1 - f32(0.05) * f32(0.1))
    return p - _adam_step(s, g, t, 0.05, eps=1e-3, amsgrad=True)


def np_lars(p, g, s, t):
    # brainpy and the paper: m = mu m + lr tc |p| / (|g| + wd |p| + eps) (g + wd p); p -= m (the lr inside m)
    wd, pn, gn = f32(0.1), np.linalg.norm(p), np.linalg.norm(g)
    ratio = f32(1e-2) * pn / (gn + wd * pn + f32(1e-5))
    s['m'] = f32(0.9) * s['m'] + f32(5) * lr_exp(t) * ratio * (g + wd * p)
    return p - s['m']


CASES = {
    'SGD': (lambda: bp.SGD(bp.ExponentialDecayLR(0.1, 4, 0.5), weight_decay=0.05), zeros(), np_sgd),
    'Momentum': (lambda: bp.Momentum(bp.ExponentialDecayLR(0.1, 4, 0.5), weight_decay=0.05), zeros('v'),
                 np_momentum),
    'MomentumNesterov': (lambda: bp.MomentumNesterov(0.05, weight_decay=0.05), zeros('v'), np_nesterov),
    'Adagrad': (lambda: bp.Adagrad(bp.ExponentialDecayLR(0.1, 4, 0.5), weight_decay=0.05), zeros('c'), np_adagrad),
    'Adadelta': (lambda: bp.Adadelta(weight_decay=0.05), zeros('c', 'd'), np_adadelta),
    'RMSProp': (lambda: bp.RMSProp(bp.ExponentialDecayLR(0.1, 4, 0.5), weight_decay=0.05), zeros('c'), np_rmsprop),
    'Adam': (lambda: bp.Adam(bp.ExponentialDecayLR(0.1, 4, 0.5), eps=1e-3, weight_decay=0.05), zeros('m', 'v'),
             np_adam),
    'AdamW': (lambda: bp.AdamW(0.05, eps=1e-3, weight_decay=0.1, amsgrad=True), zeros('m', 'v', 'vmax'), np_adamw),
    'LARS': (lambda: bp.LARS(bp.ExponentialDecayLR(0.5, 4, 0.5), weight_decay=0.1, tc=1e-2), zeros('m'), np_lars),
}


@pytest.mark.parametrize('name', sorted(CASES))
def test_trajectory_equals_brainpy_formula(name):
    make, init, step = CASES[name]
    problem = make_problem(seed=5, steps=12)
    assert_trajectories_close(run(problem, make()), numpy_trajectory(problem, stateful(init, step)),
                              rtol=RTOL, atol=ATOL, err_msg=name)


def test_momentum_nesterov_is_not_brainpys_plain_momentum_code():
    problem = make_problem(seed=5, steps=12)
    plain = stateful(zeros('v'), lambda p, g, s, t: np_momentum(p, g, s, t, lr=lambda t: f32(0.05)))
    assert max_abs_diff(run(problem, CASES['MomentumNesterov'][0]()), numpy_trajectory(problem, plain)) > 1e-3


def test_default_rule_forms_differ_from_brainpy():
    """brainpy keeps Momentum's lr inside the buffer and Adam's eps on the uncorrected root (the dialect's rule
    forms, above); brainopt's default forms (lr outside, eps on the corrected root) give other numbers."""
    problem = make_problem(seed=5, steps=12)
    options = dict(weight_decay=0.05, weight_decay_mode='decoupled_unscaled')
    for name, default in [('Momentum', brainopt.Momentum(bp.ExponentialDecayLR(0.1, 4, 0.5), 0.9, **options)),
                          ('Adam', brainopt.Adam(bp.ExponentialDecayLR(0.1, 4, 0.5), eps=1e-3, **options))]:
        reference = numpy_trajectory(problem, stateful(CASES[name][1], CASES[name][2]))
        assert max_abs_diff(run(problem, default), reference) > 1e-4, name


def np_adan(no_prox, b=(0.02, 0.08, 0.01), lr=0.05, wd=0.1, eps=1e-8):
    """Adan with brainpy's betas (the paper's Algorithm 1), bias-corrected by the update count: the gradient
    difference is weighted by 1 - b[1] (brainopt's default rule, optax's form, by b[1])."""
    b0, b1, b2 = (f32(x) for x in b)

    def step(p, g, s, t):
        diff = g - s['g'] if t else np.zeros_like(g)                # brainpy: prev_grad = g on the first step
        s['m'] = (1 - b0) * s['m'] + b0 * g
        s['v'] = (1 - b1) * s['v'] + b1 * diff
        s['n'] = (1 - b2) * s['n'] + b2 * (g + (1 - b1) * diff) ** 2
        s['g'] = g
        k = t + 1
        m_hat, v_hat = s['m'] / f32(1 - (1 - b[0]) ** k), s['v'] / f32(1 - (1 - b[1]) ** k)
        n_hat = s['n'] / f32(1 - (1 - b[2]) ** k)
        u = f32(lr) / (np.sqrt(n_hat) + f32(eps)) * (m_hat + (1 - b1) * v_hat)
        return p * (1 - f32(wd * lr)) - u if no_prox else (p - u) / (1 + f32(wd * lr))
    return stateful(zeros('m', 'v', 'n', 'g'), step)


def test_adan_equals_brainpy_formula_proximal_and_no_prox():
    """Changing gradients and weight decay; brainopt's default Adan (optax's weights) gives other numbers."""
    problem = make_problem(seed=6, steps=12)
    for no_prox in (False, True):
        reference = numpy_trajectory(problem, np_adan(no_prox))
        ours = run(problem, bp.Adan(0.05, weight_decay=0.1, no_prox=no_prox))
        # atol 5e-7: the engine turns the proximal division into a step, an ulp of the parameter off
        assert_trajectories_close(ours, reference, rtol=RTOL, atol=5e-7, err_msg=f'no_prox={no_prox}')
        default = brainopt.Adan(0.05, betas=(0.98, 0.92, 0.99), weight_decay=0.1, no_prox=no_prox)
        assert max_abs_diff(run(problem, default), reference) > 1e-4, f'default rule, no_prox={no_prox}'
    assert max_abs_diff(run(problem, bp.Adan(0.05, weight_decay=0.1)),
                        run(problem, bp.Adan(0.05, weight_decay=0.1, no_prox=True))) > 1e-6


def test_lars_default_rule_differs_from_brainpy():
    """brainpy (and the LARS paper) divide by |g| + wd |p| and keep the lr in the buffer (the dialect's rule form,
    CASES above); brainopt's default rule (optax, braintools) divides by |g + wd p| and scales the buffer by lr."""
    problem = make_problem(seed=5, steps=12)
    default = brainopt.Lars(bp.ExponentialDecayLR(0.5, 4, 0.5), weight_decay=0.1, trust_coefficient=1e-2, eps=1e-5)
    reference = numpy_trajectory(problem, stateful(zeros('m'), np_lars))
    assert max_abs_diff(run(problem, default), reference) > 1e-4


def test_schedulers_equal_brainpy_formulas():
    """Each scheduler's value at counters 0..11 (call-based: updates; epoch-based: epochs), in numpy."""
    i = np.arange(12, dtype=np.float64)
    cases = [
        (bp.StepLR(0.1, step_size=3, gamma=0.5), 0.1 * 0.5 ** np.floor(i / 3)),
        (bp.MultiStepLR(0.1, milestones=[2, 5], gamma=0.5), 0.1 * 0.5 ** ((i >= 2).astype(int) + (i >= 5))),
        (bp.CosineAnnealingLR(0.1, T_max=8, eta_min=0.01), 0.01 + 0.09 * (1 + np.cos(np.pi * i / 8)) / 2),
        (bp.ExponentialLR(0.1, gamma=0.8), 0.1 * 0.8 ** i),
        (bp.ExponentialDecayLR(0.1, 4, 0.5), 0.1 * 0.5 ** (i / 4)),
        (bp.InverseTimeDecayLR(0.1, 4, 0.5), 0.1 / (1 + 0.5 * i / 4)),
        (bp.InverseTimeDecayLR(0.1, 4, 0.5, staircase=True), 0.1 / (1 + 0.5 * np.floor(i / 4))),
        (bp.PolynomialDecayLR(0.1, 8, 0.01, power=2.0), (1 - np.minimum(i, 8) / 8) ** 2 * 0.09 + 0.01),
        (bp.PiecewiseConstantLR([3, 6], [0.1, 0.05, 0.01]), np.array([0.1, 0.05, 0.01])[(i > 3).astype(int) + (i > 6)]),
        (bp.CosineAnnealingWarmRestarts(0.1, num_call_per_epoch=2, T_0=2),
         0.05 * (1 + np.cos(np.pi * ((i / 2) % 2) / 2))),
        (bp.CosineAnnealingWarmRestarts(0.1, num_call_per_epoch=1, T_0=2, T_mult=2),
         0.05 * (1 + np.cos(np.pi * np.array([0, 1, 0, 1, 2, 3, 0, 1, 2, 3, 4, 5]) /
                            np.array([2, 2, 4, 4, 4, 4, 8, 8, 8, 8, 8, 8])))),
        (bp.Constant(0.1), np.full(12, 0.1)),
    ]
    for sched, expected in cases:
        # float32 schedules vs float64 formulas: a pow or cos and ~4 roundings, within 8 ulps (< rtol 1e-6)
        np.testing.assert_allclose([float(sched(k)) for k in range(12)], expected, rtol=1e-6, atol=1e-9,
                                   err_msg=type(sched).__name__)
    with pytest.warns(DeprecationWarning, match='ExponentialDecayLR'):
        old = bp.ExponentialDecay(0.1, 4, 0.5)
    assert float(old(4)) == pytest.approx(0.05)


def test_call_based_advance_per_update_epoch_based_per_step_epoch():
    w = brainstate.ParamState(jnp.zeros(2))
    call = bp.ExponentialDecayLR(0.1, 1, 0.5)
    opt = bp.SGD(call, train_vars={'w': w})
    assert call.last_call == -1
    for _ in range(3):
        opt.update({'w': jnp.ones(2)})
    np.testing.assert_allclose(w.value, -(0.1 + 0.05 + 0.025) * np.ones(2), rtol=1e-6)   # 3 float32 sums: < 2 ulps
    assert call.last_call == 2 and float(opt.lr()) == pytest.approx(0.0125)
    v = brainstate.ParamState(jnp.zeros(2))
    epoch = bp.StepLR(0.1, step_size=1, gamma=0.5)
    opt = bp.SGD(epoch, train_vars={'v': v})
    opt.update({'v': jnp.ones(2)})
    opt.update({'v': jnp.ones(2)})                      # the same epoch: 0.1 twice
    epoch.step_epoch()
    opt.update({'v': jnp.ones(2)})                      # next epoch: 0.05
    np.testing.assert_allclose(v.value, -0.25 * np.ones(2), rtol=1e-6)     # 3 float32 sums of f32(0.1) etc.: < 2 ulps


def test_registration_inspection_and_checkpoints():
    problem = make_problem(seed=7, steps=6)
    states = {n: brainstate.ParamState(jnp.asarray(v)) for n, v in problem.initial_params().items()}
    opt = bp.Adam(0.05, train_vars=states)
    assert opt.train_vars() == states and opt.vars_to_train == states
    with pytest.raises(TypeError, match='train_vars'):
        opt.register_train_vars([states['w']])
    with pytest.raises(ValueError, match='length of "grads"'):
        opt.check_grads({'w': 0})
    with pytest.warns(UserWarning, match='register_train_vars'):
        bp.SGD(0.1).register_vars({'u': brainstate.ParamState(jnp.ones(2))})
    grads = [{n: jnp.asarray(v) for n, v in problem.grad(problem.params0, t).items()} for t in range(4)]
    opt.update(grads[0])
    opt.update(grads[1])
    saved = opt.state_dict()
    path = os.path.join(tempfile.mkdtemp(), 'opt.npz')
    opt.save_states(path)
    values = {n: np.asarray(s.value) for n, s in states.items()}
    for t in (2, 3):
        opt.update(grads[t])
    for load in ('state_dict', 'file'):          # a freshly built optimizer resumes bit-identically
        fresh = {n: brainstate.ParamState(jnp.asarray(v)) for n, v in values.items()}
        again = bp.Adam(0.05, train_vars=fresh)
        again.load_state_dict(saved, warn=False) if load == 'state_dict' else again.load_states(path)
        for t in (2, 3):
            again.update(grads[t])
        for n in states:
            np.testing.assert_array_equal(fresh[n].value, states[n].value)
    with pytest.raises(brainopt.CheckpointError):
        bp.Adagrad(0.1, train_vars={'w': brainstate.ParamState(jnp.ones(3))}).load_state_dict(saved)


def test_adadelta_ignores_lr_and_decay_is_checked():
    problem = make_problem(seed=5, steps=4)
    a, b = run(problem, bp.Adadelta(lr=0.01)), run(problem, bp.Adadelta(lr=5.0))
    assert max_abs_diff(a, b) == 0.0
    assert float(bp.Adadelta(lr=0.3).lr()) == pytest.approx(0.3)
    with pytest.raises(ValueError, match='weight_decay'):
        bp.SGD(0.1, weight_decay=1.5)


def test_lars_param_group_with_its_own_weight_decay():
    """A group added with its own weight_decay decays with it inside brainpy's trust ratio (the rule decays)."""
    problem = make_problem(seed=5, steps=12)

    def np_lars_wd(wd):
        def step(p, g, s, t):
            wd_, pn, gn = f32(wd), np.linalg.norm(p), np.linalg.norm(g)
            ratio = f32(1e-2) * pn / (gn + wd_ * pn + f32(1e-5))
            s['m'] = f32(0.9) * s['m'] + f32(5) * lr_exp(t) * ratio * (g + wd_ * p)
            return p - s['m']
        return step

    first, second = np_lars_wd(0.1), np_lars_wd(0.4)
    reference = numpy_trajectory(problem, stateful(zeros('m'), lambda p, g, s, t: (
        first if s.setdefault('group', 0 if p.ndim == 2 else 1) == 0 else second)(p, g, s, t)))
    states = {n: brainstate.ParamState(jnp.asarray(v)) for n, v in problem.initial_params().items()}
    matrices = {n: s for n, s in states.items() if s.value.ndim == 2}
    assert matrices and len(matrices) < len(states)
    opt = bp.LARS(bp.ExponentialDecayLR(0.5, 4, 0.5), weight_decay=0.1, tc=1e-2)
    opt.register_train_vars(matrices)
    opt.add_param_group({n: s for n, s in states.items() if n not in matrices}, weight_decay=0.4)
    ours = []
    for t in range(problem.steps):
        opt.update({n: jnp.asarray(v) for n, v in problem.grad({n: s.value for n, s in states.items()}, t).items()})
        ours.append({n: np.asarray(s.value) for n, s in states.items()})
    assert_trajectories_close(ours, reference, rtol=RTOL, atol=ATOL)
