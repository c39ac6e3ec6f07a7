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
    "logit_loss",
    "logit_loss_gradient",
    "logit_state_sums",
    "probability_loss",
    "probability_loss_gradient",
    "probability_state_sums",
    "state_sums_from_arrays",
]

BLOCK = 4096
_CHUNK = 128
_JIT = {"cache": True, "error_model": "numpy", "nogil": True}
_PARALLEL_JIT = {**_JIT, "parallel": True}
_INLINE_JIT = {**_JIT, "inline": "always"}


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
    """Return the pairwise sum of a ``BLOCK``-long buffer (32 chunks, then a binary tree)."""
    chunks = np.empty(BLOCK // _CHUNK)
    for c in range(BLOCK // _CHUNK):
        chunks[c] = _chunk_sum(buffer, c * _CHUNK)
    width = BLOCK // _CHUNK
    while width > 1:
        width //= 2
        for c in range(width):
            chunks[c] = chunks[2 * c] + chunks[2 * c + 1]
    return chunks[0]


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
    return -(positive + negative)


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


@njit(**_JIT)
def _loss_totals(block_sums, block_counts, has_weights, n):
    """Return ``(sum_wl, sum_w, n_bad, n_infinite)`` from the per-block figures."""
    totals = _compensated_total(block_sums)
    sum_w = totals[1] if has_weights else np.float64(n)
    counts = block_counts.sum(axis=0)
    return totals[0], sum_w, counts[0], counts[1]


# ---------------------------------------------------------------------------------------
# Loss: "none", "sum" and "mean"


@njit(**_PARALLEL_JIT)
def probability_loss(p, y, weights, pos_weight, clip, out):
    """Compute the loss of probabilities, optionally into ``out``, and its sums.

    Returns ``(sum_wl, sum_w, n_bad, n_infinite)``. An empty ``weights`` means all 1 and an
    empty ``out`` means no output. ``pos_weight`` is a float (1.0 gives exactly the loss
    without it), and ``clip`` is 0.0 for no clipping. Empty arrays rather than None keep
    the number of compiled specializations, each several seconds of compilation, small.
    """
    n = p.size
    has_weights = weights.size > 0
    has_out = out.size > 0
    n_blocks = (n + BLOCK - 1) // BLOCK
    block_sums = np.zeros((n_blocks, 2))
    block_counts = np.zeros((n_blocks, 2), dtype=np.int64)
    for b in prange(n_blocks):
        start, stop = _block_bounds(b, n)
        length = stop - start
        losses = np.empty(BLOCK)
        weight_buffer = np.empty(BLOCK)
        bad = 0
        infinite = 0
        for i in range(length):
            probability = np.float64(p[start + i])
            label = np.float64(y[start + i])
            bad += _is_bad_label(probability) | _is_bad_label(label)
            probability = min(max(probability, clip), 1.0 - clip)
            loss = _probability_term(probability, label, pos_weight)
            if has_weights:
                w = np.float64(weights[start + i])
                bad += _is_bad_weight(w)
                loss = _weighted(loss, w)
                weight_buffer[i] = w
            infinite += loss == np.inf
            losses[i] = loss
            if has_out:
                out[start + i] = loss
        _store_loss_block(b, length, losses, weight_buffer, has_weights, block_sums)
        block_counts[b, 0] = bad
        block_counts[b, 1] = infinite
    return _loss_totals(block_sums, block_counts, has_weights, n)


@njit(**_PARALLEL_JIT)
def logit_loss(z, y, weights, pos_weight, out):
    """Compute the loss of logits, optionally into ``out``, and its sums.

    Returns ``(sum_wl, sum_w, n_bad, n_infinite)``; the arguments are as in
    :func:`probability_loss`, without ``clip``.
    """
    n = z.size
    has_weights = weights.size > 0
    has_out = out.size > 0
    n_blocks = (n + BLOCK - 1) // BLOCK
    block_sums = np.zeros((n_blocks, 2))
    block_counts = np.zeros((n_blocks, 2), dtype=np.int64)
    for b in prange(n_blocks):
        start, stop = _block_bounds(b, n)
        length = stop - start
        losses = np.empty(BLOCK)
        weight_buffer = np.empty(BLOCK)
        bad = 0
        infinite = 0
        for i in range(length):
            logit = np.float64(z[start + i])
            label = np.float64(y[start + i])
            bad += (logit != logit) | _is_bad_label(label)
            tail = fm.log1p(fm.exp(-abs(logit)))
            loss = _logit_term(logit, label, pos_weight, tail)
            if has_weights:
                w = np.float64(weights[start + i])
                bad += _is_bad_weight(w)
                loss = _weighted(loss, w)
                weight_buffer[i] = w
            infinite += loss == np.inf
            losses[i] = loss
            if has_out:
                out[start + i] = loss
        _store_loss_block(b, length, losses, weight_buffer, has_weights, block_sums)
        block_counts[b, 0] = bad
        block_counts[b, 1] = infinite
    return _loss_totals(block_sums, block_counts, has_weights, n)


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
        start, stop = _block_bounds(b, n)
        length = stop - start
        losses = np.empty(BLOCK)
        weight_buffer = np.empty(BLOCK)
        bad = 0
        infinite = 0
        for i in range(length):
            logit = np.float64(z[start + i])
            label = np.float64(y[start + i])
            bad += (logit != logit) | _is_bad_label(label)
            e = fm.exp(-abs(logit))
            tail = fm.log1p(e)
            loss = _logit_term(logit, label, pos_weight, tail)
            big = 1.0 / (1.0 + e)
            small = e * big
            sigmoid = big if logit >= 0.0 else small
            complement = small if logit >= 0.0 else big
            positive_slope = label * complement
            positive_slope = positive_slope * pos_weight
            slope = (1.0 - label) * sigmoid - positive_slope
            if has_weights:
                w = np.float64(weights[start + i])
                bad += _is_bad_weight(w)
                loss = _weighted(loss, w)
                slope = slope * w
                weight_buffer[i] = w
            infinite += loss == np.inf
            losses[i] = loss
            gradient[start + i] = slope * scale
        _store_loss_block(b, length, losses, weight_buffer, has_weights, block_sums)
        block_counts[b, 0] = bad
        block_counts[b, 1] = infinite
    return _loss_totals(block_sums, block_counts, has_weights, n)


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
        start, stop = _block_bounds(b, n)
        length = stop - start
        losses = np.empty(BLOCK)
        weight_buffer = np.empty(BLOCK)
        bad = 0
        infinite = 0
        for i in range(length):
            probability = np.float64(p[start + i])
            label = np.float64(y[start + i])
            bad += _is_bad_label(probability) | _is_bad_label(label)
            loss = _probability_term(probability, label, pos_weight)
            positive_slope = label / probability
            positive_slope = 0.0 if label == 0.0 else positive_slope
            positive_slope = 0.0 if pos_weight == 0.0 else positive_slope * pos_weight
            negative_slope = (1.0 - label) / (1.0 - probability)
            negative_slope = 0.0 if label == 1.0 else negative_slope
            slope = negative_slope - positive_slope
            if has_weights:
                w = np.float64(weights[start + i])
                bad += _is_bad_weight(w)
                loss = _weighted(loss, w)
                slope = _weighted(slope, w)
                weight_buffer[i] = w
            infinite += loss == np.inf
            losses[i] = loss
            gradient[start + i] = slope * scale
        _store_loss_block(b, length, losses, weight_buffer, has_weights, block_sums)
        block_counts[b, 0] = bad
        block_counts[b, 1] = infinite
    return _loss_totals(block_sums, block_counts, has_weights, n)


# ---------------------------------------------------------------------------------------
# Evaluation state: the 14 sums of _state.SUM_FIELDS

_N_SUMS = 14


@njit(**_INLINE_JIT)
def _store_state_terms(buffers, i, p, y, loss, w):
    """Store the 14 per-row terms of ``SUM_FIELDS`` at position ``i`` of ``buffers``."""
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
    buffers[12, i] = w2l * y
    buffers[13, i] = (w2 * p) * y


@njit(**_INLINE_JIT)
def _finish_state_block(buffers, length, block_sums, b):
    for j in range(_N_SUMS):
        for i in range(length, BLOCK):
            buffers[j, i] = 0.0
        block_sums[b, j] = _buffer_sum(buffers[j])


@njit(**_PARALLEL_JIT)
def state_sums_from_arrays(p, y, loss, weights):
    """Return the 14 sums of ``SUM_FIELDS`` from precomputed float64 losses, and
    ``(sums, n_infinite)`` as ``_state.compute_sums``; a zero weight zeroes its row."""
    n = p.size
    has_weights = weights.size > 0
    n_blocks = (n + BLOCK - 1) // BLOCK
    block_sums = np.zeros((n_blocks, _N_SUMS))
    block_infinite = np.zeros(n_blocks, dtype=np.int64)
    for b in prange(n_blocks):
        start, stop = _block_bounds(b, n)
        length = stop - start
        buffers = np.empty((_N_SUMS, BLOCK))
        infinite = 0
        for i in range(length):
            w = weights[start + i] if has_weights else 1.0
            row_loss = loss[start + i]
            row_loss = 0.0 if w == 0.0 else row_loss
            infinite += np.isinf(row_loss)
            _store_state_terms(buffers, i, p[start + i], y[start + i], row_loss, w)
        _finish_state_block(buffers, length, block_sums, b)
        block_infinite[b] = infinite
    return _compensated_total(block_sums), block_infinite.sum()


@njit(**_PARALLEL_JIT)
def probability_state_sums(p, y, weights, clip):
    """Return ``(sums, n_bad, n_infinite, n_clipped)`` for a batch of probabilities.

    ``sums`` are the 14 sums of ``SUM_FIELDS`` in one pass, the loss computed inline; the
    summed probability is the clipped one, as in ``LogLossState.update``.
    """
    n = p.size
    has_weights = weights.size > 0
    n_blocks = (n + BLOCK - 1) // BLOCK
    block_sums = np.zeros((n_blocks, _N_SUMS))
    block_counts = np.zeros((n_blocks, 3), dtype=np.int64)
    for b in prange(n_blocks):
        start, stop = _block_bounds(b, n)
        length = stop - start
        buffers = np.empty((_N_SUMS, BLOCK))
        bad = 0
        infinite = 0
        clipped = 0
        for i in range(length):
            probability = np.float64(p[start + i])
            label = np.float64(y[start + i])
            bad += _is_bad_label(probability) | _is_bad_label(label)
            clipped += (probability < clip) | (probability > 1.0 - clip)
            probability = min(max(probability, clip), 1.0 - clip)
            loss = _probability_term(probability, label, 1.0)
            w = 1.0
            if has_weights:
                w = np.float64(weights[start + i])
                bad += _is_bad_weight(w)
                loss = 0.0 if w == 0.0 else loss
            infinite += loss == np.inf
            _store_state_terms(buffers, i, probability, label, loss, w)
        _finish_state_block(buffers, length, block_sums, b)
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
        start, stop = _block_bounds(b, n)
        length = stop - start
        buffers = np.empty((_N_SUMS, BLOCK))
        bad = 0
        infinite = 0
        for i in range(length):
            logit = np.float64(z[start + i])
            label = np.float64(y[start + i])
            bad += (logit != logit) | _is_bad_label(label)
            e = fm.exp(-abs(logit))
            loss = _logit_term(logit, label, 1.0, fm.log1p(e))
            big = 1.0 / (1.0 + e)
            probability = big if logit >= 0.0 else e * big
            w = 1.0
            if has_weights:
                w = np.float64(weights[start + i])
                bad += _is_bad_weight(w)
                loss = 0.0 if w == 0.0 else loss
            infinite += loss == np.inf
            _store_state_terms(buffers, i, probability, label, loss, w)
        _finish_state_block(buffers, length, block_sums, b)
        block_counts[b, 0] = bad
        block_counts[b, 1] = infinite
    counts = block_counts.sum(axis=0)
    return _compensated_total(block_sums), counts[0], counts[1]
