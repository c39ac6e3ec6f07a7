"""The numba fast path against mpmath and against the reference NumPy path.

The first run compiles each kernel specialization used here (several seconds each) and
stores it in numba's cache; later runs load them.
"""

import os
import warnings
from functools import partial

import numpy as np
import pytest

pytest.importorskip("numba")
mpmath = pytest.importorskip("mpmath")

from numba import njit  # noqa: E402

import logloss  # noqa: E402
from logloss import LogLossState, _fast, _fast_math, _state  # noqa: E402
from logloss._fast_kernels import BLOCK  # noqa: E402
from logloss._warnings import InfiniteLossWarning  # noqa: E402

N = 50_003  # above _fast.MIN_SIZE, and not a multiple of the kernels' block length
EPS = np.finfo(np.float64).eps


@njit(error_model="numpy", fastmath=_fast_math.FASTMATH)
def _map_log(x, out):
    for i in range(x.size):
        out[i] = _fast_math.log(x[i])


@njit(error_model="numpy", fastmath=_fast_math.FASTMATH)
def _map_log1p(x, out):
    for i in range(x.size):
        out[i] = _fast_math.log1p(x[i])


@njit(error_model="numpy", fastmath=_fast_math.FASTMATH)
def _map_log1p_unit(x, out):
    for i in range(x.size):
        out[i] = _fast_math.log1p_unit(x[i])


@njit(error_model="numpy", fastmath=_fast_math.FASTMATH)
def _map_exp(x, out):
    for i in range(x.size):
        out[i] = _fast_math.exp(x[i])


@njit(error_model="numpy", fastmath=_fast_math.FASTMATH)
def _map_exp_nonpositive(x, out):
    for i in range(x.size):
        out[i] = _fast_math.exp_nonpositive(x[i])


def _apply(kernel, x):
    out = np.empty_like(x)
    kernel(x, out)
    return out


def _ulp_distance(a, b):
    """Return the distance in units in the last place, exact for subnormals and zero."""
    ia = a.view(np.int64)
    ib = b.view(np.int64)
    # Map the sign-magnitude bit patterns to a monotonic integer line.
    ia = np.where(ia < 0, np.int64(-(2**63)) - ia, ia)
    ib = np.where(ib < 0, np.int64(-(2**63)) - ib, ib)
    return np.abs(ia - ib)


@pytest.fixture(autouse=True)
def _kernels_loaded():
    """Load the kernels first, so that loss calls run them rather than the NumPy engine."""
    _fast._load_kernels()


@pytest.fixture(params=["kernels", "numpy"])
def engine(request, monkeypatch):
    """Run a loss test on the kernels, then on the blocked NumPy engine used before them."""
    if request.param == "numpy":
        monkeypatch.setattr(_fast, "_kernels", None)
        monkeypatch.setattr(_fast, "_numpy_elements", 0)
    return request.param


def _mpmath_map(function, x):
    mpmath.mp.prec = 120
    return np.array([float(function(mpmath.mpf(float(v)))) for v in x])


def _reference(monkeypatch, function, *args, **kwargs):
    with monkeypatch.context() as patch:
        patch.setenv("LOGLOSS_DISABLE_FAST", "1")
        return function(*args, **kwargs)


def _positive_grid(low, high, count, seed):
    rng = np.random.default_rng(seed)
    return np.exp(rng.uniform(np.log(low), np.log(high), count))


def test_log_matches_mpmath_whole_range():
    x = np.concatenate(
        [
            _positive_grid(5e-324, 1.7e308, 3000, 1),
            np.random.default_rng(2).uniform(0.5, 2.0, 1000),
            1.0 + np.random.default_rng(3).uniform(-1e-9, 1e-9, 300),
            [5e-324, 2.2250738585072014e-308, 2.225073858507201e-308, 1.0, 2.0, 1.7976931348623157e308],
        ]
    )
    assert _ulp_distance(_apply(_map_log, x), _mpmath_map(mpmath.log, x)).max() <= 1


def test_log_special_values():
    x = np.array([0.0, -0.0, np.inf, -1.0, np.nan, -np.inf])
    result = _apply(_map_log, x)
    assert result[0] == -np.inf
    assert result[1] == -np.inf
    assert result[2] == np.inf
    assert np.isnan(result[3:]).all()


def test_log1p_matches_mpmath():
    a = np.concatenate(
        [
            -_positive_grid(5e-324, 1.0, 2000, 4),
            _positive_grid(5e-324, 1.0, 2000, 5),
            np.random.default_rng(6).uniform(-1.0, 1.0, 1000),
        ]
    )
    a = a[a > -1.0]
    assert _ulp_distance(_apply(_map_log1p, a), _mpmath_map(mpmath.log1p, a)).max() <= 1


def test_log1p_unit_equals_log1p_on_the_unit_interval():
    a = np.concatenate(
        [
            _positive_grid(5e-324, 1.0, 2000, 8),
            np.random.default_rng(9).uniform(0.0, 1.0, 2000),
            np.array([0.0, 1.0, np.sqrt(2.0) - 1.0]),
        ]
    )
    unit = _apply(_map_log1p_unit, a)
    np.testing.assert_array_equal(unit, _apply(_map_log1p, a))
    assert _ulp_distance(unit, _mpmath_map(mpmath.log1p, a)).max() <= 1
    assert np.isnan(_apply(_map_log1p_unit, np.array([np.nan])))[0]


def test_log1p_ends():
    result = _apply(_map_log1p, np.array([-1.0, 0.0, -0.0, 1.0, 5e-324]))
    assert result[0] == -np.inf
    assert result[1] == 0.0
    assert result[2] == 0.0
    assert result[3] == np.log(2.0)
    assert result[4] == 5e-324


def test_exp_matches_mpmath_with_underflow():
    rng = np.random.default_rng(7)
    x = np.concatenate(
        [
            rng.uniform(-745.2, 709.7, 3000),
            -np.exp(rng.uniform(-40.0, np.log(745.0), 1500)),
            rng.uniform(-745.2, -708.0, 1000),  # subnormal results
        ]
    )
    assert _ulp_distance(_apply(_map_exp, x), _mpmath_map(mpmath.exp, x)).max() <= 1


