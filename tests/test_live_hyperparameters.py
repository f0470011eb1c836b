"""What a user assigns to a built optimizer is what the next step uses, compiled or not (issue 21).

A group's learning rate and weight decay live in the optimizer's State ``opt.hyperparams``: a step compiled before
the assignment (``brainstate.transform.jit``, ``brainopt.jit``, a ``for_loop`` inside one, the eager update's own
cache) reads the new number on its next call, without tracing again. The reference for every row of the optimizer
table: an optimizer built with the new value from the start, given the same parameters and accumulators (its
``state_dict()`` loaded), stepped by the same kind of program; the two must agree bit for bit (one program, other
numbers), and the first must differ from an optimizer that kept the old value (so a stale step cannot pass).

Also: changes of the program's structure (a number for a schedule, a schedule for another, a decay turned on,
brainpy's ``set_value``, Keras's ``exclude_from_weight_decay``) take effect on the next call of a compiled step,
which traces again; a learning rate may be a traced value (hypergradients: the derivative of the loss after an
update with respect to the lr, against the derivative by hand for SGD and finite differences for Adam); and a
checkpoint holds the values in force.
"""
import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainopt

from table import OPTIMIZERS

W0 = np.array([[0.5, -1.0, 0.25], [1.5, 0.75, -0.5]], np.float32)
B0 = np.array([0.1, -0.2, 0.3], np.float32)
CONTEXTS = ('eager', 'jit', 'brainopt.jit', 'for_loop')


def grads_at(t):
    return {'w': jnp.asarray(np.cos(np.arange(6, dtype=np.float32).reshape(2, 3) + t)),
            'b': jnp.asarray(np.sin(np.arange(3, dtype=np.float32) - t))}


def build(info, w=W0, b=B0, **kw):
    states = {'w': brainstate.ParamState(jnp.asarray(w)), 'b': brainstate.ParamState(jnp.asarray(b))}
    return states, info.make(**kw).register_trainable_weights(states)


def stepper(info, opt, context):
    """``(step, traces)``: one update in ``context``; ``traces`` grows each time the step is traced."""
    traces = []

    def one(g):
        traces.append(1)
        info.update(opt, g)

    if context == 'eager':
        return (lambda g: info.update(opt, g)), traces
    if context == 'jit':
        return brainstate.transform.jit(one), traces
    if context == 'brainopt.jit':
        return brainopt.jit(one), traces
    looped = brainstate.transform.jit(lambda gs: brainstate.transform.for_loop(one, gs))
    return (lambda g: looped(jax.tree.map(lambda x: x[None], g))), traces


def snapshot(states, opt):
    """The parameters, and the optimizer's state without the values this test changes."""
    d = opt.state_dict()
    for key in ('lr', 'weight_decay', 'options', 'arguments'):
        d.pop(key, None)
    return {k: np.array(s.value) for k, s in states.items()}, d


def memory(states, opt):
    """The parameters, and every State of the optimizer but the hyperparameters (slots, EMA, step count)."""
    return ({k: np.asarray(s.value) for k, s in states.items()},
            jax.tree.map(np.asarray, {path: st.value for path, st in brainstate.graph.states(opt).items()
                                      if path != ('hyperparams',)}))


def continue_from(info, context, params, state, **kw):
    """The reference: an optimizer built with ``kw`` from the start, given the parameters ``params`` and the
    optimizer state ``state`` (:func:`snapshot`), stepped twice (gradients of steps 3 and 4) in ``context``."""
    ref_states, ref = build(info, params['w'], params['b'], **kw)
    ref.load_state_dict(state)
    ref_step, _ = stepper(info, ref, context)
    for t in (3, 4):
        ref_step(grads_at(t))
    return memory(ref_states, ref)


def assert_bitwise(a, b, what):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=what)


def _first_value(info, name):
    base = info.kwargs.get('base_optimizer')
    if name == 'lr':
        return float(info.kwargs['lr'] if 'lr' in info.kwargs else base.lr)
    return float(info.kwargs.get('weight_decay') or 0.01)      # a non-zero decay: changing it changes a number


#: the shared options that are numbers, all on in the optimizers of the row test, with the values assigned later;
#: after the loss scale (2, then 0.5) the gradients' norms are about 0.85 per parameter and 1.1 in all (3.4 and
#: 4.4 after), so every threshold clips before and after
OLD_OPTIONS = dict(grad_clip_norm_per_param=0.6, grad_clip_norm=0.7, grad_clip_value=0.3, loss_scale_factor=2.0,
                   ema_momentum=0.9)
NEW_OPTIONS = dict(grad_clip_norm_per_param=0.8, grad_clip_norm=1.0, grad_clip_value=0.45, loss_scale_factor=0.5,
                   ema_momentum=0.5)


