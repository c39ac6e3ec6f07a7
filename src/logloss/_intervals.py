r"""Confidence intervals for log loss, normalized entropy and the calibration ratio.

The analytic (delta-method) intervals use only the sums of a :class:`LogLossState`. Each
figure is a smooth function of weighted means :math:`\bar a = \sum w a / \sum w`, whose
linearization (Taylor expansion to first order) has the variance

.. math:: \widehat{\mathrm{Var}}(\bar a) = \frac{n_e}{n_e - 1}
          \frac{\sum w^2 (a - \bar a)^2}{(\sum w)^2},
          \qquad n_e = \frac{(\sum w)^2}{\sum w^2},

for independent rows and weights treated as fixed sampling weights. :math:`n_e` is Kish's
effective sample size, so unweighted rows give :math:`s^2 / n` with the sample variance
:math:`s^2` over :math:`n - 1`, and rows of weight 0 change nothing.
"""

from __future__ import annotations

import math
import statistics
import sys
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from ._state import LogLossResult, LogLossState
from ._warnings import LossOverflowWarning, UndefinedMetricWarning

__all__ = [
    "Interval",
    "Intervals",
    "check_level",
    "confidence_interval",
    "normal_interval",
    "percentile_interval",
    "result_with_warnings",
]

_METHODS = ("delta", "bootstrap")


@dataclass(frozen=True)
class Interval:
    """A two-sided confidence interval for one figure.

    Attributes
    ----------
    estimate : float
        The figure computed from all rows.
    standard_error : float
        Delta-method standard error, or the standard deviation of the bootstrap replicates.
    lower, upper : float
        Bounds of the interval; NaN where the interval is undefined.
    level : float
        Confidence level, for instance 0.95.
    method : str
        ``"delta"`` (estimate plus or minus a normal quantile times the standard error) or
        ``"bootstrap"`` (percentiles of the Poisson bootstrap replicates).
    """

    estimate: float
    standard_error: float
    lower: float
    upper: float
    level: float
    method: str


@dataclass(frozen=True)
class Intervals:
    """Confidence intervals of the figures of one evaluation.

    Attributes
    ----------
    log_loss, normalized_entropy, calibration_ratio : Interval
        One interval per figure, as defined in :class:`LogLossResult`.
    level : float
        Confidence level.
    method : str
        ``"delta"`` or ``"bootstrap"``.
    count : int
        Number of rows.
    n_bootstrap : int or None
        Number of bootstrap replicates; None for the delta method.
    seed : int or None
        Seed of the bootstrap weights; None for the delta method.
    """

    log_loss: Interval
    normalized_entropy: Interval
    calibration_ratio: Interval
    level: float
    method: str
    count: int
    n_bootstrap: int | None = None
    seed: int | None = None

    def to_dict(self) -> dict:
        """Return the intervals as nested plain dicts, ready for JSON."""
        return asdict(self)


def check_level(level) -> float:
    """Return `level` as a float in (0, 1), or raise."""
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating, np.integer)):
        raise TypeError(f"`level` must be a float, got {type(level).__name__}")
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"`level` must be in (0, 1), for instance 0.95, got {level!r}")
    return float(level)


def normal_interval(estimate: float, variance: float, level: float, method: str = "delta") -> Interval:
    """Return ``estimate ± z * sqrt(variance)`` with z the normal quantile for `level`."""
    standard_error = math.sqrt(max(variance, 0.0)) if math.isfinite(variance) else math.nan
    if not math.isfinite(estimate):
        standard_error = math.nan
    half_width = normal_quantile(level) * standard_error
    return Interval(estimate, standard_error, estimate - half_width, estimate + half_width, level, method)


def normal_quantile(level: float) -> float:
    """Return the standard normal quantile z with ``P(|Z| <= z) = level``, for `level` in (0, 1).

    From ``level = 0.5`` up, z comes from the upper tail ``(1 - level) / 2``, which is
    computed exactly. The form ``0.5 + level / 2`` rounds to 1.0 at the largest float below
    1, where ``inv_cdf`` raises, and it loses the digits of the tail near 1. At
    ``level = 1 - 1e-15`` it made z 0.2% too large.
    """
    normal = statistics.NormalDist()
    if level >= 0.5:
        return -normal.inv_cdf((1.0 - level) / 2.0)
    return normal.inv_cdf(0.5 + level / 2.0)


