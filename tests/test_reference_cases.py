"""Known failure cases of popular log-loss implementations, one test or more per case.

The numbers live in tests/data/reference_cases.json; each test names its case.
"""

import json
import math
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

from logloss import (
    InfiniteLossWarning,
    LogLossState,
    UndefinedMetricWarning,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
)

CASES = json.loads((Path(__file__).parent / "data" / "reference_cases.json").read_text())["cases"]
F32_EPS = float(np.finfo(np.float32).eps)
F64_EPS = float(np.finfo(np.float64).eps)


def _floats(values):
    return [float(v) for v in values]


@pytest.mark.parametrize("dtype", CASES["float32-clip-rounds-to-one"]["dtypes"])
def test_probability_one_narrow_dtype(dtype):
    case = CASES["float32-clip-rounds-to-one"]
    y_pred = np.array(case["y_pred"], dtype=dtype)
    y_true = np.array(case["y_true"])
    assert binary_cross_entropy(y_pred, y_true) == case["expected"]
    for clip in case["clips"]:
        clipped = binary_cross_entropy(y_pred, y_true, clip=clip)
        assert not math.isnan(clipped)
        assert 0.0 <= clipped <= case["clipped_upper_bound"]


def test_zero_probability_true_class_is_inf():
    case = CASES["zero-probability-for-true-class"]
    with pytest.warns(InfiniteLossWarning, match="1 element has an infinite loss.*index 1"):
        loss = binary_cross_entropy(np.array(case["y_pred"]), np.array(case["y_true"]))
    assert loss == math.inf


@pytest.mark.parametrize("clip, expected", CASES["zero-probability-for-true-class"]["clipped"])
def test_zero_probability_clipped(clip, expected):
    case = CASES["zero-probability-for-true-class"]
    loss = binary_cross_entropy(np.array(case["y_pred"]), np.array(case["y_true"]), clip=clip)
    assert loss == pytest.approx(expected, rel=4 * F64_EPS, abs=0)
    assert loss == pytest.approx(-math.log(clip) / 4, rel=4 * F64_EPS, abs=0)


@pytest.mark.parametrize("dtype", ["int64", "float64", "bool"])
def test_zero_times_log_zero(dtype):
    case = CASES["zero-times-log-zero"]
    y_pred = np.array(case["y_pred"]).astype(dtype)
    assert binary_cross_entropy(y_pred, np.array(case["y_true"])) == case["expected"]


@pytest.mark.parametrize("y_pred", CASES["zero-times-log-zero"]["infinite_predictions"])
def test_wrong_certain_prediction_is_inf(y_pred):
    case = CASES["zero-times-log-zero"]
    with pytest.warns(InfiniteLossWarning):
        loss = binary_cross_entropy(np.array(y_pred), np.array(case["y_true"]))
    assert loss == math.inf


def test_weighted_mean_divides_by_weight_sum():
    case = CASES["weighted-mean-denominator"]
    logits = np.array(case["logits"], dtype=case["dtype"])
    y_true = np.array(case["y_true"])
    weights = np.array(case["weights"], dtype=np.float32)
    mean = binary_cross_entropy_with_logits(logits, y_true, weights=weights)
    assert mean == pytest.approx(case["weighted_mean"], rel=4 * F32_EPS, abs=0)
    total = binary_cross_entropy_with_logits(logits, y_true, weights=weights, reduction="sum")
    assert total / len(logits) == pytest.approx(case["sum_over_count"], rel=4 * F32_EPS, abs=0)


def test_weighted_mean_scale_invariant():
    case = CASES["weighted-mean-denominator"]
    logits = np.array(case["logits"], dtype=case["dtype"])
    y_true = np.array(case["y_true"])
    weights = np.array(case["weights"], dtype=np.float64)
    base = binary_cross_entropy_with_logits(logits, y_true, weights=weights)
    for scale in (1e-300, 0.125, 7.0, 1e300):
        scaled = binary_cross_entropy_with_logits(logits, y_true, weights=weights * scale)
        assert scaled == pytest.approx(base, rel=4 * F64_EPS, abs=0)


def test_tiny_probability_not_capped():
    case = CASES["log-clamp-caps-finite-loss"]
    expected = float(case["expected_50_digits"])
    loss = binary_cross_entropy(np.array(case["y_pred"]), np.array(case["y_true"]))
    assert loss == pytest.approx(expected, rel=F64_EPS, abs=0)
    # The same prediction as a logit: log(p) - log(1 - p), with log(1 - p) = -1e-50.
    logit = math.log(case["y_pred"][0]) + case["y_pred"][0]
    from_logit = binary_cross_entropy_with_logits(np.array([logit]), np.array(case["y_true"]))
    assert from_logit == pytest.approx(expected, rel=F64_EPS, abs=0)


