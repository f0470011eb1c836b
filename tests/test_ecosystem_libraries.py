"""Real ecosystem libraries that check for braintools.optim, given brainopt's Adam (issue 33).

pinnx's ``Trainer.compile`` asserts ``isinstance(opt, braintools.optim.Optimizer)``, brainmass's
``Fitter(backend='grad')`` ``isinstance(opt, braintools.optim.OptaxOptimizer)``; both then call
``register_trainable_weights`` and ``update`` / ``step`` inside ``brainstate.transform.jit``. Each library's run
(tests/ecosystem_job.py, in a subprocess) is the same code with the optimizer's module changed, from the same
seed; the parameters are compared here and the differences printed (``pytest -s`` shows them).

Tolerance: one documented convention separates the runs, Adam's bias corrections (braintools computes optax's
float32 ``1 - beta**t``, brainopt the exact value to float32 round-off; docs/migration_braintools.md), which
changes each step's size by about 1e-6 relative. Adam moves a parameter by at most about ``lr`` per step, so
the runs may differ by ``1e-4 * lr * steps``. Measured on 2 AVX2 cores: pinnx at most 4.2e-7 (10% of its bound;
C 1.2e-7, one float32 ulp of 1.97 m^2/s), brainmass 6.9e-6 (7%, the unconstrained w; w itself 1.6e-6).
"""
import pathlib

import numpy as np
import pytest

from ecosystem_job import run_job

pytest.importorskip('pinnx')
pytest.importorskip('brainmass')

JOB = pathlib.Path(__file__).with_name('ecosystem_job.py')
#: (lr, steps) of each library's run in ecosystem_job.py
RUNS = {'pinnx': (1e-3, 40), 'brainmass': (0.05, 20)}


@pytest.mark.parametrize('library', sorted(RUNS))
def test_the_library_trains_with_brainopt_as_with_braintools(library):
    result = run_job(JOB, library)
    theirs, ours = result['braintools'], result['brainopt']
    assert theirs.keys() == ours.keys() and theirs
    lr, steps = RUNS[library]
    bound = 1e-4 * lr * steps
    print(f'\n{library}: brainopt vs braintools.optim, Adam(lr={lr}), {steps} steps; bound {bound:.1e}')
    worst = 0.0
    for name in sorted(theirs):
        a, b = np.asarray(ours[name]), np.asarray(theirs[name])
        diff = float(np.max(np.abs(a - b)))
        print(f'  {name}: max |diff| {diff:.2e}, of |value| up to {float(np.max(np.abs(b))):.3g}')
        if not name.startswith(('losses', 'best_loss')):       # the losses are printed, the parameters bounded
            worst = max(worst, diff)
            assert diff <= bound, f'{library}: {name} differs by {diff:.3e} > {bound:.1e}'
    print(f'  worst parameter difference {worst:.2e} ({worst / bound:.1%} of the bound)')
