"""Bad input, for every optimizer of the table: one clear error, and nothing changes.

One test per row loops over every case (gradients with missing, unknown, misspelled keys or leaves, a
wrong shape, a wrong dtype family; a non-State leaf; a path registered twice; ``update`` before
``register_trainable_weights``; every hyperparameter out of range; a schedule given to two optimizers; a state
dict from another optimizer or with a misspelled path). Each case must raise one exception (nothing chained)
of the expected type whose message names the path or argument and says what was expected, and must leave the
model's parameters and every optimizer State bit-identical. No case may reach the compiler: the optimizer's
compiled step is never traced, which also keeps this test cheap.
"""
import inspect

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainopt

from table import OPTIMIZERS
from ulps import bits

RNG = np.random.RandomState(0)


def mlp_params():
    """The parameters of ``models.MLP`` (two Linear layers), keyed as ``model.states(brainstate.ParamState)``
    keys them, built from numpy (building an MLP compiles its initializers)."""
    def layer(n_in, n_out):
        return brainstate.ParamState({'weight': jnp.asarray(RNG.randn(n_in, n_out), jnp.float32),
                                      'bias': jnp.asarray(RNG.randn(n_out), jnp.float32)})
    return {('l1', 'weight'): layer(4, 8), ('l2', 'weight'): layer(8, 2)}


def snapshot(model, opt, extra=()):
    return {'model': bits({k: s.value for k, s in model.items()}),
            'opt': bits({k: s.value for k, s in brainstate.graph.states(opt).items()}),
            'paths': list(opt.param_paths),
            'groups': [(g['params'], id(g['lr']), g['weight_decay']) for g in opt.param_groups],
            'extra': [f() for f in extra]}


def scramble(opt):
    """Give every optimizer State a distinctive value (through load_state_dict: nothing compiles)."""
    d = opt.state_dict()

    def rand(x):
        x = np.asarray(x)
        if np.issubdtype(x.dtype, np.integer):
            return np.asarray(1, x.dtype) if x.ndim == 0 else x
        return RNG.uniform(0.5, 1.5, x.shape).astype(x.dtype)

    # (the rule's numbers and the options keep theirs: a random beta would be refused)
    d = {k: (v if k in ('optimizer', 'arguments', 'options') else jax.tree.map(rand, v)) for k, v in d.items()}
    d['step_count'] = np.asarray(7, np.int32)
    opt.load_state_dict(d)


def good_grads(model):
    return {k: jax.tree.map(jnp.ones_like, s.value) for k, s in model.items()}


def generic_bad_hyperparams(info):
    """Out-of-range values of the hyperparameters that the issue names, for each one the row's class takes."""
    params = inspect.signature(info.cls.__init__).parameters
    cases = [('lr', -1.0, ValueError), ('lr', 'fast', TypeError), ('lr', float('inf'), ValueError),
             ('lr', float('nan'), ValueError),
             ('gradient_accumulation_steps', 0, ValueError), ('gradient_accumulation_steps', -2, ValueError),
             ('gradient_accumulation_steps', 1.5, TypeError), ('gradient_accumulation_steps', 2.0, TypeError),
             ('ema_momentum', -0.01, ValueError), ('ema_momentum', 1.01, ValueError)]
    simple = {'eps': [-1e-8], 'rho': [-0.1, 1.0, 1.5], 'momentum': [-0.1], 'alpha': [-0.1, 1.5]}
    for name in ('betas', 'adam_betas'):
        simple[name] = [1.0, -0.1]
    for name, values in simple.items():
        if name not in params:
            continue
        default = params[name].default
        if isinstance(default, tuple):          # betas, Adafactor's (eps1, eps2): one entry out of range at a time
            cases += [(name, default[:i] + (v,) + default[i + 1:], ValueError)
                      for i in range(len(default)) for v in values]
        else:
            cases += [(name, v, ValueError) for v in values]
    return cases


