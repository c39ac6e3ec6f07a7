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

import operator
import os
import queue
import re
import stat
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "MAX_BATCH_SIZE",
    "ColumnBatch",
    "DataFileError",
    "DataFileTypeError",
    "detect_format",
    "read_batches",
    "total_rows",
]

# Batches of this size run numba's kernels on one thread (below _fast.PARALLEL_MIN_SIZE),
# while the read-ahead thread decodes the next ones. Each batch costs some fixed Python work,
# and with --by a merge of its segment sums. On an idle 2-core Xeon, a second logloss score
# call on 10**7 rows took 0.076 s with this size and 0.085 s with 2**16 rows per batch (with
# --by, 0.119 s and 0.169 s). Batches of 2**20 rows run the kernels on every core, which
# left no core for the reading (0.105 s). Under a load of 3 to 4 on 2 cores, batches of
# 2**20 rows took 0.35 to 1.1 s against 0.2 to 0.34 s for 2**16 (numba 0.68).
DEFAULT_BATCH_SIZE = 262_144
# pyarrow counts rows in int64.
MAX_BATCH_SIZE = 2**63 - 1

# Batches that a background thread decodes ahead of the caller. pyarrow and numba's kernels
# both release the GIL, so the next batches are read while the caller scores one. Memory
# grows by at most this many batches.
READ_AHEAD_BATCHES = 2

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
        self.path = os.fsdecode(path)
        self.column = column
        self.row = row


class DataFileTypeError(DataFileError, TypeError):
    """A column of an input file that does not contain numbers."""


def no_data_rows_error(path) -> DataFileError:
    """Return the error for a file with no data rows, of which no figure can be computed."""
    return DataFileError(f"{display_path(path)}: the file has no data rows, so no figure can be computed", path=path)


def format_row(row: int) -> str:
    return f"row {row} ({ROW_CONVENTION})"


def display_path(path) -> str:
    """Return the path as printable text; bytes that are not UTF-8 become \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", errors="backslashreplace")


def check_batch_size(batch_size) -> int:
    """Return `batch_size` as an int, or raise TypeError or ValueError."""
    if isinstance(batch_size, bool):
        raise TypeError(f"`batch_size` must be an integer, got {batch_size!r}")
    try:
        batch_size = operator.index(batch_size)
    except TypeError:
        raise TypeError(f"`batch_size` must be an integer, got {type(batch_size).__name__} {batch_size!r}") from None
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}")
    if batch_size > MAX_BATCH_SIZE:
        raise ValueError(f"`batch_size` must be at most {MAX_BATCH_SIZE} (2**63 - 1), got {batch_size!r}")
    return batch_size


def check_file(path) -> Path:
    """Return `path` as a Path if it names a regular file, or raise naming the file.

    Raises FileNotFoundError, IsADirectoryError, PermissionError, or DataFileError for a
    FIFO, socket or device. The check runs before pyarrow opens the file, because opening a
    FIFO would block.
    """
    path = Path(os.fsdecode(path))
    name = display_path(path)
    try:
        status = path.stat()
    except FileNotFoundError:
        raise FileNotFoundError(f"{name}: no such file") from None
    except PermissionError:
        raise PermissionError(f"{name}: permission denied") from None
    if stat.S_ISDIR(status.st_mode):
        raise IsADirectoryError(f"{name}: is a directory, not a data file")
    if not stat.S_ISREG(status.st_mode):
        raise DataFileError(f"{name}: is not a regular file; pass a CSV or Parquet file", path=path)
    if not os.access(path, os.R_OK):
        raise PermissionError(f"{name}: permission denied")
    return path


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
    name = Path(os.fsdecode(path)).name.lower()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return _SUFFIXES[suffix]
    if os.path.isdir(path):
        raise ValueError(
            f"{display_path(path)}: is a folder, and this reads one file; score a folder of "
            f"Parquet files with `logloss score --engine dask` or `--engine spark` "
            f"(logloss.dask or logloss.spark from Python)"
        )
    raise ValueError(
        f"{display_path(path)}: unknown file type; the name must end in one of "
        f"{', '.join(_SUFFIXES)} (CSV, gzip-compressed CSV or Parquet)"
    )


def total_rows(path) -> int | None:
    """Return the number of data rows from a Parquet file's footer; None for CSV."""
    if detect_format(path) != "parquet":
        return None
    path = check_file(path)
    with open(path, "rb") as source:
        return _open_parquet(path, source).metadata.num_rows


