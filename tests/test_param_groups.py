"""Parameter groups: each keeps the optimizer's rule, with its own learning rate, schedule and weight decay.

Golden values: torch.optim 2.13 with the same param groups (``tests/peers.py``
runs one torch optimizer per group configuration here directly).
"""
import brainstate
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import brainopt

from peers import make_problem

SHAPES = (('w', (3, 4)), ('b', (4,)), ('v', (7,)))


@pytest.fixture(scope='module')
def problem():
    return make_problem(seed=3, shapes=SHAPES, steps=12)


def torch_groups(problem, name, groups, **defaults):
    """``groups``: list of (names, overrides); returns the torch trajectory."""
    params = {n: torch.tensor(v, requires_grad=True) for n, v in problem.initial_params().items()}
    opt = getattr(torch.optim, name)([{'params': [params[n] for n in names], **kw} for names, kw in groups],
                                     **defaults)
    traj = []
    for t in range(problem.steps):
        g = problem.grad({n: p.detach().numpy() for n, p in params.items()}, t)
        for n, p in params.items():
            p.grad = torch.tensor(np.asarray(g[n]))
        opt.step()
        traj.append({n: p.detach().numpy().copy() for n, p in params.items()})
    return traj


def brainopt_groups(problem, opt, groups):
    states = {n: brainstate.ParamState(jnp.asarray(v)) for n, v in problem.initial_params().items()}
    (first, _), rest = groups[0], groups[1:]
    opt.register_trainable_weights({n: states[n] for n in first})
    for names, kw in rest:
        opt.add_param_group({n: states[n] for n in names}, **kw)
    traj = []
    for t in range(problem.steps):
        g = problem.grad({n: np.asarray(s.value) for n, s in states.items()}, t)
        opt.update({n: jnp.asarray(v) for n, v in g.items()})
        traj.append({n: np.asarray(s.value) for n, s in states.items()})
    return traj


def assert_close(a, b):
    for x, y in zip(a, b):
        for k in y:
            np.testing.assert_allclose(x[k], y[k], rtol=2e-6, atol=1e-7, err_msg=k)


CASES = [
    ('SGD', dict(lr=0.1, momentum=0.9), [(['w'], {}), (['b', 'v'], dict(lr=0.01))]),
    ('SGD', dict(lr=0.1, weight_decay=0.1), [(['w', 'v'], {}), (['b'], dict(lr=0.3, weight_decay=0.0))]),
    ('Adam', dict(lr=0.05), [(['w'], {}), (['b'], dict(lr=0.2)), (['v'], dict(lr=0.001, weight_decay=0.2))]),
    ('AdamW', dict(lr=0.05, weight_decay=0.1), [(['w', 'b'], {}), (['v'], dict(weight_decay=0.5))]),
    ('Adagrad', dict(lr=0.1), [(['v'], {}), (['w', 'b'], dict(lr=0.5))]),
]


@pytest.mark.parametrize('name,defaults,groups', CASES, ids=[c[0] for c in CASES])
def test_groups_equal_torch(problem, name, defaults, groups):
    expected = torch_groups(problem, name, groups, **defaults)
    actual = brainopt_groups(problem, getattr(brainopt, name)(**defaults), groups)
    assert_close(actual, expected)


def test_group_runs_the_optimizers_rule_not_adam(problem):
    """braintools.optim runs added groups with Adam whatever the optimizer; here SGD stays SGD."""
    groups = [(['w'], {}), (['b', 'v'], dict(lr=0.2))]
    sgd = brainopt_groups(problem, brainopt.SGD(lr=0.1), groups)
    expected = torch_groups(problem, 'SGD', groups, lr=0.1)
    assert_close(sgd, expected)
    adam = torch_groups(problem, 'Adam', groups, lr=0.1)
    assert not np.allclose(sgd[-1]['b'], adam[-1]['b'], rtol=1e-3)


