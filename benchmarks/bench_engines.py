"""Time logloss.dask and logloss.spark against hand-written reductions on the same engine.

The rows (probability, label, weight) are generated once and written to Parquet. Each engine
loads them into memory first (Dask: persist; Spark: cache), so the timings compare the
reductions, not the file reading; Spark is also timed reading the Parquet file each time.
For each engine the script times:

- logloss on that engine (all 14 sums, the counts and the input checks, one pass);
- a hand-written reduction on the same engine that computes only the mean loss with the
  same stable formula. For Dask it is a map_partitions that computes the loss sum with
  NumPy, summed on the client. For Spark it is one SQL ``avg`` of the loss expression;
- LogLossState on the NumPy arrays in this process, for reference.

Every timing is the minimum of --repeat runs, interleaved. The bar is logloss at most 1.2
times the hand-written reduction.

The Dask workers are threads of this process. It loads logloss's numba kernels before the
timings, as a long-running worker process does once it has summed 2**26 rows (see
``logloss._fast``); ``--fresh-workers`` times the blocked NumPy sums that a worker uses
until then.

Usage: uv run --group bench --extra dask --extra spark python benchmarks/bench_engines.py [--rows 10000000]
[--repeat 5] [--engine dask spark] [--fresh-workers]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from logloss import LogLossState

BAR = 1.2


def make_rows(n_rows: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20261204)
    probability = rng.random(n_rows)
    return {
        "p": probability,
        "y": (rng.random(n_rows) < probability).astype(np.float64),
        "w": rng.exponential(1.0, n_rows),
    }


def min_times(functions: dict, repeat: int) -> dict[str, float]:
    """Run each function `repeat` times, interleaved, and return the fastest time of each."""
    best = dict.fromkeys(functions, float("inf"))
    for _ in range(repeat):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def numpy_mean_loss(part) -> np.ndarray:
    """Return [loss sum, row count] of one pandas partition: the hand-written Dask kernel."""
    p = part["p"].to_numpy()
    y = part["y"].to_numpy()
    loss = -(y * np.log(p) + (1.0 - y) * np.log1p(-p))
    return np.array([loss.sum(), loss.size])


def bench_dask(path: Path, repeat: int, rows: dict) -> dict[str, float]:
    import dask.dataframe as dd
    import distributed

    from logloss.dask import frame_state

    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://", host="127.0.0.1", dashboard_address=None
    )
    with cluster, distributed.Client(cluster):
        # One partition per 500 000 rows, as the Parquet row groups.
        frame = dd.read_parquet(path).repartition(npartitions=max(1, len(rows["p"]) // 500_000)).persist()
        distributed.wait(frame)
        npartitions = frame.npartitions

        timings = min_times(
            {
                "hand-written map_partitions": lambda: _dask_map_partitions_mean(frame),
                "logloss.dask": lambda: frame_state(frame, label="y", prob="p"),
                "logloss.dask, weighted": lambda: frame_state(frame, label="y", prob="p", weight="w"),
                "local LogLossState": lambda: _local(rows, weighted=False),
            },
            repeat,
        )
    print(f"dask: {npartitions} partitions")
    return timings


def _dask_map_partitions_mean(frame) -> float:
    import dask

    partials = frame.map_partitions(numpy_mean_loss, meta=(None, "f8")).to_delayed()
    totals = np.sum(dask.compute(*partials), axis=0)
    return float(totals[0] / totals[1])


def _local(rows: dict, *, weighted: bool) -> LogLossState:
    state = LogLossState()
    state.update(rows["p"], rows["y"], weights=rows["w"] if weighted else None)
    return state


def bench_spark(path: Path, repeat: int, rows: dict) -> dict[str, float]:
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from logloss.spark import frame_state

    builder = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.memory", "4g")
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
        on_disk = spark.read.parquet(str(path))
        frame = spark.read.parquet(str(path)).cache()
        frame.count()
        p, y = F.col("p"), F.col("y")
        loss = -(F.when(y == 0, 0.0).otherwise(F.ln(p) * y) + F.when(y == 1, 0.0).otherwise(F.log1p(-p) * (1.0 - y)))
        timings = min_times(
            {
                "hand-written SQL avg": lambda: frame.select(F.avg(loss)).collect(),
                "logloss.spark": lambda: frame_state(frame, label="y", prob="p"),
                "logloss.spark, weighted": lambda: frame_state(frame, label="y", prob="p", weight="w"),
                "logloss.spark, chunk_bits=None": lambda: frame_state(frame, label="y", prob="p", chunk_bits=None),
                "hand-written SQL avg, from Parquet": lambda: on_disk.select(F.avg(loss)).collect(),
                "logloss.spark, from Parquet": lambda: frame_state(on_disk, label="y", prob="p"),
                "local LogLossState": lambda: _local(rows, weighted=False),
            },
            repeat,
        )
        print(f"spark: {frame.rdd.getNumPartitions()} partitions")
    finally:
        spark.stop()
    return timings


def describe_machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    return f"{platform.platform()}, {os.cpu_count()} CPUs ({model}); uptime: {uptime}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="number of rows (default 1e7)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per timing; the minimum is reported")
    parser.add_argument("--engine", nargs="+", choices=["dask", "spark"], default=["dask", "spark"])
    parser.add_argument(
        "--fresh-workers", action="store_true", help="time the NumPy sums of workers that have not loaded the kernels"
    )
    arguments = parser.parse_args()

    from logloss import _fast

    if arguments.fresh_workers:
        _fast.NUMPY_BUDGET = 2**62
        print("logloss sums: blocked NumPy (fresh workers)")
    elif _fast.available():
        _fast._load_kernels()
        print("logloss sums: numba kernels (loaded before the timings)")
    rows = make_rows(arguments.rows)
    print(describe_machine())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.parquet"
        pq.write_table(pa.table(rows), path, row_group_size=500_000)
        for engine in arguments.engine:
            timings = (bench_dask if engine == "dask" else bench_spark)(path, arguments.repeat, rows)
            baseline = timings["hand-written map_partitions" if engine == "dask" else "hand-written SQL avg"]
            for name, seconds in timings.items():
                # Rows read from Parquet compare with the hand-written reduction that reads it too.
                reference = timings["hand-written SQL avg, from Parquet"] if "from Parquet" in name else baseline
                print(f"  {name:<36} {seconds:8.3f} s  {seconds / reference:5.2f}x hand-written")
            ours = timings[f"logloss.{engine}"] / baseline
            print(f"  bar: logloss.{engine} at most {BAR}x hand-written: {'met' if ours <= BAR else 'NOT met'} ({ours:.2f}x)")
    print(f"after: {describe_machine()}")


if __name__ == "__main__":
    main()
