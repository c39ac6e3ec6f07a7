"""The fast path: single-pass numba kernels for NumPy float32 and float64 input.

The public functions call :func:`binary_cross_entropy`, :func:`binary_cross_entropy_with_logits`
and :func:`state_sums` here first. Each returns None unless every condition of the fast path
holds: numba is installed, the input is a C-contiguous NumPy array of float32 or float64
with at least ``MIN_SIZE`` elements, the options are ones the kernels cover, and the kernel
found no invalid value and no infinite loss. On None the caller runs the reference path,
which then raises the error or issues the warning with its usual message. So the fast path
changes a result only in the last ulps of ``log`` and ``exp``, and never changes what a
call raises or warns.

numba is imported when a kernel is first needed, so ``import logloss`` does not pay for it.
Set the environment variable ``LOGLOSS_DISABLE_FAST=1`` to always run the reference path.

When numba pays off: importing numba and loading one cached kernel took about 1.2 s in a
fresh process, while the kernels save about 17 ns per element over the blocked NumPy
formulas of ``_fast_numpy`` (19 ns per element for probabilities, 23 ns for logits, on one
core; both measured with numba 0.68 and NumPy 2.4 on a 2-core AMD EPYC (Zen 4) VM). So
:func:`binary_cross_entropy` and :func:`binary_cross_entropy_with_logits` run on NumPy
until the elements they have handled, the current call included, exceed
``NUMPY_BUDGET`` (2**26, about 1.1 s of NumPy time saved by loading numba), and load the kernels
then, as in the rent-or-buy problem: the time spent on NumPy before the switch is at most
about the loading time, so the total stays within about twice the better of the two
choices. A first call on 10**6 elements takes about 20 ms instead of 1.2 s, and a call on
more than 2**26 elements loads numba at once. :func:`state_sums` and
:func:`grouped_state_sums` follow the same rule, except that a file's batches of unweighted
probabilities stay on NumPy (see :func:`state_sums`). The other functions here, and any call
after the kernels are loaded, use the kernels for every input of ``MIN_SIZE`` elements or more.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable

import numpy as np

__all__ = [
    "available",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "grouped_state_sums",
    "loss_and_gradient",
    "loss_and_gradient_with_logits",
    "state_sums",
    "state_sums_from_arrays",
]

# Below this many elements the reference path is fast enough, and small calls never pay for
# importing numba (about 1 s on first use).
MIN_SIZE = 1 << 15

_PREDICTION_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_LABEL_DTYPES = (
    np.dtype(np.float64),
    np.dtype(np.float32),
    np.dtype(np.bool_),
    np.dtype(np.int8),
    np.dtype(np.uint8),
    np.dtype(np.int32),
    np.dtype(np.int64),
)
_REDUCTIONS = ("none", "sum", "mean")
_kernels = None

NUMPY_BUDGET = 1 << 26
# Elements of loss calls run on NumPy in this process while the kernels were not loaded.
_numpy_elements = 0


def disabled() -> bool:
    """Return True if the environment variable ``LOGLOSS_DISABLE_FAST`` turns the fast path off."""
    return os.environ.get("LOGLOSS_DISABLE_FAST", "") not in ("", "0")


_numba_installed: bool | None = None


def available() -> bool:
    """Return True if numba is installed and the fast path is not disabled.

    Whether numba is installed is looked up once, because each lookup searches ``sys.path``:
    the 39 batches of a 1e7-row file spent 4 to 8 ms on them.
    """
    global _numba_installed
    if disabled():
        return False
    if _numba_installed is None:
        _numba_installed = importlib.util.find_spec("numba") is not None
    return _numba_installed


# Inputs below this many elements run on the calling thread only. Waking the pool's threads
# for a file batch (65536 rows) cost several milliseconds on a loaded 2-core machine, more
# than the batch's work (measured with numba 0.68 and its OpenMP layer).
PARALLEL_MIN_SIZE = 1 << 20


# Called with no argument when a kernel's first call in the process has not returned after
# SLOW_FIRST_CALL_SECONDS, which means numba is compiling it (the first use on a machine, or
# after an upgrade, takes 10 to 30 s). The command-line tool sets it to print a note; the
# library stays silent.
on_slow_first_call: Callable[[], None] | None = None
SLOW_FIRST_CALL_SECONDS = 2.0
_called_kernels: set[str] = set()


class _Kernels:
    """The kernels of ``_fast_kernels``, run on one thread for inputs below ``PARALLEL_MIN_SIZE``.

    numba's own "workqueue" threading layer, which it takes where neither TBB nor OpenMP is
    installed, aborts the process when two Python threads run parallel kernels at once (a
    Dask worker with two threads does). So calls take a lock until the first parallel call
    shows which layer numba chose, and keep taking it under "workqueue".
    """

    def __init__(self, module):
        self._module = module
        self._lock = threading.Lock()
        # None until numba has chosen its threading layer, then whether it is thread-safe.
        self._threadsafe: bool | None = None

    def __getattr__(self, name):
        kernel = getattr(self._module, name)

        def call(*args):
            if self._threadsafe:
                return _timed(*args)
            with self._lock:
                result = _timed(*args)
                if self._threadsafe is None:
                    self._threadsafe = _threadsafe_layer()
            return result

        def _timed(*args):
            if name in _called_kernels or on_slow_first_call is None:
                return _run(*args)
            timer = threading.Timer(SLOW_FIRST_CALL_SECONDS, on_slow_first_call)
            timer.daemon = True
            timer.start()
            try:
                return _run(*args)
            finally:
                timer.cancel()
                _called_kernels.add(name)

        def _run(*args):
            if args[0].size >= PARALLEL_MIN_SIZE:
                return kernel(*args)
            import numba

            threads = numba.get_num_threads()
            numba.set_num_threads(1)
            try:
                return kernel(*args)
            finally:
                numba.set_num_threads(threads)

        return call


def _threadsafe_layer() -> bool | None:
    """Return whether numba's threading layer allows parallel kernels on several threads, or
    None while numba has not chosen one (no parallel kernel has run yet)."""
    import numba

    try:
        return numba.threading_layer() != "workqueue"
    except ValueError:
        return None


_load_lock = threading.Lock()


def _load_kernels():
    global _kernels
    if _kernels is None:
        # One _Kernels object per process, whose lock all threads share.
        with _load_lock:
            if _kernels is None:
                from . import _fast_kernels

                _kernels = _Kernels(_fast_kernels)
    return _kernels


def _loss_engine(size):
    """Return the kernels, or the module ``_fast_numpy`` while numba does not yet pay off."""
    global _numpy_elements
    if _kernels is None and _numpy_elements + size <= NUMPY_BUDGET:
        from . import _fast_numpy

        _numpy_elements += size
        return _fast_numpy
    return _load_kernels()


def _flat(array, dtypes):
    """Return a 1-D view of a C-contiguous NumPy array of one of ``dtypes``, else None."""
    if type(array) is not np.ndarray or array.dtype not in dtypes:
        return None
    if not array.flags.c_contiguous:
        return None
    return array.reshape(-1)


def _flat_inputs(predictions, y_true, weights, min_size=None, *, needs_numba=True):
    """Return flat views ``(x, y, w)`` if the fast path takes these arrays, else None."""
    min_size = MIN_SIZE if min_size is None else min_size
    usable = available() if needs_numba else not disabled()
    if not usable or type(predictions) is not np.ndarray or predictions.size < min_size:
        return None
    x = _flat(predictions, _PREDICTION_DTYPES)
    y = _flat(y_true, _LABEL_DTYPES)
    if x is None or y is None or y_true.shape != predictions.shape:
        return None
    if weights is None:
        # An empty array stands for "no weights" in the kernels.
        return x, y, np.empty(0, dtype=x.dtype)
    w = _flat(weights, (x.dtype,))
    if w is None or weights.shape != predictions.shape:
        return None
    return x, y, w


def _scalar_pos_weight(pos_weight):
    """Return ``pos_weight`` as a float (1.0 for None) if valid and scalar; else raise LookupError."""
    if pos_weight is None:
        return 1.0
    if isinstance(pos_weight, bool) or np.ndim(pos_weight) != 0:
        raise LookupError
    if not isinstance(pos_weight, (int, float, np.integer, np.floating, np.ndarray)):
        raise LookupError
    value = float(pos_weight)
    if not 0.0 <= value < np.inf:
        raise LookupError
    return value


def _common_options_supported(weights_axis, label_smoothing, subtract_entropy, reduction, axis, nan_policy):
    return (
        weights_axis is None
        and axis is None
        and not subtract_entropy
        and type(label_smoothing) in (int, float)
        and label_smoothing == 0
        and reduction in _REDUCTIONS
        and nan_policy in ("raise", "omit")
    )


def _loss(kernel_name, predictions, y_true, weights, pos_weight, reduction, *extra):
    """Run a loss kernel and finish the reduction; return None for the reference path."""
    inputs = _flat_inputs(predictions, y_true, weights)
    if inputs is None:
        return None
    try:
        pos_weight_value = _scalar_pos_weight(pos_weight)
    except LookupError:
        return None
    x, y, w = inputs
    engine = _loss_engine(x.size)
    out = np.empty(x.size, dtype=x.dtype) if reduction == "none" else None
    if engine is not _kernels:
        sums = getattr(engine, kernel_name)(x, y, w, pos_weight_value, out)
    elif out is not None:
        sums = getattr(engine, kernel_name + "_into")(x, y, w, pos_weight_value, *extra, out)
    else:
        sums = getattr(engine, kernel_name)(x, y, w, pos_weight_value, *extra)
    sum_wl, sum_w, n_bad, n_infinite = sums
    if n_bad or n_infinite:
        return None
    if reduction != "none" and not _sums_in_range(sum_wl, sum_w, x.size, weighted=w.size > 0):
        return None
    if reduction == "none":
        return out.reshape(predictions.shape)
    if reduction == "sum":
        return np.float64(sum_wl)
    if sum_w == 0.0:
        return None
    return np.float64(sum_wl / sum_w)


# The kernels multiply raw weights; the reference path divides them by their largest first
# (``_options.scale_to_max``). The two agree while the largest weight lies in this range,
# which holds when ``n * _WEIGHT_LOW <= sum(w) <= _WEIGHT_HIGH``, since the largest weight
# lies between ``sum(w) / n`` and ``sum(w)``.
_WEIGHT_LOW = 1e-150
_WEIGHT_HIGH = 1e150


def _sums_in_range(sum_wl, sum_w, size, *, weighted) -> bool:
    """Return False when the kernel's sums may differ from the reference path's."""
    if not (np.isfinite(sum_wl) and np.isfinite(sum_w)):
        return False
    return not weighted or sum_w == 0.0 or size * _WEIGHT_LOW <= sum_w <= _WEIGHT_HIGH


def binary_cross_entropy(
    y_pred, y_true, *, weights, weights_axis, pos_weight, label_smoothing, subtract_entropy, reduction, axis, nan_policy, clip
):
    """Return the loss of :func:`logloss.binary_cross_entropy`, or None for the reference path."""
    if not _common_options_supported(weights_axis, label_smoothing, subtract_entropy, reduction, axis, nan_policy):
        return None
    if clip is not None:
        return None
    return _loss("probability_loss", y_pred, y_true, weights, pos_weight, reduction, 0.0)


def binary_cross_entropy_with_logits(
    logits, y_true, *, weights, weights_axis, pos_weight, label_smoothing, subtract_entropy, reduction, axis, nan_policy
):
    """Return the loss of :func:`logloss.binary_cross_entropy_with_logits`, or None."""
    if not _common_options_supported(weights_axis, label_smoothing, subtract_entropy, reduction, axis, nan_policy):
        return None
    return _loss("logit_loss", logits, y_true, weights, pos_weight, reduction)


def _loss_and_gradient(kernel_name, x, y_true, weights, pos_weight, reduction, min_size):
    if reduction not in ("sum", "mean"):
        return None
    inputs = _flat_inputs(x, y_true, weights, min_size)
    if inputs is None:
        return None
    try:
        pos_weight_value = _scalar_pos_weight(pos_weight)
    except LookupError:
        return None
    flat_x, y, w = inputs
    scale = 1.0
    if reduction == "mean":
        total_weight = float(np.sum(w, dtype=np.float64)) if w.size else float(flat_x.size)
        if not total_weight > 0.0 or not _sums_in_range(0.0, total_weight, flat_x.size, weighted=w.size > 0):
            return None
        scale = 1.0 / total_weight
    gradient = np.empty(flat_x.size, dtype=flat_x.dtype)
    kernel = getattr(_load_kernels(), kernel_name)
    sum_wl, sum_w, n_bad, n_infinite = kernel(flat_x, y, w, pos_weight_value, scale, gradient)
    if n_bad or n_infinite or not _sums_in_range(sum_wl, sum_w, flat_x.size, weighted=w.size > 0):
        return None
    loss = np.float64(sum_wl) if reduction == "sum" else np.float64(sum_wl / sum_w)
    return loss, gradient.reshape(x.shape)


def loss_and_gradient_with_logits(logits, y_true, *, weights=None, pos_weight=None, reduction="mean", min_size=None):
    """Return ``(loss, gradient)`` of the logit loss in one pass, or None for the reference path.

    ``loss`` is the "sum" or "mean" reduction as a float64 and ``gradient`` its derivative
    with respect to each logit, in the dtype and shape of `logits`. None is returned when
    the fast path does not apply: numba missing, fewer than `min_size` elements (default
    ``MIN_SIZE``), an input
    that is not a C-contiguous float32 or float64 array, a per-column `pos_weight`,
    ``reduction="none"``, an invalid value, an infinite loss or a total weight of 0.
    """
    return _loss_and_gradient("logit_loss_gradient", logits, y_true, weights, pos_weight, reduction, min_size)


def loss_and_gradient(y_pred, y_true, *, weights=None, pos_weight=None, reduction="mean", min_size=None):
    """Return ``(loss, gradient)`` of the probability loss in one pass, or None.

    As :func:`loss_and_gradient_with_logits`; the gradient is with respect to each
    probability.
    """
    return _loss_and_gradient("probability_loss_gradient", y_pred, y_true, weights, pos_weight, reduction, min_size)


def state_sums(predictions, y_true, weights, *, logits: bool, prefer_numpy: bool = False):
    """Return the 14 sums of ``_state.SUM_FIELDS`` of one unclipped state batch, or None.

    The sums come from the raw predictions (probabilities, or logits when `logits` is true)
    in one pass. None also when a loss is infinite, because the state then sets the loss
    sums to ``inf`` itself, when a sum of finite losses overflows, because the state then
    keeps a scaled copy of it, or when a weight lies outside ``_state.WEIGHT_RANGE``.

    Batches run on the blocked NumPy code of ``_fast_numpy`` or on the kernels by the rule
    of the loss functions (see ``NUMPY_BUDGET``), where numba is installed. With
    `prefer_numpy`, which a file's batches pass, unweighted probabilities below
    ``PARALLEL_MIN_SIZE`` elements stay on NumPy until the kernels are loaded for other
    work. On one thread NumPy took about as long per row as the kernel (6.6 ns against
    6.0 ns), measured with NumPy 2.4 (AVX-512) and numba 0.68 on a 2-core Xeon VM, and
    reading the file takes the other core. So ``logloss score`` of unweighted probabilities
    does not spend about 1 s loading numba. Weighted rows (12 to 14 ns against 8 to 14 ns)
    and logits (10 ns against 7 ns) follow the rule there too.
    """
    from . import _fast_numpy

    inputs = _flat_inputs(predictions, y_true, weights, _fast_numpy.STATE_MIN_SIZE, needs_numba=False)
    if inputs is None:
        return None
    x, y, w = inputs
    if x.size < MIN_SIZE or not available():
        return _fast_numpy.state_sums(x, y, w, logits=logits)
    if prefer_numpy and _kernels is None and x.size < PARALLEL_MIN_SIZE and not logits and w.size == 0:
        return _fast_numpy.state_sums(x, y, w, logits=logits)
    kernels = _loss_engine(x.size)
    if kernels is _fast_numpy:
        return _fast_numpy.state_sums(x, y, w, logits=logits)
    if logits:
        sums, n_bad, n_infinite = kernels.logit_state_sums(x, y, w)
    else:
        sums, n_bad, n_infinite, _ = kernels.probability_state_sums(x, y, w, 0.0)
    if n_bad or n_infinite or not np.isfinite(sums).all():
        return None
    return sums


def state_sums_from_arrays(probability, target, loss, weight):
    """Return ``_state.compute_sums(probability, target, loss, weight)`` in one pass, or None.

    None unless every array is a 1-D C-contiguous float64 array of at least ``MIN_SIZE``
    elements and no loss is infinite, and, while the kernels are not loaded, of at least
    ``PARALLEL_MIN_SIZE`` elements: the caller's NumPy sums then cost less than loading them.
    """
    if not available() or loss.size < MIN_SIZE or (_kernels is None and loss.size < PARALLEL_MIN_SIZE):
        return None
    arrays = (probability, target, loss) + (() if weight is None else (weight,))
    for array in arrays:
        if type(array) is not np.ndarray or array.dtype != np.float64 or array.ndim != 1:
            return None
        if not array.flags.c_contiguous or array.size != loss.size:
            return None
    if weight is None:
        weight = np.empty(0)
    sums, n_infinite = _load_kernels().state_sums_from_arrays(probability, target, loss, weight)
    if n_infinite:
        return None
    return sums, 0


def grouped_state_sums(predictions, y_true, weights, codes, n_groups: int, *, logits: bool):
    """Return the ``(n_groups, 14)`` sums of ``_state.SUM_FIELDS`` per group, or None.

    `codes` are the group indices of the rows, as ``_keys.encode_keys`` returns them. None
    under the conditions of :func:`state_sums`, an overflowed sum of any group included.
    Until the kernels are loaded, inputs run on NumPy under the rule of the loss functions
    (see ``NUMPY_BUDGET``): the NumPy code took about 8.5 ns per row against 8 ns for the
    kernel (unweighted probabilities, int8 labels, 50 groups, one thread). Inputs of more than
    ``_fast_numpy.GROUP_MAX`` groups take the reference path (None) under the same rule.
    """
    from . import _fast_numpy

    inputs = _flat_inputs(predictions, y_true, weights, _fast_numpy.STATE_MIN_SIZE, needs_numba=False)
    if inputs is None or type(codes) is not np.ndarray or codes.dtype.kind not in "iu" or codes.size != np.size(predictions):
        return None
    x, y, w = inputs
    numpy_only = x.size < MIN_SIZE or not available()
    if numpy_only or _loss_engine(x.size) is _fast_numpy:
        if n_groups > _fast_numpy.GROUP_MAX:
            return None  # the reference path, until the kernels pay off
        if codes.dtype.itemsize == 8:
            # A uint64 code beyond the intp range turns negative here, which the range check
            # of _fast_numpy rejects. Narrower codes stay as they are, cheaper to check.
            codes = codes.astype(np.intp, copy=False)
        return _fast_numpy.grouped_state_sums(x, y, w, codes, n_groups, logits=logits)
    kernels = _load_kernels()
    # More tasks than threads balance the load, but each task zeroes and adds up its own
    # sums of every group, which dominates with many groups. A fixed count, not one from
    # the thread count, keeps the result the same on every machine.
    max_tasks = 16 if n_groups <= 4096 else 2
    sums, n_bad, n_infinite = kernels.grouped_state_sums(
        x, y, w, codes.astype(np.int64, copy=False), n_groups, logits, max_tasks
    )
    if n_bad or n_infinite or not np.isfinite(sums).all():
        return None
    return sums
