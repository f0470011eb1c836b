"""Lookahead, SAM and LBFGS: golden trajectories against the peers, and the contract items that apply.

Peers, run live: optax 0.2 (``optax.lookahead``; ``optax.contrib.sam`` in opaque mode with
``chain(normalize(), sgd(rho))``, the paper's SAM), torch.optim 2.13 (``torch.optim.LBFGS`` with
``max_iter=1``: one outer iteration per ``step``, the semantics brainopt follows; strong-Wolfe line search).
ASAM (``adaptive=True``) has no peer: its golden values are the formula of Kwon et al. 2021, as the
``davda54/sam`` reference implementation writes it, in numpy below. Gradients for the optax runs come from
one numpy function (``tests/peers.py``); the LBFGS objectives are differentiated by torch and by JAX, so those
trajectories agree to a few float32 ulps of the gradient, amplified over 14 iterations (rtol 5e-5, atol 2e-5;
optax's L-BFGS differs from torch's by more than 1e-2).
"""
import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import brainopt

from models import MLP, X, Y
from peers import assert_trajectories_close, make_problem, max_abs_diff, optax_trajectory
from runner import brainopt_trajectory, make_states
from ulps import assert_trees_ulp_close, assert_ulp_close, cross_program_ulps

RTOL, ATOL = 2e-6, 1e-7
SHAPES = (('w', (3, 4)), ('b', (4,)), ('v', (7,)))


@pytest.fixture(scope='module')
def problem():
    return make_problem(seed=3, shapes=SHAPES, steps=12)


def loss_and_grad_fns(model):
    params = model.states(brainstate.ParamState)

    def loss_fn():
        return jnp.mean((model(X) - Y) ** 2)

    return loss_fn, brainstate.transform.grad(loss_fn, grad_states=params, return_value=True)


def values(model):
    return jax.tree.map(np.asarray, {k: s.value for k, s in model.states(brainstate.ParamState).items()})


def opt_values(opt):
    return jax.tree.map(np.asarray, {k: s.value for k, s in brainstate.graph.states(opt).items()})


def assert_runs_ulp_close(actual, expected, err_msg=''):
    """Two brainopt programs' trajectories: entry t, after t + 1 steps, within cross_program_ulps(t + 1)."""
    assert len(actual) == len(expected), f'{err_msg} trajectory lengths differ: {len(actual)} vs {len(expected)}'
    for t, (a, e) in enumerate(zip(actual, expected)):
        assert_trees_ulp_close(a, e, cross_program_ulps(t + 1), err_msg=f'{err_msg} step {t}'.strip())


# == Lookahead =============================================================================================
def optax_lookahead_trajectory(problem, fast_tx, sync_period, alpha):
    """optax keeps (fast, slow) in LookaheadParams; gradients are taken at the fast weights."""
    params = optax.LookaheadParams.init_synced({n: jnp.asarray(v) for n, v in problem.params0.items()})
    tx = optax.lookahead(fast_tx, sync_period=sync_period, slow_step_size=alpha)
    state = tx.init(params)
    fast, slow = [], []
    for t in range(problem.steps):
        g = {n: jnp.asarray(v) for n, v in problem.grad({n: np.asarray(x) for n, x in params.fast.items()}, t).items()}
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
        fast.append({n: np.asarray(x) for n, x in params.fast.items()})
        slow.append({n: np.asarray(x) for n, x in params.slow.items()})
    return fast, slow


def _sched():
    return optax.exponential_decay(0.1, transition_steps=3, decay_rate=0.5, staircase=True)


LOOKAHEAD_CASES = {
    'sgd': (lambda: optax.sgd(0.1), lambda: brainopt.SGD(lr=0.1), 5, 0.5),
    'sgd-momentum-k3': (lambda: optax.sgd(0.1, momentum=0.9), lambda: brainopt.SGD(lr=0.1, momentum=0.9), 3, 0.8),
    # the base's schedule acts on every fast step (braintools.optim.Lookahead ignores it)
    'sgd-schedule': (lambda: optax.sgd(_sched()), lambda: brainopt.SGD(lr=_sched()), 4, 0.5),
    'adam': (lambda: optax.adam(0.05, b1=0.75, b2=0.875), lambda: brainopt.Adam(lr=0.05, betas=(0.75, 0.875)), 5, 0.5),
    # decoupled decay belongs to the fast step, as in optax.lookahead(optax.adamw(...))
    'adamw': (lambda: optax.adamw(0.05, b1=0.75, b2=0.875, weight_decay=0.3),
              lambda: brainopt.AdamW(lr=0.05, betas=(0.75, 0.875), weight_decay=0.3), 2, 0.3),
}


