"""brainopt.jit: brainstate.transform.jit's program and semantics, with the written States updated in place.

Golden values here are brainstate.transform.jit's own results on an identically built model (the same program:
bit-identical is the promise), and numpy where a value is checked alone.
"""
import functools

import brainstate
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_speed import COUNTER

import brainopt

from ulps import bits


class Net(brainstate.nn.Module):
    """A rate network with a parameter in ms, a hidden State it writes and a State it only reads."""

    def __init__(self, seed=0):
        super().__init__()
        rng = np.random.RandomState(seed)
        self.w = brainstate.ParamState(jnp.asarray(rng.randn(4, 3), jnp.float32))
        self.tau = brainstate.ParamState(jnp.asarray([10., 20., 30.], jnp.float32) * u.ms)
        self.h = brainstate.ShortTermState(jnp.zeros((1, 3), jnp.float32))
        self.gain = brainstate.State(jnp.float32(2.0))          # read, never written

    def __call__(self, x):
        drive = jnp.tanh(x @ self.w.value) * self.gain.value
        self.h.value = self.h.value * 0.5 + drive * (1.0 * u.ms / self.tau.value)
        return self.h.value


def _build(seed=0, batch=1):
    net = Net(seed)
    net.h.value = jnp.zeros((batch, 3), jnp.float32)
    params = net.states(brainstate.ParamState)
    opt = brainopt.Adam(lr=0.05, use_ema=True).register_trainable_weights(params)

    def step(x, y):
        def loss_fn():
            return jnp.mean((net(x) - y) ** 2)
        grads, loss = brainstate.transform.grad(loss_fn, grad_states=params, return_value=True)()
        opt.update(grads)
        return loss
    return net, opt, step


def _data(t, batch=1):
    rng = np.random.RandomState(100 + t)
    return jnp.asarray(rng.randn(batch, 4), jnp.float32), jnp.asarray(rng.randn(batch, 3), jnp.float32)


def _everything(net, opt):
    return bits({'net': {k: s.value for k, s in net.states().items()},
                 'opt': {k: s.value for k, s in brainstate.graph.states(opt).items()}})


def _train(jit, calls=5, batch=1):
    net, opt, step = _build(batch=batch)
    step = jit(step)
    losses = [np.asarray(step(*_data(t, batch))) for t in range(calls)]
    return bits(losses), _everything(net, opt)


def test_results_are_bit_identical_to_brainstate_jit():
    assert _train(brainopt.jit) == _train(brainstate.transform.jit)


def test_the_second_call_does_not_compile_and_the_states_are_updated_in_place():
    net, opt, step = _build()
    step = brainopt.jit(step)
    step(*_data(0))
    step(*_data(1))

    def buffers():
        return [x.unsafe_buffer_pointer() for x in jax.tree.leaves((net.w.value, net.tau.value, net.h.value,
                                                                  opt.slots['exp_avg'].value))]
    before = buffers()
    with COUNTER as c:
        step(*_data(2))
    assert c.count == 0, f'brainopt.jit compiled {c.count} times on a call with the same shapes'
    assert buffers() == before, 'the written States were not updated in place'


def test_an_array_the_user_holds_stays_valid():
    net, opt, step = _build()
    step = brainopt.jit(step)
    initial = net.w.value                              # the model's own array: never written by this function
    step(*_data(0))
    np.testing.assert_array_equal(np.asarray(initial), np.asarray(Net(0).w.value))
    held_w, held_tau, held_m = net.w.value, net.tau.value, opt.slots['exp_avg'].value
    kept = jax.tree.map(lambda a: np.array(a, copy=True), (held_w, held_tau, held_m))
    step(*_data(1))
    for a, b in zip(jax.tree.leaves((held_w, held_tau, held_m)), jax.tree.leaves(kept)):
        np.testing.assert_array_equal(np.asarray(a), b)              # copied, never invalidated
    assert not np.array_equal(np.asarray(net.w.value), kept[0])      # while the State moved on


