"""Analytic gradient and Hessian of the binary cross-entropy, and boosting objectives.

The derivatives are per element, of the weighted loss summed (or averaged) over the inputs,
so they are what a Newton step, a second-order optimizer or a gradient-boosting library
needs. They use the formulas of ``_elementwise`` on any array library, like the loss.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Literal

import numpy as np

from . import _elementwise, _host
from ._namespace import accumulation_dtype, as_array, is_eager, is_numpy_namespace, output_dtype, xp_check
from ._options import check_axis, check_reduction, prepare, scale_to_max
from ._validation import check_in_unit_interval, check_not_nan, nan_hint
from ._warnings import UndefinedMetricWarning

__all__ = [
    "binary_cross_entropy_grad_hess",
    "binary_cross_entropy_with_logits_grad_hess",
    "boosting_objective",
]

_LOGIT_HINT = (
    "; if these are raw model scores (logits), call "
    "binary_cross_entropy_with_logits_grad_hess instead"
)


def binary_cross_entropy_grad_hess(
    y_pred,
    y_true,
    *,
    weights=None,
    weights_axis: int | None = None,
    pos_weight=None,
    label_smoothing: float = 0.0,
    reduction: Literal["sum", "mean"] = "sum",
    axis: int | tuple[int, ...] | None = None,
    nan_policy: Literal["raise", "omit"] = "raise",
):
    r"""Compute the gradient and Hessian of the binary cross-entropy in the probabilities.

    For the loss :math:`\ell = -w(\omega y \log p + (1 - y) \log(1 - p))` of
    :func:`binary_cross_entropy`, each element gets

    .. math::

        \frac{\partial \ell}{\partial p} = w\Bigl(\frac{1 - y}{1 - p} - \frac{\omega y}{p}\Bigr),
        \qquad
        \frac{\partial^2 \ell}{\partial p^2} = w\Bigl(\frac{\omega y}{p^2} + \frac{1 - y}{(1 - p)^2}\Bigr),

    with :math:`y` the smoothed target :math:`y(1 - \varepsilon) + \varepsilon / 2` when
    `label_smoothing` is :math:`\varepsilon`. The Hessian is diagonal, so it is returned as
    one value per element.

    Parameters
    ----------
    y_pred : array_like
        Predicted probabilities in [0, 1], of any array library (see
        :func:`binary_cross_entropy`).
    y_true : array_like
        Targets in [0, 1] of the same shape.
    weights, weights_axis, pos_weight, label_smoothing, axis, nan_policy
        As in :func:`binary_cross_entropy`. Elements with a missing label
        (``nan_policy="omit"``) or a zero weight get gradient and Hessian 0.
    reduction : {"sum", "mean"}, default "sum"
        The loss differentiated: the weighted sum, or the weighted mean
        :math:`\sum w\ell' / \sum w` over `axis` (each derivative divided by the mean's
        denominator).

    Returns
    -------
    gradient, hessian : array
        Arrays of the shape of `y_pred`, in its library, on its device and in the dtype of
        the loss with ``reduction="none"``.

    Raises
    ------
    TypeError, ValueError
        As :func:`binary_cross_entropy`.

    See Also
    --------
    binary_cross_entropy_with_logits_grad_hess : The same in the logits, exact in both tails.

    Notes
    -----
    Each term is 0 where its coefficient is 0 (the xlogy convention), so the derivatives at
    the ends of [0, 1] are the finite one-sided values wherever the loss is finite: at
    :math:`p = 1, y = 1` the gradient is :math:`-\omega w` and at :math:`p = 0, y = 0` it is
    :math:`w`. Where the loss is infinite, or a soft label meets :math:`p \in \{0, 1\}`, the
    gradient is :math:`\pm\infty` and the Hessian :math:`+\infty`. The result is never NaN.
    The textbook :math:`(p - y) / (p (1 - p))` is :math:`0/0` = NaN at both ends.

    Examples
    --------
    >>> import numpy as np
    >>> from logloss import binary_cross_entropy_grad_hess
    >>> gradient, hessian = binary_cross_entropy_grad_hess(np.array([1.0, 0.0, 0.5]), np.array([1, 0, 1]))
    >>> gradient.tolist(), hessian.tolist()
    ([-1.0, 1.0, -2.0], [1.0, 1.0, 4.0])
    """
    arrays = {"y_true": y_true, "weights": weights, "pos_weight": pos_weight}
    exact = _host.route(binary_cross_entropy_grad_hess, y_pred, arrays, _options(locals()), reduced=False)
    if exact is not None:
        return exact
    xp, predictions = as_array(y_pred, "y_pred")
    missing = xp_check(check_not_nan, xp, predictions, "y_pred", nan_hint(nan_policy))
    out_of_range = xp_check(check_in_unit_interval, xp, predictions, "y_pred", _LOGIT_HINT)
    check_reduction(reduction, ("sum", "mean"))
    axis = check_axis(axis, predictions.ndim)
    prepared = prepare(xp, predictions, y_true, weights, weights_axis, pos_weight, label_smoothing, nan_policy)

    probability = prepared.neutralize(xp.astype(predictions, prepared.dtype), 0.5)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        gradient, hessian = _elementwise.grad_hess_from_probability(
            probability, prepared.target, prepared.pos_weight, xp, prepared.complement
        )
    prepared = prepared.with_unchecked(missing, out_of_range)
    return _finish(xp, gradient, hessian, prepared, reduction, axis, output_dtype(xp, predictions, prepared.dtype))


def binary_cross_entropy_with_logits_grad_hess(
    logits,
    y_true,
    *,
    weights=None,
    weights_axis: int | None = None,
    pos_weight=None,
    label_smoothing: float = 0.0,
    reduction: Literal["sum", "mean"] = "sum",
    axis: int | tuple[int, ...] | None = None,
    nan_policy: Literal["raise", "omit"] = "raise",
):
    r"""Compute the gradient and Hessian of the binary cross-entropy in the logits.

    For the loss :math:`\ell = w(\omega y\,\mathrm{softplus}(-z) + (1 - y)\,\mathrm{softplus}(z))`
    of :func:`binary_cross_entropy_with_logits`, each element gets

    .. math::

        \frac{\partial \ell}{\partial z} = w\bigl((1 - y)\,\sigma(z) - \omega y\,\sigma(-z)\bigr),
        \qquad
        \frac{\partial^2 \ell}{\partial z^2} = w\,\sigma(z)\,\sigma(-z)\,\bigl(1 - y + \omega y\bigr),

    which for :math:`\omega = 1` are :math:`w(\sigma(z) - y)` and :math:`w\sigma(z)(1 - \sigma(z))`.

    Parameters
    ----------
    logits : array_like
        Raw scores (log-odds), any real value including ``±inf``, of any array library.
    y_true : array_like
        Targets in [0, 1] of the same shape.
    weights, weights_axis, pos_weight, label_smoothing, reduction, axis, nan_policy
        As in :func:`binary_cross_entropy_grad_hess`.

    Returns
    -------
    gradient, hessian : array
        Arrays of the shape of `logits`, in its library, on its device and dtype policy.

    Raises
    ------
    TypeError, ValueError
        As :func:`binary_cross_entropy_with_logits`.

    See Also
    --------
    boosting_objective : These derivatives as an XGBoost or LightGBM custom objective.

    Notes
    -----
    :math:`\sigma(z)` and :math:`\sigma(-z)` are both computed from :math:`e = \exp(-|z|)` as
    :math:`1/(1 + e)` and :math:`e/(1 + e)`, so neither is formed as :math:`1 - \sigma`. For
    a hard label the gradient is then a single product that keeps full relative precision
    in both tails, where the textbook ``sigmoid(z) - y`` rounds to 0: at :math:`z = 37.43`,
    :math:`y = 1` it is :math:`-5.55 \times 10^{-17}`. Infinite logits give gradients of 0
    or :math:`\pm\omega w` and Hessian 0, never NaN. For a soft label near its optimum
    :math:`\sigma(z) \approx y` the gradient is a difference, and its absolute error is about
    one unit in the last place of :math:`y`.

    Examples
    --------
    >>> import numpy as np
    >>> from logloss import binary_cross_entropy_with_logits_grad_hess
    >>> z = np.array([37.42994775023705])
    >>> float((1 / (1 + np.exp(-z)) - 1)[0])  # textbook: every digit lost
    0.0
    >>> gradient, hessian = binary_cross_entropy_with_logits_grad_hess(z, np.array([1]))
    >>> float(gradient[0])
    -5.551115123125776e-17
    """
    arrays = {"y_true": y_true, "weights": weights, "pos_weight": pos_weight}
    exact = _host.route(binary_cross_entropy_with_logits_grad_hess, logits, arrays, _options(locals()), reduced=False)
    if exact is not None:
        return exact
    xp, scores = as_array(logits, "logits")
    missing = xp_check(check_not_nan, xp, scores, "logits", nan_hint(nan_policy))
    check_reduction(reduction, ("sum", "mean"))
    axis = check_axis(axis, scores.ndim)
    prepared = prepare(xp, scores, y_true, weights, weights_axis, pos_weight, label_smoothing, nan_policy)

    z = prepared.neutralize(xp.astype(scores, prepared.dtype), 0.0)
    gradient, hessian = _elementwise.grad_hess_from_logit(z, prepared.target, prepared.pos_weight, xp, prepared.complement)
    prepared = prepared.with_unchecked(missing)
    return _finish(xp, gradient, hessian, prepared, reduction, axis, output_dtype(xp, scores, prepared.dtype))


def _options(arguments: dict) -> dict:
    """Return the keyword options among a public function's ``locals()``, for :func:`_host.route`."""
    names = ("weights_axis", "label_smoothing", "reduction", "axis", "nan_policy")
    return {name: arguments[name] for name in names}


