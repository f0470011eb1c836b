"""The main ``brainopt`` names are a drop-in for ``braintools.optim``: one braintools-style training script runs
against real braintools.optim 0.3 and against brainopt after changing only the module, and the trajectories,
learning rates and ``state_dict`` round trips are compared. Where brainopt deliberately differs
(docs/conventions.md), the test asserts the difference and names it.
"""
import brainstate
import braintools.optim as bto
import jax.numpy as jnp
import numpy as np
import pytest

import brainopt

from peers import max_abs_diff

STEPS_PER_EPOCH, EPOCHS = 4, 3


def script(optim, make, schedule, group=False):
    """A braintools-style loop: schedule stepped per epoch, update()/step() per batch, current_lr logged."""
    rng = np.random.default_rng(0)
    w = brainstate.ParamState(jnp.asarray(rng.standard_normal((3, 4)), jnp.float32))
    b = brainstate.ParamState(jnp.asarray(rng.standard_normal(4), jnp.float32))
    u = brainstate.ParamState(jnp.asarray(rng.standard_normal(2), jnp.float32))
    sched = getattr(optim, schedule[0])(**schedule[1])
    opt = make(optim, sched)
    opt.register_trainable_weights({'w': w, 'b': b})
    params = {'w': w, 'b': b}
    if group:
        opt.add_param_group({'u': u}, lr=0.05)
        params['u'] = u
    traj, lrs = [], []
    for epoch in range(EPOCHS):
        for k in range(STEPS_PER_EPOCH):
            grads = {n: s.value * 0.5 + 0.1 * (k - epoch) for n, s in params.items()}
            opt.step(grads) if k % 2 else opt.update(grads)
            traj.append({n: np.asarray(s.value) for n, s in params.items()})
            lrs.append(float(opt.current_lr))
        sched.step()
    return traj, lrs, opt, params


STEP = ('StepLR', dict(base_lr=0.1, step_size=2, gamma=0.5))
EXP = ('ExponentialLR', dict(base_lr=0.05, gamma=0.8))
CASES = {
    # name: (constructor, schedule, tolerance); Adam/AdamW use betas exact in float32: braintools (optax) computes
    # the bias corrections in float32, brainopt as accurately as torch (test_adam_default_betas_differ_only_...)
    'SGD-momentum': (lambda m, s: m.SGD(lr=s, momentum=0.9), STEP),
    'Adam': (lambda m, s: m.Adam(lr=s, betas=(0.75, 0.875)), EXP),
    'AdamW': (lambda m, s: m.AdamW(lr=s, betas=(0.75, 0.875), weight_decay=0.1), STEP),
    'Adagrad': (lambda m, s: m.Adagrad(lr=s), EXP),
    'Adadelta': (lambda m, s: m.Adadelta(lr=s, grad_clip_norm=1.0), STEP),
    'RMSprop': (lambda m, s: m.RMSprop(lr=s, eps=0.0), EXP),
}


@pytest.mark.parametrize('name', sorted(CASES))
def test_braintools_script_runs_unchanged_with_braintools_numbers(name):
    make, schedule = CASES[name]
    ours, lrs, opt, params = script(brainopt, make, schedule)
    theirs, their_lrs, _, _ = script(bto, make, schedule)
    np.testing.assert_allclose(lrs, their_lrs, rtol=1e-6)     # braintools peer: float32 lr * gamma ** k, < 4 ulps
    assert max_abs_diff(ours, theirs) < 2e-6 * max(1.0, max(float(np.abs(s[k]).max()) for s in theirs for k in s))
    # state_dict round trip: a freshly built optimizer continues identically
    saved = {n: np.asarray(s.value) for n, s in params.items()}
    sd = opt.state_dict()
    grads = {n: jnp.ones_like(s.value) for n, s in params.items()}
    opt.update(grads)
    fresh = {n: brainstate.ParamState(jnp.asarray(v)) for n, v in saved.items()}
    again = make(brainopt, getattr(brainopt, schedule[0])(**schedule[1]))
    again.register_trainable_weights(fresh)
    again.load_state_dict(sd)
    assert float(again.current_lr) == float(opt.current_lr)
    again.update(grads)
    for n in params:
        np.testing.assert_array_equal(fresh[n].value, params[n].value)


def test_rmsprop_epsilon_placement_differs():
    """braintools (optax's scale_by_rms) adds eps inside the root; brainopt (torch) outside (docs/conventions.md)."""
    make = lambda m, s: m.RMSprop(lr=s, eps=1e-3)        # noqa: E731
    assert max_abs_diff(script(brainopt, make, EXP)[0], script(bto, make, EXP)[0]) > 1e-5


def test_added_param_group_runs_the_optimizers_rule():
    """braintools runs an added group with Adam whatever the optimizer (docs/concepts.md); brainopt runs the
    optimizer's own rule: the first group's numbers agree, the added group's differ, and ours is SGD's."""
    make = lambda m, s: m.SGD(lr=s, momentum=0.0)        # noqa: E731
    ours, _, _, _ = script(brainopt, make, STEP, group=True)
    theirs, _, _, _ = script(bto, make, STEP, group=True)
    assert max_abs_diff([{k: s[k] for k in 'wb'} for s in ours], [{k: s[k] for k in 'wb'} for s in theirs]) < 1e-6
    assert max_abs_diff([{'u': s['u']} for s in ours], [{'u': s['u']} for s in theirs]) > 1e-3
    u0 = np.asarray(np.random.default_rng(0).standard_normal(3 * 4 + 4 + 2)[-2:], np.float32)
    u = u0.copy()
    for epoch in range(EPOCHS):
        for k in range(STEPS_PER_EPOCH):
            u = u - np.float32(0.05) * (u * np.float32(0.5) + np.float32(0.1 * (k - epoch)))
    np.testing.assert_allclose(ours[-1]['u'], u, rtol=1e-5)


def test_lr_setter_and_current_lr():
    """``opt.lr = value`` takes effect at the next update; ``opt.lr`` is the schedule given, as in braintools."""
    w = brainstate.ParamState(jnp.ones(2))
    sched = brainopt.StepLR(base_lr=0.1, step_size=1, gamma=0.5)
    opt = brainopt.SGD(lr=sched)
    assert opt.lr is sched
    opt.register_trainable_weights({'w': w})
    opt.lr = 0.25
    opt.step({'w': jnp.ones(2)})
    np.testing.assert_allclose(w.value, [0.75, 0.75])
    assert float(opt.current_lr) == 0.25
