import math
import pickle

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import logloss._resample as resample
from logloss import BootstrapState, LogLossState, UndefinedMetricWarning, bootstrap_weights, confidence_interval

EPS = np.finfo(np.float64).eps


def _rows(n=500, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, n)
    y = (rng.uniform(size=n) < p).astype(np.int64)
    return p, y


def test_splitmix64_reference_output():
    # The first output of splitmix64 seeded with 0, from its published reference code.
    assert int(resample._mix(np.array([0], dtype=np.uint64) + resample._GAMMA)[0]) == 0xE220A8397B1DCDAF


def test_poisson_block_is_splitmix64_of_key_stream():
    keys = resample.row_keys(np.arange(10), seed=4)
    steps = np.arange(1, 6, dtype=np.uint64) * resample._GAMMA
    with np.errstate(over="ignore"):
        bits = resample._mix(keys[np.newaxis, :] + steps[:, np.newaxis])
    expected = np.searchsorted(resample.POISSON_THRESHOLDS, bits >> np.uint64(11), side="right")
    assert np.array_equal(resample._poisson_block(keys, 0, 5), expected)


def test_poisson_thresholds_match_mpmath():
    expected = []
    with mpmath.workprec(300):
        for k in range(18):
            cdf = sum(mpmath.e**-1 / mpmath.factorial(j) for j in range(k + 1))
            expected.append(int(mpmath.ceil(cdf * 2**53)))
    assert expected[-2] < 2**53 <= expected[-1]
    assert resample.POISSON_THRESHOLDS.tolist() == expected[:-1]


def test_weights_are_poisson_one():
    weights = bootstrap_weights(np.arange(100_000), n_bootstrap=2, seed=3).ravel().astype(float)
    standard_error = 1 / math.sqrt(weights.size)
    assert abs(weights.mean() - 1) < 5 * standard_error
    assert abs(weights.var() - 1) < 5 * math.sqrt(3) * standard_error
    assert abs(np.mean(weights == 0) - math.exp(-1)) < 5 * standard_error


def test_weights_reproducible():
    first = bootstrap_weights(np.arange(50), n_bootstrap=20, seed=11)
    second = bootstrap_weights(np.arange(50), n_bootstrap=20, seed=11)
    assert np.array_equal(first, second)
    assert not np.array_equal(first, bootstrap_weights(np.arange(50), n_bootstrap=20, seed=12))


def test_weights_independent_of_batch():
    ids = np.arange(1000, 1100)
    whole = bootstrap_weights(ids, n_bootstrap=30, seed=5)
    part = bootstrap_weights(ids[[40, 7, 99]], n_bootstrap=30, seed=5)
    assert np.array_equal(part, whole[:, [40, 7, 99]])


def test_weights_independent_of_block_size(monkeypatch):
    ids = np.arange(300)
    whole = bootstrap_weights(ids, n_bootstrap=40, seed=2)
    monkeypatch.setattr(resample, "_BLOCK_ELEMENTS", 7)
    assert np.array_equal(bootstrap_weights(ids, n_bootstrap=40, seed=2), whole)


def test_weights_of_integer_ids_ignore_dtype():
    expected = bootstrap_weights(np.array([0, 5, 2**40]), n_bootstrap=16)
    for dtype in (np.uint64, np.int64):
        assert np.array_equal(bootstrap_weights(np.array([0, 5, 2**40], dtype=dtype), n_bootstrap=16), expected)
    small = bootstrap_weights(np.array([0, 5], dtype=np.int16), n_bootstrap=16)
    assert np.array_equal(small, expected[:, :2])
    assert np.array_equal(bootstrap_weights(np.array([0, 5, 2**40], dtype=object), n_bootstrap=16), expected)


def test_weights_of_string_ids_ignore_width_and_type():
    expected = bootstrap_weights(np.array(["ab", "c"]), n_bootstrap=16)
    wide = bootstrap_weights(np.array(["ab", "c", "a much longer id"]), n_bootstrap=16)
    assert np.array_equal(wide[:, :2], expected)
    assert np.array_equal(bootstrap_weights(np.array([b"ab", b"c"]), n_bootstrap=16), expected)
    assert np.array_equal(bootstrap_weights(np.array(["ab", "c"], dtype=object), n_bootstrap=16), expected)
    assert not np.array_equal(expected[:, 0], expected[:, 1])


