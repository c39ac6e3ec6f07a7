"""Single-pass numba kernels for the loss, its gradient and the evaluation sums.

Each kernel reads its inputs once, in blocks of ``BLOCK`` elements that the threads take in
parallel. Within a block it computes every element in float64 into small buffers that stay
in cache, then sums each buffer pairwise (8 lanes of 16 elements per 128-element chunk, the
scheme of NumPy's pairwise summation); block totals are stored per block and added in block
order with Neumaier's compensated summation, so the result does not depend on the number of
threads. No kernel allocates an array of the input's size, except the output a caller asks
for ("none" losses and gradients).

A kernel also counts the inputs that the reference path would reject (NaN or out-of-range
predictions and labels, negative or non-finite weights) and the infinite losses. It does not
raise or warn: ``_fast`` returns to the reference path when either count is non-zero, so
error messages and warnings come from one place.

The elementwise formulas repeat ``_elementwise`` operation by operation (the same products
in the same order, the same xlogy selects); only ``log``, ``log1p`` and ``exp`` differ,
within 1 ulp, because they come from ``_fast_math``.

This module imports numba: import it only after checking that numba is installed.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import _fast_math as fm

__all__ = [
    "BLOCK",
    "grouped_state_sums",
    "logit_loss",
    "logit_loss_gradient",
    "logit_loss_into",
    "logit_state_sums",
    "probability_loss",
    "probability_loss_gradient",
    "probability_loss_into",
    "probability_state_sums",
    "state_sums_from_arrays",
]

# Elements of one block, chosen by timing the loss of 1e8 float64 values (2 threads, Xeon
# with AVX-512). Blocks of 2048 took 0.111 s for probabilities and 0.145 s for logits.
# Blocks of 4096 took 0.129 s and 0.150 s, and blocks of 1024 took 0.122 s and 0.168 s.
BLOCK = 2048
_CHUNK = 128
_JIT = {"cache": True, "error_model": "numpy", "nogil": True, "fastmath": fm.FASTMATH}
_PARALLEL_JIT = {**_JIT, "parallel": True}
_INLINE_JIT = {**_JIT, "inline": "always"}
# Without "contract": a sum of products must round each product, as a stored buffer does.
# numba applies the caller's flags to an inlined function, so these functions are not
# inlined by numba (LLVM still inlines them, keeping each instruction's flags).
_UNFUSED_JIT = {**_JIT, "fastmath": False}


# ---------------------------------------------------------------------------------------
# Summation


@njit(**_INLINE_JIT)
def _chunk_sum(buffer, start):
    """Return the sum of ``buffer[start:start + 128]`` with 8 lanes and a pairwise finish."""
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    for i in range(start, start + _CHUNK, 8):
        a0 += buffer[i]
        a1 += buffer[i + 1]
        a2 += buffer[i + 2]
        a3 += buffer[i + 3]
        a4 += buffer[i + 4]
        a5 += buffer[i + 5]
        a6 += buffer[i + 6]
        a7 += buffer[i + 7]
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))


@njit(**_INLINE_JIT)
def _buffer_sum(buffer):
    """Return the pairwise sum of a ``BLOCK``-long buffer (chunks of ``_CHUNK``, then a binary tree).

    The chunk sums overwrite the start of ``buffer``: allocating a scratch array here, once
    per block, made the kernels about twice as slow (measured with numba 0.68).
    """
    chunks = buffer  # chunk c is summed before index c is overwritten, because c <= 128 * c
    for c in range(BLOCK // _CHUNK):
        chunks[c] = _chunk_sum(buffer, c * _CHUNK)
    return _tree_sum(chunks)


@njit(**_INLINE_JIT)
def _tree_sum(chunks):
    """Return the binary-tree sum of the ``BLOCK // _CHUNK`` chunk sums at the start of
    ``chunks``, which it overwrites."""
    width = BLOCK // _CHUNK
    while width > 1:
        width //= 2
        for c in range(width):
            chunks[c] = chunks[2 * c] + chunks[2 * c + 1]
    return chunks[0]


@njit(**_INLINE_JIT)
def _chunk_value_sum(a, start, length):
    """Return ``_chunk_sum`` of ``a[start:start + 128]`` as float64, with the elements at or
    past ``length`` counted as 0.0, without storing the values."""
    if start >= length:
        return 0.0
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    if start + _CHUNK <= length:
        for i in range(start, start + _CHUNK, 8):
            a0 += np.float64(a[i])
            a1 += np.float64(a[i + 1])
            a2 += np.float64(a[i + 2])
            a3 += np.float64(a[i + 3])
            a4 += np.float64(a[i + 4])
            a5 += np.float64(a[i + 5])
            a6 += np.float64(a[i + 6])
            a7 += np.float64(a[i + 7])
    else:
        for i in range(start, start + _CHUNK, 8):
            a0 += np.float64(a[i]) if i < length else 0.0
            a1 += np.float64(a[i + 1]) if i + 1 < length else 0.0
            a2 += np.float64(a[i + 2]) if i + 2 < length else 0.0
            a3 += np.float64(a[i + 3]) if i + 3 < length else 0.0
            a4 += np.float64(a[i + 4]) if i + 4 < length else 0.0
            a5 += np.float64(a[i + 5]) if i + 5 < length else 0.0
            a6 += np.float64(a[i + 6]) if i + 6 < length else 0.0
            a7 += np.float64(a[i + 7]) if i + 7 < length else 0.0
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))


@njit(**_UNFUSED_JIT)
def _chunk_product_sum(a, b, start, length):
    """Return ``_chunk_sum`` of the float64 products ``a[i] * b[i]`` over one chunk, as
    ``_chunk_value_sum`` does for values; each product is rounded before it is added."""
    if start >= length:
        return 0.0
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    if start + _CHUNK <= length:
        for i in range(start, start + _CHUNK, 8):
            a0 += np.float64(a[i]) * np.float64(b[i])
            a1 += np.float64(a[i + 1]) * np.float64(b[i + 1])
            a2 += np.float64(a[i + 2]) * np.float64(b[i + 2])
            a3 += np.float64(a[i + 3]) * np.float64(b[i + 3])
            a4 += np.float64(a[i + 4]) * np.float64(b[i + 4])
            a5 += np.float64(a[i + 5]) * np.float64(b[i + 5])
            a6 += np.float64(a[i + 6]) * np.float64(b[i + 6])
            a7 += np.float64(a[i + 7]) * np.float64(b[i + 7])
    else:
        for i in range(start, start + _CHUNK, 8):
            a0 += np.float64(a[i]) * np.float64(b[i]) if i < length else 0.0
            a1 += np.float64(a[i + 1]) * np.float64(b[i + 1]) if i + 1 < length else 0.0
            a2 += np.float64(a[i + 2]) * np.float64(b[i + 2]) if i + 2 < length else 0.0
            a3 += np.float64(a[i + 3]) * np.float64(b[i + 3]) if i + 3 < length else 0.0
            a4 += np.float64(a[i + 4]) * np.float64(b[i + 4]) if i + 4 < length else 0.0
            a5 += np.float64(a[i + 5]) * np.float64(b[i + 5]) if i + 5 < length else 0.0
            a6 += np.float64(a[i + 6]) * np.float64(b[i + 6]) if i + 6 < length else 0.0
            a7 += np.float64(a[i + 7]) * np.float64(b[i + 7]) if i + 7 < length else 0.0
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))


@njit(**_JIT)
def _compensated_total(block_sums):
    """Return the column sums of ``block_sums`` (blocks x fields), Neumaier-compensated."""
    n_fields = block_sums.shape[1]
    totals = np.zeros(n_fields)
    for j in range(n_fields):
        high = 0.0
        low = 0.0
        for b in range(block_sums.shape[0]):
            value = block_sums[b, j]
            total = high + value
            if abs(high) >= abs(value):
                low += (high - total) + value
            else:
                low += (value - total) + high
            high = total
        # An infinite sum makes the compensation meaningless (inf - inf is NaN).
        totals[j] = high + low if np.isfinite(high) else high
    return totals


# ---------------------------------------------------------------------------------------
# Elementwise terms, shared by the kernels


@njit(**_INLINE_JIT)
def _is_bad_label(y):
    return not (0.0 <= y <= 1.0)


@njit(**_INLINE_JIT)
def _is_bad_weight(w):
    return not (0.0 <= w < np.inf)


@njit(**_INLINE_JIT)
def _probability_term(p, y, pos_weight):
    """Return the loss of one probability, as ``_elementwise.loss_from_probability``."""
    positive = fm.log(p) * y
    positive = 0.0 if y == 0.0 else positive
    positive = 0.0 if pos_weight == 0.0 else positive * pos_weight
    negative = fm.log1p(-p) * (1.0 - y)
    negative = 0.0 if y == 1.0 else negative
    # 0.0 - x rather than -x, so that a certain, correct prediction costs +0.0, not -0.0.
    return 0.0 - (positive + negative)


@njit(**_INLINE_JIT)
def _logit_term(z, y, pos_weight, tail):
    """Return the loss of one logit given ``tail = log1p(exp(-|z|))``."""
    positive = max(-z, 0.0) + tail
    positive = positive * y
    positive = 0.0 if y == 0.0 else positive
    positive = 0.0 if pos_weight == 0.0 else positive * pos_weight
    negative = max(z, 0.0) + tail
    negative = negative * (1.0 - y)
    negative = 0.0 if y == 1.0 else negative
    return positive + negative


@njit(**_INLINE_JIT)
def _weighted(loss, w):
    """Return ``w * loss``, 0 where ``w == 0`` (as ``_loss._finish``)."""
    return 0.0 if w == 0.0 else loss * w


@njit(**_INLINE_JIT)
def _block_bounds(b, n):
    start = b * BLOCK
    return start, min(start + BLOCK, n)


# ---------------------------------------------------------------------------------------
# Block stages. No loop below branches per element (selects only), so LLVM vectorizes each
# loop. The conditions on options sit between the loops.


@njit(**_INLINE_JIT)
def _probability_block(p, y, length, pos_weight, clip, losses):
    """Write the losses of one block of probabilities; return ``(n_bad, n_infinite)``.

    The first loop assumes hard labels, which need one logarithm per element: ``log(p)``
    for ``y = 1`` and ``log1p(-p)`` for ``y = 0``, both as ``log_with_correction`` of a
    selected argument, so the result is bit for bit the one of the general formula. It also
    checks and counts, so a block is read once. Only a block with a label other than 0 and
    1 is computed again with the general formula.
    """
    bad = 0
    soft = 0
    infinite = 0
    for i in range(length):
        probability = np.float64(p[i])
        label = np.float64(y[i])
        bad += _is_bad_label(probability) + _is_bad_label(label)
        soft += (label != 0.0) & (label != 1.0)
        probability = min(max(probability, clip), 1.0 - clip)
        positive = label == 1.0
        complement = 1.0 - probability
        argument = probability if positive else complement
        correction = 0.0 if positive else -probability - (complement - 1.0)
        factor = pos_weight if positive else 1.0
        value = fm.log_with_correction(argument, correction)
        loss = 0.0 - (0.0 if factor == 0.0 else value * factor)
        infinite += loss == np.inf
        losses[i] = loss
    if soft != 0:
        infinite = 0
        for i in range(length):
            probability = min(max(np.float64(p[i]), clip), 1.0 - clip)
            loss = _probability_term(probability, np.float64(y[i]), pos_weight)
            infinite += loss == np.inf
            losses[i] = loss
    return bad, infinite


@njit(**_INLINE_JIT)
def _logit_block(z, y, length, pos_weight, losses, exps):
    """Write the losses of one block of logits and ``exp(-|z|)``; return ``(n_bad, n_infinite)``."""
    bad = 0
    infinite = 0
    for i in range(length):
        logit = np.float64(z[i])
        label = np.float64(y[i])
        bad += (logit != logit) + _is_bad_label(label)
        e = fm.exp_nonpositive(-abs(logit))
        exps[i] = e
        loss = _logit_term(logit, label, pos_weight, fm.log1p_unit(e))
        infinite += loss == np.inf
        losses[i] = loss
    return bad, infinite


@njit(**_INLINE_JIT)
def _weigh_block(weights, length, losses, weight_buffer):
    """Multiply the losses by the weights and copy the weights; return ``(n_bad, n_infinite)``.

    The infinite count replaces the unweighted one, because a weight of 0 clears an
    infinite loss.
    """
    bad = 0
    infinite = 0
    for i in range(length):
        w = np.float64(weights[i])
        bad += _is_bad_weight(w)
        weight_buffer[i] = w
        loss = _weighted(losses[i], w)
        infinite += loss == np.inf
        losses[i] = loss
    return bad, infinite


@njit(**_INLINE_JIT)
def _weigh_and_count(b, weights, length, has_weights, losses, weight_buffer, bad, infinite, block_counts):
    """Weigh one block's losses if there are weights and store its counts in ``block_counts``."""
    if has_weights:
        weight_bad, infinite = _weigh_block(weights, length, losses, weight_buffer)
        bad += weight_bad
    block_counts[b, 0] = bad
    block_counts[b, 1] = infinite


