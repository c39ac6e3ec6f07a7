"""A self-contained HTML report of one evaluation: figures, decomposition, tables and plots."""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ._decompose import Decomposition, decompose, decompose_with_logits
from ._grouped import GroupedLogLossState, _sortable_key
from ._intervals import Interval, Intervals, confidence_interval
from ._keys import key_label, split_key_columns
from ._plots import plot_loss_terms, plot_reliability_diagram, plot_segment_losses
from ._reliability import check_rows, check_seed, check_text
from ._report_html import PAGE, figure_html, format_number, format_weight, table
from ._state import LogLossResult, LogLossState, expit
from ._validation import as_numeric_array, check_not_nan, check_same_shape
from ._warnings import LogLossWarning, UndefinedMetricWarning

__all__ = ["render_report", "write_report", "write_report_with_logits"]

# Bars in the per-segment chart at most; beyond this the chart is too tall to read.
MAX_SEGMENT_BARS = 30
# Confidence level of the intervals on the page.
INTERVAL_LEVEL = 0.95
_INTERVAL_NAME = f"{INTERVAL_LEVEL:.0%} interval (delta method)"

# Advice that ends the note on rows with an infinite loss, for callers of write_report
# and write_report_with_logits, by prediction scale. Neither function clips, and
# `logloss report` passes its own advice.
LIBRARY_INFINITE_LOSS_ADVICE = {
    "prob": (
        "The report does not clip predictions, so check those predictions, or clip them to "
        "[eps, 1 - eps] before writing the report, such as with np.clip. "
        "LogLossState(clip=eps) scores them with each row's loss bounded by -log(eps)."
    ),
    "logit": (
        "The report does not clip logits, so check those logits, or clip them to a finite "
        "range before writing the report, such as with np.clip."
    ),
}
_INFINITE_LOSS_CAUSES = {
    "prob": "a probability of exactly 0 for a positive label or 1 for a negative one",
    "logit": "an infinite logit of the wrong sign for its label",
}


@dataclass(frozen=True)
class _Rows:
    """Validated 1-D float64 rows; `logits` is None when the predictions came as probabilities."""

    probability: np.ndarray
    target: np.ndarray
    weight: np.ndarray
    logits: np.ndarray | None = None

    def state(self) -> LogLossState:
        """Return the evaluation state of the rows, from the logits when there are any."""
        state = LogLossState()
        if self.logits is None:
            state.update(self.probability, self.target, weights=self.weight)
        else:
            state.update_logits(self.logits, self.target, weights=self.weight)
        return state


def _intervals(state: LogLossState) -> Intervals:
    """Return the delta-method intervals at INTERVAL_LEVEL; undefined bounds are NaN."""
    with warnings.catch_warnings():
        # The figures' own notes already say why a figure is undefined; a NaN bound shows it.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return confidence_interval(state, level=INTERVAL_LEVEL)


def _format_interval(interval: Interval) -> str:
    return f"[{format_number(interval.lower)}, {format_number(interval.upper)}]"


def _infinite_loss_note(result: LogLossResult, scale: str, advice: str) -> str:
    """Return the note on the rows of `result` with an infinite loss, ending in `advice`."""
    rows = "1 row has" if result.n_infinite == 1 else f"{result.n_infinite:,} rows have"
    return (
        f"all rows: {rows} an infinite loss ({_INFINITE_LOSS_CAUSES[scale]}), so the log loss "
        f"and the normalized entropy are inf and their interval bounds are NaN. {advice}"
    )


def _rows_from_logits(logits, y_true, weights) -> _Rows:
    scores = as_numeric_array(logits, "logits")
    check_not_nan(scores, "logits")
    check_same_shape(as_numeric_array(y_true, "y_true"), "y_true", scores.shape, "logits")
    if weights is not None:
        check_same_shape(as_numeric_array(weights, "weights"), "weights", scores.shape, "logits")
    z = scores.astype(np.float64).ravel()
    # The probabilities feed the plots only. They round to exactly 1 above z of about 37, so
    # the figures and the decomposition come from the logits.
    probability, target, weight = check_rows(expit(z).reshape(scores.shape), y_true, weights)
    return _Rows(probability, target, weight, z)


