"""The contract items for SAM and LBFGS that the table's rows (tests/rows_wrappers.py) cannot hold.

SAM-Adam and LBFGS (no line search) are rows of the contract table: registration, the bytes of their States,
eager/jit/for_loop agreement, dtypes, bad input, checkpoints run for them there. Here what is specific:

* SAM with ``rho=0`` is its base optimizer (the second gradient is taken at the unperturbed weights), so
  SAM(rho=0) under each shared option must equal the base optimizer under the same option, step for step, and
  SAM(rho>0) with the options on must train;
* LBFGS with its line search (``update(grads, value_fn=...)``), which the table's ``update`` does not call: its
  EMA against the EMA formula written here in numpy over its own trajectory, ``weight_decay_exclude`` against
  the objective with the penalty written out; and a schedule (no line search) against setting the same
  learning rates by hand. LBFGS refuses clipping, decoupled decay and accumulation (tests/test_wrappers.py).
"""
import brainstate
import jax
import jax.numpy as jnp
import numpy as np

import brainopt

from models import MLP, X, Y
from ulps import assert_trees_ulp_close, assert_ulp_close, cross_program_ulps


def _loss_fns(model):
    params = model.states(brainstate.ParamState)

    def loss_fn():
        return jnp.mean((model(X) - Y) ** 2)

    return loss_fn, brainstate.transform.jit(brainstate.transform.grad(loss_fn, grad_states=params))


def _bytes(opt):
    return sum(np.asarray(x).nbytes for s in brainstate.graph.states(opt).values() for x in jax.tree.leaves(s.value))


def _param_bytes(model):
    return [np.asarray(x).nbytes for x in jax.tree.leaves({k: s.value for k, s in
                                                             model.states(brainstate.ParamState).items()})]


def _values(model):
    return jax.tree.map(np.asarray, {k: s.value for k, s in model.states(brainstate.ParamState).items()})


# -- SAM ---------------------------------------------------------------------------------------------------
#: two configurations that between them switch on every shared option (and a NaN gradient on call 3, which
#: skip_nonfinite skips)
SAM_OPTIONS = [
    dict(grad_clip_norm=0.5, weight_decay=0.05, use_ema=True, ema_overwrite_frequency=3, loss_scale_factor=4.0,
         gradient_accumulation_steps=2, skip_nonfinite=True, weight_decay_exclude='bias'),
    dict(grad_clip_value=0.05, grad_clip_norm_per_param=0.3, weight_decay=0.1, weight_decay_mode='decoupled',
         lr='schedule'),
]


def _sam_and_base(options, rho, steps=8):
    runs = []
    for wrap in (True, False):
        model = MLP()
        kw = dict(options)
        if kw.get('lr') == 'schedule':          # one schedule per optimizer
            kw['lr'] = brainopt.StepLR(base_lr=0.05, step_size=3, gamma=0.5, stepping='update')
        base = brainopt.Adam(**{'lr': 0.05, **kw})
        opt = brainopt.SAM(base, rho=rho) if wrap else base
        opt.register_trainable_weights(model.states(brainstate.ParamState))
        loss_fn, grad = _loss_fns(model)
        first = float(loss_fn())
        for t in range(steps):
            g = grad()
            if t == 3 and options.get('skip_nonfinite'):
                g = jax.tree.map(lambda x: x.at[(0,) * x.ndim].set(jnp.nan), g)
            if wrap:
                opt.update(g, grad_fn=(lambda g=g: g) if rho == 0 else grad)
            else:
                opt.update(g)
        runs.append((model, opt, first, float(loss_fn())))
    return runs


def test_sam_takes_every_shared_option():
    for options in SAM_OPTIONS:
        (sam_model, sam, _, _), (base_model, base, _, _) = _sam_and_base(options, rho=0.0)
        # SAM's update and Adam's are different compiled programs: 8 steps apart by at most cross_program_ulps(8)
        assert_trees_ulp_close(_values(sam_model), _values(base_model), cross_program_ulps(8), err_msg=str(options))
        assert int(sam.step_count.value) == int(base.step_count.value) > 0
        if options.get('skip_nonfinite'):
            assert int(sam.skipped_steps.value) == 1
        (model, opt, first, last), _ = _sam_and_base(options, rho=0.05)
        assert np.isfinite(last) and last < first, (options, first, last)


