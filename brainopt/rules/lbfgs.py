"""L-BFGS (Liu and Nocedal, 1989), as torch.optim.LBFGS computes one outer iteration.

The memory is per-parameter: the last ``m`` accepted steps ``s`` and gradient
differences ``y`` (slots ``param_diffs`` and ``grad_diffs``, each of shape
``(m, *param.shape)``, oldest first, zero where empty), the previous gradient
(``prev_grad``) and the previous step ``t * d`` (``prev_step``). The scalars
torch keeps beside them (``ro``, ``H_diag``) are recomputed from these
vectors, so all the memory is slots. The dot products run over all parameters
together, so the rule overrides :meth:`Rule.update`.

:func:`strong_wolfe` is torch's line search (``_strong_wolfe``, itself a port
of ``lswolfe.lua``), written as one loop of scalar selects that evaluates the
objective once per iteration.
"""
import functools

import jax
import jax.numpy as jnp

from .base import Rule

__all__ = ['LBFGSRule', 'strong_wolfe']

#: torch's threshold on ``y . s`` for storing a curvature pair
CURVATURE_EPS = 1e-10


def tree_dot(a, b):
    """``sum_k <a[k], b[k]>`` over the leaves of two dicts, accumulated in float32 or wider."""
    terms = [jnp.sum(a[k].astype(jnp.promote_types(a[k].dtype, jnp.float32)) * b[k]) for k in a]
    return functools.reduce(jnp.add, terms) if terms else jnp.float32(0.)


def tree_max_abs(a):
    terms = [jnp.max(jnp.abs(v)).astype(jnp.float32) for v in a.values() if v.size]
    return functools.reduce(jnp.maximum, terms) if terms else jnp.float32(0.)


def tree_abs_sum(a):
    terms = [jnp.sum(jnp.abs(v).astype(jnp.float32)) for v in a.values()]
    return functools.reduce(jnp.add, terms) if terms else jnp.float32(0.)


