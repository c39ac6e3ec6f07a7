"""Blocked NumPy loss sums: the fast path's engine until loading numba pays off.

The functions here return what the loss kernels of ``_fast_kernels`` return, computed with
the float64 formulas of ``_elementwise`` (``loss_from_probability_terms`` and
``loss_from_logit_terms``) on blocks of ``BLOCK`` elements, so memory stays a few blocks'
worth whatever the input size. Each block is summed pairwise by ``np.sum`` and the block
sums are added exactly by ``math.fsum``. Float32 input is computed in float64, as in the
kernels. ``np.log``, ``np.log1p`` and ``np.exp`` keep each loss within a few ulps of the
long-double reference path.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from ._elementwise import loss_from_logit_terms, loss_from_probability_terms, multiply_weights
from ._state import WEIGHT_RANGE, compensated_add

__all__ = ["BLOCK", "logit_loss", "probability_loss"]

# 65536 float64 values are 512 KiB, so the few temporaries of one block stay in a 2 MiB L2.
BLOCK = 1 << 16


def _count_bad_unit(values) -> int:
    """Return how many values are NaN or outside [0, 1]."""
    return values.size - int(np.count_nonzero((values >= 0.0) & (values <= 1.0)))


def _loss_sums(formula, check_x, x, y, weights, pos_weight, out):
    """Run ``formula(x, y, pos_weight)`` on each block; return ``(sum_wl, sum_w, n_bad, n_infinite)``.

    ``check_x(block)`` counts the invalid predictions of a block. An empty ``weights``
    means all 1, and ``out``, unless None, receives each weighted loss in its own dtype.
    """
    has_weights = weights.size > 0
    pos_weight_value = None if pos_weight == 1.0 else pos_weight
    loss_sums = []
    weight_sums = []
    n_bad = 0
    n_infinite = 0
    for start in range(0, x.size, BLOCK):
        stop = min(start + BLOCK, x.size)
        x_block = x[start:stop].astype(np.float64, copy=False)
        y_block = y[start:stop].astype(np.float64, copy=False)
        n_bad += check_x(x_block) + _count_bad_unit(y_block)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            losses = formula(x_block, y_block, pos_weight_value)
        # Weights near the float64 limits can overflow a product or a sum. The totals then
        # come back inf, and ``_fast`` hands the call to the reference path, which scales them.
        with np.errstate(over="ignore"):
            if has_weights:
                w_block = weights[start:stop].astype(np.float64, copy=False)
                n_bad += w_block.size - int(np.count_nonzero((w_block >= 0.0) & (w_block < np.inf)))
                losses = multiply_weights(losses, w_block)
                weight_sums.append(float(np.sum(w_block)))
            n_infinite += int(np.count_nonzero(losses == np.inf))
            loss_sums.append(float(np.sum(losses)))
            if out is not None:
                # A float32 output rounds losses beyond its range to inf. Adding +0.0 turns
                # the -0.0 of a certain, correct prediction into +0.0, as the reference path does.
                np.add(losses, 0.0, out=out[start:stop])
    sum_w = _total(weight_sums) if has_weights else float(x.size)
    return _total(loss_sums) if n_infinite == 0 else math.inf, sum_w, n_bad, n_infinite


def _total(values) -> float:
    """Return the exact sum of finite ``values``, or inf when it leaves the float64 range."""
    if not all(math.isfinite(value) for value in values):
        return math.inf
    try:
        return math.fsum(values)
    except OverflowError:
        return math.inf


def _count_nan(block) -> int:
    return int(np.count_nonzero(np.isnan(block)))


def probability_loss(p, y, weights, pos_weight, out=None):
    """Return ``(sum_wl, sum_w, n_bad, n_infinite)`` as ``_fast_kernels.probability_loss``."""
    return _loss_sums(loss_from_probability_terms, _count_bad_unit, p, y, weights, pos_weight, out)


def logit_loss(z, y, weights, pos_weight, out=None):
    """Return ``(sum_wl, sum_w, n_bad, n_infinite)`` as ``_fast_kernels.logit_loss``."""
    return _loss_sums(loss_from_logit_terms, _count_nan, z, y, weights, pos_weight, out)


# ---------------------------------------------------------------------------------------
# Evaluation-state sums

# Rows of one dot product in the state sums: each is a short dot product (at most
# STATE_ROW - 1 roundings), and the rows' results are summed pairwise, so the error bound
# stays near that of a pairwise sum.
STATE_ROW = 512
# Rows of a block of the state sums, 128 KiB per float64 buffer, so that the buffers one block
# uses (11 without segments) stay near the size of a 2 MiB L2 cache. Blocks of 2**13 and
# 2**15 rows were no faster.
STATE_BLOCK = 1 << 14
STATE_CHUNK = 16 * STATE_BLOCK
# Smaller batches take the reference path, whose long-double formulas round each loss once.
# It is slower (1024 rows: 169 us against 39 us here), but by an amount that matters only
# for larger batches.
STATE_MIN_SIZE = 1 << 10
_WEIGHT_LOW, _WEIGHT_HIGH = WEIGHT_RANGE


class _Workspace(threading.local):
    """Block-sized float64 buffers, one set per thread.

    Temporaries allocated afresh for each block of 2**16 rows (512 KiB each) took the
    sums from about 6.5 ns to 8.7 ns per row. The allocator hands such sizes back to the
    system, so each new one faults in its pages again.
    """

    def __init__(self):
        self.rows = np.empty((14, STATE_BLOCK))
        # The views of a whole block, made once: 14 slices per block cost about 2.5 us.
        self._whole = list(self.rows)
        self._keys: dict = {}

    def keys(self, dtype, size: int) -> np.ndarray:
        """Return `size` integers of `dtype` from this thread's reused buffer.

        `size` is at most ``STATE_CHUNK``.
        """
        buffer = self._keys.get(dtype)
        if buffer is None:
            buffer = self._keys[dtype] = np.empty(STATE_CHUNK, dtype=dtype)
        return buffer[:size]

    def take(self, size: int) -> list[np.ndarray]:
        if size == STATE_BLOCK:
            return self._whole
        return [row[:size] for row in self.rows]


_workspace = _Workspace()


def _dot(u, v) -> float:
    """Return ``sum(u * v)`` as dot products of ``STATE_ROW`` elements summed pairwise."""
    whole = u.size - u.size % STATE_ROW
    total = 0.0
    if whole:
        rows = (whole // STATE_ROW, STATE_ROW)
        total = float(np.add.reduce(np.vecdot(u[:whole].reshape(rows), v[:whole].reshape(rows))))
    if whole < u.size:
        total += float(np.dot(u[whole:], v[whole:]))
    return total


def _as_float64(values, out) -> np.ndarray:
    """Return `values` if float64, else their float64 copy in `out`."""
    if values.dtype == np.float64:
        return values
    np.copyto(out, values, casting="unsafe")
    return out


def _in_unit_interval(values) -> bool:
    """Return whether all values lie in [0, 1]; a NaN does not."""
    return _unit_interval_check(values)[0]


def _integers_in_unit_interval(values) -> bool:
    """Return whether integer or boolean `values` are all 0 or 1, in one pass."""
    if values.dtype.kind == "b" or values.size == 0:
        return True
    # Negative integers read as unsigned ones of the same width and byte order are above 1.
    unsigned = values.view(values.dtype.str.replace("i", "u"))
    return int(np.maximum.reduce(unsigned)) <= 1


def _unit_interval_check(values) -> tuple[bool, bool]:
    """Return whether all values lie in [0, 1], and whether all lie in (0, 1)."""
    # The ufuncs' reduce and Python floats save about 1.5 us per call against the methods
    # min and max and NumPy scalars. NaN fails every comparison.
    low, high = float(np.minimum.reduce(values)), float(np.maximum.reduce(values))
    return low >= 0.0 and high <= 1.0, low > 0.0 and high < 1.0


def _negative_probability_loss(p, y, out, spare, complement, interior: bool):
    """Store ``-loss`` of probabilities in [0, 1] in `out` and return it, or None if a loss is infinite.

    `spare` and `complement` are buffers of the same length, and `complement` receives ``1 - y``.
    `interior` tells that every probability lies in (0, 1).
    """
    np.subtract(1.0, y, out=complement)
    if interior:
        # Both logarithms are finite, so xlogy's select is not needed: a coefficient of 0
        # makes its term 0 and the other term passes unchanged.
        np.log(p, out=out)
        out *= y
        np.negative(p, out=spare)
        np.log1p(spare, out=spare)
        spare *= complement
        out += spare
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = loss_from_probability_terms(p, y, None)
    if np.isinf(loss).any():
        return None
    return np.negative(loss, out=out)


def _negative_logit_loss(z, y, out, p, e, tail, complement):
    """Store ``-loss`` of logits in `out` and ``sigmoid(z)`` in `p`, and return `out`.

    Returns None for a NaN logit or an infinite loss. The operations are those of ``loss_from_logit_terms`` and ``_state.expit`` without the
    selects: with ``t = log1p(exp(-|z|))``, ``softplus(-z) = t + max(-z, 0)`` and
    ``softplus(z) = t + max(z, 0)``, which round as ``t - z`` and ``z + t`` do. `e`, `tail`
    and `complement` are buffers of the same length.
    """
    low, high = z.min(), z.max()
    if np.isnan(low) or np.isnan(high):
        return None
    np.subtract(1.0, y, out=complement)
    np.abs(z, out=e)
    np.negative(e, out=e)
    np.exp(e, out=e)
    if np.isinf(low) or np.isinf(high):
        # An infinite logit has a loss of 0 or inf: xlogy's selects are needed here.
        loss = loss_from_logit_terms(z, y, None)
        if np.isinf(loss).any():
            return None
        np.negative(loss, out=out)
    else:
        np.log1p(e, out=tail)
        # out = -(y * softplus(-z) + (1 - y) * softplus(z)), built as -(positive + negative).
        np.maximum(z, 0.0, out=p)
        p += tail
        p *= complement
        np.negative(z, out=out)
        np.maximum(out, 0.0, out=out)
        out += tail
        out *= y
        out += p
        np.negative(out, out=out)
    _sigmoid(z, e, p, tail)
    return out


def _sigmoid(z, e, out, spare) -> None:
    """Store ``sigmoid(z)`` in `out`, given ``e = exp(-|z|)`` and a buffer `spare`.

    sigmoid(z) is 1 / (1 + e) for z >= 0 and e / (1 + e) otherwise. Because e <= 1, the
    numerator is exactly max(e, z >= 0): 0.5 ns per element, against 0.9 ns for exp(min(z, 0)).
    """
    np.add(e, 1.0, out=spare)
    np.greater_equal(z, 0.0, out=out)
    np.maximum(out, e, out=out)
    out /= spare


def _blocks(x, y, weights, logits: bool, codes=None, n_groups: int = 0):
    """Yield ``(counts, a, p, y, w, hard, buffers)`` for each block of the inputs, checked.

    ``a`` is ``-loss``, ``p`` the probabilities, ``y`` and ``w`` the labels and weights in
    float64 (``w`` None without weights), ``hard`` whether every label is 0 or 1 (known
    when the labels are integers or booleans), and ``buffers`` the block's buffers, of
    which 2 to 6 and 10 are free. With `codes`, the block's rows come sorted by code (a
    stable sort), and ``counts`` contains the row count of each code. Otherwise ``counts``
    is None. Yields None, and stops, at the first block the reference path must take: an
    invalid value, an infinite loss, or a code outside ``range(n_groups)``.
    """
    has_weights = weights.size > 0
    # Integer labels are checked once, in their own dtype, and float labels a block at a time.
    hard = y.dtype.kind in "biu"
    if hard and not _integers_in_unit_interval(y):
        yield None
        return
    for start in range(0, x.size, STATE_BLOCK):
        stop = min(start + STATE_BLOCK, x.size)
        buffers = _workspace.take(stop - start)
        y_raw = y[start:stop]
        valid = hard or _in_unit_interval(y_raw)
        counts = None
        if codes is not None:
            code_block = codes[start:stop]
            valid = valid and code_block.min() >= 0 and code_block.max() < n_groups
        x_block = _as_float64(x[start:stop], buffers[7])
        interior = False
        if valid and not logits:
            valid, interior = _unit_interval_check(x_block)
        if not valid:
            yield None
            return
        y_block = _as_float64(y_raw, buffers[8])
        w_block = None
        if has_weights:
            w_block = _as_float64(weights[start:stop], buffers[9])
            if not _valid_weights(w_block):
                yield None
                return
        if codes is not None:
            counts, x_block, y_block, w_block = _sort_by_code(code_block, n_groups, x_block, y_block, w_block, buffers)
        a, p, c, d, e = buffers[:5]
        if logits:
            a = _negative_logit_loss(x_block, y_block, a, p, c, d, e)
        else:
            p = x_block
            a = _negative_probability_loss(p, y_block, a, c, d, interior)
        if a is None:
            yield None
            return
        # Integer labels in [0, 1] are 0 or 1, so y * y = y.
        yield counts, a, p, y_block, w_block, hard, buffers


def _sort_by_code(codes, n_groups: int, x, y, w, buffers):
    """Return the row count of each code, and `x`, `y` and `w` sorted by code into buffers 11 to 13.

    Sorting the inputs rather than the losses leaves one array fewer to gather. The losses of
    sorted rows are the same numbers, so the sums equal those of sorting the losses.
    """
    # NumPy's stable sort of 8- and 16-bit integers is a radix sort: one byte is one pass,
    # 1.6 ns per row against 3.7 ns for two bytes.
    order = np.argsort(codes.astype(np.uint8 if n_groups <= 256 else np.int16), kind="stable")
    # mode="clip" writes straight into `out`, while the default mode first copies to check the indices.
    x = np.take(x, order, out=buffers[11], mode="clip")
    y = np.take(y, order, out=buffers[12], mode="clip")
    if w is not None:
        w = np.take(w, order, out=buffers[13], mode="clip")
    return np.bincount(codes, minlength=n_groups), x, y, w


def _block_state_sums(a, p, y, w, hard: bool, buffers):
    """Return the 14 sums of one block in the order of ``_state.SUM_FIELDS``, where ``a`` is ``-loss``.

    With `hard` labels (all 0 or 1), ``w2 * y * y`` equals ``w2 * y``, whose sum is reused.
    """
    c, d, e = buffers[2:5]
    if w is None:
        n = float(p.size)
        add = np.add.reduce
        sum_y, sum_p, sum_a = float(add(y)), float(add(p)), float(add(a))
        sum_a2, sum_p2 = _dot(a, a), _dot(p, p)
        sum_y2 = sum_y if hard else _dot(y, y)
        return [n, n, sum_y, sum_p, -sum_a, sum_a2, -sum_a, sum_a2, sum_y, sum_y2, sum_p, sum_p2, -_dot(a, y), _dot(p, y)]

    # Each product is formed as with unit weights, so that weights of 1 give the unweighted sums bit for bit.
    w2, wa, w2a, w2y, w2p, product = c, d, e, buffers[5], buffers[6], buffers[10]
    sum_wy = float(np.multiply(w, y, out=product).sum())
    sum_wp = float(np.multiply(w, p, out=product).sum())
    np.multiply(w, w, out=w2)
    np.multiply(w, a, out=wa)
    np.multiply(w2, a, out=w2a)
    np.multiply(w2, y, out=w2y)
    np.multiply(w2, p, out=w2p)
    sum_w2y = float(w2y.sum())

    return [
        float(w.sum()),
        float(w2.sum()),
        sum_wy,
        sum_wp,
        -float(wa.sum()),
        _dot(wa, a),
        -float(w2a.sum()),
        _dot(w2a, a),
        sum_w2y,
        sum_w2y if hard else _dot(w2y, y),
        float(w2p.sum()),
        _dot(w2p, p),
        -_dot(w2a, y),
        _dot(w2p, y),
    ]


def _valid_weights(w) -> bool:
    """Return True if every weight is 0 or in ``_state.WEIGHT_RANGE``."""
    low = w.min()
    if not (low >= 0.0 and w.max() <= _WEIGHT_HIGH):
        return False
    # A masked minimum costs several times a plain one, so only weights of 0 pay for it.
    return bool(low >= _WEIGHT_LOW or np.min(w, where=w > 0.0, initial=np.inf) >= _WEIGHT_LOW)


def state_sums(x, y, weights, *, logits: bool):
    """Return the 14 sums of ``_state.SUM_FIELDS`` of flat inputs, or None for the reference path.

    As ``_fast.state_sums``: `x` contains probabilities, or logits when `logits` is true,
    `y` the labels and `weights` the weights (empty for none), as 1-D arrays of one length.
    None when a value is invalid (the reference path then raises with its position), a
    loss is infinite, or a sum leaves the float64 range. Each block's sums are pairwise
    sums or short dot products (see ``STATE_ROW``), and the blocks' sums are added exactly
    by ``math.fsum``.
    """
    blocks = []
    with np.errstate(over="ignore", invalid="ignore"):
        for block in _blocks(x, y, weights, logits):
            if block is None:
                return None
            _, a, p, y_block, w_block, hard, buffers = block
            blocks.append(_block_state_sums(a, p, y_block, w_block, hard, buffers))
    totals = np.array([_total(column) for column in zip(*blocks)]) if blocks else np.zeros(14)
    if not np.isfinite(totals).all():
        return None
    return totals


# ---------------------------------------------------------------------------------------
# Evaluation-state sums per group

# More groups than this take the kernel or the reference path: the per-block work here grows
# with the groups, and their codes must fit in int16 for NumPy's radix sort.
GROUP_MAX = 2048


def _block_group_sums(a, p, y, w, counts, buffers):
    """Return the ``(n_groups, 14)`` sums of one block sorted by group, as ``_block_state_sums`` per group.

    ``counts`` contains the row count of each group. Each group's terms are contiguous and are
    added by ``np.add.reduceat``, which sums pairwise. Only labels that are not all 0 or 1
    come here (see :func:`grouped_state_sums`), so the sums of ``y * y`` are formed. Two
    threads sharing the blocks were slower than one, because ``reduceat`` and the small
    calls keep the GIL.
    """
    n_groups = counts.size
    nonempty = np.flatnonzero(counts)
    # The first row of each non-empty group.
    first = (np.cumsum(counts) - counts)[nonempty]
    c, d, e = buffers[2:5]
    product = buffers[10]
    out = np.zeros((n_groups, 14))

    def sums(values):
        return np.add.reduceat(values, first)

    rows = out[nonempty]
    if w is None:
        rows[:, 0] = rows[:, 1] = counts[nonempty]
        rows[:, 2] = rows[:, 8] = sums(y)
        rows[:, 3] = rows[:, 10] = sums(p)
        rows[:, 4] = rows[:, 6] = -sums(a)
        rows[:, 5] = rows[:, 7] = sums(np.multiply(a, a, out=product))
        rows[:, 9] = sums(np.multiply(y, y, out=product))
        rows[:, 11] = sums(np.multiply(p, p, out=product))
        rows[:, 12] = -sums(np.multiply(a, y, out=product))
        rows[:, 13] = sums(np.multiply(p, y, out=product))
        out[nonempty] = rows
        return out
    w2 = np.multiply(w, w, out=c)
    wa = np.multiply(w, a, out=d)
    w2a = np.multiply(w2, a, out=e)
    w2y = np.multiply(w2, y, out=buffers[5])
    w2p = np.multiply(w2, p, out=buffers[6])
    rows[:, 0] = sums(w)
    rows[:, 1] = sums(w2)
    rows[:, 2] = sums(np.multiply(w, y, out=product))
    rows[:, 3] = sums(np.multiply(w, p, out=product))
    rows[:, 4] = -sums(wa)
    rows[:, 5] = sums(np.multiply(wa, a, out=product))
    rows[:, 6] = -sums(w2a)
    rows[:, 7] = sums(np.multiply(w2a, a, out=product))
    rows[:, 8] = sums(w2y)
    rows[:, 9] = sums(np.multiply(w2y, y, out=product))
    rows[:, 10] = sums(w2p)
    rows[:, 11] = sums(np.multiply(w2p, p, out=product))
    rows[:, 12] = -sums(np.multiply(w2a, y, out=product))
    rows[:, 13] = sums(np.multiply(w2p, y, out=product))
    out[nonempty] = rows
    return out


def _grouped_blocks(x, y, weights, codes, n_groups: int, logits: bool) -> list | None:
    """Return the ``(n_groups, 14)`` sums of each block of the inputs, or None."""
    sums = []
    with np.errstate(over="ignore", invalid="ignore"):
        for checked in _blocks(x, y, weights, logits, codes, n_groups):
            if checked is None:
                return None
            counts, a, p, y_block, w_block, _, buffers = checked
            block = _block_group_sums(a, p, y_block, w_block, counts, buffers)
            if not np.isfinite(block).all():
                return None
            sums.append(block)
    return sums


def _hard_label_totals(parts: np.ndarray, n_groups: int, weighted: bool) -> np.ndarray:
    """Return the ``(n_groups, 14)`` sums of ``SUM_FIELDS`` from the sums of the rows of each label.

    `parts` has a row per pair ``(label, group)``, those of label 0 first, and a column per
    term of :func:`_hard_label_parts` after the row count.
    """
    negative, positive = parts[:n_groups], parts[n_groups:]
    both = negative + positive
    out = np.empty((n_groups, 14))
    if not weighted:
        # Columns: rows, a * a, p * p, p, a, where a = -loss.
        out[:, 0] = out[:, 1] = both[:, 0]
        out[:, 2] = out[:, 8] = out[:, 9] = positive[:, 0]
        out[:, 3] = out[:, 10] = both[:, 3]
        out[:, 4] = out[:, 6] = -both[:, 4]
        out[:, 5] = out[:, 7] = both[:, 1]
        out[:, 11] = both[:, 2]
        out[:, 12] = -positive[:, 4]
        out[:, 13] = positive[:, 3]
        return out
    # Columns: rows, w, w2, w * p, w * a, w * a * a, w2 * a, w2 * a * a, w2 * p, w2 * p * p.
    out[:, 0], out[:, 1] = both[:, 1], both[:, 2]
    out[:, 2] = positive[:, 1]
    out[:, 3] = both[:, 3]
    out[:, 4], out[:, 5] = -both[:, 4], both[:, 5]
    out[:, 6], out[:, 7] = -both[:, 6], both[:, 7]
    out[:, 8] = out[:, 9] = positive[:, 2]
    out[:, 10], out[:, 11] = both[:, 8], both[:, 9]
    out[:, 12] = -positive[:, 6]
    out[:, 13] = positive[:, 8]
    return out


def _zero_or_one(y) -> bool:
    """Return True if every label is 0 or 1, checked a block at a time.

    Labels read from a CSV file are floats. The check costs about 0.5 ns per row, and
    :func:`_hard_label_parts` then saves about 6 ns (see :func:`grouped_state_sums`).
    """
    for start in range(0, y.size, STATE_BLOCK):
        block = y[start : start + STATE_BLOCK]
        if not np.logical_or(block == 0.0, block == 1.0).all():
            return False
    return True


def _hard_label_parts(x, y, weights, codes, n_groups: int, logits: bool) -> np.ndarray | None:
    """Return the sums of the rows of each pair ``(label, group)`` for labels of 0 and 1, or None.

    Each block's rows are sorted by label, then by group. For probabilities, the loss of
    the first part is then ``-log1p(-p)`` and that of the second ``-log(p)``: one logarithm
    per row and no products with the labels. For logits it is ``softplus(z)`` and
    ``softplus(-z)``, formed as in :func:`_negative_logit_loss`. These are the values of
    the formulas with ``y`` for labels of 0 and 1, predictions of 0 and 1 (or infinite
    logits) included. None under the conditions of :func:`_blocks`.

    The sort keys are formed a chunk of ``STATE_CHUNK`` rows at a time, and the sums of a
    chunk's blocks (at most 16) are added by ``np.sum``, which leaves about a dozen NumPy
    calls per block. The chunks' sums are added with Knuth's TwoSum (:func:`_two_sum_add`).
    With 50 groups, on one thread, that took 8.5 ns per row against 9.0 ns with keys formed
    and sums added a block at a time.
    """
    if not (_in_unit_interval(y) and codes.min() >= 0 and codes.max() < n_groups):
        return None
    n_sums = 9 if weights.size else 4
    # NumPy's stable sort of 8- and 16-bit integers is a radix sort (see _sort_by_code).
    key_dtype = np.uint8 if 2 * n_groups <= 256 else np.int16
    part_keys = np.arange(2 * n_groups, dtype=key_dtype)
    high = np.zeros((2 * n_groups, n_sums + 1))
    low = np.zeros_like(high)
    spare = np.zeros_like(high)
    block_sums = np.empty((STATE_CHUNK // STATE_BLOCK, *high.shape))
    for chunk_start in range(0, x.size, STATE_CHUNK):
        chunk = slice(chunk_start, chunk_start + STATE_CHUNK)
        x_chunk = x[chunk]
        w_chunk = weights[chunk] if weights.size else None
        key = _workspace.keys(key_dtype, x_chunk.size)
        np.multiply(y[chunk], n_groups, out=key, dtype=key_dtype, casting="unsafe")
        np.add(key, codes[chunk], out=key, dtype=key_dtype, casting="unsafe")
        n_blocks = 0
        for start in range(0, x_chunk.size, STATE_BLOCK):
            block = slice(start, start + STATE_BLOCK)
            w_block = None if w_chunk is None else w_chunk[block]
            if not _part_sums(x_chunk[block], w_block, key[block], part_keys, logits, block_sums[n_blocks]):
                return None
            n_blocks += 1
        sums = block_sums[:n_blocks].sum(axis=0)
        # An infinite loss (a label of 1 with p = 0, or of 0 with p = 1) makes a sum infinite.
        # The caller then splits such rows off (see _state.infinite_loss_rows), so the
        # rest of the batch is not summed in vain.
        if not np.isfinite(sums).all():
            return None
        _two_sum_add(high, low, sums, spare)
    # A sum that overflows makes its error NaN. Each column's terms have one sign, so no
    # later chunk can bring an infinite sum back.
    totals = high + low
    return totals if np.isfinite(totals).all() else None


def _part_sums(x, w, key, part_keys, logits: bool, out) -> bool:
    """Store the row count and sums of terms of each part of one block in `out`, a row per part.

    The parts are the rows of each key in `part_keys`, whose first half are those of label
    0. Return False, storing nothing, for an invalid prediction or weight.
    """
    size = x.size
    rows = _workspace.rows
    x = _as_float64(x, rows[11, :size])
    # The minimum of values with a NaN is NaN. A logit may be infinite.
    if np.isnan(x.min()) if logits else not _in_unit_interval(x):
        return False
    if w is not None:
        w = _as_float64(w, rows[12, :size])
        if not _valid_weights(w):
            return False
    order = np.argsort(key, kind="stable")
    starts = np.empty(part_keys.size + 1, dtype=np.intp)
    starts[:-1] = np.searchsorted(np.take(key, order), part_keys)
    starts[-1] = size
    n_negative = starts[part_keys.size // 2]
    # The first workspace rows receive the terms, with p and a = -loss last. The sums of the
    # first rows are the columns of _hard_label_totals after the row count.
    n_terms, n_sums = (4, 4) if w is None else (11, 9)
    terms = rows[:n_terms, :size]
    p, a = terms[-2], terms[-1]
    if logits:
        _sorted_logit_terms(x, order, n_negative, p, a, terms[0], terms[1], rows[13, :size])
    else:
        # log(0) is -inf with a divide warning, which the caller silences.
        np.take(x, order, out=p, mode="clip")
        np.negative(p[:n_negative], out=a[:n_negative])
        np.log1p(a[:n_negative], out=a[:n_negative])
        np.log(p[n_negative:], out=a[n_negative:])
    if w is None:
        np.multiply(a, a, out=terms[0])
        np.multiply(p, p, out=terms[1])
    else:
        w_sorted, w2, wa, w2a, w2p = terms[0], terms[1], terms[3], terms[5], terms[7]
        np.take(w, order, out=w_sorted, mode="clip")
        # Each product is formed as without weights, so that weights of 1 give the
        # unweighted sums bit for bit.
        np.multiply(w_sorted, w_sorted, out=w2)
        np.multiply(w_sorted, p, out=terms[2])
        np.multiply(w_sorted, a, out=wa)
        np.multiply(wa, a, out=terms[4])
        np.multiply(w2, a, out=w2a)
        np.multiply(w2a, a, out=terms[6])
        np.multiply(w2, p, out=w2p)
        np.multiply(w2p, p, out=terms[8])
    counts = np.diff(starts)
    if counts.all():
        out[:, 0] = counts
        out[:, 1:] = np.add.reduceat(terms[:n_sums], starts[:-1], axis=1).T
    else:
        # np.add.reduceat needs the start of each non-empty part only.
        out[...] = 0.0
        nonempty = np.flatnonzero(counts)
        out[nonempty, 0] = counts[nonempty]
        out[nonempty, 1:] = np.add.reduceat(terms[:n_sums], starts[nonempty], axis=1).T
    return True


def _two_sum_add(high, low, values, spare) -> None:
    """Add `values` to the pairs ``(high, low)`` in place, by Knuth's TwoSum.

    The rounding error of ``high + values`` goes to `low` exactly for any finite operands,
    without the comparisons and selects of ``_state.compensated_add``, which took about
    20 us per block on arrays of a hundred rows. `spare` is a buffer of the same shape.
    """
    total = high + values
    reached = np.subtract(total, high, out=spare)  # the part of `values` that `total` contains
    low += (high - (total - reached)) + (values - reached)
    high[...] = total


def _sorted_logit_terms(z, order, n_negative: int, p, a, e, tail, z_sorted) -> None:
    """Store ``sigmoid(z)`` and ``-loss`` of logits sorted by `order` in `p` and `a`.

    The first `n_negative` rows have labels of 0 and the rest labels of 1. `e`, `tail` and
    `z_sorted` are buffers of the same length.
    """
    np.take(z, order, out=z_sorted, mode="clip")
    np.abs(z_sorted, out=e)
    np.negative(e, out=e)
    np.exp(e, out=e)
    np.log1p(e, out=tail)
    # softplus(z) = max(z, 0) + log1p(exp(-|z|)) for label 0, softplus(-z) for label 1.
    np.maximum(z_sorted[:n_negative], 0.0, out=a[:n_negative])
    np.negative(z_sorted[n_negative:], out=a[n_negative:])
    np.maximum(a[n_negative:], 0.0, out=a[n_negative:])
    a += tail
    np.negative(a, out=a)
    _sigmoid(z_sorted, e, p, tail)


def grouped_state_sums(x, y, weights, codes, n_groups: int, *, logits: bool):
    """Return the ``(n_groups, 14)`` sums of ``_state.SUM_FIELDS`` per group, or None.

    As ``_fast.grouped_state_sums``, with the checks of :func:`state_sums`; None also when a
    code lies outside ``range(n_groups)`` or there are more than ``GROUP_MAX`` groups. The
    sums are added in order with a compensated addition: those of each chunk of
    ``STATE_CHUNK`` rows by Knuth's TwoSum in :func:`_hard_label_parts`, those of each
    block by Neumaier's in :func:`_grouped_blocks`. Integer and
    boolean labels take :func:`_hard_label_parts`. With 50 groups and int8 labels, on one
    thread, that took about 8.5 ns per row for unweighted probabilities, 12.5 ns for logits
    and 16.5 ns for weighted probabilities, against 16, 22 and 25 ns for
    :func:`_grouped_blocks` (and 21 ns for sums by ``np.bincount`` in runs of 128 rows).
    Float labels take it too when each is 0 or 1, and :func:`_grouped_blocks` otherwise.
    """
    if not 0 < n_groups <= GROUP_MAX:
        return None
    if y.dtype.kind in "biu" or _zero_or_one(y):
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            parts = _hard_label_parts(x, y, weights, codes, n_groups, logits)
        if parts is None:
            return None
        sums = _hard_label_totals(parts, n_groups, weights.size > 0)
        return sums if np.isfinite(sums).all() else None
    blocks = _grouped_blocks(x, y, weights, codes, n_groups, logits)
    if blocks is None:
        return None
    high = np.zeros((n_groups, 14))
    low = np.zeros((n_groups, 14))
    for block in blocks:
        compensated_add(high, low, block)
    sums = high + low
    return sums if np.isfinite(sums).all() else None
