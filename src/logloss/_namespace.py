"""Array-library handling: the namespace of an input, its dtype policy, device and checks.

NumPy input (and anything that is not an array of another library, such as a list) is
converted with ``np.asarray`` and computed in float64. Arrays of other libraries that
array-api-compat supports (PyTorch, JAX, CuPy, Dask) stay in their library and on their
device. Each is computed in a type of about twice its precision where the library has one:
float32 and integers in float64, float16 and bfloat16 in float32, float64 in float64. So a
float32 result is the float64 value rounded once, within about 0.5 ulp. PyTorch float8
tensors are widened to float32 first, because PyTorch 2.13 has no float8 comparisons. Without float64 (JAX
without ``jax_enable_x64``, PyTorch on MPS) float32 is computed in float32. Sums are
accumulated in float64 where the library allows it. Concrete PyTorch and JAX
arrays on the CPU of a dtype that NumPy has (not bfloat16) skip all this: ``_host`` computes them with the NumPy path on a
host view, so that they get the NumPy result bit for bit.

Checks that need concrete values (NaN, range, sign) move one boolean to the host; when it is
true, the offending array is copied to NumPy to build the same message as for NumPy input.
Under ``jax.jit`` or another JAX transformation, and under ``torch.func.vmap``, the values
are abstract, so those checks and the warnings about the result are skipped.
"""

from __future__ import annotations

import math

import array_api_compat
import numpy as np

from . import _validation
from ._validation import FLOAT8_NAMES, as_numeric_array, is_torch_float8

__all__ = [
    "accumulation_dtype",
    "as_array",
    "as_like",
    "compute_dtype",
    "is_concrete",
    "is_eager",
    "is_integral",
    "is_numpy_namespace",
    "to_numpy",
    "xp_check",
]

_numpy_namespace = None


def numpy_namespace():
    """Return array-api-compat's NumPy namespace, imported on first use.

    Importing it imports most of NumPy's submodules, which ``logloss score`` and the other
    file commands never use: ``import logloss`` took 0.034 s without it and 0.096 s with it
    (NumPy 2.4 on a 2-core Xeon).
    """
    global _numpy_namespace
    if _numpy_namespace is None:
        _numpy_namespace = array_api_compat.array_namespace(np.empty(0))
    return _numpy_namespace


def is_numpy_namespace(xp) -> bool:
    return xp is numpy_namespace()


def as_array(values, name: str):
    """Return ``(xp, array)``: the namespace of ``values`` and ``values`` as a real array.

    Arrays of a non-NumPy library stay as they are; everything else goes through NumPy.
    """
    if array_api_compat.is_array_api_obj(values) and not array_api_compat.is_numpy_array(values):
        xp = array_api_compat.array_namespace(values)
        _check_real_dtype(xp, values, name)
        return xp, widen_torch_float8(values)
    return numpy_namespace(), as_numeric_array(values, name)


def as_like(values, name: str, xp, reference):
    """Convert ``values`` to an array of namespace ``xp`` on the device of ``reference``."""
    if is_numpy_namespace(xp):
        return as_numeric_array(values, name)
    if array_api_compat.is_array_api_obj(values) and array_api_compat.array_namespace(values) is xp:
        array = values
    else:
        if not array_api_compat.is_array_api_obj(values):
            # Through NumPy first, so that a Python float stays float64 (torch.asarray
            # would make it float32 and round 0.7 before it is cast to the compute dtype).
            values = as_numeric_array(values, name)
        try:
            array = xp.asarray(values, device=array_api_compat.device(reference))
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(
                f"`{name}` must be an array of real numbers convertible to the library of "
                f"the predictions, got {type(values).__name__} ({error})"
            ) from None
    _check_real_dtype(xp, array, name)
    return widen_torch_float8(array)


def _check_dense_torch(tensor, name: str) -> None:
    """Raise TypeError for a sparse PyTorch tensor, or one on the meta device, which has no values."""
    import torch

    if tensor.layout != torch.strided:
        raise TypeError(
            f"`{name}` must be a dense tensor, got layout {tensor.layout}; convert it with .to_dense()"
        )
    if tensor.device.type == "meta":
        raise TypeError(f"`{name}` must be a tensor with values, got one on the meta device, which has none")


def widen_torch_float8(array):
    """Return a PyTorch float8 tensor as float32, and any other array unchanged.

    PyTorch 2.13 implements float8 casts but not comparisons or ``isfinite`` on the CPU.
    The cast to float32 is exact, and float8 results are float32 anyway (see
    :func:`output_dtype`), so the loss of the widened tensor is the loss of the input.
    """
    if array_api_compat.is_torch_array(array) and is_torch_float8(array.dtype):
        return array.float()
    return array


def _check_real_dtype(xp, array, name: str) -> None:
    if array_api_compat.is_torch_array(array):
        _check_dense_torch(array, name)
    if not xp.isdtype(array.dtype, ("real floating", "integral", "bool")):
        raise TypeError(
            f"`{name}` must have a real numeric dtype (bool, integer or floating), "
            f"got dtype {array.dtype}"
        )
    if array_api_compat.is_torch_array(array):
        _check_torch_byte_float(array, name)


def _check_torch_byte_float(array, name: str) -> None:
    """Reject the 8-bit PyTorch floating types outside `FLOAT8_NAMES`, as NumPy rejects them.

    In PyTorch 2.13 these are float8_e8m0fnu, a scale type without zero or sign, and
    float4_e2m1fn_x2, which packs two 4-bit values into each byte.
    """
    import torch

    dtype = array.dtype
    if not dtype.is_floating_point or dtype.itemsize != 1 or is_torch_float8(dtype):
        return
    supported = ", ".join(f"torch.{type_name}" for type_name in sorted(FLOAT8_NAMES) if hasattr(torch, type_name))
    raise TypeError(
        f"`{name}` must have a real numeric dtype that logloss reads, got dtype {dtype}; "
        f"convert it to float32 first (the 8-bit floating types logloss reads are {supported})"
    )


