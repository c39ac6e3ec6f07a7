"""The Poisson bootstrap state: per-replicate sums that merge by addition."""

from __future__ import annotations

import math
import warnings

import numpy as np

from ._intervals import Intervals, check_level, percentile_interval, result_with_warnings
from ._replicates import ReplicateSums
from ._rows import Rows, check_logits, check_probabilities, labels_and_weights, logit_rows, probability_rows
from ._state import LogLossResult, LogLossState
from ._warnings import LossOverflowWarning, UndefinedMetricWarning

__all__ = ["BootstrapState", "binary_entropies", "replicate_columns", "warn_empty_replicates"]

# Columns of the per-replicate sums: weight, weight * label, weight * probability, weight *
# loss over rows of finite loss, and the count of rows of positive weight and infinite loss.
_W, _WY, _WP, _WL, _INFINITE = range(5)


def replicate_columns(rows: Rows) -> np.ndarray:
    """Return the rows x 5 matrix whose Poisson-weighted column sums the bootstrap keeps."""
    weight = rows.weight_or_ones()
    infinite = np.isinf(rows.loss) & (weight > 0.0)
    values = np.empty((rows.loss.size, 5))
    values[:, _W] = weight
    values[:, _WY] = weight * rows.target
    values[:, _WP] = weight * rows.probability
    with np.errstate(over="ignore"):
        weighted_loss = weight * np.where(infinite | (weight == 0.0), 0.0, rows.loss)
    # A product beyond the float64 range is inf although its loss is finite. The replicate
    # sums would turn it into NaN where its Poisson weight is 0 and inf elsewhere, so it is
    # stored as NaN, which makes every replicate's loss sum NaN; bootstrap_intervals warns.
    values[:, _WL] = np.where(np.isinf(weighted_loss), np.nan, weighted_loss)
    values[:, _INFINITE] = infinite
    return values


def _warn_if_overflowed(log_loss: np.ndarray, weight_sums: np.ndarray, stacklevel: int) -> None:
    """Warn when a replicate of positive weight has a NaN log loss although no loss is infinite."""
    n_overflowed = int(np.count_nonzero(np.isnan(log_loss) & (weight_sums > 0.0)))
    if n_overflowed:
        warnings.warn(
            f"the bootstrap log loss and normalized entropy intervals are undefined, so their "
            f"bounds are NaN, although no row has an infinite loss: in {n_overflowed} of "
            f"{log_loss.size} replicates the sum of the weighted losses exceeds the float64 "
            f"range (about 1.8e308), because the losses are finite but huge, from logits of "
            f"extreme magnitude or very large weights",
            LossOverflowWarning,
            stacklevel=stacklevel,
        )


