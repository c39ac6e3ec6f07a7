import base64
import html
import re
import warnings

import numpy as np
import pytest

from logloss import LogLossState, confidence_interval, render_report, write_report, write_report_with_logits
from logloss.datasets import load_caravan
from logloss._report_html import external_references


def load_caravan_arrays():
    data = load_caravan()
    return data["prob"], data["label"], data["customer_type"]


@pytest.fixture(scope="module")
def caravan():
    return load_caravan_arrays()


@pytest.fixture(scope="module")
def caravan_page(caravan):
    p, y, customer_type = caravan
    return render_report(p, y, segments=customer_type, segment_name="customer_type", source="caravan.parquet")


def cell(page, label):
    match = re.search(rf"<td>{re.escape(label)}</td><td class=\"number\">([^<]*)</td>", page)
    assert match is not None, f"no table row {label!r}"
    return match.group(1)


def test_report_caravan_figures(caravan_page):
    # Figures of the bundled data, as its README states them.
    assert cell(caravan_page, "log loss (nats)") == "0.210901"
    assert cell(caravan_page, "entropy of the base rate (nats)") == "0.226343"
    assert cell(caravan_page, "base rate") == "0.059773"
    assert cell(caravan_page, "rows") == "5,822"


def test_report_caravan_intervals(caravan_page):
    # Delta-method interval of the bundled data's log loss, as confidence_interval gives it.
    bounds = cell(caravan_page, "log loss, 95% interval (delta method)")
    lower, upper = (float(bound) for bound in bounds.strip("[]").split(", "))
    assert lower < 0.210901 < upper
    state = LogLossState()
    p, y, _ = load_caravan_arrays()
    state.update(p, y)
    interval = confidence_interval(state, level=0.95).log_loss
    assert lower == pytest.approx(interval.lower, abs=5e-7)
    assert upper == pytest.approx(interval.upper, abs=5e-7)


def test_report_caravan_decomposition_adds_up(caravan_page):
    miscalibration = float(cell(caravan_page, "miscalibration (MCB)"))
    discrimination = float(cell(caravan_page, "discrimination (DSC)"))
    uncertainty = float(cell(caravan_page, "uncertainty (UNC)"))
    assert miscalibration > 0
    assert discrimination > 0
    assert miscalibration - discrimination + uncertainty == pytest.approx(0.210901, abs=2e-6)


def test_report_caravan_segments(caravan_page):
    assert "<h2>Per customer_type</h2>" in caravan_page
    assert caravan_page.count("<td>type ") == 10
    # No customer of type 4 bought the policy, so its normalized entropy is undefined.
    assert "customer_type = type 4: normalized entropy is undefined" in caravan_page


