"""Time the in-memory mean log loss of logloss and its rivals on the same data in one run.

Each measurement runs in a fresh subprocess that loads the inputs from .npy files, so
every rival starts from the same state and its peak extra memory can be read from the
kernel's high-water mark of the resident set (VmHWM, reset through /proc/self/clear_refs
just before the first call). The first call of each rival is a warm-up (JIT compilation,
thread start-up) and is reported apart; the timed figure is the median of the following
calls. Rivals that are not installed are reported as missing.

Usage::

    uv run --group bench python benchmarks/bench_loss.py --sizes 1e6 1e7 1e8
    uv run --group bench python benchmarks/bench_loss.py --sizes 1e8 --skip-slow-at 1e8

Figures go to the terminal and, as JSON and Markdown, to ``--output`` (default
``benchmarks/results/bench_loss``). The torch wheel is not part of the ``bench`` group; see
docs/benchmarks.md for how it was installed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# rival -> the kinds of input it is timed on ("probability", "logit", "gradient").
RIVALS = {
    "logloss": ("probability", "logit", "gradient"),
    "floor": ("probability", "logit"),
    "numpy": ("probability", "logit", "gradient"),
    "sklearn": ("probability",),
    "torch": ("probability", "logit", "gradient"),
    "jax": ("probability", "logit"),
    "numexpr": ("probability", "logit"),
    "polars": ("probability", "logit"),
}
# Rivals that take tens of seconds at 1e8 and can be skipped at the largest size.
SLOW_RIVALS = ("sklearn", "numpy")
RIVAL_MODULES = {"sklearn": "sklearn", "torch": "torch", "jax": "jax", "numexpr": "numexpr", "polars": "polars"}


# ---------------------------------------------------------------------------------------
# Worker: one rival on one input, in its own process


def _current_rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def _peak_rss(reset_worked: bool) -> int:
    if reset_worked:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _make_floor():
    """Return a function that reads both arrays once, on all cores when numba is there."""
    try:
        from numba import njit, prange
    except ImportError:
        return lambda x, y: float(np.add.reduce(x, dtype=np.float64) + np.add.reduce(y, dtype=np.float64))

    @njit(parallel=True, fastmath=True, cache=True)
    def read_both(x, y):
        total = 0.0
        for i in prange(x.size):
            total += x[i] + y[i]
        return total

    return read_both


def _numpy_functions():
    def probability(p, y):
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))

    def logit(z, y):
        return np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))

    def gradient(z, y):
        loss = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
        grad = (1 / (1 + np.exp(-z)) - y) / z.size
        return loss, grad

    return {"probability": probability, "logit": logit, "gradient": gradient}


def _logloss_functions():
    import logloss
    from logloss import _fast

    # A fresh process runs loss calls on NumPy until they have handled 2**26 elements
    # (see _fast), so without this the timed calls at 1e6 and 1e7 would time NumPy, not the
    # kernels that every later call runs. first_call_time measures a fresh process's first call.
    if _fast.available():
        _fast._load_kernels()

    def gradient(z, y):
        result = _fast.loss_and_gradient_with_logits(z, y)
        if result is None:
            raise RuntimeError("the fast path did not apply: is numba installed?")
        return result

    return {
        "probability": logloss.binary_cross_entropy,
        "logit": logloss.binary_cross_entropy_with_logits,
        "gradient": gradient,
    }


def _sklearn_functions():
    from sklearn.metrics import log_loss

    return {"probability": lambda p, y: log_loss(y, p)}


def _torch_functions():
    import torch
    import torch.nn.functional as F

    def wrap(function):
        return lambda x, y: function(torch.from_numpy(x), torch.from_numpy(y))

    def gradient(z, y):
        logits = torch.from_numpy(z).requires_grad_(True)
        loss = F.binary_cross_entropy_with_logits(logits, torch.from_numpy(y))
        loss.backward()
        return loss.item(), logits.grad

    return {
        "probability": wrap(lambda p, y: F.binary_cross_entropy(p, y).item()),
        "logit": wrap(lambda z, y: F.binary_cross_entropy_with_logits(z, y).item()),
        "gradient": gradient,
    }


def _jax_functions(dtype):
    import jax

    if dtype == np.float64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    @jax.jit
    def probability(p, y):
        return -jnp.mean(y * jnp.log(p) + (1 - y) * jnp.log1p(-p))

    @jax.jit
    def logit(z, y):
        return jnp.mean(jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z))))

    def on_device(function):
        return lambda x, y: function(x, y).block_until_ready()

    def copy_in(x, y):
        return jax.device_put(x).block_until_ready(), jax.device_put(y).block_until_ready()

    return {"probability": on_device(probability), "logit": on_device(logit), "copy_in": copy_in}


def _numexpr_functions():
    import numexpr

    def probability(p, y):
        return -float(numexpr.evaluate("sum(y * log(p) + (1 - y) * log1p(-p))")) / p.size

    def logit(z, y):
        return float(numexpr.evaluate("sum(where(z > 0, z, 0) - z * y + log1p(exp(-abs(z))))")) / z.size

    return {"probability": probability, "logit": logit}


def _polars_functions():
    import polars as pl

    x, y = pl.col("x"), pl.col("y")
    probability_expression = -(y * x.log() + (1 - y) * (1 - x).log()).mean()
    logit_expression = (x.clip(lower_bound=0) - x * y + (-x.abs()).exp().log1p()).mean()

    def frame(x_values, y_values):
        return pl.DataFrame({"x": x_values, "y": y_values})

    return {
        "probability": lambda frame_: frame_.select(probability_expression).item(),
        "logit": lambda frame_: frame_.select(logit_expression).item(),
        "prepare": frame,
    }


def _rival_functions(rival, dtype):
    if rival == "logloss":
        return _logloss_functions()
    if rival == "numpy":
        return _numpy_functions()
    if rival == "floor":
        floor = _make_floor()
        return {"probability": floor, "logit": floor}
    if rival == "sklearn":
        return _sklearn_functions()
    if rival == "torch":
        return _torch_functions()
    if rival == "jax":
        return _jax_functions(dtype)
    if rival == "numexpr":
        return _numexpr_functions()
    if rival == "polars":
        return _polars_functions()
    raise ValueError(f"unknown rival {rival!r}")


def run_worker(rival: str, kind: str, x_path: str, y_path: str, repeat: int, time_budget: float) -> dict:
    """Time one rival on one input; return the figures as a dict."""
    x_probe = np.load(x_path, mmap_mode="r")
    functions = _rival_functions(rival, x_probe.dtype)
    del x_probe
    function = functions[kind]

    x = np.load(x_path)
    y = np.load(y_path)
    input_bytes = x.nbytes + y.nbytes
    record = {"rival": rival, "kind": kind, "n": int(x.size), "dtype": str(x.dtype), "input_bytes": input_bytes}

    # A warm-up on a small copy imports what the call needs and starts its threads, so the
    # peak below counts the memory of the full-size call, not of a library's first use.
    small = (x[:100_000].copy(), y[:100_000].copy())
    if "copy_in" in functions:
        small = functions["copy_in"](*small)
    if "prepare" in functions:
        small = (functions["prepare"](*small),)
    function(*small)

    rss_before = _current_rss()
    reset_worked = _reset_peak_rss()
    arguments = (x, y)
    if "copy_in" in functions:
        start = time.perf_counter()
        arguments = functions["copy_in"](x, y)
        record["copy_in_s"] = time.perf_counter() - start
    if "prepare" in functions:
        start = time.perf_counter()
        arguments = (functions["prepare"](x, y),)
        record["prepare_s"] = time.perf_counter() - start

    start = time.perf_counter()
    function(*arguments)
    record["first_call_s"] = time.perf_counter() - start

    times = []
    budget_end = time.perf_counter() + time_budget
    for _ in range(repeat):
        start = time.perf_counter()
        function(*arguments)
        times.append(time.perf_counter() - start)
        if time.perf_counter() > budget_end:
            break
    record["times_s"] = times
    record["median_s"] = statistics.median(times)
    record["peak_extra_bytes"] = max(0, _peak_rss(reset_worked) - rss_before)
    record["peak_measure"] = "VmHWM" if reset_worked else "ru_maxrss"
    return record


# ---------------------------------------------------------------------------------------
# Driver: data, one subprocess per measurement, tables


def _make_inputs(directory: Path, n: int, dtype) -> dict[str, Path]:
    """Write probabilities, logits and Bernoulli labels of a calibrated model as .npy files."""
    rng = np.random.default_rng(20261204)
    paths = {}
    z = rng.normal(0.0, 2.0, n)
    p = 1.0 / (1.0 + np.exp(-z))
    y = (rng.random(n) < p).astype(dtype)
    for name, values in (("logit", z), ("probability", p), ("label", y)):
        path = directory / f"{name}_{n}_{np.dtype(dtype).name}.npy"
        np.save(path, values.astype(dtype, copy=False))
        paths[name] = path
    return paths


def _available(rival: str) -> bool:
    module = RIVAL_MODULES.get(rival)
    if module is None:
        return True
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _run_subprocess(rival, kind, x_path, y_path, repeat, time_budget):
    command = [
        sys.executable,
        __file__,
        "--worker",
        rival,
        kind,
        str(x_path),
        str(y_path),
        "--repeat",
        str(repeat),
        "--time-budget",
        str(time_budget),
    ]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        tail = completed.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"rival": rival, "kind": kind, "error": tail[0]}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def first_call_time(n: int = 1_000_000) -> dict:
    """Time ``import logloss`` and its first fast-path call on n float64 values, in a fresh process."""
    script = (
        "import time, numpy as np\n"
        f"p = np.random.default_rng(0).uniform(0.01, 0.99, {n}); y = (p > 0.5).astype(np.float64)\n"
        "start = time.perf_counter()\n"
        "import logloss\n"
        "imported = time.perf_counter()\n"
        "logloss.binary_cross_entropy(p, y)\n"
        "done = time.perf_counter()\n"
        "from logloss import _fast\n"
        "print(imported - start, done - imported, 'numpy' if _fast._kernels is None else 'kernels')\n"
    )
    subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)  # fill the cache
    runs = []
    for _ in range(3):
        output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
        import_s, call_s, engine = output.split()
        runs.append((float(import_s), float(call_s), engine))
    return {
        "n": n,
        "import_logloss_s": statistics.median(r[0] for r in runs),
        "first_call_s": statistics.median(r[1] for r in runs),
        "engine": runs[-1][2],
    }


def machine_description() -> dict:
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        memory_kib = int(meminfo.readline().split()[1])
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for name in ("logloss", "numba", "sklearn", "torch", "jax", "numexpr", "polars", "pandas", "pyarrow"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = "missing"
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 2**20, 1),
        "load_average": os.getloadavg(),
        "versions": versions,
    }


def _format_seconds(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4f}" if value < 1 else f"{value:.2f}"


def _ratio_rows(records):
    """Group records by input and add each rival's time relative to logloss."""
    rows = []
    groups = {}
    for record in records:
        groups.setdefault((record.get("n"), record.get("dtype"), record["kind"]), []).append(record)
    for (n, dtype, kind), group in groups.items():
        ours = next((r for r in group if r["rival"] == "logloss" and "median_s" in r), None)
        for record in group:
            row = dict(record)
            if ours and "median_s" in record:
                row["ratio_to_logloss"] = record["median_s"] / ours["median_s"]
                row["peak_extra_fraction_of_input"] = record["peak_extra_bytes"] / record["input_bytes"]
            rows.append(row)
    return rows