def test_exp_special_values():
    result = _apply(_map_exp, np.array([-np.inf, np.inf, -746.0, 710.0, 0.0, np.nan]))
    np.testing.assert_array_equal(result[:5], [0.0, np.inf, 0.0, np.inf, 1.0])
    assert np.isnan(result[5])


def test_exp_nonpositive_equals_exp():
    rng = np.random.default_rng(8)
    x = np.concatenate(
        [
            -rng.uniform(0.0, 800.0, 20000),
            -np.exp(rng.uniform(-60.0, np.log(745.0), 20000)),
            -rng.uniform(708.0, 745.2, 5000),
            [-0.0, 0.0, -np.inf, np.nan, -5e-324, -760.0, -1e300],
        ]
    )
    expected = _apply(_map_exp, x)
    np.testing.assert_array_equal(_apply(_map_exp_nonpositive, x), expected)
    assert _ulp_distance(expected[:-7], _mpmath_map(mpmath.exp, x[:-7])).max() <= 1


def _probability_case(seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    p = rng.random(N)
    info = np.finfo(dtype)
    p[:6] = [0.0, 1.0, info.smallest_subnormal, info.smallest_normal, 1e-17, 1.0 - info.epsneg]
    y = (rng.random(N) < 0.4).astype(np.float64)
    y[:6] = [0.0, 1.0, 1.0, 0.0, 0.0, 1.0]
    y[10:1000] = rng.random(990)  # soft labels
    return p.astype(dtype), y.astype(dtype)


def _weights(seed, dtype=np.float64):
    weights = np.random.default_rng(seed).exponential(1.0, N).astype(dtype)
    weights[::97] = 0.0
    return weights


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("options", [{}, {"pos_weight": 2.5}, {"clip": 1e-7}, {"weights": True}])
def test_probability_matches_reference(engine, monkeypatch, reduction, options):
    p, y = _probability_case(11)
    kwargs = dict(options, reduction=reduction)
    if kwargs.pop("weights", False):
        kwargs["weights"] = _weights(12)
    fast = logloss.binary_cross_entropy(p, y, **kwargs)
    reference = _reference(monkeypatch, logloss.binary_cross_entropy, p, y, **kwargs)
    if reduction == "none":
        np.testing.assert_array_max_ulp(fast, reference, maxulp=4)
    else:
        assert type(fast) is np.float64
        np.testing.assert_allclose(fast, reference, rtol=20 * EPS)


def test_probability_float32(engine, monkeypatch):
    p, y = _probability_case(13, np.float32)
    fast = logloss.binary_cross_entropy(p, y, reduction="none")
    reference = _reference(monkeypatch, logloss.binary_cross_entropy, p, y, reduction="none")
    assert fast.dtype == np.float32
    np.testing.assert_array_max_ulp(fast, reference, maxulp=1)
    mean = logloss.binary_cross_entropy(p, y)
    np.testing.assert_allclose(mean, _reference(monkeypatch, logloss.binary_cross_entropy, p, y), rtol=20 * EPS)


def test_probability_keeps_shape(engine):
    p, y = _probability_case(14)
    loss = logloss.binary_cross_entropy(p[:50_000].reshape(500, 100), y[:50_000].reshape(500, 100), reduction="none")
    assert loss.shape == (500, 100)


def test_probability_nan_raises_reference_message(engine):
    p, y = _probability_case(15)
    p[40_000] = np.nan
    with pytest.raises(ValueError, match="`y_pred` must not contain NaN, got NaN at index 40000"):
        logloss.binary_cross_entropy(p, y)


def test_label_out_of_range_raises(engine):
    p, y = _probability_case(16)
    y[123] = 1.5
    with pytest.raises(ValueError, match="`y_true` must be in \\[0, 1\\], got 1.5 at index 123"):
        logloss.binary_cross_entropy(p, y)


def test_negative_weight_raises(engine):
    p, y = _probability_case(17)
    weights = _weights(18)
    weights[7] = -1.0
    with pytest.raises(ValueError, match="`weights` must be non-negative, got -1.0 at index 7"):
        logloss.binary_cross_entropy(p, y, weights=weights)


def test_infinite_loss_warns(engine):
    p, y = _probability_case(19)
    p[5], y[5] = 0.0, 1.0
    with pytest.warns(InfiniteLossWarning, match="1 element has an infinite loss"):
        assert logloss.binary_cross_entropy(p, y) == np.inf


@pytest.mark.parametrize("weight", [5e-324, 1e-320, 1e-200, 1e200, 1e304])
@pytest.mark.parametrize("logits", [False, True])
def test_extreme_weights_match_reference(engine, weight, logits):
    # The reference path divides the weights by their largest before the weighted mean.
    x = np.full(N, 0.0 if logits else 0.5)
    y = np.ones(N)
    function = logloss.binary_cross_entropy_with_logits if logits else logloss.binary_cross_entropy
    result = function(x, y, weights=np.full(N, weight))
    assert result == pytest.approx(np.log(2.0), rel=4 * np.finfo(np.float64).eps, abs=0)


def _logit_case(seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 8.0, N)
    z[:8] = [np.inf, -np.inf, 40.0, -40.0, 745.5, -745.5, 0.0, 1e-300]
    y = (rng.random(N) < 0.5).astype(np.float64)
    y[:8] = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    y[10:1000] = rng.random(990)
    return z.astype(dtype), y.astype(dtype)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("options", [{}, {"pos_weight": 0.5}, {"weights": True}])
def test_logits_match_reference(engine, monkeypatch, reduction, options):
    z, y = _logit_case(21)
    kwargs = dict(options, reduction=reduction)
    if kwargs.pop("weights", False):
        kwargs["weights"] = _weights(22)
    fast = logloss.binary_cross_entropy_with_logits(z, y, **kwargs)
    reference = _reference(monkeypatch, logloss.binary_cross_entropy_with_logits, z, y, **kwargs)
    if reduction == "none":
        np.testing.assert_array_max_ulp(fast, reference, maxulp=4)
    else:
        np.testing.assert_allclose(fast, reference, rtol=20 * EPS)


def test_logits_float32(engine, monkeypatch):
    z, y = _logit_case(23, np.float32)
    fast = logloss.binary_cross_entropy_with_logits(z, y, reduction="none")
    reference = _reference(monkeypatch, logloss.binary_cross_entropy_with_logits, z, y, reduction="none")
    np.testing.assert_array_max_ulp(fast, reference, maxulp=1)


def test_logits_tiny_loss_exact(engine):
    z, y = _logit_case(24)
    loss = logloss.binary_cross_entropy_with_logits(z, y, reduction="none")
    assert loss[2] == 4.248354255291589e-18
    assert loss[0] == 0.0
    assert loss[4] == _mpmath_map(lambda v: mpmath.log1p(mpmath.exp(-v)), np.array([745.5]))[0]


def _expit(z):
    return np.where(z >= 0, 1.0 / (1.0 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z))))


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_gradient_with_logits(monkeypatch, reduction):
    z, y = _logit_case(31)
    weights = _weights(32)
    loss, gradient = _fast.loss_and_gradient_with_logits(z, y, weights=weights, pos_weight=1.5, reduction=reduction)
    reference = _reference(
        monkeypatch, logloss.binary_cross_entropy_with_logits, z, y, weights=weights, pos_weight=1.5, reduction=reduction
    )
    np.testing.assert_allclose(loss, reference, rtol=20 * EPS)
    negative, positive = weights * (1.0 - y) * _expit(z), weights * 1.5 * y * _expit(-z)
    scale = 1.0 / weights.sum() if reduction == "mean" else 1.0
    # Soft labels make the two terms cancel, so the error bound is relative to their size.
    error = np.abs(gradient - (negative - positive) * scale)
    assert (error <= 8 * EPS * (negative + positive) * scale).all()