class LBFGSRule(Rule):
    r"""One L-BFGS iteration per update, torch.optim.LBFGS's arithmetic (``max_iter=1``).

    On update :math:`t` (``count + 1``) with gradient :math:`g_t`: if
    :math:`\max|g_t| \le` ``tolerance_grad`` nothing changes. Otherwise the
    pair :math:`s = t_{t-1} d_{t-1}`, :math:`y = g_t - g_{t-1}` is stored if
    :math:`y^\top s > 10^{-10}` (the oldest dropped beyond ``memory_size``),
    the two-loop recursion gives :math:`d_t = -H_t g_t` with
    :math:`H_0 = \gamma I`, :math:`\gamma = y^\top s / y^\top y` of the newest
    pair (1 without ``scale_init_precond``), and the step length is
    :math:`t = \min(1, 1/\lVert g_1\rVert_1)\,\eta` on the first update and
    :math:`\eta` afterwards (a line search may change it). If
    :math:`g_t^\top d_t > -` ``tolerance_change`` the weights do not move.
    """

    slots = ('param_diffs', 'grad_diffs', 'prev_grad', 'prev_step')
    slot_units = {'param_diffs': (1, 0), 'grad_diffs': (0, 1), 'prev_grad': (0, 1), 'prev_step': (1, 0)}

    hyper_names = ('tolerance_grad', 'tolerance_change')

    def __init__(self, memory_size: int, scale_init_precond: bool = True, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9):
        self.memory_size = memory_size
        self.scale_init_precond = scale_init_precond
        self.tolerance_grad = tolerance_grad
        self.tolerance_change = tolerance_change
        # with H0 = (y.s / y.y) I the direction -H g is in the parameter's unit, so the step length lr is a pure
        # number; with H0 = I the two-loop recursion adds gradients to steps, and no dimension fits
        self.lr_unit = (0, 0) if scale_init_precond else None

    def init(self, params):
        m = self.memory_size
        hist = {k: jnp.zeros((m,) + jnp.shape(p), jnp.result_type(p)) for k, p in params.items()}
        return {'param_diffs': hist, 'grad_diffs': {k: jnp.zeros_like(v) for k, v in hist.items()},
                'prev_grad': {k: jnp.zeros_like(p) for k, p in params.items()},
                'prev_step': {k: jnp.zeros_like(p) for k, p in params.items()}}

    # -- the iteration, in two halves around the step length ---------------------------
    def direction(self, grads, state, count, lr, hyper):
        """Everything before the step length is known.

        Returns a dict: ``d`` (the direction), ``t0`` (the initial step
        length), ``gtd`` (:math:`g^\\top d`), ``optimal`` (the gradient is below
        ``tolerance_grad``: nothing changes), ``descent`` (the weights may
        move), and ``memory`` (the slots after storing the new pair).
        """
        m = self.memory_size
        first = count == 0
        s_hist, y_hist = state['param_diffs'], state['grad_diffs']
        y = {k: g - state['prev_grad'][k] for k, g in grads.items()}
        s = state['prev_step']
        ys = tree_dot(y, s)
        accept = jnp.logical_and(jnp.logical_not(first), ys > CURVATURE_EPS)

        def push(hist, new):
            return {k: jnp.where(accept, jnp.concatenate([h[1:], new[k][None].astype(h.dtype)]), h)
                    for k, h in hist.items()}

        s_hist, y_hist = push(s_hist, s), push(y_hist, y)
        ys_all = [tree_dot({k: v[i] for k, v in y_hist.items()}, {k: v[i] for k, v in s_hist.items()})
                  for i in range(m)]
        ys_all = jnp.stack(ys_all) if ys_all else jnp.zeros((0,), jnp.float32)
        rho = jnp.where(ys_all == 0, 0., 1. / jnp.where(ys_all == 0, 1., ys_all))
        if self.scale_init_precond:
            newest = {k: v[m - 1] for k, v in y_hist.items()}
            yy = tree_dot(newest, newest)
            h_diag = jnp.where(ys_all[m - 1] == 0, 1., ys_all[m - 1] / jnp.where(yy == 0, 1., yy))
        else:
            h_diag = jnp.float32(1.)

        def first_loop(j, carry):
            q, al = carry
            i = m - 1 - j
            a = tree_dot({k: v[i] for k, v in s_hist.items()}, q) * rho[i]
            q = {k: qk + (-a).astype(qk.dtype) * y_hist[k][i] for k, qk in q.items()}
            return q, al.at[i].set(a)

        def second_loop(i, r):
            be = tree_dot({k: v[i] for k, v in y_hist.items()}, r) * rho[i]
            return {k: rk + (al[i] - be).astype(rk.dtype) * s_hist[k][i] for k, rk in r.items()}

        neg_g = {k: -g for k, g in grads.items()}
        q, al = jax.lax.fori_loop(0, m, first_loop, (neg_g, jnp.zeros((m,), rho.dtype)))
        r = {k: qk * h_diag.astype(qk.dtype) for k, qk in q.items()}
        r = jax.lax.fori_loop(0, m, second_loop, r)
        d = {k: jnp.where(first, neg_g[k], r[k]) for k in grads}
        lr = jnp.asarray(lr, jnp.float32)
        t0 = jnp.where(first, jnp.minimum(1., 1. / tree_abs_sum(grads)) * lr, lr)
        gtd = tree_dot(grads, d)
        optimal = tree_max_abs(grads) <= hyper['tolerance_grad']
        descent = jnp.logical_and(jnp.logical_not(optimal), gtd <= -hyper['tolerance_change'])
        memory = {'param_diffs': s_hist, 'grad_diffs': y_hist, 'prev_grad': dict(grads)}
        return {'d': d, 't0': t0, 'gtd': gtd, 'optimal': optimal, 'descent': descent, 'memory': memory}

    def step(self, prepared, state, t):
        """``(deltas, new_slots)`` for the step length ``t``."""
        d, keep = prepared['d'], prepared['optimal']
        t = jnp.where(prepared['descent'], t, prepared['t0'])
        deltas = {k: jnp.where(prepared['descent'], v * t.astype(v.dtype), jnp.zeros_like(v)) for k, v in d.items()}
        new = dict(prepared['memory'], prev_step={k: v * t.astype(v.dtype) for k, v in d.items()})
        new = {s: {k: jnp.where(keep, state[s][k], v) for k, v in new[s].items()} for s in self.slots}
        return deltas, new

    def update(self, grads, params, state, count, lr, hyper):
        """The iteration without a line search: the step length is ``t0``."""
        prepared = self.direction(grads, state, count, lr, hyper)
        return self.step(prepared, state, prepared['t0'])

    def config(self):
        return {'memory_size': self.memory_size, 'scale_init_precond': self.scale_init_precond,
                'tolerance_grad': self.tolerance_grad, 'tolerance_change': self.tolerance_change}