def test_torch_style_dict_and_per_group_schedule(problem):
    """A group's lr may be any callable of the step: torch's LambdaLR on that group only."""
    params = {n: torch.tensor(v, requires_grad=True) for n, v in problem.initial_params().items()}
    topt = torch.optim.SGD([{'params': [params['w'], params['b']]}, {'params': [params['v']], 'lr': 0.2}], lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(topt, [lambda e: 1.0, lambda e: 0.5 ** e])
    expected = []
    for t in range(problem.steps):
        g = problem.grad({n: p.detach().numpy() for n, p in params.items()}, t)
        for n, p in params.items():
            p.grad = torch.tensor(np.asarray(g[n]))
        topt.step()
        sched.step()
        expected.append({n: p.detach().numpy().copy() for n, p in params.items()})

    states = {n: brainstate.ParamState(jnp.asarray(v)) for n, v in problem.initial_params().items()}
    opt = brainopt.SGD(lr=0.1).register_trainable_weights({'w': states['w'], 'b': states['b']})
    opt.add_param_group({'params': {'v': states['v']}, 'lr': lambda step: 0.2 * 0.5 ** step})
    actual = []
    for t in range(problem.steps):
        g = problem.grad({n: np.asarray(s.value) for n, s in states.items()}, t)
        opt.update({n: jnp.asarray(v) for n, v in g.items()})
        actual.append({n: np.asarray(s.value) for n, s in states.items()})
    assert_close(actual, expected)
    assert [g['params'] for g in opt.param_groups] == [['w', 'b'], ['v']]


def test_set_lr_of_one_group_and_checkpoint_keeps_it():
    a, b = brainstate.ParamState(jnp.ones(2)), brainstate.ParamState(jnp.ones(2))
    opt = brainopt.SGD(lr=0.1).register_trainable_weights({'a': a}).add_param_group({'b': b}, lr=0.2)
    opt.set_lr(0.05, group=1)
    a2, b2 = brainstate.ParamState(jnp.ones(2)), brainstate.ParamState(jnp.ones(2))
    fresh = brainopt.SGD(lr=0.1).register_trainable_weights({'a': a2}).add_param_group({'b': b2}, lr=0.2)
    fresh.load_state_dict(opt.state_dict())
    assert [g['lr'] for g in fresh.param_groups] == [0.1, 0.05]
    fresh.update({'a': jnp.ones(2), 'b': jnp.ones(2)})
    np.testing.assert_allclose(np.asarray(b2.value), 1 - 0.05, rtol=1e-7)  # 1 - f32(0.05) = f32(0.95), 1.3e-8 off


def test_group_errors_name_the_problem():
    a, b = brainstate.ParamState(jnp.ones(2)), brainstate.ParamState(jnp.ones(2))
    opt = brainopt.Adam(lr=0.1).register_trainable_weights({'a': a})
    with pytest.raises(ValueError, match=r"a group may set 'lr' and 'weight_decay' only, got \['betas'\]"):
        opt.add_param_group({'params': {'b': b}, 'betas': (0.5, 0.9)})
    with pytest.raises(ValueError, match='weight_decay'):
        opt.add_param_group({'b': b}, weight_decay=-1.0)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        opt.add_param_group({'b': b}, lr=-0.1)
    with pytest.raises(ValueError, match="path 'a' is already registered"):
        opt.add_param_group({'a': brainstate.ParamState(jnp.ones(2))})
    assert len(opt.param_groups) == 1 and opt.param_groups[0]['params'] == ['a']
    with pytest.raises(IndexError, match='group must be an index below 1'):
        opt.set_lr(0.1, group=1)


def test_group_weight_decay_reaches_a_rule_that_decays_itself(problem):
    """Lamb applies weight_decay inside its trust ratio (the rule decays, not the engine): each group's own
    coefficient is the one applied, with weight_decay_exclude still honoured. Golden: optax.lamb run on each
    group's parameters separately (Lamb is per tensor, so groups are independent)."""
    import optax
    groups = [(['w'], {}), (['b', 'v'], dict(weight_decay=0.5))]
    ours = brainopt_groups(problem, brainopt.Lamb(lr=0.05, weight_decay=0.01, weight_decay_exclude=['v']),
                           groups)
    params = {n: jnp.asarray(v) for n, v in problem.initial_params().items()}
    txs = {'w': optax.lamb(0.05, weight_decay=0.01), 'b': optax.lamb(0.05, weight_decay=0.5),
           'v': optax.lamb(0.05, weight_decay=0.0)}
    opt_states = {n: tx.init(params[n]) for n, tx in txs.items()}
    expected = []
    for t in range(problem.steps):
        g = problem.grad({n: np.asarray(v) for n, v in params.items()}, t)
        for n, tx in txs.items():
            u, opt_states[n] = tx.update(jnp.asarray(g[n]), opt_states[n], params[n])
            params[n] = optax.apply_updates(params[n], u)
        expected.append({n: np.asarray(v) for n, v in params.items()})
    assert_close(ours, expected)
    # the group's coefficient matters: with the optimizer-wide 0.01 'b' would end elsewhere
    same = brainopt_groups(problem, brainopt.Lamb(lr=0.05, weight_decay=0.01, weight_decay_exclude=['v']),
                           [(['w'], {}), (['b', 'v'], {})])
    assert np.max(np.abs(same[-1]['b'] - ours[-1]['b'])) > 1e-3
