"""Keras 3 optimizers on brainstate States: Keras's names, defaults and semantics, brainopt's engine.

``brainopt.keras.Adam(learning_rate=1e-3, beta_1=0.9, ...)`` takes exactly the
arguments of ``keras.optimizers.Adam`` (every base option too: ``weight_decay``,
``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``use_ema``, ``ema_momentum``,
``ema_overwrite_frequency``, ``loss_scale_factor``,
``gradient_accumulation_steps``, ``name``) with Keras's defaults, and gives
Keras's numbers. Each class is the brainopt optimizer of the same rule with
these settings, not a second copy of the rule:

* ``weight_decay`` is decoupled and scaled by the current learning rate, and
  the rule then runs on the shrunk weights (``weight_decay_mode='decoupled_first'``);
* ``clipnorm`` is the per-parameter norm, ``global_clipnorm`` the global one,
  and at most one of the three clip options may be given (Keras's check);
* with ``gradient_accumulation_steps`` the learning rate (a schedule, and the
  decay's lr) sees every call, and the EMA moves on every call, as Keras
  counts them (``count_calls=True``); bias corrections count updates;
* ``iterations``, ``learning_rate``, ``exclude_from_weight_decay(var_list,
  var_names)`` and ``finalize_variable_values()`` behave as Keras's.

Where Keras's arithmetic differs from the default of the rule brainopt keeps,
the class runs the rule's Keras form: Adam, AdamW and Muon's Adam step put
epsilon on the uncorrected root with float32 bias corrections
(``AdamRule(keras=True)``), Adamax adds epsilon outside the maximum
(``AdamaxRule(keras=True)``), SGD and RMSprop keep the learning rate inside the
momentum buffer (``lr_in_buffer=True``); ``docs/dialects.md`` lists the rest.

Examples
--------
>>> import brainstate, jax.numpy as jnp
>>> import brainopt.keras
>>> w = brainstate.ParamState(jnp.array([1.0, -2.0]))
>>> opt = brainopt.keras.SGD(learning_rate=0.1, weight_decay=0.5)
>>> opt = opt.register_trainable_weights({'w': w})
>>> _ = opt.update({'w': jnp.array([1.0, 1.0])})       # p - p*wd*lr - lr*g
>>> [round(float(x), 6) for x in w.value], int(opt.iterations)
([0.85, -2.0], 1)
"""
import functools
import inspect
import re
import warnings

import brainstate

import brainopt.optimizers as _o
from brainopt import _arguments
from brainopt import _validate as check
from brainopt.optimizer import Optimizer as _Optimizer
from brainopt.rules.adafactor import AdafactorRule
from brainopt.rules.adam import AdamRule
from brainopt.rules.adam_family import AdamaxRule
from brainopt.rules.muon import MuonRule
from brainopt.rules.rmsprop import RMSpropRule
from brainopt.rules.sgd import SGDRule
from brainopt.transforms import weight_decay as _decay

__all__ = ['Adadelta', 'Adafactor', 'Adagrad', 'Adam', 'AdamW', 'Adamax', 'Ftrl', 'Lamb', 'Lion', 'Muon', 'Nadam',
           'RMSprop', 'SGD', 'ScheduleFreeAdamW']

_BASE_DEFAULTS = dict(weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                      ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                      gradient_accumulation_steps=None)


def _learning_rate(value):
    """Keras accepts a callable of no argument as the learning rate; brainopt calls it with the step."""
    if callable(value) and not hasattr(value, 'lr_at'):
        try:
            params = inspect.signature(value).parameters.values()
        except (TypeError, ValueError):
            return value
        if all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
            return lambda step: value()
    return value


def _options(owner, learning_rate, name, kwargs, weight_decay_default=None):
    """The brainopt engine options for Keras's base arguments (popped from ``kwargs``)."""
    explicit = 'weight_decay' in kwargs
    base = {k: kwargs.pop(k, v) for k, v in _BASE_DEFAULTS.items()}
    if not explicit:
        base['weight_decay'] = weight_decay_default
    if kwargs.pop('decay', None) is not None:
        warnings.warn('Argument `decay` is no longer supported and will be ignored.', stacklevel=3)
    if kwargs:
        raise ValueError(f'{owner}: argument(s) not recognized: {kwargs}')
    clips = {k: base[k] for k in ('clipnorm', 'clipvalue', 'global_clipnorm') if base[k] is not None}
    if len(clips) > 1:
        raise ValueError(f'{owner}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set, got {clips}')
    steps = base['gradient_accumulation_steps']
    if steps is not None and not (isinstance(steps, int) and not isinstance(steps, bool) and steps >= 2):
        raise ValueError(f'{owner}: `gradient_accumulation_steps` must be an integer >= 2, got {steps!r}')
    return dict(lr=_learning_rate(learning_rate), weight_decay=base['weight_decay'] or 0.0,
                weight_decay_mode='decoupled_first', grad_clip_norm_per_param=base['clipnorm'],
                grad_clip_value=base['clipvalue'], grad_clip_norm=base['global_clipnorm'], use_ema=base['use_ema'],
                ema_momentum=base['ema_momentum'], ema_overwrite_frequency=base['ema_overwrite_frequency'],
                loss_scale_factor=base['loss_scale_factor'], gradient_accumulation_steps=steps, count_calls=True,
                name=owner.lower() if name is None else name)


