"""A self-contained HTML report of one evaluation: figures, decomposition, tables and plots.

The page contains everything inline: CSS in a ``<style>`` element and the plots as base64 PNG
``data:`` URIs. It has no script and names no URL, so a browser opening it fetches nothing.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
import string
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser

import numpy as np

from ._elementwise import loss_from_probability
from ._plots import plot_loss_terms, plot_reliability_diagram, plot_segment_losses
from ._reliability import check_rows, reliability_curve
from ._state import LogLossResult, LogLossState, binary_entropy
from ._warnings import LogLossWarning

__all__ = ["external_references", "render_report", "write_report"]

_PAGE = string.Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
body { font-family: sans-serif; margin: 1.5em auto; max-width: 80em; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
p.source { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { padding: 0.2em 0.8em; border-bottom: 1px solid #e4e4e4; }
th { text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
.figures img { max-width: 100%; height: auto; border: 1px solid #e4e4e4; }
.notes li { color: #8a4b00; }
</style>
</head>
<body>
<h1>$title</h1>
<p class="source">$source</p>
<div class="figures-and-tables">
<h2>Summary</h2>
$summary
$decomposition
<h2>Plots</h2>
<div class="figures">
$plots
</div>
$segments
$notes
</div>
</body>
</html>
""")


@dataclass(frozen=True)
class _Decomposition:
    """CORP score decomposition: log loss = miscalibration - discrimination + uncertainty."""

    miscalibration: float
    discrimination: float
    uncertainty: float
    recalibrated_log_loss: float


def _decompose(probability, target, weight, log_loss: float) -> _Decomposition | None:
    """Decompose the log loss with the CORP recalibration; None with no weighted rows."""
    keep = weight > 0.0
    distinct, recalibrated = reliability_curve(probability[keep], target[keep], weights=weight[keep])
    if distinct.size == 0:
        return None
    row_recalibrated = recalibrated[np.searchsorted(distinct, probability[keep])]
    recalibrated_loss = loss_from_probability(row_recalibrated, target[keep], None)
    w = weight[keep]
    recalibrated_log_loss = float(np.dot(w, recalibrated_loss) / w.sum())
    uncertainty = binary_entropy(float(np.dot(w, target[keep]) / w.sum()))
    return _Decomposition(
        miscalibration=log_loss - recalibrated_log_loss,
        discrimination=uncertainty - recalibrated_log_loss,
        uncertainty=uncertainty,
        recalibrated_log_loss=recalibrated_log_loss,
    )


def _format_weight(value: float) -> str:
    """Format a weight sum: whole numbers as counts, others to 6 significant digits."""
    return f"{value:,.0f}" if math.isfinite(value) and value == round(value) else f"{value:,.6g}"


def _format_number(value: float, digits: int = 6) -> str:
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list]) -> str:
    """Build an HTML table: the first column is a label, the others are right-aligned values.

    Numbers are formatted by :func:`_format_number`; strings are taken as already formatted.
    Every text is escaped.
    """
    lines = ["<table>", "<tr>" + "".join(f"<th>{html.escape(name)}</th>" for name in header) + "</tr>"]
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            if i == 0:
                cells.append(f"<td>{html.escape(str(value))}</td>")
            elif isinstance(value, str):
                cells.append(f'<td class="number">{html.escape(value)}</td>')
            else:
                cells.append(f'<td class="number">{_format_number(value)}</td>')
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _summary_table(result: LogLossResult) -> str:
    rows = [
        ["log loss (nats)", result.log_loss],
        ["log loss (bits)", result.log_loss_bits],
        ["normalized entropy", result.normalized_entropy],
        ["relative information gain", result.relative_information_gain],
        ["base rate", result.base_rate],
        ["entropy of the base rate (nats)", result.entropy],
        ["mean prediction", result.mean_prediction],
        ["calibration ratio (mean prediction / base rate)", result.calibration_ratio],
        ["rows", result.count],
        ["weight sum", _format_weight(result.weight_sum)],
        ["rows with infinite loss", result.n_infinite],
        ["clipped predictions", result.n_clipped],
    ]
    return _table(["figure", "value"], rows)


