"""Values that arrive after construction are checked where they arrive (issue 32, "Nothing silently wrong").

A state dict loaded into an optimizer, the values loaded into a schedule, the metric given to
``ReduceLROnPlateau.step`` and the loss returned by LBFGS's ``value_fn`` are each refused with an error that
names the entry or argument, before anything changes: States are bit-identical after the failed call, and the
next correct call gives what an untouched twin gives.
"""
import brainstate
import jax.numpy as jnp
import numpy as np
import pytest

import brainopt
from brainopt import schedules as bs

from ulps import bits


def states_of(node):
    return bits({k: s.value for k, s in brainstate.graph.states(node).items()})


# -- 1. optimizer.load_state_dict: counters ------------------------------------------------------------------
GRADS = [{'w': jnp.array([0.5, -1.0, 2.0])}, {'w': jnp.array([1.0, 0.25, -0.5])}]


def _opt(sched=None):
    w = brainstate.ParamState(jnp.array([1.0, 2.0, 3.0]))
    sched = bs.StepLR(0.1, step_size=1, gamma=0.5) if sched is None else sched
    opt = brainopt.Adam(lr=sched, gradient_accumulation_steps=2, skip_nonfinite=True)
    return w, opt.register_trainable_weights({'w': w}), sched


def _run(w, opt, sched, grads):
    for g in grads:
        opt.update(g)
        sched.step(0.5) if isinstance(sched, bs.ReduceLROnPlateau) else sched.step()
    return w


def _set(key, value):
    def mutate(d):
        d[key] = value
    mutate.__name__ = key
    return mutate


def _set_schedule(key, value):
    def mutate(d):
        d['schedule']['0'][key] = value
    mutate.__name__ = f'schedule_{key}'
    return mutate


COUNTER_CASES = [
    (None, _set('step_count', np.asarray(-1, np.int32)), "['step_count'] must be a non-negative integer count, got -1"),
    (None, _set('accum_count', np.asarray(-1, np.int32)),
     "['accum_count'] must be a non-negative integer count, got -1"),
    (None, _set('accum_count', np.asarray(2, np.int32)),
     "['accum_count'] must be < gradient_accumulation_steps (2), got 2"),
    (None, _set('skipped_steps', np.asarray(-3, np.int32)),
     "['skipped_steps'] must be a non-negative integer count, got -3"),
    (None, _set_schedule('last_epoch', np.asarray(-5, np.int32)),
     "['schedule']['0']: StepLR.load_state_values: 'last_epoch' must be an integer >= 0"),
    (lambda: bs.ReduceLROnPlateau(0.1), _set_schedule('best', np.asarray(np.nan, np.float32)),
     "['schedule']['0']: ReduceLROnPlateau.load_state_values: 'best' must not be NaN"),
    (lambda: bs.ReduceLROnPlateau(0.1), _set_schedule('num_bad_epochs', np.asarray(-1, np.int32)),
     "ReduceLROnPlateau.load_state_values: 'num_bad_epochs' must be an integer >= 0, got -1"),
]


@pytest.mark.parametrize('make_sched,mutate,message', COUNTER_CASES,
                         ids=[m.__name__ + ('' if s is None else '-plateau') + ('-2' if '< grad' in msg else '')
                              for s, m, msg in COUNTER_CASES])
def test_load_state_dict_checks_counters_and_changes_nothing(make_sched, mutate, message):
    sched_a = make_sched() if make_sched else None
    w, opt, sched = _opt(sched_a)
    d = opt.state_dict()
    mutate(d)
    tw, twin, tsched = _opt(make_sched() if make_sched else None)
    _run(w, opt, sched, GRADS[:1])
    _run(tw, twin, tsched, GRADS[:1])
    before = (states_of(opt), states_of(sched), bits(w.value))
    with pytest.raises(brainopt.CheckpointError) as e:
        opt.load_state_dict(d)
    assert message in str(e.value) and str(e.value).endswith('nothing was loaded'), str(e.value)
    assert (states_of(opt), states_of(sched), bits(w.value)) == before
    _run(w, opt, sched, GRADS[1:])
    _run(tw, twin, tsched, GRADS[1:])
    assert bits(w.value) == bits(tw.value) and states_of(opt) == states_of(twin)


