"""logloss.dask against the NumPy path on the same rows, on a two-worker LocalCluster."""

import json
import math
import sys

import numpy as np
import pytest

from logloss import BinnedDecompositionState, BootstrapState, GroupedLogLossState, LogLossState

dask = pytest.importorskip("dask", reason="logloss.dask needs dask")
dd = pytest.importorskip("dask.dataframe", reason="logloss.dask needs dask[dataframe]")
da = pytest.importorskip("dask.array", reason="logloss.dask needs dask[array]")
distributed = pytest.importorskip("distributed", reason="the cluster tests need distributed")
pd = pytest.importorskip("pandas", reason="dask.dataframe needs pandas")

from logloss.dask import (
    array_state,
    array_state_with_logits,
    evaluate_frame,
    frame_bootstrap_state,
    frame_decomposition_state,
    frame_state,
)

N_ROWS = 100_000
FIGURES = (
    "log_loss",
    "normalized_entropy",
    "relative_information_gain",
    "base_rate",
    "entropy",
    "mean_prediction",
    "calibration_ratio",
    "weight_sum",
)
SUM_NAMES = ("w", "w2", "wy", "wp", "wl", "wl2", "w2l", "w2l2", "w2y", "w2y2", "w2p", "w2p2", "w2ly", "w2py")
TOLERANCE = 1e-12


# Module scope: the cluster's threads use the global random module, which Hypothesis
# reports as flaky in the tests that run after this module.
@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        # The scheduler serves HTTP on port 8787 by default, even without a dashboard.
        # Port 0 picks a free port, so parallel test runs do not collide.
        dashboard_address="127.0.0.1:0",
    )
    with cluster, distributed.Client(cluster) as session_client:
        yield session_client


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(20261204)
    probability = rng.random(N_ROWS)
    label = (rng.random(N_ROWS) < probability).astype(np.float64)
    return pd.DataFrame(
        {
            "p": probability,
            "z": rng.normal(0.0, 3.0, N_ROWS),
            "y": label,
            "w": rng.exponential(1.0, N_ROWS),
            "country": rng.choice(["de", "fr", "us", "jp"], N_ROWS),
            "device": rng.integers(0, 3, N_ROWS),
        }
    )


def local_state(rows, *, logit=False, weight=True, clip=None):
    state = LogLossState(clip=clip)
    weights = rows["w"].to_numpy() if weight else None
    if logit:
        state.update_logits(rows["z"].to_numpy(), rows["y"].to_numpy(), weights=weights)
    else:
        state.update(rows["p"].to_numpy(), rows["y"].to_numpy(), weights=weights)
    return state


def assert_states_agree(state, expected):
    assert state.count == expected.count
    assert state.n_infinite == expected.n_infinite
    assert state.n_clipped == expected.n_clipped
    for name in SUM_NAMES:
        assert state.sum(name) == pytest.approx(expected.sum(name), rel=TOLERANCE, abs=0.0), name
    result, reference = state.result(), expected.result()
    for figure in FIGURES:
        assert getattr(result, figure) == pytest.approx(getattr(reference, figure), rel=TOLERANCE, abs=0), figure


@pytest.mark.parametrize("npartitions", [1, 7, 64])
def test_frame_probabilities_agree(client, rows, npartitions):
    frame = dd.from_pandas(rows, npartitions=npartitions)
    state = frame_state(frame, label="y", prob="p", weight="w")
    assert_states_agree(state, local_state(rows))


@pytest.mark.parametrize("npartitions", [1, 7, 64])
def test_frame_logits_agree(client, rows, npartitions):
    frame = dd.from_pandas(rows, npartitions=npartitions)
    state = frame_state(frame, label="y", logit="z")
    assert_states_agree(state, local_state(rows, logit=True, weight=False))


def test_frame_clip_counts(client, rows):
    frame = dd.from_pandas(rows, npartitions=7)
    state = frame_state(frame, label="y", prob="p", clip=0.05)
    assert_states_agree(state, local_state(rows, weight=False, clip=0.05))
    assert state.n_clipped > 0


def test_frame_parquet_folder(client, rows, tmp_path):
    for i, start in enumerate(range(0, N_ROWS, 30_000)):
        rows.iloc[start : start + 30_000].to_parquet(tmp_path / f"part-{i}.parquet")
    frame = dd.read_parquet(tmp_path)
    result = evaluate_frame(frame, label="y", prob="p", weight="w")
    assert result.log_loss == pytest.approx(local_state(rows).result().log_loss, rel=TOLERANCE, abs=0)


