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
    """
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    columns = {"label": label, "weight": weight, ("prob" if scale == "prob" else "logit"): prediction}
    if engine == "dask":
        import dask
        import dask.dataframe

        from . import dask as engine_module

        frame = dask.dataframe.read_parquet(str(path))
    elif engine == "spark":
        from . import spark as engine_module

        frame = spark_session().read.parquet(str(path))
    else:
        raise ValueError(f"`engine` must be one of {', '.join(ENGINES[1:])}, got {engine!r}")

    try:
        state = engine_module.frame_state(frame, **columns, clip=clip, by=list(by) or None)
        decomposition = engine_module.frame_decomposition_state(frame, **columns) if decompose else None
    except TypeError as error:
        # A column of a type that cannot be scored, or --by keys of two types in two
        # partitions, is a problem of the data, so it is reported with the path.
        from ._io import DataFileTypeError, display_path

        raise DataFileTypeError(f"{display_path(path)}: {error}", path=path) from error
    segments = None
    if by:
        segments, state = state, state.total()
    return EngineScores(state=state, segments=segments, decomposition=decomposition)


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