def test_weights_float_ids_raise():
    with pytest.raises(TypeError, match="`row_ids` must hold integers or strings, got dtype float64"):
        bootstrap_weights(np.array([1.0, 2.0]), n_bootstrap=4)


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (2**64, ValueError), (1.5, TypeError)])
def test_weights_bad_seed_raises(seed, error):
    with pytest.raises(error, match="`seed` must be"):
        bootstrap_weights(np.arange(3), n_bootstrap=4, seed=seed)


def test_replicate_sums_match_direct_weights():
    p, y = _rows(n=300, seed=1)
    w = np.random.default_rng(2).uniform(0.5, 2.0, p.size)
    state = BootstrapState(n_bootstrap=25, seed=9)
    state.update(p, y, weights=w)
    counts = bootstrap_weights(np.arange(p.size), n_bootstrap=25, seed=9).astype(float)
    figures = state.replicate_figures()
    for b in (0, 7, 24):
        direct = LogLossState()
        direct.update(p, y, weights=counts[b] * w)
        expected = direct.result()
        assert figures["log_loss"][b] == pytest.approx(expected.log_loss, rel=100 * EPS, abs=0)
        assert figures["normalized_entropy"][b] == pytest.approx(expected.normalized_entropy, rel=100 * EPS, abs=0)
        assert figures["calibration_ratio"][b] == pytest.approx(expected.calibration_ratio, rel=100 * EPS, abs=0)


def test_merge_equals_one_pass():
    p, y = _rows(n=900, seed=3)
    whole = BootstrapState(n_bootstrap=64, seed=4)
    whole.update(p, y)
    parts = []
    for start, stop in ((600, 900), (0, 250), (250, 600)):
        part = BootstrapState(n_bootstrap=64, seed=4)
        part.update(p[start:stop], y[start:stop], offset=start)
        parts.append(part)
    merged = parts[0].merge(parts[1]).merge(parts[2])
    whole_sums, merged_sums = whole.replicates.totals(), merged.replicates.totals()
    # Integer-valued columns (weight, weight * label, infinite count) are exact.
    assert np.array_equal(merged_sums[:, [0, 1, 4]], whole_sums[:, [0, 1, 4]])
    np.testing.assert_allclose(merged_sums[:, [2, 3]], whole_sums[:, [2, 3]], rtol=10 * EPS)
    assert merged.replicates.ranges == [(0, 900)]
    assert merged.count == 900


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=120), max_size=6), seed=st.integers(0, 2**64 - 1))
def test_any_split_merges_to_one_pass(cuts, seed):
    p, y = _rows(n=120, seed=12)
    w = np.arange(120) % 4  # integer weights, some 0, keep every sum exact
    whole = BootstrapState(n_bootstrap=8, seed=seed)
    whole.update(p, y, weights=w)
    bounds = [0, *sorted(cuts), 120]
    merged = BootstrapState(n_bootstrap=8, seed=seed)
    for start, stop in reversed(list(zip(bounds[:-1], bounds[1:]))):
        part = BootstrapState(n_bootstrap=8, seed=seed)
        part.update(p[start:stop], y[start:stop], weights=w[start:stop], offset=start)
        merged = part.merge(merged)
    assert np.array_equal(merged.replicates.totals()[:, [0, 1, 4]], whole.replicates.totals()[:, [0, 1, 4]])
    np.testing.assert_allclose(merged.replicates.totals(), whole.replicates.totals(), rtol=1e-13)


def test_sequential_updates_continue_positions():
    p, y = _rows(n=200, seed=5)
    whole = BootstrapState(n_bootstrap=16)
    whole.update(p, y)
    batched = BootstrapState(n_bootstrap=16)
    batched.update(p[:50], y[:50])
    batched.update(p[50:], y[50:])
    assert np.array_equal(batched.replicates.totals()[:, 0], whole.replicates.totals()[:, 0])


