"""Lookahead (Zhang, Lucas, Hinton and Ba, 2019): any rule as the fast optimizer, plus slow weights."""

import jax.numpy as jnp

from ..transforms import weight_decay as decay
from ..units import eps_exponents
from .base import Rule, run_update

__all__ = ['LookaheadRule']


class LookaheadRule(Rule):
    r"""Wrap an inner rule: every ``sync_period``-th update pulls the slow weights towards the fast ones.

    .. math::

        \theta^{fast}_t = \mathrm{inner}(\theta^{fast}_{t-1}, g_t), \qquad
        \text{if } t \bmod k = 0:\;
        \phi \leftarrow \phi + \alpha\,(\theta^{fast}_t - \phi),\;
        \theta^{fast}_t \leftarrow \phi

    with :math:`t` = ``count + 1``. The slots are the inner rule's plus
    ``slow`` (:math:`\phi`, initialised to the parameters at registration).

    The fast weights the slow ones are pulled towards are the ones the engine
    writes, decoupled weight decay included: the engine shrinks the weights
    beside the rule (``p - p * wd * lr``), so this rule is told the decoupled
    decay (``decoupled_weight_decay``, ``weight_decay_exclude``) and applies
    the same shrink to find them. Its delta on a synchronising update is
    ``phi_new - shrunk_p``, so that the engine lands on the new slow weights.

    With ``reset_state`` (``optax.lookahead(reset_state=True)``) the inner
    rule's slots go back to their initial values on every synchronising
    update, and the inner rule counts its updates from the last
    synchronisation (``count % sync_period``), as optax re-initialises the
    fast optimizer's state, its step count included.
    """

    def __init__(self, inner: Rule, sync_period: int, alpha: float, *,
                 decoupled_weight_decay: float = 0.0, weight_decay_exclude=None, reset_state: bool = False,
                 decay_scaled_by_lr: bool = True, proximal_weight_decay: float = 0.0):
        if isinstance(inner, LookaheadRule):
            raise TypeError('LookaheadRule: the inner rule is already a LookaheadRule; one set of slow weights '
                            'is enough')
        if 'slow' in inner.slots:
            raise ValueError(f"LookaheadRule: the inner rule {inner!r} already has a slot named 'slow'")
        self.inner = inner
        self.sync_period = sync_period
        self.alpha = alpha
        self.reset_state = reset_state
        self.decoupled_weight_decay = decoupled_weight_decay
        self.decay_scaled_by_lr = decay_scaled_by_lr      # False: brainpy's p - wd p ('decoupled_unscaled')
        # 'proximal' (Adan): the engine turns a step d into (p + d) / (1 + wd lr) - p after this rule
        self.proximal_weight_decay = proximal_weight_decay
        self.weight_decay_exclude = weight_decay_exclude
        self.slots = tuple(inner.slots) + ('slow',)
        self.lr_unit = getattr(inner, 'lr_unit', None)
        self.slot_units = {**getattr(inner, 'slot_units', {}), 'slow': (1, 0)}
        self.eps_units = eps_exponents(inner)

    def init(self, params):
        out = dict(self.inner.init(params))
        out['slow'] = {k: jnp.array(p, copy=True) for k, p in params.items()}
        return out

    takes_decay = True

    hyper_names = ('alpha',)

    def hyper(self):
        """``alpha``, and the inner rule's hyperparameters under ``'inner'``."""
        return {**super().hyper(), 'inner': self.inner.hyper()}

    @property
    def takes_hyper(self):
        return self.inner.takes_hyper

    def with_values(self, hyper, values):
        """The epsilons given as Quantities are the inner rule's."""
        return {**hyper, 'inner': self.inner.with_values(hyper['inner'], values)}

    def _own_plan(self, params):
        """The decay that the rule's own arguments describe (the rule used on its own, outside an optimizer)."""
        mask = decay.decay_mask(list(params), self.weight_decay_exclude)
        if self.proximal_weight_decay:
            return decay.Plan('proximal', decay.coefficients(params, self.proximal_weight_decay, mask))
        mode = 'decoupled' if self.decay_scaled_by_lr else 'decoupled_unscaled'
        return decay.Plan(mode, decay.coefficients(params, self.decoupled_weight_decay, mask))

    def update(self, grads, params, state, count, lr, hyper, decay=None):
        """The inner rule's step, and every ``sync_period``-th call the pull towards the slow weights. ``decay``:
        the engine's weight decay of this step (what the engine will write depends on it); None: the rule's
        own ``decoupled_weight_decay`` / ``proximal_weight_decay``."""
        plan = self._own_plan(params) if decay is None else decay
        inner_state = {s: state[s] for s in self.inner.slots}
        inner_count = count % self.sync_period if self.reset_state else count
        extra = {'decay': plan} if self.inner.takes_decay else {}
        deltas, new_state = run_update(self.inner, grads, params, inner_state, inner_count, lr, hyper['inner'],
                                       **extra)
        new_state = dict(new_state)
        base = plan.fast_base(params, lr)
        sync = (count + 1) % self.sync_period == 0
        if self.reset_state:
            fresh = self.inner.init(params)
            new_state = {s: {k: jnp.where(sync, fresh[s][k], v) for k, v in by_leaf.items()}
                         for s, by_leaf in new_state.items()}
        out, slow = {}, {}
        for k, p in base.items():
            shrink = plan.proximal_divisor(k, lr, p.dtype)
            fast = p + deltas[k].astype(p.dtype)
            if shrink is not None:          # the weights the engine writes after its proximal step
                fast = fast / shrink
            phi = state['slow'][k]
            synced = phi + jnp.asarray(hyper['alpha'], phi.dtype) * (fast - phi)
            # the step that makes the engine write `synced` (undoing the proximal division it applies next)
            target = synced if shrink is None else synced * shrink
            out[k] = jnp.where(sync, target - p, deltas[k].astype(p.dtype))
            slow[k] = jnp.where(sync, synced, phi)
        new_state['slow'] = slow
        return out, new_state

    def config(self):
        return {'sync_period': self.sync_period, 'alpha': self.alpha, 'base': self.inner,
                **({'reset_state': True} if self.reset_state else {})}
