"""The consistency band of the CORP reliability curve under the hypothesis of calibration.

The curve itself is :func:`decompose`'s: the isotonic regression of the labels on the
predictions, with equal predictions pooled. The band shows where that curve would lie if the
predictions were calibrated, as proposed with CORP by Dimitriadis, Gneiting and Jordan,
"Stable reliability diagrams for probabilistic classifiers", PNAS 118(8), 2021.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._decompose import isotonic_fit
from ._validation import (
    NAN_HINT,
    as_numeric_array,
    check_in_unit_interval,
    check_not_nan,
    check_same_shape,
    check_weights,
)

__all__ = [
    "ConsistencyBand",
    "check_count",
    "check_level",
    "check_rows",
    "check_seed",
    "check_text",
    "consistency_band",
]

_LOGIT_HINT = "; for raw model scores (logits), apply the logistic function first"


def check_rows(y_pred, y_true, weights=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate the rows and return them as 1-D float64 arrays, weights all 1 by default."""
    predictions = as_numeric_array(y_pred, "y_pred")
    check_not_nan(predictions, "y_pred", NAN_HINT)
    check_in_unit_interval(predictions, "y_pred", _LOGIT_HINT)
    labels = as_numeric_array(y_true, "y_true")
    check_same_shape(labels, "y_true", predictions.shape, "y_pred")
    check_not_nan(labels, "y_true", NAN_HINT)
    check_in_unit_interval(labels, "y_true")
    if weights is None:
        weight = np.ones(predictions.size)
    else:
        weight_array = as_numeric_array(weights, "weights")
        check_same_shape(weight_array, "weights", predictions.shape, "y_pred")
        check_weights(weight_array, "weights")
        weight = weight_array.astype(np.float64).ravel()
    probability = predictions.astype(np.float64).ravel()
    target = labels.astype(np.float64).ravel()
    return probability, target, weight


def check_count(value, name: str, minimum: int, maximum: int | None = None) -> int:
    """Return `value` as an int, or raise TypeError for a non-integer, ValueError out of range."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"at least {minimum:,}" if maximum is None else f"from {minimum:,} to {maximum:,}"
        raise ValueError(f"`{name}` must be {bound}, got {value!r}")
    return int(value)


def check_level(value, name: str) -> float:
    """Return a coverage level in (0, 1) as a float, or raise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"`{name}` must be a number in (0, 1), got {type(value).__name__} {value!r}")
    if not 0.0 < value < 1.0:
        raise ValueError(f"`{name}` must be in (0, 1), got {value!r}")
    return float(value)


def check_seed(value, name: str = "seed") -> int:
    """Return a seed for ``np.random.default_rng``: a non-negative integer."""
    return check_count(value, name, 0)


def check_text(value, name: str) -> str:
    """Return `value` if it is a str, or raise TypeError."""
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a str, got {type(value).__name__} {value!r}")
    return value


@dataclass(frozen=True)
class ConsistencyBand:
    """Pointwise band of recalibrated probabilities that a calibrated model would show.

    Attributes
    ----------
    x : numpy.ndarray
        Distinct predictions of the resampled rows, sorted.
    lower, upper : numpy.ndarray
        Pointwise quantiles of the recalibrated probability at `x` over the resamples.
    level : float
        Coverage of the band, the distance between its two quantile levels.
    n_resamples : int
        Number of label resamples.
    n_rows : int
        Number of rows the resamples were drawn for.
    """

    x: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    level: float
    n_resamples: int
    n_rows: int


def consistency_band(
    y_pred,
    *,
    weights=None,
    level: float = 0.9,
    n_resamples: int = 300,
    max_rows: int = 10_000,
    seed: int = 0,
) -> ConsistencyBand:
    """Compute the consistency band of the CORP curve by resampling labels as Bernoulli(p).

    Under the hypothesis that the predictions are calibrated, a row with prediction `p`
    has the label 1 with probability `p`. Each resample draws such labels and recalibrates
    them with the same pooled isotonic regression as :func:`decompose`. The band
    is made of the pointwise ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles.
    To bound the work, at most `max_rows` rows of positive weight, drawn without
    replacement with the generator seeded by `seed`, enter the resamples; the band is
    then the band of a sample of that size, so wider than that of all rows.

    Examples
    --------
    >>> import numpy as np
    >>> band = consistency_band(np.linspace(0.05, 0.95, 50), n_resamples=50)
    >>> band.x.shape, bool(np.all(band.lower <= band.upper))
    ((50,), True)
    """
    level = check_level(level, "level")
    n_resamples = check_count(n_resamples, "n_resamples", 1)
    max_rows = check_count(max_rows, "max_rows", 1)
    seed = check_seed(seed)
    probability, _, weight = check_rows(y_pred, np.zeros(np.shape(y_pred)), weights)
    keep = np.flatnonzero(weight > 0.0)
    rng = np.random.default_rng(seed)
    if keep.size > max_rows:
        keep = np.sort(rng.choice(keep, size=max_rows, replace=False))
    probability = probability[keep]
    weight = weight[keep]
    distinct, inverse = np.unique(probability, return_inverse=True)
    if distinct.size == 0:
        empty = np.empty(0)
        return ConsistencyBand(empty, empty, empty.copy(), level, n_resamples, 0)

    pooled_weight = np.bincount(inverse, weights=weight, minlength=distinct.size)
    curves = np.empty((n_resamples, distinct.size))
    for i in range(n_resamples):
        labels = rng.random(probability.size) < probability
        pooled_label = np.bincount(inverse, weights=weight * labels, minlength=distinct.size)
        curves[i] = isotonic_fit(pooled_label / pooled_weight, pooled_weight)
    tail = (1.0 - level) / 2.0
    lower, upper = np.quantile(curves, [tail, 1.0 - tail], axis=0)
    return ConsistencyBand(distinct, lower, upper, level, n_resamples, int(probability.size))
