"""Binary cross-entropy from probabilities and from logits, on NumPy arrays.

Both entry points compute every element in float64, whatever the input dtype, and
accumulate sums in float64 with NumPy's pairwise summation. The elementwise formulas are in
``_elementwise``; this module validates arguments, applies weights and reduces.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

from . import _elementwise, _fast
from ._validation import (
    as_numeric_array,
    check_in_unit_interval,
    check_not_nan,
    check_same_shape,
    check_weights,
    format_index,
    output_dtype,
)
from ._warnings import InfiniteLossWarning, UndefinedMetricWarning

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits"]

Reduction = Literal["none", "sum", "mean"]
NanPolicy = Literal["raise", "omit"]

_REDUCTIONS = ("none", "sum", "mean")
_NAN_POLICIES = ("raise", "omit")
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
        are accepted. Any shape.
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
        ``y_pred`` equals the target, and never negative.
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
        When given, probabilities are clipped to ``[clip, 1 - clip]`` before the loss is
        computed, so no loss exceeds :math:`-\log(\mathrm{clip})`. Nothing is clipped unless
        asked. `clip` must lie in (0, 0.5) and ``1 - clip`` must differ from 1 in float64.

    Returns
    -------
    loss : numpy.ndarray or numpy.float64
        The loss of each element, or its reduction.

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
    the exact value. Pass `clip` to bound it instead.

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
    fast = _fast.binary_cross_entropy(y_pred, y_true, clip=clip, **options)
    if fast is not None:
        return fast
    predictions = as_numeric_array(y_pred, "y_pred")
    check_not_nan(predictions, "y_pred", _LOGIT_HINT)
    check_in_unit_interval(predictions, "y_pred", _LOGIT_HINT)
    _check_clip(clip)
    target, valid, weight_array, pos_weight_array = _prepare(
        predictions, y_true, weights, weights_axis, pos_weight, label_smoothing, nan_policy
    )
    _check_reduction(reduction)

    probability = predictions.astype(np.float64, copy=clip is not None)
    if clip is not None:
        np.clip(probability, clip, 1.0 - clip, out=probability)
    loss = _elementwise.loss_from_probability(probability, target, pos_weight_array)
    if subtract_entropy:
        loss -= _elementwise.loss_from_probability(target, target, pos_weight_array)
    return _finish(loss, valid, weight_array, reduction, axis, output_dtype(predictions))


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
        Integer arrays are accepted. Any shape.
    y_true : array_like
        Targets in [0, 1] of the same shape as `logits`.
    weights, weights_axis, pos_weight, label_smoothing, subtract_entropy, reduction, axis, nan_policy
        As in :func:`binary_cross_entropy`.

    Returns
    -------
    loss : numpy.ndarray or numpy.float64
        The loss of each element, or its reduction.

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
    0.0
    >>> float(binary_cross_entropy_with_logits(z, np.array([0.0]), reduction="none")[0])
    4.248354255291589e-18
    """
    options = dict(weights=weights, weights_axis=weights_axis, pos_weight=pos_weight, label_smoothing=label_smoothing,
                   subtract_entropy=subtract_entropy, reduction=reduction, axis=axis, nan_policy=nan_policy)
    fast = _fast.binary_cross_entropy_with_logits(logits, y_true, **options)
    if fast is not None:
        return fast
    scores = as_numeric_array(logits, "logits")
    check_not_nan(scores, "logits")
    target, valid, weight_array, pos_weight_array = _prepare(
        scores, y_true, weights, weights_axis, pos_weight, label_smoothing, nan_policy
    )
    _check_reduction(reduction)

    loss = _elementwise.loss_from_logit(scores.astype(np.float64, copy=False), target, pos_weight_array)
    if subtract_entropy:
        loss -= _elementwise.loss_from_probability(target, target, pos_weight_array)
    return _finish(loss, valid, weight_array, reduction, axis, output_dtype(scores))


def _check_clip(clip) -> None:
    if clip is None:
        return
    if isinstance(clip, bool) or not isinstance(clip, (int, float, np.floating)):
        raise TypeError(f"`clip` must be a float or None, got {type(clip).__name__}")
    if not (0.0 < clip < 0.5) or 1.0 - float(clip) == 1.0:
        raise ValueError(
            f"`clip` must be in (0, 0.5) and large enough that 1 - clip < 1 in float64 "
            f"(at least 2**-53), got {clip!r}"
        )


def _check_reduction(reduction) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"`reduction` must be one of 'none', 'sum', 'mean', got {reduction!r}")


