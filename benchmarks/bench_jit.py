"""brainopt.jit in one run: Adam at 50 tensors, 400 tensors and 10M floats, and the spiking network's training step.

Runs ``bench_update.py`` (Adam; cases small, many and large) and then
``bench_train_step.py`` in this one process, with their own protocol
(interleaved round-robin samples, medians), and prints a summary of the
ratios that issue 19 sets targets for:

* ``brainopt.jit`` of ``opt.update`` against raw ``jax.jit`` optax with
  donated buffers: within 1.15x at 50 tensors of 64x64, at 400 tensors of
  mixed shapes (10M floats) and at one tensor of 10M floats;
* ``brainopt.jit`` of the spiking network's training step (forward, backward
  through time, Adam) against the same step written by hand in raw JAX:
  within 1.05x;

next to ``brainstate.transform.jit`` and ``braintools.optim`` (inside
``brainstate.transform.jit``) of the same work. Each ratio is given two ways:
the ratio of medians, and the median of the per-round ratios (a sample and
the baseline's sample of the same round share the machine's noise).

Run ``python benchmarks/bench_jit.py`` (about 6 minutes on 2 shared cores) or
``--quick`` (1M instead of 10M floats, few repeats: about a minute).
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_train_step  # noqa: E402
import bench_update  # noqa: E402

TARGET_UPDATE, TARGET_STEP = 1.15, 1.05


def _paired(samples, base):
    return statistics.median([a / b for a, b in zip(samples, base)])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--quick', action='store_true', help='few repeats, 1M instead of 10M floats')
    ap.add_argument('--repeats', type=int, default=None, help='round-robin rounds (default: each script\'s own)')
    args = ap.parse_args(argv)
    extra = ['--quick'] if args.quick else []
    if args.repeats:
        extra += ['--repeats', str(args.repeats)]
    t0 = time.perf_counter()
    upd = bench_update.main(['--optimizers', 'adam', '--cases', 'small,many,large', *extra])
    step = bench_train_step.main(extra)

    rows = []
    for case, res in upd['results'].items():
        c = res['contenders']
        base = c[bench_update.BASELINE]['samples_ms']
        for key, label in (('brainopt_bjit', 'brainopt.jit'), ('brainopt_jit', 'brainstate.transform.jit'),
                           ('braintools_jit', 'braintools in brainstate.jit')):
            rows.append((res['case'], label, c[key]['ratio_to_optax_jit'], _paired(c[key]['samples_ms'], base),
                         TARGET_UPDATE if key == 'brainopt_bjit' else None))
    base = step[bench_train_step.BASELINE]['samples_ms']
    for key, label in (('brainopt_bjit', 'brainopt.jit'), ('train_step', 'brainopt.train_step'),
                       ('brainopt_jit', 'brainstate.transform.jit'),
                       ('braintools_jit', 'braintools in brainstate.jit')):
        rows.append(('spiking training step (vs raw JAX)', label, step[key]['ratio_to_raw_jax'],
                     _paired(step[key]['samples_ms'], base), TARGET_STEP if key == 'brainopt_bjit' else None))

    print(f'\n== summary: ratio to the baseline (raw donated optax; raw JAX for the training step) | '
          f'{time.perf_counter() - t0:.0f} s ==')
    table = [[case, label, f'{ratio:.2f}x', f'{paired:.2f}x',
              '' if target is None else f'<= {target:.2f}x: {"met" if ratio <= target else "NOT met"}']
             for case, label, ratio, paired, target in rows]
    print(bench_update.T.format_table(['case', 'contender', 'ratio of medians', 'median paired ratio', 'target'],
                                      table))


if __name__ == '__main__':
    main()