def _finish(xp, gradient, hessian, prepared, reduction, axis, dtype):
    """Apply weights and the mean's denominator, zero inactive elements, and cast."""
    weights = prepared.weights
    if reduction == "mean" and weights is not None:
        weights = scale_to_max(xp, weights, axis, prepared.valid)
    if weights is not None:
        gradient = _elementwise.multiply_weights(gradient, weights, xp)
        hessian = _elementwise.multiply_weights(hessian, weights, xp)
    if prepared.active is not None:
        gradient = xp.where(prepared.active, gradient, 0.0)
        hessian = xp.where(prepared.active, hessian, 0.0)
    gradient, hessian = prepared.poison(gradient), prepared.poison(hessian)
    if reduction == "mean":
        denominator = _mean_denominator(xp, gradient, weights, prepared.valid, axis)
        undefined = is_eager(gradient) and _host.warnings_enabled() and bool(xp.any(xp.isnan(denominator)))
        # An empty input gives empty derivatives, which contain no NaN to warn about.
        if undefined and math.prod(gradient.shape) > 0:
            warnings.warn(
                "the mean loss is undefined because there is nothing to average (no elements, "
                "or a total weight of 0), and so are its derivatives; returning NaN",
                UndefinedMetricWarning,
                stacklevel=3 + _host.extra_stacklevel(),
            )
        gradient = gradient / denominator
        hessian = hessian / denominator
    with np.errstate(over="ignore"):  # a value beyond the range of `dtype` becomes inf
        return xp.astype(gradient, dtype, copy=False), xp.astype(hessian, dtype, copy=False)


