"""Measure the error of logloss and of other libraries against mpmath, in units in the last place.

For each dtype (float64, float32, float16, bfloat16) the script builds a grid of inputs that
the dtype represents exactly, computes the loss, its gradient and (for logloss) its Hessian
per element, and compares each with a 40-digit mpmath value of the same input:

- probabilities: every power of two from the smallest subnormal up to 1/2, random values
  log-uniform over the whole range, values 1 - 2**-k up to 1 - eps, and 0 and 1; labels 0
  and 1 (and, in float64 only, the soft labels 0.25 and 0.75 as a separate row);
- logits: 0, +-2**k over the whole exponent range, random values, +-1e308 (the dtype's
  largest finite value where 1e308 overflows) and +-inf; the same labels.

The error of a value is |computed - exact| / ulp(exact), where ulp is the spacing of the
dtype at the exact value (subnormal spacing below the normal range). A result that should be
infinite and is infinite counts as error 0. NaN where the exact value is a number is counted
separately and also shown as error inf.

Rivals, on the same grid where they accept the dtype: the NumPy one-liner
``-(y*log(p) + (1-y)*log(1-p))`` (logits: through ``1/(1+exp(-z))``), scikit-learn's
``log_loss`` (probabilities only, per element, default clipping), PyTorch's
``binary_cross_entropy`` and ``binary_cross_entropy_with_logits`` (gradients by autograd),
and JAX with the ``log_sigmoid`` formula that optax uses (gradients by ``jax.grad``).
"logloss (torch formulas)" is logloss on PyTorch tensors with the host route turned off
(``logloss._host.formulas_only``): the array-API formulas that run on other devices and
under tracing. On the CPU, PyTorch tensors otherwise get the "logloss" column's values.

Run from the repository root: ``uv run --group test python scripts/accuracy.py``; it writes
``docs/accuracy.md`` (``--output`` to change) and takes about a minute.
"""

from __future__ import annotations

import argparse
import math
import platform
import time
import warnings
from pathlib import Path

import ml_dtypes
import mpmath
import numpy as np

import logloss
from logloss import _host

mpmath.mp.dps = 40
DTYPES = {
    "float64": np.dtype(np.float64),
    "float32": np.dtype(np.float32),
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
}


# --- grids -------------------------------------------------------------------------------


def probability_grid(dtype, rng) -> np.ndarray:
    info = ml_dtypes.finfo(dtype)
    smallest = int(info.minexp) - int(info.nmant)
    powers = 2.0 ** np.arange(smallest, 0)
    random = 2.0 ** rng.uniform(smallest, 0, 3000) * rng.uniform(1, 2, 3000) / 2
    near_one = 1.0 - 2.0 ** -np.arange(1, int(info.nmant) + 2)
    near_one_random = 1.0 - 10.0 ** -rng.uniform(0, 16, 300)
    values = np.concatenate([[0.0, 1.0], powers, random, near_one, near_one_random])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cast = values.astype(dtype)
    cast = cast[(cast.astype(np.float64) >= 0) & (cast.astype(np.float64) <= 1)]
    return np.unique(cast.astype(np.float64)).astype(dtype)


def logit_grid(dtype, rng) -> np.ndarray:
    info = ml_dtypes.finfo(dtype)
    smallest = int(info.minexp) - int(info.nmant)
    largest = float(info.max)
    powers = 2.0 ** np.arange(smallest, int(info.maxexp))
    random = rng.normal(0, 20, 2000)
    medium = 10.0 ** rng.uniform(-5, 3, 1000)
    huge = min(1e308, largest)
    magnitudes = np.concatenate([powers, medium, [huge, largest, np.inf]])
    values = np.concatenate([[0.0], magnitudes, -magnitudes, random])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cast = values.astype(dtype)
    return np.unique(cast.astype(np.float64)).astype(dtype)


# --- exact values ------------------------------------------------------------------------