@njit(**_INLINE_JIT)
def _clear_tail(buffer, length):
    for i in range(length, BLOCK):
        buffer[i] = 0.0


@njit(**_INLINE_JIT)
def _store_loss_block(b, length, losses, weight_buffer, has_weights, block_sums):
    """Store the pairwise sums of one block's weighted losses and weights."""
    _clear_tail(losses, length)
    block_sums[b, 0] = _buffer_sum(losses)
    if has_weights:
        _clear_tail(weight_buffer, length)
        block_sums[b, 1] = _buffer_sum(weight_buffer)
    else:
        block_sums[b, 1] = length


@njit(**_JIT)
def _loss_totals(block_sums, block_counts):
    """Return ``(sum_wl, sum_w, n_bad, n_infinite)`` from the per-block figures."""
    totals = _compensated_total(block_sums)
    counts = block_counts.sum(axis=0)
    return totals[0], totals[1], counts[0], counts[1]


# ---------------------------------------------------------------------------------------
# Loss: "none", "sum" and "mean"


@njit(**_PARALLEL_JIT)
def probability_loss(p, y, weights, pos_weight, clip):
    """Return ``(sum_wl, sum_w, n_bad, n_infinite)`` for a batch of probabilities.

    An empty ``weights`` means all 1, ``pos_weight`` is a float (1.0 gives exactly the loss
    without it), and ``clip`` is 0.0 for no clipping. Empty arrays rather than None keep
    the number of compiled specializations, each several seconds of compilation, small.
    """
    n = p.size
    has_weights = weights.size > 0
    n_blocks = (n + BLOCK - 1) // BLOCK
    block_sums = np.zeros((n_blocks, 2))
    block_counts = np.zeros((n_blocks, 2), dtype=np.int64)
    for b in prange(n_blocks):
        fm.prefer_wide_vectors()
        losses = np.empty(BLOCK)
        weight_buffer = np.empty(BLOCK)
        start, stop = _block_bounds(b, n)
        length = stop - start
        # Indexing block slices from 0 lets LLVM drop numba's negative-index wraparound
        # and vectorize; indexing the whole array at start + i ran twice as slow.
        p_block = p[start:stop]
        y_block = y[start:stop]
        weights_block = weights[start:stop]
        bad, infinite = _probability_block(p_block, y_block, length, pos_weight, clip, losses)
        _weigh_and_count(b, weights_block, length, has_weights, losses, weight_buffer, bad, infinite, block_counts)
        _store_loss_block(b, length, losses, weight_buffer, has_weights, block_sums)
    return _loss_totals(block_sums, block_counts)


