"""Where does the time of one eager ``brainopt`` update go? (50 tensors of 64x64)

Two views of ``opt.update(grads)`` called eagerly:

1. a phase breakdown: the same steps that ``Optimizer.update`` performs
   (matching the gradients, reading the parameters and the optimizer state,
   the traced check, the compiled step, writing back), each timed on its own,
   medians over many repeats;
2. ``cProfile`` of many calls, top entries by total and by own time.

It reaches into brainopt's private helpers (``_registry``, ``_read_state``,
``_compiled``...) to time the phases, so it may need updating when those
change; the benchmark itself (``bench_update.py``) uses the public API only.

Run ``python benchmarks/profile_update.py [--optimizer adagrad] [--tensors 50]``.
"""
import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _timing as T  # noqa: E402
import brainstate  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import brainopt  # noqa: E402
from brainopt import _registry as registry  # noqa: E402


def med_us(fn, n):
    for _ in range(5):
        fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e6, min(ts) * 1e6


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--optimizer', default='adadelta', choices=['adadelta', 'adagrad', 'adam', 'sgdm'])
    ap.add_argument('--tensors', type=int, default=50)
    ap.add_argument('--repeats', type=int, default=300)
    ap.add_argument('--top', type=int, default=20)
    args = ap.parse_args(argv)
    print(T.machine_line(T.machine_info()))

    rng = np.random.default_rng(0)
    states = {f'p{i}': brainstate.ParamState(jnp.asarray(rng.standard_normal((64, 64), dtype=np.float32)))
              for i in range(args.tensors)}
    grads = {k: jnp.asarray(0.1 * rng.standard_normal((64, 64), dtype=np.float32)) for k in states}
    if args.optimizer == 'adadelta':
        opt = brainopt.Adadelta(lr=1.0, rho=0.9, eps=1e-6)
    elif args.optimizer == 'adagrad':
        opt = brainopt.Adagrad(lr=0.01, initial_accumulator_value=0.1, eps=1e-10)
    elif args.optimizer == 'adam':
        opt = brainopt.Adam(lr=1e-3)
    else:
        opt = brainopt.SGD(lr=0.01, momentum=0.9)
    opt.register_trainable_weights(states)
    w = opt._weights
    n = args.repeats

    def full():
        opt.update(grads)        # (its UpdateInfo unread: the norm is computed only if read)
        jax.block_until_ready([s.value for s in states.values()])

    own = opt._ownership
    sched = [g.source.values() for g in opt._groups]

    def compiled_only():
        params, fresh, _ = own.read(w.entries)
        flat, treedef = jax.tree_util.tree_flatten(grads)
        out = opt._compiled(own.donatable(w.entries, params, fresh), flat, treedef, opt._read_state(), sched, False)
        del params, flat
        values = own.values(w.entries, out[0])
        own.write(w.entries, values)
        opt._write_state(out[1], eager=True)
        jax.block_until_ready(values)

    flat, treedef = jax.tree_util.tree_flatten(grads)
    phases = [
        ('opt.update(grads) + block (whole call)', full),
        ('  Ownership.read (parameters, what may be donated)', lambda: own.read(w.entries)),
        ('  opt._flat_grads (a flat dict with known keys)', lambda: opt._flat_grads(grads)),
        ('  jax.tree_util.tree_flatten(grads) (any other tree)', lambda: jax.tree_util.tree_flatten(grads)),
        ('  registry.known_layout (its layout seen before)',
         lambda: registry.known_layout(w.grad_layouts, treedef, flat, len(w.entries))),
        ('  registry.match_grads (what a new layout costs)',
         lambda: registry.match_grads(w.entries, w.by_path, w.prefixes, grads)),
        ('  opt._read_state', opt._read_state),
        ('  opt._write_state (same values)', lambda: opt._write_state(opt._read_state(), eager=True)),
        ('compiled step + reads/writes + block (no checks)', compiled_only),
    ]
    print(f'\n{type(opt).__name__}, {args.tensors} x (64, 64) float32, {n} repeats per line')
    rows = []
    for label, fn in phases:
        m, lo = med_us(fn, n)
        rows.append([label, f'{m:.0f}', f'{lo:.0f}'])
    print(T.format_table(['phase', 'median us', 'min us'], rows))

    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        opt.update(grads)
    jax.block_until_ready([s.value for s in states.values()])
    prof.disable()
    for key in ('cumulative', 'tottime'):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(key).print_stats(args.top)
        print(f'\ncProfile, {n} calls of opt.update, sorted by {key}:')
        print('\n'.join(buf.getvalue().strip().splitlines()[2:]))


if __name__ == '__main__':
    main()
