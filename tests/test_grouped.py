import math
import pickle
import re

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


def test_grouped_list_of_columns_is_one_column():
    grouped = GroupedLogLossState()
    with pytest.raises(TypeError, match=r"`keys` must hold scalar values to group by, got \[1, 2\] .* index 0"):
        grouped.update(np.full(2, 0.5), np.array([1, 0]), [[1, 2], ["a", "a"]])
    assert len(grouped) == 0


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
    # Only p = 0 with y = 1 is clipped in segment 0: p = 1 with y = 1 is certain and right.
    assert clipped.state(0).n_clipped == 1
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
        assert row["normalized_entropy"] == pytest.approx(row["log_loss"] / total.entropy, rel=4 * EPS, abs=0)


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


@pytest.mark.parametrize(
    "keys",
    [[1, 2**63, None, 2**64 - 1], [np.int64(1), 2**63, float("nan"), np.uint64(2**64 - 1)]],
    ids=["python", "numpy-scalars-and-nan"],
)
def test_grouped_python_int_keys_from_2_63(keys):
    grouped = GroupedLogLossState()
    grouped.update(np.full(4, 0.5), np.array([1, 0, 1, 0]), keys)
    assert [grouped.state(key).count for key in (1, 2**63, None, 2**64 - 1)] == [1, 1, 1, 1]


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([1, 2**70, 2], "`keys` must hold integers in [-2**63, 2**64), got 1180591620717411303424 at index 1"),
        ([1, -(2**64), 2], "got -18446744073709551616 at index 1"),
        ([1, 2**63, -1], "`keys` must hold integers of one 64-bit type, got -1 at index 2 and 9223372036854775808 at index 1"),
        ([np.int64(-1), 2**63, 1], "got -1 at index 0 and 9223372036854775808 at index 1"),
        ([2**63, 1.5, 1], "`keys` must hold integers below 2**63 where it also holds floats, got 1.5 at index 1"),
    ],
)
def test_grouped_python_int_keys_out_of_range(keys, message):
    grouped = GroupedLogLossState()
    with pytest.raises(ValueError, match=re.escape(message)):
        grouped.update(np.full(3, 0.5), np.array([1, 0, 1]), keys)
    assert grouped.results() == {}


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


def test_grouped_signed_zero_keys_one_segment():
    state = GroupedLogLossState()
    state.update([0.2, 0.3, 0.4, 0.6], [0, 1, 0, 1], np.array([0.0, -0.0, 0.0, -0.0]))
    assert state.total().count == 4
    assert state.keys() == [0.0]
    assert state.state(0.0).count == 4


def test_grouped_signed_zero_two_columns():
    state = GroupedLogLossState()
    zeros = np.array([0.0, -0.0, 0.0, -0.0])
    state.update([0.2, 0.3, 0.4, 0.6], [0, 1, 0, 1], (zeros, np.array([1, 1, 2, 2])))
    assert state.total().count == 4
    assert sorted(state.keys()) == [(0.0, 1), (0.0, 2)]


def test_grouped_repeated_rows_add_all():
    state = GroupedLogLossState()
    state.update([0.2, 0.3], [0, 1], ["a", "b"])
    codes = np.array([0, 1, 0, 1])
    p = np.array([0.2, 0.3, 0.4, 0.6])
    y = np.array([0.0, 1.0, 0.0, 1.0])
    # Two codes that map to one segment, as two spellings of one key would.
    state._add(codes, ["a", "a"], p, y, None, -np.log(np.where(y == 1, p, 1 - p)), None)
    expected = LogLossState()
    expected.update([0.2, 0.2, 0.3, 0.4, 0.6], [0, 0, 1, 0, 1])
    assert state.state("a").count == 5
    assert_states_close(state.state("a"), expected, 16)


signed_floats = st.sampled_from([0.0, -0.0, 1.5, -1.5, math.nan, math.inf])


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_grouped_signed_zero_counts_sum(data):
    n = data.draw(st.integers(1, 30))
    p = data.draw(hnp.arrays(np.float64, n, elements=probabilities))
    y = data.draw(hnp.arrays(np.float64, n, elements=labels))
    first = data.draw(hnp.arrays(np.float64, n, elements=signed_floats))
    second = data.draw(hnp.arrays(np.float64, n, elements=signed_floats))
    keys = data.draw(st.sampled_from([first, (first, second)]))
    state = GroupedLogLossState()
    state.update(p, y, keys)
    assert sum(s.count for s in state.states().values()) == n
    assert state.total().count == n
    assert_states_close(state.total(), _whole(p, y), 4 * n)


