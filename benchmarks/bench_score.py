"""Time ``logloss score`` on a Parquet file against polars streaming, pandas and a bare read.

The script writes a Parquet file of ``--rows`` rows (columns label, prob, logit, weight
and a segment key with ``--segments`` values) and runs every candidate in a fresh process,
``--repeat`` times after one untimed run. Two times are reported per candidate: the work inside the process
(reading and scoring, after the imports) and the whole process from start to exit, which
adds the interpreter start and the imports. The "second call" candidates time a second
``logloss score`` in the same process, once numba and its cached kernels are loaded. Peak memory is the process's resident-set
high-water mark (VmHWM) at exit.

Usage::

    uv run --group bench --group test python benchmarks/bench_score.py --rows 1e7

Figures go to the terminal and, as JSON and Markdown, to ``--output`` (default
``benchmarks/results/bench_score``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# Each candidate is a script run as ``python -c``; it prints the in-process seconds.
_PRELUDE = "import sys, time\npath = sys.argv[1]\n"
# logloss and pandas import pyarrow.parquet on first use. Importing it before the timer, as the
# pyarrow candidates do, keeps every library's imports out of the "work" figure. The
# whole-process figure includes them all.
_IMPORT_PARQUET = "import pyarrow.parquet\n"
CANDIDATES = {
    "pyarrow read": (
        "import pyarrow.parquet as pq\n"
        "start = time.perf_counter()\n"
        "table = pq.read_table(path, columns=['label', 'prob'])\n"
        "print(time.perf_counter() - start)\n"
    ),
    # The read that logloss score does (batches of its default size, 2**18 rows), without the
    # scoring: the floor of its time.
    "pyarrow read, batches": (
        "import pyarrow.parquet as pq\n"
        "start = time.perf_counter()\n"
        "rows = sum(batch.num_rows for batch in pq.ParquetFile(path).iter_batches(262144, columns=['label', 'prob']))\n"
        "print(time.perf_counter() - start)\n"
    ),
    "logloss score_file": (
        _IMPORT_PARQUET
        + "from logloss import score_file\n"
        "start = time.perf_counter()\n"
        "result = score_file(path, label='label', prob='prob')\n"
        "print(time.perf_counter() - start)\n"
    ),
    "logloss score (CLI)": (
        _IMPORT_PARQUET
        + "from logloss.cli import cli\n"
        "start = time.perf_counter()\n"
        "try:\n"
        "    cli.main(['score', path, '--label', 'label', '--prob', 'prob', '--json'], standalone_mode=False)\n"
        "finally:\n"
        "    print(time.perf_counter() - start, file=sys.stderr)\n"
    ),
    "logloss score --by segment (CLI)": (
        _IMPORT_PARQUET
        + "from logloss.cli import cli\n"
        "start = time.perf_counter()\n"
        "try:\n"
        "    cli.main(['score', path, '--label', 'label', '--prob', 'prob', '--by', 'segment', '--json'],"
        " standalone_mode=False)\n"
        "finally:\n"
        "    print(time.perf_counter() - start, file=sys.stderr)\n"
    ),
    "logloss score (CLI), second call": (
        "import contextlib, io\n"
        "from logloss.cli import cli\n"
        "arguments = ['score', path, '--label', 'label', '--prob', 'prob', '--json']\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    cli.main(arguments, standalone_mode=False)\n"
        "    start = time.perf_counter()\n"
        "    cli.main(arguments, standalone_mode=False)\n"
        "    elapsed = time.perf_counter() - start\n"
        "print(elapsed)\n"
    ),
    "logloss score --by segment (CLI), second call": (
        "import contextlib, io\n"
        "from logloss.cli import cli\n"
        "arguments = ['score', path, '--label', 'label', '--prob', 'prob', '--by', 'segment', '--json']\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    cli.main(arguments, standalone_mode=False)\n"
        "    start = time.perf_counter()\n"
        "    cli.main(arguments, standalone_mode=False)\n"
        "    elapsed = time.perf_counter() - start\n"
        "print(elapsed)\n"
    ),
    "polars streaming": (
        "import polars as pl\n"
        "y, p = pl.col('label'), pl.col('prob')\n"
        "expression = -(y * p.log() + (1 - y) * (1 - p).log()).mean()\n"
        "start = time.perf_counter()\n"
        "value = pl.scan_parquet(path).select(expression).collect(engine='streaming').item()\n"
        "print(time.perf_counter() - start)\n"
    ),
    "polars streaming, by segment": (
        "import polars as pl\n"
        "y, p = pl.col('label'), pl.col('prob')\n"
        "expression = -(y * p.log() + (1 - y) * (1 - p).log()).mean()\n"
        "start = time.perf_counter()\n"
        "frame = pl.scan_parquet(path).group_by('segment').agg(expression).collect(engine='streaming')\n"
        "print(time.perf_counter() - start)\n"
    ),
    "pandas + NumPy": (
        _IMPORT_PARQUET
        + "import numpy as np, pandas as pd\n"
        "start = time.perf_counter()\n"
        "frame = pd.read_parquet(path, columns=['label', 'prob'])\n"
        "y, p = frame['label'].to_numpy(), frame['prob'].to_numpy()\n"
        "value = -np.mean(y * np.log(p) + (1 - y) * np.log1p(-p))\n"
        "print(time.perf_counter() - start)\n"
    ),
}
_PEAK = (
    "\nwith open('/proc/self/status') as status:\n"
    "    peak = [line.split()[1] for line in status if line.startswith('VmHWM:')][0]\n"
    "print('PEAK', int(peak) * 1024, file=sys.stderr)\n"
)


def write_file(path: Path, rows: int, segments: int) -> None:
    """Write a Parquet file of a calibrated model's predictions with a segment column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(20261204)
    logit = rng.normal(0.0, 2.0, rows)
    prob = 1.0 / (1.0 + np.exp(-logit))
    label = (rng.random(rows) < prob).astype(np.int8)
    # Sample weights, which no candidate reads: they make the file as wide as a real one, so
    # that reading only the needed columns counts.
    weight = rng.uniform(0.5, 2.0, rows)
    segment = rng.integers(0, segments, rows).astype(np.int32)
    table = pa.table({"label": label, "prob": prob, "logit": logit, "weight": weight, "segment": segment})
    pq.write_table(table, path, row_group_size=1 << 20)


