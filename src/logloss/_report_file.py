"""The HTML report of a CSV or Parquet file, read whole into memory.

The report needs every row at once, because the isotonic recalibration of the reliability
diagram and the decomposition sorts all predictions. A file is read in batches that are
checked as ``logloss score`` checks them, then joined into arrays.
"""

from __future__ import annotations

import numpy as np

from ._io import DEFAULT_BATCH_SIZE, read_batches
from ._report import write_report, write_report_with_logits
from ._score_file import checked_columns

__all__ = ["NULL_KEY", "read_report_columns", "write_file_report"]

# Segment key shown for rows whose --by value is null.
NULL_KEY = "(null)"


def _segment_keys(raw_chunks: list) -> np.ndarray:
    """Join the pyarrow chunks of the segment column into one NumPy array of keys."""
    values = [value for chunk in raw_chunks for value in chunk.to_pylist()]
    if any(value is None for value in values):
        return np.array([NULL_KEY if value is None else str(value) for value in values], dtype=object)
    return np.array(values)


def read_report_columns(
    path,
    *,
    label: str,
    prediction: str,
    scale: str,
    weight: str | None = None,
    by: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[str, np.ndarray | None]:
    """Read and check the columns of a report; return arrays named like the arguments.

    The result has the keys ``prediction``, ``label``, ``weight`` and ``by``, the last two
    None when not requested. Invalid values raise :class:`DataFileError` naming the file,
    column and row, as in ``logloss score``. Null segment keys become ``"(null)"``.
    """
    numeric = [label, prediction] + ([weight] if weight is not None else [])
    raw = [by] if by is not None and by not in numeric else []
    parts: dict[str, list] = {"prediction": [], "label": [], "weight": [], "by": []}
    for batch in read_batches(path, numeric, raw_columns=raw, batch_size=batch_size):
        predictions, labels, weights = checked_columns(path, batch, prediction, scale, label, weight)
        parts["prediction"].append(np.asarray(predictions, dtype=np.float64))
        parts["label"].append(np.asarray(labels, dtype=np.float64))
        if weights is not None:
            parts["weight"].append(np.asarray(weights, dtype=np.float64))
        if by is not None:
            parts["by"].append(batch.raw[by] if raw else batch.columns[by].copy())

    def joined(name: str) -> np.ndarray:
        return np.concatenate(parts[name]) if parts[name] else np.empty(0)

    keys = None
    if by is not None:
        keys = _segment_keys(parts["by"]) if raw else joined("by")
    return {
        "prediction": joined("prediction"),
        "label": joined("label"),
        "weight": joined("weight") if weight is not None else None,
        "by": keys,
    }


def write_file_report(
    path,
    output,
    *,
    label: str,
    prediction: str,
    scale: str,
    weight: str | None = None,
    by: str | None = None,
    title: str = "Log loss report",
    source: str = "",
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> None:
    """Write the HTML report of a file's `prediction` column to `output`.

    `scale` is ``"prob"`` or ``"logit"``; see :func:`read_report_columns` for the columns.
    """
    columns = read_report_columns(
        path, label=label, prediction=prediction, scale=scale, weight=weight, by=by, batch_size=batch_size
    )
    write = write_report if scale == "prob" else write_report_with_logits
    write(
        output,
        columns["prediction"],
        columns["label"],
        weights=columns["weight"],
        segments=columns["by"],
        segment_name=by or "segment",
        title=title,
        source=source or str(path),
    )
