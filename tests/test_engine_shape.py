"""The shape of the engine (issue 30, "pass, don't patch"), checked on the source: what the issue's proof greps for.

Each test is the issue's grep, so that a change that brings the habit back fails here, with the places named.
"""
import copy
import math
import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainopt
from brainopt.rules.base import AfterParam, Rule
from brainopt.transforms import weight_decay

from table import OPTIMIZERS
from ulps import bits

ROOT = pathlib.Path(brainopt.__file__).parent


def _grep(pattern):
    rx = re.compile(pattern)
    return [f'{p.relative_to(ROOT)}:{i}: {line.strip()}' for p in sorted(ROOT.rglob('*.py'))
            for i, line in enumerate(p.read_text().splitlines(), 1) if rx.search(line)]


def test_the_rule_is_assigned_once_in_optimizer_init():
    """A dialect chooses its form of the rule through Optimizer._dialect_rule, before anything reads the rule; no
    class replaces self.rule after super().__init__ (which left slots, unit checks and decay modes built for the
    rule it replaced)."""
    found = _grep(r'self\.rule\s*=[^=]')
    assert len(found) == 1 and found[0].startswith('optimizer.py:'), found


def test_a_dialect_rule_is_the_one_the_engine_built_around():
    import brainopt.brainpy as bp
    import brainopt.keras as keras
    for opt, flag in [(keras.Adam(), 'keras'), (keras.SGD(momentum=0.9), 'lr_in_buffer'),
                      (keras.RMSprop(momentum=0.9), 'lr_in_buffer'), (keras.Adafactor(), 'cap_lr'),
                      (keras.Adamax(), 'keras'), (bp.Momentum(0.1), 'lr_in_buffer'), (bp.Adam(0.1), 'keras'),
                      (bp.LARS(0.1), 'brainpy'), (bp.Adan(0.1), 'paper_diff_weight')]:
        assert getattr(opt.rule, flag) is True, (type(opt), flag)
        assert set(opt.slots) == set(opt.rule.slots), type(opt)
    muon = keras.Muon(rms_rate=0.3)
    assert muon.rule.adam.keras is True and muon.rule.rms_rate == 0.3
    lars = bp.LARS(0.1, weight_decay=1e-3)
    assert lars.weight_decay_mode == 'rule' and lars.weight_decay == 1e-3


def test_the_loss_scale_division_is_written_once():
    """brainopt/transforms/loss_scale.py divides; the engine, SAM and L-BFGS call it."""
    found = [f for f in _grep(r'/\s*(jnp\.asarray\()?self\.loss_scale_factor|/\s*jnp\.asarray\(factor')]
    assert found == ['transforms/loss_scale.py:16: return jax.tree.map(lambda x: x / jnp.asarray(factor, '
                     'jnp.result_type(x)), tree)'], found
    callers = {f.split(':')[0] for f in _grep(r'loss_scale\.unscale\(')}
    assert callers == {'optimizer.py', 'optimizers/sam.py', 'optimizers/lbfgs.py'}, callers


def test_weight_decay_has_one_owner():
    """transforms/weight_decay.py decides how decay is applied (its Plan); the engine and the wrappers hand it the
    mode and the per-leaf coefficients and never test the mode themselves; no rule is told its coefficients by
    an attribute written while tracing."""
    # (a constructor may still check the argument it was given: AdamW refuses any mode but 'decoupled')
    dispatch = [f for f in _grep(r'self\.weight_decay_mode\s*(==|!=|in\b|not in\b)|decay\.DECOUPLED|_fast_base')
                if not f.startswith('transforms/weight_decay.py')]
    assert not dispatch, dispatch
    assert not _grep(r'leaf_decay\s*='), 'a rule is given its coefficients by assignment'


def test_a_decay_plan_applies_each_mode_where_it_belongs():
    import jax.numpy as jnp
    import numpy as np

    from brainopt.transforms.weight_decay import Plan
    p, g, d, lr = {'a': jnp.float32(2.0), 'b': jnp.float32(3.0)}, {'a': jnp.float32(1.0), 'b': jnp.float32(1.0)}, \
        {'a': jnp.float32(-0.5), 'b': jnp.float32(-0.5)}, jnp.float32(0.1)
    coef = {'a': 0.5}                                         # 'b' excluded

    def f(x):
        return {k: float(v) for k, v in x.items()}
    assert f(Plan('coupled', coef).coupled(g, p)) == {'a': 1.0 + 0.5 * 2.0, 'b': 1.0}
    seen, base = Plan('decoupled', coef).before_rule(p, lr)
    assert seen is p and np.isclose(f(base)['a'], 2.0 - 2.0 * 0.05) and f(base)['b'] == 3.0
    seen, base = Plan('decoupled_first', coef).before_rule(p, lr)
    assert seen is base and np.isclose(f(base)['a'], 1.9)
    _, base = Plan('decoupled_unscaled', coef).before_rule(p, lr)
    assert np.isclose(f(base)['a'], 2.0 - 2.0 * 0.5)
    prox = f(Plan('proximal', coef).after_rule(p, d, lr))
    assert np.isclose(prox['a'], (2.0 - 0.5) / (1 + 0.05) - 2.0) and prox['b'] == -0.5
    assert Plan('rule', coef).in_rule == coef and Plan('coupled', coef).in_rule == {}
    assert Plan('coupled', {}).mode is None                  # nothing decays: no mode at all


