"""Reading CSV and Parquet files in bounded batches of NumPy columns.

:func:`read_batches` is the reusable reader. It yields :class:`ColumnBatch` objects of at
most `batch_size` rows and reads only the requested columns. Each batch carries the file's
0-based data row index of its first row (a CSV header is not counted), so every check can
name the row it rejects. Memory stays bounded by the batch size and pyarrow's read buffers, not
by the file's length.

pyarrow is imported inside the functions that need it, so ``import logloss`` needs NumPy
only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "ColumnBatch",
    "DataFileError",
    "DataFileTypeError",
    "detect_format",
    "read_batches",
    "total_rows",
]

DEFAULT_BATCH_SIZE = 65_536

# Bytes of CSV text that pyarrow parses at a time; a row longer than this cannot be parsed.
# A batch holds at most one block's rows, so CSV batches may be shorter than `batch_size`.
# With 1 MiB, scoring a 10-million-row CSV file peaked at 148 MiB RSS, against 253 MiB with
# 4 MiB (scripts/measure_score_memory.py --format csv, pyarrow 26, Linux x86-64).
CSV_BLOCK_SIZE = 1 << 20

# Read buffer of the Parquet column readers. With a buffer, pyarrow streams each column
# chunk page by page instead of loading a whole row group's chunk at once.
PARQUET_BUFFER_SIZE = 1 << 20

_SUFFIXES = {".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet", ".pq": "parquet"}
# Rows are numbered as pandas and polars number them: the first data row is 0, and a CSV
# header is not counted.
ROW_CONVENTION = "0-based"


class DataFileError(ValueError):
    """Invalid content in an input file: the message names the file, column and row.

    Attributes
    ----------
    path : str
        The file.
    column : str or None
        The column at fault, when one is.
    row : int or None
        The 0-based data row index at fault (a CSV header is not counted), when known.
    """

    def __init__(self, message: str, *, path, column: str | None = None, row: int | None = None):
        super().__init__(message)
        self.path = str(path)
        self.column = column
        self.row = row


class DataFileTypeError(DataFileError, TypeError):
    """A column of an input file that does not contain numbers."""


def format_row(row: int) -> str:
    return f"row {row} ({ROW_CONVENTION})"


@dataclass(frozen=True)
class ColumnBatch:
    """Consecutive rows of a file as NumPy columns.

    Attributes
    ----------
    start : int
        0-based data row index of the first row in the file.
    columns : dict of str to numpy.ndarray
        The numeric columns requested, each of `length` rows, read-only where pyarrow
        shared its buffer without a copy.
    length : int
        Number of rows.
    raw : dict of str to pyarrow.Array
        The `raw_columns` requested, as pyarrow read them (any type, nulls included).
    """

    start: int
    columns: dict[str, np.ndarray] = field(repr=False)
    length: int
    raw: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return self.length


def detect_format(path) -> str:
    """Return ``"csv"`` or ``"parquet"`` from the file name's suffix, or raise ValueError."""
    name = Path(path).name.lower()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return _SUFFIXES[suffix]
    raise ValueError(
        f"{path}: unknown file type; the name must end in one of "
        f"{', '.join(_SUFFIXES)} (CSV, gzip-compressed CSV or Parquet)"
    )


def total_rows(path) -> int | None:
    """Return the number of data rows from a Parquet file's footer; None for CSV."""
    if detect_format(path) != "parquet":
        return None
    return _open_parquet(Path(path)).metadata.num_rows


