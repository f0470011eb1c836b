"""FTRL-Proximal (McMahan et al., 2013), with Keras's online and shrinkage L2 terms."""
import jax.numpy as jnp

from .base import Rule, full_like

__all__ = ['FtrlRule']


class FtrlRule(Rule):
    r"""The Keras ``Ftrl`` update (TensorFlow's ``ApplyFtrlV2``).

    .. math::

        n_t = n_{t-1} + g_t^2, \qquad
        \sigma_t = \frac{n_t^{-p} - n_{t-1}^{-p}}{\eta}, \qquad
        z_t = z_{t-1} + g_t + 2\lambda_s \theta_{t-1} - \sigma_t \theta_{t-1}, \\
        \theta_t = \frac{\operatorname{clip}(z_t, -\lambda_1, \lambda_1) - z_t}
                        {n_t^{-p}/\eta + 2\lambda_2 + \beta/\eta}

    with :math:`p` = ``learning_rate_power`` (<= 0), :math:`\lambda_1`,
    :math:`\lambda_2` the L1 and online L2 strengths, :math:`\lambda_s` the
    shrinkage L2 strength (it enters :math:`z` but not :math:`n`) and
    :math:`\beta` = ``beta``. The rule computes the new parameter, so its
    delta is :math:`\theta_t - \theta_{t-1}`. :math:`n_t^{-p} - n_{t-1}^{-p}` is
    evaluated as :math:`n_{t-1}^{-p}\,\mathrm{expm1}(-p\,\mathrm{log1p}(g_t^2/n_{t-1}))`,
    which does not cancel once :math:`g_t^2 \ll n_{t-1}` (Keras subtracts the
    two powers). Where the denominator is 0 (no gradient yet with
    ``initial_accumulator_value=0`` and no L2 or beta) the parameter stays,
    where Keras computes 0/0. Slots: ``accumulator``
    (:math:`n`, starts at ``initial_accumulator_value``) and ``linear``
    (:math:`z`).
    """
    slots = ('accumulator', 'linear')
    slot_units = {'accumulator': (0, 2), 'linear': (0, 1)}

    hyper_names = ('learning_rate_power', 'l1', 'l2', 'l2_shrinkage', 'beta')

    def __init__(self, learning_rate_power: float, initial_accumulator_value: float, l1: float, l2: float,
                 l2_shrinkage: float, beta: float):
        self.learning_rate_power = learning_rate_power
        self.initial_accumulator_value = initial_accumulator_value
        self.l1, self.l2, self.l2_shrinkage, self.beta = l1, l2, l2_shrinkage, beta
        # n^-p / lr must be in G/P (so that sigma * theta is a gradient): lr ~ P G^(-2p-1); at the default
        # p = -1/2 the lr is in P. A p whose double is not an integer leaves the dimension undeclared.
        twice = -2 * learning_rate_power
        self.lr_unit = (1, int(twice) - 1) if float(twice).is_integer() else None

    def init_leaf(self, param):
        return {'accumulator': full_like(param, self.initial_accumulator_value), 'linear': full_like(param, 0.)}

    def update_leaf(self, grad, param, slots, count, lr, hyper):
        dt = grad.dtype
        lr = lr.astype(dt)
        power = -hyper['learning_rate_power']
        accum, linear = slots['accumulator'], slots['linear']
        l2 = hyper['l2'] + hyper['beta'] / (2.0 * lr)
        grad_to_use = grad + 2 * hyper['l2_shrinkage'] * param
        g2 = grad * grad
        new_accum = accum + g2
        root_new, root_old = jnp.power(new_accum, power), jnp.power(accum, power)
        # n_new^-p - n^-p without cancellation: n^-p expm1(-p log1p(g^2/n)); Keras subtracts the two powers,
        # which loses all digits once g^2 << n (n = 1e4, g^2 = 1e-2: 15% off for the square root)
        safe = jnp.where(accum > 0, accum, jnp.ones((), dt))
        grown = jnp.where(accum > 0, root_old * jnp.expm1(power * jnp.log1p(g2 / safe)), root_new - root_old)
        linear = linear + (grad_to_use - grown / lr * param)
        quadratic = root_new / lr + 2 * l2
        new_param = (jnp.clip(linear, -hyper['l1'], hyper['l1']) - linear) / quadratic
        # no gradient yet and no regularization (n = 0, l2 = beta = 0): 0/0 in Keras; the parameter stays
        new_param = jnp.where(quadratic > 0, new_param, param)
        return new_param - param, {'accumulator': new_accum, 'linear': linear}

    def config(self):
        return {'learning_rate_power': self.learning_rate_power,
                'initial_accumulator_value': self.initial_accumulator_value,
                'l1_regularization_strength': self.l1, 'l2_regularization_strength': self.l2,
                'l2_shrinkage_regularization_strength': self.l2_shrinkage, 'beta': self.beta}
