"""``brainopt.Ftrl``."""
from .. import _validate as check
from ..optimizer import Optimizer, with_shared_options
from ..rules.ftrl import FtrlRule
from ..transforms.lr import LearningRate
from . import _hyper

__all__ = ['Ftrl']


@with_shared_options
class Ftrl(Optimizer):
    r"""FTRL-Proximal ("follow the regularized leader"), with Keras's arguments and formula.

    .. math::

        n_t = n_{t-1} + g_t^2, \qquad
        \sigma_t = \frac{n_t^{-p} - n_{t-1}^{-p}}{\eta}, \qquad
        z_t = z_{t-1} + g_t + 2\lambda_s\theta_{t-1} - \sigma_t\,\theta_{t-1}, \\
        \theta_t = \frac{\operatorname{clip}(z_t, -\lambda_1, \lambda_1) - z_t}
                        {n_t^{-p}/\eta + 2\lambda_2 + \beta/\eta}

    i.e. :math:`\theta_t = 0` where :math:`|z_t| \le \lambda_1` (sparsity),
    with :math:`p` = ``learning_rate_power``. This is Keras 3's ``Ftrl``
    (TensorFlow's ``ApplyFtrlV2``), with every one of its arguments and
    defaults, ``learning_rate`` spelled ``lr``; torch.optim, optax and
    braintools.optim have no FTRL. The parameter is recomputed from
    :math:`z_t` and :math:`n_t` on every step, so its value before the first
    update only enters through :math:`\sigma_1\theta_0`. The shrinkage term
    :math:`\lambda_s` enters :math:`z` but not :math:`n` (Keras). The growth
    :math:`n_t^{-p} - n_{t-1}^{-p}` is computed without cancellation (Keras's
    float32 difference of the two powers loses every digit once
    :math:`g_t^2 \ll n_{t-1}`, as after long training); on short runs the two
    agree to round-off. Slots:
    ``accumulator`` (:math:`n`), ``linear`` (:math:`z`).

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1e-3
        Learning rate :math:`\eta`; it must be > 0 when the step is taken.
    learning_rate_power : float, default -0.5
        :math:`p`: the accumulator enters as :math:`n^{-p}` (the square root
        by default); <= 0, and 0 gives a fixed per-coordinate rate.
    initial_accumulator_value : float, default 0.1
        :math:`n_0`; >= 0.
    l1_regularization_strength : float, default 0.0
        :math:`\lambda_1`; >= 0.
    l2_regularization_strength : float, default 0.0
        :math:`\lambda_2` (the online L2 term of the paper); >= 0.
    l2_shrinkage_regularization_strength : float, default 0.0
        :math:`\lambda_s` (an L2 penalty :math:`\lambda_s\|\theta\|^2` on
        the loss); >= 0.
    beta : float, default 0.0
        :math:`\beta` of the paper's per-coordinate rate; >= 0.
    {shared_options}

    References
    ----------
    H. B. McMahan et al., "Ad Click Prediction: a View from the Trenches",
    KDD 2013.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([0.0, 0.0]))
    >>> opt = brainopt.Ftrl(lr=0.5, initial_accumulator_value=0.0, l1_regularization_strength=1.0)
    >>> opt = opt.register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.array([0.5, -4.0])})   # |z| <= l1 stays at 0; else (sign(z) l1 - z) lr / |g|
    >>> w.value
    Array([0.   , 0.375], dtype=float32)
    """

    def __init__(self, lr: LearningRate = 1e-3, learning_rate_power: float = -0.5,
                 initial_accumulator_value: float = 0.1, l1_regularization_strength: float = 0.0,
                 l2_regularization_strength: float = 0.0, l2_shrinkage_regularization_strength: float = 0.0,
                 beta: float = 0.0, **options):
        owner = type(self).__name__
        power = check.real('learning_rate_power', learning_rate_power, high=0., owner=owner)
        rule = FtrlRule(
            power,
            _hyper.non_negative(owner, 'initial_accumulator_value', initial_accumulator_value),
            _hyper.non_negative(owner, 'l1_regularization_strength', l1_regularization_strength),
            _hyper.non_negative(owner, 'l2_regularization_strength', l2_regularization_strength),
            _hyper.non_negative(owner, 'l2_shrinkage_regularization_strength', l2_shrinkage_regularization_strength),
            _hyper.non_negative(owner, 'beta', beta))
        super().__init__(rule, lr, **options)
