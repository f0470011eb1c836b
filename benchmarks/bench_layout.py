"""Does grouping accumulators into one flat buffer per slot make an Adam step compile faster?

Issue 8 asks for the compile time of a 400-tensor update to be a quarter of
optax's and suggests grouping tensors. The parameters stay the user's own
arrays (one brainstate ``ParamState`` each), so a grouped layout can only
group the *accumulators*. This script compiles, in one process, the same Adam
step (``lr=1e-3``, float32, donated buffers) written three ways:

``per_tensor``
    one moment array per parameter (brainopt's and optax's layout);
``flat_concat``
    one flat moment buffer per slot: the gradients and parameters are
    concatenated, the step runs on flat arrays, the parameters are sliced back;
``flat_inplace``
    one flat moment buffer per slot, each parameter's part read as a slice and
    written back with ``dynamic_update_slice``.

For each it prints the time to trace and lower (``jax.jit(...).lower``), the
XLA compile time, the median time of one call, the bytes accessed per
parameter (XLA's cost analysis) and the temporaries (memory analysis).

``python benchmarks/bench_layout.py`` (400 mixed tensors, 1M floats, and 50 x
64x64; about a minute on 2 cores). It asserts nothing.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _timing as T  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from bench_update import _mixed_shapes  # noqa: E402

B1, B2, EPS, LR = 0.9, 0.999, 1e-8, 1e-3


def _corrections(c):
    c = c + 1
    return c, 1 - B1 ** c, 1 - B2 ** c


def per_tensor(names, offsets):
    def step(p, m, v, c, g):
        c, bc1, bc2 = _corrections(c)
        m = {k: B1 * m[k] + (1 - B1) * g[k] for k in names}
        v = {k: B2 * v[k] + (1 - B2) * g[k] * g[k] for k in names}
        p = {k: p[k] - LR * (m[k] / bc1) / (jnp.sqrt(v[k] / bc2) + EPS) for k in names}
        return p, m, v, c
    return step


def flat_concat(names, offsets):
    def step(p, m, v, c, g):
        c, bc1, bc2 = _corrections(c)
        gf = jnp.concatenate([g[k].ravel() for k in names])
        pf = jnp.concatenate([p[k].ravel() for k in names])
        m = B1 * m + (1 - B1) * gf
        v = B2 * v + (1 - B2) * gf * gf
        pf = pf - LR * (m / bc1) / (jnp.sqrt(v / bc2) + EPS)
        return {k: pf[offsets[i]:offsets[i + 1]].reshape(p[k].shape) for i, k in enumerate(names)}, m, v, c
    return step


def flat_inplace(names, offsets):
    def step(p, m, v, c, g):
        c, bc1, bc2 = _corrections(c)
        out = {}
        for i, k in enumerate(names):
            lo, hi = int(offsets[i]), int(offsets[i + 1])
            mk = B1 * m[lo:hi].reshape(p[k].shape) + (1 - B1) * g[k]
            vk = B2 * v[lo:hi].reshape(p[k].shape) + (1 - B2) * g[k] * g[k]
            out[k] = p[k] - LR * (mk / bc1) / (jnp.sqrt(vk / bc2) + EPS)
            m = jax.lax.dynamic_update_slice(m, mk.ravel(), (lo,))
            v = jax.lax.dynamic_update_slice(v, vk.ravel(), (lo,))
        return out, m, v, c
    return step


LAYOUTS = {'per_tensor': per_tensor, 'flat_concat': flat_concat, 'flat_inplace': flat_inplace}


def measure(shapes, repeats):
    params = {f'p{i:03d}': jnp.ones(s, jnp.float32) for i, s in enumerate(shapes)}
    grads = {k: jnp.full(x.shape, 0.01, jnp.float32) for k, x in params.items()}
    names = sorted(params)
    offsets = np.cumsum([0] + [params[k].size for k in names])
    n = int(offsets[-1])
    rows = []
    for label, build in LAYOUTS.items():
        def slots():
            if label == 'per_tensor':
                return [{k: jnp.zeros_like(x) for k, x in params.items()} for _ in range(2)]
            return [jnp.zeros(n, jnp.float32), jnp.zeros(n, jnp.float32)]
        m0, v0 = slots()
        c0 = jnp.zeros((), jnp.int32)
        t0 = time.perf_counter()
        lowered = jax.jit(build(names, offsets), donate_argnums=(0, 1, 2)).lower(params, m0, v0, c0, grads)
        t1 = time.perf_counter()
        compiled = lowered.compile()
        t2 = time.perf_counter()
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, list) else cost
        temp = compiled.memory_analysis().temp_size_in_bytes
        state = [{k: jnp.array(x, copy=True) for k, x in params.items()}, *slots(), c0]
        for _ in range(2):
            state = list(compiled(*state, grads))
        jax.block_until_ready(state)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            state = list(compiled(*state, grads))
            jax.block_until_ready(state)
            times.append(time.perf_counter() - t)
        rows.append([label, f'{t1 - t0:.2f}', f'{t2 - t1:.2f}', f'{statistics.median(times) * 1e3:.2f}',
                     f"{cost.get('bytes accessed', float('nan')) / n:.0f}", f'{temp / 1e6:.1f}'])
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--repeats', type=int, default=20, help='timed calls per layout (median reported)')
    args = ap.parse_args(argv)
    T.print_header('bench_layout: one Adam step, accumulators per tensor or in one flat buffer per slot')
    for title, shapes in [('400 mixed shapes, about 1M float32', _mixed_shapes(400, 1_000_000)),
                          ('50 x (64, 64) float32', [(64, 64)] * 50)]:
        print(f'\n== {title} ==')
        print(T.format_table(['layout', 'trace+lower s', 'XLA compile s', 'call ms', 'B/param', 'temp MB'],
                             measure(shapes, args.repeats)))


if __name__ == '__main__':
    main()
