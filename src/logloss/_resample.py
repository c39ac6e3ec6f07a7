"""Poisson bootstrap weights from a hash of (seed, row id, replicate), and their sums.

Each row's weight in replicate ``b`` is a Poisson(1) draw that depends only on the seed,
the row's id and ``b``. The row key is a splitmix64 hash of the id and the seed. The
replicate's 64 random bits are the ``b``-th output of a splitmix64 generator started at
that key, and the inverse Poisson(1) CDF maps their top 53 bits to a count. No random
number generator is shared, so any batching of the rows, on any number of machines, draws
the same weights, and the per-replicate sums merge by addition.
"""

from __future__ import annotations

import numpy as np

__all__ = ["POISSON_THRESHOLDS", "bootstrap_weights", "check_seed", "replicate_sums", "row_keys"]

_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # splitmix64 increment: 2**64 / golden ratio
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_STRING_START = np.uint64(0x243F6A8885A308D3)  # hex digits of pi: the hash of ""
_SEED_SALT = np.uint64(0x13198A2E03707344)
_MAX_SEED = 2**64 - 1

# Rows x replicates per block of Poisson weights: 512 KiB per uint64 temporary, which stays
# in a typical L2 cache. Blocks of 2**20 elements took twice as long per element
# (1 million rows x 50 replicates, NumPy 2, one x86-64 core of a loaded 2-core machine).
_BLOCK_ELEMENTS = 1 << 16
_MIN_BLOCK_ROWS = 256


# ceil(F(k) * 2**53) for the Poisson(1) CDF F and k = 0 to 16, computed exactly with mpmath
# at 300 bits (the tests recompute them). A draw u, uniform on the integers [0, 2**53),
# becomes the count of thresholds <= u, which is the smallest k with u < F(k) * 2**53, so
# P(count = k) equals the Poisson(1) probability to within 2**-53. The largest count is
# 17, because ceil(F(17) * 2**53) is 2**53.
POISSON_THRESHOLDS = np.array(
    [
        0xBC5AB1B16779C,
        0x178B56362CEF38,
        0x1D6E2BC3B82B06,
        0x1F6472F2E6944B,
        0x1FE204BEB22E9C,
        0x1FFB21E77480AC,
        0x1FFF516E3F8E5A,
        0x1FFFEA81812297,
        0x1FFFFDA3E9551F,
        0x1FFFFFC42DCC83,
        0x1FFFFFFA9B0BA7,
        0x1FFFFFFF8DB44D,
        0x1FFFFFFFF7425B,
        0x1FFFFFFFFF60F9,
        0x1FFFFFFFFFF572,
        0x1FFFFFFFFFFF58,
        0x1FFFFFFFFFFFF7,
    ],
    dtype=np.uint64,
)


def _mix(z: np.ndarray) -> np.ndarray:
    """Return the splitmix64 output function of uint64 `z` (a bijection of 64-bit integers)."""
    with np.errstate(over="ignore"):
        z = z ^ (z >> np.uint64(30))
        z *= _MIX_1
        z ^= z >> np.uint64(27)
        z *= _MIX_2
        z ^= z >> np.uint64(31)
    return z