def _mean_denominator(xp, like, weights, valid, axis):
    """Return the mean's denominator with the reduced axes kept, so that it broadcasts."""
    if weights is not None:
        mass = weights
    else:
        mass = xp.ones_like(like)
    if valid is not None:
        mass = xp.where(valid, mass, 0.0)
    accumulation = accumulation_dtype(xp, like)
    total = xp.sum(xp.astype(mass, accumulation), axis=axis, keepdims=True)
    # Where nothing is averaged the mean is undefined (NaN, as the loss), and so are its
    # derivatives. A NaN denominator makes them NaN.
    total = xp.where(total == 0, float("nan"), total)
    return xp.astype(total, like.dtype) if not is_numpy_namespace(xp) else total


_BOOSTING_LIBRARIES = ("xgboost", "lightgbm", "sklearn")


def boosting_objective(
    library: Literal["xgboost", "lightgbm", "sklearn"],
    *,
    pos_weight=None,
    label_smoothing: float = 0.0,
) -> Callable:
    r"""Return the binary cross-entropy as a custom objective for gradient boosting.

    The callable returns ``(gradient, hessian)`` of
    :func:`binary_cross_entropy_with_logits_grad_hess` in the raw scores (margins) that the
    booster passes, with the sample weights of the training set applied.

    Parameters
    ----------
    library : {"xgboost", "lightgbm", "sklearn"}
        The calling convention:

        - "xgboost": ``objective(predt, dtrain)`` for ``xgboost.train(params, dtrain,
          obj=objective)``; labels and weights come from the ``DMatrix``.
        - "lightgbm": ``objective(preds, train_data)`` for
          ``lightgbm.train({"objective": objective, ...}, train_data)``; labels and weights
          come from the ``Dataset``.
        - "sklearn": ``objective(y_true, y_pred, sample_weight=None)`` for
          ``xgboost.XGBClassifier(objective=objective, base_score=0.5)`` and
          ``lightgbm.LGBMClassifier(objective=objective)`` (XGBoost passes the weights by the
          keyword ``sample_weight``, LightGBM as the third positional argument).
    pos_weight, label_smoothing
        As in :func:`binary_cross_entropy_with_logits`.

    Returns
    -------
    objective : callable
        The custom objective. Its predictions are margins: with it, ``Booster.predict`` of
        XGBoost and LightGBM returns margins, and :math:`\sigma(\text{margin})` is the
        probability. ``XGBClassifier.predict_proba`` applies :math:`\sigma` itself.

    Raises
    ------
    ValueError
        If `library` is not one of the three conventions, or an option's value is invalid.
    TypeError
        If an option has the wrong type.

    Notes
    -----
    The built-in objectives start from other margins: XGBoost's ``binary:logistic`` reads
    ``base_score`` as a probability (and estimates it from the labels when it is not
    given), and LightGBM's ``binary`` starts from the log-odds of the mean label
    (``boost_from_average``). With a custom objective, ``xgboost.train`` and
    ``XGBRegressor`` read ``base_score`` as a margin, but ``XGBClassifier`` still reads it
    as a probability (xgboost 3.2): there ``base_score=0.0`` starts every margin at
    :math:`\mathrm{logit}(10^{-6}) = -13.8` and trains a useless model. LightGBM starts a
    custom objective from 0. To compare with the built-in objective, start both from
    margin 0: ``base_score=0.5`` for ``binary:logistic`` and for ``XGBClassifier`` with the
    custom objective, ``base_score=0.0`` with ``xgboost.train`` or ``XGBRegressor``, and
    ``boost_from_average=False`` in LightGBM. Trained that way on the bundled data (5 to 10
    rounds, one thread), each reaches the built-in log loss within 1e-6
    (``tests/test_boosting.py``).

    Examples
    --------
    >>> import numpy as np
    >>> from logloss import boosting_objective
    >>> objective = boosting_objective("sklearn")
    >>> gradient, hessian = objective(np.array([1.0, 0.0]), np.array([0.0, 0.0]))
    >>> gradient.tolist(), hessian.tolist()
    ([-0.5, 0.5], [0.25, 0.25])
    """
    if library not in _BOOSTING_LIBRARIES:
        raise ValueError(f"`library` must be one of 'xgboost', 'lightgbm', 'sklearn', got {library!r}")
    # Check the options now, with their usual messages, rather than at the booster's first call.
    try:
        shape = np.shape(pos_weight)
    except ValueError:  # a ragged list: the call below names the problem
        shape = ()
    probe = np.zeros(shape)
    binary_cross_entropy_with_logits_grad_hess(probe, probe, pos_weight=pos_weight, label_smoothing=label_smoothing)

    def derivatives(margins, labels, weights):
        margins = np.asarray(margins, dtype=np.float64).reshape(np.shape(labels))
        if weights is not None and np.size(weights) == 0:
            weights = None
        return binary_cross_entropy_with_logits_grad_hess(
            margins, labels, weights=weights, pos_weight=pos_weight, label_smoothing=label_smoothing
        )

    if library == "xgboost":

        def xgboost_objective(predt, dtrain):
            return derivatives(predt, dtrain.get_label(), dtrain.get_weight())

        return xgboost_objective
    if library == "lightgbm":

        def lightgbm_objective(preds, train_data):
            return derivatives(preds, train_data.get_label(), train_data.get_weight())

        return lightgbm_objective

    def sklearn_objective(y_true, y_pred, sample_weight=None):
        return derivatives(y_pred, y_true, sample_weight)

    return sklearn_objective
