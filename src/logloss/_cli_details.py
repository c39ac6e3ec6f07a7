"""Output of ``logloss score --by COL`` and ``--decompose``: rich tables and JSON data.

The functions take the ``ScoreReport`` of ``logloss.cli`` and import its number formatting
when called, because ``logloss.cli`` imports this module.
"""

from __future__ import annotations

import math

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
    first = ", ".join("null" if part is None else str(part) for part in parts)
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


def segments_table(report):
    """Return the per-segment figures as a rich table."""
    from rich.markup import escape
    from rich.table import Table

    from .cli import _format_count, _format_float

    request = report.request
    baseline = "its own base rate" if request.ne_baseline == "segment" else "the file's base rate"
    caption = f"sorted by {request.sort}; normalized entropy against {baseline}"
    if request.min_segment_size:
        caption += f"; segments of at least {request.min_segment_size:,} rows"
    # Column names and key values are the user's text, so rich must not read them as markup.
    table = Table(title=f"log loss by {escape(', '.join(request.by))}", caption=caption)
    for name in request.by:
        table.add_column(escape(name))
    for heading in ("log loss", "normalized entropy", "calibration ratio", "rows", "weight sum"):
        table.add_column(heading, justify="right")
    for row in report.segments:
        keys = ["null" if part is None else escape(str(part)) for part in _key_parts(report, row["key"])]
        table.add_row(
            *keys,
            _format_float(row["log_loss"]),
            _format_float(row["normalized_entropy"]),
            _format_float(row["calibration_ratio"]),
            _format_count(row["count"]),
            _format_count(row["weight_sum"]),
        )
    return table


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
