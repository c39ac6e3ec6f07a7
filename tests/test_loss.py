"""The loss against mpmath, its input checks, and its properties."""

import math
import warnings

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from logloss import (
    InfiniteLossWarning,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
)

mpmath.mp.dps = 50


def _mp_loss_probability(p: float, y: float) -> float:
    p = mpmath.mpf(p)
    y = mpmath.mpf(y)
    positive = y * mpmath.log(p) if y else mpmath.mpf(0)
    negative = (1 - y) * mpmath.log1p(-p) if y != 1 else mpmath.mpf(0)
    return float(-(positive + negative))


def _mp_loss_logit(z: float, y: float) -> float:
    z = mpmath.mpf(z)
    y = mpmath.mpf(y)
    # softplus(x) = log(1 + exp(x))
    softplus_neg = mpmath.log1p(mpmath.exp(-z))
    softplus_pos = mpmath.log1p(mpmath.exp(z))
    return float(y * softplus_neg + (1 - y) * softplus_pos)


def _ulp_distance(a: float, b: float, dtype) -> float:
    if a == b:
        return 0.0
    spacing = np.spacing(np.array(abs(b), dtype=dtype))
    return abs(a - b) / float(spacing)


PROBABILITY_GRID = [
    5e-324, 1e-310, 2.2250738585072014e-308, 1e-300, 1e-200, 1e-50, 1e-20, 1e-17, 1e-15, 1e-10,
    1e-5, 0.001, 0.1, 0.25, 0.3, 0.5, 0.7, 0.9, 0.999, 1 - 1e-10, 1 - 2**-52, 1 - 2**-53,
]
LOGIT_GRID = [
    -1e308, -1e10, -800.0, -745.0, -709.0, -100.0, -40.0, -37.5, -20.0, -1.0, -1e-10, 0.0,
    1e-10, 1.0, 20.0, 37.5, 40.0, 100.0, 709.0, 745.0, 800.0, 1e10, 1e308,
]


@pytest.mark.parametrize("label", [0, 1])
@pytest.mark.parametrize("p", PROBABILITY_GRID)
def test_probability_matches_mpmath(p, label):
    expected = _mp_loss_probability(p, label)
    loss = binary_cross_entropy(np.array([p]), np.array([label]), reduction="none")[0]
    assert _ulp_distance(float(loss), expected, np.float64) <= 1.0


@pytest.mark.parametrize("label", [0, 1])
@pytest.mark.parametrize("z", LOGIT_GRID)
def test_logit_matches_mpmath(z, label):
    expected = _mp_loss_logit(z, label)
    loss = binary_cross_entropy_with_logits(np.array([z]), np.array([label]), reduction="none")[0]
    assert _ulp_distance(float(loss), expected, np.float64) <= 1.0


@pytest.mark.parametrize("label", [0, 1])
def test_float32_probability_correctly_rounded(label):
    grid = np.array([1e-45, 1e-38, 1e-20, 1e-8, 0.1, 0.5, 0.9, 1 - 2**-24], dtype=np.float32)
    loss = binary_cross_entropy(grid, np.full(grid.shape, label), reduction="none")
    assert loss.dtype == np.float32
    for p, value in zip(grid, loss, strict=True):
        expected = np.float32(_mp_loss_probability(float(p), label))
        assert _ulp_distance(float(value), float(expected), np.float32) <= 0.5


def test_float16_keeps_range():
    y_pred = np.array([6e-8, 0.5], dtype=np.float16)
    loss = binary_cross_entropy(y_pred, np.array([1, 1]), reduction="none")
    assert loss.dtype == np.float16
    assert float(loss[0]) == pytest.approx(-math.log(float(y_pred[0])), rel=1e-3, abs=0)


def test_soft_labels_match_mpmath():
    y_pred = np.array([0.2, 1e-10, 0.9])
    y_true = np.array([0.3, 0.5, 0.99])
    loss = binary_cross_entropy(y_pred, y_true, reduction="none")
    for p, y, value in zip(y_pred, y_true, loss, strict=True):
        assert value == pytest.approx(_mp_loss_probability(p, y), rel=4e-16, abs=0)


def test_integer_and_boolean_labels():
    y_pred = np.array([0.2, 0.7])
    expected = binary_cross_entropy(y_pred, np.array([0.0, 1.0]))
    for labels in (np.array([0, 1]), np.array([False, True]), np.array([0, 1], dtype=np.uint8)):
        assert binary_cross_entropy(y_pred, labels) == expected


def test_lists_accepted():
    assert binary_cross_entropy([0.5, 0.5], [0, 1]) == pytest.approx(math.log(2.0))


def test_axis_reduction():
    y_pred = np.array([[0.1, 0.5], [0.9, 0.5]])
    y_true = np.array([[0, 1], [1, 1]])
    per_column = binary_cross_entropy(y_pred, y_true, axis=0)
    elementwise = binary_cross_entropy(y_pred, y_true, reduction="none")
    np.testing.assert_allclose(per_column, elementwise.mean(axis=0), rtol=1e-15)


