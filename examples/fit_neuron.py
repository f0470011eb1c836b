r"""Fit a neuron's firing threshold (mV) and membrane time constant (ms) to a target trace.

A leaky membrane driven by a constant current charges as
:math:`V(t) = V_{rest} + R I (1 - e^{-t/\tau})`; its firing probability is a
soft threshold, :math:`p(t) = \sigma((V(t) - V_{th}) / 2\,mV)`. Given a
recorded :math:`p(t)` (made here with :math:`V_{th} = -55` mV and
:math:`\tau = 10` ms), fit :math:`V_{th}` and :math:`\tau` from a wrong start.

The parameters are brainstate ``ParamState``s holding brainunit Quantities;
the threshold is stored in **volts** on purpose. Each has a learning rate in
its own unit (a parameter group each), so the step is physical: the same fit
with the threshold stored in mV lands on the same values (``--unit mV``).

Run it::

    python examples/fit_neuron.py              # Adam, 300 steps, a few seconds
    python examples/fit_neuron.py --unit mV --optimizer SGD
    python examples/fit_neuron.py --fast       # 60 steps (the tests run this)
"""
import argparse

import brainstate
import brainunit as u
import jax.numpy as jnp

import brainopt

T = jnp.linspace(0., 60., 61) * u.ms
V_REST, RI = -70.0 * u.mV, 20.0 * u.mV
TRUE = {'v_th': -55.0 * u.mV, 'tau': 10.0 * u.ms}
START = {'v_th': -50.0 * u.mV, 'tau': 20.0 * u.ms}

#: learning rates per optimizer, in the unit their update needs (docs/units.md)
LRS = {
    'Adam': (0.2 * u.mV, 0.4 * u.ms),
    'SGD': (0.5 * u.mV ** 2, 5.0 * u.ms ** 2),
    'Adagrad': (1.0 * u.mV, 2.0 * u.ms),
}


def firing(v_th, tau):
    v = V_REST + RI * (1 - jnp.exp(-T / tau))
    return 1 / (1 + jnp.exp(-(v - v_th) / (2.0 * u.mV)))


def fit(optimizer='Adam', unit=u.volt, steps=300):
    """Return the fitted threshold and time constant (Quantities) and the loss curve."""
    target = firing(TRUE['v_th'], TRUE['tau'])
    v_th = brainstate.ParamState(START['v_th'].to(unit))
    tau = brainstate.ParamState(START['tau'])
    lr_v, lr_tau = LRS[optimizer]
    opt = getattr(brainopt, optimizer)(lr=lr_v).register_trainable_weights({'v_th': v_th})
    opt.add_param_group({'tau': tau}, lr=lr_tau)

    def loss():
        return jnp.mean((firing(v_th.value, tau.value) - target) ** 2) * 100

    grad = brainstate.transform.grad(loss, grad_states={'v_th': v_th, 'tau': tau}, return_value=True)

    @brainopt.jit
    def train():
        def body(i):
            g, value = grad()
            opt.update(g)
            return value
        return brainstate.transform.for_loop(body, jnp.arange(steps))

    losses = train()
    return v_th.value, tau.value, [float(x) for x in losses]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--optimizer', choices=sorted(LRS), default='Adam')
    parser.add_argument('--unit', choices=['V', 'mV'], default='V', help='the unit the threshold is stored in')
    parser.add_argument('--steps', type=int, default=300)
    parser.add_argument('--fast', action='store_true', help='60 steps')
    args = parser.parse_args(argv)
    steps = 60 if args.fast else args.steps
    v_th, tau, losses = fit(args.optimizer, u.volt if args.unit == 'V' else u.mV, steps)
    print(f'{args.optimizer}, threshold stored in {args.unit}: after {steps} steps '
          f'V_th = {float(v_th.to_decimal(u.mV)):.3f} mV (stored as {v_th}), tau = {tau}, '
          f'loss {losses[0]:.4f} -> {losses[-1]:.2e}')
    return {'v_th': v_th, 'tau': tau, 'losses': losses}


if __name__ == '__main__':
    main()