def to_markdown(rows, machine, first_call) -> str:
    lines = [
        "| n | dtype | input | rival | median s | time / logloss | first call s | peak extra MB | extra / input |",
        "| ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        if "median_s" not in row:
            reason = row.get("error", "missing")
            lines.append(f"| {row.get('n', '-')} | {row.get('dtype', '-')} | {row['kind']} | {row['rival']} | {reason} | | | | |")
            continue
        extra = ""
        if "copy_in_s" in row:
            extra = f" (copy-in {row['copy_in_s']:.3f} s)"
        if "prepare_s" in row:
            extra = f" (DataFrame {row['prepare_s']:.3f} s)"
        lines.append(
            f"| {row['n']:.0e} | {row['dtype']} | {row['kind']} | {row['rival']}{extra} | "
            f"{_format_seconds(row['median_s'])} | {row.get('ratio_to_logloss', float('nan')):.2f} | "
            f"{_format_seconds(row['first_call_s'])} | {row['peak_extra_bytes'] / 1e6:.1f} | "
            f"{row.get('peak_extra_fraction_of_input', float('nan')):.4f} |"
        )
    lines.append("")
    lines.append(
        f"First call in a fresh process ({first_call['n']:.0e} float64): import logloss "
        f"{first_call['import_logloss_s']:.3f} s, first call {first_call['first_call_s']:.3f} s "
        f"(engine: {first_call['engine']})."
    )
    lines.append(f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB.")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1e6", "1e7"], help="numbers of elements, such as 1e6 1e7 1e8")
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    parser.add_argument("--kinds", nargs="+", default=["probability", "logit", "gradient"])
    parser.add_argument("--rivals", nargs="+", default=list(RIVALS), help=f"subset of {', '.join(RIVALS)}")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls after the warm-up (default 5)")
    parser.add_argument("--time-budget", type=float, default=20.0, help="stop repeating after this many seconds")
    parser.add_argument(
        "--skip-slow-at",
        default=None,
        help="skip scikit-learn and the NumPy formulas on float32 at this size and above",
    )
    parser.add_argument("--output", default="benchmarks/results/bench_loss", help="path prefix of the .json and .md files")
    parser.add_argument("--data-dir", default=None, help="folder for the temporary .npy inputs (default: a temporary one)")
    parser.add_argument("--worker", nargs=4, metavar=("RIVAL", "KIND", "X", "Y"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        rival, kind, x_path, y_path = args.worker
        print(json.dumps(run_worker(rival, kind, x_path, y_path, args.repeat, args.time_budget)))
        return 0

    machine = machine_description()
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, load average before {machine['load_average']}")
    first_call = first_call_time()
    print(f"first call: {first_call}")
    sizes = [int(float(size)) for size in args.sizes]
    skip_at = int(float(args.skip_slow_at)) if args.skip_slow_at else None
    records = []
    with tempfile.TemporaryDirectory(dir=args.data_dir) as directory:
        for n in sizes:
            for dtype in args.dtypes:
                paths = _make_inputs(Path(directory), n, np.dtype(dtype))
                for kind in args.kinds:
                    x_path = paths["probability" if kind == "probability" else "logit"]
                    for rival in args.rivals:
                        if kind not in RIVALS[rival]:
                            continue
                        base = {"rival": rival, "kind": kind, "n": n, "dtype": dtype}
                        if not _available(rival):
                            records.append({**base, "error": "missing"})
                            continue
                        slow = rival in SLOW_RIVALS and dtype != "float64"
                        if skip_at is not None and n >= skip_at and slow:
                            records.append({**base, "error": "skipped (--skip-slow-at)"})
                            continue
                        record = _run_subprocess(rival, kind, x_path, paths["label"], args.repeat, args.time_budget)
                        records.append({**base, **record})
                        print(json.dumps({k: v for k, v in records[-1].items() if k != "times_s"}), flush=True)
                for path in paths.values():
                    path.unlink()

    machine["load_average_after"] = os.getloadavg()
    rows = _ratio_rows(records)
    markdown = to_markdown(rows, machine, first_call)
    print(markdown)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps({"machine": machine, "first_call": first_call, "rows": rows}, indent=1))
    output.with_suffix(".md").write_text(markdown)
    print(f"load average after: {machine['load_average_after']}; wrote {output}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
