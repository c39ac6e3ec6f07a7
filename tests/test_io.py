import gzip

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
    assert result.n_clipped == 2
    expected = binary_cross_entropy(np.array([0.0, 0.5, 1.0]), np.array([1, 0, 1]), clip=1e-6)
    np.testing.assert_allclose(result.log_loss, expected, rtol=RTOL)


def test_scan_file_first_infinite_row(tmp_path):
    # Row 3 would be infinite but has weight 0; rows 4 and 5 are infinite.
    # NOTE: the infinite rows are positives because an infinite loss on a negative row
    # (probability 1, label 0) makes LogLossState's kernel warn about inf * 0 in a dot product.
    prob = np.array([0.5, 0.2, 0.0, 0.0, 0.0, 0.0])
    label = np.array([1, 0, 0, 1, 1, 1])
    weight = np.array([1.0, 1.0, 1.0, 0.0, 1.0, 1.0])
    path = write_parquet(tmp_path / "s.parquet", label=label, prob=prob, weight=weight)
    scan = scan_file(path, label="label", prob="prob", weight="weight", batch_size=2)
    assert scan.first_infinite_row == 4
    assert scan.state.n_infinite == 2


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


def test_error_label_two(tmp_path):
    path = write_csv(tmp_path / "s.csv", "label,prob", ["1,0.5", "0,0.5", "0,0.5", "2,0.5"])
    with pytest.raises(DataFileError, match=r"s\.csv: column `label` must contain labels in \[0, 1\], got 2 at row 3 \(0-based\)"):
        score_file(path, label="label", prob="prob", batch_size=2)


def test_error_probability_above_one(tmp_path):
    path = write_parquet(tmp_path / "s.parquet", label=np.array([1, 0]), p=np.array([0.5, 1.5]))
    with pytest.raises(DataFileError, match=r"column `p` must contain probabilities in \[0, 1\], got 1.5 at row 1 \(0-based\).*--logit"):
        score_file(path, label="label", prob="p")


def test_error_nan_probability(tmp_path):
    path = write_parquet(tmp_path / "s.parquet", label=np.array([1, 0]), p=np.array([np.nan, 0.5]))
    with pytest.raises(DataFileError, match=r"column `p` must not contain NaN, got NaN at row 0 \(0-based\).*--logit"):
        score_file(path, label="label", prob="p")


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


def test_error_non_numeric_csv_later_block(tmp_path, monkeypatch):
    # A small block makes pyarrow infer float from the first rows and fail on a later one.
    monkeypatch.setattr(_io, "CSV_BLOCK_SIZE", 64)
    rows = ["1,0.5"] * 40 + ["0,abc"] + ["0,0.5"] * 5
    path = write_csv(tmp_path / "s.csv", "label,prob", rows)
    with pytest.raises(DataFileTypeError, match=r"s\.csv: column `prob` must contain numbers, got type string, and the value at row 40 \(0-based\) is 'abc'"):
        score_file(path, label="label", prob="prob")


def test_error_malformed_csv(tmp_path):
    path = write_csv(tmp_path / "s.csv", "label,prob", ["1,0.5", "0,0.5,7"])
    with pytest.raises(DataFileError, match=r"s\.csv: cannot read the file.*Expected 2 columns, got 3"):
        score_file(path, label="label", prob="prob")


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