def _spell(info, opt, lr, wd, options):
    """Assign a new lr, group weight decay and shared options, each row with one of the spellings of the lr and
    the decay (all of them over the table)."""
    i = OPTIMIZERS.index(info)
    [lambda: setattr(opt, 'lr', lr), lambda: opt.param_groups[0].__setitem__('lr', lr),
     lambda: opt.set_lr(lr)][i % 3]()
    [lambda: opt.param_groups[0].__setitem__('weight_decay', wd),
     lambda: opt.param_groups[0].update(weight_decay=wd), lambda: setattr(opt, 'weight_decay', wd)][i % 3]()
    for name, value in options.items():
        setattr(opt, name, value)


#: rows on which a new value legitimately changes nothing, and why (the stale comparison is left out there)
NO_EFFECT = {('Rprop', 'lr'): "Rprop reads lr only to start its step sizes (torch's Rprop too)"}
#: brainopt.jit on these rows (one per engine path: the plain, decay-in-rule, wrapper and line-search ones);
#: brainstate.transform.jit, eager and for_loop on every row
BRAINOPT_JIT = ('SGD', 'AdamW-amsgrad', 'Lamb', 'Muon', 'Lookahead-Adam', 'SAM-Adam', 'LBFGS')
ROW_CASES = [(info, context) for info in OPTIMIZERS for context in CONTEXTS
             if context != 'brainopt.jit' or info.name in BRAINOPT_JIT]


@pytest.mark.parametrize('info,context', ROW_CASES, ids=[f'{i.name}-{c}' for i, c in ROW_CASES])
def test_assigned_values_are_used_by_the_next_step_without_tracing_again(info, context):
    """A new learning rate, weight decay and every shared option that is a number (clipping thresholds, loss
    scale, EMA momentum), assigned after three steps of a compiled step, are what its next two steps use (bit for
    bit an optimizer built with them), and nothing traces again."""
    old = {'lr': _first_value(info, 'lr'), 'weight_decay': _first_value(info, 'weight_decay')}
    # a smaller rate, and a decay that flips signs (Rprop sees only signs)
    new = {'lr': old['lr'] * 0.37, 'weight_decay': old['weight_decay'] + 2.0}
    options = info.supported(**OLD_OPTIONS)           # (L-BFGS refuses clipping)
    new_options = info.supported(**NEW_OPTIONS)
    states, opt = build(info, **old, **options, use_ema=True)
    step, traces = stepper(info, opt, context)
    for t in range(3):
        step(grads_at(t))
    params, state = snapshot(states, opt)
    traced, compiled = len(traces), info.cache_sizes(opt)
    _spell(info, opt, new['lr'], new['weight_decay'], new_options)
    for t in (3, 4):
        step(grads_at(t))
    assert len(traces) == traced, f'{info.name}: the {context} step traced again after new values'
    assert info.cache_sizes(opt) == compiled, f'{info.name}: the eager update compiled again after new values'
    assert float(opt.lr) == new['lr'] and opt.param_groups[0]['weight_decay'] == new['weight_decay']
    assert all(getattr(opt, k) == v for k, v in new_options.items())

    def continued(**values):
        return continue_from(info, context, params, state, **{**new_options, **values}, use_ema=True)
    assert_bitwise(memory(states, opt), continued(**new), f'{info.name} {context}')
    if context == 'jit':
        # the comparison can fail: an optimizer that kept either old value ends elsewhere
        ours = memory(states, opt)[0]
        for name in old:
            if (info.name, name) in NO_EFFECT:
                continue
            kept = continued(**{**new, name: old[name]})[0]
            assert any(not np.array_equal(ours[k], kept[k]) for k in ours), \
                f'{info.name}: {name} {old[name]} -> {new[name]} changed nothing: a stale step would pass'


def test_sgd_numbers_by_hand_in_a_compiled_step():
    """The numbers of plain SGD with coupled decay, step by step, as the assignments change them."""
    w = brainstate.ParamState(jnp.zeros(2))
    opt = brainopt.SGD(lr=0.1, weight_decay=0.5).register_trainable_weights({'w': w})
    step, traces = stepper(table_row('SGD'), opt, 'jit')
    g = {'w': jnp.ones(2)}
    p = np.zeros(2)
    for lr, wd in [(0.1, 0.5), (0.5, 0.5), (0.25, 2.0), (0.25, 1e-3)]:
        opt.lr = lr
        opt.param_groups[0]['weight_decay'] = wd
        step(g)
        p = p - lr * (1.0 + wd * p)
        np.testing.assert_allclose(np.asarray(w.value), p, rtol=1e-6)
    assert len(traces) == 1


