"""Exact results for eager PyTorch and JAX arrays on the CPU: the NumPy path on a host view.

NumPy, PyTorch and JAX each ship their own ``exp``, ``log``, ``log1p`` and summation order.
So one set of formulas run in each library lands a few ulp apart, up to 128 ulp with the
``log1p`` of XLA on the CPU (jaxlib 0.10), and XLA flushes subnormal results to 0. So the
public loss and derivative functions compute concrete real arrays of those libraries on
the CPU with the NumPy reference path itself. Each argument is viewed as a NumPy array:
``Tensor.numpy()`` after ``detach()`` shares the tensor's memory, and ``np.asarray`` of a
JAX CPU array is a read-only view. The NumPy function runs on the views, and its result
is returned in the caller's library, dtype and device. The libraries
then agree with NumPy bit for bit, numba fast path included, and every validation error
and warning is the NumPy one.

The route applies when the predictions are a PyTorch tensor or JAX array of a dtype that
NumPy has (float16, float32, float64, integers, bool) or of a float8 type. PyTorch float8
tensors are copied to float32, which is exact. Their values, and those of every other
array argument, must be readable on the CPU. Everything else keeps the array-API
formulas in the input's library: bfloat16, other devices (CUDA, MPS),
CuPy, Dask, JAX tracers (``jit``, ``grad``, ``vmap``), ``torch.func`` transforms and
``torch.compile``. The route costs the NumPy computation, a
copy of the result into the caller's library, and a copy of each input that the library
cannot share.

Autograd keeps flowing. When PyTorch records gradients for an argument, the array-API
formulas also run in PyTorch, and the result carries the exact value with the gradient
of those formulas (:func:`_exact_with_gradient_of`).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools

import array_api_compat
import numpy as np

from ._namespace import accumulation_dtype, compute_dtype, output_dtype, widen_torch_float8
from ._validation import FLOAT8_NAMES

__all__ = ["extra_stacklevel", "formulas_only", "route", "warnings_enabled"]

# Frames between the caller and the nested NumPy call (this module and the public function),
# added to the stacklevel of every warning issued inside it.
_EXTRA_STACKLEVEL = contextvars.ContextVar("logloss_host_extra_stacklevel", default=0)
# True while the array-API formulas run only for their gradient: the host call validates
# and warns, so this run stays quiet and is not routed again.
_FORMULA_ONLY = contextvars.ContextVar("logloss_host_formula_only", default=False)


@contextlib.contextmanager
def formulas_only():
    """Run the array-API formulas in the input's library inside this block (for measurements).

    Validation still raises, but the warnings about the result are not issued.
    """
    with _set(_FORMULA_ONLY, True):
        yield


def extra_stacklevel() -> int:
    """Return how many frames a nested host call adds between a warning and the user's call."""
    return _EXTRA_STACKLEVEL.get()


def warnings_enabled() -> bool:
    """Return False while the formulas run only for their gradient (the host call warns)."""
    return not _FORMULA_ONLY.get()


def route(function, predictions, arguments: dict, options: dict, *, reduced: bool):
    """Run ``function`` on host views of its arguments when :func:`_routable_predictions` allows it.

    ``arguments`` are the array arguments other than the predictions (labels, weights,
    ``pos_weight``) by keyword, ``options`` the remaining keywords. ``reduced`` is True for a
    sum or mean, returned in the accumulation dtype. Otherwise the result has one value
    per element, returned in the output dtype of the formulas. Returns None where the route
    does not apply, so the caller runs the array-API formulas.
    """
    if _FORMULA_ONLY.get() or not _routable_predictions(predictions):
        return None
    host_arguments = {}
    for name, value in arguments.items():
        host_value = _host_value(value)
        if host_value is None and value is not None:
            return None
        host_arguments[name] = host_value
    host_predictions = _view(predictions)
    if host_predictions is None:
        return None

    formula = None
    if _records_gradient(predictions, arguments.values()):
        with _set(_FORMULA_ONLY, True):
            formula = function(predictions, **arguments, **options)
    with _set(_EXTRA_STACKLEVEL, _EXTRA_STACKLEVEL.get() + 2):
        exact = function(host_predictions, **host_arguments, **options)

    xp = array_api_compat.array_namespace(predictions)
    if reduced:
        dtype = accumulation_dtype(xp, predictions)
    else:
        dtype = output_dtype(xp, predictions, compute_dtype(xp, predictions))
    if isinstance(exact, tuple):
        results = tuple(_to_library(xp, part, dtype, predictions) for part in exact)
        if formula is None:
            return results
        return tuple(_exact_with_gradient_of(f, r) for f, r in zip(formula, results, strict=True))
    result = _to_library(xp, exact, dtype, predictions)
    if reduced:
        _warn_if_narrowed_to_inf(exact, result)
    return result if formula is None else _exact_with_gradient_of(formula, result)


