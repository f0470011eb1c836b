"""Update rules: one file per algorithm family, the math and its slots only.

Each module lists its rules in ``__all__``; they are collected here.
"""
from .._exports import collect
from .base import Rule

__all__ = ['Rule'] + collect(__name__, __path__, globals(), skip=('base',))
