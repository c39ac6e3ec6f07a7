"""The evaluation state per segment: one set of ``SUM_FIELDS`` sums for each key.

Each batch maps its keys to integer codes once (``_keys.encode_keys``) and sums every field
per group with ``np.bincount``, so no Python code runs per row. Groups are aligned by key
across batches and states, and every sum is kept as a compensated ``(high, low)`` pair, as in
``LogLossState``. A group's sums are therefore those that ``LogLossState`` would hold for the
group's rows alone, up to rounding.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from . import _elementwise, _fast, _fast_numpy
from ._keys import encode_keys, first_key_parts, key_type_conflict, split_key_columns
from ._state import (
    LOSS_SCALE_EXPONENT,
    SUM_FIELDS,
    LogLossResult,
    LogLossState,
    binary_entropy,
    compensated_add,
    expit,
    infinite_loss_rows,
    probability_loss,
)
from ._validation import NAN_HINT, as_numeric_array, check_in_unit_interval, check_not_nan
from ._warnings import LossOverflowWarning, UndefinedMetricWarning

__all__ = ["GroupedLogLossState", "grouped_state_from_sums"]

_CHUNK_ROWS = 1 << 16
# Rows of a group that the reference path adds one after the other (see _chunk_group_sums).
_RUN_ROWS = 8
_LOGIT_HINT = "; for raw model scores (logits), call update_logits instead"
_FIGURES = (
    "log_loss",
    "normalized_entropy",
    "relative_information_gain",
    "calibration_ratio",
    "base_rate",
    "mean_prediction",
    "count",
    "weight_sum",
    "n_infinite",
    "n_clipped",
    "key",
)


def row_terms(probability, target, loss, weight):
    """Yield the per-row terms whose sums are ``SUM_FIELDS``, in that order.

    The terms are those of ``_state.compute_sums``, product for product. A row of weight 0
    adds 0 to every sum, and an infinite loss adds 0 here: the caller sets the loss sums of
    a group with an infinite loss to ``inf``, as ``compute_sums`` does. Without weights the
    terms of ``w`` and ``w2`` are None, so the caller counts rows instead of summing ones.
    """
    finite_loss = np.where(np.isinf(loss), 0.0, loss)
    if weight is None:
        loss_squared = finite_loss * finite_loss
        yield None  # w
        yield None  # w2
        yield target  # wy
        yield probability  # wp
        yield finite_loss  # wl
        yield loss_squared  # wl2
        yield finite_loss  # w2l
        yield loss_squared  # w2l2
        yield target  # w2y
        yield target * target  # w2y2
        yield probability  # w2p
        yield probability * probability  # w2p2
        yield finite_loss * target  # w2ly
        yield probability * target  # w2py
        return

    finite_loss[weight == 0.0] = 0.0
    w2 = weight * weight
    wl = weight * finite_loss
    w2l = w2 * finite_loss
    w2p = w2 * probability
    yield weight
    yield w2
    yield weight * target
    yield weight * probability
    yield wl
    yield wl * finite_loss
    yield w2l
    yield w2l * finite_loss
    yield w2 * target
    yield (w2 * target) * target
    yield w2p
    yield w2p * probability
    # w**2 * l may have overflowed to inf, and inf * 0 is NaN; the exact term is 0.
    with np.errstate(invalid="ignore"):
        w2ly = np.where(target == 0.0, 0.0, w2l * target)
    yield w2ly
    yield w2p * target


# The sums that involve the loss: inf in a group that has a row with an infinite loss.
_LOSS_FIELDS = [SUM_FIELDS.index(name) for name in ("wl", "wl2", "w2l", "w2l2", "w2ly")]
_WL = SUM_FIELDS.index("wl")


class GroupedLogLossState:
    """Streaming log loss per segment: one evaluation state for each distinct key.

    Parameters
    ----------
    clip : float, optional
        Bound each row's loss by ``-log(clip)`` in :meth:`update`, as
        :class:`LogLossState` does. Each segment reports how many rows were clipped.

    See Also
    --------
    LogLossState : The state of all rows together.

    Notes
    -----
    Keys may be any scalars that pyarrow can dictionary-encode or NumPy can sort: integers,
    floats, strings, bytes, booleans, dates. Nulls (None, NaN in a floating key column and
    NaT in a datetime column) form one segment whose key is None. The float keys 0.0 and
    -0.0 form one segment, keyed 0.0. Keys from NumPy datetime64 and timedelta64 columns,
    and from pyarrow timestamp and duration columns, are NumPy scalars of the column's
    unit. A timestamp column with a time zone gives Python datetimes with the zone's UTC
    offset at each instant, and labels show that offset. The two instants that share a
    wall-clock time when the clocks go back stay apart. Such keys never merge with those
    of a column without a zone, and must be whole microseconds. A list or object column
    that mixes datetimes with and without a zone raises TypeError. Nanosecond times (time64) and date64 values that are
    not whole days raise, because Python's time and date would drop their last digits.
    With several key columns each key is a tuple with one value per column.

    Each key column holds one type of key (integers and floats count as one, numbers) in
    every update and in every state merged in, because Python compares ``True == 1`` and
    would put those rows in one segment. Booleans after integers, or strings after numbers,
    raise TypeError, as they do within one update.

    The state holds, per segment, the row count, the compensated sums of ``SUM_FIELDS``,
    and the counts of infinite-loss and clipped rows. Merging adds the fields of equal keys,
    so batches in any order, on any number of machines, give the same state as one pass, up
    to float64 rounding. Within one batch the compiled kernel adds each row's terms to its
    segment's sums with Neumaier compensation. The NumPy path adds a segment's terms in a
    tree, 8 at a time, with ``np.bincount``. Sums across batches are compensated. Either
    way a segment's sums stay within a few ulp of the exact sums of its terms (at most
    3 ulp measured, on 1e6 rows in 5,000 segments).

    Examples
    --------
    >>> import numpy as np
    >>> from logloss import GroupedLogLossState
    >>> state = GroupedLogLossState()
    >>> p = np.array([0.9, 0.2, 0.6, 0.3])
    >>> y = np.array([1, 0, 0, 1])
    >>> state.update(p, y, np.array(["a", "b", "a", "b"]))
    >>> results = state.results()
    >>> sorted(results)
    ['a', 'b']
    >>> round(results["a"].log_loss, 6)
    0.510826
    >>> results["a"].count
    2
    """

    # The number of key columns, fixed by the first update; None before it. A class
    # attribute, so states pickled before it existed load with None.
    _n_key_columns: int | None = None
    # Per segment, the compensated pair of sum(w * l) * 2**-LOSS_SCALE_EXPONENT, which gives
    # the log loss when the sum "wl" overflows (see LogLossState.add_sums). None, in states
    # pickled before it existed, means "derive it from wl".
    _scaled_loss: np.ndarray | None = None
    # Per key column, the first non-null key value added, whose kind (bool, number, str,
    # ...) every later key of that column must share; None before any. States pickled
    # before it existed derive it from their keys.
    _key_examples: list | None = None

    def __init__(self, *, clip: float | None = None) -> None:
        # LogLossState validates `clip` with the same rule and message.
        LogLossState(clip=clip)
        self.clip = clip
        self._index: dict = {}
        self._keys: list = []
        self._high = np.zeros((0, len(SUM_FIELDS)))
        self._low = np.zeros((0, len(SUM_FIELDS)))
        self._counts = np.zeros((0, 3), dtype=np.int64)  # rows, infinite losses, clipped
        self._scaled_loss = np.zeros((0, 2))

    def __repr__(self) -> str:
        return f"GroupedLogLossState(segments={len(self._keys)}, rows={int(self._counts[:, 0].sum())})"

    def __len__(self) -> int:
        return len(self._keys)

    def keys(self) -> list:
        """Return the segment keys, update by update in the order they were first added.

        Within one update, the keys of a NumPy or pyarrow column of datetimes, or of
        integers that span at most 2**20 values (or as many as the rows), come in ascending
        order, because they are encoded by value. Other keys come in the order of their
        first row. Sort the keys, or use :meth:`table`, for an order that does not depend
        on the input types.
        """
        return list(self._keys)

    def update(self, y_pred, y_true, keys, *, weights=None) -> None:
        """Add rows given as predicted probabilities, with the segment key of each row.

        Parameters
        ----------
        y_pred : array_like
            Probabilities of the positive class in [0, 1].
        y_true : array_like
            Targets in [0, 1], of the same shape.
        keys : array_like or tuple of array_like
            The segment key of each row: one column with one key per row, or a tuple of
            such columns for segments defined by several columns. Only a tuple means
            several columns: a list is one column. NumPy arrays, lists, pyarrow arrays and
            pandas series are accepted. Each column holds scalars of one type (numbers,
            strings, bytes, booleans, dates and times), and the number of columns is fixed
            by the first update.
        weights : array_like, optional
            Non-negative sample weights, of the same shape as `y_pred`. Default: all 1.

        Raises
        ------
        TypeError
            As :meth:`LogLossState.update` does, or when `keys` is a string or a key column
            contains non-scalar values or values of mixed types, within this update or against
            earlier ones (booleans after integers, say); the state is unchanged.
        ValueError
            As :meth:`LogLossState.update` does, or when a key column does not have one key
            per row or the number of key columns differs from earlier updates; the state is
            unchanged.
        """
        if self.clip is None and self._add_fast(y_pred, y_true, keys, weights, logits=False) is not None:
            return
        predictions = as_numeric_array(y_pred, "y_pred")
        check_not_nan(predictions, "y_pred", NAN_HINT)
        check_in_unit_interval(predictions, "y_pred", _LOGIT_HINT)
        target, weight = _check_labels_and_weights(predictions, y_true, weights)
        codes, group_keys = self._encode_keys(keys, predictions.size)
        probability = predictions.astype(np.float64).ravel()
        if self.clip is None and self._add_split(codes, group_keys, probability, target, weight, logits=False):
            return
        loss, clipped = probability_loss(probability, target, self.clip)
        self._add(codes, group_keys, probability, target, weight, loss, clipped)

    def update_logits(self, logits, y_true, keys, *, weights=None) -> None:
        """Add rows given as logits (log-odds); see :meth:`update` for the parameters."""
        if self._add_fast(logits, y_true, keys, weights, logits=True) is not None:
            return
        scores = as_numeric_array(logits, "logits")
        check_not_nan(scores, "logits", NAN_HINT)
        target, weight = _check_labels_and_weights(scores, y_true, weights)
        codes, group_keys = self._encode_keys(keys, scores.size)
        z = scores.astype(np.float64, copy=False).ravel()
        if self._add_split(codes, group_keys, z, target, weight, logits=True):
            return
        loss = _elementwise.loss_from_logit(z, target, None)
        self._add(codes, group_keys, expit(z), target, weight, loss, None)

    def merge(self, other: GroupedLogLossState) -> GroupedLogLossState:
        """Return a new state holding the rows of both; neither input changes.

        Raises TypeError if `other` is not a GroupedLogLossState or a key column contains
        keys of another type than in this state (booleans against integers, say), and
        ValueError if the states have different numbers of key columns.
        """
        if not isinstance(other, GroupedLogLossState):
            raise TypeError(f"`other` must be a GroupedLogLossState, got {type(other).__name__}")
        mine, theirs = self._n_key_columns, other._n_key_columns
        if mine is not None and theirs is not None and mine != theirs:
            columns = "key column" if mine == 1 else "key columns"
            raise ValueError(f"`other` must have {mine} {columns} as this state, got {theirs}")
        merged = GroupedLogLossState(clip=self.clip)
        merged._n_key_columns = mine if mine is not None else theirs
        merged._index = dict(self._index)
        merged._keys = list(self._keys)
        merged._high = self._high.copy()
        merged._low = self._low.copy()
        merged._counts = self._counts.copy()
        merged._scaled_loss = self._scaled_loss_pairs()
        merged._key_examples = self._known_key_examples()
        rows = merged._rows_for(other._keys, source="other")
        # Fancy indexing copies, so the updated pairs are written back.
        high = merged._high[rows]
        low = merged._low[rows] + other._low
        compensated_add(high, low, other._high)
        merged._high[rows] = high
        merged._low[rows] = low
        merged._counts[rows] += other._counts
        theirs = other._scaled_loss_pairs(copy=False)
        scaled = merged._scaled_loss[rows]
        scaled[:, 1] += theirs[:, 1]
        compensated_add(scaled[:, 0], scaled[:, 1], theirs[:, 0])
        merged._scaled_loss[rows] = scaled
        return merged

    def state(self, key) -> LogLossState:
        """Return the :class:`LogLossState` of one segment; KeyError if the key is unknown."""
        row = self._index[key]
        state = LogLossState(clip=self.clip)
        state._high = self._high[row].copy()
        state._low = self._low[row].copy()
        state._scaled_loss = self._scaled_loss_pairs(copy=False)[row].copy()
        state.count, state.n_infinite, state.n_clipped = (int(v) for v in self._counts[row])
        return state

    def states(self) -> dict:
        """Return a dict from each segment key to that segment's :class:`LogLossState`."""
        return {key: self.state(key) for key in self._keys}

    def total(self) -> LogLossState:
        """Return the :class:`LogLossState` of all rows, every segment together."""
        state = LogLossState(clip=self.clip)
        scaled = self._scaled_loss_pairs(copy=False)
        for row in range(len(self._keys)):
            compensated_add(state._high, state._low, self._high[row])
            state._low += self._low[row]
            compensated_add(state._scaled_loss[:1], state._scaled_loss[1:], scaled[row, :1])
            state._scaled_loss[1] += scaled[row, 1]
        state.count, state.n_infinite, state.n_clipped = (int(v) for v in self._counts.sum(axis=0))
        return state

    def results(self) -> dict:
        """Return a dict from each segment key to that segment's :class:`LogLossResult`.

        Segments with undefined figures (a total weight of 0, or labels that are all equal so
        the normalized entropy is ``inf`` or NaN) get the values that
        :meth:`LogLossState.result` gives, and one :class:`UndefinedMetricWarning` names how
        many segments are affected.
        """
        results = {}
        undefined = []
        overflowed = []
        for key in self._keys:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                results[key] = self.state(key).result()
            for warning in caught:
                if issubclass(warning.category, UndefinedMetricWarning):
                    undefined.append(key)
                elif issubclass(warning.category, LossOverflowWarning):
                    overflowed.append((key, str(warning.message)))
                else:
                    warnings.warn(warning.message, warning.category, stacklevel=2)
        undefined = list(dict.fromkeys(undefined))
        if overflowed:
            key, message = overflowed[0]
            warnings.warn(
                f"in {len(overflowed)} of {len(self._keys)} segments (first: {key!r}), {message}",
                LossOverflowWarning,
                stacklevel=2,
            )
        if undefined:
            warnings.warn(
                f"normalized entropy or other figures are undefined in {len(undefined)} of "
                f"{len(self._keys)} segments (first: {undefined[0]!r}) because their labels "
                f"are all equal or their total weight is 0; see LogLossResult for the values",
                UndefinedMetricWarning,
                stacklevel=2,
            )
        return results

    def table(
        self,
        *,
        sort: str = "log_loss",
        descending: bool = True,
        min_size: float = 0,
        size_by: str = "count",
        ne_baseline: str = "segment",
    ) -> list[dict]:
        """Return one row of figures per segment, sorted, leaving out small segments.

        Parameters
        ----------
        sort : str, default "log_loss"
            The figure to sort by: one of ``"log_loss"``, ``"normalized_entropy"``,
            ``"relative_information_gain"``, ``"calibration_ratio"``, ``"base_rate"``,
            ``"mean_prediction"``, ``"count"``, ``"weight_sum"``, ``"n_infinite"``,
            ``"n_clipped"`` or ``"key"``. NaN values sort last either way.
        descending : bool, default True
            Sort from the largest value down.
        min_size : float, default 0
            Leave out segments smaller than this, measured by `size_by`.
        size_by : {"count", "weight"}, default "count"
            Measure a segment's size by its row count or by its total weight.
        ne_baseline : {"segment", "global"}, default "segment"
            Divide each segment's log loss by the entropy of its own base rate
            (``"segment"``) or of the base rate of all rows (``"global"``). A segment
            whose labels are all equal has a segment entropy of 0, so its normalized
            entropy is ``inf`` (NaN when its log loss is 0 too); the table does not warn.

        Returns
        -------
        list of dict
            One dict per segment with the key (``"key"``) and the fields of
            :class:`LogLossResult`. ``"normalized_entropy"`` and
            ``"relative_information_gain"`` follow `ne_baseline`, while ``"entropy"`` is
            always the entropy of the segment's own base rate.

        Examples
        --------
        >>> import numpy as np
        >>> from logloss import GroupedLogLossState
        >>> state = GroupedLogLossState()
        >>> state.update(np.array([0.9, 0.2, 0.6, 0.3]), np.array([1, 0, 0, 1]), [1, 1, 2, 2])
        >>> [row["key"] for row in state.table(sort="log_loss")]
        [2, 1]
        """
        if sort not in _FIGURES:
            raise ValueError(f"`sort` must be one of {', '.join(_FIGURES)}, got {sort!r}")
        if size_by not in ("count", "weight"):
            raise ValueError(f"`size_by` must be 'count' or 'weight', got {size_by!r}")
        if ne_baseline not in ("segment", "global"):
            raise ValueError(f"`ne_baseline` must be 'segment' or 'global', got {ne_baseline!r}")
        if not (isinstance(min_size, (int, float)) and min_size >= 0):
            raise ValueError(f"`min_size` must be a non-negative number, got {min_size!r}")

        global_entropy = math.nan
        if ne_baseline == "global":
            total = self.total()
            weight_sum = total.sum("w")
            if weight_sum > 0:
                global_entropy = binary_entropy(min(max(total.sum("wy") / weight_sum, 0.0), 1.0))
        rows = []
        for key in self._keys:
            state = self.state(key)
            size = state.count if size_by == "count" else state.sum("w")
            if size < min_size:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UndefinedMetricWarning)
                figures = state.result().to_dict()
            if ne_baseline == "global":
                figures["normalized_entropy"] = _ratio(figures["log_loss"], global_entropy)
                figures["relative_information_gain"] = 1.0 - figures["normalized_entropy"]
            rows.append({"key": key, **figures})
        return _sorted_rows(rows, sort, descending)

    def _encode_keys(self, keys, n_rows: int, *, dense: bool = False) -> tuple[np.ndarray, list]:
        """Encode `keys` after checking that they have as many columns as earlier updates.

        `dense` is that of ``_keys.encode_keys``."""
        n_columns = len(split_key_columns(keys))
        expected = self._n_key_columns
        if expected is not None and n_columns != expected:
            columns = "column" if expected == 1 else "columns"
            raise ValueError(
                f"`keys` must have {expected} {columns} as in earlier updates, got {n_columns}"
            )
        encoded = encode_keys(keys, n_rows, dense=dense)
        self._n_key_columns = n_columns
        return encoded

    def _rows_for(self, group_keys: list, source: str = "keys") -> np.ndarray:
        """Return the row of each key, appending zeroed rows for keys not seen before.

        Raises TypeError, before any change, when a key column's values differ in kind
        from those added before; `source` names the argument they came from.
        """
        self._check_key_types(group_keys, source)
        if self._scaled_loss is None:
            self._scaled_loss = self._scaled_loss_pairs()
        rows = np.empty(len(group_keys), dtype=np.intp)
        new = 0
        for i, key in enumerate(group_keys):
            row = self._index.get(key)
            if row is None:
                row = len(self._keys)
                self._index[key] = row
                self._keys.append(key)
                new += 1
            rows[i] = row
        if new:
            self._scaled_loss = np.vstack([self._scaled_loss, np.zeros((new, 2))])
            self._high = np.vstack([self._high, np.zeros((new, len(SUM_FIELDS)))])
            self._low = np.vstack([self._low, np.zeros((new, len(SUM_FIELDS)))])
            self._counts = np.vstack([self._counts, np.zeros((new, 3), dtype=np.int64)])
        return rows

    def _known_key_examples(self) -> list | None:
        """Return a copy of ``_key_examples``, derived from the keys in an older pickled state."""
        if self._key_examples is not None:
            return list(self._key_examples)
        if not self._keys or self._n_key_columns is None:
            return None
        return first_key_parts(self._keys, self._n_key_columns)

    def _check_key_types(self, group_keys: list, source: str) -> None:
        """Raise TypeError if `group_keys` differ in kind from the keys added before; else
        record their first values."""
        n_columns = self._n_key_columns or 1
        known = self._known_key_examples()
        new = first_key_parts(group_keys, n_columns)
        position = None if known is None else key_type_conflict(known, new)
        if position is not None:
            old, part = known[position], new[position]
            if source == "other":
                column = "" if n_columns == 1 else f" key column {position} of"
                subject, where, before = "`other`", f" in{column} `other`", f" in{column} this state"
            else:
                subject = "`keys`" if n_columns == 1 else f"`keys[{position}]`"
                where, before = "", " in an earlier update"
            reason = ""
            if {_key_kind(old), _key_kind(part)} == {"bool", "number"}:
                reason = ", because keys such as True and 1 compare equal and would share a segment"
            raise TypeError(
                f"{subject} must hold keys of the type of the keys added before, got "
                f"{part!r:.60} of type {type(part).__name__}{where} after {old!r:.60} of type "
                f"{type(old).__name__}{before}; convert the key column to one type{reason}"
            )
        self._key_examples = new if known is None else first_key_parts(group_keys, n_columns, known)

    def _scaled_loss_pairs(self, copy: bool = True) -> np.ndarray:
        """Return the ``(segments, 2)`` pairs of the scaled loss sums, a copy unless `copy` is False.

        A state pickled before they existed derives them from ``"wl"``, which is inf, and so
        is no help, where that sum overflowed.
        """
        if self._scaled_loss is not None:
            return self._scaled_loss.copy() if copy else self._scaled_loss
        wl = self._high[:, _WL] + self._low[:, _WL]
        return np.stack([np.ldexp(wl, -LOSS_SCALE_EXPONENT), np.zeros_like(wl)], axis=1)

    def _update_fast_total(self, predictions, y_true, keys, *, weights=None, logits: bool = False):
        """Add a batch through the single-pass grouped kernel and return the sums of all its rows.

        The returned ``SUM_FIELDS`` sums are the pairwise sums of the batch's group sums, so
        a caller that also keeps a :class:`LogLossState` of all rows can add them instead of
        reading the batch a second time. Returns None, and adds nothing, when the kernel
        does not apply (see :meth:`update`) or the batch needs the checks and messages of
        the reference path. The caller then calls :meth:`update` or :meth:`update_logits`.
        """
        if self.clip is not None:
            return None
        sums = self._add_fast(predictions, y_true, keys, weights, logits=logits)
        if sums is None:
            return None
        # The group sums of one field made contiguous, so that np.sum adds them pairwise.
        return np.ascontiguousarray(sums.T).sum(axis=1)

    def _add_fast(self, predictions, y_true, keys, weights, *, logits: bool) -> np.ndarray | None:
        """Add a batch through the single-pass grouped kernel and return its ``(groups, 14)``
        sums, or None if the kernel does not apply."""
        if type(predictions) is not np.ndarray or predictions.size < _fast_numpy.STATE_MIN_SIZE or _fast.disabled():
            return None
        n_key_columns = self._n_key_columns
        try:
            # Dense codes of integer keys may have no row. The counts below remove those.
            codes, group_keys = self._encode_keys(keys, predictions.size, dense=True)
        except (TypeError, ValueError):
            # The reference path checks the values before the keys, so that a call with a
            # bad value and bad keys raises the same error on both paths.
            self._n_key_columns = n_key_columns
            return None
        sums = self._add_coded(predictions, y_true, weights, codes, group_keys, logits=logits)
        if sums is None:
            # The reference path checks the batch again and may reject it, leaving no trace.
            self._n_key_columns = n_key_columns
        return sums

    def _add_coded(self, predictions, y_true, weights, codes, group_keys, *, logits: bool) -> np.ndarray | None:
        """Add a batch of encoded keys through the grouped kernel and return its sums as
        :meth:`_add_fast` does, or None, adding nothing."""
        sums = _fast.grouped_state_sums(predictions, y_true, weights, codes, len(group_keys), logits=logits)
        if sums is None:
            return None
        counts = np.zeros((len(group_keys), 3), dtype=np.int64)
        # Without weights the kernel's first sum counts the rows, exactly below 2**53.
        counts[:, 0] = np.bincount(codes, minlength=len(group_keys)) if weights is not None else sums[:, 0]
        present = counts[:, 0] > 0
        if not present.all():
            group_keys = [key for key, has_rows in zip(group_keys, present.tolist(), strict=True) if has_rows]
            sums, counts = sums[present], counts[present]
        self._add_group_sums(group_keys, sums, counts)
        return sums

    def _add_split(self, codes, group_keys, x, target, weight, *, logits: bool) -> bool:
        """Add checked rows of which some have an infinite loss: those rows through the
        reference path, the others through the grouped fast path. Return False, adding
        nothing, when that does not apply. See ``LogLossState._add_split``."""
        infinite = infinite_loss_rows(x, target, logits=logits)
        if infinite is None:
            return False
        # Register every key now, so that the keys keep the order of `group_keys` even where
        # a key's rows are all infinite and reach the state only after the others.
        self._rows_for(group_keys)
        finite = ~infinite
        weights = None if weight is None else weight[finite]
        if self._add_coded(x[finite], target[finite], weights, codes[finite], group_keys, logits=logits) is None:
            return False
        x, target, codes = x[infinite], target[infinite], codes[infinite]
        weight = None if weight is None else weight[infinite]
        if logits:
            self._add(codes, group_keys, expit(x), target, weight, _elementwise.loss_from_logit(x, target, None), None)
        else:
            loss, clipped = probability_loss(x, target, None)
            self._add(codes, group_keys, x, target, weight, loss, clipped)
        return True

    def _add(self, codes, group_keys, probability, target, weight, loss, clipped) -> None:
        n_groups = len(group_keys)
        high = np.zeros((n_groups, len(SUM_FIELDS)))
        low = np.zeros_like(high)
        counts = np.empty((n_groups, 3), dtype=np.int64)
        counts[:, 0] = np.bincount(codes, minlength=n_groups)
        # Chunks of rows that fit in the CPU cache make the 14 passes faster. With many
        # groups, adding up each chunk's sums would cost more than that saves.
        chunk_rows = _CHUNK_ROWS if n_groups <= _CHUNK_ROWS // 16 else max(loss.size, 1)
        for start in range(0, loss.size, chunk_rows):
            rows = slice(start, start + chunk_rows)
            chunk_weight = None if weight is None else weight[rows]
            terms = row_terms(probability[rows], target[rows], loss[rows], chunk_weight)
            # Huge finite losses overflow their squares and sums to inf, as in compute_sums.
            with np.errstate(over="ignore"):
                compensated_add(high, low, _chunk_group_sums(codes[rows], n_groups, terms))
        sums = high + low
        infinite = np.isinf(loss)
        if weight is not None:
            infinite &= weight != 0.0
        counts[:, 1] = np.bincount(codes[infinite], minlength=n_groups)
        sums[np.ix_(counts[:, 1] > 0, _LOSS_FIELDS)] = np.inf
        counts[:, 2] = 0 if clipped is None else np.bincount(codes[clipped], minlength=n_groups)
        scaled = None
        if np.isinf(sums[:, _WL]).any():
            scaled = _scaled_loss_sums(codes, n_groups, loss, weight)
        self._add_group_sums(group_keys, sums, counts, scaled)

    def _add_group_sums(self, group_keys, sums, counts, scaled=None) -> None:
        """Add the ``SUM_FIELDS`` sums and counts of each key, and `scaled`, the scaled loss
        sum of each key (derived from ``"wl"`` when None; see ``_scaled_loss_sums``)."""
        if scaled is None:
            scaled = np.ldexp(sums[:, _WL], -LOSS_SCALE_EXPONENT)
        rows = self._rows_for(group_keys)
        rows, sums, counts, scaled = _combine_repeated_rows(rows, sums, counts, scaled)
        high = self._high[rows]
        low = self._low[rows]
        compensated_add(high, low, sums)
        self._high[rows] = high
        self._low[rows] = low
        self._counts[rows] += counts
        pairs = self._scaled_loss[rows]
        compensated_add(pairs[:, 0], pairs[:, 1], scaled)
        self._scaled_loss[rows] = pairs


