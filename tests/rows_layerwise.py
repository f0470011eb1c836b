"""Contract-table rows of the layer-wise, factored and learning-rate-free optimizers.

``slot_shapes`` (where given) maps a parameter's shape to each slot's shape: Adafactor and SM3 keep vectors,
Novograd, Prodigy and the schedule-free pair keep scalars per parameter, Muon keeps Adam's second moment only
for parameters that are not 2-D (a zero-size placeholder otherwise). The contract tests read it through
``slot_shape`` when the table supports it; ``global_slots`` names slots shared by every parameter (Prodigy's
``d``), which a parameter registered later legitimately changes (/tmp/patches/B.patch adds both to the table).
"""
import brainopt

from table import COMMON_BAD, OptimizerInfo

BETAS_BAD = [('betas', (1.0, 0.999), ValueError), ('betas', (0.9, -0.1), ValueError), ('betas', 0.9, TypeError)]


def _adafactor_shapes(shape):
    if len(shape) >= 2:
        return {'row_var': shape[:-1], 'col_var': shape[:-2] + shape[-1:], 'variance': (0,)}
    return {'row_var': (0,), 'col_var': (0,), 'variance': shape}


def _sm3_shapes(shape):
    return {'accumulator': (sum(shape),) if len(shape) >= 2 else shape, 'momentum_buffer': shape}


def _muon_shapes(shape):
    return {'momentum_buffer': shape, 'exp_avg_sq': (0,) if len(shape) == 2 else shape}


def _scalars(*names):
    return lambda shape: {n: () for n in names}


def _with_info(info, slot_shapes, global_slots=()):
    # set after construction, so that the rows load with or without the table's slot_shapes field
    info.slot_shapes = slot_shapes
    info.global_slots = global_slots
    return info


ROWS = [
    OptimizerInfo('Lamb', brainopt.Lamb, dict(lr=0.01, weight_decay=0.01), ('exp_avg', 'exp_avg_sq'),
                  BETAS_BAD + [('eps', -1.0, ValueError)] + COMMON_BAD),
    OptimizerInfo('Lars', brainopt.Lars, dict(lr=1.0, momentum=0.5, trust_coefficient=0.005), ('momentum_buffer',),
                  [('momentum', -0.1, ValueError), ('trust_coefficient', -1.0, ValueError), ('eps', -1.0, ValueError),
                   ('nesterov', 1, TypeError)] + COMMON_BAD),
    _with_info(OptimizerInfo('Novograd', brainopt.Novograd, dict(lr=0.01), ('exp_avg', 'exp_avg_sq'),
                             BETAS_BAD + [('eps', -1.0, ValueError)] + COMMON_BAD),
               lambda shape: {'exp_avg': shape, 'exp_avg_sq': ()}),
    OptimizerInfo('Fromage', brainopt.Fromage, dict(lr=0.05), (),
                  [('momentum', 0.9, ValueError), ('min_norm', -1.0, ValueError)] + COMMON_BAD),
    _with_info(OptimizerInfo('Adafactor', brainopt.Adafactor, dict(lr=0.05), ('row_var', 'col_var', 'variance'),
                             [('eps', (1e-30, -1.0), ValueError), ('eps', 1e-30, TypeError),
                              ('clip_threshold', 0.0, ValueError), ('decay_rate', -0.8, ValueError),
                              ('beta1', 1.0, ValueError), ('factored', 1, TypeError)] + COMMON_BAD,
                             # the step is scaled by RMS(p) and clipped by RMS(u): two more reductions (each may add
                             # in another order) and a sqrt per step, and a parameter-proportional step carries each
                             # step's relative error into the next step's size (the bias starts at exactly 0)
                             ulps_per_step=32),
               _adafactor_shapes),
    _with_info(OptimizerInfo('SM3', brainopt.SM3, dict(lr=0.05), ('accumulator', 'momentum_buffer'),
                             [('momentum', 1.0, ValueError), ('eps', -1.0, ValueError)] + COMMON_BAD),
               _sm3_shapes),
    _with_info(OptimizerInfo('Muon', brainopt.Muon, dict(lr=0.02, weight_decay=0.0), ('momentum_buffer', 'exp_avg_sq'),
                             [('momentum', 1.0, ValueError), ('nesterov', 1, TypeError),
                              ('ns_coefficients', (1.0, 2.0), TypeError), ('eps', 0.0, ValueError),
                              ('ns_steps', 0, ValueError), ('ns_steps', 100, ValueError),
                              ('adjust_lr_fn', 'fast', ValueError), ('adam_betas', (0.9, 1.5), ValueError),
                              ('adam_eps', -1.0, ValueError), ('adam_lr_ratio', -1.0, ValueError),
                              ('exclude_layers', ['('], ValueError), ('exclude_layers', [1], TypeError),
                              ('exclude_embeddings', 1, TypeError)] + COMMON_BAD),
               _muon_shapes),
    _with_info(OptimizerInfo('Prodigy', brainopt.Prodigy, dict(lr=1.0, estim_lr0=1e-2),
                             ('exp_avg', 'exp_avg_sq', 'grad_sum', 'params0', 'numerator', 'd'),
                             BETAS_BAD + [('beta3', 1.5, ValueError), ('eps', -1.0, ValueError),
                                          ('estim_lr0', 0.0, ValueError), ('estim_lr_coef', 0.0, ValueError),
                                          ('safeguard_warmup', 1, TypeError)] + COMMON_BAD),
               lambda shape: {'exp_avg': shape, 'exp_avg_sq': shape, 'grad_sum': shape, 'params0': shape,
                              'numerator': (), 'd': ()}, global_slots=('d',)),
    _with_info(OptimizerInfo('ScheduleFreeSGD', brainopt.ScheduleFreeSGD, dict(lr=0.1),
                             ('z', 'weight_sum', 'lr_max'),
                             [('momentum', 0.0, ValueError), ('momentum', 1.0, ValueError),
                              ('warmup_steps', -1, ValueError), ('warmup_steps', 2.5, TypeError),
                              ('weight_lr_power', -1.0, ValueError)] + COMMON_BAD),
               lambda shape: {'z': shape, 'weight_sum': (), 'lr_max': ()}),
    _with_info(OptimizerInfo('ScheduleFreeAdamW', brainopt.ScheduleFreeAdamW, dict(lr=0.02),
                             ('z', 'exp_avg_sq', 'weight_sum', 'lr_max'),
                             [('betas', (0.0, 0.999), ValueError), ('betas', (0.9, 1.0), ValueError),
                              ('betas', 0.9, TypeError), ('eps', -1.0, ValueError), ('warmup_steps', -2, ValueError)]
                             + COMMON_BAD),
               lambda shape: {'z': shape, 'exp_avg_sq': shape, 'weight_sum': (), 'lr_max': ()}),
]
