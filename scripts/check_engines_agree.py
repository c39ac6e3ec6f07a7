"""Check that NumPy, Dask and Spark give the same log loss figures on the same rows.

Writes random rows to a Parquet file and scores them three ways: with LogLossState on NumPy
arrays, with logloss.dask on 1, 7 and 64 partitions (a two-worker LocalCluster on
127.0.0.1), and with logloss.spark on 1 and 16 partitions (local[2]), with the default
chunks and with chunk_bits=None. Prints, per engine and case, the largest relative
difference of the figures and sums from the NumPy values, and exits with status 1 when one
exceeds the bar.

Usage: python scripts/check_engines_agree.py [--rows 1000000] [--tolerance 1e-12]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from logloss import BinnedDecompositionState, GroupedLogLossState, LogLossState
from logloss._state import SUM_FIELDS

FIGURES = (
    "log_loss",
    "normalized_entropy",
    "relative_information_gain",
    "base_rate",
    "entropy",
    "mean_prediction",
    "calibration_ratio",
    "weight_sum",
)
# Case name: (state kind, column options); the kind "decomposition" is the binned state.
CASES = {
    "probability, weighted": ("state", {"prob": "p", "weight": "w"}),
    "probability": ("state", {"prob": "p"}),
    "logit, weighted": ("state", {"logit": "z", "weight": "w"}),
    "segments, weighted": ("state", {"prob": "p", "weight": "w", "by": ["segment"]}),
    "decomposition, weighted": ("decomposition", {"prob": "p", "weight": "w"}),
}
DECOMPOSITION_FIGURES = ("score", "discrimination", "miscalibration", "uncertainty")


def make_rows(n_rows: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20261204)
    probability = rng.random(n_rows)
    return {
        "p": probability,
        "z": rng.normal(0.0, 3.0, n_rows),
        "y": (rng.random(n_rows) < probability).astype(np.float64),
        "w": rng.exponential(1.0, n_rows),
        "segment": rng.integers(0, 8, n_rows),
    }


def local_state(rows, kind: str, options):
    """Return the NumPy-path state of one case."""
    weights = rows[options["weight"]] if "weight" in options else None
    logit = "logit" in options
    prediction = rows["z"] if logit else rows["p"]
    if kind == "decomposition":
        state = BinnedDecompositionState()
        (state.update_logits if logit else state.update)(prediction, rows["y"], weights=weights)
    elif "by" in options:
        state = GroupedLogLossState()
        keys = rows[options["by"][0]]
        (state.update_logits if logit else state.update)(prediction, rows["y"], keys, weights=weights)
    else:
        state = LogLossState()
        (state.update_logits if logit else state.update)(prediction, rows["y"], weights=weights)
    return state


def _relative(value: float, target: float) -> float:
    return 0.0 if value == target else abs(value - target) / abs(target)


def relative_differences(state, reference) -> dict[str, float]:
    """Return the relative difference of every figure and sum of `state` from `reference`."""
    if isinstance(reference, BinnedDecompositionState):
        result, expected = state.result(), reference.result()
        return {name: _relative(getattr(result, name), getattr(expected, name)) for name in DECOMPOSITION_FIGURES}
    if isinstance(reference, GroupedLogLossState):
        differences = {"segments": 0.0 if sorted(state.keys()) == sorted(reference.keys()) else math.inf}
        for key in reference.keys():  # noqa: SIM118 (GroupedLogLossState is no dict)
            for name, difference in relative_differences(state.state(key), reference.state(key)).items():
                differences[f"segment {key}: {name}"] = difference
        return differences

    result, expected = state.result(), reference.result()
    differences = {figure: _relative(getattr(result, figure), getattr(expected, figure)) for figure in FIGURES}
    for name in SUM_FIELDS:
        differences[f"sum {name}"] = _relative(state.sum(name), reference.sum(name))
    if state.count != reference.count:
        differences["count"] = math.inf
    return differences


def engine_states(module, frame, cases):
    """Yield (case, state) for each case, computed by `module` (logloss.dask or logloss.spark)."""
    for case, (kind, options) in cases.items():
        if kind == "decomposition":
            yield case, module.frame_decomposition_state(frame, label="y", **options)
        else:
            yield case, module.frame_state(frame, label="y", **options)


def dask_states(path: Path, options):
    import dask.dataframe as dd
    import distributed

    import logloss.dask

    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://", host="127.0.0.1", dashboard_address=None
    )
    with cluster, distributed.Client(cluster):
        for npartitions in (1, 7, 64):
            frame = dd.read_parquet(path).repartition(npartitions=npartitions)
            for case, state in engine_states(logloss.dask, frame, options):
                yield f"dask, {npartitions} partitions", case, state


def spark_states(path: Path, options):
    from pyspark.sql import SparkSession

    import logloss.spark

    builder = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
    )
    # Keep every Spark service on the loopback interface.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        for npartitions in (1, 16):
            frame = spark.read.parquet(str(path))
            frame = frame.coalesce(1) if npartitions == 1 else frame.repartition(npartitions)
            for case, state in engine_states(logloss.spark, frame, options):
                yield f"spark, {npartitions} partitions", case, state
            # The plain aggregate, without the chunks that keep the sums exact.
            for case in ("probability", "probability, weighted", "logit, weighted"):
                state = logloss.spark.frame_state(frame, label="y", chunk_bits=None, **options[case][1])
                yield f"spark, {npartitions} partitions, chunk_bits=None", case, state
    finally:
        spark.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="number of rows (default 1e6)")
    parser.add_argument("--tolerance", type=float, default=1e-12, help="largest relative difference allowed")
    arguments = parser.parse_args()

    rows = make_rows(arguments.rows)
    references = {case: local_state(rows, kind, options) for case, (kind, options) in CASES.items()}
    worst = 0.0
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.parquet"
        pq.write_table(pa.table(rows), path, row_group_size=100_000)
        for states in (dask_states(path, CASES), spark_states(path, CASES)):
            started = time.perf_counter()
            for engine, case, state in states:
                differences = relative_differences(state, references[case])
                name, largest = max(differences.items(), key=lambda item: item[1])
                worst = max(worst, largest)
                print(f"{engine:<24} {case:<24} max relative difference {largest:.2e} ({name})")
            print(f"  ({time.perf_counter() - started:.1f} s)")
    print(f"{arguments.rows} rows: worst relative difference {worst:.2e}, bar {arguments.tolerance:.0e}")
    return 0 if worst <= arguments.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
