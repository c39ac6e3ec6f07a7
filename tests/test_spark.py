"""logloss.spark against the NumPy path on the same rows, with Spark in local[2] mode."""

import json
import math
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

from logloss import BinnedDecompositionState, GroupedLogLossState, LogLossState, LossOverflowWarning

pyspark_sql = pytest.importorskip("pyspark.sql", reason="logloss.spark needs pyspark")
pa = pytest.importorskip("pyarrow", reason="the Spark tests write their rows as Parquet with pyarrow")
pq = pytest.importorskip("pyarrow.parquet", reason="the Spark tests write their rows as Parquet with pyarrow")
if shutil.which("java") is None:
    pytest.skip("Spark needs a Java runtime (java not found on PATH)", allow_module_level=True)

from logloss.spark import evaluate_frame, frame_decomposition_state, frame_state

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
EPS = np.finfo(np.float64).eps


# Module scope, so Spark stops before the next test module runs.
@pytest.fixture(scope="module")
def spark():
    builder = (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .appName("logloss-tests")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
    )
    # Without this, Spark's own services pick the address of a network interface.
    previous_local_ip = os.environ.get("SPARK_LOCAL_IP")
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    with warnings.catch_warnings():
        # PySpark 4.x warns at start-up that it does not yet fully support pandas 3, and JAX,
        # when a test module imported it, warns that starting the JVM forks this process.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
        session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    if previous_local_ip is None:
        del os.environ["SPARK_LOCAL_IP"]
    else:
        os.environ["SPARK_LOCAL_IP"] = previous_local_ip


@pytest.fixture(scope="module")
def columns():
    rng = np.random.default_rng(20261204)
    probability = rng.random(N_ROWS)
    return {
        "p": probability,
        "z": rng.normal(0.0, 3.0, N_ROWS),
        "y": (rng.random(N_ROWS) < probability).astype(np.float64),
        "w": rng.exponential(1.0, N_ROWS),
        "country": rng.choice(np.array(["de", "fr", "us", "jp"]), N_ROWS),
        "device": rng.integers(0, 3, N_ROWS),
    }


@pytest.fixture(scope="module")
def parquet_path(columns, tmp_path_factory):
    path = tmp_path_factory.mktemp("spark") / "rows.parquet"
    pq.write_table(pa.table(columns), path)
    return str(path)


def read_rows(spark, path, npartitions):
    frame = spark.read.parquet(path)
    return frame.coalesce(1) if npartitions == 1 else frame.repartition(npartitions)


def small_frame(spark, rows: dict):
    names = list(rows)
    return spark.createDataFrame(list(zip(*rows.values(), strict=True)), names)


def local_state(columns, *, logit=False, weight=True, clip=None):
    state = LogLossState(clip=clip)
    weights = columns["w"] if weight else None
    if logit:
        state.update_logits(columns["z"], columns["y"], weights=weights)
    else:
        state.update(columns["p"], columns["y"], weights=weights)
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


@pytest.mark.parametrize("npartitions", [1, 16])
def test_probabilities_agree(spark, columns, parquet_path, npartitions):
    frame = read_rows(spark, parquet_path, npartitions)
    state = frame_state(frame, label="y", prob="p", weight="w")
    assert_states_agree(state, local_state(columns))


@pytest.mark.parametrize("npartitions", [1, 16])
def test_logits_agree(spark, columns, parquet_path, npartitions):
    frame = read_rows(spark, parquet_path, npartitions)
    state = frame_state(frame, label="y", logit="z")
    assert_states_agree(state, local_state(columns, logit=True, weight=False))


def test_unweighted_probabilities_agree(spark, columns, parquet_path):
    frame = read_rows(spark, parquet_path, 16)
    for chunk_bits in (12, None):
        state = frame_state(frame, label="y", prob="p", chunk_bits=chunk_bits)
        assert_states_agree(state, local_state(columns, weight=False))


