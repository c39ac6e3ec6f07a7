import html
import json
import math
import re
import shutil

import numpy as np
import pytest

pytest.importorskip("click")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from click.testing import CliRunner  # noqa: E402

from logloss import LogLossState, datasets  # noqa: E402
from logloss._report_html import external_references  # noqa: E402
from logloss.cli import cli  # noqa: E402


def run(*args):
    return CliRunner().invoke(cli, ["report", *map(str, args)])


def cell(page, label):
    match = re.search(rf"<td>{re.escape(label)}</td><td class=\"number\">([^<]*)</td>", page)
    assert match is not None, f"no table row {label!r}"
    return match.group(1)


def test_report_bundled_by_customer_type(tmp_path):
    output = tmp_path / "report.html"
    result = run("-o", output, "--by", "customer_type")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {output}\n"
    page = output.read_text(encoding="utf-8")
    assert cell(page, "log loss (nats)") == "0.210901"
    assert cell(page, "rows") == "5,822"
    assert "bundled Caravan data (label=label, prob=prob, by=customer_type)" in page
    assert "<h2>Per customer_type</h2>" in page
    assert external_references(page) == []


def segment_keys(page):
    """Return the first cells of the per-segment table's rows, unescaped."""
    first_cells = re.findall(r"<tr><td>([^<]*)</td><td class=\"number\">\d[\d,]*</td><td class=\"number\">", page)
    return [html.unescape(key) for key in first_cells]


def test_report_csv_logits_weights(tmp_path):
    data = tmp_path / "scores.csv"
    data.write_text(
        "y,z,w,region\n1,2.5,1.0,north\n0,-1.0,2.0,\n1,40.0,0.5,south\n0,45.0,1.5,north\n",
        encoding="utf-8",
    )
    output = tmp_path / "report.html"
    result = run(data, "--label", "y", "--logit", "z", "--weight", "w", "--by", "region", "-o", output)
    assert result.exit_code == 0, result.output
    page = output.read_text(encoding="utf-8")
    state = LogLossState()
    logits = np.array([2.5, -1.0, 40.0, 45.0])
    state.update_logits(logits, np.array([1, 0, 1, 0]), weights=np.array([1.0, 2.0, 0.5, 1.5]))
    assert cell(page, "log loss (nats)") == f"{state.result().log_loss:.6f}"
    assert cell(page, "weight sum") == "5"
    # The empty CSV key cell is a null key, as in Parquet, listed last.
    assert segment_keys(page) == ["north", "south", "(null)"]


def test_report_parquet_null_keys(tmp_path):
    data = tmp_path / "scores.parquet"
    pq.write_table(pa.table({"label": [0, 1, 1], "p": [0.2, 0.6, 0.9], "region": ["b", None, "a"]}), data)
    output = tmp_path / "report.html"
    result = run(data, "--prob", "p", "--by", "region", "-o", output)
    assert result.exit_code == 0, result.output
    # The null key forms its own segment, listed last.
    assert segment_keys(output.read_text(encoding="utf-8")) == ["a", "b", "(null)"]


def test_report_keys_that_look_alike(tmp_path):
    # A null key and the text "(null)", and keys whose parts hold ", ", stay apart.
    data = tmp_path / "scores.parquet"
    regions = [None, "(null)", "", '""', "a, b", "a"]
    zones = ["x", "x", "x", "x", "c", "b, c"]
    pq.write_table(pa.table({"label": [0, 1] * 3, "p": [0.4] * 6, "region": regions, "zone": zones}), data)
    output = tmp_path / "report.html"
    result = run(data, "--prob", "p", "--by", "region", "--by", "zone", "-o", output)
    assert result.exit_code == 0, result.output
    keys = segment_keys(output.read_text(encoding="utf-8"))
    assert len(keys) == 6
    assert set(keys) == {'"", x', '"\\"\\"", x', '"(null)", x', '"a, b", c', 'a, "b, c"', "(null), x"}


