"""A State is trained once per update, whatever path it is found under (issue 32)."""
import brainstate
import jax.numpy as jnp
import numpy as np
import pytest

import brainopt


def test_one_state_under_two_paths_is_refused_and_nothing_is_registered():
    """Before, {'a': s, 'b': s} registered s twice: SGD(lr=0.1) with gradients 1 and 10 left s at 1 - 0.1 * 10
    (one of the two steps lost to the other's write)."""
    s, other = brainstate.ParamState(jnp.ones(2)), brainstate.ParamState(jnp.ones(2))
    opt = brainopt.SGD(lr=0.1)
    with pytest.raises(ValueError) as e:
        opt.register_trainable_weights({'a': s, 'other': other, 'b': s})
    assert "'a'" in str(e.value) and "'b'" in str(e.value) and 'nothing was registered' in str(e.value)
    assert opt.param_paths == []
    opt.register_trainable_weights({'a': s})
    opt.update({'a': jnp.ones(2)})
    np.testing.assert_array_equal(np.asarray(s.value), np.float32(1) - np.float32(0.1))   # one step, as numpy


def test_registering_a_model_again_keeps_its_states_paths():
    """The documented case: a second call with States already registered (the whole model again, after adding a
    readout) ignores them, under whatever path they come; the new ones are added."""
    w, readout = brainstate.ParamState(jnp.ones(2)), brainstate.ParamState(jnp.zeros(3))
    opt = brainopt.Adam(lr=0.1).register_trainable_weights({'w': w})
    opt.register_trainable_weights({'layer': {'w': w}, 'readout': readout})
    assert opt.param_paths == ['w', 'readout']
    opt.update({'w': jnp.ones(2), 'readout': jnp.ones(3)})
    assert not np.allclose(np.asarray(readout.value), 0.0)


def test_a_registered_state_in_a_new_group_is_refused_and_the_group_is_not_added():
    """add_param_group with a State already training in another group would silently keep its first group's lr
    (before: ignored); now an error names both paths, and the optimizer has no new group."""
    w, b = brainstate.ParamState(jnp.ones(2)), brainstate.ParamState(jnp.ones(2))
    opt = brainopt.SGD(lr=0.1).register_trainable_weights({'w': w})
    with pytest.raises(ValueError) as e:
        opt.add_param_group({'b': b, 'w_again': w}, lr=0.5)
    message = str(e.value)
    assert "'w_again'" in message and "'w'" in message and 'one parameter group' in message, message
    assert len(opt.param_groups) == 1 and opt.param_paths == ['w']
    opt.update({'w': jnp.ones(2)})
    np.testing.assert_array_equal(np.asarray(w.value), np.float32(1) - np.float32(0.1))
