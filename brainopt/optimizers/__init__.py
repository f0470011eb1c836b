"""The public optimizers: each binds one rule to the shared engine.

Every module of this package lists its public classes in ``__all__``; they are
collected here, so that a new optimizer is one new file.
"""
from .._exports import collect

__all__ = collect(__name__, __path__, globals())
