import json

import numpy as np
import pytest

pytest.importorskip("click")
pytest.importorskip("rich")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("scipy")

from click.testing import CliRunner  # noqa: E402

from logloss import GroupedLogLossState, decompose  # noqa: E402
from logloss.cli import cli  # noqa: E402
from logloss.datasets import load_caravan  # noqa: E402

RTOL = 1e-12


def run(*args):
    return CliRunner().invoke(cli, ["score", *map(str, args)])


def run_json(*args):
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def segmented_file(tmp_path):
    rng = np.random.default_rng(4)
    n = 300
    p = rng.random(n)
    columns = {
        "label": (rng.random(n) < p).astype(np.int8),
        "prob": p,
        "region": np.array(["north", "south", None], dtype=object)[rng.integers(0, 3, n)],
        "tier": rng.integers(0, 2, n),
        "w": rng.uniform(0.5, 2.0, n),
    }
    path = tmp_path / "segments.parquet"
    pq.write_table(pa.table(columns), path)
    return path, columns


def test_by_matches_grouped_state(segmented_file):
    path, columns = segmented_file
    report = run_json(path, "--prob", "prob", "--by", "region", "--weight", "w")
    expected = GroupedLogLossState()
    expected.update(columns["prob"], columns["label"], columns["region"], weights=columns["w"])
    rows = report["segments"]["rows"]
    assert {row["segment"]["region"] for row in rows} == {"north", "south", None}
    for row in rows:
        state = expected.state(row["segment"]["region"]).result()
        np.testing.assert_allclose(row["log_loss"], state.log_loss, rtol=RTOL)
        assert row["count"] == state.count
    losses = [row["log_loss"] for row in rows]
    assert losses == sorted(losses, reverse=True)


def test_by_two_columns_sorted_by_segment(segmented_file):
    path, _ = segmented_file
    report = run_json(path, "--prob", "prob", "--by", "region", "--by", "tier", "--sort", "segment")
    keys = [(row["segment"]["region"], row["segment"]["tier"]) for row in report["segments"]["rows"]]
    assert keys == [("north", 0), ("north", 1), ("south", 0), ("south", 1), (None, 0), (None, 1)]
    assert report["segments"]["by"] == ["region", "tier"]


def test_min_segment_size_drops_small(segmented_file):
    path, columns = segmented_file
    sizes = {key: int(np.sum(columns["region"] == key)) for key in ("north", "south")}
    threshold = max(sizes.values())
    report = run_json(path, "--prob", "prob", "--by", "region", "--min-segment-size", threshold)
    assert all(row["count"] >= threshold for row in report["segments"]["rows"])
    assert len(report["segments"]["rows"]) < 3


def test_ne_baseline_global(segmented_file):
    path, _ = segmented_file
    report = run_json(path, "--prob", "prob", "--by", "tier", "--ne-baseline", "global")
    entropy = report["result"]["entropy"]
    for row in report["segments"]["rows"]:
        np.testing.assert_allclose(row["normalized_entropy"], row["log_loss"] / entropy, rtol=RTOL)
    assert report["segments"]["ne_baseline"] == "global"


def test_by_table_shows_segments():
    result = run("--by", "customer_type", "--min-segment-size", "500")
    assert result.exit_code == 0, result.output
    assert "log loss by customer_type" in result.stdout
    assert "type 8" in result.stdout
    assert "type 4" not in result.stdout


def test_by_missing_column_fails():
    result = run("--by", "no_such_column")
    assert result.exit_code == 1
    assert "no_such_column" in result.stderr


def test_by_repeated_column_fails():
    result = run("--by", "customer_type", "--by", "customer_type")
    assert result.exit_code == 2
    assert "--by must name each column once, got 'customer_type' more than once." in result.stderr


def test_decompose_exact_matches_library():
    data = load_caravan()
    report = run_json("--decompose")
    expected = decompose(data["prob"], data["label"])
    figures = report["decomposition"]
    assert figures["method"] == "exact"
    for name in ("score", "miscalibration", "discrimination", "uncertainty"):
        np.testing.assert_allclose(figures[name], getattr(expected, name), rtol=RTOL)
    assert figures["error_bound"] is None


