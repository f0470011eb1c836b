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
    """The gradient's numbers: ``d loss / d (the parameter's number in its stored unit)``.

    ``brainstate.transform.grad(..., unit_aware=False)`` labels the gradient
    with its parameter's unit (``mV``) and a plain array is taken to be in it;
    with ``unit_aware=True`` the gradient of a dimensionless loss is in the
    inverse unit (``1/mV``). Both give the same numbers here. A gradient of
    any other dimension is an error that names the path and both units.
    """
    if not is_quantity(grad):
        return grad
    if unit is None:
        if grad.unit.is_unitless:
            return grad.to_decimal(u.Unit()) if grad.unit.scale or grad.unit.factor != 1 else grad.mantissa
        raise ValueError(f'update: gradient for {path!r} has unit {grad.unit}, but the parameter has no unit')
    if grad.unit == unit:
        return grad.mantissa
    if grad.unit.has_same_dim(unit):                     # unit_aware=False, labelled in another scale
        return grad.to_decimal(unit)
    inverse = unit ** -1
    if grad.unit.has_same_dim(inverse):                  # unit_aware=True: d loss / d p, in 1/unit
        return grad.to_decimal(inverse)
    raise ValueError(f'update: gradient for {path!r} has unit {grad.unit}, which does not belong to a parameter '
                     f'in {unit}: expected {unit} (brainstate.transform.grad with unit_aware=False) or 1/{unit} '
                     f'(unit_aware=True, for a dimensionless loss)')


# -- physical learning rates --------------------------------------------------------------------
#: named coherent SI units, so that an SI accumulator prints as ``1 / V^2`` rather than in base units
_NAMED_SI = ('volt', 'second', 'siemens', 'amp', 'ohm', 'farad', 'meter', 'kilogram', 'hertz', 'mole', 'kelvin',
             'watt', 'joule', 'newton', 'coulomb', 'weber', 'tesla', 'henry', 'pascal')


def si_unit(unit):
    """The coherent SI unit of ``unit``'s dimension (V for mV, s for ms, S for nS)."""
    for name in _NAMED_SI:
        named = getattr(u, name, None)
        if named is not None and named.dim == unit.dim and named.factor == 1 and \
                float(u.Quantity(1.0, unit=named).to_decimal(u.Unit(dim=unit.dim))) == 1.0:
            return named
    return u.Unit(dim=unit.dim)


def si_factor(unit) -> float:
    """How many SI units one ``unit`` is (1e-3 for mV); 1.0 for no unit."""
    if unit is None:
        return 1.0
    return float(u.Quantity(1.0, unit=unit).to_decimal(si_unit(unit)))


def power(unit, n):
    """``unit ** n`` for a unit or None (no unit), None when the result is dimensionless."""
    if unit is None or n == 0:
        return None
    out = unit ** n
    return None if out.is_unitless else out


def expected_lr_unit(exponents, param_unit):
    """The unit a learning rate must have for the step to be in the parameter's unit.

    ``exponents = (a, b)`` say the rule needs ``lr ~ P^a G^b``; the gradient is
    ``d loss / d p`` of a dimensionless loss, so ``G = 1/P`` and the learning
    rate is in ``P^(a - b)`` (None when dimensionless).
    """
    a, b = exponents
    return power(param_unit, a - b)


# -- hyperparameters given as Quantities (an epsilon in the gradient's unit) ----------------------------
#: epsilons of the rules whose files declare no ``eps_units`` (exponents of P and G, as ``Rule.slot_units``)
_EPS_FALLBACK = {
    'AdamRule': lambda rule: {'eps': (0, 1)},                       # sqrt(v) + eps: in G
    'AdagradRule': lambda rule: {'eps': (0, 1) if rule.eps_placement == 'outside' else (0, 2)},
}


def eps_exponents(rule):
    """``{hyperparameter: (a, b)}``: the unit ``P^a G^b`` each of the rule's epsilons is in ({} if none)."""
    declared = getattr(rule, 'eps_units', None)
    if declared is not None:
        return dict(declared)
    fallback = _EPS_FALLBACK.get(type(rule).__name__)
    return fallback(rule) if fallback else {}


def hyper_number(name, quantity, exponents, param_unit, owner, path):
    """The number a Quantity hyperparameter has in the unit the rule computes in for one parameter.

    ``param_unit`` is the unit the rule sees the parameter in (its stored unit, or its SI unit when the lr is
    a Quantity; None without a unit). The gradient of a dimensionless loss is in ``1/P``, so an epsilon with
    exponents ``(a, b)`` is in ``P^(a - b)``. Raises ValueError naming the parameter and both units when the
    dimension does not fit.
    """
    want = expected_lr_unit(exponents, param_unit)
    if want is None:
        if not quantity.unit.is_unitless:
            raise ValueError(f'{owner}: {name}={quantity} does not fit parameter {path!r} in '
                             f'{param_unit if param_unit is not None else "no unit"}: {name} must be '
                             f'dimensionless there')
        return float(quantity.to_decimal(u.Unit()))
    if not quantity.unit.has_same_dim(want):
        raise ValueError(f'{owner}: {name}={quantity} does not fit parameter {path!r} in {param_unit}: '
                         f'{name} must be in {want} (or another unit of that dimension)')
    return float(quantity.to_decimal(want))


def describe_unit(unit):
    """A unit as text for a repr: ``'1 / mV^2'``; ``None`` for no unit."""
    return None if unit is None else str(unit)
