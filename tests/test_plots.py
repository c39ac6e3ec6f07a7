import matplotlib

matplotlib.use("Agg")

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from logloss import LogLossState, UndefinedMetricWarning, plot_loss_terms, plot_reliability_diagram, plot_segment_losses

EDGE_CASES = {
    "all predictions equal": (np.full(20, 0.3), np.arange(20) % 2, None),
    "predictions 0 and 1": (np.array([0.0, 0.0, 1.0, 1.0, 0.5]), np.array([0, 1, 1, 0, 1]), None),
    "only positives": (np.linspace(0.1, 0.9, 9), np.ones(9), None),
    "only negatives": (np.linspace(0.1, 0.9, 9), np.zeros(9), None),
    "weights": (np.array([0.1, 0.4, 0.4, 0.9]), np.array([0, 1, 0, 1]), np.array([2.0, 0.5, 0.0, 1.5])),
    "all weights zero": (np.array([0.2, 0.8]), np.array([0, 1]), np.zeros(2)),
    "one row": (np.array([0.7]), np.array([1]), None),
    "no rows": (np.empty(0), np.empty(0), None),
    "soft labels": (np.array([0.2, 0.6, 0.9]), np.array([0.1, 0.5, 1.0]), None),
}


def render(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_reliability_diagram_edge_cases(case):
    y_pred, y_true, weights = EDGE_CASES[case]
    figure = Figure()
    ax = figure.add_subplot()
    returned = plot_reliability_diagram(y_pred, y_true, weights=weights, ax=ax, n_resamples=20)
    assert returned is ax
    assert render(figure).startswith(b"\x89PNG")


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_loss_terms_edge_cases(case):
    y_pred, y_true, weights = EDGE_CASES[case]
    figure = Figure()
    ax = figure.add_subplot()
    returned = plot_loss_terms(y_pred, y_true, weights=weights, ax=ax)
    assert returned is ax
    assert render(figure).startswith(b"\x89PNG")


def test_reliability_diagram_draws_curve_band_diagonal():
    p = np.array([0.1, 0.1, 0.3, 0.6, 0.8])
    y = np.array([0, 1, 0, 1, 1])
    ax = Figure().add_subplot()
    plot_reliability_diagram(p, y, ax=ax, n_resamples=30)
    labels = [line.get_label() for line in ax.get_lines()]
    assert "calibrated" in labels
    assert "CORP recalibrated" in labels
    curve = next(line for line in ax.get_lines() if line.get_label() == "CORP recalibrated")
    # Recalibrated values 0.5, 0, 1, 1 violate order at 0.3, so 0.1 and 0.3 pool to 1/3.
    np.testing.assert_allclose(np.unique(curve.get_ydata()), [1 / 3, 1.0])
    assert len(ax.collections) == 1  # the consistency band
    assert len(ax.patches) > 0  # the histogram


def test_reliability_diagram_without_band():
    ax = Figure().add_subplot()
    plot_reliability_diagram(np.array([0.2, 0.7]), np.array([0, 1]), ax=ax, band_level=None)
    assert len(ax.collections) == 0


def test_reliability_diagram_current_axes():
    figure = plt.figure()
    try:
        ax = plot_reliability_diagram(np.array([0.2, 0.7]), np.array([0, 1]), n_resamples=5)
        assert ax is figure.axes[0]
    finally:
        plt.close(figure)


def test_reliability_diagram_rejects_logits():
    with pytest.raises(ValueError, match=r"`y_pred` must be in \[0, 1\], got 2.5 at index 1"):
        plot_reliability_diagram(np.array([0.1, 2.5]), np.array([0, 1]), ax=Figure().add_subplot())


def test_loss_terms_shares_in_legend():
    # Loss 1: -log(0.5) for the positive, -log(0.5) for the negative: half each.
    ax = Figure().add_subplot()
    plot_loss_terms(np.array([0.5, 0.5]), np.array([1, 0]), ax=ax)
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == [
        "-log(p): positives, 1 rows, 50% of loss",
        "-log(1 - p): negatives, 1 rows, 50% of loss",
    ]


def test_loss_terms_bin_means():
    p = np.array([0.1, 0.2, 0.7, 0.9])
    y = np.array([1, 1, 0, 0])
    ax = Figure().add_subplot()
    plot_loss_terms(p, y, ax=ax, n_bins=1)
    markers = [line for line in ax.get_lines() if line.get_marker() == "o" and len(line.get_xdata())]
    positive, negative = markers
    np.testing.assert_allclose(positive.get_xdata(), [0.15])
    np.testing.assert_allclose(positive.get_ydata(), [-(np.log(0.1) + np.log(0.2)) / 2])
    np.testing.assert_allclose(negative.get_xdata(), [0.8])
    np.testing.assert_allclose(negative.get_ydata(), [-(np.log(0.3) + np.log(0.1)) / 2])


def test_loss_terms_infinite_bin_marked():
    ax = Figure().add_subplot()
    plot_loss_terms(np.array([0.0, 0.5]), np.array([1, 0]), ax=ax, n_bins=2)
    triangles = [line for line in ax.get_lines() if line.get_marker() == "^"]
    assert len(triangles) == 1
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels[0] == "-log(p): positives, 1 rows, infinite share of loss"


def test_loss_terms_rejects_zero_bins():
    with pytest.raises(ValueError, match="`n_bins` must be from 1 to 10,000, got 0"):
        plot_loss_terms(np.array([0.5]), np.array([1]), n_bins=0, ax=Figure().add_subplot())


def results_of(groups):
    results = {}
    for key, (p, y) in groups.items():
        state = LogLossState()
        state.update(np.array(p), np.array(y))
        results[key] = state.result()
    return results


def test_segment_losses_bars_and_intervals():
    results = results_of({"a": ([0.2, 0.7], [0, 1]), "b": ([0.4, 0.9], [0, 1])})
    ax = Figure().add_subplot()
    returned = plot_segment_losses(results, intervals={"a": (0.1, 0.5)}, overall=results["b"], ax=ax)
    assert returned is ax
    widths = [patch.get_width() for patch in ax.patches]
    np.testing.assert_allclose(widths, [results["a"].log_loss, results["b"].log_loss])
    assert [tick.get_text() for tick in ax.get_yticklabels()] == ["a (2 rows)", "b (2 rows)"]
    assert len(ax.collections) == 1  # one error bar, for "a"


def test_segment_losses_normalized_entropy_with_infinite():
    with pytest.warns(UndefinedMetricWarning, match="normalized entropy is undefined"):
        results = results_of({"one class": ([0.2, 0.3], [0, 0]), "both": ([0.2, 0.7], [0, 1])})
    figure = Figure()
    ax = figure.add_subplot()
    plot_segment_losses(results, metric="normalized_entropy", intervals={"one class": (0.0, 2.0)}, ax=ax)
    assert len(ax.patches) == 1
    assert [text.get_text() for text in ax.texts] == ["inf"]
    assert render(figure).startswith(b"\x89PNG")


def test_segment_losses_empty_mapping():
    figure = Figure()
    plot_segment_losses({}, ax=figure.add_subplot())
    assert render(figure).startswith(b"\x89PNG")


def test_segment_losses_rejects_bad_metric():
    with pytest.raises(ValueError, match="`metric` must be one of"):
        plot_segment_losses({}, metric="brier", ax=Figure().add_subplot())


def test_segment_losses_rejects_sequence():
    with pytest.raises(TypeError, match="`results` must be a mapping"):
        plot_segment_losses([1, 2], ax=Figure().add_subplot())


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"band_level": 0}, ValueError, r"`band_level` must be in \(0, 1\), got 0"),
        ({"band_level": "x"}, TypeError, r"`band_level` must be a number in \(0, 1\), got str"),
        ({"max_band_rows": 0}, ValueError, r"`max_band_rows` must be at least 1, got 0"),
        ({"n_hist_bins": 0}, ValueError, r"`n_hist_bins` must be from 1 to 10,000, got 0"),
        ({"seed": -1}, ValueError, r"`seed` must be at least 0, got -1"),
        ({"n_resamples": 2.5}, TypeError, r"`n_resamples` must be an integer, got float 2.5"),
        ({"ax": "x"}, TypeError, r"`ax` must be a matplotlib Axes or None, got str 'x'"),
    ],
)
def test_reliability_diagram_rejects_options(options, error, message):
    options.setdefault("ax", Figure().add_subplot())
    with pytest.raises(error, match=message):
        plot_reliability_diagram(np.array([0.2, 0.7]), np.array([0, 1]), **options)


def test_loss_terms_rejects_huge_bins():
    with pytest.raises(ValueError, match="`n_bins` must be from 1 to 10,000, got 1000000000"):
        plot_loss_terms(np.array([0.5]), np.array([1]), n_bins=10**9, ax=Figure().add_subplot())


def test_segment_losses_dollar_literal():
    figure = Figure()
    ax = figure.add_subplot()
    results = results_of({r"$\undefinedcmd$": ([0.2, 0.7], [0, 1]), "price $5-$10": ([0.4, 0.6], [1, 0])})
    plot_segment_losses(results, ax=ax)
    assert render(figure).startswith(b"\x89PNG")
    labels = ax.get_yticklabels()
    assert [label.get_text() for label in labels] == [r"$\undefinedcmd$ (2 rows)", "price $5-$10 (2 rows)"]
    assert not any(label.get_parse_math() for label in labels)
