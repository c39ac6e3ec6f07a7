"""Log loss on Spark DataFrames with native Spark SQL aggregates.

The loss of each row and the sums of ``SUM_FIELDS`` are Spark SQL expressions, so the rows
never leave the executors and no Python function runs per row. The stable formulas are
those of the NumPy path: ``log1p`` for the negative term, ``log1p(exp(-|z|))`` and
``greatest`` for logits, and the xlogy rule that a term whose label coefficient is exactly
0 is 0.

Spark adds doubles one after the other, which loses up to ``n * eps`` of a sum over ``n``
rows. To stay within a few ulps of the NumPy path, the rows are summed in chunks of
``2**chunk_bits`` consecutive rows of a partition, and the driver adds the chunk sums with
``math.fsum``, which rounds once. Only the chunk sums (at most 18 numbers per chunk) reach
the driver.

Needs the ``spark`` extra and a Java runtime. In a clone of logloss, ``uv sync --extra spark``;
in another project, ``pip install '/path/to/logloss[spark]'``.
"""

from __future__ import annotations

import math

import numpy as np

from ._entry import EXTRA_HINT
from ._frames import (
    ColumnValueError,
    FrameColumns,
    check_by_columns,
    check_clip_scale,
    check_frame_columns,
    check_numeric_columns,
)
from ._state import LOSS_SCALE_EXPONENT, SUM_FIELDS, WEIGHT_RANGE, LogLossResult, LogLossState
from ._validation import NAN_HINT

__all__ = ["evaluate_frame", "frame_decomposition_state", "frame_state"]

# The local state's range for positive weights, so that sums of squares stay in float64.
_WEIGHT_LOW, _WEIGHT_HIGH = WEIGHT_RANGE

# Names of the aggregate columns; the sums keep the names of SUM_FIELDS.
_COUNT = "_logloss_count"
_N_INFINITE = "_logloss_n_infinite"
_N_CLIPPED = "_logloss_n_clipped"
_N_INVALID = "_logloss_n_invalid"
_CHUNK = "_logloss_chunk"
_BIN = "_logloss_bin"
# Names of the projected row values, chosen not to collide with the `by` columns.
_P, _Y, _W, _LOSS = "_logloss_p", "_logloss_y", "_logloss_w", "_logloss_loss"
_FINITE_LOSS, _INFINITE = "_logloss_finite_loss", "_logloss_infinite"
_CLIPPED, _INVALID = "_logloss_clipped", "_logloss_invalid"
_SCALED_LOSS = "_logloss_scaled_wl"
# The sums that involve the loss: inf as soon as one row of positive weight has an infinite loss.
_LOSS_SUMS = frozenset({"wl", "wl2", "w2l", "w2l2", "w2ly"})
_LOGIT_HINT = "; for raw model scores (logits), pass logit= instead"


def _import_functions():
    try:
        from pyspark.sql import functions
    except ImportError as error:
        raise ImportError(
            f"logloss.spark needs PySpark ({error}): {EXTRA_HINT.format(extra='spark')}"
        ) from None
    return functions


def _check_numeric_types(frame, columns: FrameColumns) -> None:
    from pyspark.sql.types import BooleanType, NumericType

    types = {field.name: field.dataType for field in frame.schema.fields}
    check_numeric_columns(
        columns,
        types,
        is_numeric=lambda data_type: isinstance(data_type, NumericType | BooleanType),
        describe=lambda data_type: data_type.simpleString(),
    )


# The expressions are Spark SQL text: building a Column object costs one call into the JVM
# per operator, which took longer than the aggregation itself on small frames.
_INF = "CAST('Infinity' AS DOUBLE)"
_NEGATIVE_INF = "CAST('-Infinity' AS DOUBLE)"


def _quote(name: str) -> str:
    """Return a column name as a Spark SQL identifier."""
    return "`" + name.replace("`", "``") + "`"


def _as_double(column: str) -> str:
    return f"CAST({_quote(column)} AS DOUBLE)"