@pytest.mark.parametrize('case', sorted(LOOKAHEAD_CASES))
def test_lookahead_optax_golden(problem, case):
    fast_tx, base, k, alpha = LOOKAHEAD_CASES[case]
    fast, slow = optax_lookahead_trajectory(problem, fast_tx(), k, alpha)
    opt = brainopt.Lookahead(base(), sync_period=k, alpha=alpha)
    slow_ours = []
    states = make_states(problem)
    opt.register_trainable_weights(states)
    traj = []
    for t in range(problem.steps):
        opt.update({n: jnp.asarray(v) for n, v in problem.grad({n: np.asarray(s.value) for n, s in states.items()},
                                                                t).items()})
        traj.append({n: np.asarray(s.value) for n, s in states.items()})
        slow_ours.append({n: np.asarray(opt.get_slot('slow', n)) for n in states})
    assert_trajectories_close(traj, fast, rtol=RTOL, atol=ATOL, err_msg=f'lookahead {case} fast')
    assert_trajectories_close(slow_ours, slow, rtol=RTOL, atol=ATOL, err_msg=f'lookahead {case} slow')
    # the synchronisation does show: Lookahead is not its base optimizer
    assert max_abs_diff(traj, optax_trajectory(problem, fast_tx())) > 1e-3


def test_lookahead_takes_the_base_options_and_overrides_them(problem):
    clipped = brainopt_trajectory(problem, brainopt.Lookahead(brainopt.SGD(lr=0.1, grad_clip_value=0.05)))
    given = brainopt_trajectory(problem, brainopt.Lookahead(brainopt.SGD(lr=0.1), grad_clip_value=0.05))
    plain = brainopt_trajectory(problem, brainopt.Lookahead(brainopt.SGD(lr=0.1)))
    assert_trajectories_close(clipped, given, rtol=0, atol=0)
    assert max_abs_diff(clipped, plain) > 1e-3
    faster = brainopt_trajectory(problem, brainopt.Lookahead(brainopt.SGD(lr=0.1), lr=0.2))
    assert_trajectories_close(faster, brainopt_trajectory(problem, brainopt.Lookahead(brainopt.SGD(lr=0.2))),
                              rtol=0, atol=0)


def test_lookahead_alpha_one_is_the_base_optimizer(problem):
    base = brainopt_trajectory(problem, brainopt.Adam(lr=0.05))
    wrapped = brainopt_trajectory(problem, brainopt.Lookahead(brainopt.Adam(lr=0.05), sync_period=2, alpha=1.0))
    assert_runs_ulp_close(wrapped, base)            # the wrapper and its template: two programs


def test_lookahead_counts_applied_updates_only():
    """With accumulation over 2 calls, the first synchronisation (k=2) is on the 4th call."""
    w = brainstate.ParamState(jnp.zeros(1))
    opt = brainopt.Lookahead(brainopt.SGD(lr=1.0), sync_period=2, alpha=0.5, gradient_accumulation_steps=2)
    opt.register_trainable_weights({'w': w})
    seen = []
    for _ in range(4):
        opt.update({'w': jnp.ones(1)})
        seen.append((float(w.value[0]), float(opt.get_slot('slow', 'w')[0])))
    assert seen == [(0.0, 0.0), (-1.0, 0.0), (-1.0, 0.0), (-1.0, -1.0)]


def test_lookahead_refuses_what_it_cannot_wrap():
    with pytest.raises(TypeError, match='base_optimizer must be a brainopt optimizer'):
        brainopt.Lookahead(optax.sgd(0.1))
    with pytest.raises(TypeError, match='already a LookaheadRule'):
        brainopt.Lookahead(brainopt.Lookahead(brainopt.SGD()))
    with pytest.raises(TypeError, match=r'cannot wrap SAM.*SAM\(brainopt.Lookahead'):
        brainopt.Lookahead(brainopt.SAM(brainopt.SGD()))
    registered = brainopt.SGD().register_trainable_weights({'w': brainstate.ParamState(jnp.ones(2))})
    with pytest.raises(ValueError, match=r"already has registered weights \['w'\]"):
        brainopt.Lookahead(registered)
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['momentum'\]"):
        brainopt.Lookahead(brainopt.SGD(), momentum=0.9)


