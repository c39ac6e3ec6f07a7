"""CORP decomposition of log loss into miscalibration, discrimination and uncertainty.

CORP (consistent, optimally binned, reproducible, PAV-based) is the method of T. Dimitriadis,
T. Gneiting and A. I. Jordan, "Stable reliability diagrams for probabilistic classifiers",
PNAS 118 (8), 2021, doi:10.1073/pnas.2016191118. The predictions are recalibrated by weighted
isotonic regression of the labels on the predictions (pool-adjacent-violators, from SciPy),
and with the mean log loss :math:`S` of a prediction,

.. math::

    \\mathrm{MCB} = S(p) - S(\\hat p), \\quad
    \\mathrm{DSC} = S(\\bar y) - S(\\hat p), \\quad
    \\mathrm{UNC} = S(\\bar y), \\quad
    S(p) = \\mathrm{MCB} - \\mathrm{DSC} + \\mathrm{UNC},

where :math:`\\hat p` is the recalibrated prediction and :math:`\\bar y` the weighted base rate.
The isotonic regression minimizes every proper scoring rule of the mean at once, log loss
included, so :math:`\\hat p` is the best monotone recalibration for log loss.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import _elementwise
from ._state import LogLossState, binary_entropy, expit, mean_loss, scaled_loss_sum, warn_loss_overflow
from ._validation import NAN_HINT, as_numeric_array, check_in_unit_interval, check_not_nan
from ._warnings import UndefinedMetricWarning

__all__ = ["Decomposition", "decompose", "decompose_with_logits"]

_LOGIT_HINT = "; for raw model scores (logits), call decompose_with_logits instead"


@dataclass(frozen=True, eq=False)
class Decomposition:
    """CORP decomposition of the mean log loss, in nats, with its reliability curve.

    Attributes
    ----------
    score : float
        Weighted mean log loss :math:`S` of the predictions. It is ``inf`` when a row has an
        infinite loss, from a probability of 0 for a positive label or 1 for a negative one.
    miscalibration : float
        MCB: the score minus the score of the recalibrated predictions, at least 0 up to
        rounding. It is ``inf`` when `score` is.
    discrimination : float
        DSC: the uncertainty minus the score of the recalibrated predictions, at least 0 up
        to rounding. Always finite.
    uncertainty : float
        UNC: the score of always predicting the base rate, the entropy of the base rate.
    normalized_entropy : float
        ``score / uncertainty``, which equals ``1 - (discrimination - miscalibration) /
        uncertainty``; ``inf`` (NaN when the score is 0 too) when all labels are equal.
    method : str
        ``"exact"`` for :func:`decompose` and :func:`decompose_with_logits`, ``"binned"`` for
        :meth:`BinnedDecompositionState.result`.
    prediction : numpy.ndarray
        The reliability curve's x values, increasing: the distinct predicted probabilities
        (exact), or the weighted mean prediction of each non-empty bin (binned).
    recalibrated : numpy.ndarray
        The recalibrated probability at each `prediction`, non-decreasing: the curve's
        y values.
    weight : numpy.ndarray
        The total weight of the rows at each `prediction`, for point sizes or histograms.
    base_rate : float
        Weighted mean label.
    count : int
        Number of rows, including rows of weight 0.
    weight_sum : float
        Total weight.
    n_infinite : int
        Rows of positive weight whose loss is infinite.
    error_bound : float or None
        For the binned method, the stated bound on how much lower its `discrimination` and
        `miscalibration` may be than the exact method's (both shift by the same amount,
        which is never negative); None for the exact method.
    """

    score: float
    miscalibration: float
    discrimination: float
    uncertainty: float
    normalized_entropy: float
    method: str
    prediction: np.ndarray = field(repr=False)
    recalibrated: np.ndarray = field(repr=False)
    weight: np.ndarray = field(repr=False)
    base_rate: float = math.nan
    count: int = 0
    weight_sum: float = 0.0
    n_infinite: int = 0
    error_bound: float | None = None

    def to_dict(self, *, curve: bool = False) -> dict:
        """Return the figures as a plain dict, ready for JSON; the curve as lists if `curve`."""
        figures = {
            "score": self.score,
            "miscalibration": self.miscalibration,
            "discrimination": self.discrimination,
            "uncertainty": self.uncertainty,
            "normalized_entropy": self.normalized_entropy,
            "method": self.method,
            "base_rate": self.base_rate,
            "count": self.count,
            "weight_sum": self.weight_sum,
            "n_infinite": self.n_infinite,
            "error_bound": self.error_bound,
        }
        if curve:
            figures["prediction"] = self.prediction.tolist()
            figures["recalibrated"] = self.recalibrated.tolist()
            figures["weight"] = self.weight.tolist()
        return figures


def decompose(y_pred, y_true, *, weights=None) -> Decomposition:
    """Decompose the log loss of probabilities into miscalibration, discrimination, uncertainty.

    Parameters
    ----------
    y_pred : array_like
        Predicted probabilities of the positive class in [0, 1], any shape.
    y_true : array_like
        Targets in [0, 1] of the same shape: labels 0 and 1, or soft labels.
    weights : array_like, optional
        Non-negative sample weights of the same shape. Default: all 1.

    Returns
    -------
    Decomposition
        ``score = miscalibration - discrimination + uncertainty``, with ``method="exact"``
        and the reliability curve over the distinct predictions.

    Raises
    ------
    ImportError
        If SciPy 1.12 or later is not installed (the ``eval`` extra).
    TypeError, ValueError
        As :func:`binary_cross_entropy` does for the same input.

    See Also
    --------
    decompose_with_logits : The same for logits.
    BinnedDecompositionState : A streaming, mergeable approximation for data that does not
        fit in memory.

    Notes
    -----
    Equal predictions are pooled first, each weighted by the total weight of its rows. The
    isotonic regression then runs on the pooled points. Rows of weight 0 are left out. When
    a row's loss is infinite (a probability of exactly 0 for a positive label, or 1 for a
    negative one), `score`, `miscalibration` and `normalized_entropy` are ``inf`` and
    `n_infinite` counts the rows; `discrimination` and `uncertainty` stay finite, because the
    recalibrated predictions never give an infinite loss. With no rows or a total weight of
    0 every figure is NaN, and when all labels are equal the normalized entropy is
    undefined; both cases warn with :class:`UndefinedMetricWarning`.

    The score, the recalibrated score and the uncertainty are computed in float64 and the
    components are their differences, so a component of 0 may come out as a tiny negative
    number of the order of ``eps * score``.

    Examples
    --------
    >>> import numpy as np
    >>> from logloss import decompose
    >>> result = decompose(np.array([0.1, 0.4, 0.4, 0.8]), np.array([0, 1, 0, 1]))
    >>> result.method
    'exact'
    >>> round(result.score, 6), round(result.miscalibration, 6), round(result.discrimination, 6)
    (0.438905, 0.092332, 0.346574)
    >>> result.recalibrated.tolist()
    [0.0, 0.5, 1.0]
    """
    predictions = as_numeric_array(y_pred, "y_pred")
    check_not_nan(predictions, "y_pred", NAN_HINT)
    check_in_unit_interval(predictions, "y_pred", _LOGIT_HINT)
    target, weight = LogLossState()._check_labels_and_weights(predictions, y_true, weights)
    probability = predictions.astype(np.float64).ravel()
    loss = _elementwise.loss_from_probability(probability, target, None)
    return _exact(probability, probability, target, weight, loss)


def decompose_with_logits(logits, y_true, *, weights=None) -> Decomposition:
    """Decompose the log loss of logits (log-odds); see :func:`decompose` for the parameters.

    The rows are ordered and pooled by their logits, so distinct logits whose probabilities
    round to the same float64 stay distinct points. The curve's `prediction` is
    ``expit(logit)``.

    Examples
    --------
    >>> import numpy as np
    >>> from logloss import decompose_with_logits
    >>> result = decompose_with_logits(np.array([-2.0, 0.0, 0.0, 1.5]), np.array([0, 1, 0, 1]))
    >>> round(result.miscalibration - result.discrimination + result.uncertainty, 12) == round(result.score, 12)
    True
    """
    scores = as_numeric_array(logits, "logits")
    check_not_nan(scores, "logits", NAN_HINT)
    target, weight = LogLossState()._check_labels_and_weights(scores, y_true, weights)
    z = scores.astype(np.float64, copy=False).ravel()
    loss = _elementwise.loss_from_logit(z, target, None)
    return _exact(z, expit(z), target, weight, loss)


def _exact(order, probability, target, weight, loss) -> Decomposition:
    count = int(loss.size)
    if weight is None:
        weight = np.ones_like(loss)
    else:
        positive_weight = weight > 0
        if not positive_weight.all():
            arrays = (order, probability, target, weight, loss)
            order, probability, target, weight, loss = (array[positive_weight] for array in arrays)

    sort = np.argsort(order)
    order, probability, target, weight = order[sort], probability[sort], target[sort], weight[sort]
    starts = np.flatnonzero(np.r_[True, order[1:] != order[:-1]]) if order.size else np.zeros(0, dtype=np.intp)
    point_weight = np.add.reduceat(weight, starts) if order.size else np.zeros(0)
    point_positive = np.add.reduceat(weight * target, starts) if order.size else np.zeros(0)
    point_negative = np.add.reduceat(weight * (1.0 - target), starts) if order.size else np.zeros(0)

    infinite = np.isinf(loss)
    n_infinite = int(np.count_nonzero(infinite))
    with np.errstate(invalid="ignore", over="ignore"):
        weighted_loss = math.inf if n_infinite else float(np.dot(weight, loss[sort]))
    scaled_weighted_loss = None
    if math.isinf(weighted_loss) and not n_infinite:
        scaled_weighted_loss = scaled_loss_sum(loss[sort], weight)
    return assemble(
        "exact",
        count=count,
        weighted_loss=weighted_loss,
        scaled_weighted_loss=scaled_weighted_loss,
        n_infinite=n_infinite,
        point_prediction=probability[starts],
        point_weight=point_weight,
        point_positive=point_positive,
        point_negative=point_negative,
        error_bound=None,
    )


def isotonic_fit(mean: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Return the weighted isotonic (non-decreasing) regression of `mean`, within [0, 1]."""
    try:
        from scipy.optimize import isotonic_regression
    except ImportError:
        from ._entry import EXTRA_HINT

        raise ImportError(
            "the log loss decomposition needs SciPy 1.12 or later for isotonic regression; "
            + EXTRA_HINT.format(extra="eval")
        ) from None
    if mean.size == 0:
        return mean.copy()
    fitted = isotonic_regression(mean, weights=weight, increasing=True).x
    # A block mean of labels in [0, 1] can round one ulp outside; log needs it inside.
    return np.clip(fitted, 0.0, 1.0)


