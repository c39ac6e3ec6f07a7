"""Gradient and Hessian of the loss: values against mpmath, boundaries, options, objectives."""

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logloss import (
    UndefinedMetricWarning,
    binary_cross_entropy,
    binary_cross_entropy_grad_hess,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_grad_hess,
    boosting_objective,
)

EPS64 = np.finfo(np.float64).eps
mpmath.mp.dps = 50


def _mp_logit_derivatives(z, y, pos_weight=1.0):
    z, y, pw = mpmath.mpf(z), mpmath.mpf(y), mpmath.mpf(pos_weight)
    positive = 1 / (1 + mpmath.exp(-z))
    negative = 1 / (1 + mpmath.exp(z))
    gradient = (1 - y) * positive - pw * y * negative
    hessian = positive * negative * ((1 - y) + pw * y)
    return float(gradient), float(hessian)


def _mp_probability_derivatives(p, y, pos_weight=1.0):
    p, y, pw = mpmath.mpf(p), mpmath.mpf(y), mpmath.mpf(pos_weight)
    gradient = (1 - y) / (1 - p) - pw * y / p
    hessian = pw * y / p**2 + (1 - y) / (1 - p) ** 2
    return float(gradient), float(hessian)


def _assert_close_in_ulp(actual, expected, ulps):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    equal = actual == expected
    spacing = np.spacing(np.abs(expected))
    with np.errstate(invalid="ignore"):
        error = np.where(equal, 0.0, np.abs(actual - expected) / np.maximum(spacing, 5e-324))
    assert np.all(error <= ulps), f"max error {error.max()} ulp at index {int(error.argmax())}"


LOGITS = np.array([-745.0, -300.0, -40.0, -37.42994775023705, -5.0, -0.5, 0.0, 1e-10, 0.75, 3.0, 37.42994775023705, 40.0, 700.0])


@pytest.mark.parametrize("label", [0.0, 1.0])
def test_logit_grad_hess_matches_mpmath(label):
    y = np.full(LOGITS.shape, label)
    gradient, hessian = binary_cross_entropy_with_logits_grad_hess(LOGITS, y)
    expected = np.array([_mp_logit_derivatives(z, label) for z in LOGITS])
    _assert_close_in_ulp(gradient, expected[:, 0], 2)
    _assert_close_in_ulp(hessian, expected[:, 1], 3)


def test_logit_grad_tail_exact():
    gradient, _ = binary_cross_entropy_with_logits_grad_hess(np.array([37.42994775023705]), np.array([1]))
    assert gradient[0] == -5.551115123125776e-17


def test_logit_grad_infinite_logits():
    z = np.array([np.inf, -np.inf, np.inf, -np.inf, np.inf])
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.25])
    gradient, hessian = binary_cross_entropy_with_logits_grad_hess(z, y, pos_weight=3.0)
    assert gradient.tolist() == [0.0, 0.0, 1.0, -3.0, 0.75]
    assert hessian.tolist() == [0.0, 0.0, 0.0, 0.0, 0.0]


def test_logit_grad_pos_weight_soft_labels():
    z = np.array([-2.0, 0.5, 4.0])
    y = np.array([0.3, 0.5, 0.9])
    gradient, hessian = binary_cross_entropy_with_logits_grad_hess(z, y, pos_weight=2.5)
    expected = np.array([_mp_logit_derivatives(a, b, 2.5) for a, b in zip(z, y)])
    np.testing.assert_allclose(gradient, expected[:, 0], rtol=8 * EPS64)
    np.testing.assert_allclose(hessian, expected[:, 1], rtol=8 * EPS64)


PROBABILITIES = np.array([5e-324, 1e-300, 1e-17, 1e-5, 0.1, 0.5, 0.75, 1 - 1e-10, 1 - EPS64 / 2])