def test_column_names_quoted(spark):
    rows = {"p": [0.9, 0.2, 0.5], "y": [1.0, 0.0, 1.0], "w": [1.0, 2.0, 0.5]}
    arrays = {name: np.array(values) for name, values in rows.items()}
    frame = small_frame(spark, rows).toDF("pred `score`", "label.y", "weight w")
    state = frame_state(frame, label="label.y", prob="pred `score`", weight="weight w")
    assert_states_agree(state, local_state(arrays))
    grouped = frame_state(frame, label="label.y", prob="pred `score`", by="weight w")
    assert grouped.state(2.0).count == 1
    binned = frame_decomposition_state(frame, label="label.y", prob="pred `score`", weight="weight w")
    assert binned.count == 3


def test_empty_frame_state(spark):
    frame = small_frame(spark, {"p": [0.5], "y": [1.0], "w": [2.0]}).limit(0)
    for chunk_bits in (12, None):
        for weight in (None, "w"):
            state = frame_state(frame, label="y", prob="p", weight=weight, chunk_bits=chunk_bits)
            assert state.count == 0
            assert state.sum("w") == 0.0
            assert state.sum("wl") == 0.0


def test_plain_aggregate_agrees(spark, columns, parquet_path):
    frame = read_rows(spark, parquet_path, 16)
    state = frame_state(frame, label="y", logit="z", chunk_bits=None)
    assert_states_agree(state, local_state(columns, logit=True, weight=False))


def test_weighted_logits_agree(spark, columns, parquet_path):
    frame = read_rows(spark, parquet_path, 16)
    state = frame_state(frame, label="y", logit="z", weight="w")
    assert_states_agree(state, local_state(columns, logit=True))


def test_clip_counts(spark, columns, parquet_path):
    frame = read_rows(spark, parquet_path, 16)
    state = frame_state(frame, label="y", prob="p", clip=0.05)
    assert_states_agree(state, local_state(columns, weight=False, clip=0.05))
    assert state.n_clipped > 0


def test_chunk_bits_extremes(spark, columns, parquet_path):
    frame = read_rows(spark, parquet_path, 16)
    for chunk_bits in (0, 32, None):
        state = frame_state(frame.limit(2_000), label="y", prob="p", chunk_bits=chunk_bits)
        assert state.count == 2_000


def test_result_matches_local(spark, columns, parquet_path):
    result = evaluate_frame(read_rows(spark, parquet_path, 16), label="y", prob="p", weight="w")
    reference = local_state(columns).result()
    assert result.count == reference.count
    for figure in FIGURES:
        assert getattr(result, figure) == pytest.approx(getattr(reference, figure), rel=TOLERANCE, abs=0), figure


def test_edge_rows_agree(spark):
    rows = {
        "p": [0.0, 1.0, 0.0, 1.0, 0.5, 0.25, 0.0],
        "z": [-math.inf, math.inf, 800.0, -800.0, 0.0, -1.5, -math.inf],
        "y": [0.0, 1.0, 0.3, 1.0, 1.0, 0.0, 1.0],
        "w": [1.0, 2.0, 1.0, 0.5, 3.0, 1.0, 0.0],
    }
    frame = small_frame(spark, rows)
    arrays = {name: np.array(values) for name, values in rows.items()}
    for logit in (False, True):
        state = frame_state(frame, label="y", weight="w", **({"logit": "z"} if logit else {"prob": "p"}))
        expected = local_state(arrays, logit=logit)
        assert state.n_infinite == expected.n_infinite
        for name in SUM_NAMES:
            # Java's exp and log may differ from NumPy's in the last bit.
            assert state.sum(name) == pytest.approx(expected.sum(name), rel=8 * EPS, abs=0.0), (logit, name)


def test_edge_rows_clipped(spark):
    rows = {"p": [0.0, 1.0, 1e-300, 1.0 - 2**-53, 0.5, 0.999], "y": [1.0, 0.0, 1.0, 0.0, 0.3, 1.0]}
    arrays = {name: np.array(values) for name, values in rows.items()}
    state = frame_state(small_frame(spark, rows), label="y", prob="p", clip=0.05)
    expected = local_state(arrays, weight=False, clip=0.05)
    assert state.n_clipped == expected.n_clipped
    assert state.n_infinite == 0
    for name in SUM_NAMES:
        assert state.sum(name) == pytest.approx(expected.sum(name), rel=8 * EPS, abs=0.0), name


