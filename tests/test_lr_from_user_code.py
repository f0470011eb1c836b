"""A learning rate computed by user code that is negative or not finite (issue 32, "Nothing silently wrong").

A float lr and brainopt's own schedules are checked at construction. A callable of the step, or a schedule that
calls a function it was given (``LambdaLR``, ``MultiplicativeLR``, ``CyclicLR(scale_fn=...)``, a composite
of such parts, a subclass defined outside brainopt), computes its value inside the step, where it is checked
(``docs/conventions.md``, "What a callable learning rate may return"):

* eagerly, ``opt.update`` raises a ValueError naming ``lr`` and the value, and changes nothing;
* inside ``brainstate.transform.jit``, ``UpdateInfo.finite`` is False, so ``skip_nonfinite=True`` skips the
  step (and counts it in ``skipped_steps``).

Every row of the contract table, first given every construction that issue 32's table refuses (with the same
schedule, which stays free), then: a good update, a refused one (model and optimizer bit-identical), and the
next good update bit-identical to that of an optimizer that never saw a bad rate.
"""
import math

import brainstate
import jax.numpy as jnp
import numpy as np
import pytest

import brainopt
from brainopt import schedules as bs

from table import OPTIMIZERS
from test_nonfinite_hyperparams import optimizer_cases
from ulps import bits

BAD = (-0.1, math.nan, math.inf)
GRADS = [{'w': jnp.asarray([[0.5, -1.0], [2.0, 0.25], [-0.5, 1.5]], jnp.float32), 'b': jnp.asarray([0.3, -0.2])},
         {'w': jnp.asarray([[1.0, 0.25], [-0.5, 0.75], [0.1, -2.0]], jnp.float32), 'b': jnp.asarray([-0.4, 0.6])}]


def bad_at(step, value):
    """A LambdaLR whose rate is ``value`` at update ``step`` and 0.05 elsewhere."""
    return bs.LambdaLR(1.0, lambda k: jnp.where(k == step, jnp.float32(value), jnp.float32(0.05)), stepping='update')


def good():
    return bs.LambdaLR(1.0, lambda k: jnp.where(k < 0, jnp.float32(0.0), jnp.float32(0.05)), stepping='update')


def model():
    rng = np.random.RandomState(0)
    return {'w': brainstate.ParamState(jnp.asarray(rng.randn(3, 2), jnp.float32)),
            'b': brainstate.ParamState(jnp.asarray(rng.randn(2), jnp.float32))}


def snapshot(params, opt):
    return bits(({k: s.value for k, s in params.items()}, opt.state_dict()))


def expect_refusal(update, value):
    with pytest.raises(ValueError) as excinfo:
        update()
    message = str(excinfo.value)
    shown = f'{value:g}'
    assert ' lr (' in message and f'gave {shown} at step 1' in message, message
    assert 'must be a finite number >= 0' in message and 'unchanged' in message, message


@pytest.mark.parametrize('i', range(len(OPTIMIZERS)), ids=[i.name for i in OPTIMIZERS])
def test_every_row_refuses_a_bad_rate_eagerly_and_changes_nothing(i):
    info = OPTIMIZERS[i]
    value = BAD[i % len(BAD)]
    sched = bad_at(1, value)
    for arg, v in optimizer_cases(info):          # every refused construction, given this schedule
        if arg != 'lr':
            with pytest.raises((ValueError, TypeError)):
                info.make(**{arg: v, 'lr': sched})
    assert sched.attached_optimizer is None
    params, twin_params = model(), model()
    opt = info.make(lr=sched).register_trainable_weights(params)
    twin = info.make(lr=good()).register_trainable_weights(twin_params)
    info.update(opt, GRADS[0])
    info.update(twin, GRADS[0])
    before = snapshot(params, opt)
    assert before == snapshot(twin_params, twin)
    expect_refusal(lambda: info.update(opt, GRADS[1]), value)
    assert snapshot(params, opt) == before, f'{info.name}: the refused update changed something'
    opt.lr = good()
    info.update(opt, GRADS[1])
    info.update(twin, GRADS[1])
    assert snapshot(params, opt) == snapshot(twin_params, twin)


