"""Schedules driving an optimizer, both ways of stepping, against torch.optim.lr_scheduler (torch 2.13.0, CPU).

Per update: ``UpdateInfo.lr`` of each ``opt.update`` equals torch's learning rate with the scheduler stepped
once per update. Per epoch: the learning rate stays put during an epoch and moves at ``sched.step()``, as
torch's does. The schedule's state lives in the optimizer's checkpoint (``opt.state_dict()``), so a run
saved half-way and loaded into a freshly built optimizer and schedule continues torch's sequence.
"""
import brainstate
import jax.numpy as jnp
import numpy as np
import pytest
from test_schedules import CASES, RTOL, N, assert_matches_torch, rebuild, torch_lrs
from torch.optim import lr_scheduler as tls

import brainopt
from brainopt import schedules as bs

UPDATE_CASES = [c for c in CASES if not isinstance(c[1], bs.MultiplicativeLR)]      # that one is per-epoch only


def model_and_opt(sched, opt_cls=brainopt.Adagrad, **kw):
    w = brainstate.ParamState(jnp.ones(2))
    opt = opt_cls(lr=sched, **kw).register_trainable_weights({'w': w})
    return w, opt


@pytest.mark.parametrize('case', UPDATE_CASES, ids=[c[0] for c in UPDATE_CASES])
def test_per_update_schedule_reports_the_torch_learning_rates(case):
    """``UpdateInfo.lr`` of each ``opt.update`` inside ``brainstate.transform.jit`` is torch's lr."""
    sched = rebuild(case[1], stepping='update')
    _, opt = model_and_opt(sched)
    train_step = brainstate.transform.jit(lambda g: opt.update({'w': g}).lr)
    assert_matches_torch([train_step(jnp.ones(2)) for _ in range(N)], case)
    assert int(opt.step_count.value) == N
    np.testing.assert_allclose(sched.current_lr, sched(N), rtol=0)
    np.testing.assert_allclose(opt.current_lr, sched(N), rtol=0)


def test_per_update_schedule_drives_the_parameter_update():
    """With Adagrad(eps=0) on constant gradients the step size is lr / sqrt(k + 1)."""
    sched = bs.StepLR(0.1, step_size=3, gamma=0.5, stepping='update')
    w, opt = model_and_opt(sched, eps=0.)
    lrs = torch_lrs(lambda o: tls.StepLR(o, 3, gamma=0.5), 0.1, n=10)
    for _ in range(10):
        opt.update({'w': jnp.ones(2)})                    # eager: the compiled, cached step
    np.testing.assert_allclose(w.value, 1 - np.sum(lrs / np.sqrt(np.arange(1, 11))), rtol=1e-5)


@pytest.mark.parametrize('case', [c for c in CASES if c[0] in (
    'StepLR-a', 'CosineAnnealingLR-b', 'WarmRestarts-mult2', 'CyclicLR-triangular2', 'OneCycleLR-cos',
    'MultiplicativeLR-periodic', 'SequentialLR-warmup-cosine', 'ChainedScheduler-three')], ids=lambda c: c[0])
def test_per_epoch_schedule_moves_only_at_step(case):
    """Three updates per epoch (eager, then jit), ``sched.step()`` after each epoch: torch's epoch sequence."""
    sched = rebuild(case[1], **({} if isinstance(case[1], bs.MultiplicativeLR) else {'stepping': 'epoch'}))
    _, opt = model_and_opt(sched)
    train_step = brainstate.transform.jit(lambda g: opt.update({'w': g}).lr)
    per_batch = []
    for epoch in range(N):
        for _ in range(3):
            per_batch.append(train_step(jnp.ones(2)) if epoch % 2 == 0 else opt.update({'w': jnp.ones(2)}).lr)
        sched.step()
    per_batch = np.asarray(per_batch).reshape(N, 3)
    assert (per_batch == per_batch[:, :1]).all()                     # constant within an epoch
    rtol = 4e-6 if isinstance(sched, bs.MultiplicativeLR) else RTOL
    from test_schedules import reference
    np.testing.assert_allclose(per_batch[:, 0], reference(case), rtol=rtol)


