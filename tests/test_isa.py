"""eager = jit = for_loop on more than one instruction set.

XLA compiles each program for the CPU it runs on: with AVX2 or AVX-512 it vectorises and contracts differently than
with SSE4.2, so two different programs of one update (eager, jit, for_loop) may agree to the bit on one machine and
differ by a few ulps on another. tests/test_contract.py checks the bound on this machine's own instruction set
(native); here every row of the table is checked again in subprocesses with ``XLA_FLAGS=--xla_cpu_max_isa=SSE4_2``
and ``AVX2``, so a bound that holds on one CPU only fails on any machine (tests/isa_job.py, tests/cross_program.py).
"""
import json
import os
import pathlib
import platform
import subprocess
import sys

import pytest

from cross_program import bound
from table import OPTIMIZERS

ROOT = pathlib.Path(__file__).resolve().parent.parent
ISAS = ['SSE4_2', 'AVX2']
CHUNKS = 2                     # rows split over this many subprocesses per instruction set, for xdist to spread
BY_NAME = {info.name: info for info in OPTIMIZERS}


def _native_isa():
    """'AVX2' when this CPU's widest vector extension is AVX2 (the flags of /proc/cpuinfo: avx2, no avx512f), else
    None (unknown, or wider): XLA's native build is then the AVX2 program, which tests/test_contract.py runs."""
    try:
        flags = next(line for line in open('/proc/cpuinfo') if line.startswith('flags')).split()
    except (OSError, StopIteration):
        return None
    return 'AVX2' if 'avx2' in flags and 'avx512f' not in flags else None


def _chunk(k):
    names = [info.name for info in OPTIMIZERS]
    return names[k::CHUNKS]


@pytest.mark.parametrize('chunk', range(CHUNKS))
@pytest.mark.parametrize('isa', ISAS)
@pytest.mark.skipif(platform.machine().lower() not in ('x86_64', 'amd64'),
                    reason='--xla_cpu_max_isa takes x86 instruction sets (SSE4_2, AVX2) only on an x86-64 CPU')
def test_eager_jit_and_for_loop_agree_on_another_instruction_set(isa, chunk):
    if isa == _native_isa():
        pytest.skip(f'{isa} is this CPU\'s own instruction set: tests/test_contract.py checks it natively')
    names = _chunk(chunk)
    env = dict(os.environ)
    env['XLA_FLAGS'] = f'{env.get("XLA_FLAGS", "")} --xla_cpu_max_isa={isa}'.strip()
    proc = subprocess.run([sys.executable, str(ROOT / 'tests' / 'isa_job.py'), *names], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f'isa_job under {isa} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}'
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{')]
    assert [r['row'] for r in results] == names, proc.stdout[-3000:]
    over = [f"{r['row']}: {r['where']} is {r['ulps']:.1f} ulps from the eager run (bound {bound(BY_NAME[r['row']])})"
            for r in results if r['ulps'] > bound(BY_NAME[r['row']])]
    assert not over, f'under --xla_cpu_max_isa={isa}:\n' + '\n'.join(over)
