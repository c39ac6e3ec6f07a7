"""Elementwise binary cross-entropy and its derivatives: the exact reference formulas.

Every function takes floating arrays of one namespace ``xp`` (NumPy by default; the NumPy
path passes float64) and returns new arrays of the same dtype. The targets ``y`` are in
[0, 1]; the xlogy convention applies, so a term whose coefficient is exactly 0 is 0 even where
its logarithm is infinite.

On NumPy float64 input the public functions evaluate the formulas in long double where it
is wider than float64 (x86-64) and round once at the end, which keeps every result within
about 0.5 ulp of the exact value (``scripts/accuracy.py``). The ``*_terms`` functions are
the formulas themselves, in the dtype they are given. Dask arrays are computed block by
block through the same functions (:func:`map_dask_blocks`).

The formulas use only ``where``, arithmetic, ``exp``, ``log`` and ``log1p`` (on JAX, partly
replaced by ``log`` and an optimization barrier, see :func:`_log1p`), so they run on any
array-API library and autograd can differentiate them. Wherever a masked branch of
``where`` could be infinite, its input is replaced first (the "double where"), so the
gradient of the unused branch is 0 rather than ``0 * inf = NaN``.
"""

from __future__ import annotations

import array_api_compat
import numpy as np

# x86-64 long double (64-bit significand) makes exp and log1p accurate to about 2**-11 of a
# float64 ulp, so a float64 result is within about 0.5 ulp of the exact value. Where
# long double is no wider than float64 (on ARM macOS and Windows, for instance) the float64
# formulas run as they are, within about 1.5 ulp (see docs/accuracy.md).
_EXTENDED = np.longdouble if np.finfo(np.longdouble).nmant >= 63 else None

__all__ = [
    "grad_hess_from_logit",
    "grad_hess_from_logit_terms",
    "grad_hess_from_probability",
    "grad_hess_from_probability_terms",
    "loss_from_logit",
    "loss_from_logit_terms",
    "loss_from_probability",
    "loss_from_probability_terms",
    "map_dask_blocks",
    "multiply_weights",
    "negative_term_coefficient",
    "sigmoid_pair",
    "smoothed_target_entropy",
    "softplus",
]


def _widen(z, xp):
    """Return ``z`` in extended precision where that is NumPy float64 and available, else ``z``."""
    if _EXTENDED is not None and isinstance(z, np.ndarray) and z.dtype == np.float64:
        return z.astype(_EXTENDED)
    return z


def map_dask_blocks(function, *arrays, outputs: int = 1):
    """Apply ``function(*blocks, xp)`` to each block of Dask ``arrays``, warnings off.

    ``np.errstate`` around a lazy Dask expression has no effect when the graph runs later in
    worker threads, so each block is computed inside its own ``np.errstate``, and NumPy
    blocks get the NumPy path, long double included. An argument that is None is passed
    as None. The arrays broadcast against the first, from the right. With ``outputs`` > 1
    the tuple of results is stacked along a new first axis per block and split again.
    """
    import dask.array as da

    first = arrays[0]
    # One letter per axis, aligned from the right as in broadcasting; blockwise rechunks the
    # operands to common blocks. "_" is the new axis of stacked outputs.
    index = "abcdefghijklmnopqrstuvwxyz"[: first.ndim]
    present = [position for position, array in enumerate(arrays) if array is not None]
    operands = []
    for position in present:
        operands += [arrays[position], index[first.ndim - arrays[position].ndim :]]

    def run_block(*blocks):
        arguments = [None] * len(arrays)
        for position, block in zip(present, blocks, strict=True):
            arguments[position] = block
        xp = array_api_compat.array_namespace(blocks[0])
        with np.errstate(all="ignore"):
            result = function(*arguments, xp)
        return result if outputs == 1 else xp.stack(result)

    if outputs == 1:
        return da.blockwise(run_block, index, *operands, dtype=first.dtype)
    stacked = da.blockwise(run_block, "_" + index, *operands, dtype=first.dtype, new_axes={"_": outputs})
    return tuple(stacked[i] for i in range(outputs))


def multiply_weights(values, weights, xp=np):
    """Return ``values * weights``, 0 where a weight is 0 (even for an infinite value).

    A product beyond the float range is inf, the correctly rounded value, without a
    floating-point warning, on Dask too.
    """
    if array_api_compat.is_dask_array(values):
        return map_dask_blocks(multiply_weights, values, weights)
    with np.errstate(invalid="ignore", over="ignore"):
        return xp.where(weights == 0.0, 0.0, values * weights)