def _decomposition_section(decomposition: _Decomposition | None) -> str:
    if decomposition is None:
        return ""
    rows = [
        ["miscalibration (MCB)", decomposition.miscalibration],
        ["discrimination (DSC)", decomposition.discrimination],
        ["uncertainty (UNC)", decomposition.uncertainty],
        ["log loss after CORP recalibration", decomposition.recalibrated_log_loss],
    ]
    return (
        "<h2>Decomposition</h2>\n"
        "<p>log loss = MCB &minus; DSC + UNC. MCB is the loss that isotonic recalibration "
        "of the predictions removes, DSC the loss that the recalibrated predictions save "
        "over the base rate, UNC the loss of predicting the base rate.</p>\n" + _table(["term", "nats"], rows)
    )


def _figure_html(draw, alt: str, size: tuple[float, float]) -> str:
    """Draw on a new Agg figure and return an ``<img>`` with the PNG inline as base64."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=100, layout="constrained")
    draw(figure.add_subplot())
    buffer = io.BytesIO()
    # No Software metadata, so the same input gives the same bytes on every matplotlib.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def _call_noting_warnings(notes: list[str], context: str, function, *args):
    """Call `function`, turning the library's warnings into notes prefixed by `context`."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LogLossWarning)
        value = function(*args)
    for warning in caught:
        if issubclass(warning.category, LogLossWarning):
            notes.append(f"{context}: {warning.message}")
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return value


def _evaluate(probability, target, weight) -> LogLossResult:
    state = LogLossState()
    state.update(probability, target, weights=weight)
    return state.result()


def _group_results(probability, target, weight, segments, name: str, notes: list[str]) -> dict:
    """Return segment key -> LogLossResult, in sorted key order."""
    keys = np.asarray(segments).ravel()
    if keys.shape != probability.shape:
        raise ValueError(
            f"`segments` must have one value per row, shape {probability.shape}, got shape {keys.shape}"
        )
    if keys.dtype.kind == "O":
        keys = keys.astype(str)
    distinct, inverse = np.unique(keys, return_inverse=True)
    results = {}
    for index, key in enumerate(distinct):
        rows = inverse == index
        key = key.item() if isinstance(key, np.generic) else key
        results[key] = _call_noting_warnings(
            notes, f"{name} = {key}", _evaluate, probability[rows], target[rows], weight[rows]
        )
    return results


def _segments_section(results: Mapping, overall: LogLossResult, name: str) -> str:
    header = [name, "rows", "weight sum", "base rate", "mean prediction", "log loss", "normalized entropy",
              "calibration ratio"]
    rows = [
        [str(key), r.count, _format_weight(r.weight_sum), r.base_rate, r.mean_prediction, r.log_loss, r.normalized_entropy,
         r.calibration_ratio]
        for key, r in results.items()
    ]
    height = 1.2 + 0.35 * len(results)
    bars = _figure_html(
        lambda ax: plot_segment_losses(results, overall=overall, ax=ax),
        f"bar chart of log loss per {name}",
        (8.0, min(height, 40.0)),
    )
    return (
        f"<h2>Per {html.escape(name)}</h2>\n" + _table(header, rows) + f'\n<div class="figures">\n{bars}\n</div>'
    )


def render_report(
    y_pred,
    y_true,
    *,
    weights=None,
    segments=None,
    segment_name: str = "segment",
    title: str = "Log loss report",
    source: str = "",
    seed: int = 0,
) -> str:
    """Build the HTML report of predictions and labels and return it as a string.

    See :func:`write_report` for the parameters.

    Examples
    --------
    >>> import numpy as np
    >>> page = render_report(np.array([0.1, 0.7, 0.4]), np.array([0, 1, 1]))
    >>> page.startswith("<!DOCTYPE html>"), "http" in page
    (True, False)
    """
    probability, target, weight = check_rows(y_pred, y_true, weights)
    notes: list[str] = []
    result = _call_noting_warnings(notes, "all rows", _evaluate, probability, target, weight)
    decomposition = _decompose(probability, target, weight, result.log_loss)
    segment_html = ""
    if segments is not None:
        segment_results = _group_results(probability, target, weight, segments, segment_name, notes)
        segment_html = _segments_section(segment_results, result, segment_name)

    plots = [
        _figure_html(
            lambda ax: plot_reliability_diagram(probability, target, weights=weight, ax=ax, seed=seed),
            "reliability diagram: CORP recalibrated probability against predicted probability",
            (5.5, 5.5),
        ),
        _figure_html(
            lambda ax: plot_loss_terms(probability, target, weights=weight, ax=ax),
            "loss terms -log(p) and -log(1 - p) against predicted probability, with the rows",
            (6.5, 5.5),
        ),
    ]
    notes_html = ""
    if notes:
        items = "\n".join(f"<li>{html.escape(note)}</li>" for note in notes)
        notes_html = f'<h2>Notes</h2>\n<ul class="notes">\n{items}\n</ul>'
    return _PAGE.substitute(
        title=html.escape(title),
        source=html.escape(source or f"{result.count:,} rows"),
        summary=_summary_table(result),
        decomposition=_decomposition_section(decomposition),
        plots="\n".join(plots),
        segments=segment_html,
        notes=notes_html,
    )