def read_batches(
    path,
    columns: Sequence[str],
    *,
    raw_columns: Sequence[str] = (),
    string_columns: Sequence[str] = (),
    key_columns: Sequence[str] = (),
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Iterator[ColumnBatch]:
    """Yield the numeric `columns` of a CSV or Parquet file in batches of at most `batch_size` rows.

    Parameters
    ----------
    path : str, bytes or os.PathLike
        A file whose name ends in .csv, .csv.gz, .parquet or .pq, in any letter case.
    columns : sequence of str
        Names of the columns to read; each must contain numbers (integer, floating, boolean or
        decimal). A name may repeat.
    raw_columns : sequence of str, optional
        Names of further columns of any type, such as group keys, passed on unchecked as
        pyarrow arrays in ``ColumnBatch.raw``. A name also in `columns` is read as numeric only.
    string_columns : sequence of str, optional
        Further raw columns, such as row ids, that a CSV file reads as strings, so that
        each distinct text is one value ("02134" and "2134" stay apart, and an empty cell
        is the empty string, not null). Parquet keeps its stored types.
    key_columns : sequence of str, optional
        Segment key columns: read as `string_columns` are, except that an empty CSV cell,
        quoted or not, is null, as a Parquet null is. A name also in `string_columns` keeps
        its empty strings.
    batch_size : int, default 262144
        Maximum rows per batch, at most 2**63 - 1.

    Yields
    ------
    ColumnBatch
        Rows in file order. A column without nulls of a fixed-width numeric type is a view
        of pyarrow's buffer, not a copy.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, PermissionError
        If the file does not exist, is a directory or cannot be read.
    TypeError, ValueError
        If `batch_size` is not an integer in [1, 2**63 - 1], or the suffix is unknown.
    DataFileError
        If the file is not a regular file, a column is missing (the message lists those that
        exist), appears more than once or contains a null, or if the file is corrupt,
        truncated or malformed.
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
    batch_size = check_batch_size(batch_size)
    kind = detect_format(path)
    path = check_file(path)
    numeric = list(dict.fromkeys(columns))
    raw = [name for name in dict.fromkeys([*raw_columns, *string_columns, *key_columns]) if name not in numeric]
    if kind == "parquet":
        record_batches = _read_parquet(path, numeric + raw, batch_size)
    else:
        strings = [name for name in raw if name in string_columns or name in key_columns]
        empty_as_null = [name for name in strings if name not in string_columns]
        record_batches = _read_csv(path, numeric, raw, strings, empty_as_null)
    keys = [name for name in raw if name in key_columns]
    return _read_ahead(_convert(path, record_batches, numeric, raw, batch_size, keys), READ_AHEAD_BATCHES)


def _read_parquet(path: Path, names: list[str], batch_size: int) -> Iterator:
    import pyarrow as pa

    # pyarrow's own file, which reads without the GIL: the reads took about 10% longer through
    # a Python file object. The path goes as bytes, so that a name that is not UTF-8 opens.
    with pa.OSFile(os.fsencode(path)) as source:
        parquet_file = _open_parquet(path, source)
        _check_columns_exist(path, names, parquet_file.schema_arrow.names)
        batches = parquet_file.iter_batches(batch_size=batch_size, columns=names, use_threads=False)
        yield from _guard(path, batches, pa)


def _open_parquet(path: Path, source):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # Page checksums are verified where the writer stored them (write_page_checksum=True);
        # a page without one is read unchecked.
        return pq.ParquetFile(
            source, buffer_size=PARQUET_BUFFER_SIZE, pre_buffer=False, page_checksum_verification=True
        )
    except (pa.ArrowException, OSError, UnicodeDecodeError) as error:
        raise _unreadable(path, error, rows_read=None) from error


class _CsvSource:
    """A CSV file opened as pyarrow input streams, a .csv.gz file decompressed.

    The streams are pyarrow's own files, not Python file objects, and pyarrow gets no
    Python callback, so its I/O and CPU threads, which read and parse ahead of a reader,
    never take the GIL. With a Python file object and an invalid-row callback, those
    threads could still hold the callback after the reader was closed. Releasing it takes
    the GIL, and a thread that did so while the interpreter shut down aborted the process
    ("terminate called without an active exception").
    """

    def __init__(self, path: Path):
        self.path = path
        # Every file, stream and reader opened, closed in reverse order by close(). A reader
        # left to the garbage collector can be destroyed during interpreter shutdown, while
        # pyarrow's thread pools stop, which aborted or hung the process.
        self.resources = []
        self.gzip = path.name.lower().endswith(".gz")
        self.no_final_newline = False

    def close(self) -> None:
        while self.resources:
            resource = self.resources.pop()
            try:
                resource.close()
            except Exception:  # noqa: BLE001 - the error being raised, if any, matters more
                pass

    def _stream(self):
        import pyarrow as pa

        # The path as bytes, so that a name that is not UTF-8 can be opened.
        file = pa.OSFile(os.fsencode(self.path))
        self.resources.append(file)
        if not self.gzip:
            return file
        stream = pa.CompressedInputStream(file, "gzip")
        self.resources.append(stream)
        return stream

    def open_csv(self, **convert):
        """Return a pyarrow CSV stream reader over the whole file."""
        import pyarrow as pa

        stream = self._stream()
        if self.no_final_newline:
            # pyarrow cannot parse a header that no newline ends: "Empty CSV file or block".
            stream = pa.BufferReader(stream.read() + b"\n")
        return self._open(stream, **convert)

    def _open(self, stream, **convert):
        import pyarrow.csv as pa_csv

        read_options = pa_csv.ReadOptions(block_size=CSV_BLOCK_SIZE, use_threads=False)
        # A quoted value may hold line breaks. Without this option pyarrow cuts its blocks at
        # any line break, even inside such a value, so a file larger than one block failed to
        # parse. Reading 2e6 rows took 0.21 s with the option and without it.
        parse_options = pa_csv.ParseOptions(newlines_in_values=True)
        convert_options = pa_csv.ConvertOptions(**convert)
        reader = pa_csv.open_csv(stream, read_options=read_options, parse_options=parse_options, convert_options=convert_options)
        self.resources.append(reader)
        return reader

    def schema(self):
        """Return the schema of a reader opened only for it, and close the reader."""
        reader = self.open_csv()
        try:
            return reader.schema
        finally:
            reader.close()

    def header(self):
        """Return the column names, which may repeat, and the schema pyarrow infers from the first block.

        A row of the first block with too many or too few fields stops pyarrow from inferring
        the schema. The schema is then None, and the third value is pyarrow's error, to raise
        after the names are checked: a semicolon-separated file gets the message that a
        column is not found, which lists its one column name.
        """
        import pyarrow as pa

        try:
            schema = self.schema()
            return schema.names, schema, None
        except pa.ArrowInvalid as error:
            if "Empty CSV file" not in str(error):
                names = self._header_names()
                if names is None:
                    raise
                return names, None, error
            empty_error = error
        text = self._stream().read(CSV_BLOCK_SIZE + 1)
        if not text.strip():
            raise DataFileError(
                f"{display_path(self.path)}: the file is empty; a CSV file needs a header row",
                path=self.path,
            )
        if len(text) > CSV_BLOCK_SIZE and b"\n" not in text and b"\r" not in text:
            raise _long_row_error(self.path, None)
        if len(text) > CSV_BLOCK_SIZE or b"\n" in text or b"\r" in text:
            raise empty_error
        self.no_final_newline = True
        schema = self.schema()
        return schema.names, schema, None

    def _header_names(self) -> list[str] | None:
        """Return the names of the header row, parsed alone, or None if it cannot be parsed."""
        import pyarrow as pa

        # pyarrow skips empty lines, so the header is the first line that has text.
        text = self._stream().read(CSV_BLOCK_SIZE).lstrip(b"\r\n")
        end = _end_of_first_record(text)
        if end is None:
            return None
        try:
            return self._open(pa.BufferReader(text[:end] + b"\n")).schema.names
        except pa.ArrowInvalid:
            return None


def _end_of_first_record(text: bytes) -> int | None:
    """Return the offset of the line break that ends the first CSV record, or None.

    A line break between double quotes is inside a value, so it does not end the record.
    """
    start = 0
    while True:
        breaks = [offset for offset in (text.find(b"\n", start), text.find(b"\r", start)) if offset >= 0]
        if not breaks:
            return None
        end = min(breaks)
        # An even count of quotes before the break: it is outside quotes ("" inside a
        # quoted value counts twice).
        if text.count(b'"', 0, end) % 2 == 0:
            return end
        start = end + 1


def _read_csv(path: Path, numeric: list[str], raw: list[str], strings: list[str], keys: list[str]) -> Iterator:
    """Yield the record batches of a CSV file, with null for the empty cells of the string columns `keys`."""
    import pyarrow as pa

    source = _CsvSource(path)
    try:
        try:
            header, first_block, malformed = source.header()
        except UnicodeDecodeError as error:
            raise _header_encoding_error(path, error) or _unreadable(path, error, rows_read=0) from error
        except (pa.ArrowException, OSError) as error:
            raise (
                _csv_parse_error(source, error, None) or _unclosed_quote_error(source) or _unreadable(path, error, rows_read=0)
            ) from error
        _check_columns_exist(path, numeric + raw, header)
        if malformed is not None:
            raise _csv_parse_error(source, malformed, header) or _unreadable(path, malformed, rows_read=0) from malformed
        # pyarrow infers each type from the first block only, so a column of integers there
        # would reject a later 0.5. Such columns, and columns empty there, are read as float64.
        column_types = {
            name: pa.float64()
            for name in numeric
            if pa.types.is_integer(first_block.field(name).type) or pa.types.is_null(first_block.field(name).type)
        }
        # Inference from the first block would read the keys "02134" and "2134" as one number,
        # and reject a later key that is not a number.
        column_types.update({name: pa.string() for name in strings})
        try:
            reader = source.open_csv(include_columns=numeric + raw, column_types=column_types)
        except (pa.ArrowException, OSError, UnicodeDecodeError) as error:
            raise _read_error(source, header, error, 0, strings) from error

        def wrap_error(error, rows_read):
            return _read_error(source, header, error, rows_read, strings)

        for record_batch in _guard(path, reader, pa, wrap_error):
            yield _empty_strings_to_null(record_batch, keys) if keys else record_batch
        unclosed = _unclosed_quote_error(source)
        if unclosed is not None:
            raise unclosed
    finally:
        source.close()


def _unclosed_quote_error(source: _CsvSource) -> DataFileError | None:
    """Return the error for a file that ends inside a quoted value, or None.

    pyarrow reads such a value to the end of the file without an error, so the rows after
    its opening quote would be lost. In the header, the quote makes the file unreadable.
    """
    import pyarrow as pa

    try:
        unclosed = _unclosed_quote(source)
    except (pa.ArrowException, OSError) as error:
        return _unreadable(source.path, error, rows_read=None)
    if unclosed is None:
        return None
    line, lines_after = unclosed
    if lines_after == 0:
        lost = ""
    elif lines_after == 1:
        lost = ", so the line after it was read as part of that value"
    else:
        lost = f", so the {lines_after} lines after it were read as part of that value"
    return DataFileError(
        f"{display_path(source.path)}: a double quote on line {line} of the CSV file opens a "
        f'value that no quote closes{lost}. Close the value with a double quote, or write a quote '
        f'that is part of a value as "" inside a quoted value.',
        path=source.path,
    )


def _unclosed_quote(source: _CsvSource) -> tuple[int, int] | None:
    """Return the line of a double quote whose value the file never closes, and the lines after that line, or None.

    It reads raw bytes again: a tail of the file (see ``_csv_quotes``), or the whole stream
    of a compressed file.
    """
    from ._csv_quotes import count_lines, find_unclosed_quote

    size = None if source.gzip else os.stat(source.path).st_size
    opener = find_unclosed_quote(source._stream, size)
    if opener is None:
        return None
    return count_lines(source._stream(), opener)


def _empty_strings_to_null(record_batch, names: list[str]):
    """Return `record_batch` with the empty strings of its string columns `names` made null.

    pyarrow's ConvertOptions(strings_can_be_null=True) would make each of `null_values`,
    such as "NA" and "null", null in every string column. The numeric columns share those
    `null_values`, so narrowing them would change how labels and predictions parse.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for name, column in zip(record_batch.schema.names, record_batch.columns):
        if name in names:
            column = pc.if_else(pc.equal(column, ""), pa.scalar(None, column.type), column)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=record_batch.schema.names)


