"""The optimizer's memory as the user reaches it: checkpoints (``state_dict``, files) and the EMA weights.
:class:`brainopt.Optimizer` inherits it; ``brainopt.checkpoint`` holds the format and its checks."""
import contextlib
from typing import Any, Dict

import jax.numpy as jnp

from . import _registry as registry

__all__ = []


class MemoryMixin:
    """Checkpoints and the EMA weights of an optimizer."""

    def state_dict(self) -> Dict[str, Any]:
        """Everything this optimizer needs to continue, as a nested dict of host numpy arrays.

        Keys: ``'optimizer'`` (the class name), ``'step_count'``, ``'slots'``
        (``{slot: {parameter path: array}}``), and when those features are on
        ``'ema'``, ``'grad_accum'`` and ``'accum_count'``, ``'skipped_steps'``,
        ``'schedule'`` (the schedule's own state) and ``'lr'`` (a constant
        learning rate). The arrays are copies: later updates do not change
        them. It is a plain pytree, for any pytree checkpointer.
        """
        from . import checkpoint
        return checkpoint.optimizer_state_dict(self)

    def load_state_dict(self, state_dict) -> None:
        """Load what :meth:`state_dict` returned, into an optimizer with the same
        registered parameter paths.

        Everything is checked before anything is written: a different
        optimizer type, a missing or unknown parameter path, a shape or dtype
        mismatch or a feature switched on in one and off in the other raises
        :class:`brainopt.CheckpointError`, and the optimizer is unchanged.
        """
        from . import checkpoint
        checkpoint.load_optimizer_state_dict(self, state_dict)

    def save_states(self, filename) -> None:
        """Save :meth:`state_dict` to a file (brainpy's name; see :func:`brainopt.save_checkpoint`)."""
        from . import checkpoint
        checkpoint.save_checkpoint(filename, optimizer=self)

    def load_states(self, filename) -> None:
        """Load a file written by :meth:`save_states` or :func:`brainopt.save_checkpoint`."""
        from . import checkpoint
        checkpoint.load_checkpoint(filename, optimizer=self)

    def _require_ema(self, what):
        if not self.use_ema:
            raise RuntimeError(f'{type(self).__name__}.{what} needs use_ema=True')

    def copy_ema_to_params(self):
        """Overwrite the parameters with their moving averages (Keras's
        ``finalize_variable_values``)."""
        self._require_ema('copy_ema_to_params')
        registry.write_params(self._weights.entries, {k: jnp.array(v, copy=True) for k, v in self.ema.value.items()})

    @contextlib.contextmanager
    def ema_weights(self):
        """Evaluate with the EMA weights; the trained weights come back on exit.

        Examples
        --------
        >>> import brainstate, brainopt, jax.numpy as jnp
        >>> w = brainstate.ParamState(jnp.ones(3))
        >>> opt = brainopt.Adagrad(lr=0.1, use_ema=True)
        >>> opt = opt.register_trainable_weights({'w': w})
        >>> _ = opt.update({'w': jnp.ones(3)})
        >>> trained = w.value
        >>> with opt.ema_weights():
        ...     bool((w.value == opt.get_slot('ema', 'w')).all())
        True
        >>> bool((w.value == trained).all())
        True
        """
        self._require_ema('ema_weights')
        saved = registry.read_params(self._weights.entries)
        self.copy_ema_to_params()
        try:
            yield self
        finally:
            registry.write_params(self._weights.entries, saved)
