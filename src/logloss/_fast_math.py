"""Inlined, vectorizable float64 ``log``, ``log1p`` and ``exp`` for the numba kernels.

Numba lowers ``math.log`` to a scalar libm call per element, which stops LLVM from
vectorizing the loops of ``_fast_kernels``. These functions use only arithmetic, bit
operations and selects, so a loop that calls them compiles to SIMD code. They follow the
algorithms of fdlibm (Sun Microsystems, 1993), whose published error bound is below 1 ulp:
``log`` reduces ``x = 2**k * (1 + f)`` with ``1 + f`` in ``[sqrt(2)/2, sqrt(2))`` and
evaluates ``log(1 + f)`` through ``s = f / (2 + f)`` and a degree-14 polynomial in ``s``;
``exp`` reduces ``x = k * ln 2 + r`` with ``|r| <= ln(2) / 2`` as fdlibm does, then sums the
Taylor series of ``exp(r)`` to degree 13, whose remainder is below 5e-18, in place of fdlibm's
rational approximation: the polynomial needs no division, which made the logit kernels faster.
The tests compare these functions with mpmath on dense grids over the whole float64 range,
subnormals included.

This module imports numba: import it only after checking that numba is installed.

NOTE: numba's on-disk cache of the ``_fast_kernels`` kernels, which inline these functions,
is keyed on that file alone. After editing this file, delete
``__pycache__/_fast_kernels*.nbi`` and ``*.nbc``, or the kernels keep the old code.
"""

from __future__ import annotations

import math

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["FASTMATH", "exp", "exp_nonpositive", "log", "log1p", "log1p_unit", "log_with_correction", "prefer_wide_vectors"]

# numba fastmath flags of these functions and of the kernels that inline them. "contract"
# lets LLVM fuse a multiply and an add into one FMA, which rounds once instead of twice.
# It made the probability kernel about 7% and the logit kernel about 16% faster (numba
# 0.68, AMD EPYC Zen 4), and the mpmath grid tests run with it. No other flag is safe:
# "reassoc" would reorder the compensated sums, and "nnan" and "ninf" would drop the NaN
# and infinity checks.
FASTMATH = {"contract"}

_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01

_EXP_LN2_HI = 6.93147180369123816490e-01
_EXP_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
# 1 / n! for n = 2 to 13: the coefficients of (exp(r) - 1 - r) / r**2.
_T2, _T3, _T4, _T5, _T6, _T7, _T8, _T9, _T10, _T11, _T12, _T13 = (1.0 / math.factorial(n) for n in range(2, 14))

_SHIFTER = 6755399441055744.0  # 1.5 * 2**52
_SHIFTER_BITS = 0x4338000000000000
_TWO_MINUS_1000 = 2.0**-1000
_SMALLEST_NORMAL = 2.2250738585072014e-308
_TWO_54 = 18014398509481984.0
_INF = math.inf


@intrinsic
def _bits(typingctx, x):
    """Reinterpret a float64 as its int64 bit pattern (an LLVM bitcast, no conversion)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, bits):
    """Reinterpret an int64 bit pattern as a float64."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


# LLVM function attribute that lets the loop vectorizer use 512-bit registers where the CPU has
# AVX-512. Without it LLVM keeps to 256 bits, its default for every x86 CPU with AVX-512.
_WIDE_VECTORS = '"prefer-vector-width"="512"'


@intrinsic
def prefer_wide_vectors(typingctx):
    """Let LLVM vectorize the calling function with 512-bit registers on AVX-512 CPUs.

    Call it once in a loop body of a kernel; it emits no instruction. It marks the LLVM
    function being compiled, which for a ``prange`` body is the outlined parallel function,
    with ``"prefer-vector-width"="512"``. The mark acts on that function alone, unlike
    ``NUMBA_CPU_FEATURES``, which would change every numba function of the process. It
    changes no result: the kernels' sums have a fixed order and no reassociation. On a CPU
    without AVX-512, and on other architectures, LLVM ignores it.

    llvmlite's attribute set accepts only a fixed list of names, so the mark is added with
    the method of Python's ``set``. If a later llvmlite stores attributes otherwise, the mark
    is skipped and the kernels keep 256-bit vectors.
    """

    def codegen(context, builder, signature, args):
        try:
            set.add(builder.function.attributes, _WIDE_VECTORS)
        except (AttributeError, TypeError):  # pragma: no cover - depends on llvmlite
            pass
        return context.get_dummy_value()

    return types.none(), codegen


@njit(inline="always", cache=True, error_model="numpy", fastmath=FASTMATH)
def _log_of_normal(x, k, correction):
    """Return ``log(x * 2**k) + correction / x`` for a positive, finite, normal ``x``."""
    bits = _bits(x)
    high = (bits >> 32) + (0x3FF00000 - 0x3FE6A09E)
    k += (high >> 20) - 0x3FF
    high = (high & 0x000FFFFF) + 0x3FE6A09E
    mantissa = _from_bits((high << 32) | (bits & 0xFFFFFFFF))

    f = mantissa - 1.0
    half_f_squared = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    r = t2 + t1
    dk = float(k)
    # correction / x, computed without a division. A non-zero correction comes only with x in
    # [0.5, 2], so k is -1, 0 or 1, and 1 / x = 2**-k * (1 - s) / (1 + s).
    # (1 - s) * (1 - s + z) approximates (1 - s) / (1 + s) within |s|**3 < 0.006. Because the
    # correction is below half an ulp of x, that error moves the result by far less than an ulp.
    inverse = (1.0 - s) * (1.0 - s + z)
    inverse = inverse * 0.5 if k > 0 else inverse
    inverse = inverse * 2.0 if k < 0 else inverse
    c = correction * inverse
    return s * (half_f_squared + r) + (dk * _LN2_LO + c) - half_f_squared + f + dk * _LN2_HI


