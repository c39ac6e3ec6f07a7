"""The hint after a rejected prediction: logits for a value outside [0, 1], never for NaN."""

import numpy as np
import pytest

from logloss import (
    BinnedDecompositionState,
    BootstrapState,
    GroupedLogLossState,
    LogLossState,
    binary_cross_entropy,
    binary_cross_entropy_grad_hess,
    binary_cross_entropy_with_logits,
    decompose,
)
from logloss._reliability import check_rows

LABELS = np.array([1.0, 0.0, 1.0])
KEYS = np.array(["a", "b", "a"])

# Each entry point that takes probabilities, called with predictions and labels.
PROBABILITY_CALLS = {
    "binary_cross_entropy": binary_cross_entropy,
    "grad_hess": binary_cross_entropy_grad_hess,
    "LogLossState": lambda y_pred, y_true: LogLossState().update(y_pred, y_true),
    "GroupedLogLossState": lambda y_pred, y_true: GroupedLogLossState().update(y_pred, y_true, KEYS),
    "BinnedDecompositionState": lambda y_pred, y_true: BinnedDecompositionState().update(y_pred, y_true),
    "BootstrapState": lambda y_pred, y_true: BootstrapState().update(y_pred, y_true),
    "decompose": decompose,
    "reliability rows": check_rows,
}


@pytest.mark.parametrize("call", PROBABILITY_CALLS.values(), ids=PROBABILITY_CALLS.keys())
def test_nan_prediction_hint(call):
    with pytest.raises(ValueError, match=r"`y_pred` must not contain NaN.*drop those rows or impute") as caught:
        call(np.array([0.5, np.nan, 0.2]), LABELS)
    assert "logits" not in str(caught.value)


@pytest.mark.parametrize("call", PROBABILITY_CALLS.values(), ids=PROBABILITY_CALLS.keys())
def test_out_of_range_prediction_hint(call):
    with pytest.raises(ValueError, match=r"`y_pred` must be in \[0, 1\], got 1.5 .*logits"):
        call(np.array([0.5, 1.5, 0.2]), LABELS)


def test_state_nan_label_hint():
    with pytest.raises(ValueError, match=r"`y_true` must not contain NaN.*drop those rows or impute"):
        LogLossState().update(np.array([0.5, 0.5]), np.array([1.0, np.nan]))


def test_state_nan_logit_hint():
    with pytest.raises(ValueError, match=r"`logits` must not contain NaN.*drop those rows or impute"):
        LogLossState().update_logits(np.array([0.5, np.nan]), np.array([1.0, 0.0]))


def test_loss_nan_label_names_nan_policy():
    with pytest.raises(ValueError, match=r"`y_true` must not contain NaN.*nan_policy='omit'"):
        binary_cross_entropy_with_logits(np.array([0.5, 0.5]), np.array([1.0, np.nan]))
