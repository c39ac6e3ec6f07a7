"""A streaming CORP decomposition: fine bins on the logit scale that merge by addition.

The state keeps, per bin, the row count and the compensated sums of w, w*y, w*p and w*loss.
The score and the uncertainty come from these sums without approximation. Only the
recalibrated score is approximate, because the isotonic regression runs on the bins instead
of the distinct predictions. Its fit is then the best monotone function that is constant on
each bin. The exact fit is the best of all monotone functions for log loss, so the binned
recalibrated score is never below the exact one. Discrimination and miscalibration are
therefore never above the exact values, and both are lower by the same amount, which
``binned_error_bound`` bounds.
"""

from __future__ import annotations

import math
import numbers
import sys

import numpy as np

from . import _elementwise
from ._decompose import Decomposition, assemble
from ._state import LogLossState, compensated_add, expit
from ._validation import NAN_HINT, as_numeric_array, check_in_unit_interval, check_not_nan

__all__ = ["BinnedDecompositionState", "binned_error_bound", "binned_state_from_sums"]

_LOGIT_HINT = "; for raw model scores (logits), call update_logits instead"
_FIELDS = ("w", "wy", "wp", "wl")
_CHUNK_ROWS = 1 << 16
# Bins at most: 256 times the default, about 75 MB of sums per state, and a bin width of
# 3e-5 in logit at the default limit; finer bins would not change the figures.
MAX_BINS = 1 << 20



def binned_error_bound(effective_rows: float, bin_width: float) -> float:
    """Return the stated bound, in nats, on exact minus binned discrimination.

    The bound is ``2 * sqrt(bin_width / effective_rows) + bin_width ** 2 / 8``, with the bin
    width in logit and Kish's effective number of rows ``(sum w) ** 2 / sum w ** 2``. The
    first term covers the steps that exact isotonic regression fits to the noise of the
    labels inside one bin. The binned method pools those steps, so the exact method's
    overfitting, not a bias of the binned one, makes up most of the difference. The second
    term bounds the information lost in a bin by a recalibration curve whose logit changes
    by at most the bin width there.

    NOTE: a measured bound with a fitted form, not a proof. The difference stayed below
    0.6 times the first term on four real data sets and on synthetic data of 10**3 to
    10**7 rows with 1,024 to 65,536 bins (``scripts/decomposition_benchmark.py``). A
    recalibration curve much steeper than the predictions' logit, or many rows at almost
    equal predictions with well separated labels, can exceed it.
    """
    if not effective_rows > 0:
        return float("nan")
    return 2.0 * math.sqrt(bin_width / effective_rows) + bin_width**2 / 8.0