def table_row(name):
    return next(i for i in OPTIMIZERS if i.name == name)


def test_each_group_reads_its_own_values():
    a, b = brainstate.ParamState(jnp.zeros(2)), brainstate.ParamState(jnp.zeros(2))
    opt = brainopt.SGD(lr=0.1).register_trainable_weights({'a': a})
    opt.add_param_group({'b': b}, lr=0.2, weight_decay=0.5)
    assert set(opt.hyperparams.value) == {'lr', 'lr[1]', 'weight_decay[1]'}
    step = brainopt.jit(lambda g: opt.update(g) and None)
    g = {'a': jnp.ones(2), 'b': jnp.ones(2)}
    step(g)
    opt.param_groups[1]['lr'] = 1.0
    opt.param_groups[1]['weight_decay'] = 0.25
    step(g)
    np.testing.assert_allclose(np.asarray(a.value), [-0.2, -0.2], rtol=1e-6)
    pb = -0.2
    pb = pb - 1.0 * (1.0 + 0.25 * pb)
    np.testing.assert_allclose(np.asarray(b.value), [pb, pb], rtol=1e-6)


# -- changes of structure: the next call traces again ------------------------------------------------------
def _sgd_run(changes, context='jit'):
    """SGD on one parameter, a step per entry of ``changes`` (a function of the optimizer, run before the step)."""
    w = brainstate.ParamState(jnp.zeros(2))
    opt = brainopt.SGD(lr=0.1).register_trainable_weights({'w': w})
    step, traces = stepper(table_row('SGD'), opt, context)
    values = []
    for change in changes:
        if change is not None:
            change(opt)
        step({'w': jnp.ones(2)})
        values.append(float(w.value[0]))
    return values, len(traces)


@pytest.mark.parametrize('context', ['jit', 'brainopt.jit', 'eager'])
def test_a_schedule_for_a_number_and_back_takes_effect_on_the_next_call(context):
    values, traced = _sgd_run([
        None,
        lambda o: setattr(o, 'lr', brainopt.ExponentialLR(0.5, gamma=0.5)),   # a schedule for a number
        lambda o: setattr(o, 'lr', brainopt.ExponentialLR(0.25, gamma=0.5)),  # another schedule
        lambda o: setattr(o, 'lr', lambda step: 0.125),                       # a callable
        lambda o: setattr(o, 'lr', 0.0625),                                   # a number again
        lambda o: setattr(o, 'lr', 1.0),                                      # and another number: live
    ], context)
    rates = np.diff([0.0] + values) * -1
    # per-epoch schedules: their epoch stays 0 here (nobody calls step_epoch)
    np.testing.assert_allclose(rates, [0.1, 0.5, 0.25, 0.125, 0.0625, 1.0], rtol=1e-6)
    if context != 'eager':
        assert traced == 5        # the first call, then one per change of structure; none for the last number


def test_a_decay_turned_on_takes_effect_on_the_next_call():
    w = brainstate.ParamState(jnp.ones(2))
    opt = brainopt.SGD(lr=0.1).register_trainable_weights({'w': w})
    assert 'weight_decay' not in opt.hyperparams.value        # no decay: no operation in the step
    step = brainstate.transform.jit(lambda g: opt.update(g) and None)
    step({'w': jnp.zeros(2)})
    opt.param_groups[0]['weight_decay'] = 0.5
    step({'w': jnp.zeros(2)})
    np.testing.assert_allclose(np.asarray(w.value), 1 - 0.1 * 0.5, rtol=1e-6)
    opt.param_groups[0]['weight_decay'] = 0.0
    step({'w': jnp.zeros(2)})
    np.testing.assert_allclose(np.asarray(w.value), 1 - 0.1 * 0.5, rtol=1e-6)


def test_brainpy_set_value_takes_effect_on_the_next_call():
    import brainopt.brainpy as bp
    w = brainstate.ParamState(jnp.zeros(2))
    sched = bp.ExponentialDecayLR(0.1, decay_steps=1000, decay_rate=0.999)
    opt = bp.SGD(lr=sched, train_vars={'w': w})
    step = brainstate.transform.jit(lambda g: opt.update(g) and None)
    step({'w': jnp.ones(2)})
    first = float(w.value[0])
    sched.set_value(1.0)
    step({'w': jnp.ones(2)})
    rate = first - float(w.value[0])
    np.testing.assert_allclose(rate, 1.0 * 0.999 ** (1 / 1000), rtol=1e-5)


