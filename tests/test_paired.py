import math
import pickle

import numpy as np
import pytest

from logloss import (
    LogLossState,
    PairedComparisonState,
    UndefinedMetricWarning,
    bootstrap_weights,
)

EPS = np.finfo(np.float64).eps


def _rows(n=400, seed=0):
    rng = np.random.default_rng(seed)
    p_a = rng.uniform(0.02, 0.98, n)
    p_b = np.clip(p_a + rng.normal(0.0, 0.1, n), 0.01, 0.99)
    y = (rng.uniform(size=n) < p_a).astype(np.int64)
    return p_a, p_b, y


def _losses(p, y):
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


def test_self_comparison_has_zero_width():
    p_a, _, y = _rows()
    state = PairedComparisonState(n_bootstrap=50)
    state.update(p_a, p_a, y)
    for method in ("delta", "bootstrap"):
        difference = state.interval(method=method).difference
        assert difference.estimate == 0.0
        assert difference.standard_error == 0.0
        assert difference.lower == difference.upper == 0.0


def test_equal_differences_have_zero_error():
    # Each row's difference is log(0.4 / 0.3), so the spread is 0 and its sums carry rounding only.
    state = PairedComparisonState()
    state.update(np.full(10_000, 0.3), np.full(10_000, 0.4), np.ones(10_000, dtype=np.int64))
    difference = state.interval().difference
    assert difference.standard_error == 0.0
    assert difference.lower == difference.estimate
    assert difference.upper == difference.estimate


def test_delta_unweighted_is_sample_sd_over_root_n():
    p_a, p_b, y = _rows()
    d = _losses(p_a, y) - _losses(p_b, y)
    state = PairedComparisonState()
    state.update(p_a, p_b, y)
    comparison = state.interval()
    assert comparison.difference.estimate == pytest.approx(d.mean(), rel=1e3 * EPS, abs=0)
    assert comparison.difference.standard_error == pytest.approx(np.std(d, ddof=1) / math.sqrt(d.size), rel=1e-12, abs=0)
    assert comparison.log_loss_a == pytest.approx(_losses(p_a, y).mean(), rel=10 * EPS, abs=0)
    assert comparison.log_loss_b == pytest.approx(_losses(p_b, y).mean(), rel=10 * EPS, abs=0)


def test_delta_weighted_closed_form():
    p_a, p_b, y = _rows(n=300, seed=1)
    w = np.random.default_rng(2).exponential(size=y.size)
    d = _losses(p_a, y) - _losses(p_b, y)
    mean = np.sum(w * d) / w.sum()
    effective_size = w.sum() ** 2 / np.sum(w**2)
    variance = effective_size / (effective_size - 1) * np.sum(w**2 * (d - mean) ** 2) / w.sum() ** 2
    state = PairedComparisonState()
    state.update(p_a, p_b, y, weights=w)
    difference = state.interval().difference
    assert difference.estimate == pytest.approx(mean, rel=1e3 * EPS, abs=0)
    assert difference.standard_error == pytest.approx(math.sqrt(variance), rel=1e-12, abs=0)


def test_pairing_narrows_interval():
    p_a, p_b, y = _rows()
    state = PairedComparisonState()
    state.update(p_a, p_b, y)
    se_a = np.std(_losses(p_a, y), ddof=1) / math.sqrt(y.size)
    assert state.interval().difference.standard_error < se_a


def test_bootstrap_replicates_match_direct_weights():
    p_a, p_b, y = _rows(n=200, seed=3)
    state = PairedComparisonState(n_bootstrap=101, seed=7)
    state.update(p_a, p_b, y)
    counts = bootstrap_weights(np.arange(y.size), n_bootstrap=101, seed=7).astype(float)
    d = _losses(p_a, y) - _losses(p_b, y)
    replicates = np.sort(counts @ d / counts.sum(axis=1))
    comparison = state.interval(level=0.9, method="bootstrap")
    assert comparison.difference.lower == pytest.approx(replicates[4] + 0.1 * (replicates[5] - replicates[4]), rel=1e-12, abs=0)
    assert (comparison.method, comparison.n_bootstrap, comparison.seed) == ("bootstrap", 101, 7)


def test_merge_equals_one_pass():
    p_a, p_b, y = _rows(n=300, seed=4)
    whole = PairedComparisonState(n_bootstrap=32, seed=1)
    whole.update(p_a, p_b, y)
    left, right = PairedComparisonState(n_bootstrap=32, seed=1), PairedComparisonState(n_bootstrap=32, seed=1)
    right.update(p_a[100:], p_b[100:], y[100:], offset=100)
    left.update(p_a[:100], p_b[:100], y[:100])
    merged = pickle.loads(pickle.dumps(right.merge(left)))
    assert np.array_equal(merged.replicates.totals()[:, 0], whole.replicates.totals()[:, 0])
    for method in ("delta", "bootstrap"):
        expected = whole.interval(method=method).difference
        got = merged.interval(method=method).difference
        assert got.estimate == pytest.approx(expected.estimate, rel=1e-12, abs=0)
        assert got.upper == pytest.approx(expected.upper, rel=1e-12, abs=0)