def _scaled_rows(y_pred, y_true, weights, scale: str) -> _Rows:
    """Return the checked rows of predictions given as probabilities ("prob") or logits."""
    if scale == "prob":
        return _Rows(*check_rows(y_pred, y_true, weights))
    return _rows_from_logits(y_pred, y_true, weights)


def _decompose(rows: _Rows) -> Decomposition | None:
    """Decompose the log loss of the rows; None when it is undefined (no weighted rows)."""
    with warnings.catch_warnings():
        # The summary's own figures already note no rows and a single class.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        if rows.logits is None:
            decomposition = decompose(rows.probability, rows.target, weights=rows.weight)
        else:
            decomposition = decompose_with_logits(rows.logits, rows.target, weights=rows.weight)
    return None if math.isnan(decomposition.uncertainty) else decomposition


def _summary_table(result: LogLossResult, intervals: Intervals) -> str:
    rows = [
        ["log loss (nats)", result.log_loss],
        [f"log loss, {_INTERVAL_NAME}", _format_interval(intervals.log_loss)],
        ["log loss (bits)", result.log_loss_bits],
        ["normalized entropy", result.normalized_entropy],
        [f"normalized entropy, {_INTERVAL_NAME}", _format_interval(intervals.normalized_entropy)],
        ["relative information gain", result.relative_information_gain],
        ["base rate", result.base_rate],
        ["entropy of the base rate (nats)", result.entropy],
        ["mean prediction", result.mean_prediction],
        ["calibration ratio (mean prediction / base rate)", result.calibration_ratio],
        [f"calibration ratio, {_INTERVAL_NAME}", _format_interval(intervals.calibration_ratio)],
        ["rows", result.count],
        ["weight sum", format_weight(result.weight_sum)],
        ["rows with infinite loss", result.n_infinite],
        ["clipped predictions", result.n_clipped],
    ]
    return table(["figure", "value"], rows)


def _decomposition_section(decomposition: Decomposition | None) -> str:
    if decomposition is None:
        return ""
    rows = [
        ["miscalibration (MCB)", decomposition.miscalibration],
        ["discrimination (DSC)", decomposition.discrimination],
        ["uncertainty (UNC)", decomposition.uncertainty],
        ["log loss after CORP recalibration", decomposition.uncertainty - decomposition.discrimination],
    ]
    return (
        "<h2>Decomposition</h2>\n"
        "<p>log loss = MCB &minus; DSC + UNC. MCB is the loss that isotonic recalibration "
        "of the predictions removes, DSC the loss that the recalibrated predictions save "
        "over the base rate, UNC the loss of predicting the base rate.</p>\n" + table(["term", "nats"], rows)
    )


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


def _group_results(rows: _Rows, segments, name: str, notes: list[str]) -> tuple[dict, dict]:
    """Return dicts from the label of each segment key to its LogLossResult and Intervals.

    Both are in sorted key order.
    """
    if isinstance(segments, np.ndarray):
        segments = segments.ravel()
    for column in split_key_columns(segments, "segments"):
        if len(column) != rows.target.size:
            raise ValueError(
                f"`segments` must have one key per row ({rows.target.size} rows), got {len(column)} keys"
            )
    grouped = GroupedLogLossState()
    if rows.logits is None:
        grouped.update(rows.probability, rows.target, segments, weights=rows.weight)
    else:
        grouped.update_logits(rows.logits, rows.target, segments, weights=rows.weight)
    states = grouped.states()
    keys = sorted(states, key=_sortable_key)
    labels = [key_label(key) for key in keys]
    if len(set(labels)) < len(labels):
        # key_label shows distinct keys differently. Should two still look alike, their
        # Python forms tell them apart, so that no segment replaces another in the dicts.
        labels = [repr(key) for key in keys]
    results, intervals = {}, {}
    for key, label in zip(keys, labels, strict=True):
        results[label] = _call_noting_warnings(notes, f"{name} = {label}", states[key].result)
        intervals[label] = _intervals(states[key])
    return results, intervals