def test_frame_infinite_loss(client):
    rows = pd.DataFrame({"p": [0.0, 0.5, 1.0, 0.0], "y": [1.0, 1.0, 1.0, 0.0], "w": [1.0, 2.0, 0.0, 1.0]})
    state = frame_state(dd.from_pandas(rows, npartitions=2), label="y", prob="p", weight="w")
    assert state.n_infinite == 1
    assert math.isinf(state.result().log_loss)


def test_frame_nullable_label_rejected(client, rows):
    broken = rows.head(100).astype({"y": "Float64"})
    broken.loc[57, "y"] = pd.NA
    frame = dd.from_pandas(broken, npartitions=2)
    with pytest.raises(ValueError, match=r"column `y` must not contain missing values, got a null at index 7 .*partition 1"):
        frame_state(frame, label="y", prob="p")


@pytest.mark.parametrize("dtype", ["Int64", "boolean", "Float64", "double[pyarrow]", "category"])
def test_frame_null_named_missing(client, dtype):
    rows = TEXT_ROWS.astype({"y": dtype})
    rows.loc[2, "y"] = None
    frame = dd.from_pandas(rows, npartitions=1)
    message = r"^column `y` must not contain missing values, got a null at index 2 \(1 null in all\); drop those rows"
    with pytest.raises(ValueError, match=message):
        frame_state(frame, label="y", prob="p")


def test_frame_arrow_nan_stays_nan(client):
    import pyarrow as pa

    rows = TEXT_ROWS.assign(p=pd.Series(pa.array([0.9, float("nan"), 0.5, 0.7]), dtype=pd.ArrowDtype(pa.float64())))
    with pytest.raises(ValueError, match=r"^column `p` must not contain NaN, got NaN at index 1 "):
        frame_state(dd.from_pandas(rows, npartitions=1), label="y", prob="p")


def test_frame_null_type_column_rejected():
    import pyarrow as pa

    rows = TEXT_ROWS.assign(w=pd.Series([None] * 4, dtype=pd.ArrowDtype(pa.null())))
    frame = dd.from_pandas(rows, npartitions=2)
    with dask.config.set(scheduler=_raise_if_computed):
        with pytest.raises(ValueError, match=r"^column `w` must not contain missing values, got a column of nulls only"):
            frame_state(frame, label="y", prob="p", weight="w")


def test_parquet_null_type_column_rejected(tmp_path):
    import pyarrow as pa

    path = write_rows(tmp_path / "nulls.parquet", y=pa.array([None, None], pa.null()), p=[0.5, 0.5])
    # pandas reads the column as object, and only the Parquet schema shows its type null.
    frame = dd.read_parquet(str(path))[["p", "y"]]
    with pytest.raises(ValueError, match=r"^column `y` must not contain missing values, got a column of nulls only"):
        frame_state(frame, label="y", prob="p")


def test_frame_probability_out_of_range(client, rows):
    broken = rows.head(100).copy()
    broken.loc[3, "p"] = 1.5
    with pytest.raises(ValueError, match=r"column `p` must be in \[0, 1\], got 1.5 .*pass logit= instead"):
        frame_state(dd.from_pandas(broken, npartitions=3), label="y", prob="p")


def test_frame_prediction_argument_required(rows):
    frame = dd.from_pandas(rows.head(10), npartitions=1)
    with pytest.raises(TypeError, match="exactly one of `prob` and `logit`.*got neither"):
        frame_state(frame, label="y")
    with pytest.raises(TypeError, match="got both"):
        frame_state(frame, label="y", prob="p", logit="z")


@pytest.mark.parametrize("function", [evaluate_frame, frame_state, frame_bootstrap_state], ids=lambda function: function.__name__)
def test_frame_clip_with_logits_rejected(function, rows):
    frame = dd.from_pandas(rows.head(10), npartitions=1)
    with dask.config.set(scheduler=_raise_if_computed):
        with pytest.raises(ValueError, match=r"`clip` applies to probabilities only; logits are never clipped, got clip=0.1"):
            function(frame, label="y", logit="z", clip=0.1)


def test_frame_repeated_column_rejected():
    rows = pd.DataFrame([[1, 0.9, 0.9], [0, 0.2, 0.2]], columns=["y", "p", "p"])
    frame = dd.from_pandas(rows, npartitions=1)
    with pytest.raises(ValueError, match=r"^column `p` appears 2 times in the frame; rename the columns"):
        evaluate_frame(frame, label="y", prob="p")


def test_frame_missing_column(rows):
    frame = dd.from_pandas(rows.head(10), npartitions=1)
    with pytest.raises(ValueError, match="`weight` must name a column of the frame, got 'v'"):
        frame_state(frame, label="y", prob="p", weight="v")


