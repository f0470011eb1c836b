"""Time ONE full training step of the spiking example: brainopt.train_step vs jit vs braintools vs raw JAX.

The model and the data are those of ``examples/spiking_digits.py`` (64 input
spike trains -> ``--hidden`` LIF neurons -> 10 readout neurons, 40 time steps
of 1 ms, surrogate gradient, cross-entropy; one batch of 64 digits), trained
with Adam(lr=1e-2, betas=(0.9, 0.999), eps=1e-8). The contenders are timed in
the same process, interleaved round-robin (``benchmarks/_timing.py``); every
call is one forward pass, one backward pass and one update, and blocks until
the loss and the new parameters are ready:

=====================  ==========================================================
brainopt train_step    ``step = brainopt.train_step(loss_fn, opt)``: forward,
                       backward and update in one ``jax.jit`` that donates every
                       State it writes
brainopt in jit        ``brainstate.transform.jit`` of ``brainstate.transform.grad``
                       + ``opt.update(grads)`` (what the example does)
brainopt in            the same step under ``brainopt.jit``
brainopt.jit
braintools in jit      the same step with ``braintools.optim.Adam``
raw JAX + optax        the model rewritten as a pure function of a parameter
(baseline)             dict (plain float32 mantissas in mV), ``jax.grad``,
                       ``optax.adam``, ``jax.jit(step, donate_argnums=(0, 1))``:
                       the reference every ratio uses
=====================  ==========================================================

All four start from the same initial weights and see the same batch; after the
warm-up (two steps each) the script prints how far each contender's weights
are from the baseline's (column ``max|dw|``, a few float32 ulps when they
compute the same thing).

Run ``python benchmarks/bench_train_step.py`` (about 80 s on 2 shared cores) or
``--quick`` (about 20 s). See ``benchmarks/README.md``.
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'examples'))

import _timing as T  # noqa: E402
import brainstate  # noqa: E402
import braintools  # noqa: E402
import brainunit as u  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import spiking_digits as ex  # noqa: E402

import brainopt  # noqa: E402

BASELINE = 'raw_jax'
LR = 1e-2


# -- the same network, written by hand in raw JAX --------------------------------------------

def raw_loss(params, spikes, labels):
    """``ex.SpikingNet.run`` + ``ex.cross_entropy`` as a pure function of ``{'w_in', 'w_out'}`` (in mV)."""
    decay = float(ex.DT / ex.TAU)
    v_rest, v_th, v_reset = (float(v / u.mV) for v in (ex.V_REST, ex.V_TH, ex.V_RESET))
    batch, n_hidden = spikes.shape[1], params['w_in'].shape[1]

    def step(carry, s_in):
        v_h, v_o = carry
        v_h = v_h + decay * (v_rest - v_h) + s_in @ params['w_in']
        s_h = ex.spike((v_h - v_th) / (v_th - v_rest))
        v_h = jnp.where(jax.lax.stop_gradient(s_h) > 0, v_reset, v_h)
        v_o = v_o + decay * (v_rest - v_o) + s_h @ params['w_out']
        return (v_h, v_o), v_o

    init = (jnp.full((batch, n_hidden), v_rest), jnp.full((batch, ex.N_CLASSES), v_rest))
    _, v_outs = jax.lax.scan(step, init, spikes)
    return ex.cross_entropy((v_outs - v_rest).mean(axis=0), labels)


# -- contenders ------------------------------------------------------------------------------

def _model(hidden, seed):
    brainstate.random.seed(seed)
    return ex.SpikingNet(hidden)


def _mantissas(model):
    return {'w_in': u.get_mantissa(model.w_in.value), 'w_out': u.get_mantissa(model.w_out.value)}


def build_contenders(hidden, seed, spikes, labels):
    """Return ``(contenders, read_weights)``; ``read_weights[key]()`` gives that contender's weights (mV)."""
    contenders, read = [], {}

    def blocker(model, *extra):
        return lambda out: jax.block_until_ready((out, model.w_in.value, model.w_out.value, extra))

    # 1. brainopt.train_step
    m1 = _model(hidden, seed)
    opt1 = brainopt.Adam(lr=LR)
    opt1.register_trainable_weights(m1.states(brainstate.ParamState))
    step1 = brainopt.train_step(lambda s, y: ex.cross_entropy(m1.run(s)[0], y), opt1)
    wait1 = blocker(m1)
    contenders.append(T.Contender('train_step', 'brainopt.train_step', lambda: wait1(step1(spikes, labels)[0])))
    read['train_step'] = lambda: _mantissas(m1)

    # 2. brainopt and 3. braintools.optim, each inside brainstate.transform.jit (grad + opt.update)
    def jitted(optim_module, jit=brainstate.transform.jit):
        m = _model(hidden, seed)
        p = m.states(brainstate.ParamState)
        opt = optim_module.Adam(lr=LR)
        opt.register_trainable_weights(p)

        @jit
        def step(s, y):
            grads, loss = brainstate.transform.grad(lambda: ex.cross_entropy(m.run(s)[0], y), grad_states=p,
                                                    return_value=True)()
            opt.update(grads)
            return loss
        return m, opt, step

    m2, _, step2 = jitted(brainopt)
    wait2 = blocker(m2)
    contenders.append(T.Contender('brainopt_jit', 'brainopt in brainstate.jit', lambda: wait2(step2(spikes, labels))))
    read['brainopt_jit'] = lambda: _mantissas(m2)
    m4, _, step4 = jitted(brainopt, brainopt.jit)
    wait4 = blocker(m4)
    contenders.append(T.Contender('brainopt_bjit', 'brainopt in brainopt.jit', lambda: wait4(step4(spikes, labels))))
    read['brainopt_bjit'] = lambda: _mantissas(m4)
    m3, opt3, step3 = jitted(braintools.optim)
    wait3 = blocker(m3, opt3.opt_state)
    contenders.append(T.Contender('braintools_jit', 'braintools in brainstate.jit',
                                  lambda: wait3(step3(spikes, labels))))
    read['braintools_jit'] = lambda: _mantissas(m3)

    # 4. raw JAX + optax, donated: the baseline
    tx = optax.adam(LR)

    def raw_step(params, state, s, y):
        loss, g = jax.value_and_grad(raw_loss)(params, s, y)
        updates, state = tx.update(g, state, params)
        return optax.apply_updates(params, updates), state, loss
    raw = jax.jit(raw_step, donate_argnums=(0, 1))
    params0 = {k: jnp.array(v, copy=True) for k, v in _mantissas(_model(hidden, seed)).items()}
    box = {'params': params0, 'state': tx.init(params0)}

    def call_raw():
        box['params'], box['state'], loss = raw(box['params'], box['state'], spikes, labels)
        jax.block_until_ready((box['params'], box['state'], loss))
    contenders.append(T.Contender(BASELINE, 'raw JAX + optax, donated (baseline)', call_raw))
    read[BASELINE] = lambda: box['params']
    return contenders, read, (raw, box)