def _narrow(values, dtype):
    """Round extended-precision ``values`` to ``dtype``; beyond its range they become inf."""
    with np.errstate(over="ignore"):
        return values.astype(dtype)


def loss_from_probability(p, y, pos_weight, clip: float | None = None, xp=np, complement=None):
    """Return the loss of :func:`loss_from_probability_terms`, in long double for NumPy float64."""
    if array_api_compat.is_dask_array(p):
        return map_dask_blocks(
            lambda p, y, w, c, xp: loss_from_probability(p, y, w, clip, xp, c), p, y, pos_weight, complement
        )
    wide = _widen(p, xp)
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0) is -inf by design
        loss = loss_from_probability_terms(wide, y, pos_weight, clip, xp, complement)
    return loss if wide is p else _narrow(loss, p.dtype)


def negative_term_coefficient(y, complement):
    """Return the negative term's coefficient and the mask where it is 0.

    The coefficient is ``1 - y``, or `complement` where the caller formed it itself (label
    smoothing, which makes it positive everywhere).
    """
    if complement is None:
        return 1.0 - y, y == 1
    return complement, complement == 0


def loss_from_probability_terms(p, y, pos_weight, clip: float | None = None, xp=np, complement=None):
    """Return ``-(pos_weight * xlogy(y, p) + xlog1py(1 - y, -p))``.

    `complement`, when given, is ``1 - y`` as the caller formed it, more exactly than the
    subtraction (see ``_options.prepare``). With `clip`, each logarithm's argument (``p``
    for the positive term, ``1 - p`` for the negative one) is raised to at least `clip`, so
    neither term exceeds ``-log(clip)``. For ``p >= 0.5`` the difference ``1 - p`` is exact
    in floating point (Sterbenz), so the negative tail is bounded by exactly the same
    amount as the positive one.
    """
    no_positive = y == 0
    if pos_weight is not None:
        no_positive = no_positive | (pos_weight == 0)
    negative_coefficient, no_negative = negative_term_coefficient(y, complement)
    p_positive = xp.where(no_positive, 1.0, p)
    if clip is not None:
        p_positive = xp.where(p_positive < clip, clip, p_positive)
    positive = xp.log(p_positive) * y
    if pos_weight is not None:
        positive = positive * pos_weight
    positive = xp.where(no_positive, 0.0, positive)

    p_negative = xp.where(no_negative, 0.0, p)
    if clip is None:
        negative = _log1p(-p_negative, xp)
    else:
        upper = p_negative > 0.5
        q_upper = 1.0 - xp.where(upper, p_negative, 0.0)
        clipped_upper = xp.log(xp.where(q_upper < clip, clip, q_upper))
        negative = xp.where(upper, clipped_upper, _log1p(-xp.where(upper, 0.0, p_negative), xp))
    negative = xp.where(no_negative, 0.0, negative * negative_coefficient)
    return -(positive + negative)


def smoothed_target_entropy(y, complement, pos_weight, xp=np):
    """Return ``-(pos_weight * y * log(y) + c * log(c))`` for smoothed targets ``y`` and
    their complements ``c`` (both non-negative), in long double for NumPy float64.

    It is the loss of predicting the target itself. Of ``y`` and ``c``, the one above 1/2
    is stored with an error that is large against its distance from 1. So its logarithm is
    taken as ``log1p`` of minus the other; for ``y = 1 - 5e-13``, ``log(y)`` would be about
    1e-4 off in relative terms.
    """
    if array_api_compat.is_dask_array(y):
        return map_dask_blocks(smoothed_target_entropy, y, complement, pos_weight)
    wide_y, wide_c = _widen(y, xp), _widen(complement, xp)
    y_smaller = wide_y <= wide_c
    small = xp.where(y_smaller, wide_y, wide_c)
    # small is 0 only where half the smoothing underflows (5e-324). Its term is then 0, as
    # in xlogy, so its logarithm is taken of 1 instead, without a warning.
    log_small = xp.log(xp.where(small > 0, small, 1.0))
    log_large = _log1p(-small, xp)
    log_y = xp.where(y_smaller, log_small, log_large)
    log_c = xp.where(y_smaller, log_large, log_small)
    positive = log_y * wide_y
    if pos_weight is not None:
        positive = positive * pos_weight
    entropy = -(positive + log_c * wide_c)
    return entropy if wide_y is y else _narrow(entropy, y.dtype)