@njit(**_PARALLEL_JIT)
def probability_loss_into(p, y, weights, pos_weight, clip, out):
    """Write the loss of each probability to ``out``; return the sums as :func:`probability_loss`.

    A separate kernel, because a conditional store to ``out`` in :func:`probability_loss`
    made its loops about twice as slow even when the store never ran (numba 0.68).
    """
    n = p.size
    has_weights = weights.size > 0
    n_blocks = (n + BLOCK - 1) // BLOCK
    block_sums = np.zeros((n_blocks, 2))
    block_counts = np.zeros((n_blocks, 2), dtype=np.int64)
    for b in prange(n_blocks):
        fm.prefer_wide_vectors()
        losses = np.empty(BLOCK)
        weight_buffer = np.empty(BLOCK)
        start, stop = _block_bounds(b, n)
        length = stop - start
        # Indexing block slices from 0 lets LLVM drop numba's negative-index wraparound
        # and vectorize; indexing the whole array at start + i ran twice as slow.
        p_block = p[start:stop]
        y_block = y[start:stop]
        weights_block = weights[start:stop]
        out_block = out[start:stop]
        bad, infinite = _probability_block(p_block, y_block, length, pos_weight, clip, losses)
        _weigh_and_count(b, weights_block, length, has_weights, losses, weight_buffer, bad, infinite, block_counts)
        for i in range(length):
            out_block[i] = losses[i]
        _store_loss_block(b, length, losses, weight_buffer, has_weights, block_sums)
    return _loss_totals(block_sums, block_counts)


