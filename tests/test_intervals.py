import math
import statistics

import numpy as np
import pytest

from logloss import LogLossState, UndefinedMetricWarning, confidence_interval

EPS = np.finfo(np.float64).eps


def _rows(n=300, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, n)
    y = (rng.uniform(size=n) < p).astype(np.int64)
    return p, y


def _losses(p, y):
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


def _state(p, y, weights=None):
    state = LogLossState()
    state.update(p, y, weights=weights)
    return state


def test_delta_log_loss_unweighted_is_sample_sd_over_root_n():
    p, y = _rows()
    loss = _losses(p, y)
    interval = confidence_interval(_state(p, y)).log_loss
    expected = np.std(loss, ddof=1) / math.sqrt(loss.size)
    assert interval.standard_error == pytest.approx(expected, rel=1e3 * EPS, abs=0)
    assert interval.estimate == pytest.approx(loss.mean(), rel=10 * EPS, abs=0)


def test_delta_bounds_use_normal_quantile():
    p, y = _rows()
    interval = confidence_interval(_state(p, y), level=0.9).log_loss
    z = statistics.NormalDist().inv_cdf(0.95)
    assert interval.lower == pytest.approx(interval.estimate - z * interval.standard_error, rel=10 * EPS, abs=0)
    assert interval.upper == pytest.approx(interval.estimate + z * interval.standard_error, rel=10 * EPS, abs=0)
    assert interval.level == 0.9
    assert interval.method == "delta"


def _influence_variance(weights, influence):
    weight_sum = weights.sum()
    effective_size = weight_sum**2 / np.sum(weights**2)
    return effective_size / (effective_size - 1) * np.sum((weights * influence) ** 2)


def _ne(weights, p, y):
    loss = np.sum(weights * _losses(p, y)) / weights.sum()
    rate = np.sum(weights * y) / weights.sum()
    return loss / -(rate * math.log(rate) + (1 - rate) * math.log1p(-rate))


def _numeric_gradient(figure, weights, step=1e-6):
    """Central differences of figure(weights) in each weight, scaled to relative steps."""
    gradient = np.empty(weights.size)
    for i in range(weights.size):
        up, down = weights.copy(), weights.copy()
        up[i] += step
        down[i] -= step
        gradient[i] = (figure(up) - figure(down)) / (2 * step)
    return gradient


def test_delta_normalized_entropy_matches_numeric_gradient():
    p, y = _rows(n=40, seed=1)
    weights = np.random.default_rng(2).uniform(0.5, 2.0, p.size)
    gradient = _numeric_gradient(lambda w: _ne(w, p, y), weights)
    expected = math.sqrt(_influence_variance(weights, gradient))
    interval = confidence_interval(_state(p, y, weights)).normalized_entropy
    assert interval.estimate == pytest.approx(_ne(weights, p, y), rel=100 * EPS, abs=0)
    assert interval.standard_error == pytest.approx(expected, rel=1e-7, abs=0)


def test_delta_calibration_ratio_matches_numeric_gradient():
    p, y = _rows(n=40, seed=3)
    weights = np.random.default_rng(4).uniform(0.5, 2.0, p.size)

    def ratio(w):
        return np.sum(w * p) / np.sum(w * y)

    gradient = _numeric_gradient(ratio, weights)
    expected = math.sqrt(_influence_variance(weights, gradient))
    interval = confidence_interval(_state(p, y, weights)).calibration_ratio
    assert interval.estimate == pytest.approx(ratio(weights), rel=100 * EPS, abs=0)
    assert interval.standard_error == pytest.approx(expected, rel=1e-7, abs=0)


def test_delta_weighted_log_loss_closed_form():
    p, y = _rows(n=200, seed=5)
    weights = np.random.default_rng(6).exponential(size=p.size)
    loss = _losses(p, y)
    mean = np.sum(weights * loss) / weights.sum()
    expected = math.sqrt(_influence_variance(weights, (loss - mean) / weights.sum()))
    interval = confidence_interval(_state(p, y, weights)).log_loss
    assert interval.standard_error == pytest.approx(expected, rel=1e-12, abs=0)


def test_delta_zero_weight_rows_change_nothing():
    p, y = _rows(n=100, seed=7)
    weights = np.ones(p.size)
    weights[::3] = 0.0
    kept = weights > 0
    with_zeros = confidence_interval(_state(p, y, weights))
    without = confidence_interval(_state(p[kept], y[kept]))
    for figure in ("log_loss", "normalized_entropy", "calibration_ratio"):
        assert getattr(with_zeros, figure).standard_error == pytest.approx(
            getattr(without, figure).standard_error, rel=1e3 * EPS, abs=0)


def test_delta_logits_match_probabilities():
    z = np.linspace(-3.0, 3.0, 61)
    y = (np.arange(61) % 3 == 0).astype(int)
    state = LogLossState()
    state.update_logits(z, y)
    from_logits = confidence_interval(state).log_loss
    from_probabilities = confidence_interval(_state(1 / (1 + np.exp(-z)), y)).log_loss
    assert from_logits.standard_error == pytest.approx(from_probabilities.standard_error, rel=1e-12, abs=0)


def test_delta_constant_loss_has_zero_width():
    state = _state(np.full(10, 0.5), np.arange(10) % 2)
    interval = confidence_interval(state).log_loss
    assert interval.standard_error == 0.0
    assert interval.lower == interval.upper == interval.estimate