def check_seed(seed) -> int:
    """Return `seed` as an int in [0, 2**64), or raise."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"`seed` must be an int, got {type(seed).__name__}")
    if not 0 <= int(seed) <= _MAX_SEED:
        raise ValueError(f"`seed` must be in [0, 2**64), got {int(seed)}")
    return int(seed)


def _hash_strings(codes: np.ndarray) -> np.ndarray:
    """Hash each row of `codes` (character codes, 0 after the end) independently of the width.

    Code 0 is skipped, so "ab" hashes the same in arrays of width 2 and 10.
    """
    hashes = np.full(codes.shape[0], _STRING_START, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in codes.T:
            code = column.astype(np.uint64)
            mixed = _mix(hashes ^ (code * _GAMMA))
            hashes = np.where(code != 0, mixed, hashes)
    return hashes


def _hash_ids(row_ids: np.ndarray) -> np.ndarray:
    """Return a uint64 hash of each id: integers by value, strings by their characters."""
    if row_ids.dtype.kind == "O":
        # Python ints or strs, as pandas and pyarrow return them: let NumPy infer the type.
        row_ids = np.array(row_ids.tolist())
    kind = row_ids.dtype.kind
    if kind == "i":
        return _mix(row_ids.astype(np.int64).view(np.uint64))
    if kind == "u":
        return _mix(row_ids.astype(np.uint64))
    if kind == "U":
        width = row_ids.dtype.itemsize // 4
        return _hash_strings(row_ids.view(np.uint32).reshape(-1, width))
    if kind == "S":
        width = row_ids.dtype.itemsize
        return _hash_strings(row_ids.view(np.uint8).reshape(-1, width))
    raise TypeError(
        f"`row_ids` must hold integers or strings, got dtype {row_ids.dtype}; "
        f"convert float ids that are whole numbers with astype(np.int64)"
    )


def row_keys(row_ids, seed: int) -> np.ndarray:
    """Return the uint64 key of each row: a hash of its id and the seed."""
    ids = np.ascontiguousarray(np.asarray(row_ids).ravel())
    if ids.size == 0:
        return np.zeros(0, dtype=np.uint64)
    seed_key = _mix(np.array([seed], dtype=np.uint64) ^ _SEED_SALT)
    return _mix(_hash_ids(ids) ^ seed_key)


def _poisson_block(keys: np.ndarray, first: int, stop: int) -> np.ndarray:
    """Return the uint8 weights of replicates ``first`` to ``stop - 1`` (rows) for `keys`.

    The same splitmix64 steps as :func:`_mix`, in place, because temporaries cost as much
    as the arithmetic.
    """
    steps = np.arange(first + 1, stop + 1, dtype=np.uint64) * _GAMMA
    with np.errstate(over="ignore"):
        bits = np.add(keys[np.newaxis, :], steps[:, np.newaxis])
        shifted = np.empty_like(bits)
        np.right_shift(bits, np.uint64(30), out=shifted)
        bits ^= shifted
        bits *= _MIX_1
        np.right_shift(bits, np.uint64(27), out=shifted)
        bits ^= shifted
        bits *= _MIX_2
        np.right_shift(bits, np.uint64(31), out=shifted)
        bits ^= shifted
    bits >>= np.uint64(11)
    return np.searchsorted(POISSON_THRESHOLDS, bits, side="right").astype(np.uint8)


def _blocks(n_rows: int, n_bootstrap: int):
    """Yield (row slice, first replicate, stop replicate) blocks of about _BLOCK_ELEMENTS."""
    rows_per_block = min(max(n_rows, 1), max(_MIN_BLOCK_ROWS, _BLOCK_ELEMENTS // n_bootstrap))
    replicates_per_block = max(1, min(n_bootstrap, _BLOCK_ELEMENTS // rows_per_block))
    for row_start in range(0, n_rows, rows_per_block):
        rows = slice(row_start, min(row_start + rows_per_block, n_rows))
        for first in range(0, n_bootstrap, replicates_per_block):
            yield rows, first, min(first + replicates_per_block, n_bootstrap)


def bootstrap_weights(row_ids, *, n_bootstrap: int, seed: int = 0) -> np.ndarray:
    """Return the Poisson(1) bootstrap weight of each row in each replicate.

    Parameters
    ----------
    row_ids : array_like
        One id per row: integers (by value, whatever their dtype) or strings.
    n_bootstrap : int
        Number of replicates B.
    seed : int, default 0
        Any integer in [0, 2**64).

    Returns
    -------
    numpy.ndarray
        uint8 array of shape ``(n_bootstrap, n_rows)``. Row ``i``'s column depends only on
        ``row_ids[i]``, `seed` and the replicate number, never on the other rows.

    Examples
    --------
    >>> import numpy as np
    >>> from logloss import bootstrap_weights
    >>> weights = bootstrap_weights(np.arange(5), n_bootstrap=3, seed=7)
    >>> weights.shape
    (3, 5)
    >>> bool((bootstrap_weights(np.arange(2, 4), n_bootstrap=3, seed=7) == weights[:, 2:4]).all())
    True
    """
    n_bootstrap = check_n_bootstrap(n_bootstrap, minimum=1)
    keys = row_keys(row_ids, check_seed(seed))
    out = np.empty((n_bootstrap, keys.size), dtype=np.uint8)
    for rows, first, stop in _blocks(keys.size, n_bootstrap):
        out[first:stop, rows] = _poisson_block(keys[rows], first, stop)
    return out


def check_n_bootstrap(n_bootstrap, *, minimum: int) -> int:
    """Return `n_bootstrap` as an int of at least `minimum`, or raise."""
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)):
        raise TypeError(f"`n_bootstrap` must be an int, got {type(n_bootstrap).__name__}")
    if n_bootstrap < minimum:
        raise ValueError(f"`n_bootstrap` must be at least {minimum}, got {int(n_bootstrap)}")
    return int(n_bootstrap)


def replicate_sums(keys: np.ndarray, values: np.ndarray, n_bootstrap: int) -> np.ndarray:
    """Return ``K @ values`` of shape (n_bootstrap, m), K being the Poisson weights of `keys`.

    `values` has one row per key and must not be infinite, because a weight of 0 times an
    infinite value would be NaN; a NaN makes its column NaN in every replicate. The blocks
    keep memory bounded whatever the batch size.
    """
    out = np.zeros((n_bootstrap, values.shape[1]))
    for rows, first, stop in _blocks(keys.size, n_bootstrap):
        weights = _poisson_block(keys[rows], first, stop).astype(np.float64)
        # Sums beyond the float64 range are inf; the callers report the figures they spoil.
        with np.errstate(over="ignore", invalid="ignore"):
            out[first:stop] += weights @ values[rows]
    return out
