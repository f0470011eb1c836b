"""The one place that knows about brainunit quantities.

The compiled step works on plain arrays (mantissas). A parameter stored as a
Quantity is split into its mantissa and unit when it is read, and the unit is
put back when it is written, so the parameter keeps its unit through every
update.
"""
import brainunit as u

__all__ = ['is_quantity', 'split', 'merge', 'grad_mantissa']


def is_quantity(x):
    return isinstance(x, u.Quantity)


def split(x):
    """Return ``(mantissa, unit)``; ``unit`` is None for a plain array."""
    if is_quantity(x):
        return x.mantissa, x.unit
    return x, None


def merge(mantissa, unit):
    return mantissa if unit is None else u.Quantity(mantissa, unit=unit)


def grad_mantissa(grad, unit, path):
    """The gradient's numbers, expressed in the parameter's unit.

    A gradient from ``brainstate.transform.grad`` (``unit_aware=False``) is
    labelled with its parameter's unit; a plain array is taken to be in it.
    A gradient of any other dimension is an error that names the path.
    """
    if not is_quantity(grad):
        return grad
    if unit is None:
        if grad.unit.is_unitless:
            return grad.mantissa
        raise ValueError(f'gradient for {path!r} has unit {grad.unit}, but the parameter has no unit')
    if grad.unit == unit:
        return grad.mantissa
    if grad.unit.has_same_dim(unit):
        return grad.to_decimal(unit)
    raise ValueError(f'gradient for {path!r} has unit {grad.unit}, which does not belong to a parameter '
                     f'in {unit}; expected a gradient labelled in {unit}')