def _guard(path: Path, record_batches, pa, wrap_error=None) -> Iterator:
    """Re-raise pyarrow's read errors as DataFileError naming the file and the rows read."""
    rows_read = 0
    iterator = iter(record_batches)
    while True:
        try:
            record_batch = next(iterator)
        except StopIteration:
            return
        except (pa.ArrowException, OSError, UnicodeDecodeError) as error:
            if wrap_error is not None:
                raise wrap_error(error, rows_read) from error
            raise _unreadable(path, error, rows_read) from error
        rows_read += record_batch.num_rows
        yield record_batch


_CSV_CONVERSION_ERROR = re.compile(r"In CSV column #(?P<column>\d+): (Row #\d+: )?CSV conversion error")
_CSV_PARSE_ERROR = re.compile(r"CSV parse error: Row #(?P<record>\d+): (?P<detail>.*)", re.DOTALL)


def _read_error(
    source: _CsvSource, header: list[str], error: Exception, rows_read: int, strings: Sequence[str] = ()
) -> DataFileError:
    if "straddles two block boundaries" in str(error):
        return _long_row_error(source.path, rows_read)
    conversion = _CSV_CONVERSION_ERROR.search(str(error))
    if conversion is None:
        return _csv_parse_error(source, error, header) or _unreadable(source.path, error, rows_read)
    name = header[int(conversion.group("column"))]
    if name in strings:
        # Text columns (segment keys, row ids) fail to convert only on invalid UTF-8.
        return _csv_text_error(source, name, error)
    return _csv_conversion_error(source, name, error)


