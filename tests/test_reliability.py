import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logloss._reliability import consistency_band, reliability_curve


def pool_adjacent_violators(values, weights):
    """Reference isotonic regression: merge neighbouring blocks while their means decrease."""
    blocks = [[v * w, w, 1] for v, w in zip(values, weights)]
    merged = []
    for block in blocks:
        merged.append(block)
        while len(merged) > 1 and merged[-2][0] / merged[-2][1] > merged[-1][0] / merged[-1][1]:
            total, weight, count = merged.pop()
            merged[-1][0] += total
            merged[-1][1] += weight
            merged[-1][2] += count
    return np.concatenate([np.full(count, total / weight) for total, weight, count in merged])


def test_curve_pools_ties():
    x, recalibrated = reliability_curve(np.array([0.3, 0.3, 0.3, 0.6]), np.array([1, 0, 0, 1]))
    np.testing.assert_array_equal(x, [0.3, 0.6])
    np.testing.assert_allclose(recalibrated, [1 / 3, 1.0])


def test_curve_weights():
    # Weighted means: 0.2 -> 3/4 (weights 3 and 1), 0.5 -> 0; they pool to 3/5.
    x, recalibrated = reliability_curve(
        np.array([0.2, 0.2, 0.5]), np.array([1, 0, 0]), weights=np.array([3.0, 1.0, 1.0])
    )
    np.testing.assert_array_equal(x, [0.2, 0.5])
    np.testing.assert_allclose(recalibrated, [0.6, 0.6], rtol=4 * np.finfo(np.float64).eps)


def test_curve_drops_zero_weights():
    x, recalibrated = reliability_curve(np.array([0.2, 0.5]), np.array([1, 0]), weights=np.array([0.0, 1.0]))
    np.testing.assert_array_equal(x, [0.5])
    np.testing.assert_array_equal(recalibrated, [0.0])


def test_curve_no_rows():
    x, recalibrated = reliability_curve(np.empty(0), np.empty(0))
    assert x.size == 0
    assert recalibrated.size == 0


def test_curve_rejects_nan():
    with pytest.raises(ValueError, match="`y_true` must not contain NaN, got NaN at index 1"):
        reliability_curve(np.array([0.2, 0.5]), np.array([0.0, np.nan]))


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 1.0]),
            st.floats(0.0, 1.0),
            st.floats(0.01, 10.0),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_curve_matches_reference(rows):
    p, y, w = (np.array(column) for column in zip(*rows))
    x, recalibrated = reliability_curve(p, y, weights=w)
    distinct = np.unique(p)
    pooled = [np.dot(w[p == v], y[p == v]) / w[p == v].sum() for v in distinct]
    pooled_weight = [w[p == v].sum() for v in distinct]
    np.testing.assert_array_equal(x, distinct)
    np.testing.assert_allclose(recalibrated, pool_adjacent_violators(pooled, pooled_weight), atol=1e-12)
    assert np.all(np.diff(recalibrated) >= 0)


def test_band_reproducible_with_seed():
    p = np.linspace(0.05, 0.95, 40)
    first = consistency_band(p, n_resamples=40, seed=7)
    second = consistency_band(p, n_resamples=40, seed=7)
    np.testing.assert_array_equal(first.lower, second.lower)
    np.testing.assert_array_equal(first.upper, second.upper)
    assert np.all(first.lower <= first.upper)


def test_band_subsamples_rows():
    p = np.linspace(0.0, 1.0, 1000)
    band = consistency_band(p, n_resamples=10, max_rows=100)
    assert band.n_rows == 100
    assert band.x.size == 100
    assert band.n_resamples == 10


def test_band_covers_diagonal_mostly():
    # Under calibration the pointwise 90% band contains the diagonal at most points.
    p = np.repeat(np.linspace(0.05, 0.95, 19), 50)
    band = consistency_band(p, n_resamples=200, level=0.9)
    inside = (band.lower <= band.x) & (band.x <= band.upper)
    assert inside.mean() >= 0.8


def test_band_constant_prediction():
    band = consistency_band(np.full(10, 0.5), n_resamples=20)
    assert band.x.tolist() == [0.5]
    assert 0.0 <= band.lower[0] <= band.upper[0] <= 1.0


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("level", 1.0, r"`level` must be in \(0, 1\), got 1.0"),
        ("n_resamples", 0, "`n_resamples` must be at least 1, got 0"),
        ("max_rows", 0, "`max_rows` must be at least 1, got 0"),
    ],
)
def test_band_rejects_bad_option(option, value, message):
    with pytest.raises(ValueError, match=message):
        consistency_band(np.array([0.5]), **{option: value})
