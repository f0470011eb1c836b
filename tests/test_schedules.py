"""The closed forms of the schedules against torch.optim.lr_scheduler (torch 2.13.0, CPU).

``schedule(k)`` must equal torch's ``scheduler.get_last_lr()[0]`` after ``k``
calls of ``scheduler.step()``, evaluated eagerly with Python ints and inside
``jax.jit`` with traced steps. The golden values come from torch, run live
here. The same table (``CASES``) drives the stepping tests in
``test_schedules_epoch.py`` (``sched.step()``) and
``test_schedules_optimizer.py`` (per update, through an optimizer).
"""
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as tls

import brainopt
from brainopt import schedules as bs

N = 40          # steps compared per configuration
RTOL = 1e-6     # float32
ATOL = 0.      # where torch gives exactly 0 (PolynomialLR at the end, the cosine minima), so must we


def torch_lrs(make, base_lr, n=N):
    """``get_last_lr()[0]`` before each of ``n`` ``step()`` calls of the torch scheduler ``make(opt)``."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base_lr)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        sched = make(opt)
        out = []
        for _ in range(n):
            out.append(float(sched.get_last_lr()[0]))
            opt.step()
            sched.step()
    return np.asarray(out)


def warmup_lambda(k):
    return jnp.minimum(1.0, (k + 1) / 8)


# (id, brainopt schedule, torch scheduler factory, base_lr)
CASES = [
    ('StepLR-a', bs.StepLR(0.1, step_size=3, gamma=0.5), lambda o: tls.StepLR(o, 3, gamma=0.5), 0.1),
    ('StepLR-b', bs.StepLR(1.0, step_size=7, gamma=0.1), lambda o: tls.StepLR(o, 7, gamma=0.1), 1.0),
    ('StepLR-c', bs.StepLR(0.01, step_size=1, gamma=1.1), lambda o: tls.StepLR(o, 1, gamma=1.1), 0.01),
    ('MultiStepLR-a', bs.MultiStepLR(0.1, milestones=[5, 12, 20], gamma=0.1),
     lambda o: tls.MultiStepLR(o, [5, 12, 20], gamma=0.1), 0.1),
    ('MultiStepLR-repeated', bs.MultiStepLR(0.3, milestones=[0, 3, 3, 25], gamma=0.5),
     lambda o: tls.MultiStepLR(o, [0, 3, 3, 25], gamma=0.5), 0.3),
    ('MultiStepLR-unsorted', bs.MultiStepLR(1.0, milestones=[25, 7], gamma=0.3),
     lambda o: tls.MultiStepLR(o, [25, 7], gamma=0.3), 1.0),
    ('ExponentialLR-a', bs.ExponentialLR(0.1, gamma=0.95), lambda o: tls.ExponentialLR(o, 0.95), 0.1),
    ('ExponentialLR-b', bs.ExponentialLR(1.0, gamma=0.5), lambda o: tls.ExponentialLR(o, 0.5), 1.0),
    ('ExponentialLR-c', bs.ExponentialLR(0.01, gamma=1.05), lambda o: tls.ExponentialLR(o, 1.05), 0.01),
    ('CosineAnnealingLR-a', bs.CosineAnnealingLR(0.1, T_max=10), lambda o: tls.CosineAnnealingLR(o, 10), 0.1),
    ('CosineAnnealingLR-b', bs.CosineAnnealingLR(1.0, T_max=25, eta_min=0.05),
     lambda o: tls.CosineAnnealingLR(o, 25, eta_min=0.05), 1.0),
    ('CosineAnnealingLR-c', bs.CosineAnnealingLR(0.5, T_max=1), lambda o: tls.CosineAnnealingLR(o, 1), 0.5),
    ('CosineAnnealingLR-d', bs.CosineAnnealingLR(0.02, T_max=7, eta_min=0.03),
     lambda o: tls.CosineAnnealingLR(o, 7, eta_min=0.03), 0.02),
    ('PolynomialLR-a', bs.PolynomialLR(0.1, total_iters=10, power=1.0),
     lambda o: tls.PolynomialLR(o, total_iters=10, power=1.0), 0.1),
    ('PolynomialLR-b', bs.PolynomialLR(1.0, total_iters=25, power=2.0),
     lambda o: tls.PolynomialLR(o, total_iters=25, power=2.0), 1.0),
    ('PolynomialLR-c', bs.PolynomialLR(0.5, total_iters=50, power=0.5),
     lambda o: tls.PolynomialLR(o, total_iters=50, power=0.5), 0.5),
    ('LinearLR-a', bs.LinearLR(0.1), lambda o: tls.LinearLR(o), 0.1),
    ('LinearLR-decay', bs.LinearLR(1.0, start_factor=1.0, end_factor=0.1, total_iters=20),
     lambda o: tls.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=20), 1.0),
    ('LinearLR-c', bs.LinearLR(0.5, start_factor=0.25, end_factor=0.75, total_iters=35),
     lambda o: tls.LinearLR(o, start_factor=0.25, end_factor=0.75, total_iters=35), 0.5),
    ('ConstantLR-a', bs.ConstantLR(0.1), lambda o: tls.ConstantLR(o), 0.1),
    ('ConstantLR-b', bs.ConstantLR(1.0, factor=0.5, total_iters=12),
     lambda o: tls.ConstantLR(o, factor=0.5, total_iters=12), 1.0),
    ('ConstantLR-c', bs.ConstantLR(0.2, factor=1.0, total_iters=3),
     lambda o: tls.ConstantLR(o, factor=1.0, total_iters=3), 0.2),
    # (a lambda's own float32 arithmetic sets its accuracy: jnp's 0.9 ** k is 1.1e-6 off by k = 34, so not used here)
    ('LambdaLR-poly', bs.LambdaLR(0.1, lambda k: (1 - k / 50) ** 2),
     lambda o: tls.LambdaLR(o, lambda k: (1 - k / 50) ** 2), 0.1),
    ('LambdaLR-inverse', bs.LambdaLR(1.0, lambda k: 1.0 / (1.0 + 0.1 * k)),
     lambda o: tls.LambdaLR(o, lambda k: 1.0 / (1.0 + 0.1 * k)), 1.0),
    ('LambdaLR-warmup', bs.LambdaLR(0.3, warmup_lambda),
     lambda o: tls.LambdaLR(o, lambda k: min(1.0, (k + 1) / 8)), 0.3),
    ('WarmRestarts-mult1', bs.CosineAnnealingWarmRestarts(0.1, T_0=5),
     lambda o: tls.CosineAnnealingWarmRestarts(o, T_0=5), 0.1),
    ('WarmRestarts-mult1-eta', bs.CosineAnnealingWarmRestarts(1.0, T_0=7, T_mult=1, eta_min=0.1),
     lambda o: tls.CosineAnnealingWarmRestarts(o, T_0=7, T_mult=1, eta_min=0.1), 1.0),
    ('WarmRestarts-mult2', bs.CosineAnnealingWarmRestarts(1.0, T_0=3, T_mult=2, eta_min=0.01),
     lambda o: tls.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01), 1.0),
    ('WarmRestarts-mult2-T1', bs.CosineAnnealingWarmRestarts(0.5, T_0=1, T_mult=2),
     lambda o: tls.CosineAnnealingWarmRestarts(o, T_0=1, T_mult=2), 0.5),
    ('WarmRestarts-mult3', bs.CosineAnnealingWarmRestarts(0.5, T_0=2, T_mult=3),
     lambda o: tls.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=3), 0.5),
    ('SequentialLR-warmup-cosine',
     bs.SequentialLR([bs.LinearLR(0.1, start_factor=0.1, total_iters=5), bs.CosineAnnealingLR(0.1, T_max=20)], [5]),
     lambda o: tls.SequentialLR(o, [tls.LinearLR(o, start_factor=0.1, total_iters=5),
                                    tls.CosineAnnealingLR(o, T_max=20)], milestones=[5]), 0.1),
    ('SequentialLR-constant-exp',
     bs.SequentialLR([bs.ConstantLR(0.05, factor=0.1, total_iters=20), bs.ExponentialLR(0.05, gamma=0.9)], [20]),
     lambda o: tls.SequentialLR(o, [tls.ConstantLR(o, factor=0.1, total_iters=20),
                                    tls.ExponentialLR(o, gamma=0.9)], milestones=[20]), 0.05),
    ('SequentialLR-three',
     bs.SequentialLR([bs.ConstantLR(1.0, factor=0.5, total_iters=10), bs.StepLR(1.0, step_size=4, gamma=0.5),
                      bs.PolynomialLR(1.0, total_iters=12, power=2.0)], [4, 15]),
     lambda o: tls.SequentialLR(o, [tls.ConstantLR(o, factor=0.5, total_iters=10), tls.StepLR(o, 4, gamma=0.5),
                                    tls.PolynomialLR(o, total_iters=12, power=2.0)], milestones=[4, 15]), 1.0),
    ('ChainedScheduler-constant-exp',
     bs.ChainedScheduler([bs.ConstantLR(0.05, factor=0.1, total_iters=20), bs.ExponentialLR(0.05, gamma=0.9)]),
     lambda o: tls.ChainedScheduler([tls.ConstantLR(o, factor=0.1, total_iters=20), tls.ExponentialLR(o, gamma=0.9)]),
     0.05),
    ('ChainedScheduler-three',
     bs.ChainedScheduler([bs.LinearLR(0.2, start_factor=0.25, total_iters=6), bs.MultiStepLR(0.2, [10, 30], 0.5),
                          bs.CosineAnnealingLR(0.2, T_max=45)]),
     lambda o: tls.ChainedScheduler([tls.LinearLR(o, start_factor=0.25, total_iters=6),
                                     tls.MultiStepLR(o, [10, 30], 0.5), tls.CosineAnnealingLR(o, T_max=45)]), 0.2),
    # CyclicLR, every mode (torch's cycle_momentum needs a momentum optimizer; a schedule sets only the lr)
    ('CyclicLR-triangular', bs.CyclicLR(0.1, 1.0, step_size_up=4),
     lambda o: tls.CyclicLR(o, 0.1, 1.0, step_size_up=4, cycle_momentum=False), 0.1),
    ('CyclicLR-triangular-asym', bs.CyclicLR(0.01, 0.5, step_size_up=3, step_size_down=7),
     lambda o: tls.CyclicLR(o, 0.01, 0.5, step_size_up=3, step_size_down=7, cycle_momentum=False), 0.01),
    ('CyclicLR-triangular2', bs.CyclicLR(0.05, 0.3, step_size_up=5, step_size_down=3, mode='triangular2'),
     lambda o: tls.CyclicLR(o, 0.05, 0.3, step_size_up=5, step_size_down=3, mode='triangular2',
                            cycle_momentum=False), 0.05),
    ('CyclicLR-exp_range', bs.CyclicLR(0.001, 0.1, step_size_up=6, mode='exp_range', gamma=0.97),
     lambda o: tls.CyclicLR(o, 0.001, 0.1, step_size_up=6, mode='exp_range', gamma=0.97,
                            cycle_momentum=False), 0.001),
    ('CyclicLR-scale_fn-cycle', bs.CyclicLR(0.1, 0.6, step_size_up=3, scale_fn=lambda x: 1.0 / (1.0 + x)),
     lambda o: tls.CyclicLR(o, 0.1, 0.6, step_size_up=3, scale_fn=lambda x: 1.0 / (1.0 + x),
                            cycle_momentum=False), 0.1),
    ('CyclicLR-scale_fn-iterations',
     bs.CyclicLR(0.1, 0.6, step_size_up=4, scale_fn=lambda k: 1.0 / (1.0 + 0.1 * k), scale_mode='iterations'),
     lambda o: tls.CyclicLR(o, 0.1, 0.6, step_size_up=4, scale_fn=lambda k: 1.0 / (1.0 + 0.1 * k),
                            scale_mode='iterations', cycle_momentum=False), 0.1),
    # OneCycleLR over exactly N steps (torch raises past total_steps)
    ('OneCycleLR-cos', bs.OneCycleLR(0.5, total_steps=N),
     lambda o: tls.OneCycleLR(o, 0.5, total_steps=N, cycle_momentum=False), 0.5),
    ('OneCycleLR-linear', bs.OneCycleLR(1.0, total_steps=N, pct_start=0.25, anneal_strategy='linear',
                                        div_factor=10., final_div_factor=100.),
     lambda o: tls.OneCycleLR(o, 1.0, total_steps=N, pct_start=0.25, anneal_strategy='linear', div_factor=10.,
                              final_div_factor=100., cycle_momentum=False), 1.0),
    ('OneCycleLR-three-phase', bs.OneCycleLR(0.2, epochs=8, steps_per_epoch=5, pct_start=0.35, three_phase=True),
     lambda o: tls.OneCycleLR(o, 0.2, epochs=8, steps_per_epoch=5, pct_start=0.35, three_phase=True,
                              cycle_momentum=False), 0.2),
    ('MultiplicativeLR-const', bs.MultiplicativeLR(0.1, lambda k: 0.95),
     lambda o: tls.MultiplicativeLR(o, lambda k: 0.95), 0.1),
    ('MultiplicativeLR-periodic', bs.MultiplicativeLR(1.0, lambda k: 1.0 - 0.02 * (k % 4)),
     lambda o: tls.MultiplicativeLR(o, lambda k: 1.0 - 0.02 * (k % 4)), 1.0),
    # braintools's WarmupScheduler is torch's LinearLR with start_factor = warmup_start_lr / base_lr
    ('WarmupScheduler-as-LinearLR', bs.WarmupScheduler(0.4, warmup_epochs=9, warmup_start_lr=0.1),
     lambda o: tls.LinearLR(o, start_factor=0.25, total_iters=9), 0.4),
    ('WarmupScheduler-default-start', bs.WarmupScheduler(0.3, warmup_epochs=11),
     lambda o: tls.LinearLR(o, start_factor=1 / 12, total_iters=11), 0.3),
]
IDS = [case[0] for case in CASES]
REFERENCE = {}


def reference(case):
    name, _, make, base_lr = case
    if name not in REFERENCE:
        REFERENCE[name] = torch_lrs(make, base_lr)
    return REFERENCE[name]


def assert_matches_torch(values, case):
    values = np.asarray(values)
    assert values.dtype == np.float32
    np.testing.assert_allclose(values, reference(case), rtol=RTOL, atol=ATOL, err_msg=case[0])


@pytest.fixture(params=CASES, ids=IDS)
def case(request):
    return request.param


def test_eager_python_ints_match_torch(case):
    sched = case[1]
    assert_matches_torch([sched(k) for k in range(N)], case)
    assert sched(0).dtype == jnp.float32 and sched(0).shape == ()


def test_traced_step_inside_jit_matches_torch(case):
    sched = case[1]
    # a batch of traced int32 scalar steps (the optimizer test below traces one step per call)
    assert_matches_torch(jax.jit(jax.vmap(sched))(jnp.arange(N, dtype=jnp.int32)), case)


@pytest.mark.parametrize('sched, make, base_lr, n', [
    (bs.ExponentialLR(1.0, gamma=0.999), lambda o: tls.ExponentialLR(o, 0.999), 1.0, 3000),
    (bs.CosineAnnealingLR(1.0, T_max=100, eta_min=0.01),
     lambda o: tls.CosineAnnealingLR(o, 100, eta_min=0.01), 1.0, 3000),
    (bs.CosineAnnealingWarmRestarts(1.0, T_0=3, T_mult=2),
     lambda o: tls.CosineAnnealingWarmRestarts(o, 3, 2), 1.0, 3000),
    (bs.StepLR(1.0, step_size=50, gamma=0.8), lambda o: tls.StepLR(o, 50, gamma=0.8), 1.0, 3000),
], ids=['ExponentialLR', 'CosineAnnealingLR', 'WarmRestarts-mult2', 'StepLR'])
def test_long_horizon_stays_float32_accurate(sched, make, base_lr, n):
    """3000 updates: no drift of the powers, the restarts or the cosine period."""
    values = jax.jit(sched)(jnp.arange(n, dtype=jnp.int32))     # array steps work directly too
    np.testing.assert_allclose(values, torch_lrs(make, base_lr, n=n), rtol=RTOL, atol=ATOL)


def test_warm_restarts_cycle_starts_are_exact_integers():
    """Cycle i of T_0=3, T_mult=2 starts at 3 (2**i - 1): the lr is base_lr exactly there, also past 2**24."""
    sched = bs.CosineAnnealingWarmRestarts(1.0, T_0=3, T_mult=2, eta_min=0.)
    starts = np.array([3 * (2 ** i - 1) for i in range(29)], np.int64)
    starts = starts[starts < 2 ** 31]
    np.testing.assert_array_equal(jax.jit(sched)(jnp.asarray(starts, jnp.int32)), 1.0)
    # one update before a restart: cos(pi (T_i - 1) / T_i), i.e. sin(pi / (2 T_i)) ** 2
    i = np.arange(1, 12)
    before = (3 * (2 ** i - 1) - 1).astype(np.int32)
    exact = np.sin(np.pi / (2 * 3 * 2. ** (i - 1))) ** 2
    # float32 closed form vs float64 sin^2: a sin and ~4 roundings, within 8 ulps (< rtol 1e-6)
    np.testing.assert_allclose(jax.jit(sched)(jnp.asarray(before)), exact, rtol=1e-6)


def test_zero_total_iters_means_no_ramp():
    """total_iters=0 (braintools and torch's closed form; torch's recursive step keeps the start value)."""
    np.testing.assert_allclose(bs.LinearLR(0.1, start_factor=0.5, end_factor=0.8, total_iters=0)(jnp.arange(3)), 0.08)
    np.testing.assert_allclose(bs.ConstantLR(0.1, factor=0.5, total_iters=0)(jnp.arange(3)), 0.1)


def test_linear_warmup_from_zero():
    """torch's LinearLR forbids start_factor=0 (its recursion divides by it); the closed form does not need to."""
    ramp = bs.LinearLR(1.0, start_factor=0.0, total_iters=4)(jnp.arange(6))
    np.testing.assert_allclose(ramp, [0., 0.25, 0.5, 0.75, 1., 1.], rtol=1e-7)      # k / 4: exact in float32