def test_infinite_loss_counted(spark):
    frame = small_frame(spark, {"p": [0.0, 0.5, 1.0], "y": [1.0, 1.0, 0.0]})
    state = frame_state(frame, label="y", prob="p")
    assert state.n_infinite == 2
    assert math.isinf(state.result().log_loss)


def test_sums_beyond_range_warn(spark):
    # w**2 * loss overflows to Infinity for the first rows, whose label 0 must still give 0.
    rows = {"z": [1.7e308, 1e200, 0.0], "y": [0.0, 0.0, 1.0], "w": [2.0, 1e100, 1.0]}
    state = frame_state(small_frame(spark, rows), label="y", logit="z", weight="w")
    assert state.n_infinite == 0
    assert state.sum("w2ly") == pytest.approx(math.log(2.0), rel=8 * EPS, abs=0)
    # The loss sum overflows, and a second job sums the losses scaled, as the local state does.
    expected = LogLossState()
    expected.update_logits(np.array(rows["z"]), np.array(rows["y"]), weights=np.array(rows["w"]))
    assert math.isfinite(expected.result().log_loss)
    assert state.result().log_loss == pytest.approx(expected.result().log_loss, rel=TOLERANCE, abs=0)


@pytest.mark.parametrize("chunk_bits", [None, 12])
@pytest.mark.parametrize("weighted", [False, True])
def test_overflowed_loss_sum_recovered(spark, chunk_bits, weighted):
    rows = {"z": [1e308, -1e308, 1e200, -1e200], "y": [0.0, 1.0, 0.0, 1.0], "w": [1.0, 1.0, 1e120, 1e120], "k": ["a", "a", "b", "b"]}
    weight = "w" if weighted else None
    frame = small_frame(spark, rows)
    state = frame_state(frame, label="y", logit="z", weight=weight, chunk_bits=chunk_bits)
    expected = LogLossState()
    expected.update_logits(np.array(rows["z"]), np.array(rows["y"]), weights=np.array(rows["w"]) if weighted else None)
    assert state.result().log_loss == pytest.approx(expected.result().log_loss, rel=TOLERANCE, abs=0)
    grouped = frame_state(frame, label="y", logit="z", weight=weight, by="k", chunk_bits=chunk_bits).results()
    assert grouped["a"].log_loss == pytest.approx(1e308, rel=TOLERANCE, abs=0)
    assert grouped["b"].log_loss == pytest.approx(1e200, rel=TOLERANCE, abs=0)


def test_integer_and_boolean_columns(spark):
    frame = small_frame(spark, {"p": [0.9, 0.2, 0.6], "y": [True, False, True], "w": [1, 2, 3]})
    state = frame_state(frame, label="y", prob="p", weight="w")
    expected = LogLossState()
    expected.update(np.array([0.9, 0.2, 0.6]), np.array([1.0, 0.0, 1.0]), weights=np.array([1.0, 2.0, 3.0]))
    assert state.result().log_loss == pytest.approx(expected.result().log_loss, rel=TOLERANCE, abs=0)