@pytest.mark.parametrize("label", [0.0, 1.0])
def test_probability_grad_hess_matches_mpmath(label):
    y = np.full(PROBABILITIES.shape, label)
    gradient, hessian = binary_cross_entropy_grad_hess(PROBABILITIES, y)
    expected = np.array([_mp_probability_derivatives(p, label) for p in PROBABILITIES])
    _assert_close_in_ulp(gradient, expected[:, 0], 2)
    _assert_close_in_ulp(hessian, expected[:, 1], 3)


def test_probability_grad_one_sided_at_ends():
    gradient, hessian = binary_cross_entropy_grad_hess(np.array([1.0, 0.0]), np.array([1, 0]))
    assert gradient.tolist() == [-1.0, 1.0]
    assert hessian.tolist() == [1.0, 1.0]


def test_probability_grad_float32_ends():
    gradient, _ = binary_cross_entropy_grad_hess(
        np.array([1.0, 0.0], dtype=np.float32), np.array([1, 0], dtype=np.float32)
    )
    assert gradient.dtype == np.float32
    assert gradient.tolist() == [-1.0, 1.0]


def test_probability_grad_soft_label_at_ends_infinite():
    gradient, hessian = binary_cross_entropy_grad_hess(np.array([0.0, 1.0]), np.array([0.5, 0.5]))
    assert gradient.tolist() == [-math.inf, math.inf]
    assert hessian.tolist() == [math.inf, math.inf]


def test_probability_grad_infinite_loss_not_nan():
    gradient, hessian = binary_cross_entropy_grad_hess(np.array([0.0, 1.0]), np.array([1, 0]))
    assert gradient.tolist() == [-math.inf, math.inf]
    assert hessian.tolist() == [math.inf, math.inf]


def test_probability_grad_never_nan_on_grid():
    p = np.linspace(0.0, 1.0, 101)
    y = np.linspace(0.0, 1.0, 11)
    pp, yy = np.meshgrid(p, y)
    for kwargs in ({}, {"pos_weight": 0.0}, {"pos_weight": 2.0}, {"label_smoothing": 0.2}):
        gradient, hessian = binary_cross_entropy_grad_hess(pp, yy, **kwargs)
        assert not np.isnan(gradient).any()
        assert not np.isnan(hessian).any()


def test_probability_grad_hess_matches_finite_difference():
    rng = np.random.default_rng(7)
    p = rng.uniform(0.05, 0.95, 50)
    y = rng.uniform(0.0, 1.0, 50)
    weights = rng.uniform(0.1, 2.0, 50)
    options = {"weights": weights, "pos_weight": 1.7, "label_smoothing": 0.1}
    gradient, hessian = binary_cross_entropy_grad_hess(p, y, **options)
    step = 1e-6
    upper = binary_cross_entropy(p + step, y, reduction="none", **options)
    lower = binary_cross_entropy(p - step, y, reduction="none", **options)
    np.testing.assert_allclose(gradient, (upper - lower) / (2 * step), rtol=1e-7)
    upper_gradient, _ = binary_cross_entropy_grad_hess(p + step, y, **options)
    lower_gradient, _ = binary_cross_entropy_grad_hess(p - step, y, **options)
    np.testing.assert_allclose(hessian, (upper_gradient - lower_gradient) / (2 * step), rtol=1e-7)


def test_logit_grad_hess_matches_finite_difference():
    rng = np.random.default_rng(8)
    z = rng.normal(0.0, 3.0, 50)
    y = rng.uniform(0.0, 1.0, 50)
    weights = rng.uniform(0.1, 2.0, 50)
    options = {"weights": weights, "pos_weight": 0.6, "label_smoothing": 0.05}
    gradient, hessian = binary_cross_entropy_with_logits_grad_hess(z, y, **options)
    step = 1e-5
    upper = binary_cross_entropy_with_logits(z + step, y, reduction="none", **options)
    lower = binary_cross_entropy_with_logits(z - step, y, reduction="none", **options)
    np.testing.assert_allclose(gradient, (upper - lower) / (2 * step), rtol=1e-6, atol=1e-10)
    upper_gradient, _ = binary_cross_entropy_with_logits_grad_hess(z + step, y, **options)
    lower_gradient, _ = binary_cross_entropy_with_logits_grad_hess(z - step, y, **options)
    np.testing.assert_allclose(hessian, (upper_gradient - lower_gradient) / (2 * step), rtol=1e-6, atol=1e-12)