def assemble(
    method: str,
    *,
    count: int,
    weighted_loss: float,
    n_infinite: int,
    point_prediction: np.ndarray,
    point_weight: np.ndarray,
    point_positive: np.ndarray,
    point_negative: np.ndarray,
    error_bound: float | None,
    scaled_weighted_loss: float | None = None,
) -> Decomposition:
    """Recalibrate pooled points by isotonic regression and build the decomposition.

    Each point has a prediction, a total weight, and the weighted sums of its labels
    (`point_positive`) and of one minus its labels (`point_negative`).
    `scaled_weighted_loss` is `weighted_loss` times ``2**-LOSS_SCALE_EXPONENT``, summed
    without overflow; it gives the score when `weighted_loss` overflowed (see
    ``_state.mean_loss``).
    """
    weight_sum = float(point_weight.sum())
    if not weight_sum > 0.0:
        reason = "there are no rows" if count == 0 else "the total weight is 0"
        warnings.warn(
            f"the log loss decomposition is undefined because {reason}; every figure is NaN",
            UndefinedMetricWarning,
            stacklevel=3,
        )
        nan = math.nan
        empty = np.zeros(0)
        return Decomposition(nan, nan, nan, nan, nan, method, empty, empty, empty, nan, count, weight_sum, n_infinite, error_bound)

    recalibrated = isotonic_fit(point_positive / point_weight, point_weight)
    with np.errstate(divide="ignore", invalid="ignore"):
        # xlogy semantics: a block whose recalibrated value is 0 (or 1) has only labels 0
        # (or 1), so the term with the infinite logarithm has a coefficient of exactly 0.
        positive_terms = np.where(point_positive > 0, point_positive * np.log(recalibrated), 0.0)
        negative_terms = np.where(point_negative > 0, point_negative * np.log1p(-recalibrated), 0.0)
    recalibrated_score = -float(positive_terms.sum() + negative_terms.sum()) / weight_sum

    base_rate = min(max(float(point_positive.sum()) / weight_sum, 0.0), 1.0)
    uncertainty = binary_entropy(base_rate)
    score = math.inf if n_infinite else mean_loss(weighted_loss, weight_sum, scaled_weighted_loss)
    if math.isinf(score) and not n_infinite:
        warn_loss_overflow("the log loss of the decomposition", "the sum of the weighted losses", stacklevel=3)
    if uncertainty > 0.0:
        normalized_entropy = score / uncertainty
    else:
        warnings.warn(
            f"the normalized entropy is undefined because every label is {base_rate:g}, so "
            f"the uncertainty is 0; it is reported as {'inf' if score > 0 else 'NaN'}",
            UndefinedMetricWarning,
            stacklevel=3,
        )
        normalized_entropy = math.inf if score > 0 else math.nan
    return Decomposition(
        score=score,
        miscalibration=score - recalibrated_score,
        discrimination=uncertainty - recalibrated_score,
        uncertainty=uncertainty,
        normalized_entropy=normalized_entropy,
        method=method,
        prediction=point_prediction,
        recalibrated=recalibrated,
        weight=point_weight,
        base_rate=base_rate,
        count=count,
        weight_sum=weight_sum,
        n_infinite=n_infinite,
        error_bound=error_bound,
    )