def test_load_state_dict_still_accepts_a_valid_dict():
    w, opt, sched = _opt()
    _run(w, opt, sched, GRADS)
    _, fresh, fresh_sched = _opt()
    fresh.load_state_dict(opt.state_dict())
    assert states_of(fresh) == states_of(opt) and states_of(fresh_sched) == states_of(sched)


# -- 2. schedule.load_state_values -----------------------------------------------------------------------------
SCHEDULES = {
    'StepLR': lambda: bs.StepLR(0.1, step_size=2),
    'CosineAnnealingLR': lambda: bs.CosineAnnealingLR(0.1, T_max=10),
    'SequentialLR': lambda: bs.SequentialLR([bs.WarmupScheduler(0.1, 3), bs.CosineAnnealingLR(0.1, T_max=10)], [3]),
    'MultiplicativeLR': lambda: bs.MultiplicativeLR(1.0, lambda k: 0.5),
    'ReduceLROnPlateau': lambda: bs.ReduceLROnPlateau(0.1, patience=1),
}


def _values(sched, **changes):
    v = {k: np.asarray(x) for k, x in sched.state_values().items()}
    v.update(changes)
    return v


@pytest.mark.parametrize('name', list(SCHEDULES))
@pytest.mark.parametrize('epoch', [-5, -1, 0, 3])
def test_load_last_epoch_follows_the_constructors_rule(name, epoch):
    sched = SCHEDULES[name]()
    before = states_of(sched)
    try:
        type(sched)(**{**sched.get_config(), 'last_epoch': epoch})
        constructor_ok = True
    except (TypeError, ValueError):
        constructor_ok = False
    values = _values(sched, last_epoch=np.asarray(epoch, np.int32))
    if constructor_ok:
        sched.load_state_values(values)
        assert int(sched.last_epoch.value) == epoch
    else:
        with pytest.raises(ValueError, match=rf"{name}.load_state_values: 'last_epoch' must be an integer >= 0 .*"
                                             rf"got {epoch}; nothing was loaded"):
            sched.load_state_values(values)
        assert states_of(sched) == before


@pytest.mark.parametrize('value,message', [
    (-5, "'last_epoch' must be an integer >= 0"),
    (3.5, "'last_epoch' must be an integer (int32), got 3.5 (float)"),
    (True, "'last_epoch' must be an integer (int32), got True (bool)"),
    (2 ** 40, "'last_epoch' must fit in int32"),
])
def test_load_python_last_epoch(value, message):
    sched = bs.StepLR(0.1)
    sched.step()
    before = states_of(sched)
    with pytest.raises(ValueError) as e:
        sched.load_state_values({'last_epoch': value})
    assert str(e.value).startswith('StepLR.load_state_values: ') and message in str(e.value)
    assert states_of(sched) == before


@pytest.mark.parametrize('key,value,message', [
    ('best', np.float32(np.nan), "'best' must not be NaN"),
    ('num_bad_epochs', np.int32(-1), "'num_bad_epochs' must be an integer >= 0, got -1"),
    ('cooldown_counter', np.int32(-2), "'cooldown_counter' must be an integer >= 0, got -2"),
    ('lr', np.float32(np.nan), "'lr' must be a finite learning rate >= 0 (as base_lr), got nan"),
    ('lr', np.float32(-0.1), "'lr' must be a finite learning rate >= 0 (as base_lr), got -0.1"),
    ('last_epoch', np.int32(-5), "'last_epoch' must be an integer >= 0"),
])
def test_load_plateau_state_checks_each_entry(key, value, message):
    sched, twin = bs.ReduceLROnPlateau(0.1, patience=1), bs.ReduceLROnPlateau(0.1, patience=1)
    for s in (sched, twin):
        s.step(1.0)
        s.step(2.0)
    before = states_of(sched)
    with pytest.raises(ValueError) as e:
        sched.load_state_values(_values(sched, **{key: np.asarray(value)}))
    assert str(e.value).startswith('ReduceLROnPlateau.load_state_values: ') and message in str(e.value)
    assert states_of(sched) == before
    for s in (sched, twin):
        s.step(3.0)
    assert states_of(sched) == states_of(twin)


