"""A class's constructor signature where ``help()``, notebooks and IDEs look for it."""
import inspect

__all__ = []


def show_signature(cls):
    """Give ``cls`` its constructor's signature: brainstate's graph-node metaclass defines ``__call__`` as
    ``(*args, **kwargs)``, which is what ``inspect.signature(cls)`` would report otherwise. Called by the
    ``__init_subclass__`` of :class:`brainopt.Optimizer` and :class:`brainopt.LRScheduler` (so every optimizer
    and schedule, a user's subclass too, shows its own arguments) and once for those base classes."""
    try:
        init = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return cls
    cls.__signature__ = init.replace(parameters=list(init.parameters.values())[1:])
    return cls