@njit(**_PARALLEL_JIT)
def logit_loss(z, y, weights, pos_weight):
    """Return ``(sum_wl, sum_w, n_bad, n_infinite)`` for a batch of logits, as
    :func:`probability_loss` without ``clip``."""
    n = z.size
    has_weights = weights.size > 0
    n_blocks = (n + BLOCK - 1) // BLOCK
    block_sums = np.zeros((n_blocks, 2))
    block_counts = np.zeros((n_blocks, 2), dtype=np.int64)
    for b in prange(n_blocks):
        fm.prefer_wide_vectors()
        losses = np.empty(BLOCK)
        exps = np.empty(BLOCK)
        weight_buffer = np.empty(BLOCK)
        start, stop = _block_bounds(b, n)
        length = stop - start
        # Indexing block slices from 0 lets LLVM drop numba's negative-index wraparound
        # and vectorize; indexing the whole array at start + i ran twice as slow.
        z_block = z[start:stop]
        y_block = y[start:stop]
        weights_block = weights[start:stop]
        bad, infinite = _logit_block(z_block, y_block, length, pos_weight, losses, exps)
        _weigh_and_count(b, weights_block, length, has_weights, losses, weight_buffer, bad, infinite, block_counts)
        _store_loss_block(b, length, losses, weight_buffer, has_weights, block_sums)
    return _loss_totals(block_sums, block_counts)


@njit(**_PARALLEL_JIT)
def logit_loss_into(z, y, weights, pos_weight, out):
    """Write the loss of each logit to ``out``; return the sums as :func:`logit_loss`."""
    n = z.size
    has_weights = weights.size > 0
    n_blocks = (n + BLOCK - 1) // BLOCK
    block_sums = np.zeros((n_blocks, 2))
    block_counts = np.zeros((n_blocks, 2), dtype=np.int64)
    for b in prange(n_blocks):
        fm.prefer_wide_vectors()
        losses = np.empty(BLOCK)
        exps = np.empty(BLOCK)
        weight_buffer = np.empty(BLOCK)
        start, stop = _block_bounds(b, n)
        length = stop - start
        # Indexing block slices from 0 lets LLVM drop numba's negative-index wraparound
        # and vectorize; indexing the whole array at start + i ran twice as slow.
        z_block = z[start:stop]
        y_block = y[start:stop]
        weights_block = weights[start:stop]
        out_block = out[start:stop]
        bad, infinite = _logit_block(z_block, y_block, length, pos_weight, losses, exps)
        _weigh_and_count(b, weights_block, length, has_weights, losses, weight_buffer, bad, infinite, block_counts)
        for i in range(length):
            out_block[i] = losses[i]
        _store_loss_block(b, length, losses, weight_buffer, has_weights, block_sums)
    return _loss_totals(block_sums, block_counts)


# ---------------------------------------------------------------------------------------
# Loss and gradient together


