"""Options of both loss entry points: pos_weight, smoothing, KL, axis, weights, NaN, reductions."""

import math

import mpmath
import numpy as np
import pytest

from logloss import (
    UndefinedMetricWarning,
    binary_cross_entropy,
    binary_cross_entropy_grad_hess,
    binary_cross_entropy_with_logits,
)

mpmath.mp.dps = 50
EPS32 = float(np.finfo(np.float32).eps)
EPS64 = float(np.finfo(np.float64).eps)


def _mp_logit_loss(z, y, pos_weight=1.0):
    z, y, pw = mpmath.mpf(float(z)), mpmath.mpf(float(y)), mpmath.mpf(float(pos_weight))
    return pw * y * mpmath.log1p(mpmath.exp(-z)) + (1 - y) * mpmath.log1p(mpmath.exp(z))


def test_pos_weight_float32_tail_exact():
    z = np.array([-14.913008], dtype=np.float32)
    loss = binary_cross_entropy_with_logits(z, np.array([1], dtype=np.float32), pos_weight=3.0, reduction="none")
    expected = np.float32(float(_mp_logit_loss(z[0], 1, 3)))
    assert loss.dtype == np.float32
    assert np.isfinite(loss[0])
    assert loss[0] == expected


def test_pos_weight_only_positive_term_soft_labels():
    z = np.array([0.5, 0.5], dtype=np.float32)
    y = np.array([0.5, 0.5], dtype=np.float32)
    weights = np.array([0.5, 0.5], dtype=np.float32)
    pos_weight = np.array([1.0, 2.0], dtype=np.float32)
    loss = binary_cross_entropy_with_logits(z, y, weights=weights, pos_weight=pos_weight, reduction="none")
    np.testing.assert_allclose(loss, [0.36203849209005334, 0.48055773813508001], rtol=EPS32)
    probability = 1 / (1 + np.exp(-z.astype(np.float64)))
    from_probability = binary_cross_entropy(probability, y, weights=weights, pos_weight=pos_weight, reduction="none")
    np.testing.assert_allclose(from_probability, loss, rtol=EPS32)


def test_pos_weight_per_column_and_element():
    z = np.array([[0.3, -1.0], [2.0, 0.1]])
    y = np.array([[1.0, 0.4], [0.0, 1.0]])
    per_column = binary_cross_entropy_with_logits(z, y, pos_weight=np.array([2.0, 3.0]), reduction="none")
    per_element = binary_cross_entropy_with_logits(z, y, pos_weight=np.array([[2.0, 3.0], [2.0, 3.0]]), reduction="none")
    np.testing.assert_array_equal(per_column, per_element)
    expected = [[float(_mp_logit_loss(z[i, j], y[i, j], [2.0, 3.0][j])) for j in range(2)] for i in range(2)]
    np.testing.assert_allclose(per_column, expected, rtol=2 * EPS64)


def test_pos_weight_wrong_shape_rejected():
    message = r"`pos_weight` must be a scalar or have shape \(3,\) \(one value per column\) or shape \(2, 3\)"
    with pytest.raises(ValueError, match=message):
        binary_cross_entropy(np.full((2, 3), 0.5), np.ones((2, 3)), pos_weight=np.ones(2))


def test_pos_weight_wrong_shape_one_dimension():
    message = r"`pos_weight` must be a scalar or have shape \(3,\) \(one value per element\), got shape \(2,\)$"
    with pytest.raises(ValueError, match=message):
        binary_cross_entropy(np.full(3, 0.5), np.ones(3), pos_weight=np.ones(2))


@pytest.mark.parametrize("entry", ["probability", "logit"])
def test_label_smoothing_formula(entry):
    y = np.array([0, 1, 1, 0])
    p = np.array([0.1, 0.8, 0.999, 0.4])
    smoothing = 0.2
    smoothed = y * (1 - smoothing) + smoothing / 2
    if entry == "probability":
        function, inputs = binary_cross_entropy, p
    else:
        function, inputs = binary_cross_entropy_with_logits, np.log(p / (1 - p))
    with_option = function(inputs, y, label_smoothing=smoothing, reduction="none")
    explicit = function(inputs, smoothed, reduction="none")
    # The option forms the negative coefficient from 1 - y, not from the rounded smoothed
    # label, so the two may differ in the last bit.
    np.testing.assert_allclose(with_option, explicit, rtol=2 * EPS64, atol=0)


