"""brainopt where scripts and libraries expect braintools.optim (issue 33).

* ``isinstance(opt, braintools.optim.Optimizer)`` holds for every brainopt optimizer, whichever of the two
  packages is imported first, and ``import brainopt`` works where braintools is absent (subprocesses, so that
  the import order is each test's own).
* Every schedule has braintools 0.3's stepping surface: ``step_epoch()``, ``sched()`` / ``opt.lr()`` the rate
  now, ``get_last_lr()``, ``current_lrs.value``, ``attach_optimizer``, ``state_dict`` / ``load_state_dict``;
  the rates a braintools script reads are braintools's own, epoch by epoch (the golden values come from the
  real braintools schedules).
* A number given as ``lr`` reads back as that float, with the same methods (braintools makes a ConstantLR).
* ``Adam(beta1=..., beta2=...)``: braintools's and brainstate's tutorials' spelling.
"""
import subprocess
import sys
import textwrap

import brainstate
import braintools.optim as bto
import jax.numpy as jnp
import numpy as np
import pytest

import brainopt
import brainopt.brainpy as bpd
import brainopt.keras as bk

from ulps import assert_ulp_close, bits


def run_python(code):
    out = subprocess.run([sys.executable, '-c', textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


# -- isinstance ---------------------------------------------------------------------------------------------
def test_every_brainopt_optimizer_is_a_braintools_optimizer():
    assert isinstance(brainopt.Adam(1e-3), bto.Optimizer)
    assert isinstance(brainopt.Adam(1e-3), bto.OptaxOptimizer)        # brainmass's Fitter checks this one
    for name in brainopt.optimizers.__all__:
        cls = getattr(brainopt, name)
        if isinstance(cls, type) and issubclass(cls, brainopt.Optimizer):
            assert issubclass(cls, bto.Optimizer) and issubclass(cls, bto.OptaxOptimizer), name
    assert isinstance(bk.Adam(learning_rate=1e-3), bto.Optimizer)
    assert isinstance(bpd.Adam(lr=1e-3), bto.Optimizer)


@pytest.mark.parametrize('first', ['brainopt', 'braintools'])
def test_the_registration_does_not_depend_on_the_import_order(first):
    second = 'braintools.optim' if first == 'brainopt' else 'brainopt'
    out = run_python(f"""
        import sys
        import {first}
        assert ('braintools' in sys.modules) == ({first!r} == 'braintools'), 'brainopt imported braintools'
        import {second}
        import brainopt, braintools.optim
        print(isinstance(brainopt.SGD(0.1), braintools.optim.Optimizer),
              isinstance(brainopt.SGD(0.1), braintools.optim.OptaxOptimizer))
        print(sum(type(f).__name__ == '_AfterImport' for f in sys.meta_path))
    """)
    assert out.split() == ['True', 'True', '0']


def test_brainopt_imports_and_trains_without_braintools():
    out = run_python("""
        import sys
        sys.modules['braintools'] = None        # as if not installed: 'import braintools' raises ImportError
        import brainstate, jax.numpy as jnp
        import brainopt
        w = brainstate.ParamState(jnp.ones(2))
        opt = brainopt.Adam(lr=0.1).register_trainable_weights({'w': w})
        opt.update({'w': jnp.ones(2)})
        try:
            import braintools
        except ImportError:
            print('absent', [round(float(x), 4) for x in w.value])
    """)
    assert out.strip() == 'absent [0.9, 0.9]'


# -- schedules: braintools's stepping surface, braintools's numbers -----------------------------------------
SCHEDULES = [
    ('StepLR', dict(base_lr=0.1, step_size=3, gamma=0.5)),
    ('MultiStepLR', dict(base_lr=0.1, milestones=(2, 5), gamma=0.3)),
    ('ExponentialLR', dict(base_lr=0.1, gamma=0.9)),
    ('CosineAnnealingLR', dict(base_lr=0.1, T_max=8, eta_min=0.01)),   # past T_max: docs/schedules.md
    ('LinearLR', dict(base_lr=0.1, start_factor=0.25, end_factor=1.0, total_iters=4)),
    ('ConstantLR', dict(base_lr=0.1, factor=0.5, total_iters=3)),
    ('PolynomialLR', dict(base_lr=0.1, total_iters=6, power=2.0)),
]


@pytest.mark.parametrize('name,kwargs', SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_a_braintools_script_reads_braintools_rates(name, kwargs):
    """The loop of the ecosystem's training scripts: ``opt = Adam(lr=sched)``, then per epoch read
    ``opt.lr()`` / ``get_last_lr()[0]`` / ``current_lrs.value[0]`` and call ``opt.lr.step_epoch()``."""
    theirs = getattr(bto, name)(**kwargs)
    ours = getattr(brainopt, name)(**kwargs)
    w = brainstate.ParamState(jnp.ones(2))
    t_opt = bto.Adam(lr=theirs)
    t_opt.register_trainable_weights({'w': w})
    o_opt = brainopt.Adam(lr=ours).register_trainable_weights({'w': brainstate.ParamState(jnp.ones(2))})
    for epoch in range(9):
        want = float(t_opt.lr.get_last_lr()[0])
        got = [float(o_opt.lr()), float(o_opt.lr.get_last_lr()[0]), float(o_opt.lr.current_lrs.value[0]),
               float(ours())]
        # the same formula in float32, evaluated in another order: a few ulps (3 seen, in CosineAnnealingLR and
        # PolynomialLR)
        assert_ulp_close(np.float32(got), np.float32([want] * 4), 4, err_msg=f'{name}, epoch {epoch}')
        assert float(t_opt.lr.current_lrs.value[0]) == want
        t_opt.lr.step_epoch()
        o_opt.lr.step_epoch()


def test_sched_with_a_step_is_the_closed_form_and_without_is_now():
    sched = brainopt.StepLR(0.1, step_size=2, gamma=0.5)
    assert [float(sched(k)) for k in range(5)] == [float(np.float32(x)) for x in (0.1, 0.1, 0.05, 0.05, 0.025)]
    for _ in range(3):
        sched.step_epoch()
    assert float(sched()) == float(sched(3)) == float(np.float32(0.05))
    per_update = brainopt.StepLR(0.1, step_size=1, gamma=0.5, stepping='update')
    with pytest.raises(RuntimeError, match="stepping='update' follows the step count of its optimizer"):
        per_update()
    with pytest.raises(RuntimeError, match=r"StepLR.step\(\): this schedule has stepping='update'"):
        per_update.step_epoch()


def test_attach_optimizer_and_a_schedule_state_dict():
    w = brainstate.ParamState(jnp.ones(2))
    opt = brainopt.SGD(lr=0.1).register_trainable_weights({'w': w})
    sched = brainopt.StepLR(0.4, step_size=1, gamma=0.5)
    sched.attach_optimizer(opt)
    assert opt.lr is sched and sched.attached_optimizer is opt
    sched.attach_optimizer(opt)                   # again: nothing
    sched.step_epoch()
    opt.update({'w': jnp.ones(2)})
    np.testing.assert_array_equal(np.asarray(w.value), np.float32(1.0) - np.float32(0.2))

    saved = sched.state_dict()
    assert saved['base_lrs'] == [0.4] and int(saved['last_epoch']) == 1
    np.testing.assert_allclose(saved['current_lrs'], [0.2], rtol=1e-7)
    again = brainopt.StepLR(0.4, step_size=1, gamma=0.5)
    again.load_state_dict(saved)
    assert float(again()) == float(sched())
    other = brainopt.StepLR(0.3, step_size=1, gamma=0.5)
    before = bits(other.state_values())
    with pytest.raises(ValueError, match=r"StepLR.load_state_dict: \['base_lrs'\] is \[0.4\], but this schedule "
                                         r"was built with base_lr=0.3"):
        other.load_state_dict(saved)
    with pytest.raises(ValueError, match="'last_epoch' must be an integer >= 0"):
        other.load_state_dict({'last_epoch': -2})
    assert bits(other.state_values()) == before


def test_a_number_lr_reads_back_as_that_float_with_the_schedule_methods():
    opt = brainopt.Adam(3e-3)
    lr = opt.lr
    assert isinstance(lr, float) and lr == 3e-3 and repr(lr) == '0.003' and str(opt).startswith('Adam(lr=0.003,')
    assert lr() == 3e-3 and lr.get_last_lr() == [3e-3] and lr.current_lr == 3e-3 and lr.current_lrs.value == [3e-3]
    lr.step_epoch()
    lr.step()
    assert opt.lr == 3e-3
    t = bto.Adam(3e-3)
    t.lr.step_epoch()
    assert float(t.lr.get_last_lr()[0]) == pytest.approx(opt.lr.get_last_lr()[0])


# -- Adam(beta1=, beta2=) -----------------------------------------------------------------------------------
def test_adam_takes_beta1_and_beta2():
    assert brainopt.Adam(lr=3e-3, beta1=0.8, beta2=0.99).rule.config()['betas'] == (0.8, 0.99)
    assert brainopt.Adam(beta2=0.99).rule.config()['betas'] == (0.9, 0.99)
    with pytest.raises(TypeError, match=r'Adam: got betas=\(0.9, 0.999\) and beta1=0.8; give the decay rates one '
                                        r'way'):
        brainopt.Adam(betas=(0.9, 0.999), beta1=0.8)
    with pytest.raises(ValueError, match=r'Adam: beta2 must be in \[0.0, 1.0\), got 1.0'):
        brainopt.Adam(beta2=1.0)


def test_adam_with_beta1_beta2_follows_braintools():
    """brainstate's tutorial spelling, against braintools.optim.Adam with the same spelling: within float32
    rounding over 20 steps (both put eps on the bias-corrected root)."""
    rng = np.random.RandomState(0)
    grads = [jnp.asarray(rng.randn(4), jnp.float32) for _ in range(20)]
    w_t, w_o = brainstate.ParamState(jnp.ones(4)), brainstate.ParamState(jnp.ones(4))
    with pytest.warns(DeprecationWarning):
        t = bto.Adam(lr=3e-3, beta1=0.8, beta2=0.99)
    t.register_trainable_weights({'w': w_t})
    o = brainopt.Adam(lr=3e-3, beta1=0.8, beta2=0.99).register_trainable_weights({'w': w_o})
    for g in grads:
        t.update({'w': g})
        o.update({'w': g})
    np.testing.assert_allclose(np.asarray(w_o.value), np.asarray(w_t.value), rtol=2e-6)


def test_the_optimizer_names_a_braintools_script_reads():
    """``opt.base_lr``, ``opt.get_last_lr()``, ``opt.lr_scheduler``, ``opt.schedulers`` and the rule's
    hyperparameters (``opt.betas``), read as from the same braintools optimizer."""
    w = brainstate.ParamState(jnp.ones(2))
    sched, t_sched = brainopt.StepLR(0.1, step_size=1, gamma=0.5), bto.StepLR(0.1, step_size=1, gamma=0.5)
    ours = brainopt.Adam(lr=sched, betas=(0.8, 0.99), eps=1e-6).register_trainable_weights({'w': w})
    theirs = bto.Adam(lr=t_sched, betas=(0.8, 0.99), eps=1e-6)
    theirs.register_trainable_weights({'w': brainstate.ParamState(jnp.ones(2))})
    for _ in range(2):
        sched.step()
        t_sched.step()
    assert ours.base_lr == theirs.base_lr == 0.1
    np.testing.assert_allclose(ours.get_last_lr(), [float(x) for x in theirs.get_last_lr()], rtol=1e-7)
    assert (ours.betas, ours.eps, ours.amsgrad) == (tuple(theirs.betas), theirs.eps, theirs.amsgrad)
    assert ours.lr_scheduler is sched and ours.schedulers == [sched] and sched.optimizer is ours
    assert sched.base_lrs == [0.1] and sched.get_lr() == [sched.current_lr]
    assert brainopt.Adam(1e-3).base_lr == 1e-3 and brainopt.Adam(1e-3).schedulers == []
    # groups: one rate each, the next update's
    ours.add_param_group({'b': brainstate.ParamState(jnp.ones(1))}, lr=0.5)
    assert ours.get_last_lr()[1] == 0.5


def test_a_rule_hyperparameter_is_assigned_or_read_only_never_silently_ignored():
    """A constructor argument of the rule is set through the constructor's checks (tests/test_live_hyperparameters.py
    pins what the next steps do with it); a name of the rule's that is no constructor argument is read-only."""
    opt = brainopt.Adam(1e-3, eps=1e-8)
    opt.eps = 1e-3
    assert opt.eps == 1e-3 and opt.rule.eps == 1e-3 and opt.param_groups[0]['eps'] == 1e-3
    import brainopt.keras as K
    k = K.Adam(learning_rate=1e-3)
    with pytest.raises(AttributeError, match=r'Adam.keras is read-only: the update is compiled with keras=True'):
        k.keras = False
    assert k.rule.keras is True
    with pytest.raises(AttributeError, match="'Adam' object has no attribute 'nonsense'"):
        opt.nonsense
