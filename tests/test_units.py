"""Physical units: parameters in mV, ms and nS train correctly and keep their units.

The golden fact here is physical, not a peer's number: fitting the same neuron
with the threshold stored in mV and in V, with a Quantity learning rate, must
land on the same physical values (float32 round-off), because the rule then
runs in SI units; the fit's target is known (15 mV, 8 ms).
"""
import brainstate
import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest

import brainopt

from table import OPTIMIZERS
from ulps import assert_ulp_close, cross_program_ulps

T = jnp.linspace(0., 50., 26) * u.ms
V_TRUE, TAU_TRUE = 15.0 * u.mV, 8.0 * u.ms
TARGET = V_TRUE * (1 - jnp.exp(-T / TAU_TRUE))


def fit(opt_cls, lrs, v_unit, steps=200, unit_aware=False, **kw):
    """Fit the amplitude ``v`` (stored in ``v_unit``) and time constant ``tau`` (ms) of a charging curve."""
    v = brainstate.ParamState((10.0 * u.mV).to(v_unit))
    tau = brainstate.ParamState(jnp.asarray(12.0) * u.ms)
    opt = opt_cls(lr=lrs[0], **kw).register_trainable_weights({'v': v})
    opt.add_param_group({'tau': tau}, lr=lrs[1])

    def loss():
        y = v.value * (1 - jnp.exp(-T / tau.value))
        return jnp.mean(((y - TARGET) / u.mV) ** 2)

    grad = brainstate.transform.grad(loss, grad_states={'v': v, 'tau': tau}, return_value=True,
                                     unit_aware=unit_aware)
    _, first = grad()
    for _ in range(steps):
        grads, last = grad()
        opt.update(grads)
    return v.value, tau.value, float(first), float(last), opt


PHYSICAL = [
    (brainopt.SGD, (0.02 * u.mV ** 2, 0.5 * u.ms ** 2)),       # step = lr * dL/dp: lr in P^2
    (brainopt.Adam, (0.3 * u.mV, 0.3 * u.ms)),                 # step = lr * m / sqrt(v): lr in P
    (brainopt.Adagrad, (2.0 * u.mV, 2.0 * u.ms)),              # lr in P
    (brainopt.Adadelta, (u.Quantity(1.0), u.Quantity(1.0))),   # the ratio of roots is already in P
]


@pytest.mark.parametrize('cls,lrs', PHYSICAL, ids=[c.__name__ for c, _ in PHYSICAL])
def test_same_physical_fit_in_mV_and_in_V(cls, lrs):
    v_mv, tau_a, first, last, _ = fit(cls, lrs, u.mV)
    v_v, tau_b, _, _, _ = fit(cls, lrs, u.volt)
    assert v_mv.unit == u.mV and v_v.unit == u.volt and tau_a.unit == u.ms
    # the run in V and the run in mV are two programs: 200 steps apart at most
    assert_ulp_close(np.float32(v_v.to_decimal(u.mV)), np.float32(v_mv.to_decimal(u.mV)), cross_program_ulps(200))
    assert_ulp_close(np.float32(tau_b.to_decimal(u.ms)), np.float32(tau_a.to_decimal(u.ms)), cross_program_ulps(200))
    assert last < 0.9 * first


@pytest.mark.parametrize('cls,lrs', PHYSICAL[1:3], ids=['Adam', 'Adagrad'])
def test_physical_fit_reaches_the_target(cls, lrs):
    v, tau, *_ = fit(cls, lrs, u.volt)
    np.testing.assert_allclose(float(v.to_decimal(u.mV)), 15.0, rtol=1e-4)
    np.testing.assert_allclose(float(tau.to_decimal(u.ms)), 8.0, rtol=1e-4)


def test_a_float_lr_is_in_the_stored_unit():
    """The documented meaning of a plain float: a step of 0.3 in whatever unit the parameter is stored in."""
    v_mv, *_ = fit(brainopt.Adam, (0.3, 0.3), u.mV, steps=1)
    v_v, *_ = fit(brainopt.Adam, (0.3, 0.3), u.volt, steps=1)
    # one Adam step = lr (m / sqrt(v) = 1 but for eps / |g| < 1e-8): float32 p + lr, within 2 ulps (< rtol 1e-6)
    np.testing.assert_allclose(float(v_mv.to_decimal(u.mV)), 10.3, rtol=1e-6)
    np.testing.assert_allclose(float(v_v.to_decimal(u.volt)), 0.01 + 0.3, rtol=1e-6)    # likewise: within 2 ulps