def _whole(p, y):
    state = LogLossState()
    state.update(p, y)
    return state


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([("a", 1), ("b", 2)], r"scalar values to group by, got \('a', 1\) of type tuple at index 0; pass several"),
        (["a", 1], r"one type, got 1 of type int at index 1 after 'a' of type str at index 0"),
        (np.array(["a", 1], dtype=object), r"one type, got 1 of type int at index 1"),
        (["a", b"a"], r"one type, got b'a' of type bytes at index 1"),
        ([1, True], r"one type, got True of type bool at index 1"),
        ("ab", r"`keys` must be an array-like column of keys or a tuple of such columns, got str 'ab'"),
        (("ab", [1, 2]), r"`keys\[0\]` must be an array-like column of keys, got str"),
        (pa.array([[1], [2]]), r"scalar values to group by, got type list<item: int64>"),
        (pa.array([{"a": 1}, {"a": 2}]), r"scalar values to group by, got type struct<a: int64>"),
        (np.array([1 + 2j, 3j]), r"one scalar type .* got dtype complex128"),
    ],
)
def test_grouped_rejects_ambiguous_keys(keys, message):
    grouped = GroupedLogLossState()
    with pytest.raises(TypeError, match=message):
        grouped.update([0.2, 0.7], [0, 1], keys)
    assert len(grouped) == 0


def test_grouped_numbers_mix_in_one_column():
    grouped = GroupedLogLossState()
    grouped.update([0.2, 0.7, 0.4], [0, 1, 1], [1, 2.5, 1])
    assert grouped.keys() == [1.0, 2.5]
    assert grouped.state(1).count == 2


@pytest.mark.parametrize("unit", ["ns", "us", "s", "D", "M", "Y"])
def test_grouped_datetime_keys(unit):
    days = np.array(["2020-01-01T00:00:00.000000001", "2021-01-01", "NaT", "2020-01-01T00:00:00.000000001"])
    keys = days.astype("datetime64[ns]").astype(f"datetime64[{unit}]")
    grouped = GroupedLogLossState()
    grouped.update([0.2, 0.7, 0.4, 0.6], [0, 1, 1, 0], keys)
    assert sum(state.count for state in grouped.states().values()) == 4
    assert grouped.state(keys[0]).count == 2
    assert grouped.state(None).count == 1


def test_grouped_arrow_nanosecond_timestamps():
    keys = pa.array(np.array([1, 1, 2], dtype="datetime64[ns]"))
    grouped = GroupedLogLossState()
    grouped.update([0.2, 0.7, 0.4], [0, 1, 1], keys)
    assert grouped.state(np.datetime64(1, "ns")).count == 2


def test_zoned_timestamp_keys_keep_zone():
    import datetime

    keys = pa.array([3600, 0, None, 3600], pa.timestamp("s", tz="America/New_York"))
    grouped = GroupedLogLossState()
    grouped.update([0.2, 0.7, 0.4, 0.6], [0, 1, 1, 0], keys)
    first, second, null = grouped.keys()
    assert first.isoformat() == "1969-12-31T19:00:00-05:00"
    assert second.isoformat() == "1969-12-31T20:00:00-05:00"
    assert null is None
    assert grouped.state(datetime.datetime(1970, 1, 1, 1, tzinfo=datetime.timezone.utc)).count == 2


def test_zoned_nanosecond_timestamps_in_microseconds():
    keys = pa.array([1000, 2000, 1000], pa.timestamp("ns", tz="UTC"))
    grouped = GroupedLogLossState()
    grouped.update([0.2, 0.7, 0.4], [0, 1, 1], keys)
    assert [key.microsecond for key in grouped.keys()] == [1, 2]


def test_zoned_then_naive_timestamps_rejected():
    grouped = GroupedLogLossState()
    grouped.update([0.2, 0.7], [0, 1], pa.array([0, 0], pa.timestamp("s", tz="Asia/Tokyo")))
    with pytest.raises(TypeError, match="of the type of the keys added before"):
        grouped.update([0.4, 0.6], [1, 0], pa.array([0, 0], pa.timestamp("s")))