def _mp_smoothed_loss(p, y, smoothing):
    """The smoothed loss of one probability, with the negative coefficient formed exactly."""
    p, y, smoothing = mpmath.mpf(float(p)), mpmath.mpf(float(y)), mpmath.mpf(smoothing)
    positive = y * (1 - smoothing) + smoothing / 2
    negative = (1 - y) * (1 - smoothing) + smoothing / 2
    return -(positive * mpmath.log(p) + negative * mpmath.log1p(-p)), positive, negative


# A tiny smoothing of a confident, correct prediction: the smoothed negative coefficient
# 5e-13 is of the loss's size, and forming it as 1 - target lost four digits.
_TINY_SMOOTHING = 1e-12
_CONFIDENT = [(1 - 1e-10, 1), (1e-10, 0)]


@pytest.mark.parametrize(("p", "y"), _CONFIDENT)
def test_tiny_smoothing_probability_loss(p, y):
    loss = binary_cross_entropy(np.array([p]), np.array([y]), label_smoothing=_TINY_SMOOTHING)
    expected, _, _ = _mp_smoothed_loss(p, y, _TINY_SMOOTHING)
    assert float(loss) == pytest.approx(float(expected), rel=4 * EPS64, abs=0)


@pytest.mark.parametrize(("p", "y"), _CONFIDENT)
def test_tiny_smoothing_logit_loss(p, y):
    z = float(mpmath.log(mpmath.mpf(p) / (1 - mpmath.mpf(p))))
    loss = binary_cross_entropy_with_logits(np.array([z]), np.array([y]), label_smoothing=_TINY_SMOOTHING)
    _, positive, negative = _mp_smoothed_loss(p, y, _TINY_SMOOTHING)
    mp_z = mpmath.mpf(z)
    expected = positive * mpmath.log1p(mpmath.exp(-mp_z)) + negative * mpmath.log1p(mpmath.exp(mp_z))
    assert float(loss) == pytest.approx(float(expected), rel=4 * EPS64, abs=0)


@pytest.mark.parametrize(("p", "y"), _CONFIDENT)
def test_tiny_smoothing_gradient(p, y):
    gradient, _ = binary_cross_entropy_grad_hess(np.array([p]), np.array([y]), label_smoothing=_TINY_SMOOTHING)
    _, positive, negative = _mp_smoothed_loss(p, y, _TINY_SMOOTHING)
    mp_p = mpmath.mpf(p)
    expected = -positive / mp_p + negative / (1 - mp_p)
    assert float(gradient[0]) == pytest.approx(float(expected), rel=4 * EPS64, abs=0)


@pytest.mark.parametrize(("p", "y"), _CONFIDENT)
def test_tiny_smoothing_divergence(p, y):
    kl = binary_cross_entropy(
        np.array([p]), np.array([y]), label_smoothing=_TINY_SMOOTHING, subtract_entropy=True
    )
    loss, positive, negative = _mp_smoothed_loss(p, y, _TINY_SMOOTHING)
    expected = loss + positive * mpmath.log(positive) + negative * mpmath.log(negative)
    assert float(kl) == pytest.approx(float(expected), rel=8 * EPS64, abs=0)


def test_label_smoothing_out_of_range_rejected():
    with pytest.raises(ValueError, match=r"`label_smoothing` must be in \[0, 1\), got 1.0"):
        binary_cross_entropy(np.array([0.5]), np.array([1]), label_smoothing=1.0)


def test_soft_labels_match_mpmath():
    z = np.array([-3.0, 0.2, 5.0])
    y = np.array([0.25, 0.6, 0.99])
    loss = binary_cross_entropy_with_logits(z, y, reduction="none")
    np.testing.assert_allclose(loss, [float(_mp_logit_loss(a, b)) for a, b in zip(z, y)], rtol=2 * EPS64)


