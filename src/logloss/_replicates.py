"""Per-replicate sums of a Poisson bootstrap, and the row ids or positions they came from.

Rows are identified either by an id that the caller passes, or by their position in the
whole data set, which the caller gives as each batch's `offset`. A state remembers which
positions it has seen, so adding or merging the same positions twice raises instead of
silently drawing the same weights for different rows.
"""

from __future__ import annotations

import bisect

import numpy as np

from ._resample import check_n_bootstrap, check_seed, replicate_sums, row_keys
from ._state import compensated_add
from ._validation import check_same_shape

__all__ = ["ReplicateSums"]


class ReplicateSums:
    """Compensated sums of `n_columns` row values in each of `n_bootstrap` replicates."""

    def __init__(self, n_columns: int, *, n_bootstrap: int, seed: int) -> None:
        self.n_bootstrap = check_n_bootstrap(n_bootstrap, minimum=2)
        self.seed = check_seed(seed)
        self.high = np.zeros((self.n_bootstrap, n_columns))
        self.low = np.zeros((self.n_bootstrap, n_columns))
        self.uses_ids: bool | None = None  # None until the first non-empty batch
        self.ranges: list[tuple[int, int]] = []  # disjoint sorted [start, stop) positions

    def totals(self) -> np.ndarray:
        """Return the sums, shape (n_bootstrap, n_columns)."""
        return self.high + self.low

    def keys(self, shape: tuple[int, ...], row_ids, offset, prediction_name: str):
        """Return the batch's row keys and its position range (None with ids); nothing changes.

        Raises if the ids do not match `shape`, if ids and positions are mixed, or if the
        positions overlap rows already added.
        """
        n_rows = int(np.prod(shape))
        if row_ids is not None:
            if offset is not None:
                raise ValueError("pass either `row_ids` or `offset`, not both; ids identify rows by themselves")
            ids = np.asarray(row_ids)
            check_same_shape(ids, "row_ids", shape, prediction_name)
            self._check_mode(True, n_rows)
            return row_keys(ids, self.seed), None

        self._check_mode(False, n_rows)
        if offset is None:
            start = self.ranges[-1][1] if self.ranges else 0
        else:
            if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)):
                raise TypeError(f"`offset` must be an int, got {type(offset).__name__}")
            if offset < 0:
                raise ValueError(f"`offset` must be non-negative, got {int(offset)}")
            start = int(offset)
        span = (start, start + n_rows)
        if n_rows:
            self._check_disjoint([span])
        positions = np.arange(span[0], span[1], dtype=np.uint64)
        return row_keys(positions, self.seed), span

    def add(self, keys: np.ndarray, values: np.ndarray, span: tuple[int, int] | None) -> None:
        """Add each replicate's weighted column sums of `values` (rows x columns, finite)."""
        if keys.size == 0:
            return
        self.uses_ids = span is None
        if span is not None:
            self.ranges = _insert(self.ranges, span)
        compensated_add(self.high, self.low, replicate_sums(keys, values, self.n_bootstrap))

    def merged(self, other: ReplicateSums) -> ReplicateSums:
        """Return the sums of both; raise if their settings differ or positions overlap."""
        if (self.n_bootstrap, self.seed) != (other.n_bootstrap, other.seed):
            raise ValueError(
                f"states must have the same n_bootstrap and seed to merge, got "
                f"n_bootstrap={self.n_bootstrap}, seed={self.seed} and "
                f"n_bootstrap={other.n_bootstrap}, seed={other.seed}"
            )
        if other.uses_ids is not None:
            self._check_mode(other.uses_ids, 1)
        self._check_disjoint(other.ranges)
        merged = ReplicateSums(self.high.shape[1], n_bootstrap=self.n_bootstrap, seed=self.seed)
        merged.uses_ids = self.uses_ids if self.uses_ids is not None else other.uses_ids
        merged.ranges = list(self.ranges)
        for span in other.ranges:
            merged.ranges = _insert(merged.ranges, span)
        merged.high = self.high.copy()
        merged.low = self.low + other.low
        compensated_add(merged.high, merged.low, other.high)
        return merged

    def _check_mode(self, uses_ids: bool, n_rows: int) -> None:
        if n_rows == 0 or self.uses_ids is None or self.uses_ids == uses_ids:
            return
        have, got = ("row ids", "positions") if self.uses_ids else ("positions", "row ids")
        raise ValueError(
            f"rows must be identified the same way in every batch, got {got} after {have}; "
            f"pass `row_ids` for every batch or for none"
        )

    def _check_disjoint(self, spans) -> None:
        for start, stop in spans:
            i = bisect.bisect_right(self.ranges, (start, stop))
            for j in (i - 1, i):
                if 0 <= j < len(self.ranges):
                    seen_start, seen_stop = self.ranges[j]
                    if start < seen_stop and seen_start < stop:
                        raise ValueError(
                            f"rows at positions {max(start, seen_start)} to "
                            f"{min(stop, seen_stop) - 1} were already added; pass each "
                            f"batch's starting row as `offset`, or pass `row_ids`"
                        )


def _insert(ranges: list[tuple[int, int]], span: tuple[int, int]) -> list[tuple[int, int]]:
    """Return `ranges` with the disjoint `span` inserted, joining neighbours that touch."""
    out = list(ranges)
    bisect.insort(out, span)
    joined: list[tuple[int, int]] = []
    for start, stop in out:
        if joined and joined[-1][1] == start:
            joined[-1] = (joined[-1][0], stop)
        else:
            joined.append((start, stop))
    return joined
