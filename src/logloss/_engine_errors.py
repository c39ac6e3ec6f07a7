"""Messages that name the file at fault for ``logloss score --engine dask|spark``.

Dask and Spark report a problem in one file of a folder as a Python or Java exception
about a partition or a column, mostly without the file. The functions here turn the
errors that come from the data into a :class:`DataFileError` that names the file, and the
file row where the Parquet footers give it. They run on error paths only, and read only
Parquet footers, except that a NaN found by Dask is looked up in the one row group that
contains it, to tell a null from a NaN. Every other exception is left to propagate unchanged.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from ._io import DataFileError, DataFileTypeError, check_key_column, display_path, format_row

# The name endings of the files that dask.dataframe.read_parquet reads in a folder (its
# default parquet_file_extension, dask 2026.8). It matches them case-sensitively.
DASK_SUFFIXES = (".parq", ".parquet", ".pq")


def data_files(path: Path, engine: str) -> list[Path]:
    """Return the files that `engine` reads in the folder `path` and its subfolders, sorted."""
    found = []
    for folder, subfolders, names in os.walk(path):
        if engine == "spark":
            subfolders[:] = [name for name in subfolders if not _hidden_from_spark(name)]
            names = [name for name in names if not _hidden_from_spark(name)]
        else:
            names = [name for name in names if name.endswith(DASK_SUFFIXES)]
        found += [Path(folder) / name for name in names]
    return sorted(found)


def _hidden_from_spark(name: str) -> bool:
    # Spark skips names that start with "." or "_" (.crc files, _SUCCESS), except folders of
    # a partitioned data set such as "_key=1".
    return name.startswith(".") or (name.startswith("_") and "=" not in name)


def check_folder(path: Path, engine: str) -> None:
    """Raise DataFileError when the folder `path` contains no file that `engine` reads."""
    if data_files(path, engine):
        return
    if engine == "dask":
        rule = "Dask reads the files whose names end in .parquet, .pq or .parq"
    else:
        rule = "Spark reads every file whose name does not start with _ or ."
    raise DataFileError(
        f"{display_path(path)}: the folder contains no Parquet files ({rule}); "
        f"pass a Parquet file or a folder that contains them",
        path=path,
    )


def _schema(file: Path):
    """Return the Arrow schema in a Parquet file's footer, or None if it cannot be read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # A Python file object, not the path, so that a name that is not UTF-8 can be opened.
        with open(file, "rb") as source:
            return pq.read_schema(source)
    except (pa.ArrowException, OSError):
        # The engine reports such a file itself.
        return None


def unreadable_file(path: Path, engine: str) -> Path:
    """Return the first file of `path` whose Parquet footer cannot be read, or `path` if none."""
    return next((file for file in _files(path, engine) if _schema(file) is None), path)


def unreadable_advice(path: Path, file: Path) -> str:
    """Return what to do about `file`, which the engine could not read, for a message on `path`.

    Returns "" when `file` is the folder `path` itself, because no single file is known to
    be at fault.
    """
    if file == path and path.is_dir():
        return ""
    advice = "; the file may be corrupt, truncated or not in Parquet format, so replace it"
    if file != path:
        advice += f" or move it out of {display_path(path)}"
    return advice


def non_utf8_name_error(path: Path, engine: str) -> DataFileError | None:
    """Return an error naming the first file of `path` whose path is not valid UTF-8, or None.

    pyarrow's file systems, which Dask reads through, take paths as UTF-8 text only, so they
    fail on such a name with a UnicodeEncodeError that names no file.
    """
    for file in _files(path, engine):
        try:
            os.fsdecode(file).encode("utf-8")
        except UnicodeEncodeError:
            return DataFileError(
                f"{display_path(file)}: the path is not valid UTF-8, and {engine.capitalize()} "
                f"opens files by UTF-8 paths only; rename the file or its folder, or score it with --engine local",
                path=file,
            )
    return None


def _files(path: Path, engine: str) -> list[Path]:
    return data_files(path, engine) if path.is_dir() else [path]


def _folder_note(path: Path, file: Path) -> str:
    if file == path:
        return ""
    return f"; every Parquet file in {display_path(path)} must have it"


def missing_column_error(path: Path, engine: str, column: str) -> DataFileError | None:
    """Return an error naming the first file of `path` without the column, or None if each has it."""
    for file in _files(path, engine):
        schema = _schema(file)
        if schema is not None and column not in schema.names:
            existing = ", ".join(f"`{name}`" for name in schema.names)
            return DataFileError(
                f"{display_path(file)}: column `{column}` not found; the file has the columns "
                f"{existing}{_folder_note(path, file)}",
                path=file,
                column=column,
            )
    return None


def _is_numeric(data_type) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(data_type):
        data_type = data_type.value_type
    return any(
        check(data_type)
        for check in (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_decimal)
    )