def assert_one_clear_error(label, excinfo, *needles):
    e = excinfo.value
    assert e.__cause__ is None and (e.__context__ is None or e.__suppress_context__), \
        f'{label}: a chained error, not one clear one: {e!r}'
    msg = str(e)
    for needle in needles:
        assert needle in msg, f'{label}: {needle!r} is not in the message {msg!r}'


@pytest.mark.parametrize('info', OPTIMIZERS, ids=repr)
def test_bad_input_raises_one_clear_error_and_changes_nothing(info):
    model = mlp_params()
    sched = brainopt.CosineAnnealingLR(base_lr=0.01, T_max=100, stepping='update')
    opt = info.make(**info.supported(lr=sched, use_ema=True, gradient_accumulation_steps=2, skip_nonfinite=True))
    opt.register_trainable_weights(model)
    update = lambda grads: info.update(opt, grads)  # noqa: E731  (SAM: the row's grad_fn is never reached)
    scramble(opt)
    good = good_grads(model)
    key = ('l1', 'weight')
    free = brainopt.CosineAnnealingLR(base_lr=0.01, T_max=100, stepping='update')
    other = info.make()
    watch = (lambda: sched.attached_optimizer is opt, lambda: free.attached_optimizer is None,
             lambda: other.lr, lambda: other.param_paths)
    before = snapshot(model, opt, watch)

    def with_leaf(**leaves):
        return {**good, key: {**good[key], **leaves}}

    def renamed(tree, old, new):
        tree = dict(tree)
        tree[new] = tree.pop(old)
        return tree

    # (label, action, error type, strings the message must hold)
    cases = [
        ('missing key', lambda: update({k: v for k, v in good.items() if k != key}), KeyError,
         ["no gradient for registered parameter path(s) ['l1.weight']"]),
        ('unknown key', lambda: update({**good, ('l3', 'weight'): good[key]}), KeyError,
         ["unknown parameter path 'l3.weight'"]),
        ('misspelled key', lambda: update(renamed(good, key, ('l1', 'wieght'))), KeyError,
         ["'l1.wieght'", "did you mean 'l1.weight'"]),
        ('misspelled leaf', lambda: update({**good, key: renamed(good[key], 'bias', 'bais')}), ValueError,
         ["'l1.weight'", "unknown leaf 'l1.weight.bais' (did you mean 'l1.weight.bias'?)",
          "no gradient for leaf(s) ['l1.weight.bias']"]),
        ('missing leaf', lambda: update({**good, key: {'weight': good[key]['weight']}}), ValueError,
         ["'l1.weight'", "no gradient for leaf(s) ['l1.weight.bias']"]),
        ('array for a dict', lambda: update({**good, key: good[key]['weight']}), ValueError,
         ["gradient for 'l1.weight' has structure"]),
        ('shape (1,)', lambda: update(with_leaf(bias=jnp.ones((1,)))), ValueError,
         ["'l1.weight.bias' has shape (1,), expected (8,)", 'never broadcast']),
        ('shape ()', lambda: update(with_leaf(bias=jnp.ones(()))), ValueError,
         ["'l1.weight.bias' has shape (), expected (8,)"]),
        ('transposed', lambda: update(with_leaf(weight=jnp.ones((8, 4)))), ValueError,
         ["'l1.weight.weight' has shape (8, 4), expected (4, 8)"]),
        ('int dtype', lambda: update(with_leaf(bias=jnp.ones((8,), jnp.int32))), TypeError,
         ["'l1.weight.bias' has dtype int32", 'expected a floating dtype']),
        ('bool dtype', lambda: update(with_leaf(bias=jnp.ones((8,), bool))), TypeError,
         ["'l1.weight.bias' has dtype bool"]),
        ('complex dtype', lambda: update(with_leaf(bias=jnp.ones((8,), jnp.complex64))), TypeError,
         ["'l1.weight.bias' has dtype complex64"]),
        ('not a dict', lambda: update([good[key]]), TypeError, ['grads must be a dict']),
        ('non-State leaf', lambda: opt.register_trainable_weights(
            {'extra': brainstate.ParamState(jnp.ones(2)), 'layer': {'w': jnp.ones(3)}}), TypeError,
         ["path 'layer.w' is a", 'not a brainstate.State']),
        ('int parameter', lambda: opt.register_trainable_weights(
            {'extra': brainstate.ParamState(jnp.ones(2)), 'n': brainstate.ParamState(jnp.arange(3))}), TypeError,
         ["parameter 'n' has dtype int32", 'only floating-point']),
        ('path taken', lambda: opt.register_trainable_weights({key: brainstate.ParamState(jnp.ones(2))}),
         ValueError, ["path 'l1.weight' is already registered"]),
        ('bad group', lambda: opt.add_param_group({'extra': brainstate.ParamState(jnp.ones(2)),
                                                   'layer': {'w': jnp.ones(3)}}, lr=free), TypeError,
         ["path 'layer.w' is a"]),
        ('update before register', lambda: info.update(info.make(), good), RuntimeError,
         ['before register_trainable_weights']),
        ('schedule given twice', lambda: info.make(lr=sched), RuntimeError,
         ['lr: ', 'is already the learning rate of', 'Build one schedule per optimizer']),
        ('schedule given twice (set_lr)', lambda: other.set_lr(sched), RuntimeError,
         ['lr: ', 'is already the learning rate of']),
    ]
    # every hyperparameter out of range; a schedule given alongside must stay free for a corrected call
    # an option the row refuses outright is tested where its golden tests are (tests/test_wrappers.py)
    generic = [c for c in generic_bad_hyperparams(info) if c[0] not in info.refuses + info.other_meaning]
    for arg, value, err in info.bad_hyperparams + generic:
        kwargs = {arg: value} if arg == 'lr' else {arg: value, 'lr': free}
        cases.append((f'{arg}={value!r}', lambda kw=kwargs: info.make(**kw), err, [arg]))

    # state dicts that do not fit
    foreign_cls = brainopt.SGD if info.cls is not brainopt.SGD else brainopt.Adam
    foreign = foreign_cls(lr=0.1).register_trainable_weights(mlp_params())
    plain = info.make().register_trainable_weights(mlp_params())
    own = opt.state_dict()
    cases += [
        ('state dict of another optimizer', lambda: opt.load_state_dict(foreign.state_dict()),
         brainopt.CheckpointError, [f"from a '{foreign_cls.__name__}' optimizer, not a '{type(opt).__name__}'",
                                    'nothing was loaded']),
        ('state dict without EMA', lambda: opt.load_state_dict(plain.state_dict()), brainopt.CheckpointError,
         ["has no 'ema'", 'use_ema=True']),
        ('state dict, misspelled path', lambda: opt.load_state_dict(
            {**own, 'ema': renamed(own['ema'], 'l1.weight.bias', 'l1.weight.bais')}), brainopt.CheckpointError,
         ["['l1.weight.bais']", "did you mean 'l1.weight.bias'"]),
        ('state dict, wrong shape', lambda: opt.load_state_dict(
            {**own, 'ema': {**own['ema'], 'l1.weight.bias': np.zeros(3, np.float32)}}), brainopt.CheckpointError,
         ["['ema']['l1.weight.bias'] has shape (3,), expected (8,)"]),
        ('state dict, not a dict', lambda: opt.load_state_dict([own]), brainopt.CheckpointError,
         ['expected a dict from state_dict()']),
    ]

    for label, action, err, needles in cases:
        with pytest.raises(Exception) as excinfo:
            action()
        assert type(excinfo.value) is err, f'{label}: raised {excinfo.value!r}, expected {err.__name__}'
        assert_one_clear_error(label, excinfo, *needles)
        if err is ValueError or err is TypeError:
            assert any(w in str(excinfo.value) for w in ('must', 'expected', 'needs', 'only', 'already', 'did you',
                                                         'is a', 'never')), \
                f'{label}: the message does not say what was expected: {excinfo.value}'
        assert snapshot(model, opt, watch) == before, f'{label}: the model or the optimizer changed'
    # nothing reached the compiler, and the optimizer still works
    assert info.cache_sizes(opt) == [0] * len(info.compiled)
    assert len(opt.param_groups) == 1 and 'extra' not in str(opt.param_paths)
