"""The ``logloss`` command-line tool.

Each command resolves its options into a request, builds a report from it, and only then
renders the report as a rich table or as JSON, so nothing is printed before every figure is
computed. Exit codes: 0 on success, 1 for a data or file error or a missing extra
("logloss: error: ..." on stderr), 2 for a usage error (click's own).

``import logloss`` never imports this module, so it needs NumPy only; rich and pyarrow are
imported inside the functions that use them.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import json
import math
import os
import sys
import traceback
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from ._entry import EXTRA_HINT

try:
    import click
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        f"the logloss command-line tool needs click, rich and pyarrow: {EXTRA_HINT.format(extra='cli')}"
    ) from error
# rich and pyarrow are imported where they are used but checked here, because the `dask` and
# `spark` extras bring click and pyarrow without rich. Without the check, a command would
# fail with a traceback after computing its figures.
for _module in ("rich", "pyarrow"):
    if importlib.util.find_spec(_module) is None:
        raise ImportError(
            f"the logloss command-line tool needs click, rich and pyarrow, and {_module} is missing: "
            f"{EXTRA_HINT.format(extra='cli')}"
        )

from ._cli_details import (
    SEGMENT_SORTS,
    decomposition_table,
    decomposition_to_dict,
    segments_table,
    segments_to_dict,
    undefined_segments_warning,
)
from ._cli_intervals import (
    IntervalOptions,
    interval_options,
    intervals_tables,
    intervals_to_dict,
    resolve_interval_options,
)
from ._cli_warnings import REPORT_INFINITE_LOSS_ADVICE, cli_warning
from ._file_details import EXACT_MAX_ROWS
from ._frames import repeated_names
from ._io import (
    DEFAULT_BATCH_SIZE,
    MAX_BATCH_SIZE,
    ROW_CONVENTION,
    DataFileError,
    display_path,
    no_data_rows_error,
)

__all__ = ["cli", "main"]

# Show a progress bar only for files this large: Parquet rows from the footer, or CSV bytes.
PROGRESS_MIN_ROWS = 2_000_000
PROGRESS_MIN_CSV_BYTES = 64 << 20

# The library and the module that each --engine imports first, checked before any work.
_ENGINE_MODULES = {"dask": ("Dask", "dask.dataframe"), "spark": ("PySpark", "pyspark.sql")}


@dataclass(frozen=True)
class ScoreRequest:
    """The resolved options of ``logloss score``."""

    path: Path
    bundled: bool
    label: str
    prediction: str
    scale: str  # "prob" or "logit"
    weight: str | None = None
    clip: float | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    intervals: IntervalOptions | None = None  # with --ci or --compare
    by: tuple[str, ...] = ()
    min_segment_size: int = 0
    sort: str = "log-loss"
    ne_baseline: str = "segment"
    decompose: bool = False
    exact_max_rows: int = EXACT_MAX_ROWS
    engine: str = "local"


@dataclass
class ScoreReport:
    """Everything ``logloss score`` prints: the request, the figures and any warnings."""

    request: ScoreRequest
    result: object  # LogLossResult
    first_infinite_row: int | None
    warnings: list[str] = field(default_factory=list)
    segments: list[dict] | None = None  # rows of GroupedLogLossState.table, with --by
    decomposition: object = None  # Decomposition, with --decompose
    intervals: object = None  # Intervals, with --ci
    comparison: object = None  # PairedComparison, with --compare


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="logloss", prog_name="logloss")
def cli() -> None:
    """Exact binary cross-entropy (log loss) of predictions in a file."""


def _prediction_options(command):
    """Add FILE and the column options of every command that reads predictions from a file."""
    options = [
        # The reader checks the path itself, so that every file problem exits with status 1.
        click.argument("file", required=False, type=click.Path(readable=False, path_type=Path)),
        click.option("--label", default="label", show_default=True, metavar="COL", help="Column of labels in [0, 1]."),
        click.option("--prob", metavar="COL", help="Column of predicted probabilities in [0, 1]."),
        click.option("--logit", metavar="COL", help="Column of logits (log-odds); exclusive with --prob."),
        click.option("--weight", metavar="COL", help="Column of non-negative sample weights."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@cli.command()
@_prediction_options
@click.option(
    "--clip",
    metavar="EPS",
    type=click.FloatRange(0.0, 0.5, min_open=True, max_open=True),
    callback=lambda context, parameter, value: _check_clip(value),
    help="Clip probabilities so that no row's loss exceeds -log(EPS); EPS in (0, 0.5). "
    "Default: no clipping, so a loss may be infinite.",
)
@click.option(
    "--batch-size",
    metavar="N",
    type=click.IntRange(min=1, max=MAX_BATCH_SIZE),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Maximum rows read and scored at a time; bounds the memory used.",
)
@click.option(
    "--by",
    metavar="COL",
    multiple=True,
    help="Also report the figures per segment: one segment per distinct value of COL "
    "(nulls form their own segment). Repeat for segments by several columns.",
)
@click.option(
    "--min-segment-size",
    metavar="N",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="With --by, leave out segments of fewer than N rows.",
)
@click.option(
    "--sort",
    "sort_by",
    type=click.Choice(list(SEGMENT_SORTS)),
    default="log-loss",
    show_default=True,
    help="With --by, the figure that orders the segments: largest first, except segment "
    "(the key, ascending).",
)
@click.option(
    "--ne-baseline",
    type=click.Choice(["segment", "global"]),
    default="segment",
    show_default=True,
    help="With --by, divide each segment's log loss by the entropy of its own base rate "
    "(segment) or of the whole file's (global).",
)
@click.option(
    "--decompose",
    is_flag=True,
    help="Also split the log loss into miscalibration, discrimination and uncertainty "
    "(CORP): exact for files of at most --exact-max-rows rows, binned above.",
)
@click.option(
    "--exact-max-rows",
    metavar="N",
    type=click.IntRange(min=0),
    default=EXACT_MAX_ROWS,
    show_default=True,
    help="With --decompose, the most rows held in memory for the exact method (about "
    "200 bytes per row); longer files use the binned method.",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "dask", "spark"]),
    default="local",
    show_default=True,
    help="Where to compute: this process, Dask or Spark. Dask and Spark read a Parquet "
    "file or a folder of Parquet files themselves; --decompose is then binned.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of a table.")
@interval_options
def score(
    file,
    label,
    prob,
    logit,
    weight,
    clip,
    batch_size,
    by,
    min_segment_size,
    sort_by,
    ne_baseline,
    decompose,
    exact_max_rows,
    engine,
    as_json,
    ci,
    compare,
    level,
    method,
    n_bootstrap,
    seed,
    id_column,
) -> None:
    """Compute the log loss of FILE (.csv, .csv.gz, .parquet or .pq).

    With FILE, one of --prob and --logit is required. Without FILE, score the
    bundled Caravan data (columns label, prob and logit) with --prob prob.
    Rows are numbered from 0, not counting a CSV header. With --engine dask or
    --engine spark, FILE is a Parquet file or a folder of Parquet files.
    """
    _check_mode_options(
        click.get_current_context(), {"--by": by, "--decompose": decompose}, MODE_OPTIONS
    )
    if decompose:
        try:
            import scipy  # noqa: F401
        except ImportError as error:
            fail(ImportError(f"--decompose needs scipy ({error}): {EXTRA_HINT.format(extra='eval')}"))
    if engine in _ENGINE_MODULES:
        library, module = _ENGINE_MODULES[engine]
        try:
            importlib.import_module(module)
        except ImportError as error:
            fail(ImportError(f"--engine {engine} needs {library} ({error}): {EXTRA_HINT.format(extra=engine)}"))
    request = resolve_score_request(
        file,
        label,
        prob,
        logit,
        weight,
        clip,
        batch_size,
        by=by,
        min_segment_size=min_segment_size,
        sort=sort_by,
        ne_baseline=ne_baseline,
        decompose=decompose,
        exact_max_rows=exact_max_rows,
        intervals=resolve_interval_options(ci, compare, level, method, n_bootstrap, seed, id_column),
        engine=engine,
    )
    try:
        with _progress_bar(request) as progress:
            report = build_score_report(request, progress=progress)
    except (ValueError, OSError, ImportError) as error:
        # DataFileTypeError is a ValueError too, and an ImportError is a missing extra for
        # --engine. The bar is gone before the message prints.
        fail(error)
    if as_json:
        click.echo(render_json(report))
    else:
        render_table(report)
    for message in report.warnings:
        click.echo(f"logloss: warning: {message}", err=True)


def _check_clip(value):
    # FloatRange lets NaN through, because every comparison with NaN is false.
    if value is not None and math.isnan(value):
        raise click.BadParameter("EPS must be a number in (0, 0.5), got nan.")
    return value


@cli.command()
@_prediction_options
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="HTML",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="HTML file to write, other than FILE; an existing file is overwritten.",
)
@click.option(
    "--by",
    metavar="COL",
    multiple=True,
    help="Add a table and bar chart per segment: one segment per distinct value of COL "
    "(nulls form their own segment). Repeat for segments by several columns.",
)
@click.option("--title", default="Log loss report", show_default=True, help="Title of the page.")
def report(file, label, prob, logit, weight, output, by, title) -> None:
    """Write a self-contained HTML report of FILE: figures, decomposition and plots.

    FILE and the column options are as in `logloss score`: without FILE, report on the
    bundled Caravan data (try --by customer_type). The page needs no network: the plots
    are inline images. Unlike `logloss score`, this reads every row into memory at once.
    """
    request = resolve_score_request(file, label, prob, logit, weight, None, DEFAULT_BATCH_SIZE, by=by)
    _check_output_is_not_input(output, request.path)
    try:
        import matplotlib  # noqa: F401
        import scipy  # noqa: F401
    except ImportError as error:
        fail(ImportError(f"logloss report needs matplotlib and scipy ({error}): {EXTRA_HINT.format(extra='plots')}"))

    from ._report_file import write_file_report

    source = "bundled Caravan data" if request.bundled else str(request.path)
    columns = f"label={request.label}, {request.scale}={request.prediction}"
    if request.weight is not None:
        columns += f", weight={request.weight}"
    if by:
        columns += f", by={','.join(by)}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            write_file_report(
                request.path,
                output,
                label=request.label,
                prediction=request.prediction,
                scale=request.scale,
                weight=request.weight,
                by=by,
                title=title,
                source=f"{source} ({columns})",
                infinite_loss_advice=REPORT_INFINITE_LOSS_ADVICE,
            )
        except (ValueError, OSError) as error:
            fail(error)
    for warning in caught:
        click.echo(f"logloss: warning: {warning.message}", err=True)
    click.echo(f"wrote {output}")


def _check_output_is_not_input(output: Path, path: Path) -> None:
    """Raise click.UsageError (exit 2) when `output` is the input file `path`.

    os.path.samefile also matches a link and another spelling of the same path.
    """
    try:
        same = os.path.samefile(output, path)
    except OSError:
        # Most often `output` does not exist yet. Otherwise reading or writing reports the problem.
        return
    if same:
        raise click.UsageError(
            f"--output {display_path(output)} is the same file as the input {display_path(path)}. "
            "Choose another output path, because writing the report there would overwrite the data."
        )


# The options that take effect only with a mode option, by parameter name.
MODE_OPTIONS = {
    "min_segment_size": ("--min-segment-size", "--by"),
    "sort_by": ("--sort", "--by"),
    "ne_baseline": ("--ne-baseline", "--by"),
    "exact_max_rows": ("--exact-max-rows", "--decompose"),
}


def _check_mode_options(ctx: click.Context, modes: dict, options: dict) -> None:
    """Raise click.UsageError (exit 2) for an option passed without the mode it applies to.

    The options have defaults, so the parameter source shows whether the user passed them.
    """
    for parameter, (option, mode) in options.items():
        passed = ctx.get_parameter_source(parameter) is click.core.ParameterSource.COMMANDLINE
        if passed and not modes[mode]:
            raise click.UsageError(f"{option} applies only with {mode}.")


def fail(error: Exception) -> NoReturn:
    """Print a data or file error on stderr and exit with status 1."""
    click.echo(f"logloss: error: {error}", err=True)
    _release_frames(error)
    sys.exit(1)


def _release_frames(error: BaseException) -> None:
    """Free what the frames of `error` and of its causes hold, pyarrow readers included.

    Otherwise SystemExit keeps `error` as its context until interpreter shutdown, where
    destroying a pyarrow CSV reader while pyarrow's thread pools stop aborted the process
    ("terminate called without an active exception") or hung it.
    """
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        traceback.clear_frames(error.__traceback__)
        error.__traceback__ = None
        error = error.__cause__ or error.__context__
    gc.collect()


def resolve_score_request(file, label, prob, logit, weight, clip, batch_size, **details) -> ScoreRequest:
    """Check the options of ``logloss score`` together, raising click.UsageError (exit 2).

    `details` are the segment and decomposition options, passed on to :class:`ScoreRequest`.
    """
    if prob is not None and logit is not None:
        raise click.UsageError("--prob and --logit are mutually exclusive; pass one of them.")
    repeated = repeated_names(details.get("by", ()))
    if repeated:
        raise click.UsageError(f"--by must name each column once, got {repeated} more than once.")
    if clip is not None and logit is not None:
        raise click.UsageError("--clip applies to --prob only; logits are never clipped.")
    bundled = file is None
    if bundled:
        from .datasets import caravan_path

        file = caravan_path()
        if prob is None and logit is None:
            prob = "prob"
    elif prob is None and logit is None:
        raise click.UsageError(
            "pass --prob COL for a column of probabilities or --logit COL for a column of "
            "logits; logloss does not guess which one a column holds."
        )
    _check_engine_input(details.get("engine", "local"), Path(file), details.get("intervals"))
    scale, prediction = ("prob", prob) if prob is not None else ("logit", logit)
    return ScoreRequest(
        path=Path(file),
        bundled=bundled,
        label=label,
        prediction=prediction,
        scale=scale,
        weight=weight,
        clip=clip,
        batch_size=batch_size,
        **{name: tuple(value) if name == "by" else value for name, value in details.items()},
    )


def _check_engine_input(engine: str, path: Path, intervals) -> None:
    # A folder given to the local engine is reported by the reader, as every file problem.
    if engine == "local":
        return
    if not path.is_dir() and not path.name.lower().endswith((".parquet", ".pq")):
        raise click.UsageError(f"--engine {engine} reads Parquet only: pass a .parquet or .pq file or a folder of them.")
    if intervals is not None:
        raise click.UsageError(f"--ci and --compare are not available with --engine {engine}; use --engine local.")


def build_score_report(request: ScoreRequest, *, progress=None) -> ScoreReport:
    """Read the file and compute every figure; warnings are collected, not printed."""
    if request.engine != "local":
        return _build_engine_report(request)

    from ._score_file import scan_file

    columns = {request.scale: request.prediction}
    details = None
    if request.by or request.decompose:
        from ._file_details import DetailCollector

        details = DetailCollector(
            scale=request.scale,
            by=request.by,
            decompose=request.decompose,
            clip=request.clip,
            exact_max_rows=request.exact_max_rows,
        )
    collector = None
    if request.intervals is not None:
        from ._score_intervals import IntervalCollector

        options = request.intervals
        collector = IntervalCollector(
            request.path,
            scale=request.scale,
            label=request.label,
            ci=options.ci,
            compare=options.compare,
            level=options.level,
            method=options.method,
            n_bootstrap=options.n_bootstrap,
            seed=options.seed,
            id_column=options.id_column,
            clip=request.clip,
        )
    callbacks = [callback for callback in (details, collector) if callback is not None]

    def on_batch(*batch) -> None:
        for callback in callbacks:
            callback(*batch)

    raw_columns = collector.raw_columns if collector is not None else ()
    # Segment keys and row ids are compared as text, so a CSV file reads them as strings.
    # An empty key cell is a null key, as in Parquet.
    string_columns = ()
    if collector is not None and collector.id_column is not None:
        string_columns = (collector.id_column,)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scan = scan_file(
            request.path,
            label=request.label,
            weight=request.weight,
            clip=request.clip,
            batch_size=request.batch_size,
            progress=progress,
            raw_columns=raw_columns,
            string_columns=string_columns,
            key_columns=request.by,
            on_batch=on_batch if callbacks else None,
            add_fast=details.add_fast if details is not None else None,
            **columns,
        )
        if scan.state.count == 0:
            raise no_data_rows_error(request.path)
        result = scan.result()
        segments = decomposition = None
        if details is not None and details.segments is not None:
            segments = details.segments.table(
                sort=SEGMENT_SORTS[request.sort],
                descending=request.sort != "segment",
                min_size=request.min_segment_size,
                ne_baseline=request.ne_baseline,
            )
        if details is not None:
            decomposition = details.decomposition()
        intervals = comparison = None
        if collector is not None:
            intervals, comparison = collector.results(scan.state)
    report = ScoreReport(
        request=request,
        result=result,
        first_infinite_row=scan.first_infinite_row,
        segments=segments,
        decomposition=decomposition,
        intervals=intervals,
        comparison=comparison,
    )
    report.warnings = _printed_warnings(report, [str(warning.message) for warning in caught])
    return report


def _build_engine_report(request: ScoreRequest) -> ScoreReport:
    """Compute the figures with Dask or Spark; they do not report the first infinite row."""
    from ._score_engines import score_with_engine
    from ._warnings import LogLossWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = score_with_engine(
            request.engine,
            request.path,
            label=request.label,
            scale=request.scale,
            prediction=request.prediction,
            weight=request.weight,
            clip=request.clip,
            by=request.by,
            decompose=request.decompose,
        )
        if scores.state.count == 0:
            raise DataFileError(
                f"{display_path(request.path)}: the data has no rows, so no figure can be computed",
                path=request.path,
            )
        result = scores.state.result()
        segments = None
        if scores.segments is not None:
            segments = scores.segments.table(
                sort=SEGMENT_SORTS[request.sort],
                descending=request.sort != "segment",
                min_size=request.min_segment_size,
                ne_baseline=request.ne_baseline,
            )
        decomposition = None if scores.decomposition is None else scores.decomposition.result()
    # Only logloss's own warnings: the engines' start-up warnings are not about the data.
    messages = [str(warning.message) for warning in caught if issubclass(warning.category, LogLossWarning)]
    report = ScoreReport(
        request=request,
        result=result,
        first_infinite_row=None,
        segments=segments,
        decomposition=decomposition,
    )
    report.warnings = _printed_warnings(report, messages)
    return report


def _printed_warnings(report: ScoreReport, messages: list[str]) -> list[str]:
    """Return the warnings to print: the library's in the command line's words, then notes.

    The intervals repeat the figures' warnings (a single class, say), so each prints once.
    """
    printed = [cli_warning(message, report.request.scale) for message in messages]
    if report.segments is not None:
        # GroupedLogLossState.table does not warn about segments with undefined figures.
        note = undefined_segments_warning(report)
        if note is not None:
            printed.append(note)
    return list(dict.fromkeys(printed))


def _json_number(value):
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value):
            return "nan"
        return "inf" if value > 0 else "-inf"
    return value


def report_to_dict(report: ScoreReport) -> dict:
    """Return the report as JSON-ready data; non-finite numbers become "inf", "-inf", "nan"."""
    request = report.request
    figures = {name: _json_number(value) for name, value in report.result.to_dict().items()}
    figures["first_infinite_row"] = report.first_infinite_row
    data = {
        "file": str(request.path),
        "bundled": request.bundled,
        "columns": {"label": request.label, request.scale: request.prediction, "weight": request.weight},
        "clip": request.clip,
        "engine": request.engine,
        # The engines keep no row order, so they report no row numbers.
        "row_numbering": f"{ROW_CONVENTION} data rows, CSV header not counted" if request.engine == "local" else None,
        "result": figures,
        "warnings": report.warnings,
    }
    if report.segments is not None:
        data["segments"] = segments_to_dict(report)
    if report.decomposition is not None:
        data["decomposition"] = decomposition_to_dict(report)
    data.update(intervals_to_dict(report))
    return data


def render_json(report: ScoreReport) -> str:
    """Format the report as JSON text."""
    return json.dumps(report_to_dict(report), indent=2, allow_nan=False)


def _format_float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.6g}"


def _format_count(value) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.6g}"


def score_rows(report: ScoreReport) -> list[tuple[str, str]]:
    """Return the (figure, value) rows of the table."""
    result = report.result
    infinite = _format_count(result.n_infinite)
    if report.first_infinite_row is not None:
        infinite += f" (first: row {report.first_infinite_row}, 0-based)"
    clipped = _format_count(result.n_clipped) if report.request.clip is not None else "0 (no --clip)"
    return [
        ("log loss (nats)", _format_float(result.log_loss)),
        ("normalized entropy", _format_float(result.normalized_entropy)),
        ("relative information gain", _format_float(result.relative_information_gain)),
        ("base rate", _format_float(result.base_rate)),
        ("mean prediction", _format_float(result.mean_prediction)),
        ("calibration ratio", _format_float(result.calibration_ratio)),
        ("rows", _format_count(result.count)),
        ("weight sum", _format_count(result.weight_sum)),
        ("infinite-loss rows", infinite),
        ("clipped rows", clipped),
    ]


def render_table(report: ScoreReport, console=None) -> None:
    """Print the report as a rich table on stdout (or on `console`)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    request = report.request
    columns = f"label={request.label}, {request.scale}={request.prediction}"
    if request.weight is not None:
        columns += f", weight={request.weight}"
    if request.clip is not None:
        columns += f", clip={request.clip:g}"
    if request.engine != "local":
        columns += f", engine={request.engine}"
    name = "bundled Caravan data" if request.bundled else display_path(request.path)
    # File and column names are the user's text, so rich must not read them as markup.
    table = Table(title=f"log loss of {escape(name)}", caption=escape(columns))
    table.add_column("figure")
    table.add_column("value", justify="right")
    for figure, value in score_rows(report):
        table.add_row(figure, value)
    console = console or Console()
    console.print(table)
    if report.segments is not None:
        console.print(segments_table(report, width=console.width))
    if report.decomposition is not None:
        console.print(decomposition_table(report))
    for table in intervals_tables(report):
        console.print(table)


