import sys

import numpy as np
import pytest

import logloss


def test_import_exposes_loss():
    assert float(logloss.binary_cross_entropy(np.array([0.5]), np.array([1]))) == np.log(2.0)


def test_load_caravan_without_pyarrow(monkeypatch):
    from logloss.datasets import load_caravan

    # A None entry in sys.modules makes the import raise ImportError, as a missing package does.
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match=r"load_caravan needs pyarrow .*`uv run --extra cli \.\.\.`"):
        load_caravan()