def test_weights_axis_per_row():
    y_pred = np.array([[0.1, 0.5], [0.9, 0.5]])
    y_true = np.array([[0, 1], [1, 1]])
    with pytest.raises(ValueError, match="`weights` must have the same shape"):
        binary_cross_entropy(y_pred, y_true, weights=np.array([1.0, 3.0]))
    loss = binary_cross_entropy(y_pred, y_true, weights=np.array([1.0, 3.0]), weights_axis=0)
    full = binary_cross_entropy(y_pred, y_true, weights=np.array([[1.0, 1.0], [3.0, 3.0]]))
    assert loss == full


def test_nan_labels_omitted():
    y_pred = np.array([0.2, 0.7, 0.4])
    y_true = np.array([0.0, np.nan, 1.0])
    loss = binary_cross_entropy(y_pred, y_true, nan_policy="omit")
    assert loss == binary_cross_entropy(y_pred[[0, 2]], y_true[[0, 2]])
    elementwise = binary_cross_entropy(y_pred, y_true, nan_policy="omit", reduction="none")
    assert math.isnan(elementwise[1])


def test_zero_weight_removes_infinite_row():
    loss = binary_cross_entropy(np.array([0.0, 0.5]), np.array([1, 1]), weights=np.array([0.0, 1.0]))
    assert loss == pytest.approx(math.log(2.0))


def test_infinite_warning_names_count_and_index():
    with pytest.warns(InfiniteLossWarning, match=r"2 elements have an infinite loss.*index \(1, 0\)"):
        binary_cross_entropy(np.array([[0.5, 0.5], [1.0, 0.0]]), np.array([[1, 1], [0, 1]]))


@pytest.mark.parametrize(
    "y_pred, y_true, kwargs, error, pattern",
    [
        ([0.5, np.nan], [0, 1], {}, ValueError, r"`y_pred` must not contain NaN, got NaN at index 1"),
        ([0.5, 1.5], [0, 1], {}, ValueError, r"`y_pred` must be in \[0, 1\], got 1.5 at index 1"),
        ([0.5, 0.5], [0, np.nan], {}, ValueError, r"`y_true` must not contain NaN.*nan_policy='omit'"),
        ([0.5, 0.5], [0, 2], {}, ValueError, r"`y_true` must be in \[0, 1\], got 2 at index 1"),
        ([0.5, 0.5], [0, -0.5], {}, ValueError, r"`y_true` must be in \[0, 1\], got -0.5 at index 1"),
        ([0.5, 0.5], [0, 1], {"weights": [1, -1]}, ValueError, r"`weights` must be non-negative, got -1"),
        ([0.5, 0.5], [0, 1], {"weights": [1, np.nan]}, ValueError, r"`weights` must be finite, got nan"),
        ([0.5, 0.5], [0, 1], {"reduction": "avg"}, ValueError, r"`reduction` must be one of"),
        ([0.5, 0.5], [0, 1], {"clip": 0.7}, ValueError, r"`clip` must be in \(0, 0.5\), got 0.7"),
        ([0.5, 0.5], [0, 1], {"label_smoothing": 1.0}, ValueError, r"`label_smoothing` must be in"),
        ([0.5, 0.5], [0, 1], {"nan_policy": "skip"}, ValueError, r"`nan_policy` must be"),
        (["a", "b"], [0, 1], {}, TypeError, r"`y_pred` must have a real numeric dtype"),
        ([0.5, 0.5], ["0", "1"], {}, TypeError, r"`y_true` must have a real numeric dtype"),
        ([0.5 + 1j, 0.5], [0, 1], {}, TypeError, r"`y_pred` must have a real numeric dtype.*complex"),
        ([0.5, 0.5], [0, 1], {"clip": "tiny"}, TypeError, r"`clip` must be a float"),
    ],
)
def test_probability_input_rejected(y_pred, y_true, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        binary_cross_entropy(np.array(y_pred), np.array(y_true), **kwargs)


def test_nan_logit_rejected():
    with pytest.raises(ValueError, match=r"`logits` must not contain NaN, got NaN at index 2"):
        binary_cross_entropy_with_logits(np.array([0.0, 1.0, np.nan]), np.array([0, 1, 1]))


finite_logits = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False)
any_logits = st.one_of(finite_logits, st.sampled_from([math.inf, -math.inf]))


