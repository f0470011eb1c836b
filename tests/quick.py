"""The quick tier: ``python -m pytest -m quick``, what a developer runs after each small step (under 90 s on 2
cores; CONTRIBUTING.md gives the measured time). It is a marker on tests of the full suite, not a copy of them:
tests/conftest.py marks the node ids listed here. It touches every optimizer row once (eager = jit, and a golden
trajectory from a peer), every schedule family once, a checkpoint round trip, the units path and the errors
path. The full suite (``python -m pytest``) stays the proof; this tier only catches most breakage fast.

A listed id that the collection does not find is an error (a renamed test would silently leave the tier), and
tests/test_quick.py checks that every row of the table has both of its entries.
"""
from table import OPTIMIZERS

#: one golden trajectory per row of the optimizer table, from a real peer (torch, optax or Keras)
GOLDEN = {
    'Adadelta': 'tests/test_golden.py::test_torch_golden[Adadelta--0]',
    'Adagrad': 'tests/test_golden.py::test_torch_golden[Adagrad--0]',
    'SGD': 'tests/test_golden_catalogue.py::test_torch_golden[SGD-0]',
    'SGD-nesterov': 'tests/test_golden_catalogue.py::test_torch_golden[SGD-2]',
    'Adam': 'tests/test_golden_catalogue.py::test_torch_golden[Adam-5]',
    'AdamW-amsgrad': 'tests/test_golden_catalogue.py::test_torch_golden[AdamW-11]',
    'RMSprop': 'tests/test_golden_catalogue.py::test_torch_golden[RMSprop-13]',
    'Momentum': 'tests/test_golden_elementwise.py::test_optax_golden[momentum]',
    'MomentumNesterov': 'tests/test_golden_elementwise.py::test_optax_golden[nesterov]',
    'Adamax': 'tests/test_golden_elementwise.py::test_torch_golden[Adamax-0]',
    'Nadam': 'tests/test_golden_elementwise.py::test_torch_golden[Nadam-2]',
    'RAdam': 'tests/test_golden_elementwise.py::test_torch_golden[RAdam-6]',
    'Rprop': 'tests/test_golden_elementwise.py::test_torch_golden[Rprop-9]',
    'Yogi': 'tests/test_golden_elementwise.py::test_optax_golden[yogi]',
    'AdaBelief': 'tests/test_golden_elementwise.py::test_optax_golden[adabelief]',
    'Lion': 'tests/test_golden_elementwise.py::test_optax_golden[lion]',
    'Adan': 'tests/test_golden_elementwise.py::test_optax_golden[adan]',
    'Ftrl': 'tests/test_golden_elementwise.py::test_keras_golden[ftrl]',
    'Lamb': 'tests/test_golden_layerwise.py::test_optax_golden[lamb]',
    'Lars': 'tests/test_golden_layerwise.py::test_optax_golden[lars]',
    'Novograd': 'tests/test_golden_layerwise.py::test_optax_golden[novograd]',
    'Fromage': 'tests/test_golden_layerwise.py::test_optax_golden[fromage]',
    'Adafactor': 'tests/test_golden_layerwise.py::test_optax_golden[adafactor]',
    'SM3': 'tests/test_golden_layerwise.py::test_optax_golden[sm3]',
    'Muon': 'tests/test_golden_layerwise.py::test_keras_golden[muon]',
    'Prodigy': 'tests/test_golden_layerwise.py::test_optax_golden[prodigy]',
    'ScheduleFreeSGD': 'tests/test_golden_layerwise.py::test_optax_golden[schedule-free-sgd]',
    'ScheduleFreeAdamW': 'tests/test_golden_layerwise.py::test_optax_golden[schedule-free-adamw]',
    'Lookahead-Adam': 'tests/test_wrappers.py::test_lookahead_optax_golden[adam]',
    'Lookahead-SGD': 'tests/test_wrappers.py::test_lookahead_optax_golden[sgd]',
    'SAM-Adam': 'tests/test_wrappers.py::test_sam_optax_golden[adam]',
    'LBFGS': 'tests/test_wrappers.py::test_lbfgs_torch_golden[quadratic-fixed-lr0.5]',
}

#: eager = jit (and it trains) for every row; for_loop is left to the full suite
AGREE = {info.name: f'tests/test_contract.py::test_eager_agrees_with_jit_and_for_loop_and_trains[{info.name}-jit]'
         for info in OPTIMIZERS}

#: one schedule of each family (brainopt/schedules/<family>.py) against its peer, traced inside jit; epoch stepping;
#: a schedule driving an optimizer
SCHEDULES = [
    'tests/test_schedules.py::test_traced_step_inside_jit_matches_torch[StepLR-a]',                    # decay
    'tests/test_schedules.py::test_traced_step_inside_jit_matches_torch[CosineAnnealingLR-a]',         # cosine
    'tests/test_schedules.py::test_traced_step_inside_jit_matches_torch[CyclicLR-triangular]',         # cyclic
    'tests/test_schedules.py::test_traced_step_inside_jit_matches_torch[LinearLR-a]',                  # factor
    'tests/test_schedules.py::test_traced_step_inside_jit_matches_torch[SequentialLR-warmup-cosine]',  # compose
    'tests/test_schedules.py::test_traced_step_inside_jit_matches_torch[MultiplicativeLR-const]',      # recursive
    'tests/test_schedules_peers.py::test_per_update_lr_at_inside_jit_matches_peer[keras-CosineDecay]',  # keras
    'tests/test_schedules_peers.py::test_per_update_lr_at_inside_jit_matches_peer[optax-ExponentialDecayLR]',
    'tests/test_schedules_epoch.py::test_reduce_on_plateau_matches_torch[defaults]',
    'tests/test_schedules_epoch.py::test_step_inside_jit_matches_torch[StepLR-a]',
    'tests/test_schedules_optimizer.py::test_per_update_schedule_drives_the_parameter_update',
]

OTHER = [
    # a checkpoint round trip (units and dtypes through the file), and a mismatched file changes nothing
    'tests/test_checkpoint.py::test_dtypes_and_units_survive_the_file',
    'tests/test_checkpoint.py::test_state_dict_is_a_plain_pytree_that_round_trips_through_tree_map',
    # the units path: parameters in mV keep their unit; a float lr is a step in the stored unit
    'tests/test_features.py::test_quantity_parameters_keep_their_unit[Adam]',
    'tests/test_units.py::test_a_float_lr_is_in_the_stored_unit',
    # the errors path: every bad input of a row raises one clear error and changes nothing
    'tests/test_errors.py::test_bad_input_raises_one_clear_error_and_changes_nothing[Adam]',
    'tests/test_quick.py::test_every_row_is_in_the_quick_tier',
    # live hyperparameters: an assigned lr and weight decay reach a compiled step without tracing again; a new
    # schedule makes it trace again
    'tests/test_live_hyperparameters.py::test_assigned_values_are_used_by_the_next_step_without_tracing_again'
    '[AdamW-amsgrad-jit]',
    'tests/test_live_hyperparameters.py::test_a_schedule_for_a_number_and_back_takes_effect_on_the_next_call[jit]',
]

QUICK = frozenset(list(GOLDEN.values()) + list(AGREE.values()) + SCHEDULES + OTHER)
