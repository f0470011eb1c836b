"""The one table of optimizers that drives every contract test.

A new optimizer is one new row (here, or in a ``tests/rows_<family>.py`` module
that defines ``ROWS``): how to build it for the tests, which
hyperparameter values are out of range, and the slots its paper needs.
"""
import importlib
import pathlib
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import pytest

import brainopt

from ulps import CROSS_PROGRAM_ULPS_PER_STEP


@dataclass
class OptimizerInfo:
    name: str
    cls: Callable
    kwargs: Dict                       # a configuration that moves parameters visibly
    slots: Tuple[str, ...]             # the accumulators its paper needs, one array per parameter each
    bad_hyperparams: List[Tuple[str, object, type]] = field(default_factory=list)  # (arg, value, error)
    # parameter shape -> {slot: slot shape}, for rules whose slots are not of the parameter's shape
    # (Adafactor's row/column vectors, SM3's per-axis vectors, per-tensor scalars); None: all parameter-shaped
    slot_shapes: Optional[Callable[[Tuple[int, ...]], Dict[str, Tuple[int, ...]]]] = None

    # slots that hold one value shared by every parameter (Prodigy's step-size estimate 'd'): a parameter
    # registered later legitimately changes them for the others
    global_slots: Tuple[str, ...] = ()

    # update needs grad_fn, the gradients at the States' current values (SAM): tests call update through
    # ``info.update(opt, grads, grad_fn)``
    needs_grad_fn: bool = False
    # shared options the class refuses with a ValueError (LBFGS: clipping, accumulation); tests where such an
    # option is incidental leave it out through ``info.supported(...)``
    refuses: Tuple[str, ...] = ()
    # test function name -> why that contract does not apply to this row: ``info.skip_if(name)`` skips with it
    skips: Dict[str, str] = field(default_factory=dict)
    # hyperparameters named like one of tests/test_errors.py's generic ones but meaning another thing (SAM's rho
    # is a radius, >= 0, not a decay in [0, 1)): the generic out-of-range values are not tried for them
    other_meaning: Tuple[str, ...] = ()
    # the optimizer's attributes holding the compiled computations of an eager update
    compiled: Tuple[str, ...] = ('_compiled',)
    # how far two differently compiled programs of this optimizer (eager, jit, for_loop) may drift apart per step, in
    # ulps (tests/ulps.py says why 16); a row whose rule needs more says why where it sets it
    ulps_per_step: int = CROSS_PROGRAM_ULPS_PER_STEP

    def cache_sizes(self, opt):
        """How many compilations each of ``opt``'s eager-update computations holds."""
        return [getattr(opt, name)._cache_size() for name in self.compiled]

    def update(self, opt, grads, grad_fn=None):
        """One ``opt.update`` as this row's optimizer takes it. ``grad_fn()`` returns the gradients at the
        States' current values; a test that feeds a stream of given gradients passes none, and a row that needs
        one then gets ``grads`` again: the gradient of a locally linear objective, which is the same wherever it
        is taken (SAM then moves as its base optimizer)."""
        if not self.needs_grad_fn:
            return opt.update(grads)
        return opt.update(grads, grad_fn=(lambda: grads) if grad_fn is None else grad_fn)

    def supported(self, **options):
        """``options`` less the shared options this row's class refuses (their refusal is tested where the
        class's golden tests are)."""
        return {k: v for k, v in options.items() if k not in self.refuses}

    def skip_if(self, test):
        if test in self.skips:
            pytest.skip(f'{self.name}: {self.skips[test]}')

    def slot_shape(self, slot, shape):
        return tuple(shape) if self.slot_shapes is None else tuple(self.slot_shapes(tuple(shape))[slot])

    def make(self, **overrides):
        return self.cls(**{**self.kwargs, **overrides})

    def __repr__(self):
        return self.name


