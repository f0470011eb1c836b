"""``brainopt.Muon``."""
import numbers
import re
from typing import Tuple

from .. import _validate as check
from ..optimizer import Optimizer, with_shared_options
from ..rules.muon import MuonRule
from ..transforms.lr import LearningRate

__all__ = ['Muon']

ADJUST_LR_FNS = (None, 'original', 'match_rms_adamw')


@with_shared_options
class Muon(Optimizer):
    r"""Muon: momentum orthogonalised by Newton-Schulz, for 2-D weights; Adam for the rest.

    For a 2-D parameter (a ``brainstate.nn.Linear`` weight, shape
    ``(fan_in, fan_out)``):

    .. math::

        b_t = \mu b_{t-1} + (1-\mu) g_t, \qquad
        d_t = \begin{cases} (1-\mu) g_t + \mu b_t & \text{nesterov} \\ b_t & \text{otherwise}\end{cases}, \\
        \theta_t = \theta_{t-1} - \eta\, s\; \mathrm{NS}_5(d_t)

    where :math:`\mathrm{NS}_5` divides by :math:`\max(\|d\|_F, \epsilon)`
    and runs ``ns_steps`` quintic Newton-Schulz iterations
    :math:`X \leftarrow aX + (bA + cA^2)X`, :math:`A = XX^\top`, towards the
    orthogonal factor of :math:`d_t`, and :math:`s` is
    :math:`\sqrt{\max(1, \text{fan\_out}/\text{fan\_in})}` (``adjust_lr_fn=None``
    or ``'original'``) or :math:`0.2\sqrt{\max(\text{fan\_in}, \text{fan\_out})}`
    (``'match_rms_adamw'``, Keras's ``rms_rate=0.2``).

    Names, defaults and the momentum are torch.optim.Muon's (braintools.optim
    has no Muon). The Newton-Schulz step normalises its input, so torch's
    averaged buffer, Keras's summed one (:math:`m \leftarrow \mu m + g`) and
    optax's bias-corrected one give the same direction (optax's Nesterov
    form does not). Decisions where the peers differ:

    - parameters that are not 2-D (biases, scalars, convolution kernels) take
      an Adam step (:class:`brainopt.Adam`'s formula) with ``adam_betas``,
      ``adam_eps`` and learning rate :math:`\eta \cdot` ``adam_lr_ratio``,
      as Keras and optax do; torch.optim.Muon refuses them. So do 2-D
      parameters that Keras would exclude: a path containing ``'embedding'``
      (``exclude_embeddings``) or matching ``exclude_layers``;
    - fan-in is the first axis (``x @ W``, brainstate's and optax's layout);
      torch's ``'original'`` ratio reads ``shape[0]/shape[1]`` because torch
      stores ``(fan_out, fan_in)``: the same rule in each library's layout;
    - the iteration runs in float32 (torch: bfloat16);
    - ``weight_decay`` (default 0.1, torch's) is decoupled,
      :math:`\theta \leftarrow \theta - \eta\lambda\theta`, for every
      parameter not excluded by ``weight_decay_exclude`` (Keras has a
      separate ``adam_weight_decay`` for the AdamW parameters:
      :class:`brainopt.keras.Muon` takes it).

    Slots: ``momentum_buffer`` (every parameter; Adam's first moment for the
    non-2-D ones) and ``exp_avg_sq`` (Adam's second moment; a zero-size
    array for 2-D parameters).

    Parameters
    ----------
    lr : float, LRScheduler or callable, default 1e-3
        Learning rate.
    weight_decay : float, default 0.1
        Decoupled decay coefficient.
    momentum : float, default 0.95
        :math:`\mu` in [0, 1).
    nesterov : bool, default True
        Orthogonalise the Nesterov combination rather than the buffer.
    ns_coefficients : (float, float, float), default (3.4445, -4.7750, 2.0315)
        :math:`(a, b, c)`.
    eps : float, default 1e-7
        Floor of the Frobenius norm; > 0.
    ns_steps : int, default 5
        Newton-Schulz iterations, in [1, 100).
    adjust_lr_fn : {None, 'original', 'match_rms_adamw'}, default None
        How the shape scales the learning rate of 2-D parameters (above).
    adam_betas : (float, float), default (0.9, 0.999)
        Adam's decay rates for the parameters that are not 2-D.
    adam_eps : float, default 1e-8
        Adam's epsilon, on the bias-corrected root.
    adam_lr_ratio : float, default 1.0
        Adam's learning rate relative to ``lr``.
    exclude_layers : sequence of str, optional
        Regular expressions searched in each parameter's dotted path; a 2-D
        parameter that matches takes the Adam step (Keras's
        ``exclude_layers``; put the output layer here).
    exclude_embeddings : bool, default True
        A 2-D parameter whose path contains ``'embedding'`` (any case) takes
        the Adam step (Keras's ``exclude_embeddings``).
    {shared_options}

    References
    ----------
    K. Jordan et al., "Muon: An optimizer for hidden layers in neural
    networks", 2024, https://kellerjordan.github.io/posts/muon/.
    J. Liu et al., "Muon is Scalable for LLM Training", arXiv:2502.16982, 2025.

    Examples
    --------
    >>> import brainstate, brainopt, jax.numpy as jnp
    >>> w = brainstate.ParamState(jnp.zeros((3, 3)))
    >>> opt = brainopt.Muon(lr=0.1, weight_decay=0.0).register_trainable_weights({'w': w})
    >>> _ = opt.update({'w': 2.0 * jnp.eye(3)})   # NS(2 I) = 0.686 I: singular values land in ~[0.7, 1.2]
    >>> [round(float(x), 4) for x in jnp.diag(w.value)]
    [-0.0686, -0.0686, -0.0686]
    """

    def __init__(self, lr: LearningRate = 1e-3, weight_decay: float = 0.1, momentum: float = 0.95,
                 nesterov: bool = True, ns_coefficients=(3.4445, -4.7750, 2.0315), eps: float = 1e-7,
                 ns_steps: int = 5, adjust_lr_fn=None, *, adam_betas: Tuple[float, ...] = (0.9, 0.999),
                 adam_eps: float = 1e-8, adam_lr_ratio: float = 1.0, exclude_layers=None,
                 exclude_embeddings: bool = True, **options):
        owner = type(self).__name__
        momentum = check.real('momentum', momentum, low=0., high=1., high_open=True, owner=owner)
        if not isinstance(nesterov, bool):
            raise TypeError(f'{owner}: nesterov must be a bool, got {nesterov!r}')
        if not (isinstance(ns_coefficients, (tuple, list)) and len(ns_coefficients) == 3
                and all(isinstance(c, numbers.Real) and not isinstance(c, bool) for c in ns_coefficients)):
            raise TypeError(f'{owner}: ns_coefficients must be three real numbers (a, b, c), got {ns_coefficients!r}')
        ns_coefficients = tuple(check.real(f'ns_coefficients[{i}]', c, owner=owner)
                                for i, c in enumerate(ns_coefficients))
        eps = check.real('eps', eps, low=0., low_open=True, owner=owner)
        ns_steps = check.positive_int('ns_steps', ns_steps, owner=owner)
        if ns_steps >= 100:
            raise ValueError(f'{owner}: ns_steps must be less than 100, got {ns_steps!r}')
        if adjust_lr_fn not in ADJUST_LR_FNS:
            raise ValueError(f'{owner}: adjust_lr_fn must be one of {ADJUST_LR_FNS}, got {adjust_lr_fn!r}')
        adam_betas = check.decay_rates('adam_betas', adam_betas, owner=owner)
        adam_eps = check.real('adam_eps', adam_eps, low=0., owner=owner)
        adam_lr_ratio = check.real('adam_lr_ratio', adam_lr_ratio, low=0., owner=owner)
        if isinstance(exclude_layers, str):
            exclude_layers = [exclude_layers]
        exclude_layers = list(exclude_layers or [])
        for i, pattern in enumerate(exclude_layers):
            if not isinstance(pattern, str):
                raise TypeError(f'{owner}: exclude_layers must be regular expressions (str), got {pattern!r} at {i}')
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(f'{owner}: exclude_layers[{i}]={pattern!r} is not a regular expression '
                                 f'(expected a pattern for re.search): {e}') from None
        if not isinstance(exclude_embeddings, bool):
            raise TypeError(f'{owner}: exclude_embeddings must be a bool, got {exclude_embeddings!r}')
        options.setdefault('weight_decay_mode', 'decoupled')
        rule = MuonRule(momentum, nesterov, ns_coefficients, eps, ns_steps, adjust_lr_fn,
                        adam_betas, adam_eps, adam_lr_ratio, exclude_layers, exclude_embeddings)
        super().__init__(rule, lr, weight_decay=weight_decay, **options)
