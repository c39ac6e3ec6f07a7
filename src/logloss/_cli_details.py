"""Output of ``logloss score --by COL`` and ``--decompose``: rich tables and JSON data.

The functions take the ``ScoreReport`` of ``logloss.cli`` and import its number formatting
when called, because ``logloss.cli`` imports this module.
"""

from __future__ import annotations

import math

from ._keys import key_label

__all__ = [
    "SEGMENT_SORTS",
    "decomposition_table",
    "decomposition_to_dict",
    "segments_table",
    "segments_to_dict",
    "undefined_segments_warning",
]

# --sort choices and the GroupedLogLossState.table figure each one sorts by.
SEGMENT_SORTS = {
    "log-loss": "log_loss",
    "normalized-entropy": "normalized_entropy",
    "calibration-ratio": "calibration_ratio",
    "rows": "count",
    "weight-sum": "weight_sum",
    "segment": "key",
}


def _key_parts(report, key) -> list:
    """Return one value per --by column; a single column's key is not a tuple."""
    return list(key) if len(report.request.by) > 1 else [key]


def segments_to_dict(report) -> dict:
    """Return the per-segment figures as JSON-ready data."""
    from .cli import _json_number

    request = report.request
    rows = []
    for row in report.segments:
        figures = {name: _json_number(value) for name, value in row.items() if name != "key"}
        # `entropy` is always the segment's own, so the divisor of normalized_entropy is
        # given separately: the file's entropy with --ne-baseline global.
        baseline = row["entropy"] if request.ne_baseline == "segment" else report.result.entropy
        figures["baseline_entropy"] = _json_number(baseline)
        parts = [_json_key(part) for part in _key_parts(report, row["key"])]
        rows.append({"segment": dict(zip(request.by, parts)), **figures})
    return {
        "by": list(request.by),
        "ne_baseline": request.ne_baseline,
        "sort": request.sort,
        "min_segment_size": request.min_segment_size,
        "rows": rows,
    }


def undefined_segments_warning(report) -> str | None:
    """Return a note on the shown segments with an undefined ratio, or None if there are none.

    A segment whose labels are all equal has a base-rate entropy of 0, so its normalized
    entropy against its own base rate is inf or NaN. One whose labels are all 0 has a
    calibration ratio of inf or NaN, and one of total weight 0 has no figures.
    """
    undefined = [row for row in report.segments if _has_undefined_ratio(row)]
    if not undefined:
        return None
    parts = _key_parts(report, undefined[0]["key"])
    first = key_label(tuple(parts))
    return (
        f"normalized entropy or calibration ratio is inf or NaN in {len(undefined)} of "
        f"{len(report.segments)} segments (first: {first}) because their labels are all equal "
        f"or their total weight is 0"
    )


def _has_undefined_ratio(row: dict) -> bool:
    # An infinite log loss makes the normalized entropy infinite too, but the table's
    # infinite-loss count reports that cause already.
    if row["weight_sum"] <= 0 or not math.isfinite(row["calibration_ratio"]):
        return True
    return math.isfinite(row["log_loss"]) and not math.isfinite(row["normalized_entropy"])


def _json_key(value):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        from .cli import _json_number

        return _json_number(value)
    return str(value)  # dates, times, decimals, bytes


# Narrowest width, in cells, that segments_table gives a key column to fit the terminal.
# A table that is still too wide is narrowed by rich, every column alike.
MIN_KEY_WIDTH = 6
# Figure column headings; the two long ones take two lines.
_FIGURE_HEADINGS = ("log loss", "normalized\nentropy", "calibration\nratio", "rows", "weight sum")


