"""Contract rows of the wrappers that update with gradients alone: Lookahead around a rule.

SAM (its update needs grad_fn) and LBFGS (history slots of shape (memory_size, *param.shape), and a line
search that needs value_fn) do not fit the table, whose tests call update(grads); tests/test_contract_wrappers.py
runs the contract items for them (registration, every shared option, the bytes of their States) and
tests/test_wrappers.py their golden trajectories.
"""
import brainopt
from table import COMMON_BAD, OptimizerInfo

LOOKAHEAD_BAD = [('sync_period', 0, ValueError), ('sync_period', 2.5, TypeError), ('alpha', 1.5, ValueError),
                 ('alpha', -0.1, ValueError), ('base_optimizer', 'adam', TypeError), ('reset_state', 1, TypeError)]

ROWS = [
    OptimizerInfo(
        'Lookahead-Adam', brainopt.Lookahead, dict(base_optimizer=brainopt.Adam(lr=0.01), sync_period=3, alpha=0.5),
        ('exp_avg', 'exp_avg_sq', 'slow'), LOOKAHEAD_BAD + COMMON_BAD),
    OptimizerInfo(
        'Lookahead-SGD', brainopt.Lookahead, dict(base_optimizer=brainopt.SGD(lr=0.1), sync_period=2, alpha=0.8),
        ('slow',), LOOKAHEAD_BAD + COMMON_BAD),
]