def test_frame_type_rejected(rows):
    with pytest.raises(TypeError, match="`frame` must be a dask.dataframe.DataFrame, got DataFrame"):
        frame_state(rows, label="y", prob="p")


def test_frame_split_every_checked(rows):
    frame = dd.from_pandas(rows.head(10), npartitions=1)
    with pytest.raises(ValueError, match="`split_every` must be an integer of at least 2, got 1"):
        frame_state(frame, label="y", prob="p", split_every=1)


def test_frame_delayed_compute(client, rows):
    frame = dd.from_pandas(rows, npartitions=7)
    delayed_state = frame_state(frame, label="y", prob="p", weight="w", compute=False)
    assert_states_agree(delayed_state.compute(), local_state(rows))


def test_frame_empty(client, rows):
    frame = dd.from_pandas(rows.head(0), npartitions=1)
    state = frame_state(frame, label="y", prob="p")
    assert state.count == 0


@pytest.mark.parametrize("chunks", [N_ROWS, 15_000, 1_563])
def test_array_agrees(client, rows, chunks):
    y_pred = da.from_array(rows["p"].to_numpy(), chunks=chunks)
    y_true = da.from_array(rows["y"].to_numpy(), chunks=10_000)
    state = array_state(y_pred, y_true, weights=rows["w"].to_numpy())
    assert_states_agree(state, local_state(rows))


def test_array_logits_agree(client, rows):
    logits = da.from_array(rows["z"].to_numpy().reshape(1_000, 100), chunks=(300, 40))
    y_true = da.from_array(rows["y"].to_numpy().reshape(1_000, 100), chunks=(500, 100))
    state = array_state_with_logits(logits, y_true)
    assert_states_agree(state, local_state(rows, logit=True, weight=False))


def test_array_shape_mismatch(rows):
    y_pred = da.from_array(rows["p"].to_numpy()[:10])
    with pytest.raises(ValueError, match=r"`y_true` must have the same shape as `y_pred` \(10,\), got shape \(9,\)"):
        array_state(y_pred, np.ones(9))


def test_array_negative_weight_names_block(client):
    y_pred = da.from_array(np.full(10, 0.5), chunks=4)
    weights = np.ones(10)
    weights[9] = -1.0
    with pytest.raises(ValueError, match=r"`weights` must be non-negative, got -1.0 at index 1 \(in block 2;"):
        array_state(y_pred, np.ones(10), weights=weights)


def test_frame_nan_prediction_hint(client, rows):
    broken = rows.head(100).copy()
    broken.loc[3, "p"] = np.nan
    with pytest.raises(ValueError, match=r"column `p` must not contain NaN.*drop those rows or impute") as caught:
        frame_state(dd.from_pandas(broken, npartitions=3), label="y", prob="p")
    assert "logit" not in str(caught.value)


def test_array_out_of_range_hint(client):
    y_pred = da.from_array(np.array([0.5, 1.5, 0.2]), chunks=2)
    with pytest.raises(ValueError, match=r"got 1.5 .*call array_state_with_logits instead \(in block 0;"):
        array_state(y_pred, np.ones(3))


def test_array_nan_hint(client):
    y_pred = da.from_array(np.array([0.5, np.nan, 0.2]), chunks=2)
    with pytest.raises(ValueError, match=r"`y_pred` must not contain NaN.*impute") as caught:
        array_state(y_pred, np.ones(3))
    assert "logit" not in str(caught.value)


def test_missing_dask_install_hint(monkeypatch):
    # A None entry in sys.modules makes the import raise ImportError, as a missing package does.
    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(ImportError, match=r"`uv sync --extra dask`.*`pip install '/path/to/logloss\[dask\]'`"):
        array_state(np.full(3, 0.5), np.ones(3))


def test_array_numpy_predictions_rejected():
    with pytest.raises(TypeError, match="`y_pred` must be a dask.array.Array, got ndarray"):
        array_state(np.full(3, 0.5), np.ones(3))


def test_cli_engine_dask_folder(client, rows, tmp_path):
    from click.testing import CliRunner

    from logloss.cli import cli

    for i, start in enumerate(range(0, N_ROWS, 40_000)):
        rows.iloc[start : start + 40_000].to_parquet(tmp_path / f"part-{i}.parquet")
    output = CliRunner().invoke(
        cli, ["score", str(tmp_path), "--engine", "dask", "--label", "y", "--prob", "p", "--weight", "w", "--json"]
    )
    assert output.exit_code == 0, output.output
    figures = json.loads(output.stdout)["result"]
    assert figures["log_loss"] == pytest.approx(local_state(rows).result().log_loss, rel=TOLERANCE, abs=0)
    assert figures["count"] == N_ROWS


