import builtins
import gzip
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from logloss import (  # noqa: E402
    DataFileError,
    DataFileTypeError,
    LogLossState,
    UndefinedMetricWarning,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    score_file,
)
from logloss import _io  # noqa: E402
from logloss._io import read_batches  # noqa: E402
from logloss._score_file import scan_file  # noqa: E402
from logloss.datasets import caravan_path, load_caravan  # noqa: E402

RTOL = 1e-12
FIGURES = ("log_loss", "normalized_entropy", "base_rate", "mean_prediction", "calibration_ratio", "weight_sum")


def write_parquet(path, **columns):
    pq.write_table(pa.table(columns), path)
    return path


def write_csv(path, header, rows):
    text = header + "\n" + "".join(row + "\n" for row in rows)
    path.write_text(text)
    return path


def random_rows(n, seed):
    rng = np.random.default_rng(seed)
    prob = rng.uniform(0.01, 0.99, n)
    label = (rng.random(n) < prob).astype(np.int64)
    weight = rng.uniform(0.0, 3.0, n)
    return prob, label, weight


def assert_same_figures(result, expected):
    for name in FIGURES:
        np.testing.assert_allclose(getattr(result, name), getattr(expected, name), rtol=RTOL, err_msg=name)
    assert result.count == expected.count


def test_caravan_load_columns():
    data = load_caravan()
    assert caravan_path().is_file()
    assert data["label"].dtype == np.int8
    assert data["prob"].dtype == np.float64
    assert data["row_id"].dtype == np.int32
    assert data["customer_type"][0].startswith("type ")
    assert all(len(values) == 5822 for values in data.values())


def test_score_file_caravan_matches_loss():
    data = load_caravan()
    result = score_file(caravan_path(), label="label", prob="prob")
    assert result.count == 5822
    np.testing.assert_allclose(result.log_loss, binary_cross_entropy(data["prob"], data["label"]), rtol=RTOL)


def test_score_file_logit_matches_loss():
    data = load_caravan()
    result = score_file(caravan_path(), label="label", logit="logit")
    expected = binary_cross_entropy_with_logits(data["logit"], data["label"])
    np.testing.assert_allclose(result.log_loss, expected, rtol=RTOL)


def test_read_batches_sizes_and_starts():
    batches = list(read_batches(caravan_path(), ["label", "prob", "label"], batch_size=2000))
    assert [(batch.start, len(batch)) for batch in batches] == [(0, 2000), (2000, 2000), (4000, 1822)]
    assert list(batches[0].columns) == ["label", "prob"]


def test_read_batches_raw_columns():
    batches = list(read_batches(caravan_path(), ["label"], raw_columns=["customer_type", "label"], batch_size=5000))
    assert list(batches[0].raw) == ["customer_type"]
    assert batches[0].raw["customer_type"][0].as_py() == "type 8"
    assert len(batches[1].raw["customer_type"]) == 822


def test_read_batches_parquet_zero_copy():
    batch = next(read_batches(caravan_path(), ["prob"], batch_size=100))
    # A view of pyarrow's buffer is read-only and owns no data.
    assert not batch.columns["prob"].flags.owndata
    assert not batch.columns["prob"].flags.writeable


@pytest.mark.parametrize(
    "array",
    [
        pa.array(np.arange(-50, 50, dtype=np.int16)),
        pa.array(np.linspace(0.0, 1.0, 100)),
        pa.array(np.linspace(0.0, 1.0, 100, dtype=np.float32)),
        pa.array(np.arange(100) % 3 == 0),
        pa.array(np.arange(100, dtype=np.uint64) + 2**63),
    ],
    ids=["int16", "float64", "float32", "bool", "uint64"],
)
def test_numpy_view_matches_to_numpy(array):
    # Slices start inside a byte of the boolean bitmap and inside the data buffer.
    for piece in (array, array.slice(3), array.slice(11, 70), array.slice(100)):
        view = _io.numpy_view(piece)
        expected = piece.to_numpy(zero_copy_only=False)
        assert view.dtype == expected.dtype
        np.testing.assert_array_equal(view, expected)
        if not pa.types.is_boolean(piece.type):
            assert not view.flags.writeable


