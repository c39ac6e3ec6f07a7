"""The evaluation state: batching, merging, pickling and degenerate results."""

import contextlib
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from logloss import (
    LogLossState,
    UndefinedMetricWarning,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
)
from logloss._state import SUM_FIELDS

RTOL = 64 * np.finfo(np.float64).eps


def _rows(draw_data, n):
    probabilities = draw_data.draw(hnp.arrays(np.float64, n, elements=st.floats(1e-6, 1 - 1e-6)))
    labels = draw_data.draw(hnp.arrays(np.int8, n, elements=st.integers(0, 1)))
    weight_values = st.one_of(st.just(0.0), st.floats(1e-6, 10))
    weights = draw_data.draw(hnp.arrays(np.float64, n, elements=weight_values))
    return probabilities, labels, weights


def _assert_states_close(left: LogLossState, right: LogLossState):
    assert left.count == right.count
    assert left.n_infinite == right.n_infinite
    for name in SUM_FIELDS:
        assert left.sum(name) == pytest.approx(right.sum(name), rel=RTOL, abs=1e-300), name


def _state_of(probabilities, labels, weights):
    state = LogLossState()
    state.update(probabilities, labels, weights=weights)
    return state


@settings(max_examples=60)
@given(st.integers(1, 60), st.data())
def test_batches_equal_whole(n, data):
    probabilities, labels, weights = _rows(data, n)
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=5)))
    batched = LogLossState()
    for start, stop in zip([0, *cuts], [*cuts, n], strict=True):
        batched.update(probabilities[start:stop], labels[start:stop], weights=weights[start:stop])
    _assert_states_close(batched, _state_of(probabilities, labels, weights))


@settings(max_examples=60)
@given(st.integers(3, 40), st.data())
def test_merge_associative_commutative(n, data):
    probabilities, labels, weights = _rows(data, n)
    parts = [
        _state_of(probabilities[i::3], labels[i::3], weights[i::3]) for i in range(3)
    ]
    a, b, c = parts
    _assert_states_close(a.merge(b).merge(c), a.merge(b.merge(c)))
    _assert_states_close(a.merge(b), b.merge(a))
    _assert_states_close(c.merge(a).merge(b), _state_of(probabilities, labels, weights))


def test_merge_leaves_inputs_unchanged():
    a = _state_of(np.array([0.2]), np.array([0]), None)
    b = _state_of(np.array([0.7]), np.array([1]), None)
    before = (a.sum("wl"), b.sum("wl"))
    a.merge(b)
    assert (a.sum("wl"), b.sum("wl")) == before


def test_result_matches_loss_functions():
    rng = np.random.default_rng(7)
    probabilities = rng.uniform(size=1000)
    labels = rng.integers(0, 2, size=1000)
    weights = rng.uniform(0, 3, size=1000)
    result = _state_of(probabilities, labels, weights).result()
    assert result.log_loss == pytest.approx(
        binary_cross_entropy(probabilities, labels, weights=weights), rel=RTOL, abs=0)
    assert result.base_rate == pytest.approx(np.average(labels, weights=weights), rel=RTOL, abs=0)
    assert result.mean_prediction == pytest.approx(np.average(probabilities, weights=weights), rel=RTOL, abs=0)
    assert result.calibration_ratio == pytest.approx(
        np.dot(weights, probabilities) / np.dot(weights, labels), rel=RTOL, abs=0)
    assert result.weight_sum == pytest.approx(weights.sum(), rel=RTOL, abs=0)
    assert result.count == 1000


def test_logits_and_probabilities_agree():
    logits = np.linspace(-8, 8, 101)
    labels = (np.arange(101) % 3 == 0).astype(int)
    from_logits = LogLossState()
    from_logits.update_logits(logits, labels)
    from_probabilities = LogLossState()
    from_probabilities.update(1 / (1 + np.exp(-logits)), labels)
    assert from_logits.result().log_loss == pytest.approx(
        binary_cross_entropy_with_logits(logits, labels), rel=RTOL, abs=0)
    assert from_logits.result().log_loss == pytest.approx(from_probabilities.result().log_loss, rel=1e-12, abs=0)
    assert from_logits.sum("wp") == pytest.approx(from_probabilities.sum("wp"), rel=1e-14, abs=0)


def test_pickle_round_trip():
    state = _state_of(np.array([0.2, 0.9]), np.array([0, 1]), np.array([1.0, 2.0]))
    restored = pickle.loads(pickle.dumps(state))
    _assert_states_close(state, restored)
    assert restored.result() == state.result()