def max_weight_diff(read, key):
    ref, got = read[BASELINE](), read[key]()
    return max(float(np.max(np.abs(np.asarray(got[k]) - np.asarray(ref[k])))) for k in ref)


def memory_line(raw, box, spikes, labels):
    """Peak memory of the compiled baseline step, from XLA's memory analysis."""
    mem = raw.lower(box['params'], box['state'], spikes, labels).compile().memory_analysis()
    total = (mem.argument_size_in_bytes + mem.output_size_in_bytes - mem.alias_size_in_bytes
             + mem.temp_size_in_bytes)
    return (f'   compiled raw JAX step (XLA memory analysis): arguments {mem.argument_size_in_bytes / 1e6:.2f} MB, '
            f'temporaries {mem.temp_size_in_bytes / 1e6:.2f} MB, donated (aliased) '
            f'{mem.alias_size_in_bytes / 1e6:.2f} MB, in all {total / 1e6:.2f} MB')


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--quick', action='store_true', help='smoke test: 6 rounds of 20 ms samples (< 40 s)')
    ap.add_argument('--repeats', type=int, default=None, help='round-robin rounds (default 100, 6 with --quick)')
    ap.add_argument('--min-sample-ms', type=float, default=None,
                    help='a sample repeats the step until it lasts this long (default 50, 20 with --quick)')
    ap.add_argument('--hidden', type=int, default=ex.DEFAULTS['hidden'], help='LIF neurons (default 128)')
    ap.add_argument('--batch', type=int, default=64, help='images per step (default 64)')
    ap.add_argument('--json', metavar='PATH', help='also write the results (with every sample) to PATH')
    args = ap.parse_args(argv)
    repeats = args.repeats or (6 if args.quick else 100)
    min_sample_s = (args.min_sample_ms or (20. if args.quick else 50.)) / 1e3

    info = T.print_header('bench_train_step: ONE training step (forward + backward + Adam update) of '
                          'examples/spiking_digits.py')
    print(f'network 64 -> {args.hidden} LIF -> 10, {ex.N_STEPS} time steps, batch {args.batch}; '
          f'repeats {repeats}, min sample {min_sample_s * 1e3:g} ms; ratio = median / raw-JAX median')

    t0 = time.perf_counter()
    x_train, _, y_train, _ = ex.load_digits(0)
    spikes = jnp.asarray(ex.encode(np.random.default_rng(0), x_train[:args.batch]))
    labels = jnp.asarray(y_train[:args.batch])
    # one-time costs of the process (lazy imports, XLA's first compilation) would otherwise land in the
    # first contender's 'first call ms': pay them on a throwaway network of 8 neurons
    small = {k: jnp.zeros((n, 8 if k == 'w_in' else ex.N_CLASSES)) for k, n in (('w_in', ex.N_IN), ('w_out', 8))}
    jax.block_until_ready(jax.jit(jax.value_and_grad(raw_loss))(small, spikes, labels))
    jax.block_until_ready(brainstate.transform.jit(lambda s: ex.SpikingNet(8).run(s)[0].sum())(spikes))
    contenders, read, (raw, box) = build_contenders(args.hidden, 0, spikes, labels)
    T.warm_up(contenders, calls=2)
    diffs = {c.key: max_weight_diff(read, c.key) for c in contenders}
    T.calibrate(contenders, min_sample_s)
    T.round_robin(contenders, repeats)

    base_c = next(c for c in contenders if c.key == BASELINE)
    base = statistics.median(base_c.samples)
    header = ['contender', 'median ms', 'min ms', 'max ms', 'samples', 'first call ms', 'x raw JAX',
              'paired x [q1-q3]', 'max|dw| mV']
    rows, results = [], {}
    for c in contenders:
        s = T.summarize(c)
        ratio = s['median_ms'] / (base * 1e3)
        paired = [a / b for a, b in zip(c.samples, base_c.samples)]     # same round, same machine noise
        q = statistics.quantiles(paired, n=4) if len(paired) >= 2 else paired * 3
        rows.append([c.label, f"{s['median_ms']:.3f}", f"{s['min_ms']:.3f}", f"{s['max_ms']:.3f}",
                     f"{s['samples']}x{s['calls_per_sample']}", f"{s['first_call_ms']:.0f}", f'{ratio:.2f}x',
                     f'{q[0]:.2f}-{q[2]:.2f}', f'{diffs[c.key]:.1e}'])
        results[c.key] = dict(s, label=c.label, ratio_to_raw_jax=ratio, paired_ratio_q1_median_q3=q,
                              max_abs_weight_diff=diffs[c.key],
                              samples_ms=[x * 1e3 for x in c.samples])
    med = {k: v['median_ms'] for k, v in results.items()}
    print(f'\n== training step | {time.perf_counter() - t0:.0f} s ==')
    print(T.format_table(header, rows))
    print(f"   brainopt.jit/brainstate.jit: {med['brainopt_bjit'] / med['brainopt_jit']:.2f}x | "
          f"train_step/brainopt_jit: {med['train_step'] / med['brainopt_jit']:.2f}x | "
          f"train_step/braintools_jit: {med['train_step'] / med['braintools_jit']:.2f}x | "
          f"targets: train_step <= 1.10x raw JAX (issue 29), brainopt.jit <= 1.05x (issue 19)")
    print(memory_line(raw, box, spikes, labels))
    load = os.getloadavg()
    print(f'\ntotal {time.perf_counter() - t0:.0f} s; loadavg at end {"/".join(f"{x:.2f}" for x in load)}')
    if args.json:
        info['loadavg_at_end'] = load
        T.write_json(args.json, {'machine': info, 'argv': sys.argv, 'repeats': repeats, 'hidden': args.hidden,
                                 'batch': args.batch, 'min_sample_ms': min_sample_s * 1e3, 'results': results})
        print(f'wrote {args.json}')
    return results


if __name__ == '__main__':
    main()