def exact_probability(p: float, y: float):
    """Return (loss, gradient, hessian) for a probability as mpmath numbers (or inf)."""
    p, y = mpmath.mpf(p), mpmath.mpf(y)
    inf = mpmath.inf
    if p == 0:
        loss = inf if y > 0 else mpmath.mpf(0)
        gradient = -inf if y > 0 else (1 - y)
        hessian = inf if y > 0 else (1 - y)
        return loss, gradient, hessian
    if p == 1:
        loss = inf if y < 1 else mpmath.mpf(0)
        gradient = inf if y < 1 else -y
        hessian = inf if y < 1 else y
        return loss, gradient, hessian
    loss = -(y * mpmath.log(p) + (1 - y) * mpmath.log1p(-p))
    gradient = (1 - y) / (1 - p) - y / p
    hessian = y / p**2 + (1 - y) / (1 - p) ** 2
    return loss, gradient, hessian


def exact_logit(z: float, y: float):
    """Return (loss, gradient, hessian) for a logit as mpmath numbers (or inf)."""
    y = mpmath.mpf(y)
    if math.isinf(z):
        if z > 0:
            return (mpmath.inf if y < 1 else mpmath.mpf(0)), 1 - y, mpmath.mpf(0)
        return (mpmath.inf if y > 0 else mpmath.mpf(0)), -y, mpmath.mpf(0)
    z = mpmath.mpf(z)
    positive = 1 / (1 + mpmath.exp(-z))
    negative = 1 / (1 + mpmath.exp(z))
    loss = y * mpmath.log1p(mpmath.exp(-z)) + (1 - y) * mpmath.log1p(mpmath.exp(z))
    return loss, (1 - y) * positive - y * negative, positive * negative


# --- errors in ulp -----------------------------------------------------------------------


def ulp_errors(computed: np.ndarray, exact: list, dtype) -> tuple[float, int]:
    """Return (maximum error in ulp, count of NaN where the exact value is a number)."""
    info = ml_dtypes.finfo(dtype)
    nmant, minexp, largest = int(info.nmant), int(info.minexp), mpmath.mpf(float(info.max))
    overflow = largest + mpmath.ldexp(1, int(info.maxexp) - 1 - nmant - 1)
    worst, nan_count = 0.0, 0
    for value, reference in zip(computed.astype(np.float64).tolist(), exact):
        if math.isnan(value):
            nan_count += 1
            worst = math.inf
            continue
        if mpmath.isinf(reference) or abs(reference) >= overflow:
            expected_inf = mpmath.inf if reference > 0 else -mpmath.inf
            if not (math.isinf(value) and mpmath.mpf(value) == expected_inf):
                worst = math.inf
            continue
        if math.isinf(value):
            worst = math.inf
            continue
        if reference == 0:
            exponent = minexp
        else:
            exponent = max(int(mpmath.floor(mpmath.log(abs(reference), 2))), minexp)
        ulp = mpmath.ldexp(1, exponent - nmant)
        worst = max(worst, float(abs(mpmath.mpf(value) - reference) / ulp))
    return worst, nan_count


# --- implementations ---------------------------------------------------------------------


