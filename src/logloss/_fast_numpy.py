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

import numpy as np

from ._elementwise import loss_from_logit_terms, loss_from_probability_terms, multiply_weights

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
