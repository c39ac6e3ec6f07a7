import math
import pickle

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from logloss import GroupedLogLossState, LogLossState, UndefinedMetricWarning
from logloss._state import SUM_FIELDS

EPS = np.finfo(np.float64).eps

probabilities = st.floats(0.0, 1.0)
labels = st.sampled_from([0.0, 1.0, 0.25])
weights = st.one_of(st.just(0.0), st.floats(1e-6, 10.0))


@st.composite
def batches(draw, min_size=1, max_size=40):
    n = draw(st.integers(min_size, max_size))
    p = draw(hnp.arrays(np.float64, n, elements=probabilities))
    y = draw(hnp.arrays(np.float64, n, elements=labels))
    w = draw(st.one_of(st.none(), hnp.arrays(np.float64, n, elements=weights)))
    keys = draw(hnp.arrays(np.int64, n, elements=st.integers(0, 3)))
    return p, y, w, keys


def assert_states_close(actual: LogLossState, expected: LogLossState, scale: float) -> None:
    assert actual.count == expected.count
    assert actual.n_infinite == expected.n_infinite
    assert actual.n_clipped == expected.n_clipped
    for name in SUM_FIELDS:
        a, e = actual.sum(name), expected.sum(name)
        if math.isinf(e):
            assert a == e, name
        else:
            assert a == pytest.approx(e, rel=scale * EPS, abs=scale * EPS), name


def reference_states(p, y, w, keys) -> dict:
    states = {}
    for key in np.unique(keys).tolist():
        mask = keys == key
        state = LogLossState()
        state.update(p[mask], y[mask], weights=None if w is None else w[mask])
        states[key] = state
    return states


@settings(max_examples=60, deadline=None)
@given(batches())
def test_grouped_matches_state_per_group(batch):
    p, y, w, keys = batch
    grouped = GroupedLogLossState()
    grouped.update(p, y, keys, weights=w)
    expected = reference_states(p, y, w, keys)
    assert sorted(grouped.keys()) == sorted(expected)
    for key, state in grouped.states().items():
        assert_states_close(state, expected[key], 4 * len(p))


@settings(max_examples=60, deadline=None)
@given(batches(), st.integers(0, 40))
def test_grouped_batches_equal_whole(batch, cut):
    p, y, w, keys = batch
    whole = GroupedLogLossState()
    whole.update(p, y, keys, weights=w)
    parts = GroupedLogLossState()
    for part in (slice(0, cut), slice(cut, None)):
        parts.update(p[part], y[part], keys[part], weights=None if w is None else w[part])
    for key, state in whole.states().items():
        assert_states_close(parts.state(key), state, 4 * len(p))


@settings(max_examples=40, deadline=None)
@given(batches(), batches(), batches())
def test_grouped_merge_associative_commutative(a, b, c):
    states = []
    for p, y, w, keys in (a, b, c):
        state = GroupedLogLossState()
        state.update(p, y, keys, weights=w)
        states.append(state)
    first, second, third = states
    left = first.merge(second).merge(third)
    right = first.merge(second.merge(third))
    swapped = third.merge(first).merge(second)
    n = sum(len(batch[0]) for batch in (a, b, c))
    for key, state in left.states().items():
        assert_states_close(right.state(key), state, 4 * n)
        assert_states_close(swapped.state(key), state, 4 * n)


def test_grouped_logits_match_state():
    z = np.array([-3.0, 0.5, 40.0, -800.0, 2.0])
    y = np.array([1, 0, 1, 0, 1])
    keys = np.array(["a", "b", "a", "b", "a"])
    grouped = GroupedLogLossState()
    grouped.update_logits(z, y, keys)
    expected = LogLossState()
    expected.update_logits(z[keys == "a"], y[keys == "a"])
    assert_states_close(grouped.state("a"), expected, 8)


def test_grouped_string_keys_with_nulls():
    keys = np.array(["x", None, "y", None], dtype=object)
    grouped = GroupedLogLossState()
    grouped.update(np.array([0.5, 0.9, 0.1, 0.2]), np.array([1, 1, 0, 0]), keys)
    assert sorted(grouped.keys(), key=str) == [None, "x", "y"]
    assert grouped.state(None).count == 2


def test_grouped_nan_float_key_is_null():
    grouped = GroupedLogLossState()
    grouped.update(np.array([0.5, 0.5, 0.5]), np.array([1, 0, 1]), np.array([1.5, np.nan, np.nan]))
    assert grouped.state(None).count == 2
    assert grouped.state(1.5).count == 1


def test_grouped_pyarrow_and_list_keys_align():
    grouped = GroupedLogLossState()
    p, y = np.array([0.3, 0.6]), np.array([0, 1])
    grouped.update(p, y, pa.array(["u", "v"]))
    grouped.update(p, y, ["v", "u"])
    grouped.update(p, y, pa.chunked_array([["u"], [None]]))
    assert grouped.state("u").count == 3
    assert grouped.state("v").count == 2
    assert grouped.state(None).count == 1


def test_grouped_several_key_columns():
    grouped = GroupedLogLossState()
    p, y = np.full(4, 0.5), np.array([1, 0, 1, 0])
    grouped.update(p, y, (np.array([1, 1, 2, 2]), np.array(["a", "b", "a", "a"])))
    assert sorted(grouped.keys()) == [(1, "a"), (1, "b"), (2, "a")]
    assert grouped.state((2, "a")).count == 2


def test_grouped_several_key_columns_as_list():
    grouped = GroupedLogLossState()
    grouped.update(np.full(2, 0.5), np.array([1, 0]), [[1, 2], ["a", "a"]])
    assert sorted(grouped.keys()) == [(1, "a"), (2, "a")]