def _header_encoding_error(path: Path, error: UnicodeDecodeError) -> DataFileError | None:
    """Return the error for a CSV header whose column names are not valid UTF-8, or None.

    None for a name with a NUL byte, as in a binary file (a Parquet file named .csv, say) or
    UTF-16 text, which the message for an unreadable file describes better.
    """
    where = ""
    if isinstance(error.object, bytes):
        if b"\x00" in error.object:
            return None
        where = f" in the column name {error.object!r:.80}"
    return DataFileError(
        f"{display_path(path)}: the header row of the CSV file is not valid UTF-8: byte "
        f"{error.start}{where} ({error.reason}); save the file as UTF-8 text",
        path=path,
    )


def _long_row_error(path: Path, rows_read: int | None) -> DataFileError:
    """Return the error for a CSV record longer than the reader's block.

    A `rows_read` of None means the header row.
    """
    where = "the header row" if rows_read is None else f"a row at or after {format_row(rows_read)}"
    return DataFileError(
        f"{display_path(path)}: {where} of the CSV file is longer than the reader's block of "
        f"{CSV_BLOCK_SIZE // 2**20} MiB, which holds whole rows; shorten its long values, or "
        f"convert the file to Parquet",
        path=path,
        row=rows_read,
    )


def _csv_parse_error(source: _CsvSource, error: Exception, header: list[str] | None) -> DataFileError | None:
    """Return the error for a CSV row that pyarrow failed to parse, or None.

    None when pyarrow's message names no data row.
    """
    parse = _CSV_PARSE_ERROR.search(str(error))
    # pyarrow numbers the records from 1, the header included, so record 1 is the header.
    if parse is None or int(parse.group("record")) < 2:
        return None
    row = int(parse.group("record")) - 2
    detail = parse.group("detail")
    hint = ""
    if header is not None and detail.startswith("Expected "):
        hint = f"; each row must have as many fields as the header ({len(header)})"
        # A quote that is never closed joins the rest of the file into one row.
        unclosed = _unclosed_quote(source)
        if unclosed is not None:
            hint += f". A double quote on line {unclosed[0]} opens a value that no quote closes"
    return DataFileError(
        f"{display_path(source.path)}: cannot parse {format_row(row)} of the CSV file ({detail}){hint}",
        path=source.path,
        row=row,
    )