def _row_expressions(columns: FrameColumns, clip):
    """Return SQL expressions for the probability, label, weight and loss of each row, and the
    conditions that its loss is infinite and that `clip` bounded it.

    The infinite-loss condition reads only the inputs, so that Spark need not compute the
    loss twice. Number literals carry the suffix D: Spark reads ``1.0`` as a decimal.
    """
    y = _as_double(columns.label)
    w = "1.0D" if columns.weight is None else _as_double(columns.weight)
    prediction = _as_double(columns.prediction)

    if columns.is_logit:
        z = prediction
        tail = f"log1p(exp(-abs({z})))"
        positive = f"CASE WHEN {y} = 0 THEN 0.0D ELSE (greatest(-{z}, 0.0D) + {tail}) * {y} END"
        negative = f"CASE WHEN {y} = 1 THEN 0.0D ELSE (greatest({z}, 0.0D) + {tail}) * (1.0D - {y}) END"
        loss = f"({positive}) + ({negative})"
        p = f"CASE WHEN {z} >= 0 THEN 1.0D / (1.0D + exp(-{z})) ELSE exp({z}) / (1.0D + exp({z})) END"
        clipped = "false"
        # A finite logit gives a finite loss: greatest(|z|, 0) + tail stays below the maximum double.
        infinite = f"({z} = {_NEGATIVE_INF} AND {y} > 0) OR ({z} = {_INF} AND {y} < 1)"
    else:
        p = prediction
        clipped = "false"
        # ln(p) is finite for p > 0, and log1p(-p) for p < 1.
        infinite = f"({p} = 0 AND {y} > 0) OR ({p} = 1 AND {y} < 1)"
        # Spark's ln and log1p return NULL at 0, where NumPy returns -inf.
        log_p = f"CASE WHEN {p} = 0 THEN {_NEGATIVE_INF} ELSE ln({p}) END"
        log_q = f"CASE WHEN {p} = 1 THEN {_NEGATIVE_INF} ELSE log1p(-{p}) END"
        if clip is not None:
            # As loss_from_probability: the logarithms' arguments are raised to at least
            # clip, 1 - p is exact for p > 0.5, and the sums use the unclipped p.
            # A row counts as clipped when an outcome it observes has a probability below clip.
            bound = f"{float(clip)!r}D"
            clipped = f"(({y} > 0) AND ({p} < {bound})) OR (({y} < 1) AND (1.0D - {p} < {bound}))"
            log_p = f"ln(greatest({p}, {bound}))"
            log_q = f"CASE WHEN {p} > 0.5D THEN ln(greatest(1.0D - {p}, {bound})) ELSE log1p(-{p}) END"
            infinite = "false"
        positive = f"CASE WHEN {y} = 0 THEN 0.0D ELSE ({log_p}) * {y} END"
        negative = f"CASE WHEN {y} = 1 THEN 0.0D ELSE ({log_q}) * (1.0D - {y}) END"
        loss = f"-(({positive}) + ({negative}))"
    return p, y, w, loss, infinite, clipped


def _invalid_conditions(columns: FrameColumns):
    """Return (condition, column, rule, hint) tuples. A row that meets the SQL condition is invalid."""
    prediction = _as_double(columns.prediction)
    y = _as_double(columns.label)
    hint = "" if columns.is_logit else _LOGIT_HINT
    checks = [
        (f"{prediction} IS NULL", columns.prediction, "not contain NULL", NAN_HINT),
        (f"isnan({prediction})", columns.prediction, "not contain NaN", NAN_HINT),
        (f"{y} IS NULL", columns.label, "not contain NULL", NAN_HINT),
        (f"isnan({y})", columns.label, "not contain NaN", NAN_HINT),
        (f"{y} < 0 OR {y} > 1", columns.label, "be in [0, 1]", ""),
    ]
    if not columns.is_logit:
        checks.append((f"{prediction} < 0 OR {prediction} > 1", columns.prediction, "be in [0, 1]", hint))
    if columns.weight is not None:
        w = _as_double(columns.weight)
        checks += [
            (f"{w} IS NULL", columns.weight, "not contain NULL", ""),
            (f"isnan({w}) OR abs({w}) = {_INF}", columns.weight, "be finite", ""),
            (f"{w} < 0", columns.weight, "be non-negative", ""),
            (
                f"{w} > 0 AND ({w} < {_WEIGHT_LOW!r} OR {w} > {_WEIGHT_HIGH!r})",
                columns.weight,
                f"be 0 or between {_WEIGHT_LOW:g} and {_WEIGHT_HIGH:g}",
                "; divide all weights by one constant, which changes no figure",
            ),
        ]
    return checks