def test_sequential_accepts_any_callable_and_nests():
    optax_like = lambda k: 0.5 * jnp.ones_like(k, jnp.float32)                  # noqa: E731
    inner = bs.SequentialLR([bs.ConstantLR(1.0, factor=0.1, total_iters=100), optax_like], [2])
    sched = bs.ChainedScheduler([inner, bs.ExponentialLR(2.0, gamma=0.5)])
    # products of f32(0.1) and powers of 2: 0.1 and 0.05 within half an ulp, the others exact
    np.testing.assert_allclose(jax.jit(jax.vmap(sched))(jnp.arange(4)), [0.1, 0.05, 0.125, 0.0625], rtol=1e-6)


def rebuild(sched, **overrides):
    """A fresh schedule from ``get_config()`` (the config round-trips)."""
    return type(sched)(**{**sched.get_config(), **overrides})


def test_repr_and_config():
    sched = bs.StepLR(0.1, step_size=3, gamma=0.5)
    assert repr(sched) == "StepLR(base_lr=0.1, step_size=3, gamma=0.5, stepping='epoch')"
    assert sched.get_config() == dict(base_lr=0.1, step_size=3, gamma=0.5, last_epoch=0, stepping='epoch')
    assert (repr(bs.CosineAnnealingWarmRestarts(last_epoch=4))
            == "CosineAnnealingWarmRestarts(base_lr=0.001, T_0=10, T_mult=1, eta_min=0.0, last_epoch=4, "
               "stepping='epoch')")
    assert repr(bs.InverseTimeDecay(0.1, 10, 0.5)) == ("InverseTimeDecay(initial_learning_rate=0.1, decay_steps=10.0, "
                                                      "decay_rate=0.5, staircase=False, name='InverseTimeDecay', "
                                                      "stepping='update')")
    assert 'schedulers=[ConstantLR(' in repr(bs.SequentialLR([bs.ConstantLR(), bs.ExponentialLR()], [5]))
    assert 'lr=StepLR(base_lr=0.1' in repr(brainopt.Adagrad(lr=sched))