def test_no_rule_is_written_after_construction():
    """A Quantity epsilon runs a bound copy of the rule per unit (Rule.bind) instead of setting the rule's
    attribute and restoring it; the only setattr left in brainopt writes a schedule's State or a Deferred's
    operators."""
    found = [f for f in _grep(r'\bsetattr\(') if not f.startswith(('_eager.py', 'schedules/recursive.py',
                                                                    '_optimizer_braintools.py'))]
    assert not found, found


def test_a_quantity_epsilon_leaves_the_rule_as_built():
    import brainstate
    import brainunit as u
    import jax.numpy as jnp
    a = brainstate.ParamState(jnp.array([1.0, 2.0]) * u.mV)
    b = brainstate.ParamState(jnp.array([0.5]) * u.volt)
    template = brainopt.Adam(lr=1e-2, eps=1e-3 / u.mV)
    opt = brainopt.SAM(template, rho=0.01)                      # SAM runs the template's rule object itself
    opt.register_trainable_weights({'a': a, 'b': b})
    eps = template.rule.eps

    def grads():
        return {'a': jnp.array([1.0, -1.0]) / u.mV, 'b': jnp.array([2.0]) / u.volt}
    opt.update(grads(), grad_fn=grads)
    assert template.rule.eps == eps == opt.rule.eps


# -- hyperparameters are arguments ----------------------------------------------------------------------
def _poisoned(rule):
    """A copy of ``rule`` (for its update: its init reads the initial values) whose hyperparameters as attributes
    are NaN: every name in ``hyper_names`` and every float (or tuple of floats) it holds, in the rules it wraps too.
    Integers not in ``hyper_names`` (a sync period, a number of Newton-Schulz steps) are structure and stay."""
    clone = copy.copy(rule)
    for name, value in list(vars(rule).items()):
        if isinstance(value, Rule):
            setattr(clone, name, _poisoned(value))
        elif name in rule.hyper_names or type(value) is float or (
                type(value) is tuple and value and all(type(v) is float for v in value)):
            setattr(clone, name, tuple(math.nan for _ in value) if type(value) is tuple else math.nan)
    return clone


@pytest.mark.parametrize('info', OPTIMIZERS, ids=str)
def test_a_rule_reads_its_hyperparameters_from_its_arguments(info):
    """Issue 30, "hyperparameters as arguments": the engine passes every hyperparameter a rule's update uses in
    ``hyper`` (``rule.hyper()`` unless a step has other values): a copy of the rule whose hyperparameter attributes
    are all NaN computes, given the same ``hyper``, bit for bit what the rule computes (and no NaN)."""
    rule = info.make().rule
    rng = np.random.RandomState(0)
    params = {'w': jnp.asarray(rng.randn(4, 3), jnp.float32), 'b': jnp.asarray(rng.randn(3), jnp.float32)}
    grads = {k: jnp.asarray(rng.randn(*v.shape), jnp.float32) for k, v in params.items()}
    extra = {'decay': weight_decay.Plan(weight_decay.IN_RULE, {k: 0.01 for k in params})} if rule.takes_decay else {}
    count, lr = jnp.asarray(3, jnp.int32), jnp.asarray(0.05, jnp.float32)

    def step(r, hyper):
        deltas, new = r.update(grads, params, rule.init(params), count, lr, hyper, **extra)
        new = {s: {k: v.fn(params[k] + deltas[k]) if isinstance(v, AfterParam) else v for k, v in by_leaf.items()}
               for s, by_leaf in new.items()}        # (a slot computed from the new parameter, as the engine does)
        return jax.tree.map(np.asarray, (deltas, new))
    hyper = rule.hyper()
    expected = step(rule, hyper)
    assert bits(step(_poisoned(rule), hyper)) == bits(expected), \
        f'{info.name}: the update read a hyperparameter from the rule, not from hyper'
    assert not any(np.isnan(v).any() for v in jax.tree.leaves(expected))


def test_a_rule_written_without_hyper_still_runs_and_refuses_a_quantity_epsilon():
    """A user's rule with the signature of before (``update_leaf(grad, param, slots, count, lr)``, reading its own
    attributes) trains as it did; a Quantity epsilon, which could only reach it through ``hyper``, is refused
    with the reason rather than silently ignored."""
    import brainstate
    import brainunit as u

    class OldSGD(Rule):
        lr_unit = (1, -1)
        eps_units = {'eps': (0, 1)}

        def __init__(self, eps=0.0):
            self.eps = eps

        def update_leaf(self, grad, param, slots, count, lr):
            return -lr * grad / (1 + self.eps), {}

    assert not OldSGD().takes_hyper and brainopt.Adam().rule.takes_hyper
    w = brainstate.ParamState(jnp.ones(3))
    opt = brainopt.Optimizer(OldSGD(eps=1.0), lr=0.5).register_trainable_weights({'w': w})
    opt.update({'w': jnp.full(3, 2.0)})
    np.testing.assert_array_equal(np.asarray(w.value), np.full(3, 0.5, np.float32))      # 1 - 0.5 * 2 / 2

    class OldOptimizer(brainopt.Optimizer):
        def __init__(self, lr=0.1, eps=0.0):          # (a subclass's __init__ takes Quantity epsilons)
            super().__init__(OldSGD(eps), lr)

    with pytest.raises(TypeError, match=r'eps given as a Quantity needs a rule whose update takes hyper'):
        OldOptimizer(eps=1e-3 / u.mV)
