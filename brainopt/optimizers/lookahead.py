"""``brainopt.Lookahead``: slow weights around any brainopt optimizer."""
import contextlib
import inspect

import jax.numpy as jnp

from .. import _registry as registry
from .. import _validate as check
from ..optimizer import Optimizer, with_shared_options
from ..rules.lookahead import LookaheadRule

__all__ = ['Lookahead']


def wrapped_settings(owner, base_optimizer, options):
    """The learning rate and shared options of ``base_optimizer``, overridden by ``options``.

    A wrapper (:class:`brainopt.Lookahead`, :class:`brainopt.SAM`) takes the
    base optimizer as a *template*: its rule, its learning rate (or schedule)
    and every shared option it was built with. The wrapper keeps the
    optimizer's memory in its own States; the base object's States are not
    used, so the base must not have weights registered.
    """
    if not isinstance(base_optimizer, Optimizer):
        raise TypeError(f'{owner}: base_optimizer must be a brainopt optimizer (brainopt.Adam(...), ...), '
                        f'got {type(base_optimizer).__name__}')
    if type(base_optimizer).update is not Optimizer.update:
        raise TypeError(f'{owner}: cannot wrap {type(base_optimizer).__name__}, whose update() takes more than the '
                        f'gradients; wrap the other way round (e.g. brainopt.SAM(brainopt.Lookahead(...)))')
    if base_optimizer.param_paths:
        raise ValueError(f'{owner}: base_optimizer already has registered weights {base_optimizer.param_paths}; '
                         f'register the weights with the {owner} only (the base is a template: its rule, lr and '
                         f'options are taken, its States are not used)')
    shared = inspect.signature(Optimizer.__init__).parameters
    settings = {'lr': base_optimizer.lr}
    settings.update({k: getattr(base_optimizer, k) for k, p in shared.items()
                     if p.kind is p.KEYWORD_ONLY and k != 'name'})
    unknown = sorted(set(options) - set(settings) - {'name'})
    if unknown:
        raise TypeError(f'{owner}: unexpected keyword argument(s) {unknown}; the shared options are '
                        f'{sorted(set(settings))}')
    settings.update(options)
    sched = base_optimizer._groups[0].source.scheduler
    if 'lr' not in options and getattr(sched, 'attached_optimizer', None) is base_optimizer:
        sched.detach()          # the template hands its schedule over: a schedule drives one optimizer
    return settings


