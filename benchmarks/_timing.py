"""Small timing helpers shared by the benchmark scripts.

The machines these benchmarks run on are often shared and noisy, so every
script here follows the same protocol:

* every contender is warmed up (compiled) before anything is timed;
* one *sample* is ``number`` consecutive calls, each of which blocks until its
  results are ready; the sample's value is the mean time of one call;
* samples are taken round-robin: in each repeat every contender takes one
  sample, in an order that rotates from repeat to repeat, so that a burst of
  machine noise hits all contenders alike instead of one of them;
* the garbage collector is off while a sample is taken (as ``timeit`` does)
  and runs between repeats;
* the result of a contender is the median of its samples, reported with the
  min and max.
"""
import gc
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

__all__ = ['Contender', 'machine_info', 'machine_line', 'print_header', 'warm_up', 'calibrate', 'round_robin',
           'summarize', 'format_table', 'write_json']


@dataclass
class Contender:
    """One thing to time.

    Attributes
    ----------
    key : str
        Short identifier (used in the JSON output and for ratios).
    label : str
        What the table prints.
    call : callable
        Performs exactly one update and blocks until its results are ready.
    every : int
        Take a sample only in every ``every``-th repeat (for slow contenders
        that would otherwise dominate the run time).
    number : int
        Calls per sample; set by :func:`calibrate`.
    first_call_s : float
        Duration of the first call (tracing + compilation + one run).
    samples : list of float
        Seconds per call, one entry per sample.
    """
    key: str
    label: str
    call: Callable[[], None]
    every: int = 1
    number: int = 1
    first_call_s: Optional[float] = None
    samples: List[float] = field(default_factory=list)


def _cpu_model():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown CPU'


def _version(mod):
    try:
        return __import__(mod).__version__
    except Exception:  # noqa: BLE001 - report, never fail, on a missing package
        return 'n/a'


def machine_info() -> Dict[str, object]:
    """A dict describing the machine and the library versions."""
    import jax
    u = platform.uname()
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        'uname': f'{u.system} {u.release} {u.machine}',
        'processor': platform.processor() or '',
        'cpu_model': _cpu_model(),
        'nproc': os.cpu_count(),
        'cpus_usable': affinity,
        'loadavg_1_5_15': load,
        'python': sys.version.split()[0],
        'jax': jax.__version__,
        'jaxlib': _version('jaxlib'),
        'jax_backend': jax.default_backend(),
        'jax_devices': [str(d) for d in jax.devices()],
        'brainopt': _version('brainopt'),
        'brainstate': _version('brainstate'),
        'braintools': _version('braintools'),
        'optax': _version('optax'),
        'numpy': _version('numpy'),
    }


def machine_line(info: Dict[str, object]) -> str:
    load = info['loadavg_1_5_15']
    load = '/'.join(f'{x:.2f}' for x in load) if load else 'n/a'
    return (f"machine: {info['uname']} | {info['cpu_model']} | nproc {info['nproc']} "
            f"(usable {info['cpus_usable']}) | loadavg {load}\n"
            f"software: python {info['python']} | jax {info['jax']} (jaxlib {info['jaxlib']}), backend "
            f"{info['jax_backend']}, devices {', '.join(info['jax_devices'])} | brainopt {info['brainopt']} | "
            f"brainstate {info['brainstate']} | braintools {info['braintools']} | optax {info['optax']} | "
            f"numpy {info['numpy']}")


def print_header(title: str) -> Dict[str, object]:
    """Print what a benchmark measures, the machine and the command that reproduces it; return the machine."""
    import os
    import sys
    info = machine_info()
    print(title)
    print(machine_line(info))
    print(f"command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    return info


def _timed(call, number):
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(number):
            call()
        return (time.perf_counter() - t0) / number
    finally:
        if gc_was_enabled:
            gc.enable()


def warm_up(contenders: List[Contender], calls: int = 2):
    """Call every contender ``calls`` times; the first call's duration is kept."""
    for c in contenders:
        t0 = time.perf_counter()
        c.call()
        c.first_call_s = time.perf_counter() - t0
        for _ in range(calls - 1):
            c.call()


def calibrate(contenders: List[Contender], min_sample_s: float, max_number: int = 50):
    """Choose ``number`` so that one sample lasts at least ``min_sample_s``."""
    for c in contenders:
        one = min(_timed(c.call, 1) for _ in range(3))
        c.number = max(1, min(max_number, int(min_sample_s / max(one, 1e-7)) + 1)) if one < min_sample_s else 1


def round_robin(contenders: List[Contender], repeats: int, progress: Optional[Callable[[int], None]] = None):
    """Take ``repeats`` rounds of samples, rotating the order every round."""
    n = len(contenders)
    for r in range(repeats):
        order = [contenders[(r + i) % n] for i in range(n)]
        for c in order:
            if r % c.every == 0:
                c.samples.append(_timed(c.call, c.number))
        gc.collect()
        if progress is not None:
            progress(r)


def summarize(c: Contender) -> Dict[str, float]:
    s = c.samples
    return {
        'median_ms': statistics.median(s) * 1e3,
        'min_ms': min(s) * 1e3,
        'max_ms': max(s) * 1e3,
        'samples': len(s),
        'calls_per_sample': c.number,
        'first_call_ms': None if c.first_call_s is None else c.first_call_s * 1e3,
    }


def format_table(header: List[str], rows: List[List[str]], align: Optional[str] = None) -> str:
    """Plain-text table; ``align`` is one 'l' or 'r' per column (default: first left, rest right)."""
    align = align or 'l' + 'r' * (len(header) - 1)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def fmt(row):
        return '  '.join(str(x).ljust(w) if a == 'l' else str(x).rjust(w)
                         for x, w, a in zip(row, widths, align)).rstrip()

    rule = '  '.join('-' * w for w in widths)
    return '\n'.join([fmt(header), rule] + [fmt(r) for r in rows])


def write_json(path: str, payload: dict):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    with open(path, 'w') as f:
        json.dump(payload, f, indent=2, default=str)
        f.write('\n')