@pytest.mark.parametrize('name', ['Lookahead', 'LBFGS'])
def test_braintools_arguments_are_accepted(name):
    """Every braintools.optim argument of these two names exists here (defaults differ where documented)."""
    import inspect

    import braintools.optim as bt
    ours = dict(inspect.signature(getattr(brainopt, name)).parameters)
    shared = inspect.signature(brainopt.Optimizer.__init__).parameters
    # the class's own signature reads (*args, **kwargs) in braintools 0.3: take its __init__'s
    theirs = [p for k, p in inspect.signature(getattr(bt, name).__init__).parameters.items()
              if k != 'self' and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    assert len(theirs) >= 4
    for p in theirs:
        k = p.name
        mine = ours.get(k, shared.get(k))
        assert mine is not None, (name, k)
        if name == 'LBFGS' or k in ('sync_period', 'alpha'):
            assert mine.default == p.default, (name, k, mine.default, p.default)


# == SAM ==================================================================================================
def sam_run(problem, opt):
    states = make_states(problem)
    opt.register_trainable_weights(states)
    traj = []
    for t in range(problem.steps):
        def grad_fn(t=t):
            return {n: jnp.asarray(v) for n, v in
                    problem.grad({n: np.asarray(s.value) for n, s in states.items()}, t).items()}
        opt.update(grad_fn(), grad_fn=grad_fn)
        traj.append({n: np.asarray(s.value) for n, s in states.items()})
    return traj


def optax_sam_trajectory(problem, outer_tx, rho):
    tx = optax.contrib.sam(outer_tx, optax.chain(optax.contrib.normalize(), optax.sgd(rho)), sync_period=2,
                           opaque_mode=True)
    params = {n: jnp.asarray(v) for n, v in problem.params0.items()}
    state = tx.init(params)
    traj = []
    for t in range(problem.steps):
        def grad_fn(p, _, t=t):
            return {n: jnp.asarray(v) for n, v in problem.grad({n: np.asarray(x) for n, x in p.items()}, t).items()}
        updates, state = tx.update(grad_fn(params, 0), state, params, grad_fn=grad_fn)
        params = optax.apply_updates(params, updates)
        traj.append({n: np.asarray(x) for n, x in params.items()})
    return traj


SAM_CASES = {
    'sgd': (lambda: optax.sgd(0.1), lambda: brainopt.SGD(lr=0.1), 0.05),
    'sgd-momentum-rho0.3': (lambda: optax.sgd(0.1, momentum=0.9), lambda: brainopt.SGD(lr=0.1, momentum=0.9), 0.3),
    'adam': (lambda: optax.adam(0.05, b1=0.75, b2=0.875), lambda: brainopt.Adam(lr=0.05, betas=(0.75, 0.875)), 0.1),
}


@pytest.mark.parametrize('case', sorted(SAM_CASES))
def test_sam_optax_golden(problem, case):
    outer, base, rho = SAM_CASES[case]
    expected = optax_sam_trajectory(problem, outer(), rho)
    actual = sam_run(problem, brainopt.SAM(base(), rho=rho))
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL, err_msg=f'sam {case}')
    assert max_abs_diff(expected, optax_trajectory(problem, outer())) > 1e-3       # the perturbation shows


def numpy_asam(problem, lr, rho):
    """ASAM with SGD, written from Kwon et al. 2021 as davda54/sam implements it."""
    p = problem.initial_params()
    traj = []
    for t in range(problem.steps):
        g = problem.grad(p, t)
        norm = np.sqrt(sum(np.sum((np.abs(p[n]) * g[n]).astype(np.float64) ** 2) for n in p))
        e = {n: p[n] ** 2 * g[n] * np.float32(rho / (norm + 1e-12)) for n in p}
        g2 = problem.grad({n: p[n] + e[n] for n in p}, t)
        p = {n: (p[n] - np.float32(lr) * g2[n]).astype(np.float32) for n in p}
        traj.append({n: v.copy() for n, v in p.items()})
    return traj


def test_asam_numpy_golden(problem):
    expected = numpy_asam(problem, 0.1, 0.5)
    actual = sam_run(problem, brainopt.SAM(brainopt.SGD(lr=0.1), rho=0.5, adaptive=True))
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL)
    plain = sam_run(problem, brainopt.SAM(brainopt.SGD(lr=0.1), rho=0.5))
    assert max_abs_diff(actual, plain) > 1e-3                      # the adaptive ball differs from the plain one


def test_sam_rho_zero_is_the_base_optimizer(problem):
    assert_trajectories_close(sam_run(problem, brainopt.SAM(brainopt.Adam(lr=0.05), rho=0.0)),
                              brainopt_trajectory(problem, brainopt.Adam(lr=0.05)), rtol=0, atol=0)