def test_unit_aware_gradients_give_the_same_fit():
    a = fit(brainopt.Adam, PHYSICAL[1][1], u.mV, steps=20, unit_aware=False)
    b = fit(brainopt.Adam, PHYSICAL[1][1], u.mV, steps=20, unit_aware=True)
    # unit-aware and plain gradients are two programs: 20 steps apart at most
    assert_ulp_close(np.float32(a[0].to_decimal(u.mV)), np.float32(b[0].to_decimal(u.mV)), cross_program_ulps(20))
    assert_ulp_close(np.float32(a[1].to_decimal(u.ms)), np.float32(b[1].to_decimal(u.ms)), cross_program_ulps(20))


@pytest.fixture(params=OPTIMIZERS, ids=repr)
def info(request):
    return request.param


def _mixed_states():
    return {'v_th': brainstate.ParamState(jnp.asarray([-50.0, -52.0, -49.0]) * u.mV),
            'g': brainstate.ParamState(jnp.asarray([1.0, 2.0]) * u.nS),
            'w': brainstate.ParamState(jnp.asarray([0.5, -0.5, 0.25]))}


def _loss(states):
    def f():
        v = states['v_th'].value / u.mV
        g = states['g'].value / u.nS
        w = states['w'].value
        return jnp.sum((v + 51.0) ** 2) * 1e-2 + jnp.sum((g - 1.5) ** 2) + jnp.sum(jnp.tanh(w) ** 2) + \
            jnp.sum(v[:2] * g) * 1e-3
    return f


def test_unit_aware_true_trains_every_optimizer_like_unit_aware_false(info):
    runs = []
    for unit_aware in (False, True):
        states = _mixed_states()
        opt = info.make().register_trainable_weights(states)
        grad = brainstate.transform.grad(_loss(states), grad_states=states, unit_aware=unit_aware)
        for _ in range(5):
            info.update(opt, grad(), grad)
        runs.append(states)
    for k in runs[0]:
        a, b = runs[0][k].value, runs[1][k].value
        assert u.get_unit(a) == u.get_unit(b) == u.get_unit(_mixed_states()[k].value), k
        # unit-aware and plain gradients are two programs: 5 steps apart at most
        assert_ulp_close(np.asarray(u.get_mantissa(a)), np.asarray(u.get_mantissa(b)), cross_program_ulps(5), err_msg=k)
    assert not np.allclose(np.asarray(u.get_mantissa(runs[0]['v_th'].value)), [-50.0, -52.0, -49.0])


def test_units_survive_ema_swap_and_checkpoint(tmp_path):
    states = _mixed_states()
    opt = brainopt.Adam(lr=0.1, use_ema=True).register_trainable_weights(states)
    grad = brainstate.transform.grad(_loss(states), grad_states=states)
    for _ in range(3):
        opt.update(grad())
    with opt.ema_weights():
        assert states['v_th'].value.unit == u.mV and states['g'].value.unit == u.nS
    assert opt.get_slot('ema', 'v_th').unit == u.mV
    brainopt.save_checkpoint(tmp_path / 'c.npz', model=states, optimizer=opt)
    fresh = _mixed_states()
    fresh_opt = brainopt.Adam(lr=0.1, use_ema=True).register_trainable_weights(fresh)
    brainopt.load_checkpoint(tmp_path / 'c.npz', model=fresh, optimizer=fresh_opt)
    assert fresh['v_th'].value.unit == u.mV and fresh['g'].value.unit == u.nS
    np.testing.assert_array_equal(np.asarray(fresh['v_th'].value.mantissa), np.asarray(states['v_th'].value.mantissa))


def test_accumulators_carry_their_true_unit():
    states = _mixed_states()
    opt = brainopt.Adam(lr=0.1).register_trainable_weights(states)
    opt.update(brainstate.transform.grad(_loss(states), grad_states=states)())
    assert opt.get_slot('exp_avg', 'v_th').unit == u.mV ** -1            # d loss / d v_th
    assert opt.get_slot('exp_avg_sq', 'v_th').unit == u.mV ** -2
    assert opt.get_slot('exp_avg_sq', 'g').unit == u.nS ** -2
    assert not isinstance(opt.get_slot('exp_avg_sq', 'w'), u.Quantity)
    assert 'mV^-2' in repr(opt.get_slot('exp_avg_sq', 'v_th')) or '1 / mV^2' in repr(opt.get_slot('exp_avg_sq', 'v_th'))
    ada = brainopt.Adadelta().register_trainable_weights(_mixed_states())
    assert ada.get_slot('acc_delta', 'g').unit == u.nS ** 2              # squared steps: in the parameter's unit^2
    # with a Quantity lr the rule runs in SI units, and its accumulators are in SI
    v = brainstate.ParamState(jnp.asarray([-50.0]) * u.mV)
    phys = brainopt.Adam(lr=1.0 * u.mV).register_trainable_weights({'v': v})
    phys.update({'v': jnp.ones(1) * u.mV})
    assert phys.get_slot('exp_avg_sq', 'v').unit == u.volt ** -2
    # (1 - b2) g^2 with g = 1e3 / V: two float32 roundings, within 2 ulps (< rtol 1e-6)
    np.testing.assert_allclose(np.asarray(phys.get_slot('exp_avg_sq', 'v').mantissa), (1e3) ** 2 * 1e-3, rtol=1e-6)