def test_config_rebuilds_an_equal_schedule(case):
    """``type(s)(**s.get_config())`` gives the same values (the epoch tests build fresh schedules this way)."""
    sched = case[1]
    np.testing.assert_array_equal(rebuild(sched)(jnp.arange(N)), sched(jnp.arange(N)))


def signature(cls):
    """The constructor's parameters after ``self`` (a brainstate Node's class signature is ``(*args, **kwargs)``)."""
    import inspect
    return dict(list(inspect.signature(cls.__init__).parameters.items())[1:])


def test_braintools_defaults_and_keywords():
    """braintools.optim's argument names, order and defaults, so code runs after changing the import.

    Deliberate differences: ``stepping`` is added (keyword-only, last); ``warmup_start_lr`` of the two warmup
    schedules defaults to None (``base_lr / (W + 1)``, never 0 on the first step) where braintools has 0.0;
    OneCycleLR adds torch's keyword-only ``three_phase``. ChainedScheduler has no ``last_epoch`` (braintools
    inherits one it does not use).
    """
    import inspect

    import braintools.optim as bt
    changed = {('WarmupScheduler', 'warmup_start_lr'): None, ('WarmupCosineSchedule', 'warmup_start_lr'): None}
    for name in bt._optax_lr_scheduler.__all__[1:]:          # the classes after the base LRScheduler
        ours = signature(getattr(bs, name))
        theirs = inspect.signature(getattr(bt, name)).parameters
        positional = [k for k, p in ours.items() if p.kind is not p.KEYWORD_ONLY]
        assert positional == [k for k in theirs if not (name == 'ChainedScheduler' and k == 'last_epoch')], name
        assert {k for k, p in ours.items() if p.kind is p.KEYWORD_ONLY} <= {'stepping', 'three_phase'}, name
        for k in positional:
            if theirs[k].default is not inspect.Parameter.empty:
                expected = changed.get((name, k), theirs[k].default)
                assert ours[k].default == expected, (name, k)
    assert tuple(bs.MultiStepLR().milestones) == (30, 60, 90)
    assert bs.PiecewiseConstantSchedule().boundaries == (1000, 2000)
    assert bs.PiecewiseConstantSchedule().values == (1.0, 0.1, 0.01)