def assert_figures_agree(result, reference):
    for figure in (*FIGURES, "count"):
        assert getattr(result, figure) == pytest.approx(getattr(reference, figure), rel=TOLERANCE, abs=0), figure


@pytest.mark.parametrize("npartitions", [1, 7, 64])
def test_frame_segments_agree(client, rows, npartitions):
    frame = dd.from_pandas(rows, npartitions=npartitions)
    state = frame_state(frame, label="y", prob="p", weight="w", by=["country", "device"])
    expected = GroupedLogLossState()
    expected.update(
        rows["p"].to_numpy(), rows["y"].to_numpy(), (rows["country"], rows["device"]), weights=rows["w"].to_numpy()
    )
    results, references = state.results(), expected.results()
    assert sorted(results) == sorted(references)
    for key, reference in references.items():
        assert_figures_agree(results[key], reference)


def test_frame_segment_repeated_column_rejected(rows):
    frame = dd.from_pandas(rows, npartitions=2)
    with pytest.raises(ValueError, match="`by` must name each column once, got 'country' more than once"):
        frame_state(frame, label="y", logit="z", by=["country", "country"])


def test_frame_segment_single_column(client, rows):
    frame = dd.from_pandas(rows, npartitions=7)
    state = frame_state(frame, label="y", logit="z", by="country")
    expected = GroupedLogLossState()
    expected.update_logits(rows["z"].to_numpy(), rows["y"].to_numpy(), rows["country"])
    assert sorted(state.results()) == ["de", "fr", "jp", "us"]
    for key, reference in expected.results().items():
        assert_figures_agree(state.results()[key], reference)


def test_frame_segment_keys_bool_and_int_files_rejected(client, tmp_path):
    # Each file keeps its own stored type, so the partitions' key columns differ.
    pd.DataFrame({"p": [0.2, 0.7], "y": [0.0, 1.0], "k": [True, False]}).to_parquet(tmp_path / "part-0.parquet")
    pd.DataFrame({"p": [0.4, 0.6], "y": [1.0, 0.0], "k": np.array([1, 0])}).to_parquet(tmp_path / "part-1.parquet")
    frame = dd.read_parquet(tmp_path)
    with pytest.raises(TypeError, match="the key columns `k` must each have one type in every partition") as caught:
        frame_state(frame, label="y", prob="p", by="k")
    assert "of type int in `other` after True of type bool" in str(caught.value)


def test_cli_engine_dask_mixed_key_types_error(client, tmp_path):
    from click.testing import CliRunner

    from logloss.cli import cli

    pd.DataFrame({"p": [0.2, 0.7], "y": [0.0, 1.0], "k": [True, False]}).to_parquet(tmp_path / "part-0.parquet")
    pd.DataFrame({"p": [0.4, 0.6], "y": [1.0, 0.0], "k": np.array([1, 0])}).to_parquet(tmp_path / "part-1.parquet")
    output = CliRunner().invoke(cli, ["score", str(tmp_path), "--engine", "dask", "--by", "k", "--label", "y", "--prob", "p"])
    assert output.exit_code == 1, output.output
    assert output.stderr.startswith(f"logloss: error: {tmp_path}: the key columns `k` must each have one type")
    assert "Traceback" not in output.output


def test_cli_engine_dask_small_files_text_keys(client, tmp_path):
    from click.testing import CliRunner

    import pyarrow
    import pyarrow.parquet

    from logloss.cli import cli

    # Dask reads small files into one partition, whose text column is a chunked pyarrow array.
    rng = np.random.default_rng(11)
    for index in range(3):
        p = rng.uniform(0.05, 0.95, 1000)
        y = (rng.random(1000) < p).astype(float)
        k = rng.choice(["a", "b", "c"], 1000)
        # Written by pyarrow, without pandas metadata, Dask reads `k` as pyarrow-backed text.
        # Dask fuses the partitions of files of which it reads few columns, so the files
        # also have columns that are not scored.
        unused = {f"x{column}": rng.random(1000) for column in range(4)}
        table = pyarrow.table({"p": p, "y": y, "k": k, **unused})
        pyarrow.parquet.write_table(table, tmp_path / f"part-{index}.parquet")
    arguments = ["score", str(tmp_path), "--engine", "dask", "--by", "k", "--label", "y", "--prob", "p", "--json"]
    output = CliRunner().invoke(cli, arguments)
    assert output.exit_code == 0, output.output
    segments = json.loads(output.stdout)["segments"]["rows"]
    assert sorted(row["segment"]["k"] for row in segments) == ["a", "b", "c"]
    assert sum(row["count"] for row in segments) == 3000