def test_a_plain_callable_and_parameter_groups_are_named():
    w, b = brainstate.ParamState(jnp.ones(2)), brainstate.ParamState(jnp.ones(2))
    opt = brainopt.SGD(lr=0.1).register_trainable_weights({'w': w})
    opt.add_param_group({'b': b}, lr=lambda step: -0.5 * step)
    opt.update({'w': jnp.ones(2), 'b': jnp.ones(2)})         # step 0: -0.0 is >= 0
    before = snapshot({'w': w, 'b': b}, opt)
    with pytest.raises(ValueError, match=r'SGD.update: the lr of parameter group 1 \(<function .*\) gave -0.5 '
                                         r'at step 1; a learning rate must be a finite number >= 0'):
        opt.update({'w': jnp.ones(2), 'b': jnp.ones(2)})
    assert snapshot({'w': w, 'b': b}, opt) == before


def test_inside_jit_a_bad_rate_is_not_finite_and_skip_nonfinite_skips_it():
    params, twin_params = model(), model()
    opt = brainopt.Adam(lr=bad_at(1, math.nan), skip_nonfinite=True).register_trainable_weights(params)
    twin = brainopt.Adam(lr=good(), skip_nonfinite=True).register_trainable_weights(twin_params)

    @brainstate.transform.jit
    def step(g):
        return opt.update(g)

    @brainstate.transform.jit
    def twin_step(g):
        return twin.update(g)

    assert bool(step(GRADS[0]).applied)
    twin_step(GRADS[0])
    before = bits({k: s.value for k, s in params.items()})
    info = step(GRADS[1])
    assert not bool(info.finite) and not bool(info.applied) and math.isnan(float(info.lr))
    assert bits({k: s.value for k, s in params.items()}) == before
    assert int(opt.skipped_steps.value) == 1 and int(opt.step_count.value) == 1
    # the skipped step changed nothing: with a good schedule (the same compiled step traces again on its next
    # call: a new schedule is a new program, issue 21) the run goes on exactly as the twin's
    opt.lr = good()
    step(GRADS[1])
    twin_step(GRADS[1])
    assert bits({k: s.value for k, s in params.items()}) == bits({k: s.value for k, s in twin_params.items()})


def test_inside_jit_without_skip_nonfinite_the_step_reports_not_finite():
    w = brainstate.ParamState(jnp.ones(2))
    opt = brainopt.SGD(lr=lambda step: -0.1).register_trainable_weights({'w': w})
    info = brainstate.transform.jit(lambda: opt.update({'w': jnp.ones(2)}))()
    assert not bool(info.finite)                    # the documented signal; the step was applied as asked
    np.testing.assert_array_equal(np.asarray(w.value), np.float32(1.0) + np.float32(0.1))


def test_lbfgs_with_line_search_refuses_eagerly_and_changes_nothing():
    w = brainstate.ParamState(jnp.asarray([1.0, -2.0, 0.5]))
    opt = brainopt.LBFGS(lr=lambda step: jnp.where(step == 1, jnp.inf, 1.0), linesearch='strong_wolfe')
    opt.register_trainable_weights({'w': w})

    def loss():
        return jnp.sum(w.value ** 2)

    grad = brainstate.transform.grad(loss, grad_states={'w': w})
    opt.update(grad(), value_fn=loss)
    before = snapshot({'w': w}, opt)
    expect_refusal(lambda: opt.update(grad(), value_fn=loss), math.inf)
    assert snapshot({'w': w}, opt) == before


def test_which_schedules_are_checked_at_run_time():
    class Mine(bs.LRScheduler):
        def __call__(self, step):
            return jnp.float32(0.1)

    checked = [bs.LambdaLR(0.1, lambda k: 1.0), bs.MultiplicativeLR(0.1, lambda k: 0.9),
               bs.CyclicLR(0.01, 0.1, step_size_up=2, scale_fn=lambda x: 1.0), Mine(),
               bs.SequentialLR([bs.StepLR(0.1, 2), lambda k: 0.1], milestones=[3])]
    unchecked = [bs.StepLR(0.1, 2), bs.CyclicLR(0.01, 0.1, step_size_up=2), bs.ReduceLROnPlateau(0.1),
                 bs.SequentialLR([bs.StepLR(0.1, 2), bs.ConstantLR(0.1)], milestones=[3])]
    assert all(s.calls_user_code for s in checked)
    assert not any(s.calls_user_code for s in unchecked)