def _prepare(predictions, y_true, weights, weights_axis, pos_weight, label_smoothing, nan_policy):
    """Validate labels and options; return float64 targets, the valid mask, weights, pos_weight."""
    if nan_policy not in _NAN_POLICIES:
        raise ValueError(f"`nan_policy` must be 'raise' or 'omit', got {nan_policy!r}")
    labels = as_numeric_array(y_true, "y_true")
    check_same_shape(labels, "y_true", predictions.shape, "y_pred")

    valid = None
    if nan_policy == "raise":
        check_not_nan(labels, "y_true", "; pass nan_policy='omit' to leave rows with missing labels out")
    elif labels.dtype.kind not in "biu":
        missing = np.isnan(labels)
        if missing.any():
            valid = ~missing
    target = labels.astype(np.float64, copy=valid is not None)
    if valid is not None:
        target[~valid] = 0.0
    check_in_unit_interval(target, "y_true")

    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float, np.floating)):
        raise TypeError(f"`label_smoothing` must be a float, got {type(label_smoothing).__name__}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"`label_smoothing` must be in [0, 1), got {label_smoothing!r}")
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + 0.5 * label_smoothing

    weight_array = _prepare_weights(weights, weights_axis, predictions.shape)
    pos_weight_array = _prepare_pos_weight(pos_weight, predictions.shape)
    return target, valid, weight_array, pos_weight_array


def _prepare_weights(weights, weights_axis, shape):
    if weights is None:
        if weights_axis is not None:
            raise ValueError(f"`weights_axis` must be None when `weights` is None, got {weights_axis!r}")
        return None
    weight_array = as_numeric_array(weights, "weights")
    if weights_axis is None:
        check_same_shape(weight_array, "weights", shape, "y_pred")
    else:
        if isinstance(weights_axis, bool) or not isinstance(weights_axis, (int, np.integer)):
            raise TypeError(f"`weights_axis` must be an int, got {type(weights_axis).__name__}")
        if not -len(shape) <= weights_axis < len(shape):
            raise ValueError(
                f"`weights_axis` must be a valid axis of `y_pred` with {len(shape)} dimensions, "
                f"got {weights_axis}"
            )
        axis_length = shape[weights_axis]
        check_same_shape(weight_array, "weights", (axis_length,), f"y_pred along axis {weights_axis}")
        view_shape = [1] * len(shape)
        view_shape[weights_axis] = axis_length
        weight_array = weight_array.reshape(view_shape)
    check_weights(weight_array, "weights")
    return np.broadcast_to(weight_array.astype(np.float64, copy=False), shape)


def _prepare_pos_weight(pos_weight, shape):
    if pos_weight is None:
        return None
    array = as_numeric_array(pos_weight, "pos_weight")
    allowed = {(), tuple(shape[-1:]), tuple(shape)}
    if tuple(array.shape) not in allowed:
        raise ValueError(
            f"`pos_weight` must be a scalar, have shape {tuple(shape[-1:])} (one value per "
            f"column) or shape {tuple(shape)} (one per element), got shape {tuple(array.shape)}"
        )
    check_weights(array, "pos_weight")
    return array.astype(np.float64, copy=False)


def _finish(loss, valid, weight_array, reduction, axis, dtype):
    """Apply weights, warn about infinite losses, and reduce."""
    if weight_array is not None:
        # A zero weight removes a row even when its loss is infinite (0 * inf would be NaN).
        loss = np.where(weight_array == 0.0, 0.0, loss * weight_array)
    if valid is not None:
        loss[~valid] = 0.0
    _warn_infinite(loss)

    if reduction == "none":
        if valid is not None:
            loss[~valid] = np.nan
        return loss.astype(dtype, copy=False)

    total = np.sum(loss, axis=axis)
    if reduction == "sum":
        return _as_float64(total)

    if weight_array is not None:
        denominator = np.sum(weight_array if valid is None else np.where(valid, weight_array, 0.0), axis=axis)
    elif valid is not None:
        denominator = np.sum(valid, axis=axis, dtype=np.float64)
    else:
        reduced_size = np.size(total)
        denominator = np.full(np.shape(total), loss.size / reduced_size if reduced_size else 0.0)
    empty = denominator == 0
    if np.any(empty):
        warnings.warn(
            "the mean loss is undefined because there is nothing to average (no elements, "
            "or a total weight of 0); returning NaN",
            UndefinedMetricWarning,
            stacklevel=3,
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(empty, np.nan, total / np.where(empty, 1.0, denominator))
    return _as_float64(mean)


def _as_float64(value):
    array = np.asarray(value, dtype=np.float64)
    return array[()] if array.ndim == 0 else array


def _warn_infinite(loss) -> None:
    infinite = np.isinf(loss)
    if infinite.any():
        count = int(infinite.sum())
        first = int(np.flatnonzero(infinite.ravel())[0])
        warnings.warn(
            f"{count} element{'s' if count != 1 else ''} ha{'ve' if count != 1 else 's'} an "
            f"infinite loss (a probability of exactly 0 for a positive target or 1 for a "
            f"negative one), the first at index {format_index(first, loss.shape)}; the result "
            f"is inf. Pass clip= to bound the loss, or check those predictions",
            InfiniteLossWarning,
            stacklevel=4,
        )