@pytest.mark.parametrize(
    ("rows", "arguments", "message"),
    [
        (
            {"p": [0.5, 1.5], "y": [1.0, 0.0]},
            {},
            r"column `p` must be in \[0, 1\], got 1.5 \(1 such row in all\); .*logit=",
        ),
        (
            {"p": [1.5, -0.5, 0.5], "y": [1.0, 0.0, 1.0]},
            {},
            r"column `p` must be in \[0, 1\], got 1.5 \(2 such rows in all\)",
        ),
        ({"p": [0.5, None], "y": [1.0, 0.0]}, {}, r"column `p` must not contain NULL, got None.*impute"),
        ({"p": [0.5, float("nan")], "y": [1.0, 0.0]}, {}, r"column `p` must not contain NaN, got nan \(1 such row in all\); drop those rows or impute the missing values first$"),
        ({"p": [0.5, 0.5], "y": [1.0, float("nan")]}, {}, r"column `y` must not contain NaN, got nan .*impute"),
        ({"p": [0.5, 0.5], "y": [1.0, -1.0]}, {}, r"column `y` must be in \[0, 1\], got -1.0"),
        (
            {"p": [0.5, 0.5], "y": [1.0, 0.0], "w": [1.0, -2.0]},
            {"weight": "w"},
            r"column `w` must be non-negative, got -2.0",
        ),
        (
            {"p": [0.5, 0.5, 0.5], "y": [1.0, 0.0, 1.0], "w": [0.0, 1e-200, 1e300]},
            {"weight": "w"},
            r"column `w` must be 0 or between 1e-120 and 1e\+120, got 1e-200 \(2 such rows in all\); divide",
        ),
        (
            {"p": [0.5, 0.5], "y": [1.0, 0.0], "w": [1.0, math.inf]},
            {"weight": "w"},
            r"column `w` must be finite, got inf",
        ),
    ],
)
def test_invalid_values_rejected(spark, rows, arguments, message):
    frame = small_frame(spark, rows)
    with pytest.raises(ValueError, match=message):
        frame_state(frame, label="y", prob="p", **arguments)


def test_string_column_rejected(spark):
    frame = small_frame(spark, {"p": ["0.5"], "y": [1.0]})
    with pytest.raises(TypeError, match="column `p` must have a numeric or boolean type, got string"):
        frame_state(frame, label="y", prob="p")


def test_prediction_argument_required(spark):
    frame = small_frame(spark, {"p": [0.5], "y": [1.0]})
    with pytest.raises(TypeError, match="exactly one of `prob` and `logit`.*got neither"):
        frame_state(frame, label="y")


@pytest.mark.parametrize("function", [evaluate_frame, frame_state], ids=lambda function: function.__name__)
def test_clip_with_logits_rejected(spark, function):
    frame = small_frame(spark, {"z": [0.5], "y": [1.0]})
    with pytest.raises(ValueError, match=r"`clip` applies to probabilities only; logits are never clipped, got clip=0.1"):
        function(frame, label="y", logit="z", clip=0.1)


def test_repeated_column_rejected(spark):
    frame = spark.createDataFrame([(1.0, 0.9, 0.9), (0.0, 0.2, 0.2)], ["y", "p", "p"])
    with pytest.raises(ValueError, match=r"^column `p` appears 2 times in the frame; rename the columns"):
        evaluate_frame(frame, label="y", prob="p")


def test_frame_type_rejected():
    with pytest.raises(TypeError, match="`frame` must be a pyspark.sql.DataFrame, got dict"):
        frame_state({"p": [0.5]}, label="y", prob="p")


def test_chunk_bits_checked(spark):
    frame = small_frame(spark, {"p": [0.5], "y": [1.0]})
    with pytest.raises(ValueError, match=r"`chunk_bits` must be None or an integer in \[0, 32\], got 40"):
        frame_state(frame, label="y", prob="p", chunk_bits=40)


def test_cli_engine_spark(spark, columns, parquet_path):
    from click.testing import CliRunner

    from logloss.cli import cli

    output = CliRunner().invoke(
        cli, ["score", parquet_path, "--engine", "spark", "--label", "y", "--logit", "z", "--weight", "w", "--json"]
    )
    assert output.exit_code == 0, output.output
    figures = json.loads(output.stdout)["result"]
    assert figures["log_loss"] == pytest.approx(local_state(columns, logit=True).result().log_loss, rel=TOLERANCE, abs=0)
    assert figures["count"] == N_ROWS


def test_engine_session_reuses_active(spark):
    from logloss._score_engines import spark_session

    assert spark_session() is spark