def test_grad_label_smoothing_uses_smoothed_target():
    z = np.array([-1.0, 2.0])
    gradient, hessian = binary_cross_entropy_with_logits_grad_hess(z, np.array([0, 1]), label_smoothing=0.2)
    # The smoothed targets, about 0.1 and 0.9, exactly: half the float 0.2 and 1 minus that.
    low = mpmath.mpf(0.2) / 2
    expected = [_mp_logit_derivatives(z[0], low), _mp_logit_derivatives(z[1], 1 - low)]
    _assert_close_in_ulp(gradient, [pair[0] for pair in expected], 2)
    _assert_close_in_ulp(hessian, [pair[1] for pair in expected], 2)


def test_grad_mean_divides_by_weight_sum():
    z = np.array([0.3, -1.2, 2.0])
    y = np.array([1, 0, 1])
    weights = np.array([3.0, 1.0, 0.5])
    summed, summed_hessian = binary_cross_entropy_with_logits_grad_hess(z, y, weights=weights)
    mean, mean_hessian = binary_cross_entropy_with_logits_grad_hess(z, y, weights=weights, reduction="mean")
    np.testing.assert_allclose(mean, summed / 4.5, rtol=EPS64)
    np.testing.assert_allclose(mean_hessian, summed_hessian / 4.5, rtol=EPS64)


def test_grad_mean_along_axis():
    z = np.arange(6.0).reshape(3, 2) - 2.5
    y = np.array([[1, 0], [0, 0], [1, 1]])
    summed, _ = binary_cross_entropy_with_logits_grad_hess(z, y)
    mean, _ = binary_cross_entropy_with_logits_grad_hess(z, y, reduction="mean", axis=0)
    np.testing.assert_allclose(mean, summed / 3, rtol=EPS64)


@pytest.mark.parametrize("weight", [1e308, 5e-324])
def test_grad_mean_extreme_weights(weight):
    for function, prediction in ((binary_cross_entropy_with_logits_grad_hess, 0.0), (binary_cross_entropy_grad_hess, 0.5)):
        gradient, hessian = function(np.full(2, prediction), np.array([1.0, 0.0]), weights=np.full(2, weight), reduction="mean")
        unweighted_gradient, unweighted_hessian = function(np.full(2, prediction), np.array([1.0, 0.0]), reduction="mean")
        np.testing.assert_array_equal(gradient, unweighted_gradient)
        np.testing.assert_array_equal(hessian, unweighted_hessian)


def test_grad_overflow_inf_without_warning():
    gradient, hessian = binary_cross_entropy_with_logits_grad_hess(
        np.zeros(1), np.ones(1), weights=np.array([1e308]), pos_weight=1e308
    )
    assert gradient.tolist() == [-np.inf]
    assert hessian.tolist() == [np.inf]


def test_grad_omitted_labels_zero():
    z = np.array([0.5, 1.0, -1.0])
    y = np.array([1.0, np.nan, 0.0])
    gradient, hessian = binary_cross_entropy_with_logits_grad_hess(z, y, nan_policy="omit", reduction="mean")
    assert gradient[1] == 0.0
    assert hessian[1] == 0.0
    expected, _ = binary_cross_entropy_with_logits_grad_hess(z[[0, 2]], y[[0, 2]], reduction="mean")
    np.testing.assert_allclose(gradient[[0, 2]], expected, rtol=EPS64)


def test_grad_zero_weight_infinite_loss_zero():
    gradient, hessian = binary_cross_entropy_grad_hess(
        np.array([0.0, 0.5]), np.array([1, 1]), weights=np.array([0.0, 1.0])
    )
    assert gradient.tolist() == [0.0, -2.0]
    assert hessian.tolist() == [0.0, 4.0]