@given(hnp.arrays(np.float64, st.integers(1, 30), elements=any_logits), st.data())
def test_logit_symmetry_bitwise(logits, data):
    labels = data.draw(hnp.arrays(np.float64, logits.shape, elements=st.sampled_from([0.0, 1.0])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InfiniteLossWarning)
        left = binary_cross_entropy_with_logits(logits, labels, reduction="none")
        right = binary_cross_entropy_with_logits(-logits, 1.0 - labels, reduction="none")
    np.testing.assert_array_equal(left, right)


moderate_logits = st.floats(min_value=-1e250, max_value=1e250, allow_nan=False)


@given(hnp.arrays(np.float64, st.integers(1, 30), elements=moderate_logits), st.data())
def test_weighted_mean_scale_invariance(logits, data):
    labels = data.draw(hnp.arrays(np.float64, logits.shape, elements=st.floats(0, 1)))
    weights = data.draw(hnp.arrays(np.float64, logits.shape, elements=st.floats(0.01, 100)))
    scale = data.draw(st.sampled_from([2.0**-40, 0.5, 3.0, 2.0**40]))
    base = binary_cross_entropy_with_logits(logits, labels, weights=weights)
    scaled = binary_cross_entropy_with_logits(logits, labels, weights=weights * scale)
    assert scaled == pytest.approx(base, rel=1e-14, abs=0)


@settings(max_examples=200)
@given(st.floats(min_value=-30, max_value=30), st.floats(0, 1))
def test_logit_and_probability_agree(z, y):
    # p is sigma(z) correctly rounded; rounding p by half an ulp changes -log(p) by a relative
    # eps * p / (1 - p) and -log(1 - p) by eps * (1 - p) / p, which bounds the disagreement.
    p = float(1 / (1 + mpmath.exp(-mpmath.mpf(z))))
    from_logit = binary_cross_entropy_with_logits(np.array([z]), np.array([y]))
    from_probability = binary_cross_entropy(np.array([p]), np.array([y]))
    eps = np.finfo(np.float64).eps
    tolerance = 4 * eps * (1 + max(p, 1 - p) / min(p, 1 - p))
    assert from_probability == pytest.approx(from_logit, rel=tolerance, abs=0)


@pytest.mark.parametrize("shape_maker", [float, np.float64, np.array])
def test_scalar_inputs(shape_maker):
    loss = binary_cross_entropy(shape_maker(0.5), shape_maker(1.0), reduction="none")
    assert np.shape(loss) == ()
    assert float(loss) == pytest.approx(math.log(2.0))
    assert float(binary_cross_entropy_with_logits(shape_maker(0.0), shape_maker(1.0))) == pytest.approx(math.log(2.0))


@pytest.mark.parametrize("weight", [1e308, 5e-324, 1e-320])
def test_extreme_weights_mean(weight):
    y_pred = np.array([0.5, 0.25])
    y_true = np.array([1, 0])
    expected = binary_cross_entropy(y_pred, y_true)
    loss = binary_cross_entropy(y_pred, y_true, weights=np.array([weight, weight]))
    assert loss == pytest.approx(expected, rel=4e-16, abs=0)


def test_masked_array_rejected():
    masked = np.ma.masked_array([0.5, 0.0], mask=[False, True])
    with pytest.raises(TypeError, match="`y_pred` must be a plain array, got a masked array"):
        binary_cross_entropy(masked, np.array([1, 1]))


@pytest.mark.parametrize(
    "values, pattern",
    [
        (np.array(["0.5", "0.25"], dtype=object), r"`y_pred` must contain only real numbers, got '0.5'"),
        ([0.5, None], r"`y_pred` must contain only real numbers, got None of type NoneType at index 1"),
        ([10**400], r"`y_pred` must contain numbers that fit in float64"),
        (np.array([0.5], dtype=np.longdouble), r"`y_pred` must have at most float64 precision")
        if np.finfo(np.longdouble).nmant > 52 else (["x"], "real numeric dtype"),
    ],
)
def test_odd_objects_rejected(values, pattern):
    with pytest.raises(TypeError, match=pattern):
        binary_cross_entropy(values, np.ones(np.shape(values)))


def test_subtract_entropy_never_negative():
    rng = np.random.default_rng(0)
    y_true = rng.random(10_000)
    y_pred = np.nextafter(y_true, 1)
    kl = binary_cross_entropy(y_pred, y_true, subtract_entropy=True, reduction="none")
    assert np.all(kl >= 0)
    kl_logits = binary_cross_entropy_with_logits(
        np.log(y_pred) - np.log1p(-y_pred), y_true, subtract_entropy=True, reduction="none"
    )
    assert np.all(kl_logits >= 0)


def test_flag_type_checked():
    with pytest.raises(TypeError, match="`subtract_entropy` must be a bool, got str"):
        binary_cross_entropy(np.array([0.5]), np.array([1]), subtract_entropy="False")
    with pytest.raises(ValueError, match="`reduction` must be one of"):
        binary_cross_entropy(np.array([0.5]), np.array([1]), reduction=np.array(["mean"]))


def test_certain_correct_prediction_positive_zero():
    loss = binary_cross_entropy(np.array([1.0, 0.0]), np.array([1, 0]), reduction="none")
    assert np.all(np.signbit(loss) == False)  # noqa: E712


def test_label_smoothing_numpy_integer():
    assert binary_cross_entropy(np.array([0.5]), np.array([1]), label_smoothing=np.int64(0)) == pytest.approx(math.log(2))


@pytest.mark.parametrize("function", [binary_cross_entropy, binary_cross_entropy_with_logits])
def test_nan_prediction_under_omit(function):
    with pytest.raises(ValueError, match="nan_policy='omit' leaves out rows with a missing label only"):
        function(np.array([0.2, np.nan]), np.array([1.0, 0.0]), nan_policy="omit")