def _csv_text_error(source: _CsvSource, name: str, error: Exception) -> DataFileError:
    """Return the error for the first value of a CSV text column that is not valid UTF-8.

    The column is read again as bytes, on this error path only, to find the row.
    """
    import pyarrow as pa

    path = source.path
    start = 0
    try:
        for record_batch in source.open_csv(include_columns=[name], column_types={name: pa.binary()}):
            for index, value in enumerate(record_batch.column(0).to_pylist()):
                if value is None:
                    continue
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError:
                    row = start + index
                    excerpt = repr(value[:40]) + ("..." if len(value) > 40 else "")
                    return DataFileError(
                        f"{display_path(path)}: column `{name}` must contain UTF-8 text, got the bytes "
                        f"{excerpt} at {format_row(row)}; convert the file to UTF-8",
                        path=path,
                        column=name,
                        row=row,
                    )
            start += record_batch.num_rows
    except (pa.ArrowException, OSError) as binary_error:
        error = binary_error
    return DataFileError(
        f"{display_path(path)}: column `{name}` must contain UTF-8 text, but pyarrow could not read it "
        f"as text ({error}); convert the file to UTF-8",
        path=path,
        column=name,
    )


def _csv_conversion_error(source: _CsvSource, name: str, error: Exception) -> DataFileTypeError:
    """Find the first non-numeric value of a CSV column that pyarrow failed to convert.

    pyarrow's message does not always name the row, so the column is read again as text,
    on this error path only.
    """
    import pyarrow as pa

    path = source.path
    start = 0
    try:
        for record_batch in source.open_csv(include_columns=[name], column_types={name: pa.string()}):
            found = _first_non_numeric(record_batch.column(0))
            if found is not None:
                return _non_numeric_error(path, name, "string", start + found[0], found[1])
            start += record_batch.num_rows
    except (pa.ArrowException, OSError) as text_error:
        error = text_error
    return DataFileTypeError(
        f"{display_path(path)}: column `{name}` must contain numbers, but pyarrow could not convert it ({error})",
        path=path,
        column=name,
    )


