"""Units across the whole catalogue: every optimizer's lr dimension, physical fits, Quantity epsilons and schedules.

The golden facts here are physical, not a peer's numbers:

* with a Quantity learning rate the rule runs in SI units, so a parameter stored in mV and the same parameter
  stored in V follow the same physical trajectory (to float32 round-off) for EVERY optimizer of the table: the
  test trains both side by side in one optimizer (one compiled step per row);
* a Quantity epsilon is the same epsilon whatever the parameter's storage unit: ``eps = 1e-3 / u.mV`` on a
  parameter in mV equals the float ``1e-3`` there, and equals the float ``1.0`` on the parameter stored in V;
* a Quantity-valued schedule is the schedule's formula (written here in numpy) in physical units.

Optimizers whose lr has no dimension that fits, so that a Quantity lr is refused (docs/units.md): RAdam (its
first steps are lr * m, later ones lr * m / sqrt(v)), LBFGS with ``scale_init_precond=False`` (its two-loop
recursion adds gradients to steps), Ftrl with a ``learning_rate_power`` whose double is not an integer, and
LBFGS's line search (it chooses the step length).
"""
import brainstate
import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest

import brainopt
from brainopt import units

from table import OPTIMIZERS
from ulps import assert_ulp_close, cross_program_ulps

START = [-50.0, -52.0, -49.0]
TARGET = -51.0


#: rules with a relative step (a dimensionless lr) whose row lr moves a -50 mV parameter by several mV a step,
#: or whose epsilon, now in SI units (Adadelta's 1e-6 V^2), sets a step of about 1 mV
#: (LBFGS's first step, min(1, 1/|g|_1) * lr * g, is a pure number taken in SI units: 0.001 V)
PHYSICAL_LR = {'Adadelta': 0.1, 'Fromage': 0.005, 'Prodigy': 0.05, 'LBFGS': 0.001}
NO_DIMENSION = {'RAdam'}


def _physical_lr(info):
    """A Quantity lr of the dimension the row's rule needs, for a parameter in mV (same number as the row's lr)."""
    rule = info.make().rule
    want = units.expected_lr_unit(rule.lr_unit, u.mV)
    value = PHYSICAL_LR.get(info.name, info.kwargs.get('lr', 0.01))
    value = value if isinstance(value, float) else 0.01
    return u.Quantity(value) if want is None else value * want, want


def _kwargs(info):
    # decoupled decay (p - p * wd * lr) needs a dimensionless lr: the rows that decay that way train without it
    if info.make().weight_decay_mode == 'decoupled':
        return {'weight_decay': 0.0}
    return {}


@pytest.mark.parametrize('info', OPTIMIZERS, ids=repr)
def test_quantity_lr_is_physical_for_every_optimizer(info):
    """Right dimension: accepted, and mV and V storage land on the same physical values. Wrong: a clear error."""
    if info.make().rule.lr_unit is None:
        assert info.name in NO_DIMENSION
        with pytest.raises(TypeError, match='does not declare the dimension of its learning rate'):
            info.make(lr=0.01 * u.mV).register_trainable_weights({'a': brainstate.ParamState(jnp.ones(2) * u.mV)})
        return
    lr, want = _physical_lr(info)
    # the wrong dimension: named parameter, its unit, the rule and the unit it needs
    wrong = 0.01 * u.ms if want is not None else 0.01 * u.mV
    with pytest.raises(ValueError) as e:
        info.make(lr=wrong, **_kwargs(info)).register_trainable_weights(
            {'a': brainstate.ParamState(jnp.asarray(START) * u.mV)})
    msg = str(e.value)
    assert "parameter 'a' in mV" in msg and str(wrong.unit) in msg, msg
    assert (f'needs an lr in {want}' if want is not None else 'needs an lr without dimension') in msg, msg

    a = brainstate.ParamState(jnp.asarray(START) * u.mV)                       # stored in mV
    b = brainstate.ParamState((jnp.asarray(START) * u.mV).to(u.volt))          # the same values, stored in V
    opt = info.make(lr=lr, **_kwargs(info)).register_trainable_weights({'a': a, 'b': b})

    def loss():
        return jnp.sum(((a.value - TARGET * u.mV) / u.mV) ** 2) + jnp.sum(((b.value - TARGET * u.mV) / u.mV) ** 2)

    grad = brainstate.transform.grad(loss, grad_states={'a': a, 'b': b}, return_value=True)
    _, first = grad()
    for _ in range(6):
        g, last = grad()
        info.update(opt, g, lambda: grad()[0])
    assert a.value.unit == u.mV and b.value.unit == u.volt
    in_mv_a, in_mv_b = np.asarray(a.value.to_decimal(u.mV)), np.asarray(b.value.to_decimal(u.mV))
    assert_ulp_close(in_mv_b, in_mv_a, cross_program_ulps(6), err_msg=info.name)   # V vs mV: two programs, 6 steps
    assert not np.allclose(in_mv_a, START), f'{info.name} did not move'
    assert float(loss()) < float(first), f'{info.name}: {float(first)} -> {float(loss())}'