def segments_table(report, width: int | None = None):
    """Return the per-segment figures as a rich table for a terminal `width` cells wide.

    Each figure column is as wide as its widest heading line or figure. With `width`, the
    key columns share the rest, narrowest first, and wrap or fold their text to fit. Left
    to itself, rich would narrow the widest columns first and cut their text, headings
    included, with an ellipsis.

    NOTE: where the figure columns alone are wider than the terminal (about 65 cells),
    rich narrows every column, folding the text, and with several --by columns it can
    narrow a column to nothing.
    """
    from rich.cells import cell_len
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from .cli import _format_count, _format_float

    request = report.request
    baseline = "its own base rate" if request.ne_baseline == "segment" else "the file's base rate"
    caption = f"sorted by {request.sort}; normalized entropy against {baseline}"
    if request.min_segment_size:
        caption += f"; segments of at least {request.min_segment_size:,} rows"
    # Column names and key values are the user's text, so rich must not read them as markup.
    table = Table(title=f"log loss by {escape(', '.join(request.by))}", caption=caption)

    rows = []
    for row in report.segments:
        keys = [key_label(part) for part in _key_parts(report, row["key"])]
        figures = [
            _format_float(row["log_loss"]),
            _format_float(row["normalized_entropy"]),
            _format_float(row["calibration_ratio"]),
            _format_count(row["count"]),
            _format_count(row["weight_sum"]),
        ]
        rows.append(keys + figures)

    def widest(texts) -> int:
        return max((cell_len(line) for text in texts for line in text.splitlines()), default=0)

    key_count = len(request.by)
    figure_widths = [
        widest([heading, *(row[index] for row in rows)])
        for index, heading in enumerate(_FIGURE_HEADINGS, start=key_count)
    ]
    key_widths = [None] * key_count
    if width is not None:
        # rich's default box and padding take 3 cells a column and 1 for the last border.
        columns = key_count + len(_FIGURE_HEADINGS)
        available = width - (3 * columns + 1) - sum(figure_widths)
        natural = [widest([name, *(row[index] for row in rows)]) for index, name in enumerate(request.by)]
        key_widths = _share_widths(natural, available)

    # Folding, in place of rich's default ellipsis, keeps text whole in a narrowed column.
    for name, key_width in zip(request.by, key_widths):
        table.add_column(escape(name), overflow="fold", width=key_width)
    for heading, figure_width in zip(_FIGURE_HEADINGS, figure_widths):
        table.add_column(heading, justify="right", overflow="fold", width=figure_width)
    for row in rows:
        table.add_row(*(Text(key) for key in row[:key_count]), *row[key_count:])
    return table


def _share_widths(natural: list[int], available: int) -> list[int]:
    """Share `available` cells among columns of `natural` widths, narrowest first.

    A column narrower than an equal share of what is left keeps its width, and the others
    split the rest evenly, each at least MIN_KEY_WIDTH cells (or its natural width).
    """
    widths = [0] * len(natural)
    remaining = available
    order = sorted(range(len(natural)), key=lambda index: natural[index])
    for position, index in enumerate(order):
        share = remaining // (len(order) - position)
        widths[index] = min(natural[index], max(share, MIN_KEY_WIDTH))
        remaining -= widths[index]
    return widths


def decomposition_to_dict(report) -> dict:
    """Return the decomposition's figures as JSON-ready data, with its method."""
    from .cli import _json_number

    figures = {name: _json_number(value) for name, value in report.decomposition.to_dict().items()}
    figures["exact_max_rows"] = report.request.exact_max_rows
    return figures


def decomposition_table(report):
    """Return the decomposition as a rich table."""
    from rich.table import Table

    from .cli import _format_float

    result = report.decomposition
    if result.method == "exact":
        caption = "exact: isotonic regression on every distinct prediction"
    else:
        reason = f"the file has more than {report.request.exact_max_rows:,} rows"
        if report.request.engine != "local":
            reason = f"--engine {report.request.engine} computes the binned method only"
        caption = (
            f"binned: {reason}; "
            f"discrimination and miscalibration may be up to {result.error_bound:.2g} nats "
            f"below the exact values"
        )
    table = Table(title="log loss = miscalibration - discrimination + uncertainty", caption=caption)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("log loss (nats)", _format_float(result.score))
    table.add_row("miscalibration (MCB)", _format_float(result.miscalibration))
    table.add_row("discrimination (DSC)", _format_float(result.discrimination))
    table.add_row("uncertainty (UNC)", _format_float(result.uncertainty))
    table.add_row("method", result.method)
    return table