def _segments_section(results: Mapping, intervals: Mapping, overall: LogLossResult, name: str) -> str:
    header = ["rows", "weight sum", "base rate", "mean prediction", "log loss",
              f"log loss, {INTERVAL_LEVEL:.0%} interval", "normalized entropy", "calibration ratio"]
    rows = [
        [str(key), r.count, format_weight(r.weight_sum), r.base_rate, r.mean_prediction, r.log_loss,
         _format_interval(intervals[key].log_loss), r.normalized_entropy, r.calibration_ratio]
        for key, r in results.items()
    ]
    bounds = {key: (interval.log_loss.lower, interval.log_loss.upper) for key, interval in intervals.items()}

    shown = results
    caption = ""
    if len(results) > MAX_SEGMENT_BARS:
        largest = sorted(results, key=lambda key: results[key].weight_sum, reverse=True)[:MAX_SEGMENT_BARS]
        shown = {key: results[key] for key in results if key in set(largest)}
        caption = (
            f"<p>The chart shows the {MAX_SEGMENT_BARS} segments with the largest weight sums "
            f"of {len(results):,}; the table lists all.</p>\n"
        )

    def draw_bars(ax):
        plot_segment_losses(shown, intervals=bounds, overall=overall, ax=ax)
        ax.set_title(f"Log loss (nats) per {name}", parse_math=False)

    bars = figure_html(draw_bars, f"bar chart of log loss per {name}", (8.0, 1.2 + 0.35 * len(shown)))
    return (
        f"<h2>Per {html.escape(name)}</h2>\n"
        + table([name, *header], rows)
        + f'\n{caption}<div class="figures">\n{bars}\n</div>'
    )


def _check_plot_libraries() -> None:
    """Raise ImportError naming the ``plots`` extra when matplotlib or SciPy is missing."""
    try:
        import matplotlib  # noqa: F401
        import scipy.optimize  # noqa: F401
    except ImportError as error:
        from ._entry import EXTRA_HINT

        raise ImportError(f"the report needs matplotlib and SciPy ({error}): {EXTRA_HINT.format(extra='plots')}") from None