def test_sam_around_lookahead(problem):
    """SAM(Lookahead(SGD)): the SAM gradient drives Lookahead's fast steps (numpy, k=2, alpha=0.5)."""
    p = problem.initial_params()
    slow = {n: v.copy() for n, v in p.items()}
    expected = []
    for t in range(problem.steps):
        g = problem.grad(p, t)
        norm = np.sqrt(sum(np.sum(g[n].astype(np.float64) ** 2) for n in p))
        g2 = problem.grad({n: p[n] + g[n] * np.float32(0.2 / (norm + 1e-12)) for n in p}, t)
        p = {n: p[n] - np.float32(0.1) * g2[n] for n in p}
        if (t + 1) % 2 == 0:
            slow = {n: slow[n] + np.float32(0.5) * (p[n] - slow[n]) for n in p}
            p = {n: v.copy() for n, v in slow.items()}
        expected.append({n: v.copy() for n, v in p.items()})
    actual = sam_run(problem, brainopt.SAM(brainopt.Lookahead(brainopt.SGD(lr=0.1), sync_period=2), rho=0.2))
    assert_trajectories_close(actual, expected, rtol=RTOL, atol=ATOL)


def _sam_jit_pair(make):
    eager_model, jit_model = MLP(), MLP()
    eager_opt = make().register_trainable_weights(eager_model.states(brainstate.ParamState))
    jit_opt = make().register_trainable_weights(jit_model.states(brainstate.ParamState))
    traces = []

    @brainstate.transform.jit
    def train_step():
        traces.append(1)
        _, vg = loss_and_grad_fns(jit_model)
        grads, loss = vg()
        jit_opt.update(grads, grad_fn=lambda: vg()[0])
        return loss

    _, eager_vg = loss_and_grad_fns(eager_model)
    for _ in range(4):
        eager_opt.update(eager_vg()[0], grad_fn=lambda: eager_vg()[0])
        train_step()
    assert len(traces) == 1
    return eager_model, jit_model, eager_opt, jit_opt


def test_sam_eager_equals_jit_and_keeps_the_base_slots():
    eager_model, jit_model, eager_opt, jit_opt = _sam_jit_pair(
        lambda: brainopt.SAM(brainopt.Adam(lr=0.01), rho=0.1, use_ema=True))
    # eager and jit are two programs: 4 updates apart at most
    assert_trees_ulp_close(values(eager_model), values(jit_model), cross_program_ulps(4), err_msg='params')
    assert_trees_ulp_close(opt_values(eager_opt), opt_values(jit_opt), cross_program_ulps(4), err_msg='states')
    states = brainstate.graph.states(jit_opt)
    assert set(states) == {('step_count',), ('hyperparams',), ('slots', 'exp_avg'), ('slots', 'exp_avg_sq'),
                           ('ema',)}
    assert sorted(states[('slots', 'exp_avg')].value) == ['l1.weight.bias', 'l1.weight.weight',
                                                          'l2.weight.bias', 'l2.weight.weight']
    assert set(jit_opt.get_slot('exp_avg', ('l1', 'weight'))) == {'weight', 'bias'}
    assert int(jit_opt.step_count.value) == 4
    assert eager_opt._second_compiled._cache_size() == 1       # the eager path compiles once


def test_sam_trains_and_restores_the_weights_grad_fn_saw():
    model = MLP()
    loss_fn, vg = loss_and_grad_fns(model)
    opt = brainopt.SAM(brainopt.SGD(lr=0.1), rho=0.05).register_trainable_weights(
        model.states(brainstate.ParamState))
    first = float(loss_fn())
    seen = []

    def grad_fn():
        seen.append(values(model))
        return vg()[0]

    before = values(model)
    opt.update(vg()[0], grad_fn=grad_fn)
    assert max_abs_diff([seen[0]['l1', 'weight']], [before['l1', 'weight']]) > 1e-4     # grad_fn saw w + eps
    for _ in range(30):
        opt.update(vg()[0], grad_fn=lambda: vg()[0])
    assert float(loss_fn()) < 0.9 * first


def test_sam_nonfinite_first_gradient_is_skipped():
    w = brainstate.ParamState(jnp.ones(3))
    opt = brainopt.SAM(brainopt.Adam(lr=0.1), skip_nonfinite=True).register_trainable_weights({'w': w})
    info = opt.update({'w': jnp.array([1.0, jnp.nan, 1.0])}, grad_fn=lambda: {'w': jnp.ones(3)})
    assert not bool(info.applied) and not bool(info.finite)
    np.testing.assert_array_equal(w.value, 1.0)
    assert int(opt.skipped_steps.value) == 1 and int(opt.step_count.value) == 0