def test_keras_exclusion_changed_after_a_compiled_step_takes_effect():
    import brainopt.keras as K
    w = brainstate.ParamState(jnp.ones(2))
    opt = K.SGD(learning_rate=0.1, weight_decay=0.5)
    opt.register_trainable_weights({'w': w})
    step = brainstate.transform.jit(lambda g: opt.update(g) and None)
    step({'w': jnp.zeros(2)})
    np.testing.assert_allclose(np.asarray(w.value), 1 - 0.1 * 0.5, rtol=1e-6)    # Keras: p - p * wd * lr
    opt.exclude_from_weight_decay(var_names=['w'])
    step({'w': jnp.zeros(2)})
    np.testing.assert_allclose(np.asarray(w.value), 1 - 0.1 * 0.5, rtol=1e-6)    # excluded: no decay


def test_keras_learning_rate_is_live():
    import brainopt.keras as K
    w = brainstate.ParamState(jnp.zeros(2))
    opt = K.SGD(learning_rate=0.1)
    opt.register_trainable_weights({'w': w})
    step, traces = stepper(table_row('SGD'), opt, 'brainopt.jit')
    step({'w': jnp.ones(2)})
    opt.learning_rate = 0.5
    step({'w': jnp.ones(2)})
    np.testing.assert_allclose(np.asarray(w.value), -0.6, rtol=1e-6)
    assert len(traces) == 1


# -- hypergradients -------------------------------------------------------------------------------------------
P0 = np.array([1.0, -2.0, 0.5], np.float32)
TARGET = np.array([0.5, 0.5, -1.0], np.float32)
G0 = np.array([0.3, -0.8, 1.1], np.float32)


def _loss_after_update(cls, lr, **kw):
    """The loss ``|p - target|^2`` after one update with gradient G0, as a function of the lr (a fresh optimizer
    each call, so that finite differences start from the same state)."""
    p = brainstate.ParamState(jnp.asarray(P0))
    opt = cls(lr=0.1, **kw).register_trainable_weights({'p': p})

    def f(rate):
        opt.lr = rate
        opt.update({'p': jnp.asarray(G0)})
        return jnp.sum((p.value - TARGET) ** 2)
    return f, opt


def test_hypergradient_of_sgd_equals_the_derivative_by_hand():
    f, opt = _loss_after_update(brainopt.SGD, 0.1)
    lr = 0.3
    d = brainstate.transform.grad(f, argnums=0)(lr)
    p = P0.astype(np.float64) - lr * G0
    np.testing.assert_allclose(float(d), np.sum(2 * (p - TARGET) * -G0), rtol=1e-6)
    # the transformation wrote the new rate and the updated parameter back: the optimizer goes on from there
    assert float(opt.lr) == np.float32(lr) and int(opt.step_count.value) == 1


def test_hypergradient_of_adam_equals_finite_differences():
    lr, h = 0.05, 1e-3

    def loss(rate):
        f, _ = _loss_after_update(brainopt.Adam, rate)
        return float(f(rate))
    f, _ = _loss_after_update(brainopt.Adam, lr)
    d = float(brainstate.transform.grad(f, argnums=0)(lr))
    numeric = (loss(lr + h) - loss(lr - h)) / (2 * h)
    # central differences of a loss that is quadratic in lr up to float32 rounding: O(h^2) plus ~1e-7/h
    np.testing.assert_allclose(d, numeric, rtol=1e-3)


def test_hypergradient_inside_jit_of_a_two_step_unroll():
    """``jax.grad`` of a whole (pure) unroll: the optimizer built inside, its lr a traced value."""
    def unrolled(lr):
        p = brainstate.ParamState(jnp.asarray(P0))
        opt = brainopt.SGD(lr=lr).register_trainable_weights({'p': p})
        for _ in range(2):
            opt.update({'p': 2 * (p.value - TARGET)})
        return jnp.sum((p.value - TARGET) ** 2)
    lr = 0.1
    d = jax.jit(jax.grad(unrolled))(lr)
    # p_k - target shrinks by (1 - 2 lr) per step: loss = (1 - 2 lr)^4 |p0 - target|^2
    e = np.sum((P0.astype(np.float64) - TARGET) ** 2)
    np.testing.assert_allclose(float(d), 4 * (1 - 2 * lr) ** 3 * -2 * e, rtol=1e-5)


# -- checkpoints hold the values in force -------------------------------------------------------------------------
def test_a_checkpoint_holds_the_values_in_force(tmp_path):
    info = table_row('Adam')
    states, opt = build(info, weight_decay=0.01)
    for t in range(2):
        opt.update(grads_at(t))
    opt.lr = 0.003
    opt.param_groups[0]['weight_decay'] = 0.2
    brainopt.save_checkpoint(tmp_path / 'c.npz', optimizer=opt)
    resumed_states, resumed = build(info, **{k: np.asarray(v.value) for k, v in states.items()}, weight_decay=0.01)
    brainopt.load_checkpoint(tmp_path / 'c.npz', optimizer=resumed)
    assert float(resumed.lr) == 0.003 and resumed.param_groups[0]['weight_decay'] == 0.2
    for t in (2, 3):
        opt.update(grads_at(t))
        resumed.update(grads_at(t))
    assert_bitwise(memory(states, opt), memory(resumed_states, resumed), 'resumed')


