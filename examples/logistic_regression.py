"""Fit an L2-regularized logistic regression with logloss's loss, gradient and Hessian.

The model predicts whether a customer of the bundled Caravan data bought a caravan policy
from the customer main type (one-hot, ten columns) and the logit of the bundled model. It
minimizes

    sum_i w_i loss_i / sum_i w_i  +  ||beta||^2 / (2 C sum_i w_i)

over the coefficients ``beta`` and an unpenalized intercept, with SciPy's trust-region
Newton-CG (``method="trust-ncg"``; plain ``"Newton-CG"`` stalls on this problem before its
step-size tolerance is met, because one direction of the full one-hot block is weakly
curved). That
is scikit-learn's ``LogisticRegression(C=C)`` objective divided by ``C sum_i w_i``, so both
have the same minimizer. The gradient and Hessian-vector product come from the analytic
per-sample derivatives of :func:`logloss.binary_cross_entropy_with_logits_grad_hess`.

Run it from the repository root: ``uv run --extra cli --extra eval python examples/logistic_regression.py``
(it needs pyarrow and SciPy, which those extras install).
"""

from __future__ import annotations

from importlib import resources

import numpy as np
from scipy import optimize

import logloss


def load_caravan_features():
    """Return the features ``X`` (n, 11), labels ``y`` and column names of the bundled data."""
    import pyarrow.parquet as pq

    with resources.as_file(resources.files("logloss") / "data" / "caravan.parquet") as path:
        table = pq.read_table(path, columns=["label", "logit", "customer_type"])
    customer_type = np.asarray(table["customer_type"].to_pylist())
    types = sorted(set(customer_type), key=lambda name: int(name.split()[-1]))
    one_hot = (customer_type[:, None] == np.asarray(types)[None, :]).astype(np.float64)
    logit = table["logit"].to_numpy()
    features = np.column_stack([one_hot, logit])
    labels = table["label"].to_numpy().astype(np.float64)
    return features, labels, [*types, "logit"]


def fit_logistic_regression(features, labels, *, C=1.0, sample_weight=None, gtol=1e-12):
    """Return ``(coef, intercept)`` minimizing the weighted mean log loss plus the L2 penalty."""
    n_samples, n_features = features.shape
    weights = np.ones(n_samples) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    total_weight = weights.sum()
    design = np.column_stack([features, np.ones(n_samples)])
    penalty = np.ones(n_features + 1) / (C * total_weight)
    penalty[-1] = 0.0  # the intercept is not penalized

    def objective(params):
        mean_loss = logloss.binary_cross_entropy_with_logits(design @ params, labels, weights=weights)
        return float(mean_loss) + 0.5 * float(params @ (penalty * params))

    def gradient(params):
        per_sample, _ = logloss.binary_cross_entropy_with_logits_grad_hess(
            design @ params, labels, weights=weights, reduction="mean"
        )
        return design.T @ per_sample + penalty * params

    def hessian_product(params, direction):
        _, curvature = logloss.binary_cross_entropy_with_logits_grad_hess(
            design @ params, labels, weights=weights, reduction="mean"
        )
        return design.T @ (curvature * (design @ direction)) + penalty * direction

    result = optimize.minimize(
        objective,
        np.zeros(n_features + 1),
        jac=gradient,
        hessp=hessian_product,
        method="trust-ncg",
        options={"gtol": gtol, "maxiter": 200},
    )
    # Near the optimum the change in the objective drops below float64 resolution, and
    # trust-ncg may then stop with "failure to predict improvement"; the gradient decides.
    gradient_norm = float(np.linalg.norm(gradient(result.x)))
    if gradient_norm > 1e-8:
        raise RuntimeError(f"trust-ncg did not converge: {result.message} (gradient norm {gradient_norm:.3g})")
    return result.x[:-1], result.x[-1]


def main() -> None:
    features, labels, names = load_caravan_features()
    coef, intercept = fit_logistic_regression(features, labels, C=1.0)
    for name, value in zip(names, coef):
        print(f"{name:>8}  {value: .8f}")
    print(f"intercept {intercept: .8f}")
    mean_loss = logloss.binary_cross_entropy_with_logits(features @ coef + intercept, labels)
    print(f"in-sample log loss {float(mean_loss):.6f}")


if __name__ == "__main__":
    main()