def _log1p(x, xp):
    """Return ``log1p(x)`` for ``x`` in [-1, 1], within about 1 ulp on JAX too.

    XLA's CPU ``log1p`` (jaxlib 0.10) is up to 128 ulp off for x in [-0.5, -0.25) and about
    2 ulp for x > 0. There this computes ``log(u) + (x - (u - 1)) / u`` with ``u = 1 + x``:
    ``u - 1`` is exact, so the second term restores the rounding error of ``u``. The
    optimization barrier keeps XLA from simplifying ``(1 + x) - 1`` to ``x``. Measured
    against long-double ``log1p`` on 410,001 points in [-1, 1], eager and under ``jit``, the
    result is within 1.0 ulp (``jnp.log1p``: 128). Other libraries use their own ``log1p``.
    """
    if not array_api_compat.is_jax_namespace(xp):
        return xp.log1p(x)
    import jax

    corrected = ((x >= -0.5) & (x < -0.25)) | ((x > 0) & (x <= 1))
    safe = xp.where(corrected, x, 0.5)  # double where: no NaN gradient from the unused branch
    u = jax.lax.optimization_barrier(1.0 + safe)
    restored = xp.log(u) + (safe - (u - 1.0)) / u
    return xp.where(corrected, restored, xp.log1p(xp.where(corrected, 0.0, x)))


def _log1p_exp_negative_abs(z, xp):
    """Return ``t = log1p(exp(-|z|))``; its derivative is ``-sigmoid(-|z|) * sign(z)`` with sign(0) = 1."""
    return _log1p(xp.exp(xp.where(z >= 0, -z, z)), xp)


def softplus(z, xp=np):
    """Return ``log(1 + exp(z))`` without overflow or cancellation, ``inf`` at ``z = inf``."""
    tail = _log1p_exp_negative_abs(z, xp)
    return xp.where(z >= 0, z + tail, tail)


def loss_from_logit(z, y, pos_weight, xp=np, complement=None):
    """Return the loss of :func:`loss_from_logit_terms`, computed in long double for NumPy float64."""
    if array_api_compat.is_dask_array(z):
        return map_dask_blocks(lambda z, y, w, c, xp: loss_from_logit(z, y, w, xp, c), z, y, pos_weight, complement)
    wide = _widen(z, xp)
    with np.errstate(invalid="ignore"):  # inf * 0 in a discarded term is replaced by 0
        loss = loss_from_logit_terms(wide, y, pos_weight, xp, complement)
    return loss if wide is z else _narrow(loss, z.dtype)


def loss_from_logit_terms(z, y, pos_weight, xp=np, complement=None):
    """Return ``pos_weight * y * softplus(-z) + (1 - y) * softplus(z)`` with xlogy semantics.

    Both terms share ``t = log1p(exp(-|z|))``: ``softplus(z)`` is ``z + t`` for ``z >= 0``
    and ``t`` otherwise, and ``softplus(-z)`` is ``t - z`` for ``z < 0`` and ``t`` otherwise.
    Each adds two non-negative numbers, so nothing cancels and ``loss(z, 1) == loss(-z, 0)``
    bit for bit. The branch conditions differ at ``z = 0`` (``>=`` and ``<``) so that autograd
    differentiates each term at 0 along the same side as ``t``, giving exactly ``-1/2`` and
    ``+1/2``. `complement` is as in :func:`loss_from_probability_terms`.
    """
    tail = _log1p_exp_negative_abs(z, xp)
    no_positive = y == 0
    negative_coefficient, no_negative = negative_term_coefficient(y, complement)
    positive = xp.where(z < 0, tail - z, tail) * y
    if pos_weight is not None:
        positive = positive * pos_weight
        no_positive = no_positive | (pos_weight == 0)
    positive = xp.where(no_positive, 0.0, positive)
    negative = xp.where(z >= 0, z + tail, tail) * negative_coefficient
    negative = xp.where(no_negative, 0.0, negative)
    return positive + negative


def sigmoid_pair(z, xp=np):
    """Return ``(sigmoid(z), sigmoid(-z))``, each to full relative precision.

    With ``e = exp(-|z|)`` in (0, 1], the two values are ``1 / (1 + e)`` and ``e / (1 + e)``.
    Neither is formed as ``1 - sigmoid``, so the small one keeps every digit in the tails.
    """
    e = xp.exp(xp.where(z >= 0, -z, z))
    denominator = 1.0 + e
    large = 1.0 / denominator
    small = e / denominator
    nonnegative = z >= 0
    return xp.where(nonnegative, large, small), xp.where(nonnegative, small, large)


