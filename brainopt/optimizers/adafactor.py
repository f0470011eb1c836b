"""``brainopt.Adafactor``."""
from .. import _validate as check
from ..optimizer import Optimizer, with_shared_options
from ..rules.adafactor import AdafactorRule
from ..transforms.lr import LearningRate

__all__ = ['Adafactor']


@with_shared_options
class Adafactor(Optimizer):
    r"""Adafactor: factored second moments, update clipping and relative steps.

    For a parameter of rank >= 2 the second moment of
    :math:`G_t = g_t^2 + \epsilon_1` is kept factored, as its means over the
    last axis and over the second-to-last one (row and column vectors, not a
    full array); other parameters keep the full moment:

    .. math::

        R_t = \hat\beta_{2,t} R_{t-1} + (1-\hat\beta_{2,t})\, \mathrm{mean}_{-1}(G_t), \qquad
        C_t = \hat\beta_{2,t} C_{t-1} + (1-\hat\beta_{2,t})\, \mathrm{mean}_{-2}(G_t), \\
        \hat V_t = R_t C_t / \mathrm{mean}(R_t), \qquad U_t = g_t / \sqrt{\hat V_t}, \qquad
        \hat U_t = U_t / \max\!\left(1, \mathrm{RMS}(U_t)/d\right), \\
        \theta_t = \theta_{t-1} - \eta_t\, \max(\epsilon_2, \mathrm{RMS}(\theta_{t-1}))\, \hat U_t

    with :math:`\hat\beta_{2,t} = 1 - t^{-c}`, :math:`c` = ``decay_rate``,
    :math:`d` = ``clip_threshold``, and with ``beta1`` a moving
    average of the step (no bias correction) :math:`m_t = \beta_1 m_{t-1} + (1-\beta_1)\,\Delta_t`.

    Peers disagree; brainopt takes braintools.optim's names and defaults
    (the Hugging Face/fairseq names) and ``optax.adafactor``'s algorithm,
    whose options those names describe (braintools.optim 0.3 accepted
    ``clip_threshold``, ``eps[1]`` and ``beta1`` but ignored them):

    - the learning rate is used as given (optax, braintools); Keras and torch
      cap it at :math:`1/\sqrt{t}` (the paper's relative step);
    - every parameter of rank >= 2 is factored over its last two axes
      (Keras, torch, the paper's matrices); optax factors the two largest
      axes, and only when both have at least 128 entries;
    - :math:`\epsilon_1` is added to :math:`g^2` (paper, optax, Keras; torch
      clamps :math:`\hat V` at :math:`\epsilon_1^2` instead);
    - ``weight_decay`` defaults to the decoupled meaning
      :math:`\theta \leftarrow \theta - \eta\lambda\theta` (braintools'
      effective one, torch); ``weight_decay_mode='coupled'`` is accepted.

    Slots: ``row_var`` and ``col_var`` (factored parameters), ``variance``
    (the others), and ``exp_avg`` with ``beta1``; a slot a parameter does
    not use holds a zero-size array.

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1e-3
        Learning rate, relative to the parameter's RMS. ``None`` means 1e-3
        (braintools.optim's default).
    eps : (float, float), default (1e-30, 1e-3)
        :math:`(\epsilon_1, \epsilon_2)`: added to :math:`g^2`; the floor of
        the parameter RMS. Each >= 0.
    clip_threshold : float or None, default 1.0
        :math:`d`, the largest RMS of an update; None disables the clipping.
    decay_rate : float, default 0.8
        :math:`c` in :math:`\hat\beta_{2,t} = 1 - t^{-c}`; >= 0.
    beta1 : float or None, default None
        Momentum of the step in [0, 1); None keeps no first moment.
    weight_decay : float, default 0.0
        Decoupled by default (see above).
    factored : bool, default True
        Factor the second moment of parameters of rank >= 2.
    {shared_options}

    References
    ----------
    N. Shazeer, M. Stern, "Adafactor: Adaptive Learning Rates with Sublinear
    Memory Cost", ICML 2018, arXiv:1804.04235.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.ones((64, 32)))
    >>> opt = brainopt.Adafactor(lr=0.01).register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': jnp.full((64, 32), 0.5)})
    >>> round(float(w.value[0, 0]), 4)                  # 1 - lr * RMS(w) * sign(g)
    0.99
    >>> opt.get_slot('row_var', 'w').shape, opt.get_slot('col_var', 'w').shape
    ((64,), (32,))
    """

    def __init__(self, lr: LearningRate = 1e-3, eps=(1e-30, 1e-3), clip_threshold=1.0, decay_rate: float = 0.8,
                 beta1=None, weight_decay: float = 0.0, factored: bool = True, **options):
        owner = type(self).__name__
        if lr is None:
            lr = 1e-3
        if not (isinstance(eps, (tuple, list)) and len(eps) == 2):
            raise TypeError(f'{owner}: eps must be a pair (eps1, eps2), got {eps!r}')
        eps1 = check.real('eps[0]', eps[0], low=0., owner=owner)
        eps2 = check.real('eps[1]', eps[1], low=0., owner=owner)
        clip_threshold = check.optional_real('clip_threshold', clip_threshold, low=0., low_open=True, owner=owner)
        decay_rate = check.real('decay_rate', decay_rate, low=0., owner=owner)
        beta1 = check.optional_real('beta1', beta1, low=0., high=1., high_open=True, owner=owner)
        if not isinstance(factored, bool):
            raise TypeError(f'{owner}: factored must be a bool, got {factored!r}')
        options.setdefault('weight_decay_mode', 'decoupled')
        super().__init__(AdafactorRule(eps1, eps2, clip_threshold, decay_rate, beta1, factored), lr,
                         weight_decay=weight_decay, **options)