def test_keras_names_and_defaults():
    """InverseTimeDecay and CosineDecay take Keras's arguments, in Keras's order, with its defaults."""
    import inspect

    import keras
    for name in ['InverseTimeDecay', 'CosineDecay']:
        ours = signature(getattr(bs, name))
        theirs = inspect.signature(getattr(keras.optimizers.schedules, name)).parameters
        assert [k for k in ours if k != 'stepping'] == list(theirs), name
        for k, p in theirs.items():
            assert ours[k].default == p.default, (name, k)


def test_default_stepping_follows_the_origin_library():
    """torch/braintools per-epoch schedules step with sched.step(); optax/Keras-style ones per update."""
    epoch = [bs.StepLR(), bs.MultiStepLR(), bs.ExponentialLR(), bs.CosineAnnealingLR(), bs.PolynomialLR(),
             bs.LinearLR(), bs.ConstantLR(), bs.LambdaLR(0.1, lambda k: 1.0), bs.CosineAnnealingWarmRestarts(),
             bs.WarmupScheduler(), bs.CyclicLR(), bs.OneCycleLR(total_steps=10),
             bs.MultiplicativeLR(0.1, lambda k: 0.9),
             bs.ReduceLROnPlateau(), bs.SequentialLR([bs.StepLR(), bs.StepLR()], [3]),
             bs.ChainedScheduler([bs.StepLR(), bs.ExponentialLR()])]
    update = [bs.ExponentialDecayLR(), bs.WarmupCosineSchedule(), bs.PiecewiseConstantSchedule(),
              bs.InverseTimeDecay(0.1, 10, 0.5), bs.CosineDecay(0.1, 10),
              bs.SequentialLR([lambda k: 0.1 * jnp.ones_like(k, jnp.float32), bs.StepLR(stepping='update')], [3])]
    assert [s.stepping for s in epoch] == ['epoch'] * len(epoch)
    assert [s.stepping for s in update] == ['update'] * len(update)
    assert all('last_epoch' in s.state_values() for s in epoch)
    assert all(s.state_values() == {} for s in update)