def test_read_batches_does_not_import_pandas(tmp_path):
    # pyarrow's to_numpy imports pandas, which added 0.26 s to 1 s to a first call.
    path = write_parquet(tmp_path / "scores.parquet", label=np.array([0, 1], dtype=np.int8), prob=[0.2, 0.7])
    script = (
        "import sys\n"
        "from logloss._io import read_batches\n"
        f"batches = list(read_batches({str(path)!r}, ['label', 'prob']))\n"
        "print('pandas' in sys.modules)\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "False"


def _score_in_new_process(path, by=None):
    """Score `path` in a fresh interpreter; return its figures and whether numba was loaded."""
    script = (
        "import json, sys\n"
        "from logloss import _score_file\n"
        f"scan = _score_file.scan_file({str(path)!r}, label='label', prob='prob')\n"
        "print(json.dumps([scan.result().to_dict(), 'numba' in sys.modules]))\n"
    )
    if by is not None:
        script = (
            "import json, sys\n"
            "from logloss._grouped import GroupedLogLossState\n"
            "import pyarrow.parquet as pq\n"
            f"table = pq.read_table({str(path)!r})\n"
            "state = GroupedLogLossState()\n"
            f"state.update(table['prob'].to_numpy(), table['label'].to_numpy(), table[{by!r}].to_numpy())\n"
            "print(json.dumps([state.total().result().to_dict(), 'numba' in sys.modules]))\n"
        )
    env = {key: value for key, value in os.environ.items() if key != "LOGLOSS_DISABLE_FAST"}
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
    return json.loads(completed.stdout)


@pytest.mark.parametrize("by", [None, "segment"])
def test_score_file_does_not_load_numba(tmp_path, by):
    # The blocked NumPy sums take about as long per row as numba's kernels, so a process
    # does not pay about 1 s to load numba for them (see _fast.state_sums).
    rng = np.random.default_rng(7)
    rows = 300_000
    prob = rng.random(rows)
    label = (rng.random(rows) < prob).astype(np.int8)
    path = write_parquet(tmp_path / "scores.parquet", label=label, prob=prob, segment=rng.integers(0, 50, rows))

    figures, loaded_numba = _score_in_new_process(path, by)

    assert not loaded_numba
    expected = score_file(path, label="label", prob="prob").to_dict()
    assert figures["count"] == expected["count"] == rows
    for name in FIGURES:
        assert figures[name] == pytest.approx(expected[name], rel=RTOL, abs=0)


def test_read_batches_rejects_bad_batch_size():
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer, got 0"):
        read_batches(caravan_path(), ["prob"], batch_size=0)


def test_score_file_csv_matches_loss(tmp_path):
    prob, label, _ = random_rows(300, seed=1)
    rows = [f"{y},{float(p)!r}" for y, p in zip(label, prob)]
    path = write_csv(tmp_path / "scores.csv", "label,prob", rows)
    result = score_file(path, label="label", prob="prob")
    np.testing.assert_allclose(result.log_loss, binary_cross_entropy(prob, label), rtol=RTOL)
    assert result.count == 300


def test_score_file_csv_gz(tmp_path):
    prob, label, _ = random_rows(50, seed=2)
    text = "y,p\n" + "".join(f"{y},{float(p)!r}\n" for y, p in zip(label, prob))
    path = tmp_path / "scores.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    result = score_file(path, label="y", prob="p")
    np.testing.assert_allclose(result.log_loss, binary_cross_entropy(prob, label), rtol=RTOL)


def test_score_file_parquet_weights(tmp_path):
    prob, label, weight = random_rows(400, seed=3)
    path = write_parquet(tmp_path / "scores.pq", label=label, prob=prob, w=weight)
    result = score_file(path, label="label", prob="prob", weight="w")
    expected = binary_cross_entropy(prob, label, weights=weight)
    np.testing.assert_allclose(result.log_loss, expected, rtol=RTOL)
    np.testing.assert_allclose(result.weight_sum, weight.sum(), rtol=RTOL)


@pytest.mark.parametrize("batch_size", [1, 7, 1000])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_score_file_batch_size_invariant(tmp_path, batch_size, suffix):
    prob, label, weight = random_rows(500, seed=4)
    path = tmp_path / f"scores{suffix}"
    if suffix == ".csv":
        rows = [f"{y},{float(p)!r},{float(w)!r}" for y, p, w in zip(label, prob, weight)]
        write_csv(path, "label,prob,weight", rows)
    else:
        write_parquet(path, label=label, prob=prob, weight=weight)
    one_call = LogLossState()
    one_call.update(prob, label, weights=weight)
    result = score_file(path, label="label", prob="prob", weight="weight", batch_size=batch_size)
    assert_same_figures(result, one_call.result())


def test_score_file_clip_counts(tmp_path):
    path = write_parquet(tmp_path / "s.parquet", label=np.array([1, 0, 1]), prob=np.array([0.0, 0.5, 1.0]))
    result = score_file(path, label="label", prob="prob", clip=1e-6)
    # p = 0 with label 1 is clipped; p = 1 with label 1 is certain and right, so it is not.
    assert result.n_clipped == 1
    expected = binary_cross_entropy(np.array([0.0, 0.5, 1.0]), np.array([1, 0, 1]), clip=1e-6)
    np.testing.assert_allclose(result.log_loss, expected, rtol=RTOL)


def test_scan_file_first_infinite_row(tmp_path):
    # Row 3 would be infinite but has weight 0; rows 4 and 5 are infinite.
    prob = np.array([0.5, 0.2, 0.0, 0.0, 0.0, 0.0])
    label = np.array([1, 0, 0, 1, 1, 1])
    weight = np.array([1.0, 1.0, 1.0, 0.0, 1.0, 1.0])
    path = write_parquet(tmp_path / "s.parquet", label=label, prob=prob, weight=weight)
    scan = scan_file(path, label="label", prob="prob", weight="weight", batch_size=2)
    assert scan.first_infinite_row == 4
    assert scan.state.n_infinite == 2


@pytest.mark.parametrize("scale", ["prob", "logit"])
def test_first_infinite_row_large_batches(tmp_path, monkeypatch, scale):
    """Batches large enough for the fast path split their infinite rows off, and the figures stay."""
    rng = np.random.default_rng(42)
    prob = rng.random(15_000)
    label = (rng.random(15_000) < prob).astype(np.int8)
    weight = rng.exponential(1.0, 15_000)
    # Row 100 would be infinite but has weight 0. Rows 6000 and 12000 are infinite.
    prob[[100, 6000, 12_000]], label[[100, 6000, 12_000]] = [0.0, 1.0, 0.0], [1, 0, 1]
    weight[100] = 0.0
    with np.errstate(divide="ignore"):
        logit = np.log(prob) - np.log1p(-prob)
    path = write_parquet(tmp_path / "s.parquet", label=label, prob=prob, logit=logit, weight=weight)
    columns = {scale: scale}
    scan = scan_file(path, label="label", weight="weight", batch_size=5000, **columns)
    assert scan.first_infinite_row == 6000
    assert scan.state.n_infinite == 2
    with monkeypatch.context() as patch:
        patch.setenv("LOGLOSS_DISABLE_FAST", "1")
        reference = scan_file(path, label="label", weight="weight", batch_size=5000, **columns)
    for name in ("count", "weight_sum", "base_rate", "mean_prediction"):
        np.testing.assert_allclose(getattr(scan.result(), name), getattr(reference.result(), name), rtol=1e-14)


def test_scan_file_first_infinite_logit(tmp_path):
    path = write_parquet(tmp_path / "s.parquet", label=np.array([1, 1, 0]), logit=np.array([1.0, -np.inf, 2.0]))
    scan = scan_file(path, label="label", logit="logit")
    assert scan.first_infinite_row == 1


def test_score_file_both_prob_and_logit():
    with pytest.raises(TypeError, match="exactly one of `prob`.*got both"):
        score_file(caravan_path(), label="label", prob="prob", logit="logit")


def test_score_file_neither_prob_nor_logit():
    with pytest.raises(TypeError, match="exactly one of `prob`.*got neither"):
        score_file(caravan_path(), label="label")


def test_error_nan_label(tmp_path):
    path = write_parquet(tmp_path / "s.parquet", label=np.array([1.0, 0.0, np.nan]), prob=np.full(3, 0.5))
    with pytest.raises(DataFileError, match=r"s\.parquet: column `label` must not contain NaN, got NaN at row 2 \(0-based\)") as info:
        score_file(path, label="label", prob="prob")
    assert (info.value.column, info.value.row) == ("label", 2)


def test_error_csv_nan_label_is_null(tmp_path):
    path = write_csv(tmp_path / "s.csv", "label,prob", ["1,0.5", "nan,0.5", "0,0.5"])
    with pytest.raises(DataFileError, match=r"s\.csv: column `label` must not contain missing values, got a null at row 1 \(0-based\)"):
        score_file(path, label="label", prob="prob")


def test_error_null_batch_of_one_row(tmp_path):
    path = write_csv(tmp_path / "s.csv", "label,prob", ["1,0.5", "nan,0.5"])
    with pytest.raises(DataFileError, match=r"\(1 null in this batch of 1 row\)"):
        score_file(path, label="label", prob="prob", batch_size=1)


def test_error_label_two(tmp_path):
    # A CSV cell of 2 shows as 2, although the column is read as float64.
    path = write_csv(tmp_path / "s.csv", "label,prob", ["1,0.5", "0,0.5", "0,0.5", "2,0.5"])
    with pytest.raises(DataFileError, match=r"s\.csv: column `label` must contain labels in \[0, 1\], got 2 at row 3 \(0-based\)"):
        score_file(path, label="label", prob="prob", batch_size=2)


@pytest.mark.parametrize(
    ("suffix", "cell", "shown"),
    [("csv", "1.5", "1.5"), ("csv", "-3", "-3"), ("csv", "1e3", "1000"), ("parquet", "2.0", "2.0")],
)
def test_error_label_value_text(tmp_path, suffix, cell, shown):
    if suffix == "csv":
        path = write_csv(tmp_path / "s.csv", "label,prob", ["1,0.5", f"{cell},0.5"])
    else:
        path = write_parquet(tmp_path / "s.parquet", label=np.array([1.0, float(cell)]), prob=np.full(2, 0.5))
    with pytest.raises(DataFileError, match=rf"labels in \[0, 1\], got {re.escape(shown)} at row 1 "):
        score_file(path, label="label", prob="prob")


def test_error_probability_above_one(tmp_path):
    path = write_parquet(tmp_path / "s.parquet", label=np.array([1, 0]), p=np.array([0.5, 1.5]))
    with pytest.raises(DataFileError, match=r"column `p` must contain probabilities in \[0, 1\], got 1.5 at row 1 \(0-based\).*--logit"):
        score_file(path, label="label", prob="p")


def test_error_nan_probability(tmp_path):
    path = write_parquet(tmp_path / "s.parquet", label=np.array([1, 0]), p=np.array([np.nan, 0.5]))
    with pytest.raises(DataFileError, match=r"column `p` must not contain NaN, got NaN at row 0 \(0-based\).*impute") as info:
        score_file(path, label="label", prob="p")
    assert "--logit" not in str(info.value)


@pytest.mark.parametrize("weight", ["1e-200", "1e200"])
def test_error_weight_out_of_range(tmp_path, weight):
    rows = ["1,0.5,1"] * 4466 + [f"0,0.5,{weight}", "0,0.5,0"]
    path = write_csv(tmp_path / "w.csv", "label,prob,w", rows)
    with pytest.raises(DataFileError, match=r"w\.csv: column `w` must contain weights of 0 or between 1e-120 and 1e\+120, got .* at row 4466 \(0-based\)") as caught:
        score_file(path, label="label", prob="prob", weight="w", batch_size=1000)
    assert (caught.value.column, caught.value.row) == ("w", 4466)


def test_read_batches_string_columns_csv(tmp_path):
    path = write_csv(tmp_path / "k.csv", "label,zip,id", ["1,02134,7", "0,,", "1,1.0,8"])
    (batch,) = read_batches(path, ["label"], raw_columns=["id"], string_columns=["zip"])
    assert batch.raw["zip"].to_pylist() == ["02134", "", "1.0"]
    assert batch.raw["id"].to_pylist() == [7, None, 8]


def test_key_columns_csv_empty_null(tmp_path):
    path = write_csv(tmp_path / "k.csv", "label,p,zip,id", ['1,0.5,02134,a', '0,0.5,,', '1,0.5,"",""', "0,0.5,NA,NA"])
    (batch,) = read_batches(path, ["label", "p"], string_columns=["id"], key_columns=["zip"])
    # Only the key column reads an empty cell, quoted or not, as null.
    assert batch.raw["zip"].to_pylist() == ["02134", None, None, "NA"]
    assert batch.raw["id"].to_pylist() == ["a", "", "", "NA"]
    assert batch.columns["p"].tolist() == [0.5] * 4


def test_key_columns_parquet_keep_empty(tmp_path):
    path = write_parquet(tmp_path / "k.parquet", label=np.array([1, 0, 1]), zip=np.array(["", "02134", None], dtype=object))
    (batch,) = read_batches(path, ["label"], key_columns=["zip"])
    assert batch.raw["zip"].to_pylist() == ["", "02134", None]


@pytest.mark.parametrize("rows_before", [2, 150_000])
def test_key_column_invalid_utf8_names_row(tmp_path, rows_before):
    # 150,000 rows of 8 bytes put the invalid key after pyarrow's first 1 MiB block.
    path = tmp_path / "k.csv"
    path.write_bytes(b"label,p,zip\n" + b"1,0.5,a\n" * rows_before + b"0,0.5,b\xffc\n1,0.5,d\n")
    with pytest.raises(DataFileError) as info:
        list(read_batches(path, ["label", "p"], key_columns=["zip"]))
    message = str(info.value)
    assert f"column `zip` must contain UTF-8 text, got the bytes b'b\\xffc' at row {rows_before} (0-based)" in message
    assert "numbers" not in message
    assert info.value.column == "zip"
    assert info.value.row == rows_before


@pytest.mark.parametrize(
    "text",
    [
        b"label,p\n1,0.5\n0,0.25\n",
        b"label,p,p\n1,0.5,0.2\n",  # a repeated column
        b"label,p\n1,0.5\n0,0.4,9\n",  # a row of 3 fields
        b"label;p\n1;0,9\n",  # semicolons
    ],
)
@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_csv_reader_gives_pyarrow_no_python_objects(tmp_path, monkeypatch, text, suffix):
    # pyarrow's threads read and parse ahead of a CSV reader, and could release a Python
    # file object or callback of the reader after it was closed. One that did so while the
    # interpreter shut down aborted the process ("terminate called without an active exception").
    import pyarrow.csv as pa_csv

    path = tmp_path / f"s{suffix}"
    path.write_bytes(gzip.compress(text) if suffix.endswith(".gz") else text)
    python_files = []

    def recording_open(file, *args, **kwargs):
        python_files.append(file)
        return builtins.open(file, *args, **kwargs)

    monkeypatch.setattr(_io, "open", recording_open, raising=False)
    parse_options = []
    open_csv = pa_csv.open_csv

    def recording_open_csv(source, *args, **kwargs):
        parse_options.append(kwargs.get("parse_options"))
        return open_csv(source, *args, **kwargs)

    monkeypatch.setattr(pa_csv, "open_csv", recording_open_csv)
    try:
        list(read_batches(path, ["label", "p"]))
    except DataFileError:
        pass
    assert python_files == []
    assert parse_options
    for options in parse_options:
        assert options is None or options.invalid_row_handler is None


def test_key_columns_keep_prediction_parsing(tmp_path):
    # Key columns do not change how an empty prediction cell parses: it is still rejected.
    path = write_csv(tmp_path / "k.csv", "label,p,zip", ["1,0.5,", "0,,a"])
    with pytest.raises(DataFileError, match=r"column `p` must not contain missing values, got a null at row 1"):
        list(read_batches(path, ["label", "p"], key_columns=["zip"]))


def test_error_negative_weight(tmp_path):
    path = write_parquet(tmp_path / "s.parquet", label=np.array([1, 0]), p=np.full(2, 0.5), w=np.array([1.0, -1.0]))
    with pytest.raises(DataFileError, match=r"column `w` must contain non-negative weights, got -1.0 at row 1"):
        score_file(path, label="label", prob="p", weight="w")


def test_error_missing_column_lists_columns(tmp_path):
    for path in (write_parquet(tmp_path / "s.parquet", y=np.array([1]), p=np.array([0.5])), write_csv(tmp_path / "s.csv", "y,p", ["1,0.5"])):
        with pytest.raises(DataFileError, match=r"column `label` not found; the file has the columns `y`, `p`") as info:
            score_file(path, label="label", prob="p")
        assert str(path) in str(info.value)


def test_error_non_numeric_parquet(tmp_path):
    path = write_parquet(tmp_path / "s.parquet", label=np.array([1, 0]), p=np.array(["0.5", "high"]))
    with pytest.raises(DataFileTypeError, match=r"column `p` must contain numbers, got type string, and the value at row 1 \(0-based\) is 'high'"):
        score_file(path, label="label", prob="p")


def test_error_text_with_nulls_names_type(tmp_path):
    p = pa.array([None, "0.5", "high"], type=pa.string())
    path = write_parquet(tmp_path / "s.parquet", label=np.array([1, 0, 1]), p=p)
    with pytest.raises(DataFileTypeError, match=r"column `p` must contain numbers, got type string, and the value at row 2 \(0-based\) is 'high'"):
        score_file(path, label="label", prob="p")


def test_error_non_numeric_csv_later_block(tmp_path, monkeypatch):
    # A small block makes pyarrow infer float from the first rows and fail on a later one.
    monkeypatch.setattr(_io, "CSV_BLOCK_SIZE", 64)
    rows = ["1,0.5"] * 40 + ["0,abc"] + ["0,0.5"] * 5
    path = write_csv(tmp_path / "s.csv", "label,prob", rows)
    with pytest.raises(DataFileTypeError, match=r"s\.csv: column `prob` must contain numbers, got type string, and the value at row 40 \(0-based\) is 'abc'"):
        score_file(path, label="label", prob="prob")


def test_error_malformed_csv(tmp_path):
    path = write_csv(tmp_path / "s.csv", "label,prob", ["1,0.5", "0,0.5,7"])
    with pytest.raises(DataFileError, match=r"s\.csv: cannot parse row 1 \(0-based\) of the CSV file \(Expected 2 columns, got 3") as caught:
        score_file(path, label="label", prob="prob")
    assert caught.value.row == 1


def test_quoted_line_breaks_across_blocks(tmp_path, monkeypatch):
    # Values with line breaks in many blocks: pyarrow must not cut a block inside one.
    monkeypatch.setattr(_io, "CSV_BLOCK_SIZE", 64)
    path = write_csv(tmp_path / "s.csv", "label,prob,note", ['1,0.5,"a\nb, c"', '0,0.25,"d\ne"'] * 100)
    result = score_file(path, label="label", prob="prob")
    assert result.count == 200


@pytest.mark.parametrize(
    ("text", "message", "row"),
    [
        # Empty lines before the header: the header is still found, with its field count.
        ("\n\nlabel,prob\n1,0.5\n0,0.5,7\n", r"cannot parse row 1 \(0-based\).*as many fields as the header \(2\)", 1),
        # A header whose quote is never closed: the message names the quote's line, no row.
        ('label,"prob\n1,0.5\n', r"s\.csv: a double quote on line 1 of the CSV file opens a value that no quote closes", None),
    ],
)
def test_csv_error_row(tmp_path, text, message, row):
    path = tmp_path / "s.csv"
    path.write_text(text)
    with pytest.raises(DataFileError, match=message) as caught:
        score_file(path, label="label", prob="prob")
    assert caught.value.row == row


def test_malformed_csv_row_after_blocks(tmp_path, monkeypatch):
    # A small block puts the bad row in a later block than the header's. A quoted value
    # with a line break comes before it, and pyarrow counts that value's row once.
    monkeypatch.setattr(_io, "CSV_BLOCK_SIZE", 64)
    rows = ['1,0.5,"a', 'b"'] + ["0,0.5,c"] * 40 + ["1,0.5,c,9"]
    path = write_csv(tmp_path / "s.csv", "label,prob,key", rows)
    with pytest.raises(DataFileError, match=r"cannot parse row 41 \(0-based\).*as many fields as the header \(3\)") as caught:
        score_file(path, label="label", prob="prob")
    assert caught.value.row == 41


def test_error_truncated_parquet(tmp_path):
    prob, label, _ = random_rows(100, seed=5)
    path = write_parquet(tmp_path / "s.parquet", label=label, prob=prob)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(DataFileError, match=r"s\.parquet: cannot read the file; it may be corrupt, truncated"):
        score_file(path, label="label", prob="prob")


def test_error_corrupt_parquet_pages(tmp_path):
    prob, label, _ = random_rows(100, seed=6)
    path = write_parquet(tmp_path / "s.parquet", label=label, prob=prob)
    content = bytearray(path.read_bytes())
    # Overwrite the column data after the leading magic bytes, keeping the footer intact.
    content[4 : len(content) // 2] = bytes(len(content) // 2 - 4)
    path.write_bytes(bytes(content))
    with pytest.raises(DataFileError, match=r"s\.parquet: cannot read the file"):
        score_file(path, label="label", prob="prob")


def test_error_missing_file(tmp_path):
    path = tmp_path / "absent.parquet"
    with pytest.raises(FileNotFoundError, match=r"absent\.parquet: no such file"):
        score_file(path, label="label", prob="prob")


def test_error_unknown_suffix(tmp_path):
    path = tmp_path / "scores.json"
    path.write_text("{}")
    with pytest.raises(ValueError, match=r"scores\.json: unknown file type; the name must end in one of \.csv, \.csv\.gz, \.parquet, \.pq"):
        score_file(path, label="label", prob="prob")


def test_score_file_empty_csv(tmp_path):
    path = write_csv(tmp_path / "s.csv", "label,prob", [])
    with pytest.warns(UndefinedMetricWarning, match="there are no rows"):
        result = score_file(path, label="label", prob="prob")
    assert result.count == 0
    assert np.isnan(result.log_loss)


def test_error_all_null_csv_column(tmp_path):
    path = write_csv(tmp_path / "s.csv", "label,prob", ["1,", "0,"])
    with pytest.raises(DataFileError, match=r"column `prob` must not contain missing values, got a null at row 0 \(0-based\).*empty CSV cell"):
        score_file(path, label="label", prob="prob")


def test_score_file_boolean_and_decimal_columns(tmp_path):
    import decimal

    prob = pa.array([decimal.Decimal("0.25"), decimal.Decimal("0.5")], type=pa.decimal128(5, 2))
    path = write_parquet(tmp_path / "s.parquet", label=np.array([True, False]), prob=prob)
    result = score_file(path, label="label", prob="prob")
    expected = binary_cross_entropy(np.array([0.25, 0.5]), np.array([1, 0]))
    np.testing.assert_allclose(result.log_loss, expected, rtol=RTOL)


def test_csv_float_after_integer_block(tmp_path, monkeypatch):
    # A small block makes pyarrow see only integers in the first block of `label`.
    monkeypatch.setattr(_io, "CSV_BLOCK_SIZE", 64)
    path = write_csv(tmp_path / "s.csv", "label,p", ["1,0.5"] * 40 + ["0.5,0.5"])
    result = score_file(path, label="label", prob="p")
    assert result.count == 41
    np.testing.assert_allclose(result.log_loss, np.log(2.0), rtol=RTOL)


def test_error_non_numeric_csv_first_block(tmp_path):
    path = write_csv(tmp_path / "s.csv", "label,prob", ["1,0.5", "0,low"])
    with pytest.raises(DataFileTypeError, match=r"s\.csv: column `prob` must contain numbers.*row 1 \(0-based\) is 'low'") as info:
        score_file(path, label="label", prob="prob")
    assert (info.value.column, info.value.row) == ("prob", 1)


def test_error_duplicate_column_csv(tmp_path):
    path = write_csv(tmp_path / "s.csv", "label,p,p", ["1,0.5,0.9"])
    with pytest.raises(DataFileError, match=r"s\.csv: column `p` appears 2 times in the file"):
        score_file(path, label="label", prob="p")


def test_error_duplicate_column_parquet(tmp_path):
    table = pa.Table.from_arrays([pa.array([1]), pa.array([0.5]), pa.array([0.9])], names=["label", "p", "p"])
    path = tmp_path / "s.parquet"
    pq.write_table(table, path)
    with pytest.raises(DataFileError, match=r"s\.parquet: column `p` appears 2 times in the file"):
        score_file(path, label="label", prob="p")


def test_duplicate_unused_column_allowed(tmp_path):
    path = write_csv(tmp_path / "s.csv", "label,p,x,x", ["1,0.5,a,b", "0,0.5,c,d"])
    assert score_file(path, label="label", prob="p").count == 2


def test_score_file_upper_case_csv_gz(tmp_path):
    path = tmp_path / "SCORES.CSV.GZ"
    path.write_bytes(gzip.compress(b"y,p\n1,0.25\n0,0.5\n"))
    result = score_file(path, label="y", prob="p")
    expected = binary_cross_entropy(np.array([0.25, 0.5]), np.array([1, 0]))
    np.testing.assert_allclose(result.log_loss, expected, rtol=RTOL)


def test_error_parquet_page_checksum(tmp_path):
    path = tmp_path / "s.parquet"
    table = pa.table({"label": np.ones(64, dtype=np.int8), "prob": np.full(64, 0.25)})
    pq.write_table(table, path, write_page_checksum=True, use_dictionary=False, compression="none")
    content = path.read_bytes()
    quarter, half = np.float64(0.25).tobytes(), np.float64(0.5).tobytes()
    offset = content.index(quarter * 64)
    path.write_bytes(content[:offset] + half + content[offset + 8 :])
    with pytest.raises(DataFileError, match=r"s\.parquet: cannot read the file.*(?i:crc|checksum)"):
        score_file(path, label="label", prob="prob")


def test_error_semicolon_csv(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("label;p\n1;0,9\n0;0,2\n")
    with pytest.raises(DataFileError, match=r"s\.csv: columns `label`, `p` not found; the file has the columns `label;p`"):
        score_file(path, label="label", prob="p")


def test_error_latin1_header(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes("label,pr\xe9diction\n1,0.5\n".encode("latin-1"))
    with pytest.raises(DataFileError, match=r"s\.csv: the header row of the CSV file is not valid UTF-8: byte 2 in the column name b'pr\\xe9diction'"):
        score_file(path, label="label", prob="prob")


def test_error_parquet_named_csv(tmp_path):
    path = write_parquet(tmp_path / "s.csv", label=np.array([1, 0]), prob=np.array([0.5, 0.2]))
    with pytest.raises(DataFileError, match=r"s\.csv: cannot read the file"):
        score_file(path, label="label", prob="prob")


def test_score_file_non_utf8_name(tmp_path):
    path = write_csv(tmp_path / "s.csv", "label,prob", ["1,0.5", "0,0.5"])
    odd = tmp_path / "\udcff\udcfe.csv"
    try:
        path.rename(odd)
    except (OSError, UnicodeEncodeError):
        pytest.skip("the file system rejects non-UTF-8 names")
    assert score_file(odd, label="label", prob="prob").count == 2
    assert score_file(bytes(odd), label="label", prob="prob").count == 2
    parquet = write_parquet(tmp_path / "s.parquet", label=np.array([1, 0]), prob=np.array([0.5, 0.5]))
    parquet = parquet.rename(tmp_path / "\udcff.parquet")
    assert score_file(parquet, label="label", prob="prob").count == 2


def test_error_message_escapes_non_utf8_name(tmp_path):
    odd = tmp_path / "\udcff.csv"
    with pytest.raises(FileNotFoundError, match=r"\\xff\.csv: no such file") as info:
        score_file(odd, label="label", prob="prob")
    str(info.value).encode("utf-8")


def test_score_file_bytes_path():
    assert score_file(bytes(caravan_path()), label="label", prob="prob").count == 5822


@pytest.mark.parametrize("batch_size", [2**70, 2**63])
def test_error_batch_size_too_large(batch_size):
    with pytest.raises(ValueError, match=r"`batch_size` must be at most 9223372036854775807"):
        score_file(caravan_path(), label="label", prob="prob", batch_size=batch_size)


def test_score_file_max_batch_size():
    assert score_file(caravan_path(), label="label", prob="prob", batch_size=2**63 - 1).count == 5822


@pytest.mark.parametrize("batch_size", ["10", True, 10.0, None])
def test_error_batch_size_type(batch_size):
    with pytest.raises(TypeError, match=r"`batch_size` must be an integer"):
        score_file(caravan_path(), label="label", prob="prob", batch_size=batch_size)


def test_score_file_numpy_batch_size():
    assert score_file(caravan_path(), label="label", prob="prob", batch_size=np.int64(1000)).count == 5822


def test_error_directory(tmp_path):
    path = tmp_path / "d.csv"
    path.mkdir()
    with pytest.raises(IsADirectoryError, match=r"d\.csv: is a directory"):
        score_file(path, label="label", prob="prob")


def test_error_fifo(tmp_path):
    import os

    path = tmp_path / "f.csv"
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    os.mkfifo(path)
    with pytest.raises(DataFileError, match=r"f\.csv: is not a regular file"):
        score_file(path, label="label", prob="prob")


def test_error_unreadable_file(tmp_path):
    import os

    if not hasattr(os, "geteuid") or os.geteuid() == 0:
        pytest.skip("root can read any file")
    path = write_csv(tmp_path / "s.csv", "label,prob", ["1,0.5"])
    path.chmod(0)
    with pytest.raises(PermissionError, match=r"s\.csv: permission denied"):
        score_file(path, label="label", prob="prob")


def test_error_clip_with_logit():
    with pytest.raises(ValueError, match=r"`clip` applies to probabilities only"):
        score_file(caravan_path(), label="label", logit="logit", clip=0.1)


def test_error_label_none():
    with pytest.raises(TypeError, match=r"`label` must be a column name \(str\), got None"):
        score_file(caravan_path(), label=None, prob="prob")


@pytest.mark.parametrize("newline", ["", "\n"])
def test_score_file_header_only_csv(tmp_path, newline):
    path = tmp_path / "s.csv"
    path.write_text("label,prob" + newline)
    with pytest.warns(UndefinedMetricWarning, match="there are no rows"):
        result = score_file(path, label="label", prob="prob")
    assert result.count == 0


def test_error_header_only_csv_missing_column(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("label,p")
    with pytest.raises(DataFileError, match=r"column `prob` not found; the file has the columns `label`, `p`"):
        score_file(path, label="label", prob="prob")


def test_error_empty_csv(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("")
    with pytest.raises(DataFileError, match=r"s\.csv: the file is empty; a CSV file needs a header row"):
        score_file(path, label="label", prob="prob")


def test_error_one_value_singular(tmp_path):
    path = write_parquet(tmp_path / "s.parquet", label=np.array([1, 0]), p=np.array([0.5, 1.5]))
    with pytest.raises(DataFileError, match=r"\(1 such value in rows 0 to 1\)"):
        score_file(path, label="label", prob="p")


def test_score_file_csv_boolean_labels(tmp_path):
    path = write_csv(tmp_path / "s.csv", "label,prob", ["true,0.25", "false,0.5"])
    result = score_file(path, label="label", prob="prob")
    expected = binary_cross_entropy(np.array([0.25, 0.5]), np.array([1, 0]))
    np.testing.assert_allclose(result.log_loss, expected, rtol=RTOL)


def _read_ahead_threads():
    import threading

    return [thread for thread in threading.enumerate() if thread.name == "logloss-read-ahead"]


def test_read_ahead_is_bounded_and_keeps_order():
    produced = []

    def numbers():
        for i in range(20):
            produced.append(i)
            yield i

    reader = _io._read_ahead(numbers(), 2)
    assert next(reader) == 0
    import time

    time.sleep(0.2)
    # One item handed over, two queued and one waiting to be queued.
    assert len(produced) <= 4
    assert list(reader) == list(range(1, 20))
    assert not _read_ahead_threads()


def test_read_ahead_raises_in_caller_after_earlier_items():
    def failing():
        yield 1
        yield 2
        raise ValueError("row 2 is bad")

    reader = _io._read_ahead(failing(), 2)
    assert next(reader) == 1
    assert next(reader) == 2
    with pytest.raises(ValueError, match="row 2 is bad"):
        next(reader)
    assert not _read_ahead_threads()


def test_read_ahead_close_stops_thread():
    closed = []

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.append(True)

    reader = _io._read_ahead(endless(), 2)
    assert next(reader) == 0
    reader.close()
    assert closed == [True]
    assert not _read_ahead_threads()


def test_read_batches_closed_early_closes_the_file():
    batches = read_batches(caravan_path(), ["label", "prob"], batch_size=1000)
    first = next(batches)
    assert first.start == 0
    batches.close()
    assert not _read_ahead_threads()


def test_folder_names_the_engines(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    with pytest.raises(ValueError, match="is a folder, and this reads one file; score a folder of Parquet files"):
        score_file(folder, label="label", prob="prob")


def test_float32_weights_score_without_warning(tmp_path):
    import warnings

    path = write_parquet(
        tmp_path / "w.parquet",
        label=np.array([1, 0]),
        p=np.array([0.8, 0.3]),
        w=np.array([2.0, 0.5], dtype=np.float32),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = score_file(path, label="label", prob="p", weight="w")
    expected = (2.0 * -np.log(0.8) + 0.5 * -np.log(0.7)) / 2.5
    assert result.log_loss == pytest.approx(expected, rel=1e-15, abs=0)


def test_score_file_rejects_bad_path_and_progress_types():
    with pytest.raises(TypeError, match="`path` must be a file path"):
        score_file(3, label="label", prob="prob")
    with pytest.raises(TypeError, match="`progress` must be None or a callable, got int"):
        score_file(caravan_path(), label="label", prob="prob", progress=5)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("label,prob,note\n1,0.5,a\n0,0.25," + "x" * (3 << 20) + "\n", "a row at or after row 1 \\(0-based\\)"),
        ("label,prob," + "n" * (3 << 20) + "\n1,0.5,a\n", "the header row"),
    ],
)
def test_csv_row_longer_than_block(tmp_path, text, where):
    path = tmp_path / "long.csv"
    path.write_text(text)
    with pytest.raises(DataFileError, match=rf"long\.csv: {where} of the CSV file is longer than the reader's block of 1 MiB"):
        score_file(path, label="label", prob="prob")
