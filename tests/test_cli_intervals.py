import json

import numpy as np
import pytest

pytest.importorskip("click")
pytest.importorskip("rich")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pa_csv = pytest.importorskip("pyarrow.csv")

from click.testing import CliRunner  # noqa: E402

from logloss import BootstrapState, LogLossState, PairedComparisonState, confidence_interval  # noqa: E402
from logloss.cli import cli  # noqa: E402

RTOL = 1e-12


def run(*args):
    return CliRunner().invoke(cli, ["score", *map(str, args)])


def run_json(*args):
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _columns(n=300, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, n)
    return {
        "y": (rng.uniform(size=n) < p).astype(np.int64),
        "p": p,
        "q": np.clip(p + rng.normal(0.0, 0.1, n), 0.01, 0.99),
        "w": rng.uniform(0.5, 2.0, n),
        "id": np.array([f"user-{i}" for i in range(n)]),
    }


def write_parquet(path, columns):
    pq.write_table(pa.table(columns), path)
    return path


def assert_interval_close(got, expected):
    for key in ("estimate", "standard_error", "lower", "upper"):
        assert got[key] == pytest.approx(getattr(expected, key), rel=RTOL, abs=0), key


def test_ci_delta_matches_library(tmp_path):
    data = _columns()
    path = write_parquet(tmp_path / "scores.parquet", data)
    report = run_json(path, "--label", "y", "--prob", "p", "--weight", "w", "--ci", "--batch-size", 70)
    state = LogLossState()
    state.update(data["p"], data["y"], weights=data["w"])
    expected = confidence_interval(state)
    assert report["interval_settings"] == {
        "method": "delta",
        "level": 0.95,
        "n_bootstrap": None,
        "seed": None,
        "row_ids": None,
    }
    for figure in ("log_loss", "normalized_entropy", "calibration_ratio"):
        assert_interval_close(report["intervals"][figure], getattr(expected, figure))


def test_ci_bootstrap_matches_library(tmp_path):
    data = _columns()
    path = write_parquet(tmp_path / "scores.parquet", data)
    report = run_json(
        path, "--label", "y", "--prob", "p", "--ci", "--method", "bootstrap", "--bootstrap", 50, "--seed", 9,
        "--level", 0.9, "--batch-size", 64,
    )
    state = BootstrapState(n_bootstrap=50, seed=9)
    state.update(data["p"], data["y"])
    expected = state.interval(level=0.9)
    settings = report["interval_settings"]
    assert (settings["method"], settings["level"], settings["n_bootstrap"], settings["seed"]) == ("bootstrap", 0.9, 50, 9)
    assert settings["row_ids"] == "0-based row number"
    assert (report["intervals"]["n_bootstrap"], report["intervals"]["seed"]) == (50, 9)
    for figure in ("log_loss", "normalized_entropy", "calibration_ratio"):
        assert_interval_close(report["intervals"][figure], getattr(expected, figure))


def test_id_column_makes_row_order_irrelevant(tmp_path):
    data = _columns(n=200)
    order = np.random.default_rng(1).permutation(200)
    shuffled = {name: values[order] for name, values in data.items()}
    csv_path = tmp_path / "scores.csv"
    pa_csv.write_csv(pa.table(data), csv_path)
    parquet_path = write_parquet(tmp_path / "shuffled.parquet", shuffled)
    options = ("--label", "y", "--prob", "p", "--ci", "--method", "bootstrap", "--bootstrap", 40, "--id-column", "id")
    first = run_json(csv_path, *options)
    second = run_json(parquet_path, *options, "--batch-size", 33)
    assert first["interval_settings"]["row_ids"] == "column `id`"
    for figure in ("log_loss", "normalized_entropy", "calibration_ratio"):
        for key in ("lower", "upper"):
            assert first["intervals"][figure][key] == pytest.approx(second["intervals"][figure][key], rel=RTOL, abs=0)


def test_compare_delta_matches_library(tmp_path):
    data = _columns()
    path = write_parquet(tmp_path / "scores.parquet", data)
    report = run_json(path, "--label", "y", "--prob", "p", "--compare", "q", "--batch-size", 100)
    state = PairedComparisonState()
    state.update(data["p"], data["q"], data["y"])
    expected = state.interval()
    comparison = report["comparison"]
    assert comparison["column"] == "q"
    assert comparison["log_loss_a"] == pytest.approx(expected.log_loss_a, rel=RTOL, abs=0)
    assert comparison["log_loss_b"] == pytest.approx(expected.log_loss_b, rel=RTOL, abs=0)
    assert_interval_close(comparison["difference"], expected.difference)
    assert "intervals" not in report


