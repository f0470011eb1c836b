"""Execute ``examples/spiking_digits.ipynb`` from top to bottom, so that it never rots.

The notebook trains the spiking network of ``examples/spiking_digits.py`` for
8 epochs and checks itself: its last cells assert that the test accuracy
passed 80%, that the learning rates used were the schedule's, and that a
checkpoint restores the same predictions. A failing cell fails this test with
the cell's source and traceback.
"""
import pathlib

import pytest

nbformat = pytest.importorskip('nbformat')
nbclient = pytest.importorskip('nbclient')

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / 'examples'
NOTEBOOK = EXAMPLES / 'spiking_digits.ipynb'


def _text(outputs):
    return ''.join(o.get('text', '') for o in outputs if o.get('output_type') == 'stream')


def test_spiking_digits_notebook_runs(monkeypatch):
    monkeypatch.setenv('MPLBACKEND', 'module://matplotlib_inline.backend_inline')
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name='python3',
                                     resources={'metadata': {'path': str(EXAMPLES)}})
    client.execute()        # raises CellExecutionError, with the cell and its traceback, if a cell fails

    code = [c for c in nb.cells if c.cell_type == 'code']
    assert all(c.get('execution_count') for c in code), 'a code cell did not run'
    printed = ''.join(_text(c.outputs) for c in code)
    assert 'epoch 8: training loss' in printed
    assert 'restored test accuracy' in printed
    # the figures were drawn: the spike raster, the surrogate, the training curves
    images = sum('image/png' in o.get('data', {}) for c in code for o in c.outputs)
    assert images >= 3