class _Keras:
    """Keras's attributes and methods, over a brainopt optimizer."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if '__init__' in cls.__dict__:      # NaN and +-inf refused under this dialect's argument names
            init = check.finite_arguments(cls.__dict__['__init__'])
            # Keras's constructor arguments (beta_1, epsilon, clipnorm, ...): assigning one goes through the
            # constructor's checks (brainopt._arguments) instead of making an attribute that no update reads
            # (learning_rate is a property: it sets the rate)
            fixed = (frozenset(inspect.signature(cls.__dict__['__init__']).parameters) | set(_BASE_DEFAULTS)) - \
                {'self', 'learning_rate', 'name', 'kwargs'}

            @functools.wraps(init)
            def __init__(self, *args, **kw):
                init(self, *args, **kw)
                if type(self) is cls:
                    self.__dict__['_keras_arguments'] = fixed
            cls.__init__ = __init__

    #: the arguments that are shared options under Keras's names (a state dict holds these as the options)
    _shared_argument_names = frozenset(_BASE_DEFAULTS)

    def __setattr__(self, name, value):
        if name in self.__dict__.get('_keras_arguments', ()) and _arguments.is_argument(self, name):
            # beta_1, epsilon, clipnorm, ...: checked by the constructor, then live or traced again (issue 21)
            _arguments.assign(self, {name: value})
            return
        if name in self.__dict__.get('_keras_arguments', ()):       # (an optimizer built without its names)
            raise AttributeError(
                f'{type(self).__name__}.{name} cannot be changed after construction: the update (eager, and every '
                f'compiled step) is built with the {name} given to the constructor, and an assigned value would be '
                f'silently ignored. Build a new optimizer with {name}={value!r} and load this one\'s state_dict() '
                f'into it (the learning rate can be set: optimizer.learning_rate = ...)')
        super().__setattr__(name, value)

    @property
    def iterations(self):
        """Updates applied (Keras's ``iterations``: calls // ``gradient_accumulation_steps``)."""
        return self.step_count.value

    @property
    def learning_rate(self):
        """The learning rate of the next call (a schedule evaluated at Keras's call count)."""
        return self.current_lr

    @learning_rate.setter
    def learning_rate(self, value):
        self.lr = _learning_rate(value)

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Exclude States (``var_list``) or parameters whose dotted path matches one of ``var_names``
        (regular expressions, searched as Keras searches variable names) from weight decay.

        Replaces earlier exclusions, as Keras does; may be called before or
        after ``register_trainable_weights``.
        """
        owner = f'{type(self).__name__}.exclude_from_weight_decay'
        var_list = list(var_list or ())
        bad = [v for v in var_list if not isinstance(v, brainstate.State)]
        if bad:
            raise TypeError(f'{owner}: var_list must hold brainstate States, got {bad[0]!r}')
        if isinstance(var_names, str):
            raise TypeError(f'{owner}: var_names must be a list of strings, got the string {var_names!r}')
        ids = {id(v) for v in var_list}
        pattern = re.compile('|'.join(sorted(set(var_names)))) if var_names else None
        weights = self._weights

        def excluded(path):
            if pattern is not None and pattern.search(path):
                return True
            return any(id(e.state) in ids and path in e.leaves for e in weights.entries)

        self._replace_option('weight_decay_exclude', excluded if (ids or pattern is not None) else None)
        self._decay_mask = _decay.decay_mask(weights.leaf_names, self.weight_decay_exclude)
        self._structure_changed()       # which parameters decay is part of the program: every step traces again

    def finalize_variable_values(self, var_list=None):
        """With ``use_ema``, overwrite the parameters with their moving averages (else nothing)."""
        if self.use_ema:
            self.copy_ema_to_params()


class Adadelta(_Keras, _o.Adadelta):
    """``keras.optimizers.Adadelta`` (rule: :class:`brainopt.Adadelta`)."""

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, name=None, **kwargs):
        super().__init__(rho=rho, eps=epsilon, **_options('Adadelta', learning_rate, name, kwargs))


class Adagrad(_Keras, _o.Adagrad):
    """``keras.optimizers.Adagrad``: epsilon inside the root (rule: :class:`brainopt.Adagrad`)."""

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, name=None, **kwargs):
        super().__init__(initial_accumulator_value=initial_accumulator_value, eps=epsilon, eps_placement='inside',
                         **_options('Adagrad', learning_rate, name, kwargs))


def _keras_adam(rule):
    """Keras's form of a validated :class:`AdamRule`: epsilon on the uncorrected root, float32 powers."""
    return AdamRule(rule.b1, rule.b2, rule.eps, rule.amsgrad, keras=True)


class Adam(_Keras, _o.Adam):
    """``keras.optimizers.Adam``: epsilon on the uncorrected root (rule: :class:`brainopt.Adam`, Keras's form)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, name=None,
                 **kwargs):
        super().__init__(betas=(beta_1, beta_2), eps=epsilon, amsgrad=amsgrad,
                         **_options('Adam', learning_rate, name, kwargs))

    def _dialect_rule(self, rule):
        return _keras_adam(rule)


class AdamW(_Keras, _o.Adam):
    """``keras.optimizers.AdamW``: Keras's Adam with ``weight_decay=0.004``."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, name=None,
                 **kwargs):
        super().__init__(betas=(beta_1, beta_2), eps=epsilon, amsgrad=amsgrad,
                         **_options('AdamW', learning_rate, name, kwargs, weight_decay_default=0.004))

    def _dialect_rule(self, rule):
        return _keras_adam(rule)