# -- LBFGS -------------------------------------------------------------------------------------------------
def _lbfgs_run(opt, steps, penalty=None):
    """LBFGS with its line search on the contract's model; ``penalty(states)`` is added to the objective."""
    model = MLP()
    params = model.states(brainstate.ParamState)
    opt.register_trainable_weights(params)

    def value_fn():
        value = jnp.mean((model(X) - Y) ** 2)
        return value if penalty is None else value + penalty(model)

    grad = brainstate.transform.jit(brainstate.transform.grad(value_fn, grad_states=params))
    traj = []
    for _ in range(steps):
        if opt.linesearch is None:
            opt.update(grad())
        else:
            opt.update(grad(), value_fn=value_fn)
        traj.append(_values(model))
    return traj, opt, model


def test_lbfgs_line_search_keeps_its_ema():
    """The line-searched iteration updates the EMA itself: the moving average of the trajectory (numpy), one more
    array per parameter beside the (2m + 2) of its history."""
    traj, opt, model = _lbfgs_run(brainopt.LBFGS(memory_size=5, linesearch='strong_wolfe', use_ema=True,
                                                 ema_momentum=0.75), 5)
    # the step count, the live lr and EMA momentum (opt.hyperparams), one float32 each, then the arrays per parameter
    assert sorted(opt.hyperparams.value) == ['ema_momentum', 'lr']
    assert _bytes(opt) == 4 + 4 * 2 + (2 * 5 + 2 + 1) * sum(_param_bytes(model))
    avg = traj[0]                                 # numpy: the first applied update sets the average
    for p in traj[1:]:
        avg = jax.tree.map(lambda a, x: 0.75 * a + 0.25 * x, avg, p)
    got = {k: jax.tree.map(np.asarray, opt.get_slot('ema', k)) for k in [('l1', 'weight'), ('l2', 'weight')]}
    # numpy's average of the same float32 trajectory: 2 roundings an update (an FMA may fuse them), the older ones
    # damped by 0.75 each update, so within 8 ulps
    assert_trees_ulp_close(got, avg, 8)


def test_lbfgs_coupled_decay_excludes_what_it_is_told_to():
    """weight_decay adds (wd/2)|x|^2 of the decaying parameters to the objective (values and gradients): equal to
    LBFGS without decay on that objective written out."""
    wd = 0.1
    decayed, _, _ = _lbfgs_run(brainopt.LBFGS(linesearch='strong_wolfe', weight_decay=wd,
                                              weight_decay_exclude='bias'), 6)
    written, _, _ = _lbfgs_run(brainopt.LBFGS(linesearch='strong_wolfe'), 6, penalty=lambda m: 0.5 * wd * (
        jnp.sum(m.l1.weight.value['weight'] ** 2) + jnp.sum(m.l2.weight.value['weight'] ** 2)))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6), decayed[-1], written[-1])


def test_lbfgs_schedule_sets_the_step_length_of_each_iteration():
    sched = brainopt.MultiStepLR(base_lr=0.5, milestones=[2], gamma=0.2, stepping='update')
    scheduled, _, _ = _lbfgs_run(brainopt.LBFGS(lr=sched), 4)
    model = MLP()
    params = model.states(brainstate.ParamState)
    by_hand = brainopt.LBFGS(lr=0.5).register_trainable_weights(params)
    _, grad = _loss_fns(model)      # the same model and batch as _lbfgs_run's
    for t in range(4):
        if t == 2:
            by_hand.lr = 0.1
        by_hand.update(grad())
    # a schedule and a float lr set by hand compile to different programs: 4 steps, cross_program_ulps(4)
    assert_trees_ulp_close(scheduled[-1], _values(model), cross_program_ulps(4))


