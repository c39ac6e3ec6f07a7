"""Input checks shared by the loss functions and the evaluation state.

Every check raises with a message of the form "`name` must ..., got ..." that names the
offending value and its index, so a caller can find the row without searching.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "as_numeric_array",
    "check_finite",
    "check_in_unit_interval",
    "check_not_nan",
    "check_same_shape",
    "check_weights",
    "compute_dtype",
    "format_index",
    "output_dtype",
]

# The float8 types that logloss reads, by the name that ml_dtypes and PyTorch share. Each
# converts to float32 exactly, and results widen to float32 (see output_dtype).
FLOAT8_NAMES = frozenset(
    {
        "float8_e4m3fn",
        "float8_e4m3fnuz",
        "float8_e4m3b11fnuz",
        "float8_e5m2",
        "float8_e5m2fnuz",
    }
)
# Floating types that NumPy does not know by kind: ml_dtypes 0.7 registers bfloat16 and
# most float8 types as kind "V" (float8_e5m2 as kind "f"), so they are recognised by name
# and computed in float32 or wider.
_EXTENSION_FLOAT_NAMES = FLOAT8_NAMES | {"bfloat16"}


def is_extension_float(dtype: np.dtype) -> bool:
    return dtype.name in _EXTENSION_FLOAT_NAMES


def is_torch_float8(dtype) -> bool:
    """Return whether a PyTorch dtype is one of the float8 types in `FLOAT8_NAMES`."""
    return str(dtype).removeprefix("torch.") in FLOAT8_NAMES


def as_numeric_array(values, name: str) -> np.ndarray:
    """Convert ``values`` to a NumPy array of a real numeric dtype, or raise TypeError."""
    if isinstance(values, np.ma.MaskedArray):
        raise TypeError(
            f"`{name}` must be a plain array, got a masked array, whose mask would be ignored; "
            f"pass values.filled(np.nan) with nan_policy='omit' for missing labels, or drop "
            f"the masked rows"
        )
    if callable(getattr(values, "detach", None)) and callable(getattr(values, "cpu", None)):
        # np.asarray rejects a PyTorch tensor that requires grad or lives on a GPU. Evaluation
        # needs no gradient, so the tensor is detached and copied to host memory.
        values = values.detach().cpu()
        if is_torch_float8(values.dtype) or str(values.dtype) == "torch.bfloat16":
            # NumPy has no dtype for these, and their cast to float32 is exact.
            values = values.float()
    try:
        array = np.asarray(values)
    except (TypeError, ValueError, OverflowError) as error:
        raise TypeError(
            f"`{name}` must be an array of real numbers, got {type(values).__name__} "
            f"that NumPy cannot convert ({error})"
        ) from None
    dtype = array.dtype
    if dtype.kind == "f" and dtype.itemsize > 8:
        raise TypeError(
            f"`{name}` must have at most float64 precision, got dtype {dtype}; logloss computes "
            f"in float64, so convert explicitly with .astype(np.float64) after checking that "
            f"no probability rounds to 0 or 1"
        )
    if dtype.kind in "biuf" or is_extension_float(dtype):
        return array
    if dtype.kind == "O":
        for index, item in enumerate(array.ravel()):
            if isinstance(item, bool | int | float | np.integer | np.floating):
                continue
            raise TypeError(
                f"`{name}` must contain only real numbers, got {item!r} of type "
                f"{type(item).__name__} at index {format_index(index, array.shape)}"
            )
        try:
            return array.astype(np.float64)
        except OverflowError:
            raise TypeError(f"`{name}` must contain numbers that fit in float64, got a larger integer") from None
    raise TypeError(
        f"`{name}` must have a real numeric dtype (bool, integer or floating), "
        f"got dtype {dtype}"
    )


def output_dtype(array: np.ndarray) -> np.dtype:
    """Return the dtype of elementwise results: the input's float type, else float64.

    bfloat16 is kept. The float8 types are widened to float32, because most of them have no
    infinity and would turn an infinite loss into NaN.
    """
    dtype = array.dtype
    if dtype.name == "bfloat16":
        return dtype
    # Before the check of kind "f", which float8_e5m2 passes.
    if is_extension_float(dtype):
        return np.dtype(np.float32)
    if dtype.kind == "f" and dtype.itemsize <= 8:
        return dtype
    return np.dtype(np.float64)


def compute_dtype() -> np.dtype:
    """Return the dtype that every loss is computed and accumulated in."""
    return np.dtype(np.float64)


def format_index(flat_index: int, shape: tuple[int, ...]) -> str:
    """Format a flat index as the index a user would type: 7 for 1-D, (2, 1) otherwise."""
    if len(shape) <= 1:
        return str(flat_index)
    return str(tuple(int(i) for i in np.unravel_index(flat_index, shape)))


def _count_phrase(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _first_true(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask.ravel())[0])


def _value_at(array: np.ndarray, flat_index: int) -> str:
    value = array.ravel()[flat_index]
    if array.dtype.kind in "biu":
        return str(int(value))
    return repr(float(value))


# Hint for a NaN prediction, label or logit. Unlike a value outside [0, 1], a NaN does not
# suggest logits, so the hint explains how to remove it instead.
NAN_HINT = "; drop those rows or impute the missing values first"
# The same with nan_policy="omit", which covers missing labels only.
NAN_OMIT_HINT = (
    "; nan_policy='omit' leaves out rows with a missing label only, so drop the rows with a "
    "missing prediction or impute them first"
)


def nan_hint(nan_policy) -> str:
    """Return the hint for a NaN prediction or logit under `nan_policy`."""
    return NAN_OMIT_HINT if nan_policy == "omit" else NAN_HINT


def check_not_nan(array: np.ndarray, name: str, hint: str = "") -> None:
    """Raise ValueError if ``array`` contains a NaN, naming the first one's index."""
    if array.dtype.kind in "biu":
        return
    mask = np.isnan(array)
    if mask.any():
        index = _first_true(mask)
        count = int(mask.sum())
        raise ValueError(
            f"`{name}` must not contain NaN, got NaN at index "
            f"{format_index(index, array.shape)} ({_count_phrase(count, 'NaN value')} in all){hint}"
        )