def test_infinite_logits_mean():
    case = CASES["inf-logits-nan"]
    logits = np.array(_floats(case["logits"]), dtype=case["dtype"])
    mean = binary_cross_entropy_with_logits(logits, np.array(case["y_true"]))
    assert mean == pytest.approx(case["expected_mean"], rel=F32_EPS, abs=0)


@pytest.mark.parametrize("logit, label, expected", CASES["inf-logits-nan"]["elementwise"])
def test_infinite_logit_elementwise(logit, label, expected):
    logits = np.array([float(logit)], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InfiniteLossWarning)
        loss = binary_cross_entropy_with_logits(logits, np.array([label]), reduction="none")
    assert loss.dtype == np.float32
    assert loss[0] == float(expected)


def test_float32_overflowed_literal():
    case = CASES["inf-logits-nan"]
    with np.errstate(over="ignore"):
        logits = np.array([case["float32_overflow_literal"]], dtype=np.float32)
    assert np.isneginf(logits[0])
    with pytest.warns(InfiniteLossWarning):
        loss = binary_cross_entropy_with_logits(logits, np.array([1]), reduction="none")
    assert loss[0] == math.inf


def test_large_logits_no_overflow():
    case = CASES["naive-logits-overflow"]
    logits = np.array(case["logits"], dtype=case["dtype"])
    loss = binary_cross_entropy_with_logits(logits, np.array(case["y_true"]), reduction="none")
    assert loss.dtype == np.float32
    np.testing.assert_array_equal(loss, np.array(case["expected"], dtype=np.float32))


def test_tiny_probability_negative_label():
    case = CASES["log1m-cancellation"]
    loss = binary_cross_entropy(np.array(case["y_pred"]), np.array(case["y_true"]), reduction="none")
    assert loss[0] == pytest.approx(float(case["expected_50_digits"]), rel=F64_EPS, abs=0)


def test_logit_tails_symmetric():
    case = CASES["logit-branch-tail-asymmetry"]
    expected = float(case["expected_50_digits"])
    for logit, label in case["cases"]:
        loss = binary_cross_entropy_with_logits(np.array([logit]), np.array([label]), reduction="none")
        assert loss[0] == pytest.approx(expected, rel=F64_EPS, abs=0)
    positive, negative = (
        binary_cross_entropy_with_logits(np.array([logit]), np.array([label]), reduction="none")[0]
        for logit, label in case["cases"]
    )
    assert positive == negative


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_empty_input(reduction):
    case = CASES["empty-input-reduction"]
    logits = np.array(case["logits"], dtype=case["dtype"])
    y_true = np.array(case["y_true"], dtype=np.float32)
    if reduction == "mean":
        with pytest.warns(UndefinedMetricWarning, match="nothing to average"):
            result = binary_cross_entropy_with_logits(logits, y_true, reduction=reduction)
        assert math.isnan(result)
    elif reduction == "sum":
        assert binary_cross_entropy_with_logits(logits, y_true, reduction=reduction) == case["expected_sum"]
    else:
        result = binary_cross_entropy_with_logits(logits, y_true, reduction=reduction)
        assert result.shape == (0,)


def test_all_zero_weights_mean():
    with pytest.warns(UndefinedMetricWarning, match="nothing to average"):
        result = binary_cross_entropy(np.array([0.3, 0.6]), np.array([0, 1]), weights=np.zeros(2))
    assert math.isnan(result)


def test_empty_state_result():
    with pytest.warns(UndefinedMetricWarning, match="no rows"):
        result = LogLossState().result()
    assert math.isnan(result.log_loss)
    assert result.count == 0


def test_single_class_labels():
    case = CASES["single-class-labels"]
    loss = binary_cross_entropy(np.array(case["y_pred"]), np.array(case["y_true"]))
    assert loss == pytest.approx(case["expected"], rel=4 * F64_EPS, abs=0)
    with pytest.warns(InfiniteLossWarning, match="3 elements"):
        loss = binary_cross_entropy(np.array(case["zero_predictions"]), np.array(case["y_true"]))
    assert loss == math.inf


def test_shape_mismatch_rejected():
    case = CASES["shape-broadcast-n-vs-n1"]
    y_pred = np.array(case["y_pred"], dtype=case["dtype"])
    y_true = np.array(case["y_true"])
    with pytest.raises(ValueError, match=r"`y_true` must have the same shape as `y_pred` \(3, 1\), got shape \(3,\)"):
        binary_cross_entropy(y_pred, y_true)
    aligned = binary_cross_entropy(y_pred[:, 0], y_true)
    assert aligned == pytest.approx(case["aligned"], rel=4 * F32_EPS, abs=0)
    assert aligned != pytest.approx(case["broadcast_bug"], rel=0.01, abs=0)