@pytest.mark.parametrize("disable_fast", ["0", "1"])
@pytest.mark.parametrize("weighted", [False, True])
def test_delta_equal_losses_zero_width(monkeypatch, disable_fast, weighted):
    # A million equal losses leave only rounding noise in the centered sums. Both paths
    # must report a standard error of exactly 0, not about 1e-11.
    monkeypatch.setenv("LOGLOSS_DISABLE_FAST", disable_fast)
    n = 2**20 - 1
    state = LogLossState()
    state.update(np.full(n, 0.5), np.arange(n) % 2, weights=np.full(n, 0.7) if weighted else None)
    interval = confidence_interval(state).log_loss
    assert interval.standard_error == 0.0
    assert interval.lower == interval.upper == interval.estimate


def test_delta_intervals_record_settings():
    p, y = _rows(n=50)
    intervals = confidence_interval(_state(p, y), level=0.8)
    assert (intervals.level, intervals.method, intervals.count) == (0.8, "delta", 50)
    assert intervals.n_bootstrap is None
    assert intervals.seed is None
    assert intervals.to_dict()["log_loss"]["level"] == 0.8


def test_delta_empty_state_warns_nan():
    with pytest.warns(UndefinedMetricWarning, match="there are no rows") as record:
        intervals = confidence_interval(LogLossState())
    assert record[0].filename == __file__
    assert math.isnan(intervals.log_loss.estimate)
    assert math.isnan(intervals.calibration_ratio.upper)


def test_delta_zero_total_weight_warns_nan():
    state = _state(np.array([0.3, 0.6]), np.array([0, 1]), weights=np.zeros(2))
    with pytest.warns(UndefinedMetricWarning, match="total weight is 0"):
        intervals = confidence_interval(state)
    assert math.isnan(intervals.normalized_entropy.lower)


def test_delta_single_row_warns_nan_bounds():
    state = _state(np.array([0.3, 0.6]), np.array([0, 1]), weights=np.array([0.0, 2.0]))
    with pytest.warns(UndefinedMetricWarning) as record:
        intervals = confidence_interval(state)
    messages = [str(warning.message) for warning in record]
    assert any("fewer than two rows" in message for message in messages)
    assert {warning.filename for warning in record} == {__file__}
    assert intervals.log_loss.estimate == pytest.approx(-math.log(0.6))
    assert math.isnan(intervals.log_loss.standard_error)
    assert math.isnan(intervals.log_loss.lower)


def test_delta_single_class():
    state = _state(np.array([0.1, 0.2, 0.3]), np.zeros(3))
    with pytest.warns(UndefinedMetricWarning, match="every label is 0"):
        intervals = confidence_interval(state)
    assert math.isfinite(intervals.log_loss.standard_error)
    assert intervals.normalized_entropy.estimate == math.inf
    assert math.isnan(intervals.normalized_entropy.lower)
    assert intervals.calibration_ratio.estimate == math.inf
    assert math.isnan(intervals.calibration_ratio.upper)


def test_delta_infinite_loss_warns():
    state = _state(np.array([0.0, 0.2, 0.7]), np.array([1, 0, 1]))
    with pytest.warns(UndefinedMetricWarning, match="1 row has an infinite loss") as record:
        intervals = confidence_interval(state)
    assert record[0].filename == __file__
    assert intervals.log_loss.estimate == math.inf
    assert math.isnan(intervals.log_loss.lower)
    assert math.isnan(intervals.normalized_entropy.upper)
    assert math.isfinite(intervals.calibration_ratio.standard_error)


def test_delta_clip_bounds_infinite_loss():
    state = LogLossState(clip=1e-7)
    state.update(np.array([0.0, 0.2, 0.7]), np.array([1, 0, 1]))
    interval = confidence_interval(state).log_loss
    assert math.isfinite(interval.upper)


@pytest.mark.parametrize(
    ("level", "z"),
    [
        # Reference quantiles sqrt(2) * erfinv(level), from mpmath at 100 bits.
        (1.0 - 2.0**-53, 8.292361075813595),
        (1.0 - 1e-15, 8.026957018033892),
        (0.95, 1.9599639845400538),
    ],
)
def test_delta_bounds_level_near_one(level, z):
    p, y = _rows()
    interval = confidence_interval(_state(p, y), level=level).log_loss
    assert interval.upper - interval.estimate == pytest.approx(z * interval.standard_error, rel=1e-14, abs=0)
    assert interval.estimate - interval.lower == pytest.approx(z * interval.standard_error, rel=1e-14, abs=0)


@pytest.mark.parametrize("level", [0.0, 1.0, -0.5, 95])
def test_level_outside_unit_interval_raises(level):
    with pytest.raises(ValueError, match=r"`level` must be in \(0, 1\)"):
        confidence_interval(_state(*_rows(n=5)), level=level)


def test_level_wrong_type_raises():
    with pytest.raises(TypeError, match="`level` must be a float, got str"):
        confidence_interval(_state(*_rows(n=5)), level="0.95")


def test_method_unknown_raises():
    with pytest.raises(ValueError, match="`method` must be one of 'delta', 'bootstrap', got 'wald'"):
        confidence_interval(_state(*_rows(n=5)), method="wald")


def test_bootstrap_method_needs_bootstrap_state():
    with pytest.raises(TypeError, match="must be a BootstrapState for method='bootstrap'"):
        confidence_interval(_state(*_rows(n=5)), method="bootstrap")


def test_state_wrong_type_raises():
    with pytest.raises(TypeError, match="`state` must be a LogLossState or BootstrapState, got dict"):
        confidence_interval({})