def test_kl_zero_at_perfect_prediction():
    targets = np.array([0.0, 1e-300, 0.05, 0.3, 0.5, 0.95, 1 - 1e-12, 1.0])
    kl = binary_cross_entropy(targets, targets, subtract_entropy=True, reduction="none")
    assert np.all(kl == 0.0)


def test_kl_smoothed_target_reference():
    y, p = np.array([1]), np.array([0.95])
    cross_entropy = binary_cross_entropy(p, y, label_smoothing=0.1)
    kl = binary_cross_entropy(p, y, label_smoothing=0.1, subtract_entropy=True)
    assert float(cross_entropy) == pytest.approx(0.19851524334587256, rel=2 * EPS64, abs=0)
    assert float(kl) == 0.0


def test_kl_soft_target_pos_weight_negative():
    # With pos_weight 2, the loss against a target of 0.5 is least at p = 2/3, so the
    # difference at 0.6 is truly negative: -(log(0.6) + log(0.4) / 2) + 1.5 log(0.5).
    kl = binary_cross_entropy(np.array([0.6]), np.array([0.5]), pos_weight=2.0, subtract_entropy=True)
    expected = -(math.log(0.6) + 0.5 * math.log(0.4)) + 1.5 * math.log(0.5)
    assert float(kl) == pytest.approx(expected, rel=4 * EPS64, abs=0)


def test_kl_tiny_smoothing_pos_weight_negative():
    # The smoothed target 1 - 5e-18 rounds to 1, but its complement 5e-18 is kept, so the
    # loss is least away from the target and the difference is truly negative.
    kl = binary_cross_entropy_with_logits(
        np.array([38.0]), np.array([1.0]), pos_weight=0.25, label_smoothing=1e-17, subtract_entropy=True
    )
    z, smoothing = mpmath.mpf(38), mpmath.mpf(1e-17)
    positive, negative = 1 - smoothing / 2, smoothing / 2
    loss = mpmath.mpf(0.25) * positive * mpmath.log1p(mpmath.exp(-z)) + negative * mpmath.log1p(mpmath.exp(z))
    entropy = -(mpmath.mpf(0.25) * positive * mpmath.log(positive) + negative * mpmath.log(negative))
    assert float(kl) == pytest.approx(float(loss - entropy), rel=1e-12, abs=0)


def test_kl_smallest_smoothing_is_finite():
    # Half of 5e-324 rounds to 0, so the smoothed target of a label of 1 is exactly 1.
    kl = binary_cross_entropy(np.array([0.5]), np.array([1.0]), label_smoothing=5e-324, subtract_entropy=True)
    assert float(kl) == pytest.approx(math.log(2.0), rel=EPS64, abs=0)


def test_kl_logits_never_negative():
    rng = np.random.default_rng(3)
    z = rng.normal(0, 4, 200)
    y = rng.uniform(0, 1, 200)
    kl = binary_cross_entropy_with_logits(z, y, subtract_entropy=True, reduction="none")
    assert np.all(kl >= -4 * EPS64)


def test_axis_per_column_mean():
    p = np.array([[0.9, 0.2], [0.6, 0.3], [0.8, 0.4]])
    y = np.array([[1, 0], [1, 1], [0, 0]])
    per_column = binary_cross_entropy(p, y, axis=0)
    elements = binary_cross_entropy(p, y, reduction="none")
    np.testing.assert_allclose(per_column, elements.mean(axis=0), rtol=EPS64)
    per_row = binary_cross_entropy(p, y, axis=-1, reduction="sum")
    np.testing.assert_allclose(per_row, elements.sum(axis=1), rtol=EPS64)


def test_weights_per_sample_needs_axis():
    p = np.full((3, 2), 0.4)
    y = np.ones((3, 2))
    with pytest.raises(ValueError, match=r"`weights` must have the same shape as `y_pred` \(3, 2\)"):
        binary_cross_entropy(p, y, weights=np.ones(3))
    weights = np.array([1.0, 2.0, 3.0])
    along_axis = binary_cross_entropy(p, y, weights=weights, weights_axis=0)
    full = binary_cross_entropy(p, y, weights=np.repeat(weights, 2).reshape(3, 2))
    assert float(along_axis) == float(full)