COMMON_BAD = [
    ('lr', -0.1, ValueError), ('lr', 'fast', TypeError),
    ('weight_decay', -1e-3, ValueError), ('weight_decay_mode', 'l2', ValueError),
    ('grad_clip_value', 0.0, ValueError), ('grad_clip_norm', -1.0, ValueError),
    ('grad_clip_norm_per_param', 0.0, ValueError),
    ('ema_momentum', 1.5, ValueError), ('ema_momentum', -0.1, ValueError),
    ('ema_overwrite_frequency', 0, ValueError), ('ema_overwrite_frequency', 2.5, TypeError),
    ('loss_scale_factor', 0.0, ValueError),
    ('gradient_accumulation_steps', 0, ValueError), ('gradient_accumulation_steps', 1.5, TypeError),
    ('use_ema', 'yes', TypeError), ('skip_nonfinite', 1, TypeError),
]

OPTIMIZERS = [
    OptimizerInfo(
        'Adadelta', brainopt.Adadelta, dict(lr=1.0, rho=0.9, eps=1e-6), ('square_avg', 'acc_delta'),
        [('rho', 1.01, ValueError), ('rho', -0.5, ValueError), ('eps', -1e-6, ValueError)] + COMMON_BAD),
    OptimizerInfo(
        'Adagrad', brainopt.Adagrad, dict(lr=0.1), ('sum',),
        [('eps', -1.0, ValueError), ('lr_decay', -0.1, ValueError), ('initial_accumulator_value', -0.1, ValueError),
         ('eps_placement', 'middle', ValueError)] + COMMON_BAD),
    # plain SGD keeps no slot at all: the engine's empty-slot path runs through every contract
    OptimizerInfo(
        'SGD', brainopt.SGD, dict(lr=0.1), (),
        [('momentum', -0.1, ValueError), ('dampening', 1.5, ValueError), ('dampening', -0.1, ValueError),
         ('nesterov', 1, TypeError), ('nesterov', True, ValueError)] + COMMON_BAD),
    OptimizerInfo(
        'SGD-nesterov', brainopt.SGD, dict(lr=0.05, momentum=0.9, nesterov=True), ('momentum_buffer',),
        [('momentum', 0.0, ValueError), ('dampening', 0.1, ValueError), ('momentum', -0.9, ValueError)]
        + COMMON_BAD),
    OptimizerInfo(
        'Adam', brainopt.Adam, dict(lr=0.01), ('exp_avg', 'exp_avg_sq'),
        [('betas', (1.0, 0.999), ValueError), ('betas', (0.9, -0.1), ValueError), ('betas', 0.9, TypeError),
         ('betas', (0.9, 0.99, 0.9), TypeError), ('eps', -1e-8, ValueError), ('amsgrad', 1, TypeError)] + COMMON_BAD),
    OptimizerInfo(
        'AdamW-amsgrad', brainopt.AdamW, dict(lr=0.01, weight_decay=0.1, amsgrad=True),
        ('exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'),
        [('betas', (0.9, 1.5), ValueError), ('eps', -1.0, ValueError), ('weight_decay_mode', 'coupled', ValueError)]
        + COMMON_BAD),
    # the RMSprop row keeps only square_avg: with momentum the buffer accumulates g / sqrt(v) (~10 after one step at
    # alpha=0.99) and, on the contract's full-batch problem, cancels towards 0 where the gradient turns; the
    # gradients that eager and jit compute already differ by an ulp, which that cancellation lifts past the
    # eager-vs-jit tolerance (rtol 1e-6, atol 1e-7) on the buffer. The momentum and centered slots are pinned in
    # tests/test_golden_catalogue.py (layout, and trajectories against torch, optax and Keras).
    OptimizerInfo(
        'RMSprop', brainopt.RMSprop, dict(lr=0.01), ('square_avg',),
        [('alpha', 1.5, ValueError), ('alpha', -0.1, ValueError), ('eps', -1.0, ValueError),
         ('momentum', -0.1, ValueError), ('centered', 'yes', TypeError), ('eps_placement', 'middle', ValueError)]
        + COMMON_BAD),
]


# rows kept beside the golden tests of an optimizer family: every ``tests/rows_*.py`` defines ``ROWS``
for _path in sorted(pathlib.Path(__file__).parent.glob('rows_*.py')):
    OPTIMIZERS += importlib.import_module(_path.stem).ROWS