def test_report_by_two_columns(tmp_path):
    output = tmp_path / "report.html"
    result = run("--by", "customer_type", "--by", "label", "-o", output)
    assert result.exit_code == 0, result.output
    page = output.read_text(encoding="utf-8")
    assert "<h2>Per customer_type, label</h2>" in page
    assert "by=customer_type,label" in page
    assert segment_keys(page)[:3] == ["type 1, 0", "type 1, 1", "type 10, 0"]


def test_report_by_numeric_column(tmp_path):
    data = tmp_path / "scores.parquet"
    pq.write_table(pa.table({"label": [0, 1, 1, 0], "p": [0.2, 0.6, 0.9, 0.4], "bucket": [2, 10, 2, 10]}), data)
    output = tmp_path / "report.html"
    result = run(data, "--prob", "p", "--by", "bucket", "-o", output)
    assert result.exit_code == 0, result.output
    # Numeric keys sort as numbers, so 2 comes before 10.
    assert segment_keys(output.read_text(encoding="utf-8")) == ["2", "10"]


def test_report_by_label_column(tmp_path):
    output = tmp_path / "report.html"
    result = run("--by", "label", "-o", output)
    assert result.exit_code == 0, result.output
    page = output.read_text(encoding="utf-8")
    assert segment_keys(page) == ["0", "1"]
    assert "label = 0: normalized entropy is undefined" in page


def test_report_invalid_probability_names_row(tmp_path):
    data = tmp_path / "scores.csv"
    data.write_text("label,p\n0,0.2\n1,1.5\n", encoding="utf-8")
    output = tmp_path / "report.html"
    result = run(data, "--prob", "p", "-o", output)
    assert result.exit_code == 1
    assert "logloss: error:" in result.stderr
    assert "column `p` must contain probabilities in [0, 1], got 1.5 at row 1 (0-based)" in result.stderr
    assert not output.exists()


def write_header_only_csv(path):
    path.write_text("label,p\n", encoding="utf-8")


def write_empty_parquet(path):
    pq.write_table(pa.table({"label": pa.array([], pa.int64()), "p": pa.array([], pa.float64())}), path)


@pytest.mark.parametrize(
    ("name", "write"), [("scores.csv", write_header_only_csv), ("scores.parquet", write_empty_parquet)]
)
def test_report_no_data_rows(tmp_path, name, write):
    data = tmp_path / name
    write(data)
    output = tmp_path / "report.html"
    result = run(data, "--prob", "p", "-o", output)
    assert result.exit_code == 1
    assert result.stderr == f"logloss: error: {data}: the file has no data rows, so no figure can be computed\n"
    assert not output.exists()


def write_scores_csv(path):
    path.write_text("label,p\n0,0.2\n1,0.6\n", encoding="utf-8")


def write_scores_parquet(path):
    pq.write_table(pa.table({"label": [0, 1], "p": [0.2, 0.6]}), path)


@pytest.mark.parametrize(
    ("name", "write"), [("scores.csv", write_scores_csv), ("scores.parquet", write_scores_parquet)]
)
def test_report_output_is_input(tmp_path, name, write):
    data = tmp_path / name
    write(data)
    before = data.read_bytes()
    result = run(data, "--prob", "p", "-o", data)
    assert result.exit_code == 2
    assert f"--output {data} is the same file as the input {data}." in result.stderr
    assert "Choose another output path" in result.stderr
    assert data.read_bytes() == before


def test_report_output_links_to_input(tmp_path):
    data = tmp_path / "scores.csv"
    write_scores_csv(data)
    link = tmp_path / "link.csv"
    link.symlink_to(data)
    result = run(data, "--prob", "p", "-o", link)
    assert result.exit_code == 2
    assert f"--output {link} is the same file as the input {data}." in result.stderr
    assert data.read_text(encoding="utf-8") == "label,p\n0,0.2\n1,0.6\n"


def test_report_output_relative_to_input(tmp_path, monkeypatch):
    data = tmp_path / "scores.csv"
    write_scores_csv(data)
    monkeypatch.chdir(tmp_path)
    result = run(data, "--prob", "p", "-o", "scores.csv")
    assert result.exit_code == 2
    assert f"--output scores.csv is the same file as the input {data}." in result.stderr
    assert data.read_text(encoding="utf-8") == "label,p\n0,0.2\n1,0.6\n"