def test_logits_match_probabilities():
    z_a = np.linspace(-3, 3, 90)
    z_b = 0.7 * z_a + 0.2
    y = (np.arange(90) % 2).astype(int)
    from_logits, from_probabilities = PairedComparisonState(), PairedComparisonState()
    from_logits.update_logits(z_a, z_b, y)
    from_probabilities.update(1 / (1 + np.exp(-z_a)), 1 / (1 + np.exp(-z_b)), y)
    expected = from_probabilities.interval().difference
    assert from_logits.interval().difference.standard_error == pytest.approx(expected.standard_error, rel=1e-10, abs=0)


@pytest.mark.parametrize(
    "zero_in, expected",
    [("a", math.inf), ("b", -math.inf), ("both", math.nan)],
)
def test_infinite_loss_difference(zero_in, expected):
    p_a, p_b, y = _rows(n=20, seed=5)
    y[0] = 1
    if zero_in in ("a", "both"):
        p_a[0] = 0.0
    if zero_in in ("b", "both"):
        p_b[0] = 0.0
    state = PairedComparisonState()
    state.update(p_a, p_b, y)
    with pytest.warns(UndefinedMetricWarning, match="(loss is|losses are) infinite") as record:
        difference = state.interval().difference
    assert record[0].filename == __file__
    if math.isnan(expected):
        assert math.isnan(difference.estimate)
    else:
        assert difference.estimate == expected
    assert math.isnan(difference.lower)


def test_bootstrap_infinite_loss_warning_matches_bounds():
    p_a, p_b, y = _rows(n=50, seed=5)
    y[0] = 1
    p_b[0] = 0.0
    state = PairedComparisonState(n_bootstrap=40)
    state.update(p_a, p_b, y)
    with pytest.warns(UndefinedMetricWarning) as record:
        difference = state.interval(method="bootstrap").difference
    (message,) = [str(warning.message) for warning in record]
    assert difference.estimate == -math.inf
    assert difference.lower == -math.inf
    assert math.isfinite(difference.upper)
    assert difference.standard_error == math.inf
    assert message.startswith("the log loss difference is -inf because 1 loss is infinite (pass clip to bound them)")
    assert "bounds are NaN" not in message


def test_empty_state_warns():
    with pytest.warns(UndefinedMetricWarning, match="there are no rows"):
        difference = PairedComparisonState().interval().difference
    assert math.isnan(difference.estimate)


def test_single_row_warns():
    state = PairedComparisonState()
    state.update([0.3], [0.4], [1])
    with pytest.warns(UndefinedMetricWarning, match="fewer than two rows"):
        difference = state.interval().difference
    assert difference.estimate == pytest.approx(math.log(0.4) - math.log(0.3))
    assert math.isnan(difference.upper)


def test_clip_applies_to_both_models():
    state = PairedComparisonState(clip=1e-6)
    state.update([0.0, 0.5], [0.5, 0.5], [1, 0])
    expected = LogLossState(clip=1e-6)
    expected.update([0.0, 0.5], [1, 0])
    assert state.interval().log_loss_a == expected.result().log_loss
    assert state.state_a.n_clipped == 1


def test_bootstrap_without_replicates_raises():
    with pytest.raises(ValueError, match=r"create the state with PairedComparisonState\(n_bootstrap=...\)"):
        PairedComparisonState().interval(method="bootstrap")


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="`y_pred_b` must have the same shape as `y_pred_a`"):
        PairedComparisonState().update([0.5, 0.4], [0.5], [1, 0])


def test_second_model_checked():
    state = PairedComparisonState()
    with pytest.raises(ValueError, match=r"`y_pred_b` must be in \[0, 1\], got 2.0 at index 0"):
        state.update([0.5], [2.0], [1])
    assert state.count == 0


def test_merge_bootstrap_with_plain_raises():
    with pytest.raises(ValueError, match="both keep bootstrap replicates or both not"):
        PairedComparisonState(n_bootstrap=4).merge(PairedComparisonState())


def test_to_dict_records_settings():
    p_a, p_b, y = _rows(n=50)
    state = PairedComparisonState()
    state.update(p_a, p_b, y)
    record = state.interval(level=0.8).to_dict()
    assert (record["method"], record["level"], record["n_bootstrap"]) == ("delta", 0.8, None)
    assert record["difference"]["method"] == "delta"


def test_one_infinite_loss_singular():
    p_a, p_b, y = _rows(n=20, seed=5)
    y[0] = 1
    p_a[0] = 0.0
    state = PairedComparisonState()
    state.update(p_a, p_b, y)
    with pytest.warns(UndefinedMetricWarning, match="because 1 loss is infinite"):
        state.interval()