def binary_entropies(rate: np.ndarray) -> np.ndarray:
    """Return the Bernoulli entropy in nats of each `rate`, 0 at 0 and 1, NaN for NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -(rate * np.log(rate) + (1.0 - rate) * np.log1p(-rate))
    return np.where((rate <= 0.0) | (rate >= 1.0), 0.0, entropy)


def warn_empty_replicates(weight_sums: np.ndarray, stacklevel: int) -> None:
    """Warn when a replicate has no weight, which makes every percentile interval NaN."""
    n_empty = int(np.count_nonzero(weight_sums <= 0.0))
    if n_empty:
        warnings.warn(
            f"bootstrap intervals are undefined because {n_empty} of {weight_sums.size} "
            f"replicates drew no row of positive weight; their bounds are NaN. The data "
            f"need more rows for a bootstrap",
            UndefinedMetricWarning,
            stacklevel=stacklevel,
        )


class BootstrapState:
    """Streaming Poisson bootstrap of log loss, normalized entropy and calibration ratio.

    Parameters
    ----------
    n_bootstrap : int, default 200
        Number of replicates B, at least 2.
    seed : int, default 0
        Seed of the hashed weights, in [0, 2**64).
    clip : float, optional
        Clip probabilities as :class:`LogLossState` does.

    Attributes
    ----------
    full : LogLossState
        The sums of all rows with their own weights, for the point estimates and the
        delta-method intervals.

    See Also
    --------
    confidence_interval : Delta-method or bootstrap intervals of a state.
    bootstrap_weights : The Poisson weights of given row ids.

    Notes
    -----
    In replicate b, a row of weight w counts with weight :math:`w k_b`, where
    :math:`k_b \\sim \\text{Poisson}(1)` is computed from a hash of the seed, the row's id
    and b (see :func:`bootstrap_weights`). The state keeps, per replicate, the sums of
    :math:`w k_b`, :math:`w k_b y`, :math:`w k_b p`, :math:`w k_b \\ell` and the count of
    drawn rows of infinite loss. Any batching and any merge order gives the same sums up to
    float64 rounding, and sums of integer values are exact.

    Rows are identified by `row_ids` when given, else by position: each batch's first row
    is at `offset`, which defaults to just after the last position already added. Batches
    processed apart must pass their offsets (or ids); positions added twice raise. Rows
    with the same id get the same weights in every replicate: unique ids give the usual
    row bootstrap, and a shared group id (a user, say) resamples whole groups, which is the
    cluster bootstrap.

    The intervals are percentile intervals of the B replicate figures. A replicate
    whose drawn rows include an infinite loss has an infinite log loss.

    Examples
    --------
    >>> import numpy as np
    >>> from logloss import BootstrapState
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.95, 1000)
    >>> y = (rng.uniform(size=1000) < p).astype(int)
    >>> left, right = BootstrapState(seed=1), BootstrapState(seed=1)
    >>> left.update(p[:600], y[:600])
    >>> right.update(p[600:], y[600:], offset=600)
    >>> intervals = left.merge(right).interval(level=0.9)
    >>> intervals.method, intervals.n_bootstrap, intervals.seed
    ('bootstrap', 200, 1)
    >>> bool(intervals.log_loss.lower < intervals.log_loss.estimate < intervals.log_loss.upper)
    True
    """

    def __init__(self, *, n_bootstrap: int = 200, seed: int = 0, clip: float | None = None) -> None:
        self.full = LogLossState(clip=clip)
        self.replicates = ReplicateSums(5, n_bootstrap=n_bootstrap, seed=seed)

    @property
    def n_bootstrap(self) -> int:
        """Number of replicates B."""
        return self.replicates.n_bootstrap

    @property
    def seed(self) -> int:
        """Seed of the hashed Poisson weights."""
        return self.replicates.seed

    @property
    def clip(self) -> float | None:
        """Clipping bound of probabilities, or None."""
        return self.full.clip

    @property
    def count(self) -> int:
        """Number of rows added."""
        return self.full.count

    def __repr__(self) -> str:
        return f"BootstrapState(n_bootstrap={self.n_bootstrap}, seed={self.seed}, clip={self.clip!r}, count={self.count})"

    def update(self, y_pred, y_true, *, weights=None, row_ids=None, offset=None) -> None:
        """Add rows given as predicted probabilities.

        Parameters
        ----------
        y_pred, y_true, weights : array_like
            As in :meth:`LogLossState.update`.
        row_ids : array_like, optional
            One id per row (integers or strings), of the same shape as `y_pred`. Rows with
            the same id are resampled together.
        offset : int, optional
            Position of the batch's first row in the whole data set, when `row_ids` is not
            given. Default: just after the last position added to this state.

        Raises
        ------
        TypeError, ValueError
            For invalid input, as :meth:`LogLossState.update` does, for both `row_ids` and
            `offset`, for ids after positions or the reverse, and for positions added
            before. The state is unchanged.
        """
        predictions = check_probabilities(y_pred, "y_pred")
        target, weight = labels_and_weights(predictions.shape, y_true, weights)
        keys, span = self.replicates.keys(predictions.shape, row_ids, offset, "y_pred")
        self._add(probability_rows(predictions, target, weight, self.clip), keys, span)

    def update_logits(self, logits, y_true, *, weights=None, row_ids=None, offset=None) -> None:
        """Add rows given as logits (log-odds); see :meth:`update` for the parameters."""
        scores = check_logits(logits, "logits")
        target, weight = labels_and_weights(scores.shape, y_true, weights, "logits")
        keys, span = self.replicates.keys(scores.shape, row_ids, offset, "logits")
        self._add(logit_rows(scores, target, weight), keys, span)

    def _add(self, rows: Rows, keys: np.ndarray, span) -> None:
        self.replicates.add(keys, replicate_columns(rows), span)
        rows.add_to(self.full)

    def merge(self, other: BootstrapState) -> BootstrapState:
        """Return a new state holding the rows of both; neither input changes.

        Raises
        ------
        TypeError
            If `other` is not a BootstrapState.
        ValueError
            If the states differ in `n_bootstrap` or `seed`, identify rows differently, or
            both hold the same positions.
        """
        if not isinstance(other, BootstrapState):
            raise TypeError(f"`other` must be a BootstrapState, got {type(other).__name__}")
        merged = BootstrapState.__new__(BootstrapState)
        merged.replicates = self.replicates.merged(other.replicates)
        merged.full = self.full.merge(other.full)
        return merged

    def result(self) -> LogLossResult:
        """Compute the figures of all rows; see :meth:`LogLossState.result`."""
        return result_with_warnings(self.full, stacklevel=3)

    def replicate_figures(self) -> dict[str, np.ndarray]:
        """Return each replicate's log loss, normalized entropy and calibration ratio.

        A replicate with no weight gives NaN; see :class:`LogLossResult` for the others.
        """
        sums = self.replicates.totals()
        weight, label, prediction, loss = (sums[:, i] for i in (_W, _WY, _WP, _WL))
        with np.errstate(divide="ignore", invalid="ignore"):
            # A loss sum that overflowed without an infinite loss is NaN, as one of a
            # product that overflowed is (see replicate_columns).
            loss = np.where(np.isinf(loss), np.nan, loss)
            log_loss = np.where(sums[:, _INFINITE] > 0, np.inf, loss / weight)
            rate = np.clip(label / weight, 0.0, 1.0)
            entropy = binary_entropies(rate)
            normalized_entropy = np.where(entropy > 0, log_loss / entropy, np.where(log_loss > 0, np.inf, np.nan))
            calibration_ratio = np.where(
                label > 0, prediction / label, np.where(prediction > 0, np.inf, np.nan)
            )
        empty = weight <= 0.0
        figures = {
            "log_loss": log_loss,
            "normalized_entropy": normalized_entropy,
            "calibration_ratio": calibration_ratio,
        }
        return {name: np.where(empty, np.nan, values) for name, values in figures.items()}

    def interval(self, *, level: float = 0.95) -> Intervals:
        """Compute percentile bootstrap intervals; see :func:`confidence_interval`.

        Examples
        --------
        >>> import numpy as np
        >>> from logloss import BootstrapState
        >>> state = BootstrapState(n_bootstrap=50, seed=3)
        >>> state.update(np.linspace(0.1, 0.9, 40), np.arange(40) % 2)
        >>> interval = state.interval().calibration_ratio
        >>> bool(interval.lower <= interval.estimate <= interval.upper)
        True
        """
        return self.bootstrap_intervals(check_level(level), stacklevel=3)

    def bootstrap_intervals(self, level: float, stacklevel: int) -> Intervals:
        """Return the percentile intervals; `stacklevel` is the user's frame, 1 being this one."""
        result = result_with_warnings(self.full, stacklevel + 1)
        if result.weight_sum > 0:
            warn_empty_replicates(self.replicates.totals()[:, _W], stacklevel + 1)
        replicates = self.replicate_figures()
        if result.weight_sum > 0 and not result.n_infinite:
            _warn_if_overflowed(replicates["log_loss"], self.replicates.totals()[:, _W], stacklevel + 1)
        estimates = {
            "log_loss": result.log_loss,
            "normalized_entropy": result.normalized_entropy,
            "calibration_ratio": result.calibration_ratio,
        }
        intervals = {
            name: percentile_interval(estimates[name], replicates[name], level)
            if result.weight_sum > 0
            else percentile_interval(math.nan, np.full(2, np.nan), level)
            for name in estimates
        }
        return Intervals(
            **intervals,
            level=level,
            method="bootstrap",
            count=self.count,
            n_bootstrap=self.n_bootstrap,
            seed=self.seed,
        )
