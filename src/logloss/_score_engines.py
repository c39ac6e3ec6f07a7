"""``logloss score --engine dask|spark``: score Parquet files with a cluster engine.

The engine reads the Parquet file, or every Parquet file in a folder, itself, so no row
passes through this process. Both engines build the same :class:`LogLossState` as the local
path, to within a few float64 roundings.
"""

from __future__ import annotations

from pathlib import Path

from ._state import LogLossState

__all__ = ["ENGINES", "score_with_engine"]

ENGINES = ("local", "dask", "spark")


def _prediction_argument(scale: str, prediction: str) -> dict[str, str]:
    return {"prob": prediction} if scale == "prob" else {"logit": prediction}


def score_with_engine(
    engine: str,
    path: Path,
    *,
    label: str,
    scale: str,
    prediction: str,
    weight: str | None,
    clip: float | None,
) -> LogLossState:
    """Return the state of the Parquet file or folder at `path`, computed by `engine`.

    Dask uses its default scheduler (a distributed Client, when one is active); Spark uses
    the active session, or starts one from the Spark configuration (local[*] by default).
    """
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    options = {"label": label, "weight": weight, "clip": clip, **_prediction_argument(scale, prediction)}
    if engine == "dask":
        import dask.dataframe

        from .dask import frame_state

        return frame_state(dask.dataframe.read_parquet(str(path)), **options)
    if engine == "spark":
        from pyspark.sql import SparkSession

        from .spark import frame_state

        spark = SparkSession.builder.appName("logloss score").getOrCreate()
        return frame_state(spark.read.parquet(str(path)), **options)
    raise ValueError(f"`engine` must be one of {', '.join(ENGINES[1:])}, got {engine!r}")
