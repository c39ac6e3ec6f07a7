"""The HTML report of a CSV or Parquet file, read whole into memory.

The report needs every row at once, because the isotonic recalibration of the reliability
diagram and the decomposition sorts all predictions. A file is read in batches that are
checked as ``logloss score`` checks them, then joined into arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import closing

import numpy as np

from ._file_details import _key_column
from ._io import DEFAULT_BATCH_SIZE, no_data_rows_error, read_batches
from ._report import LIBRARY_INFINITE_LOSS_ADVICE, _render, _scaled_rows, _write
from ._score_file import checked_columns

__all__ = ["read_report_columns", "write_file_report"]


def _join_keys(chunks: list):
    """Join the batches of one key column: pyarrow arrays into a ChunkedArray, else NumPy."""
    if chunks and all(type(chunk).__module__.startswith("pyarrow") for chunk in chunks):
        import pyarrow as pa

        return pa.chunked_array(chunks)
    return np.concatenate(chunks) if chunks else np.empty(0)


def read_report_columns(
    path,
    *,
    label: str,
    prediction: str,
    scale: str,
    weight: str | None = None,
    by: Sequence[str] = (),
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict:
    """Read and check the columns of a report into memory.

    Returns a dict with the float64 arrays ``prediction`` and ``label``, ``weight`` (None
    without `weight`), and ``by``: a tuple with one key column per name in `by`. Invalid
    values raise :class:`DataFileError` naming the file, column and row, as in
    ``logloss score``.
    """
    numeric = [label, prediction] + ([weight] if weight is not None else [])
    parts: dict[str, list] = {"prediction": [], "label": [], "weight": []}
    keys: dict[str, list] = {name: [] for name in by}
    # Segment keys are compared as text, so a CSV file reads them as strings, and an empty
    # key cell as null.
    batches = read_batches(path, numeric, key_columns=list(by), batch_size=batch_size)
    # The report has no Python entry point for files, so the advice names the option only.
    logits_hint = f"; if `{prediction}` holds logits (log-odds), pass it with --logit instead"
    with closing(batches):
        for batch in batches:
            predictions, labels, weights = checked_columns(
                path, batch, prediction, scale, label, weight, logits_hint=logits_hint
            )
            parts["prediction"].append(np.asarray(predictions, dtype=np.float64))
            parts["label"].append(np.asarray(labels, dtype=np.float64))
            if weights is not None:
                parts["weight"].append(np.asarray(weights, dtype=np.float64))
            for name in by:
                keys[name].append(_key_column(batch, name))

    def joined(name: str) -> np.ndarray:
        return np.concatenate(parts[name]) if parts[name] else np.empty(0)

    return {
        "prediction": joined("prediction"),
        "label": joined("label"),
        "weight": joined("weight") if weight is not None else None,
        "by": tuple(_join_keys(keys[name]) for name in by),
    }


def write_file_report(
    path,
    output,
    *,
    label: str,
    prediction: str,
    scale: str,
    weight: str | None = None,
    by: Sequence[str] = (),
    title: str = "Log loss report",
    source: str = "",
    batch_size: int = DEFAULT_BATCH_SIZE,
    infinite_loss_advice: Mapping[str, str] = LIBRARY_INFINITE_LOSS_ADVICE,
) -> None:
    """Write the HTML report of a file's `prediction` column to `output`.

    `scale` is ``"prob"`` or ``"logit"``; see :func:`read_report_columns` for the columns.
    The page is that of :func:`write_report` (or :func:`write_report_with_logits`), but
    its note on rows with an infinite loss ends in ``infinite_loss_advice[scale]``. A file
    with no data rows raises :class:`DataFileError`, and `output` is then not written.
    """
    columns = read_report_columns(
        path, label=label, prediction=prediction, scale=scale, weight=weight, by=by, batch_size=batch_size
    )
    # Without rows every figure is NaN, so the page would show nothing. `logloss score`
    # rejects such a file with the same message.
    if columns["label"].size == 0:
        raise no_data_rows_error(path)
    rows = _scaled_rows(columns["prediction"], columns["label"], columns["weight"], scale)
    page = _render(
        rows,
        segments=columns["by"] or None,
        segment_name=", ".join(by) or "segment",
        title=title,
        source=source or str(path),
        seed=0,  # write_report's default, so the page is reproducible
        infinite_loss_advice=infinite_loss_advice,
    )
    _write(output, page)