def test_sam_errors():
    w = brainstate.ParamState(jnp.ones(2))
    opt = brainopt.SAM(brainopt.SGD()).register_trainable_weights({'w': w})
    with pytest.raises(TypeError, match='SAM.update needs grad_fn'):
        opt.update({'w': jnp.ones(2)})
    with pytest.raises(RuntimeError, match='before register_trainable_weights'):
        brainopt.SAM(brainopt.SGD()).update({'w': jnp.ones(2)}, grad_fn=lambda: {'w': jnp.ones(2)})
    with pytest.raises(KeyError, match="unknown parameter path 'v'"):
        opt.update({'w': jnp.ones(2)}, grad_fn=lambda: {'v': jnp.ones(2)})
    np.testing.assert_array_equal(w.value, 1.0)                    # restored after grad_fn's bad result
    for kwargs, err in [(dict(rho=-0.1), ValueError), (dict(rho='big'), TypeError), (dict(adaptive=1), TypeError),
                        (dict(lr=-1.0), ValueError), (dict(grad_clip_norm=0.0), ValueError)]:
        with pytest.raises(err, match=next(iter(kwargs))):
            brainopt.SAM(brainopt.SGD(), **kwargs)


# == LBFGS ================================================================================================
def _quadratic():
    """0.5 x'Ax - b'x in 12 dimensions, condition number 300: L-BFGS needs more than 14 iterations."""
    rng = np.random.RandomState(7)
    q, _ = np.linalg.qr(rng.randn(12, 12))
    a = (q @ np.diag(np.logspace(0, np.log10(300), 12)) @ q.T).astype(np.float32)
    b = rng.randn(12).astype(np.float32)
    x0 = {'u': rng.randn(3, 3).astype(np.float32), 'v': rng.randn(3).astype(np.float32)}

    def loss(lib, u, v):
        x = lib.concatenate([u.reshape(-1), v]) if lib is jnp else torch.cat([u.reshape(-1), v])
        aa, bb = (jnp.asarray(a), jnp.asarray(b)) if lib is jnp else (torch.tensor(a), torch.tensor(b))
        return 0.5 * (x * (aa @ x)).sum() - (bb * x).sum()
    return x0, loss


def _rosenbrock():
    x0 = {'u': np.array([-1.2, 1.0, -0.5], np.float32), 'v': np.array([0.8], np.float32)}

    def loss(lib, u, v):
        x = lib.concatenate([u, v]) if lib is jnp else torch.cat([u, v])
        return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()
    return x0, loss


PROBLEMS = {'quadratic': _quadratic, 'rosenbrock': _rosenbrock}


def torch_lbfgs(x0, loss, steps, *, weight_decay=0.0, **kwargs):
    xs = {n: torch.nn.Parameter(torch.tensor(v)) for n, v in x0.items()}
    opt = torch.optim.LBFGS(list(xs.values()), max_iter=1, **kwargs)

    def closure():
        opt.zero_grad()
        value = loss(torch, xs['u'], xs['v'])
        if weight_decay:
            value = value + 0.5 * weight_decay * sum((p ** 2).sum() for p in xs.values())
        value.backward()
        return value

    traj = []
    for _ in range(steps):
        opt.step(closure)
        traj.append({n: p.detach().numpy().copy() for n, p in xs.items()})
    return traj


def brainopt_lbfgs(x0, loss, steps, opt, *, jit=False, scale=1.0):
    states = {n: brainstate.ParamState(jnp.asarray(v)) for n, v in x0.items()}
    opt.register_trainable_weights(states)

    def value_fn():
        return scale * loss(jnp, states['u'].value, states['v'].value)

    def step():
        grads, value = brainstate.transform.grad(value_fn, grad_states=states, return_value=True)()
        if opt.linesearch is None:
            return opt.update(grads)
        return opt.update(grads, value=value, value_fn=value_fn)

    if jit:
        step = brainstate.transform.jit(step)
    traj, infos = [], []
    for _ in range(steps):
        infos.append(step())
        traj.append({n: np.asarray(s.value) for n, s in states.items()})
    return traj, infos