@pytest.mark.parametrize("zoned_first", [True, False])
def test_mixed_zone_datetimes_rejected(zoned_first):
    import datetime

    zoned = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=5)))
    naive = datetime.datetime(2020, 1, 1)
    keys = [zoned, naive, None] if zoned_first else [naive, None, zoned]
    with pytest.raises(TypeError, match=r"all have a time zone or all have none, got 2020-01-01T00:00:00.* one at index [12]"):
        GroupedLogLossState().update([0.2, 0.7, 0.4], [0, 1, 1], keys)


def test_dst_fold_instants_stay_apart():
    # When the clocks go back, two instants share the wall-clock time 01:30.
    keys = pa.array(np.array([1636263000, 1636266600] * 2, dtype="datetime64[s]"), pa.timestamp("s")).cast(pa.timestamp("s", tz="America/New_York"))
    grouped = GroupedLogLossState()
    grouped.update([0.2, 0.7, 0.4, 0.9], [0, 1, 0, 1], keys)
    assert [key.isoformat() for key in grouped.keys()] == ["2021-11-07T01:30:00-04:00", "2021-11-07T01:30:00-05:00"]


def test_zoned_keys_with_nat_are_null():
    pd = pytest.importorskip("pandas")
    keys = pd.Series(pd.to_datetime(["2021-01-01", None, "2021-01-01"], utc=True))
    grouped = GroupedLogLossState()
    grouped.update([0.2, 0.3, 0.4], [0, 1, 1], keys)
    assert grouped.state(None).count == 1


@pytest.mark.parametrize(
    ("keys", "error", "message"),
    [
        (pa.array([0, 1, 2], pa.time64("ns")), TypeError, r"time64\[ns\] column; cast the column"),
        (pa.array([0, 1, 2], pa.timestamp("ns", tz="UTC")), TypeError, "got nanoseconds; cast the column to microseconds"),
        (pa.array([0, 1, 86_400_000], pa.date64()), ValueError, "must hold whole days in a date64 column"),
    ],
)
def test_keys_that_python_would_truncate_raise(keys, error, message):
    # Python's time, datetime and date would merge these distinct keys into one.
    with pytest.raises(error, match=message):
        GroupedLogLossState().update([0.2, 0.7, 0.4], [0, 1, 1], keys)


def test_whole_microsecond_times_are_keys():
    import datetime

    grouped = GroupedLogLossState()
    grouped.update([0.2, 0.7, 0.4], [0, 1, 1], pa.array([0, 1000, 1000], pa.time64("ns")))
    assert grouped.state(datetime.time(0, 0, 0, 1)).count == 2


def test_ungroupable_key_type_raises():
    pd = pytest.importorskip("pandas")
    keys = pd.Series(pd.period_range("2020-01", periods=2, freq="M"))
    with pytest.raises(TypeError, match=r"must hold keys that can be grouped .* convert the column to strings"):
        GroupedLogLossState().update([0.5, 0.5], [1, 0], keys)


def test_grouped_key_column_count_fixed():
    grouped = GroupedLogLossState()
    grouped.update([0.2, 0.7], [0, 1], ["a", "b"])
    with pytest.raises(ValueError, match="`keys` must have 1 column as in earlier updates, got 2"):
        grouped.update([0.2, 0.7], [0, 1], (["a", "b"], [1, 2]))
    assert grouped.total().count == 2
    other = GroupedLogLossState()
    other.update([0.2, 0.7], [0, 1], (["a", "b"], [1, 2]))
    with pytest.raises(ValueError, match="`other` must have 1 key column as this state, got 2"):
        grouped.merge(other)


def test_grouped_bool_then_int_keys_rejected():
    grouped = GroupedLogLossState()
    grouped.update([0.2, 0.7], [0, 1], np.array([True, False]))
    with pytest.raises(TypeError, match=r"`keys` must hold keys of the type .* got 0 of type int after True of type bool"):
        grouped.update([0.2, 0.7], [0, 1], np.array([1, 0]))
    assert grouped.keys() == [True, False]
    assert grouped.state(True).count == 1