def test_gradient_of_probabilities():
    p, y = _probability_case(33)
    p, y = p[6:], y[6:]
    loss, gradient = _fast.loss_and_gradient(p, y, reduction="sum")
    np.testing.assert_allclose(loss, logloss.binary_cross_entropy(p, y, reduction="sum"), rtol=20 * EPS)
    slope = np.where(y == 1.0, 0.0, (1.0 - y) / (1.0 - p)) - np.where(y == 0.0, 0.0, y / p)
    np.testing.assert_allclose(gradient, slope, rtol=4 * EPS)


def test_gradient_small_input_returns_none():
    assert _fast.loss_and_gradient_with_logits(np.zeros(3), np.zeros(3)) is None


def _state_sums(state):
    return np.array([state.sum(name) for name in _state.SUM_FIELDS])


@pytest.mark.parametrize("logits", [False, True])
def test_state_update_matches_reference(engine, monkeypatch, logits):
    x, y = _logit_case(41) if logits else _probability_case(41)
    if logits:
        x[:2] = 0.0  # the reference path's expit is NaN at infinite logits
    weights = _weights(42)
    fast, reference = LogLossState(), LogLossState()
    method = "update_logits" if logits else "update"
    getattr(fast, method)(x, y, weights=weights)
    with monkeypatch.context() as patch:
        patch.setenv("LOGLOSS_DISABLE_FAST", "1")
        getattr(reference, method)(x, y, weights=weights)
    np.testing.assert_allclose(_state_sums(fast), _state_sums(reference), rtol=50 * EPS)
    assert fast.count == reference.count


def test_state_counts_clipped_and_infinite(monkeypatch):
    p, y = _probability_case(43)
    fast, reference = LogLossState(clip=1e-9), LogLossState(clip=1e-9)
    fast.update(p, y)
    with monkeypatch.context() as patch:
        patch.setenv("LOGLOSS_DISABLE_FAST", "1")
        reference.update(p, y)
    assert fast.n_clipped == reference.n_clipped
    np.testing.assert_allclose(_state_sums(fast), _state_sums(reference), rtol=50 * EPS)
    unclipped = LogLossState()
    p[7], y[7] = 1.0, 0.0
    unclipped.update(p, y)
    assert unclipped.n_infinite == 1


@pytest.mark.parametrize("logits", [False, True])
@pytest.mark.parametrize("dtypes", [(np.float64, np.float64), (np.float32, np.float32), (np.float64, np.int8)])
def test_state_sums_unweighted_equal_unit_weights(engine, logits, dtypes):
    prediction_dtype, label_dtype = dtypes
    x, y = _logit_case(46, prediction_dtype) if logits else _probability_case(46, prediction_dtype)
    y = np.round(y).astype(label_dtype) if label_dtype == np.int8 else y
    ones = np.ones(N, dtype=prediction_dtype)
    unweighted = _fast.state_sums(x, y, None, logits=logits)
    weighted = _fast.state_sums(x, y, ones, logits=logits)
    assert unweighted is not None
    np.testing.assert_array_equal(unweighted.view(np.int64), weighted.view(np.int64))


@pytest.mark.parametrize("logits", [False, True])
def test_grouped_sums_unweighted_equal_unit_weights(engine, logits):
    x, y = _logit_case(47) if logits else _probability_case(47)
    x[:2] = 0.0 if logits else 0.5
    codes = np.random.default_rng(48).integers(0, 5, N)
    unweighted = _fast.grouped_state_sums(x, y, None, codes, 5, logits=logits)
    weighted = _fast.grouped_state_sums(x, y, np.ones(N), codes, 5, logits=logits)
    assert unweighted is not None
    np.testing.assert_array_equal(unweighted.view(np.int64), weighted.view(np.int64))