LS_RTOL, LS_ATOL = 5e-5, 2e-5      # float32 gradients of two autodiffs, through an ill-conditioned problem
LBFGS_CASES = {
    'quadratic-wolfe': ('quadratic', dict(history_size=10, line_search_fn='strong_wolfe', max_eval=26),
                        dict(linesearch='strong_wolfe')),
    'quadratic-wolfe-m2-decay': ('quadratic', dict(history_size=2, line_search_fn='strong_wolfe', max_eval=26,
                                                   weight_decay=0.3),
                                 dict(memory_size=2, linesearch='strong_wolfe', weight_decay=0.3)),
    'rosenbrock-wolfe': ('rosenbrock', dict(history_size=10, line_search_fn='strong_wolfe', max_eval=26),
                         dict(linesearch='strong_wolfe')),
    'rosenbrock-wolfe-m3-ls4': ('rosenbrock', dict(history_size=3, line_search_fn='strong_wolfe', max_eval=5),
                                dict(memory_size=3, linesearch='strong_wolfe', max_linesearch_steps=4)),
    'quadratic-fixed-lr0.5': ('quadratic', dict(history_size=4, lr=0.5), dict(memory_size=4, lr=0.5)),
    'rosenbrock-fixed-lr0.01': ('rosenbrock', dict(history_size=5, lr=0.01), dict(memory_size=5, lr=0.01)),
}


@pytest.mark.parametrize('case', sorted(LBFGS_CASES))
def test_lbfgs_torch_golden(case):
    name, torch_kwargs, our_kwargs = LBFGS_CASES[case]
    x0, loss = PROBLEMS[name]()
    expected = torch_lbfgs(x0, loss, 14, **torch_kwargs)
    actual, infos = brainopt_lbfgs(x0, loss, 14, brainopt.LBFGS(**our_kwargs))
    assert_trajectories_close(actual, expected, rtol=LS_RTOL, atol=LS_ATOL, err_msg=case)
    if 'wolfe' in case:
        assert max(int(i.evaluations) for i in infos) > 1            # the line search did more than one trial
        assert any(abs(float(i.step_size) - 1.0) > 1e-3 for i in infos[1:])


def test_lbfgs_converges_on_rosenbrock():
    x0, loss = _rosenbrock()
    traj, _ = brainopt_lbfgs(x0, loss, 60, brainopt.LBFGS(linesearch='strong_wolfe'), jit=True)
    np.testing.assert_allclose(np.concatenate([traj[-1]['u'], traj[-1]['v']]), 1.0, atol=1e-4)


def test_lbfgs_optax_differs():
    """optax.lbfgs (braintools's engine) without a line search: its first step is min(1, 1/|g|_2), not torch's
    min(1, 1/|g|_1), and it keeps every pair. brainopt follows torch."""
    x0, loss = _quadratic()
    torch_ref = torch_lbfgs(x0, loss, 6, history_size=4, lr=0.5)
    params = {n: jnp.asarray(v) for n, v in x0.items()}
    tx = optax.lbfgs(learning_rate=0.5, memory_size=4, linesearch=None)
    state = tx.init(params)
    optax_ref = []
    for _ in range(6):
        g = jax.grad(lambda p: loss(jnp, p['u'], p['v']))(params)
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
        optax_ref.append({n: np.asarray(v) for n, v in params.items()})
    assert max_abs_diff(torch_ref, optax_ref) > 1e-2
    ours, _ = brainopt_lbfgs(x0, loss, 6, brainopt.LBFGS(lr=0.5, memory_size=4))
    assert_trajectories_close(ours, torch_ref, rtol=LS_RTOL, atol=LS_ATOL)


def numpy_lbfgs_identity_h0(x0, grad, steps, lr, m):
    """Fixed-step L-BFGS with H0 = I (Nocedal and Wright, algorithm 7.4), written out in numpy float64."""
    x = np.concatenate([x0['u'].reshape(-1), x0['v']]).astype(np.float64)
    pairs, prev_g, prev_s, traj = [], None, None, []
    for k in range(steps):
        g = grad(x)
        if k == 0:
            d, t = -g, min(1.0, 1.0 / np.abs(g).sum()) * lr
        else:
            y = g - prev_g
            if y @ prev_s > 1e-10:
                pairs = (pairs + [(prev_s, y)])[-m:]
            q, al = -g.copy(), []
            for s, y in reversed(pairs):
                a = (s @ q) / (y @ s)
                q -= a * y
                al.append(a)
            for (s, y), a in zip(pairs, reversed(al)):
                q += (a - (y @ q) / (y @ s)) * s
            d, t = q, lr
        x = x + t * d
        prev_g, prev_s = g, t * d
        traj.append({'u': x[:9].reshape(3, 3), 'v': x[9:]})
    return traj


def test_lbfgs_without_initial_scaling_numpy_golden():
    x0, loss = _quadratic()
    grad = jax.jit(jax.grad(lambda x: loss(jnp, x[:9].reshape(3, 3), x[9:])))
    expected = numpy_lbfgs_identity_h0(x0, lambda x: np.asarray(grad(jnp.asarray(x, jnp.float32)), np.float64),
                                       10, 0.003, 3)
    ours, _ = brainopt_lbfgs(x0, loss, 10, brainopt.LBFGS(lr=0.003, memory_size=3, scale_init_precond=False))
    assert_trajectories_close(ours, expected, rtol=1e-5, atol=1e-5)
    scaled, _ = brainopt_lbfgs(x0, loss, 10, brainopt.LBFGS(lr=0.003, memory_size=3))
    assert max_abs_diff(scaled, ours) > 0.1


