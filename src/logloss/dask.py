"""Log loss on Dask collections: one evaluation state per partition, merged in a tree.

Each partition (or block, for arrays) becomes a :class:`~logloss.LogLossState` on the worker
that holds it, so only states of a few hundred bytes travel, never rows. The states then
merge in a tree of fan-in `split_every`, in partition order, so the result is the same on
every run and equals the single-machine result up to float64 rounding.

Needs the ``dask`` extra: in a clone of logloss, ``uv sync --extra dask``; in another
project, ``pip install '/path/to/logloss[dask]'``.
"""

from __future__ import annotations

import functools

import numpy as np

from ._entry import EXTRA_HINT
from ._frames import ColumnValueError, FrameColumns, check_by_columns, check_clip_scale, check_frame_columns, check_numeric_columns
from ._state import _LOGIT_HINT, LogLossResult, LogLossState
from ._validation import check_same_shape

__all__ = [
    "array_state",
    "array_state_with_logits",
    "evaluate_frame",
    "frame_bootstrap_state",
    "frame_decomposition_state",
    "frame_state",
]

# LogLossState's hint names its own update_logits; these name the logloss.dask call instead.
_ARRAY_LOGIT_HINT = "; for raw model scores (logits), call array_state_with_logits instead"
_FRAME_LOGIT_HINT = "; for raw model scores (logits), pass logit= instead"


def _import_dask():
    try:
        import dask
        import dask.array
    except ImportError as error:
        raise ImportError(
            f"logloss.dask needs Dask with its array and dataframe parts ({error}): "
            + EXTRA_HINT.format(extra="dask")
        ) from None
    return dask


def _check_split_every(split_every) -> int:
    if isinstance(split_every, bool) or not isinstance(split_every, int) or split_every < 2:
        raise ValueError(f"`split_every` must be an integer of at least 2, got {split_every!r}")
    return split_every


def _merge_states(*states, by=()):
    """Merge `states` in order. With key columns `by`, a key type error names them."""
    try:
        return functools.reduce(lambda left, right: left.merge(right), states)
    except TypeError as error:
        if not by:
            raise
        columns = ", ".join(f"`{name}`" for name in by)
        raise TypeError(
            f"the key columns {columns} must each have one type in every partition, but the "
            f"states of two partitions do not merge: {error}"
        ) from error


def _tree_merge(states: list, split_every: int, empty_state, by=()):
    """Merge delayed states in a tree of fan-in `split_every`, keeping partition order.

    `by` names the key columns of grouped states, for the message of a merge error.
    """
    dask = _import_dask()
    if not states:
        return dask.delayed(empty_state)()
    level = 0
    while len(states) > 1:
        level += 1
        states = [
            dask.delayed(_merge_states, pure=True, name=f"logloss-merge-{level}-{i}-{dask.base.tokenize(*group)}")(
                *group, by=tuple(by)
            )
            for i, group in enumerate(_groups(states, split_every))
        ]
    return states[0]


def _groups(items: list, size: int) -> list[list]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _block_state(y_pred, y_true, weights, *, is_logit: bool, make_state, where: str, columns=None, extra=None):
    """Return the state of one block. A validation error names the block and its columns.

    `make_state` builds an empty state (a LogLossState or a state with the same update
    methods), and `extra` contains further keywords of its update method, such as ``keys``.
    """
    state = make_state()
    update = state.update_logits if is_logit else state.update
    try:
        update(y_pred, y_true, weights=weights, **(extra or {}))
    except (TypeError, ValueError) as error:
        message = str(error)
        if columns is None:
            message = message.replace(_LOGIT_HINT, _ARRAY_LOGIT_HINT)
        else:
            message = _name_columns(message, columns)
        raise type(error)(_locate(message, where)) from error
    return state


def _locate(message: str, where: str) -> str:
    """Append the block or partition `where` to an error message about the values in it."""
    return f"{message} (in {where}; indices count from its start)"


def _name_columns(message: str, columns: FrameColumns) -> str:
    """Rewrite a LogLossState message in terms of the frame's columns."""
    message = message.replace(_LOGIT_HINT, _FRAME_LOGIT_HINT)
    replacements = {"`y_pred`": columns.prediction, "`logits`": columns.prediction, "`y_true`": columns.label}
    if columns.weight is not None:
        replacements["`weights`"] = columns.weight
    for argument, column in replacements.items():
        message = message.replace(argument, f"column `{column}`")
    return message