# Rows whose weights differ by over 300 orders of magnitude: each row's weights are equal,
# so each row's weighted mean is its unweighted mean.
_FAR_APART_WEIGHTS = np.array([[1e-30, 1e-30], [1e300, 1e300]])
_ROWS_P = np.array([[0.3, 0.6], [0.2, 0.9]])
_ROWS_Y = np.array([[1, 0], [0, 1]])


def test_weighted_row_means_far_apart():
    weighted = binary_cross_entropy(_ROWS_P, _ROWS_Y, weights=_FAR_APART_WEIGHTS, axis=1)
    unweighted = binary_cross_entropy(_ROWS_P, _ROWS_Y, axis=1)
    np.testing.assert_allclose(weighted, unweighted, rtol=EPS64)


def test_weights_axis_row_means_far_apart():
    weighted = binary_cross_entropy_with_logits(
        np.log(_ROWS_P / (1 - _ROWS_P)), _ROWS_Y, weights=np.array([1e-300, 1e20]), weights_axis=0, axis=-1
    )
    unweighted = binary_cross_entropy_with_logits(np.log(_ROWS_P / (1 - _ROWS_P)), _ROWS_Y, axis=-1)
    np.testing.assert_allclose(weighted, unweighted, rtol=4 * EPS64)


def test_weighted_row_gradients_far_apart():
    gradient, hessian = binary_cross_entropy_grad_hess(
        _ROWS_P, _ROWS_Y, weights=_FAR_APART_WEIGHTS, axis=1, reduction="mean"
    )
    expected_gradient, expected_hessian = binary_cross_entropy_grad_hess(_ROWS_P, _ROWS_Y, axis=1, reduction="mean")
    np.testing.assert_allclose(gradient, expected_gradient, rtol=EPS64)
    np.testing.assert_allclose(hessian, expected_hessian, rtol=EPS64)


@pytest.mark.parametrize(("length", "advice"), [(3, "pass weights_axis=0$"), (2, "pass weights_axis=1$")])
def test_weights_per_slice_names_axis(length, advice):
    with pytest.raises(ValueError, match=advice):
        binary_cross_entropy(np.full((3, 2), 0.4), np.ones((3, 2)), weights=np.ones(length))


def test_missing_label_weight_not_counted():
    # The missing label's weight of 1e300 would scale the other weight down to 1e-320.
    p, y = np.array([0.3, 0.6]), np.array([1.0, np.nan])
    mean = binary_cross_entropy(p, y, weights=np.array([1e-20, 1e300]), nan_policy="omit")
    assert float(mean) == pytest.approx(-math.log(0.3), rel=EPS64, abs=0)


def test_missing_label_weight_not_counted_gradient():
    p, y = np.array([0.3, 0.6]), np.array([1.0, np.nan])
    gradient, _ = binary_cross_entropy_grad_hess(
        p, y, weights=np.array([1e-20, 1e300]), nan_policy="omit", reduction="mean"
    )
    np.testing.assert_allclose(gradient, [-1 / 0.3, 0.0], rtol=EPS64, atol=0)


def test_weights_axis_wrong_length_rejected():
    with pytest.raises(ValueError, match="`weights` must have the same shape as `y_pred along axis 1`"):
        binary_cross_entropy(np.full((3, 2), 0.4), np.ones((3, 2)), weights=np.ones(3), weights_axis=1)


def test_nan_label_rejected_by_default():
    with pytest.raises(ValueError, match=r"`y_true` must not contain NaN, got NaN at index 1.*nan_policy='omit'"):
        binary_cross_entropy(np.array([0.5, 0.5]), np.array([1.0, np.nan]))


def test_nan_label_omitted():
    p = np.array([0.9, 0.5, 0.2])
    y = np.array([1.0, np.nan, 0.0])
    weights = np.array([2.0, 5.0, 1.0])
    mean = binary_cross_entropy(p, y, weights=weights, nan_policy="omit")
    expected = binary_cross_entropy(p[[0, 2]], y[[0, 2]], weights=weights[[0, 2]])
    assert float(mean) == pytest.approx(float(expected), rel=EPS64, abs=0)
    none = binary_cross_entropy(p, y, nan_policy="omit", reduction="none")
    assert math.isnan(none[1])


