"""Self-checks for tests/peers.py, independent of brainopt.

These prove the harness is sound: every peer runner reproduces a hand-written
numpy loop for plain SGD, kwargs reach the peers, the Keras EMA read-out is the
real moving average, and known peer differences show up where expected.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np
import pytest

import peers  # noqa: E402

LR = np.float32(0.1)


@pytest.fixture(scope="module")
def problem():
    return peers.make_problem(seed=0)


def _sgd_reference(problem):
    return peers.numpy_trajectory(
        problem, lambda p, g, t: {n: p[n] - LR * g[n] for n in p})


def test_make_problem_is_deterministic_and_float32():
    p1, p2 = peers.make_problem(seed=3), peers.make_problem(seed=3)
    assert p1.names == ["w", "b"]
    assert len(p1.b) == p1.steps == 12
    for n in p1.names:
        for arr in (p1.params0[n], p1.a[n], p1.b[5][n]):
            assert arr.dtype == np.float32
        np.testing.assert_array_equal(p1.params0[n], p2.params0[n])
        assert (p1.a[n] >= 0.5).all() and (p1.a[n] <= 2.0).all()
    assert not np.array_equal(peers.make_problem(seed=4).params0["w"], p1.params0["w"])


def test_grad_scale_and_nan_injection():
    base = peers.make_problem(seed=1)
    scaled = peers.make_problem(seed=1, grad_scale=1024.0)
    nan = peers.make_problem(seed=1, nan_at=2)
    p = base.initial_params()
    g, gs = base.grad(p, 2), scaled.grad(p, 2)
    for n in base.names:
        assert gs[n].dtype == np.float32
        np.testing.assert_array_equal(gs[n], np.float32(1024.0) * g[n])
        np.testing.assert_array_equal(
            g[n], (base.a[n] * p[n] + base.b[2][n]).astype(np.float32))
    assert np.isnan(nan.grad(p, 2)["w"].reshape(-1)[0])
    assert np.isnan(nan.grad(p, 2)["w"]).sum() == 1
    assert not np.isnan(nan.grad(p, 2)["b"]).any()
    assert not np.isnan(nan.grad(p, 1)["w"]).any()


def test_torch_sgd_matches_numpy(problem):
    peers.assert_trajectories_close(
        peers.torch_trajectory(problem, "SGD", lr=0.1), _sgd_reference(problem),
        # torch's p.add_(g, alpha=-lr) rounds once, numpy twice: ~1 ulp a step, damped by 1 - lr a <= 0.95; atol near 0
        rtol=1e-6, atol=1e-7)


def test_keras_sgd_matches_numpy(problem):
    peers.assert_trajectories_close(
        peers.keras_trajectory(problem, "SGD", learning_rate=0.1),
        # Keras SGD is the numpy p - lr * g bit for bit (peers.py): rtol 1e-6 is slack
        _sgd_reference(problem), rtol=1e-6, atol=1e-7)


def test_optax_sgd_matches_numpy(problem):
    import optax
    peers.assert_trajectories_close(
        peers.optax_trajectory(problem, optax.sgd(0.1)), _sgd_reference(problem),
        # optax.sgd is the numpy p - lr * g bit for bit (peers.py): rtol 1e-6 is slack
        rtol=1e-6, atol=1e-7)


def test_torch_adagrad_kwargs_reach_torch(problem):
    """lr_decay / weight_decay / initial_accumulator_value / eps all matter."""
    lr, lr_decay, wd, init, eps = 0.1, 0.01, 0.1, 0.1, 1e-10
    state = {n: np.full_like(v, init) for n, v in problem.params0.items()}

    def update(p, g, t):
        clr = lr / (1 + t * lr_decay)
        out = {}
        for n in p:
            gn = g[n] + np.float32(wd) * p[n]
            state[n] = state[n] + gn * gn
            out[n] = p[n] - np.float32(clr) * gn / (np.sqrt(state[n]) + np.float32(eps))
        return out

    peers.assert_trajectories_close(
        peers.torch_trajectory(problem, "Adagrad", lr=lr, lr_decay=lr_decay,
                               weight_decay=wd, initial_accumulator_value=init,
                               eps=eps),
        peers.numpy_trajectory(problem, update), rtol=1e-5, atol=1e-6)


def test_torch_and_keras_adadelta_agree(problem):
    t = peers.torch_trajectory(problem, "Adadelta", lr=1.0, rho=0.9, eps=1e-6)
    k = peers.keras_trajectory(problem, "Adadelta", learning_rate=1.0, rho=0.9,
                               epsilon=1e-6)
    peers.assert_trajectories_close(k, t, rtol=1e-5, atol=1e-7)
    # and the optimizer actually moved the params
    assert not np.allclose(t[-1]["w"], problem.params0["w"])


def test_torch_and_keras_adagrad_eps_placement(problem):
    """torch: g / (sqrt(acc) + eps); keras: g / sqrt(acc + eps).

    With a large eps the difference is obvious, yet both move the same way.
    """
    eps = 0.1
    t = peers.torch_trajectory(problem, "Adagrad", lr=0.1,
                               initial_accumulator_value=0.1, eps=eps)
    k = peers.keras_trajectory(problem, "Adagrad", learning_rate=0.1,
                               initial_accumulator_value=0.1, epsilon=eps)
    p0 = problem.params0
    for n in problem.names:
        assert not np.allclose(t[0][n], k[0][n], rtol=1e-4, atol=0)
        np.testing.assert_array_equal(np.sign(t[0][n] - p0[n]),
                                      np.sign(k[0][n] - p0[n]))
        # the exact first steps, from the two formulas
        g0 = problem.grad(p0, 0)[n]
        acc = np.float32(0.1) + g0 * g0
        t_step, k_step = LR * g0 / (np.sqrt(acc) + np.float32(eps)), LR * g0 / np.sqrt(acc + np.float32(eps))
        # one peer step vs the same ~6 float32 numpy operations: within 8 ulps (< rtol 1e-6)
        np.testing.assert_allclose(t[0][n], p0[n] - t_step, rtol=1e-6)
        np.testing.assert_allclose(k[0][n], p0[n] - k_step, rtol=1e-6)     # likewise: within 8 ulps


def test_torch_clip_grad_norm_matches_keras_global_clipnorm(problem):
    t = peers.torch_trajectory(problem, "SGD", lr=0.1, clip_grad_norm=0.5)
    k = peers.keras_trajectory(problem, "SGD", learning_rate=0.1, global_clipnorm=0.5)
    unclipped = peers.torch_trajectory(problem, "SGD", lr=0.1)
    peers.assert_trajectories_close(t, k, rtol=1e-5, atol=1e-6)
    assert not np.allclose(t[0]["w"], unclipped[0]["w"])  # clipping was active


def test_keras_ema_and_finalize(problem):
    m = 0.9
    traj, ema = peers.keras_trajectory_with_ema(problem, "SGD", learning_rate=0.1,
                                                ema_momentum=m)
    plain = peers.keras_trajectory(problem, "SGD", learning_rate=0.1)
    peers.assert_trajectories_close(traj, plain, rtol=0, atol=0)  # EMA is passive
    expected = [traj[0]]  # first step: momentum forced to 0
    for p in traj[1:]:
        expected.append({n: np.float32(m) * expected[-1][n] + np.float32(1 - m) * p[n]
                         for n in p})
    # Keras rounds 1 - m in float32, numpy from float64: ~1 ulp a step, damped by m = 0.9, a few ulps (< rtol 1e-6)
    peers.assert_trajectories_close(ema, expected, rtol=1e-6, atol=1e-7)
    final = peers.keras_finalize(problem, "SGD", learning_rate=0.1, use_ema=True,
                                 ema_momentum=m)
    peers.assert_trajectories_close([final], [ema[-1]], rtol=0, atol=0)
    no_ema = peers.keras_finalize(problem, "SGD", learning_rate=0.1)
    peers.assert_trajectories_close([no_ema], [plain[-1]], rtol=0, atol=0)
