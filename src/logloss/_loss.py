"""Binary cross-entropy from probabilities and from logits, on any array library.

For NumPy input (and lists) both entry points compute every element in float64, whatever the
input dtype, and accumulate sums in float64 with NumPy's pairwise summation. Arrays of
PyTorch, JAX, CuPy and Dask stay in their library and on their device, with the dtype policy
of ``_namespace``; concrete PyTorch and JAX arrays on the CPU (of any real dtype but
bfloat16) are computed by the NumPy path on a host view (``_host``), so every library gets
the same bits. The elementwise formulas are in ``_elementwise``; this module validates
arguments, applies weights and reduces.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Literal

import array_api_compat
import numpy as np

from . import _elementwise, _fast, _host
from ._namespace import (
    accumulation_dtype,
    as_array,
    is_eager,
    is_numpy_namespace,
    output_dtype,
    to_numpy,
    xp_check,
)
from ._options import check_axis
from ._options import check_reduction as _check_reduction
from ._options import prepare, reduced_count, scale_to_max
from ._validation import check_in_unit_interval, check_not_nan, format_index, nan_hint
from ._warnings import InfiniteLossWarning, LossOverflowWarning, UndefinedMetricWarning

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits"]

Reduction = Literal["none", "sum", "mean"]
NanPolicy = Literal["raise", "omit"]

_LOGIT_HINT = (
    "; if these are raw model scores (logits), call binary_cross_entropy_with_logits instead"
)


def binary_cross_entropy(
    y_pred,
    y_true,
    *,
    weights=None,
    weights_axis: int | None = None,
    pos_weight=None,
    label_smoothing: float = 0.0,
    subtract_entropy: bool = False,
    reduction: Reduction = "mean",
    axis: int | tuple[int, ...] | None = None,
    nan_policy: NanPolicy = "raise",
    clip: float | None = None,
):
    r"""Compute the binary cross-entropy (log loss) of predicted probabilities.

    For a probability :math:`p` of the positive class, a target :math:`y \in [0, 1]`,
    a sample weight :math:`w` and a positive-class weight :math:`\omega`, the loss is

    .. math:: \ell = -w\,\bigl(\omega\,y \log p + (1 - y) \log(1 - p)\bigr).

    Parameters
    ----------
    y_pred : array_like
        Predicted probabilities of the positive class, in [0, 1]. Integer and boolean arrays
        are accepted. Any shape. A PyTorch, JAX, CuPy or Dask array stays in its library and
        on its device, and autograd flows through the loss; the other arguments are converted
        to that library. A PyTorch or JAX array on the CPU (any real dtype but
        bfloat16) gets the NumPy result bit for bit. float8 input gives float32 results.
        Under ``jax.jit`` the checks of values cannot raise: an invalid value makes its
        results NaN (see ``docs/array-libraries.md``, also for the dtype policy).
    y_true : array_like
        Targets in [0, 1] of the same shape as `y_pred`: hard labels 0 and 1 (integer,
        boolean or floating) or soft labels in between.
    weights : array_like, optional
        Non-negative sample weights of the same shape as `y_pred`, or of shape
        ``(y_pred.shape[weights_axis],)`` when `weights_axis` is given. Default: all 1.
    weights_axis : int, optional
        The axis of `y_pred` that one-dimensional `weights` run along, for instance 0 for
        per-sample weights of multi-label input of shape (N, C). Without it, `weights` must
        have the full shape, because nothing broadcasts silently.
    pos_weight : float or array_like, optional
        Weight :math:`\omega \ge 0` of the positive term only: a scalar, one value per column
        (shape ``y_pred.shape[-1:]``) or one per element. Default 1.
    label_smoothing : float, default 0.0
        :math:`\varepsilon \in [0, 1)`: targets become :math:`y (1 - \varepsilon) + \varepsilon / 2`.
    subtract_entropy : bool, default False
        Subtract the loss that predicting the (smoothed) target itself would score. With
        ``pos_weight=None`` this is the target's entropy, so the result is the
        Kullback-Leibler divergence from the target to the prediction: exactly 0 when
        ``y_pred`` equals the target. It is computed as the difference of two losses, so
        its absolute error is a few ulp of the cross-entropy, and a difference that rounding
        makes negative is returned as 0. With a `pos_weight` other than 1 and a soft
        (or smoothed) target, the loss is not least at the target, so the difference can be
        truly negative, and it is returned as it is.
    reduction : {"mean", "sum", "none"}, default "mean"
        "none" returns the weighted loss of each element in the dtype of `y_pred` (float64
        for integer input). "sum" returns :math:`\sum \ell`, and "mean" the weighted mean
        :math:`\sum w \ell' / \sum w`, both as float64.
    axis : int or tuple of int, optional
        Axes that "sum" and "mean" reduce over. Default: all.
    nan_policy : {"raise", "omit"}, default "raise"
        What a NaN label means. "raise" rejects it. "omit" treats it as a missing label: the
        element is left out of every sum, mean and count, and its "none" loss is NaN.
    clip : float, optional
        When given, the probability of each observed outcome (:math:`p` in the positive term,
        :math:`1 - p` in the negative one) is raised to at least `clip`, so no term exceeds
        :math:`-\log(\mathrm{clip})`, in both tails alike. Nothing is clipped unless asked.
        `clip` must lie in (0, 0.5).

    Returns
    -------
    loss : numpy.ndarray, numpy.float64 or array
        The loss of each element, or its reduction. For an array of another library, an
        array of that library (0-dimensional for a full reduction).

    Raises
    ------
    TypeError
        If an input does not have a real numeric dtype.
    ValueError
        If a probability or label is NaN (labels: unless ``nan_policy="omit"``) or outside
        [0, 1], if a weight is negative or not finite, if shapes differ, or if an option is
        out of range. The message names the first offending value and its index.

    Warns
    -----
    InfiniteLossWarning
        If a probability of exactly 0 meets a positive target or 1 meets a negative one: the
        loss is infinite, and the warning gives the number of such elements and the first.
    UndefinedMetricWarning
        If "mean" has nothing to average (no elements, or zero total weight); it returns NaN.
    LossOverflowWarning
        If "sum" is inf although every loss is finite, because the sum exceeds the float
        range. "mean" stays exact in that case (see Notes).

    See Also
    --------
    binary_cross_entropy_with_logits : The same loss from logits, exact over their whole range.

    Notes
    -----
    Stability: the loss is computed in float64 as
    :math:`-(\omega\,\mathrm{xlogy}(y, p) + \mathrm{xlog1py}(1 - y, -p))`, so
    :math:`0 \log 0 = 0` and the negative term uses ``log1p``, which keeps full relative
    precision for tiny :math:`p`. The result is correctly rounded up to the error of NumPy's
    ``log`` and ``log1p`` for every representable probability, subnormals included, and
    :math:`-\log p` up to 744.4 is returned as it is: no floor or cap is applied. The
    textbook ``-(y*log(p) + (1-y)*log(1-p))`` returns NaN at p = 0 with y = 0 and loses
    every digit of :math:`-\log(1 - p)` once :math:`p < 10^{-16}`.

    An infinite loss is returned as ``inf``, and the mean over it is ``inf``, because that is
    the exact value. Pass `clip` to bound it instead. Finite losses whose sum exceeds the
    float range (logits near 1e308, or huge weights) still give the exact "mean": where a
    sum overflows, it is taken again over the losses times ``2**-64``, which is exact, and
    the mean is scaled back.

    Examples
    --------
    >>> import numpy as np
    >>> from logloss import binary_cross_entropy
    >>> float(binary_cross_entropy(np.array([0.9, 0.2]), np.array([1, 0])))
    0.164252033486018...

    The textbook formula loses everything at a tiny probability; log1p keeps it:

    >>> p = np.array([1e-17])
    >>> float(-np.log(1 - p)[0])
    -0.0
    >>> float(binary_cross_entropy(p, np.array([0])))
    1e-17
    """
    options = dict(weights=weights, weights_axis=weights_axis, pos_weight=pos_weight, label_smoothing=label_smoothing,
                   subtract_entropy=subtract_entropy, reduction=reduction, axis=axis, nan_policy=nan_policy)
    arrays, rest = _split_arguments(y_true, options)
    exact = _host.route(binary_cross_entropy, y_pred, arrays, dict(rest, clip=clip), reduced=reduction != "none")
    if exact is not None:
        return exact
    fast = _fast.binary_cross_entropy(y_pred, y_true, clip=clip, **options)
    if fast is not None:
        return fast
    xp, predictions = as_array(y_pred, "y_pred")
    _check_flags(subtract_entropy=subtract_entropy)
    missing = xp_check(check_not_nan, xp, predictions, "y_pred", nan_hint(nan_policy))
    out_of_range = xp_check(check_in_unit_interval, xp, predictions, "y_pred", _LOGIT_HINT)
    _check_clip(clip)
    _check_reduction(reduction)
    axis = check_axis(axis, predictions.ndim)
    prepared = prepare(xp, predictions, y_true, weights, weights_axis, pos_weight, label_smoothing, nan_policy)

    probability = prepared.neutralize(xp.astype(predictions, prepared.dtype), 0.5)
    loss = _elementwise.loss_from_probability(
        probability, prepared.target, prepared.pos_weight, clip, xp=xp, complement=prepared.complement
    )
    if subtract_entropy:
        loss = _subtract_entropy(xp, loss, prepared)
    prepared = prepared.with_unchecked(missing, out_of_range)
    return _finish(xp, loss, prepared, reduction, axis, output_dtype(xp, predictions, prepared.dtype))


def binary_cross_entropy_with_logits(
    logits,
    y_true,
    *,
    weights=None,
    weights_axis: int | None = None,
    pos_weight=None,
    label_smoothing: float = 0.0,
    subtract_entropy: bool = False,
    reduction: Reduction = "mean",
    axis: int | tuple[int, ...] | None = None,
    nan_policy: NanPolicy = "raise",
):
    r"""Compute the binary cross-entropy (log loss) of logits.

    For a logit :math:`z` (the log-odds, so :math:`p = \sigma(z) = 1 / (1 + e^{-z})`), a
    target :math:`y \in [0, 1]`, a sample weight :math:`w` and a positive-class weight
    :math:`\omega`, the loss is

    .. math:: \ell = w\,\bigl(\omega\,y\,\mathrm{softplus}(-z) + (1 - y)\,\mathrm{softplus}(z)\bigr),

    which equals :math:`-w(\omega y \log \sigma(z) + (1 - y) \log(1 - \sigma(z)))`.

    Parameters
    ----------
    logits : array_like
        Raw scores (log-odds) of the positive class, any real value including ``±inf``.
        Integer arrays are accepted. Any shape. Arrays of other libraries as in
        :func:`binary_cross_entropy`.
    y_true : array_like
        Targets in [0, 1] of the same shape as `logits`.
    weights, weights_axis, pos_weight, label_smoothing, subtract_entropy, reduction, axis, nan_policy
        As in :func:`binary_cross_entropy`.

    Returns
    -------
    loss : numpy.ndarray, numpy.float64 or array
        The loss of each element, or its reduction. For an array of another library, an
        array of that library (0-dimensional for a full reduction).

    Raises
    ------
    TypeError
        If an input does not have a real numeric dtype.
    ValueError
        If a logit is NaN, a label is NaN (unless ``nan_policy="omit"``) or outside [0, 1],
        a weight is negative or not finite, shapes differ, or an option is out of range.

    Warns
    -----
    InfiniteLossWarning
        If a logit of ``-inf`` meets a positive target or ``+inf`` a negative one.
    UndefinedMetricWarning
        If "mean" has nothing to average; it returns NaN.
    LossOverflowWarning
        If "sum" is inf although every loss is finite; "mean" stays exact, as in
        :func:`binary_cross_entropy`.

    See Also
    --------
    binary_cross_entropy : The same loss from probabilities.

    Notes
    -----
    Stability: with :math:`t = \mathrm{log1p}(e^{-|z|})`, the two terms are computed in
    float64 as :math:`\mathrm{softplus}(-z) = \max(-z, 0) + t` and
    :math:`\mathrm{softplus}(z) = \max(z, 0) + t`. Neither subtracts, so no digit cancels
    anywhere on the real line: a tiny loss such as :math:`\mathrm{softplus}(-40) =
    4.25 \times 10^{-18}` keeps full precision, :math:`\ell(z, 1)` and :math:`\ell(-z, 0)`
    are bit for bit equal, and ``±inf`` logits give 0 or ``inf``, never NaN. The common
    stable form :math:`\max(z, 0) - z y + t` computes :math:`40 - 40 + t` for
    :math:`z = 40, y = 1` and loses nothing there, but subtracts for soft labels, and the
    naive :math:`-\log(1 - \sigma(z))` is ``inf`` already at :math:`z = 37` in float64.

    Examples
    --------
    >>> import numpy as np
    >>> from logloss import binary_cross_entropy_with_logits
    >>> z = np.array([-40.0])
    >>> float(-np.log(1 - 1 / (1 + np.exp(-z)))[0])  # textbook: every digit lost
    -0.0
    >>> float(binary_cross_entropy_with_logits(z, np.array([0.0]), reduction="none")[0])
    4.248354255291589e-18
    """
    options = dict(weights=weights, weights_axis=weights_axis, pos_weight=pos_weight, label_smoothing=label_smoothing,
                   subtract_entropy=subtract_entropy, reduction=reduction, axis=axis, nan_policy=nan_policy)
    arrays, rest = _split_arguments(y_true, options)
    exact = _host.route(binary_cross_entropy_with_logits, logits, arrays, rest, reduced=reduction != "none")
    if exact is not None:
        return exact
    fast = _fast.binary_cross_entropy_with_logits(logits, y_true, **options)
    if fast is not None:
        return fast
    xp, scores = as_array(logits, "logits")
    _check_flags(subtract_entropy=subtract_entropy)
    missing = xp_check(check_not_nan, xp, scores, "logits", nan_hint(nan_policy))
    _check_reduction(reduction)
    axis = check_axis(axis, scores.ndim)
    prepared = prepare(xp, scores, y_true, weights, weights_axis, pos_weight, label_smoothing, nan_policy)

    z = prepared.neutralize(xp.astype(scores, prepared.dtype), 0.0)
    loss = _elementwise.loss_from_logit(z, prepared.target, prepared.pos_weight, xp, prepared.complement)
    if subtract_entropy:
        loss = _subtract_entropy(xp, loss, prepared)
    prepared = prepared.with_unchecked(missing)
    return _finish(xp, loss, prepared, reduction, axis, output_dtype(xp, scores, prepared.dtype), logits=True)


def _split_arguments(y_true, options: dict) -> tuple[dict, dict]:
    """Return the array arguments and the other options of ``options`` for :func:`_host.route`."""
    arrays = {"y_true": y_true, "weights": options["weights"], "pos_weight": options["pos_weight"]}
    rest = {name: value for name, value in options.items() if name not in arrays}
    return arrays, rest


def _subtract_entropy(xp, loss, prepared):
    """Subtract the loss of predicting the target itself, and clamp rounding below 0 to 0
    where the difference cannot be negative."""
    if prepared.complement is None:
        entropy = _elementwise.loss_from_probability(prepared.target, prepared.target, prepared.pos_weight, xp=xp)
    else:
        entropy = _elementwise.smoothed_target_entropy(prepared.target, prepared.complement, prepared.pos_weight, xp)
    loss = loss - entropy
    # The divergence is never negative. A negative difference is rounding of the two terms
    # (each within a few ulp of the cross-entropy), so the exact value is below that error.
    # NaN compares false and stays NaN.
    rounding = loss < 0
    pos_weight, target = prepared.pos_weight, prepared.target
    if pos_weight is not None:
        # With a pos_weight other than 1 and a soft target, the loss is least away from the
        # target, so a negative difference can be exact (0.6 against a target of 0.5 with
        # pos_weight 2 gives -0.0708). A hard target is still the least loss. A label of 1
        # smoothed by less than 1e-16 has a target that rounds to 1 but a positive
        # complement, so the test for a target of 1 reads the complement.
        _, target_is_one = _elementwise.negative_term_coefficient(target, prepared.complement)
        rounding = rounding & ((pos_weight == 1) | (target == 0) | target_is_one)
    return xp.where(rounding, 0.0, loss)


def _check_flags(**flags) -> None:
    for name, value in flags.items():
        if not isinstance(value, bool | np.bool_):
            raise TypeError(f"`{name}` must be a bool, got {type(value).__name__}")


def _check_clip(clip) -> None:
    if clip is None:
        return
    if isinstance(clip, bool | np.bool_) or not isinstance(clip, numbers.Real):
        raise TypeError(f"`clip` must be a float or None, got {type(clip).__name__}")
    if not 0.0 < clip < 0.5:
        raise ValueError(f"`clip` must be in (0, 0.5), got {clip!r}")


def _finish(xp, loss, prepared, reduction, axis, dtype, *, logits: bool = False):
    """Warn about infinite losses, apply weights, and reduce."""
    if prepared.valid is not None:
        loss = xp.where(prepared.valid, loss, 0.0)
    # Inactive elements (zero weight, missing label) had their input replaced by a neutral
    # value, so every infinite loss here belongs to an element that counts.
    eager = is_eager(loss) and _host.warnings_enabled()
    if eager and (is_numpy_namespace(xp) or bool(xp.any(xp.isinf(loss)))):
        _warn_infinite(to_numpy(loss), logits=logits)

    weights = prepared.weights
    if reduction == "mean" and weights is not None:
        weights = scale_to_max(xp, weights, axis, prepared.valid)
    unweighted = loss
    if weights is not None:
        # A zero weight removes a row even when its loss is infinite (0 * inf would be NaN).
        loss = _elementwise.multiply_weights(loss, weights, xp)
    loss = prepared.poison(loss)

    if reduction == "none":
        if prepared.valid is not None:
            loss = xp.where(prepared.valid, loss, float("nan"))
        # Adding +0.0 turns the -0.0 of a certain, correct prediction into +0.0.
        loss = loss + 0.0
        with np.errstate(over="ignore"):  # a loss beyond the range of `dtype` becomes inf
            return xp.astype(loss, dtype, copy=False)

    accumulation = accumulation_dtype(xp, loss)
    terms = xp.astype(loss, accumulation, copy=False)
    total = _sum(xp, terms, axis) + 0.0
    overflowed = _overflowed(xp, unweighted, total, axis, eager, lazy=reduction == "mean")
    if reduction == "sum":
        if overflowed is not None and eager and bool(xp.any(overflowed)):
            _warn_sum_overflow(xp, accumulation)
        return _as_float64(total) if is_numpy_namespace(xp) else total

    denominator = _mean_denominator(xp, loss, weights, prepared.valid, axis, accumulation)
    empty = denominator == 0
    if eager and bool(xp.any(empty)):
        warnings.warn(
            "the mean loss is undefined because there is nothing to average (no elements, "
            "or a total weight of 0); returning NaN",
            UndefinedMetricWarning,
            stacklevel=3 + _host.extra_stacklevel(),
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        safe_denominator = xp.where(empty, 1.0, denominator)
        mean = total / safe_denominator
        if overflowed is not None:
            # The weights are at most 1 here, so no scaled term overflows. Scaling back by
            # a power of two is exact, and the mean is at most the largest loss.
            scaled_total = _sum(xp, terms * (1.0 / _RESCUE_FACTOR), axis)
            with np.errstate(over="ignore"):
                rescued = (scaled_total / safe_denominator) * _RESCUE_FACTOR
            mean = xp.where(overflowed, rescued, mean)
        mean = xp.where(empty, float("nan"), mean)
    return _as_float64(mean) if is_numpy_namespace(xp) else mean


# A float64 or float32 sum of finite terms can overflow although their mean, at most their
# largest term, cannot. Multiplying the terms by 2**-64 is exact for terms of at least
# 2**-958 (2**-62 in float32), and the scaled sum of fewer than 2**63 terms stays below
# 2**1023 (2**127), so it fits. Smaller terms lose bits, but they lie far below the last bit
# of a total beyond the range, so the rescued mean is the mean of the unscaled terms.
_RESCUE_EXPONENT = 64
_RESCUE_FACTOR = 2.0**_RESCUE_EXPONENT


def _sum(xp, values, axis):
    """Return ``xp.sum(values, axis=axis)``, inf without a NumPy warning beyond the float range.

    A Dask sum runs when the graph is computed, outside any ``np.errstate`` here, so each
    of its chunk and combine steps gets its own (the steps of ``dask.array.sum``).
    """
    if array_api_compat.is_dask_array(values):
        import dask.array as da

        return da.reduction(values, _quiet_sum, _quiet_sum, axis=axis, dtype=values.dtype)
    with np.errstate(over="ignore"):
        return xp.sum(values, axis=axis)


def _quiet_sum(block, axis=None, keepdims=False):
    with np.errstate(over="ignore"):
        return np.sum(block, axis=axis, keepdims=keepdims)


def _overflowed(xp, loss, total, axis, eager: bool, *, lazy: bool):
    """Return the mask of sums in `total` that are infinite although every `loss` they add is
    finite, or None when there is none.

    `loss` contains the losses before weighting, so a product of a finite loss and a weight
    that overflows counts as finite. An eager call returns None unless a total is
    infinite. A lazy call (Dask, traced JAX) cannot read that, so it returns the mask
    when `lazy` is true and None otherwise.
    """
    if eager:
        if not bool(xp.any(xp.isinf(total))):
            return None
    elif not lazy:
        return None
    return xp.isinf(total) & ~xp.any(xp.isinf(loss), axis=axis)


def _warn_sum_overflow(xp, accumulation) -> None:
    largest = float(xp.finfo(accumulation).max)
    name, limit = ("float64", "1.8e308") if largest > 1e300 else ("float32", "3.4e38")
    warnings.warn(
        f"the sum of the losses is inf although every loss is finite, because the sum "
        f"exceeds the {name} range (about {limit}); reduction='mean' returns the "
        f"exact mean of the same losses",
        LossOverflowWarning,
        stacklevel=4 + _host.extra_stacklevel(),
    )


def _mean_denominator(xp, loss, weights, valid, axis, accumulation):
    """Return the denominator of the mean: the sum of the weights of valid elements, or their count."""
    if weights is not None:
        if valid is not None:
            weights = xp.where(valid, weights, 0.0)
        return xp.sum(xp.astype(weights, accumulation), axis=axis)
    if valid is not None:
        return xp.sum(xp.astype(valid, accumulation), axis=axis)
    count = reduced_count(tuple(loss.shape), axis)
    reduced_shape = tuple(n for i, n in enumerate(loss.shape) if not _is_reduced(i, loss.ndim, axis))
    return xp.full(reduced_shape, count, dtype=accumulation, device=array_api_compat.device(loss))


def _is_reduced(index: int, ndim: int, axis) -> bool:
    if axis is None:
        return True
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return index in {a % ndim for a in axes}


def _as_float64(value):
    array = np.asarray(value, dtype=np.float64)
    return array[()] if array.ndim == 0 else array


def _warn_infinite(loss, *, logits: bool = False) -> None:
    infinite = np.isinf(loss)
    if infinite.any():
        count = int(infinite.sum())
        first = int(np.flatnonzero(infinite.ravel())[0])
        if logits:
            cause = "an infinite logit of the wrong sign for its target, or a loss beyond the float range"
            advice = "check those logits"
        else:
            cause = "a probability of exactly 0 for a positive target or 1 for a negative one"
            advice = "Pass clip= to bound the loss, or check those predictions"
        warnings.warn(
            f"{count} element{'s' if count != 1 else ''} ha{'ve' if count != 1 else 's'} an "
            f"infinite loss ({cause}), the first at index {format_index(first, loss.shape)}; the "
            f"result is inf. {advice[0].upper() + advice[1:]}",
            InfiniteLossWarning,
            stacklevel=4 + _host.extra_stacklevel(),
        )
