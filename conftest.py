"""Test collection settings shared by the whole repository."""

import importlib.util

# The numba kernels import numba at module level; without the optional dependency their
# doctest collection would fail, so they are left out (tests/test_fast.py skips itself).
collect_ignore = []
if importlib.util.find_spec("numba") is None:
    collect_ignore += ["src/logloss/_fast_kernels.py", "src/logloss/_fast_math.py"]
