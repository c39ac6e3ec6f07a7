"""Finite losses whose sums exceed the float64 range: exact means, or a clear warning.

A logit z of a negative row has the loss softplus(z), which is z itself in float64 for
z > 37, so logits near 1e308 give finite losses whose sum overflows. The expected values
are closed forms or mpmath sums of the same float64 losses.
"""

import math
import pickle
import warnings

import mpmath
import numpy as np
import pytest

from logloss import (
    BinnedDecompositionState,
    BootstrapState,
    GroupedLogLossState,
    InfiniteLossWarning,
    LogLossState,
    LossOverflowWarning,
    PairedComparisonState,
    UndefinedMetricWarning,
    binary_cross_entropy_with_logits,
    confidence_interval,
    decompose_with_logits,
)

mpmath.mp.prec = 200
EPS = np.finfo(np.float64).eps


def _softplus(z: float) -> mpmath.mpf:
    return mpmath.log1p(mpmath.exp(mpmath.mpf(z)))


def _mp_mean(logits, labels, weights=None) -> float:
    """Return the weighted mean logit loss in mpmath, rounded once to float64."""
    weights = [1.0] * len(logits) if weights is None else weights
    total = mpmath.mpf(0)
    for z, y, w in zip(logits, labels, weights):
        loss = _softplus(-z) if y else _softplus(z)
        total += mpmath.mpf(w) * loss
    return float(total / mpmath.fsum(mpmath.mpf(w) for w in weights))