def test_row_ids_merge_in_any_order():
    p, y = _rows(n=120, seed=6)
    ids = np.array([f"row-{i}" for i in range(120)])
    whole = BootstrapState(n_bootstrap=16, seed=1)
    whole.update(p, y, row_ids=ids)
    order = np.random.default_rng(0).permutation(120)
    left, right = BootstrapState(n_bootstrap=16, seed=1), BootstrapState(n_bootstrap=16, seed=1)
    left.update(p[order[:70]], y[order[:70]], row_ids=ids[order[:70]])
    right.update(p[order[70:]], y[order[70:]], row_ids=ids[order[70:]])
    merged = right.merge(left)
    assert np.array_equal(merged.replicates.totals()[:, 0], whole.replicates.totals()[:, 0])


def test_pickle_round_trip():
    p, y = _rows(n=100, seed=7)
    state = BootstrapState(n_bootstrap=16, seed=3)
    state.update(p[:60], y[:60])
    restored = pickle.loads(pickle.dumps(state))
    restored.update(p[60:], y[60:])
    whole = BootstrapState(n_bootstrap=16, seed=3)
    whole.update(p, y)
    assert restored.seed == 3
    assert np.array_equal(restored.replicates.totals()[:, 0], whole.replicates.totals()[:, 0])
    assert restored.interval().log_loss.upper == pytest.approx(whole.interval().log_loss.upper, rel=1e-13, abs=0)


def test_interval_records_settings():
    p, y = _rows(n=300, seed=8)
    state = BootstrapState(n_bootstrap=50, seed=12)
    state.update(p, y)
    intervals = state.interval(level=0.8)
    assert (intervals.method, intervals.level, intervals.n_bootstrap, intervals.seed) == ("bootstrap", 0.8, 50, 12)
    assert intervals.log_loss.estimate == pytest.approx(state.result().log_loss, rel=10 * EPS, abs=0)
    assert confidence_interval(state, level=0.8, method="bootstrap") == intervals


def test_interval_is_percentile_of_replicates():
    p, y = _rows(n=300, seed=9)
    state = BootstrapState(n_bootstrap=101, seed=1)
    state.update(p, y)
    replicates = state.replicate_figures()["log_loss"]
    interval = state.interval(level=0.9).log_loss
    ordered = np.sort(replicates)
    # With B = 101 the (B + 1) q plotting position is 5.1 and 96.9 (1-based).
    assert interval.lower == pytest.approx(ordered[4] + 0.1 * (ordered[5] - ordered[4]), rel=10 * EPS, abs=0)
    assert interval.upper == pytest.approx(ordered[95] + 0.9 * (ordered[96] - ordered[95]), rel=10 * EPS, abs=0)
    assert interval.lower == pytest.approx(np.quantile(replicates, 0.05, method="weibull"), rel=10 * EPS, abs=0)
    assert interval.standard_error == pytest.approx(np.std(replicates, ddof=1), rel=10 * EPS, abs=0)


def test_delta_from_bootstrap_state():
    p, y = _rows(n=300, seed=10)
    state = BootstrapState(n_bootstrap=8)
    state.update(p, y)
    plain = LogLossState()
    plain.update(p, y)
    assert confidence_interval(state) == confidence_interval(plain)


def test_logits_match_probabilities():
    z = np.linspace(-4, 4, 200)
    y = (np.arange(200) % 3 == 0).astype(int)
    from_logits, from_probabilities = BootstrapState(n_bootstrap=16), BootstrapState(n_bootstrap=16)
    from_logits.update_logits(z, y)
    from_probabilities.update(1 / (1 + np.exp(-z)), y)
    np.testing.assert_allclose(from_logits.replicates.totals(), from_probabilities.replicates.totals(), rtol=1e-12)


