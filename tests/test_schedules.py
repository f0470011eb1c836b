"""Learning-rate schedules against torch.optim.lr_scheduler, evaluated eagerly, in jit and in an optimizer.

``schedule(k)`` must equal torch's ``scheduler.get_last_lr()[0]`` after ``k``
calls of ``scheduler.step()`` (torch stepped once per update).
"""
import math
import warnings

import brainstate
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


def test_optimizer_reports_the_torch_learning_rates(case):
    """``UpdateInfo.lr`` of each ``opt.update`` inside ``brainstate.transform.jit`` is torch's lr."""
    w = brainstate.ParamState(jnp.ones(2))
    opt = brainopt.Adagrad(lr=case[1]).register_trainable_weights({'w': w})
    train_step = brainstate.transform.jit(lambda g: opt.update({'w': g}).lr)
    g = jnp.ones(2)
    assert_matches_torch([train_step(g) for _ in range(N)], case)
    assert int(opt.step_count.value) == N


def test_schedule_drives_the_parameter_update():
    """With SGD-like Adagrad(eps=0) on constant gradients the step size is lr / sqrt(k + 1)."""
    sched = bs.StepLR(0.1, step_size=3, gamma=0.5)
    w = brainstate.ParamState(jnp.zeros(1))
    opt = brainopt.Adagrad(lr=sched, eps=0.).register_trainable_weights({'w': w})
    lrs = torch_lrs(lambda o: tls.StepLR(o, 3, gamma=0.5), 0.1, n=10)
    for _ in range(10):
        opt.update({'w': jnp.ones(1)})
    expected = -np.sum(lrs / np.sqrt(np.arange(1, 11)))
    np.testing.assert_allclose(w.value, [expected], rtol=1e-5)
    np.testing.assert_allclose(opt.current_lr, sched(10), rtol=0)


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
    np.testing.assert_allclose(jax.jit(sched)(jnp.asarray(before)),
                               np.sin(np.pi / (2 * 3 * 2. ** (i - 1))) ** 2, rtol=1e-6)


def test_zero_total_iters_means_no_ramp():
    """total_iters=0 (braintools and torch's closed form; torch's recursive step keeps the start value)."""
    np.testing.assert_allclose(bs.LinearLR(0.1, start_factor=0.5, end_factor=0.8, total_iters=0)(jnp.arange(3)), 0.08)
    np.testing.assert_allclose(bs.ConstantLR(0.1, factor=0.5, total_iters=0)(jnp.arange(3)), 0.1)


def test_linear_warmup_from_zero():
    """torch's LinearLR forbids start_factor=0 (its recursion divides by it); the closed form does not need to."""
    np.testing.assert_allclose(bs.LinearLR(1.0, start_factor=0.0, total_iters=4)(jnp.arange(6)),
                               [0., 0.25, 0.5, 0.75, 1., 1.], rtol=1e-7)


def test_sequential_accepts_any_callable_and_nests():
    optax_like = lambda k: 0.5 * jnp.ones_like(k, jnp.float32)                  # noqa: E731
    inner = bs.SequentialLR([bs.ConstantLR(1.0, factor=0.1, total_iters=100), optax_like], [2])
    sched = bs.ChainedScheduler([inner, bs.ExponentialLR(2.0, gamma=0.5)])
    np.testing.assert_allclose(jax.jit(jax.vmap(sched))(jnp.arange(4)), [0.1, 0.05, 0.125, 0.0625], rtol=1e-6)


def test_repr_and_config():
    sched = bs.StepLR(0.1, step_size=3, gamma=0.5)
    assert repr(sched) == 'StepLR(base_lr=0.1, step_size=3, gamma=0.5)'
    assert sched.get_config() == dict(base_lr=0.1, step_size=3, gamma=0.5)
    assert (repr(bs.CosineAnnealingWarmRestarts())
            == 'CosineAnnealingWarmRestarts(base_lr=0.001, T_0=10, T_mult=1, eta_min=0.0)')
    assert 'schedulers=[ConstantLR(' in repr(bs.SequentialLR([bs.ConstantLR(), bs.ExponentialLR()], [5]))
    assert 'lr=StepLR(base_lr=0.1' in repr(brainopt.Adagrad(lr=sched))


def test_braintools_defaults_and_keywords():
    """Same argument names and defaults as braintools.optim, so code runs after changing the import."""
    import inspect
    import braintools.optim as bt
    for name in ['StepLR', 'MultiStepLR', 'ExponentialLR', 'CosineAnnealingLR', 'PolynomialLR', 'LinearLR',
                 'ConstantLR', 'CosineAnnealingWarmRestarts', 'SequentialLR', 'ChainedScheduler']:
        ours = inspect.signature(getattr(bs, name)).parameters
        theirs = {k: p for k, p in inspect.signature(getattr(bt, name)).parameters.items() if k != 'last_epoch'}
        assert list(ours) == list(theirs), name
        for k, p in ours.items():
            if p.default is not inspect.Parameter.empty:
                assert p.default == theirs[k].default, (name, k)
    assert tuple(bs.MultiStepLR().milestones) == (30, 60, 90)


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
]


@pytest.mark.parametrize('make, error, message', BAD, ids=[m for _, _, m in BAD])
def test_bad_arguments_name_the_argument(make, error, message):
    with pytest.raises(error, match=message):
        make()