def test_report_caravan_images(caravan_page):
    images = re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,([^"]*)">', caravan_page)
    assert len(images) == 3
    assert images[0][0].startswith("reliability diagram")
    assert images[1][0].startswith("loss terms")
    for _, encoded in images:
        assert base64.b64decode(encoded).startswith(b"\x89PNG\r\n\x1a\n")


def test_report_self_contained(caravan_page):
    assert external_references(caravan_page) == []
    assert "http" not in caravan_page
    assert "<script" not in caravan_page


def test_report_same_bytes_twice():
    p = np.array([0.1, 0.4, 0.35, 0.8])
    y = np.array([0, 0, 1, 1])
    assert render_report(p, y) == render_report(p, y)


def test_report_escapes_text(tmp_path):
    path = tmp_path / "report.html"
    write_report(
        path, np.array([0.2, 0.7]), np.array([0, 1]), segments=["<b>", "a&b"], title="<i>t</i>", source="x<y"
    )
    page = path.read_text(encoding="utf-8")
    assert "<title>&lt;i&gt;t&lt;/i&gt;</title>" in page
    assert "x&lt;y" in page
    assert "<td>&lt;b&gt;</td>" in page
    assert "<td>a&amp;b</td>" in page
    assert external_references(page) == []


def test_report_no_rows_notes_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        page = render_report(np.empty(0), np.empty(0))
    assert "all rows: log loss and its ratios are undefined because there are no rows" in page
    assert cell(page, "log loss (nats)") == "NaN"
    assert "<h2>Decomposition</h2>" not in page


def test_report_infinite_loss():
    page = render_report(np.array([0.0, 0.5]), np.array([1, 0]))
    assert cell(page, "log loss (nats)") == "inf"
    assert cell(page, "rows with infinite loss") == "1"
    assert cell(page, "miscalibration (MCB)") == "inf"


def notes(page):
    return [html.unescape(note) for note in re.findall(r"<li>([^<]*)</li>", page)]


def test_report_infinite_loss_note():
    (note,) = notes(render_report(np.array([0.0, 0.5, 1.0]), np.array([1, 0, 0])))
    assert note.startswith("all rows: 2 rows have an infinite loss (a probability of exactly 0 for a positive label")
    assert "interval bounds are NaN" in note
    # write_report has no `clip`, so the note advises clipping the arrays or LogLossState(clip=eps).
    assert "clip them to [eps, 1 - eps] before writing the report, such as with np.clip" in note
    assert "LogLossState(clip=eps)" in note
    assert "Pass clip" not in note
    assert "logloss" not in note.replace("LogLossState", "")


def test_report_infinite_logit_note(tmp_path):
    path = tmp_path / "report.html"
    write_report_with_logits(path, np.array([-np.inf, 2.0]), np.array([1, 0]))
    (note,) = notes(path.read_text(encoding="utf-8"))
    assert note.startswith("all rows: 1 row has an infinite loss (an infinite logit of the wrong sign for its label)")
    assert "clip them to a finite range before writing the report" in note
    assert "LogLossState(clip" not in note


def test_report_finite_loss_no_note():
    page = render_report(np.array([0.2, 0.5]), np.array([1, 0]))
    assert "infinite loss" not in page.replace("rows with infinite loss", "")


def test_report_weights():
    page = render_report(np.array([0.2, 0.7, 0.9]), np.array([0, 1, 1]), weights=np.array([1.5, 2.0, 0.0]))
    assert cell(page, "weight sum") == "3.5"
    assert cell(page, "rows") == "3"


def test_report_many_segments_caps_bars():
    # 40 segments of 2 rows each, more than the 30 bars of the chart; the table keeps all.
    keys = np.repeat(np.arange(40), 2)
    page = render_report(
        np.tile([0.2, 0.7], 40), np.tile([0, 1], 40), weights=keys + 1.0, segments=keys
    )
    assert page.count("<tr><td>") == 15 + 4 + 40  # summary, decomposition, segments
    assert "The chart shows the 30 segments with the largest weight sums of 40" in page


def test_report_segment_figures_match_state():
    p = np.array([0.1, 0.8, 0.3, 0.6, 0.9])
    y = np.array([0, 1, 1, 0, 1])
    page = render_report(p, y, segments=["b", "a", "b", "a", "b"])
    state = LogLossState()
    state.update(p[[0, 2, 4]], y[[0, 2, 4]])
    row = re.search(r"<tr><td>b</td>(.*?)</tr>", page).group(1)
    assert f"{state.result().log_loss:.6f}" in row
    assert page.index("<td>a</td>") < page.index("<td>b</td>")


def test_report_segments_several_columns():
    page = render_report(
        np.array([0.2, 0.7, 0.4, 0.9]),
        np.array([0, 1, 0, 1]),
        segments=(["x", "x", "y", "y"], [1, 2, 1, 1]),
        segment_name="letter, number",
    )
    assert "<h2>Per letter, number</h2>" in page
    assert re.findall(r"<tr><td>([xy], \d)</td>", page) == ["x, 1", "x, 2", "y, 1"]


def test_report_rejects_segments_shape():
    with pytest.raises(ValueError, match=r"`segments` must have one key per row \(2 rows\), got 3 keys"):
        render_report(np.array([0.2, 0.7]), np.array([0, 1]), segments=["a", "b", "c"])


def test_report_logits_exact_figures(tmp_path):
    # expit(40) rounds to 1, so from probabilities the negative row's loss would be inf.
    logits = np.array([-3.0, 40.0, 0.5])
    labels = np.array([0, 0, 1])
    path = tmp_path / "report.html"
    write_report_with_logits(path, logits, labels)
    page = path.read_text(encoding="utf-8")
    state = LogLossState()
    state.update_logits(logits, labels)
    assert cell(page, "log loss (nats)") == f"{state.result().log_loss:.6f}"
    assert cell(page, "rows with infinite loss") == "0"
    terms = [float(cell(page, name)) for name in ("miscalibration (MCB)", "discrimination (DSC)", "uncertainty (UNC)")]
    assert terms[0] - terms[1] + terms[2] == pytest.approx(state.result().log_loss, abs=2e-6)


def test_report_logits_segments(tmp_path):
    path = tmp_path / "report.html"
    write_report_with_logits(path, np.array([-1.0, 2.0, 0.0]), np.array([0, 1, 1]), segments=[1, 1, 2])
    page = path.read_text(encoding="utf-8")
    assert "<td>1</td>" in page
    assert "<td>2</td>" in page


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"y_true": [0, 1, 1]}, r"`y_true` must have the same shape as `logits` \(2,\)"),
        ({"y_true": [0, 1], "weights": [1.0]}, r"`weights` must have the same shape as `logits` \(2,\)"),
        ({"y_true": [0, 2]}, r"`y_true` must be in \[0, 1\], got 2 at index 1"),
    ],
)
def test_report_logits_rejects_bad_input(tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        write_report_with_logits(tmp_path / "report.html", np.array([0.0, 1.0]), **arguments)


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ('<link rel="stylesheet" href="style.css">', ["<link> element", "<link href='style.css'>"]),
        ('<img src="chart.png">', ["<img src='chart.png'>"]),
        ("<style>body { background: url(a.png) }</style>", ["<style> with url() or @import"]),
        ('<div style="background: url(a.png)">', ["<div style> with url() or @import"]),
        ("<p>see http://example.org</p>", ["URL http://example.org"]),
        ('<a href="#summary">x</a>', []),
    ],
)
def test_external_references_finds(page, expected):
    assert external_references(page) == expected