def test_dask_integer_keys_with_nulls(client, tmp_path):
    """Keys above 2**53 stay apart and print as integers, although their column has a null."""
    import pyarrow as pa

    keys = pa.array([2**53, 2**53 + 1, None, 2**53 + 1, 3], pa.int64())
    path = write_rows(tmp_path / "keys.parquet", y=[1.0, 0.0, 1.0, 0.0, 1.0], p=[0.9, 0.2, 0.3, 0.4, 0.6], k=keys)
    output = run_dask_cli(path, "--by", "k", "--json")
    assert output.exit_code == 0, output.output
    segments = {row["segment"]["k"]: row["count"] for row in json.loads(output.stdout)["segments"]["rows"]}
    assert segments == {2**53: 1, 2**53 + 1: 2, None: 1, 3: 1}


@pytest.mark.parametrize("arrow_type", ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"])
def test_nullable_dtypes(arrow_type):
    import pyarrow as pa

    from logloss._score_engines import _nullable_dtype

    dtype = _nullable_dtype(getattr(pa, arrow_type)())
    assert isinstance(dtype, pd.api.extensions.ExtensionDtype)
    assert dtype.name.lower() == arrow_type
    assert _nullable_dtype(pa.bool_()) == pd.BooleanDtype()
    assert _nullable_dtype(pa.float64()) is None


def test_dask_boolean_label_null_is_missing(client, tmp_path):
    import pyarrow as pa

    path = write_rows(tmp_path / "labels.parquet", y=pa.array([True, None, False]), p=[0.2, 0.5, 0.6])
    line = assert_one_error_line(run_dask_cli(path), f"{path}: column `y` must not contain missing values")
    assert "got a null at row 1 (0-based) of this file" in line


def test_cli_dask_nanosecond_time_key(client, tmp_path):
    import pyarrow as pa

    path = write_rows(tmp_path / "times.parquet", y=[1.0, 0.0], p=[0.9, 0.2], tm=pa.array([1, 2], pa.time64("ns")))
    line = assert_one_error_line(run_dask_cli(path, "--by", "tm"), f"{path}: column `tm` must hold times that Python's")
    assert "cast the column to int64 nanoseconds or to strings" in line
    assert "corrupt" not in line


def test_cli_dask_null_type_column(tmp_path):
    import pyarrow as pa

    path = write_rows(tmp_path / "nulls.parquet", y=pa.array([None, None], pa.null()), p=[0.5, 0.5])
    assert_one_error_line(run_dask_cli(path), f"{path}: column `y` must not contain missing values, got a column of nulls")


@pytest.mark.parametrize("npartitions", [1, 7, 64])
def test_frame_decomposition_agrees(client, rows, npartitions):
    frame = dd.from_pandas(rows, npartitions=npartitions)
    state = frame_decomposition_state(frame, label="y", prob="p", weight="w")
    expected = BinnedDecompositionState()
    expected.update(rows["p"].to_numpy(), rows["y"].to_numpy(), weights=rows["w"].to_numpy())
    result, reference = state.result(), expected.result()
    for name in ("score", "discrimination", "miscalibration", "uncertainty"):
        assert getattr(result, name) == pytest.approx(getattr(reference, name), rel=TOLERANCE, abs=1e-15), name


@pytest.mark.parametrize("npartitions", [1, 7, 64])
def test_frame_bootstrap_agrees(client, rows, npartitions):
    frame = dd.from_pandas(rows, npartitions=npartitions)
    state = frame_bootstrap_state(frame, label="y", prob="p", n_bootstrap=50, seed=7)
    expected = BootstrapState(n_bootstrap=50, seed=7)
    expected.update(rows["p"].to_numpy(), rows["y"].to_numpy())
    interval, reference = state.interval(level=0.9), expected.interval(level=0.9)
    for name in ("log_loss", "normalized_entropy", "calibration_ratio"):
        for end in ("estimate", "lower", "upper"):
            assert getattr(getattr(interval, name), end) == pytest.approx(
                getattr(getattr(reference, name), end), rel=TOLERANCE, abs=0), (name, end)


def test_cli_engine_dask_segments(client, rows, tmp_path):
    from click.testing import CliRunner

    from logloss.cli import cli

    path = tmp_path / "rows.parquet"
    rows.to_parquet(path)
    arguments = ["score", str(path), "--engine", "dask", "--label", "y", "--logit", "z", "--by", "country"]
    output = CliRunner().invoke(cli, [*arguments, "--decompose", "--json"])
    assert output.exit_code == 0, output.output
    report = json.loads(output.stdout)
    assert report["engine"] == "dask"
    assert report["row_numbering"] is None
    expected = GroupedLogLossState()
    expected.update_logits(rows["z"].to_numpy(), rows["y"].to_numpy(), rows["country"])
    segments = {row["segment"]["country"]: row for row in report["segments"]["rows"]}
    assert sorted(segments) == sorted(expected.keys())
    for key, reference in expected.results().items():
        assert segments[key]["log_loss"] == pytest.approx(reference.log_loss, rel=TOLERANCE, abs=0)
    assert report["result"]["count"] == N_ROWS
    assert report["decomposition"]["method"] == "binned"


def test_cli_engine_rejects_intervals(tmp_path):
    from click.testing import CliRunner

    from logloss.cli import cli

    output = CliRunner().invoke(cli, ["score", str(tmp_path), "--engine", "dask", "--prob", "p", "--ci"])
    assert output.exit_code == 2
    assert "--ci and --compare are not available with --engine dask" in output.output


def _raise_if_computed(*args, **kwargs):
    raise AssertionError("the column type check computed a partition")


TEXT_ROWS = pd.DataFrame({"p": [0.9, 0.2, 0.5, 0.7], "y": [1.0, 0.0, 1.0, 1.0], "w": [1.0, 2.0, 1.0, 3.0]})
FRAME_FUNCTIONS = [evaluate_frame, frame_state, frame_decomposition_state, frame_bootstrap_state]


@pytest.mark.parametrize("function", FRAME_FUNCTIONS, ids=lambda function: function.__name__)
@pytest.mark.parametrize("column", ["p", "y", "w"])
def test_frame_text_column_rejected(function, column):
    # Numbers stored as text: every value would parse, but the column is rejected as in Spark.
    rows = TEXT_ROWS.astype({column: "string"})
    frame = dd.from_pandas(rows, npartitions=2)
    with dask.config.set(scheduler=_raise_if_computed):
        with pytest.raises(TypeError, match=rf"column `{column}` must have a numeric or boolean type, got string;"):
            function(frame, label="y", prob="p", weight="w")


@pytest.mark.parametrize("dtype", ["object", "str"])
def test_frame_object_prediction_rejected(dtype):
    rows = TEXT_ROWS.astype({"p": dtype})
    with dask.config.set({"dataframe.convert-string": False}):
        frame = dd.from_pandas(rows, npartitions=2)
    with dask.config.set(scheduler=_raise_if_computed):
        with pytest.raises(TypeError, match=rf"column `p` must have a numeric or boolean type, got {dtype}; convert"):
            frame_state(frame, label="y", logit="p")


def test_frame_datetime_and_text_category_rejected():
    rows = TEXT_ROWS.assign(t=pd.to_datetime([1, 2, 3, 4]), c=pd.Categorical(["1", "0", "1", "1"]))
    frame = dd.from_pandas(rows, npartitions=2)
    with dask.config.set(scheduler=_raise_if_computed):
        with pytest.raises(TypeError, match=r"column `t` must have a numeric or boolean type, got datetime64\[ns\]$"):
            frame_state(frame, label="y", prob="p", weight="t")
        with pytest.raises(TypeError, match=r"column `c` must have a numeric or boolean type, got category of str"):
            frame_state(frame, label="c", prob="p")


def test_frame_unknown_text_category_rejected(client):
    # The categories are unknown until a partition is read, so the partition's check rejects them.
    frame = dd.from_pandas(TEXT_ROWS.assign(c=pd.Categorical(["1", "0", "1", "1"])), npartitions=2)
    frame = frame.assign(c=frame["c"].cat.as_unknown())
    message = r"column `c` must contain only real numbers, got '1' of type str .*in partition \d"
    with pytest.raises(TypeError, match=message):
        frame_state(frame, label="c", prob="p")


@pytest.mark.parametrize(
    "dtypes",
    [
        {"p": "Float64", "y": "Int64", "w": "Float32"},
        {"p": "double[pyarrow]", "y": "bool[pyarrow]", "w": "float[pyarrow]"},
        {"y": "boolean", "w": "int64[pyarrow]"},
        {"y": "category"},
    ],
    ids=["nullable", "pyarrow", "boolean", "category"],
)
def test_frame_numeric_extension_dtypes_accepted(client, dtypes):
    rows = TEXT_ROWS.astype({"w": "int64"} if dtypes.get("w") == "int64[pyarrow]" else {}).astype(dtypes)
    frame = dd.from_pandas(rows, npartitions=2)
    if dtypes.get("y") == "category":
        # Dask reads a Parquet column written from a categorical so, and checks it per partition.
        frame = frame.assign(y=frame["y"].cat.as_unknown())
    state = frame_state(frame, label="y", prob="p", weight="w")
    expected = LogLossState()
    expected.update(
        TEXT_ROWS["p"].to_numpy(), TEXT_ROWS["y"].to_numpy(), weights=rows["w"].to_numpy(dtype=np.float64)
    )
    assert state.count == 4
    assert state.result().log_loss == pytest.approx(expected.result().log_loss, rel=TOLERANCE, abs=0)


def run_dask_cli(path, *options):
    from click.testing import CliRunner

    from logloss.cli import cli

    return CliRunner().invoke(cli, ["score", str(path), "--engine", "dask", "--label", "y", "--prob", "p", *options])


def assert_one_error_line(output, expected_start):
    """Check that the command printed exactly one error line, starting as expected, and exited 1."""
    assert output.exit_code == 1, output.output
    assert "Traceback" not in output.output
    lines = output.output.splitlines()
    assert len(lines) == 1, output.output
    assert lines[0].startswith(f"logloss: error: {expected_start}"), lines[0]
    return lines[0]


def write_rows(path, **columns):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)
    return path


