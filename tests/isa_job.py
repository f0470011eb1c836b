"""Run by tests/test_isa.py in a subprocess under ``XLA_FLAGS=--xla_cpu_max_isa=<ISA>``: every row of the
optimizer table three ways (eager, jit, for_loop); prints one JSON line per row, ``{"row", "ulps", "where"}``, the
largest ulp distance found (tests/cross_program.py)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault('KERAS_BACKEND', 'jax')

from cross_program import three_ways, worst_ulps  # noqa: E402
from table import OPTIMIZERS  # noqa: E402


def main(names):
    for info in OPTIMIZERS:
        if names and info.name not in names:
            continue
        runs, _, _ = three_ways(info)
        ulps, where = worst_ulps(runs)
        print(json.dumps({'row': info.name, 'ulps': ulps, 'where': where}), flush=True)


if __name__ == '__main__':
    main(sys.argv[1:])