def test_a_state_dict_without_weight_decays_still_loads():
    info = table_row('SGD')
    _, opt = build(info, weight_decay=0.3)
    d = opt.state_dict()
    del d['weight_decay']                       # written before the weight decays were saved
    _, other = build(info, weight_decay=0.3)
    other.load_state_dict(d)
    assert other.param_groups[0]['weight_decay'] == 0.3
    d['weight_decay'] = {'0': np.float64(-1.0)}
    with pytest.raises(brainopt.CheckpointError, match=r"\['weight_decay'\]\['0'\] must be a finite non-negative"):
        other.load_state_dict(d)


# -- the shared options -------------------------------------------------------------------------------------------
def test_each_shared_option_matters_so_a_stale_step_would_fail():
    """The row test's new options each change the run (an optimizer that kept one old value ends elsewhere)."""
    info = table_row('Adam')

    def run(**assigned):
        states, opt = build(info, **OLD_OPTIONS, use_ema=True)
        step, traces = stepper(info, opt, 'jit')
        for t in range(3):
            step(grads_at(t))
        for k, v in assigned.items():
            setattr(opt, k, v)
        for t in (3, 4):
            step(grads_at(t))
        assert len(traces) == 1
        return memory(states, opt)
    ours = run(**NEW_OPTIONS)
    for name in NEW_OPTIONS:
        kept = run(**{**NEW_OPTIONS, name: OLD_OPTIONS[name]})
        changed = [k for k in ours[0] if not np.array_equal(ours[0][k], kept[0][k])] + \
            [k for k in ours[1] if not all(np.array_equal(a, b) for a, b in
                                          zip(jax.tree.leaves(ours[1][k]), jax.tree.leaves(kept[1][k])))]
        assert changed, f'{name} changed nothing'


@pytest.mark.parametrize('context', ['jit', 'eager'])
def test_clipping_turned_on_and_off_takes_effect_on_the_next_call(context):
    w = brainstate.ParamState(jnp.zeros(2))
    opt = brainopt.SGD(lr=1.0).register_trainable_weights({'w': w})
    step, traces = stepper(table_row('SGD'), opt, context)
    g = {'w': jnp.asarray([3.0, 4.0])}            # norm 5
    step(g)                                         # w = -(3, 4)
    opt.grad_clip_norm = 1.0
    step(g)                                         # clipped to norm 1: -(0.6, 0.8)
    opt.grad_clip_norm = 0.5
    step(g)                                         # live: -(0.3, 0.4)
    opt.grad_clip_norm = None
    step(g)
    np.testing.assert_allclose(np.asarray(w.value), [-3 - 0.6 - 0.3 - 3, -4 - 0.8 - 0.4 - 4], rtol=1e-6)
    if context == 'jit':
        assert len(traces) == 3          # the first call, clipping on, clipping off; none for the new threshold


def test_a_bad_assignment_is_refused_and_changes_nothing():
    w = brainstate.ParamState(jnp.zeros(2))
    opt = brainopt.Adam(lr=0.1, grad_clip_norm=1.0).register_trainable_weights({'w': w})
    before = dict(opt.hyperparams.value)
    for name, value, error in [('grad_clip_norm', -1.0, ValueError), ('grad_clip_value', 0.0, ValueError),
                               ('loss_scale_factor', float('nan'), ValueError), ('weight_decay', 'big', TypeError),
                               ('ema_momentum', 0.5, AttributeError)]:       # (built without use_ema)
        with pytest.raises(error, match=name):
            setattr(opt, name, value)
    assert opt.hyperparams.value == before and opt.grad_clip_norm == 1.0 and opt.weight_decay == 0.0
    lbfgs = brainopt.LBFGS(lr=0.5).register_trainable_weights({'w': brainstate.ParamState(jnp.zeros(2))})
    with pytest.raises(ValueError, match='LBFGS.grad_clip_norm: clipping is not supported'):
        lbfgs.grad_clip_norm = 1.0
    assert lbfgs.grad_clip_norm is None and 'grad_clip_norm' not in lbfgs.hyperparams.value