def _project_rows(frame, columns: FrameColumns, clip, checks, chunk_bits: int | None, by=()):
    """Select one row per input row with the values the sums need, each computed once.

    Spark does not share a subexpression such as the loss between the aggregate functions
    that use it, so the loss and the flags are computed in this projection and the
    aggregates only multiply and add the projected columns.
    """
    p, y, w, loss, infinite, clipped = _row_expressions(columns, clip)
    invalid = " OR ".join(f"coalesce({condition}, false)" for condition, *_ in checks)
    # monotonically_increasing_id puts the partition index in the upper 31 bits and the row
    # index within the partition in the lower 33, so this key never spans two partitions.
    chunk = "0" if chunk_bits is None else f"shiftrightunsigned(monotonically_increasing_id(), {chunk_bits})"
    # As compute_sums: the products use a finite copy of the loss, so inf * 0 never makes a
    # NaN, and a row of weight 0 adds nothing. frame_state sets the loss sums to inf afterwards.
    finite_loss = f"CASE WHEN ({infinite}) OR ({w}) = 0 THEN 0.0D ELSE {loss} END"
    # One projection, because Spark analyzes the plan of every DataFrame that Python builds.
    return frame.selectExpr(
        *map(_quote, by),
        f"{p} AS {_P}",
        f"{y} AS {_Y}",
        f"{w} AS {_W}",
        f"{loss} AS {_LOSS}",
        f"{finite_loss} AS {_FINITE_LOSS}",
        f"({infinite}) AND ({w}) != 0 AS {_INFINITE}",
        f"{clipped} AS {_CLIPPED}",
        f"{invalid} AS {_INVALID}",
        f"{chunk} AS {_CHUNK}",
    )


# Without weights (w = 1), several sums of SUM_FIELDS are equal, so Spark computes each value
# once. This maps every sum to the aggregate that contains its value.
_UNWEIGHTED_SOURCES = {
    "w": _COUNT,
    "w2": _COUNT,
    "wy": "wy",
    "wp": "wp",
    "wl": "wl",
    "wl2": "wl2",
    "w2l": "wl",
    "w2l2": "wl2",
    "w2y": "wy",
    "w2y2": "w2y2",
    "w2p": "wp",
    "w2p2": "w2p2",
    "w2ly": "w2ly",
    "w2py": "w2py",
}


def _aggregates(*, weighted: bool, clipped: bool) -> list[str]:
    """Return the SQL aggregates over the projected rows: the count, the sums, the counts.

    Without `weighted`, only the sums named in ``_UNWEIGHTED_SOURCES`` are computed, and
    without `clipped` the clipped-row count is left out (``_state_from_rows`` reads 0).
    """
    p, y, w, loss = _P, _Y, _W, _FINITE_LOSS
    if weighted:
        terms = {
            "w": w,
            "w2": f"{w} * {w}",
            "wy": f"{w} * {y}",
            "wp": f"{w} * {p}",
            "wl": f"{w} * {loss}",
            "wl2": f"{w} * {loss} * {loss}",
            "w2l": f"{w} * {w} * {loss}",
            "w2l2": f"{w} * {w} * {loss} * {loss}",
            "w2y": f"{w} * {w} * {y}",
            "w2y2": f"{w} * {w} * {y} * {y}",
            "w2p": f"{w} * {w} * {p}",
            "w2p2": f"{w} * {w} * {p} * {p}",
            # w * w * loss may overflow to Infinity, and Infinity * 0 is NaN; the exact term is 0.
            "w2ly": f"CASE WHEN {y} = 0 THEN 0.0D ELSE {w} * {w} * {loss} * {y} END",
            "w2py": f"{w} * {w} * {p} * {y}",
        }
    else:
        terms = {
            "wy": y,
            "wp": p,
            "wl": loss,
            "wl2": f"{loss} * {loss}",
            "w2y2": f"{y} * {y}",
            "w2p2": f"{p} * {p}",
            "w2ly": f"{loss} * {y}",
            "w2py": f"{p} * {y}",
        }
    aggregates = [f"count(1) AS {_COUNT}"]
    aggregates += [f"sum({term}) AS {name}" for name, term in terms.items()]
    aggregates.append(f"count(CASE WHEN {_INFINITE} THEN 1 END) AS {_N_INFINITE}")
    if clipped:
        aggregates.append(f"count(CASE WHEN {_CLIPPED} THEN 1 END) AS {_N_CLIPPED}")
    aggregates.append(f"count(CASE WHEN {_INVALID} THEN 1 END) AS {_N_INVALID}")
    return aggregates