def child_environment() -> dict:
    """Return this process's environment with Python's bytecode cache switched on.

    With PYTHONDONTWRITEBYTECODE set, every module that has no .pyc file yet (uv installs
    packages without one) is compiled from source in every run. That added over 1 s to
    each logloss first call (numba, pandas) and to the bare read, which users whose
    Python caches bytecode, the default, do not pay.
    """
    environment = dict(os.environ)
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    return environment


def run_candidate(script: str, path: Path) -> dict:
    """Run one candidate in a fresh process; return its in-process and whole-process times."""
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", _PRELUDE + script + _PEAK, str(path)],
        capture_output=True,
        text=True,
        env=child_environment(),
    )
    process_s = time.perf_counter() - start
    if completed.returncode != 0:
        return {"error": (completed.stderr.strip().splitlines() or ["failed"])[-1]}
    lines = (completed.stdout + completed.stderr).splitlines()
    peak = int(next(line.split()[1] for line in lines if line.startswith("PEAK")))
    work = [float(line) for line in lines if _is_number(line)]
    return {"work_s": work[-1], "process_s": process_s, "peak_rss_bytes": peak}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1e7", help="rows of the Parquet file (default 1e7)")
    parser.add_argument("--segments", type=int, default=50, help="distinct segment keys (default 50)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per candidate; the median is reported")
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), help="subset of the candidates")
    parser.add_argument("--output", default="benchmarks/results/bench_score", help="path prefix of the .json and .md files")
    args = parser.parse_args(argv)
    rows = int(float(args.rows))

    load_before = os.getloadavg()
    records = []
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "scores.parquet"
        write_file(path, rows, args.segments)
        for name in args.candidates:
            # An untimed run fills the OS page cache, numba's cache and the bytecode cache.
            run_candidate(CANDIDATES[name], path)
            runs = [run_candidate(CANDIDATES[name], path) for _ in range(args.repeat)]
            failed = [run for run in runs if "error" in run]
            if failed:
                records.append({"candidate": name, "error": failed[0]["error"]})
            else:
                records.append(
                    {
                        "candidate": name,
                        "work_s": statistics.median(run["work_s"] for run in runs),
                        "process_s": statistics.median(run["process_s"] for run in runs),
                        "peak_rss_bytes": max(run["peak_rss_bytes"] for run in runs),
                    }
                )
            print(json.dumps(records[-1]), flush=True)

    lines = [
        f"{rows:.0e} rows, {args.segments} segments; load average before {load_before}, after {os.getloadavg()}",
        "",
        "| candidate | work s | whole process s | peak RSS MB |",
        "| --- | ---: | ---: | ---: |",
    ]
    for record in records:
        if "error" in record:
            lines.append(f"| {record['candidate']} | {record['error']} | | |")
        else:
            lines.append(
                f"| {record['candidate']} | {record['work_s']:.3f} | {record['process_s']:.3f} | "
                f"{record['peak_rss_bytes'] / 1e6:.0f} |"
            )
    markdown = "\n".join(lines) + "\n"
    print(markdown)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps({"rows": rows, "records": records}, indent=1))
    output.with_suffix(".md").write_text(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