class BinnedDecompositionState:
    """Streaming CORP decomposition of log loss on fine logit bins; merges by addition.

    Parameters
    ----------
    n_bins : int, default 4096
        Number of bins of equal width in logit over ``[-logit_limit, logit_limit]``, at
        most 1,048,576. Two
        more bins hold the logits below and above that range, probabilities of exactly 0
        and 1 included.
    logit_limit : float, default 16.0
        Half-width of the binned logit range; 16 is a probability of about 1.1e-7 from 0 or 1.

    See Also
    --------
    decompose : The exact decomposition of data that fits in memory.

    Notes
    -----
    The score, base rate and uncertainty are not binned: they are compensated sums of each
    row's loss and label, the losses within a few ulp of the exact values. The
    recalibration is the isotonic regression of the bins' mean labels, weighted by the bins'
    weights, so `discrimination` and `miscalibration` are each at most the exact value and
    at least the exact value minus ``error_bound``, a measured bound of
    :math:`2 \\sqrt{\\delta / n_\\mathrm{eff}} + \\delta^2 / 8` nats for :math:`n_\\mathrm{eff}`
    effective rows (Kish) and bin width :math:`\\delta` in logit; see
    ``docs/segments-and-decomposition.md``. The curve has one point per non-empty bin at the
    bin's weighted mean prediction.

    Two states merge only when their bins are equal. Each update costs a logit, a loss and
    five ``np.bincount`` passes over the rows.

    Examples
    --------
    >>> import numpy as np
    >>> from logloss import BinnedDecompositionState
    >>> state = BinnedDecompositionState()
    >>> state.update(np.array([0.1, 0.4, 0.4, 0.8]), np.array([0, 1, 0, 1]))
    >>> result = state.result()
    >>> result.method
    'binned'
    >>> round(result.discrimination, 6)
    0.346574
    """

    def __init__(self, *, n_bins: int = 4096, logit_limit: float = 16.0) -> None:
        if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)):
            raise TypeError(f"`n_bins` must be an integer, got {type(n_bins).__name__} {n_bins!r}")
        if not 1 <= n_bins <= MAX_BINS:
            raise ValueError(f"`n_bins` must be from 1 to {MAX_BINS:,}, got {n_bins!r}")
        if isinstance(logit_limit, bool | np.bool_) or not isinstance(logit_limit, numbers.Real):
            raise TypeError(f"`logit_limit` must be a real number, got {type(logit_limit).__name__} {logit_limit!r}")
        try:
            limit = float(logit_limit)
        except OverflowError:  # an int beyond the float range
            limit = math.inf
        if not 0.0 < limit < math.inf:
            raise ValueError(f"`logit_limit` must be a positive finite number, got {logit_limit!r}")
        # The bins per unit of logit, n_bins / (2 * logit_limit), must be finite too.
        smallest = n_bins / 2.0 / sys.float_info.max
        if not math.isfinite(n_bins / (2.0 * limit)):
            raise ValueError(f"`logit_limit` must be above {smallest:.3g} for {n_bins} bins, got {logit_limit!r}")
        self.n_bins = int(n_bins)
        self.logit_limit = limit
        self.count = 0
        self.n_infinite = 0
        self._bin_counts = np.zeros(self.n_bins + 2, dtype=np.int64)
        self._high = np.zeros((len(_FIELDS), self.n_bins + 2))
        self._low = np.zeros((len(_FIELDS), self.n_bins + 2))
        self._squared_weight = np.zeros(2)  # compensated sum of w**2, for the effective rows

    def __repr__(self) -> str:
        return f"BinnedDecompositionState(n_bins={self.n_bins}, logit_limit={self.logit_limit}, count={self.count})"

    def bin_sums(self) -> dict:
        """Return the per-bin arrays: ``"count"`` and the sums ``"w"``, ``"wy"``, ``"wp"``, ``"wl"``.

        Index 0 is the bin of the logits below ``-logit_limit``, and the last index is the bin
        of those at or above ``logit_limit``.
        """
        sums = {"count": self._bin_counts.copy()}
        for i, name in enumerate(_FIELDS):
            sums[name] = self._high[i] + self._low[i]
        return sums

    def update(self, y_pred, y_true, *, weights=None) -> None:
        """Add rows given as predicted probabilities.

        Parameters
        ----------
        y_pred : array_like
            Probabilities of the positive class in [0, 1].
        y_true : array_like
            Targets in [0, 1], of the same shape.
        weights : array_like, optional
            Non-negative sample weights, of the same shape. Default: all 1.
        """
        predictions = as_numeric_array(y_pred, "y_pred")
        check_not_nan(predictions, "y_pred", NAN_HINT)
        check_in_unit_interval(predictions, "y_pred", _LOGIT_HINT)
        target, weight = LogLossState()._check_labels_and_weights(predictions, y_true, weights)
        probability = predictions.astype(np.float64, copy=False).ravel()
        # Chunks of rows that fit in the CPU cache make the ten elementwise passes below
        # about twice as fast on 10**7 rows as whole-array passes.
        for start in range(0, probability.size, _CHUNK_ROWS):
            rows = slice(start, start + _CHUNK_ROWS)
            chunk_probability, chunk_target = probability[rows], target[rows]
            z, loss = _logit_and_loss(chunk_probability, chunk_target)
            chunk_weight = None if weight is None else weight[rows]
            self._add(z, chunk_probability, chunk_target, chunk_weight, loss, overwrite=True)

    def update_logits(self, logits, y_true, *, weights=None) -> None:
        """Add rows given as logits (log-odds); see :meth:`update` for the parameters."""
        scores = as_numeric_array(logits, "logits")
        check_not_nan(scores, "logits", NAN_HINT)
        target, weight = LogLossState()._check_labels_and_weights(scores, y_true, weights)
        logit = scores.astype(np.float64, copy=False).ravel()
        for start in range(0, logit.size, _CHUNK_ROWS):
            rows = slice(start, start + _CHUNK_ROWS)
            z, chunk_target = logit[rows], target[rows]
            loss = _elementwise.loss_from_logit(z, chunk_target, None)
            chunk_weight = None if weight is None else weight[rows]
            self._add(z, expit(z), chunk_target, chunk_weight, loss)

    def merge(self, other: BinnedDecompositionState) -> BinnedDecompositionState:
        """Return a new state holding the rows of both; neither input changes."""
        if not isinstance(other, BinnedDecompositionState):
            raise TypeError(f"`other` must be a BinnedDecompositionState, got {type(other).__name__}")
        if (other.n_bins, other.logit_limit) != (self.n_bins, self.logit_limit):
            raise ValueError(
                f"`other` must have the same bins, got n_bins={other.n_bins}, "
                f"logit_limit={other.logit_limit} against n_bins={self.n_bins}, "
                f"logit_limit={self.logit_limit}"
            )
        merged = BinnedDecompositionState(n_bins=self.n_bins, logit_limit=self.logit_limit)
        merged.count = self.count + other.count
        merged.n_infinite = self.n_infinite + other.n_infinite
        merged._bin_counts = self._bin_counts + other._bin_counts
        merged._high = self._high.copy()
        merged._low = self._low + other._low
        compensated_add(merged._high, merged._low, other._high)
        merged._squared_weight = self._squared_weight.copy()
        merged._add_squared_weight(other._squared_weight[0])
        merged._squared_weight[1] += other._squared_weight[1]
        return merged

    def result(self) -> Decomposition:
        """Return the decomposition with ``method="binned"``; see :class:`Decomposition`."""
        sums = self.bin_sums()
        present = sums["w"] > 0
        weight = sums["w"][present]
        positive = sums["wy"][present]
        negative = np.maximum(weight - positive, 0.0)
        with np.errstate(over="ignore"):  # an overflowed sum makes assemble() warn
            weighted_loss = float(sums["wl"].sum())
        squared_weight = float(self._squared_weight.sum())
        effective_rows = weight.sum() ** 2 / squared_weight if squared_weight > 0 else 0.0
        bin_width = 2.0 * self.logit_limit / self.n_bins
        return assemble(
            "binned",
            count=self.count,
            weighted_loss=weighted_loss,
            n_infinite=self.n_infinite,
            point_prediction=sums["wp"][present] / weight,
            point_weight=weight,
            point_positive=positive,
            point_negative=negative,
            error_bound=binned_error_bound(effective_rows, bin_width),
        )

    def _add_squared_weight(self, value: float) -> None:
        high, low = self._squared_weight[:1], self._squared_weight[1:]
        compensated_add(high, low, np.array([value]))

    def _bin_index(self, z: np.ndarray, overwrite: bool = False) -> np.ndarray:
        """Return each row's bin: 0 below the range, 1 to n_bins inside it, n_bins + 1 above.

        With `overwrite`, `z` is used as scratch space and its values are lost.
        """
        scale = self.n_bins / (2.0 * self.logit_limit)
        with np.errstate(over="ignore"):  # a logit near the float64 limit becomes ±inf: the end bins
            scaled = np.multiply(z, scale, out=z if overwrite else None)
        scaled += self.logit_limit * scale + 1.0
        np.clip(scaled, 0.0, self.n_bins + 1.0, out=scaled)
        # The values are now non-negative, so truncation toward zero is the floor.
        return scaled.astype(np.intp)

    def _add(self, z, probability, target, weight, loss, overwrite=False) -> None:
        bins = self._bin_index(z, overwrite)
        size = self.n_bins + 2
        infinite = np.isinf(loss)
        bin_counts = np.bincount(bins, minlength=size)
        if weight is None:
            weighted = (target, probability, loss)
            bin_weight = bin_counts.astype(np.float64)
        else:
            infinite &= weight != 0.0
            with np.errstate(invalid="ignore"):
                finite_loss = np.where(weight == 0.0, 0.0, loss)
            # A huge finite loss times its weight may overflow to inf; result() warns then.
            with np.errstate(over="ignore"):
                weighted = (weight * target, weight * probability, weight * finite_loss)
            bin_weight = np.bincount(bins, weights=weight, minlength=size)
        sums = np.empty((len(_FIELDS), size))
        sums[0] = bin_weight
        for i, values in enumerate(weighted, start=1):
            sums[i] = np.bincount(bins, weights=values, minlength=size)
        compensated_add(self._high, self._low, sums)
        self._bin_counts += bin_counts
        self._add_squared_weight(float(loss.size) if weight is None else float(np.dot(weight, weight)))
        self.count += int(loss.size)
        self.n_infinite += int(np.count_nonzero(infinite))


