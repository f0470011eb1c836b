"""Every constructor call, argument and method named in ../shared/seeds/, against its dialect, each with a number.

* 000, 001 (Keras 3 ``keras.optimizers.Adadelta``) and 004 (``keras.optimizers.Adagrad``) -> ``brainopt.keras``,
  against Keras 3 run live: the verbatim constructor call, then every argument (each base option appears in one of
  the configurations below), ``finalize_variable_values()``.
* 002 (brainpy 2.x ``brainpy.optim.Adadelta``) -> ``brainopt.brainpy``, against brainpy's documented formula in
  numpy (brainpy does not import with the installed jax; tests/test_dialect_brainpy.py says more), and its methods.
* 003 (``braintools.optim.Adadelta``) -> ``brainopt``, against braintools.optim run live, on the seed's
  ``brainstate.nn.Linear(10, 5)`` example.
"""
import os
import tempfile

import brainstate
import braintools.optim as bto
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_dialect_keras import assert_runs_equal, run_dialect, run_keras

import brainopt
import brainopt.brainpy as bp
import brainopt.keras as bk

from peers import assert_trajectories_close, make_problem, numpy_trajectory

# -- 000 / 001 / 004: Keras 3 ---------------------------------------------------------------------------------
SEED_CALL = dict(learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None)
# every argument of the pages, each in at least one configuration; at most one clip option per configuration
ARGUMENT_CONFIGS = [
    ('paper-lr-weight_decay-clipnorm-loss_scale_factor',
     dict(learning_rate=1.0, weight_decay=0.05, clipnorm=0.5, loss_scale_factor=16.0)),
    ('use_ema-ema_momentum-ema_overwrite_frequency-clipvalue',
     dict(learning_rate=0.5, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=3, clipvalue=0.2)),
    ('gradient_accumulation_steps-global_clipnorm-use_ema',
     dict(learning_rate=0.5, gradient_accumulation_steps=2, global_clipnorm=0.5, use_ema=True)),
]


@pytest.mark.parametrize('name,own', [('Adadelta', dict(rho=0.95, epsilon=1e-07)),
                                      ('Adagrad', dict(initial_accumulator_value=0.1, epsilon=1e-07))])
def test_keras_pages(name, own):
    """The pages' verbatim call (``name="adadelta"``), then each argument, against Keras; finalize_variable_values
    writes the EMA into the weights exactly as Keras's."""
    problem = make_problem(seed=8, steps=12)
    verbatim = dict(SEED_CALL, **own, name=name.lower())
    assert_runs_equal(run_dialect(problem, name, verbatim), run_keras(problem, name, verbatim), 'verbatim')
    assert getattr(bk, name)(**verbatim).name == name.lower()
    rho_or_init = {'Adadelta': dict(rho=0.8, epsilon=1e-3), 'Adagrad': dict(initial_accumulator_value=0.5,
                                                                           epsilon=1e-3)}[name]
    for label, extra in ARGUMENT_CONFIGS:
        problem = make_problem(seed=8, steps=12, grad_scale=extra.get('loss_scale_factor', 1.0))
        kwargs = dict(verbatim, **rho_or_init, **extra)
        ours = run_dialect(problem, name, kwargs)
        assert_runs_equal(ours, run_keras(problem, name, kwargs), label)
        if kwargs['use_ema'] and kwargs['ema_overwrite_frequency'] is None:   # finalize moved the weights
            assert np.max(np.abs(ours[4]['w'] - ours[0][-1]['w'])) > 1e-6


# -- 002: brainpy 2.x -------------------------------------------------------------------------------------------
def _np_adadelta(rho, eps, wd):
    """The page's formula: s = rho s + (1-rho) g^2; g' = sqrt((dx + eps)/(s + eps)) g; x -= g';
    dx = rho dx + (1-rho) g'^2; brainpy's weight decay x <- (1 - wd) x - g'. No learning rate."""
    f = np.float32
    slots = {}

    def update(params, grads, t):
        out = {}
        for k, p in params.items():
            s = slots.setdefault(k, {'s': np.zeros_like(p), 'dx': np.zeros_like(p)})
            g = grads[k]
            s['s'] = f(rho) * s['s'] + f(1 - rho) * g * g
            step = np.sqrt((s['dx'] + f(eps)) / (s['s'] + f(eps))) * g
            s['dx'] = f(rho) * s['dx'] + f(1 - rho) * step * step
            out[k] = (1 - f(wd)) * p - step
        return out
    return update