def test_json_keys_segments_and_decomposition():
    report = run_json("--by", "customer_type", "--decompose")
    assert list(report)[-2:] == ["segments", "decomposition"]
    assert list(report["segments"]) == ["by", "ne_baseline", "sort", "min_segment_size", "rows"]
    assert list(report["segments"]["rows"][0])[0] == "segment"
    expected = [
        "score",
        "miscalibration",
        "discrimination",
        "uncertainty",
        "normalized_entropy",
        "method",
        "base_rate",
        "count",
        "weight_sum",
        "n_infinite",
        "error_bound",
        "exact_max_rows",
    ]
    assert sorted(report["decomposition"]) == sorted(expected)


def test_decompose_binned_above_exact_max_rows():
    data = load_caravan()
    report = run_json("--decompose", "--exact-max-rows", "1000", "--batch-size", "500")
    figures = report["decomposition"]
    exact = decompose(data["prob"], data["label"])
    assert figures["method"] == "binned"
    assert figures["exact_max_rows"] == 1000
    assert 0.0 <= exact.discrimination - figures["discrimination"] <= figures["error_bound"]
    np.testing.assert_allclose(figures["score"], exact.score, rtol=RTOL)


def test_decompose_table_names_method():
    result = run("--decompose")
    assert result.exit_code == 0, result.output
    assert "miscalibration (MCB)" in result.stdout
    assert "exact" in result.stdout


def test_decompose_logit_column():
    data = load_caravan()
    report = run_json("--logit", "logit", "--decompose")
    np.testing.assert_allclose(report["decomposition"]["score"], decompose(data["prob"], data["label"]).score, rtol=1e-9)


def test_decompose_with_clip_scores_clipped(tmp_path):
    path = tmp_path / "hard.parquet"
    pq.write_table(pa.table({"label": [1, 0, 1], "prob": [0.0, 0.2, 0.9]}), path)
    report = run_json(path, "--prob", "prob", "--clip", "1e-6", "--decompose")
    np.testing.assert_allclose(report["decomposition"]["score"], report["result"]["log_loss"], rtol=RTOL)
    unclipped = run_json(path, "--prob", "prob", "--decompose")
    assert unclipped["decomposition"]["score"] == "inf"
    assert unclipped["decomposition"]["n_infinite"] == 1


def test_by_signed_zero_keys_one_segment(tmp_path):
    path = tmp_path / "zeros.parquet"
    columns = {"label": [0, 1, 0, 1], "prob": [0.2, 0.3, 0.4, 0.6], "seg": [0.0, -0.0, 0.0, -0.0]}
    pq.write_table(pa.table(columns), path)
    report = run_json(path, "--prob", "prob", "--by", "seg")
    rows = report["segments"]["rows"]
    assert [row["count"] for row in rows] == [4]


@pytest.mark.parametrize(
    ("option", "mode"),
    [
        (["--sort", "rows"], "--by"),
        (["--min-segment-size", "5"], "--by"),
        (["--ne-baseline", "global"], "--by"),
        (["--exact-max-rows", "10"], "--decompose"),
    ],
)
def test_mode_option_without_mode_fails(segmented_file, option, mode):
    path, _ = segmented_file
    result = run(path, "--prob", "prob", *option)
    assert result.exit_code == 2, result.output
    assert f"{option[0]} applies only with {mode}" in result.output


def test_by_list_column_fails(tmp_path):
    path = tmp_path / "lists.parquet"
    pq.write_table(pa.table({"label": [0, 1], "prob": [0.2, 0.7], "l": [[1], [2, 3]]}), path)
    result = run(path, "--prob", "prob", "--by", "l")
    assert result.exit_code == 1, result.output
    assert f"logloss: error: {path}: column `l` must hold scalar values to group by, got type list<" in result.stderr
    assert "Traceback" not in result.output


def test_by_csv_keys_read_as_text(tmp_path):
    path = tmp_path / "zip.csv"
    path.write_text("label,p,zip\n1,0.9,02134\n1,0.1,2134\n0,0.5,01\n0,0.5,1\n1,0.5,1.0\n0,0.5,\n")
    rows = run_json(path, "--prob", "p", "--by", "zip")["segments"]["rows"]
    counts = {row["segment"]["zip"]: row["count"] for row in rows}
    assert counts == {"02134": 1, "2134": 1, "01": 1, "1": 1, "1.0": 1, None: 1}