def test_cli_dask_folder_file_without_column(client, tmp_path):
    write_rows(tmp_path / "a.parquet", y=[1.0, 0.0], p=[0.5, 0.4])
    second = write_rows(tmp_path / "b.parquet", y=[1.0, 0.0], q=[0.5, 0.4])
    line = assert_one_error_line(run_dask_cli(tmp_path), f"{second}: column `p` not found")
    assert "the file has the columns `y`, `q`" in line
    assert f"every Parquet file in {tmp_path} must have it" in line


def test_cli_dask_file_without_column(client, tmp_path):
    path = write_rows(tmp_path / "a.parquet", y=[1.0, 0.0], q=[0.5, 0.4])
    assert_one_error_line(run_dask_cli(path), f"{path}: column `p` not found; the file has the columns `y`, `q`")


def test_cli_dask_folder_file_of_text(client, tmp_path):
    write_rows(tmp_path / "a.parquet", y=[1.0, 0.0], p=[0.5, 0.4])
    second = write_rows(tmp_path / "b.parquet", y=[1.0, 0.0], p=["0.5", "0.4"])
    line = assert_one_error_line(run_dask_cli(tmp_path), f"{second}: column `p` must contain only real numbers")
    assert "got '0.5' of type str at row 0 (0-based) of this file" in line


