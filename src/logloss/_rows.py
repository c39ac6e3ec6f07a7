"""Checked per-row values (probability, target, weight, loss) for the interval states.

The bootstrap and paired-comparison states need each row's loss, not only the sums that
:class:`LogLossState` keeps, so they validate and convert their input here with the same
checks and messages as :meth:`LogLossState.update`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _elementwise
from ._state import _LOGIT_HINT, LogLossState, _check_weight_range, expit, probability_loss
from ._validation import (
    NAN_HINT,
    as_numeric_array,
    check_in_unit_interval,
    check_not_nan,
    check_same_shape,
    check_weights,
)

__all__ = ["Rows", "labels_and_weights", "logit_rows", "probability_rows"]


@dataclass
class Rows:
    """One batch as flat float64 arrays; `weight` is None when every weight is 1."""

    probability: np.ndarray
    target: np.ndarray
    weight: np.ndarray | None
    loss: np.ndarray
    n_clipped: int = 0

    def weight_or_ones(self) -> np.ndarray:
        return np.ones_like(self.loss) if self.weight is None else self.weight

    def add_to(self, state: LogLossState) -> None:
        """Add the batch to `state`, as its ``update`` methods do."""
        state._add(self.probability, self.target, self.weight, self.loss, self.n_clipped)


def labels_and_weights(shape, y_true, weights, prediction_name: str = "y_pred"):
    """Check `y_true` and `weights` against the predictions' `shape`; return flat float64."""
    labels = as_numeric_array(y_true, "y_true")
    check_same_shape(labels, "y_true", shape, prediction_name)
    check_not_nan(labels, "y_true", NAN_HINT)
    check_in_unit_interval(labels, "y_true")
    weight = None
    if weights is not None:
        weight_array = as_numeric_array(weights, "weights")
        check_same_shape(weight_array, "weights", shape, prediction_name)
        check_weights(weight_array, "weights")
        weight = weight_array.astype(np.float64).ravel()
        _check_weight_range(weight, weight_array.shape)
    return labels.astype(np.float64).ravel(), weight


def check_probabilities(y_pred, name: str) -> np.ndarray:
    """Return `y_pred` as an array after the NaN and [0, 1] checks."""
    predictions = as_numeric_array(y_pred, name)
    check_not_nan(predictions, name, NAN_HINT)
    check_in_unit_interval(predictions, name, _LOGIT_HINT)
    return predictions


def check_logits(logits, name: str) -> np.ndarray:
    """Return `logits` as an array after the NaN check; infinite logits are allowed."""
    scores = as_numeric_array(logits, name)
    check_not_nan(scores, name, NAN_HINT)
    return scores


def probability_rows(predictions: np.ndarray, target: np.ndarray, weight, clip: float | None) -> Rows:
    """Return the rows of checked probabilities, each loss bounded by ``-log(clip)`` if given."""
    probability = predictions.astype(np.float64).ravel()
    loss, clipped = probability_loss(probability, target, clip)
    n_clipped = 0 if clipped is None else int(np.count_nonzero(clipped))
    return Rows(probability, target, weight, loss, n_clipped)


def logit_rows(scores: np.ndarray, target: np.ndarray, weight) -> Rows:
    """Return the rows of checked logits."""
    z = scores.astype(np.float64).ravel()
    loss = _elementwise.loss_from_logit(z, target, None)
    return Rows(expit(z), target, weight, loss)