def test_grouped_int_then_bool_keys_rejected():
    grouped = GroupedLogLossState()
    grouped.update([0.2, 0.7], [0, 1], [1, 0])
    with pytest.raises(TypeError, match="got False of type bool after 1 of type int in an earlier update"):
        grouped.update([0.2, 0.7], [0, 1], [False, True])
    assert grouped.total().count == 2


def test_bool_key_error_gives_reason():
    grouped = GroupedLogLossState()
    grouped.update([0.2, 0.7], [0, 1], [1, 0])
    with pytest.raises(TypeError, match="because keys such as True and 1 compare equal"):
        grouped.update([0.2, 0.7], [0, 1], [False, True])


def test_text_key_error_omits_bool_reason():
    grouped = GroupedLogLossState()
    grouped.update([0.2, 0.7], [0, 1], np.array([1, 0]))
    with pytest.raises(TypeError, match=r"got 'a' of type str .*convert the key column to one type$"):
        grouped.update([0.2, 0.7], [0, 1], ["a", "b"])


def test_grouped_int_then_float_keys_merge():
    # Integers and floats are one kind of key, within a column and across updates.
    grouped = GroupedLogLossState()
    grouped.update([0.2, 0.7], [0, 1], np.array([1, 2]))
    grouped.update([0.4], [1], np.array([1.0]))
    assert grouped.state(1).count == 2


def test_grouped_nulls_then_bool_keys_accepted():
    grouped = GroupedLogLossState()
    grouped.update([0.2, 0.7], [0, 1], [None, None])
    grouped.update([0.2, 0.7], [0, 1], [True, None])
    assert grouped.state(None).count == 3
    with pytest.raises(TypeError, match="got 1 of type int after True of type bool"):
        grouped.update([0.2], [0], [1])


def test_grouped_mixed_key_types_in_second_column():
    grouped = GroupedLogLossState()
    grouped.update([0.2, 0.7], [0, 1], (["a", "b"], np.array([1, 0])))
    with pytest.raises(TypeError, match=r"`keys\[1\]` must hold keys of the type .* got True of type bool"):
        grouped.update([0.2, 0.7], [0, 1], (["a", "b"], np.array([True, False])))
    assert grouped.total().count == 2


def test_grouped_merge_rejects_bool_and_int_keys():
    with_bool, with_int = GroupedLogLossState(), GroupedLogLossState()
    with_bool.update([0.2, 0.7], [0, 1], np.array([True, False]))
    with_int.update([0.2, 0.7], [0, 1], np.array([1, 0]))
    with pytest.raises(TypeError, match="got 0 of type int in `other` after True of type bool in this state"):
        with_bool.merge(with_int)
    with pytest.raises(TypeError, match="got True of type bool in `other` after 0 of type int in this state"):
        with_int.merge(with_bool)


def test_grouped_merge_names_key_column():
    left, right = GroupedLogLossState(), GroupedLogLossState()
    left.update([0.2], [0], (["a"], [1]))
    right.update([0.2], [0], (["a"], [True]))
    with pytest.raises(TypeError, match="in key column 1 of `other` after 1 of type int in key column 1 of this state"):
        left.merge(right)


def test_grouped_old_pickle_checks_key_types():
    grouped = GroupedLogLossState()
    grouped.update([0.2, 0.7], [0, 1], np.array([True, False]))
    restored = pickle.loads(pickle.dumps(grouped))
    del restored._key_examples  # as in a state pickled before the key types were kept
    with pytest.raises(TypeError, match="after True of type bool"):
        restored.update([0.2], [0], np.array([1]))


def test_grouped_fast_path_rejects_bool_then_int_keys():
    pytest.importorskip("numba")
    from logloss import _fast

    n = _fast.MIN_SIZE
    rng = np.random.default_rng(7)
    p, y = rng.random(n), (rng.random(n) < 0.5).astype(float)
    grouped = GroupedLogLossState()
    grouped.update(p, y, rng.random(n) < 0.5)
    with pytest.raises(TypeError, match="of type int after .* of type bool"):
        grouped.update(p, y, rng.integers(0, 2, n))
    assert grouped.total().count == n


