"""The data set bundled with logloss: out-of-fold predictions on the Caravan data.

Its data card is ``src/logloss/data/README.md``: 5,822 customers, whether each bought a
caravan insurance policy (`label`), and a logistic regression's out-of-fold prediction as a
probability (`prob`) and a logit (`logit`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from ._entry import EXTRA_HINT

__all__ = ["caravan_path", "load_caravan"]

_CARAVAN_COLUMNS = ("label", "prob", "logit", "customer_type", "row_id")


def caravan_path() -> Path:
    """Return the path of the bundled ``caravan.parquet``.

    Examples
    --------
    >>> from logloss.datasets import caravan_path
    >>> caravan_path().name
    'caravan.parquet'
    """
    resource = resources.files("logloss").joinpath("data", "caravan.parquet")
    path = Path(str(resource))
    if not path.is_file():
        # NOTE: a zip-imported installation has no file path; logloss is installed unpacked.
        raise FileNotFoundError(f"the bundled data file {resource} is not a file on disk")
    return path


def load_caravan() -> dict[str, np.ndarray]:
    """Load the bundled Caravan predictions as NumPy arrays (needs pyarrow).

    Returns
    -------
    dict of str to numpy.ndarray
        ``label`` (int8, 1 = bought the policy), ``prob`` and ``logit`` (float64),
        ``customer_type`` (object array of str, "type 1" to "type 10") and ``row_id``
        (int32), 5,822 rows each.

    Examples
    --------
    >>> from logloss import binary_cross_entropy
    >>> from logloss.datasets import load_caravan
    >>> data = load_caravan()
    >>> data["label"].shape
    (5822,)
    >>> round(float(binary_cross_entropy(data["prob"], data["label"])), 6)
    0.210901
    """
    try:
        import pyarrow.parquet as pq
    except ImportError as error:
        raise ImportError(f"load_caravan needs pyarrow ({error}): {EXTRA_HINT.format(extra='cli')}") from error

    table = pq.read_table(caravan_path(), columns=list(_CARAVAN_COLUMNS))
    return {name: table.column(name).to_numpy() for name in _CARAVAN_COLUMNS}
