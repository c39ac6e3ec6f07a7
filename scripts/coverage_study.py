"""Measure how often the 95% intervals of logloss cover the true figures.

Rows are simulated with a known truth: x ~ N(0, 1), labels y ~ Bernoulli(q(x)) with
q(x) = expit(-1 + 1.5 x), and two fixed, miscalibrated models with logits
-0.8 + 1.2 x (A) and -1.0 + 1.0 x (B). The population log loss E[loss], normalized
entropy E[loss] / H(E[y]), calibration ratio E[p] / E[y] and the difference of the two
models' log losses are integrals over x, computed by Gauss-Hermite quadrature. Each
replication draws n rows, computes the delta-method and Poisson-bootstrap intervals and
records whether each contains the truth.

With ``--weights exponential`` every row also gets an Exponential(1) weight drawn
independently of x and y, which leaves the weighted population figures unchanged.

Usage::

    python scripts/coverage_study.py --replications 1000 --rows 2000 --bootstrap 200 \\
        --output docs/coverage.md
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

import logloss

TRUE_LOGIT = (-1.0, 1.5)
MODEL_A_LOGIT = (-0.8, 1.2)
MODEL_B_LOGIT = (-1.0, 1.0)
FIGURES = ("log_loss", "normalized_entropy", "calibration_ratio", "difference")


def _expit(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _softplus(z):
    return np.logaddexp(0.0, z)


def true_figures(quadrature_nodes: int = 200) -> dict[str, float]:
    """Return the population figures of model A, and the difference A - B, by quadrature."""
    nodes, node_weights = np.polynomial.hermite_e.hermegauss(quadrature_nodes)
    node_weights = node_weights / math.sqrt(2.0 * math.pi)  # so they integrate N(0, 1)
    q = _expit(TRUE_LOGIT[0] + TRUE_LOGIT[1] * nodes)

    def expected_loss(logit):
        z = logit[0] + logit[1] * nodes
        return float(node_weights @ (q * _softplus(-z) + (1.0 - q) * _softplus(z)))

    base_rate = float(node_weights @ q)
    entropy = -(base_rate * math.log(base_rate) + (1.0 - base_rate) * math.log1p(-base_rate))
    loss_a = expected_loss(MODEL_A_LOGIT)
    mean_prediction = float(node_weights @ _expit(MODEL_A_LOGIT[0] + MODEL_A_LOGIT[1] * nodes))
    return {
        "log_loss": loss_a,
        "normalized_entropy": loss_a / entropy,
        "calibration_ratio": mean_prediction / base_rate,
        "difference": loss_a - expected_loss(MODEL_B_LOGIT),
    }


def one_replication(rng, replication, *, rows, n_bootstrap, level, weights):
    """Return {(method, figure): (lower, upper)} for one simulated data set."""
    x = rng.standard_normal(rows)
    y = (rng.uniform(size=rows) < _expit(TRUE_LOGIT[0] + TRUE_LOGIT[1] * x)).astype(np.int8)
    w = rng.exponential(size=rows) if weights == "exponential" else None
    logits_a = MODEL_A_LOGIT[0] + MODEL_A_LOGIT[1] * x
    logits_b = MODEL_B_LOGIT[0] + MODEL_B_LOGIT[1] * x

    bootstrap = logloss.BootstrapState(n_bootstrap=n_bootstrap, seed=replication)
    bootstrap.update_logits(logits_a, y, weights=w)
    paired = logloss.PairedComparisonState(n_bootstrap=n_bootstrap, seed=replication)
    paired.update_logits(logits_a, logits_b, y, weights=w)

    bounds = {}
    for method in ("delta", "bootstrap"):
        intervals = logloss.confidence_interval(bootstrap, level=level, method=method)
        for figure in FIGURES[:3]:
            interval = getattr(intervals, figure)
            bounds[method, figure] = (interval.lower, interval.upper)
        difference = paired.interval(level=level, method=method).difference
        bounds[method, "difference"] = (difference.lower, difference.upper)
    return bounds


def run(*, replications, rows, n_bootstrap, level, seed, weights):
    """Return the truth and, per (method, figure), the fraction of intervals covering it."""
    truth = true_figures()
    rng = np.random.default_rng(seed)
    hits = {}
    for replication in range(replications):
        bounds = one_replication(rng, replication, rows=rows, n_bootstrap=n_bootstrap, level=level, weights=weights)
        for key, (lower, upper) in bounds.items():
            hits[key] = hits.get(key, 0) + int(lower <= truth[key[1]] <= upper)
    return truth, {key: count / replications for key, count in hits.items()}


def format_table(truth, coverage, replications) -> str:
    """Return a Markdown table of coverage per figure and method."""
    standard_error = math.sqrt(0.95 * 0.05 / replications)
    lines = [
        "| figure | true value | delta | bootstrap |",
        "|---|---|---|---|",
    ]
    for figure in FIGURES:
        lines.append(
            f"| {figure} | {truth[figure]:.6f} | {coverage['delta', figure]:.1%} "
            f"| {coverage['bootstrap', figure]:.1%} |"
        )
    lines.append("")
    lines.append(f"Monte Carlo standard error of a 95% coverage over {replications} replications: {standard_error:.1%}.")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=1000, help="simulated data sets")
    parser.add_argument("--rows", type=int, default=2000, help="rows per data set")
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap replicates B")
    parser.add_argument("--level", type=float, default=0.95, help="confidence level")
    parser.add_argument("--seed", type=int, default=20261204, help="seed of the simulation")
    parser.add_argument("--weights", choices=("none", "exponential"), default="none", help="row weights")
    parser.add_argument("--output", help="Markdown file to append the result to")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    truth, coverage = run(
        replications=args.replications,
        rows=args.rows,
        n_bootstrap=args.bootstrap,
        level=args.level,
        seed=args.seed,
        weights=args.weights,
    )
    seconds = time.perf_counter() - start
    command = " ".join(["uv run python scripts/coverage_study.py", *(argv if argv is not None else sys.argv[1:])])
    report = (
        f"## {args.replications} replications, n = {args.rows}, B = {args.bootstrap}, "
        f"level {args.level}, weights: {args.weights}\n\n"
        f"Command: `{command}` ({seconds:.0f} s)\n\n{format_table(truth, coverage, args.replications)}\n"
    )
    print(report)
    if args.output:
        with open(args.output, "a", encoding="utf-8") as file:
            file.write("\n" + report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
