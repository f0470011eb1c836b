import atexit
import os
import shutil
import sys
import tempfile

import pytest

# Keras 3 is a numerical reference here; it must run on JAX (no TensorFlow is installed).
os.environ.setdefault('KERAS_BACKEND', 'jax')
sys.path.insert(0, os.path.dirname(__file__))

collect_ignore = ['sharding_job.py']      # run by test_sharding.py in a subprocess with 8 simulated devices

# One persistent XLA compilation cache for the whole run, shared by the xdist workers and by the subprocesses the
# tests start (they inherit the environment): many tests compile the same optimizer step (eager, jit and for_loop
# of one row; a checkpoint resumed in a new process), and a hit skips XLA's compile. Cold, it saves ~12% of the run.
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
    _cache = tempfile.mkdtemp(prefix='brainopt-test-xla-cache-')
    os.environ['JAX_COMPILATION_CACHE_DIR'] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES', '-1')
if 'jax' in sys.modules:                   # imported before this file (by a plugin): configure it directly
    import jax
    jax.config.update('jax_compilation_cache_dir', os.environ['JAX_COMPILATION_CACHE_DIR'])
    jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)
    jax.config.update('jax_persistent_cache_min_entry_size_bytes', -1)


def pytest_configure(config):
    config.addinivalue_line('markers', 'quick: the quick tier (tests/quick.py), `python -m pytest -m quick`')


@pytest.hookimpl(tryfirst=True)             # before -m quick deselects by marker
def pytest_collection_modifyitems(config, items):
    """Mark the quick tier's tests; a listed id whose file was collected but which is not there is an error."""
    from quick import QUICK
    found, files = set(), set()
    for item in items:
        files.add(item.nodeid.split('::')[0])
        if item.nodeid in QUICK:
            item.add_marker('quick')
            found.add(item.nodeid)
    narrowed = any('::' in str(a) for a in config.args)     # node ids on the command line: only those collected
    missing = sorted(q for q in QUICK - found if q.split('::')[0] in files and not narrowed)
    if missing:
        raise pytest.UsageError('tests/quick.py lists tests that do not exist (renamed?): ' + ', '.join(missing))