def test_every_rule_declares_its_units():
    """Each slot's unit and the lr's dimension are declared (the engine refuses a Quantity lr otherwise);
    a rule whose accumulators are reported must report them for every slot it keeps."""
    opts = [info.make() for info in OPTIMIZERS] + [brainopt.SAM(brainopt.Adam()), brainopt.LBFGS()]
    for opt in opts:
        rule = opt.rule
        assert rule.lr_unit is not None or type(opt).__name__ in NO_DIMENSION, type(rule).__name__
        assert set(rule.slots) <= set(rule.slot_units), (type(rule).__name__, rule.slots, rule.slot_units)
    assert brainopt.LBFGS(scale_init_precond=False).rule.lr_unit is None
    with pytest.raises(TypeError, match='does not declare the dimension of its learning rate'):
        brainopt.LBFGS(lr=1.0 * u.mV, scale_init_precond=False).register_trainable_weights(
            {'a': brainstate.ParamState(jnp.ones(2) * u.mV)})
    with pytest.raises(ValueError, match="a Quantity lr .* with linesearch='strong_wolfe' is not supported"):
        brainopt.LBFGS(lr=u.Quantity(1.0), linesearch='strong_wolfe').register_trainable_weights(
            {'a': brainstate.ParamState(jnp.ones(2) * u.mV)})


def test_lbfgs_quantity_lr_without_line_search_is_physical():
    a = brainstate.ParamState(jnp.asarray(START) * u.mV)
    b = brainstate.ParamState((jnp.asarray(START) * u.mV).to(u.volt))
    opt = brainopt.LBFGS(lr=u.Quantity(0.5)).register_trainable_weights({'a': a})
    opt.add_param_group({'b': b})

    def loss():
        return jnp.sum(((a.value - TARGET * u.mV) / u.mV) ** 2) + jnp.sum(((b.value - TARGET * u.mV) / u.mV) ** 2)

    grad = brainstate.transform.grad(loss, grad_states={'a': a, 'b': b})
    for _ in range(5):
        opt.update(grad())
    # the parameter in V and the one in mV are two programs: 5 steps apart at most
    assert_ulp_close(np.asarray(b.value.to_decimal(u.mV)), np.asarray(a.value.to_decimal(u.mV)), cross_program_ulps(5))
    # torch's first step, min(1, 1/|g|_1) * lr * g, is a pure number: with a physical lr it is taken in SI units
    # (here 0.5 V); the quasi-Newton steps after it are in the parameter's unit
    assert np.all(np.isfinite(np.asarray(a.value.mantissa))) and not np.allclose(np.asarray(a.value.mantissa), START)


# -- Quantity epsilons ---------------------------------------------------------------------------------------
def _adam_run(stored_unit, eps, lr=0.1, steps=4, cls=brainopt.Adam, **kw):
    p = brainstate.ParamState((jnp.asarray(START) * u.mV).to(stored_unit))
    opt = cls(lr=lr, eps=eps, **kw).register_trainable_weights({'p': p})
    grad = brainstate.transform.grad(lambda: jnp.sum(((p.value - TARGET * u.mV) / u.mV) ** 2), grad_states={'p': p})
    for _ in range(steps):
        opt.update(grad())
    return np.asarray(p.value.to_decimal(stored_unit)), opt


