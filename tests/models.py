"""The small model the contract, wrapper and checkpoint tests train: two Linear layers, each one ParamState
whose value is ``{'weight', 'bias'}`` (what ``brainstate.nn.Linear`` holds), and one fixed batch."""
import brainstate
import jax.numpy as jnp
import numpy as np


class MLP(brainstate.nn.Module):
    def __init__(self, seed=0):
        super().__init__()
        brainstate.random.seed(seed)
        self.l1 = brainstate.nn.Linear(4, 8)
        self.l2 = brainstate.nn.Linear(8, 2)

    def __call__(self, x):
        return self.l2(jnp.tanh(self.l1(x)))


X = jnp.asarray(np.random.RandomState(0).randn(16, 4), jnp.float32)
Y = jnp.asarray(np.random.RandomState(1).randn(16, 2), jnp.float32)
