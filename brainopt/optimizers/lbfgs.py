"""``brainopt.LBFGS``: limited-memory BFGS, one outer iteration per update, with a strong-Wolfe line search."""
import numbers
from typing import Any, NamedTuple

import brainstate
import jax
import jax.numpy as jnp

from .. import _registry as registry
from .. import _validate as check
from ..optimizer import Optimizer, _is_traced, with_shared_options
from ..rules.lbfgs import LBFGSRule, strong_wolfe, tree_dot, tree_max_abs
from ..transforms import clipping, loss_scale
from ..transforms import weight_decay as decay
from ..transforms.lr import LearningRate

__all__ = ['LBFGS', 'LineSearchInfo']

LINESEARCHES = (None, 'strong_wolfe')


class LineSearchInfo(NamedTuple):
    """What :meth:`LBFGS.update` returns with a line search: :class:`brainopt.UpdateInfo`'s
    fields, then the step length taken and the number of ``value_fn`` evaluations."""
    lr: Any
    grad_norm: Any
    applied: Any
    finite: Any
    step_size: Any
    evaluations: Any


@with_shared_options
class LBFGS(Optimizer):
    r"""L-BFGS: a quasi-Newton step from the last ``memory_size`` curvature pairs.

    One :meth:`update` is one outer iteration of torch.optim.LBFGS (its
    ``step`` with ``max_iter=1``): with the gradient :math:`g_k` at
    :math:`x_k`, store :math:`s = x_k - x_{k-1}`, :math:`y = g_k - g_{k-1}` if
    :math:`y^\top s > 10^{-10}`, take :math:`d_k = -H_k g_k` by the two-loop
    recursion with :math:`H_0 = \frac{y^\top s}{y^\top y} I`, and move
    :math:`x_{k+1} = x_k + t_k d_k`. The initial step length is
    :math:`\min(1, 1/\lVert g_0\rVert_1)\,\eta` on the first update and
    :math:`\eta` (``lr``) afterwards; with ``linesearch='strong_wolfe'`` it is
    the start of torch's strong-Wolfe line search (bracketing, then zoom with
    cubic interpolation; :math:`c_1 = 10^{-4}, c_2 = 0.9`). If
    :math:`\max|g_k| \le` ``tolerance_grad`` or
    :math:`g_k^\top d_k > -` ``tolerance_change`` the weights stay.

    With the line search, :meth:`update` takes the objective too:
    ``update(grads, value=loss, value_fn=loss_fn)``, where ``loss_fn()``
    returns the loss at the registered States' current values. The line
    search writes trial weights into the States, evaluates ``loss_fn`` and
    its gradient (``brainstate.transform.grad`` with respect to the
    registered States), and writes back; it runs in a
    ``brainstate.transform.while_loop``. Called eagerly, the whole iteration
    is one ``brainstate.transform.jit``, compiled once per ``value_fn``
    object (pass the same function each time); inside your own
    ``brainstate.transform.jit`` it is traced into it. L-BFGS is a
    full-batch method: ``loss_fn`` must be the same deterministic objective
    whose gradient ``grads`` is.

    Memory, all of it per-parameter slots: ``param_diffs`` and
    ``grad_diffs`` (the :math:`s` and :math:`y` histories, each of shape
    ``(memory_size, *param.shape)``, oldest first, zero where empty),
    ``prev_grad`` and ``prev_step``: :math:`2\,m + 2` arrays of the
    parameter's size. ``step_count`` counts iterations.

    Shared options: ``lr`` (a schedule sets :math:`\eta` per iteration),
    coupled ``weight_decay`` (the objective becomes
    :math:`f + \frac{\lambda}{2}\lVert x\rVert^2`, in the gradients and in
    the line search's values), ``weight_decay_exclude``, ``loss_scale_factor``
    (divides the gradients and the values), EMA, ``skip_nonfinite`` and
    ``name`` apply. Clipping, decoupled weight decay and gradient
    accumulation are refused (ValueError): the curvature pairs and the Wolfe
    tests assume the gradients are those of one objective, which clipped,
    decoupled-decayed or partial gradients are not.

    Decisions: names and defaults are braintools.optim's (``lr=1.0,
    memory_size=10, scale_init_precond=True, linesearch=None``), the
    arithmetic torch.optim's (``history_size`` there, default 100;
    ``tolerance_grad=1e-7``, ``tolerance_change=1e-9``; torch's
    ``max_eval`` for one iteration is ``max_linesearch_steps + 1``).
    braintools.optim (and optax.lbfgs) differ: optax's first step is
    :math:`\min(1, 1/\lVert g\rVert_2)`, it stores every pair, and its
    ``'zoom'`` line search is another algorithm (and needs ``linesearch``
    ``'zoom'``, which brainopt refuses rather than run a different one).
    The step count advances on an update whose gradient is already below
    ``tolerance_grad`` (torch leaves its iteration count alone).

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1.0
        :math:`\eta`, the (initial) step length.
    memory_size : int, default 10
        :math:`m`, curvature pairs kept; >= 1.
    scale_init_precond : bool, default True
        :math:`H_0 = \frac{y^\top s}{y^\top y} I` from the newest pair
        (torch always does this); False keeps :math:`H_0 = I`.
    linesearch : {None, 'strong_wolfe'}, default None
        None: the step length is the initial one. ``'strong_wolfe'``: torch's
        line search; :meth:`update` then needs ``value_fn``.
    tolerance_grad : float, default 1e-7
        No step when every gradient element is at most this in magnitude.
    tolerance_change : float, default 1e-9
        No step when :math:`g^\top d > -` this; also the smallest bracket
        width of the line search.
    max_linesearch_steps : int, default 25
        Line-search evaluations beyond the first (torch's ``max_ls``).
    {shared_options}

    References
    ----------
    D. C. Liu, J. Nocedal, "On the limited memory BFGS method for large scale
    optimization", Mathematical Programming 45, 503-528 (1989).
    J. Nocedal, S. J. Wright, "Numerical Optimization", 2nd ed., Springer
    2006, algorithms 3.5, 3.6 and 7.4.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> x = brainstate.ParamState(jnp.array([3.0, -1.0]))
    >>> loss_fn = lambda: jnp.sum(jnp.array([1.0, 10.0]) * x.value ** 2)
    >>> opt = brainopt.LBFGS(linesearch='strong_wolfe')
    >>> opt = opt.register_trainable_weights({'x': x})
    >>> for _ in range(8):
    ...     grads, loss = brainstate.transform.grad(loss_fn, grad_states={'x': x}, return_value=True)()
    ...     info = opt.update(grads, value=loss, value_fn=loss_fn)
    >>> bool(loss_fn() < 1e-8)
    True
    """

    _fixed_attributes = Optimizer._fixed_attributes | {'linesearch', 'max_linesearch_steps'}

    def __init__(self, lr: LearningRate = 1.0, memory_size: int = 10, scale_init_precond: bool = True, linesearch=None,
                 *, tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, max_linesearch_steps: int = 25,
                 **options):
        owner = type(self).__name__
        memory_size = check.positive_int('memory_size', memory_size, owner=owner)
        if not isinstance(scale_init_precond, bool):
            raise TypeError(f'{owner}: scale_init_precond must be a bool, got {scale_init_precond!r}')
        if linesearch not in LINESEARCHES:
            raise ValueError(f"{owner}: linesearch must be None or 'strong_wolfe' (torch's line search), got "
                             f"{linesearch!r}" + ("; braintools's 'zoom' and 'backtracking' are optax's line "
                                                  "searches, which brainopt does not reproduce"
                                                  if linesearch in ('zoom', 'backtracking') else ''))
        tolerance_grad = check.real('tolerance_grad', tolerance_grad, low=0., owner=owner)
        tolerance_change = check.real('tolerance_change', tolerance_change, low=0., owner=owner)
        if isinstance(max_linesearch_steps, bool) or not isinstance(max_linesearch_steps, int):
            raise TypeError(f'{owner}: max_linesearch_steps must be a non-negative integer, '
                            f'got {max_linesearch_steps!r}')
        if max_linesearch_steps < 0:
            raise ValueError(f'{owner}: max_linesearch_steps must be a non-negative integer, '
                             f'got {max_linesearch_steps!r}')
        self.max_linesearch_steps = max_linesearch_steps
        for k in ('grad_clip_value', 'grad_clip_norm', 'grad_clip_norm_per_param'):
            if options.get(k) is not None:
                raise ValueError(f'{owner}: {k} is not supported: L-BFGS builds its curvature pairs (and the line '
                                 f'search its Wolfe tests) from the gradients of one objective, which clipped '
                                 f'gradients are not; bound the step with lr or the line search')
        if options.get('weight_decay_mode', 'coupled') != 'coupled':
            raise ValueError(f"{owner}: weight_decay_mode must be 'coupled', got "
                             f"{options['weight_decay_mode']!r}: a decoupled shrink is not "
                             f"the gradient of an objective, which L-BFGS's curvature pairs assume; the coupled "
                             f"default adds (weight_decay/2)*|x|^2 to the objective")
        if options.get('gradient_accumulation_steps') not in (None, 1):
            raise ValueError(f'{owner}: gradient_accumulation_steps is not supported: L-BFGS is a full-batch method '
                             f'(its line search evaluates one objective); pass the full-batch gradient')
        self.linesearch = linesearch
        super().__init__(LBFGSRule(memory_size, scale_init_precond, tolerance_grad, tolerance_change), lr,
                         **options)

    @property
    def memory_size(self):
        return self.rule.memory_size

    def _check_lr_units(self, group, leaf_units, where):
        if group.source.unit is not None and self.linesearch is not None:
            raise ValueError(f"{type(self).__name__}.{where}: a Quantity lr ({group.lr}) with "
                             f"linesearch='strong_wolfe' is not supported: the line search chooses the step length; "
                             f"give a float lr")
        super()._check_lr_units(group, leaf_units, where)

    def _check_option(self, name, value):
        if name.startswith('grad_clip') and value is not None:
            raise ValueError(f'{type(self).__name__}.{name}: clipping is not supported: L-BFGS builds its curvature '
                             f'pairs (and the line search its Wolfe tests) from the gradients of one objective, '
                             f'which clipped gradients are not; bound the step with lr or the line search')

    def _reset_compiled(self):
        super()._reset_compiled()
        self._eager = None      # (value_fn, the compiled iteration for it)

    # -- the objective as L-BFGS sees it: loss scale and coupled decay folded in -------------
    def _objective(self, value, grads, params, hyper):
        """``hyper``: the values of ``opt.hyperparams`` (the loss scale, the weight decay) the step reads."""
        value, grads = loss_scale.unscale((value, grads), hyper.get('loss_scale_factor'))
        plan = decay.Plan('coupled', decay.coefficients(params, hyper.get('weight_decay', 0.0), self._decay_mask))
        return plan.coupled_objective(value, params), plan.coupled(grads, params)

    def _prepare(self, params, grads, value, state, hyper):
        count = state['step']
        lr = self._group_lrs(count, [None] * len(self._groups), hyper)[0]
        grad_norm = clipping.global_norm(loss_scale.unscale(grads, hyper.get('loss_scale_factor')))
        value, grads = self._objective(jnp.asarray(value, jnp.float32), grads, params, hyper)
        finite = jnp.logical_and(jnp.isfinite(tree_max_abs(grads)), jnp.isfinite(value))
        prepared = self.rule.direction(grads, state['slots'], count, lr, self.rule.hyper())
        return prepared, value, lr, grad_norm, finite

    def _finish(self, params, prepared, state, hyper, t, lr, grad_norm, finite, hold=None):
        count = state['step']
        deltas, slots = self.rule.step(prepared, state['slots'], t)
        p = {k: v + deltas[k].astype(v.dtype) for k, v in params.items()}
        new = dict(state, slots=slots, step=count + 1)
        if self.use_ema:
            p, new = self._ema(p, new, count, hyper)
        applied = jnp.asarray(True)
        if self.skip_nonfinite:
            p, new, applied = jax.tree.map(lambda a, b: jnp.where(finite, a, b), (p, new, applied),
                                           self._skipped(params, state))
        if hold is not None:      # eagerly, a bad rate from user code: nothing changes, update() raises
            p = jax.tree.map(lambda a, b: jnp.where(hold, a, b), p, params)
            new = jax.tree.map(lambda a, b: jnp.where(hold, a, b), new, state)
            applied = jnp.logical_and(applied, hold)
        return p, new, applied

    def update(self, grads, value=None, value_fn=None):
        """Apply one L-BFGS iteration.

        Parameters
        ----------
        grads : dict
            Gradients at the current weights, as for :meth:`Optimizer.update`.
        value : scalar, optional
            The loss at the current weights (line search only; computed with
            ``value_fn`` when left out).
        value_fn : callable, optional
            ``value_fn()`` returns the loss at the registered States' current
            values; needed by ``linesearch='strong_wolfe'``, refused without
            a line search.

        Returns
        -------
        UpdateInfo or LineSearchInfo
            ``LineSearchInfo`` (UpdateInfo's fields, then ``step_size`` and
            ``evaluations``) with a line search. ``applied`` is True when the
            iteration ran (False on a skipped non-finite call).
        """
        owner = type(self).__name__
        if self.linesearch is None:
            if value is not None or value_fn is not None:
                raise ValueError(f'{owner}.update: value and value_fn are used by the line search only, and this '
                                 f"optimizer has linesearch=None; build it with linesearch='strong_wolfe'")
            return super().update(grads)
        if value_fn is None or not callable(value_fn):
            raise TypeError(f"{owner}.update: linesearch='strong_wolfe' needs value_fn, a function of no argument "
                            f"returning the loss at the States' current values; got {value_fn!r}")
        if value is not None:
            _scalar_loss(owner, 'value', value)
        g, params = self._matched(grads)
        state, hyper = self._read_memory()
        if not _is_traced(g, params, state, value, hyper):
            # eagerly: the whole iteration as one brainstate.transform.jit, cached for this value_fn
            if self._eager is None or self._eager[0] is not value_fn:
                self._eager = (value_fn, brainstate.transform.jit(
                    lambda grads_, value_: self._iterate(grads_, value_, value_fn, guard=True)))
            info, lr_ok = self._eager[1](g, value)
            if lr_ok is not None and not bool(lr_ok):
                raise self._bad_lr_error()       # the iteration left everything as it was
            return info
        return self._iterate(g, value, value_fn)

    def _iterate(self, g, value, value_fn, guard=False):
        """One line-searched iteration from leaf gradients, traced (inside a jit)."""
        w = self._weights
        params = registry.read_params(w.entries)
        if value is None:
            value = _scalar_loss(type(self).__name__, 'value_fn', value_fn())
        state, hyper = self._read_memory()
        prepared, f0, lr, grad_norm, finite = self._prepare(params, g, value, state, hyper)
        lr_ok = self._lr_ok([lr])
        if lr_ok is not None:
            finite = jnp.logical_and(finite, lr_ok)
        active = jnp.logical_and(prepared['descent'], finite)
        t, evaluations = self._line_search(params, prepared, f0, active, value_fn, hyper)
        new_params, new_state, applied = self._finish(params, prepared, state, hyper, t, lr, grad_norm, finite,
                                                      hold=lr_ok if guard else None)
        registry.write_params(w.entries, new_params)
        self._write_state(new_state)
        step_size = jnp.where(prepared['descent'], t, jnp.zeros_like(t))
        info = LineSearchInfo(lr=lr, grad_norm=grad_norm, applied=applied, finite=finite,
                              step_size=step_size, evaluations=evaluations)
        return (info, lr_ok) if guard else info

    def _line_search(self, params, prepared, f0, active, value_fn, hyper):
        w = self._weights
        d = prepared['d']
        grad_states = {e.path: e.state for e in w.entries}
        owner = type(self).__name__

        def loss():         # value_fn, its result checked before jax's gradient sees it
            return _scalar_loss(owner, 'value_fn', value_fn())

        value_and_grad = brainstate.transform.grad(loss, grad_states=grad_states, return_value=True)

        def phi(t):
            trial = {k: p + d[k] * t.astype(p.dtype) for k, p in params.items()}
            registry.write_params(w.entries, trial)
            grads, value = value_and_grad()
            g = registry.match_grads(w.entries, w.by_path, w.prefixes, grads)
            value, g = self._objective(jnp.asarray(value, jnp.float32), g, trial, hyper)
            return value, tree_dot(g, d)

        try:
            t, evaluations = strong_wolfe(
                phi, prepared['t0'], f0, prepared['gtd'], tree_max_abs(d), active=active,
                tolerance_change=self.rule.hyper()['tolerance_change'], max_ls=self.max_linesearch_steps,
                while_loop=brainstate.transform.while_loop)
        finally:
            registry.write_params(w.entries, params)
        return t, evaluations

    def __repr__(self):
        text = super().__repr__()
        if self.linesearch is None:
            return text
        return text.replace('tolerance_grad=', f'linesearch={self.linesearch!r}, tolerance_grad=', 1)


def _scalar_loss(owner, what, value):
    """``value`` (the loss given as ``value`` or returned by ``value_fn``), after checking it is one real number."""
    shape = getattr(value, 'shape', None)
    if shape is None:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f'{owner}.update: {what} must {"return" if what == "value_fn" else "be"} a scalar loss '
                            f'(a real number or a scalar array), got {value!r} ({type(value).__name__})')
        return value
    if tuple(shape) != ():
        raise ValueError(f'{owner}.update: {what} must {"return" if what == "value_fn" else "be"} a scalar loss, '
                         f'got an array of shape {tuple(shape)}')
    return value