def _unreadable(path: Path, error: Exception, rows_read: int | None) -> DataFileError:
    where = "" if not rows_read else f" after {rows_read} rows were read, at or after {format_row(rows_read)}"
    encoding = ""
    if isinstance(error, UnicodeDecodeError) or "UTF8" in str(error):
        encoding = "; text in a CSV file or a Parquet schema must be UTF-8"
    return DataFileError(
        f"{display_path(path)}: cannot read the file{where}; it may be corrupt, truncated or not "
        f"in the format its suffix says{encoding} ({type(error).__name__}: {error})",
        path=path,
        # Before the first row the message names no row, so neither does the error.
        row=rows_read or None,
    )


def _check_columns_exist(path: Path, names: Sequence[str], existing: Sequence[str]) -> None:
    missing = [name for name in names if name not in existing]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise DataFileError(
            f"{display_path(path)}: column{plural} {', '.join(f'`{name}`' for name in missing)} not found; "
            f"the file has the columns {', '.join(f'`{name}`' for name in existing)}",
            path=path,
            column=missing[0],
        )
    for name in names:
        count = list(existing).count(name)
        if count > 1:
            # pyarrow would read the first of them (CSV) or raise KeyError (Parquet).
            raise DataFileError(
                f"{display_path(path)}: column `{name}` appears {count} times in the file; "
                f"rename the columns so that each used name is unique",
                path=path,
                column=name,
            )


def _scalar_column(path: Path, name: str, column):
    """Return a raw column, or raise DataFileTypeError when it contains lists, structs or maps."""
    import pyarrow as pa

    if pa.types.is_nested(column.type):
        raise DataFileTypeError(
            f"{display_path(path)}: column `{name}` must hold scalar values to group by, "
            f"got type {column.type}",
            path=path,
            column=name,
        )
    return column


def check_key_column(path: Path, name: str, column) -> None:
    """Raise DataFileError, naming the file and column, for keys that the grouping cannot hold exactly."""
    from ._keys import check_python_exact

    try:
        check_python_exact(column, name)
    except (TypeError, ValueError) as error:
        error_class = DataFileTypeError if isinstance(error, TypeError) else DataFileError
        # The grouping names its argument (`name`); a file's message names the column.
        message = str(error).replace(f"`{name}`", f"column `{name}`", 1)
        raise error_class(f"{display_path(path)}: {message}", path=path, column=name) from None


_END = object()


