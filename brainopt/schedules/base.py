"""The learning-rate schedule interface."""
import inspect

__all__ = ['LRScheduler']


class LRScheduler:
    """Base class of learning-rate schedules: a pure function of the step.

    ``schedule(step)`` returns the learning rate of the update that comes
    after ``step`` applied updates. It must be written with ``jax.numpy`` so
    that it works inside ``jit`` with a traced step. The optimizer's
    ``step_count`` State holds the step, so a checkpoint of the optimizer
    holds the schedule's position.
    """

    def __call__(self, step):
        raise NotImplementedError

    def get_config(self) -> dict:
        """The constructor's arguments, read back from the attributes of the same name.

        A subclass that stores its arguments under other names overrides this.
        """
        params = inspect.signature(type(self).__init__).parameters.values()
        return {p.name: getattr(self, p.name) for p in list(params)[1:]
                if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and hasattr(self, p.name)}

    def __repr__(self):
        return f'{type(self).__name__}({", ".join(f"{k}={v!r}" for k, v in self.get_config().items())})'