def test_grad_nan_label_rejected():
    with pytest.raises(ValueError, match="`y_true` must not contain NaN"):
        binary_cross_entropy_with_logits_grad_hess(np.array([0.0]), np.array([np.nan]))


def test_grad_probability_out_of_range_rejected():
    with pytest.raises(ValueError, match="binary_cross_entropy_with_logits_grad_hess"):
        binary_cross_entropy_grad_hess(np.array([1.5]), np.array([1]))


def test_grad_reduction_none_rejected():
    with pytest.raises(ValueError, match="`reduction` must be one of 'sum', 'mean'"):
        binary_cross_entropy_with_logits_grad_hess(np.array([0.0]), np.array([1]), reduction="none")


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize(
    ("axis", "error", "message"),
    [
        ("0", TypeError, "`axis` must be an int, a tuple of ints or None, got str"),
        (1.5, TypeError, "`axis` must be an int, a tuple of ints or None, got float"),
        ((0, "1"), TypeError, "`axis` must be an int, a tuple of ints or None, got tuple containing str"),
        (5, ValueError, r"`axis` must be in \[-2, 2\) for `y_pred` with 2 dimensions, got 5"),
        ((0, -3), ValueError, r"`axis` must be in \[-2, 2\) for `y_pred` with 2 dimensions, got -3"),
        ((1, -1), ValueError, r"`axis` must not repeat an axis, got \(1, -1\)"),
    ],
)
def test_grad_axis_rejected(reduction, axis, error, message):
    for function in (binary_cross_entropy_grad_hess, binary_cross_entropy_with_logits_grad_hess):
        with pytest.raises(error, match=message):
            function(np.full((2, 3), 0.5), np.ones((2, 3)), reduction=reduction, axis=axis)


@pytest.mark.parametrize(("axis", "error"), [("0", TypeError), (True, TypeError), (5, ValueError), ((0, 0), ValueError)])
def test_loss_axis_rejected(axis, error):
    for function in (binary_cross_entropy, binary_cross_entropy_with_logits):
        for reduction in ("none", "sum", "mean"):
            with pytest.raises(error, match="`axis` must"):
                function(np.full((2, 3), 0.5), np.ones((2, 3)), reduction=reduction, axis=axis)


def test_grad_axis_numpy_integer_accepted():
    gradient, _ = binary_cross_entropy_grad_hess(np.full((2, 3), 0.5), np.ones((2, 3)), reduction="mean", axis=(np.int64(-1),))
    np.testing.assert_allclose(gradient, np.full((2, 3), -2.0 / 3.0), rtol=EPS64)


def test_grad_options_keyword_only():
    with pytest.raises(TypeError):
        binary_cross_entropy_with_logits_grad_hess(np.array([0.0]), np.array([1]), None)


class _FakeDataset:
    """The two methods that XGBoost's DMatrix and LightGBM's Dataset share."""

    def __init__(self, labels, weights):
        self.labels = labels
        self.weights = weights

    def get_label(self):
        return self.labels

    def get_weight(self):
        return self.weights


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_objective_native_signature(library):
    margins = np.array([0.5, -1.0, 2.0])
    labels = np.array([1.0, 0.0, 0.0])
    weights = np.array([1.0, 2.0, 0.5])
    empty = np.empty(0) if library == "xgboost" else None
    objective = boosting_objective(library, pos_weight=2.0)
    expected = binary_cross_entropy_with_logits_grad_hess(margins, labels, weights=weights, pos_weight=2.0)
    weighted = objective(margins, _FakeDataset(labels, weights))
    np.testing.assert_array_equal(weighted[0], expected[0])
    np.testing.assert_array_equal(weighted[1], expected[1])
    unweighted = objective(margins, _FakeDataset(labels, empty))
    expected = binary_cross_entropy_with_logits_grad_hess(margins, labels, pos_weight=2.0)
    np.testing.assert_array_equal(unweighted[0], expected[0])