def _quantile(sorted_values: np.ndarray, q: float) -> float:
    """Return the `q` quantile at order statistic ``(B + 1) q`` (1-based), interpolated.

    This plotting position (NumPy's "weibull") puts the 2.5% bound of B = 199 replicates
    exactly on the 5th smallest; NumPy's default, ``(B - 1) q + 1``, lies closer to the
    median and makes percentile intervals too narrow for small B. An infinite neighbour
    gives inf rather than the NaN of plain interpolation.
    """
    size = sorted_values.size
    position = min(max((size + 1) * q, 1.0), float(size)) - 1.0  # 0-based
    below = math.floor(position)
    above = min(below + 1, size - 1)
    low, high = float(sorted_values[below]), float(sorted_values[above])
    fraction = position - below
    if fraction == 0.0 or low == high:
        return low
    if math.isinf(high) or math.isinf(low):
        return high if math.isinf(high) else low
    return low + fraction * (high - low)


def percentile_interval(estimate: float, replicates: np.ndarray, level: float) -> Interval:
    """Return the percentile bootstrap interval; NaN if a replicate is undefined (NaN)."""
    if replicates.size < 2 or np.isnan(replicates).any():
        return Interval(estimate, math.nan, math.nan, math.nan, level, "bootstrap")
    ordered = np.sort(replicates)
    tail = (1.0 - level) / 2.0
    with np.errstate(invalid="ignore"):
        standard_error = float(np.std(replicates, ddof=1)) if np.isfinite(replicates).all() else math.inf
    return Interval(
        estimate, standard_error, _quantile(ordered, tail), _quantile(ordered, 1.0 - tail), level, "bootstrap"
    )


def result_with_warnings(state: LogLossState, stacklevel: int) -> LogLossResult:
    """Return ``state.result()``, re-issuing its warnings at frame `stacklevel` (1 is this one)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = state.result()
    for warning in caught:
        warnings.warn(warning.message, warning.category, stacklevel=stacklevel)
    return result


def _centered(*terms: float) -> float:
    """Return the sum of `terms`, a sum of centered products, or 0 where it is rounding noise.

    The terms cancel when every row has the same value. On 1,048,575 equal losses, one ulp
    in the sum of squared losses gave a standard error of 1.3e-11 to 2.4e-11 instead of 0.
    Each term carries a few ulps of error (compensated sums, then two or three products).
    To first order the total does not depend on the rounding of the mean, so a total within
    8 eps of the terms' magnitudes is indistinguishable from 0.
    """
    total = math.fsum(terms) if all(math.isfinite(term) for term in terms) else sum(terms)
    noise = 8.0 * sys.float_info.epsilon * sum(abs(term) for term in terms)
    return 0.0 if abs(total) <= noise else total


def _delta_variances(state: LogLossState, result: LogLossResult) -> tuple[float, float, float]:
    """Return the delta-method variances of log loss, normalized entropy and calibration ratio."""
    s = state.sum
    weight_sum, weight_square_sum = s("w"), s("w2")
    effective_size = weight_sum**2 / weight_square_sum if weight_square_sum > 0 else 0.0
    if effective_size <= 1.0:
        return math.nan, math.nan, math.nan
    scale = effective_size / (effective_size - 1.0) / weight_sum**2

    # Weighted sums of squared and crossed deviations from the means: sum w^2 (a - a_bar)(b - b_bar).
    loss, rate = result.log_loss, result.base_rate
    loss_loss = _centered(s("w2l2"), -2.0 * loss * s("w2l"), loss * loss * weight_square_sum)
    label_label = _centered(s("w2y2"), -2.0 * rate * s("w2y"), rate * rate * weight_square_sum)
    loss_label = _centered(s("w2ly"), -rate * s("w2l"), -loss * s("w2y"), loss * rate * weight_square_sum)
    log_loss_variance = scale * loss_loss

    # NE = L / H(r): gradient (1 / H, -L H'(r) / H^2) with H'(r) = log((1 - r) / r).
    entropy = result.entropy
    if entropy > 0.0 and math.isfinite(loss):
        slope = loss * (math.log1p(-rate) - math.log(rate)) / entropy**2
        ne_variance = scale * (
            loss_loss / entropy**2 - 2.0 * slope * loss_label / entropy + slope * slope * label_label
        )
    else:
        ne_variance = math.nan

    # Calibration ratio C = sum w p / sum w y: residual p - C y, scaled by sum w y.
    label_sum, ratio = s("wy"), result.calibration_ratio
    if label_sum > 0.0:
        residual = _centered(s("w2p2"), -2.0 * ratio * s("w2py"), ratio * ratio * s("w2y2"))
        calibration_variance = scale * residual * weight_sum**2 / label_sum**2
    else:
        calibration_variance = math.nan
    return log_loss_variance, ne_variance, calibration_variance


def delta_intervals(state: LogLossState, level: float, stacklevel: int) -> Intervals:
    """Return the delta-method intervals; `stacklevel` is the user's frame, 1 being this one."""
    result = result_with_warnings(state, stacklevel + 1)
    variances = _delta_variances(state, result) if result.weight_sum > 0 else (math.nan,) * 3
    _warn_if_undefined(state, result, stacklevel + 1)
    _warn_if_overflowed(state, result, variances[0], stacklevel + 1)
    log_loss, normalized_entropy, calibration_ratio = (
        normal_interval(estimate, variance, level)
        for estimate, variance in zip(
            (result.log_loss, result.normalized_entropy, result.calibration_ratio), variances
        )
    )
    return Intervals(log_loss, normalized_entropy, calibration_ratio, level, "delta", state.count)