def _is_numeric_dtype(dtype) -> bool:
    """Return whether a pandas dtype contains real numbers or booleans.

    A categorical dtype counts when its categories are numeric. Text, object, complex and
    date-time dtypes do not.
    """
    from pandas.api.types import CategoricalDtype, is_bool_dtype, is_complex_dtype, is_numeric_dtype

    if isinstance(dtype, CategoricalDtype):
        return _is_numeric_dtype(dtype.categories.dtype)
    return (is_numeric_dtype(dtype) or is_bool_dtype(dtype)) and not is_complex_dtype(dtype)


def _has_unknown_categories(dtype) -> bool:
    from dask.dataframe.utils import UNKNOWN_CATEGORIES
    from pandas.api.types import CategoricalDtype

    return isinstance(dtype, CategoricalDtype) and UNKNOWN_CATEGORIES in dtype.categories


def _describe_dtype(dtype) -> str:
    """Name a rejected pandas dtype in an error message, with the usual fix."""
    from pandas.api.types import CategoricalDtype, is_object_dtype, is_string_dtype

    if isinstance(dtype, CategoricalDtype):
        return f"category of {dtype.categories.dtype}"
    if is_string_dtype(dtype) or is_object_dtype(dtype):
        return f"{dtype}; convert the column with .astype('float64') if it contains numbers as text"
    return str(dtype)


def _check_numeric_dtypes(frame, columns: FrameColumns) -> None:
    """Check the dtypes of the frame's metadata, so that no partition is computed.

    Dask reads a Parquet column written from a pandas categorical as a categorical whose
    categories are unknown until a partition is read. Such a column passes here, and
    :func:`_column_values` checks the categories of each partition instead.
    """
    for name in columns.names:
        if _is_null_column(frame, name):
            raise ColumnValueError(
                f"column `{name}` must not contain missing values, got a column of nulls only "
                f"(Arrow type null); pass a column that contains numbers",
                column=name,
            )
    check_numeric_columns(
        columns,
        dict(frame.dtypes),
        is_numeric=lambda dtype: _has_unknown_categories(dtype) or _is_numeric_dtype(dtype),
        describe=_describe_dtype,
    )


def _is_null_column(frame, column: str) -> bool:
    """Return whether a column of the frame has the Arrow type null, so it contains only nulls.

    pandas stores such a column as ``null[pyarrow]``, or, when Dask reads it from Parquet
    with the default dtypes, as object. The object case is distinguished from text by the
    Parquet schema, read only for a frame that is a Parquet read or a column selection of one.
    """
    import pandas as pd
    import pyarrow as pa

    dtype = frame.dtypes[column]
    if isinstance(dtype, pd.ArrowDtype):
        return pa.types.is_null(dtype.pyarrow_dtype)
    if dtype != np.dtype(object):
        return False
    schema = _parquet_schema(frame)
    return schema is not None and column in schema.names and pa.types.is_null(schema.field(column).type)


def _parquet_schema(frame):
    """Return the Arrow schema of a frame that is a Parquet read, or a column selection of one; else None.

    NOTE: Dask has no public way to get a Parquet read's schema, so this reads its plan
    (dask.dataframe.dask_expr internals, dask 2026.8). It returns None where those differ.
    """
    try:
        from dask.dataframe.dask_expr._expr import Projection
        from dask.dataframe.dask_expr.io.parquet import ReadParquet

        expression = frame.expr
        while isinstance(expression, Projection):
            expression = expression.frame
        if not isinstance(expression, ReadParquet):
            return None
        return expression._dataset_info["schema"]
    except (ImportError, AttributeError, KeyError, TypeError):
        return None


def _check_no_nulls(part, names) -> None:
    """Raise ValueError for the first null (pandas NA) in a column of a nullable dtype.

    Such a column would become NaN in :func:`_column_values`, and the state would then
    report a NaN. Object columns count None and pandas NA as nulls, as pandas does when it
    reads a boolean Parquet column with nulls. Other NumPy dtypes have NaN but no nulls.
    """
    import pandas as pd

    for name in names:
        series = part[name]
        if series.dtype == np.dtype(object):
            missing = np.fromiter((value is None or value is pd.NA for value in series), dtype=bool, count=len(series))
        elif isinstance(series.dtype, np.dtype):
            continue
        else:
            missing = series.isna().to_numpy(dtype=bool)
        count = int(missing.sum())
        if count:
            noun = "null" if count == 1 else "nulls"
            raise ValueError(
                f"column `{name}` must not contain missing values, got a null at index "
                f"{int(np.flatnonzero(missing)[0])} ({count} {noun} in all); drop those rows or "
                f"impute the missing values first"
            )


