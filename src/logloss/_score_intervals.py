"""Confidence intervals and a paired comparison for a CSV or Parquet file, batch by batch.

The command line's ``--ci`` and ``--compare`` options read the file once, feeding each
checked batch to the plain :class:`LogLossState` and, as requested, to a
:class:`BootstrapState` and a :class:`PairedComparisonState`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._bootstrap import BootstrapState
from ._intervals import Intervals, confidence_interval
from ._io import ColumnBatch, DataFileError, DataFileTypeError, format_row, read_batches, total_rows
from ._paired import PairedComparison, PairedComparisonState
from ._score_file import FileScore, add_rows, checked_columns
from ._state import LogLossState

__all__ = ["FileIntervals", "scan_file_intervals"]


@dataclass(frozen=True)
class FileIntervals:
    """The score of a file with its intervals and comparison, each None when not requested."""

    score: FileScore
    intervals: Intervals | None
    comparison: PairedComparison | None


def scan_file_intervals(
    path,
    *,
    label: str,
    scale: str,
    prediction: str,
    weight: str | None,
    clip: float | None,
    batch_size: int,
    ci: bool,
    compare: str | None,
    level: float,
    method: str,
    n_bootstrap: int,
    seed: int,
    id_column: str | None,
    progress=None,
) -> FileIntervals:
    """Read a file once and compute its figures, their intervals and the comparison.

    `scale` is "prob" or "logit" and applies to `compare` too. Without `id_column`, rows
    are identified for the bootstrap by their 0-based row number.
    """
    path = Path(path)
    columns = [label, prediction] + [name for name in (compare, weight) if name is not None]
    batches = read_batches(path, columns, raw_columns=[id_column] if id_column else (), batch_size=batch_size)
    use_bootstrap = method == "bootstrap"
    state = LogLossState(clip=clip)
    bootstrap = BootstrapState(n_bootstrap=n_bootstrap, seed=seed, clip=clip) if ci and use_bootstrap else None
    paired = None
    if compare is not None:
        paired = PairedComparisonState(n_bootstrap=n_bootstrap if use_bootstrap else None, seed=seed, clip=clip)

    total = total_rows(path) if progress is not None else None
    first_infinite_row = None
    rows_read = 0
    for batch in batches:
        predictions, labels, weights = checked_columns(path, batch, prediction, scale, label, weight)
        first_infinite = add_rows(state, scale, predictions, labels, weights, start=batch.start)
        if first_infinite_row is None:
            first_infinite_row = first_infinite
        rows = {"weights": weights}
        if use_bootstrap:
            ids = _row_ids(path, batch, id_column)
            rows.update({"row_ids": ids} if ids is not None else {"offset": batch.start})
        if bootstrap is not None:
            update = bootstrap.update if scale == "prob" else bootstrap.update_logits
            update(predictions, labels, **rows)
        if paired is not None:
            other = checked_columns(path, batch, compare, scale, label, None)[0]
            update = paired.update if scale == "prob" else paired.update_logits
            update(predictions, other, labels, **rows)
        rows_read += len(batch)
        if progress is not None:
            progress(rows_read, total)

    score = FileScore(str(path), label, prediction, scale, weight, clip, state, first_infinite_row)
    intervals = None
    if ci:
        intervals = confidence_interval(bootstrap if use_bootstrap else state, level=level, method=method)
    comparison = paired.interval(level=level, method=method) if paired is not None else None
    return FileIntervals(score, intervals, comparison)


def _row_ids(path, batch: ColumnBatch, id_column: str | None) -> np.ndarray | None:
    """Return the batch's ids as integers or strings, or None without an id column."""
    if id_column is None:
        return None
    import pyarrow as pa

    array = batch.raw[id_column]
    if array.null_count:
        index = int(np.flatnonzero(array.is_null().to_numpy(zero_copy_only=False))[0])
        raise DataFileError(
            f"{path}: column `{id_column}` must contain a row id in every row, got a null at "
            f"{format_row(batch.start + index)}",
            path=path,
            column=id_column,
            row=batch.start + index,
        )
    kind = array.type
    if pa.types.is_integer(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return array.to_numpy(zero_copy_only=False)
    raise DataFileTypeError(
        f"{path}: column `{id_column}` must contain integer or string row ids, got type {kind}",
        path=path,
        column=id_column,
    )