def _warn_if_undefined(state: LogLossState, result: LogLossResult, stacklevel: int) -> None:
    if result.weight_sum <= 0:
        return  # result() has already warned that every figure is NaN
    if result.n_infinite:
        rows = "1 row has" if result.n_infinite == 1 else f"{result.n_infinite} rows have"
        warnings.warn(
            f"the log loss interval is undefined because {rows} an infinite loss, so its "
            f"bounds are NaN. Pass clip to the state to bound the loss",
            UndefinedMetricWarning,
            stacklevel=stacklevel,
        )
    weight_square_sum = state.sum("w2")
    if weight_square_sum <= 0 or result.weight_sum**2 / weight_square_sum <= 1.0:
        warnings.warn(
            "standard errors are undefined because fewer than two rows have a positive "
            "weight (the effective sample size is at most 1); the bounds are NaN",
            UndefinedMetricWarning,
            stacklevel=stacklevel,
        )


def _warn_if_overflowed(state: LogLossState, result: LogLossResult, log_loss_variance: float, stacklevel: int) -> None:
    """Warn when the log loss variance is not finite although the log loss and every loss are.

    Its sums of squared losses then exceed the float64 range. The other cases of a NaN
    variance (no weight, one row, an infinite loss) have warnings of their own.
    """
    if result.n_infinite or not math.isfinite(result.log_loss) or math.isfinite(log_loss_variance):
        return
    weight_square_sum = state.sum("w2")
    if weight_square_sum <= 0 or result.weight_sum**2 / weight_square_sum <= 1.0:
        return  # fewer than two rows of positive weight: _warn_if_undefined covers it
    warnings.warn(
        "the log loss and normalized entropy intervals are undefined, so their bounds are "
        "NaN, although no row has an infinite loss: the sum of the squared weighted losses "
        "(w**2 * loss**2) exceeds the float64 range (about 1.8e308), because the losses are "
        "finite but huge, from logits of extreme magnitude or very large weights. The "
        "other figures and the calibration ratio interval are unaffected",
        LossOverflowWarning,
        stacklevel=stacklevel,
    )