@pytest.fixture(autouse=True)
def _numpy_warnings_are_errors():
    """Any NumPy RuntimeWarning (overflow, invalid value) fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


# Loss functions


def test_mean_of_two_maximal_losses_exact():
    logits = np.array([1e308, 1e308])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert binary_cross_entropy_with_logits(logits, np.array([0, 0])) == 1e308


def test_mean_with_unit_weights_exact():
    logits = np.array([1e308, 1e308])
    result = binary_cross_entropy_with_logits(logits, np.array([0, 0]), weights=np.array([1.0, 1.0]))
    assert result == 1e308


def test_mean_matches_mpmath():
    logits = [1.5e308, 1.7e308, -2.0, 3.0]
    labels = [0, 0, 1, 0]
    result = binary_cross_entropy_with_logits(np.array(logits), np.array(labels))
    assert result == pytest.approx(_mp_mean(logits, labels), rel=2 * EPS, abs=0)


def test_weighted_mean_matches_mpmath():
    logits = [1.5e308, 1.7e308, -2.0, 3.0]
    labels = [0, 0, 1, 0]
    weights = [1.0, 3.0, 0.5, 2.0]
    result = binary_cross_entropy_with_logits(np.array(logits), np.array(labels), weights=np.array(weights))
    assert result == pytest.approx(_mp_mean(logits, labels, weights), rel=2 * EPS, abs=0)


def test_mean_per_axis_rescues_only_overflowed_rows():
    logits = np.array([[1.5e308, 1.7e308], [1.0, 2.0]])
    result = binary_cross_entropy_with_logits(logits, np.zeros((2, 2)), axis=1)
    assert result[0] == pytest.approx(1.6e308, rel=2 * EPS, abs=0)
    assert result[1] == pytest.approx(_mp_mean([1.0, 2.0], [0, 0]), rel=2 * EPS, abs=0)


def test_mean_with_infinite_loss_stays_inf():
    logits = np.array([1e308, 1e308, np.inf])
    with pytest.warns(InfiniteLossWarning):
        assert binary_cross_entropy_with_logits(logits, np.zeros(3)) == np.inf


def test_sum_beyond_range_warns():
    logits = np.array([1e308, 1e308])
    with pytest.warns(LossOverflowWarning, match="exceeds the float64 range"):
        assert binary_cross_entropy_with_logits(logits, np.array([0, 0]), reduction="sum") == np.inf


def test_sum_of_overflowing_weighted_loss_warns():
    # 1e10 * 1e300 exceeds the range although the loss and the weight are finite.
    with pytest.warns(LossOverflowWarning):
        result = binary_cross_entropy_with_logits(
            np.array([1e10]), np.array([0]), weights=np.array([1e300]), reduction="sum"
        )
    assert result == np.inf


def test_sum_with_infinite_loss_warns_infinite_only():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        binary_cross_entropy_with_logits(np.array([1e308, 1e308, np.inf]), np.zeros(3), reduction="sum")
    categories = [warning.category for warning in caught]
    assert categories == [InfiniteLossWarning]


def test_sum_in_range_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert binary_cross_entropy_with_logits(np.array([1e308]), np.array([0]), reduction="sum") == 1e308


# LogLossState


def test_state_log_loss_exact_across_batches():
    state = LogLossState()
    state.update_logits(np.array([1.5e308]), np.array([0]))
    state.update_logits(np.array([1.7e308, 0.0]), np.array([0, 1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = state.result()
    assert result.log_loss == pytest.approx(_mp_mean([1.5e308, 1.7e308, 0.0], [0, 0, 1]), rel=2 * EPS, abs=0)
    assert result.n_infinite == 0
    assert result.count == 3


def test_state_log_loss_exact_within_batch():
    state = LogLossState()
    state.update_logits(np.array([1e308, 1e308]), np.array([0, 0]))
    assert state.sum("wl") == np.inf
    with pytest.warns(UndefinedMetricWarning, match="every label is 0"):
        assert state.result().log_loss == 1e308


def test_state_weighted_terms_beyond_range():
    logits = [1e250, 1e250, -3.0]
    labels = [0, 0, 1]
    weights = [1e100, 2.0, 1e100]
    state = LogLossState()
    state.update_logits(np.array(logits), np.array(labels), weights=np.array(weights))
    result = state.result()
    assert result.log_loss == pytest.approx(_mp_mean(logits, labels, weights), rel=2 * EPS, abs=0)


@pytest.mark.parametrize("repeats", [1, 1 << 14], ids=["reference", "fast"])
def test_state_weighted_square_overflow_label_zero(repeats):
    # w**2 * loss overflows to inf on the rows of label 0. Its product with the label is 0,
    # not inf * 0 = NaN, on the NumPy path and in the kernels that 2**15 rows or more reach.
    logits = [1e250, -3.0, 1e250]
    labels = [0.0, 1.0, 0.0]
    weights = [1e100, 1e100, 2.0]
    state = LogLossState()
    state.update_logits(np.tile(logits, repeats), np.tile(labels, repeats), weights=np.tile(weights, repeats))
    assert state.sum("w2ly") == pytest.approx(repeats * 1e200 * float(_softplus(3.0)), rel=1e-12, abs=0)
    assert state.result().log_loss == pytest.approx(_mp_mean(logits, labels, weights), rel=4 * EPS, abs=0)


def test_state_merge_keeps_exact_mean():
    left, right = LogLossState(), LogLossState()
    left.update_logits(np.array([1.5e308, 0.0]), np.array([0, 1]))
    right.update_logits(np.array([1.7e308]), np.array([0]))
    merged = left.merge(right)
    expected = _mp_mean([1.5e308, 0.0, 1.7e308], [0, 1, 0])
    assert merged.result().log_loss == pytest.approx(expected, rel=2 * EPS, abs=0)
    assert right.merge(left).result().log_loss == pytest.approx(expected, rel=2 * EPS, abs=0)


def test_state_pickle_keeps_exact_mean():
    state = LogLossState()
    state.update_logits(np.array([1.5e308, 1.7e308, 0.0]), np.array([0, 0, 1]))
    copy = pickle.loads(pickle.dumps(state))
    assert copy.result().log_loss == state.result().log_loss < np.inf


def test_state_from_overflowed_sums_warns():
    # Sums from another engine, with "wl" already inf and no scaled copy.
    state = LogLossState()
    sums = np.array([2.0, 2.0, 1.0, 1.0, np.inf, np.inf, np.inf, np.inf, 1.0, 1.0, 1.0, 1.0, np.inf, 1.0])
    state.add_sums(2, sums)
    with pytest.warns(LossOverflowWarning, match="the log loss is reported as inf although no row has an infinite loss"):
        assert state.result().log_loss == np.inf


def test_state_normalized_entropy_beyond_range_warns():
    state = LogLossState()
    state.update_logits(np.array([1.7e308, 1.7e308, 1.7e308, 0.0]), np.array([0, 0, 0, 1]))
    with pytest.warns(LossOverflowWarning, match="the normalized entropy is reported as inf"):
        result = state.result()
    assert result.log_loss == pytest.approx(_mp_mean([1.7e308] * 3 + [0.0], [0, 0, 0, 1]), rel=2 * EPS, abs=0)
    assert result.normalized_entropy == np.inf


def test_state_infinite_loss_counts_no_overflow_warning():
    state = LogLossState()
    state.update_logits(np.array([1e308, 1e308, np.inf, 0.0]), np.array([0, 0, 0, 1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = state.result()
    assert result.log_loss == np.inf
    assert result.n_infinite == 1


def test_interval_squares_beyond_range_warns():
    state = LogLossState()
    state.update_logits(np.array([1e200, 1e200, 0.0, -1.0]), np.array([0, 0, 1, 1]))
    with pytest.warns(LossOverflowWarning, match="squared weighted losses"):
        intervals = confidence_interval(state)
    assert intervals.log_loss.estimate == pytest.approx(_mp_mean([1e200, 1e200, 0.0, -1.0], [0, 0, 1, 1]), rel=2 * EPS, abs=0)
    assert math.isnan(intervals.log_loss.lower)
    assert math.isnan(intervals.normalized_entropy.upper)
    assert math.isfinite(intervals.calibration_ratio.lower)
    assert math.isfinite(intervals.calibration_ratio.upper)


def test_interval_in_range_does_not_warn():
    state = LogLossState()
    state.update_logits(np.array([1e100, 1e100, 0.0, -1.0]), np.array([0, 0, 1, 1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        intervals = confidence_interval(state)
    assert math.isfinite(intervals.log_loss.upper)


# States built on LogLossState


def test_grouped_segment_log_loss_exact():
    state = GroupedLogLossState()
    keys = np.array(["a", "a", "a", "b"])
    state.update_logits(np.array([1.5e308, 1.7e308, 0.0, 1.0]), np.array([0, 0, 1, 1]), keys)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        segment = state.state("a").result()
        total = state.total().result()
    assert segment.log_loss == pytest.approx(_mp_mean([1.5e308, 1.7e308, 0.0], [0, 0, 1]), rel=2 * EPS, abs=0)
    expected_total = _mp_mean([1.5e308, 1.7e308, 0.0, 1.0], [0, 0, 1, 1])
    assert total.log_loss == pytest.approx(expected_total, rel=2 * EPS, abs=0)


def test_grouped_merge_keeps_exact_mean():
    left, right = GroupedLogLossState(), GroupedLogLossState()
    left.update_logits(np.array([1.5e308, 0.0]), np.array([0, 1]), np.array([1, 1]))
    right.update_logits(np.array([1.7e308, 2.0]), np.array([0, 1]), np.array([1, 2]))
    merged = left.merge(right)
    expected = _mp_mean([1.5e308, 0.0, 1.7e308], [0, 1, 0])
    assert merged.state(1).result().log_loss == pytest.approx(expected, rel=2 * EPS, abs=0)


def test_grouped_old_pickle_warns_on_overflow():
    state = GroupedLogLossState()
    state.update_logits(np.array([1.5e308, 1.7e308, 0.0]), np.array([0, 0, 1]), np.array([1, 1, 1]))
    del state._scaled_loss  # as in a state pickled before the scaled sums existed
    with pytest.warns(LossOverflowWarning, match="in 1 of 1 segments"):
        results = state.results()
    assert results[1].log_loss == np.inf


def test_decompose_score_exact():
    logits = [1.5e308, 1.7e308, 0.0, -1.0]
    labels = [0, 0, 1, 1]
    result = decompose_with_logits(np.array(logits), np.array(labels))
    expected = _mp_mean(logits, labels)
    assert result.score == pytest.approx(expected, rel=2 * EPS, abs=0)
    assert result.miscalibration == pytest.approx(expected, rel=2 * EPS, abs=0)


def test_binned_decomposition_warns():
    state = BinnedDecompositionState()
    state.update_logits(np.array([1.5e308, 1.7e308, 0.0, -1.0]), np.array([0, 0, 1, 1]))
    with pytest.warns(LossOverflowWarning, match="the log loss of the decomposition"):
        assert state.result().score == np.inf


def test_bootstrap_interval_undefined_warns():
    state = BootstrapState(n_bootstrap=50, seed=1)
    logits = np.array([1.5e308, 1.7e308, 0.0, -1.0, 2.0, -0.5])
    labels = np.array([0, 0, 1, 1, 0, 1])
    state.update_logits(logits, labels)
    with pytest.warns(LossOverflowWarning, match="bootstrap log loss and normalized entropy intervals"):
        intervals = state.interval()
    assert intervals.log_loss.estimate == pytest.approx(_mp_mean(logits.tolist(), labels.tolist()), rel=2 * EPS, abs=0)
    assert math.isnan(intervals.log_loss.lower)
    assert math.isfinite(intervals.calibration_ratio.lower)


def test_paired_interval_undefined_warns():
    state = PairedComparisonState()
    state.update_logits(np.array([1e200, 0.0, -1.0]), np.array([-1e200, 0.5, -1.0]), np.array([0, 1, 1]))
    with pytest.warns(LossOverflowWarning, match="interval of the log loss difference"):
        comparison = state.interval()
    assert comparison.log_loss_a == pytest.approx(_mp_mean([1e200, 0.0, -1.0], [0, 1, 1]), rel=2 * EPS, abs=0)
    assert math.isnan(comparison.difference.lower)


# Other array libraries


def test_dask_array_mean_exact():
    da = pytest.importorskip("dask.array")
    logits = [1.5e308, 1.7e308, 0.0, -1.0]
    labels = [0.0, 0.0, 1.0, 1.0]
    lazy = binary_cross_entropy_with_logits(da.from_array(np.array(logits), chunks=2), da.from_array(np.array(labels), chunks=2))
    result = float(lazy.compute())
    assert result == pytest.approx(_mp_mean(logits, labels), rel=2 * EPS, abs=0)


def test_dask_array_sum_beyond_range_is_inf():
    da = pytest.importorskip("dask.array")
    logits = da.from_array(np.array([1e308, 1e308, 1e308]), chunks=2)
    # Lazy: the result is inf, without a warning from logloss or from NumPy.
    result = binary_cross_entropy_with_logits(logits, da.zeros(3, chunks=2), reduction="sum")
    assert float(result.compute()) == np.inf


def test_jax_traced_mean_exact():
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    logits = jnp.array([3e38, 3e38, 0.0], dtype=jnp.float32)
    labels = jnp.array([0.0, 0.0, 1.0], dtype=jnp.float32)
    # Under jit the formulas run in float32, whose sums overflow at 3.4e38.
    result = jax.jit(binary_cross_entropy_with_logits)(logits, labels)
    expected = float(_mp_mean([float(np.float32(3e38))] * 2 + [0.0], [0, 0, 1]))
    assert float(result) == pytest.approx(expected, rel=4 * float(np.finfo(np.float32).eps), abs=0)


def test_jax_float32_sum_beyond_range_warns():
    jnp = pytest.importorskip("jax.numpy")
    logits = jnp.array([3e38, 3e38, 0.0], dtype=jnp.float32)
    labels = jnp.array([0.0, 0.0, 1.0], dtype=jnp.float32)
    if logits.dtype != jnp.float32 or binary_cross_entropy_with_logits(logits[:1], labels[:1]).dtype != jnp.float32:
        pytest.skip("JAX sums in float64 here (jax_enable_x64 is on)")
    with pytest.warns(LossOverflowWarning, match="exceeds the float32 range"):
        result = binary_cross_entropy_with_logits(logits, labels, reduction="sum")
    assert float(result) == np.inf


def test_torch_mean_exact_with_gradient():
    torch = pytest.importorskip("torch")
    logits = torch.tensor([1.5e308, 1.7e308, 0.0, -1.0], dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    result = binary_cross_entropy_with_logits(logits, labels)
    result.backward()
    assert float(result.detach()) == pytest.approx(_mp_mean([1.5e308, 1.7e308, 0.0, -1.0], [0, 0, 1, 1]), rel=2 * EPS, abs=0)
    # d mean / dz = sigmoid(z) / n for a negative row, -sigmoid(-z) / n for a positive one.
    expected = [0.25, 0.25, -0.125, -1.0 / (1.0 + math.exp(-1.0)) / 4]
    np.testing.assert_allclose(logits.grad.numpy(), expected, rtol=4 * EPS)
