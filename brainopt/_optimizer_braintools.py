"""braintools.optim's names on every optimizer, for scripts that change only their import (issue 33;
docs/migration_braintools.md lists them and what remains different). :class:`brainopt.Optimizer` inherits it.

Also the rule's hyperparameters as attributes (``opt.betas``, ``opt.eps``, as braintools.optim, Keras and
torch's ``defaults`` show them). Assigning one sets it through the constructor's checks
(:mod:`brainopt._arguments`); a name of the rule's that is no constructor argument is read-only.
"""
import inspect

from . import _arguments

__all__ = []


#: the shared options that a built optimizer's update is compiled with: assigning one afterwards is refused (it
#: would be silently ignored by every compiled step); the learning rate and a group's weight decay are set with
#: ``set_lr`` / ``opt.lr = ...`` and ``opt.param_groups[i][...] = ...``
FIXED_OPTIONS = frozenset(['weight_decay_mode', 'weight_decay_exclude', 'use_ema', 'ema_overwrite_frequency',
                           'gradient_accumulation_steps', 'skip_nonfinite', 'count_calls', 'state_dtype'])

#: the shared options a user may assign after construction: numbers every step reads from the optimizer's state
#: (``Optimizer._set_option``); ``weight_decay`` sets every parameter group's
ASSIGNABLE_OPTIONS = frozenset(['weight_decay', 'grad_clip_value', 'grad_clip_norm', 'grad_clip_norm_per_param',
                                'ema_momentum', 'loss_scale_factor'])


def _read_only(cls, name):
    """Whether ``cls`` has no attribute ``name`` that an assignment would set (none, or a property without a
    setter: Lookahead's ``sync_period`` reads the rule's)."""
    attr = inspect.getattr_static(cls, name, None)
    return attr is None or isinstance(attr, property) and attr.fset is None


class BraintoolsNamesMixin:
    """``base_lr``, ``get_last_lr()``, ``lr_scheduler``, ``schedulers`` and the rule's hyperparameters."""

    #: attributes of a class's own that its step is built from (SAM's ``rho``, L-BFGS's ``linesearch``): assigning
    #: one after construction is refused, as for :data:`FIXED_OPTIONS`
    _fixed_attributes: frozenset = frozenset()

    @property
    def base_lr(self):
        """The first group's learning rate before any schedule: the number given, or the schedule's
        ``base_lr`` (None for a callable or a schedule without one)."""
        lr = self.lr
        if isinstance(lr, float):
            return float(lr)
        return getattr(lr, 'base_lr', None)

    def get_last_lr(self):
        """The learning rate that the next update applies, one float per parameter group (braintools's and
        torch's ``get_last_lr()``)."""
        self._settle()
        count = self._lr_count_now()
        return [float(g.source(count)) for g in self._groups]

    @property
    def lr_scheduler(self):
        """braintools.optim's name of ``opt.lr`` (there always a schedule; a number reads back as a
        :class:`~brainopt.transforms.lr.FixedRate` with the schedule methods)."""
        return self.lr

    @property
    def schedulers(self):
        """The schedules of the parameter groups (a group with a number or a callable as lr has none)."""
        return [g.source.scheduler for g in self._groups if g.source.scheduler is not None]

    # -- the rule's hyperparameters, read-only ---------------------------------------------------------
    def _rule_config(self):
        rule = self.__dict__.get('rule')
        return {} if rule is None else rule.config()

    def __getattr__(self, name):
        # only for names that normal lookup did not find
        config = self._rule_config() if not name.startswith('__') else {}
        if name in config:
            return self.__dict__.get('_quantity_hypers', {}).get(name, config[name])
        raise AttributeError(f'{type(self).__name__!r} object has no attribute {name!r}')

    def __setattr__(self, name, value):
        if ('hyperparams' in self.__dict__ and name not in self.__dict__ and _arguments.is_argument(self, name)
                and _read_only(type(self), name)):
            _arguments.assign(self, {name: value})   # opt.betas = ..., opt.eps = ...: checked by the constructor
            return
        if (name in self._rule_config() and name not in self.__dict__
                and not hasattr(type(self), name)):
            raise AttributeError(
                f'{type(self).__name__}.{name} is read-only: the update is compiled with {name}='
                f'{getattr(self, name)!r}, which is not an argument of {type(self).__name__}\'s constructor (its '
                f'class chose it); build the optimizer that has {name}={value!r} and load this one\'s state_dict() '
                f'into it')
        if (name in FIXED_OPTIONS or name in self._fixed_attributes) and name in self.__dict__:
            raise AttributeError(
                f'{type(self).__name__}.{name} cannot be changed after construction: the update (eager, and every '
                f'step compiled with brainstate.transform.jit or brainopt.jit) is built with {name}='
                f'{self.__dict__[name]!r} and would silently keep it. Build a new optimizer with {name}={value!r} '
                f'and load this one\'s state_dict() into it')
        if name in ASSIGNABLE_OPTIONS and name in self.__dict__ and 'hyperparams' in self.__dict__:
            self._set_option(name, value)
            return
        super().__setattr__(name, value)

    def _replace_option(self, name, value):
        """Set a shared option that a dialect's own method changes (Keras's ``exclude_from_weight_decay``); the
        caller resets what was compiled with the old value."""
        object.__setattr__(self, name, value)