# -- errors ------------------------------------------------------------------------------------------
def test_lr_of_the_wrong_dimension_names_the_parameter_and_both_units():
    states = _mixed_states()
    with pytest.raises(ValueError) as e:
        brainopt.Adam(lr=0.1 * u.mV).register_trainable_weights({'v_th': states['v_th'], 'g': states['g']})
    msg = str(e.value)
    assert "'g'" in msg and 'nS' in msg and 'mV' in msg and 'Adam' in msg
    with pytest.raises(ValueError, match=r"parameter 'v_th' in mV: SGDRule needs an lr in mV\^2 \(or another unit"):
        brainopt.SGD(lr=0.1 * u.mV).register_trainable_weights({'v_th': states['v_th']})
    opt = brainopt.Adam(lr=0.1).register_trainable_weights({'v_th': states['v_th']})
    with pytest.raises(ValueError, match="does not fit parameter 'v_th'"):
        opt.lr = 1.0 * u.ms
    assert opt.lr == 0.1


def test_gradient_of_a_foreign_unit_is_refused():
    states = _mixed_states()
    opt = brainopt.Adam(lr=0.1).register_trainable_weights(states)
    before = np.asarray(states['v_th'].value.mantissa)
    with pytest.raises(ValueError, match=r"gradient for 'v_th' has unit mV\^2, which does not belong to a parameter "
                                         r"in mV: expected mV .* or 1/mV"):
        opt.update({'v_th': jnp.ones(3) * u.mV ** 2, 'g': jnp.ones(2) * u.nS, 'w': jnp.ones(3)})
    np.testing.assert_array_equal(np.asarray(states['v_th'].value.mantissa), before)
    assert int(opt.step_count.value) == 0


def test_decoupled_decay_with_a_dimensional_lr_is_refused():
    v = brainstate.ParamState(jnp.asarray([-50.0]) * u.mV)
    with pytest.raises(ValueError, match='decoupled weight decay .* needs a dimensionless lr'):
        brainopt.AdamW(lr=0.1 * u.mV).register_trainable_weights({'v': v})


SHARED = [dict(grad_clip_value=0.5), dict(grad_clip_norm=0.5), dict(grad_clip_norm_per_param=0.5),
          dict(weight_decay=0.1), dict(weight_decay=0.1, weight_decay_mode='decoupled'),
          dict(use_ema=True, ema_overwrite_frequency=2), dict(gradient_accumulation_steps=2),
          dict(loss_scale_factor=8.0), dict(skip_nonfinite=True),
          dict(lr='schedule')]


@pytest.mark.parametrize('options', SHARED, ids=lambda o: ','.join(o))
def test_every_shared_option_trains_quantities_and_keeps_units(options):
    """Each option equals the same run on plain arrays holding the same numbers (its meaning on the numbers as
    stored), and the units stay."""
    runs = []
    for with_units in (True, False):
        states = _mixed_states()
        if not with_units:
            states = {k: brainstate.ParamState(u.get_mantissa(s.value)) for k, s in states.items()}
        kw = {'lr': 0.1, **options}
        if kw['lr'] == 'schedule':                  # one schedule per optimizer
            kw['lr'] = brainopt.ExponentialLR(base_lr=0.1, gamma=0.5, stepping='update')
        opt = brainopt.Adam(**kw).register_trainable_weights(states)
        grad = brainstate.transform.grad(_loss(_mixed_states_like(states)), grad_states=states)
        for _ in range(4):
            opt.update(grad())
        runs.append(states)
    for k, s in runs[0].items():
        assert u.get_unit(s.value) == u.get_unit(_mixed_states()[k].value)
        # Quantities and plain arrays are two programs: 4 steps apart at most
        assert_ulp_close(np.asarray(u.get_mantissa(s.value)), np.asarray(runs[1][k].value), cross_program_ulps(4),
                         err_msg=k)


def _mixed_states_like(states):
    """A view of ``states`` through which _loss reads Quantities, whether the States hold units or numbers."""
    units = {'v_th': u.mV, 'g': u.nS, 'w': None}

    class View:
        def __init__(self, s, unit):
            self.s, self.unit = s, unit

        @property
        def value(self):
            v = self.s.value
            return v if self.unit is None or isinstance(v, u.Quantity) else v * self.unit

    return {k: View(s, units[k]) for k, s in states.items()}