def logloss_numpy(entry, x, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", logloss.InfiniteLossWarning)
        if entry == "probability":
            loss = logloss.binary_cross_entropy(x, y, reduction="none")
            gradient, hessian = logloss.binary_cross_entropy_grad_hess(x, y)
        else:
            loss = logloss.binary_cross_entropy_with_logits(x, y, reduction="none")
            gradient, hessian = logloss.binary_cross_entropy_with_logits_grad_hess(x, y)
    return loss, gradient, hessian


def numpy_one_liner(entry, x, y):
    with np.errstate(all="ignore"):
        p = x if entry == "probability" else 1 / (1 + np.exp(-x))
        y = y.astype(x.dtype)
        one = np.asarray(1, dtype=x.dtype)
        loss = -(y * np.log(p) + (one - y) * np.log(one - p))
        if entry == "probability":
            gradient = (p - y) / (p * (one - p))
        else:
            gradient = p - y
    return loss, gradient, None


def sklearn_log_loss(entry, x, y):
    if entry != "probability":
        return None
    from sklearn.metrics import log_loss

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = np.array([log_loss([label], [value], labels=[0, 1]) for value, label in zip(x, y)])
    return loss.astype(x.dtype), None, None


def _torch_dtype(torch, dtype):
    return {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype.name]


def torch_functional(entry, x, y):
    import torch

    dtype = _torch_dtype(torch, x.dtype)
    inputs = torch.tensor(x.astype(np.float64), dtype=dtype, requires_grad=True)
    target = torch.tensor(y.astype(np.float64), dtype=dtype)
    function = torch.nn.functional.binary_cross_entropy
    if entry == "logit":
        function = torch.nn.functional.binary_cross_entropy_with_logits
    loss = function(inputs, target, reduction="none")
    loss.sum().backward()
    return loss.detach().double().numpy(), inputs.grad.double().numpy(), None


def logloss_torch(entry, x, y):
    import torch

    dtype = _torch_dtype(torch, x.dtype)
    inputs = torch.tensor(x.astype(np.float64), dtype=dtype)
    target = torch.tensor(y.astype(np.float64), dtype=dtype)
    with warnings.catch_warnings(), _host.formulas_only():
        warnings.simplefilter("ignore", logloss.InfiniteLossWarning)
        if entry == "probability":
            loss = logloss.binary_cross_entropy(inputs, target, reduction="none")
            gradient, hessian = logloss.binary_cross_entropy_grad_hess(inputs, target)
        else:
            loss = logloss.binary_cross_entropy_with_logits(inputs, target, reduction="none")
            gradient, hessian = logloss.binary_cross_entropy_with_logits_grad_hess(inputs, target)
    return loss.double().numpy(), gradient.double().numpy(), hessian.double().numpy()


def jax_log_sigmoid(entry, x, y):
    import jax
    import jax.numpy as jnp

    if x.dtype == np.float64 and not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)
    inputs = jnp.asarray(x)
    target = jnp.asarray(y.astype(x.dtype))

    if entry == "probability":

        def elementwise(a, b):
            return -(jax.scipy.special.xlogy(b, a) + jax.scipy.special.xlog1py(1 - b, -a))

    else:

        def elementwise(a, b):
            return -(b * jax.nn.log_sigmoid(a) + (1 - b) * jax.nn.log_sigmoid(-a))

    loss = elementwise(inputs, target)
    gradient = jax.vmap(jax.grad(elementwise))(inputs, target)
    return np.asarray(loss).astype(np.float64), np.asarray(gradient).astype(np.float64), None


IMPLEMENTATIONS = {
    "logloss": logloss_numpy,
    "logloss (torch formulas)": logloss_torch,
    "NumPy one-liner": numpy_one_liner,
    "scikit-learn log_loss": sklearn_log_loss,
    "PyTorch": torch_functional,
    "JAX (log_sigmoid)": jax_log_sigmoid,
}


# --- driver ------------------------------------------------------------------------------


def measure(dtype, entry, x, y) -> dict:
    exact_function = exact_probability if entry == "probability" else exact_logit
    exact = [exact_function(a, b) for a, b in zip(x.astype(np.float64).tolist(), y.tolist())]
    rows = {}
    for name, implementation in IMPLEMENTATIONS.items():
        try:
            results = implementation(entry, x, y)
        except (ImportError, RuntimeError, TypeError, ValueError, NotImplementedError) as error:
            rows[name] = f"unsupported ({type(error).__name__})"
            continue
        if results is None:
            rows[name] = None
            continue
        measured = {}
        for index, quantity in enumerate(("loss", "gradient", "hessian")):
            if results[index] is None:
                continue
            measured[quantity] = ulp_errors(np.asarray(results[index]), [e[index] for e in exact], dtype)
        rows[name] = measured
    return rows


