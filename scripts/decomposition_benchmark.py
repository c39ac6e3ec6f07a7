"""Measure the binned decomposition against the exact one, and its cost on 10**7 rows.

Prints, for real and synthetic data, the difference between the exact and the binned
discrimination (the two methods' miscalibrations differ by the same amount) and the stated
bound, then the time of LogLossState.update alone and with BinnedDecompositionState.update
on the same 10**7 rows. Needs scikit-learn (the real data sets ship inside it). Timings are
the best of three runs; compare them only on the same machine.

    uv run --group test python scripts/decomposition_benchmark.py [--rows 10000000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import logloss

CARAVAN = Path(__file__).resolve().parents[1] / "src" / "logloss" / "data" / "caravan.parquet"
# (mean and standard deviation of the logits, slope and intercept of the true calibration)
SYNTHETIC = [(-1, 2, 0.8, 0.3), (-6, 3, 1, 0), (0, 6, 1.3, 0), (0, 0.3, 1, 0), (-2, 2, 3, 1), (0, 10, 0.5, 0)]


def out_of_fold(features, target) -> np.ndarray:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    return cross_val_predict(model, features, target, cv=folds, method="predict_proba")[:, 1]


def real_data() -> dict:
    table = pq.read_table(CARAVAN)
    data = {"caravan": (table["prob"].to_numpy(), table["label"].to_numpy())}
    features, target = load_breast_cancer(return_X_y=True)
    data["breast_cancer"] = (out_of_fold(features, target), target)
    features, digit = load_digits(return_X_y=True)
    data["digits_odd"] = (out_of_fold(features, digit % 2), digit % 2)
    features, progression = load_diabetes(return_X_y=True)
    high = (progression > np.median(progression)).astype(int)
    data["diabetes_high"] = (out_of_fold(features, high), high)
    return data


def synthetic(rows: int, case, rng) -> tuple[np.ndarray, np.ndarray]:
    mean, spread, slope, intercept = case
    logits = rng.normal(mean, spread, rows)
    labels = (rng.random(rows) < 1.0 / (1.0 + np.exp(-(slope * logits + intercept)))).astype(np.int8)
    return logits, labels


def compare(name: str, logits, labels, n_bins: int = 4096) -> float:
    exact = logloss.decompose_with_logits(logits, labels)
    state = logloss.BinnedDecompositionState(n_bins=n_bins)
    state.update_logits(logits, labels)
    binned = state.result()
    difference = exact.discrimination - binned.discrimination
    margin = binned.error_bound / difference if difference > 0 else float("inf")
    print(f"{name:34s} rows={len(labels):>9,d} bins={n_bins:>6,d} exact-binned={difference:9.3g} bound={binned.error_bound:9.3g} margin={margin:6.3g}")
    return margin


def best_time(function, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the timing and largest accuracy run")
    args = parser.parse_args()

    margins = []
    for name, (probability, labels) in real_data().items():
        with np.errstate(divide="ignore"):
            logits = np.log(probability) - np.log1p(-probability)
        margins.append(compare(name, logits, labels))
    rng = np.random.default_rng(3)
    for rows in (1_000, 10_000, 100_000, 1_000_000):
        for case in SYNTHETIC:
            margins.append(compare(f"synthetic {case}", *synthetic(rows, case, rng)))
    for n_bins in (1024, 16384, 65536):
        for case in SYNTHETIC[:3]:
            margins.append(compare(f"synthetic {case}", *synthetic(100_000, case, rng), n_bins=n_bins))
    logits, labels = synthetic(args.rows, SYNTHETIC[0], rng)
    margins.append(compare(f"synthetic {SYNTHETIC[0]}", logits, labels))
    print(f"smallest margin (bound / difference): {min(margins):.3g}")

    probability = 1.0 / (1.0 + np.exp(-logits))
    plain = best_time(lambda: logloss.LogLossState().update(probability, labels))
    binned = best_time(lambda: logloss.BinnedDecompositionState().update(probability, labels))
    print(f"{args.rows:,d} rows: LogLossState.update {plain:.3f} s, BinnedDecompositionState.update adds {binned:.3f} s")


if __name__ == "__main__":
    main()