BAD = [
    (lambda: bs.StepLR(0.1, step_size=0), ValueError, r'StepLR: step_size must be a positive integer, got 0'),
    (lambda: bs.StepLR(0.1, step_size=-3), ValueError, r'step_size must be a positive integer'),
    (lambda: bs.StepLR(0.1, step_size=2.5), TypeError, r'step_size must be an integer'),
    (lambda: bs.StepLR(0.1, gamma=0.), ValueError, r'StepLR: gamma must be > 0'),
    (lambda: bs.StepLR(-0.1), ValueError, r'StepLR: base_lr must be >= 0'),
    (lambda: bs.StepLR('0.1'), TypeError, r'base_lr must be a real number'),
    (lambda: bs.MultiStepLR(0.1, milestones=[3, -1]), ValueError, r'milestones\[1\] must be an integer >= 0'),
    (lambda: bs.MultiStepLR(0.1, milestones=5), TypeError, r'milestones must be a sequence'),
    (lambda: bs.MultiStepLR(0.1, gamma=-1.), ValueError, r'MultiStepLR: gamma must be > 0'),
    (lambda: bs.ExponentialLR(0.1, gamma=0.), ValueError, r'ExponentialLR: gamma must be > 0'),
    (lambda: bs.ExponentialLR(0.1, gamma=math.nan), ValueError, r'gamma must not be NaN'),
    (lambda: bs.CosineAnnealingLR(0.1, T_max=0), ValueError, r'CosineAnnealingLR: T_max must be a positive integer'),
    (lambda: bs.CosineAnnealingLR(0.1, eta_min=-1.), ValueError, r'eta_min must be >= 0'),
    (lambda: bs.PolynomialLR(0.1, total_iters=0), ValueError, r'PolynomialLR: total_iters must be a positive integer'),
    (lambda: bs.PolynomialLR(0.1, power=-1.), ValueError, r'power must be >= 0'),
    (lambda: bs.LinearLR(0.1, start_factor=-0.1), ValueError, r'LinearLR: start_factor must be >= 0'),
    (lambda: bs.LinearLR(0.1, end_factor=-1.), ValueError, r'end_factor must be >= 0'),
    (lambda: bs.LinearLR(0.1, total_iters=-1), ValueError, r'total_iters must be an integer >= 0'),
    (lambda: bs.ConstantLR(0.1, factor=-0.5), ValueError, r'ConstantLR: factor must be >= 0'),
    (lambda: bs.ConstantLR(0.1, total_iters=1.5), TypeError, r'total_iters must be an integer'),
    (lambda: bs.LambdaLR(0.1, 0.5), TypeError, r'LambdaLR: lr_lambda must be a callable'),
    (lambda: bs.CosineAnnealingWarmRestarts(0.1, T_0=0), ValueError, r'T_0 must be a positive integer'),
    (lambda: bs.CosineAnnealingWarmRestarts(0.1, T_0=5, T_mult=0), ValueError, r'T_mult must be a positive integer'),
    (lambda: bs.CosineAnnealingWarmRestarts(0.1, T_0=5, T_mult=1.5), TypeError, r'T_mult must be an integer'),
    (lambda: bs.SequentialLR([bs.StepLR(), bs.StepLR()], [5, 10]), ValueError,
     r'SequentialLR: milestones must hold len\(schedulers\) - 1 = 1'),
    (lambda: bs.SequentialLR([bs.StepLR()] * 3, [10, 5]), ValueError, r'milestones must be strictly increasing'),
    (lambda: bs.SequentialLR([], []), ValueError, r'schedulers must hold at least one'),
    (lambda: bs.SequentialLR([bs.StepLR(), 0.1], [5]), TypeError, r'schedulers\[1\] must be a schedule'),
    (lambda: bs.ChainedScheduler([bs.StepLR(), lambda k: 1.0]), TypeError,
     r'ChainedScheduler: schedulers\[1\] must be a brainopt schedule with a base_lr'),
    (lambda: bs.SequentialLR([bs.StepLR(), bs.StepLR(stepping='update')], [2]), ValueError,
     r"SequentialLR: the schedulers have different stepping .*pass stepping='epoch' or stepping='update'"),
    (lambda: bs.ChainedScheduler([bs.ReduceLROnPlateau(), bs.StepLR()]), TypeError,
     r'schedulers\[0\] \(ReduceLROnPlateau\) has no closed form'),
    (lambda: bs.StepLR(stepping='batch'), ValueError, r"StepLR: stepping must be 'update' or 'epoch', got 'batch'"),
    (lambda: bs.StepLR(last_epoch=-1), ValueError, r'StepLR: last_epoch must be an integer >= 0'),
    (lambda: bs.StepLR(last_epoch=3, stepping='update'), ValueError, r"last_epoch=3 needs stepping='epoch'"),
    (lambda: bs.MultiplicativeLR(0.1, lambda k: 1.0, stepping='update'), TypeError, r'stepping'),
    (lambda: bs.MultiplicativeLR(0.1, 0.9), TypeError, r'MultiplicativeLR: lr_lambda must be a callable'),
    (lambda: bs.WarmupScheduler(0.1, warmup_epochs=-1), ValueError, r'WarmupScheduler: warmup_epochs must be'),
    (lambda: bs.WarmupScheduler(0.1, warmup_start_lr=-1.), ValueError, r'warmup_start_lr must be >= 0'),
    (lambda: bs.WarmupCosineSchedule(0.1, warmup_steps=10, total_steps=5), ValueError,
     r'WarmupCosineSchedule: total_steps must be >= warmup_steps = 10'),
    (lambda: bs.ExponentialDecayLR(0.1, decay_steps=0), ValueError,
     r'ExponentialDecayLR: decay_steps must be a positive'),
    (lambda: bs.ExponentialDecayLR(0.1, decay_rate=0.), ValueError, r'decay_rate must be > 0'),
    (lambda: bs.ExponentialDecayLR(0.1, staircase=1), TypeError, r'staircase must be a bool'),
    (lambda: bs.PiecewiseConstantSchedule(boundaries=[5], values=[1.0]), ValueError,
     r'values must hold len\(boundaries\) \+ 1 = 2 learning rates, got 1'),
    (lambda: bs.PiecewiseConstantSchedule(boundaries=[5, 5], values=[1., 1., 1.]), ValueError,
     r'boundaries must be strictly increasing'),
    (lambda: bs.PiecewiseConstantSchedule(boundaries=[5], values=[1., -1.]), ValueError, r'values\[1\] must be >= 0'),
    (lambda: bs.CyclicLR(mode='cosine'), ValueError, r"CyclicLR: mode must be one of 'triangular'"),
    (lambda: bs.CyclicLR(step_size_up=0), ValueError, r'step_size_up must be a positive integer'),
    (lambda: bs.CyclicLR(step_size_down=0), ValueError, r'step_size_down must be a positive integer'),
    (lambda: bs.CyclicLR(scale_fn=3), TypeError, r'scale_fn must be None or a callable'),
    (lambda: bs.CyclicLR(scale_mode='epoch'), ValueError, r"scale_mode must be 'cycle' or 'iterations'"),
    (lambda: bs.OneCycleLR(0.1), ValueError, r'OneCycleLR: give total_steps, or both epochs and steps_per_epoch'),
    (lambda: bs.OneCycleLR(0.1, total_steps=0), ValueError, r'total_steps must be an integer >= 2'),
    (lambda: bs.OneCycleLR(0.1, total_steps=10, pct_start=1.0), ValueError, r'pct_start must be in \(0.0, 1.0\)'),
    (lambda: bs.OneCycleLR(0.1, total_steps=3, pct_start=0.2), ValueError, r'leaves a phase of no steps'),
    (lambda: bs.OneCycleLR(0.1, total_steps=10, anneal_strategy='exp'), ValueError, r"anneal_strategy must be 'cos'"),
    (lambda: bs.ReduceLROnPlateau(factor=1.0), ValueError, r'ReduceLROnPlateau: factor must be in \[0.0, 1.0\)'),
    (lambda: bs.ReduceLROnPlateau(mode='lowest'), ValueError, r"mode must be 'min' or 'max'"),
    (lambda: bs.ReduceLROnPlateau(threshold_mode='pct'), ValueError, r"threshold_mode must be 'rel' or 'abs'"),
    (lambda: bs.ReduceLROnPlateau(patience=-1), ValueError, r'patience must be an integer >= 0'),
    (lambda: bs.ReduceLROnPlateau(min_lr=[0.1]), TypeError, r'min_lr must be a real number'),
    (lambda: bs.InverseTimeDecay(0.1, decay_steps=0, decay_rate=0.5), ValueError,
     r'InverseTimeDecay: decay_steps must be > 0'),
    (lambda: bs.CosineDecay(0.1, decay_steps=10, alpha=-0.1), ValueError, r'CosineDecay: alpha must be >= 0'),
    (lambda: bs.CosineDecay(0.1, decay_steps=10, warmup_steps=-2), ValueError, r'warmup_steps must be an integer'),
]


@pytest.mark.parametrize('make, error, message', BAD, ids=[m for _, _, m in BAD])
def test_bad_arguments_name_the_argument(make, error, message):
    with pytest.raises(error, match=message):
        make()
