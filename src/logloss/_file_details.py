"""Per-segment figures and the decomposition of a file, gathered batch by batch.

``logloss score --by COL --decompose`` passes a :class:`DetailCollector` to
``_score_file.scan_file`` as its ``on_batch`` callback, so the file is read once for every
figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._binned import BinnedDecompositionState
from ._decompose import Decomposition, decompose, decompose_with_logits
from ._grouped import GroupedLogLossState

__all__ = ["EXACT_MAX_ROWS", "DetailCollector"]

# Files with at most this many rows get the exact decomposition, held in memory; longer
# files get the binned one. The exact method's peak memory was 155 to 165 bytes per row
# (tracemalloc, 10**6 rows), plus about 40 for the rows kept and joined here: about 1 GB at
# this limit. It also sorts the predictions, which took 5 to 7 s for 10**7 rows on a 2-core
# machine shared with other jobs.
EXACT_MAX_ROWS = 5_000_000


class DetailCollector:
    """Collect per-segment states and the decomposition from checked batches of a file.

    Parameters
    ----------
    scale : {"prob", "logit"}
        Whether the predictions are probabilities or logits.
    by : sequence of str
        Key columns of the segments; empty for no segments.
    decompose : bool
        Whether to compute the decomposition.
    clip : float, optional
        The clipping of probabilities, applied to the segments and the decomposition alike
        so that their scores equal the file's log loss.
    exact_max_rows : int
        Rows up to which the decomposition is exact; above it, binned.
    """

    def __init__(
        self,
        *,
        scale: str,
        by: Sequence[str] = (),
        decompose: bool = False,
        clip: float | None = None,
        exact_max_rows: int = EXACT_MAX_ROWS,
    ) -> None:
        self.scale = scale
        self.by = tuple(by)
        self.clip = clip
        self.exact_max_rows = exact_max_rows
        self.segments = GroupedLogLossState(clip=clip) if self.by else None
        self.binned = BinnedDecompositionState() if decompose else None
        # Batches kept for the exact decomposition until the rows exceed exact_max_rows.
        self._exact_batches: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] | None = [] if decompose else None
        self._rows = 0
        # Whether add_fast added the segments of the batch that __call__ gets next.
        self._segments_added = False

    def add_fast(self, batch, predictions, labels, weights) -> np.ndarray | None:
        """Add a batch's segments through the grouped kernel; return the batch's sums, or None.

        ``scan_file`` calls this before it checks a batch, and adds the returned
        ``SUM_FIELDS`` sums to the file's state in place of its own pass over the rows. With
        None, nothing was added and the batch takes the checked path, through
        :meth:`__call__`.
        """
        if self.segments is None:
            return None
        keys = tuple(_key_column(batch, name) for name in self.by)
        sums = self.segments._update_fast_total(predictions, labels, keys, weights=weights, logits=self.scale == "logit")
        self._segments_added = sums is not None
        return sums

    def __call__(self, batch, predictions, labels, weights) -> None:
        """Add one checked batch, as ``scan_file``'s ``on_batch`` callback."""
        if self._segments_added:
            self._segments_added = False  # add_fast has added this batch's segments
        elif self.segments is not None:
            keys = tuple(_key_column(batch, name) for name in self.by)
            if self.scale == "prob":
                self.segments.update(predictions, labels, keys, weights=weights)
            else:
                self.segments.update_logits(predictions, labels, keys, weights=weights)
        if self.binned is None:
            return
        if self.scale == "prob":
            if self.clip is not None:
                predictions = np.clip(predictions, self.clip, 1.0 - self.clip)
            self.binned.update(predictions, labels, weights=weights)
        else:
            self.binned.update_logits(predictions, labels, weights=weights)
        self._rows += len(labels)
        if self._exact_batches is not None:
            if self._rows > self.exact_max_rows:
                self._exact_batches = None  # too long for the exact method: free the rows
            else:
                self._exact_batches.append((np.array(predictions), np.array(labels), None if weights is None else np.array(weights)))

    def decomposition(self) -> Decomposition | None:
        """Return the exact decomposition if the rows fit, else the binned one; None if off."""
        if self.binned is None:
            return None
        if self._exact_batches is None:
            return self.binned.result()
        predictions = _concatenate([kept[0] for kept in self._exact_batches], np.float64)
        labels = _concatenate([kept[1] for kept in self._exact_batches], np.float64)
        has_weights = any(kept[2] is not None for kept in self._exact_batches)
        weights = _concatenate([kept[2] for kept in self._exact_batches], np.float64) if has_weights else None
        if self.scale == "prob":
            return decompose(predictions, labels, weights=weights)
        return decompose_with_logits(predictions, labels, weights=weights)


def _key_column(batch, name: str):
    # A key column that is also a numeric column (say --by label) is only in batch.columns.
    if name in batch.raw:
        return batch.raw[name]
    return batch.columns[name]


def _concatenate(arrays: list, dtype) -> np.ndarray:
    if not arrays:
        return np.zeros(0, dtype=dtype)
    return np.concatenate(arrays).astype(dtype, copy=False)