@njit(**_PARALLEL_JIT)
def logit_loss_gradient(z, y, weights, pos_weight, scale, gradient):
    """Compute the loss sums of logits and write ``scale * d(w * loss)/dz`` to ``gradient``.

    The derivative of ``w * (pw * y * softplus(-z) + (1 - y) * softplus(z))`` is
    ``w * ((1 - y) * sigmoid(z) - pw * y * sigmoid(-z))``, with both sigmoids taken from the
    same ``e = exp(-|z|)`` as the loss: ``sigmoid(|z|) = 1 / (1 + e)`` and
    ``sigmoid(-|z|) = e / (1 + e)``, so no term overflows or cancels. Returns
    ``(sum_wl, sum_w, n_bad, n_infinite)``.
    """
    n = z.size
    has_weights = weights.size > 0
    n_blocks = (n + BLOCK - 1) // BLOCK
    block_sums = np.zeros((n_blocks, 2))
    block_counts = np.zeros((n_blocks, 2), dtype=np.int64)
    for b in prange(n_blocks):
        fm.prefer_wide_vectors()
        losses = np.empty(BLOCK)
        exps = np.empty(BLOCK)
        weight_buffer = np.empty(BLOCK)
        start, stop = _block_bounds(b, n)
        length = stop - start
        # Indexing block slices from 0 lets LLVM drop numba's negative-index wraparound
        # and vectorize; indexing the whole array at start + i ran twice as slow.
        z_block = z[start:stop]
        y_block = y[start:stop]
        weights_block = weights[start:stop]
        gradient_block = gradient[start:stop]
        bad, infinite = _logit_block(z_block, y_block, length, pos_weight, losses, exps)
        _weigh_and_count(b, weights_block, length, has_weights, losses, weight_buffer, bad, infinite, block_counts)
        for i in range(length):
            logit = np.float64(z_block[i])
            label = np.float64(y_block[i])
            e = exps[i]
            big = 1.0 / (1.0 + e)
            small = e * big
            sigmoid = big if logit >= 0.0 else small
            complement = small if logit >= 0.0 else big
            slope = (1.0 - label) * sigmoid - (label * complement) * pos_weight
            w = weight_buffer[i] if has_weights else 1.0
            gradient_block[i] = (slope * w) * scale
        _store_loss_block(b, length, losses, weight_buffer, has_weights, block_sums)
    return _loss_totals(block_sums, block_counts)


@njit(**_PARALLEL_JIT)
def probability_loss_gradient(p, y, weights, pos_weight, scale, gradient):
    """Compute the loss sums of probabilities and write ``scale * d(w * loss)/dp``.

    The derivative is ``w * ((1 - y) / (1 - p) - pw * y / p)``, with each term 0 where its
    coefficient is 0 (xlogy semantics); it is infinite where the loss is. Returns
    ``(sum_wl, sum_w, n_bad, n_infinite)``.
    """
    n = p.size
    has_weights = weights.size > 0
    n_blocks = (n + BLOCK - 1) // BLOCK
    block_sums = np.zeros((n_blocks, 2))
    block_counts = np.zeros((n_blocks, 2), dtype=np.int64)
    for b in prange(n_blocks):
        fm.prefer_wide_vectors()
        losses = np.empty(BLOCK)
        weight_buffer = np.empty(BLOCK)
        start, stop = _block_bounds(b, n)
        length = stop - start
        # Indexing block slices from 0 lets LLVM drop numba's negative-index wraparound
        # and vectorize; indexing the whole array at start + i ran twice as slow.
        p_block = p[start:stop]
        y_block = y[start:stop]
        weights_block = weights[start:stop]
        gradient_block = gradient[start:stop]
        bad, infinite = _probability_block(p_block, y_block, length, pos_weight, 0.0, losses)
        _weigh_and_count(b, weights_block, length, has_weights, losses, weight_buffer, bad, infinite, block_counts)
        for i in range(length):
            probability = np.float64(p_block[i])
            label = np.float64(y_block[i])
            positive_slope = label / probability
            positive_slope = 0.0 if label == 0.0 else positive_slope
            positive_slope = 0.0 if pos_weight == 0.0 else positive_slope * pos_weight
            negative_slope = (1.0 - label) / (1.0 - probability)
            negative_slope = 0.0 if label == 1.0 else negative_slope
            w = weight_buffer[i] if has_weights else 1.0
            gradient_block[i] = _weighted(negative_slope - positive_slope, w) * scale
        _store_loss_block(b, length, losses, weight_buffer, has_weights, block_sums)
    return _loss_totals(block_sums, block_counts)


# ---------------------------------------------------------------------------------------
# Evaluation state: the 14 sums of _state.SUM_FIELDS

_N_SUMS = 14


# Without weights (w = 1) the 14 sums reduce to the row count and 8 distinct sums, in this
# order: y, p, l, l**2, y**2, p**2, l*y, p*y. _FIELD_SOURCE maps each field of SUM_FIELDS to
# its distinct sum, 0 being the row count. Multiplying by w = 1 is exact, so the weighted
# kernel with all weights 1 returns the same bits.
_N_DISTINCT = 8
_FIELD_SOURCE = (0, 0, 1, 2, 3, 4, 3, 4, 1, 5, 2, 6, 7, 8)


