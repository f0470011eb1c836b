"""``brainopt.SAM``: sharpness-aware minimisation around any brainopt optimizer."""
import functools

import jax
import jax.numpy as jnp

from .. import _registry as registry
from .. import _validate as check
from ..optimizer import Optimizer, UpdateInfo, _is_traced, with_shared_options
from ..rules.sam import sam_perturbation
from ..transforms import clipping, loss_scale
from ..transforms.lr import describe
from .lookahead import wrapped_settings

__all__ = ['SAM']


@with_shared_options
class SAM(Optimizer):
    r"""SAM: descend with the gradient taken at the worst nearby weights.

    Each update takes two gradients: :math:`g` at the weights :math:`w`
    (the ``grads`` argument), and :math:`g_{SAM}` at :math:`w + \hat\epsilon`,
    which the base optimizer then applies at :math:`w`:

    .. math::

        \hat\epsilon = \rho\, \frac{T_w^2\, g}{\lVert T_w\, g \rVert_2 + 10^{-12}}, \qquad
        g_{SAM} = \nabla L(w + \hat\epsilon), \qquad
        w \leftarrow \mathrm{base}(w, g_{SAM})

    with :math:`T_w = I` (SAM) or :math:`\mathrm{diag}(|w|)` (ASAM,
    ``adaptive=True``) and the norm over all parameters together.

    :meth:`update` takes ``grad_fn``, a function of no argument that returns
    the gradients of the model at its States' *current* values (the same
    structure as ``grads``). SAM writes :math:`w + \hat\epsilon` into the
    registered States, calls ``grad_fn()``, writes :math:`w` back, and applies
    the base step: so it works with brainstate States, eagerly and inside
    ``brainstate.transform.jit`` / ``for_loop``. Other States that
    ``grad_fn`` writes (batch statistics) keep what it wrote.

    ``base_optimizer`` is a template, as for :class:`brainopt.Lookahead`:
    SAM takes its rule, learning rate and shared options (a shared option
    given to SAM overrides the base's) and keeps the memory in its own
    States, exactly the base rule's slots. SAM adds none.

    Which gradient the shared options see: loss scaling divides both
    gradients; :math:`g` only sets the direction of :math:`\hat\epsilon`.
    Clipping, weight decay (at the unperturbed :math:`w`), accumulation and
    the rule act on :math:`g_{SAM}`, as in the reference PyTorch
    implementation where they belong to the base optimizer. A non-finite
    :math:`g` makes the call non-finite (``skip_nonfinite`` skips it);
    the returned ``grad_norm`` is that of :math:`g_{SAM}`.

    Decisions: there is no SAM in torch.optim, Keras or braintools.optim.
    ``rho=0.05`` is the paper's and ``davda54/sam``'s default; the 1e-12
    added to the norm is ``davda54/sam``'s (optax's ``normalize`` adds
    nothing: equal but for a zero gradient); ASAM's :math:`T_w = |w|`
    without the paper's :math:`\eta` offset, as ``davda54/sam``. SAM with
    ``optax.contrib.sam(opt, chain(normalize(), sgd(rho)), opaque_mode=True)``
    is the same algorithm.

    Parameters
    ----------
    base_optimizer : Optimizer
        The optimizer that applies :math:`g_{SAM}`, e.g.
        ``brainopt.SGD(lr=0.1, momentum=0.9)``, with no weights registered;
        a :class:`brainopt.Lookahead` works.
    rho : float, default 0.05
        :math:`\rho`, radius of the neighbourhood; >= 0 (0 is the base
        optimizer with one wasted gradient).
    adaptive : bool, default False
        ASAM: the neighbourhood scaled by :math:`|w|`.
    **options
        Any shared option, overriding the base optimizer's:
    {shared_options}

    References
    ----------
    P. Foret, A. Kleiner, H. Mobahi, B. Neyshabur, "Sharpness-Aware
    Minimization for Efficiently Improving Generalization", ICLR 2021,
    arXiv:2010.01412.
    J. Kwon, J. Kim, H. Park, I. K. Choi, "ASAM: Adaptive Sharpness-Aware
    Minimization for Scale-Invariant Learning of Deep Neural Networks",
    ICML 2021, arXiv:2102.11600.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([3.0, 4.0]))
    >>> loss = lambda: jnp.sum(w.value ** 2) / 2           # gradient: w
    >>> grad_fn = brainstate.transform.grad(loss, grad_states={'w': w})
    >>> opt = brainopt.SAM(brainopt.SGD(lr=0.1), rho=0.5)
    >>> opt = opt.register_trainable_weights({'w': w})
    >>> _ = opt.update(grad_fn(), grad_fn=grad_fn)     # g_SAM = w + 0.5 w/|w| = [3.3, 4.4]
    >>> [round(float(x), 5) for x in w.value]
    [2.67, 3.56]
    """

    _fixed_attributes = Optimizer._fixed_attributes | {'rho', 'adaptive'}

    def __init__(self, base_optimizer, rho: float = 0.05, adaptive: bool = False, **options):
        owner = type(self).__name__
        settings = wrapped_settings(owner, base_optimizer, options)
        self.rho = check.real('rho', rho, low=0., owner=owner)
        if not isinstance(adaptive, bool):
            raise TypeError(f'{owner}: adaptive must be a bool, got {adaptive!r}')
        self.adaptive = adaptive
        super().__init__(base_optimizer.rule, **settings)
        self._quantity_hypers = dict(base_optimizer._quantity_hypers)     # a Quantity eps of the template

    def _reset_compiled(self):
        super()._reset_compiled()
        self._perturb_compiled = jax.jit(self._perturbed)
        self._second_compiled = jax.jit(functools.partial(self._second_step, guard=True), donate_argnums=(3,))

    def _perturbed(self, params, grads, hyper):
        """``w + eps_hat`` and whether the first gradient was finite."""
        grads = loss_scale.unscale(grads, hyper.get('loss_scale_factor'))
        finite = clipping.all_finite(grads)
        e = sam_perturbation(grads, params, self.rho, self.adaptive)
        return {k: p + e[k].astype(p.dtype) for k, p in params.items()}, finite

    def _second_step(self, params, grads, first_finite, state, sched, hyper, guard=False):
        grads = {k: jnp.where(first_finite, g, jnp.asarray(jnp.nan, g.dtype)) for k, g in grads.items()}
        return self._pure_step(params, grads, state, sched, hyper, guard=guard)

    def update(self, grads, grad_fn=None) -> UpdateInfo:
        """Apply one SAM step.

        Parameters
        ----------
        grads : dict
            Gradients at the current weights, as for :meth:`Optimizer.update`.
        grad_fn : callable
            ``grad_fn()`` returns the gradients (same structure) of the loss
            at the registered States' current values; SAM calls it once, with
            the perturbed weights in the States.

        Returns
        -------
        UpdateInfo
            As :meth:`Optimizer.update`, for the gradient at the perturbed
            weights (``finite`` is False if either gradient was not).
        """
        owner = type(self).__name__
        if grad_fn is None or not callable(grad_fn):
            raise TypeError(f'{owner}.update needs grad_fn, a function of no argument returning the gradients at '
                            f'the States\' current values (e.g. lambda: brainstate.transform.grad(loss_fn, '
                            f'grad_states=params)(x, y)); got {grad_fn!r}')
        w = self._weights
        g, params = self._matched(grads)
        hyper = self._read_memory()[1]
        perturb = self._perturbed if _is_traced(g, params, hyper) else self._perturb_compiled
        perturbed, first_finite = perturb(params, g, hyper)
        registry.write_params(w.entries, perturbed)
        try:
            second = grad_fn()
        finally:
            registry.write_params(w.entries, params)
        g2 = registry.match_grads(w.entries, w.by_path, w.prefixes, second)
        state = self._read_state()
        sched = [group.source.values() for group in self._groups]    # a per-epoch schedule's epoch
        if _is_traced(g2, params, state, first_finite, sched, hyper):
            new_params, new_state, info = self._second_step(params, g2, first_finite, state, sched, hyper)
            lr_ok = None
        else:
            new_params, new_state, info, lr_ok = self._second_compiled(params, g2, first_finite, state, sched,
                                                                       hyper)
        registry.write_params(w.entries, new_params)
        self._write_state(new_state)
        if lr_ok is not None and not bool(lr_ok):
            raise self._bad_lr_error()       # the step left everything as it was
        return info

    def __repr__(self):
        text = super().__repr__()
        lr = f'lr={describe(self.lr)}'
        return text.replace(lr, f'{lr}, rho={self.rho!r}, adaptive={self.adaptive!r}', 1)