def test_load_plateau_accepts_its_own_values_and_infinite_best():
    sched = bs.ReduceLROnPlateau(0.1, mode='max')
    sched.load_state_values(_values(sched))             # best = -inf: "nothing seen yet"
    sched.step(0.3)
    saved = _values(sched)
    other = bs.ReduceLROnPlateau(0.1, mode='max')
    other.load_state_values(saved)
    assert states_of(other) == states_of(sched)


def test_multiplicative_lr_refuses_a_nan_lr():
    sched = bs.MultiplicativeLR(1.0, lambda k: 0.5)
    before = states_of(sched)
    with pytest.raises(ValueError, match=r"MultiplicativeLR.load_state_values: 'lr' must not be NaN"):
        sched.load_state_values(_values(sched, lr=np.asarray(np.nan, np.float32)))
    assert states_of(sched) == before


# -- 3. ReduceLROnPlateau.step(metric) -------------------------------------------------------------------------
@pytest.mark.parametrize('metric,error,message', [
    ('abc', TypeError, "got 'abc' (str)"),
    (True, TypeError, 'got True (bool)'),
    (1j, TypeError, 'got 1j (complex)'),
    ([0.5], TypeError, 'got [0.5] (list)'),
    (np.array('x'), TypeError, 'got an array of dtype <U1'),
    (jnp.ones(2), ValueError, 'the metric must be a scalar, got shape (2,)'),
    (np.ones((1,), np.float32), ValueError, 'the metric must be a scalar, got shape (1,)'),
], ids=['str', 'bool', 'complex', 'list', 'str-array', 'vector', 'shape-1'])
def test_plateau_step_checks_the_metric_and_changes_nothing(metric, error, message):
    sched, twin = bs.ReduceLROnPlateau(0.1, patience=0), bs.ReduceLROnPlateau(0.1, patience=0)
    for s in (sched, twin):
        s.step(1.0)
    before = states_of(sched)
    with pytest.raises(error) as e:
        sched.step(metric)
    assert str(e.value).startswith('ReduceLROnPlateau.step(metric): the metric must be') and message in str(e.value)
    assert states_of(sched) == before
    for s in (sched, twin):
        s.step(2.0)
    assert states_of(sched) == states_of(twin)


def test_plateau_step_takes_numbers_arrays_and_traced_scalars():
    sched, twin = bs.ReduceLROnPlateau(0.1, patience=0), bs.ReduceLROnPlateau(0.1, patience=0)
    for m in (1.0, 2, np.float32(0.5), jnp.asarray(0.25, jnp.bfloat16), np.int64(3)):
        sched.step(m)
    step = brainstate.transform.jit(lambda m: twin.step(m))
    for m in (1.0, 2.0, 0.5, 0.25, 3.0):
        step(jnp.float32(m))
    assert states_of(sched) == states_of(twin)


def test_plateau_nan_metric_is_a_bad_epoch():
    """As in torch: NaN is not an improvement; best stays, the bad-epoch count grows (no state becomes NaN)."""
    sched, twin = bs.ReduceLROnPlateau(0.1, patience=5), bs.ReduceLROnPlateau(0.1, patience=5)
    for s in (sched, twin):
        s.step(0.5)
    sched.step(float('nan'))
    twin.step(7.0)                      # a worse metric
    assert states_of(sched) == states_of(twin)
    assert float(sched.best.value) == 0.5 and int(sched.num_bad_epochs.value) == 1


# -- 4. LBFGS value_fn -----------------------------------------------------------------------------------------
def _lbfgs():
    w = brainstate.ParamState(jnp.array([1.0, 2.0, 3.0]))
    return w, brainopt.LBFGS(linesearch='strong_wolfe').register_trainable_weights({'w': w})


