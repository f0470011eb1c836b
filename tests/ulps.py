"""Comparing the results of two *different* compiled programs, in units in the last place (ulps).

brainopt promises two kinds of agreement, and the tests keep them apart:

* **The same program, run twice** (a resumed run against an uninterrupted one, a checkpoint round trip, a second
  call against the first): bit-identical. Those tests compare with ``np.testing.assert_array_equal``.
* **Two different programs computing the same formula** (the eager update, compiled alone, against the same update
  traced into the caller's ``brainstate.transform.jit`` step or into a ``for_loop`` body; a wrapper against its
  template; a dialect against the base class): XLA fuses, vectorises and contracts each program on its own, and
  what it chooses depends on the CPU's instruction set (``XLA_FLAGS=--xla_cpu_max_isa=...``). So a product and a sum
  may or may not become one fused multiply-add (one rounding instead of two), ``exp``, ``log``, ``pow``, ``tanh``
  and ``sqrt`` may be evaluated by a vectorised polynomial or a scalar routine (each within a few ulps of the exact
  value, not of each other), and a reduction (a matmul, a mean, a norm) may add in another order. These tests
  promise agreement within a stated number of ulps, with the reason beside the bound: :func:`assert_ulp_close`.

An ulp here is the spacing of float32 (or of the arrays' dtype) at ``max(|actual|, |desired|, scale)``, where
``scale`` defaults to the largest magnitude in ``desired``. The floor is what makes an ulp bound meaningful for
values that cancel: ``p - lr * u`` near zero, or a momentum buffer whose terms change sign, carries the rounding of
its operands, which are of the size of the tensor, not of the result; a relative bound on a cancelled value is no
promise the arithmetic can keep. (``np.testing.assert_array_max_ulp`` has no such floor, and fails on every value
that cancels to near zero.)
"""
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ['assert_ulp_close', 'assert_trees_ulp_close', 'ulp_distance', 'CROSS_PROGRAM_ULPS_PER_STEP',
           'cross_program_ulps', 'bits']


# How far apart, per optimizer step, two differently compiled programs running the same update may drift, in ulps
# of the tensor's scale. Reasoning (not a measurement): each step recomputes the gradients (a matmul, a tanh, a mean
# over the batch: a reduction in either order differs by up to ~log2(16) = 4 ulps) and then the update, a chain of
# about 5-10 elementwise operations (each a rounding that FMA contraction may remove, and a sqrt, pow, exp or log
# whose vectorised and scalar forms may differ by 1-2 ulps); the result feeds the next step's gradients and
# accumulators, so the differences add up over the steps. 16 ulps a step covers the gradient's 4 and about 8 for the
# update, with headroom for an accumulator that sums terms of both signs (FTRL's z, Adan's gradient difference).
CROSS_PROGRAM_ULPS_PER_STEP = 16


def cross_program_ulps(steps):
    """The bound for two differently compiled programs after ``steps`` optimizer steps: see
    :data:`CROSS_PROGRAM_ULPS_PER_STEP`."""
    return CROSS_PROGRAM_ULPS_PER_STEP * max(int(steps), 1)


def _spacing(mag, dtype):
    """The spacing of ``dtype`` at the magnitudes ``mag`` (float64): 2^(exponent - mantissa bits), with the
    exponent from ``np.frexp`` (exact) and floored at the smallest normal; from ``np.finfo``, so it also holds for
    bfloat16 and float16, whose ml_dtypes types ``np.spacing`` does not take."""
    info = np.finfo(dtype)
    _, exp = np.frexp(np.maximum(mag, float(info.smallest_normal)))
    return np.ldexp(1.0, exp - 1 - info.nmant)


def ulp_distance(actual, desired, scale=None):
    """Element-wise ``|actual - desired|`` in ulps of the less precise of the two float dtypes at
    ``max(|actual|, |desired|, scale)``; ``scale`` defaults to the largest finite magnitude in ``desired``.
    Non-finite entries must agree exactly (the same inf, or NaN on both sides): they count 0 where they do and
    inf where they do not."""
    a, d = np.asarray(actual), np.asarray(desired)
    if a.shape != d.shape:
        raise AssertionError(f'shapes differ: actual {a.shape}, desired {d.shape}')
    floats = [x.dtype for x in (a, d) if jnp.issubdtype(x.dtype, jnp.floating)]   # (jnp: bfloat16 is a float)
    if not floats:                                   # ints, bools: ulps are meaningless, equal or not
        return np.where(a == d, 0.0, np.inf).astype(np.float64)
    # ulps of the less precise side: a float32 result against a float64 formula or a Python float counts float32 ulps
    dtype = max(floats, key=lambda t: float(np.finfo(t).eps))
    a64, d64 = a.astype(np.float64), d.astype(np.float64)
    finite = np.isfinite(a64) & np.isfinite(d64)
    if scale is None:
        scale = float(np.max(np.abs(d64[np.isfinite(d64)]), initial=0.0))
    mag = np.maximum(np.maximum(np.abs(a64), np.abs(d64)), scale)
    spacing = _spacing(np.where(finite, mag, 1.0), dtype)
    with np.errstate(invalid='ignore'):             # inf - inf where both are non-finite: decided below
        dist = np.where(finite, np.abs(a64 - d64) / spacing, 0.0)
    same_nonfinite = (np.isnan(a64) & np.isnan(d64)) | (a64 == d64)
    return np.where(finite | same_nonfinite, dist, np.inf)


def assert_ulp_close(actual, desired, ulps, *, scale=None, err_msg=''):
    """Assert ``actual`` and ``desired`` agree within ``ulps`` ulps (see the module docstring for the floor
    ``scale``). Use for results of two *different* compiled programs; the same program run twice is compared with
    ``np.testing.assert_array_equal``."""
    dist = ulp_distance(actual, desired, scale)
    worst = float(np.max(dist, initial=0.0))
    if worst > ulps:
        i = np.unravel_index(int(np.argmax(dist)), dist.shape) if dist.ndim else ()
        a, d = np.asarray(actual), np.asarray(desired)
        raise AssertionError(
            f'{err_msg + ": " if err_msg else ""}{worst:.1f} ulps apart (bound {ulps}), at index {tuple(map(int, i))}: '
            f'{float(a[i])!r} (actual) vs {float(d[i])!r} (desired); '
            f'{int(np.sum(dist > ulps))} of {dist.size} elements over the bound')


def assert_trees_ulp_close(actual, desired, ulps, *, err_msg=''):
    """:func:`assert_ulp_close` on every leaf of two pytrees of the same structure (each leaf its own scale)."""
    a_leaves, a_def = jax.tree.flatten_with_path(actual)
    d_leaves, d_def = jax.tree.flatten_with_path(desired)
    if jax.tree.structure(actual) != jax.tree.structure(desired):
        raise AssertionError(f'{err_msg}: tree structures differ: {a_def} vs {d_def}')
    for (path, a), (_, d) in zip(a_leaves, d_leaves):
        assert_ulp_close(a, d, ulps, err_msg=f'{err_msg} {jax.tree_util.keystr(path)}'.strip())


def bits(tree):
    """``{key path: (dtype, shape, raw bytes)}`` of every leaf (a Quantity's mantissa): two of these are equal only
    when the trees are bit-identical, NaN included. For the same program run twice."""
    out = {}
    for p, x in jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: isinstance(x, u.Quantity))[0]:
        a = np.asarray(x.mantissa if isinstance(x, u.Quantity) else x)
        out[jax.tree_util.keystr(p)] = (str(a.dtype), a.shape, a.tobytes())
    return out
