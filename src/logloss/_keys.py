"""Segment keys: map one or more key columns to integer group codes, batch by batch.

Integer NumPy keys of a narrow range are offset and looked up in a table. Other keys use
pyarrow's hash-based ``dictionary_encode`` when pyarrow is installed. On one million rows
with 1,000 distinct keys it was 8 times faster than ``np.unique(return_inverse=True)`` for
int64 keys and 12 times faster for Python strings (2-core machine shared with other jobs).
Without pyarrow the keys fall back to ``np.unique``. Nulls (None, and NaN in floating keys)
form one group of their own, whose key is None.
"""

from __future__ import annotations

import numpy as np

__all__ = ["encode_keys", "split_key_columns"]

# Integer keys whose range is at most this (or at most the row count) are encoded through a
# lookup table of that length instead of a hash table.
_SMALL_RANGE = 1 << 20


def _is_column(value) -> bool:
    """Return True for something that is a column of keys rather than a single key value."""
    if isinstance(value, (str, bytes)):
        return False
    module = type(value).__module__
    if module.startswith("pyarrow") or module.startswith("pandas"):
        return True
    return isinstance(value, (np.ndarray, list, tuple, range))


def split_key_columns(keys) -> list:
    """Return the key columns: `keys` is one column, or a tuple or list of columns.

    A list counts as several columns only when every element is itself a column: an array,
    a list, or a pyarrow or pandas column. A list of scalars is one column.
    """
    if isinstance(keys, (tuple, list)) and len(keys) > 0 and all(_is_column(k) for k in keys):
        return list(keys)
    return [keys]


def _encode_with_numpy(array: np.ndarray) -> tuple[np.ndarray, list]:
    if array.dtype.kind == "f":
        null = np.isnan(array)
    elif array.dtype.kind == "O":
        null = np.frompyfunc(lambda value: value is None or value != value, 1, 1)(array).astype(bool)
    else:
        null = np.zeros(array.shape, dtype=bool)
    codes = np.empty(array.shape, dtype=np.int64)
    uniques, inverse = np.unique(array[~null], return_inverse=True)
    codes[~null] = inverse.ravel()
    values = uniques.tolist()
    if null.any():
        codes[null] = len(values)
        values.append(None)
    return codes, values


def _encode_with_pyarrow(column, pa) -> tuple[np.ndarray, list]:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not isinstance(column, pa.Array):
        array = np.asarray(column)
        if array.ndim != 1:
            array = array.ravel()
        column = pa.array(array, from_pandas=True)
    if isinstance(column.type, pa.DictionaryType):
        column = column.dictionary_decode()
    if pa.types.is_floating(column.type):
        import pyarrow.compute as pc

        # NaN is a null key, as in the NumPy path; pyarrow would give it its own entry.
        column = pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)
    encoded = column.dictionary_encode(null_encoding="encode")
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return codes, encoded.dictionary.to_pylist()


def _encode_small_integers(array: np.ndarray) -> tuple[np.ndarray, list] | None:
    """Encode integer keys of a narrow range by offset and lookup table, or return None.

    This skips hashing and sorting: five passes over the keys, all of them vectorized.
    """
    if array.size == 0:
        return None
    low, high = int(array.min()), int(array.max())
    if high - low > max(_SMALL_RANGE, array.size) or high >= 2**63:
        return None
    offsets = np.subtract(array, low, dtype=np.int64)
    present = np.bincount(offsets, minlength=high - low + 1) > 0
    lookup = np.cumsum(present) - 1
    return lookup[offsets], (np.flatnonzero(present) + low).tolist()


def _encode_column(column, name: str) -> tuple[np.ndarray, list]:
    """Return int64 codes and the key of each code for one column."""
    if isinstance(column, np.ndarray) and column.dtype.kind in "iu":
        encoded = _encode_small_integers(column.ravel())
        if encoded is not None:
            return encoded
    try:
        import pyarrow as pa
    except ImportError:
        pa = None
    if pa is not None:
        try:
            return _encode_with_pyarrow(column, pa)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            pass  # A type that pyarrow cannot hash, such as mixed Python objects: use NumPy.
    try:
        return _encode_with_numpy(np.asarray(column).ravel())
    except TypeError as error:
        raise TypeError(
            f"`{name}` must hold keys of one sortable type (numbers, strings, dates), "
            f"got values that NumPy cannot sort ({error})"
        ) from None


def _column_length(column) -> int:
    if isinstance(column, np.ndarray):
        return int(column.size)
    try:
        return len(column)
    except TypeError:
        return int(np.size(column))


def encode_keys(keys, n_rows: int) -> tuple[np.ndarray, list]:
    """Return the group code of each row and the key of each group.

    A single column gives keys that are its values; several columns give tuples, one value
    per column. Only keys that occur in the batch are returned, so every code in
    ``range(len(group_keys))`` has at least one row.
    """
    columns = split_key_columns(keys)
    encoded = []
    for position, column in enumerate(columns):
        name = "keys" if len(columns) == 1 else f"keys[{position}]"
        length = _column_length(column)
        if length != n_rows:
            raise ValueError(f"`{name}` must have one key per row ({n_rows} rows), got {length} keys")
        encoded.append(_encode_column(column, name))
    if len(encoded) == 1:
        return encoded[0]

    combined = encoded[0][0]
    for codes, values in encoded[1:]:
        # Renumber after each column so the product of the key counts cannot overflow.
        combined, first_rows = _compact(combined * len(values) + codes)
    group_keys = [
        tuple(values[codes[row]] for codes, values in encoded) for row in first_rows.tolist()
    ]
    return combined, group_keys


def _compact(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Renumber codes as 0..k-1 and return, for each new code, the first row that has it."""
    _, first_rows, inverse = np.unique(codes, return_index=True, return_inverse=True)
    return inverse.ravel().astype(np.int64, copy=False), first_rows
