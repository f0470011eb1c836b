"""Contract rows of the wrappers: Lookahead around a rule, SAM around Adam, LBFGS without its line search.

SAM's update needs grad_fn (the row says so: the tests call ``info.update(opt, grads, grad_fn)``); LBFGS keeps
history slots of shape (memory_size, *param.shape) and refuses clipping and accumulation (``refuses``). What the
table cannot hold (LBFGS's line search, which needs value_fn; SAM with rho=0 equal to its base under every
shared option) is in tests/test_contract_wrappers.py, the golden trajectories in tests/test_wrappers.py.
"""
import brainopt

from table import COMMON_BAD, OptimizerInfo

LOOKAHEAD_BAD = [('sync_period', 0, ValueError), ('sync_period', 2.5, TypeError), ('alpha', 1.5, ValueError),
                 ('alpha', -0.1, ValueError), ('base_optimizer', 'adam', TypeError), ('reset_state', 1, TypeError)]

LBFGS_REFUSES = ('grad_clip_value', 'grad_clip_norm', 'grad_clip_norm_per_param', 'gradient_accumulation_steps')


def _lbfgs_history(shape, memory=5):
    return {'param_diffs': (memory,) + shape, 'grad_diffs': (memory,) + shape, 'prev_grad': shape,
            'prev_step': shape}


ROWS = [
    OptimizerInfo(
        'Lookahead-Adam', brainopt.Lookahead, dict(base_optimizer=brainopt.Adam(lr=0.01), sync_period=3, alpha=0.5),
        ('exp_avg', 'exp_avg_sq', 'slow'), LOOKAHEAD_BAD + COMMON_BAD),
    OptimizerInfo(
        'Lookahead-SGD', brainopt.Lookahead, dict(base_optimizer=brainopt.SGD(lr=0.1), sync_period=2, alpha=0.8),
        ('slow',), LOOKAHEAD_BAD + COMMON_BAD),
    # SAM keeps exactly its base optimizer's slots: the perturbation is recomputed, never stored
    OptimizerInfo(
        'SAM-Adam', brainopt.SAM, dict(base_optimizer=brainopt.Adam(lr=0.01), rho=0.05),
        ('exp_avg', 'exp_avg_sq'),
        [('rho', -0.1, ValueError), ('rho', 'wide', TypeError), ('adaptive', 1, TypeError),
         ('base_optimizer', 'adam', TypeError)] + COMMON_BAD,
        needs_grad_fn=True, compiled=('_perturb_compiled', '_second_compiled'), other_meaning=('rho',),
        skips={'test_nonfinite_gradients': 'a non-finite first gradient makes the whole step non-finite (its '
                                           'direction sets the perturbation), which clipping cannot contain; '
                                           'skip_nonfinite is checked in test_skip_nonfinite_moves_nothing'}),
    # LBFGS without a line search: update(grads) is one iteration with step length lr. Its two-loop recursion
    # takes dot products over all parameters together, so every slot is global: a parameter registered later
    # changes the step (and the pairs stored) of the others
    OptimizerInfo(
        'LBFGS', brainopt.LBFGS, dict(lr=0.5, memory_size=5),
        ('param_diffs', 'grad_diffs', 'prev_grad', 'prev_step'),
        [('memory_size', 0, ValueError), ('memory_size', 2.5, TypeError), ('linesearch', 'zoom', ValueError),
         ('tolerance_grad', -1.0, ValueError), ('max_linesearch_steps', -1, ValueError),
         ('scale_init_precond', 1, TypeError), ('weight_decay_mode', 'decoupled', ValueError),
         ('weight_decay_mode', 'decoupled_first', ValueError), ('weight_decay_mode', 'proximal', ValueError)]
        + [c for c in COMMON_BAD if c[0] not in LBFGS_REFUSES],
        slot_shapes=_lbfgs_history, global_slots=('param_diffs', 'grad_diffs', 'prev_grad', 'prev_step'),
        refuses=LBFGS_REFUSES,
        skips={'test_accumulation_equals_one_step_on_the_mean': 'refuses gradient accumulation (full-batch method)',
               'test_every_optimizer_trains_the_rate_network': 'a full-batch method, not one for a fresh minibatch '
                                                               'per update; tests/test_train_all.py trains it with '
                                                               'its line search on one batch',
               'test_nonfinite_gradients': 'refuses the clipping this test pairs with non-finite gradients; its '
                                           'skip_nonfinite is checked in test_skip_nonfinite_moves_nothing'}),
]