@njit(inline="always", cache=True, error_model="numpy", fastmath=FASTMATH)
def log_with_correction(x, correction):
    """Return ``log(x) + correction / x``, for a rounding error ``correction`` of ``x``.

    With ``correction = 0`` this is ``log(x)``; ``log1p`` passes the rounding error of
    ``1 + a``. A non-zero ``correction`` must be below half an ulp of ``x``, and ``x`` must
    then lie in ``[0.5, 2]``, where rounding ``1 + a`` or ``1 - p`` can lose bits.
    ``x = 0`` gives ``-inf``, ``x = inf`` gives ``inf`` and a negative or NaN ``x`` gives NaN.
    """
    subnormal = x < _SMALLEST_NORMAL
    scaled = x * _TWO_54 if subnormal else x
    k = -54 if subnormal else 0
    result = _log_of_normal(scaled, k, correction)

    result = -_INF if x == 0.0 else result
    result = _INF if x == _INF else result
    result = math.nan if not x >= 0.0 else result
    return result


@njit(inline="always", cache=True, error_model="numpy", fastmath=FASTMATH)
def log(x):
    """Return the natural logarithm of float64 ``x``."""
    return log_with_correction(x, 0.0)


@njit(inline="always", cache=True, error_model="numpy", fastmath=FASTMATH)
def log1p(a):
    """Return ``log(1 + a)`` for float64 ``a`` in ``[-1, 1]``, accurate for tiny ``a``.

    ``u = fl(1 + a)`` loses the low bits of ``a``; because ``|a| <= 1``, the lost part is
    exactly ``a - (u - 1)`` (Fast2Sum), and ``log(1 + a) = log(u) + (a - (u - 1)) / u`` up
    to a second-order term below half an ulp.
    """
    u = 1.0 + a
    return log_with_correction(u, a - (u - 1.0))


@njit(inline="always", cache=True, error_model="numpy", fastmath=FASTMATH)
def log1p_unit(a):
    """Return ``log(1 + a)`` for float64 ``a`` in ``[0, 1]``, or NaN for a NaN ``a``.

    The same result as :func:`log1p`, bit for bit, without its checks for arguments that
    ``1 + a`` in ``[1, 2]`` cannot be (subnormal, zero, negative, infinite): the logit
    kernels call it on ``exp(-|z|)``. It made the logit loss kernel about 12% faster.
    """
    u = 1.0 + a
    result = _log_of_normal(u, 0, a - (u - 1.0))
    return a if a != a else result


@njit(inline="always", cache=True, error_model="numpy", fastmath=FASTMATH)
def _exp_parts(x):
    """Return ``(y, k)`` with ``e**x = y * 2**k`` and ``y`` in ``[0.7, 1.42]``, for ``x`` in ``[-760, 720]``.

    Adding 1.5 * 2**52 to ``x / ln 2`` rounds it to the nearest integer ``k`` and leaves
    ``k`` in the low bits of the sum, so no rounding or conversion instruction is needed.
    """
    shifted = x * _INV_LN2 + _SHIFTER
    k_float = shifted - _SHIFTER
    hi = x - k_float * _EXP_LN2_HI
    lo = k_float * _EXP_LN2_LO
    r = hi - lo
    rr = r * r
    r4 = rr * rr
    # exp(r) = 1 + r + r**2 * q(r), with q in Estrin's form for a shorter chain of dependent
    # operations. hi and lo stay apart, so the rounding of r only touches the small term.
    q = (_T2 + r * _T3) + rr * (_T4 + r * _T5)
    q += r4 * ((_T6 + r * _T7) + rr * (_T8 + r * _T9) + r4 * ((_T10 + r * _T11) + rr * (_T12 + r * _T13)))
    y = 1.0 + (hi - (lo - rr * q))
    return y, _bits(shifted) - _SHIFTER_BITS


@njit(inline="always", cache=True, error_model="numpy", fastmath=FASTMATH)
def exp(x):
    """Return ``e**x`` for float64 ``x``, with gradual underflow to subnormals and 0."""
    finite = x == x
    clamped = x if finite else 0.0
    clamped = -760.0 if clamped < -760.0 else clamped
    clamped = 720.0 if clamped > 720.0 else clamped
    y, k = _exp_parts(clamped)

    # Scale by 2**k in two steps near the ends of the range, so that each factor is a normal
    # number and a subnormal result is rounded once.
    offset = 1000 if k > 1000 else 0
    offset = -1000 if k < -1020 else offset
    scale = _from_bits((k - offset + 0x3FF) << 52)
    result = y * scale
    result = result * _from_bits((offset + 0x3FF) << 52)

    result = x if not finite else result
    return result


@njit(inline="always", cache=True, error_model="numpy", fastmath=FASTMATH)
def exp_nonpositive(x):
    """Return ``e**x`` for float64 ``x <= 0`` or NaN: :func:`exp` without its overflow steps.

    The logit kernels call it on ``-|z|``. The result equals :func:`exp`'s bit for bit.
    """
    y, k = _exp_parts(-760.0 if x < -760.0 else x)
    subnormal = k < -1020
    scale = _from_bits(((k + 1000 if subnormal else k) + 0x3FF) << 52)
    result = y * scale
    result = result * _TWO_MINUS_1000 if subnormal else result
    return x if x != x else result
