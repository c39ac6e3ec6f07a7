"""``logloss score --engine dask|spark``: score Parquet files with a cluster engine.

The engine reads the Parquet file, or every Parquet file in a folder, itself, so no row
passes through this process. Both engines build the same states as the local path, to
within a few float64 roundings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ._state import LogLossState

__all__ = ["ENGINES", "EngineScores", "score_with_engine"]

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
        from pyspark.sql import SparkSession

        from . import spark as engine_module

        spark = SparkSession.builder.appName("logloss score").getOrCreate()
        frame = spark.read.parquet(str(path))
    else:
        raise ValueError(f"`engine` must be one of {', '.join(ENGINES[1:])}, got {engine!r}")

    state = engine_module.frame_state(frame, **columns, clip=clip, by=list(by) or None)
    segments = None
    if by:
        segments, state = state, state.total()
    decomposition = None
    if decompose:
        decomposition = engine_module.frame_decomposition_state(frame, **columns)
    return EngineScores(state=state, segments=segments, decomposition=decomposition)