def read_batches(
    path, columns: Sequence[str], *, raw_columns: Sequence[str] = (), batch_size: int = DEFAULT_BATCH_SIZE
) -> Iterator[ColumnBatch]:
    """Yield the numeric `columns` of a CSV or Parquet file in batches of at most `batch_size` rows.

    Parameters
    ----------
    path : str or os.PathLike
        A file whose name ends in .csv, .csv.gz, .parquet or .pq.
    columns : sequence of str
        Names of the columns to read; each must contain numbers (integer, floating, boolean or
        decimal). A name may repeat.
    raw_columns : sequence of str, optional
        Names of further columns of any type, such as group keys, passed on unchecked as
        pyarrow arrays in ``ColumnBatch.raw``. A name also in `columns` is read as numeric only.
    batch_size : int, default 65536
        Maximum rows per batch.

    Yields
    ------
    ColumnBatch
        Rows in file order. A column without nulls of a fixed-width numeric type is a view
        of pyarrow's buffer, not a copy.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the suffix is unknown.
    DataFileError
        If a column is missing (the message lists those that exist) or contains a null, or if
        the file is corrupt, truncated or malformed.
    DataFileTypeError
        If a column is not numeric; the message names the first non-numeric value's row.

    Examples
    --------
    >>> from logloss.datasets import caravan_path
    >>> from logloss._io import read_batches
    >>> batches = list(read_batches(caravan_path(), ["label", "prob"], batch_size=5000))
    >>> [(batch.start, len(batch)) for batch in batches]
    [(0, 5000), (5000, 822)]
    >>> batches[0].columns["label"].dtype
    dtype('int8')
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}")
    path = Path(path)
    kind = detect_format(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    numeric = list(dict.fromkeys(columns))
    raw = [name for name in dict.fromkeys(raw_columns) if name not in numeric]
    if kind == "parquet":
        record_batches = _read_parquet(path, numeric + raw, batch_size)
    else:
        record_batches = _read_csv(path, numeric + raw)
    return _convert(path, record_batches, numeric, raw, batch_size)


def _read_parquet(path: Path, names: list[str], batch_size: int) -> Iterator:
    import pyarrow as pa

    parquet_file = _open_parquet(path)
    schema = parquet_file.schema_arrow
    _check_columns_exist(path, names, schema.names)
    batches = parquet_file.iter_batches(batch_size=batch_size, columns=names, use_threads=False)
    yield from _guard(path, batches, pa)


def _open_parquet(path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path, buffer_size=PARQUET_BUFFER_SIZE, pre_buffer=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except (pa.ArrowException, OSError) as error:
        raise _unreadable(path, error, rows_read=None) from error


def _read_csv(path: Path, names: list[str]) -> Iterator:
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    read_options = pa_csv.ReadOptions(block_size=CSV_BLOCK_SIZE, use_threads=False)
    convert_options = pa_csv.ConvertOptions(include_columns=names)
    try:
        reader = pa_csv.open_csv(path, read_options=read_options, convert_options=convert_options)
    except KeyError:
        # pyarrow raises ArrowKeyError for a name missing from include_columns; list the
        # header's names from a reader that does not select columns.
        header = pa_csv.open_csv(path, read_options=read_options).schema.names
        _check_columns_exist(path, names, header)
        raise
    except (pa.ArrowException, OSError) as error:
        raise _unreadable(path, error, rows_read=0) from error
    yield from _guard(path, reader, pa)


def _guard(path: Path, record_batches, pa) -> Iterator:
    """Re-raise pyarrow's read errors as DataFileError naming the file and the rows read."""
    rows_read = 0
    iterator = iter(record_batches)
    while True:
        try:
            record_batch = next(iterator)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as error:
            conversion = _CSV_CONVERSION_ERROR.search(str(error))
            if conversion is not None:
                column = conversion.group("column")
                raise _csv_conversion_error(path, int(column), error) from error
            raise _unreadable(path, error, rows_read) from error
        rows_read += record_batch.num_rows
        yield record_batch


_CSV_CONVERSION_ERROR = re.compile(r"In CSV column #(?P<column>\d+): (Row #\d+: )?CSV conversion error")