@pytest.mark.parametrize('kind', ['value_fn', 'value_fn-with-value', 'value'])
def test_lbfgs_value_fn_must_return_a_scalar(kind):
    w, opt = _lbfgs()
    tw, twin = _lbfgs()
    vector = lambda: w.value ** 2                       # noqa: E731
    kwargs = {'value_fn': vector if kind.startswith('value_fn') else (lambda: jnp.sum(w.value ** 2))}
    if kind == 'value_fn-with-value':
        kwargs['value'] = jnp.float32(14.0)
    elif kind == 'value':
        kwargs['value'] = jnp.ones(3)
    before = (states_of(opt), bits(w.value))
    what = 'value must be' if kind == 'value' else 'value_fn must return'
    with pytest.raises(ValueError, match=rf'^LBFGS.update: {what} a scalar loss, got an array of shape \(3,\)'):
        opt.update({'w': 2 * w.value}, **kwargs)
    assert (states_of(opt), bits(w.value)) == before
    opt.update({'w': 2 * w.value}, value_fn=lambda: jnp.sum(w.value ** 2))
    twin.update({'w': 2 * tw.value}, value_fn=lambda: jnp.sum(tw.value ** 2))
    assert bits(w.value) == bits(tw.value) and states_of(opt) == states_of(twin)


def test_lbfgs_value_fn_checked_inside_jit():
    w, opt = _lbfgs()
    step = brainstate.transform.jit(lambda: opt.update({'w': 2 * w.value}, value_fn=lambda: w.value ** 2))
    with pytest.raises(ValueError, match=r'LBFGS.update: value_fn must return a scalar loss, got an array of shape'):
        step()


# -- a callable lr, and a State that holds no array ------------------------------------------------------------
def test_a_zero_argument_callable_lr_is_refused_at_construction_with_the_step_form():
    """brainopt calls a callable lr as lr(step); Keras's zero-argument form failed at the first update with
    '<lambda>() takes 0 positional arguments but 1 was given'. brainopt.keras still accepts it."""
    with pytest.raises(TypeError) as e:
        brainopt.Adam(lr=lambda: 0.1)
    assert 'Adam' in str(e.value) and 'lr(step)' in str(e.value) and 'lambda step' in str(e.value), str(e.value)
    import brainopt.keras as bk
    w = brainstate.ParamState(jnp.ones(2))
    bk.SGD(learning_rate=lambda: 0.1).register_trainable_weights({'w': w}).update({'w': jnp.ones(2)})
    np.testing.assert_array_equal(np.asarray(w.value), np.float32(1) - np.float32(0.1))


@pytest.mark.parametrize('returned,words', [('abc', ['real number', "'abc'"]), (None, ['real number', 'None']),
                                            (1 + 2j, ['real number']), (np.ones(2), ['real scalar', '(2,)'])])
def test_a_callable_lr_that_returns_no_real_number_is_refused_naming_lr(returned, words):
    w = brainstate.ParamState(jnp.ones(2))
    opt = brainopt.SGD(lr=lambda step: returned).register_trainable_weights({'w': w})
    before = np.asarray(w.value).copy()
    with pytest.raises(TypeError) as e:
        opt.update({'w': jnp.ones(2)})
    message = str(e.value)
    assert 'SGD: lr(step)' in message, message
    for word in words:
        assert word in message, message
    np.testing.assert_array_equal(np.asarray(w.value), before)
    assert int(opt.step_count.value) == 0


def test_a_state_that_holds_no_array_is_refused_naming_its_path():
    """Before: numpy's "data type 'hello' not understood", no path."""
    opt = brainopt.SGD(lr=0.1)
    with pytest.raises(TypeError) as e:
        opt.register_trainable_weights({'w': brainstate.ParamState(jnp.ones(2)),
                                        'name': brainstate.ParamState('hello')})
    assert "'name'" in str(e.value) and "'hello'" in str(e.value) and 'nothing was registered' in str(e.value)
    assert opt.param_paths == []
