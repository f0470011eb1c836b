"""opt.update traced by a raw JAX transformation (jax.jit, jax.vmap, jax.grad: brainstate does not see it) is
refused before anything is written, and the model and the optimizer work afterwards (issue 32).

Before, the eager fast path wrote the tracers into the parameter States, then brainstate refused the optimizer's
own States: the model held a leaked tracer, and every later use raised UnexpectedTracerError."""
import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from table import OPTIMIZERS

ROWS = [info for info in OPTIMIZERS if info.name in ('Adam', 'SAM-Adam', 'LBFGS', 'Lookahead-SGD',
                                                      'ScheduleFreeAdamW', 'Adafactor')]
SHAPES = {'w': (3, 4), 'b': (4,)}


def setup(info):
    states = {k: brainstate.ParamState(jnp.asarray(np.random.RandomState(1).randn(*s), jnp.float32))
              for k, s in SHAPES.items()}
    return states, info.make().register_trainable_weights(states)


def snapshot(states, opt):
    return jax.tree.map(lambda x: np.asarray(x).tobytes(),
                        ({k: s.value for k, s in states.items()}, opt.state_dict()))


TRANSFORMS = {
    'jit': lambda info, opt, g: jax.jit(lambda g: info.update(opt, g) and None)(g),
    'vmap': lambda info, opt, g: jax.vmap(lambda g: info.update(opt, g) and None)(
        jax.tree.map(lambda x: jnp.stack([x, x]), g)),
    'grad': lambda info, opt, g: jax.grad(lambda g: (info.update(opt, g), 0.0)[1])(g),
}


@pytest.mark.parametrize('how', sorted(TRANSFORMS))
@pytest.mark.parametrize('info', ROWS, ids=repr)
def test_a_raw_jax_transformation_is_refused_and_changes_nothing(info, how):
    states, opt = setup(info)
    ref_states, ref_opt = setup(info)
    grads = {k: jnp.full(s, 0.5, jnp.float32) for k, s in SHAPES.items()}
    before = snapshot(states, opt)
    with pytest.raises(brainstate.TraceContextError) as e:
        TRANSFORMS[how](info, opt, grads)
    message = str(e.value)
    assert 'brainstate.transform.jit' in message and 'nothing was written' in message, message
    assert snapshot(states, opt) == before
    # the model and the optimizer work on: the next eager update equals an untouched copy's
    info.update(opt, grads)
    info.update(ref_opt, grads)
    assert snapshot(states, opt) == snapshot(ref_states, ref_opt)