def test_shape_mismatch_weights_rejected():
    with pytest.raises(ValueError, match="`weights` must have the same shape"):
        binary_cross_entropy(np.array([0.5, 0.5]), np.array([0, 1]), weights=np.ones((2, 1)))
    with pytest.raises(ValueError, match="`pos_weight` must be a scalar"):
        binary_cross_entropy(np.array([0.5, 0.5, 0.5]), np.array([0, 1, 1]), pos_weight=np.ones(2))


def test_pos_weight_soft_labels():
    case = CASES["pos-weight-soft-labels"]
    loss = binary_cross_entropy_with_logits(
        np.array(case["logits"], dtype=case["dtype"]),
        np.array(case["y_true"], dtype=case["dtype"]),
        weights=np.array(case["weights"], dtype=case["dtype"]),
        pos_weight=np.array(case["pos_weight"], dtype=case["dtype"]),
        reduction="none",
    )
    np.testing.assert_allclose(loss, case["expected"], rtol=F32_EPS)


def test_soft_label_minimum_is_entropy():
    case = CASES["soft-label-minimum-not-zero"]
    arguments = (np.array(case["y_pred"]), np.array(case["y_true"]))
    smoothing = case["label_smoothing"]
    cross_entropy = binary_cross_entropy(*arguments, label_smoothing=smoothing)
    assert cross_entropy == pytest.approx(case["cross_entropy"], rel=4 * F64_EPS, abs=0)
    kl = binary_cross_entropy(*arguments, label_smoothing=smoothing, subtract_entropy=True)
    assert kl == case["kl"]


def test_float32_one_call_many_rows():
    case = CASES["float32-running-sum-stalls"]
    n = case["n_samples"]
    y_pred = np.full(n, case["y_pred"], dtype=case["dtype"])
    y_true = np.full(n, case["y_true"], dtype=np.int8)
    assert binary_cross_entropy(y_pred, y_true) == pytest.approx(case["expected"], rel=F64_EPS, abs=0)


def test_float32_streamed_many_batches():
    case = CASES["float32-running-sum-stalls"]
    batch = np.full(1 << 15, case["y_pred"], dtype=case["dtype"])
    labels = np.full(1 << 15, case["y_true"], dtype=np.int8)
    state = LogLossState()
    for _ in range(case["n_samples"] >> 15):
        state.update(batch, labels)
    assert state.count == case["n_samples"]
    with pytest.warns(UndefinedMetricWarning, match="every label is 1"):
        result = state.result()
    assert result.log_loss == pytest.approx(case["expected"], rel=F64_EPS, abs=0)


def test_float32_one_row_updates():
    case = CASES["float32-running-sum-stalls"]
    row = np.array([case["y_pred"]], dtype=case["dtype"])
    label = np.array([case["y_true"]])
    state = LogLossState()
    for _ in range(20_000):
        state.update(row, label)
    state = pickle.loads(pickle.dumps(state))
    with pytest.warns(UndefinedMetricWarning, match="every label is 1"):
        result = state.result()
    assert result.log_loss == pytest.approx(case["expected"], rel=F64_EPS, abs=0)


def test_margins_as_logits_and_probabilities():
    case = CASES["margins-passed-as-probabilities"]
    scores = np.array(case["scores"])
    y_true = np.array(case["y_true"])
    assert binary_cross_entropy_with_logits(scores, y_true) == pytest.approx(case["as_logits"], rel=4 * F64_EPS, abs=0)
    with pytest.raises(ValueError, match=r"`y_pred` must be in \[0, 1\], got -2.0 at index 0.*binary_cross_entropy_with_logits"):
        binary_cross_entropy(scores, y_true)


def _result_of(case):
    state = LogLossState()
    state.update(np.array(case["y_pred"]), np.array(case["y_true"]))
    return state.result()


def test_normalized_entropy_regular():
    case = CASES["ne-degenerate-cases"]["A"]
    result = _result_of(case)
    for name in ("log_loss", "normalized_entropy", "relative_information_gain", "log_loss_bits"):
        assert getattr(result, name) == pytest.approx(case[name], rel=8 * F64_EPS, abs=0), name


def test_normalized_entropy_infinite_loss():
    result = _result_of(CASES["ne-degenerate-cases"]["B"])
    assert result.log_loss == math.inf
    assert result.normalized_entropy == math.inf
    assert result.relative_information_gain == -math.inf
    assert result.n_infinite == 1


def test_normalized_entropy_single_class():
    with pytest.warns(UndefinedMetricWarning, match="every label is 0"):
        result = _result_of(CASES["ne-degenerate-cases"]["C"])
    assert result.entropy == 0.0
    assert result.normalized_entropy == math.inf
    assert result.log_loss > 0