class Adamax(_Keras, _o.Adamax):
    """``keras.optimizers.Adamax``: epsilon outside the maximum (rule: :class:`brainopt.Adamax`, Keras's form)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name=None, **kwargs):
        super().__init__(betas=(beta_1, beta_2), eps=epsilon, **_options('Adamax', learning_rate, name, kwargs))

    def _dialect_rule(self, rule):
        return AdamaxRule(rule.b1, rule.b2, rule.eps, keras=True)


class Ftrl(_Keras, _o.Ftrl):
    """``keras.optimizers.Ftrl`` (rule: :class:`brainopt.Ftrl`, written from Keras's)."""

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, name=None, **kwargs):
        super().__init__(learning_rate_power=learning_rate_power, initial_accumulator_value=initial_accumulator_value,
                         l1_regularization_strength=l1_regularization_strength,
                         l2_regularization_strength=l2_regularization_strength,
                         l2_shrinkage_regularization_strength=l2_shrinkage_regularization_strength, beta=beta,
                         **_options('Ftrl', learning_rate, name, kwargs))


class Lamb(_Keras, _o.Lamb):
    """``keras.optimizers.Lamb``: the decay shrinks the weights before the trust ratio
    (rule: :class:`brainopt.Lamb`)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name=None, **kwargs):
        super().__init__(betas=(beta_1, beta_2), eps=epsilon, **_options('Lamb', learning_rate, name, kwargs))


class Lion(_Keras, _o.Lion):
    """``keras.optimizers.Lion`` (rule: :class:`brainopt.Lion`)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, name=None, **kwargs):
        super().__init__(betas=(beta_1, beta_2), **_options('Lion', learning_rate, name, kwargs))


class Muon(_Keras, _o.Muon):
    """``keras.optimizers.Muon``: Newton-Schulz on 2-D parameters, an AdamW step on the others
    (rule: :class:`brainopt.Muon` with ``adjust_lr_fn='match_rms_adamw'``, scaled by Keras's ``rms_rate``).

    Parameters take the AdamW step when they are not 2-D, when
    ``exclude_embeddings`` and 'embedding' is in their dotted path, or when
    their path matches a pattern of ``exclude_layers`` (Keras's decision);
    those decay with ``adam_weight_decay``, the others with ``weight_decay``
    (both decoupled, scaled by the learning rate, as Keras).
    """

    _fixed_attributes = _Optimizer._fixed_attributes | {'adam_weight_decay'}

    def __init__(self, learning_rate=0.001, adam_beta_1=0.9, adam_beta_2=0.999, adam_weight_decay=0.004,
                 epsilon=1e-7, weight_decay=0.004, name=None, exclude_layers=None, exclude_embeddings=True,
                 muon_a=3.4445, muon_b=-4.775, muon_c=2.0315, adam_lr_ratio=1, momentum=0.95, ns_steps=5,
                 nesterov=True, rms_rate=0.2, **kwargs):
        if not isinstance(rms_rate, (int, float)) or isinstance(rms_rate, bool) or not 0 < rms_rate < float('inf'):
            raise ValueError(f'Muon: rms_rate must be a finite positive number, got {rms_rate!r}')
        self.adam_weight_decay = check.real('adam_weight_decay', adam_weight_decay or 0.0, low=0., owner='Muon')
        self._rms_rate = float(rms_rate)
        super().__init__(weight_decay=weight_decay or 0.0, momentum=momentum, nesterov=nesterov,
                         ns_coefficients=(muon_a, muon_b, muon_c), ns_steps=ns_steps, adjust_lr_fn='match_rms_adamw',
                         adam_betas=(adam_beta_1, adam_beta_2), adam_eps=epsilon, adam_lr_ratio=adam_lr_ratio,
                         exclude_layers=exclude_layers, exclude_embeddings=exclude_embeddings,
                         **{k: v for k, v in _options('Muon', learning_rate, name, kwargs).items()
                            if k != 'weight_decay'})

    def _dialect_rule(self, r):
        return MuonRule(r.momentum, r.nesterov, r.ns_coefficients, r.eps, r.ns_steps, r.adjust_lr_fn,
                        (r.adam.b1, r.adam.b2), r.adam.eps, r.adam_lr_ratio, r.exclude_layers, r.exclude_embeddings,
                        rms_rate=self._rms_rate, keras=True)

    def _group_decay(self, group, wd):
        # Keras's Muon: the AdamW leaves decay with adam_weight_decay, the Newton-Schulz leaves with weight_decay
        if self.adam_weight_decay == group.weight_decay:
            return wd
        shapes = {n: s for e in self._weights.entries for n, s in zip(e.leaves, e.shapes)}
        return {n: self.adam_weight_decay if len(shapes[n]) != 2 or self.rule.excluded(n) else wd
                for n in group.leaves}