def test_objective_sklearn_signature():
    objective = boosting_objective("sklearn", label_smoothing=0.1)
    margins = np.array([0.5, -1.0])
    labels = np.array([1, 0])
    gradient, hessian = objective(labels, margins, np.array([2.0, 1.0]))
    expected = binary_cross_entropy_with_logits_grad_hess(
        margins, labels, weights=np.array([2.0, 1.0]), label_smoothing=0.1
    )
    np.testing.assert_array_equal(gradient, expected[0])
    np.testing.assert_array_equal(hessian, expected[1])


def test_objective_unknown_library_rejected():
    with pytest.raises(ValueError, match="`library` must be one of"):
        boosting_objective("catboost")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"label_smoothing": 2.0}, r"`label_smoothing` must be in \[0, 1\), got 2.0"),
        ({"pos_weight": -1.0}, "`pos_weight` must be non-negative, got -1.0"),
        ({"pos_weight": np.array([1.0, np.nan])}, "`pos_weight` must be finite, got nan at index 1"),
    ],
)
def test_objective_bad_option_rejected_early(options, message):
    with pytest.raises(ValueError, match=message):
        boosting_objective("sklearn", **options)


def test_objective_option_type_rejected_early():
    with pytest.raises(TypeError, match="`label_smoothing` must be a float, got str"):
        boosting_objective("xgboost", label_smoothing="0.1")


def test_objective_ragged_pos_weight_rejected_early():
    with pytest.raises(TypeError, match="`pos_weight` must be an array of real numbers, got list"):
        boosting_objective("lightgbm", pos_weight=[[1.0], [1.0, 2.0]])


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False, width=64), st.sampled_from([0.0, 1.0]))
def test_logit_grad_hess_symmetry(z, label):
    gradient, hessian = binary_cross_entropy_with_logits_grad_hess(np.array([z]), np.array([label]))
    mirrored, mirrored_hessian = binary_cross_entropy_with_logits_grad_hess(np.array([-z]), np.array([1.0 - label]))
    assert gradient[0] == -mirrored[0]
    assert hessian[0] == mirrored_hessian[0]
    assert not np.isnan(gradient[0])
    assert not np.isnan(hessian[0])


@pytest.mark.parametrize(
    "options",
    [
        {"y_true": np.array([np.nan, np.nan]), "nan_policy": "omit"},
        {"y_true": np.array([0.0, 1.0]), "weights": np.zeros(2)},
    ],
)
@pytest.mark.parametrize("function", [binary_cross_entropy_grad_hess, binary_cross_entropy_with_logits_grad_hess])
def test_mean_over_nothing_is_nan(function, options):
    # The mean loss is NaN here, so its derivatives are undefined too, not 0.
    with pytest.warns(UndefinedMetricWarning, match="nothing to average"):
        gradient, hessian = function(np.array([0.25, 0.5]), reduction="mean", **options)
    assert np.isnan(gradient).all()
    assert np.isnan(hessian).all()


def test_mean_over_empty_slice_nan():
    logits = np.array([[1.0, 2.0], [3.0, 4.0]])
    labels = np.array([[np.nan, np.nan], [0.0, 1.0]])
    with pytest.warns(UndefinedMetricWarning):
        gradient, _ = binary_cross_entropy_with_logits_grad_hess(logits, labels, nan_policy="omit", axis=1, reduction="mean")
    assert np.isnan(gradient[0]).all()
    expected, _ = binary_cross_entropy_with_logits_grad_hess(logits[1], labels[1], reduction="mean")
    np.testing.assert_array_equal(gradient[1], expected)


def test_mean_over_empty_input_silent(recwarn):
    gradient, hessian = binary_cross_entropy_with_logits_grad_hess(np.zeros(0), np.zeros(0), reduction="mean")
    assert gradient.shape == (0,)
    assert hessian.shape == (0,)
    assert not [w for w in recwarn if issubclass(w.category, UndefinedMetricWarning)]
