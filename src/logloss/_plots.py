"""Plots that explain a log loss: reliability diagram, loss terms and per-segment bars.

matplotlib is imported inside each function, so ``import logloss`` does not need it. Every
function draws on the Axes given as `ax`, or on the current Axes of pyplot when `ax` is
None, and returns that Axes.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from ._decompose import decompose
from ._reliability import check_count, check_level, check_rows, check_seed, consistency_band
from ._warnings import UndefinedMetricWarning

__all__ = ["plot_loss_terms", "plot_reliability_diagram", "plot_segment_losses"]

_POSITIVE_COLOR = "tab:orange"
_NEGATIVE_COLOR = "tab:blue"
# Rows drawn in each rug at most: beyond a few thousand ticks the rug is solid anyway.
_MAX_RUG_ROWS = 5_000


# Maximum bins of a plot: more could not be distinguished and would only use memory.
MAX_PLOT_BINS = 10_000


def _axes_or_current(ax):
    if ax is not None:
        from matplotlib.axes import Axes

        if not isinstance(ax, Axes):
            raise TypeError(f"`ax` must be a matplotlib Axes or None, got {type(ax).__name__} {ax!r:.60}")
        return ax
    import matplotlib.pyplot as plt

    return plt.gca()


def plot_reliability_diagram(
    y_pred,
    y_true,
    *,
    weights=None,
    ax=None,
    band_level: float | None = 0.9,
    n_resamples: int = 300,
    max_band_rows: int = 10_000,
    seed: int = 0,
    n_hist_bins: int = 50,
):
    """Draw the CORP reliability diagram: recalibrated against predicted probability.

    The step curve is the isotonic regression of the labels on the predictions, with
    equal predictions pooled, as :func:`decompose` computes it, so it needs no choice of
    bins. Where it lies below the
    diagonal, the model predicts too high. The shaded area is the consistency band, where
    the curve of a calibrated model would lie with probability `band_level` at each point,
    and the bars at the bottom are the histogram of the predictions.

    Parameters
    ----------
    y_pred : array_like
        Predicted probabilities in [0, 1].
    y_true : array_like
        Labels in [0, 1], of the same shape.
    weights : array_like, optional
        Non-negative sample weights, of the same shape.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; the current Axes by default.
    band_level : float or None, default 0.9
        Coverage of the consistency band; None draws no band.
    n_resamples : int, default 300
        Label resamples for the band.
    max_band_rows : int, default 10000
        Most rows the band resamples, drawn at random when there are more.
    seed : int, default 0
        Seed of the random generator of the band, so the figure is reproducible.
    n_hist_bins : int, default 50
        Bins of the histogram of predictions, at most 10,000.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from logloss import plot_reliability_diagram
    >>> fig, ax = plt.subplots()
    >>> p = np.linspace(0.01, 0.99, 200)
    >>> y = (np.arange(200) % 3 == 0).astype(int)
    >>> plot_reliability_diagram(p, y, ax=ax, n_resamples=50) is ax
    True
    >>> plt.close(fig)
    """
    if band_level is not None:
        band_level = check_level(band_level, "band_level")
    n_resamples = check_count(n_resamples, "n_resamples", 1)
    max_band_rows = check_count(max_band_rows, "max_band_rows", 1)
    seed = check_seed(seed)
    n_hist_bins = check_count(n_hist_bins, "n_hist_bins", 1, MAX_PLOT_BINS)
    probability, target, weight = check_rows(y_pred, y_true, weights)
    ax = _axes_or_current(ax)
    with warnings.catch_warnings():
        # The curve is defined even where the decomposition's figures are not (one class, or
        # no rows, which gives an empty curve), so those warnings do not concern the plot.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        curve = decompose(probability, target, weights=weight)
    x, recalibrated = curve.prediction, curve.recalibrated

    ax.plot([0.0, 1.0], [0.0, 1.0], color="0.5", linestyle="--", linewidth=1, label="calibrated")
    if band_level is not None and x.size:
        band = consistency_band(
            probability,
            weights=weight,
            level=band_level,
            n_resamples=n_resamples,
            max_rows=max_band_rows,
            seed=seed,
        )
        ax.fill_between(
            *_extend_to_one(band.x, band.lower, band.upper),
            step="post",
            color=_NEGATIVE_COLOR,
            alpha=0.2,
            linewidth=0,
            label=f"{band_level:.0%} consistency band",
        )
    if x.size:
        ax.step(
            *_extend_to_one(x, recalibrated),
            where="post",
            color="tab:red",
            linewidth=1.5,
            label="CORP recalibrated",
        )
    _draw_prediction_histogram(ax, probability, weight, n_hist_bins)

    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_aspect("equal")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("recalibrated probability")
    ax.set_title("Reliability diagram")
    ax.legend(loc="upper left", fontsize="small")
    return ax


def _extend_to_one(x: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, ...]:
    """Append x = 1, repeating the last of each `values`, so a post-step runs to the edge."""
    if x.size == 0 or x[-1] >= 1.0:
        return (x, *values)
    return (np.append(x, 1.0), *(np.append(v, v[-1]) for v in values))


def _draw_prediction_histogram(ax, probability, weight, n_bins) -> None:
    """Draw the weighted histogram of predictions in the bottom fifth of `ax`."""
    counts, edges = np.histogram(probability, bins=n_bins, range=(0.0, 1.0), weights=weight)
    if counts.max(initial=0.0) <= 0.0:
        return
    heights = 0.2 * counts / counts.max()
    ax.bar(
        edges[:-1],
        heights,
        width=np.diff(edges),
        align="edge",
        color="0.6",
        alpha=0.5,
        label="predictions (histogram)",
    )


def plot_loss_terms(y_pred, y_true, *, weights=None, ax=None, n_bins: int = 10):
    """Draw the two terms of the loss against the predicted probability, with the rows.

    A positive row (label 1) at prediction `p` costs ``-log(p)`` and a negative row
    ``-log(1 - p)``. A label between 0 and 1 splits a row's weight between the two. The
    curves show both terms, and the rugs below the axis show where the rows of each class
    lie. The markers show the weighted mean loss of each class in bins of predictions with
    equal row counts. The legend gives each class's share of the total loss. A bin whose
    mean loss is infinite (a positive predicted 0 or a negative predicted 1) is marked by a
    triangle at the top.

    Parameters
    ----------
    y_pred : array_like
        Predicted probabilities in [0, 1].
    y_true : array_like
        Labels in [0, 1], of the same shape.
    weights : array_like, optional
        Non-negative sample weights, of the same shape.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; the current Axes by default.
    n_bins : int, default 10
        Number of prediction bins for the mean losses, at most 10,000; fewer when
        predictions repeat.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from logloss import plot_loss_terms
    >>> fig, ax = plt.subplots()
    >>> plot_loss_terms(np.array([0.1, 0.4, 0.8]), np.array([0, 1, 1]), ax=ax) is ax
    True
    >>> plt.close(fig)
    """
    n_bins = check_count(n_bins, "n_bins", 1, MAX_PLOT_BINS)
    probability, target, weight = check_rows(y_pred, y_true, weights)
    ax = _axes_or_current(ax)
    positive_weight = weight * target
    negative_weight = weight * (1.0 - target)
    with np.errstate(divide="ignore"):
        positive_loss = -np.log(probability)
        negative_loss = -np.log1p(-probability)
    total_loss = _weighted_sum(positive_weight, positive_loss) + _weighted_sum(negative_weight, negative_loss)

    positive_finite = positive_loss[(positive_weight > 0) & np.isfinite(positive_loss)]
    negative_finite = negative_loss[(negative_weight > 0) & np.isfinite(negative_loss)]
    largest = max(positive_finite.max(initial=0.0), negative_finite.max(initial=0.0))
    # The y axis ends a little above the largest finite loss of a row, and at least at 2 log 2.
    top = 1.1 * max(float(largest), 2.0 * math.log(2.0))
    # The curves run from p = exp(-top), where -log(p) leaves the axes, to 1 - exp(-top),
    # with points spaced geometrically near both ends, where the curves are steep.
    edge = math.exp(-top)
    grid = np.concatenate(
        [np.geomspace(edge, 0.05, 200), np.linspace(0.05, 0.95, 200), 1.0 - np.geomspace(0.05, edge, 200)]
    )

    edges = _quantile_edges(probability, n_bins)
    classes = [
        ("positives", "-log(p)", -np.log(grid), positive_weight, positive_loss, _POSITIVE_COLOR, -0.04),
        ("negatives", "-log(1 - p)", -np.log1p(-grid), negative_weight, negative_loss, _NEGATIVE_COLOR, -0.09),
    ]
    for name, formula, curve, class_weight, loss, color, rug_position in classes:
        class_total = _weighted_sum(class_weight, loss)
        share = _format_share(class_total, total_loss)
        rows = int(np.count_nonzero(class_weight > 0))
        ax.plot(grid, curve, color=color, linewidth=1.5, label=f"{formula}: {name}, {rows} rows, {share} of loss")
        _draw_rug(ax, probability[class_weight > 0], rug_position * top, 0.04 * top, color)
        _draw_bin_means(ax, probability, class_weight, loss, edges, top, color)

    ax.axhline(0.0, color="0.3", linewidth=0.8)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(-0.13 * top, top)
    ax.set_xlabel("predicted probability p")
    ax.set_ylabel("loss per row (nats)")
    ax.set_title("Loss terms and where the rows lie")
    ax.legend(loc="upper center", fontsize="small", title="line: loss term; dots: bin mean", title_fontsize="small")
    return ax


def _weighted_sum(weight: np.ndarray, loss: np.ndarray) -> float:
    """Return sum(weight * loss), where a row of weight 0 adds 0 even if its loss is inf."""
    used = weight > 0
    return float(np.sum(weight[used] * loss[used]))


def _format_share(part: float, total: float) -> str:
    if math.isinf(part):
        return "infinite share"
    if math.isinf(total):
        return "0%"
    if total <= 0.0:
        return "no share"
    return f"{part / total:.0%}"


def _quantile_edges(probability: np.ndarray, n_bins: int) -> np.ndarray:
    """Return bin edges at the quantiles of the predictions, merged where predictions repeat."""
    if probability.size == 0:
        return np.array([0.0, 1.0])
    edges = np.unique(np.quantile(probability, np.linspace(0.0, 1.0, n_bins + 1)))
    if edges.size == 1:
        edges = np.array([edges[0], edges[0]])
    return edges


def _draw_rug(ax, positions: np.ndarray, bottom: float, height: float, color: str) -> None:
    if positions.size == 0:
        return
    if positions.size > _MAX_RUG_ROWS:
        positions = np.random.default_rng(0).choice(positions, size=_MAX_RUG_ROWS, replace=False)
    alpha = max(0.03, min(1.0, 50.0 / positions.size))
    ax.vlines(positions, bottom, bottom + height, color=color, alpha=alpha, linewidth=0.8)


def _draw_bin_means(ax, probability, class_weight, loss, edges, top, color) -> None:
    """Mark the weighted mean loss of one class in each prediction bin at its mean prediction."""
    bins = np.clip(np.searchsorted(edges, probability, side="right") - 1, 0, max(edges.size - 2, 0))
    finite_x, finite_y, infinite_x = [], [], []
    for b in np.unique(bins[class_weight > 0]):
        in_bin = (bins == b) & (class_weight > 0)
        w = class_weight[in_bin]
        mean_prediction = float(np.dot(w, probability[in_bin]) / w.sum())
        mean_loss = _weighted_sum(w, loss[in_bin]) / float(w.sum())
        if math.isfinite(mean_loss):
            finite_x.append(mean_prediction)
            finite_y.append(mean_loss)
        else:
            infinite_x.append(mean_prediction)
    ax.plot(finite_x, finite_y, "o", color=color, markeredgecolor="black", markersize=6)
    if infinite_x:
        ax.plot(infinite_x, [0.97 * top] * len(infinite_x), "^", color=color, markeredgecolor="black")


def plot_segment_losses(
    results: Mapping,
    *,
    intervals: Mapping | None = None,
    metric: str = "log_loss",
    overall=None,
    ax=None,
):
    """Draw one horizontal bar per segment: its log loss or normalized entropy.

    Parameters
    ----------
    results : Mapping
        Segment key -> :class:`LogLossResult`; bars follow the mapping's order from top to
        bottom.
    intervals : Mapping, optional
        Segment key -> ``(low, high)`` interval of the figure, drawn as an error bar.
        Segments missing from it get no error bar.
    metric : {"log_loss", "normalized_entropy"}, default "log_loss"
        Figure to draw.
    overall : LogLossResult, optional
        Result over all rows, drawn as a vertical line.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; the current Axes by default.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from logloss import LogLossState, plot_segment_losses
    >>> results = {}
    >>> for key, p in [("a", [0.2, 0.7]), ("b", [0.4, 0.9])]:
    ...     state = LogLossState()
    ...     state.update(np.array(p), np.array([0, 1]))
    ...     results[key] = state.result()
    >>> fig, ax = plt.subplots()
    >>> plot_segment_losses(results, intervals={"a": (0.2, 0.4)}, ax=ax) is ax
    True
    >>> plt.close(fig)
    """
    labels = {"log_loss": "log loss (nats)", "normalized_entropy": "normalized entropy"}
    if metric not in labels:
        raise ValueError(f"`metric` must be one of {sorted(labels)}, got {metric!r}")
    if not isinstance(results, Mapping):
        raise TypeError(f"`results` must be a mapping of segment key to LogLossResult, got {type(results).__name__}")
    ax = _axes_or_current(ax)
    keys = list(results)
    values = np.array([getattr(results[key], metric) for key in keys], dtype=np.float64)
    positions = np.arange(len(keys))
    finite = np.isfinite(values)

    ax.barh(positions[finite], values[finite], color=_NEGATIVE_COLOR, alpha=0.8)
    for position in positions[~finite]:
        ax.annotate(str(values[position]), (0.0, position), xytext=(3, 0), textcoords="offset points", va="center")
    if intervals:
        _draw_intervals(ax, keys, values, intervals)
    if overall is not None:
        overall_value = getattr(overall, metric)
        if math.isfinite(overall_value):
            ax.axvline(overall_value, color="black", linestyle="--", linewidth=1, label=f"all rows: {overall_value:.4g}")
            ax.legend(loc="lower right", fontsize="small")
    if metric == "normalized_entropy":
        ax.axvline(1.0, color="0.5", linewidth=1)

    # Segment keys are user text: parse_math=False draws "$" literally instead of as TeX.
    ax.set_yticks(positions, [_segment_label(key, results[key]) for key in keys], parse_math=False)
    ax.invert_yaxis()
    ax.set_xlabel(labels[metric])
    ax.set_title(f"{labels[metric].capitalize()} per segment")
    return ax


def _draw_intervals(ax, keys: Sequence, values: np.ndarray, intervals: Mapping) -> None:
    rows, centers, below, above = [], [], [], []
    for position, key in enumerate(keys):
        if key not in intervals or not math.isfinite(values[position]):
            continue
        low, high = (float(bound) for bound in intervals[key])
        if not (math.isfinite(low) and math.isfinite(high)):
            continue
        rows.append(position)
        centers.append(values[position])
        below.append(max(values[position] - low, 0.0))
        above.append(max(high - values[position], 0.0))
    if rows:
        ax.errorbar(centers, rows, xerr=[below, above], fmt="none", ecolor="black", capsize=3, linewidth=1)


def _segment_label(key, result) -> str:
    return f"{key} ({result.count} rows)"