def test_cli_engine_spark_quiet_start(tmp_path):
    # A new process, so that the command starts its own Spark session and JVM.
    environment = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "COLUMNS": "120"}
    for name in ("SPARK_CONF_DIR", "SPARK_HOME"):
        environment.pop(name, None)
    environment.pop("PYSPARK_SUBMIT_ARGS", None)
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"y": [1.0, 0.0, 1.0, 1.0], "p": [0.8, 0.3, 0.6, 0.9], "g": ["a", "b", "a", "b"]}), path)
    command = [sys.executable, "-c", "from logloss._entry import main; main()", "score", str(path)]
    command += ["--engine", "spark", "--label", "y", "--prob", "p", "--by", "g"]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "log loss by g" in result.stdout
    # logloss's own warning is still printed: segment a has only positive labels.
    assert "logloss: warning: normalized entropy or calibration ratio is inf or NaN in 1 of 2 segments" in result.stderr
    spark_lines = [line for line in result.stderr.splitlines() if not line.startswith("logloss: ")]
    # Java 17 itself warns that Spark loads an incubator module; no log4j2 setting reaches it.
    spark_lines = [line for line in spark_lines if not line.startswith("WARNING: Using incubator modules")]
    assert spark_lines == []


def test_cli_engine_spark_bad_value(spark, tmp_path):
    from click.testing import CliRunner

    from logloss.cli import cli

    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"p": [0.5, 1.5], "y": [1.0, 0.0]}), path)
    output = CliRunner().invoke(cli, ["score", str(path), "--engine", "spark", "--label", "y", "--prob", "p"])
    assert output.exit_code == 1
    assert f"logloss: error: {path}: column `p` must be in [0, 1], got 1.5" in output.output


@pytest.mark.parametrize("npartitions", [1, 16])
def test_segments_agree(spark, columns, parquet_path, npartitions):
    state = frame_state(
        read_rows(spark, parquet_path, npartitions), label="y", prob="p", weight="w", by=["country", "device"]
    )
    expected = GroupedLogLossState()
    expected.update(columns["p"], columns["y"], (columns["country"], columns["device"]), weights=columns["w"])
    results, references = state.results(), expected.results()
    assert sorted(results) == sorted(references)
    for key, reference in references.items():
        for figure in (*FIGURES, "count"):
            assert getattr(results[key], figure) == pytest.approx(getattr(reference, figure), rel=TOLERANCE, abs=0), (
                key,
                figure,
            )


@pytest.mark.parametrize("npartitions", [1, 16])
def test_decomposition_agrees(spark, columns, parquet_path, npartitions):
    for arguments in ({"prob": "p", "weight": "w"}, {"logit": "z"}):
        state = frame_decomposition_state(read_rows(spark, parquet_path, npartitions), label="y", **arguments)
        expected = BinnedDecompositionState()
        weights = columns["w"] if "weight" in arguments else None
        if "prob" in arguments:
            expected.update(columns["p"], columns["y"], weights=weights)
        else:
            expected.update_logits(columns["z"], columns["y"], weights=weights)
        result, reference = state.result(), expected.result()
        for name in ("score", "discrimination", "miscalibration", "uncertainty", "error_bound"):
            assert getattr(result, name) == pytest.approx(getattr(reference, name), rel=TOLERANCE, abs=1e-15), (
                arguments,
                name,
            )


def test_segments_null_and_nan_keys(spark):
    rows = {"p": [0.9, 0.2, 0.6, 0.3], "y": [1.0, 0.0, 0.0, 1.0], "k": [1.0, float("nan"), None, 1.0]}
    state = frame_state(small_frame(spark, rows), label="y", prob="p", by="k")
    expected = GroupedLogLossState()
    expected.update(np.array(rows["p"]), np.array(rows["y"]), np.array([1.0, np.nan, np.nan, 1.0]))
    assert sorted(state.keys(), key=str) == sorted(expected.keys(), key=str)
    assert state.state(None).count == 2


def test_cli_engine_spark_segments(spark, columns, parquet_path):
    from click.testing import CliRunner

    from logloss.cli import cli

    arguments = ["score", parquet_path, "--engine", "spark", "--label", "y", "--prob", "p", "--by", "country"]
    output = CliRunner().invoke(cli, [*arguments, "--decompose", "--json"])
    assert output.exit_code == 0, output.output
    report = json.loads(output.stdout)
    assert report["engine"] == "spark"
    assert report["row_numbering"] is None
    assert report["result"]["log_loss"] == pytest.approx(
        local_state(columns, weight=False).result().log_loss, rel=TOLERANCE, abs=0)