def test_the_optimizer_weight_decay_sets_every_group():
    a, b = brainstate.ParamState(jnp.ones(2)), brainstate.ParamState(jnp.ones(2))
    opt = brainopt.SGD(lr=0.1).register_trainable_weights({'a': a})
    opt.add_param_group({'b': b}, weight_decay=0.3)
    opt.weight_decay = 0.5
    assert [g['weight_decay'] for g in opt.param_groups] == [0.5, 0.5] and opt.weight_decay == 0.5
    c = brainstate.ParamState(jnp.ones(2))
    opt.add_param_group({'c': c})                     # a group added later takes the optimizer's
    assert opt.param_groups[2]['weight_decay'] == 0.5


# -- the rule's hyperparameters (constructor arguments: betas, eps, momentum, ...) ---------------------------------
def _changed(name, x):
    """A different valid value of the numeric argument ``name`` (a number, or a tuple of them) that changes the
    next steps: an epsilon a thousand times larger, a decay rate twice as far from 1, a count one more."""
    if isinstance(x, tuple):
        return tuple(_changed(name, v) for v in x)
    if isinstance(x, int):
        return x + 1
    if x == 0:
        return 0.1
    if 0 < x < 0.01:
        return x * 1000
    if 0.5 <= x < 1:
        return 1 - (1 - x) * 1.8
    return x * 1.5


#: arguments the test gives other new values (the rule above would leave their range or change nothing visible)
#: (None: the argument has no other valid value in that row)
NEW_ARGUMENTS = {('Rprop', 'etas'): (0.3, 1.5), ('Rprop', 'step_sizes'): (1e-3, 0.02),
                 ('AdaBelief', 'eps_root'): 1e-4, ('Adafactor', 'eps'): (1e-3, 1e-2),
                 ('Adafactor', 'clip_threshold'): 0.05, ('Muon', 'ns_coefficients'): (3.0, -3.2, 1.2),
                 ('ScheduleFreeSGD', 'warmup_steps'): 10, ('ScheduleFreeAdamW', 'warmup_steps'): 10,
                 ('Fromage', 'min_norm'): 10.0, ('Muon', 'eps'): 10.0,      # floors above the norms here
                 ('Lookahead-SGD', 'sync_period'): 5,        # syncs on the second step (2: the first)
                 ('LBFGS', 'tolerance_change'): 10.0,        # no descent that steep here: nothing moves
                 ('SGD-nesterov', 'dampening'): None,          # nesterov needs dampening 0
                 ('Fromage', 'momentum'): None}                # Fromage has no momentum term: 0 only
#: arguments a built optimizer refuses, and why (the refusal names the argument and how to do it)
REFUSED_ARGUMENTS = {
    ('SGD', 'momentum'): 'from 0 SGD keeps a momentum buffer: other accumulators',
    ('RMSprop', 'momentum'): 'from 0 RMSprop keeps a momentum buffer: other accumulators',
    ('SAM-Adam', 'rho'): 'SAM\'s steps are compiled with rho (issue 21 audit: fixed)',
    ('LBFGS', 'memory_size'): 'the history has memory_size rows: other accumulators',
    ('Adagrad', 'initial_accumulator_value'): 'the accumulators of registered weights have started',
    ('Yogi', 'initial_accumulator_value'): 'the accumulators of registered weights have started',
    ('Ftrl', 'initial_accumulator_value'): 'the accumulators of registered weights have started',
    ('Prodigy', 'estim_lr0'): 'it is where the estimate d of registered weights started',
    ('LBFGS', 'max_linesearch_steps'): 'the line search is compiled with it (issue 21 audit: fixed)',
}
#: arguments whose new value legitimately changes nothing in the next steps, and why
NO_EFFECT_ARGUMENTS = {
    ('SGD', 'dampening'): 'without momentum SGD has nothing to dampen (torch: the same)',
    ('Prodigy', 'estim_lr_coef'): 'd grows only where the estimate exceeds it, which it does not in these steps',
    ('LBFGS', 'tolerance_grad'): 'the gradients here are far above it (and tolerance_change, assigned with it, stops)',
    ('RAdam', 'eps'): 'RAdam\'s first steps (the rectification undefined while rho_t <= 5) take no root',
}
#: rows whose every assigned argument is live (Rule.live_names) and keeps the program's structure: a step compiled
#: before reads the new numbers without tracing again; on every other row it traces again (the numbers are
#: constants of the program)
LIVE_ROWS = {'Adadelta', 'SGD-nesterov', 'Adam', 'AdamW-amsgrad', 'RMSprop', 'Momentum', 'MomentumNesterov',
             'Adamax', 'Yogi', 'AdaBelief', 'Lion', 'Adan', 'Lamb'}
#: eager and brainstate.transform.jit on every row; a for_loop inside jit (the same tracing) on the live rows
ARGUMENT_CASES = [(info, context) for info in OPTIMIZERS for context in ('eager', 'jit', 'for_loop')
                  if context != 'for_loop' or info.name in LIVE_ROWS]