def _column_values(part, column: str) -> np.ndarray:
    """Return a pandas column as NumPy, with missing values of nullable dtypes as NaN.

    A nullable integer or boolean column without missing values keeps its NumPy dtype, so
    that an error names an invalid label as 2, not 2.0.
    """
    series = part[column]
    if isinstance(series.dtype, np.dtype) or not _is_numeric_dtype(series.dtype):
        # Text in a partition that passed the metadata check (categories that were unknown,
        # or a dtype that differs from the metadata) is passed on unconverted, so the
        # state's own check rejects it.
        return series.to_numpy()
    numpy_dtype = getattr(series.dtype, "numpy_dtype", None)
    if numpy_dtype is not None and numpy_dtype.kind in "biu" and not series.hasnans:
        return series.to_numpy(dtype=numpy_dtype)
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _partition_state(part, columns: FrameColumns, make_state, by, offsets, partition_info=None):
    """Return the state of one pandas partition. Dask passes `partition_info`, with its index.

    `offsets` contains the position of each partition's first row in the frame, or is None.
    """
    index = partition_info["number"]
    weights = None if columns.weight is None else _column_values(part, columns.weight)
    extra = {}
    if by:
        extra["keys"] = part[by[0]] if len(by) == 1 else tuple(part[name] for name in by)
    if offsets is not None:
        extra["offset"] = offsets[index]
    try:
        try:
            _check_no_nulls(part, columns.names)
        except ValueError as error:
            raise ValueError(_locate(str(error), f"partition {index}")) from None
        return _block_state(
            _column_values(part, columns.prediction),
            _column_values(part, columns.label),
            weights,
            is_logit=columns.is_logit,
            make_state=make_state,
            where=f"partition {index}",
            columns=columns,
            extra=extra,
        )
    except (TypeError, ValueError) as error:
        # `logloss score` reads the partition's number and length here to name the file of
        # the row. An exception's attributes survive the pickling that sends it from a worker.
        error.partition = index
        error.partition_length = len(part)
        raise


def frame_state(
    frame,
    *,
    label: str,
    prob: str | None = None,
    logit: str | None = None,
    weight: str | None = None,
    by: str | list[str] | None = None,
    clip: float | None = None,
    split_every: int = 8,
    compute: bool = True,
):
    """Compute the evaluation state of a Dask DataFrame, one partition at a time.

    Parameters
    ----------
    frame : dask.dataframe.DataFrame
        The rows to score.
    label : str
        Column of targets in [0, 1].
    prob, logit : str
        Column of predicted probabilities in [0, 1], or of logits (log-odds); pass exactly
        one of them.
    weight : str, optional
        Column of non-negative sample weights. Default: every row weighs 1.
    by : str or list of str, optional
        Column or columns that define segments: the state is then a
        :class:`~logloss.GroupedLogLossState` with one state per distinct key.
    clip : float, optional
        Bound each row's loss by ``-log(clip)``, as :class:`~logloss.LogLossState`
        does. Logits are never clipped, so `clip` with `logit` raises ValueError.
    split_every : int, default 8
        Fan-in of the tree that merges the partition states.
    compute : bool, default True
        Compute the state now. With False, return a ``dask.delayed`` object, so several
        evaluations can share one ``dask.compute`` call.

    Returns
    -------
    LogLossState, GroupedLogLossState or dask.delayed.Delayed
        The merged state; call ``.result()`` (``.results()`` with `by`) for the figures.

    Raises
    ------
    TypeError
        At once, when a column is not numeric or boolean (text columns are rejected even
        when they contain numbers) or an argument has the wrong type.
    ValueError
        For invalid arguments at once; for invalid values when computed, as
        :meth:`LogLossState.update` does, with the partition named in the message.

    Examples
    --------
    >>> import pandas as pd
    >>> import dask.dataframe as dd
    >>> from logloss.dask import frame_state
    >>> rows = pd.DataFrame({"p": [0.9, 0.2, 0.5, 0.7], "y": [1, 0, 1, 1]})
    >>> state = frame_state(dd.from_pandas(rows, npartitions=2), label="y", prob="p")
    >>> state.count
    4
    >>> round(state.result().log_loss, 6)
    0.344582
    """
    columns = _check_frame(frame, label=label, prob=prob, logit=logit, weight=weight)
    check_clip_scale(clip, logit)
    by = check_by_columns(list(frame.columns), by)
    # Fail on a bad clip on the client, before any task runs.
    LogLossState(clip=clip)
    if by:
        from ._grouped import GroupedLogLossState

        make_state = functools.partial(GroupedLogLossState, clip=clip)
    else:
        make_state = functools.partial(LogLossState, clip=clip)
    return _reduce_frame(frame, columns, make_state, split_every=split_every, compute=compute, by=by)


