"""Checks of the column arguments shared by the Dask and Spark entry points.

Both engines score a data frame given by column names: the label, exactly one of a
probability or a logit column, and optionally a weight column. The checks here run on the
client before any work is sent to the cluster. :func:`check_clip_scale` also serves
:func:`logloss.score_file`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "ColumnNotFoundError",
    "ColumnTypeError",
    "ColumnValueError",
    "FrameColumns",
    "check_by_columns",
    "check_clip_scale",
    "check_frame_columns",
    "check_numeric_columns",
]


class ColumnNotFoundError(ValueError):
    """A column argument that names no column of the frame.

    `column` is the name, and `available` the frame's column names.
    """

    def __init__(self, message: str, *, column: str, available: Sequence[str]):
        super().__init__(message)
        self.column = column
        self.available = list(available)


class ColumnValueError(ValueError):
    """An invalid value in a scored column, such as a NULL or a probability above 1; `column` is its name."""

    def __init__(self, message: str, *, column: str):
        super().__init__(message)
        self.column = column


class ColumnTypeError(TypeError):
    """A scored column whose type is not numeric or boolean.

    `column` is its name and `column_type` the engine's type object (a Spark data type, a
    pandas dtype).
    """

    def __init__(self, message: str, *, column: str, column_type: object):
        super().__init__(message)
        self.column = column
        self.column_type = column_type


@dataclass(frozen=True)
class FrameColumns:
    """Column names of one evaluation; `is_logit` is True when `prediction` names a column of logits."""

    label: str
    prediction: str
    is_logit: bool
    weight: str | None

    @property
    def names(self) -> list[str]:
        """Columns to read, predictions first, without duplicates."""
        names = [self.prediction, self.label]
        if self.weight is not None:
            names.append(self.weight)
        return list(dict.fromkeys(names))


def _check_name(value, name: str, available: Sequence[str]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a column name (str), got {type(value).__name__}")
    if value not in available:
        raise ColumnNotFoundError(
            f"`{name}` must name a column of the frame, got {value!r}; the columns are {list(available)}",
            column=value,
            available=available,
        )
    count = list(available).count(value)
    if count > 1:
        # pandas returns a frame for a repeated name, and Spark raises AMBIGUOUS_REFERENCE.
        raise ValueError(
            f"column `{value}` appears {count} times in the frame; rename the columns so that each used name is unique"
        )
    return value


def check_frame_columns(
    available: Sequence[str],
    *,
    label,
    prob,
    logit,
    weight,
) -> FrameColumns:
    """Check the column arguments against the frame's columns and return them."""
    if (prob is None) == (logit is None):
        given = "both" if prob is not None else "neither"
        raise TypeError(
            f"exactly one of `prob` and `logit` must name the prediction column, got {given}; "
            "pass prob= for probabilities in [0, 1] or logit= for raw scores (log-odds)"
        )
    prediction_argument = "prob" if logit is None else "logit"
    prediction = _check_name(prob if logit is None else logit, prediction_argument, available)
    label = _check_name(label, "label", available)
    if weight is not None:
        weight = _check_name(weight, "weight", available)
    return FrameColumns(label=label, prediction=prediction, is_logit=logit is not None, weight=weight)


def check_clip_scale(clip, logit) -> None:
    """Raise ValueError when `clip` is given with a `logit` column, because logits are never clipped."""
    if clip is not None and logit is not None:
        raise ValueError(f"`clip` applies to probabilities only; logits are never clipped, got clip={clip!r}")


def repeated_names(names: Sequence[str]) -> str:
    """Return the names that occur more than once, sorted and quoted, or "" if there are none."""
    return ", ".join(repr(name) for name in sorted({name for name in names if names.count(name) > 1}))


def check_by_columns(available: Sequence[str], by) -> tuple[str, ...]:
    """Check the segment columns, a name or a list of names, and return them as a tuple."""
    if by is None:
        return ()
    names = [by] if isinstance(by, str) else by
    if not isinstance(names, list | tuple) or not names:
        raise TypeError(f"`by` must be a column name or a non-empty list of them, got {by!r}")
    checked = tuple(_check_name(name, "by", available) for name in names)
    repeated = repeated_names(checked)
    if repeated:
        raise ValueError(f"`by` must name each column once, got {repeated} more than once")
    return checked


def check_numeric_columns(
    columns: FrameColumns,
    column_types: Mapping[str, object],
    *,
    is_numeric: Callable[[object], bool],
    describe: Callable[[object], str] = str,
) -> None:
    """Raise ColumnTypeError, a TypeError, for the first evaluated column whose type `is_numeric` rejects.

    `column_types` maps each column name to the engine's type object (a Spark data type, a
    pandas dtype), and `describe` names that type in the message.
    """
    for name in columns.names:
        column_type = column_types[name]
        if not is_numeric(column_type):
            raise ColumnTypeError(
                f"column `{name}` must have a numeric or boolean type, got {describe(column_type)}",
                column=name,
                column_type=column_type,
            )
