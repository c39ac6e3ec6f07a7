"""``logloss score --engine dask|spark``: score Parquet files with a cluster engine.

The engine reads the Parquet file, or every Parquet file in a folder, itself, so no row
passes through this process. Both engines build the same states as the local path, to
within a few float64 roundings.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ._engine_errors import (
    check_folder,
    column_type_error,
    dask_partition_error,
    key_column_error,
    missing_column_error,
    non_utf8_name_error,
    spark_job_error,
    spark_read_error,
    unreadable_advice,
    unreadable_file,
)
from ._frames import ColumnNotFoundError, ColumnTypeError, ColumnValueError, FrameColumns
from ._io import DataFileError, DataFileTypeError, display_path
from ._state import LogLossState

__all__ = ["ENGINES", "EngineScores", "score_with_engine", "spark_session"]

ENGINES = ("local", "dask", "spark")


@dataclass(frozen=True)
class EngineScores:
    """The states an engine computed: all rows, per segment (with `by`) and binned."""

    state: LogLossState
    segments: object = None  # GroupedLogLossState
    decomposition: object = None  # BinnedDecompositionState


def score_with_engine(
    engine: str,
    path: Path,
    *,
    label: str,
    scale: str,
    prediction: str,
    weight: str | None,
    clip: float | None,
    by: tuple[str, ...] = (),
    decompose: bool = False,
) -> EngineScores:
    """Return the states of the Parquet file or folder at `path`, computed by `engine`.

    Dask uses its default scheduler (a distributed Client, when one is active); Spark uses
    the active session, or starts one from the Spark configuration (local[*] by default).
    With `by`, the state of all rows is the total of the segments, so the rows are read
    once for the figures and once more for `decompose`.

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    DataFileError
        For a problem in the data that the engine reports: a missing column, a column that
        is not numeric, an invalid value, a file that the engine cannot read, or a folder
        without Parquet files. The message starts with the file at fault, where known.
    """
    if not path.exists():
        raise FileNotFoundError(f"{display_path(path)}: no such file or folder")
    if engine not in ENGINES[1:]:
        raise ValueError(f"`engine` must be one of {', '.join(ENGINES[1:])}, got {engine!r}")
    if path.is_dir():
        check_folder(path, engine)
    columns = {"label": label, "weight": weight, ("prob" if scale == "prob" else "logit"): prediction}
    options = {"columns": columns, "clip": clip, "by": by, "decompose": decompose}
    if engine == "dask":
        return _score_with_dask(path, **options)
    return _score_with_spark(path, **options)


def _compute(engine_module, frame, *, columns: dict, clip, by: tuple[str, ...], decompose: bool) -> EngineScores:
    state = engine_module.frame_state(frame, **columns, clip=clip, by=list(by) or None)
    segments = None
    if by:
        segments, state = state, state.total()
    decomposition = None
    if decompose:
        decomposition = engine_module.frame_decomposition_state(frame, **columns)
    return EngineScores(state=state, segments=segments, decomposition=decomposition)


def _score_with_dask(path: Path, **options) -> EngineScores:
    import dask.dataframe
    import pyarrow as pa

    from . import dask as engine_module

    bad_name = non_utf8_name_error(path, "dask")
    if bad_name is not None:
        raise bad_name
    try:
        # pandas turns an integer column with nulls into float64, which would round keys
        # above 2**53 and merge their segments (and print 1 as 1.0). Nullable integer and
        # boolean dtypes keep every value, as the local path does.
        frame = dask.dataframe.read_parquet(str(path), arrow_to_pandas={"types_mapper": _nullable_dtype})
    except (ValueError, OSError, pa.ArrowException) as error:
        # Dask wraps its Parquet reader's errors in a ValueError of two lines.
        detail = " ".join(str(error).split())
        file = unreadable_file(path, "dask")
        message = f"{display_path(file)}: Dask could not read the Parquet data ({detail}){unreadable_advice(path, file)}"
        raise DataFileError(message, path=file) from error
    try:
        return _compute(engine_module, frame, **options)
    except ColumnNotFoundError as error:
        raise _not_found(path, "dask", error) from error
    except ColumnTypeError as error:
        raise column_type_error(path, "dask", error.column, str(error.column_type)) from error
    except ColumnValueError as error:
        # A column of the Arrow type null, found in the frame's schema before any partition is read.
        raise DataFileError(f"{display_path(path)}: {error}", path=path, column=error.column) from error
    except KeyError as error:
        # A file without a column that the first file has: pandas raises "['p'] not in index"
        # in the task that reads the file.
        for column in _scored_columns(options):
            if repr(column) in str(error):
                found = missing_column_error(path, "dask", column)
                if found is not None:
                    raise found from error
        raise
    except (TypeError, ValueError, pa.ArrowException) as error:
        if hasattr(error, "partition"):
            # An invalid value in a partition, which logloss.dask numbers.
            selected = engine_module._scored_frame(frame, _frame_columns(options["columns"]), options["by"])
            raise dask_partition_error(path, selected, error) from error
        if isinstance(error, pa.ArrowException):
            found = key_column_error(path, "dask", options["by"])
            if found is not None:
                raise found from error
            # A file that a task could not read, such as a truncated one.
            file = unreadable_file(path, "dask")
            detail = f"{type(error).__name__}: {error}"
            message = f"{display_path(file)}: Dask could not read the data ({detail}){unreadable_advice(path, file)}"
            raise DataFileError(message, path=file) from error
        if isinstance(error, TypeError):
            # --by keys of two types in two partitions (bool in one file, int in another)
            # are a problem of the data, so they are reported with the path.
            raise DataFileTypeError(f"{display_path(path)}: {error}", path=path) from error
        raise


def _nullable_dtype(arrow_type):
    """Return the pandas nullable dtype of an Arrow integer or boolean type, or None for pandas' default."""
    import pandas as pd
    import pyarrow as pa

    if pa.types.is_integer(arrow_type):
        return pd.api.types.pandas_dtype(str(arrow_type).capitalize().replace("Uint", "UInt"))
    if pa.types.is_boolean(arrow_type):
        # pandas turns a boolean column with nulls into objects, which the label check
        # reports as "None of type NoneType" instead of a missing value.
        return pd.BooleanDtype()
    return None


