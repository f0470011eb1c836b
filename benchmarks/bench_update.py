"""Time ONE optimizer update: brainopt vs braintools.optim vs raw optax.

For Adadelta and Adagrad, and two parameter sets

* ``small``: 50 tensors of 64x64 float32 (per-tensor overhead dominates),
* ``large``: one tensor of 10M float32 (memory bandwidth dominates;
  1M with ``--quick``),

the contenders below are timed in the same process, interleaved round-robin
(see ``benchmarks/_timing.py``); every call blocks until the new parameters and
the optimizer's new state are ready:

====================  ===========================================================
brainopt eager        ``opt.update(grads)`` called directly (brainopt's own
                      cached ``jax.jit``, optimizer buffers donated)
brainopt in jit       ``brainstate.transform.jit(lambda g: opt.update(g))``
brainopt in           ``brainopt.jit(lambda g: opt.update(g))``: the same
brainopt.jit          program, the written States' buffers donated
braintools eager      ``braintools.optim`` ``opt.update(grads)`` called directly
braintools in jit     the same inside ``brainstate.transform.jit``
optax jit (baseline)  ``jax.jit(step, donate_argnums=(0, 1))`` with ``tx.update``
                      + ``optax.apply_updates``: the reference every ratio uses
optax jit +info       the baseline plus the global gradient norm and the
                      all-finite flag that brainopt's ``UpdateInfo`` returns
                      (a reference: the same work as brainopt, in plain optax)
optax eager           ``tx.update`` + ``optax.apply_updates`` without jit
                      (small case only; sampled every 5th round)
====================  ===========================================================

Hyperparameters are the same for all three libraries:
Adadelta ``lr=1.0, rho=0.9, eps=1e-6``; Adagrad ``lr=0.01,
initial_accumulator_value=0.1, eps=1e-10`` with epsilon inside the square
root (optax's and braintools' formula; brainopt ``eps_placement='inside'``).
After warm-up every contender has applied the same two updates to the same
initial parameters; the script checks that they agree (column ``max|dp|``).

Run ``python benchmarks/bench_update.py`` (about 4-5 minutes on 2 cores),
``--quick`` for a smoke test (< 1 minute), ``--json out.json`` to keep the
results. See ``benchmarks/README.md``.
"""
import argparse
import functools
import os
import statistics
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _timing as T  # noqa: E402
import brainstate  # noqa: E402
import braintools  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import brainopt  # noqa: E402

BASELINE = 'optax_jit'

# -- optimizers: one constructor per library, with the same hyperparameters ---------------



def _stored(state):
    """The array a State holds, read without brainstate's per-read bookkeeping (about 3 us per State):
    waiting for the results is the benchmark's work, not the library's, and raw optax pays nothing for it."""
    return vars(state).get('_value', None) if '_value' in vars(state) else state.value


def update_call(opt, grads, state_objs, in_jit):
    """A timed call of ``opt.update(grads)``, eager or inside ``in_jit`` (``brainstate.transform.jit`` or
    ``brainopt.jit``),
    that waits for every State it writes (brainopt and braintools.optim alike).

    It does not read the returned ``UpdateInfo``'s ``grad_norm`` and ``finite``: brainopt computes them
    eagerly only when read (``jax.block_until_ready`` on them would read them), and the optax baseline
    computes neither (the contender ``optax jit +info`` shows their cost)."""
    if in_jit:
        @in_jit
        def step(g):
            opt.update(g)

        def call():
            step(grads)
            jax.block_until_ready([_stored(s) for s in state_objs])
    else:
        def call():
            out = opt.update(grads)
            jax.block_until_ready(([x for x in (out if isinstance(out, tuple) else (out,)) if isinstance(x, jax.Array)],
                                   [_stored(s) for s in state_objs]))
    return call

def _brainopt_adagrad():
    kw = dict(lr=0.01, lr_decay=0.0, initial_accumulator_value=0.1, eps=1e-10)
    try:
        return brainopt.Adagrad(**kw, eps_placement='inside')
    except TypeError:  # an older/newer API without eps_placement: same work, other formula
        warnings.warn('brainopt.Adagrad has no eps_placement; timing its default formula')
        return brainopt.Adagrad(**kw)