@pytest.mark.parametrize('info,context', ARGUMENT_CASES, ids=[f'{i.name}-{c}' for i, c in ARGUMENT_CASES])
def test_assigned_rule_arguments_are_used_by_the_next_step(info, context):
    """Every numeric constructor argument of the rule (betas, eps, momentum, ...), assigned after three steps of
    a compiled step, is what its next two steps use: bit for bit an optimizer built with the new values; and each
    one matters (an optimizer that kept its old value ends elsewhere). The few that a built optimizer cannot take
    are refused, naming the argument, and change nothing."""
    from brainopt._arguments import numbers_of
    states, opt = build(info)
    old = numbers_of(opt)
    new, refused = {}, {}
    for name, value in old.items():
        new[name] = NEW_ARGUMENTS.get((info.name, name), _changed(name, value))
        if new[name] is None:
            del new[name]
            continue
        if (info.name, name) in REFUSED_ARGUMENTS:
            refused[name] = new.pop(name)
    step, traces = stepper(info, opt, context)
    for t in range(3):
        step(grads_at(t))
    params, state = snapshot(states, opt)
    before = memory(states, opt)
    traced, compiled = len(traces), info.cache_sizes(opt)
    for name, value in refused.items():
        with pytest.raises(AttributeError, match=f'{name}=.*cannot be assigned (to a built optimizer|after weights)|'
                                                 f'{name} cannot be changed after construction'):
            setattr(opt, name, value)
        assert numbers_of(opt)[name] == old[name]
    assert_bitwise(memory(states, opt), before, f'{info.name}: a refused assignment changed something')
    for name, value in new.items():
        setattr(opt, name, value)
        assert getattr(opt, name) == value, name
    assert numbers_of(opt) == {**old, **new}
    for t in (3, 4):
        step(grads_at(t))
    again = (len(traces), info.cache_sizes(opt)) != (traced, compiled)
    assert again != (info.name in LIVE_ROWS or not new), \
        f'{info.name} {context}: ' + ('traced again for live numbers' if again else 'did not trace again, and '
                                      'is not in LIVE_ROWS')

    def continued(**values):
        return continue_from(info, context, params, state, **values)
    assert_bitwise(memory(states, opt), continued(**new), f'{info.name} {context}')
    if context == 'jit':
        ours = memory(states, opt)
        for name in new:
            if (info.name, name) in NO_EFFECT_ARGUMENTS:
                continue
            kept = continued(**{**new, name: old[name]})
            assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(kept))), \
                f'{info.name}: {name} {old[name]} -> {new[name]} changed nothing: a stale step would pass'


def test_keras_spellings_of_the_arguments_are_assignable():
    """Keras's names (beta_1, epsilon, clipnorm, global_clipnorm, ema_momentum) assigned to a built Keras
    optimizer equal one built with them; use_ema, which the update is built with, is refused."""
    import brainopt.keras as K
    info = table_row('Adam')

    def run(assign, **kw):
        states = {'w': brainstate.ParamState(jnp.asarray(W0)), 'b': brainstate.ParamState(jnp.asarray(B0))}
        opt = K.Adam(learning_rate=0.01, use_ema=True, **kw)
        opt.register_trainable_weights(states)
        step, traces = stepper(info, opt, 'jit')
        step(grads_at(0))
        for k, v in assign.items():
            setattr(opt, k, v)
        step(grads_at(1))
        step(grads_at(2))
        return memory(states, opt), opt
    values = dict(beta_1=0.5, beta_2=0.9, epsilon=1e-3, clipnorm=0.5, ema_momentum=0.5)
    ours, opt = run(values)
    assert (opt.betas, opt.eps, opt.grad_clip_norm_per_param, opt.ema_momentum) == ((0.5, 0.9), 1e-3, 0.5, 0.5)
    # the reference: built with the new values, loaded with the state after the first step (with the old ones)
    states = {'w': brainstate.ParamState(jnp.asarray(W0)), 'b': brainstate.ParamState(jnp.asarray(B0))}
    first = K.Adam(learning_rate=0.01, use_ema=True).register_trainable_weights(states)
    first.update(grads_at(0))
    ref_states = {k: brainstate.ParamState(jnp.asarray(v.value)) for k, v in states.items()}
    ref = K.Adam(learning_rate=0.01, use_ema=True, **values).register_trainable_weights(ref_states)
    d = first.state_dict()
    for key in ('options', 'arguments'):
        d.pop(key)
    ref.load_state_dict(d)
    ref_step, _ = stepper(info, ref, 'jit')
    ref_step(grads_at(1))
    ref_step(grads_at(2))
    assert_bitwise(ours, memory(ref_states, ref), 'keras spellings')
    with pytest.raises(AttributeError, match='Adam.use_ema cannot be changed after construction'):
        opt.use_ema = False
    with pytest.raises(ValueError, match='beta_1'):
        opt.beta_1 = 1.5
    assert opt.betas == (0.5, 0.9)