def test_second_moments_unweighted():
    probabilities = np.array([0.2, 0.6, 0.9])
    labels = np.array([0.0, 1.0, 1.0])
    state = _state_of(probabilities, labels, None)
    loss = binary_cross_entropy(probabilities, labels, reduction="none")
    assert state.sum("wl2") == pytest.approx(np.sum(loss**2), rel=RTOL, abs=0)
    assert state.sum("w2ly") == pytest.approx(np.sum(loss * labels), rel=RTOL, abs=0)
    assert state.sum("w2py") == pytest.approx(np.sum(probabilities * labels), rel=RTOL, abs=0)


def test_clip_counts_rows():
    state = LogLossState(clip=1e-6)
    state.update(np.array([0.0, 0.5, 1.0, 1 - 1e-9]), np.array([1, 1, 1, 0]))
    result = state.result()
    assert result.n_clipped == 2
    assert result.n_infinite == 0
    assert result.log_loss == pytest.approx((2 * -math.log(1e-6) + math.log(2.0)) / 4, rel=RTOL, abs=0)


def test_rejected_update_leaves_state():
    state = _state_of(np.array([0.2]), np.array([0]), None)
    with pytest.raises(ValueError, match=r"`y_true` must be in \[0, 1\], got 3"):
        state.update(np.array([0.5, 0.5]), np.array([1, 3]))
    with pytest.raises(ValueError, match="update_logits"):
        state.update(np.array([2.5]), np.array([1]))
    assert state.count == 1


def test_zero_weight_result():
    state = _state_of(np.array([0.2]), np.array([0]), np.array([0.0]))
    with pytest.warns(UndefinedMetricWarning, match="total weight is 0"):
        result = state.result()
    assert math.isnan(result.log_loss)
    assert result.count == 1


def test_no_positive_labels_calibration():
    with pytest.warns(UndefinedMetricWarning):
        result = _state_of(np.array([0.2, 0.1]), np.array([0, 0]), None).result()
    assert result.calibration_ratio == math.inf


def test_merge_rejects_other_types():
    with pytest.raises(TypeError, match="`other` must be a LogLossState"):
        LogLossState().merge(object())


def test_infinite_loss_sums_without_nan():
    state = LogLossState()
    with np.errstate(all="raise"):
        state.update(np.array([1.0, 0.5]), np.array([0, 1]))
    assert state.n_infinite == 1
    for name in SUM_FIELDS:
        assert not math.isnan(state.sum(name)), name
    assert state.sum("wl") == math.inf
    assert state.sum("wy") == 1.0


def test_extreme_weights_rejected():
    state = LogLossState()
    with pytest.raises(ValueError, match=r"`weights` must be 0 or between 1e-120 and 1e\+120, got 1e\+308 at index 1"):
        state.update(np.array([0.5, 0.5]), np.array([0, 1]), weights=np.array([1.0, 1e308]))
    assert state.count == 0


def test_merge_rejects_other_clip():
    with pytest.raises(ValueError, match="same clip"):
        LogLossState(clip=1e-6).merge(LogLossState())


@pytest.mark.parametrize(
    "arguments, error, pattern",
    [
        ((1, np.zeros(3)), ValueError, r"`sums` must have shape \(14,\)"),
        ((1, np.full(14, np.nan)), ValueError, "`sums` must not contain NaN"),
        ((-1, np.zeros(14)), ValueError, "`count` must be non-negative"),
    ],
)
def test_add_sums_rejects_bad_input(arguments, error, pattern):
    with pytest.raises(error, match=pattern):
        LogLossState().add_sums(*arguments)


def test_clip_type_checked():
    with pytest.raises(TypeError, match="`clip` must be a float or None, got str"):
        LogLossState(clip="0.1")


def test_clip_counts_observed_outcome_only():
    state = LogLossState(clip=1e-7)
    state.update(np.array([0.9, 0.0, 0.0]), np.array([1, 0, 1]))
    assert state.result().n_clipped == 1


def test_clip_same_in_every_state():
    from logloss import BootstrapState, GroupedLogLossState

    y_pred = np.array([1.0, 0.0, 0.3, 1 - 1e-17])
    y_true = np.array([0, 1, 1, 0])
    plain = LogLossState(clip=1e-15)
    plain.update(y_pred, y_true)
    grouped = GroupedLogLossState(clip=1e-15)
    grouped.update(y_pred, y_true, np.zeros(4))
    bootstrap = BootstrapState(clip=1e-15)
    bootstrap.update(y_pred, y_true, offset=0)
    expected = plain.result()
    assert expected.log_loss == pytest.approx((3 * -math.log(1e-15) - math.log(0.3)) / 4, rel=RTOL, abs=0)
    assert grouped.results()[0.0].log_loss == expected.log_loss
    assert grouped.results()[0.0].n_clipped == expected.n_clipped == 3
    assert bootstrap.result().log_loss == expected.log_loss


