"""What a user assigns to a built optimizer is used, or refused with a clear error; never silently ignored
(issue 21, first part).

- torch's idiom ``for g in opt.param_groups: g['lr'] = ...`` (manual warm-up and decay) and
  ``g['weight_decay'] = ...``: golden values from torch.optim 2.13 doing the same mid-run;
- shared options (``opt.weight_decay = ...``, ``opt.grad_clip_norm = ...``): refused, naming the option and how to
  get it, nothing changed (they were ignored by every compiled step, the eager one included);
- a learning rate or weight decay changed after a compiled step traced the optimizer:
  tests/test_live_hyperparameters.py.
"""

import brainstate
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import brainopt
from brainopt._optimizer_braintools import FIXED_OPTIONS

W0 = np.array([1.0, -2.0, 0.5], np.float32)
B0 = np.array([0.25, 3.0], np.float32)


def _grads(t):
    return {'w': np.cos(np.arange(3, dtype=np.float32) + t), 'b': np.sin(np.arange(2, dtype=np.float32) - t)}


def _torch(name, defaults, groups, change, steps=6, at=3):
    params = {'w': torch.tensor(W0, requires_grad=True), 'b': torch.tensor(B0, requires_grad=True)}
    opt = getattr(torch.optim, name)([{'params': [params[n] for n in names], **kw} for names, kw in groups],
                                     **defaults)
    for t in range(steps):
        if t == at:
            for i, key, value in change:
                opt.param_groups[i][key] = value
        for n, g in _grads(t).items():
            params[n].grad = torch.tensor(g)
        opt.step()
    return {n: p.detach().numpy() for n, p in params.items()}


def _brainopt(name, defaults, groups, change, steps=6, at=3):
    states = {'w': brainstate.ParamState(jnp.asarray(W0)), 'b': brainstate.ParamState(jnp.asarray(B0))}
    opt = getattr(brainopt, name)(**defaults)
    (first, _), rest = groups[0], groups[1:]
    opt.register_trainable_weights({n: states[n] for n in first})
    for names, kw in rest:
        opt.add_param_group({n: states[n] for n in names}, **kw)
    for t in range(steps):
        if t == at:
            for i, key, value in change:
                opt.param_groups[i][key] = value
        opt.update({n: jnp.asarray(g) for n, g in _grads(t).items()})
    return {n: np.asarray(s.value) for n, s in states.items()}


CASES = [
    ('SGD', dict(lr=0.1, momentum=0.9), [(['w'], {}), (['b'], dict(lr=0.01))], [(1, 'lr', 0.5)]),
    ('SGD', dict(lr=0.1, weight_decay=0.1), [(['w'], {}), (['b'], {})], [(0, 'lr', 0.02), (1, 'weight_decay', 0.7)]),
    ('Adam', dict(lr=0.05), [(['w', 'b'], {})], [(0, 'lr', 0.2)]),
    ('AdamW', dict(lr=0.05, weight_decay=0.1), [(['w'], {}), (['b'], {})], [(1, 'weight_decay', 0.0)]),
]


@pytest.mark.parametrize('name,defaults,groups,change', CASES, ids=[c[0] for c in CASES])
def test_param_groups_assignment_equals_torch(name, defaults, groups, change):
    ours, theirs = _brainopt(name, defaults, groups, change), _torch(name, defaults, groups, change)
    for n in theirs:
        # six float32 steps, a few roundings each, |p| <= 3: well within 2e-6 relative (~16 ulps)
        np.testing.assert_allclose(ours[n], theirs[n], rtol=2e-6, atol=1e-7, err_msg=n)


@pytest.mark.parametrize('option', sorted(FIXED_OPTIONS))
def test_a_shared_option_assigned_after_construction_is_refused(option):
    w = brainstate.ParamState(jnp.asarray(W0))
    opt = brainopt.SGD(lr=0.1, weight_decay=0.1).register_trainable_weights({'w': w})
    opt.update({'w': jnp.ones(3)})
    before = getattr(opt, option)
    with pytest.raises(AttributeError) as e:
        setattr(opt, option, 0.5)
    message = str(e.value)
    assert f'SGD.{option} cannot be changed after construction' in message and 'state_dict()' in message, message
    assert getattr(opt, option) is before
    opt.update({'w': jnp.ones(3)})
    # two plain SGD steps with decay 0.1 (coupled, as torch): p <- p - 0.1 * (1 + 0.1 p), twice
    p = W0.astype(np.float64)
    for _ in range(2):
        p = p - 0.1 * (1.0 + 0.1 * p)
    np.testing.assert_allclose(np.asarray(w.value), p, rtol=1e-6)