def format_error(value) -> str:
    error, nan_count = value
    if math.isinf(error):
        text = "inf"
    elif error >= 1e6:
        text = f"{error:.1e}"
    else:
        text = f"{error:.3g}"
    return text + (f" ({nan_count} NaN)" if nan_count else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("docs/accuracy.md"))
    arguments = parser.parse_args()
    rng = np.random.default_rng(20261204)
    started = time.perf_counter()

    sections = []
    for dtype_name, dtype in DTYPES.items():
        grids = {"probability": probability_grid(dtype, rng), "logit": logit_grid(dtype, rng)}
        label_sets = [("0 and 1", (0.0, 1.0))]
        if dtype_name == "float64":
            label_sets.append(("0.25 and 0.75", (0.25, 0.75)))
        for entry, grid in grids.items():
            for label_name, labels in label_sets:
                x = np.concatenate([grid] * len(labels))
                y = np.repeat(np.asarray(labels), grid.size)
                rows = measure(dtype, entry, x, y)
                sections.append((dtype_name, entry, label_name, x.size, rows))
                print(f"{dtype_name} {entry} labels {label_name}: {x.size} points done")

    lines = [
        "# Accuracy against mpmath",
        "",
        "Maximum error in units in the last place (ulp) of the result dtype, per element, over",
        "the grids of `scripts/accuracy.py` (its docstring lists them). `inf` means a result",
        "that should be finite was infinite or NaN, or the reverse; `(k NaN)` counts NaN where",
        "the exact value is a number. `—` means the library has no such entry point or quantity.",
        "`unsupported` means the library rejected that dtype.",
        "",
        f"Generated by `python scripts/accuracy.py` with NumPy {np.__version__} on "
        f"{platform.machine()} {platform.system()} in {time.perf_counter() - started:.0f} s.",
        "",
        "How to read it:",
        "",
        "- \"logloss\" is the NumPy path. It evaluates every formula in long double where that",
        "  type is wider than float64 (x86-64 Linux) and rounds once, so float64 results are",
        "  within about 0.5 ulp. Without a wider long double (ARM macOS, Windows) it runs the",
        "  same formulas in float64, with the errors of the \"logloss (torch formulas)\" float64 rows.",
        "- PyTorch tensors on the CPU go through the NumPy path and get the \"logloss\" values.",
        "  \"logloss (torch formulas)\" turns that route off to show the array-API formulas that",
        "  run on other devices and under tracing. They compute float32 in float64 and half types",
        "  in float32, but float64 in float64, where the rounding of PyTorch's exp, log and log1p shows",
        "  (about 1.3 ulp in the loss, 2 in the gradient and 3 in the Hessian for hard labels). For soft labels near the optimum the float64",
        "  gradient is a difference of two terms, so its relative error grows near 0.",
        "- The rivals' `inf` entries come from clipping (scikit-learn clips at the dtype's eps,",
        "  PyTorch's probability loss caps the log at -100), from `1 - p` and",
        "  `1 - sigmoid(z)` rounding to 0, and from NaN at 0 * log 0.",
        "",
    ]
    names = list(IMPLEMENTATIONS)
    for quantity in ("loss", "gradient", "hessian"):
        lines += [f"## {quantity.capitalize()}", ""]
        lines.append("| dtype | entry point | labels | points | " + " | ".join(names) + " |")
        lines.append("|---" * (4 + len(names)) + "|")
        for dtype_name, entry, label_name, size, rows in sections:
            cells = []
            for name in names:
                row = rows[name]
                if isinstance(row, str):
                    cells.append(row)
                elif row is None or quantity not in row:
                    cells.append("—")
                else:
                    cells.append(format_error(row[quantity]))
            lines.append(f"| {dtype_name} | {entry} | {label_name} | {size} | " + " | ".join(cells) + " |")
        lines.append("")
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text("\n".join(lines))
    print(f"wrote {arguments.output}")


if __name__ == "__main__":
    main()