def column_type_error(path: Path, engine: str, column: str, engine_type: str) -> DataFileTypeError:
    """Return an error naming the first file of `path` that stores the column as non-numbers.

    `engine_type` names the type that the engine found, for when no file's footer shows it.
    """
    for file in _files(path, engine):
        schema = _schema(file)
        if schema is not None and column in schema.names and not _is_numeric(schema.field(column).type):
            return _type_error(path, file, column, str(schema.field(column).type))
    return _type_error(path, path, column, engine_type)


def _type_error(path: Path, file: Path, column: str, type_name: str) -> DataFileTypeError:
    folder = "" if file == path else f" in every Parquet file in {display_path(path)}"
    return DataFileTypeError(
        f"{display_path(file)}: column `{column}` must contain numbers, got type {type_name}; "
        f"write it as integers, floats or booleans{folder}",
        path=file,
        column=column,
    )


def key_column_error(path: Path, engine: str, by) -> DataFileError | None:
    """Return the error of the first key column in `by` whose values Python cannot hold exactly, or None.

    pandas converts such a column (time64[ns] with nanoseconds) with an ArrowInvalid that
    names no column. The error is the one that local reading raises for the first file
    at fault. Only columns of the types that the check rejects are read.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    for file in _files(path, engine):
        schema = _schema(file)
        if schema is None:
            continue
        for name in by:
            if name not in schema.names:
                continue
            column_type = schema.field(name).type
            if not (pa.types.is_time64(column_type) or pa.types.is_date64(column_type)):
                continue
            try:
                with open(file, "rb") as source:
                    column = pq.read_table(source, columns=[name]).column(name).combine_chunks()
                check_key_column(file, name, column)
            except DataFileError as error:
                return error
            except (pa.ArrowException, OSError):
                continue
    return None


# The end that logloss.dask adds to the message of an invalid value in a partition.
_PARTITION_SUFFIX = re.compile(r" \(in partition \d+; indices count from its start\)$")
_INDEX = re.compile(r" at index (\d+)")


def dask_partition_error(path: Path, selected, error: Exception) -> DataFileError:
    """Return the error of an invalid value in a Dask partition, naming its file and row.

    `selected` is the frame whose partitions were scored (``logloss.dask._scored_frame``),
    so that Dask optimizes it into the same partitions. `error` carries the partition's
    number and length in its attributes ``partition`` and ``partition_length``. Where the
    partition cannot be traced to files whose rows add up to that length, the message
    names `path` and keeps the partition number.
    """
    error_class = DataFileTypeError if isinstance(error, TypeError) else DataFileError
    message = str(error)
    rows = _partition_rows(selected, error.partition)
    index = _INDEX.search(message)
    traced = rows is not None and sum(count for _, _, count in rows) == getattr(error, "partition_length", None)
    if not traced or index is None:
        return error_class(f"{display_path(path)}: {message}", path=path)
    position = int(index.group(1))
    for file, start, count in rows:
        if position < count:
            row = start + position
            message = message[: index.start()] + f" at {format_row(row)} of this file" + message[index.end() :]
            message = _PARTITION_SUFFIX.sub(f" (in Dask partition {error.partition})", message)
            message = _name_null(message, file, row)
            return error_class(f"{display_path(file)}: {message}", path=file, row=row)
        position -= count
    return error_class(f"{display_path(path)}: {message}", path=path)


# pandas reads a Parquet null of a float column as NaN, so Dask's partitions report it as one.
_NAN_VALUE = re.compile(r"column `(?P<column>[^`]+)` must not contain NaN, got NaN ")
_NAN_COUNT = re.compile(r" NaN (values?) in all\)")


def _name_null(message: str, file: str, row: int) -> str:
    """Return `message` about a NaN at `row` of `file`, reworded if the file has a null there."""
    found = _NAN_VALUE.search(message)
    if found is None or not _is_null(file, found.group("column"), row):
        return message
    column = found.group("column")
    reworded = f"column `{column}` must not contain NaN or missing values, got a null "
    message = message[: found.start()] + reworded + message[found.end() :]
    return _NAN_COUNT.sub(r" NaN or null \1 in all)", message)


def _is_null(file: str, column: str, row: int) -> bool:
    """Return whether `column` is null at `row` of the Parquet file `file`; False if unreadable."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet_file = pq.ParquetFile(file)
        for index in range(parquet_file.num_row_groups):
            count = parquet_file.metadata.row_group(index).num_rows
            if row < count:
                values = parquet_file.read_row_group(index, columns=[column]).column(0)
                return not values[row].is_valid
            row -= count
    except (pa.ArrowException, OSError, KeyError, IndexError):
        pass
    return False