def check_finite(array: np.ndarray, name: str) -> None:
    """Raise ValueError if ``array`` contains a NaN or an infinity."""
    if array.dtype.kind in "biu":
        return
    mask = ~np.isfinite(array)
    if mask.any():
        index = _first_true(mask)
        raise ValueError(
            f"`{name}` must be finite, got {_value_at(array, index)} at index "
            f"{format_index(index, array.shape)}"
        )


def check_in_unit_interval(array: np.ndarray, name: str, hint: str = "") -> None:
    """Raise ValueError if a value of ``array`` lies outside [0, 1]; NaN is checked first."""
    if array.dtype.kind == "b":
        return
    mask = (array < 0) | (array > 1)
    if mask.any():
        index = _first_true(mask)
        count = int(mask.sum())
        raise ValueError(
            f"`{name}` must be in [0, 1], got {_value_at(array, index)} at index "
            f"{format_index(index, array.shape)} ({_count_phrase(count, 'value')} outside [0, 1] in all){hint}"
        )


def check_same_shape(array: np.ndarray, name: str, reference_shape: Sequence[int], reference_name: str) -> None:
    """Raise ValueError unless ``array`` has exactly ``reference_shape``; nothing broadcasts."""
    shape, reference_shape = tuple(array.shape), tuple(reference_shape)
    known = len(shape) == len(reference_shape) and all(
        a == b for a, b in zip(shape, reference_shape, strict=True) if not (_is_unknown(a) or _is_unknown(b))
    )
    if known and any(_is_unknown(n) for n in shape + reference_shape):
        # Dask broadcasts blocks of unknown size against each other without an error, so
        # two such arrays of different lengths would pair the wrong rows silently.
        raise ValueError(
            f"`{name}` (shape {shape}) and `{reference_name}` (shape {reference_shape}) have "
            f"an unknown size along some axis, so their shapes cannot be compared; call "
            f"`.compute_chunk_sizes()` on the Dask arrays first"
        )
    if shape != reference_shape:
        message = f"`{name}` must have the same shape as `{reference_name}` {tuple(reference_shape)}, got shape {shape}"
        broadcast = _broadcast_shape(shape, reference_shape)
        if broadcast is not None:
            message += (
                f"; reshape one of them explicitly: nothing broadcasts here, and {shape} "
                f"against {tuple(reference_shape)} would broadcast to {broadcast}"
            )
        raise ValueError(message)


def _broadcast_shape(shape: tuple, other: tuple) -> tuple | None:
    """Return the shape NumPy would broadcast the two shapes to, or None if it would not."""
    try:
        return tuple(np.broadcast_shapes(shape, other))
    except (ValueError, TypeError):  # TypeError: an unknown (NaN) Dask length
        return None


def _is_unknown(size) -> bool:
    """Return whether ``size`` is an unknown length (NaN, as in Dask) rather than an int."""
    return isinstance(size, float) and math.isnan(size)


def check_weights(array: np.ndarray, name: str = "weights") -> None:
    """Raise ValueError if a weight is NaN, infinite or negative."""
    check_finite(array, name)
    if array.dtype.kind == "b":
        return
    mask = array < 0
    if mask.any():
        index = _first_true(mask)
        raise ValueError(
            f"`{name}` must be non-negative, got {_value_at(array, index)} at index "
            f"{format_index(index, array.shape)}"
        )
