"""``brainopt.RAdam``."""
from typing import Tuple

from .. import _validate as check
from ..optimizer import Optimizer, with_shared_options
from ..rules.adam_family import RAdamRule
from ..transforms.lr import LearningRate
from . import _hyper

__all__ = ['RAdam']


@with_shared_options
class RAdam(Optimizer):
    r"""RAdam: Adam whose adaptive step is rectified while the variance estimate is unreliable.

    .. math::

        \rho_\infty = \frac{2}{1-\beta_2} - 1, \qquad
        \rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t}, \qquad
        r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}, \\
        \theta_t = \theta_{t-1} - \eta\,\frac{m_t}{1-\beta_1^t}\cdot
        \begin{cases} r_t\,\dfrac{\sqrt{1-\beta_2^t}}{\sqrt{v_t}+\epsilon} & \rho_t > 5 \\
        1 & \text{otherwise (SGD with momentum)} \end{cases}

    with :math:`m_t, v_t` Adam's moments: torch.optim.RAdam's formula, with
    braintools.optim's names and defaults. :math:`\epsilon` is added to the
    uncorrected root :math:`\sqrt{v_t}` (torch); ``optax.radam`` (which
    braintools calls) adds it to the corrected one,
    :math:`\sqrt{v_t/(1-\beta_2^t)}+\epsilon`, and rectifies from
    :math:`\rho_t \ge 5`. The two agree at :math:`\epsilon = 0`.
    ``weight_decay`` is coupled; torch's ``decoupled_weight_decay=True`` is
    ``weight_decay_mode='decoupled'`` here. Slots: ``exp_avg``,
    ``exp_avg_sq``.

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1e-3
        Learning rate.
    betas : (float, float), default (0.9, 0.999)
        :math:`(\beta_1, \beta_2)`, each in [0, 1). With
        :math:`\beta_2 \le 2/3`, :math:`\rho_\infty \le 5` and the step is
        never rectified.
    eps : float, default 1e-8
        Added to :math:`\sqrt{v_t}`; >= 0.
    weight_decay : float, default 0.0
        Weight decay (coupled L2 unless ``weight_decay_mode='decoupled'``).
    {shared_options}

    References
    ----------
    L. Liu, H. Jiang, P. He, W. Chen, X. Liu, J. Gao, J. Han, "On the
    Variance of the Adaptive Learning Rate and Beyond", ICLR 2020,
    arXiv:1908.03265.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.array([1.0, -2.0]))
    >>> opt = brainopt.RAdam(lr=0.1).register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.array([3.0, -4.0])})   # rho_1 = 1: the step is lr * m_hat = lr * g
    >>> [round(float(x), 6) for x in w.value]
    [0.7, -1.6]
    """

    def __init__(self, lr: LearningRate = 1e-3, betas: Tuple[float, ...] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, **options):
        owner = type(self).__name__
        b1, b2 = check.decay_rates('betas', betas, owner=owner)
        rule = RAdamRule(b1, b2, _hyper.non_negative(owner, 'eps', eps))
        super().__init__(rule, lr, weight_decay=weight_decay, **options)
