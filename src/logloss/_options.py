"""Validation of the labels and options that the loss and its derivatives share.

:func:`prepare` turns ``y_true``, ``weights``, ``pos_weight``, ``label_smoothing`` and
``nan_policy`` into arrays of the predictions' library, device and compute dtype.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np

from ._namespace import as_like, compute_dtype, is_integral, is_numpy_namespace, xp_check
from ._validation import check_in_unit_interval, check_not_nan, check_same_shape, check_weights

__all__ = ["Prepared", "check_axis", "check_reduction", "prepare", "reduced_count", "scale_to_max"]

_NAN_POLICIES = ("raise", "omit")
_NAN_HINT = "; pass nan_policy='omit' to leave rows with missing labels out"


@dataclass(frozen=True)
class Prepared:
    """Labels and options of one call, as arrays of the predictions' namespace ``xp``.

    ``valid`` is False where a label is missing (``nan_policy="omit"``) and ``active`` is
    False where an element contributes nothing (missing label or zero weight); each is None
    when every element is valid or active. ``invalid`` is True where a label, weight or
    pos_weight failed a check that could not raise because the values are traced (see
    :meth:`poison`); it is None when every check could read its values.
    """

    xp: Any
    dtype: Any
    target: Any
    valid: Any
    weights: Any
    pos_weight: Any
    active: Any
    invalid: Any = None
    # ``1 - target`` formed from the labels with label smoothing, None without it (see prepare).
    complement: Any = None

    def with_unchecked(self, *masks):
        """Return a copy whose ``invalid`` also covers `masks` (None or boolean arrays that
        broadcast to the predictions), such as the predictions' own traced checks."""
        masks = [mask for mask in (self.invalid, *masks) if mask is not None]
        if not masks:
            return self
        bad = masks[0]
        for mask in masks[1:]:
            bad = bad | mask
        return dataclasses.replace(self, invalid=bad)

    def poison(self, values, *masks):
        """Return ``values`` with NaN where ``invalid`` or one of `masks` (None or boolean
        arrays that broadcast to ``values``) is True.

        The callers apply it after zeroing the elements of weight 0 and of omitted labels,
        so an invalid input there gives NaN too, as it raises in an eager call.

        Under tracing the checks cannot raise, so an invalid input gives a NaN result
        instead of a plausible number. The values are multiplied by NaN there, not replaced,
        so that autograd's derivative of the result is NaN too (a replacement would have
        derivative 0).
        """
        bad = self.with_unchecked(*masks).invalid
        if bad is None:
            return values
        return values * self.xp.where(bad, math.nan, 1.0)

    def neutralize(self, values, neutral: float):
        """Replace ``values`` by ``neutral`` where the element is inactive.

        An inactive element's loss is discarded, so its input only has to keep that loss
        and its autograd gradient finite (a discarded infinite loss would give 0 * inf).
        """
        if self.active is None:
            return values
        return self.xp.where(self.active, values, neutral)


def check_reduction(reduction, allowed: tuple[str, ...] = ("none", "sum", "mean")) -> None:
    if not isinstance(reduction, str) or reduction not in allowed:
        choices = ", ".join(repr(choice) for choice in allowed)
        raise ValueError(f"`reduction` must be one of {choices}, got {reduction!r}")


def check_axis(axis, ndim: int):
    """Validate ``axis`` for an array of ``ndim`` dimensions and return it with Python ints."""
    if axis is None:
        return None
    axes = axis if isinstance(axis, tuple) else (axis,)
    for value in axes:
        if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
            got = type(axis).__name__
            if isinstance(axis, tuple):
                got = f"tuple containing {type(value).__name__}"
            raise TypeError(f"`axis` must be an int, a tuple of ints or None, got {got}")
        if not -ndim <= value < ndim:
            raise ValueError(f"`axis` must be in [-{ndim}, {ndim}) for `y_pred` with {ndim} dimensions, got {value}")
    normalized = tuple(int(value) for value in axes)
    if len({value % ndim for value in normalized}) != len(normalized):
        raise ValueError(f"`axis` must not repeat an axis, got {axis}")
    return normalized if isinstance(axis, tuple) else normalized[0]


