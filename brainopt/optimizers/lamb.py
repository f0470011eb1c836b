"""``brainopt.Lamb``, and the engine side of weight decay that lives inside a rule."""
from typing import Tuple

from .. import _validate as check
from ..optimizer import Optimizer, with_shared_options
from ..rules.lamb import LambRule
from ..transforms.lr import LearningRate
from ..transforms.weight_decay import IN_RULE

__all__ = ['Lamb']


class RuleDecayOptimizer(Optimizer):
    """An Optimizer whose rule (a :class:`brainopt.rules.lamb.DecayInRule`)
    applies ``weight_decay`` itself, where the paper puts it.

    ``weight_decay_mode='rule'`` (the default here) hands the coefficient and
    the ``weight_decay_exclude`` mask to the rule, and the engine applies no
    decay of its own; ``'coupled'`` and ``'decoupled'`` keep the engine's
    meanings (and the rule then decays nothing).
    """

    def __init__(self, rule, lr, weight_decay=0.0, **options):
        # the engine accepts 'rule' for a rule that decays itself, and then hands it each leaf's coefficient
        options.setdefault('weight_decay_mode', IN_RULE)
        super().__init__(rule, lr, weight_decay=weight_decay, **options)

    def __repr__(self):
        # the engine's repr reports a non-default mode; 'rule' is this class's default
        text = super().__repr__()
        return text.replace(f", weight_decay_mode='{IN_RULE}'", '')


RULE_DECAY_DOC = """    weight_decay_mode : {'rule', 'coupled', 'decoupled'}, default 'rule'
        ``'rule'`` applies ``weight_decay`` where the paper puts it (above);
        ``'coupled'`` and ``'decoupled'`` are the engine's meanings, as for
        every other optimizer. ``weight_decay_exclude`` applies to all three."""


def with_rule_decay_doc(cls):
    """Put the ``weight_decay_mode`` entry of a :class:`RuleDecayOptimizer` in its docstring."""
    cls.__doc__ = cls.__doc__.replace('{rule_decay}', RULE_DECAY_DOC.strip())
    return with_shared_options(cls)


@with_rule_decay_doc
class Lamb(RuleDecayOptimizer):
    r"""LAMB: Adam's direction, scaled per tensor by the ratio of norms.

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \\
        r_t = \frac{m_t/(1-\beta_1^t)}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}
        + \lambda\,\theta_{t-1}, \qquad
        \theta_t = \theta_{t-1} - \eta\, \frac{\|\theta_{t-1}\|}{\|r_t\|}\, r_t

    with norms over each whole parameter tensor and the trust ratio 1 where
    either norm is 0. :math:`\lambda` (``weight_decay``) is added to the Adam
    direction *inside* the trust ratio, as in the paper, ``optax.lamb`` and
    braintools.optim (``weight_decay_mode='rule'``); Keras's Lamb decays the
    weights beside the step instead (``weight_decay_mode='decoupled'``).
    Names and defaults are braintools.optim's. Slots, one array per parameter
    each: ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`).

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1e-3
        Learning rate.
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the two moments, each in [0, 1).
    eps : float, default 1e-6
        Added to the bias-corrected root; >= 0.
    weight_decay : float, default 0.0
        :math:`\lambda`, inside the trust ratio.
    {rule_decay}
    {shared_options}

    References
    ----------
    Y. You et al., "Large Batch Optimization for Deep Learning: Training BERT
    in 76 minutes", ICLR 2020, arXiv:1904.00962.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([3.0, -4.0]))
    >>> opt = brainopt.Lamb(lr=0.1).register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.array([1.0, 1.0])})   # moves by lr * |w| = 0.5 along -sign(g)
    >>> [round(float(x), 4) for x in w.value]
    [2.6464, -4.3536]
    """

    def __init__(self, lr: LearningRate = 1e-3, betas: Tuple[float, ...] = (0.9, 0.999), eps: float = 1e-6,
                 weight_decay: float = 0.0, **options):
        owner = type(self).__name__
        b1, b2 = check.decay_rates('betas', betas, owner=owner)
        eps = check.real('eps', eps, low=0., owner=owner)
        super().__init__(LambRule(b1, b2, eps), lr, weight_decay, **options)
