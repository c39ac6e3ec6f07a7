r"""Paired comparison of two prediction columns on the same rows.

The difference in log loss, model A minus model B, is the weighted mean of the per-row
differences :math:`d = \ell_A - \ell_B`, so its delta-method variance needs
:math:`\sum w d`, :math:`\sum w^2 d` and :math:`\sum w^2 d^2`, which this state keeps
besides one :class:`LogLossState` per model. Pairing removes the variation that both models
share, so the interval of the difference is usually much narrower than either model's.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from ._bootstrap import warn_empty_replicates
from ._intervals import Interval, _centered, check_level, normal_interval, percentile_interval
from ._replicates import ReplicateSums
from ._rows import Rows, check_logits, check_probabilities, labels_and_weights, logit_rows, probability_rows
from ._state import LogLossState, compensated_add
from ._validation import check_same_shape
from ._warnings import LossOverflowWarning, UndefinedMetricWarning

__all__ = ["PairedComparison", "PairedComparisonState"]

_METHODS = ("delta", "bootstrap")
# Per-replicate columns: weight, weight * difference over rows where both losses are
# finite, and the counts of rows of positive weight with an infinite loss for A and for B.
_W, _WD, _INFINITE_A, _INFINITE_B = range(4)


@dataclass(frozen=True)
class PairedComparison:
    """The difference in log loss between two models on the same rows, with its interval.

    Attributes
    ----------
    log_loss_a, log_loss_b : float
        Log loss of each model.
    difference : Interval
        Log loss of A minus log loss of B: negative when A is better.
    level : float
        Confidence level.
    method : str
        ``"delta"`` or ``"bootstrap"``.
    count : int
        Number of rows.
    n_bootstrap : int or None
        Number of bootstrap replicates; None for the delta method.
    seed : int or None
        Seed of the bootstrap weights; None for the delta method.
    """

    log_loss_a: float
    log_loss_b: float
    difference: Interval
    level: float
    method: str
    count: int
    n_bootstrap: int | None = None
    seed: int | None = None

    def to_dict(self) -> dict:
        """Return the comparison as nested plain dicts, ready for JSON."""
        return asdict(self)


class PairedComparisonState:
    r"""Streaming comparison of two models' log loss on the same rows.

    Parameters
    ----------
    n_bootstrap : int, optional
        Number of Poisson bootstrap replicates to keep, at least 2. Default: none, so only
        the delta method is available.
    seed : int, default 0
        Seed of the hashed bootstrap weights, as in :class:`BootstrapState`.
    clip : float, optional
        Clip both models' probabilities as :class:`LogLossState` does.

    Attributes
    ----------
    state_a, state_b : LogLossState
        The sums of each model alone.

    Notes
    -----
    With :math:`D = \sum w d / \sum w` the delta-method variance is
    :math:`\frac{n_e}{n_e - 1} \sum w^2 (d - D)^2 / (\sum w)^2`, with the effective size
    :math:`n_e` of :func:`confidence_interval`. The bootstrap draws the same hashed weight
    for a row in both models, so its replicates are paired too.

    A row where only A has an infinite loss makes the difference ``inf``, only B ``-inf``;
    infinite losses in both models make it NaN. The interval is then NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from logloss import PairedComparisonState
    >>> y = np.array([1, 0, 1, 1, 0, 0])
    >>> a = np.array([0.8, 0.3, 0.6, 0.9, 0.2, 0.4])
    >>> b = np.array([0.7, 0.4, 0.5, 0.8, 0.3, 0.5])
    >>> state = PairedComparisonState()
    >>> state.update(a, b, y)
    >>> comparison = state.interval(level=0.9)
    >>> round(comparison.difference.estimate, 4)
    -0.1506
    >>> comparison.difference.upper < 0
    True
    """

    def __init__(self, *, n_bootstrap: int | None = None, seed: int = 0, clip: float | None = None) -> None:
        self.state_a = LogLossState(clip=clip)
        self.state_b = LogLossState(clip=clip)
        self._high = np.zeros(3)  # sum w d, sum w^2 d, sum w^2 d^2
        self._low = np.zeros(3)
        self.replicates = None if n_bootstrap is None else ReplicateSums(4, n_bootstrap=n_bootstrap, seed=seed)
        self._seed = seed

    @property
    def count(self) -> int:
        """Number of rows added."""
        return self.state_a.count

    @property
    def n_bootstrap(self) -> int | None:
        """Number of bootstrap replicates, or None."""
        return None if self.replicates is None else self.replicates.n_bootstrap

    def __repr__(self) -> str:
        return f"PairedComparisonState(n_bootstrap={self.n_bootstrap}, seed={self._seed}, count={self.count})"

    def update(self, y_pred_a, y_pred_b, y_true, *, weights=None, row_ids=None, offset=None) -> None:
        """Add rows given as two models' predicted probabilities.

        Parameters
        ----------
        y_pred_a, y_pred_b : array_like
            Probabilities of models A and B, of the same shape.
        y_true, weights : array_like
            As in :meth:`LogLossState.update`.
        row_ids, offset : optional
            Row identification for the bootstrap, as in :meth:`BootstrapState.update`;
            accepted and checked without a bootstrap too.

        Raises
        ------
        TypeError, ValueError
            For invalid input, as :meth:`BootstrapState.update` does. The state is unchanged.
        """
        predictions_a = check_probabilities(y_pred_a, "y_pred_a")
        predictions_b = check_probabilities(y_pred_b, "y_pred_b")
        check_same_shape(predictions_b, "y_pred_b", predictions_a.shape, "y_pred_a")
        target, weight = labels_and_weights(predictions_a.shape, y_true, weights, "y_pred_a")
        keys = self._keys(predictions_a.shape, row_ids, offset, "y_pred_a")
        clip = self.state_a.clip
        self._add(
            probability_rows(predictions_a, target, weight, clip),
            probability_rows(predictions_b, target, weight, clip),
            keys,
        )

    def update_logits(self, logits_a, logits_b, y_true, *, weights=None, row_ids=None, offset=None) -> None:
        """Add rows given as two models' logits; see :meth:`update` for the parameters."""
        scores_a = check_logits(logits_a, "logits_a")
        scores_b = check_logits(logits_b, "logits_b")
        check_same_shape(scores_b, "logits_b", scores_a.shape, "logits_a")
        target, weight = labels_and_weights(scores_a.shape, y_true, weights, "logits_a")
        keys = self._keys(scores_a.shape, row_ids, offset, "logits_a")
        self._add(logit_rows(scores_a, target, weight), logit_rows(scores_b, target, weight), keys)

    def _keys(self, shape, row_ids, offset, name):
        if self.replicates is None:
            return None
        return self.replicates.keys(shape, row_ids, offset, name)

    def _add(self, rows_a: Rows, rows_b: Rows, keys) -> None:
        weight = rows_a.weight_or_ones()
        finite = np.isfinite(rows_a.loss) & np.isfinite(rows_b.loss) & (weight > 0.0)
        with np.errstate(invalid="ignore"):  # inf - inf on rows that `finite` masks out
            difference = np.where(finite, rows_a.loss - rows_b.loss, 0.0)
        # Products and sums beyond the float64 range are inf; interval() reports them.
        with np.errstate(over="ignore"):
            weighted = weight * difference
            squared_weighted = weight * weighted
            sums = np.array([weighted.sum(), squared_weighted.sum(), np.dot(squared_weighted, difference)])

        if keys is not None:
            values = np.empty((weight.size, 4))
            values[:, _W] = weight
            # NaN, not inf, for a product that overflowed: see _bootstrap.replicate_columns.
            values[:, _WD] = np.where(np.isinf(weighted), np.nan, weighted)
            values[:, _INFINITE_A] = np.isinf(rows_a.loss) & (weight > 0.0)
            values[:, _INFINITE_B] = np.isinf(rows_b.loss) & (weight > 0.0)
            row_keys, span = keys
            self.replicates.add(row_keys, values, span)

        for state, rows in ((self.state_a, rows_a), (self.state_b, rows_b)):
            rows.add_to(state)
        compensated_add(self._high, self._low, sums)

    def merge(self, other: PairedComparisonState) -> PairedComparisonState:
        """Return a new state holding the rows of both; neither input changes.

        Raises
        ------
        TypeError
            If `other` is not a PairedComparisonState.
        ValueError
            If one state keeps bootstrap replicates and the other does not, or as
            :meth:`BootstrapState.merge` does.
        """
        if not isinstance(other, PairedComparisonState):
            raise TypeError(f"`other` must be a PairedComparisonState, got {type(other).__name__}")
        if (self.replicates is None) != (other.replicates is None):
            raise ValueError(
                f"states must both keep bootstrap replicates or both not, got "
                f"n_bootstrap={self.n_bootstrap} and n_bootstrap={other.n_bootstrap}"
            )
        merged = PairedComparisonState.__new__(PairedComparisonState)
        merged.replicates = None if self.replicates is None else self.replicates.merged(other.replicates)
        merged._seed = self._seed
        merged.state_a = self.state_a.merge(other.state_a)
        merged.state_b = self.state_b.merge(other.state_b)
        merged._high = self._high.copy()
        merged._low = self._low + other._low
        compensated_add(merged._high, merged._low, other._high)
        return merged

    def interval(self, *, level: float = 0.95, method: str = "delta") -> PairedComparison:
        """Compute the difference in log loss (A minus B) and its confidence interval.

        Parameters
        ----------
        level : float, default 0.95
            Confidence level, in (0, 1).
        method : {"delta", "bootstrap"}, default "delta"
            Delta method on the per-row differences, or percentiles of the paired bootstrap
            replicates (needs `n_bootstrap`).

        Warns
        -----
        UndefinedMetricWarning
            With no weight, an infinite loss, fewer than two rows of positive weight, or a
            bootstrap replicate that drew no row. The undefined parts are NaN, except that
            bootstrap bounds with an infinite loss are percentiles of replicate differences
            that may be infinite.
        """
        level = check_level(level)
        if method not in _METHODS:
            raise ValueError(f"`method` must be one of {', '.join(map(repr, _METHODS))}, got {method!r}")
        if method == "bootstrap" and self.replicates is None:
            raise ValueError(
                "method='bootstrap' needs bootstrap replicates; create the state with "
                "PairedComparisonState(n_bootstrap=...)"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            result_a, result_b = self.state_a.result(), self.state_b.result()
        weight_sum = result_a.weight_sum
        estimate = self._difference_estimate(weight_sum, result_a.n_infinite, result_b.n_infinite)

        if method == "delta":
            difference = normal_interval(estimate, self._delta_variance(estimate), level)
            n_bootstrap = seed = None
        else:
            totals = self.replicates.totals()
            if weight_sum > 0:
                warn_empty_replicates(totals[:, _W], stacklevel=3)
            difference = percentile_interval(estimate, _replicate_differences(totals), level)
            n_bootstrap, seed = self.replicates.n_bootstrap, self.replicates.seed
        n_infinite = result_a.n_infinite + result_b.n_infinite
        self._warn_if_undefined(weight_sum, n_infinite, difference)
        self._warn_if_overflowed(weight_sum, n_infinite, difference)
        return PairedComparison(
            result_a.log_loss, result_b.log_loss, difference, level, method, self.count, n_bootstrap, seed
        )

    def _difference_estimate(self, weight_sum: float, n_infinite_a: int, n_infinite_b: int) -> float:
        if weight_sum <= 0.0 or (n_infinite_a and n_infinite_b):
            return math.nan
        if n_infinite_a or n_infinite_b:
            return math.inf if n_infinite_a else -math.inf
        estimate = float(self._high[0] + self._low[0]) / weight_sum
        # Without an infinite loss, an infinite sum overflowed (see _warn_if_overflowed).
        return estimate if math.isfinite(estimate) else math.nan

    def _delta_variance(self, estimate: float) -> float:
        weight_sum, weight_square_sum = self.state_a.sum("w"), self.state_a.sum("w2")
        if not math.isfinite(estimate) or weight_square_sum <= 0:
            return math.nan
        effective_size = weight_sum**2 / weight_square_sum
        if effective_size <= 1.0:
            return math.nan
        # Python floats: a product beyond the range is inf without a NumPy warning, and
        # interval() explains the NaN bounds that follow.
        _, squared_weighted, squared = (float(value) for value in self._high + self._low)
        # Equal differences in every row give a spread of 0, which rounding would turn into noise.
        spread = _centered(squared, -2.0 * estimate * squared_weighted, estimate * estimate * weight_square_sum)
        return effective_size / (effective_size - 1.0) * spread / weight_sum**2

    def _warn_if_overflowed(self, weight_sum: float, n_infinite: int, difference: Interval) -> None:
        """Warn when the difference or its bounds are NaN only because sums of finite terms overflowed."""
        if weight_sum <= 0 or n_infinite:
            return
        weight_square_sum = self.state_a.sum("w2")
        if weight_sum**2 / weight_square_sum <= 1.0:
            return  # fewer than two rows of positive weight: _warn_if_undefined covers it
        if math.isfinite(difference.estimate) and not math.isnan(difference.lower):
            return
        figure = "interval of the log loss difference is"
        if not math.isfinite(difference.estimate):
            figure = "log loss difference and its interval are"
        warnings.warn(
            f"the {figure} undefined, so NaN, although no row has an infinite loss: a sum of "
            f"the weighted loss differences, or of their squares, exceeds the float64 range "
            f"(about 1.8e308), because the losses are finite but huge, from logits of extreme "
            f"magnitude or very large weights",
            LossOverflowWarning,
            stacklevel=3,
        )

    def _warn_if_undefined(self, weight_sum: float, n_infinite: int, difference: Interval) -> None:
        weight_square_sum = self.state_a.sum("w2")
        if weight_sum <= 0:
            reason = "there are no rows" if self.count == 0 else "the total weight is 0"
        elif n_infinite:
            losses = "1 loss is" if n_infinite == 1 else f"{n_infinite} losses are"
            reason = f"{losses} infinite (pass clip to bound them)"
        elif weight_sum**2 / weight_square_sum <= 1.0:
            reason = "fewer than two rows have a positive weight"
        else:
            return
        if math.isnan(difference.lower) and math.isnan(difference.upper):
            message = f"the interval of the log loss difference is undefined because {reason}, so its bounds are NaN"
        else:
            # Only bootstrap bounds get here: a replicate that drew an infinite loss has an
            # infinite difference, and the percentiles keep it.
            message = (
                f"the log loss difference is {_format_value(difference.estimate)} because {reason}. "
                f"Its bootstrap bounds are percentiles of the replicates' differences, which are "
                f"infinite where a replicate drew such a row, so a bound and the standard error "
                f"may be infinite"
            )
        warnings.warn(message, UndefinedMetricWarning, stacklevel=3)


def _format_value(value: float) -> str:
    return "NaN" if math.isnan(value) else f"{value:g}"


def _replicate_differences(totals: np.ndarray) -> np.ndarray:
    """Return each replicate's difference, following the estimate's rules for infinities."""
    weight = totals[:, _W]
    infinite_a, infinite_b = totals[:, _INFINITE_A] > 0, totals[:, _INFINITE_B] > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        difference = totals[:, _WD] / weight
    # A sum of finite differences that overflowed is NaN, as in _difference_estimate.
    difference = np.where(np.isinf(totals[:, _WD]), np.nan, difference)
    difference = np.where(infinite_a, np.inf, difference)
    difference = np.where(infinite_b, -np.inf, difference)
    return np.where((infinite_a & infinite_b) | (weight <= 0.0), np.nan, difference)