def test_other_param_group_changes_are_refused():
    opt = brainopt.SGD(lr=0.1).register_trainable_weights({'w': brainstate.ParamState(jnp.ones(2))})
    group = opt.param_groups[0]
    with pytest.raises(KeyError, match=r"param_groups\[0\]\['nesterov'\] cannot be assigned: .*'dampening', "
                                       r"'momentum'\] \(every group's\)"):
        group['nesterov'] = True
    with pytest.raises(AttributeError, match='momentum=0.9 cannot be assigned to a built optimizer: it changes the '
                                             'accumulators'):
        group['momentum'] = 0.9          # plain SGD keeps no buffer
    group['dampening'] = 0.5             # the optimizer's: every group shows it
    assert opt.param_groups[0]['dampening'] == 0.5
    with pytest.raises(TypeError, match='cannot be removed'):
        del group['lr']
    with pytest.raises(ValueError, match='weight_decay'):
        group['weight_decay'] = -1.0
    assert opt.param_groups[0]['weight_decay'] == 0.0
    group.update(lr=0.3)
    assert float(opt.lr) == 0.3


@pytest.mark.parametrize('cls_name', ['Adam', 'AdamW', 'SGD', 'RMSprop', 'Adafactor', 'Lion', 'Ftrl'])
def test_keras_constructor_arguments_take_effect_or_are_refused_and_learning_rate_is_live(cls_name):
    """In brainopt.keras an assigned ``beta_1`` or ``clipnorm`` made an attribute that no update read. Now each
    constructor argument assigned to a built optimizer gives bit for bit the optimizer built with it, or is refused
    naming it (a value the constructor refuses too, or one that changes what the optimizer keeps)."""
    import inspect

    import brainopt.keras as K
    cls = getattr(K, cls_name)
    names = [n for n in inspect.signature(cls.__init__).parameters
             if n not in ('self', 'learning_rate', 'name', 'kwargs')] + ['clipnorm', 'global_clipnorm', 'clipvalue']
    grads = {'w': jnp.asarray([0.5, -2.0])}

    def built(**kw):
        w = brainstate.ParamState(jnp.asarray([1.0, 1.0]))
        opt = cls(learning_rate=0.1, **kw)
        opt.register_trainable_weights({'w': w})
        return w, opt
    taken = []
    for name in names:
        w, opt = built()
        try:
            setattr(opt, name, 0.3)
        except (AttributeError, TypeError, ValueError) as e:
            assert name in str(e), f'{cls_name}.{name} = 0.3: {e}'
            continue
        opt.update(grads)
        w_ref, ref = built(**{name: 0.3})
        ref.update(grads)
        np.testing.assert_array_equal(np.asarray(w.value), np.asarray(w_ref.value), err_msg=name)
        taken.append(name)
    assert taken, f'no argument of keras.{cls_name} could be assigned'
    if cls_name == 'SGD':
        w, opt = built()
        opt.update({'w': jnp.ones(2)})
        opt.learning_rate = 0.5
        opt.update({'w': jnp.ones(2)})
        np.testing.assert_allclose(np.asarray(w.value), [1 - 0.6] * 2, rtol=1e-6)     # 1 - 0.1 - 0.5


@pytest.mark.parametrize('make,name', [
    (lambda: brainopt.SAM(brainopt.Adam(lr=0.1)), 'rho'), (lambda: brainopt.SAM(brainopt.Adam(lr=0.1)), 'adaptive'),
    (lambda: brainopt.LBFGS(), 'linesearch'), (lambda: brainopt.LBFGS(), 'max_linesearch_steps'),
    (lambda: brainopt.Adam(), 'rule'), (lambda: __import__('brainopt.keras').keras.Muon(), 'adam_weight_decay'),
    (lambda: __import__('brainopt.keras').keras.Adafactor(), 'relative_step'),
    (lambda: __import__('brainopt.brainpy').brainpy.Adan(lr=0.1), 'no_prox'),
], ids=['SAM.rho', 'SAM.adaptive', 'LBFGS.linesearch', 'LBFGS.max_linesearch_steps', 'rule', 'keras.Muon',
        'keras.Adafactor', 'brainpy.Adan'])
def test_a_class_attribute_its_step_is_built_from_is_refused(make, name):
    """Issue 21's audit: attributes of an optimizer class's own that its compiled steps capture (SAM's radius,
    L-BFGS's line search, the rule itself) were assignable and then ignored by every compiled step."""
    opt = make()
    before = getattr(opt, name)
    with pytest.raises(AttributeError, match=f'{name} cannot be changed after construction'):
        setattr(opt, name, 0.5)
    assert getattr(opt, name) is before
