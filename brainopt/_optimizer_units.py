"""The engine's part that knows about physical units: a Quantity learning rate or epsilon, and the true unit of
every accumulator. :class:`brainopt.Optimizer` inherits it; ``brainopt.units`` holds the unit arithmetic."""
import functools
import inspect
from typing import Any, Callable, Dict

import jax
import jax.numpy as jnp

from . import _arguments, units
from .rules.base import run_update, shared_scope
from .transforms import weight_decay as decay
from .transforms.lr import describe

__all__ = []


def accept_quantity_hyperparameters(init):
    """Wrap an optimizer's ``__init__`` so that an epsilon may be a Quantity (``eps=1e-8 / u.mV``).

    The constructor sees (and checks) the Quantity's number; the Quantity is kept in
    ``self._quantity_hypers`` and converted, per parameter, to the unit the rule computes in
    (:meth:`Optimizer._rule_update`). Only the outermost ``__init__`` of a subclass chain does this.
    """
    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        if getattr(self, '_binding_hypers', False):
            return init(self, *args, **kwargs)
        bound = inspect.signature(init).bind(self, *args, **kwargs)
        given = inspect.BoundArguments(bound.signature, dict(bound.arguments))
        quantities = {}
        for name, value in list(bound.arguments.items()):
            if name != 'lr' and units.is_quantity(value):
                if jnp.ndim(value.mantissa) != 0:
                    raise ValueError(f'{type(self).__name__}: a Quantity {name} must be a scalar, '
                                     f'got shape {jnp.shape(value.mantissa)}')
                quantities[name] = value
                bound.arguments[name] = float(value.mantissa)
        self._binding_hypers = True
        try:
            init(*bound.args, **bound.kwargs)
        finally:
            self._binding_hypers = False
        accepted = units.eps_exponents(self.rule)
        if quantities and not self.rule.takes_hyper:
            raise TypeError(f'{type(self).__name__}: {", ".join(quantities)} given as a Quantity needs a rule whose '
                            f'update takes hyper (update_leaf(grad, param, slots, count, lr, hyper)): '
                            f'{type(self.rule).__name__} reads its own attributes, which hold one number')
        for name, value in quantities.items():
            if name not in accepted:
                raise TypeError(f'{type(self).__name__}: {name} must be a number, got {value}; a Quantity is '
                                f'accepted for ' + (', '.join(sorted(accepted)) if accepted else 'no hyperparameter')
                                + f' of {type(self.rule).__name__} (an epsilon in its own unit)')
        self._quantity_hypers = {**self._quantity_hypers, **quantities}     # a wrapper's template may have set some
        if self._quantity_hypers:
            self._lay_out_hyperparams()         # (a Quantity epsilon is not a live number)
        _arguments.record(self, init, given)       # for an argument assigned later (opt.betas = ...)
    return wrapper