def _csv_conversion_error(path: Path, column_index: int, error: Exception) -> DataFileTypeError:
    """Find the first non-numeric value of a CSV column that pyarrow failed to convert.

    pyarrow's message does not always name the row, and after column selection its column
    number is the header's. So the column is read again as text, on this error path only.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    read_options = pa_csv.ReadOptions(block_size=CSV_BLOCK_SIZE, use_threads=False)
    header = pa_csv.open_csv(path, read_options=read_options).schema.names
    name = header[column_index]
    convert_options = pa_csv.ConvertOptions(include_columns=[name], column_types={name: pa.string()})
    start = 0
    for record_batch in pa_csv.open_csv(path, read_options=read_options, convert_options=convert_options):
        found = _first_non_numeric(record_batch.column(0))
        if found is not None:
            return _non_numeric_error(path, name, "string", start + found[0], found[1])
        start += record_batch.num_rows
    return DataFileTypeError(
        f"{path}: column `{name}` must contain numbers, but pyarrow could not convert it ({error})",
        path=path,
        column=name,
    )


def _unreadable(path: Path, error: Exception, rows_read: int | None) -> DataFileError:
    where = "" if not rows_read else f" after {rows_read} rows were read, at or after {format_row(rows_read)}"
    return DataFileError(
        f"{path}: cannot read the file{where}; it may be corrupt, truncated or not in the "
        f"format its suffix says ({type(error).__name__}: {error})",
        path=path,
        row=rows_read,
    )


def _check_columns_exist(path: Path, names: Sequence[str], existing: Sequence[str]) -> None:
    missing = [name for name in names if name not in existing]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise DataFileError(
            f"{path}: column{plural} {', '.join(f'`{name}`' for name in missing)} not found; "
            f"the file has the columns {', '.join(f'`{name}`' for name in existing)}",
            path=path,
            column=missing[0],
        )


def _convert(path: Path, record_batches, numeric: list[str], raw: list[str], batch_size: int) -> Iterator[ColumnBatch]:
    start = 0
    for record_batch in record_batches:
        for offset in range(0, record_batch.num_rows, batch_size):
            piece = record_batch.slice(offset, batch_size)
            columns = {name: _to_numpy(path, name, piece.column(name), start) for name in numeric}
            raw_arrays = {name: piece.column(name) for name in raw}
            yield ColumnBatch(start=start, columns=columns, length=piece.num_rows, raw=raw_arrays)
            start += piece.num_rows


def _to_numpy(path: Path, name: str, array, start: int) -> np.ndarray:
    import pyarrow as pa

    if array.null_count:
        raise _null_error(path, name, array, start)
    array_type = array.type
    if pa.types.is_null(array_type):
        # pyarrow types a CSV column of an empty file as null.
        return np.empty(0, dtype=np.float64)
    if pa.types.is_dictionary(array_type):
        array = array.dictionary_decode()
        array_type = array.type
    if pa.types.is_decimal(array_type):
        array = array.cast(pa.float64())
    elif not (pa.types.is_integer(array_type) or pa.types.is_floating(array_type) or pa.types.is_boolean(array_type)):
        found = _first_non_numeric(array)
        row, value = found if found is not None else (0, None)
        raise _non_numeric_error(path, name, str(array_type), start + row, value)
    # Zero-copy for fixed-width numbers; booleans are bit-packed, so they are unpacked.
    return array.to_numpy(zero_copy_only=not pa.types.is_boolean(array_type))


def _null_error(path: Path, name: str, array, start: int) -> DataFileError:
    row = start + int(np.flatnonzero(array.is_null().to_numpy(zero_copy_only=False))[0])
    csv_note = "; pyarrow reads an empty CSV cell, NA or NaN as null" if detect_format(path) == "csv" else ""
    return DataFileError(
        f"{path}: column `{name}` must not contain missing values, got a null at "
        f"{format_row(row)} ({array.null_count} nulls in this batch of {len(array)} rows)"
        f"{csv_note}",
        path=path,
        column=name,
        row=row,
    )


def _first_non_numeric(array) -> tuple[int, object] | None:
    """Return the index and value of the first non-null value that is not a number."""
    for index, value in enumerate(array.to_pylist()):
        if value is None:
            continue
        try:
            float(value)
        except (TypeError, ValueError):
            return index, value
    return None


def _non_numeric_error(path: Path, name: str, type_name: str, row: int, value) -> DataFileTypeError:
    detail = "" if value is None else f", and the value at {format_row(row)} is {value!r}"
    return DataFileTypeError(
        f"{path}: column `{name}` must contain numbers, got type {type_name}{detail}",
        path=path,
        column=name,
        row=row if value is not None else None,
    )

