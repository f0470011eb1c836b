"""Why ``brainopt/_fastpath.py`` exists: the eager update through brainstate's public API, measured.

One eager ``opt.update(grads)`` (Adam, SGD with momentum; 50 tensors of 64x64,
400 tensors of 100x250, one tensor of 10M floats), four ways, interleaved
round-robin with raw ``jax.jit`` optax with donated buffers (the baseline):

====================  ==============================================================
fast + donated        what brainopt does: States read and written by
                      ``brainopt._fastpath``, parameters donated when only the
                      optimizer holds them (CPython's reference count)
public + donated      every State read and written through ``state.value``
fast, not donated     parameters never donated (a fresh output array per call)
public, not donated   both
====================  ==============================================================

Each call blocks until the new parameters are ready. Run
``python benchmarks/bench_fastpath.py [--cases small,many,large] [--repeats 15]``
(about 2 minutes on 2 cores). It switches brainopt's internals per contender, so
it reaches into ``brainopt._fastpath`` and ``brainopt._eager``; the figures it
prints are quoted in ``brainopt/_fastpath.py``.
"""
import argparse
import functools
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _timing as T  # noqa: E402
import brainstate  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

import brainopt  # noqa: E402
from brainopt import _eager, _fastpath  # noqa: E402

CASES = {'small': [(64, 64)] * 50, 'many': [(100, 250)] * 400, 'large': [(10_000_000,)]}
FAST = _fastpath._INTERNALS


class _NeverDonate(_eager.Ownership):
    """An ownership record that owns nothing: every parameter is passed as it is, to a step that donates none."""

    @staticmethod
    def donatable(entries, params, fresh):
        return params

    def write(self, entries, values):
        self._layout(entries).write(values)


def _opt(name):
    return brainopt.Adam(lr=1e-3) if name == 'adam' else brainopt.SGD(lr=1e-3, momentum=0.9)


def _tx(name):
    return optax.adam(1e-3) if name == 'adam' else optax.sgd(1e-3, momentum=0.9)


def brainopt_call(name, shapes, public, donate):
    states = {f'w{i}': brainstate.ParamState(jnp.full(s, 0.1, jnp.float32)) for i, s in enumerate(shapes)}
    opt = _opt(name).register_trainable_weights(states)
    if not donate:
        opt._compiled = jax.jit(opt._eager_step, donate_argnums=(3,), static_argnums=(2, 5))
        opt._ownership = _NeverDonate()
    grads = {k: jnp.full(s, 0.01, jnp.float32) for k, s in zip(states, shapes)}

    def call():
        _fastpath._INTERNALS = None if public else FAST
        try:
            opt.update(grads)
        finally:
            _fastpath._INTERNALS = FAST
        jax.block_until_ready([s.value for s in states.values()])
    return call


def optax_call(name, shapes):
    params = {f'w{i}': jnp.full(s, 0.1, jnp.float32) for i, s in enumerate(shapes)}
    tx = _tx(name)
    box = [params, tx.init(params)]
    grads = {k: jnp.full(v.shape, 0.01, jnp.float32) for k, v in params.items()}

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(p, s, g):
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    def call():
        box[0], box[1] = step(box[0], box[1], grads)
        jax.block_until_ready(box)
    return call


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--cases', default='small,many,large')
    ap.add_argument('--optimizers', default='adam,sgdm')
    ap.add_argument('--repeats', type=int, default=15)
    args = ap.parse_args()
    T.print_header('bench_fastpath: one eager update, brainstate fast path vs public API, donated vs not')
    if FAST is None:
        sys.exit(f'the fast path is off on this machine ({_fastpath.REASON}): nothing to compare')
    for case in args.cases.split(','):
        for name in args.optimizers.split(','):
            shapes = CASES[case]
            cs = [T.Contender('optax', 'optax jit donated (baseline)', optax_call(name, shapes))]
            for public in (False, True):
                for donate in (True, False):
                    key = f"{'public' if public else 'fast'}{', donated' if donate else ', not donated'}"
                    cs.append(T.Contender(key, key, brainopt_call(name, shapes, public, donate)))
            T.warm_up(cs, calls=3)
            T.calibrate(cs, 0.02)
            T.round_robin(cs, args.repeats)
            base = statistics.median(cs[0].samples)
            rows = [[c.label, f'{statistics.median(c.samples) * 1e3:.3f}', f'{min(c.samples) * 1e3:.3f}',
                     f'{statistics.median(c.samples) / base:.2f}x'] for c in cs]
            print(f'\n== {name} | {case}: {len(shapes)} x {shapes[0]} float32 ==')
            print(T.format_table(['contender', 'median ms', 'min ms', 'x optax'], rows))


if __name__ == '__main__':
    main()