@contextmanager
def _progress_bar(request: ScoreRequest):
    """Yield a progress callback that draws on stderr, or None when no bar is wanted.

    A bar is drawn only when stderr is a terminal and the file is long.
    """
    if not sys.stderr.isatty() or not _is_long(request.path):
        yield None
        return

    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("reading rows", total=None)

        def update(rows_read: int, total: int | None) -> None:
            progress.update(task, completed=rows_read, total=total)

        yield update


def _is_long(path: Path) -> bool:
    from ._io import detect_format, total_rows

    try:
        if detect_format(path) == "csv":
            return path.stat().st_size >= PROGRESS_MIN_CSV_BYTES
        return (total_rows(path) or 0) >= PROGRESS_MIN_ROWS
    except (ValueError, OSError):
        return False  # reading the file reports the error


_compiling_noted = False


def _note_compiling() -> None:
    """Tell the user, once, why the first run on a machine pauses (see ``_fast.on_slow_first_call``)."""
    global _compiling_noted
    if not _compiling_noted:
        _compiling_noted = True
        click.echo(
            "logloss: note: numba is compiling the kernels for this machine, which takes 10 to 30 s "
            "once; later runs load them from its cache",
            err=True,
        )


def main(args=None) -> None:
    """Run the ``logloss`` command line."""
    from . import _fast

    _fast.on_slow_first_call = _note_compiling
    cli(args=args, prog_name="logloss")