def frame_decomposition_state(
    frame,
    *,
    label: str,
    prob: str | None = None,
    logit: str | None = None,
    weight: str | None = None,
    n_bins: int = 4096,
    logit_limit: float = 16.0,
    split_every: int = 8,
    compute: bool = True,
):
    """Compute the binned log loss decomposition state of a Dask DataFrame.

    The columns, `split_every` and `compute` are as in :func:`frame_state`; `n_bins` and
    `logit_limit` are those of :class:`~logloss.BinnedDecompositionState`. Call
    ``.result()`` on the state for the decomposition.
    """
    from ._binned import BinnedDecompositionState

    columns = _check_frame(frame, label=label, prob=prob, logit=logit, weight=weight)
    make_state = functools.partial(BinnedDecompositionState, n_bins=n_bins, logit_limit=logit_limit)
    # Fail on bad bins on the client, before any task runs.
    make_state()
    return _reduce_frame(frame, columns, make_state, split_every=split_every, compute=compute)


def frame_bootstrap_state(
    frame,
    *,
    label: str,
    prob: str | None = None,
    logit: str | None = None,
    weight: str | None = None,
    n_bootstrap: int = 200,
    seed: int = 0,
    clip: float | None = None,
    split_every: int = 8,
    compute: bool = True,
):
    """Compute the Poisson bootstrap state of a Dask DataFrame.

    The columns, `clip`, `split_every` and `compute` are as in :func:`frame_state`;
    `n_bootstrap` and `seed` are those of :class:`~logloss.BootstrapState`. A row's
    bootstrap weights are hashed from its position in the frame, so the state equals the
    one of a single :meth:`~logloss.BootstrapState.update` on all rows in order, however the
    frame is partitioned. The partition lengths are computed first, in a separate pass,
    even when `compute` is False. Call ``.interval()`` on the state for the intervals.
    """
    from ._bootstrap import BootstrapState

    columns = _check_frame(frame, label=label, prob=prob, logit=logit, weight=weight)
    check_clip_scale(clip, logit)
    make_state = functools.partial(BootstrapState, n_bootstrap=n_bootstrap, seed=seed, clip=clip)
    make_state()
    return _reduce_frame(frame, columns, make_state, split_every=split_every, compute=compute, with_offsets=True)


def _check_frame(frame, **column_arguments) -> FrameColumns:
    _import_dask()
    import dask.dataframe

    if not isinstance(frame, dask.dataframe.DataFrame):
        raise TypeError(f"`frame` must be a dask.dataframe.DataFrame, got {type(frame).__name__}")
    columns = check_frame_columns(list(frame.columns), **column_arguments)
    _check_numeric_dtypes(frame, columns)
    return columns


def _scored_frame(frame, columns: FrameColumns, by=()):
    """Return the columns of `frame` that a state reads, in the order whose partitions it numbers."""
    return frame[list(dict.fromkeys([*columns.names, *by]))]


def _reduce_frame(frame, columns: FrameColumns, make_state, *, split_every, compute, by=(), with_offsets=False):
    """Build one state per partition with `make_state` and merge them in a tree.

    With `with_offsets`, each partition's update gets ``offset=``, the position of its first
    row in the frame. The partition lengths are then computed first, in a separate pass.
    """
    split_every = _check_split_every(split_every)
    selected = _scored_frame(frame, columns, by)
    offsets = None
    if with_offsets:
        lengths = selected.map_partitions(len).compute()
        offsets = tuple(int(start) for start in np.concatenate([[0], np.cumsum(lengths)[:-1]]))
    # Dask fuses the column selection (or the Parquet read narrowed to these columns) with
    # the state's update into one task per partition, so no partition copy moves between
    # tasks. The states are objects, not frames, so their metadata is not enforced.
    states = selected.map_partitions(
        _partition_state, columns, make_state, tuple(by), offsets, meta=(None, "object"), enforce_metadata=False
    ).to_delayed(optimize_graph=True)
    merged = _tree_merge(list(states), split_every, make_state, by)
    return merged.compute() if compute else merged


