"""Sharpness-aware minimisation (Foret et al., 2021) and its adaptive form ASAM (Kwon et al., 2021).

SAM is not a per-parameter rule: it moves the weights to the worst point of a
small ball, takes the gradient there, and hands that gradient to a base rule.
This module holds the one piece of math it adds, the perturbation.
"""
import functools

import jax.numpy as jnp

__all__ = ['sam_perturbation']


def sam_perturbation(grads, params, rho: float, adaptive: bool, eps: float = 1e-12):
    r"""The ascent step :math:`\hat\epsilon(w)` of SAM, per parameter.

    .. math::

        \hat\epsilon = \rho\, \frac{T_w^2\, g}{\lVert T_w\, g \rVert_2 + \epsilon}, \qquad
        T_w = \begin{cases} I & \text{SAM} \\ \mathrm{diag}(|w|) & \text{ASAM} \end{cases}

    with the norm taken over all parameters together, as the reference
    implementation of both papers' PyTorch versions does
    (``davda54/sam``: ``e_w = (p**2 if adaptive else 1) * grad * rho / (norm + 1e-12)``).

    Parameters
    ----------
    grads, params : dict
        Gradient and parameter arrays keyed by leaf name.
    rho : float
        Radius of the neighbourhood.
    adaptive : bool
        ASAM's scale-invariant ball (:math:`T_w = |w|`).
    eps : float
        Added to the norm, so that a zero gradient gives a zero step.
    """
    scaled = {k: jnp.abs(params[k]) * g if adaptive else g for k, g in grads.items()}
    sq = [jnp.sum(jnp.square(v.astype(jnp.float32))) for v in scaled.values()]
    norm = jnp.sqrt(functools.reduce(jnp.add, sq)) if sq else jnp.float32(0.)
    scale = rho / (norm + eps)
    out = {}
    for k, g in grads.items():
        w2 = jnp.square(params[k]) if adaptive else 1.
        out[k] = (w2 * g * scale.astype(g.dtype)).astype(g.dtype)
    return out