OPTIMIZERS = {
    'adam': {
        'title': 'Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8)',
        'brainopt': lambda: brainopt.Adam(lr=1e-3),
        'braintools': lambda: braintools.optim.Adam(lr=1e-3),
        'optax': lambda: optax.adam(1e-3),
    },
    'sgdm': {
        'title': 'SGD(lr=0.01, momentum=0.9)',
        'brainopt': lambda: brainopt.SGD(lr=0.01, momentum=0.9),
        'braintools': lambda: braintools.optim.Momentum(lr=0.01, momentum=0.9),
        'optax': lambda: optax.sgd(0.01, momentum=0.9),
    },
    'adadelta': {
        'title': 'Adadelta(lr=1.0, rho=0.9, eps=1e-6)',
        'brainopt': lambda: brainopt.Adadelta(lr=1.0, rho=0.9, eps=1e-6),
        'braintools': lambda: braintools.optim.Adadelta(lr=1.0, rho=0.9, eps=1e-6),
        'optax': lambda: optax.adadelta(1.0, rho=0.9, eps=1e-6),
    },
    'adagrad': {
        'title': 'Adagrad(lr=0.01, initial_accumulator_value=0.1, eps=1e-10, eps inside sqrt)',
        'brainopt': _brainopt_adagrad,
        'braintools': lambda: braintools.optim.Adagrad(lr=0.01, lr_decay=0.0, initial_accumulator_value=0.1,
                                                       eps=1e-10),
        'optax': lambda: optax.adagrad(0.01, initial_accumulator_value=0.1, eps=1e-10),
    },
}


def _mixed_shapes(n, total):
    """``n`` tensors of a transformer-like mix (matrices, vectors, biases), about ``total`` floats in all."""
    kinds = [(1, 1), (1, 4), (4, 1), (1, None)]             # (rows, cols) as multiples of a width; None: a vector
    width = int((total / (n / 4 * (1 + 4 + 4))) ** 0.5)
    shapes = []
    for i in range(n):
        r, c = kinds[i % 4]
        shapes.append((width * r,) if c is None else (width * r, width * c))
    return shapes


def make_cases(quick):
    large = 1_000_000 if quick else 10_000_000
    return {
        'small': {'title': '50 x (64, 64) float32', 'shapes': [(64, 64)] * 50, 'optax_eager': True},
        'many': {'title': f'400 mixed shapes, {sum(np.prod(s) for s in _mixed_shapes(400, large)):,} float32',
                 'shapes': _mixed_shapes(400, large), 'optax_eager': False},
        'large': {'title': f'1 x ({large:,},) float32', 'shapes': [(large,)], 'optax_eager': False},
    }


# -- contenders ------------------------------------------------------------------------------

def _global_norm_and_finite(grads):
    """What brainopt's UpdateInfo computes besides the update (its grad_norm and finite)."""
    total = jnp.zeros((), jnp.float32)
    for g in grads.values():
        total = total + jnp.sum(g.astype(jnp.float32) ** 2)
    finite = functools.reduce(jnp.logical_and, [jnp.all(jnp.isfinite(g)) for g in grads.values()])
    return jnp.sqrt(total), finite


