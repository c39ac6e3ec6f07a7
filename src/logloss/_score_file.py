"""Log loss of a CSV or Parquet file, computed batch by batch with :class:`LogLossState`."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _fast
from ._frames import check_clip_scale
from ._io import (
    DEFAULT_BATCH_SIZE,
    ColumnBatch,
    DataFileError,
    check_batch_size,
    detect_format,
    display_path,
    format_row,
    read_batches,
    total_rows,
)
from ._state import WEIGHT_RANGE, LogLossResult, LogLossState, infinite_loss_mask
from ._validation import NAN_HINT

__all__ = ["FileScore", "add_rows", "checked_columns", "scan_file", "score_file"]

# Called after each batch with the rows read so far and the file's row count (None for CSV,
# whose length is unknown until the end).
ProgressCallback = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class FileScore:
    """The evaluation state of one file and where its rows came from.

    Attributes
    ----------
    path : str
        The file read.
    label, prediction, weight : str or None
        Column names used; `weight` is None without weights.
    scale : {"prob", "logit"}
        Whether `prediction` contains probabilities or logits.
    clip : float or None
        The clipping bound applied to probabilities.
    state : LogLossState
        The sums over every row.
    first_infinite_row : int or None
        0-based data row index of the first row with an infinite loss (a CSV header is not
        counted), or None when no loss is infinite.
    """

    path: str
    label: str
    prediction: str
    scale: str
    weight: str | None
    clip: float | None
    state: LogLossState
    first_infinite_row: int | None

    def result(self) -> LogLossResult:
        """Compute the figures of the whole file."""
        return self.state.result()


def score_file(
    path,
    *,
    label: str,
    prob: str | None = None,
    logit: str | None = None,
    weight: str | None = None,
    clip: float | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressCallback | None = None,
) -> LogLossResult:
    """Compute the log loss of a CSV or Parquet file without loading it whole.

    Parameters
    ----------
    path : str, bytes or os.PathLike
        A file whose name ends in .csv, .csv.gz, .parquet or .pq, in any letter case.
    label : str
        Column of targets in [0, 1].
    prob, logit : str
        Column of predicted probabilities, or of logits (log-odds). Exactly one is required.
    weight : str, optional
        Column of non-negative sample weights.
    clip : float, optional
        Bound each row's loss by ``-log(clip)``, as :class:`LogLossState` does. Not
        allowed with `logit`.
    batch_size : int, default 262144
        Maximum rows read and scored at a time, at most 2**63 - 1; the result does not
        depend on it beyond float64 rounding.
    progress : callable, optional
        Called as ``progress(rows_read, total_rows)`` after each batch; `total_rows` is the
        Parquet footer's row count, or None for CSV.

    Returns
    -------
    LogLossResult
        The figures over every row.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, PermissionError
        If the file does not exist, is a directory or cannot be read.
    DataFileError
        A ValueError naming the file, column and 0-based data row: a missing or repeated
        column, a null, NaN or out-of-range value, a corrupt or truncated file, or a path
        that is not a regular file.
    DataFileTypeError
        A TypeError (and DataFileError) for a column that does not hold numbers.
    TypeError, ValueError
        If both or neither of `prob` and `logit` are given, `clip` is given with `logit`,
        or an option is invalid.

    See Also
    --------
    LogLossState : The streaming state this function fills.

    Examples
    --------
    >>> from logloss import score_file
    >>> from logloss.datasets import caravan_path
    >>> result = score_file(caravan_path(), label="label", prob="prob")
    >>> result.count
    5822
    >>> round(result.log_loss, 6)
    0.210901
    """
    return scan_file(
        path,
        label=label,
        prob=prob,
        logit=logit,
        weight=weight,
        clip=clip,
        batch_size=batch_size,
        progress=progress,
    ).result()


def scan_file(
    path,
    *,
    label: str,
    prob: str | None = None,
    logit: str | None = None,
    weight: str | None = None,
    clip: float | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressCallback | None = None,
    raw_columns: Sequence[str] = (),
    string_columns: Sequence[str] = (),
    key_columns: Sequence[str] = (),
    on_batch: Callable | None = None,
    add_fast: Callable | None = None,
) -> FileScore:
    """Read a file batch by batch into a :class:`LogLossState`; see :func:`score_file`.

    Unlike :func:`score_file` it returns the state and the first row with an infinite loss.
    `raw_columns` are read unchecked into ``ColumnBatch.raw``, as are `string_columns`,
    which a CSV file reads as strings, and `key_columns`, which it reads as strings with
    an empty cell as null (see :func:`._io.read_batches`). `on_batch`, when given,
    is called as ``on_batch(batch, predictions, labels, weights)`` with each checked batch.
    `add_fast`, when given, is called first with the same arguments and the unchecked
    columns. If it returns the batch's ``SUM_FIELDS`` sums, having added the batch to its own
    state (``DetailCollector.add_fast``), they go into the file's state without a second
    pass over the rows.
    """
    if (prob is None) == (logit is None):
        given = "both" if prob is not None else "neither"
        raise TypeError(
            f"exactly one of `prob` (a column of probabilities) and `logit` (a column of "
            f"logits) must be given, got {given}"
        )
    if not isinstance(label, str):
        raise TypeError(f"`label` must be a column name (str), got {label!r}")
    for name, value in (("prob", prob), ("logit", logit), ("weight", weight)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"`{name}` must be a column name (str), got {type(value).__name__}")
    check_clip_scale(clip, logit)
    if not isinstance(path, str | bytes | os.PathLike):
        raise TypeError(f"`path` must be a file path (str, bytes or os.PathLike), got {type(path).__name__}")
    if progress is not None and not callable(progress):
        raise TypeError(f"`progress` must be None or a callable, got {type(progress).__name__}")
    batch_size = check_batch_size(batch_size)
    path = Path(os.fsdecode(path))

    scale, prediction = ("prob", prob) if prob is not None else ("logit", logit)
    columns = [label, prediction] + ([weight] if weight is not None else [])
    state = LogLossState(clip=clip)
    batches = read_batches(
        path,
        columns,
        raw_columns=raw_columns,
        string_columns=string_columns,
        key_columns=key_columns,
        batch_size=batch_size,
    )
    total = total_rows(path) if progress is not None else None
    first_infinite_row = None
    rows_read = 0
    # closing() closes the file when a batch is rejected, not when the generator is collected.
    with closing(batches):
        for batch in batches:
            predictions, labels, weights, first_infinite = _add_batch(
                state, path, batch, prediction, scale, label, weight, add_fast
            )
            if on_batch is not None:
                on_batch(batch, predictions, labels, weights)
            if first_infinite_row is None:
                first_infinite_row = first_infinite
            rows_read += len(batch)
            if progress is not None:
                progress(rows_read, total)

    return FileScore(
        path=str(path),
        label=label,
        prediction=prediction,
        scale=scale,
        weight=weight,
        clip=clip,
        state=state,
        first_infinite_row=first_infinite_row,
    )


def _add_batch(state: LogLossState, path, batch: ColumnBatch, prediction: str, scale: str, label: str, weight, add_fast=None):
    """Add one batch to `state`; return its predictions, labels, weights and first infinite row.

    The single-pass kernel checks and sums the raw columns at once. With `add_fast` (see
    :func:`scan_file`), a grouped kernel does that pass and returns the batch's sums. Where
    no kernel applies (clipping, numba missing, other dtypes) or one finds an invalid value
    or an infinite loss, the columns are checked one by one, which raises with the row, and
    added as before.
    """
    columns = batch.columns
    predictions, labels = columns[prediction], columns[label]
    weights = None if weight is None else columns[weight]
    if state.clip is None:
        sums = None if add_fast is None else add_fast(batch, predictions, labels, weights)
        if sums is None:
            sums = _fast.state_sums(predictions, labels, weights, logits=scale == "logit", prefer_numpy=True)
        if sums is not None:
            state.add_sums(len(batch), sums)
            return predictions, labels, weights, None
    predictions, labels, weights = checked_columns(path, batch, prediction, scale, label, weight)
    first_infinite = add_rows(state, scale, predictions, labels, weights, start=batch.start)
    return predictions, labels, weights, first_infinite


def checked_columns(
    path, batch: ColumnBatch, prediction: str, scale: str, label: str, weight: str | None, *, logits_hint=None
):
    """Return a batch's predictions, labels and weights (None without `weight`), checked.

    Raises DataFileError naming the file, column and row of the first invalid value: a NaN,
    a label or probability outside [0, 1], or a negative or non-finite weight.
    `logits_hint` replaces the advice, for a probability outside [0, 1], to pass the column
    with --logit.
    """
    weights = _weights(path, batch, weight)
    labels = _labels(path, batch, label)
    if scale == "prob":
        predictions = _probabilities(path, batch, prediction, logits_hint)
    else:
        predictions = _logits(path, batch, prediction)
    return predictions, labels, weights


def add_rows(state: LogLossState, scale: str, predictions, labels, weights, *, start: int) -> int | None:
    """Add checked rows to `state`; return the file row of the first new infinite loss, or None.

    `start` is the file row of the first of these rows.
    """
    before = state.n_infinite
    if scale == "prob":
        state.update(predictions, labels, weights=weights)
    else:
        state.update_logits(predictions, labels, weights=weights)
    if state.n_infinite == before:
        return None
    return start + _first_infinite(scale, predictions, labels, weights)


def _reject(path, batch: ColumnBatch, name: str, mask: np.ndarray, requirement: str, hint: str = ""):
    index = int(np.flatnonzero(mask)[0])
    row = batch.start + index
    value = batch.columns[name][index]
    count = int(np.count_nonzero(mask))
    such = "1 such value" if count == 1 else f"{count} such values"
    raise DataFileError(
        f"{display_path(path)}: column `{name}` must {requirement}, got {_describe(value, detect_format(path))} at "
        f"{format_row(row)} ({such} in rows {batch.start} to {batch.start + len(batch) - 1}){hint}",
        path=path,
        column=name,
        row=row,
    )


def _describe(value, kind: str = "parquet") -> str:
    if np.asarray(value).dtype.kind in "biu":
        return str(int(value))
    value = float(value)
    # A CSV file's numbers are read as float64, so a cell of 2 would otherwise show as 2.0.
    if kind == "csv" and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value).replace("nan", "NaN")


def _check_not_nan(path, batch, name, hint=""):
    values = batch.columns[name]
    if values.dtype.kind == "f":
        mask = np.isnan(values)
        if mask.any():
            _reject(path, batch, name, mask, "not contain NaN", hint)
    return values


def _check_unit_interval(path, batch, name, description: str, hint=""):
    # `hint` is for values outside [0, 1] only: a NaN is no sign of logits.
    values = _check_not_nan(path, batch, name, NAN_HINT)
    if values.dtype.kind != "b":
        mask = (values < 0) | (values > 1)
        if mask.any():
            _reject(path, batch, name, mask, f"contain {description} in [0, 1]", hint)
    return values


def _labels(path, batch, name):
    return _check_unit_interval(path, batch, name, "labels")


def _probabilities(path, batch, name, logits_hint=None):
    hint = logits_hint
    if hint is None:
        hint = (
            f"; if `{name}` holds logits (log-odds), pass it with --logit (logit= in "
            f"score_file) instead"
        )
    return _check_unit_interval(path, batch, name, "probabilities", hint)


def _logits(path, batch, name):
    return _check_not_nan(path, batch, name)


def _weights(path, batch, name):
    if name is None:
        return None
    values = batch.columns[name]
    if values.dtype.kind == "f":
        mask = ~np.isfinite(values)
        if mask.any():
            _reject(path, batch, name, mask, "contain finite weights")
    if values.dtype.kind != "b":
        mask = values < 0
        if mask.any():
            _reject(path, batch, name, mask, "contain non-negative weights")
    # Checked here so that the error names the file and row; LogLossState checks it again.
    # Only float64 and wider can hold a non-zero weight outside the range, and comparing a
    # float32 array with 1e120 would overflow the cast of 1e120 and warn.
    low, high = WEIGHT_RANGE
    if values.dtype.kind != "f" or values.dtype.itemsize < 8:
        return values
    mask = (values != 0) & ((values < low) | (values > high))
    if mask.any():
        _reject(
            path, batch, name, mask, f"contain weights of 0 or between {low:g} and {high:g}",
            "; divide all weights by one constant, which changes no figure",
        )
    return values


def _first_infinite(scale, predictions, labels, weights) -> int:
    """Return the index of the first infinite loss of non-zero weight.

    The rows are read off the inputs (``_state.infinite_loss_mask``). Computing the losses
    of the batch instead took tens of milliseconds per batch of 2**18 rows.
    """
    mask = infinite_loss_mask(predictions, labels, logits=scale == "logit")
    if weights is not None:
        mask &= weights != 0
    return int(np.flatnonzero(mask)[0])
