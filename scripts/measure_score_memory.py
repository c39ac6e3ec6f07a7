"""Measure the peak memory (max RSS) of ``logloss score`` on a large generated file.

The file (Parquet, or CSV with ``--format csv``; columns label, prob, logit, weight) is written in a temporary folder by one child
process, scored by ``logloss score`` in another, and deleted afterwards. The scoring child's
max RSS comes from ``os.wait4``. Linux keeps a process's max RSS across fork and exec, so
this parent imports the standard library only: a parent holding NumPy and the generated
data would raise the child's figure to its own. A third child that only imports the CLI
and pyarrow gives the fixed cost that does not depend on the file.

Usage::

    uv run --extra cli python scripts/measure_score_memory.py 10000000
    uv run --extra cli python scripts/measure_score_memory.py 10000000 --format csv
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path



def write_file(path: Path, rows: int, row_group_size: int, seed: int) -> None:
    """Write `rows` random rows in chunks of a million, as CSV or Parquet by the suffix."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    schema = pa.schema([("label", pa.int8()), ("prob", pa.float64()), ("logit", pa.float64()), ("weight", pa.float64())])
    chunk = 1_000_000
    if path.suffix == ".csv":
        writer_context = pa_csv.CSVWriter(path, schema)
    else:
        writer_context = pq.ParquetWriter(path, schema)
    with writer_context as writer:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            logit = rng.normal(-1.0, 2.0, n)
            prob = 1.0 / (1.0 + np.exp(-logit))
            label = (rng.random(n) < prob).astype(np.int8)
            weight = rng.uniform(0.5, 2.0, n)
            table = pa.table({"label": label, "prob": prob, "logit": logit, "weight": weight}, schema=schema)
            if path.suffix == ".csv":
                writer.write_table(table)
            else:
                writer.write_table(table, row_group_size=row_group_size)


def max_rss_mib(command: list[str]) -> tuple[float, float, int]:
    """Run `command`; return its max RSS in MiB, its wall time in seconds and its exit code."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    # Linux reports ru_maxrss in KiB.
    return usage.ru_maxrss / 1024, elapsed, os.waitstatus_to_exitcode(status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", type=int, nargs="?", default=10_000_000, help="rows in the file")
    parser.add_argument("--row-group-size", type=int, default=1 << 20, help="rows per Parquet row group")
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="file format")
    parser.add_argument("--batch-size", type=int, help="passed to logloss score --batch-size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write-only", type=Path, metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_only is not None:
        write_file(args.write_only, args.rows, args.row_group_size, args.seed)
        return

    logloss = shutil.which("logloss", path=str(Path(sys.executable).parent)) or "logloss"
    folder = Path(tempfile.mkdtemp(prefix="logloss-memory-"))
    try:
        path = folder / f"scores.{args.format}"
        writer = [sys.executable, __file__, str(args.rows), "--write-only", str(path)]
        writer += ["--row-group-size", str(args.row_group_size), "--seed", str(args.seed)]
        subprocess.run(writer, check=True)
        size_mib = path.stat().st_size / 2**20
        command = [logloss, "score", str(path), "--prob", "prob", "--weight", "weight", "--json"]
        if args.batch_size:
            command += ["--batch-size", str(args.batch_size)]
        baseline, _, _ = max_rss_mib([sys.executable, "-c", "import logloss.cli, pyarrow.parquet, rich"])
        peak, seconds, code = max_rss_mib(command)
    finally:
        shutil.rmtree(folder)
    layout = f"row group: {args.row_group_size:,} rows, " if args.format == "parquet" else ""
    print(f"rows: {args.rows:,}, {args.format}, {layout}file: {size_mib:.0f} MiB")
    print(f"logloss score: exit code {code}, {seconds:.1f} s, max RSS {peak:.0f} MiB")
    print(f"imports alone (python -c 'import logloss.cli, pyarrow.parquet, rich'): max RSS {baseline:.0f} MiB")
    if code != 0:
        sys.exit(code)


if __name__ == "__main__":
    main()