def grad_hess_from_logit(z, y, pos_weight, xp=np, complement=None):
    """Return :func:`grad_hess_from_logit_terms`, computed in long double for NumPy float64."""
    if array_api_compat.is_dask_array(z):
        return map_dask_blocks(
            lambda z, y, w, c, xp: grad_hess_from_logit(z, y, w, xp, c), z, y, pos_weight, complement, outputs=2
        )
    wide = _widen(z, xp)
    gradient, hessian = grad_hess_from_logit_terms(wide, y, pos_weight, xp, complement)
    if wide is z:
        return gradient, hessian
    return _narrow(gradient, z.dtype), _narrow(hessian, z.dtype)


def grad_hess_from_logit_terms(z, y, pos_weight, xp=np, complement=None):
    """Return the first and second derivatives of :func:`loss_from_logit` with respect to ``z``.

    ``d/dz = (1 - y) sigmoid(z) - pos_weight y sigmoid(-z)`` and
    ``d2/dz2 = sigmoid(z) sigmoid(-z) ((1 - y) + pos_weight y)``. For hard labels the gradient
    is one product, ``sigmoid(z)`` or ``-pos_weight sigmoid(-z)``, so it keeps full relative
    precision in both tails. Every factor is finite, so no term can be NaN. `complement` is
    as in :func:`loss_from_probability_terms`.
    """
    positive_sigmoid, negative_sigmoid = sigmoid_pair(z, xp)
    positive_coefficient = y if pos_weight is None else pos_weight * y
    negative_coefficient, _ = negative_term_coefficient(y, complement)
    gradient = negative_coefficient * positive_sigmoid - positive_coefficient * negative_sigmoid
    curvature = positive_sigmoid * negative_sigmoid
    if pos_weight is not None:
        curvature = curvature * (negative_coefficient + positive_coefficient)
    return gradient, curvature


def grad_hess_from_probability(p, y, pos_weight, xp=np, complement=None):
    """Return :func:`grad_hess_from_probability_terms`, in long double for NumPy float64."""
    if array_api_compat.is_dask_array(p):
        return map_dask_blocks(
            lambda p, y, w, c, xp: grad_hess_from_probability(p, y, w, xp, c), p, y, pos_weight, complement, outputs=2
        )
    wide = _widen(p, xp)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # y / 0 is inf by design
        gradient, hessian = grad_hess_from_probability_terms(wide, y, pos_weight, xp, complement)
    if wide is p:
        return gradient, hessian
    return _narrow(gradient, p.dtype), _narrow(hessian, p.dtype)


def grad_hess_from_probability_terms(p, y, pos_weight, xp=np, complement=None):
    """Return the first and second derivatives of :func:`loss_from_probability` in ``p``.

    ``d/dp = -pos_weight y / p + (1 - y) / (1 - p)`` and
    ``d2/dp2 = pos_weight y / p**2 + (1 - y) / (1 - p)**2``, each term 0 where its coefficient
    is 0 (xlogy convention). So at ``p = 1, y = 1`` the gradient is the one-sided ``-1``, at
    ``p = 0, y = 0`` it is ``+1``, and a term with a non-zero coefficient at its pole is
    ``-inf`` or ``+inf``, never NaN. ``y / p**2`` is formed as ``(y / p) / p``, so ``p**2``
    cannot underflow. `complement` is as in :func:`loss_from_probability_terms`.
    """
    no_positive = y == 0
    positive_coefficient = y
    if pos_weight is not None:
        no_positive = no_positive | (pos_weight == 0)
        positive_coefficient = pos_weight * y
    negative_coefficient, no_negative = negative_term_coefficient(y, complement)
    p_positive = xp.where(no_positive, 1.0, p)
    q_negative = 1.0 - xp.where(no_negative, 0.0, p)
    positive_ratio = xp.where(no_positive, 0.0, positive_coefficient / p_positive)
    negative_ratio = xp.where(no_negative, 0.0, negative_coefficient / q_negative)
    gradient = negative_ratio - positive_ratio
    curvature = positive_ratio / p_positive + negative_ratio / q_negative
    return gradient, curvature