def test_cli_dask_file_of_text(client, tmp_path):
    path = write_rows(tmp_path / "s.parquet", y=[1.0, 0.0], p=["0.5", "0.4"])
    line = assert_one_error_line(run_dask_cli(path), f"{path}: column `p` must contain numbers, got type string")
    assert ".astype" not in line


def test_cli_dask_folder_truncated_file(client, tmp_path):
    write_rows(tmp_path / "a.parquet", y=[1.0, 0.0], p=[0.5, 0.4])
    whole = write_rows(tmp_path / "b.parquet", y=[1.0, 0.0], p=[0.5, 0.4]).read_bytes()
    (tmp_path / "b.parquet").write_bytes(whole[: len(whole) // 2])
    assert_one_error_line(run_dask_cli(tmp_path), f"{tmp_path / 'b.parquet'}: Dask could not read the data (ArrowInvalid: ")


def test_cli_dask_folder_unreadable_first_file(tmp_path):
    # Dask reads the first file's footer for the schema, before any task runs.
    whole = write_rows(tmp_path / "a.parquet", y=[1.0, 0.0], p=[0.5, 0.4]).read_bytes()
    (tmp_path / "a.parquet").write_bytes(whole[: len(whole) // 2])
    write_rows(tmp_path / "b.parquet", y=[1.0, 0.0], p=[0.5, 0.4])
    line = assert_one_error_line(run_dask_cli(tmp_path), f"{tmp_path / 'a.parquet'}: Dask could not read the Parquet data (")
    assert line.endswith(f"so replace it or move it out of {tmp_path}")


def test_cli_dask_truncated_file_advice(tmp_path):
    whole = write_rows(tmp_path / "a.parquet", y=[1.0, 0.0], p=[0.5, 0.4]).read_bytes()
    (tmp_path / "a.parquet").write_bytes(whole[: len(whole) // 2])
    line = assert_one_error_line(run_dask_cli(tmp_path / "a.parquet"), f"{tmp_path / 'a.parquet'}: Dask could not read")
    assert line.endswith("the file may be corrupt, truncated or not in Parquet format, so replace it")


@pytest.mark.skipif(sys.platform != "linux", reason="needs a file system that takes any bytes in names")
@pytest.mark.parametrize("in_folder", [False, True], ids=["file", "folder"])
def test_cli_dask_non_utf8_file_name(tmp_path, in_folder):
    import os

    write_rows(tmp_path / "good.parquet", y=[1.0, 0.0], p=[0.5, 0.4])
    name = os.fsdecode(b"bad\xff.parquet")
    # pyarrow writes to such a name only through a Python file object.
    with open(tmp_path / name, "wb") as file:
        write_rows(file, y=[1.0, 0.0], p=[0.5, 0.4])
    target = tmp_path if in_folder else tmp_path / name
    line = assert_one_error_line(run_dask_cli(target), f"{tmp_path}/bad\\xff.parquet: the path is not valid UTF-8")
    assert "rename the file or its folder, or score it with --engine local" in line


def test_cli_dask_empty_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("not data")
    assert_one_error_line(run_dask_cli(tmp_path), f"{tmp_path}: the folder contains no Parquet files")


def test_cli_dask_null_names_file_and_row(client, tmp_path):
    probabilities = [0.5] * 30
    probabilities[17] = None
    write_rows(tmp_path / "a.parquet", y=[1.0] * 30, p=[0.5] * 30)
    second = write_rows(tmp_path / "b.parquet", y=[1.0] * 30, p=probabilities)
    line = assert_one_error_line(run_dask_cli(tmp_path), f"{second}: column `p` must not contain NaN or missing values")
    # pandas reads the null as NaN; the message names what the file holds.
    assert "got a null at row 17 (0-based) of this file (1 NaN or null value in all)" in line
    assert "(in Dask partition 1)" in line


def test_cli_dask_nan_names_file_and_row(client, tmp_path):
    probabilities = [0.5] * 30
    probabilities[17] = float("nan")
    path = write_rows(tmp_path / "a.parquet", y=[1.0] * 30, p=probabilities)
    line = assert_one_error_line(run_dask_cli(tmp_path), f"{path}: column `p` must not contain NaN,")
    assert "got NaN at row 17 (0-based) of this file (1 NaN value in all)" in line


def test_cli_dask_fused_partitions_name_file_and_row(client, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(5)
    for i in range(20):
        probabilities = np.full(100, 0.5)
        if i == 13:
            probabilities[42] = 1.5
        others = {f"x{j}": rng.random(100) for j in range(10)}
        # Row groups of 30 rows: the row is counted from the row groups in the footers.
        pq.write_table(pa.table({"y": np.ones(100), "p": probabilities, **others}), tmp_path / f"f{i:02d}.parquet", row_group_size=30)
    # With 2 of 12 columns read, Dask reads several files in one partition, so the row
    # index in the partition is not the row in the file.
    scored = dd.read_parquet(str(tmp_path))[["p", "y"]].map_partitions(len, meta=(None, "int64"))
    assert scored.optimize().npartitions < 20
    line = assert_one_error_line(run_dask_cli(tmp_path), f"{tmp_path / 'f13.parquet'}: column `p` must be in [0, 1]")
    assert "got 1.5 at row 42 (0-based) of this file" in line


@pytest.mark.parametrize("arrow_type", ["int8", "int32", "int64"])
def test_dask_integer_label_error_value(client, tmp_path, arrow_type):
    """An invalid integer label is printed as an integer, as the local engine prints it."""
    import pyarrow as pa

    labels = pa.array([0, 1, 2, 1], getattr(pa, arrow_type)())
    path = write_rows(tmp_path / "labels.parquet", y=labels, p=[0.2, 0.7, 0.5, 0.6])
    line = assert_one_error_line(run_dask_cli(path), f"{path}: column `y` must be in [0, 1]")
    assert "got 2 at row 2" in line


def test_partition_error_keeps_partition_when_pickled():
    import pickle

    frame = dd.from_pandas(pd.DataFrame({"p": [0.5, np.nan], "y": [1.0, 0.0]}), npartitions=2)
    with pytest.raises(ValueError, match=r"\(in partition 1; indices count from its start\)") as info:
        frame_state(frame, label="y", prob="p")
    assert info.value.partition == 1
    assert info.value.partition_length == 1
    unpickled = pickle.loads(pickle.dumps(info.value))
    assert unpickled.partition == 1
    assert unpickled.partition_length == 1