def test_weighted_mean_is_sum_over_weights():
    z = np.array([0.40005136065843544, -0.19986264725851363, -0.19986264725851363], dtype=np.float32)
    y = np.array([1, 0, 0], dtype=np.float32)
    weights = np.array([3.0, 1.0, 1.0], dtype=np.float32)
    mean = binary_cross_entropy_with_logits(z, y, weights=weights)
    assert float(mean) == pytest.approx(0.54707706777923009, rel=4 * EPS32, abs=0)
    rescaled = binary_cross_entropy_with_logits(z, y, weights=weights * 8)
    assert float(rescaled) == float(mean)


def test_reductions_empty_input():
    z = np.array([], dtype=np.float32)
    assert binary_cross_entropy_with_logits(z, z, reduction="none").shape == (0,)
    assert float(binary_cross_entropy_with_logits(z, z, reduction="sum")) == 0.0
    with pytest.warns(UndefinedMetricWarning, match="nothing to average"):
        assert math.isnan(binary_cross_entropy_with_logits(z, z, reduction="mean"))


def test_reductions_zero_weights_undefined():
    with pytest.warns(UndefinedMetricWarning, match="nothing to average"):
        mean = binary_cross_entropy(np.array([0.5]), np.array([1]), weights=np.array([0.0]))
    assert math.isnan(mean)


def test_shape_mismatch_names_broadcast_shape():
    message = r"reshape one of them explicitly: nothing broadcasts here, and \(3, 1\) against \(3,\) would broadcast to \(3, 3\)$"
    with pytest.raises(ValueError, match=message):
        binary_cross_entropy(np.full(3, 0.5), np.ones(3), weights=np.ones((3, 1)))


def test_shape_mismatch_without_broadcast():
    with pytest.raises(ValueError, match=r"`weights` must have the same shape as `y_pred` \(2, 3, 4\), got shape \(5,\)$"):
        binary_cross_entropy(np.full((2, 3, 4), 0.5), np.ones((2, 3, 4)), weights=np.ones(5))


def test_shape_mismatch_rejected():
    with pytest.raises(ValueError, match=r"`y_true` must have the same shape as `y_pred` \(3, 1\)"):
        binary_cross_entropy(np.array([[0.9], [0.2], [0.6]], dtype=np.float32), np.array([1, 0, 1]))


def test_bfloat16_numpy_inputs():
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="ml_dtypes provides bfloat16 for NumPy")
    p = np.array([0.2, 0.7], dtype=ml_dtypes.bfloat16)
    y = np.array([0, 1], dtype=ml_dtypes.bfloat16)
    loss = binary_cross_entropy(p, y, reduction="none")
    assert loss.dtype == ml_dtypes.bfloat16
    exact = binary_cross_entropy(p.astype(np.float64), y.astype(np.float64), reduction="none")
    np.testing.assert_array_equal(loss, exact.astype(ml_dtypes.bfloat16))


@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2"])
def test_float8_numpy_widens_to_float32(name):
    # ml_dtypes gives float8_e5m2 the kind "f" of NumPy's own floats, and float8_e4m3fn kind "V".
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="ml_dtypes provides the float8 types for NumPy")
    p = np.array([0.25, 0.5, 0.75], dtype=getattr(ml_dtypes, name))
    y = np.array([1.0, 0.0, 1.0])
    exact = np.array([float(mpmath.log(4)), float(mpmath.log(2)), float(mpmath.log(mpmath.mpf(4) / 3))])
    loss = binary_cross_entropy(p, y, reduction="none")
    assert loss.dtype == np.float32
    np.testing.assert_array_equal(loss, exact.astype(np.float32))
    gradient, hessian = binary_cross_entropy_grad_hess(p, y)
    assert gradient.dtype == np.float32
    assert hessian.dtype == np.float32