@pytest.mark.parametrize("offset", [1 - BLOCK, 127 - BLOCK, 129 - BLOCK, -1, 3 * 128 + 5])
def test_state_kernel_unweighted_odd_lengths(offset):
    n = BLOCK + offset
    # The unweighted kernel sums chunks without buffers; unit weights take the buffer path.
    p, y = _probability_case(50)
    p, y = p[:n].copy(), y[:n].copy()
    kernels = _fast._load_kernels()
    unweighted = kernels.probability_state_sums(p, y, np.empty(0), 0.0)[0]
    weighted = kernels.probability_state_sums(p, y, np.ones(n), 0.0)[0]
    np.testing.assert_array_equal(unweighted.view(np.int64), weighted.view(np.int64))

def test_sums_from_arrays_unweighted_equal_unit_weights():
    p, y = _probability_case(49)
    loss = logloss.binary_cross_entropy(p, y, reduction="none")
    unweighted = _fast.state_sums_from_arrays(p, y, loss, None)
    weighted = _fast.state_sums_from_arrays(p, y, loss, np.ones(N))
    assert unweighted is not None
    np.testing.assert_array_equal(unweighted[0].view(np.int64), weighted[0].view(np.int64))


def test_compute_sums_matches_numpy(monkeypatch):
    p, y = _probability_case(44)
    loss = logloss.binary_cross_entropy(p, y, reduction="none")
    weights = _weights(45)
    fast = _state.compute_sums(p, y, loss, weights)
    reference = _reference(monkeypatch, _state.compute_sums, p, y, loss, weights)
    np.testing.assert_allclose(fast[0], reference[0], rtol=50 * EPS)
    assert fast[1] == reference[1] == 0


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setenv("LOGLOSS_DISABLE_FAST", "1")
    assert not _fast.available()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _fast.binary_cross_entropy_with_logits(
            np.zeros(N), np.zeros(N), weights=None, weights_axis=None, pos_weight=None, label_smoothing=0.0,
            subtract_entropy=False, reduction="mean", axis=None, nan_policy="raise",
        ) is None


@pytest.mark.parametrize("logits", [False, True])
def test_grouped_state_matches_reference(engine, monkeypatch, logits):
    from logloss._grouped import GroupedLogLossState

    x, y = _logit_case(51) if logits else _probability_case(51)
    if logits:
        x[:2] = 0.0
    else:
        x[:2] = 0.5  # keep every loss finite, which the kernel requires
    keys = np.random.default_rng(52).integers(0, 7, N)
    weights = _weights(53)
    fast, reference = GroupedLogLossState(), GroupedLogLossState()
    method = "update_logits" if logits else "update"
    getattr(fast, method)(x, y, keys, weights=weights)
    with monkeypatch.context() as patch:
        patch.setenv("LOGLOSS_DISABLE_FAST", "1")
        getattr(reference, method)(x, y, keys, weights=weights)
    assert sorted(fast.keys()) == sorted(reference.keys())
    for key in reference.keys():
        np.testing.assert_allclose(_state_sums(fast.state(key)), _state_sums(reference.state(key)), rtol=1e-13)
        assert fast.state(key).count == reference.state(key).count