def test_report_signed_zero_segments():
    page = render_report(np.array([0.2, 0.3, 0.4, 0.6]), np.array([0, 1, 0, 1]), segments=np.array([0.0, -0.0, 0.0, -0.0]))
    assert "<td>0.0</td><td class=\"number\">4</td>" in page


def test_report_dollar_segment_names():
    segments = np.array([r"$\undefinedcmd$", "price $5-$10"])
    page = render_report(np.array([0.2, 0.7]), np.array([0, 1]), segments=segments, segment_name="$x$")
    assert r"<td>$\undefinedcmd$</td>" in page


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"title": 5}, "`title` must be a str, got int 5"),
        ({"segment_name": ("a", "b")}, r"`segment_name` must be a str, got tuple \('a', 'b'\)"),
        ({"source": None}, "`source` must be a str, got NoneType None"),
        ({"seed": 1.5}, "`seed` must be an integer, got float 1.5"),
    ],
)
def test_report_rejects_option_types(options, message):
    with pytest.raises(TypeError, match=message):
        render_report(np.array([0.2, 0.7]), np.array([0, 1]), segments=["a", "b"], **options)


def test_report_without_matplotlib_names_plots_extra(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"install the `plots` extra"):
        write_report(tmp_path / "report.html", np.array([0.2, 0.7]), np.array([0, 1]))
