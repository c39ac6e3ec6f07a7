import numpy as np
import pytest

from logloss._reliability import consistency_band


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