def test_quantity_eps_is_converted_to_each_parameters_unit():
    # eps that matters: gradients are ~2 per mV, eps of 1 per mV changes the Adam step visibly
    in_mv, opt = _adam_run(u.mV, 1.0 / u.mV)
    np.testing.assert_array_equal(in_mv, _adam_run(u.mV, 1.0)[0])                   # the float in the stored unit
    assert 'eps=Quantity(1., "1 / mV")' in repr(opt)
    in_v, _ = _adam_run(u.volt, 1.0 / u.mV, lr=1e-4)                               # 1/mV = 1e3 / V
    np.testing.assert_array_equal(in_v, _adam_run(u.volt, 1e3, lr=1e-4)[0])
    assert not np.allclose(in_mv, _adam_run(u.mV, 0.0)[0], rtol=1e-4)
    # with a Quantity lr the rule runs in SI units, eps too: the same physical fit in mV and in V
    phys_mv, _ = _adam_run(u.mV, 1.0 / u.mV, lr=0.1 * u.mV)
    phys_v, _ = _adam_run(u.volt, 1.0 / u.mV, lr=0.1 * u.mV)
    # V vs mV storage, and a Quantity lr vs a float one, are two programs each: 4 steps apart at most
    assert_ulp_close(phys_v * 1e3, phys_mv, cross_program_ulps(4))
    assert_ulp_close(phys_mv, in_mv, cross_program_ulps(4))
    # an epsilon under the root is in the gradient's unit squared (Adagrad inside, RMSprop inside, SM3)
    inside, _ = _adam_run(u.mV, 0.5 / u.mV ** 2, cls=brainopt.Adagrad, eps_placement='inside')
    np.testing.assert_array_equal(inside, _adam_run(u.mV, 0.5, cls=brainopt.Adagrad, eps_placement='inside')[0])
    # a wrapper takes the epsilon of its template
    def lookahead(lr, eps):
        return brainopt.Lookahead(brainopt.Adam(lr=lr, eps=eps), sync_period=2)
    np.testing.assert_array_equal(_adam_run(u.mV, 1.0 / u.mV, cls=lookahead)[0],
                                  _adam_run(u.mV, 1.0, cls=lookahead)[0])
    # a plain parameter takes a dimensionless Quantity
    w = brainstate.ParamState(jnp.ones(3))
    brainopt.Adam(eps=u.Quantity(1e-8)).register_trainable_weights({'w': w}).update({'w': jnp.ones(3)})


def test_quantity_eps_of_the_wrong_dimension_names_the_parameter_and_both_units():
    v = brainstate.ParamState(jnp.asarray(START) * u.mV)
    g = brainstate.ParamState(jnp.ones(2) * u.nS)
    opt = brainopt.Adam(eps=1e-8 / u.mV)
    with pytest.raises(ValueError, match=r"eps=1.e-08 1 / mV does not fit parameter 'g' in nS: eps must be in "
                                         r"(1 / nS|Gohm)"):        # brainunit writes 1/nS as Gohm
        opt.register_trainable_weights({'v': v, 'g': g})
    assert opt.param_paths == [] and opt.slots['exp_avg'].value == {}              # nothing registered
    with pytest.raises(ValueError, match=r"eps=.* does not fit parameter 'v' in mV: eps must be in 1 / mV\^2"):
        brainopt.RMSprop(eps=1e-8 / u.mV, eps_placement='inside').register_trainable_weights({'v': v})
    with pytest.raises(ValueError, match="does not fit parameter 'w' in no unit: eps must be dimensionless"):
        brainopt.Adam(eps=1e-8 / u.mV).register_trainable_weights({'w': brainstate.ParamState(jnp.ones(2))})
    with pytest.raises(TypeError, match=r'Adadelta: eps must be a number, got .*a Quantity is accepted for no '
                                        r'hyperparameter of AdadeltaRule'):
        brainopt.Adadelta(eps=1e-6 / u.mV)       # inside both roots: in G^2 and in P^2 at once, no one unit
    with pytest.raises(ValueError, match='eps must be >= 0'):
        brainopt.Adam(eps=-1e-8 / u.mV)