def _warn_if_narrowed_to_inf(exact, result) -> None:
    """Warn when a finite float64 sum or mean became inf in the narrower result type."""
    narrowed = np.asarray(result.detach() if hasattr(result, "detach") else result)
    if not (np.isinf(narrowed) & np.isfinite(exact)).any():
        return
    import warnings

    from ._warnings import LossOverflowWarning

    # Only JAX without float64 gets here: PyTorch on the CPU always sums in float64.
    largest = f"{float(np.finfo(narrowed.dtype).max):.2g}".replace("e+", "e")
    warnings.warn(
        f"the reduced loss is inf although every loss is finite, because it exceeds the "
        f"{narrowed.dtype} range (about {largest}) of this array's sums; enable float64 "
        f"(jax.config.update('jax_enable_x64', True)) to get the finite value",
        LossOverflowWarning,
        stacklevel=4 + _EXTRA_STACKLEVEL.get(),
    )


@contextlib.contextmanager
def _set(variable, value):
    token = variable.set(value)
    try:
        yield
    finally:
        variable.reset(token)


def _routable_predictions(predictions) -> bool:
    if array_api_compat.is_torch_array(predictions):
        import torch

        if torch.compiler.is_compiling():
            return False
        # bfloat16 has no NumPy dtype, and Tensor.numpy() rejects it.
        return predictions.device.type == "cpu" and not predictions.dtype.is_complex and predictions.dtype != torch.bfloat16
    if array_api_compat.is_jax_array(predictions):
        import jax

        if isinstance(predictions, jax.core.Tracer):
            return False
        devices = predictions.devices()
        on_cpu = len(devices) == 1 and next(iter(devices)).platform == "cpu"
        # bfloat16 keeps the formulas, as it does on PyTorch. The float8 types read as
        # ml_dtypes arrays, which the NumPy path accepts.
        dtype = np.dtype(predictions.dtype)
        return on_cpu and (dtype.kind in "biuf" or dtype.name in FLOAT8_NAMES)
    return False


def _host_value(value):
    """Return ``value`` ready for the NumPy path, or None where its values cannot be read."""
    if value is None or not array_api_compat.is_array_api_obj(value) or array_api_compat.is_numpy_array(value):
        return value
    return _view(value)


def _view(array):
    """Return a NumPy view of a PyTorch or JAX array's values, or None where there is none.

    An argument on another device than the CPU predictions is copied to the host. A tensor
    inside ``torch.func`` has no storage of its own, and a JAX tracer has no values, so both
    give None.
    """
    if array_api_compat.is_torch_array(array):
        if array.dtype.is_complex:
            return None  # left to the formulas, which reject it with their message
        try:  # Tensor.numpy() raises TypeError for bfloat16, float8_e8m0fnu and float4_e2m1fn_x2
            return widen_torch_float8(array.detach().cpu()).numpy()
        except (RuntimeError, TypeError):
            return None
    if array_api_compat.is_jax_array(array):
        import jax

        if isinstance(array, jax.core.Tracer):
            return None
        return np.asarray(array)
    return None


def _records_gradient(predictions, arguments) -> bool:
    if not array_api_compat.is_torch_array(predictions):
        return False
    import torch

    if not torch.is_grad_enabled():
        return False
    return any(isinstance(value, torch.Tensor) and value.requires_grad for value in (predictions, *arguments))


def _to_library(xp, result, dtype, like):
    """Return the NumPy ``result`` as an array of ``xp`` with ``dtype`` on the device of ``like``."""
    if array_api_compat.is_torch_array(like):
        import torch

        # A value beyond the range of `dtype` becomes inf, as on the NumPy path; route()
        # warns about a reduced one.
        with np.errstate(over="ignore"):
            host = np.asarray(result, dtype=torch.empty(0, dtype=dtype).numpy().dtype)
        # from_numpy shares memory, so the NumPy result (a fresh array) is not copied again.
        return torch.from_numpy(np.require(host, requirements="W"))
    import jax

    device = next(iter(like.devices()))
    with np.errstate(over="ignore"):
        host = np.asarray(result, dtype=dtype)
    return jax.device_put(host, device)


def _exact_with_gradient_of(formula, exact):
    """Return ``exact`` as a tensor whose gradient is that of the PyTorch tensor ``formula``.

    The value is ``exact`` bit for bit, also where it is infinite (where ``exact + (formula
    - formula.detach())`` would be NaN). The backward pass hands the incoming gradient to
    ``formula`` unchanged, so first and higher derivatives are those of the formulas.
    """
    if not formula.requires_grad:
        return exact
    return _exact_value_function().apply(formula, exact)


@functools.cache
def _exact_value_function():
    """Return the autograd function of :func:`_exact_with_gradient_of`, defined on first use."""
    import torch

    class ExactValue(torch.autograd.Function):
        @staticmethod
        def forward(formula, exact):
            return exact.clone()

        @staticmethod
        def setup_context(ctx, inputs, output):
            pass

        @staticmethod
        def backward(ctx, gradient):
            return gradient, None

    return ExactValue