def _exact_sum(values) -> float:
    values = list(values)
    try:
        return math.fsum(values)
    except OverflowError:
        # The finite partial sums overflow float64, so the float64 total is infinite anyway.
        return float(np.sum(values))


def _raise_first_invalid(frame, checks) -> None:
    """Count the rows failing each check, in a second job, and raise for the first check."""
    counts = frame.selectExpr(*[f"count(CASE WHEN {condition} THEN 1 END)" for condition, *_ in checks]).first()
    for (condition, column, rule, hint), count in zip(checks, counts, strict=True):
        if count:
            value = frame.filter(condition).selectExpr(_quote(column)).first()[0]
            rows = "1 such row" if count == 1 else f"{count} such rows"
            raise ColumnValueError(f"column `{column}` must {rule}, got {value!r} ({rows} in all){hint}", column=column)


def _check_spark_frame(frame, **column_arguments) -> FrameColumns:
    _import_functions()
    from pyspark.sql import DataFrame

    if not isinstance(frame, DataFrame):
        raise TypeError(f"`frame` must be a pyspark.sql.DataFrame, got {type(frame).__name__}")
    columns = check_frame_columns(frame.columns, **column_arguments)
    _check_numeric_types(frame, columns)
    return columns


def frame_state(
    frame,
    *,
    label: str,
    prob: str | None = None,
    logit: str | None = None,
    weight: str | None = None,
    by: str | list[str] | None = None,
    clip: float | None = None,
    chunk_bits: int | None = 12,
):
    """Compute the evaluation state of a Spark DataFrame in one Spark job.

    Parameters
    ----------
    frame : pyspark.sql.DataFrame
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
        :class:`~logloss.GroupedLogLossState` with one state per distinct key, and NULL
        and NaN keys form the segment None.
    clip : float, optional
        Bound each row's loss by ``-log(clip)``, as :class:`~logloss.LogLossState`
        does. Logits are never clipped, so `clip` with `logit` raises ValueError.
    chunk_bits : int, default 12
        Spark sums chunks of at most ``2**chunk_bits`` rows of a partition, and the driver
        adds the chunk sums exactly. Smaller chunks cost more driver memory and time, larger
        ones lose accuracy. None sums each partition in one plain aggregate, which is
        faster (no grouping) but may lose up to ``n * eps`` of a sum over a partition of
        ``n`` rows.

    Returns
    -------
    LogLossState or GroupedLogLossState
        The state; call ``.result()`` (``.results()`` with `by`) for the figures.

    Raises
    ------
    TypeError
        When a column is not numeric or boolean, or the arguments have the wrong type.
    ValueError
        When a column is missing or contains an invalid value (NULL, NaN, a probability or
        label outside [0, 1], a negative or infinite weight); the message shows one.

    Examples
    --------
    >>> from logloss.spark import frame_state
    >>> frame = spark.createDataFrame([(0.9, 1), (0.2, 0), (0.5, 1), (0.7, 1)], ["p", "y"])  # doctest: +SKIP
    >>> round(frame_state(frame, label="y", prob="p").result().log_loss, 6)  # doctest: +SKIP
    0.344582
    """
    columns = _check_spark_frame(frame, label=label, prob=prob, logit=logit, weight=weight)
    check_clip_scale(clip, logit)
    if chunk_bits is not None and (isinstance(chunk_bits, bool) or not isinstance(chunk_bits, int) or not 0 <= chunk_bits <= 32):
        raise ValueError(f"`chunk_bits` must be None or an integer in [0, 32], got {chunk_bits!r}")
    LogLossState(clip=clip)

    checks = _invalid_conditions(columns)
    by = check_by_columns(frame.columns, by)
    projected = _project_rows(frame, columns, clip, checks, chunk_bits, by)
    aggregates = _aggregates(weighted=columns.weight is not None, clipped=clip is not None)
    F = _import_functions()
    if chunk_bits is None and not by:
        rows = projected.selectExpr(*aggregates).collect()
    else:
        keys = [*by] if chunk_bits is None else [*by, _CHUNK]
        rows = projected.groupBy(*[F.col(_quote(key)) for key in keys]).agg(*map(F.expr, aggregates)).collect()
    if any(row[_N_INVALID] for row in rows):
        _raise_first_invalid(frame, checks)

    weighted = columns.weight is not None
    if not by:
        state = _state_from_rows(rows, clip, weighted=weighted)
        if _loss_sum_overflowed(state):
            scaled = _scaled_loss_sums(projected, keys=[] if chunk_bits is None else [_CHUNK], by=(), weighted=weighted)
            state = _state_from_rows(rows, clip, weighted=weighted, scaled_loss=scaled.get(None))
        return state
    segments = {}
    for row in rows:
        segments.setdefault(_segment_key(row, by), []).append(row)
    states = {key: _state_from_rows(segment, clip, weighted=weighted) for key, segment in segments.items()}
    if any(map(_loss_sum_overflowed, states.values())):
        scaled = _scaled_loss_sums(projected, keys=keys, by=by, weighted=weighted)
        states = {key: _state_from_rows(segment, clip, weighted=weighted, scaled_loss=scaled.get(key)) for key, segment in segments.items()}
    return _grouped_state(states, clip, n_key_columns=len(by))