def test_brainpy_page():
    """``Adadelta(lr=0.01, train_vars=None, weight_decay=None, epsilon=1e-06, rho=0.95, name=None)`` and every
    method the page lists."""
    problem = make_problem(seed=9, steps=12)
    for kwargs, wd in ((dict(lr=0.01, train_vars=None, weight_decay=None, epsilon=1e-06, rho=0.95, name=None), 0.0),
                       (dict(lr=0.5, weight_decay=0.1, epsilon=1e-3, rho=0.8, name='ada'), 0.1)):
        states = {n: brainstate.ParamState(jnp.asarray(v)) for n, v in problem.initial_params().items()}
        opt = bp.Adadelta(**{**kwargs, 'train_vars': states})
        traj = []
        for t in range(problem.steps):
            opt.update({n: jnp.asarray(v) for n, v in problem.grad({n: s.value for n, s in states.items()},
                                                                  t).items()})
            traj.append({n: np.asarray(s.value) for n, s in states.items()})
        expected = numpy_trajectory(problem, _np_adadelta(kwargs['rho'], kwargs['epsilon'], wd))
        assert_trajectories_close(traj, expected, rtol=2e-6, atol=1e-7)
    assert opt.name == 'ada' and opt.unique_name() == 'ada' and opt.nodes() == {'ada': opt}
    assert opt.train_vars() == states
    assert sorted(opt.vars()) == ['hyperparams', 'slots.acc_delta', 'slots.square_avg', 'step_count']
    np.testing.assert_array_equal(opt.vars()['step_count'].value, 12)
    assert opt.cpu() is opt and opt.to(jax.devices('cpu')[0]) is opt
    # cuda() / tpu(): move where JAX has the device; elsewhere one clear error and nothing moved
    for method, platform in (('cuda', 'gpu'), ('tpu', 'tpu')):
        try:
            jax.devices(platform)
        except RuntimeError:
            before = {k: v.value for k, v in opt.vars().items()}
            with pytest.raises(RuntimeError, match=rf'Adadelta\.{method}\(\): JAX has no {platform.upper()} here'):
                getattr(opt, method)()
            assert all(opt.vars()[k].value is v for k, v in before.items())
        else:  # pragma: no cover - a machine with the device
            assert getattr(opt, method)() is opt
            assert all(x.devices() == {jax.devices(platform)[0]} for v in opt.vars().values()
                       for x in jax.tree.leaves(v.value))
            opt.cpu()
    # register_implicit_vars / register_implicit_nodes: listed by vars() / nodes() (brainpy's keys), type-checked
    extra, loose = brainstate.State(jnp.zeros(2)), brainstate.State(jnp.ones(1))
    opt.register_implicit_vars({'extra': extra}, [loose], named=brainstate.ShortTermState(jnp.ones(1)))
    assert opt.vars()['extra'] is extra and opt.vars()[f'var{id(loose)}'] is loose and 'named' in opt.vars()
    with pytest.raises(TypeError, match="'extra2' must be a ParamState"):
        opt.register_implicit_vars({'extra2': extra}, var_cls=brainstate.ParamState)
    child = brainstate.nn.Linear(2, 2)
    opt.register_implicit_nodes({'child': child})
    assert opt.nodes() == {'ada': opt, 'child': child}
    with pytest.raises(TypeError, match="'bad' must be a Node"):
        opt.register_implicit_nodes(bad=3)
    # tree_flatten / tree_unflatten: the memory as arrays, and a new optimizer (same configuration and parameters)
    # holding copies of them; it trains on as the original would, and never touches the original's arrays
    values, aux = opt.tree_flatten()
    # the step count, the live hyperparameters (scalars) and two slots per parameter
    assert sorted(np.shape(v) for v in values) == sorted([()] * (1 + len(opt.hyperparams.value)) +
                                                         [np.shape(s.value) for s in states.values()] * 2)
    twin = bp.Adadelta.tree_unflatten(aux, values)
    assert type(twin) is bp.Adadelta and twin is not opt and twin.step_count is not opt.step_count
    assert twin.vars()['extra'] is extra
    for slot in ('square_avg', 'acc_delta'):
        for n in states:
            np.testing.assert_array_equal(twin.get_slot(slot, n), opt.get_slot(slot, n))
    before = {n: np.asarray(s.value) for n, s in states.items()}
    g = {n: jnp.full(s.value.shape, 0.5) for n, s in states.items()}
    twin.update(g)
    after_twin = {n: np.asarray(s.value) for n, s in states.items()}
    for n, s in states.items():
        s.value = jnp.asarray(before[n])
    opt.update(g)
    for n, s in states.items():
        np.testing.assert_array_equal(np.asarray(s.value), after_twin[n])
    assert int(opt.step_count.value) == int(twin.step_count.value) == 13
    with pytest.raises(ValueError, match=f'expected {len(values)} values, got {len(values) - 1}'):
        bp.Adadelta.tree_unflatten(aux, opt.tree_flatten()[0][:-1])
    # register_train_vars later, state_dict / load_state_dict and save_states / load_states into a fresh one
    late = brainstate.ParamState(jnp.ones(3))
    opt.register_train_vars({'late': late})
    opt.update({'w': jnp.ones((3, 4)), 'b': jnp.ones(4), 'late': jnp.ones(3)})
    sd = opt.state_dict()
    path = os.path.join(tempfile.mkdtemp(), 'ada.npz')
    opt.save_states(path)
    for how in ('state_dict', 'states'):
        fresh = bp.Adadelta(lr=0.5, weight_decay=0.1, epsilon=1e-3, rho=0.8,
                            train_vars={n: brainstate.ParamState(jnp.asarray(s.value)) for n, s in
                                        opt.train_vars().items()})
        fresh.load_state_dict(sd, warn=True, compatible='v2') if how == 'state_dict' else \
            fresh.load_states(path, verbose=False)
        for slot in ('square_avg', 'acc_delta'):
            np.testing.assert_array_equal(fresh.get_slot(slot, 'late'), opt.get_slot(slot, 'late'))
        assert int(fresh.step_count.value) == 14      # 12 + the twin check's update + the late one