def test_by_csv_empty_key_is_null(tmp_path):
    # An empty cell, quoted or not, is a null key as a Parquet null is. "NA" is a key.
    csv_path = tmp_path / "keys.csv"
    csv_path.write_text('label,p,region\n1,0.9,north\n0,0.2,\n1,0.6,""\n0,0.4,NA\n')
    parquet_path = tmp_path / "keys.parquet"
    pq.write_table(
        pa.table({"label": [1, 0, 1, 0], "p": [0.9, 0.2, 0.6, 0.4], "region": ["north", None, None, "NA"]}),
        parquet_path,
    )
    csv_rows = run_json(csv_path, "--prob", "p", "--by", "region", "--sort", "segment")["segments"]["rows"]
    parquet_rows = run_json(parquet_path, "--prob", "p", "--by", "region", "--sort", "segment")["segments"]["rows"]
    assert [(row["segment"]["region"], row["count"]) for row in csv_rows] == [("NA", 1), ("north", 1), (None, 2)]
    assert csv_rows == parquet_rows


def test_by_csv_null_key_in_table(tmp_path):
    path = tmp_path / "keys.csv"
    path.write_text("label,p,region\n1,0.9,north\n0,0.2,\n")
    result = run(path, "--prob", "p", "--by", "region", "--sort", "segment")
    assert result.exit_code == 0, result.output
    last_row = [line for line in result.stdout.splitlines() if line.startswith("│")][-1]
    assert last_row.split("│")[1].strip() == "(null)"


def test_null_key_differs_from_text(tmp_path):
    path = tmp_path / "keys.parquet"
    regions = ["null", None, "", "(null)", " ", '""']
    pq.write_table(pa.table({"label": [1, 0] * 3, "p": [0.6] * 6, "region": regions}), path)
    result = run(path, "--prob", "p", "--by", "region", "--sort", "segment")
    assert result.exit_code == 0, result.output
    rows = [line.split("│")[1].strip() for line in result.stdout.splitlines() if line.startswith("│")]
    assert sorted(rows[-6:]) == sorted(['""', '" "', '"\\"\\""', '"(null)"', "null", "(null)"])


def test_by_csv_text_key_after_first_block(tmp_path):
    # pyarrow infers types from the first 1 MiB block, where these keys are all numbers.
    path = tmp_path / "late.csv"
    path.write_text("label,p,seg\n" + "1,0.5,0\n0,0.5,1\n" * 80_000 + "1,0.5,abc\n")
    rows = run_json(path, "--prob", "p", "--by", "seg", "--sort", "segment")["segments"]["rows"]
    assert [(row["segment"]["seg"], row["count"]) for row in rows] == [("0", 80_000), ("1", 80_000), ("abc", 1)]


def test_by_csv_invalid_utf8_key_fails(tmp_path):
    path = tmp_path / "keys.csv"
    path.write_bytes(b"label,p,k\n1,0.9,north\n0,0.2,s\xe9d\n")
    result = run(path, "--prob", "p", "--by", "k")
    assert result.exit_code == 1, result.output
    expected = f"logloss: error: {path}: column `k` must contain UTF-8 text, got the bytes b's\\xe9d' at row 1 (0-based)"
    assert expected in result.stderr
    assert "must contain numbers" not in result.stderr


def test_by_parquet_keeps_stored_type(segmented_file):
    path, _ = segmented_file
    rows = run_json(path, "--prob", "prob", "--by", "tier")["segments"]["rows"]
    assert {row["segment"]["tier"] for row in rows} == {0, 1}


@pytest.fixture
def long_segmented_file(tmp_path):
    """A Parquet file long enough for the compiled grouped pass (batches of 40,000 rows)."""
    rng = np.random.default_rng(12)
    n = 120_000
    p = rng.random(n)
    columns = {
        "label": (rng.random(n) < p).astype(np.int8),
        "prob": p,
        "segment": rng.integers(-3, 40, n).astype(np.int32),
    }
    path = tmp_path / "long.parquet"
    pq.write_table(pa.table(columns), path)
    return path, columns