def test_compare_logits_bootstrap(tmp_path):
    data = _columns()
    logits = {"y": data["y"], "a": np.log(data["p"] / (1 - data["p"])), "b": np.log(data["q"] / (1 - data["q"]))}
    path = write_parquet(tmp_path / "scores.parquet", logits)
    report = run_json(path, "--label", "y", "--logit", "a", "--compare", "b", "--method", "bootstrap", "--bootstrap", 30)
    state = PairedComparisonState(n_bootstrap=30)
    state.update_logits(logits["a"], logits["b"], logits["y"])
    expected = state.interval(method="bootstrap")
    assert report["comparison"]["method"] == "bootstrap"
    assert report["comparison"]["n_bootstrap"] == 30
    assert_interval_close(report["comparison"]["difference"], expected.difference)


def test_ci_and_compare_tables():
    result = run("--ci", "--compare", "prob", "--level", 0.9)
    assert result.exit_code == 0, result.output
    assert "0.9 confidence intervals" in result.stdout
    assert "delta method" in result.stdout
    assert "log loss of prob minus prob" in result.stdout


def test_bootstrap_caption_names_settings():
    result = run("--ci", "--method", "bootstrap", "--bootstrap", 20, "--seed", 4)
    assert result.exit_code == 0, result.output
    assert "Poisson bootstrap, 20 replicates, seed 4" in result.stdout