def _frame_columns(columns: dict) -> FrameColumns:
    prediction = columns["prob"] if "prob" in columns else columns["logit"]
    return FrameColumns(label=columns["label"], prediction=prediction, is_logit="logit" in columns, weight=columns["weight"])


def _score_with_spark(path: Path, **options) -> EngineScores:
    from py4j.protocol import Py4JJavaError
    from pyspark.errors.exceptions.captured import CapturedException

    from . import spark as engine_module

    session = spark_session()
    try:
        frame = session.read.parquet(str(path))
    except (CapturedException, Py4JJavaError) as error:
        raise spark_read_error(path, error) from error
    try:
        return _compute(engine_module, frame, **options)
    except ColumnNotFoundError as error:
        raise _not_found(path, "spark", error) from error
    except ColumnTypeError as error:
        raise column_type_error(path, "spark", error.column, error.column_type.simpleString()) from error
    except ColumnValueError as error:
        # Spark reads a column that a file of a folder lacks as NULL.
        found = None
        if path.is_dir() and "NULL" in str(error):
            found = missing_column_error(path, "spark", error.column)
        raise found or DataFileError(f"{display_path(path)}: {error}", path=path, column=error.column) from error
    except (CapturedException, Py4JJavaError) as error:
        translated = spark_job_error(path, error)
        if translated is None:
            raise
        raise translated from error


def _scored_columns(options: dict) -> list[str]:
    return [name for name in (*options["columns"].values(), *options["by"]) if name is not None]


def _not_found(path: Path, engine: str, error: ColumnNotFoundError) -> DataFileError:
    """Return the error of a column that the frame lacks, naming a file without it."""
    found = missing_column_error(path, engine, error.column)
    if found is not None:
        return found
    existing = ", ".join(f"`{name}`" for name in error.available)
    return DataFileError(
        f"{display_path(path)}: column `{error.column}` not found; the data has the columns {existing}",
        path=path,
        column=error.column,
    )


def spark_session():
    """Return the active Spark session, or start one that logs errors only.

    A session started here gets the log4j2 configuration ``data/spark-log4j2.properties``
    (see :func:`quiet_driver_java_options`), so Spark prints neither its start-up banner
    nor its warnings, and no console progress bar. Its log level is set to ERROR once it
    runs. Where the Spark configuration folder has a log4j2 configuration of its own, that
    configuration decides what Spark logs. The active session of the caller, such as a
    notebook's, keeps its settings. logloss's own messages do not go through log4j2.
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    conf_dir = _spark_conf_dir()
    builder = SparkSession.builder.appName("logloss score").config("spark.ui.showConsoleProgress", "false")
    if _has_log4j2_configuration(conf_dir):
        return builder.getOrCreate()
    java_options = quiet_driver_java_options(conf_dir)
    if java_options is not None:
        builder = builder.config("spark.driver.defaultJavaOptions", java_options)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def _spark_conf_dir() -> Path:
    """Return the folder of the Spark configuration files that spark-submit reads."""
    if os.environ.get("SPARK_CONF_DIR"):
        return Path(os.environ["SPARK_CONF_DIR"])
    if os.environ.get("SPARK_HOME"):
        return Path(os.environ["SPARK_HOME"]) / "conf"
    import pyspark

    # A pip-installed PySpark is its own SPARK_HOME.
    return Path(pyspark.__file__).parent / "conf"


def _has_log4j2_configuration(conf_dir: Path) -> bool:
    # spark-submit puts the folder on the class path, where log4j2 looks for these names.
    return any((conf_dir / f"log4j2.{suffix}").is_file() for suffix in ("properties", "xml", "json", "yaml", "yml"))


# A line of spark-defaults.conf (Java properties syntax) that sets the driver's default JVM options.
_DEFAULT_JAVA_OPTIONS_LINE = re.compile(r"\s*spark\.driver\.defaultJavaOptions\s*[=:\s]")


def quiet_driver_java_options(conf_dir: Path) -> str | None:
    """Return the driver JVM option that selects logloss's quiet log4j2 configuration.

    The option goes in ``spark.driver.defaultJavaOptions``, which Spark puts before the
    user's ``spark.driver.extraJavaOptions``, so those follow it and win. Returns None,
    keeping the user's settings, where `conf_dir` has a log4j2 configuration file, which
    the option would override, or a ``spark-defaults.conf`` that sets
    ``spark.driver.defaultJavaOptions``, which the option would replace.
    """
    if _has_log4j2_configuration(conf_dir):
        return None
    defaults = conf_dir / "spark-defaults.conf"
    if defaults.is_file():
        lines = defaults.read_text(encoding="utf-8", errors="replace").splitlines()
        if any(_DEFAULT_JAVA_OPTIONS_LINE.match(line) for line in lines):
            return None
    configuration = Path(__file__).parent / "data" / "spark-log4j2.properties"
    # A file URI has no spaces, which would split Spark's list of options.
    return f"-Dlog4j2.configurationFile={configuration.as_uri()}"
