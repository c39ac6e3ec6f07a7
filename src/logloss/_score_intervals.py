"""Confidence intervals and a paired comparison of a file's rows, gathered batch by batch.

``logloss score --ci`` and ``--compare COL`` pass an :class:`IntervalCollector` to
``_score_file.scan_file`` as (part of) its ``on_batch`` callback, so the file is read once.
The collector feeds each checked batch to a :class:`BootstrapState` and a
:class:`PairedComparisonState` as requested. Delta-method intervals need only the file's
:class:`LogLossState`.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np

from ._bootstrap import BootstrapState
from ._intervals import Intervals, confidence_interval
from ._io import ColumnBatch, DataFileTypeError, _null_error, _to_numpy
from ._paired import PairedComparison, PairedComparisonState
from ._score_file import checked_columns
from ._state import LogLossState
from ._warnings import LogLossWarning

__all__ = ["IntervalCollector"]


class IntervalCollector:
    """Collect bootstrap replicates and paired-comparison sums from checked batches.

    Parameters
    ----------
    path : str or os.PathLike
        The file, for error messages.
    scale : {"prob", "logit"}
        Kind of the prediction column, and of `compare`.
    label : str
        Column of labels, checked again with the `compare` column.
    ci : bool
        Whether to compute intervals of the file's figures.
    compare : str, optional
        Second prediction column for the paired comparison.
    level : float
        Confidence level.
    method : {"delta", "bootstrap"}
        Interval method.
    n_bootstrap, seed : int
        Bootstrap replicates and seed, used with ``method="bootstrap"``.
    id_column : str, optional
        Column of integer or string row ids for the bootstrap; default the row number.
    clip : float, optional
        Clipping of probabilities, as in the file's state.
    """

    def __init__(
        self,
        path,
        *,
        scale: str,
        label: str,
        ci: bool,
        compare: str | None,
        level: float,
        method: str,
        n_bootstrap: int,
        seed: int,
        id_column: str | None,
        clip: float | None,
    ) -> None:
        self.path = path
        self.scale = scale
        self.label = label
        self.ci = ci
        self.compare = compare
        self.level = level
        self.method = method
        self.id_column = id_column if method == "bootstrap" else None
        use_bootstrap = method == "bootstrap"
        self.bootstrap = BootstrapState(n_bootstrap=n_bootstrap, seed=seed, clip=clip) if ci and use_bootstrap else None
        self.paired = None
        if compare is not None:
            self.paired = PairedComparisonState(n_bootstrap=n_bootstrap if use_bootstrap else None, seed=seed, clip=clip)
        # Whether a value of the prediction column, and of the `compare` column, lies outside
        # [0, 1], which no probability does.
        self._outside_unit = {"prediction": False, "compare": False}

    @property
    def raw_columns(self) -> tuple[str, ...]:
        """Columns this collector reads besides the label, prediction and weight."""
        return tuple(name for name in (self.compare, self.id_column) if name is not None)

    def __call__(self, batch: ColumnBatch, predictions, labels, weights) -> None:
        """Add one checked batch, as ``scan_file``'s ``on_batch`` callback."""
        rows = {"weights": weights}
        if self.method == "bootstrap":
            ids = self._row_ids(batch)
            rows.update({"row_ids": ids} if ids is not None else {"offset": batch.start})
        if self.bootstrap is not None:
            update = self.bootstrap.update if self.scale == "prob" else self.bootstrap.update_logits
            update(predictions, labels, **rows)
        if self.paired is not None:
            other = self._compare_column(batch)
            if self.scale == "logit":
                for name, values in (("prediction", predictions), ("compare", other)):
                    self._outside_unit[name] |= values.size > 0 and not 0.0 <= values.min() <= values.max() <= 1.0
            update = self.paired.update if self.scale == "prob" else self.paired.update_logits
            update(predictions, other, labels, **rows)

    def results(self, state: LogLossState) -> tuple[Intervals | None, PairedComparison | None]:
        """Return the intervals and the comparison, None for what was not requested.

        `state` is the file's plain state, which gives the delta-method intervals.
        """
        intervals = None
        if self.ci:
            source = self.bootstrap if self.bootstrap is not None else state
            intervals = confidence_interval(source, level=self.level, method=self.method)
        comparison = None if self.paired is None else self.paired.interval(level=self.level, method=self.method)
        if self._outside_unit["prediction"] and not self._outside_unit["compare"]:
            # logloss never reads the kind of a column from its values, but logits that all
            # lie in [0, 1] next to logits that do not are most likely probabilities.
            warnings.warn(
                f"every value of the --compare column `{self.compare}` lies in [0, 1], unlike "
                f"the --logit column, and it was read as logits. If it contains probabilities, "
                f"the comparison is wrong: pass both columns as probabilities (--prob COL "
                f"--compare {self.compare})",
                LogLossWarning,
                stacklevel=2,
            )
        return intervals, comparison

    def _compare_column(self, batch: ColumnBatch) -> np.ndarray:
        """Return the batch's `compare` column, converted and checked like the predictions."""
        if self.compare not in batch.columns:
            # A name that is not also the label, prediction or weight arrives unconverted.
            values = _to_numpy(self.path, self.compare, batch.raw[self.compare], batch.start)
            batch = replace(batch, columns={**batch.columns, self.compare: values})
        # No option reads the compared column on another scale than the first, so passing
        # it with --logit, the usual advice, would change the first column instead.
        hint = (
            f"; `{self.compare}` must be of the same kind as the --prob column, and no option "
            f"reads a --compare column as logits, so compare logits only with logits "
            f"(--logit COL --compare {self.compare})"
        )
        return checked_columns(self.path, batch, self.compare, self.scale, self.label, None, logits_hint=hint)[0]

    def _row_ids(self, batch: ColumnBatch) -> np.ndarray | None:
        """Return the batch's ids as integers or strings, or None without an id column."""
        if self.id_column is None:
            return None
        if self.id_column in batch.columns:
            values = batch.columns[self.id_column]  # also the label, prediction or weight
            if values.dtype.kind in "iu":
                return values
            raise DataFileTypeError(
                f"{self.path}: column `{self.id_column}` must contain integer or string row "
                f"ids, got dtype {values.dtype}",
                path=self.path,
                column=self.id_column,
            )
        import pyarrow as pa

        array = batch.raw[self.id_column]
        if array.null_count:
            raise _null_error(self.path, self.id_column, array, batch.start)
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        kind = array.type
        if pa.types.is_integer(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind):
            return array.to_numpy(zero_copy_only=False)
        raise DataFileTypeError(
            f"{self.path}: column `{self.id_column}` must contain integer or string row ids, got type {kind}",
            path=self.path,
            column=self.id_column,
        )