def test_report_output_is_bundled_data(tmp_path, monkeypatch):
    # The report reads a copy of the bundled file, so that a regression cannot overwrite the original.
    data = tmp_path / "caravan.parquet"
    shutil.copyfile(datasets.caravan_path(), data)
    monkeypatch.setattr(datasets, "caravan_path", lambda: data)
    before = data.read_bytes()
    result = run("-o", data)
    assert result.exit_code == 2
    assert f"is the same file as the input {data}." in result.stderr
    assert data.read_bytes() == before


def test_report_logit_advice_names_option_only(tmp_path):
    # The report of a file has no Python entry point, so the advice names no function.
    data = tmp_path / "scores.csv"
    data.write_text("label,p\n0,0.2\n1,1.5\n", encoding="utf-8")
    result = run(data, "--prob", "p", "-o", tmp_path / "report.html")
    assert result.stderr.rstrip().endswith("if `p` holds logits (log-odds), pass it with --logit instead")


def page_notes(page):
    return [html.unescape(note) for note in re.findall(r"<li>([^<]*)</li>", page)]


def test_report_infinite_loss_note_cli(tmp_path):
    data = tmp_path / "scores.csv"
    data.write_text("label,p\n1,0.0\n0,0.4\n", encoding="utf-8")
    output = tmp_path / "report.html"
    result = run(data, "--prob", "p", "-o", output)
    assert result.exit_code == 0, result.output
    (note,) = page_notes(output.read_text(encoding="utf-8"))
    assert note.startswith("all rows: 1 row has an infinite loss")
    # The report has no --clip, and the note states this and names what bounds the loss.
    assert "logloss report has no clipping option" in note
    assert "logloss score --clip EPS" in note
    assert "Pass clip" not in note
    assert "np.clip" not in note
    assert "--clip" not in CliRunner().invoke(cli, ["report", "--help"]).stdout
    # The advised command runs on the same file and bounds the loss.
    scored = CliRunner().invoke(cli, ["score", str(data), "--prob", "p", "--clip", "1e-15", "--json"])
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["result"]["log_loss"] == pytest.approx(-(math.log(1e-15) + math.log(0.6)) / 2)


def test_report_infinite_logit_note_cli(tmp_path):
    data = tmp_path / "scores.parquet"
    pq.write_table(pa.table({"label": [1.0, 0.0], "z": [-np.inf, 0.5]}), data)
    output = tmp_path / "report.html"
    result = run(data, "--logit", "z", "-o", output)
    assert result.exit_code == 0, result.output
    (note,) = page_notes(output.read_text(encoding="utf-8"))
    assert "(an infinite logit of the wrong sign for its label)" in note
    assert "logloss score --clip applies to --prob only" in note
    assert "clip them to a finite range in the file" in note


def test_report_missing_by_column(tmp_path):
    output = tmp_path / "report.html"
    result = run("--by", "country", "-o", output)
    assert result.exit_code == 1
    assert "column `country` not found; the file has the columns" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prob", "prob", "--logit", "logit", "-o", "r.html"], "mutually exclusive"),
        (["--by", "customer_type", "--by", "customer_type", "-o", "r.html"], "--by must name each column once"),
        (["--prob", "prob"], "Missing option '-o' / '--output'"),
    ],
)
def test_report_usage_errors(args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_report_nanosecond_time_key_rejected(tmp_path):
    path = tmp_path / "times.parquet"
    pq.write_table(pa.table({"label": [1, 0], "prob": [0.9, 0.2], "tm": pa.array([1, 2], pa.time64("ns"))}), path)
    result = run(path, "--prob", "prob", "--by", "tm", "-o", tmp_path / "report.html")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    message = f"logloss: error: {path}: column `tm` must hold times that Python's datetime.time can hold"
    assert result.output.startswith(message), result.output
