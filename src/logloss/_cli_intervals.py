"""The ``--ci`` and ``--compare`` options of ``logloss score``: parsing and rendering.

``cli.py`` applies :func:`interval_options` to the command, resolves the values with
:func:`resolve_interval_options`, and renders the report's ``intervals`` and
``comparison`` with :func:`intervals_to_dict` and :func:`intervals_tables`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import click

from ._io import ROW_CONVENTION

__all__ = [
    "DEFAULT_BOOTSTRAP",
    "IntervalOptions",
    "interval_options",
    "intervals_tables",
    "intervals_to_dict",
    "resolve_interval_options",
]

DEFAULT_BOOTSTRAP = 200


@dataclass(frozen=True)
class IntervalOptions:
    """The resolved options of ``--ci`` and ``--compare``."""

    ci: bool = False
    compare: str | None = None
    level: float = 0.95
    method: str = "delta"  # or "bootstrap"
    n_bootstrap: int = DEFAULT_BOOTSTRAP
    seed: int = 0
    id_column: str | None = None


_OPTIONS = (
    click.option(
        "--ci",
        is_flag=True,
        help="Add confidence intervals of the log loss, normalized entropy and calibration ratio.",
    ),
    click.option(
        "--compare",
        metavar="COL",
        help="Second column of predictions, of the same kind as --prob or --logit: print the "
        "log loss of the first minus that of COL, with its confidence interval.",
    ),
    click.option(
        "--level",
        metavar="LEVEL",
        type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
        callback=lambda context, parameter, value: _check_level(value),
        help="Confidence level of --ci and --compare, in (0, 1). Default: 0.95.",
    ),
    click.option(
        "--method",
        type=click.Choice(["delta", "bootstrap"]),
        help="Interval method: delta (delta method, from sums) or bootstrap (percentiles of a "
        "Poisson bootstrap). Default: delta.",
    ),
    click.option(
        "--bootstrap",
        "n_bootstrap",
        metavar="N",
        type=click.IntRange(min=2),
        help=f"Bootstrap replicates for --method bootstrap. Default: {DEFAULT_BOOTSTRAP}.",
    ),
    click.option(
        "--seed",
        metavar="S",
        type=click.IntRange(0, 2**64 - 1),
        help="Seed of the bootstrap weights for --method bootstrap, in [0, 2**64). Default: 0.",
    ),
    click.option(
        "--id-column",
        metavar="COL",
        help="Column of row ids (integers or strings) that fix each row's bootstrap weights "
        "for --method bootstrap; rows sharing an id are resampled together. Default: the "
        "0-based row number.",
    ),
)


def interval_options(command):
    """Add the options --ci, --compare, --level, --method, --bootstrap, --seed, --id-column."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def _check_level(value):
    # FloatRange lets NaN through, because every comparison with NaN is false.
    if value is not None and math.isnan(value):
        raise click.BadParameter("LEVEL must be a number in (0, 1), got nan.")
    return value


def resolve_interval_options(ci, compare, level, method, n_bootstrap, seed, id_column) -> IntervalOptions | None:
    """Check the options of --ci and --compare together, raising click.UsageError (exit 2)."""
    settings = {
        "--level": level,
        "--method": method,
        "--bootstrap": n_bootstrap,
        "--seed": seed,
        "--id-column": id_column,
    }
    if not ci and compare is None:
        given = [name for name, value in settings.items() if value is not None]
        if given:
            raise click.UsageError(f"{_options_apply(given)} only with --ci or --compare.")
        return None
    if method != "bootstrap":
        given = [name for name in ("--bootstrap", "--seed", "--id-column") if settings[name] is not None]
        if given:
            raise click.UsageError(f"{_options_apply(given)} only with --method bootstrap.")
    return IntervalOptions(
        ci=ci,
        compare=compare,
        level=0.95 if level is None else level,
        method=method or "delta",
        n_bootstrap=DEFAULT_BOOTSTRAP if n_bootstrap is None else n_bootstrap,
        seed=0 if seed is None else seed,
        id_column=id_column,
    )


def _options_apply(names: list[str]) -> str:
    return f"{', '.join(names)} {'applies' if len(names) == 1 else 'apply'}"


def _json_values(data):
    """Return `data` with non-finite floats as "inf", "-inf" or "nan", at any depth."""
    if isinstance(data, dict):
        return {key: _json_values(value) for key, value in data.items()}
    if isinstance(data, float) and math.isnan(data):
        return "nan"
    if isinstance(data, float) and math.isinf(data):
        return "inf" if data > 0 else "-inf"
    return data


def intervals_to_dict(report) -> dict:
    """Return the JSON keys interval_settings, intervals and comparison that apply."""
    options = report.request.intervals
    if options is None:
        return {}
    bootstrap = options.method == "bootstrap"
    rows = f"column `{options.id_column}`" if options.id_column else f"{ROW_CONVENTION} row number"
    data = {
        "interval_settings": {
            "method": options.method,
            "level": options.level,
            "n_bootstrap": options.n_bootstrap if bootstrap else None,
            "seed": options.seed if bootstrap else None,
            "row_ids": rows if bootstrap else None,
        }
    }
    if report.intervals is not None:
        data["intervals"] = _json_values(report.intervals.to_dict())
    if report.comparison is not None:
        data["comparison"] = {"column": options.compare, **_json_values(report.comparison.to_dict())}
    return data


def _format_float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.6g}"


def _method_caption(options: IntervalOptions) -> str:
    if options.method == "delta":
        return "delta method"
    rows = f"ids from `{options.id_column}`" if options.id_column else "ids = row numbers"
    return f"Poisson bootstrap, {options.n_bootstrap} replicates, seed {options.seed}, {rows}"


def _interval_cells(interval) -> list[str]:
    return [_format_float(value) for value in (interval.estimate, interval.standard_error, interval.lower, interval.upper)]


def _interval_table(title: str, caption: str):
    """Return an empty rich table with the columns figure, estimate, std. error, lower, upper."""
    from rich.table import Table

    table = Table(title=title, caption=caption)
    table.add_column("figure")
    for heading in ("estimate", "std. error", "lower", "upper"):
        table.add_column(heading, justify="right")
    return table


def intervals_tables(report) -> list:
    """Return the rich tables of the intervals and the comparison that apply."""
    options = report.request.intervals
    tables = []
    if report.intervals is not None:
        table = _interval_table(f"{options.level:.4g} confidence intervals", _method_caption(options))
        intervals = report.intervals
        for figure, interval in (
            ("log loss (nats)", intervals.log_loss),
            ("normalized entropy", intervals.normalized_entropy),
            ("calibration ratio", intervals.calibration_ratio),
        ):
            table.add_row(figure, *_interval_cells(interval))
        tables.append(table)
    if report.comparison is not None:
        first, second = report.request.prediction, options.compare
        comparison = report.comparison
        table = _interval_table(
            f"log loss of {first} minus {second}, {options.level:.4g} confidence interval",
            f"{_method_caption(options)}; negative: {first} has the lower loss",
        )
        table.add_row(f"log loss of {first}", _format_float(comparison.log_loss_a), "", "", "")
        table.add_row(f"log loss of {second}", _format_float(comparison.log_loss_b), "", "", "")
        table.add_row("difference", *_interval_cells(comparison.difference))
        tables.append(table)
    return tables