def is_integral(xp, array) -> bool:
    """Return whether ``array`` has an integer or boolean dtype."""
    if is_numpy_namespace(xp):
        # NumPy's isdtype rejects the ml_dtypes types (bfloat16), so NumPy is asked by kind.
        return array.dtype.kind in "biu"
    return bool(xp.isdtype(array.dtype, ("integral", "bool")))


def float64_available(xp, array) -> bool:
    """Return whether the library can hold float64 on the device of ``array``."""
    if array_api_compat.is_jax_namespace(xp):
        import jax

        return bool(jax.config.jax_enable_x64)
    if array_api_compat.is_torch_namespace(xp):
        return array.device.type != "mps"
    return True


def compute_dtype(xp, array):
    """Return the dtype that elementwise losses of ``array`` are computed in."""
    if is_numpy_namespace(xp):
        return np.float64
    if array.dtype == xp.float64:
        return xp.float64
    half = xp.isdtype(array.dtype, "real floating") and array.dtype != xp.float32
    if half or not float64_available(xp, array):
        return xp.float32
    return xp.float64


def output_dtype(xp, array, computed):
    """Return the dtype of elementwise results: the input's floating type, else ``computed``."""
    if is_numpy_namespace(xp):
        return _validation.output_dtype(array)
    if xp.isdtype(array.dtype, "real floating"):
        # As for NumPy: most 8-bit float types have no infinity, so results widen to float32.
        if xp.finfo(array.dtype).bits <= 8:
            return xp.float32
        return array.dtype
    return computed


def accumulation_dtype(xp, array):
    """Return the dtype that sums are accumulated and returned in: float64 where available."""
    if is_numpy_namespace(xp) or float64_available(xp, array):
        return xp.float64
    return xp.float32


def is_concrete(array) -> bool:
    """Return whether the values of ``array`` can be read: False inside a JAX trace and for
    a PyTorch tensor batched by ``torch.func.vmap``."""
    if array_api_compat.is_jax_array(array):
        import jax

        return not isinstance(array, jax.core.Tracer)
    if array_api_compat.is_torch_array(array):
        return not _is_vmap_batched(array)
    return True


def _is_functorch_wrapped(tensor) -> bool:
    import torch

    functorch = getattr(torch._C, "_functorch", None)
    return functorch is not None and functorch.is_functorch_wrapped_tensor(tensor)


def _is_vmap_batched(tensor) -> bool:
    """Return whether a ``torch.func`` wrapper of `tensor`, at any level, batches it for vmap.

    ``bool()`` of a batched tensor raises, because each batch entry could give another
    value. Gradient wrappers (``torch.func.grad``) keep readable values.
    """
    import torch

    functorch = getattr(torch._C, "_functorch", None)
    if functorch is None:
        return False
    while functorch.is_functorch_wrapped_tensor(tensor):
        if functorch.is_batchedtensor(tensor):
            return True
        tensor = functorch.get_unwrapped(tensor)
    return False


def is_eager(array) -> bool:
    """Return whether reading a result of ``array`` costs no second evaluation (not Dask, not traced)."""
    return is_concrete(array) and not array_api_compat.is_dask_array(array)


def to_numpy(array) -> np.ndarray:
    """Copy ``array`` to a NumPy array on the host (for error messages and warnings only)."""
    if array_api_compat.is_numpy_array(array):
        return array
    if array_api_compat.is_torch_array(array):
        array = array.detach().cpu()
        if array.dtype.is_floating_point and array.dtype.itemsize < 4:
            array = array.float()
        if _is_functorch_wrapped(array):
            # A tensor inside torch.func.grad has no storage that .numpy() could view, but
            # its values can be read one by one.
            return np.asarray(array.tolist(), dtype=np.dtype(str(array.dtype).removeprefix("torch.")))
        return array.numpy()
    if array_api_compat.is_cupy_array(array):
        return array.get()
    if array_api_compat.is_dask_array(array):
        return np.asarray(array.compute())
    return np.asarray(array)


_BAD_VALUES = {
    _validation.check_not_nan: lambda xp, a: xp.isnan(a),
    _validation.check_in_unit_interval: lambda xp, a: (a < 0) | (a > 1),
    _validation.check_finite: lambda xp, a: ~xp.isfinite(a),
    _validation.check_weights: lambda xp, a: ~xp.isfinite(a) | (a < 0),
}


def xp_check(check, xp, array, *args):
    """Run a check of ``_validation`` on an array of any library.

    NumPy arrays are checked directly. For other libraries one boolean ("is any value bad?")
    is moved to the host, and only when it is true is the array copied to NumPy so that the
    check raises its usual message. Where ``array`` or the boolean is abstract (traced, as
    under ``jax.jit`` and ``torch.func.vmap``) nothing can be raised, so the elementwise
    mask of bad values is returned instead, for the caller to turn those results into NaN
    (``Prepared.poison``). Otherwise returns None.
    """
    if is_numpy_namespace(xp):
        check(array, *args)
        return None
    if xp.isdtype(array.dtype, "bool"):
        return None
    if xp.isdtype(array.dtype, "integral") and check in (_validation.check_not_nan, _validation.check_finite):
        return None
    if math.prod(array.shape) == 0:
        return None
    bad = _BAD_VALUES[check](xp, array)
    if not is_concrete(array):
        return bad
    any_bad = xp.any(bad)
    # Under jax.jit even a concrete array captured from outside yields a traced result.
    if not is_concrete(any_bad):
        return bad
    if bool(any_bad):
        check(to_numpy(array), *args)
    return None