# -- Quantity-valued schedules ---------------------------------------------------------------------------------
def test_quantity_schedule_is_a_physical_lr():
    """StepLR(base_lr=0.02 mV^2): SGD's steps are lr(t) * dL/dv in mV, whichever unit v is stored in (numpy)."""
    runs = {}
    for stored in (u.mV, u.volt):
        v = brainstate.ParamState((jnp.asarray(START) * u.mV).to(stored))
        sched = brainopt.StepLR(base_lr=0.02 * u.mV ** 2, step_size=2, gamma=0.5, stepping='update')
        opt = brainopt.SGD(lr=sched).register_trainable_weights({'v': v})
        grad = brainstate.transform.grad(lambda: jnp.sum(((v.value - TARGET * u.mV) / u.mV) ** 2),
                                         grad_states={'v': v})
        for _ in range(5):
            opt.update(grad())
        runs[stored] = np.asarray(v.value.to_decimal(u.mV))
        assert sched.unit == u.mV ** 2 and 'in SI units of mV^2' in repr(sched)
    x = np.asarray(START, np.float64)                       # the formula, in mV: lr_t = 0.02 * 0.5 ** (t // 2)
    for t in range(5):
        x = x - 0.02 * 0.5 ** (t // 2) * 2 * (x - TARGET)
    # float32 vs the float64 formula: 5 damped steps of ~4 roundings at |x| ~ 50, a few ulps (rtol 1e-6 is 8-16 ulps)
    np.testing.assert_allclose(runs[u.mV], x, rtol=1e-6)
    np.testing.assert_allclose(runs[u.volt], x, rtol=1e-6)      # in V, plus 2 unit conversions: likewise
    v = brainstate.ParamState(jnp.asarray(START) * u.mV)
    with pytest.raises(ValueError, match=r"StepLR.* does not fit parameter 'v' in mV: SGDRule needs an lr in mV\^2"):
        brainopt.SGD(lr=brainopt.StepLR(base_lr=0.02 * u.mV, step_size=2)).register_trainable_weights({'v': v})
    with pytest.raises(ValueError, match='must share one dimension'):
        brainopt.CosineAnnealingLR(base_lr=0.02 * u.mV ** 2, T_max=10, eta_min=0.001 * u.ms)


# -- accumulators show their unit; switching lr kind carries them over -----------------------------------------
def test_printed_accumulators_show_their_unit():
    v = brainstate.ParamState(jnp.asarray(START) * u.mV)
    tau = brainstate.ParamState(jnp.asarray(10.0) * u.ms)
    w = brainstate.ParamState(jnp.ones(2))
    opt = brainopt.Adam(lr=0.1, use_ema=True).register_trainable_weights({'v': v, 'tau': tau, 'w': w})
    text = repr(opt.slots['exp_avg_sq'])
    assert "'v': float32[3] in 1 / mV^2" in text and "'tau': float32[] in 1 / ms^2" in text, text
    assert "'w': float32[2]\n" in text or "'w': float32[2]," in text, text
    assert "'v': float32[3] in mV" in repr(opt.ema)
    phys = brainopt.Adadelta(lr=u.Quantity(1.0)).register_trainable_weights({'v': v})
    assert "'v': float32[3] in V^2" in str(phys.slots['acc_delta'])           # in SI: the rule runs in SI units


def test_switching_to_a_quantity_lr_carries_the_accumulators_over():
    """Adam's step is scale-free: lr=0.1 on numbers in mV is lr=0.1 mV. Switching mid-run to the Quantity (the rule
    then runs in SI units) must continue exactly as if nothing changed (eps=0 so that eps's unit plays no part)."""
    def run(switch):
        v = brainstate.ParamState(jnp.asarray(START) * u.mV)
        opt = brainopt.Adam(lr=0.1, eps=0.0).register_trainable_weights({'v': v})
        grad = brainstate.transform.grad(lambda: jnp.sum(((v.value - TARGET * u.mV) / u.mV) ** 2),
                                         grad_states={'v': v})
        for t in range(6):
            if t == 3 and switch:
                opt.lr = 0.1 * u.mV
            opt.update(grad())
        return np.asarray(v.value.mantissa), opt
    plain, _ = run(False)
    switched, opt = run(True)
    # the runs share their first 3 steps; after the switch they are two programs: 3 steps apart at most
    assert_ulp_close(switched, plain, cross_program_ulps(3))
    assert opt.get_slot('exp_avg_sq', 'v').unit == u.volt ** -2