def _partition_rows(selected, partition: int) -> list[tuple[str, int, int]] | None:
    """Return the (file, first file row, row count) runs that one Dask partition reads, in order.

    NOTE: Dask has no public way to trace a partition to its files, so this reads its
    Parquet plan (dask.dataframe.dask_expr internals, dask 2026.8). It returns None where
    those differ or a run cannot be counted from the footers.
    """
    try:
        from dask.dataframe.dask_expr.io.io import FusedIO
        from dask.dataframe.dask_expr.io.parquet import ReadParquetFSSpec

        # logloss.dask maps a task over each partition, and only under such a task does Dask
        # merge the partitions of a Parquet read that selects few of its columns.
        expression = selected.map_partitions(len, meta=(None, "int64")).optimize(fuse=False).expr
        fused = list(expression.find_operations(FusedIO))
        if fused:
            read = fused[0].operand("_expr")
            bucket = fused[0]._fusion_buckets[partition]
        else:
            read = next(iter(expression.find_operations(ReadParquetFSSpec)))
            bucket = [partition]
        if not isinstance(read, ReadParquetFSSpec) or read.operand("filters") is not None:
            return None
        pieces = []
        for part in (read._plan["parts"][i] for i in bucket):
            pieces += [piece["piece"][:2] for piece in (part if isinstance(part, list) else [part])]
    except (ImportError, AttributeError, KeyError, IndexError, TypeError, StopIteration):
        return None
    return _row_runs(pieces)


def _row_runs(pieces) -> list[tuple[str, int, int]] | None:
    """Return the rows of (file, row groups) pieces, row groups None meaning all, from the footers."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    runs = []
    for file, row_groups in pieces:
        try:
            with open(file, "rb") as source:
                metadata = pq.ParquetFile(source).metadata
        except (pa.ArrowException, OSError):
            return None
        counts = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
        starts = [sum(counts[:i]) for i in range(len(counts))]
        for group in range(len(counts)) if row_groups is None else row_groups:
            runs.append((file, starts[group], counts[group]))
    return runs


# Spark error conditions (the bracketed name that starts Spark's message) of a file that
# cannot be read, or read with the types that Spark expects.
_SPARK_FILE_CONDITIONS = ("FAILED_READ_FILE", "CANNOT_READ_FILE_FOOTER", "PATH_NOT_FOUND", "UNABLE_TO_INFER_SCHEMA")
_SPARK_CONDITION = re.compile(r"\[(?P<condition>[A-Z0-9_.]+)\]")
_SPARK_FILE = re.compile(r"reading file (?P<file>\S.*?)\. ")
_SPARK_COLUMN = re.compile(r"column \[(?P<column>[^\]]+)\]", re.IGNORECASE)


def spark_error_message(error: Exception) -> str:
    """Return the first line of the message of a Spark error, without the Java stack."""
    from py4j.protocol import Py4JError, Py4JJavaError

    if isinstance(error, Py4JJavaError):
        try:
            message = str(error.java_exception.getMessage())
        except Py4JError:
            # The JVM is gone. py4j's text is "An error occurred while calling ...", then
            # ": <Java class>: <message>", then the stack.
            lines = str(error).splitlines()
            message = lines[1].removeprefix(": ") if len(lines) > 1 else lines[0]
    else:
        message = str(error)
    return message.strip().splitlines()[0] if message.strip() else type(error).__name__


def spark_read_error(path: Path, error: Exception) -> DataFileError:
    """Return the error of Spark failing to list or open `path`, before any row is read."""
    return DataFileError(
        f"{display_path(path)}: Spark could not read the Parquet data: {spark_error_message(error)}",
        path=path,
    )


def spark_job_error(path: Path, error: Exception) -> DataFileError | None:
    """Return the error of a Spark job that failed on a file, or None for any other failure.

    Spark's message names the file and the column. A type mismatch means that the files
    of a folder store one column with different types: Spark reads every file with the
    types of one of them.
    """
    message = spark_error_message(error)
    condition = _SPARK_CONDITION.match(message)
    if condition is None or not condition.group("condition").startswith(_SPARK_FILE_CONDITIONS):
        return None
    file = path
    found_file = _SPARK_FILE.search(message)
    if found_file is not None:
        file = _local_path(found_file.group("file"))
    column = _SPARK_COLUMN.search(message)
    subject = "the data" if column is None else f"column `{column.group('column')}`"
    advice = ""
    if "DATA_TYPE_MISMATCH" in condition.group("condition") and column is not None:
        advice = (
            f"; Spark reads every file of a folder with the column types of one of them, so "
            f"write {subject} with the same type in every file"
        )
    return DataFileError(
        f"{display_path(file)}: Spark could not read {subject} ({message}){advice}",
        path=file,
        column=None if column is None else column.group("column"),
    )


def _local_path(text: str) -> str:
    """Return a file URI that Spark printed (file:///tmp/a.parquet) as a local path."""
    parsed = urlparse(text)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    return text