def test_single_class_warning_printed_once(tmp_path):
    path = write_parquet(tmp_path / "scores.parquet", {"y": np.zeros(5, dtype=np.int64), "p": np.full(5, 0.2)})
    result = run(path, "--label", "y", "--prob", "p", "--ci")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("normalized entropy is undefined") == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (("--level", "0.9"), "--level applies only with --ci or --compare"),
        (("--ci", "--seed", "3"), "--seed applies only with --method bootstrap"),
        (("--ci", "--id-column", "id"), "--id-column applies only with --method bootstrap"),
        (("--ci", "--method", "bootstrap", "--bootstrap", "1"), "1 is not in the range x>=2"),
        (("--seed", "1", "--bootstrap", "9"), "--bootstrap, --seed apply only with --ci or --compare"),
        (("--ci", "--level", "1.5"), "Invalid value for '--level'"),
        (("--ci", "--level", "nan"), "LEVEL must be a number in (0, 1), got nan."),
    ],
)
def test_usage_errors(args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_id_column_null_error(tmp_path):
    data = _columns(n=10)
    table = pa.table({"y": data["y"], "p": data["p"], "id": pa.array([1, 2, None, 4, 5, 6, 7, 8, 9, 10])})
    path = tmp_path / "scores.parquet"
    pq.write_table(table, path)
    result = run(path, "--label", "y", "--prob", "p", "--ci", "--method", "bootstrap", "--id-column", "id")
    assert result.exit_code == 1
    assert "column `id` must not contain missing values, got a null at row 2 (0-based)" in result.stderr


def test_id_column_float_error(tmp_path):
    data = _columns(n=10)
    path = write_parquet(tmp_path / "scores.parquet", {"y": data["y"], "p": data["p"], "id": np.arange(10.0)})
    result = run(path, "--label", "y", "--prob", "p", "--ci", "--method", "bootstrap", "--id-column", "id")
    assert result.exit_code == 1
    assert "column `id` must contain integer or string row ids, got type double" in result.stderr


def test_compare_column_checked(tmp_path):
    data = _columns(n=10)
    data["q"][3] = 1.5
    path = write_parquet(tmp_path / "scores.parquet", data)
    result = run(path, "--label", "y", "--prob", "p", "--compare", "q")
    assert result.exit_code == 1
    assert "column `q` must contain probabilities in [0, 1], got 1.5 at row 3 (0-based)" in result.stderr


def test_compare_with_segments_reads_once(tmp_path):
    data = _columns(n=60)
    data["group"] = np.arange(60) % 3
    path = write_parquet(tmp_path / "scores.parquet", data)
    report = run_json(path, "--label", "y", "--prob", "p", "--compare", "q", "--by", "group", "--ci")
    state = PairedComparisonState()
    state.update(data["p"], data["q"], data["y"])
    assert_interval_close(report["comparison"]["difference"], state.interval().difference)
    assert len(report["segments"]["rows"]) == 3


def test_id_column_may_be_label(tmp_path):
    data = _columns(n=50)
    path = write_parquet(tmp_path / "scores.parquet", data)
    report = run_json(path, "--label", "y", "--prob", "p", "--ci", "--method", "bootstrap", "--id-column", "y")
    assert report["interval_settings"]["row_ids"] == "column `y`"


def test_compare_column_missing(tmp_path):
    data = _columns(n=10)
    path = write_parquet(tmp_path / "scores.parquet", data)
    result = run(path, "--label", "y", "--prob", "p", "--compare", "r")
    assert result.exit_code == 1
    assert "column `r` not found" in result.stderr


def _infinite_compare_file(tmp_path):
    data = _columns(n=200, seed=3)
    data["q"] = data["p"].copy()
    data["q"][[3, 10]] = 1.0 - data["y"][[3, 10]]  # exact 0 or 1 against the label
    data["uid"] = np.arange(200) % 70
    return write_parquet(tmp_path / "scores.parquet", data)


def test_bootstrap_compare_infinite_warning_matches_bounds(tmp_path):
    path = _infinite_compare_file(tmp_path)
    args = (path, "--label", "y", "--prob", "p", "--compare", "q", "--method", "bootstrap", "--id-column", "uid")
    result = run(*args, "--bootstrap", 100, "--json")
    assert result.exit_code == 0, result.output
    difference = json.loads(result.stdout)["comparison"]["difference"]
    assert difference["estimate"] == "-inf"
    assert difference["lower"] == "-inf"
    assert difference["standard_error"] == "inf"
    (warning,) = [message for message in json.loads(result.stdout)["warnings"] if "difference" in message]
    assert "bounds are NaN" not in warning
    assert "the log loss difference is -inf because 2 losses are infinite" in warning
    assert "percentiles of the replicates' differences" in warning


def test_delta_compare_infinite_warning_names_clip_option(tmp_path):
    path = _infinite_compare_file(tmp_path)
    report = run_json(path, "--label", "y", "--prob", "p", "--compare", "q")
    assert report["comparison"]["difference"]["lower"] == "nan"
    (warning,) = report["warnings"]
    assert "its bounds are NaN" in warning
    assert "(pass --clip EPS to bound them)" in warning
    assert "pass clip " not in warning


def test_ci_infinite_loss_warning_names_clip_option(tmp_path):
    data = _columns(n=20)
    data["p"][4] = 1.0 - data["y"][4]
    path = write_parquet(tmp_path / "scores.parquet", data)
    result = run(path, "--label", "y", "--prob", "p", "--ci")
    assert result.exit_code == 0, result.output
    assert "because 1 row has an infinite loss" in result.stderr
    assert "Pass --clip EPS to bound the loss" in result.stderr
    assert "to the state" not in result.stderr


def test_ci_infinite_logit_warning_speaks_of_logits(tmp_path):
    data = _columns(n=20)
    logits = np.log(data["p"] / (1 - data["p"]))
    logits[4] = -np.inf if data["y"][4] == 1 else np.inf
    path = write_parquet(tmp_path / "scores.parquet", {"y": data["y"], "z": logits, "z2": logits[::-1].copy()})
    result = run(path, "--label", "y", "--logit", "z", "--ci", "--compare", "z2")
    assert result.exit_code == 0, result.output
    assert "check the infinite logits" in result.stderr
    assert "(from infinite logits of the wrong sign, which are never clipped)" in result.stderr
    assert "clip to" not in result.stderr
    assert "probability" not in result.stderr


def test_library_warning_keeps_python_wording():
    state = LogLossState()
    state.update(np.array([0.0, 0.2, 0.7]), np.array([1, 0, 1]))
    with pytest.warns(UserWarning, match="Pass clip to the state to bound the loss"):
        confidence_interval(state)


def test_infinite_logit_loss_warning_speaks_of_logits():
    from logloss import binary_cross_entropy_with_logits
    from logloss._cli_warnings import cli_warning

    with pytest.warns(UserWarning) as record:
        binary_cross_entropy_with_logits(np.array([-np.inf, 0.5]), np.array([1.0, 0.0]))
    message = str(record[0].message)
    assert "(an infinite logit of the wrong sign for its target" in message
    assert message.endswith("Check those logits")
    assert "clip" not in message
    assert cli_warning(message, "logit") == message


def test_compare_logit_column_on_prob_run_advice(tmp_path):
    data = _columns(n=10)
    data["z"] = np.log(data["q"] / (1 - data["q"]))
    path = write_parquet(tmp_path / "scores.parquet", data)
    result = run(path, "--label", "y", "--prob", "p", "--compare", "z")
    assert result.exit_code == 1
    assert "column `z` must contain probabilities in [0, 1]" in result.stderr
    assert "no option reads a --compare column as logits" in result.stderr
    assert "(--logit COL --compare z)" in result.stderr
    assert "pass it with --logit" not in result.stderr


def test_compare_probabilities_on_logit_run_warns(tmp_path):
    data = _columns(n=50)
    data["z"] = np.log(data["p"] / (1 - data["p"]))
    path = write_parquet(tmp_path / "scores.parquet", data)
    result = run(path, "--label", "y", "--logit", "z", "--compare", "q")
    assert result.exit_code == 0, result.output
    assert "every value of the --compare column `q` lies in [0, 1], unlike the --logit column" in result.stderr
    assert "(--prob COL --compare q)" in result.stderr


def test_compare_logits_on_logit_run_silent(tmp_path):
    data = _columns(n=50)
    data["a"] = np.log(data["p"] / (1 - data["p"]))
    data["b"] = np.log(data["q"] / (1 - data["q"]))
    path = write_parquet(tmp_path / "scores.parquet", data)
    result = run(path, "--label", "y", "--logit", "a", "--compare", "b")
    assert result.exit_code == 0, result.output
    assert "--compare column" not in result.stderr
