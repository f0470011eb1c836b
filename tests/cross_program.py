"""The same optimizer steps three ways: eagerly (``opt.update`` compiles the update alone), inside the caller's
``brainstate.transform.jit`` step, and inside a ``brainstate.transform.for_loop`` body. Three different XLA
programs of one formula: they agree within :func:`bound` ulps (tests/ulps.py says why), on every instruction set
(tests/test_contract.py runs it in-process; tests/test_isa.py under other ``--xla_cpu_max_isa`` settings)."""
import brainstate
import jax
import jax.numpy as jnp
import numpy as np

from models import MLP, X, Y
from ulps import ulp_distance

STEPS = 4                                           # optimizer steps each way before the comparison


def loss_of(model):
    def loss_fn(x, y):
        return jnp.mean((model(x) - y) ** 2)
    return loss_fn


def grads_of(model, x=X, y=Y):
    params = model.states(brainstate.ParamState)
    return brainstate.transform.grad(loss_of(model), grad_states=params, return_value=True)(x, y)


def values(model):
    return jax.tree.map(np.asarray, {k: s.value for k, s in model.states(brainstate.ParamState).items()})


def opt_values(opt):
    return jax.tree.map(np.asarray, {k: s.value for k, s in brainstate.graph.states(opt).items()})


def three_ways(info, steps=STEPS, ways=('jit', 'for_loop')):
    """Run ``steps`` updates of ``info``'s optimizer (with EMA on) eagerly and each of ``ways`` on the contract's
    MLP. Returns ``(runs, train_step, first_loss)``: ``runs`` maps 'eager' and each way to ``(model, opt)``;
    ``train_step`` is the jitted step of the 'jit' run (to train it on; None without it), ``first_loss`` its loss
    before the first update."""
    runs = {}
    for way in ('eager',) + tuple(ways):
        model = MLP()
        runs[way] = (model, info.make(use_ema=True).register_trainable_weights(model.states(brainstate.ParamState)))
    train_step = first = None
    if 'jit' in runs:
        jit_model, jit_opt = runs['jit']

        @brainstate.transform.jit
        def train_step(x, y):
            grads, loss = grads_of(jit_model, x, y)
            info.update(jit_opt, grads, lambda: grads_of(jit_model, x, y)[0])
            return loss

        first = train_step(X, Y)              # the loss before the first update
    eager_model, eager_opt = runs['eager']
    eager_grad = lambda: grads_of(eager_model)[0]  # noqa: E731
    for t in range(steps):
        info.update(eager_opt, eager_grad(), eager_grad)
        if train_step is not None and t < steps - 1:
            train_step(X, Y)
    if 'for_loop' in runs:
        loop_model, loop_opt = runs['for_loop']

        def body(i):
            grads, loss = grads_of(loop_model)
            info.update(loop_opt, grads, lambda: grads_of(loop_model)[0])
            return loss

        brainstate.transform.for_loop(body, jnp.arange(steps))
    return runs, train_step, first


def worst_ulps(runs):
    """The largest ulp distance of the other runs from the eager one, over every parameter and
    optimizer State leaf: ``(ulps, where)``."""
    eager_model, eager_opt = runs['eager']
    worst = (0.0, '')
    for way in [w for w in runs if w != 'eager']:
        model, opt = runs[way]
        for what, a, b in (('params', values(eager_model), values(model)),
                           ('states', opt_values(eager_opt), opt_values(opt))):
            flat_a, flat_b = jax.tree.leaves_with_path(a), jax.tree.leaves(b)
            for (path, x), y in zip(flat_a, flat_b):
                d = float(np.max(ulp_distance(y, x), initial=0.0))
                if d > worst[0]:
                    worst = (d, f'{way} {what}{jax.tree_util.keystr(path)}')
    return worst


def bound(info, steps=STEPS):
    """The ulps by which ``info``'s three runs may differ after ``steps`` steps (``info.ulps_per_step`` each)."""
    return info.ulps_per_step * steps