def build_contenders(spec, case, init_params, grads):
    """Return ``(contenders, read_params)``; ``read_params[key]()`` gives that contender's parameters."""
    contenders, read = [], {}

    def fresh_states():
        return {k: brainstate.ParamState(jnp.array(v, copy=True)) for k, v in init_params.items()}

    def state_reader(states):
        return lambda: {k: s.value for k, s in states.items()}

    # 1-2. brainopt, eager, inside brainstate.transform.jit and inside brainopt.jit
    for key, label, in_jit in [('brainopt_eager', 'brainopt eager', None),
                               ('brainopt_jit', 'brainopt in brainstate.jit', brainstate.transform.jit),
                               ('brainopt_bjit', 'brainopt in brainopt.jit', brainopt.jit)]:
        states = fresh_states()
        opt = spec['brainopt']()
        opt.register_trainable_weights(states)
        state_objs = list(states.values()) + [opt.step_count] + list(opt.slots.values())
        contenders.append(T.Contender(key, label, update_call(opt, grads, state_objs, in_jit)))
        read[key] = state_reader(states)

    # 3-4. braintools.optim, eager and inside brainstate.transform.jit
    for key, label, in_jit in [('braintools_eager', 'braintools eager', None),
                               ('braintools_jit', 'braintools in brainstate.jit', brainstate.transform.jit)]:
        states = fresh_states()
        opt = spec['braintools']()
        opt.register_trainable_weights(states)
        state_objs = list(states.values()) + [opt.opt_state, opt.step_count]
        contenders.append(T.Contender(key, label, update_call(opt, grads, state_objs, in_jit)))
        read[key] = state_reader(states)

    # 5. raw optax, jitted with donated params and state: the baseline
    # 5b. the same plus brainopt's UpdateInfo reductions (reference)
    tx = spec['optax']()

    def optax_step(params, state, g):
        updates, state = tx.update(g, state, params)
        return optax.apply_updates(params, updates), state

    def optax_step_info(params, state, g):
        params, state = optax_step(params, state, g)
        return params, state, _global_norm_and_finite(g)

    for key, label, fn in [(BASELINE, 'optax jit donated (baseline)', optax_step),
                           ('optax_jit_info', 'optax jit donated +norm/finite', optax_step_info)]:
        jitted = jax.jit(fn, donate_argnums=(0, 1))
        params0 = {k: jnp.array(v, copy=True) for k, v in init_params.items()}
        box = {'params': params0, 'state': tx.init(params0)}

        def call(jitted=jitted, box=box):
            out = jitted(box['params'], box['state'], grads)
            box['params'], box['state'] = out[0], out[1]
            jax.block_until_ready(out)
        contenders.append(T.Contender(key, label, call))
        read[key] = (lambda box=box: box['params'])

    # 5c. the floor: a donated jnp kernel that streams exactly 28 bytes per float32 parameter (reads p, g, two
    # slots; writes p and the two slots) -- Adam's traffic without XLA's third pass
    floor = jax.jit(lambda p, m, v, g: ({k: p[k] + g[k] for k in p}, {k: m[k] * 0.9 for k in m},
                                        {k: v[k] * 0.999 for k in v}), donate_argnums=(0, 1, 2))
    fbox = {'a': [{k: jnp.array(v, copy=True) for k, v in init_params.items()} for _ in range(3)]}

    def call_floor(fbox=fbox):
        fbox['a'] = list(floor(*fbox['a'], grads))
        jax.block_until_ready(fbox['a'])
    contenders.append(T.Contender('floor', 'floor: donated jnp, 28 B/param', call_floor))
    read['floor'] = None

    # 6. raw optax eager (small case only: one dispatch per operation per tensor)
    if case['optax_eager']:
        params0 = {k: jnp.array(v, copy=True) for k, v in init_params.items()}
        box = {'params': params0, 'state': tx.init(params0)}

        def call(box=box):
            updates, box['state'] = tx.update(grads, box['state'], box['params'])
            box['params'] = optax.apply_updates(box['params'], updates)
            jax.block_until_ready((box['params'], box['state']))
        contenders.append(T.Contender('optax_eager', 'optax eager (no jit)', call, every=5))
        read['optax_eager'] = (lambda box=box: box['params'])
    return contenders, read


def max_param_diff(read, key):
    """Largest |param - baseline param| over all elements (after the same warm-up updates)."""
    if read[key] is None:
        return float('nan')
    ref, got = read[BASELINE](), read[key]()
    return max(float(np.max(np.abs(np.asarray(got[k]) - np.asarray(ref[k])))) for k in ref)


# -- reporting -------------------------------------------------------------------------------

def paired_ratios(c, base):
    """Per-round ratio of ``c``'s sample to the baseline's sample of the same round."""
    if c.every == 1:
        return [a / b for a, b in zip(c.samples, base.samples)]
    return [a / b for a, b in zip(c.samples, base.samples[::c.every])]