def _logit_and_loss(probability: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the logits and the losses of probabilities, sharing one log and one log1p.

    The losses follow the formula of ``_elementwise.loss_from_probability_terms``, in
    float64. ``loss_from_probability`` computes it in long double where that is wider, so
    the two can differ in the last bit: on 1e6 uniform probabilities with labels of 0 and
    1, 5,680 losses differed, and both stayed within 2.3e-16 relative of mpmath's. The
    xlogy corrections, which that function always applies, run here only when a
    probability is exactly 0 or 1, because only there can a label of 0 or 1 meet an
    infinite logarithm. Every step writes in place where it can, because this runs on
    every row of a batch.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        log_p = np.log(probability)
        log_q = np.negative(probability)
        np.log1p(log_q, out=log_q)
        z = np.subtract(log_p, log_q)
        positive = log_p
        positive *= target
        negative = np.subtract(1.0, target)
        negative *= log_q
    if probability.size and (probability.min() == 0.0 or probability.max() == 1.0):
        positive[target == 0] = 0.0
        negative[target == 1] = 0.0
    loss = positive
    loss += negative
    np.negative(loss, out=loss)
    return z, loss


def binned_state_from_sums(
    bins, counts, sums, *, squared_weight: float, n_infinite: int, n_bins: int, logit_limit: float
) -> BinnedDecompositionState:
    """Return a BinnedDecompositionState from sums that another engine computed per bin.

    `bins` are distinct bin indices: 0 below the logit range, 1 to `n_bins` inside it and
    ``n_bins + 1`` above it. `counts` are the rows in each bin. `sums` has shape
    ``(4, len(bins))``, the sums of w, w*y, w*p and w*loss in each bin. `squared_weight` is
    the sum of w**2 over all rows.
    """
    state = BinnedDecompositionState(n_bins=n_bins, logit_limit=logit_limit)
    bins = np.asarray(bins, dtype=np.intp)
    state._bin_counts[bins] = np.asarray(counts, dtype=np.int64)
    state._high[:, bins] = np.asarray(sums, dtype=np.float64).reshape(len(_FIELDS), bins.size)
    state._add_squared_weight(float(squared_weight))
    state.count = int(state._bin_counts.sum())
    state.n_infinite = int(n_infinite)
    return state