@njit(**_INLINE_JIT)
def _state_block(length, probabilities, labels, losses, weight_buffer, has_weights, buffers, block_sums, b):
    """Store the block sums of the 14 fields of ``SUM_FIELDS``; return the number of
    infinite losses.

    ``labels`` may have any dtype of the kernels' labels. ``weight_buffer`` is read only if
    ``has_weights``.
    """
    if not has_weights:
        return _unweighted_state_block(length, probabilities, labels, losses, buffers, block_sums, b)
    infinite = _state_terms(length, probabilities, labels, losses, weight_buffer, buffers)
    for j in range(_N_SUMS):
        _clear_tail(buffers[j], length)
        block_sums[b, j] = _buffer_sum(buffers[j])
    return infinite


@njit(**_INLINE_JIT)
def _unweighted_terms(length, probabilities, labels, losses, buffers):
    """Store the 8 distinct per-row terms of unweighted rows in ``buffers[:8]``; return the
    number of infinite losses."""
    infinite = 0
    for i in range(length):
        p = probabilities[i]
        y = np.float64(labels[i])
        loss = losses[i]
        infinite += loss == np.inf
        buffers[0, i] = y
        buffers[1, i] = p
        buffers[2, i] = loss
        buffers[3, i] = loss * loss
        buffers[4, i] = y * y
        buffers[5, i] = p * p
        buffers[6, i] = loss * y
        buffers[7, i] = p * y
    return infinite