def test_a_checkpoint_holds_the_rule_arguments_and_options_in_force(tmp_path):
    """Assigned betas, eps and clipping threshold are saved; an optimizer built with the defaults and loaded
    continues bit for bit; a state dict whose numbers its class refuses is refused, naming the entry."""
    info = table_row('Adam')
    states, opt = build(info, grad_clip_norm=5.0)
    opt.update(grads_at(0))
    opt.betas, opt.eps, opt.grad_clip_norm, opt.grad_clip_value = (0.5, 0.9), 1e-3, 0.8, 0.4
    brainopt.save_checkpoint(tmp_path / 'c.npz', optimizer=opt)
    resumed_states, resumed = build(info, **{k: np.asarray(v.value) for k, v in states.items()})
    brainopt.load_checkpoint(tmp_path / 'c.npz', optimizer=resumed)
    assert (resumed.betas, resumed.eps, resumed.grad_clip_norm, resumed.grad_clip_value) == ((0.5, 0.9), 1e-3,
                                                                                           0.8, 0.4)
    for t in (1, 2):
        opt.update(grads_at(t))
        resumed.update(grads_at(t))
    assert_bitwise(memory(states, opt), memory(resumed_states, resumed), 'resumed')
    d = opt.state_dict()
    del d['options']['grad_clip_value']             # an option left out of a saved dict is off
    resumed.load_state_dict(d)
    assert resumed.grad_clip_value is None and resumed.grad_clip_norm == 0.8
    for entry, value, needle in [('arguments', {'betas': np.array([0.5, 1.5])},
                                  r"\['arguments'\]: Adam: cannot assign betas=\(0.5, 1.5\): betas\[1\] must be"),
                                 ('arguments', {'momentum': np.array(0.5)}, r"\['arguments'\] holds \['momentum'\]"),
                                 ('options', {'grad_clip_norm': np.array(-1.0)}, r"\['options'\]\['grad_clip_norm'\]"),
                                 ('options', {'clip': np.array(1.0)}, r"unknown option\(s\) \['clip'\]")]:
        before = memory(resumed_states, resumed), resumed.betas, resumed.grad_clip_norm
        with pytest.raises(brainopt.CheckpointError, match=needle):
            resumed.load_state_dict({**d, entry: value})
        assert (resumed.betas, resumed.grad_clip_norm) == before[1:]
        assert_bitwise(memory(resumed_states, resumed), before[0], 'a refused state dict changed something')


def test_torch_one_cycle_momentum_written_into_param_groups_follows_torch():
    """torch's OneCycleLR with ``cycle_momentum`` writes each group's ``'lr'`` and ``'betas'`` before every step.
    The same writes into a brainopt Adam, whose step is compiled once, follow torch's trajectory to float32
    round-off (the tolerance of the golden tests), and nothing traces again."""
    import torch

    from peers import make_problem
    problem = make_problem(seed=3, steps=12)
    names = problem.names
    tparams = [torch.nn.Parameter(torch.tensor(problem.params0[n])) for n in names]
    topt = torch.optim.Adam(tparams, lr=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.05, total_steps=problem.steps, cycle_momentum=True,
                                                base_momentum=0.6, max_momentum=0.95)
    states = {n: brainstate.ParamState(jnp.asarray(problem.params0[n])) for n in names}
    opt = brainopt.Adam(lr=0.01).register_trainable_weights(states)
    traces = []

    @brainstate.transform.jit
    def step(grads):
        traces.append(1)
        opt.update(grads)
    seen = set()
    for t in range(problem.steps):
        group = topt.param_groups[0]
        opt.param_groups[0]['lr'] = group['lr']
        opt.param_groups[0]['betas'] = group['betas']
        seen.add(group['betas'][0])
        grads = problem.grad({n: p.detach().numpy() for n, p in zip(names, tparams)}, t)
        for n, p in zip(names, tparams):
            p.grad = torch.tensor(grads[n])
        topt.step()
        sched.step()
        step({n: jnp.asarray(g) for n, g in problem.grad({n: np.asarray(s.value) for n, s in states.items()},
                                                          t).items()})
        for n, p in zip(names, tparams):
            np.testing.assert_allclose(np.asarray(states[n].value), p.detach().numpy(), rtol=2e-6, atol=1e-7,
                                       err_msg=f'step {t}, {n}')
    assert len(seen) > 8 and len(traces) == 1       # the momentum cycled, and one trace