def prepare(xp, predictions, y_true, weights, weights_axis, pos_weight, label_smoothing, nan_policy) -> Prepared:
    """Validate labels and options against ``predictions``; see :class:`Prepared`."""
    if nan_policy not in _NAN_POLICIES:
        raise ValueError(f"`nan_policy` must be 'raise' or 'omit', got {nan_policy!r}")
    if isinstance(label_smoothing, bool | np.bool_) or not isinstance(label_smoothing, numbers.Real):
        raise TypeError(f"`label_smoothing` must be a float, got {type(label_smoothing).__name__}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"`label_smoothing` must be in [0, 1), got {label_smoothing!r}")

    dtype = compute_dtype(xp, predictions)
    shape = tuple(predictions.shape)
    labels = as_like(y_true, "y_true", xp, predictions)
    check_same_shape(labels, "y_true", shape, "y_pred")
    unchecked = []  # masks of values that traced checks could not raise for
    target, valid = _prepare_target(xp, labels, dtype, nan_policy, unchecked)
    complement = None
    if label_smoothing:
        # The smoothed negative coefficient is formed from 1 - y, which is exact for hard
        # labels, not as 1 - target. A target of 1 - 5e-13 is stored about 1e-4 off in its
        # distance from 1, and that distance is the coefficient of the negative term.
        complement = 1.0 - target
        if array_api_compat.is_jax_namespace(xp):
            import jax

            # Under jit, XLA may rewrite (1 - t) * k + c as (k + c) - t * k, which gives 0
            # for t = 1 when k + c rounds to k (label_smoothing below 1e-16 in float64).
            complement = jax.lax.optimization_barrier(complement)
        complement = complement * (1.0 - label_smoothing) + 0.5 * label_smoothing
        target = target * (1.0 - label_smoothing) + 0.5 * label_smoothing

    weight_array = _prepare_weights(xp, weights, weights_axis, predictions, dtype, unchecked)
    pos_weight_array = _prepare_pos_weight(xp, pos_weight, predictions, dtype, unchecked)
    active = valid
    if weight_array is not None:
        nonzero = weight_array != 0
        active = nonzero if active is None else active & nonzero
    invalid = None
    for mask in unchecked:
        invalid = mask if invalid is None else invalid | mask
    return Prepared(xp, dtype, target, valid, weight_array, pos_weight_array, active, invalid, complement)


def _append_mask(unchecked: list, mask) -> None:
    if mask is not None:
        unchecked.append(mask)


def _prepare_target(xp, labels, dtype, nan_policy, unchecked: list):
    integral = is_integral(xp, labels)
    valid = None
    if nan_policy == "raise":
        _append_mask(unchecked, xp_check(check_not_nan, xp, labels, "y_true", _NAN_HINT))
    elif not integral:
        missing = xp.isnan(labels)
        # On NumPy the mask is kept only when a label is missing; elsewhere reading that
        # would cost a host transfer (or be impossible under tracing), so it is always kept.
        if not is_numpy_namespace(xp) or missing.any():
            valid = ~missing
    # Checked before the cast, so that the message shows the label as given. A missing label
    # that nan_policy="omit" leaves out compares False, so it is not out of range.
    _append_mask(unchecked, xp_check(check_in_unit_interval, xp, labels, "y_true"))
    target = xp.astype(labels, dtype)
    if valid is not None:
        target = xp.where(valid, target, 0.0)
    return target, valid


def _prepare_weights(xp, weights, weights_axis, predictions, dtype, unchecked: list):
    shape = tuple(predictions.shape)
    if weights is None:
        if weights_axis is not None:
            raise ValueError(f"`weights_axis` must be None when `weights` is None, got {weights_axis!r}")
        return None
    weight_array = as_like(weights, "weights", xp, predictions)
    if weights_axis is None:
        _check_weights_axis_needed(weight_array, shape)
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
        weight_array = xp.reshape(weight_array, tuple(view_shape))
    _append_mask(unchecked, xp_check(check_weights, xp, weight_array, "weights"))
    return xp.broadcast_to(xp.astype(weight_array, dtype), shape)


def _check_weights_axis_needed(weight_array, shape: tuple) -> None:
    """Raise ValueError, naming ``weights_axis``, for one weight per row or column of 2-D or wider predictions."""
    if weight_array.ndim != 1 or len(shape) < 2:
        return
    axes = [axis for axis, length in enumerate(shape) if length == weight_array.shape[0]]
    if axes:
        choices = " or ".join(f"weights_axis={axis}" for axis in axes)
        raise ValueError(
            f"`weights` must have the same shape as `y_pred` {shape} or come with `weights_axis`, "
            f"got shape {tuple(weight_array.shape)}; for one weight per slice along an axis, pass "
            f"{choices}"
        )


def _prepare_pos_weight(xp, pos_weight, predictions, dtype, unchecked: list):
    if pos_weight is None:
        return None
    shape = tuple(predictions.shape)
    array = as_like(pos_weight, "pos_weight", xp, predictions)
    allowed = {(), shape[-1:], shape}
    if tuple(array.shape) not in allowed:
        shapes = f" or have shape {shape[-1:]} (one value per column) or shape {shape} (one per element)"
        if len(shape) <= 1:
            shapes = f" or have shape {shape} (one value per element)" if shape else ""
        raise ValueError(f"`pos_weight` must be a scalar{shapes}, got shape {tuple(array.shape)}")
    _append_mask(unchecked, xp_check(check_weights, xp, array, "pos_weight"))
    return xp.astype(array, dtype)


def reduced_count(shape, axis) -> float:
    """Return how many elements each reduction over ``axis`` of an array of ``shape`` averages."""
    if axis is None:
        return float(math.prod(shape))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return float(math.prod(shape[a] for a in axes))


def scale_to_max(xp, weights, axis=None, valid=None):
    """Divide ``weights`` by their maximum over the reduced `axis`, so that their sums stay in range.

    A weighted mean does not change when every weight of its slice is scaled by one
    constant, and dividing by the slice's largest weight keeps sums of weights near 1e308
    or 5e-324 finite and non-zero (except under XLA, which flushes subnormal weights to 0). One maximum for the whole array would not: a slice of
    weights near 1e-30 next to one near 1e300 would fall to 0. `weights` has the
    dimensions of the predictions (size 1 along an axis it does not vary over), and
    `axis` is that of the mean (None for all axes). Where `valid` (a boolean array or None)
    is False, the label is missing: its weight does not count and is returned as 0, so
    that a huge one cannot overflow. All-zero and empty slices are returned as they are.
    """
    if math.prod(weights.shape) == 0:
        return weights
    counted = weights if valid is None else xp.where(valid, weights, 0.0)
    largest = xp.max(counted, axis=axis, keepdims=True)
    largest = xp.where(largest > 0, largest, 1.0)
    if not array_api_compat.is_jax_namespace(xp):
        return counted / largest
    import jax

    # XLA on the CPU divides by multiplying with the reciprocal, which it flushes to 0 when
    # it is subnormal (a largest weight above about 4.5e307), and every weight became 0.
    # Two divisions by the square root keep each reciprocal normal. The barrier keeps XLA
    # from merging them back into one.
    root = xp.sqrt(largest)
    return jax.lax.optimization_barrier(counted / root) / root