def _split_case(logits: bool, weighted: bool):
    """Return 40,000 rows in 3 groups with 5 infinite losses. Group 2 has only infinite rows."""
    rng = np.random.default_rng(41)
    size = 40_000
    p = rng.random(size)
    y = (rng.random(size) < p).astype(np.float64)
    codes = rng.integers(0, 2, size)
    rows = np.array([7, 1000, 20_000, 30_001, 39_999])
    p[rows], y[rows] = [0.0, 1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.3, 0.5, 1.0]
    codes[[20_000, 39_999]] = 2
    with np.errstate(divide="ignore"):
        x = np.log(p) - np.log1p(-p) if logits else p
    weights = None
    if weighted:
        weights = rng.exponential(1.0, size)
        weights[1000] = 0.0  # an infinite loss of weight 0 adds nothing and is not counted
    return x, y, codes, weights


def _state_sums(state):
    return np.array([state.sum(name) for name in SUM_FIELDS])


def _updated(state, logits, *columns, weights, monkeypatch=None):
    """Return `state` after one update with `columns`, on the reference path when given `monkeypatch`."""
    with monkeypatch.context() if monkeypatch is not None else contextlib.nullcontext() as patch:
        if patch is not None:
            patch.setenv("LOGLOSS_DISABLE_FAST", "1")
        (state.update_logits if logits else state.update)(*columns, weights=weights)
    return state


@pytest.mark.parametrize("logits", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_infinite_rows_split_off(monkeypatch, logits, weighted):
    """Rows of infinite loss take the reference path alone, and the rest of the batch the fast one."""
    from logloss import _state

    x, y, _, weights = _split_case(logits, weighted)
    reference = _updated(LogLossState(), logits, x, y, weights=weights, monkeypatch=monkeypatch)
    sizes = []
    add = _state.LogLossState._add

    def spy(self, probability, *args, **kwargs):
        sizes.append(probability.size)
        return add(self, probability, *args, **kwargs)

    monkeypatch.setattr(_state.LogLossState, "_add", spy)
    state = _updated(LogLossState(), logits, x, y, weights=weights)
    assert sizes == [5]
    assert state.count == reference.count
    assert state.count == 40_000
    assert state.n_infinite == reference.n_infinite
    assert state.n_infinite == (4 if weighted else 5)
    np.testing.assert_allclose(_state_sums(state), _state_sums(reference), rtol=1e-14)
    assert math.isinf(state.result().log_loss)


@pytest.mark.parametrize("logits", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_grouped_infinite_rows_split_off(monkeypatch, logits, weighted):
    from logloss import GroupedLogLossState

    x, y, codes, weights = _split_case(logits, weighted)
    reference = _updated(GroupedLogLossState(), logits, x, y, codes, weights=weights, monkeypatch=monkeypatch)
    split = GroupedLogLossState._add_split
    results = []

    def spy(self, *args, **kwargs):
        results.append(split(self, *args, **kwargs))
        return results[-1]

    monkeypatch.setattr(GroupedLogLossState, "_add_split", spy)
    state = _updated(GroupedLogLossState(), logits, x, y, codes, weights=weights)
    assert results == [True]
    assert state.keys() == reference.keys()
    assert sorted(state.states()) == [0, 1, 2]
    for key in range(3):
        got, expected = state.state(key), reference.state(key)
        assert got.count == expected.count
        assert got.n_infinite == expected.n_infinite
        np.testing.assert_allclose(_state_sums(got), _state_sums(expected), rtol=1e-14)
    assert state.state(2).count == 2


def test_grouped_split_keeps_key_order():
    """A key seen first whose rows are all infinite stays first."""
    from logloss import GroupedLogLossState

    rng = np.random.default_rng(9)
    p = rng.uniform(0.01, 0.99, 4096)
    y = (rng.random(4096) < 0.5).astype(np.float64)
    keys = np.array(["B"] * 4096, dtype=object)
    keys[0], p[0], y[0] = "A", 0.0, 1.0
    p[5], y[5] = 0.0, 1.0
    state = GroupedLogLossState()
    state.update(p, y, keys)
    assert state.keys() == ["A", "B"]


def test_no_positive_label_warns_calibration_ratio():
    state = LogLossState()
    state.update(np.array([0.1, 0.2]), np.array([0, 0]))
    with pytest.warns(UndefinedMetricWarning, match="calibration ratio is undefined too, because no label is positive; it is reported as inf"):
        result = state.result()
    assert result.calibration_ratio == math.inf


def test_all_positive_labels_keep_calibration_ratio():
    state = LogLossState()
    state.update(np.array([0.9, 0.2]), np.array([1, 1]))
    with pytest.warns(UndefinedMetricWarning) as record:
        state.result()
    assert "calibration ratio" not in str(record[0].message)