class UnitsMixin:
    """Quantity learning rates and epsilons, and accumulators reported in their true units."""

    # what the Optimizer it is mixed into provides
    slots: Dict[str, Any]
    use_ema: bool
    ema: Any
    grad_accum: Any
    _accumulating: bool
    _entry: Callable[[Any], Any]

    def _si_factors(self, group, to_si):
        """``{slot: {leaf: factor}}`` that converts a group's accumulators to (or from) SI units."""
        out = {}
        for n in group.leaves:
            p_unit = self._leaf_units.get(n)
            if p_unit is None or units.si_factor(p_unit) == 1.0:
                continue
            for s in self.rule.slots:
                exponents = self.rule.slot_units.get(s)
                if exponents is None:
                    raise ValueError(f'{type(self).__name__}.set_lr: switching parameter {n!r} in {p_unit} between a '
                                     f'Quantity lr (the rule runs in SI units) and a float lr needs the unit of slot '
                                     f'{s!r}, which {type(self.rule).__name__} does not declare')
                e = exponents[0] - exponents[1]
                if e:
                    f = units.si_factor(p_unit) ** e
                    out.setdefault(s, {})[n] = f if to_si else 1.0 / f
        return out

    def _check_lr_units(self, group, leaf_units, where):
        """A Quantity lr must give every parameter of its group a step in the parameter's own unit."""
        unit = group.source.unit
        if unit is None:
            return
        owner = type(self).__name__
        exponents = getattr(self.rule, 'lr_unit', None)
        if exponents is None:
            raise TypeError(f'{owner}: {type(self.rule).__name__} does not declare the dimension of its learning '
                            f'rate, so a Quantity lr ({describe(group.lr)}) cannot be checked; give a float')
        if group.weight_decay and decay.needs_dimensionless_lr(self.weight_decay_mode) and not unit.is_unitless:
            raise ValueError(f'{owner}: decoupled weight decay shrinks p by p * weight_decay * lr, which needs a '
                             f'dimensionless lr; got lr in {unit}')
        for name, p_unit in leaf_units.items():
            want = units.expected_lr_unit(exponents, p_unit)
            ok = unit.is_unitless if want is None else unit.has_same_dim(want)
            if not ok:
                needed = f'in {want} (or another unit of that dimension)' if want is not None else 'without dimension'
                raise ValueError(
                    f'{owner}.{where}: the learning rate {describe(group.lr)} does not fit parameter {name!r} in '
                    f'{p_unit if p_unit is not None else "no unit"}: {type(self.rule).__name__} needs an lr '
                    f'{needed} so that the step is in the parameter\'s unit')

    def get_slot(self, slot: str, path):
        """One parameter's accumulator, with the structure of its State's value.

        Parameters
        ----------
        slot : str
            A slot of the rule (``opt.rule.slots``), or ``'ema'``, or
            ``'grad_accum'`` when those features are on.
        path : tuple or str
            The parameter's path as registered (``('l1', 'weight')``) or dotted
            (``'l1.weight'``).

        Returns
        -------
        The accumulator, as a ``brainunit.Quantity`` in its true unit for a
        parameter with a unit (a second moment of a threshold in mV is in
        ``1/mV^2``: the gradient of a dimensionless loss is in ``1/mV``; in
        SI units when the group's lr is a Quantity, since the rule then runs
        in SI units). A slot whose rule does not declare its unit
        (``Rule.slot_units``) comes back as plain numbers.
        """
        entry = self._entry(path)
        stores = {**self.slots, **({'ema': self.ema} if self.use_ema else {}),
                  **({'grad_accum': self.grad_accum} if self._accumulating else {})}
        if slot not in stores:
            raise KeyError(f'{type(self).__name__} has no slot {slot!r}; its slots are {sorted(stores)}')
        values = stores[slot].value
        leaves = [units.merge(values[n], self._slot_unit(slot, n)) for n in entry.leaves]
        return jax.tree.unflatten(entry.treedef, leaves)

    def _slot_unit(self, slot, leaf):
        """The true unit of one parameter's accumulator (None: no unit, or the rule does not declare it)."""
        exponents = {'ema': (1, 0), 'grad_accum': (0, 1)}.get(slot, self.rule.slot_units.get(slot))
        if exponents is None:
            return None
        p_unit = self._leaf_units.get(leaf)
        if p_unit is not None and slot in self.rule.slots and self._group_of(leaf).source.unit is not None:
            p_unit = units.si_unit(p_unit)       # the rule runs in SI units
        return units.power(p_unit, exponents[0] - exponents[1])

    def _label_slots(self):
        """Tell each OptimState the unit of every parameter's entry, for its ``repr``."""
        stores = {**self.slots, **({'ema': self.ema} if self.use_ema else {}),
                  **({'grad_accum': self.grad_accum} if self._accumulating else {})}
        for slot, store in stores.items():
            store._units = {n: self._slot_unit(slot, n) for n in self._weights.leaf_names}

    def _hyper_numbers(self, leaf, rule_unit):
        """The numbers of the Quantity epsilons for one parameter, in the unit the rule sees it in."""
        if not self._quantity_hypers:
            return ()
        exponents = units.eps_exponents(self.rule)
        return tuple(units.hyper_number(n, q, exponents[n], rule_unit, type(self).__name__, leaf)
                     for n, q in self._quantity_hypers.items())

    def _rule_update(self, grads, params, slots, count, lr, physical, plan, values=None):
        """``rule.update`` with the rule's hyperparameters (``hyper``): its live ones, and the numbers derived from
        them, as ``values`` (the step's :attr:`hyperparams`) holds them, the others as constants; with Quantity
        epsilons, once per set of parameters that share their numbers, each with its own values. A rule that
        reads the weight decay (``Rule.takes_decay``) gets the step's plan (``decay=``)."""
        extra = {'decay': plan} if self.rule.takes_decay else {}
        hyper = self.rule.hyper()
        if values is not None:
            hyper.update({k: values[k] for k in self._rule_live_numbers() if k in values})
        if not self._quantity_hypers:
            with shared_scope():
                return run_update(self.rule, grads, params, slots, count, lr, hyper, **extra)
        parts = {}
        for k in grads:
            p_unit = self._leaf_units.get(k)
            rule_unit = units.si_unit(p_unit) if physical and p_unit is not None else p_unit
            parts.setdefault(self._hyper_numbers(k, rule_unit), []).append(k)
        names = list(self._quantity_hypers)
        deltas, new = {}, {s: {} for s in slots}
        for numbers, keys in parts.items():
            with shared_scope():        # the hyperparameters differ between parts: one scope each
                d, sl = run_update(self.rule, {k: grads[k] for k in keys}, {k: params[k] for k in keys},
                                   {s: {k: v[k] for k in keys} for s, v in slots.items()}, count, lr,
                                   self.rule.with_values(hyper, dict(zip(names, numbers))), **extra)
            deltas.update(d)
            for s, v in sl.items():
                new[s].update(v)
        return deltas, new
