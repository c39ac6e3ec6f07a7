"""Elementwise binary cross-entropy in float64: the exact reference formulas.

Every function takes float64 arrays and returns a new float64 array. The targets ``y`` are
in [0, 1]; the xlogy convention applies, so a term whose coefficient is exactly 0 is 0 even
where its logarithm is infinite.
"""

from __future__ import annotations

import numpy as np

__all__ = ["loss_from_logit", "loss_from_probability", "softplus"]


def loss_from_probability(
    p: np.ndarray, y: np.ndarray, pos_weight: np.ndarray | None, clip: float | None = None
) -> np.ndarray:
    """Return ``-(pos_weight * xlogy(y, p) + xlog1py(1 - y, -p))``.

    With `clip`, each logarithm's argument (``p`` for the positive term, ``1 - p`` for the
    negative one) is raised to at least `clip`, so neither term exceeds ``-log(clip)``. For
    ``p >= 0.5`` the difference ``1 - p`` is exact in floating point (Sterbenz), so the
    negative tail is bounded by exactly the same amount as the positive one.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        positive = np.log(p if clip is None else np.maximum(p, clip))
        positive *= y
        positive[y == 0] = 0.0
        if pos_weight is not None:
            positive = np.where(pos_weight == 0, 0.0, positive * pos_weight)
        negative = np.log1p(-p)
        if clip is not None:
            upper = p > 0.5
            negative[upper] = np.log(np.maximum(1.0 - p[upper], clip))
        negative *= 1.0 - y
        negative[y == 1] = 0.0
    loss = positive
    loss += negative
    np.negative(loss, out=loss)
    return loss


def softplus(z: np.ndarray) -> np.ndarray:
    """Return ``log(1 + exp(z))`` without overflow or cancellation, ``inf`` at ``z = inf``."""
    tail = np.log1p(np.exp(-np.abs(z)))
    return np.maximum(z, 0.0) + tail


def loss_from_logit(z: np.ndarray, y: np.ndarray, pos_weight: np.ndarray | None) -> np.ndarray:
    """Return ``pos_weight * y * softplus(-z) + (1 - y) * softplus(z)`` with xlogy semantics.

    Both terms share ``t = log1p(exp(-|z|))``; ``softplus(z) = max(z, 0) + t`` adds two
    non-negative numbers, so nothing cancels and ``loss(z, 1) == loss(-z, 0)`` bit for bit.
    """
    tail = np.log1p(np.exp(-np.abs(z)))
    with np.errstate(invalid="ignore"):
        positive = np.maximum(-z, 0.0)
        positive += tail
        positive *= y
        positive[y == 0] = 0.0
        if pos_weight is not None:
            positive = np.where(pos_weight == 0, 0.0, positive * pos_weight)
        negative = np.maximum(z, 0.0)
        negative += tail
        negative *= 1.0 - y
        negative[y == 1] = 0.0
    loss = positive
    loss += negative
    return loss