# -- torch's strong-Wolfe line search -----------------------------------------------------------
def cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimiser of the cubic through two points with values and slopes, clamped to ``bounds``
    (default: the interval between the points); the midpoint where the cubic has none."""
    if bounds is None:
        lo, hi = jnp.minimum(x1, x2), jnp.maximum(x1, x2)
    else:
        lo, hi = bounds
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    d2 = jnp.sqrt(jnp.maximum(d2_square, 0.))
    min_pos = jnp.where(x1 <= x2,
                        x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2)),
                        x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2)))
    return jnp.where(d2_square >= 0, jnp.minimum(jnp.maximum(min_pos, lo), hi), (lo + hi) / 2.)


def strong_wolfe(phi, t0, f, gtd, d_norm, *, active=True, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25,
                 while_loop=jax.lax.while_loop):
    r"""A step length satisfying the strong Wolfe conditions, as torch.optim.LBFGS's ``_strong_wolfe``.

    Bracketing (cubic extrapolation within ``[t + 0.01 (t - t_prev), 10 t]``)
    then zoom (cubic interpolation, moved 10% into the bracket when it makes
    too little progress), at most ``max_ls + 1`` evaluations, and the lowest
    point of the bracket when the budget runs out.

    Parameters
    ----------
    phi : callable
        ``phi(t) -> (f(x + t d), g(x + t d) . d)``, scalars.
    t0 : scalar
        Initial step length.
    f, gtd : scalar
        Value and directional derivative at ``t = 0``.
    d_norm : scalar
        ``max |d|``, for the bracket-width test.
    active : bool
        When False nothing is evaluated and ``t0`` comes back.
    while_loop : callable
        ``jax.lax.while_loop`` or ``brainstate.transform.while_loop`` (when
        ``phi`` reads and writes States).

    Returns
    -------
    (t, evaluations)
    """
    dt = jnp.result_type(jnp.float32, f, gtd)
    z = jnp.zeros((), dt)
    f, gtd, t0 = jnp.asarray(f, dt), jnp.asarray(gtd, dt), jnp.asarray(t0, dt)
    init = dict(phase=jnp.where(active, 1, 3), n=jnp.zeros((), jnp.int32), t=t0,
                t_prev=z, f_prev=f, gtd_prev=gtd,
                bt=jnp.stack([t0, t0]), bf=jnp.stack([f, f]), bg=jnp.stack([gtd, gtd]),
                low=jnp.zeros((), jnp.int32), insuf=jnp.asarray(False), done=jnp.asarray(False))

    def zoom_next(c, ls_iter):
        """Loop top of the zoom phase: either the next trial point (phase 2) or the end (phase 3)."""
        bt, bf, bg = c['bt'], c['bf'], c['bg']
        go = jnp.logical_and(jnp.logical_not(c['done']), ls_iter < max_ls)
        go = jnp.logical_and(go, jnp.logical_not(jnp.abs(bt[1] - bt[0]) * d_norm < tolerance_change))
        t = cubic_interpolate(bt[0], bf[0], bg[0], bt[1], bf[1], bg[1])
        bmax, bmin = jnp.maximum(bt[0], bt[1]), jnp.minimum(bt[0], bt[1])
        eps = 0.1 * (bmax - bmin)
        near = jnp.minimum(bmax - t, t - bmin) < eps
        move = jnp.logical_and(near, c['insuf'] | (t >= bmax) | (t <= bmin))
        moved = jnp.where(jnp.abs(t - bmax) < jnp.abs(t - bmin), bmax - eps, bmin + eps)
        t = jnp.where(move, moved, t)
        insuf = jnp.logical_and(near, jnp.logical_not(move))
        return dict(c, phase=jnp.where(go, 2, 3), t=jnp.where(go, t, c['t']),
                    insuf=jnp.where(go, insuf, c['insuf']), n=jnp.where(go, c['n'] + 1, c['n']))

    def bracket_phase(c, f_new, g_new):
        t, ls_iter = c['t'], c['n']
        reached = ls_iter == max_ls
        armijo = (f_new > f + c1 * t * gtd) | ((ls_iter > 1) & (f_new >= c['f_prev']))
        wolfe = jnp.abs(g_new) <= -c2 * gtd
        to_zoom = jnp.logical_not(reached) & (armijo | (jnp.logical_not(wolfe) & (g_new >= 0)))
        done = jnp.logical_not(reached) & jnp.logical_not(armijo) & wolfe
        cont = jnp.logical_not(reached | to_zoom | done)
        # the bracket, for each way out of this phase
        bt = jnp.where(reached, jnp.stack([z, t]), jnp.where(done, jnp.stack([t, t]), jnp.stack([c['t_prev'], t])))
        bf = jnp.where(reached, jnp.stack([f, f_new]),
                       jnp.where(done, jnp.stack([f_new, f_new]), jnp.stack([c['f_prev'], f_new])))
        bg = jnp.where(reached, jnp.stack([gtd, g_new]),
                       jnp.where(done, jnp.stack([g_new, g_new]), jnp.stack([c['gtd_prev'], g_new])))
        low = jnp.where(bf[0] <= bf[1], 0, 1)
        leaving = dict(c, bt=bt, bf=bf, bg=bg, low=low, insuf=jnp.asarray(False), done=done)
        leaving = zoom_next(leaving, ls_iter)
        # or extrapolate and stay
        t_next = cubic_interpolate(c['t_prev'], c['f_prev'], c['gtd_prev'], t, f_new, g_new,
                                   bounds=(t + 0.01 * (t - c['t_prev']), t * 10))
        staying = dict(c, t=t_next, t_prev=t, f_prev=f_new, gtd_prev=g_new, n=c['n'] + 1)
        return jax.tree.map(lambda a, b: jnp.where(cont, a, b), staying, leaving)

    def zoom_phase(c, f_new, g_new):
        t, low = c['t'], c['low']
        high = 1 - low
        bt, bf, bg = c['bt'], c['bf'], c['bg']
        raise_high = (f_new > f + c1 * t * gtd) | (f_new >= bf[low])
        # Armijo fails or no lower than the lowest point: the new point becomes the high end
        hbt, hbf, hbg = bt.at[high].set(t), bf.at[high].set(f_new), bg.at[high].set(g_new)
        hlow = jnp.where(hbf[0] <= hbf[1], 0, 1)
        # otherwise it becomes the low end (the old low moving to the high end if the slope says so)
        done = jnp.abs(g_new) <= -c2 * gtd
        swap = jnp.logical_not(done) & (g_new * (bt[high] - bt[low]) >= 0)
        lbt = jnp.where(swap, bt.at[high].set(bt[low]), bt).at[low].set(t)
        lbf = jnp.where(swap, bf.at[high].set(bf[low]), bf).at[low].set(f_new)
        lbg = jnp.where(swap, bg.at[high].set(bg[low]), bg).at[low].set(g_new)
        c = dict(c, bt=jnp.where(raise_high, hbt, lbt), bf=jnp.where(raise_high, hbf, lbf),
                 bg=jnp.where(raise_high, hbg, lbg), low=jnp.where(raise_high, hlow, low),
                 done=jnp.where(raise_high, c['done'], done))
        return zoom_next(c, c['n'])

    def body(c):
        f_new, g_new = phi(c['t'])
        f_new, g_new = jnp.asarray(f_new, dt), jnp.asarray(g_new, dt)
        a, b = bracket_phase(c, f_new, g_new), zoom_phase(c, f_new, g_new)
        return jax.tree.map(lambda x, y: jnp.where(c['phase'] == 1, x, y), a, b)

    out = while_loop(lambda c: c['phase'] != 3, body, init)
    t = jnp.where(active, out['bt'][out['low']], t0)
    return t, jnp.where(active, out['n'] + 1, 0)