def test_lbfgs_loss_scale_divides_values_and_gradients():
    x0, loss = _rosenbrock()
    plain, _ = brainopt_lbfgs(x0, loss, 8, brainopt.LBFGS(linesearch='strong_wolfe'))
    scaled, _ = brainopt_lbfgs(x0, loss, 8, brainopt.LBFGS(linesearch='strong_wolfe', loss_scale_factor=256.0),
                               scale=256.0)
    assert_runs_ulp_close(scaled, plain)            # scaled and unscaled: two programs


def test_lbfgs_eager_equals_jit_and_states():
    x0, loss = _rosenbrock()
    eager_opt = brainopt.LBFGS(linesearch='strong_wolfe', memory_size=4, use_ema=True)
    jit_opt = brainopt.LBFGS(linesearch='strong_wolfe', memory_size=4, use_ema=True)
    eager, _ = brainopt_lbfgs(x0, loss, 8, eager_opt)
    jitted, _ = brainopt_lbfgs(x0, loss, 8, jit_opt, jit=True)
    assert_runs_ulp_close(jitted, eager)            # eager and jit: two programs
    jit_states, eager_states = opt_values(jit_opt), opt_values(eager_opt)
    # prev_grad is the gradient at the last point, a sum of the terms 200 (x[i+1] - x[i]^2) and 400 x[i] (x[i+1] -
    # x[i]^2) that cancel to it (~3 to ~0.3): its ulps are counted at the size of those terms (the ulps.py floor)
    x = np.concatenate([eager[-1]['u'], eager[-1]['v']]).astype(np.float64)
    inner = x[1:] - x[:-1] ** 2
    terms = float(np.max(np.abs(np.concatenate([200 * inner, 400 * x[:-1] * inner]))))
    jit_grad, eager_grad = jit_states.pop(('slots', 'prev_grad')), eager_states.pop(('slots', 'prev_grad'))
    # prev_step, the last update (built from prev_grad), is x_8 - x_7: counted at the parameters' size
    jit_step, eager_step = jit_states.pop(('slots', 'prev_step')), eager_states.pop(('slots', 'prev_step'))
    for n in eager_grad:
        assert_ulp_close(jit_grad[n], eager_grad[n], cross_program_ulps(8), scale=terms, err_msg=f'prev_grad {n}')
        assert_ulp_close(jit_step[n], eager_step[n], cross_program_ulps(8), scale=float(np.max(np.abs(x))),
                         err_msg=f'prev_step {n}')
    assert_trees_ulp_close(jit_states, eager_states, cross_program_ulps(8), err_msg='states')
    states = brainstate.graph.states(jit_opt)
    assert set(states) == {('step_count',), ('hyperparams',), ('ema',)} | {('slots', s) for s in
                                                         ('param_diffs', 'grad_diffs', 'prev_grad', 'prev_step')}
    assert jit_opt.get_slot('param_diffs', 'u').shape == (4, 3) and jit_opt.get_slot('prev_grad', 'v').shape == (1,)
    assert int(jit_opt.step_count.value) == 8


def test_lbfgs_trains_a_dict_valued_param_state_inside_jit():
    model = MLP()
    loss_fn, vg = loss_and_grad_fns(model)
    opt = brainopt.LBFGS(linesearch='strong_wolfe', memory_size=5).register_trainable_weights(
        model.states(brainstate.ParamState))
    traces = []

    @brainstate.transform.jit
    def step():
        traces.append(1)
        grads, value = vg()
        return opt.update(grads, value=value, value_fn=loss_fn)

    first = float(loss_fn())
    for _ in range(10):
        step()
    assert len(traces) == 1
    assert float(loss_fn()) < 0.5 * first
    assert set(opt.get_slot('grad_diffs', ('l1', 'weight'))) == {'weight', 'bias'}
    assert opt.get_slot('grad_diffs', ('l1', 'weight'))['weight'].shape == (5, 4, 8)