@with_shared_options
class Lookahead(Optimizer):
    r"""Lookahead: k steps forward with any optimizer, one step back.

    The base optimizer updates the *fast* weights (the model's ParamStates)
    on every update; every ``sync_period``-th update the *slow* weights move
    towards them and the fast weights are reset onto the slow ones:

    .. math::

        \theta_t = \mathrm{base}(\theta_{t-1}, g_t), \qquad
        \text{if } t \bmod k = 0:\;
        \phi \leftarrow \phi + \alpha\,(\theta_t - \phi),\;
        \theta_t \leftarrow \phi

    with :math:`t` the number of updates applied, this one included (so
    gradient accumulation and skipped non-finite calls do not count), and
    :math:`\phi` initialised to the parameters at registration.

    ``base_optimizer`` is a template: the Lookahead takes its rule, its
    learning rate or schedule, and every shared option it was built with
    (clipping, weight decay, EMA, ...); a shared option given to the
    Lookahead overrides the base's. The base's learning rate and schedule act
    on every fast step (braintools.optim.Lookahead ignores them). The
    optimizer's memory lives in the Lookahead's States: the base rule's
    slots plus ``slow``, one array per parameter.

    Decisions: argument names and defaults are braintools.optim's
    (``sync_period=5, alpha=0.5``; optax calls them ``sync_period`` and
    ``slow_step_size`` and has no defaults). The model holds the fast weights
    (braintools; optax keeps both in ``LookaheadParams``); read the slow ones
    with ``opt.get_slot('slow', path)``, or evaluate with them inside
    ``with opt.slow_weights():``. Decoupled weight decay is part of the fast
    step, as in ``optax.lookahead(optax.adamw(...))``; the EMA averages the
    weights after synchronisation. The base's state is kept across a
    synchronisation unless ``reset_state=True`` (optax's option; braintools.optim
    has none, and neither has the pull-back momentum of some PyTorch ports).

    Parameters
    ----------
    base_optimizer : Optimizer
        The fast optimizer, e.g. ``brainopt.Adam(lr=1e-3)``, with no weights
        registered. Optimizers whose ``update`` needs more than gradients
        (:class:`brainopt.SAM`, :class:`brainopt.LBFGS`) cannot be wrapped;
        ``brainopt.SAM(brainopt.Lookahead(...))`` works.
    sync_period : int, default 5
        :math:`k`, fast updates between synchronisations; >= 1.
    alpha : float, default 0.5
        :math:`\alpha`, the slow step size, in [0, 1].
    reset_state : bool, default False
        Re-initialise the base rule's slots at every synchronisation, and
        count its updates from there (its bias corrections restart), as
        ``optax.lookahead(reset_state=True)``.
    **options
        Any shared option, overriding the base optimizer's:
    {shared_options}

    References
    ----------
    M. R. Zhang, J. Lucas, G. Hinton, J. Ba, "Lookahead Optimizer: k steps
    forward, 1 step back", NeurIPS 2019, arXiv:1907.08610.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([1.0]))
    >>> opt = brainopt.Lookahead(brainopt.SGD(lr=0.1), sync_period=2, alpha=0.5)
    >>> opt = opt.register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.array([1.0])})    # fast: 0.9
    >>> _ = opt.update({'w': jnp.array([1.0])})    # fast: 0.8, then slow: 1 + 0.5 (0.8 - 1)
    >>> [round(float(w.value[0]), 6), round(float(opt.get_slot('slow', 'w')[0]), 6)]
    [0.9, 0.9]
    """

    def __init__(self, base_optimizer, sync_period: int = 5, alpha: float = 0.5, *, reset_state: bool = False,
                 **options):
        owner = type(self).__name__
        if not isinstance(reset_state, bool):
            raise TypeError(f'{owner}: reset_state must be a bool, got {reset_state!r}')
        settings = wrapped_settings(owner, base_optimizer, options)
        sync_period = check.positive_int('sync_period', sync_period, owner=owner)
        alpha = check.real('alpha', alpha, low=0., high=1., owner=owner)
        # the rule learns the weights the engine adds its step to (the weight decay) from the engine, each step
        rule = LookaheadRule(base_optimizer.rule, sync_period, alpha, reset_state=reset_state)
        super().__init__(rule, **settings)
        self._quantity_hypers = dict(base_optimizer._quantity_hypers)     # a Quantity eps of the template

    @property
    def sync_period(self):
        return self.rule.sync_period

    @property
    def alpha(self):
        return self.rule.alpha

    @contextlib.contextmanager
    def slow_weights(self):
        """Evaluate with the slow weights; the fast weights come back on exit.

        Examples
        --------
        >>> import brainstate, brainopt, jax.numpy as jnp
        >>> w = brainstate.ParamState(jnp.array([1.0]))
        >>> opt = brainopt.Lookahead(brainopt.SGD(lr=0.5), sync_period=3)
        >>> opt = opt.register_trainable_weights({'w': w})
        >>> _ = opt.update({'w': jnp.array([1.0])})
        >>> with opt.slow_weights():
        ...     float(w.value[0])
        1.0
        >>> float(w.value[0])
        0.5
        """
        entries = self._weights.entries
        saved = registry.read_params(entries)
        registry.write_params(entries, {k: jnp.array(v, copy=True) for k, v in self.slots['slow'].value.items()})
        try:
            yield self
        finally:
            registry.write_params(entries, saved)