@pytest.mark.parametrize("engine", ["reference", "numpy", "kernels"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_grouped_sums_within_ulp_of_exact(monkeypatch, engine, weighted):
    """Each segment's sums stay within 2 ulp of math.fsum of its terms, however many rows."""
    from logloss import _fast
    from logloss._grouped import row_terms
    from logloss._state import probability_loss

    if engine == "kernels" and not _fast.available():
        pytest.skip("numba is not installed")
    if engine == "reference":
        monkeypatch.setenv("LOGLOSS_DISABLE_FAST", "1")
    elif engine == "numpy":
        monkeypatch.setattr(_fast, "_kernels", None)
        monkeypatch.setattr(_fast, "_numpy_elements", 0)
    else:
        _fast._load_kernels()
    rng = np.random.default_rng(11)
    n = 400_000
    p = rng.random(n)
    y = (rng.random(n) < p).astype(np.float64)
    weights = rng.exponential(size=n) if weighted else None
    keys = rng.integers(0, 3, n)
    state = GroupedLogLossState()
    state.update(p, y, keys, weights=weights)

    loss = probability_loss(p, y, None)[0]
    terms = list(row_terms(p, y, loss, weights))
    worst = 0.0
    for key in range(3):
        rows = keys == key
        summed = state._high[state._index[key]] + state._low[state._index[key]]
        for field, term in enumerate(terms):
            exact = float(rows.sum()) if term is None else math.fsum(term[rows])
            worst = max(worst, abs(summed[field] - exact) / math.ulp(exact))
    assert worst <= 2.0


@pytest.mark.parametrize("arrow_type", [pa.int8(), pa.uint16(), pa.int32(), pa.int64()])
def test_grouped_arrow_integer_keys(arrow_type):
    values = [5, 3, 5, 0, 7, 3]
    keys = pa.array(values, type=arrow_type)
    grouped = GroupedLogLossState()
    grouped.update(np.full(6, 0.25), np.array([1, 0, 1, 0, 1, 1]), keys)
    assert sorted(grouped.states()) == [0, 3, 5, 7]
    assert all(type(key) is int for key in grouped.states())
    assert grouped.state(5).count == 2


def test_grouped_arrow_integer_keys_wide_range_and_nulls():
    wide = pa.array([2**62, -(2**62), 2**62], type=pa.int64())
    grouped = GroupedLogLossState()
    grouped.update(np.full(3, 0.5), np.array([1, 0, 1]), wide)
    assert grouped.state(2**62).count == 2
    with_null = pa.array([4, None, 4], type=pa.int32())
    grouped = GroupedLogLossState()
    grouped.update(np.full(3, 0.5), np.array([1, 0, 1]), with_null)
    assert sorted(grouped.states(), key=str) == [4, None]


def test_grouped_pandas_nullable_int_keys_stay_exact():
    pd = pytest.importorskip("pandas")
    keys = pd.Series([2**53, 2**53 + 1, None, 2**53, 2**53 + 1], dtype="Int64")
    grouped = GroupedLogLossState()
    grouped.update(np.full(5, 0.5), np.array([1, 0, 1, 0, 1]), keys)
    counts = {key: state.count for key, state in grouped.states().items()}
    assert counts == {2**53: 2, 2**53 + 1: 2, None: 1}
    assert all(type(key) is int for key in counts if key is not None)


def test_grouped_chunked_pandas_string_keys():
    pd = pytest.importorskip("pandas")
    # pd.concat of two pyarrow-backed string columns gives one column of two chunks.
    parts = [pd.Series(["a", "b"], dtype="string[pyarrow]"), pd.Series(["a"], dtype="string[pyarrow]")]
    keys = pd.concat(parts, ignore_index=True)
    assert isinstance(pa.array(keys), pa.ChunkedArray)
    grouped = GroupedLogLossState()
    grouped.update(np.array([0.2, 0.3, 0.4]), np.array([0, 1, 1]), keys)
    assert {key: state.count for key, state in grouped.states().items()} == {"a": 2, "b": 1}


def test_grouped_view_type_null_key_is_null():
    keys = pa.array(["", None, "x"], type=pa.string_view())
    grouped = GroupedLogLossState()
    grouped.update(np.full(3, 0.5), np.array([1, 0, 1]), keys)
    assert {key: state.count for key, state in grouped.states().items()} == {"": 1, None: 1, "x": 1}


@pytest.mark.parametrize("dtype", [np.float16, ">f8", ">i4"])
def test_grouped_half_and_big_endian_keys(dtype):
    grouped = GroupedLogLossState()
    grouped.update(np.full(3, 0.5), np.array([1, 0, 1]), np.array([1, 2, 1], dtype=dtype))
    assert {key: state.count for key, state in grouped.states().items()} == {1: 2, 2: 1}


def test_grouped_reference_sums_of_soft_labels_exact(monkeypatch):
    """The sum of 0.3 added one by one drifts in one direction; the tree of sums does not."""
    monkeypatch.setenv("LOGLOSS_DISABLE_FAST", "1")
    rng = np.random.default_rng(5)
    y = rng.choice([0.0, 0.3, 1.0], 33_000)
    grouped = GroupedLogLossState()
    grouped.update(np.full(y.size, 0.5), y, np.zeros(y.size, dtype=np.int64))
    field = SUM_FIELDS.index("wy")
    summed = grouped._high[0, field] + grouped._low[0, field]
    assert abs(summed - math.fsum(y)) <= 2 * math.ulp(math.fsum(y))


@pytest.mark.parametrize(
    "case",
    ["keys of two types", "key columns unlike earlier", "key count unlike rows"],
)
def test_value_error_comes_before_key_error(monkeypatch, case):
    # The fast path encodes the keys first, but it must still raise the reference path's error.
    p = np.full(2000, 0.5)
    p[7] = np.nan
    y = np.ones(2000)
    keys = {
        "keys of two types": np.array([1, "a"] * 1000, dtype=object),
        "key columns unlike earlier": np.zeros(2000, dtype=np.int64),
        "key count unlike rows": np.zeros(1000, dtype=np.int64),
    }[case]
    messages = []
    for disable in ("0", "1"):
        monkeypatch.setenv("LOGLOSS_DISABLE_FAST", disable)
        state = GroupedLogLossState()
        if case == "key columns unlike earlier":
            state.update(np.full(4, 0.5), np.ones(4), (np.zeros(4), np.zeros(4)))
        with pytest.raises(ValueError) as raised:
            state.update(p, y, keys)
        messages.append(str(raised.value))
    assert messages[0] == messages[1]
    assert "`y_pred` must not contain NaN" in messages[0]


@pytest.mark.parametrize("engine", ["numpy", "kernels"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("make_keys", [np.asarray, pa.array])
@pytest.mark.parametrize("largest", [124, 125])
def test_grouped_narrow_integer_keys_with_gaps(monkeypatch, engine, weighted, make_keys, largest):
    """Integer keys that span fewer than 128 values are encoded densely on the fast path.

    Keys with no row do not appear. From -3 to 124 the span is 128 keys, the dense range's
    limit, and from -3 to 125 it is 129.
    """
    from logloss import _fast
    from logloss._keys import DENSE_RANGE

    assert DENSE_RANGE == 128
    if engine == "kernels":
        if not _fast.available():
            pytest.skip("numba is not installed")
        _fast._load_kernels()
    else:
        monkeypatch.setattr(_fast, "_kernels", None)
        monkeypatch.setattr(_fast, "_numpy_elements", 0)
    rng = np.random.default_rng(31)
    size = 40_000
    p = rng.random(size)
    y = (rng.random(size) < p).astype(np.int8)
    keys = rng.choice([-3, 0, 2, 7, 100], size)
    keys[size // 2] = largest
    weights = rng.exponential(1.0, size) if weighted else None
    fast = GroupedLogLossState()
    fast.update(p, y, make_keys(keys), weights=weights)
    fast.update(p[:20_000], y[:20_000], make_keys(keys[:20_000]), weights=None if weights is None else weights[:20_000])
    reference = GroupedLogLossState()
    with monkeypatch.context() as patch:
        patch.setenv("LOGLOSS_DISABLE_FAST", "1")
        reference.update(p, y, make_keys(keys), weights=weights)
        reference.update(p[:20_000], y[:20_000], make_keys(keys[:20_000]), weights=None if weights is None else weights[:20_000])
    assert sorted(fast.keys()) == sorted(reference.keys())
    assert sorted(fast.keys()) == [-3, 0, 2, 7, 100, largest]
    for key in reference.keys():
        assert fast.state(key).count == reference.state(key).count
        for name in SUM_FIELDS:
            assert fast.state(key).sum(name) == pytest.approx(reference.state(key).sum(name), rel=1e-14, abs=0)