def test_lbfgs_skip_nonfinite_moves_nothing():
    x = brainstate.ParamState(jnp.array([1.0, 2.0]))
    opt = brainopt.LBFGS(linesearch='strong_wolfe', skip_nonfinite=True).register_trainable_weights({'x': x})
    info = opt.update({'x': jnp.array([jnp.nan, 1.0])}, value=1.0, value_fn=lambda: jnp.sum(x.value ** 2))
    assert not bool(info.applied) and not bool(info.finite) and int(info.evaluations) == 0
    np.testing.assert_array_equal(x.value, [1.0, 2.0])
    assert int(opt.skipped_steps.value) == 1 and int(opt.step_count.value) == 0


def test_lbfgs_refuses_options_that_break_the_quasi_newton_model():
    for kwargs, match in [(dict(grad_clip_norm=1.0), 'grad_clip_norm is not supported'),
                          (dict(grad_clip_value=1.0), 'grad_clip_value is not supported'),
                          (dict(grad_clip_norm_per_param=1.0), 'grad_clip_norm_per_param is not supported'),
                          (dict(weight_decay=0.1, weight_decay_mode='decoupled'), 'decoupled'),
                          (dict(gradient_accumulation_steps=2), 'gradient_accumulation_steps is not supported'),
                          (dict(linesearch='zoom'), "linesearch must be None or 'strong_wolfe'.*optax"),
                          (dict(memory_size=0), 'memory_size'), (dict(memory_size=2.0), 'memory_size'),
                          (dict(scale_init_precond=1), 'scale_init_precond'),
                          (dict(tolerance_grad=-1.0), 'tolerance_grad'),
                          (dict(tolerance_change=-1.0), 'tolerance_change'),
                          (dict(max_linesearch_steps=-1), 'max_linesearch_steps'),
                          (dict(lr=-1.0), 'lr')]:
        with pytest.raises((ValueError, TypeError), match=match):
            brainopt.LBFGS(**kwargs)


def test_lbfgs_update_arguments():
    x = brainstate.ParamState(jnp.array([1.0, 2.0]))
    fixed = brainopt.LBFGS().register_trainable_weights({'x': x})
    with pytest.raises(ValueError, match='linesearch=None'):
        fixed.update({'x': jnp.ones(2)}, value_fn=lambda: jnp.sum(x.value))
    searching = brainopt.LBFGS(linesearch='strong_wolfe').register_trainable_weights({'x': x})
    with pytest.raises(TypeError, match='needs value_fn'):
        searching.update({'x': jnp.ones(2)})
    # value left out: computed with value_fn
    info = searching.update({'x': 2 * x.value}, value_fn=lambda: jnp.sum(x.value ** 2))
    assert bool(info.applied) and int(info.evaluations) >= 1
    assert float(jnp.sum(x.value ** 2)) < 5.0


def test_lookahead_with_parameter_groups_of_different_decoupled_decay():
    """Each group's own coefficient: the engine shrinks a group's weights with it, and the Lookahead pull must start
    from the weights the engine writes (with the optimizer-level coefficient for every group, a group with its own
    decay synchronised to the wrong weights). numpy: SGD, decoupled decay p <- p (1 - lr wd) - lr g; every second
    step the slow weights move half-way to the fast ones and the fast weights jump there."""
    a, b = brainstate.ParamState(jnp.array([1.0, -2.0])), brainstate.ParamState(jnp.array([3.0]))
    opt = brainopt.Lookahead(brainopt.SGD(lr=0.1, weight_decay=0.2, weight_decay_mode='decoupled'),
                             sync_period=2, alpha=0.5)
    opt.register_trainable_weights({'a': a})
    opt.add_param_group({'b': b}, weight_decay=0.7)
    grads = [{'a': jnp.array([0.5, 1.0]), 'b': jnp.array([-1.0])},
             {'a': jnp.array([0.25, -0.5]), 'b': jnp.array([2.0])},
             {'a': jnp.array([1.0, 1.0]), 'b': jnp.array([0.5])},
             {'a': jnp.array([-1.0, 0.5]), 'b': jnp.array([1.0])}]
    p = {'a': np.array([1.0, -2.0]), 'b': np.array([3.0])}
    slow = {k: v.copy() for k, v in p.items()}
    wd = {'a': 0.2, 'b': 0.7}
    for t, g in enumerate(grads):
        opt.update(g)
        for k in p:
            p[k] = p[k] * (1 - 0.1 * wd[k]) - 0.1 * np.asarray(g[k], np.float64)
            if (t + 1) % 2 == 0:
                slow[k] = slow[k] + 0.5 * (p[k] - slow[k])
                p[k] = slow[k].copy()
    # float32 against float64, |p| <= 3, a dozen roundings: within 1e-6 relative
    np.testing.assert_allclose(np.asarray(a.value), p['a'], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(b.value), p['b'], rtol=1e-6, atol=1e-7)