def _render(
    rows: _Rows,
    *,
    segments,
    segment_name: str,
    title: str,
    source: str,
    seed: int,
    infinite_loss_advice: Mapping[str, str] = LIBRARY_INFINITE_LOSS_ADVICE,
) -> str:
    """Build the page; `infinite_loss_advice` maps "prob" and "logit" to the note's advice."""
    _check_plot_libraries()
    check_text(segment_name, "segment_name")
    check_text(title, "title")
    check_text(source, "source")
    check_seed(seed)
    notes: list[str] = []
    state = rows.state()
    result = _call_noting_warnings(notes, "all rows", state.result)
    if result.n_infinite:
        # The intervals' warning on infinite losses, which _intervals silences, advises
        # LogLossState's `clip`, an option the report lacks, so this note takes its place.
        scale = "prob" if rows.logits is None else "logit"
        notes.append(_infinite_loss_note(result, scale, infinite_loss_advice[scale]))
    decomposition = _decompose(rows)
    segment_html = ""
    if segments is not None:
        segment_results, segment_intervals = _group_results(rows, segments, segment_name, notes)
        segment_html = _segments_section(segment_results, segment_intervals, result, segment_name)

    probability, target, weight = rows.probability, rows.target, rows.weight
    plots = [
        figure_html(
            lambda ax: plot_reliability_diagram(probability, target, weights=weight, ax=ax, seed=seed),
            "reliability diagram: CORP recalibrated probability against predicted probability",
            (5.5, 5.5),
        ),
        figure_html(
            lambda ax: plot_loss_terms(probability, target, weights=weight, ax=ax),
            "loss terms -log(p) and -log(1 - p) against predicted probability, with the rows",
            (6.5, 5.5),
        ),
    ]
    notes_html = ""
    if notes:
        items = "\n".join(f"<li>{html.escape(note)}</li>" for note in notes)
        notes_html = f'<h2>Notes</h2>\n<ul class="notes">\n{items}\n</ul>'
    return PAGE.substitute(
        title=html.escape(title),
        source=html.escape(source or f"{result.count:,} rows"),
        summary=_summary_table(result, _intervals(state)),
        decomposition=_decomposition_section(decomposition),
        plots="\n".join(plots),
        segments=segment_html,
        notes=notes_html,
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
    """Build the HTML report of predicted probabilities and labels and return it.

    See :func:`write_report` for the parameters and the contents.

    Examples
    --------
    >>> import numpy as np
    >>> page = render_report(np.array([0.1, 0.7, 0.4]), np.array([0, 1, 1]))
    >>> page.startswith("<!DOCTYPE html>"), "http" in page
    (True, False)
    """
    rows = _scaled_rows(y_pred, y_true, weights, "prob")
    return _render(rows, segments=segments, segment_name=segment_name, title=title, source=source, seed=seed)


def _write(path, page: str) -> None:
    with open(path, "w", encoding="utf-8") as file:
        file.write(page)


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
    """Write a self-contained HTML report of predicted probabilities and labels to `path`.

    The page shows the figures of :meth:`LogLossState.result`, the CORP decomposition of
    the log loss, the reliability diagram and the loss-term plot. With `segments` it adds
    a table and a bar chart per segment. Plots are inline PNG images and the page loads
    nothing else, so it can be mailed or archived as one file. Warnings of the library,
    such as an undefined normalized entropy in a segment with one class, appear on the
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
    segments : array_like or tuple of array_like, optional
        A segment key per row, such as a column's values, or a tuple of such columns for
        segments by several columns. Keys are grouped by :class:`GroupedLogLossState`, so
        None (and NaN in a floating column) forms one segment, shown as "(null)".
    segment_name : str, default "segment"
        Name of the segment column or columns, used in headings.
    title : str, default "Log loss report"
        Title of the page.
    source : str, optional
        Line under the title describing the data, such as the file name.
    seed : int, default 0
        Seed of the consistency band's resampling, so the page is reproducible.

    See Also
    --------
    write_report_with_logits : The same report from logits.
    plot_reliability_diagram, plot_loss_terms, plot_segment_losses : The plots on the page.

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
    _write(path, page)


def write_report_with_logits(
    path,
    logits,
    y_true,
    *,
    weights=None,
    segments=None,
    segment_name: str = "segment",
    title: str = "Log loss report",
    source: str = "",
    seed: int = 0,
) -> None:
    """Write the report of :func:`write_report` for predictions given as logits (log-odds).

    The figures come from the logits, exactly as :meth:`LogLossState.update_logits`
    computes them, and the decomposition from :func:`decompose_with_logits`. The plots use
    the probabilities ``expit(logits)``, which round to exactly 1 for logits above about 37
    and to 0 below about -745. The parameters other than `logits` are those of
    :func:`write_report`.

    Examples
    --------
    >>> import numpy as np, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "report.html"
    >>> write_report_with_logits(path, np.array([-3.0, 40.0]), np.array([0, 0]))
    >>> "<td>log loss (nats)</td><td class=\\"number\\">20.024" in path.read_text(encoding="utf-8")
    True
    """
    rows = _scaled_rows(logits, y_true, weights, "logit")
    page = _render(rows, segments=segments, segment_name=segment_name, title=title, source=source, seed=seed)
    _write(path, page)