def test_by_one_pass_matches_reference(long_segmented_file, monkeypatch):
    from logloss import LogLossState, _fast
    from logloss._file_details import DetailCollector
    from logloss._score_file import scan_file

    if not _fast.available():
        pytest.skip("numba is not installed")
    path, columns = long_segmented_file
    _fast._load_kernels()  # otherwise a file this short is read in batches below the kernels' minimum
    # The grouped pass must fill the file's sums: the ungrouped kernel is not called.
    monkeypatch.setattr(_fast, "state_sums", lambda *args, **kwargs: pytest.fail("second pass over the rows"))
    details = DetailCollector(scale="prob", by=("segment",))
    scan = scan_file(
        path,
        label="label",
        prob="prob",
        batch_size=40_000,
        string_columns=("segment",),
        on_batch=details,
        add_fast=details.add_fast,
    )
    monkeypatch.undo()

    expected = LogLossState()
    expected.update(columns["prob"], columns["label"])
    assert scan.state.count == expected.count
    assert scan.result().log_loss == pytest.approx(expected.result().log_loss, rel=4e-16, abs=0)
    reference = GroupedLogLossState()
    reference.update(columns["prob"], columns["label"], columns["segment"].astype(np.int64))
    segments = details.segments.results()
    assert sorted(segments) == sorted(reference.results())
    for key, result in reference.results().items():
        assert isinstance(key, int)
        assert segments[key].count == result.count
        assert segments[key].log_loss == pytest.approx(result.log_loss, rel=4e-16, abs=0)


def test_by_one_pass_invalid_row_named(long_segmented_file, tmp_path):
    from logloss import _fast

    if _fast.available():
        _fast._load_kernels()  # the grouped pass meets the invalid value first
    path, columns = long_segmented_file
    columns = dict(columns, prob=columns["prob"].copy())
    columns["prob"][70_123] = 1.5
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table(columns), bad)
    result = run(bad, "--label", "label", "--prob", "prob", "--by", "segment", "--batch-size", "40000")
    assert result.exit_code == 1
    assert "70123" in result.output
    assert "1.5" in result.output


def test_by_single_class_segment_warns():
    report = run_json("--by", "customer_type")
    rows = {row["segment"]["customer_type"]: row for row in report["segments"]["rows"]}
    assert rows["type 4"]["normalized_entropy"] == "inf"
    assert report["warnings"] == [
        "normalized entropy or calibration ratio is inf or NaN in 1 of 10 segments (first: type 4) "
        "because their labels are all equal or their total weight is 0"
    ]


def test_by_single_class_warning_printed():
    result = run("--by", "customer_type")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("logloss: warning:") == 1
    assert "in 1 of 10 segments (first: type 4)" in result.stderr


def test_by_two_columns_warning_names_key(tmp_path):
    columns = {
        "label": np.array([0, 0, 1, 0, 1, 1], dtype=np.int8),
        "prob": np.array([0.2, 0.3, 0.6, 0.4, 0.7, 0.8]),
        "region": np.array(["east", "east", "west", "west", "north", None], dtype=object),
        "tier": np.array([1, 1, 2, 2, 3, 3]),
    }
    path = tmp_path / "segments.parquet"
    pq.write_table(pa.table(columns), path)
    report = run_json(path, "--prob", "prob", "--by", "region", "--by", "tier", "--sort", "segment")
    (warning,) = report["warnings"]
    assert "in 3 of 4 segments (first: east, 1)" in warning


def test_by_warning_skips_defined_segments(segmented_file):
    path, _ = segmented_file
    assert run_json(path, "--prob", "prob", "--by", "region")["warnings"] == []


def test_segment_baseline_entropy(segmented_file):
    path, _ = segmented_file
    own = run_json(path, "--prob", "prob", "--by", "tier")
    for row in own["segments"]["rows"]:
        assert row["baseline_entropy"] == row["entropy"]
    report = run_json(path, "--prob", "prob", "--by", "tier", "--ne-baseline", "global")
    for row in report["segments"]["rows"]:
        assert row["baseline_entropy"] == report["result"]["entropy"]
        assert row["baseline_entropy"] != row["entropy"]
        np.testing.assert_allclose(row["log_loss"] / row["baseline_entropy"], row["normalized_entropy"], rtol=RTOL)


