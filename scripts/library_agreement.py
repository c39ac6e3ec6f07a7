"""Measure how closely logloss on PyTorch and JAX float64 arrays agrees with logloss on NumPy.

Inputs: 400,001 logits ``sinh`` spaced over [-800, 800], so both tails and losses below
1e-308 are included, and the probabilities ``sigmoid`` of them (subnormals, 0, 1 - eps and
1 included). Each gets hard labels (0 and 1 at random) and soft labels (uniform in [0, 1]),
seed 0.
For each entry point (the loss with ``reduction="none"``, and the gradient and Hessian) the
script prints the maximum difference from NumPy in units in the last place of the NumPy
value (``np.spacing``), for two paths:

- eager: concrete CPU tensors and arrays, as a caller passes them;
- traced: the array-API formulas in the library itself, as under ``jax.jit`` (JAX) and as
  for tensors that are not on the CPU (PyTorch, forced here on the CPU).

Equal infinities count as 0 ulp. Run from the repository root:
``uv run --group test python scripts/library_agreement.py`` (PyTorch installed as in
docs/array-libraries.md); it takes about half a minute.
"""

from __future__ import annotations

import warnings

import jax
import numpy as np
import torch

import logloss
from logloss import _host

jax.config.update("jax_enable_x64", True)

SIZE = 400_001


def ulp_difference(actual, expected, where=True) -> float:
    """Return the maximum |actual - expected| in units of ``np.spacing(expected)`` over ``where``."""
    actual = np.asarray(actual, dtype=np.float64)
    equal = (actual == expected) | (np.isnan(actual) & np.isnan(expected)) | ~np.asarray(where)
    with np.errstate(invalid="ignore", over="ignore"):
        difference = np.abs(actual - expected) / np.spacing(np.abs(expected))
    return float(np.max(np.where(equal, 0.0, difference)))


def inputs():
    rng = np.random.default_rng(0)
    logits = np.sinh(np.linspace(-np.arcsinh(800.0), np.arcsinh(800.0), SIZE))
    with np.errstate(over="ignore"):  # exp(800) is inf, so the probability is 0
        probabilities = 1.0 / (1.0 + np.exp(-logits))
    labels = {"hard": rng.integers(0, 2, SIZE).astype(np.float64), "soft": rng.uniform(0.0, 1.0, SIZE)}
    return {"logits": logits, "probabilities": probabilities}, labels


FUNCTIONS = {
    ("logits", "loss"): lambda x, y: logloss.binary_cross_entropy_with_logits(x, y, reduction="none"),
    ("logits", "gradient"): lambda x, y: logloss.binary_cross_entropy_with_logits_grad_hess(x, y)[0],
    ("logits", "hessian"): lambda x, y: logloss.binary_cross_entropy_with_logits_grad_hess(x, y)[1],
    ("probabilities", "loss"): lambda x, y: logloss.binary_cross_entropy(x, y, reduction="none"),
    ("probabilities", "gradient"): lambda x, y: logloss.binary_cross_entropy_grad_hess(x, y)[0],
    ("probabilities", "hessian"): lambda x, y: logloss.binary_cross_entropy_grad_hess(x, y)[1],
}


def main() -> None:
    predictions, labels = inputs()
    print("| input | output | labels | torch eager | JAX eager | torch traced | JAX traced (jit) | JAX traced, normal |")
    print("|---|---|---|---|---|---|---|---|")
    warnings.simplefilter("ignore", logloss.InfiniteLossWarning)
    for (kind, output), function in FUNCTIONS.items():
        for label_kind, y in labels.items():
            x = predictions[kind]
            expected = np.asarray(function(x, y))
            torch_eager = function(torch.asarray(x), torch.asarray(y)).numpy()
            jax_eager = np.asarray(function(jax.numpy.asarray(x), jax.numpy.asarray(y)))
            with _host.formulas_only():
                torch_traced = function(torch.asarray(x), torch.asarray(y)).numpy()
            jax_traced = np.asarray(jax.jit(function)(jax.numpy.asarray(x), jax.numpy.asarray(y)))
            figures = [ulp_difference(a, expected) for a in (torch_eager, jax_eager, torch_traced, jax_traced)]
            # XLA on the CPU flushes subnormal inputs and results to 0, so the last column
            # leaves out elements whose input or NumPy result is subnormal.
            tiny = np.finfo(np.float64).tiny
            normal = ((np.abs(x) >= tiny) | (x == 0)) & ((np.abs(expected) >= tiny) | (expected == 0))
            figures.append(ulp_difference(jax_traced, expected, normal))
            print(f"| {kind} | {output} | {label_kind} | " + " | ".join(f"{f:.3g}" for f in figures) + " |")


if __name__ == "__main__":
    main()