class Nadam(_Keras, _o.Nadam):
    """``keras.optimizers.Nadam``: Dozat's ``0.96**t`` schedule
    (rule: :class:`brainopt.Nadam`, ``momentum_decay=1``)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name=None, **kwargs):
        super().__init__(betas=(beta_1, beta_2), eps=epsilon, momentum_decay=1.0,
                         **_options('Nadam', learning_rate, name, kwargs))


class RMSprop(_Keras, _o.RMSprop):
    """``keras.optimizers.RMSprop``: epsilon inside the root, the learning rate inside the momentum buffer
    (rule: :class:`brainopt.RMSprop`, ``lr_in_buffer=True``)."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, name=None,
                 **kwargs):
        super().__init__(alpha=rho, eps=epsilon, momentum=momentum, centered=centered, eps_placement='inside',
                         **_options('RMSprop', learning_rate, name, kwargs))

    def _dialect_rule(self, r):
        return RMSpropRule(r.alpha, r.eps, r.momentum, r.centered, r.eps_placement, lr_in_buffer=True)


class SGD(_Keras, _o.SGD):
    """``keras.optimizers.SGD``: the learning rate inside the momentum buffer (rule: :class:`brainopt.SGD`,
    ``lr_in_buffer=True``; Nesterov without momentum is plain SGD, as in Keras)."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name=None, **kwargs):
        super().__init__(momentum=momentum, nesterov=bool(nesterov and momentum),
                         **_options('SGD', learning_rate, name, kwargs))

    def _dialect_rule(self, rule):
        return SGDRule(rule.momentum, 0.0, rule.nesterov, lr_in_buffer=True)


class ScheduleFreeAdamW(_Keras, _o.ScheduleFreeAdamW):
    """``keras.optimizers.ScheduleFreeAdamW``: uniform averaging weights ``1/t``
    (rule: :class:`brainopt.ScheduleFreeAdamW` with ``weight_lr_power=0``)."""

    def __init__(self, learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0, name=None,
                 **kwargs):
        super().__init__(betas=(beta_1, beta_2), eps=epsilon, warmup_steps=warmup_steps, weight_lr_power=0.0,
                         **_options('ScheduleFreeAdamW', learning_rate, name, kwargs))


class Adafactor(_Keras, _o.Adafactor):
    """``keras.optimizers.Adafactor``: the step size is ``min(learning_rate, 1/sqrt(t))``
    (rule: :class:`brainopt.Adafactor`, ``decay_rate = -beta_2_decay``, in its ``cap_lr=True`` form).

    The cap is applied inside the rule: ``learning_rate`` and decoupled weight
    decay use the uncapped rate, as in Keras. ``relative_step`` is accepted;
    Keras caps the step size in both cases.
    """

    _fixed_attributes = _Optimizer._fixed_attributes | {'relative_step'}

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0,
                 relative_step=True, name=None, **kwargs):
        self.relative_step = relative_step
        super().__init__(eps=(epsilon_1, epsilon_2), clip_threshold=clip_threshold, decay_rate=-beta_2_decay,
                         **_options('Adafactor', learning_rate, name, kwargs))

    def _dialect_rule(self, rule):
        return AdafactorRule(rule.eps1, rule.eps2, rule.clip_threshold, rule.decay_rate, rule.beta1,
                             rule.factored, cap_lr=True)