def test_a_part_of_a_written_dict_the_user_holds_stays_valid():
    net, opt, step = _build()
    step = brainopt.jit(step)
    for t in range(2):
        step(*_data(t))
    leaf = next(iter(opt.slots['exp_avg'].value.values()))       # one array inside an optimizer slot's dict
    kept = np.array(leaf, copy=True)
    step(*_data(2))
    np.testing.assert_array_equal(np.asarray(leaf), kept)


def test_a_dict_mutated_in_place_between_calls_is_seen():
    """A State's dict changed without its setter (a new array, of another shape, under a key): the next call sees
    the new value, as brainstate.transform.jit does, and no array in the dict is invalidated under the user."""
    def run(jit):
        s = brainstate.ShortTermState({'a': jnp.ones(2), 'b': jnp.ones(3)})

        @jit
        def bump():
            s.value = {k: v * 2.0 for k, v in s.value.items()}
            return sum(v.sum() for v in s.value.values())
        first = [bump(), bump()]
        mine = jnp.arange(4.0)
        s.value['a'] = mine
        out = [bump(), bump()]
        return bits((first, out, s.value)), np.asarray(mine)
    got, mine = run(brainopt.jit)
    want, _ = run(brainstate.transform.jit)
    assert got == want
    np.testing.assert_array_equal(mine, np.arange(4.0))


def test_a_state_only_read_is_never_donated():
    net, opt, step = _build()
    step = brainopt.jit(step)
    gain = net.gain.value
    for t in range(3):
        step(*_data(t))
    assert net.gain.value is gain and float(gain) == 2.0


def test_an_array_shared_by_two_states_or_returned_is_not_invalidated():
    shared = jnp.ones(3)
    a, b = brainstate.ShortTermState(shared), brainstate.ShortTermState(shared)

    @brainopt.jit
    def bump():
        a.value = a.value + 1.0
        b.value = b.value * 2.0
        return a.value

    out = [bump() for _ in range(3)]
    np.testing.assert_array_equal(np.asarray(shared), 1.0)
    np.testing.assert_array_equal(np.asarray(out[0]), 2.0)                    # a return value stays valid
    np.testing.assert_array_equal(np.asarray(out[1]), 3.0)
    np.testing.assert_array_equal(np.asarray(a.value), 4.0)
    np.testing.assert_array_equal(np.asarray(b.value), 8.0)


def test_new_shapes_retrace_as_brainstate_does():
    def run(jit):
        net, opt, step = _build(batch=2)
        step = jit(step)
        losses = [step(*_data(0, 2)), step(*_data(1, 2))]
        net.h.value = jnp.zeros((5, 3), jnp.float32)                  # a new batch size: a new trace
        losses += [step(*_data(2, 5)), step(*_data(3, 5))]
        return bits([np.asarray(x) for x in losses]), _everything(net, opt)
    assert run(brainopt.jit) == run(brainstate.transform.jit)


def test_inside_for_loop_and_static_arguments():
    def run(jit):
        net, opt, step = _build()

        @jit
        def steps(n, xs, ys):
            return brainstate.transform.for_loop(step, xs[:n], ys[:n])
        xs = jnp.stack([_data(t)[0] for t in range(4)])
        ys = jnp.stack([_data(t)[1] for t in range(4)])
        return bits(np.asarray(steps(3, xs, ys))), _everything(net, opt)
    static = lambda f: brainopt.jit(f, static_argnums=0)                       # noqa: E731
    assert run(static) == run(lambda f: brainstate.transform.jit(f, static_argnums=0))


def test_nested_in_another_brainstate_transformation():
    def run(jit):
        net, opt, step = _build()
        inner = jit(step)
        outer = brainstate.transform.jit(lambda x, y: inner(x, y) * 1.0)
        return bits([np.asarray(outer(*_data(t))) for t in range(3)]), _everything(net, opt)
    assert run(brainopt.jit) == run(brainstate.transform.jit)


def test_train_step_is_brainopt_jit():
    net, opt, _ = _build()
    params = net.states(brainstate.ParamState)
    step = brainopt.train_step(lambda x, y: jnp.mean((net(x) - y) ** 2), opt)
    assert isinstance(step, brainopt._jit.JittedFunction)
    loss, info = step(*_data(0))
    assert bool(info.applied) and np.isfinite(float(loss)) and len(params) == 2