def evaluate_frame(frame, **options) -> LogLossResult:
    """Compute the figures of a Dask DataFrame; the options are those of :func:`frame_state`.

    Examples
    --------
    >>> import pandas as pd
    >>> import dask.dataframe as dd
    >>> from logloss.dask import evaluate_frame
    >>> rows = pd.DataFrame({"z": [2.0, -1.0, 0.0], "y": [1, 0, 1]})
    >>> result = evaluate_frame(dd.from_pandas(rows, npartitions=2), label="y", logit="z")
    >>> round(result.log_loss, 6)
    0.377779
    """
    if options.get("compute", True) is not True:
        raise ValueError(f"`compute` must be True in evaluate_frame, got {options['compute']!r}; call frame_state")
    return frame_state(frame, **options).result()


def _as_dask_array(values, name: str):
    dask = _import_dask()
    if isinstance(values, dask.array.Array):
        array = values
    elif isinstance(values, np.ndarray):
        array = dask.array.from_array(values)
    else:
        raise TypeError(f"`{name}` must be a dask.array.Array or a NumPy array, got {type(values).__name__}")
    if any(np.isnan(size) for size in array.shape):
        raise ValueError(
            f"`{name}` must have a known shape, got {array.shape}; call .compute_chunk_sizes() on it first"
        )
    return array


def _array_state(y_pred, y_true, weights, *, is_logit: bool, clip, split_every: int, compute: bool):
    dask = _import_dask()
    prediction_name = "logits" if is_logit else "y_pred"
    if not isinstance(y_pred, dask.array.Array):
        raise TypeError(f"`{prediction_name}` must be a dask.array.Array, got {type(y_pred).__name__}")
    predictions = _as_dask_array(y_pred, prediction_name)
    split_every = _check_split_every(split_every)
    LogLossState(clip=clip)
    others = {"y_true": y_true} if weights is None else {"y_true": y_true, "weights": weights}
    aligned = {}
    for name, values in others.items():
        array = _as_dask_array(values, name)
        check_same_shape(array, name, predictions.shape, prediction_name)
        # Same blocks as the predictions, so block i of each array holds the same rows.
        aligned[name] = array.rechunk(predictions.chunks).to_delayed(optimize_graph=True).ravel()

    blocks = predictions.to_delayed(optimize_graph=True).ravel()
    labels = aligned["y_true"]
    weight_blocks = aligned.get("weights", [None] * len(blocks))
    states = [
        dask.delayed(_block_state, pure=True)(
            blocks[i],
            labels[i],
            weight_blocks[i],
            is_logit=is_logit,
            make_state=functools.partial(LogLossState, clip=clip),
            where=f"block {i}",
        )
        for i in range(len(blocks))
    ]
    merged = _tree_merge(states, split_every, functools.partial(LogLossState, clip=clip))
    return merged.compute() if compute else merged


def array_state(y_pred, y_true, *, weights=None, clip: float | None = None, split_every: int = 8, compute: bool = True):
    """Compute the evaluation state of Dask arrays of probabilities, one block at a time.

    Parameters
    ----------
    y_pred : dask.array.Array
        Probabilities of the positive class in [0, 1], any shape.
    y_true, weights : dask.array.Array or numpy.ndarray
        Targets in [0, 1] and optional non-negative weights, of the same shape; they are
        rechunked to the blocks of `y_pred`.
    clip, split_every, compute
        As in :func:`frame_state`.

    Returns
    -------
    LogLossState or dask.delayed.Delayed

    Examples
    --------
    >>> import dask.array as da
    >>> from logloss.dask import array_state
    >>> y_pred = da.from_array([0.9, 0.2, 0.5, 0.7], chunks=2)
    >>> round(array_state(y_pred, da.from_array([1, 0, 1, 1], chunks=3)).result().log_loss, 6)
    0.344582
    """
    return _array_state(y_pred, y_true, weights, is_logit=False, clip=clip, split_every=split_every, compute=compute)


def array_state_with_logits(logits, y_true, *, weights=None, split_every: int = 8, compute: bool = True):
    """Compute the evaluation state of Dask arrays of logits; see :func:`array_state`.

    Examples
    --------
    >>> import dask.array as da
    >>> from logloss.dask import array_state_with_logits
    >>> logits = da.from_array([2.0, -1.0, 0.0], chunks=2)
    >>> round(array_state_with_logits(logits, da.from_array([1, 0, 1])).result().log_loss, 6)
    0.377779
    """
    return _array_state(logits, y_true, weights, is_logit=True, clip=None, split_every=split_every, compute=compute)