def test_an_epoch_as_one_compiled_call():
    """An epoch of updates and the schedule's step inside one ``brainstate.transform.jit`` with ``for_loop``."""
    sched = bs.CosineAnnealingWarmRestarts(0.5, T_0=3, T_mult=2)
    _, opt = model_and_opt(sched)

    @brainstate.transform.jit
    def train_epoch(grads):
        lrs = brainstate.transform.for_loop(lambda g: opt.update({'w': g}).lr, grads)
        sched.step()
        return lrs

    lrs = np.stack([train_epoch(jnp.ones((4, 2))) for _ in range(N)])
    expected = torch_lrs(lambda o: tls.CosineAnnealingWarmRestarts(o, 3, 2), 0.5)
    np.testing.assert_allclose(lrs, np.repeat(expected[:, None], 4, axis=1), rtol=RTOL)


def test_reduce_on_plateau_drives_the_optimizer():
    from test_schedules_epoch import _metrics, torch_plateau
    kwargs = dict(factor=0.5, patience=2, cooldown=1)
    metrics = _metrics('plateau')
    sched = bs.ReduceLROnPlateau(0.1, **kwargs)
    _, opt = model_and_opt(sched)
    train_step = brainstate.transform.jit(lambda g: opt.update({'w': g}).lr)
    lrs = []
    for m in metrics:
        lrs.append(train_step(jnp.ones(2)))
        sched.step(m)
    np.testing.assert_allclose(np.asarray(lrs), torch_plateau(kwargs, metrics), rtol=RTOL)


@pytest.mark.parametrize('make', [
    lambda: bs.StepLR(0.1, step_size=4, gamma=0.5),
    lambda: bs.StepLR(0.1, step_size=4, gamma=0.5, stepping='update'),
    lambda: bs.ReduceLROnPlateau(0.1, factor=0.5, patience=1),
    lambda: bs.SequentialLR([bs.WarmupScheduler(0.1, 3), bs.CosineAnnealingLR(0.1, T_max=10)], [3]),
], ids=['StepLR-epoch', 'StepLR-update', 'ReduceLROnPlateau', 'SequentialLR'])
def test_checkpoint_half_way_continues_the_same_learning_rates(make):
    """The optimizer's ``state_dict`` holds the schedule's state; a fresh optimizer + schedule continues."""
    metrics = np.asarray([1.0, 0.9, 0.95, 0.97, 0.99, 0.8, 0.85, 0.9, 0.95, 0.96] * 2, np.float32)

    def run(sched, opt, ks):
        out = []
        for k in ks:
            out.append(float(opt.update({'w': jnp.ones(2)}).lr))
            if sched.stepping == 'epoch':
                sched.step(metrics[k]) if isinstance(sched, bs.ReduceLROnPlateau) else sched.step()
        return out

    sched = make()
    _, opt = model_and_opt(sched)
    whole = run(sched, opt, range(20))

    sched = make()
    _, opt = model_and_opt(sched)
    head = run(sched, opt, range(10))
    saved = opt.state_dict()
    if sched.stepping == 'epoch':
        assert set(saved['schedule']['0']) == set(sched.state_values())
    sched2 = make()
    _, opt2 = model_and_opt(sched2)
    opt2.load_state_dict(saved)
    assert len(set(whole)) > 1
    np.testing.assert_array_equal(head + run(sched2, opt2, range(10, 20)), whole)


def test_one_schedule_belongs_to_one_optimizer():
    sched = bs.StepLR(0.1, step_size=2)
    _, opt = model_and_opt(sched)
    assert sched.attached_optimizer is opt
    opt.lr = sched                                                  # the same optimizer again: fine
    with pytest.raises(RuntimeError, match=r'StepLR\(base_lr=0.1.*is already the learning rate of Adagrad.*'
                                           r'Build one schedule per optimizer'):
        model_and_opt(sched)


def test_current_lr_of_a_per_update_schedule_follows_its_optimizer():
    sched = bs.ExponentialDecayLR(1.0, decay_steps=1, decay_rate=0.5)
    _, opt = model_and_opt(sched)
    for _ in range(3):
        opt.update({'w': jnp.ones(2)})
    assert float(sched.current_lr) == 0.125 and sched.get_last_lr() == [sched.current_lr]
