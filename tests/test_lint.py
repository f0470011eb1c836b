"""ruff (configured in pyproject.toml: pycodestyle, pyflakes, import order, 120 columns) passes over the whole
repository (issue 28). A misspelt import or name, an unused import or a line too long fails this test."""
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip('ruff')

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_ruff_passes():
    out = subprocess.run([sys.executable, '-m', 'ruff', 'check', '--no-cache', '.'], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
