"""A type checker follows brainopt (issue 28): mypy (pinned in the test extra, configured in pyproject.toml at
the strictness the code passes) checks ``brainopt/`` and a user's script that imports its public names. A
misspelt name in a second script is reported, which shows the checker resolves the names statically (it
would pass a package it could not read)."""
import pathlib
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip('mypy')

ROOT = pathlib.Path(__file__).resolve().parents[1]

USER = '''
import brainstate
import jax.numpy as jnp

import brainopt
from brainopt import Adam, StepLR, UpdateInfo, save_checkpoint
from brainopt.optimizers.adam import AdamW
from brainopt.schedules import CosineAnnealingLR

w = brainstate.ParamState(jnp.ones(3))
opt: brainopt.Optimizer = Adam(lr=StepLR(0.1, step_size=2)).register_trainable_weights({'w': w})
info: UpdateInfo = opt.update({'w': jnp.ones(3)})
other = AdamW(lr=CosineAnnealingLR(0.1, T_max=10))
path: str = save_checkpoint('/tmp/x.npz', model={'w': w}, optimizer=opt)
'''

MISSPELT = '''
from brainopt import Adma
from brainopt.schedules import StepRL
'''


def test_mypy_checks_brainopt_and_a_script_that_uses_it(tmp_path):
    (tmp_path / 'user_script.py').write_text(textwrap.dedent(USER))
    (tmp_path / 'misspelt_script.py').write_text(textwrap.dedent(MISSPELT))
    out = subprocess.run(
        [sys.executable, '-m', 'mypy', '--config-file', str(ROOT / 'pyproject.toml'), '--cache-dir',
         str(tmp_path / 'cache'), str(ROOT / 'brainopt'), str(tmp_path / 'user_script.py'),
         str(tmp_path / 'misspelt_script.py')],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    errors = [line for line in out.stdout.splitlines() if ': error:' in line]
    assert all('misspelt_script.py' in e for e in errors), out.stdout[-6000:]
    assert any('Module "brainopt" has no attribute "Adma"' in e for e in errors), out.stdout[-3000:]
    assert any('Module "brainopt.schedules" has no attribute "StepRL"' in e for e in errors), out.stdout[-3000:]
    assert len(errors) == 2, out.stdout[-3000:]