def table_columns(text, top, bottom):
    """Return the text of each column between the table lines starting with `top` and `bottom`.

    A column's text is its stripped line pieces joined without spaces, so that a wrapped or
    folded heading or key compares equal to its text with the spaces removed.
    """
    lines = text.splitlines()
    first = next(index for index, line in enumerate(lines) if line.startswith(top))
    last = next(index for index, line in enumerate(lines) if index > first and line.startswith(bottom))
    pieces = [line.strip("┃│").replace("│", "┃").split("┃") for line in lines[first + 1 : last]]
    return ["".join(piece.strip() for piece in column).replace(" ", "") for column in zip(*pieces)]


def run_at_width_80(*args):
    result = CliRunner().invoke(cli, ["score", *map(str, args)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return result.stdout


FIGURE_HEADINGS = ["logloss", "normalizedentropy", "calibrationratio", "rows", "weightsum"]


def test_by_table_header_whole_at_80():
    text = run_at_width_80("--by", "customer_type")
    table = text[text.index("log loss by customer_type") :]
    assert max(len(line) for line in table.splitlines()) <= 80
    assert "…" not in table
    assert table_columns(table, "┏", "┡") == ["customer_type", *FIGURE_HEADINGS]


def test_by_table_long_keys_whole_at_80(tmp_path):
    path = tmp_path / "long.parquet"
    names = ["small business owners", "retired couples", "students"]
    pq.write_table(
        pa.table({
            "label": [1, 0, 1, 0, 1, 0],
            "prob": [0.8, 0.3, 0.6, 0.1, 0.7, 0.4],
            "customer_segment_name": [names[0], names[0], names[1], names[1], names[2], names[2]],
            "sales_region_name": ["north", "north", "south", "south", "north", "north"],
        }),
        path,
    )
    text = run_at_width_80(path, "--prob", "prob", "--by", "customer_segment_name", "--by", "sales_region_name", "--sort", "segment")
    table = text[text.index("log loss by") :]
    assert max(len(line) for line in table.splitlines()) <= 80
    assert "…" not in table
    headings = table_columns(table, "┏", "┡")
    assert headings == ["customer_segment_name", "sales_region_name", *FIGURE_HEADINGS]
    keys, regions, *_ = table_columns(table, "┡", "└")
    assert keys == "".join(sorted(name.replace(" ", "") for name in names))
    assert regions == "southnorthnorth"


def test_share_widths_narrowest_first():
    from logloss._cli_details import MIN_KEY_WIDTH, _share_widths

    # Columns narrower than an equal share keep their width, and the widest takes the rest.
    assert _share_widths([5, 21, 6], 30) == [5, 19, 6]
    assert _share_widths([5, 21, 6], 40) == [5, 21, 6]
    # Below MIN_KEY_WIDTH a column keeps the floor, and the table is wider than the terminal.
    assert _share_widths([20, 20], 4) == [MIN_KEY_WIDTH, MIN_KEY_WIDTH]
    assert _share_widths([3, 20], 4) == [3, MIN_KEY_WIDTH]


def test_zoned_timestamp_segments_show_offset(tmp_path):
    path = tmp_path / "zoned.parquet"
    hours = pa.array([0, 3600, 0, 3600] * 25, pa.timestamp("s", tz="America/New_York"))
    p = np.linspace(0.1, 0.9, 100)
    pq.write_table(pa.table({"label": (p > 0.5).astype(np.int8), "prob": p, "hour": hours}), path)
    segments = run_json(path, "--prob", "prob", "--by", "hour")["segments"]["rows"]
    assert sorted(row["segment"]["hour"] for row in segments) == ["1969-12-31 19:00:00-05:00", "1969-12-31 20:00:00-05:00"]


def test_nanosecond_time_key_rejected(tmp_path):
    path = tmp_path / "times.parquet"
    pq.write_table(pa.table({"label": [1, 0], "prob": [0.9, 0.2], "tm": pa.array([1, 2], pa.time64("ns"))}), path)
    result = run(path, "--prob", "prob", "--by", "tm")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    message = f"logloss: error: {path}: column `tm` must hold times that Python's datetime.time can hold"
    assert result.output.startswith(message), result.output
    assert "cast the column to int64 nanoseconds or to strings" in result.output