def analyse(spec, init_params, grads):
    """Bytes moved per parameter, temporary and peak memory, and compile time of one compiled update:
    brainopt's eager step and donated optax, from XLA's cost and memory analysis."""
    n = sum(int(np.prod(v.shape)) for v in init_params.values())
    out = {}
    states = {k: brainstate.ParamState(jnp.array(v, copy=True)) for k, v in init_params.items()}
    opt = spec['brainopt']()
    opt.register_trainable_weights(states)
    tx = spec['optax']()

    def optax_step(params, state, g):
        updates, state = tx.update(g, state, params)
        return optax.apply_updates(params, updates), state
    from brainopt import _registry as registry
    lowered = {
        'brainopt': lambda: opt._compiled.lower(list(registry.read_params(opt._weights.entries).values()),
                                                *jax.tree_util.tree_flatten(grads), opt._read_state(), [{}]),
        'optax': lambda: jax.jit(optax_step, donate_argnums=(0, 1)).lower(init_params, tx.init(init_params), grads),
    }
    for key, lower in lowered.items():
        t0 = time.perf_counter()
        compiled = lower().compile()
        seconds = time.perf_counter() - t0
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, list) else cost
        mem = compiled.memory_analysis()
        peak = getattr(mem, 'peak_memory_in_bytes', 0) or (mem.argument_size_in_bytes + mem.output_size_in_bytes
                                                           - mem.alias_size_in_bytes + mem.temp_size_in_bytes)
        out[key] = {'bytes_per_param': cost.get('bytes accessed', float('nan')) / n, 'compile_s': seconds,
                    'temp_MB': mem.temp_size_in_bytes / 1e6, 'peak_MB': peak / 1e6}
    print('   compiled update: ' + ' | '.join(
        f"{k}: {v['bytes_per_param']:.1f} B/param, temp {v['temp_MB']:.1f} MB, peak {v['peak_MB']:.0f} MB, "
        f"compile {v['compile_s']:.2f} s" for k, v in out.items()))
    return out


def report(opt_title, case_title, contenders, diffs, elapsed):
    by_key = {c.key: c for c in contenders}
    base = by_key[BASELINE]
    base_med = statistics.median(base.samples)
    header = ['contender', 'median ms', 'min ms', 'max ms', 'samples', 'first call ms', 'x optax jit',
              'paired x [q1-q3]', 'max|dp|']
    rows, results = [], {}
    for c in contenders:
        s = T.summarize(c)
        ratio = statistics.median(c.samples) / base_med
        pr = paired_ratios(c, base)
        q = statistics.quantiles(pr, n=4) if len(pr) >= 2 else [pr[0]] * 3
        rows.append([c.label, f"{s['median_ms']:.3f}", f"{s['min_ms']:.3f}", f"{s['max_ms']:.3f}",
                     f"{s['samples']}x{s['calls_per_sample']}", f"{s['first_call_ms']:.0f}", f'{ratio:.2f}x',
                     f'{q[0]:.2f}-{q[2]:.2f}', f'{diffs[c.key]:.1e}'])
        results[c.key] = dict(s, label=c.label, ratio_to_optax_jit=ratio, paired_ratio_median=q[1],
                              paired_ratio_q1=q[0], paired_ratio_q3=q[2], max_abs_param_diff=diffs[c.key],
                              samples_ms=[x * 1e3 for x in c.samples])
    extra = {}
    for a, b in [('brainopt_eager', 'braintools_eager'), ('brainopt_jit', 'braintools_jit'),
                 ('brainopt_eager', 'brainopt_jit'), ('brainopt_bjit', 'brainopt_jit'),
                 ('brainopt_eager', 'floor')]:
        extra[f'{a}/{b}'] = statistics.median(by_key[a].samples) / statistics.median(by_key[b].samples)
    print(f'\n== {opt_title} | {case_title} | {elapsed:.0f} s ==')
    print(T.format_table(header, rows))
    print('   ' + ' | '.join(f'{k}: {v:.2f}x' for k, v in extra.items()))
    return {'contenders': results, 'ratios': extra}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--repeats', type=int, default=None,
                    help='round-robin rounds per (optimizer, case); default 60, 5 with --quick')
    ap.add_argument('--quick', action='store_true',
                    help='smoke test: few repeats, 1M instead of 10M elements (< 60 s)')
    ap.add_argument('--json', metavar='PATH', help='also write the results (with every sample) to PATH')
    ap.add_argument('--optimizers', default=None,
                    help='comma-separated subset of adam,adagrad,adadelta,sgdm (default all; adam with --quick)')
    ap.add_argument('--cases', default=None,
                    help='comma-separated subset of small,many,large (default all; small,large with --quick)')
    ap.add_argument('--plot', metavar='PNG', help='also draw the ratios to donated optax (matplotlib) into PNG')
    ap.add_argument('--min-sample-ms', type=float, default=None,
                    help='a sample repeats the call until it lasts this long (default 10, 2 with --quick)')
    args = ap.parse_args(argv)
    repeats = args.repeats or (5 if args.quick else 60)
    min_sample_s = (args.min_sample_ms or (2. if args.quick else 10.)) / 1e3
    args.optimizers = args.optimizers or ('adam' if args.quick else 'adam,adagrad,adadelta,sgdm')
    args.cases = args.cases or ('small,large' if args.quick else 'small,many,large')
    opt_names = [s.strip() for s in args.optimizers.split(',') if s.strip()]
    cases = make_cases(args.quick)
    case_names = [s.strip() for s in args.cases.split(',') if s.strip()]
    for n in opt_names:
        if n not in OPTIMIZERS:
            ap.error(f'unknown optimizer {n!r}')
    for n in case_names:
        if n not in cases:
            ap.error(f'unknown case {n!r}')

    info = T.print_header('bench_update: time of ONE optimizer update, interleaved round-robin, '
                          'block_until_ready on results')
    print(f'repeats {repeats} per (optimizer, case), min sample {min_sample_s * 1e3:g} ms, '
          f'ratios = contender median / optax-jit median (lower is faster)')

    payload = {'machine': info, 'argv': sys.argv, 'repeats': repeats, 'min_sample_ms': min_sample_s * 1e3,
               'quick': args.quick, 'results': {}}
    t_start = time.perf_counter()
    rng = np.random.default_rng(0)
    for case_name in case_names:
        case = cases[case_name]
        init_params = {f'p{i}': jnp.asarray(rng.standard_normal(s, dtype=np.float32))
                       for i, s in enumerate(case['shapes'])}
        grads = {k: jnp.asarray(0.1 * rng.standard_normal(v.shape, dtype=np.float32))
                 for k, v in init_params.items()}
        for opt_name in opt_names:
            spec = OPTIMIZERS[opt_name]
            t0 = time.perf_counter()
            contenders, read = build_contenders(spec, case, init_params, grads)
            T.warm_up(contenders, calls=2)          # every contender has now applied the same 2 updates
            diffs = {c.key: max_param_diff(read, c.key) for c in contenders}
            T.calibrate(contenders, min_sample_s)
            T.round_robin(contenders, repeats)
            res = report(spec['title'], f'{case_name}: {case["title"]}', contenders, diffs,
                         time.perf_counter() - t0)
            res['compiled'] = analyse(spec, init_params, grads)
            payload['results'][f'{opt_name}/{case_name}'] = dict(res, optimizer=spec['title'],
                                                                  case=case['title'])
            del contenders, read
    total = time.perf_counter() - t_start
    payload['machine']['loadavg_at_end'] = os.getloadavg()
    payload['total_s'] = total
    print(f'\ntotal {total:.0f} s; loadavg at end {"/".join(f"{x:.2f}" for x in os.getloadavg())}')
    if args.json:
        T.write_json(args.json, payload)
        print(f'wrote {args.json}')
    if args.plot:
        plot(payload, args.plot)
        print(f'wrote {args.plot}')
    return payload