def _key_kind(value) -> str:
    """Return "bool" for a boolean key, "number" for another number, "other" otherwise."""
    if isinstance(value, bool | np.bool_):
        return "bool"
    return "number" if isinstance(value, int | float | np.number) else "other"


def _chunk_group_sums(codes, n_groups, terms, n_terms: int = len(SUM_FIELDS)):
    """Return the ``(n_groups, n_terms)`` sums of one chunk's `terms` per group.

    ``np.bincount`` adds a group's terms one after the other, so its error grows with the
    group's rows. Here the rows of each group, in row order, form runs of ``_RUN_ROWS``
    rows, and one ``np.bincount`` call sums every run. Further calls add each group's run
    sums ``_RUN_ROWS`` at a time until one sum per group is left. This is a tree of sums
    whose depth grows with the logarithm of the group's rows. A None term counts rows.
    """
    counts = np.bincount(codes, minlength=n_groups)
    levels = _run_levels(codes, counts)
    sums = np.empty((n_groups, n_terms))
    for field, term in enumerate(terms):
        if term is None:
            sums[:, field] = counts
            continue
        values = term
        for index, size in levels:
            values = np.bincount(index, weights=values, minlength=size)
        sums[:, field] = values
    return sums


def _run_levels(codes, counts):
    """Return ``(index, size)`` pairs: the ``np.bincount`` bins of each level of the tree of
    :func:`_chunk_group_sums`. The first level is indexed by row, each later one by the bins
    of the level before, and the last one has one bin per group, numbered by group.
    """
    n_groups = counts.size
    order = np.argsort(codes, kind="stable")
    group = codes[order]  # the items of a level, sorted by group, in row order within one
    rank = np.arange(codes.size) - (np.cumsum(counts) - counts)[group]
    lengths = counts
    levels = []
    while True:
        runs = -(-lengths // _RUN_ROWS)
        offsets = np.cumsum(runs) - runs
        index = offsets[group] + rank // _RUN_ROWS
        if not levels:
            row_index = np.empty_like(index)
            row_index[order] = index  # the first level reads the terms in row order
            index = row_index
        levels.append((index, int(runs.sum())))
        # The bins of this level, in order, are the items of the next one.
        group = np.repeat(np.arange(n_groups), runs)
        if np.all(runs <= 1):
            levels.append((group, n_groups))
            return levels
        rank = np.arange(group.size) - offsets[group]
        lengths = runs


def _scaled_loss_sums(codes, n_groups, loss, weight):
    """Return ``sum(w * l) * 2**-LOSS_SCALE_EXPONENT`` of each group, as ``scaled_loss_sum``,
    added in the tree of :func:`_chunk_group_sums`."""
    scaled = np.where(np.isinf(loss), 0.0, loss) * 2.0**-LOSS_SCALE_EXPONENT
    if weight is not None:
        scaled *= weight
    return _chunk_group_sums(codes, n_groups, [scaled], n_terms=1)[:, 0]


def _combine_repeated_rows(rows, sums, counts, scaled):
    """Add up the sums, counts and scaled loss sums of codes that map to one state row.

    Two codes of a batch map to one row when Python compares their keys equal although the
    encoder kept them apart. Fancy-index assignment keeps only the last write to a repeated
    row, so such codes are combined first.
    """
    unique_rows, inverse = np.unique(rows, return_inverse=True)
    if unique_rows.size == rows.size:
        return rows, sums, counts, scaled
    combined_sums = np.zeros((unique_rows.size, sums.shape[1]))
    combined_counts = np.zeros((unique_rows.size, counts.shape[1]), dtype=np.int64)
    combined_scaled = np.zeros(unique_rows.size)
    np.add.at(combined_sums, inverse, sums)
    np.add.at(combined_counts, inverse, counts)
    np.add.at(combined_scaled, inverse, scaled)
    return unique_rows, combined_sums, combined_counts, combined_scaled


def _check_labels_and_weights(predictions, y_true, weights):
    """Check labels and weights exactly as LogLossState does, with its messages."""
    return LogLossState()._check_labels_and_weights(predictions, y_true, weights)


def _ratio(numerator: float, denominator: float) -> float:
    if denominator > 0:
        return numerator / denominator
    if math.isnan(denominator):
        return math.nan
    return math.inf if numerator > 0 else math.nan


def _sorted_rows(rows: list[dict], sort: str, descending: bool) -> list[dict]:
    def is_missing(row) -> bool:
        value = row[sort]
        return isinstance(value, float) and math.isnan(value)

    present = [row for row in rows if not is_missing(row)]
    missing = [row for row in rows if is_missing(row)]
    if sort == "key":
        present.sort(key=lambda row: _sortable_key(row["key"]), reverse=descending)
    else:
        present.sort(key=lambda row: row[sort], reverse=descending)
    return present + missing


def _sortable_key(key):
    """Order keys of mixed types (None, numbers, strings) without a TypeError."""
    parts = key if isinstance(key, tuple) else (key,)
    sortable = []
    for part in parts:
        if part is None:
            sortable.append((1, "", 0))
        elif isinstance(part, (int, float)):
            sortable.append((0, "", part))
        else:
            sortable.append((0, type(part).__name__, part))
    return tuple(sortable)


def grouped_state_from_sums(
    keys: list, sums, counts, *, clip: float | None, n_key_columns: int, scaled=None
) -> GroupedLogLossState:
    """Return a GroupedLogLossState from sums that another engine computed per segment.

    `sums` has one row per key, ordered as ``SUM_FIELDS``, and `counts` one row per key of
    (rows, rows with an infinite loss, clipped rows). Keys are as ``update`` forms them:
    a value for one key column, a tuple of `n_key_columns` values for several. `scaled`
    contains the scaled loss sum of each key (see ``_scaled_loss_sums``), needed only where
    ``"wl"`` overflowed.
    """
    keys = list(keys)
    state = GroupedLogLossState(clip=clip)
    state._n_key_columns = n_key_columns
    sums = np.asarray(sums, dtype=np.float64).reshape(len(keys), len(SUM_FIELDS))
    counts = np.asarray(counts, dtype=np.int64).reshape(len(keys), 3)
    if scaled is not None:
        scaled = np.asarray(scaled, dtype=np.float64).reshape(len(keys))
    state._add_group_sums(keys, sums, counts, scaled)
    return state