def confidence_interval(state, *, level: float = 0.95, method: str = "delta") -> Intervals:
    r"""Compute confidence intervals for log loss, normalized entropy and calibration ratio.

    Parameters
    ----------
    state : LogLossState or BootstrapState
        The evaluation state after all rows were added.
    level : float, default 0.95
        Confidence level, in (0, 1).
    method : {"delta", "bootstrap"}, default "delta"
        ``"delta"``: estimate :math:`\pm z_{(1+\mathrm{level})/2}` times the delta-method
        standard error, from the state's sums only. ``"bootstrap"``: percentile interval of
        the Poisson bootstrap replicates, which needs a :class:`BootstrapState`.

    Returns
    -------
    Intervals

    Raises
    ------
    TypeError
        If `state` is not a state, or `method` is "bootstrap" and `state` is a plain
        :class:`LogLossState`.
    ValueError
        If `level` is outside (0, 1) or `method` is unknown.

    Warns
    -----
    UndefinedMetricWarning
        When a figure or its interval is undefined. With no rows or zero total weight
        everything is NaN. A single class leaves the normalized entropy undefined. An
        infinite loss makes the log loss and normalized entropy inf with NaN bounds, and
        fewer than two rows of positive weight make every bound NaN.
    LossOverflowWarning
        When the losses are finite but their squares add up beyond the float64 range
        (losses above about 1e154): the log loss and normalized entropy bounds are NaN,
        and the bootstrap ones too where a replicate's loss sum overflows.

    Notes
    -----
    With :math:`L = \sum w\ell / \sum w`, base rate :math:`r = \sum w y / \sum w`, entropy
    :math:`H(r)` and :math:`S_{ab} = \sum w^2 (a - \bar a)(b - \bar b)`, the variances are

    .. math::

        \mathrm{Var}(L) &= c\, S_{\ell\ell}, \\
        \mathrm{Var}(L / H) &= c \left( \frac{S_{\ell\ell}}{H^2}
            - \frac{2 g S_{\ell y}}{H} + g^2 S_{yy} \right),
            \quad g = \frac{L H'(r)}{H^2},\ H'(r) = \log\frac{1 - r}{r}, \\
        \mathrm{Var}(C) &= c\, \frac{(\sum w)^2}{(\sum w y)^2} \sum w^2 (p - C y)^2,

    with :math:`c = n_e / ((n_e - 1) (\sum w)^2)` and :math:`n_e = (\sum w)^2 / \sum w^2`.
    They assume independent rows and treat the weights as fixed sampling weights; integer
    weights that count repeated rows (frequency weights) need the rows repeated instead. A
    variance that rounds below 0 is taken as 0.

    Examples
    --------
    >>> import numpy as np
    >>> from logloss import LogLossState, confidence_interval
    >>> state = LogLossState()
    >>> state.update(np.array([0.9, 0.2, 0.7, 0.4]), np.array([1, 0, 1, 1]))
    >>> intervals = confidence_interval(state, level=0.9)
    >>> round(intervals.log_loss.estimate, 4), round(intervals.log_loss.standard_error, 4)
    (0.4004, 0.1795)
    """
    level = check_level(level)
    if method not in _METHODS:
        raise ValueError(f"`method` must be one of {', '.join(map(repr, _METHODS))}, got {method!r}")
    from ._bootstrap import BootstrapState

    if isinstance(state, BootstrapState):
        if method == "bootstrap":
            return state.bootstrap_intervals(level, stacklevel=3)
        return delta_intervals(state.full, level, stacklevel=3)
    if not isinstance(state, LogLossState):
        raise TypeError(f"`state` must be a LogLossState or BootstrapState, got {type(state).__name__}")
    if method == "bootstrap":
        raise TypeError(
            "`state` must be a BootstrapState for method='bootstrap', got LogLossState, which "
            "keeps no per-replicate sums; build a BootstrapState(n_bootstrap=..., seed=...)"
        )
    return delta_intervals(state, level, stacklevel=3)