def plot(payload, path):
    """One panel per case: each contender's median time as a ratio to donated optax, per optimizer."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    keys = ['brainopt_eager', 'brainopt_jit', 'brainopt_bjit', 'braintools_eager', 'braintools_jit', 'floor']
    results = payload['results']
    cases = sorted({k.split('/')[1] for k in results}, key=['small', 'many', 'large'].index)
    opts = sorted({k.split('/')[0] for k in results}, key=list(OPTIMIZERS).index)
    fig, axes = plt.subplots(1, len(cases), figsize=(4.2 * len(cases), 3.6), squeeze=False)
    for ax, case in zip(axes[0], cases):
        for j, key in enumerate(keys):
            vals = [results[f'{o}/{case}']['contenders'][key]['ratio_to_optax_jit'] for o in opts]
            ax.bar(np.arange(len(opts)) + (j - 2.5) * 0.14, vals, 0.14, label=key.replace('_', ' '))
        ax.axhline(1.0, color='k', lw=0.8)
        ax.axhline(1.5, color='tab:red', lw=0.8, ls='--')
        ax.set_yscale('log')
        ax.set_xticks(np.arange(len(opts)), opts)
        ax.set_title(results[f'{opts[0]}/{case}']['case'], fontsize=9)
        ax.set_ylabel('time / donated jitted optax')
    axes[0][0].legend(fontsize=7)
    fig.suptitle('one optimizer update (median of interleaved repeats; dashed: 1.5x target)', fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == '__main__':
    main()