@njit(**_INLINE_JIT)
def _unweighted_state_block(length, probabilities, labels, losses, buffers, block_sums, b):
    """Store the block sums of the 14 fields for unweighted rows; return the number of
    infinite losses.

    Each chunk's terms go straight into its lane accumulators, in the order of
    ``_unweighted_terms`` and ``_buffer_sum``. The sums therefore keep their bits.
    ``buffers[j]`` holds only the 32 chunk sums of term j.
    """
    infinite = 0
    for i in range(length):
        infinite += losses[i] == np.inf
    for c in range(BLOCK // _CHUNK):
        start = c * _CHUNK
        buffers[0, c] = _chunk_value_sum(labels, start, length)
        buffers[1, c] = _chunk_value_sum(probabilities, start, length)
        buffers[2, c] = _chunk_value_sum(losses, start, length)
        buffers[3, c] = _chunk_product_sum(losses, losses, start, length)
        buffers[4, c] = _chunk_product_sum(labels, labels, start, length)
        buffers[5, c] = _chunk_product_sum(probabilities, probabilities, start, length)
        buffers[6, c] = _chunk_product_sum(losses, labels, start, length)
        buffers[7, c] = _chunk_product_sum(probabilities, labels, start, length)
    row = block_sums[b]
    row[0] = length
    row[1] = length
    row[2] = _tree_sum(buffers[0])
    row[3] = _tree_sum(buffers[1])
    row[4] = _tree_sum(buffers[2])
    row[5] = _tree_sum(buffers[3])
    row[6] = row[4]
    row[7] = row[5]
    row[8] = row[2]
    row[9] = _tree_sum(buffers[4])
    row[10] = row[3]
    row[11] = _tree_sum(buffers[5])
    row[12] = _tree_sum(buffers[6])
    row[13] = _tree_sum(buffers[7])
    return infinite


@njit(**_INLINE_JIT)
def _state_terms(length, probabilities, labels, losses, weight_buffer, buffers):
    """Store the 14 per-row terms of ``SUM_FIELDS`` in ``buffers``; return the number of
    infinite losses. A row of weight 0 adds nothing, even if its loss is infinite."""
    infinite = 0
    for i in range(length):
        w = weight_buffer[i]
        p = probabilities[i]
        y = np.float64(labels[i])
        loss = 0.0 if w == 0.0 else losses[i]
        infinite += loss == np.inf
        w2 = w * w
        wl = w * loss
        w2l = w2 * loss
        buffers[0, i] = w
        buffers[1, i] = w2
        buffers[2, i] = w * y
        buffers[3, i] = w * p
        buffers[4, i] = wl
        buffers[5, i] = wl * loss
        buffers[6, i] = w2l
        buffers[7, i] = w2l * loss
        buffers[8, i] = w2 * y
        buffers[9, i] = w2 * (y * y)
        buffers[10, i] = w2 * p
        buffers[11, i] = w2 * (p * p)
        # w2l overflows to inf for huge weighted losses, and inf * 0 would be NaN. The exact
        # term of a label 0 is 0, as in _state._w2ly_sum.
        buffers[12, i] = 0.0 if y == 0.0 else w2l * y
        buffers[13, i] = (w2 * p) * y
    return infinite


@njit(**_INLINE_JIT)
def _copy_weights(weights, length, has_weights, weight_buffer):
    """Copy one block of weights to ``weight_buffer`` if ``has_weights``; return the invalid count.

    A weight is invalid for the state also when it is positive but outside
    ``_state.WEIGHT_RANGE``, [1e-120, 1e120].
    """
    bad = 0
    if has_weights:
        for i in range(length):
            w = np.float64(weights[i])
            bad += _is_bad_weight(w) | ((w != 0.0) & ((w < 1e-120) | (w > 1e120)))
            weight_buffer[i] = w
    return bad


@njit(**_INLINE_JIT)
def _copy_block(values, length, buffer):
    for i in range(length):
        buffer[i] = np.float64(values[i])


@njit(**_PARALLEL_JIT)
def state_sums_from_arrays(p, y, loss, weights):
    """Return ``(sums, n_infinite)`` as ``_state.compute_sums`` from precomputed float64
    losses; an empty ``weights`` means all 1."""
    n = p.size
    has_weights = weights.size > 0
    n_blocks = (n + BLOCK - 1) // BLOCK
    block_sums = np.zeros((n_blocks, _N_SUMS))
    block_infinite = np.zeros(n_blocks, dtype=np.int64)
    for b in prange(n_blocks):
        fm.prefer_wide_vectors()
        buffers = np.empty((_N_SUMS, BLOCK))
        columns = np.empty((4, BLOCK))
        start, stop = _block_bounds(b, n)
        length = stop - start
        # Indexing block slices from 0 lets LLVM drop numba's negative-index wraparound
        # and vectorize; indexing the whole array at start + i ran twice as slow.
        p_block = p[start:stop]
        y_block = y[start:stop]
        loss_block = loss[start:stop]
        weights_block = weights[start:stop]
        _copy_block(p_block, length, columns[0])
        _copy_block(loss_block, length, columns[2])
        _copy_weights(weights_block, length, has_weights, columns[3])
        block_infinite[b] = _state_block(length, columns[0], y_block, columns[2], columns[3], has_weights, buffers, block_sums, b)
    return _compensated_total(block_sums), block_infinite.sum()


@njit(**_PARALLEL_JIT)
def probability_state_sums(p, y, weights, clip):
    """Return ``(sums, n_bad, n_infinite, n_clipped)`` for a batch of probabilities.

    ``sums`` are the 14 sums of ``SUM_FIELDS`` in one pass, the loss computed inline; the
    summed probability is the clipped one, as in ``LogLossState.update``. ``clip`` is 0.0
    for no clipping.
    """
    n = p.size
    has_weights = weights.size > 0
    n_blocks = (n + BLOCK - 1) // BLOCK
    block_sums = np.zeros((n_blocks, _N_SUMS))
    block_counts = np.zeros((n_blocks, 3), dtype=np.int64)
    for b in prange(n_blocks):
        fm.prefer_wide_vectors()
        buffers = np.empty((_N_SUMS, BLOCK))
        columns = np.empty((4, BLOCK))
        start, stop = _block_bounds(b, n)
        length = stop - start
        # Indexing block slices from 0 lets LLVM drop numba's negative-index wraparound
        # and vectorize; indexing the whole array at start + i ran twice as slow.
        p_block = p[start:stop]
        y_block = y[start:stop]
        weights_block = weights[start:stop]
        bad = _probability_block(p_block, y_block, length, 1.0, clip, columns[2])[0]
        clipped = 0
        for i in range(length):
            probability = np.float64(p_block[i])
            clipped += (probability < clip) | (probability > 1.0 - clip)
            columns[0, i] = min(max(probability, clip), 1.0 - clip)
        bad += _copy_weights(weights_block, length, has_weights, columns[3])
        infinite = _state_block(length, columns[0], y_block, columns[2], columns[3], has_weights, buffers, block_sums, b)
        block_counts[b, 0] = bad
        block_counts[b, 1] = infinite
        block_counts[b, 2] = clipped
    counts = block_counts.sum(axis=0)
    return _compensated_total(block_sums), counts[0], counts[1], counts[2]


@njit(**_PARALLEL_JIT)
def logit_state_sums(z, y, weights):
    """Return ``(sums, n_bad, n_infinite)`` for a batch of logits, with ``p = sigmoid(z)``."""
    n = z.size
    has_weights = weights.size > 0
    n_blocks = (n + BLOCK - 1) // BLOCK
    block_sums = np.zeros((n_blocks, _N_SUMS))
    block_counts = np.zeros((n_blocks, 2), dtype=np.int64)
    for b in prange(n_blocks):
        fm.prefer_wide_vectors()
        buffers = np.empty((_N_SUMS, BLOCK))
        columns = np.empty((5, BLOCK))
        start, stop = _block_bounds(b, n)
        length = stop - start
        # Indexing block slices from 0 lets LLVM drop numba's negative-index wraparound
        # and vectorize; indexing the whole array at start + i ran twice as slow.
        z_block = z[start:stop]
        y_block = y[start:stop]
        weights_block = weights[start:stop]
        bad = _logit_block(z_block, y_block, length, 1.0, columns[2], columns[4])[0]
        for i in range(length):
            e = columns[4, i]
            big = 1.0 / (1.0 + e)
            columns[0, i] = big if z_block[i] >= 0.0 else e * big
        bad += _copy_weights(weights_block, length, has_weights, columns[3])
        infinite = _state_block(length, columns[0], y_block, columns[2], columns[3], has_weights, buffers, block_sums, b)
        block_counts[b, 0] = bad
        block_counts[b, 1] = infinite
    counts = block_counts.sum(axis=0)
    return _compensated_total(block_sums), counts[0], counts[1]


@njit(**_INLINE_JIT)
def _neumaier_add(high, low, value):
    """Return ``(high, low)`` after adding ``value`` to the compensated pair (Neumaier)."""
    total = high + value
    if abs(high) >= abs(value):
        low += (high - total) + value
    else:
        low += (value - total) + high
    return total, low


# Rows of one group that grouped_state_sums adds in plain float64 before it adds their sum
# with compensation: short enough that the plain error stays far below 1 ulp of the total,
# long enough that the compensation costs little per row.
_RUN = 16


@njit(**_INLINE_JIT)
def _flush_group(group, run_sums, high, low):
    """Add one group's run sums to its compensated sums and clear them."""
    for j in range(run_sums.shape[1]):
        high[group, j], low[group, j] = _neumaier_add(high[group, j], low[group, j], run_sums[group, j])
        run_sums[group, j] = 0.0


@njit(**_PARALLEL_JIT)
def grouped_state_sums(x, y, weights, codes, n_groups, logits, max_tasks):
    """Return ``(sums, n_bad, n_infinite)`` with the 14 sums of each group of rows.

    ``codes`` gives each row's group in ``range(n_groups)``; ``sums`` has shape
    ``(n_groups, 14)``. ``x`` contains probabilities, or logits when ``logits`` is true.
    At most ``max_tasks`` tasks share the blocks, each with three ``(n_groups, 14)`` arrays
    of sums; the result does not depend on the number of threads. Each task adds a group's
    terms in runs of 16 rows of that group and adds each run's sums to the group's sums
    with Neumaier compensation. The tasks' compensated sums are added the same way at the
    end, so a group's sums stay within about 1 ulp however many rows it has.
    """
    n = x.size
    has_weights = weights.size > 0
    n_blocks = (n + BLOCK - 1) // BLOCK
    n_tasks = max(min(n_blocks, max_tasks), 1)
    per_task = (n_blocks + n_tasks - 1) // n_tasks
    # Without weights each task adds the row count and the 8 distinct sums only.
    n_accumulated = _N_SUMS if has_weights else _N_DISTINCT + 1
    partial_high = np.zeros((n_tasks, n_groups, n_accumulated))
    partial_low = np.zeros((n_tasks, n_groups, n_accumulated))
    task_counts = np.zeros((n_tasks, 2), dtype=np.int64)
    for task in prange(n_tasks):
        fm.prefer_wide_vectors()
        buffers = np.empty((_N_SUMS, BLOCK))
        columns = np.empty((5, BLOCK))
        high = partial_high[task]
        low = partial_low[task]
        run_sums = np.zeros((n_groups, n_accumulated))
        run_rows = np.zeros(n_groups, dtype=np.int64)
        for b in range(task * per_task, min((task + 1) * per_task, n_blocks)):
            start, stop = _block_bounds(b, n)
            length = stop - start
            x_block = x[start:stop]
            y_block = y[start:stop]
            weights_block = weights[start:stop]
            code_block = codes[start:stop]
            if logits:
                bad = _logit_block(x_block, y_block, length, 1.0, columns[2], columns[4])[0]
                for i in range(length):
                    e = columns[4, i]
                    big = 1.0 / (1.0 + e)
                    columns[0, i] = big if x_block[i] >= 0.0 else e * big
            else:
                bad = _probability_block(x_block, y_block, length, 1.0, 0.0, columns[2])[0]
                _copy_block(x_block, length, columns[0])
            bad += _copy_weights(weights_block, length, has_weights, columns[3])
            if has_weights:
                infinite = _state_terms(length, columns[0], y_block, columns[2], columns[3], buffers)
            else:
                infinite = _unweighted_terms(length, columns[0], y_block, columns[2], buffers)
            for i in range(length):
                group = code_block[i]
                bad += (group < 0) | (group >= n_groups)
                group = min(max(group, 0), n_groups - 1)
                if has_weights:
                    for j in range(_N_SUMS):
                        run_sums[group, j] += buffers[j, i]
                else:
                    run_sums[group, 0] += 1.0
                    for j in range(_N_DISTINCT):
                        run_sums[group, j + 1] += buffers[j, i]
                run_rows[group] += 1
                if run_rows[group] == _RUN:
                    _flush_group(group, run_sums, high, low)
                    run_rows[group] = 0
            task_counts[task, 0] += bad
            task_counts[task, 1] += infinite
        for group in range(n_groups):
            if run_rows[group] != 0:
                _flush_group(group, run_sums, high, low)
    totals = _combine_task_sums(partial_high, partial_low)
    if has_weights:
        sums = totals
    else:
        sums = np.empty((n_groups, _N_SUMS))
        for j in range(_N_SUMS):
            sums[:, j] = totals[:, _FIELD_SOURCE[j]]
    counts = task_counts.sum(axis=0)
    return sums, counts[0], counts[1]


@njit(**_JIT)
def _combine_task_sums(partial_high, partial_low):
    """Return the compensated sums over tasks of the pairs ``(partial_high, partial_low)``."""
    n_tasks, n_groups, n_fields = partial_high.shape
    totals = np.empty((n_groups, n_fields))
    for group in range(n_groups):
        for j in range(n_fields):
            high = 0.0
            low = 0.0
            for task in range(n_tasks):
                high, low = _neumaier_add(high, low, partial_high[task, group, j])
                low += partial_low[task, group, j]
            # An infinite sum makes the compensation meaningless (inf - inf is NaN).
            totals[group, j] = high + low if np.isfinite(high) else high
    return totals