def write_report(
    path,
    y_pred,
    y_true,
    *,
    weights=None,
    segments=None,
    segment_name: str = "segment",
    title: str = "Log loss report",
    source: str = "",
    seed: int = 0,
) -> None:
    """Write a self-contained HTML report of predictions and labels to `path`.

    The page shows the figures of :meth:`LogLossState.result`, the CORP decomposition of
    the log loss, the reliability diagram and the loss-term plot, and with `segments` a
    table and bar chart per segment. Plots are inline PNG images and the page loads
    nothing else, so it can be mailed or archived as one file. Warnings of the library
    (such as an undefined normalized entropy in a segment with one class) appear on the
    page under Notes instead of being issued.

    Parameters
    ----------
    path : str or os.PathLike
        File to write, UTF-8 encoded; it is overwritten.
    y_pred : array_like
        Predicted probabilities in [0, 1].
    y_true : array_like
        Labels in [0, 1], of the same shape.
    weights : array_like, optional
        Non-negative sample weights, of the same shape.
    segments : array_like, optional
        A segment key per row, such as a column's values; adds the per-segment table and
        bars.
    segment_name : str, default "segment"
        Name of the segment column, used in headings.
    title : str, default "Log loss report"
        Title of the page.
    source : str, optional
        Line under the title describing the data, such as the file name.
    seed : int, default 0
        Seed of the consistency band's resampling.

    Examples
    --------
    >>> import numpy as np, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "report.html"
    >>> write_report(path, np.array([0.1, 0.7, 0.4]), np.array([0, 1, 1]), segments=["a", "a", "b"])
    >>> "Per segment" in path.read_text(encoding="utf-8")
    True
    """
    page = render_report(
        y_pred,
        y_true,
        weights=weights,
        segments=segments,
        segment_name=segment_name,
        title=title,
        source=source,
        seed=seed,
    )
    with open(path, "w", encoding="utf-8") as file:
        file.write(page)


# Elements that load or run something, and the attributes that name a resource.
_LOADING_ELEMENTS = frozenset({"script", "link", "iframe", "frame", "object", "embed", "base", "audio", "video"})
_RESOURCE_ATTRIBUTES = frozenset({"src", "href", "srcset", "action", "formaction", "poster", "data", "background"})
_CSS_REFERENCE = re.compile(r"url\(|@import", re.IGNORECASE)
_URL = re.compile(r"\b(?:https?|ftp|wss?)://[^\s\"'<>)]*", re.IGNORECASE)


class _ReferenceFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in _LOADING_ELEMENTS:
            self.found.append(f"<{tag}> element")
        for name, value in attrs:
            if name in _RESOURCE_ATTRIBUTES and value is not None and not value.startswith(("data:", "#")):
                self.found.append(f"<{tag} {name}={value[:80]!r}>")
            if name == "style" and value and _CSS_REFERENCE.search(value):
                self.found.append(f"<{tag} style> with url() or @import")

    def handle_data(self, data):
        if self.lasttag == "style" and _CSS_REFERENCE.search(data):
            self.found.append("<style> with url() or @import")


def external_references(page: str) -> list[str]:
    """List what in an HTML page could make a browser fetch or run something.

    Returns descriptions of script, link, frame and media elements, resource attributes
    that are not ``data:`` URIs or fragments, CSS ``url()`` and ``@import``, and any URL
    with a network scheme anywhere in the text. An empty list means the page is
    self-contained.

    Examples
    --------
    >>> external_references('<img src="data:image/png;base64,AAAA">')
    []
    >>> external_references('<script src="https://example.org/x.js"></script>')
    ['<script> element', "<script src='https://example.org/x.js'>", 'URL https://example.org/x.js']
    """
    finder = _ReferenceFinder()
    finder.feed(page)
    finder.close()
    return finder.found + [f"URL {url[:80]}" for url in _URL.findall(page)]