def _read_ahead(items: Iterator, depth: int) -> Iterator:
    """Yield the items of `items`, which a background thread produces up to `depth` ahead.

    An exception raised by `items` is raised here, in the caller's thread, after the items
    produced before it. Closing this generator, or its end, stops the thread and closes
    `items` in that thread, which closes the file.
    """
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce():
        try:
            for item in items:
                ready.put((item, None))
                if stop.is_set():
                    return
            ready.put((_END, None))
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            ready.put((_END, error))
        finally:
            items.close()

    thread = threading.Thread(target=produce, name="logloss-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = ready.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        # Emptying the queue unblocks a producer waiting to put an item. It then finds `stop`
        # set and returns.
        while True:
            try:
                ready.get_nowait()
            except queue.Empty:
                break
        thread.join()


def _convert(
    path: Path, record_batches, numeric: list[str], raw: list[str], batch_size: int, keys: Sequence[str] = ()
) -> Iterator[ColumnBatch]:
    start = 0
    try:
        for record_batch in record_batches:
            for offset in range(0, record_batch.num_rows, batch_size):
                piece = record_batch.slice(offset, batch_size)
                columns = {name: _to_numpy(path, name, piece.column(name), start) for name in numeric}
                raw_arrays = {name: _scalar_column(path, name, piece.column(name)) for name in raw}
                for name in keys:
                    check_key_column(path, name, raw_arrays[name])
                yield ColumnBatch(start=start, columns=columns, length=piece.num_rows, raw=raw_arrays)
                start += piece.num_rows
    finally:
        # Closing this generator, or an error here, closes the file now, not at garbage collection.
        record_batches.close()


def _to_numpy(path: Path, name: str, array, start: int) -> np.ndarray:
    import pyarrow as pa

    array_type = array.type
    if pa.types.is_null(array_type):
        # pyarrow types a CSV column of an empty file as null, and one of empty cells too.
        if array.null_count:
            raise _null_error(path, name, array, start)
        return np.empty(0, dtype=np.float64)
    if pa.types.is_dictionary(array_type):
        array = array.dictionary_decode()
        array_type = array.type
    if pa.types.is_decimal(array_type):
        array = array.cast(pa.float64())
    elif not (pa.types.is_integer(array_type) or pa.types.is_floating(array_type) or pa.types.is_boolean(array_type)):
        # The type comes first: a column of text is the wrong column, whether or not it has nulls.
        found = _first_non_numeric(array)
        row, value = found if found is not None else (0, None)
        raise _non_numeric_error(path, name, str(array_type), start + row, value)
    if array.null_count:
        raise _null_error(path, name, array, start)
    return numpy_view(array)


def numpy_view(array) -> np.ndarray:
    """Return a pyarrow array of numbers without nulls as a read-only NumPy array.

    Fixed-width numbers become a view of pyarrow's buffer, not a copy; booleans are
    bit-packed, so they are unpacked into a new array. ``pyarrow.Array.to_numpy`` would
    give the same arrays, but it imports pandas when pandas is installed (pyarrow 26),
    which added 0.26 s to the first batch of a file (1.0 s without compiled bytecode).
    """
    import pyarrow as pa

    array_type = array.type
    data = array.buffers()[1]
    if pa.types.is_boolean(array_type):
        # Arrow packs booleans eight to a byte, least significant bit first.
        bits = np.frombuffer(data, dtype=np.uint8)
        unpacked = np.unpackbits(bits, count=array.offset + len(array), bitorder="little")
        return unpacked[array.offset :].view(np.bool_)
    dtype = np.dtype(array_type.to_pandas_dtype())
    if data is None or len(array) == 0:
        view = np.empty(0, dtype=dtype)
    else:
        view = np.frombuffer(data, dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize)
    # pyarrow exports the buffers it allocated as writable, but Arrow data is immutable.
    view.flags.writeable = False
    return view


def _null_error(path: Path, name: str, array, start: int) -> DataFileError:
    row = start + int(np.flatnonzero(array.is_null().to_numpy(zero_copy_only=False))[0])
    csv_note = "; pyarrow reads an empty CSV cell, NA or NaN as null" if detect_format(path) == "csv" else ""
    return DataFileError(
        f"{display_path(path)}: column `{name}` must not contain missing values, got a null at "
        f"{format_row(row)} ({_count(array.null_count, 'null')} in this batch of {_count(len(array), 'row')})"
        f"{csv_note}",
        path=path,
        column=name,
        row=row,
    )


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


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
        f"{display_path(path)}: column `{name}` must contain numbers, got type {type_name}{detail}",
        path=path,
        column=name,
        row=row if value is not None else None,
    )