def run_spark_cli(path, *options):
    from click.testing import CliRunner

    from logloss.cli import cli

    return CliRunner().invoke(cli, ["score", str(path), "--engine", "spark", "--label", "y", "--prob", "p", *options])


def error_line(output):
    """Return the one line the command printed, after checking that it is an error and exited 1."""
    assert output.exit_code == 1, output.output
    assert "Traceback" not in output.output
    lines = output.output.splitlines()
    assert len(lines) == 1, output.output
    assert lines[0].startswith("logloss: error: "), lines[0]
    return lines[0].removeprefix("logloss: error: ")


def test_cli_spark_folder_file_of_text(spark, tmp_path):
    second = tmp_path / "b.parquet"
    pq.write_table(pa.table({"y": [1.0, 0.0], "p": [0.5, 0.4]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"y": [1.0, 0.0], "p": ["0.5", "0.4"]}), second)
    line = error_line(run_spark_cli(tmp_path))
    # Spark takes the column types from one file, either one. With those of b.parquet, the
    # column is text; with those of a.parquet, b.parquet cannot be read.
    if line.startswith(f"{second}: column `p` must contain numbers"):
        assert "got type string" in line
    else:
        assert line.startswith(f"{second}: Spark could not read column `p` ([FAILED_READ_FILE"), line
        assert "write column `p` with the same type in every file" in line


def test_cli_spark_folder_label_types_differ(spark, tmp_path):
    pq.write_table(pa.table({"y": pa.array([1, 0], pa.int64()), "p": [0.5, 0.4]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"y": pa.array([1, 0], pa.float32()), "p": [0.5, 0.4]}), tmp_path / "b.parquet")
    line = error_line(run_spark_cli(tmp_path))
    assert line.startswith((f"{tmp_path / 'a.parquet'}: ", f"{tmp_path / 'b.parquet'}: ")), line
    assert "Spark could not read column `y` ([FAILED_READ_FILE.PARQUET_COLUMN_DATA_TYPE_MISMATCH]" in line
    assert "write column `y` with the same type in every file" in line


def test_cli_spark_file_of_text(spark, tmp_path):
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"y": [1.0, 0.0], "p": ["0.5", "0.4"]}), path)
    line = error_line(run_spark_cli(path))
    assert line.startswith(f"{path}: column `p` must contain numbers, got type string"), line


def test_cli_spark_folder_file_without_column(spark, tmp_path):
    pq.write_table(pa.table({"y": [1.0, 0.0], "p": [0.5, 0.4]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"y": [1.0, 0.0], "q": [0.5, 0.4]}), tmp_path / "b.parquet")
    line = error_line(run_spark_cli(tmp_path))
    # Spark reads the missing column as NULL, or misses it in the frame when it takes the
    # schema from b.parquet.
    assert line.startswith(f"{tmp_path / 'b.parquet'}: column `p` not found; the file has the columns `y`, `q`"), line


def test_cli_spark_empty_folder(spark, tmp_path):
    (tmp_path / "_SUCCESS").write_text("")
    line = error_line(run_spark_cli(tmp_path))
    assert line.startswith(f"{tmp_path}: the folder contains no Parquet files"), line


def test_cli_spark_error_prints_no_java_log(tmp_path):
    # A new process, so that the command starts its own Spark session with logloss's
    # log4j2 configuration, which keeps the failed task's Java stack off stderr.
    environment = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    for name in ("SPARK_CONF_DIR", "SPARK_HOME", "PYSPARK_SUBMIT_ARGS"):
        environment.pop(name, None)
    pq.write_table(pa.table({"y": pa.array([1, 0], pa.int64()), "p": [0.5, 0.4]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"y": pa.array([1, 0], pa.float32()), "p": [0.5, 0.4]}), tmp_path / "b.parquet")
    command = [sys.executable, "-c", "from logloss._entry import main; main()", "score", str(tmp_path)]
    command += ["--engine", "spark", "--label", "y", "--prob", "p"]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300, check=False)
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("WARNING: Using incubator modules")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("logloss: error: "), lines[0]
    assert "Spark could not read column `y`" in lines[0]