def test_score_file_matches_reference(engine, monkeypatch, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    p, y = _probability_case(61)
    p[:2] = 0.5
    path = tmp_path / "scores.parquet"
    pq.write_table(pa.table({"label": y, "prob": p}), path)
    fast = logloss.score_file(path, label="label", prob="prob", batch_size=40_000)
    reference = _reference(monkeypatch, logloss.score_file, path, label="label", prob="prob", batch_size=40_000)
    np.testing.assert_allclose(fast.log_loss, reference.log_loss, rtol=20 * EPS)
    assert fast.count == reference.count == N


def test_score_file_bad_value_names_row(engine, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    p, y = _probability_case(62)
    p[45_000] = 1.5
    path = tmp_path / "scores.parquet"
    pq.write_table(pa.table({"label": y, "prob": p}), path)
    with pytest.raises(ValueError, match="row 45000"):
        logloss.score_file(path, label="label", prob="prob", batch_size=40_000)


def test_loss_runs_numpy_until_budget(monkeypatch):
    monkeypatch.setattr(_fast, "_kernels", None)
    monkeypatch.setattr(_fast, "_numpy_elements", 0)
    monkeypatch.setattr(_fast, "NUMPY_BUDGET", 2 * N)
    p, y = _probability_case(41)
    y = np.round(y)
    first = logloss.binary_cross_entropy(p, y)
    assert _fast._kernels is None
    assert _fast._numpy_elements == N
    logloss.binary_cross_entropy_with_logits(p, y)
    assert _fast._kernels is None
    assert _fast._numpy_elements == 2 * N
    third = logloss.binary_cross_entropy(p, y)
    assert _fast._kernels is not None
    np.testing.assert_allclose(third, first, rtol=4 * EPS)


def test_numpy_engine_matches_mpmath(engine):
    p = np.random.default_rng(42).uniform(0.0, 1.0, N)
    p[:4] = [5e-324, 1e-300, 1.0 - EPS / 2, 0.5]
    y = (np.arange(N) % 2).astype(np.float64)
    loss = logloss.binary_cross_entropy(p, y, reduction="none")
    sample = np.arange(0, N, 25)
    exact = np.empty(sample.size)
    with mpmath.workprec(120):
        for i, index in enumerate(sample):
            value = mpmath.mpf(float(p[index]))
            exact[i] = float(-mpmath.log(value) if y[index] == 1.0 else -mpmath.log1p(-value))
    assert _ulp_distance(loss[sample], exact).max() <= 1


def test_slow_first_call_runs_hook_once(monkeypatch):
    import time
    import types

    calls = []

    def slow_kernel(x):
        time.sleep(0.5)
        return x.size

    kernels = _fast._Kernels(types.SimpleNamespace(slow_kernel=slow_kernel))
    monkeypatch.setattr(_fast, "_called_kernels", set())
    monkeypatch.setattr(_fast, "SLOW_FIRST_CALL_SECONDS", 0.05)
    monkeypatch.setattr(_fast, "on_slow_first_call", lambda: calls.append(1))
    x = np.zeros(3)
    assert kernels.slow_kernel(x) == 3
    assert calls == [1]
    assert kernels.slow_kernel(x) == 3  # a second call sets no timer
    assert calls == [1]


def test_quick_first_call_skips_hook(monkeypatch):
    import types

    calls = []
    kernels = _fast._Kernels(types.SimpleNamespace(quick=lambda x: x.size))
    monkeypatch.setattr(_fast, "_called_kernels", set())
    monkeypatch.setattr(_fast, "SLOW_FIRST_CALL_SECONDS", 5.0)
    monkeypatch.setattr(_fast, "on_slow_first_call", lambda: calls.append(1))
    assert kernels.quick(np.zeros(3)) == 3
    assert calls == []


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_certain_correct_predictions_cost_positive_zero(engine, monkeypatch):
    if engine == "numba":
        _fast._load_kernels()
    else:
        monkeypatch.setattr(_fast, "_kernels", None)
        monkeypatch.setattr(_fast, "_numpy_elements", 0)
    p = np.concatenate([np.ones(N // 2), np.zeros(N - N // 2)])
    y = p.copy()
    loss = logloss.binary_cross_entropy(p, y, reduction="none")
    assert not np.signbit(loss).any()


def _overflow_case(size):
    """Return logits whose losses are finite but sum beyond float64, and the exact mean.

    Half the rows are negatives at logit 1e308 (loss 1e308 exactly), the others negatives
    at logit 0 (loss log 2).
    """
    z = np.zeros(size)
    z[::2] = 1e308
    big = (size + 1) // 2
    mpmath.mp.prec = 120
    mean = (big * mpmath.mpf(1e308) + (size - big) * mpmath.log(2)) / size
    return z, np.zeros(size), float(mean)


@pytest.mark.parametrize("size", [_fast.MIN_SIZE, N])
@pytest.mark.parametrize("weighted", [False, True])
def test_mean_beyond_range_exact(engine, size, weighted):
    z, y, expected = _overflow_case(size)
    weights = np.ones(size) if weighted else None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = logloss.binary_cross_entropy_with_logits(z, y, weights=weights)
    # The pairwise sums of the scaled losses round about log2(size) times.
    assert result == pytest.approx(expected, rel=20 * EPS, abs=0)


def test_sum_beyond_range_warns(engine):
    z, y, _ = _overflow_case(N)
    with pytest.warns(logloss.LossOverflowWarning, match="exceeds the float64 range"):
        assert logloss.binary_cross_entropy_with_logits(z, y, reduction="sum") == np.inf


def test_state_sums_beyond_range_use_reference(engine):
    z, y, expected = _overflow_case(N)
    assert _fast.state_sums(z, y, None, logits=True) is None
    state = LogLossState()
    state.update_logits(z, y)
    with pytest.warns(logloss.UndefinedMetricWarning, match="every label is 0"):
        result = state.result()
    assert result.log_loss == pytest.approx(expected, rel=20 * EPS, abs=0)
    assert result.n_infinite == 0


def test_grouped_sums_beyond_range_use_reference(engine):
    from logloss._grouped import GroupedLogLossState

    z, y, expected = _overflow_case(N)
    keys = np.zeros(N, dtype=np.int64)
    assert _fast.grouped_state_sums(z, y, None, keys, 1, logits=True) is None
    state = GroupedLogLossState()
    state.update_logits(z, y, keys)
    with pytest.warns(logloss.UndefinedMetricWarning, match="every label is 0"):
        result = state.state(0).result()
    assert result.log_loss == pytest.approx(expected, rel=20 * EPS, abs=0)


def _numpy_state_sums(x, y, weights=None, *, logits=False):
    from logloss import _fast_numpy

    empty = np.empty(0, dtype=np.asarray(x).dtype)
    return _fast_numpy.state_sums(x, y, empty if weights is None else weights, logits=logits)


def _reference_state_sums(monkeypatch, x, y, weights=None, *, logits=False):
    state = LogLossState()
    with monkeypatch.context() as patch:
        patch.setenv("LOGLOSS_DISABLE_FAST", "1")
        (state.update_logits if logits else state.update)(x, y, weights=weights)
    return _state_sums(state)


@pytest.mark.parametrize("logits", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("size", [1024, 1535, 65536 + 7, 3 * 65536])
def test_numpy_state_sums_match_reference(monkeypatch, logits, weighted, size):
    rng = np.random.default_rng(size)
    x = rng.normal(0.0, 6.0, size) if logits else rng.random(size)
    y = (rng.random(size) < 0.3).astype(np.float64)
    y[::5] = rng.random(y[::5].size)  # soft labels
    weights = rng.exponential(1.0, size) if weighted else None
    if weighted:
        weights[::11] = 0.0
    got = _numpy_state_sums(x, y, weights, logits=logits)
    np.testing.assert_allclose(got, _reference_state_sums(monkeypatch, x, y, weights, logits=logits), rtol=8 * EPS)


@pytest.mark.parametrize(
    "dtypes",
    [(np.float32, np.bool_), (np.float32, np.float32), (np.float64, np.int8), (np.float64, np.uint8), (np.float64, np.int64)],
)
def test_numpy_state_sums_convert_dtypes(monkeypatch, dtypes):
    prediction_dtype, label_dtype = dtypes
    rng = np.random.default_rng(7)
    p = rng.random(70_001).astype(prediction_dtype)
    y = (rng.random(70_001) < p).astype(label_dtype)
    weights = rng.exponential(1.0, 70_001).astype(prediction_dtype)
    for w in (None, weights):
        got = _numpy_state_sums(p, y, w)
        np.testing.assert_allclose(got, _reference_state_sums(monkeypatch, p, y, w), rtol=8 * EPS)


def test_numpy_state_sums_certain_predictions(monkeypatch):
    # p of exactly 0 or 1 with the label that makes the loss 0 takes the xlogy formula.
    p = np.random.default_rng(8).random(5000)
    y = (p > 0.5).astype(np.float64)
    p[:4] = [0.0, 1.0, 0.0, 1.0]
    y[:4] = [0.0, 1.0, 0.0, 1.0]
    got = _numpy_state_sums(p, y)
    np.testing.assert_allclose(got, _reference_state_sums(monkeypatch, p, y), rtol=8 * EPS)


def _with(values, index, value):
    values = values.copy()
    values[index] = value
    return values


@pytest.mark.parametrize(
    "case",
    [
        "nan prediction",
        "probability above 1",
        "negative probability",
        "label above 1",
        "nan label",
        "infinite loss",
        "nan logit",
        "infinite logit loss",
        "negative weight",
        "nan weight",
        "weight below range",
        "weight above range",
        "loss sum overflows",
    ],
)
def test_numpy_state_sums_return_none(case):
    p = np.random.default_rng(9).uniform(0.1, 0.9, 5000)
    y = (p > 0.5).astype(np.float64)
    w = np.ones(5000)
    logits = "logit" in case or "overflows" in case
    x = np.log(p) - np.log1p(-p) if logits else p
    changed = {
        "nan prediction": (_with(x, 4321, np.nan), y, None),
        "probability above 1": (_with(x, 4321, 1.5), y, None),
        "negative probability": (_with(x, 4321, -0.1), y, None),
        "label above 1": (x, _with(y, 4321, 2.0), None),
        "nan label": (x, _with(y, 4321, np.nan), None),
        "infinite loss": (_with(x, 4321, 0.0), _with(y, 4321, 1.0), None),
        "nan logit": (_with(x, 4321, np.nan), y, None),
        "infinite logit loss": (_with(x, 4321, np.inf), _with(y, 4321, 0.0), None),
        "negative weight": (x, y, _with(w, 4321, -1.0)),
        "nan weight": (x, y, _with(w, 4321, np.nan)),
        "weight below range": (x, y, _with(w, 4321, 1e-130)),
        "weight above range": (x, y, _with(w, 4321, 1e130)),
        "loss sum overflows": (np.full(5000, -1e306), np.ones(5000), None),
    }[case]
    assert _numpy_state_sums(*changed, logits=logits) is None


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.int64, np.uint64])
@pytest.mark.parametrize("value", [-1, 2, 127])
def test_integer_labels_outside_range_decline(dtype, value):
    # Integer labels are checked once per call, through their unsigned view.
    if value < 0 and np.dtype(dtype).kind == "u":
        pytest.skip("unsigned labels cannot be negative")
    p = np.random.default_rng(11).random(3 * 16384 + 5)
    y = (p > 0.5).astype(dtype)
    y[-2] = value
    assert _numpy_state_sums(p, y) is None


def test_numpy_state_sums_zero_weights_pass():
    p = np.random.default_rng(10).random(5000)
    y = (p > 0.5).astype(np.float64)
    w = np.zeros(5000)
    sums = _numpy_state_sums(p, y, w)
    assert sums is not None
    assert not sums.any()


def test_state_sums_prefer_numpy_skip_numba(monkeypatch):
    monkeypatch.setattr(_fast, "_kernels", None)
    monkeypatch.setattr(_fast, "_numpy_elements", _fast.NUMPY_BUDGET)
    p, y = _probability_case(11)
    assert _fast.state_sums(p, y, None, logits=False, prefer_numpy=True) is not None
    assert _fast._kernels is None
    assert _fast._numpy_elements == _fast.NUMPY_BUDGET
    small = _fast.state_sums(p[:1000], y[:1000], None, logits=False, prefer_numpy=True)
    assert small is None  # below STATE_MIN_SIZE the reference path runs


def test_state_sums_unweighted_follow_budget(monkeypatch):
    """Without prefer_numpy, unweighted probabilities count towards the budget and then load the kernels."""
    monkeypatch.setattr(_fast, "_kernels", None)
    monkeypatch.setattr(_fast, "_numpy_elements", 0)
    p, y = _probability_case(11)
    assert _fast.state_sums(p, y, None, logits=False) is not None
    assert _fast._kernels is None
    assert _fast._numpy_elements == p.size
    monkeypatch.setattr(_fast, "_numpy_elements", _fast.NUMPY_BUDGET)
    assert _fast.state_sums(p, y, None, logits=False) is not None
    assert _fast._kernels is not None


def test_numpy_state_sums_infinite_logits(monkeypatch):
    z = np.random.default_rng(13).normal(0.0, 4.0, 5000)
    y = (z > 0).astype(np.float64)
    z[:2], y[:2] = [np.inf, -np.inf], [1.0, 0.0]
    got = _numpy_state_sums(z, y, logits=True)
    np.testing.assert_allclose(got, _reference_state_sums(monkeypatch, z, y, logits=True), rtol=8 * EPS)


@pytest.mark.parametrize("logits", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_numpy_grouped_sums_match_reference(monkeypatch, weighted, logits):
    from logloss import _fast_numpy
    from logloss._grouped import GroupedLogLossState

    rng = np.random.default_rng(14)
    size = 2 * 65536 + 333
    p = rng.random(size)
    y = (rng.random(size) < p).astype(np.int8)
    x = np.log(p) - np.log1p(-p) if logits else p
    codes = rng.integers(0, 9, size)
    codes[:70_000] = 3  # one group spans several blocks
    weights = rng.exponential(1.0, size) if weighted else None
    got = _fast_numpy.grouped_state_sums(x, y, np.empty(0) if weights is None else weights, codes, 9, logits=logits)
    reference = GroupedLogLossState()
    with monkeypatch.context() as patch:
        patch.setenv("LOGLOSS_DISABLE_FAST", "1")
        (reference.update_logits if logits else reference.update)(x, y, codes, weights=weights)
    for code in range(9):
        np.testing.assert_allclose(got[code], _state_sums(reference.state(code)), rtol=8 * EPS)


def _reference_group_sums(monkeypatch, x, y, codes, n_groups, weights=None, *, logits=False):
    from logloss._grouped import GroupedLogLossState

    reference = GroupedLogLossState()
    with monkeypatch.context() as patch:
        patch.setenv("LOGLOSS_DISABLE_FAST", "1")
        (reference.update_logits if logits else reference.update)(x, y, codes, weights=weights)
    return np.array([_state_sums(reference.state(code)) for code in range(n_groups)])


@pytest.mark.parametrize("logits", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("n_groups", "label_dtype", "prediction_dtype"), [
    (7, np.int8, np.float64), (300, np.bool_, np.float64), (128, np.int64, np.float32), (129, np.uint8, np.float64),
    (5, np.float64, np.float64), (6, np.float32, np.float32),
])
def test_integer_label_grouped_sums_match_reference(monkeypatch, logits, weighted, n_groups, label_dtype, prediction_dtype):
    """Integer labels split each block's rows by label (8-bit sort keys up to 128 groups, 16-bit beyond)."""
    from logloss import _fast_numpy

    rng = np.random.default_rng(n_groups)
    size = 2 * _fast_numpy.STATE_BLOCK + 77
    p = rng.random(size)
    y = (rng.random(size) < p).astype(label_dtype)
    # Certain and correct predictions: a loss of 0 on both sides.
    p[:50], y[:50] = 1.0, 1
    p[50:100], y[50:100] = 0.0, 0
    with np.errstate(divide="ignore"):
        x = (np.log(p) - np.log1p(-p) if logits else p).astype(prediction_dtype)
    # A group with no row in the middle block, and one with a single row.
    codes = rng.integers(0, n_groups, size)
    codes[codes == 2] = 3
    codes[size // 2] = 2
    weights = rng.exponential(1.0, size) if weighted else None
    got = _fast_numpy.grouped_state_sums(x, y, np.empty(0) if weights is None else weights, codes, n_groups, logits=logits)
    expected = _reference_group_sums(monkeypatch, x, y, codes, n_groups, weights, logits=logits)
    np.testing.assert_allclose(got, expected, rtol=8 * EPS, atol=0)


@pytest.mark.parametrize("logits", [False, True])
@pytest.mark.parametrize(("n_groups", "weighted"), [(50, False), (300, False), (50, True)])
def test_integer_label_sums_span_chunks(monkeypatch, logits, n_groups, weighted):
    """Sort keys are formed a chunk of ``STATE_CHUNK`` rows at a time. A second chunk adds to the first."""
    from logloss import _fast_numpy

    rng = np.random.default_rng(n_groups + 1)
    size = _fast_numpy.STATE_CHUNK + _fast_numpy.STATE_BLOCK + 77
    p = rng.random(size)
    y = (rng.random(size) < p).astype(np.int8)
    x = np.log(p) - np.log1p(-p) if logits else p
    codes = rng.integers(0, n_groups, size)
    weights = rng.exponential(1.0, size) if weighted else None
    got = _fast_numpy.grouped_state_sums(x, y, np.empty(0) if weights is None else weights, codes, n_groups, logits=logits)
    expected = _reference_group_sums(monkeypatch, x, y, codes, n_groups, weights, logits=logits)
    np.testing.assert_allclose(got, expected, rtol=8 * EPS, atol=0)


def test_infinite_loss_in_second_chunk():
    from logloss import _fast_numpy

    rng = np.random.default_rng(21)
    size = _fast_numpy.STATE_CHUNK + 1000
    p = rng.random(size)
    y = (rng.random(size) < p).astype(np.int8)
    codes = rng.integers(0, 5, size)
    p[-10], y[-10] = 0.0, 1
    assert _fast_numpy.grouped_state_sums(p, y, np.empty(0), codes, 5, logits=False) is None


@pytest.mark.parametrize("logits", [False, True])
def test_soft_label_in_last_block(monkeypatch, logits):
    """One label that is neither 0 nor 1, in the last block, sends every block to the general sums."""
    from logloss import _fast_numpy

    rng = np.random.default_rng(20)
    size = 3 * _fast_numpy.STATE_BLOCK + 11
    p = rng.random(size)
    y = (rng.random(size) < p).astype(np.float64)
    y[-3] = 0.3
    x = np.log(p) - np.log1p(-p) if logits else p
    codes = rng.integers(0, 4, size)
    assert not _fast_numpy._zero_or_one(y)
    got = _fast_numpy.grouped_state_sums(x, y, np.empty(0), codes, 4, logits=logits)
    np.testing.assert_allclose(got, _reference_group_sums(monkeypatch, x, y, codes, 4, logits=logits), rtol=8 * EPS, atol=0)


@pytest.mark.parametrize("logits", [False, True])
def test_integer_label_grouped_sums_unit_weights(logits):
    from logloss import _fast_numpy

    rng = np.random.default_rng(18)
    x = rng.normal(0.0, 3.0, 40_000) if logits else rng.random(40_000)
    y = (rng.random(40_000) < 0.3).astype(np.int8)
    codes = rng.integers(0, 5, 40_000)
    unweighted = _fast_numpy.grouped_state_sums(x, y, np.empty(0), codes, 5, logits=logits)
    weighted = _fast_numpy.grouped_state_sums(x, y, np.ones(40_000), codes, 5, logits=logits)
    np.testing.assert_array_equal(unweighted.view(np.int64), weighted.view(np.int64))


@pytest.mark.parametrize(("index", "prediction", "label"), [(10, 0.0, 1), (20_000, 1.0, 0), (5, np.nan, 1), (7, 0.5, 2), (9, 1.5, 0)])
def test_integer_label_grouped_sums_reject(index, prediction, label):
    """An infinite loss or an invalid value sends the batch to the reference path (None)."""
    from logloss import _fast_numpy

    rng = np.random.default_rng(17)
    p = rng.random(40_000)
    y = (rng.random(40_000) < p).astype(np.int8)
    codes = rng.integers(0, 5, 40_000)
    assert _fast_numpy.grouped_state_sums(p, y, np.empty(0), codes, 5, logits=False) is not None
    p[index], y[index] = prediction, label
    assert _fast_numpy.grouped_state_sums(p, y, np.empty(0), codes, 5, logits=False) is None


@pytest.mark.parametrize(("logit", "label", "accepted"), [
    (np.inf, 1, True), (-np.inf, 0, True), (np.inf, 0, False), (-np.inf, 1, False), (np.nan, 1, False), (0.5, 2, False),
])
def test_integer_label_grouped_logits_infinite(monkeypatch, logit, label, accepted):
    """An infinite logit with its own label has a loss of 0. With the other label the loss is infinite (None)."""
    from logloss import _fast_numpy

    rng = np.random.default_rng(19)
    z = rng.normal(0.0, 3.0, 40_000)
    y = (rng.random(40_000) < 0.5).astype(np.int8)
    codes = rng.integers(0, 5, 40_000)
    z[20_001], y[20_001] = logit, label
    got = _fast_numpy.grouped_state_sums(z, y, np.empty(0), codes, 5, logits=True)
    if not accepted:
        assert got is None
        return
    np.testing.assert_allclose(got, _reference_group_sums(monkeypatch, z, y, codes, 5, logits=True), rtol=8 * EPS, atol=0)


@pytest.mark.parametrize("weighted", [False, True])
def test_integer_labels_match_float_labels(weighted):
    """Integer labels skip the sums of w2 * y * y, which equal those of w2 * y for labels of 0 and 1.

    Without weights the ungrouped sums of those terms are of integers, so they agree bit for
    bit. With weights the two ways of summing may round differently. Grouped sums split the
    rows by label for float labels of 0 and 1 too, so they agree bit for bit.
    """
    from logloss import _fast_numpy

    rng = np.random.default_rng(16)
    size = 3 * _fast_numpy.STATE_BLOCK + 5
    p = rng.random(size)
    labels = (rng.random(size) < p).astype(np.int8)
    codes = rng.integers(0, 5, size)
    weights = rng.exponential(1.0, size) if weighted else np.empty(0)
    check = partial(np.testing.assert_allclose, rtol=4 * EPS) if weighted else np.testing.assert_array_equal
    for y in (labels, labels.astype(bool)):
        check(
            _fast_numpy.state_sums(p, y, weights, logits=False),
            _fast_numpy.state_sums(p, y.astype(np.float64), weights, logits=False),
        )
        np.testing.assert_array_equal(
            _fast_numpy.grouped_state_sums(p, y, weights, codes, 5, logits=False),
            _fast_numpy.grouped_state_sums(p, y.astype(np.float64), weights, codes, 5, logits=False),
        )


def test_numpy_grouped_sums_bad_codes():
    from logloss import _fast_numpy

    p = np.random.default_rng(15).random(5000)
    y = (p > 0.5).astype(np.float64)
    codes = np.zeros(5000, dtype=np.int64)
    assert _fast_numpy.grouped_state_sums(p, y, np.empty(0), codes, 1, logits=False) is not None
    for bad in (-1, 1):
        assert _fast_numpy.grouped_state_sums(p, y, np.empty(0), _with(codes, 4000, bad), 1, logits=False) is None
    assert _fast.grouped_state_sums(p, y, None, codes.astype(np.uint64), 1, logits=False) is not None
    assert _fast.grouped_state_sums(p, y, None, _with(codes.astype(np.uint64), 0, 2**64 - 1), 1, logits=False) is None
    too_many = _fast_numpy.GROUP_MAX + 1
    assert _fast_numpy.grouped_state_sums(p, y, np.empty(0), codes, too_many, logits=False) is None


def test_grouped_sums_run_numpy_until_budget(monkeypatch):
    monkeypatch.setattr(_fast, "_kernels", None)
    monkeypatch.setattr(_fast, "_numpy_elements", 0)
    monkeypatch.setattr(_fast, "NUMPY_BUDGET", 2 * N)
    p, y = _probability_case(16)
    p[:2] = 0.5
    codes = np.random.default_rng(17).integers(0, 5, N)
    first = _fast.grouped_state_sums(p, y, None, codes, 5, logits=False)
    assert _fast._kernels is None
    assert _fast._numpy_elements == N
    _fast.grouped_state_sums(p, y, None, codes, 5, logits=False)
    assert _fast._kernels is None
    third = _fast.grouped_state_sums(p, y, None, codes, 5, logits=False)
    assert _fast._kernels is not None
    np.testing.assert_allclose(third, first, rtol=8 * EPS)
    # Beyond GROUP_MAX groups the reference path runs until the budget is spent.
    monkeypatch.setattr(_fast, "_kernels", None)
    monkeypatch.setattr(_fast, "_numpy_elements", 0)
    from logloss import _fast_numpy

    many = _fast_numpy.GROUP_MAX + 1
    assert _fast.grouped_state_sums(p, y, None, np.arange(N) % many, many, logits=False) is None
    assert _fast._kernels is None
    _fast.grouped_state_sums(p, y, None, np.arange(N) % many, many, logits=False)
    assert _fast.grouped_state_sums(p, y, None, np.arange(N) % many, many, logits=False) is not None
    assert _fast._kernels is not None


# The threads meet at a barrier before their first call, which loads the kernels, so that
# they also race to load them.
_THREADS_SCRIPT = """
import threading, numpy as np
from logloss import LogLossState, _fast
_fast.NUMPY_BUDGET = 0
rng = np.random.default_rng(3)
batches = [(rng.random(1_200_000), (rng.random(1_200_000) < 0.5).astype(np.float64)) for _ in range(8)]
states = [LogLossState() for _ in range(4)]
barrier = threading.Barrier(4)
def work(state, part):
    barrier.wait()
    for p, y in part:
        state.update(p, y)
threads = [threading.Thread(target=work, args=(states[i], batches[i::4])) for i in range(4)]
[thread.start() for thread in threads]
[thread.join() for thread in threads]
print(states[0].merge(states[1]).merge(states[2]).merge(states[3]).count)
"""


def test_workqueue_layer_two_threads():
    # numba's workqueue layer aborts the process on parallel kernels from two threads at once.
    import subprocess
    import sys

    environment = {**os.environ, "NUMBA_THREADING_LAYER": "workqueue"}
    completed = subprocess.run([sys.executable, "-c", _THREADS_SCRIPT], env=environment, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["9600000"]