def test_wrappers_take_a_template_whose_rule_decays_itself():
    """SAM and Lookahead around Lamb (weight_decay_mode='rule': the decay is inside the trust ratio) keep that
    decay. SAM(rho=0) and a Lookahead that never syncs within the run are then Lamb itself: optax.lamb with the
    same weight decay, step for step (both failed to construct before: 'rule' was not an engine mode)."""
    import optax
    g_seq = [np.random.default_rng(t).standard_normal(5).astype(np.float32) for t in range(8)]
    p0 = np.random.default_rng(9).standard_normal(5).astype(np.float32)
    tx = optax.lamb(0.05, weight_decay=0.3)
    p, st = jnp.asarray(p0), tx.init(jnp.asarray(p0))
    expected = []
    for g in g_seq:
        u, st = tx.update(jnp.asarray(g), st, p)
        p = optax.apply_updates(p, u)
        expected.append(np.asarray(p))
    for make in (lambda: brainopt.SAM(brainopt.Lamb(lr=0.05, weight_decay=0.3), rho=0.0),
                 lambda: brainopt.Lookahead(brainopt.Lamb(lr=0.05, weight_decay=0.3), sync_period=100)):
        w = brainstate.ParamState(jnp.asarray(p0))
        opt = make().register_trainable_weights({'w': w})
        assert opt.weight_decay_mode == 'rule'
        for g, want in zip(g_seq, expected):
            grads = {'w': jnp.asarray(g)}
            opt.update(grads, grad_fn=lambda grads=grads: grads) if isinstance(opt, brainopt.SAM) else opt.update(grads)
            np.testing.assert_allclose(np.asarray(w.value), want, rtol=2e-6, atol=1e-7, err_msg=type(opt).__name__)


def test_lookahead_over_every_weight_decay_mode():
    """Lookahead's sync (slow += alpha (fast - slow), then fast = slow), written here in numpy over its template's
    own steps, in every engine decay mode: the fast weights are what the engine writes, decay included. Before,
    a 'decoupled_unscaled' template (brainpy) and a 'proximal' one (brainpy's Adan) synchronised to the wrong
    weights (2.6e-2 and 1.6e-3 off)."""
    import brainopt.brainpy as bp
    import brainopt.keras as bk
    templates = {'decoupled': lambda: brainopt.AdamW(lr=0.05, weight_decay=0.1),
                 'decoupled_first': lambda: bk.SGD(learning_rate=0.05, weight_decay=0.1),
                 'decoupled_unscaled': lambda: bp.Momentum(0.05, weight_decay=0.1),
                 'proximal': lambda: bp.Adan(0.05, weight_decay=0.1),
                 'coupled': lambda: brainopt.SGD(lr=0.05, momentum=0.9, weight_decay=0.1)}
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(4).astype(np.float32)
    grads = [rng.standard_normal(4).astype(np.float32) for _ in range(9)]
    for mode, make in templates.items():
        sync, alpha = 3, np.float32(0.3)
        w, w_fast = brainstate.ParamState(jnp.asarray(p0)), brainstate.ParamState(jnp.asarray(p0))
        opt = brainopt.Lookahead(make(), sync_period=sync, alpha=float(alpha)).register_trainable_weights({'w': w})
        assert opt.weight_decay_mode == mode
        fast_opt = make().register_trainable_weights({'w': w_fast})
        slow = p0.copy()
        for t, g in enumerate(grads):
            opt.update({'w': jnp.asarray(g)})
            fast_opt.update({'w': jnp.asarray(g)})
            if (t + 1) % sync == 0:
                slow = slow + alpha * (np.asarray(w_fast.value) - slow)
                w_fast.value = jnp.asarray(slow)
            # Lookahead's update and its template's are different programs, and the sync is written here in numpy
            assert_ulp_close(w.value, w_fast.value, cross_program_ulps(t + 1), err_msg=f'{mode}, update {t}')
