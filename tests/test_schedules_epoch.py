"""Per-epoch stepping (``sched.step()``) against torch.optim.lr_scheduler (torch 2.13.0, CPU), run live.

For every schedule torch has (the table ``CASES`` of ``test_schedules.py``,
and ReduceLROnPlateau fed metric sequences), the learning rate in force
before each of 40 ``step()`` calls equals torch's ``get_last_lr()[0]``:
stepped eagerly, inside ``brainstate.transform.jit``, inside
``brainstate.transform.for_loop``, and after saving the schedule's state
half-way and loading it into a freshly built schedule.
"""
import inspect
import sys
import warnings

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from test_schedules import CASES, IDS, RTOL, N, assert_matches_torch, rebuild
from torch.optim import lr_scheduler as tls

from brainopt import schedules as bs

from ulps import assert_ulp_close, cross_program_ulps

# MultiplicativeLR multiplies a float32 State once per step: about one rounding per step (torch: float64)
RECURSIVE_RTOL = 4e-6


def fresh(sched):
    """A new, unstepped copy of ``sched`` that steps per epoch."""
    if 'stepping' in inspect.signature(type(sched).__init__).parameters:
        return rebuild(sched, stepping='epoch')
    return rebuild(sched)


def check(values, case):
    if isinstance(case[1], bs.MultiplicativeLR):
        from test_schedules import reference
        values = np.asarray(values)
        assert values.dtype == np.float32
        np.testing.assert_allclose(values, reference(case), rtol=RECURSIVE_RTOL, err_msg=case[0])
    else:
        assert_matches_torch(values, case)


@pytest.fixture(params=CASES, ids=IDS)
def case(request):
    return request.param


def run_eager(sched, n):
    out = []
    for _ in range(n):
        out.append(sched.current_lr)
        sched.step()
    return out


def test_eager_step_matches_torch(case):
    sched = fresh(case[1])
    assert sched.stepping == 'epoch'
    check(run_eager(sched, N), case)
    assert int(sched.last_epoch.value) == N
    assert sched.get_last_lr() == [sched.current_lr]


def test_step_inside_jit_matches_torch(case):
    sched = fresh(case[1])

    @brainstate.transform.jit
    def epoch():
        lr = sched.current_lr
        sched.step()
        return lr

    check([epoch() for _ in range(N)], case)
    assert int(sched.last_epoch.value) == N


def test_step_inside_for_loop_matches_torch(case):
    sched = fresh(case[1])

    def body(i):
        lr = sched.current_lr
        sched.step()
        return lr

    check(brainstate.transform.for_loop(body, jnp.arange(N)), case)