@pytest.mark.parametrize('bad', [-1, 1.5, 'x'])
def test_bad_static_argnums_are_refused(bad):
    with pytest.raises(ValueError, match='static_argnums'):
        brainopt.jit(lambda x: x, static_argnums=bad)


def test_a_state_that_changes_shape_with_the_same_arguments_retraces():
    def run(jit):
        h = brainstate.ShortTermState(jnp.ones(3))

        @jit
        def double():
            h.value = h.value * 2.0
            return h.value.sum()
        out = [double(), double()]
        h.value = jnp.ones(5)                             # same (no) arguments, a State of a new shape
        out += [double(), double()]
        return bits([np.asarray(x) for x in out]), bits(np.asarray(h.value))
    assert run(brainopt.jit) == run(brainstate.transform.jit)
    assert run(brainopt.jit)[1] == bits(np.full(5, 4.0, np.float32))


def test_dict_arguments_key_the_trace_by_their_keys_and_shapes():
    """Which States a call writes may depend on the keys of a dict argument, and its program on their shapes: a
    dict with other keys (of the same shapes), the same keys in another order, or another shape is another trace
    (as brainstate's)."""
    def run(jit):
        states = {'a': brainstate.ShortTermState(jnp.ones(3)), 'b': brainstate.ShortTermState(jnp.ones(3))}

        @jit
        def add(d, x):
            for k, v in d.items():
                states[k].value = states[k].value * x + v
            return x * 2.0
        out = [add({'a': jnp.ones(3)}, jnp.float32(2.0)), add({'b': jnp.ones(3)}, jnp.float32(3.0)),
               add({'a': jnp.ones(3), 'b': jnp.full(3, 2.0)}, jnp.float32(0.5)),
               add({'b': jnp.full(3, 3.0), 'a': jnp.ones(3)}, jnp.float32(1.5)),
               add({'a': jnp.ones(3)}, jnp.float32(2.0))]
        states['a'].value = jnp.ones(4)
        out += [add({'a': jnp.ones(4)}, jnp.float32(2.0)), add({'a': jnp.ones(4)}, jnp.full(4, 0.5))]
        return bits([np.asarray(x) for x in out]), bits([np.asarray(s.value) for s in states.values()])
    ours = run(brainopt.jit)
    assert ours == run(brainstate.transform.jit)
    # b: 1 -> 1 * 3 + 1 -> 4 * 0.5 + 2 -> 4 * 1.5 + 3; a: 1 -> 3 -> 3.5 -> 6.25 -> 13.5, then ones(4) -> 3 -> 2.5
    assert ours[1] == bits([np.full(4, 2.5, np.float32), np.full(3, 9.0, np.float32)])


def test_a_new_static_argument_is_a_new_program():
    def run(jit):
        h = brainstate.ShortTermState(jnp.ones(3))

        @functools.partial(jit, static_argnums=0)
        def scale(k, x):
            h.value = h.value * k + x
            return h.value
        return bits([np.asarray(scale(k, jnp.ones(3))) for k in (2.0, 3.0, 2.0, 0.5)])
    assert run(brainopt.jit) == run(brainstate.transform.jit)


def test_called_eagerly_then_inside_another_transformation():
    """A function without arguments, first called on its own (its States' layout cached), then inside
    brainstate.transform.jit and for_loop, where its States hold tracers: brainstate's jit runs it there."""
    def run(jit):
        net, opt, step = _build()
        x, y = _data(0)
        inner = jit(lambda: step(x, y))
        losses = [inner()]
        losses.append(brainstate.transform.jit(lambda: inner() * 1.0)())
        losses.append(brainstate.transform.for_loop(lambda i: inner(), jnp.arange(2))[-1])
        losses.append(inner())
        return bits([np.asarray(v) for v in losses]), _everything(net, opt)
    assert run(brainopt.jit) == run(brainstate.transform.jit)