def test_infinite_loss_replicates():
    p, y = _rows(n=60, seed=11)
    p[5], y[5] = 0.0, 1
    state = BootstrapState(n_bootstrap=200, seed=2)
    state.update(p, y)
    drew_row = bootstrap_weights(np.array([5]), n_bootstrap=200, seed=2)[:, 0] > 0
    replicates = state.replicate_figures()["log_loss"]
    assert np.all(np.isinf(replicates[drew_row]))
    assert np.all(np.isfinite(replicates[~drew_row]))
    interval = state.interval().log_loss
    assert interval.estimate == math.inf
    assert interval.upper == math.inf
    assert math.isfinite(interval.lower)


def test_empty_replicates_warn():
    state = BootstrapState(n_bootstrap=50)
    state.update(np.array([0.3, 0.6]), np.array([1, 0]))
    with pytest.warns(UndefinedMetricWarning, match="replicates drew no row of positive weight") as record:
        intervals = state.interval()
    assert record[0].filename == __file__
    assert math.isnan(intervals.log_loss.lower)


def test_empty_state_warns():
    with pytest.warns(UndefinedMetricWarning, match="there are no rows"):
        intervals = BootstrapState(n_bootstrap=4).interval()
    assert math.isnan(intervals.calibration_ratio.upper)


def test_ids_and_offset_together_raise():
    with pytest.raises(ValueError, match="either `row_ids` or `offset`"):
        BootstrapState(n_bootstrap=4).update([0.5], [1], row_ids=[3], offset=0)


def test_ids_after_positions_raise():
    state = BootstrapState(n_bootstrap=4)
    state.update([0.5], [1])
    with pytest.raises(ValueError, match="got row ids after positions"):
        state.update([0.5], [1], row_ids=[7])
    assert state.count == 1


def test_overlapping_offsets_raise():
    state = BootstrapState(n_bootstrap=4)
    state.update(np.full(10, 0.5), np.ones(10), offset=5)
    with pytest.raises(ValueError, match="rows at positions 5 to 7 were already added"):
        state.update(np.full(5, 0.5), np.ones(5), offset=3)
    assert state.count == 10


def test_merge_overlapping_positions_raise():
    left, right = BootstrapState(n_bootstrap=4), BootstrapState(n_bootstrap=4)
    left.update(np.full(10, 0.5), np.ones(10))
    right.update(np.full(10, 0.5), np.ones(10))
    with pytest.raises(ValueError, match="rows at positions 0 to 9 were already added"):
        left.merge(right)


def test_merge_different_seed_raises():
    with pytest.raises(ValueError, match="same n_bootstrap and seed"):
        BootstrapState(seed=1).merge(BootstrapState(seed=2))


def test_merge_wrong_type_raises():
    with pytest.raises(TypeError, match="`other` must be a BootstrapState, got LogLossState"):
        BootstrapState().merge(LogLossState())


@pytest.mark.parametrize("offset, error", [(-1, ValueError), (1.0, TypeError)])
def test_bad_offset_raises(offset, error):
    with pytest.raises(error, match="`offset` must be"):
        BootstrapState(n_bootstrap=4).update([0.5], [1], offset=offset)


def test_row_ids_shape_mismatch_raises():
    with pytest.raises(ValueError, match="`row_ids` must have the same shape as `y_pred`"):
        BootstrapState(n_bootstrap=4).update([0.5, 0.4], [1, 0], row_ids=[1])


def test_weights_out_of_range_raise():
    with pytest.raises(ValueError, match="`weights` must be 0 or between"):
        BootstrapState(n_bootstrap=4).update([0.5, 0.4], [1, 0], weights=[1.0, 1e200])


def test_merge_different_clip_raises():
    with pytest.raises(ValueError, match="must use the same clip"):
        BootstrapState(clip=1e-6).merge(BootstrapState())


def test_n_bootstrap_below_two_raises():
    with pytest.raises(ValueError, match="`n_bootstrap` must be at least 2, got 1"):
        BootstrapState(n_bootstrap=1)


def test_probability_outside_unit_interval_raises():
    state = BootstrapState(n_bootstrap=4)
    with pytest.raises(ValueError, match=r"`y_pred` must be in \[0, 1\], got 1.5 at index 1"):
        state.update([0.5, 1.5], [1, 0])
    assert state.count == 0
    assert state.replicates.ranges == []