def test_save_and_load_half_way(case):
    """``state_values`` after N/2 steps, loaded into a freshly built schedule, continues torch's sequence."""
    first = fresh(case[1])
    head = run_eager(first, N // 2)
    saved = jax.tree.map(np.asarray, first.state_values())       # what a checkpoint file holds
    second = fresh(case[1])
    second.load_state_values(saved)
    check(head + run_eager(second, N - N // 2), case)


def test_last_epoch_argument_resumes_at_that_epoch():
    """braintools's ``last_epoch=e`` starts the counter at e (torch: after e steps)."""
    from test_schedules import torch_lrs
    expected = torch_lrs(lambda o: tls.StepLR(o, 3, gamma=0.5), 0.1, n=12)
    sched = bs.StepLR(0.1, step_size=3, gamma=0.5, last_epoch=7)
    np.testing.assert_allclose(run_eager(sched, 5), expected[7:12], rtol=RTOL)
    mult = bs.MultiplicativeLR(1.0, lambda k: 0.5, last_epoch=3)
    assert float(mult.current_lr) == 0.125
    mult.step()
    assert float(mult.current_lr) == 0.0625


# -- ReduceLROnPlateau, fed metric sequences ------------------------------------------------------
def _metrics(kind):
    i = np.arange(N)
    if kind == 'plateau':          # improves for 8 epochs, then a noisy plateau
        return np.where(i < 8, 1.0 / (1 + i), 0.12 + 0.01 * ((i * 7) % 5)).astype(np.float32)
    if kind == 'rising':           # an accuracy-like metric for mode='max'
        return np.where(i < 6, 0.1 * i, 0.5 + 0.02 * ((i * 3) % 4)).astype(np.float32)
    return (0.5 + 0.3 * np.sin(i / 2.0)).astype(np.float32)      # oscillating


PLATEAU = [
    ('min-rel', dict(factor=0.5, patience=2), 'plateau'),
    ('min-rel-cooldown-minlr', dict(factor=0.3, patience=1, cooldown=2, min_lr=0.004), 'plateau'),
    ('min-abs', dict(factor=0.5, patience=3, threshold=0.05, threshold_mode='abs'), 'oscillating'),
    ('max-rel', dict(mode='max', factor=0.2, patience=2, cooldown=1), 'rising'),
    ('max-abs-eps', dict(mode='max', factor=0.9, patience=0, threshold=0.01, threshold_mode='abs', eps=0.002),
     'oscillating'),
    ('defaults', dict(), 'plateau'),
]


def torch_plateau(kwargs, metrics, base_lr=0.1):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base_lr)
    sched = tls.ReduceLROnPlateau(opt, **kwargs)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for m in metrics:
            out.append(float(opt.param_groups[0]['lr']))
            opt.step()
            sched.step(float(m))
    return np.asarray(out)


@pytest.mark.parametrize('kwargs, kind', [p[1:] for p in PLATEAU], ids=[p[0] for p in PLATEAU])
def test_reduce_on_plateau_matches_torch(kwargs, kind):
    metrics = _metrics(kind)
    expected = torch_plateau(kwargs, metrics)
    assert len(np.unique(expected)) > 1 or kind == 'defaults'        # the sequences do reduce

    eager = bs.ReduceLROnPlateau(0.1, **kwargs)
    lrs = []
    for m in metrics:
        lrs.append(eager.current_lr)
        eager.step(float(m))
    np.testing.assert_allclose(np.asarray(lrs), expected, rtol=RTOL)

    jitted = bs.ReduceLROnPlateau(0.1, **kwargs)

    @brainstate.transform.jit
    def epoch(metric):
        lr = jitted.current_lr
        jitted.step(metric)
        return lr

    np.testing.assert_allclose(np.asarray([epoch(jnp.asarray(m)) for m in metrics]), expected, rtol=RTOL)

    looped = bs.ReduceLROnPlateau(0.1, **kwargs)

    def body(metric):
        lr = looped.current_lr
        looped.step(metric)
        return lr

    np.testing.assert_allclose(brainstate.transform.for_loop(body, jnp.asarray(metrics)), expected, rtol=RTOL)

    # half-way save and load into a fresh one
    first = bs.ReduceLROnPlateau(0.1, **kwargs)
    for m in metrics[:N // 2]:
        first.step(float(m))
    second = bs.ReduceLROnPlateau(0.1, **kwargs)
    second.load_state_values(jax.tree.map(np.asarray, first.state_values()))
    tail = []
    for m in metrics[N // 2:]:
        tail.append(second.current_lr)
        second.step(float(m))
    np.testing.assert_allclose(np.asarray(tail), expected[N // 2:], rtol=RTOL)


def test_braintools_plateau_cooldown_differs():
    """braintools.optim 0.3 freezes ``best`` during the cooldown; torch, and brainopt, let an improvement in."""
    import braintools.optim as bt
    kwargs = dict(factor=0.5, patience=0, cooldown=3, threshold=0.)
    metrics = [1.0, 2.0, 0.5, 0.7, 0.7, 0.7, 0.7, 0.7]
    ours, theirs = bs.ReduceLROnPlateau(1.0, **kwargs), bt.ReduceLROnPlateau(1.0, **kwargs)
    for m in metrics[:3]:            # best 1; then a bad epoch: reduce, cooldown; then 0.5 within the cooldown
        ours.step(m)
        theirs.step(m)
    assert float(ours.best.value) == 0.5 and float(theirs.best.value) == 1.0
    expected = torch_plateau(kwargs, metrics, base_lr=1.0)
    sched = bs.ReduceLROnPlateau(1.0, **kwargs)
    got = []
    for m in metrics:
        got.append(float(sched.current_lr))
        sched.step(m)
    np.testing.assert_allclose(got, expected, rtol=RTOL)


# -- the two ways of stepping are never confused ------------------------------------------------
def test_step_on_a_per_update_schedule_is_an_error():
    sched = bs.ExponentialDecayLR(0.1, decay_steps=10, decay_rate=0.5)
    with pytest.raises(RuntimeError, match=r"ExponentialDecayLR.step\(\): this schedule has stepping='update'.*"
                                           r"ExponentialDecayLR\(\.\.\., stepping='epoch'\)"):
        sched.step()
    with pytest.raises(RuntimeError, match="stepping='update'"):
        brainstate.transform.jit(lambda: bs.StepLR(stepping='update').step())()


def test_current_lr_of_an_unattached_per_update_schedule_is_an_error():
    with pytest.raises(RuntimeError, match=r"follows the step count of its optimizer, and none is attached"):
        _ = bs.CosineDecay(0.1, 100).current_lr


def test_metric_errors():
    with pytest.raises(TypeError, match=r"StepLR.step\(\) takes no metric .*ReduceLROnPlateau"):
        bs.StepLR().step(0.3)
    with pytest.raises(TypeError, match=r'ReduceLROnPlateau.step\(metric\) needs the metric'):
        bs.ReduceLROnPlateau().step()
    with pytest.raises(ValueError, match=r'the metric must be a scalar, got shape \(2,\)'):
        bs.ReduceLROnPlateau().step(jnp.ones(2))
    with pytest.raises(TypeError, match=r'ReduceLROnPlateau has no closed form of the step'):
        bs.ReduceLROnPlateau()(3)


def test_load_state_values_checks_keys_shapes_and_dtypes():
    sched = bs.StepLR()
    with pytest.raises(KeyError, match=r"expected the keys \['last_epoch'\].*missing \['last_epoch'\]"):
        sched.load_state_values({})
    with pytest.raises(KeyError, match=r"unexpected \['lr'\]"):
        sched.load_state_values({'last_epoch': 3, 'lr': 0.1})
    with pytest.raises(ValueError, match=r"'last_epoch' must have dtype int32, got float32"):
        sched.load_state_values({'last_epoch': np.float32(3)})
    with pytest.raises(ValueError, match=r"'last_epoch' must have shape \(\), got \(2,\)"):
        sched.load_state_values({'last_epoch': np.array([1, 2], np.int32)})
    with pytest.raises(KeyError, match=r"expected the keys \[\] \(stepping='update'\)"):
        bs.StepLR(stepping='update').load_state_values({'last_epoch': 3})
    assert int(sched.last_epoch.value) == 0          # nothing was written by the failed loads
    sched.load_state_values({'last_epoch': 31})       # a Python int is accepted
    assert float(sched.current_lr) == pytest.approx(1e-4)


def test_state_lives_in_optim_states_and_composites_hold_only_their_own():
    from brainopt import OptimState
    plateau = bs.ReduceLROnPlateau()
    names = {path[-1] for path in brainstate.graph.states(plateau).keys()}
    assert names == {'last_epoch', 'lr', 'best', 'num_bad_epochs', 'cooldown_counter'}
    assert all(isinstance(s, OptimState) for s in brainstate.graph.states(plateau).values())
    seq = bs.SequentialLR([bs.StepLR(), bs.MultiplicativeLR(0.1, lambda k: 0.9)], [3])
    assert list(brainstate.graph.states(seq).keys()) == [('last_epoch',)]
    assert set(seq.state_values()) == {'last_epoch'}
    assert len(brainstate.graph.states(bs.CosineDecay(0.1, 10))) == 0


# -- the plotting helper ---------------------------------------------------------------------------
def test_plot_schedule_draws_the_closed_form():
    matplotlib = pytest.importorskip('matplotlib')
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    sched = bs.OneCycleLR(0.5, total_steps=50)
    sched.step()                                     # drawing does not depend on, nor move, the State
    _, ax = plt.subplots()
    out = bs.plot_schedule(sched, 60, ax=ax)
    assert out is ax
    # two programs, all 60 values at once vs one at a time, of one schedule evaluation: one step's budget
    assert_ulp_close(ax.lines[0].get_ydata(), np.asarray([sched(k) for k in range(60)]), cross_program_ulps(1))
    assert ax.get_xlabel().startswith('epoch') and int(sched.last_epoch.value) == 1
    assert bs.plot_schedule(bs.CosineDecay(0.1, 10), 5).get_xlabel().startswith('update')
    plt.close('all')


def test_plot_schedule_errors(monkeypatch):
    with pytest.raises(TypeError, match=r'plot_schedule: ReduceLROnPlateau has no closed form'):
        bs.plot_schedule(bs.ReduceLROnPlateau(), 10)
    with pytest.raises(ValueError, match=r'plot_schedule: steps must be a positive integer, got 0'):
        bs.plot_schedule(bs.StepLR(), 0)
    monkeypatch.setitem(sys.modules, 'matplotlib', None)
    monkeypatch.setitem(sys.modules, 'matplotlib.pyplot', None)
    with pytest.raises(ImportError, match=r'plot_schedule needs matplotlib: pip install matplotlib'):
        bs.plot_schedule(bs.StepLR(), 10)


def test_a_subclass_with_only_call_is_per_update():
    """The session-1 interface (subclass, define ``__call__``) keeps working, as a per-update schedule."""
    class Halving(bs.LRScheduler):
        def __call__(self, step):
            return 0.4 * 0.5 ** (step // 2)

    sched = Halving()
    assert sched.stepping == 'update' and sched.state_values() == {}
    assert float(sched.lr_at(jnp.int32(3), {})) == pytest.approx(0.2)
    with pytest.raises(RuntimeError, match=r"Halving\(\.\.\., stepping='epoch'\)"):
        sched.step()
