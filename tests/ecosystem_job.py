"""Ecosystem libraries that expect braintools.optim, run with a braintools optimizer and with brainopt's
(issue 33), for tests/test_ecosystem_libraries.py. Run in a subprocess (``python ecosystem_job.py pinnx``):
each library sets up brainstate in its own way, and the suite's process stays clean.

Each run is the same code with only the optimizer's module changed (``optim`` is ``braintools.optim`` or
``brainopt``), from the same seed; it prints one JSON line ``{library: {'braintools': {...}, 'brainopt': {...}}}``
with the trained parameters, so the test compares them.

* pinnx 0.0.3: ``Trainer.compile(optim.Adam(1e-3))`` on the inverse problem of its documentation
  (``docs/unit-examples-inverse/diffusion_1d_inverse.py`` of chaobrain/pinnx: a 1-D diffusion equation with
  units, the diffusion coefficient ``C`` in m^2/s learned from observations), reduced to a 2-16-16-1 network,
  40 collocation points and 40 steps. ``train_distribution='pseudo'``: the default sampler needs
  scikit-optimize, which pinnx does not declare.
* brainmass 0.1.1: ``Fitter(model, optim.Adam(lr=0.05), backend='grad')`` fits the frequency ``w`` of a Hopf
  oscillator (``brainmass.HopfStep``, ``w`` a ``brainstate.nn.Param`` kept in (0.05, 1.05) by a sigmoid) to a
  simulated 20 ms trace of ``w = 0.5``, 20 steps.
"""
import json
import pathlib
import subprocess
import sys

import brainstate
import braintools
import brainunit as u
import jax
import numpy as np

import brainopt


def _seed():
    np.random.seed(0)
    brainstate.random.seed(0)


def pinnx_run(optim, steps=40):
    import pinnx

    _seed()
    unit_of_x, unit_of_t, unit_of_f = u.meter, u.second, 1 / u.second
    C = brainstate.ParamState(2.0 * u.meter ** 2 / u.second)

    def pde(x, y):
        jacobian = net.jacobian(x, x='t')
        hessian = net.hessian(x, xi='x', xj='x')
        source = (u.math.exp(-x['t'] / unit_of_t) *
                  (u.math.sin(u.math.pi * x['x'] / unit_of_x) -
                   u.math.pi ** 2 * u.math.sin(u.math.pi * x['x'] / unit_of_x)))
        return jacobian['y']['t'] - C.value * hessian['y']['x']['x'] + source * unit_of_f

    geom = pinnx.geometry.Interval(-1, 1)
    timedomain = pinnx.geometry.TimeDomain(0, 1)
    geomtime = pinnx.geometry.GeometryXTime(geom, timedomain).to_dict_point(x=unit_of_x, t=unit_of_t)

    def func(x):
        return {'y': u.math.sin(u.math.pi * x['x'] / unit_of_x) * u.math.exp(-x['t'] / unit_of_t)}

    x = {'x': u.math.linspace(-1, 1, num=10) * unit_of_x, 't': u.math.full((10,), 1) * unit_of_t}
    net = pinnx.nn.Model(pinnx.nn.DictToArray(x=unit_of_x, t=unit_of_t),
                         pinnx.nn.FNN([2] + [16] * 2 + [1], 'tanh'),
                         pinnx.nn.ArrayToDict(y=None))
    problem = pinnx.problem.TimePDE(
        geomtime, pde, [pinnx.icbc.DirichletBC(func), pinnx.icbc.IC(func), pinnx.icbc.PointSetBC(x, func(x))], net,
        num_domain=40, num_boundary=20, num_initial=10, anchors=x, solution=func, num_test=50,
        train_distribution='pseudo')
    trainer = pinnx.Trainer(problem, external_trainable_variables=C)
    trainer.compile(optim.Adam(1e-3))
    trainer.train(iterations=steps, display_every=steps)
    params = {'C [m^2/s]': C.value.to_decimal(u.meter ** 2 / u.second)}
    for path, state in brainstate.graph.states(net, brainstate.ParamState).items():
        params['.'.join(map(str, path))] = u.get_mantissa(state.value)
    return params


def brainmass_run(optim, steps=20):
    import brainmass
    from brainstate.nn import Param, SigmoidT

    _seed()
    dt, duration = 0.1 * u.ms, 20.0 * u.ms

    def make_model(w):
        return brainmass.HopfStep(1, a=-0.1, w=w, init_x=braintools.init.Constant(1.0),
                                  init_y=braintools.init.Constant(0.0))

    def predict(model):
        return brainmass.Simulator(model, dt=dt).run(duration, monitors=['x'])['x']

    target = predict(make_model(0.5))
    model = make_model(Param(0.3, t=SigmoidT(0.05, 1.0)))
    opt = optim.Adam(lr=0.05)
    fitter = brainmass.Fitter(model, opt, predict=predict, backend='grad')
    result = fitter.fit(target=target, n_steps=steps, verbose=False)
    assert fitter.optimizer is opt
    params = {'w': result.best_params['w'], 'best_loss': result.best_loss, 'losses': list(result.history)}
    for path, state in brainstate.graph.states(model, brainstate.ParamState).items():
        params['.'.join(map(str, path))] = state.value
    return params


RUNS = {'pinnx': pinnx_run, 'brainmass': brainmass_run}


def plain(tree):
    """``{name: list of floats}``, a nested value (a State holding a dict) under ``name`` + its key path."""
    out = {}
    for k, v in tree.items():
        leaves = jax.tree_util.tree_flatten_with_path(v, is_leaf=lambda x: isinstance(x, u.Quantity))[0]
        for path, leaf in leaves:
            out[k + jax.tree_util.keystr(path)] = np.asarray(u.get_mantissa(leaf), np.float64).tolist()
    return out



def run_job(job, name):
    """Run ``python job name`` (a job of this kind: tests/ecosystem_job.py, tests/ported_job.py) in a subprocess
    and return its result for ``name``."""
    out = subprocess.run([sys.executable, str(job), name], capture_output=True, text=True, timeout=600,
                         cwd=pathlib.Path(job).parent)
    assert out.returncode == 0, out.stderr[-4000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith('RESULT '))
    return json.loads(line[len('RESULT '):])[name]


if __name__ == '__main__':
    out = {}
    for name in sys.argv[1:]:
        out[name] = {'braintools': plain(RUNS[name](braintools.optim)), 'brainopt': plain(RUNS[name](brainopt))}
    print('RESULT ' + json.dumps(out))