def _loss_sum_overflowed(state: LogLossState) -> bool:
    """Return whether the state's sum of weighted losses is inf although no loss is infinite."""
    return state.n_infinite == 0 and math.isinf(state.sum("wl"))


def _scaled_loss_sums(projected, *, keys: list[str], by: tuple[str, ...], weighted: bool) -> dict:
    """Return ``sum(w * loss) * 2**-LOSS_SCALE_EXPONENT`` of each segment key (None without `by`).

    A second Spark job, run only when a sum of finite losses overflowed. The loss is scaled
    before the weight multiplies it, so no term overflows (see ``LOSS_SCALE_EXPONENT``), and
    the driver adds the chunk sums exactly.
    """
    F = _import_functions()
    term = f"{_FINITE_LOSS} * power(2D, -{LOSS_SCALE_EXPONENT})"
    if weighted:
        term = f"({term}) * {_W}"
    aggregate = f"sum({term}) AS {_SCALED_LOSS}"
    if keys:
        rows = projected.groupBy(*[F.col(_quote(key)) for key in keys]).agg(F.expr(aggregate)).collect()
    else:
        rows = projected.selectExpr(aggregate).collect()
    chunk_sums: dict = {}
    for row in rows:
        key = _segment_key(row, by) if by else None
        if row[_SCALED_LOSS] is not None:
            chunk_sums.setdefault(key, []).append(row[_SCALED_LOSS])
    return {key: _exact_sum(values) for key, values in chunk_sums.items()}


def _state_from_rows(rows, clip, *, weighted: bool, scaled_loss: float | None = None) -> LogLossState:
    """Add up the chunk sums of `rows`, as :func:`_aggregates` names them, exactly into one state.

    `scaled_loss` is the state's ``scaled_loss_sum``, from :func:`_scaled_loss_sums`.
    """
    state = LogLossState(clip=clip)
    # One tuple per aggregate: indexing a Row by name searches its fields each time.
    values = dict(zip(rows[0].__fields__, zip(*rows, strict=True), strict=True)) if rows else {}

    def total(name):
        # Spark's sum over no rows is NULL.
        return [value for value in values.get(name, ()) if value is not None]

    sources = {name: name for name in SUM_FIELDS} if weighted else _UNWEIGHTED_SOURCES
    totals = {source: _exact_sum(total(source)) for source in dict.fromkeys(sources.values())}
    sums = np.array([totals[sources[name]] for name in SUM_FIELDS], dtype=np.float64)
    n_infinite = sum(total(_N_INFINITE))
    if n_infinite:
        for i, name in enumerate(SUM_FIELDS):
            if name in _LOSS_SUMS:
                sums[i] = math.inf
    state.add_sums(
        sum(total(_COUNT)),
        sums,
        n_infinite=n_infinite,
        n_clipped=sum(total(_N_CLIPPED)),
        scaled_loss=scaled_loss,
    )
    return state