# -- 003: braintools.optim ------------------------------------------------------------------------------------
def _linear_run(optim, kwargs):
    model = brainstate.nn.Linear(10, 5)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((8, 10)), jnp.float32)
    model.weight.value = {k: jnp.asarray(np.random.default_rng(1).standard_normal(v.shape), jnp.float32) * 0.3
                          for k, v in model.weight.value.items()}
    opt = optim.Adadelta(**kwargs)
    opt.register_trainable_weights(model.states(brainstate.ParamState))
    out = []
    for _ in range(10):
        grads = brainstate.transform.grad(lambda: jnp.mean((model(x) - 1.0) ** 2),
                                          grad_states=model.states(brainstate.ParamState))()
        opt.update(grads)
        out.append({k: np.asarray(v) for k, v in model.weight.value.items()})
    return out


@pytest.mark.parametrize('kwargs', [
    dict(),                                            # optimizer = braintools.optim.Adadelta()
    dict(rho=0.95),                                    # Adadelta with custom rho
    dict(lr=0.5, rho=0.9),                             # with explicit learning rate
    dict(lr=1.0, rho=0.9, eps=1e-06, weight_decay=0.1, grad_clip_norm=0.5, grad_clip_value=None),
    dict(lr=1.0, rho=0.9, eps=1e-3, weight_decay=0.0, grad_clip_norm=None, grad_clip_value=0.01),
], ids=['default', 'rho', 'lr-rho', 'decay-clipnorm', 'eps-clipvalue'])
def test_braintools_page(kwargs):
    """The page's examples on ``brainstate.nn.Linear(10, 5)`` and every constructor argument, against
    braintools.optim (coupled L2 weight decay, global-norm and value clipping)."""
    assert_trajectories_close(_linear_run(brainopt, kwargs), _linear_run(bto, kwargs), rtol=2e-6, atol=1e-7)