def test_grouped_infinite_and_clipped_counts():
    p = np.array([0.0, 1.0, 0.5, 0.0])
    y = np.array([1, 1, 0, 1])
    keys = np.array([0, 0, 1, 1])
    grouped = GroupedLogLossState()
    grouped.update(p, y, keys, weights=np.array([1.0, 1.0, 1.0, 0.0]))
    assert grouped.state(0).n_infinite == 1
    assert grouped.state(1).n_infinite == 0
    with pytest.warns(UndefinedMetricWarning, match="undefined in 2 of 2 segments"):
        assert grouped.results()[0].log_loss == math.inf
    clipped = GroupedLogLossState(clip=1e-7)
    clipped.update(p, y, keys)
    assert clipped.state(0).n_clipped == 2
    assert clipped.state(1).n_clipped == 1
    assert clipped.state(0).n_infinite == 0


def test_grouped_pickle_round_trip():
    grouped = GroupedLogLossState()
    grouped.update(np.array([0.2, 0.7]), np.array([0, 1]), np.array(["a", "b"]))
    restored = pickle.loads(pickle.dumps(grouped))
    assert restored.keys() == grouped.keys()
    for key in grouped.keys():
        assert_states_close(restored.state(key), grouped.state(key), 0)


def test_grouped_total_matches_state():
    rng = np.random.default_rng(7)
    p, keys = rng.random(500), rng.integers(0, 9, 500)
    y = (rng.random(500) < p).astype(np.int8)
    grouped = GroupedLogLossState()
    grouped.update(p, y, keys)
    expected = LogLossState()
    expected.update(p, y)
    assert_states_close(grouped.total(), expected, 8 * 500)


def table_state() -> GroupedLogLossState:
    grouped = GroupedLogLossState()
    p = np.array([0.9, 0.2, 0.6, 0.3, 0.5, 0.4])
    y = np.array([1, 0, 0, 1, 1, 1])
    grouped.update(p, y, np.array(["a", "a", "b", "b", "c", "c"]), weights=np.array([1, 1, 1, 1, 5, 0.5]))
    return grouped


def test_table_sorted_by_log_loss():
    rows = table_state().table(sort="log_loss")
    losses = [row["log_loss"] for row in rows]
    assert losses == sorted(losses, reverse=True)
    assert [row["key"] for row in table_state().table(sort="key", descending=False)] == ["a", "b", "c"]


def test_table_min_size_by_weight():
    rows = table_state().table(min_size=5, size_by="weight")
    assert [row["key"] for row in rows] == ["c"]
    assert table_state().table(min_size=3) == []


def test_table_single_class_segment_is_inf_last():
    # Segment "c" has only positive labels, so its own-base-rate NE is inf.
    rows = table_state().table(sort="normalized_entropy")
    assert rows[0]["key"] == "c"
    assert rows[0]["normalized_entropy"] == math.inf


def test_table_global_baseline():
    state = table_state()
    total = state.total().result()
    for row in state.table(ne_baseline="global"):
        assert row["normalized_entropy"] == pytest.approx(row["log_loss"] / total.entropy, rel=4 * EPS)


def test_table_rejects_unknown_figure():
    with pytest.raises(ValueError, match="`sort` must be one of"):
        table_state().table(sort="auc")


def test_results_warn_on_single_class():
    with pytest.warns(UndefinedMetricWarning, match="undefined in 1 of 3 segments"):
        table_state().results()


def test_grouped_rejects_wrong_key_length():
    with pytest.raises(ValueError, match=r"`keys` must have one key per row \(2 rows\), got 3"):
        GroupedLogLossState().update(np.array([0.5, 0.5]), np.array([1, 0]), np.array([1, 2, 3]))


def test_grouped_rejects_probability_outside():
    with pytest.raises(ValueError, match="`y_pred` must be in"):
        GroupedLogLossState().update(np.array([1.5]), np.array([1]), np.array([1]))


def test_grouped_merge_rejects_other_type():
    with pytest.raises(TypeError, match="`other` must be a GroupedLogLossState"):
        GroupedLogLossState().merge(LogLossState())


def test_grouped_integer_keys_wide_and_unsigned():
    keys = [np.array([-(2**62), 2**62, -(2**62)]), np.array([2**64 - 1, 3, 2**64 - 1], dtype=np.uint64)]
    for column in keys:
        grouped = GroupedLogLossState()
        grouped.update(np.full(3, 0.5), np.array([1, 0, 1]), column)
        assert grouped.state(int(column[0])).count == 2
        assert grouped.state(int(column[1])).count == 1


def test_grouped_chunks_equal_one_pass():
    rng = np.random.default_rng(8)
    n = 150_000  # more than one chunk of 65,536 rows
    p, keys = rng.random(n), rng.integers(0, 5, n)
    y = (rng.random(n) < p).astype(np.int8)
    grouped = GroupedLogLossState()
    grouped.update(p, y, keys)
    for key in range(5):
        expected = LogLossState()
        expected.update(p[keys == key], y[keys == key])
        assert_states_close(grouped.state(key), expected, 8 * n)


def test_grouped_pyarrow_nan_key_is_null():
    grouped = GroupedLogLossState()
    for _ in range(2):
        grouped.update(np.full(3, 0.5), np.array([1, 0, 1]), pa.array([1.5, float("nan"), None]))
    assert sorted(grouped.keys(), key=str) == [1.5, None]
    assert grouped.state(None).count == 4