def _segment_key(row, by: tuple[str, ...]):
    """Return a row's segment key as GroupedLogLossState forms it: NaN and NULL become None.

    NOTE: date and timestamp keys stay the Python objects that Spark returns, where the
    NumPy path keeps NumPy datetime64 scalars.
    """
    values = tuple(None if isinstance(value, float) and math.isnan(value) else value for value in (row[name] for name in by))
    return values[0] if len(by) == 1 else values


def _grouped_state(states: dict, clip, *, n_key_columns: int):
    """Return a GroupedLogLossState holding the given state of each segment key."""
    from ._grouped import grouped_state_from_sums

    sums = [[state.sum(name) for name in SUM_FIELDS] for state in states.values()]
    counts = [(state.count, state.n_infinite, state.n_clipped) for state in states.values()]
    scaled = [float(state._scaled_loss_pair().sum()) for state in states.values()]
    return grouped_state_from_sums(list(states), sums, counts, clip=clip, n_key_columns=n_key_columns, scaled=scaled)


def frame_decomposition_state(
    frame,
    *,
    label: str,
    prob: str | None = None,
    logit: str | None = None,
    weight: str | None = None,
    n_bins: int = 4096,
    logit_limit: float = 16.0,
):
    """Compute the binned log loss decomposition state of a Spark DataFrame.

    Spark computes each row's logit bin and loss in SQL, as
    :class:`~logloss.BinnedDecompositionState` does, and sums the rows per bin; the driver
    receives one row per non-empty bin. The columns are as in :func:`frame_state`, and
    `n_bins` and `logit_limit` are those of the state. Call ``.result()`` on the state for
    the decomposition.
    """
    F = _import_functions()
    from ._binned import BinnedDecompositionState, binned_state_from_sums

    columns = _check_spark_frame(frame, label=label, prob=prob, logit=logit, weight=weight)
    state = BinnedDecompositionState(n_bins=n_bins, logit_limit=logit_limit)
    checks = _invalid_conditions(columns)
    prediction = F.col(_quote(columns.prediction)).cast("double")
    if columns.is_logit:
        z = prediction
    else:
        # As the binned state: log(p) - log1p(-p), which is -inf at 0 and inf at 1.
        inf = F.lit(math.inf)
        z = F.when(prediction == 0, -inf).when(prediction == 1, inf).otherwise(F.ln(prediction) - F.log1p(-prediction))
    scale = state.n_bins / (2.0 * state.logit_limit)
    scaled = z * scale + (state.logit_limit * scale + 1.0)
    bin_index = F.least(F.greatest(scaled, F.lit(0.0)), F.lit(state.n_bins + 1.0)).cast("int")
    with_bins = frame.select(bin_index.alias(_BIN), *[F.col(_quote(name)) for name in columns.names])
    binned = _project_rows(with_bins, columns, None, checks, None, by=(_BIN,))

    w, y, p, loss = F.col(_W), F.col(_Y), F.col(_P), F.col(_LOSS)
    weighted_loss = w * F.when(w == 0, 0.0).otherwise(loss)
    rows = (
        binned.groupBy(_BIN)
        .agg(
            F.count(F.lit(1)).alias(_COUNT),
            F.sum(w).alias("w"),
            F.sum(w * y).alias("wy"),
            F.sum(w * p).alias("wp"),
            F.sum(weighted_loss).alias("wl"),
            F.sum(w * w).alias("w2"),
            F.count(F.when((loss == math.inf) & (w != 0), 1)).alias(_N_INFINITE),
            F.count(F.when(F.col(_INVALID), 1)).alias(_N_INVALID),
        )
        .collect()
    )
    if any(row[_N_INVALID] for row in rows):
        _raise_first_invalid(frame, checks)

    return binned_state_from_sums(
        [row[_BIN] for row in rows],
        [row[_COUNT] for row in rows],
        [[row[name] for row in rows] for name in ("w", "wy", "wp", "wl")],
        squared_weight=_exact_sum(row["w2"] for row in rows),
        n_infinite=sum(row[_N_INFINITE] for row in rows),
        n_bins=state.n_bins,
        logit_limit=state.logit_limit,
    )


def evaluate_frame(frame, **options) -> LogLossResult:
    """Compute the figures of a Spark DataFrame; the options are those of :func:`frame_state`."""
    return frame_state(frame, **options).result()
