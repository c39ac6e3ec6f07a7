"""Build the bundled Caravan example: out-of-fold logistic regression predictions.

Loads the Caravan insurance data (CoIL Challenge 2000 training set, 5,822
customers) from the ISLP package, fits a standardized L2 logistic regression
with 5-fold stratified cross-validation and writes one out-of-fold prediction
per customer to a zstd-compressed Parquet file. See src/logloss/data/README.md.

Run from the repository root. --no-project keeps uv from building and syncing
the logloss project itself into .venv:

    uv run --no-project --python 3.11 --with ISLP --with scikit-learn \
        --with pyarrow --with pandas python scripts/make_caravan_data.py
"""

import argparse
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from ISLP import load_data
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO_ROOT / "src" / "logloss" / "data" / "caravan.parquet"

N_FOLDS = 5
SEED = 0

SCHEMA = pa.schema(
    [
        ("label", pa.int8()),
        ("prob", pa.float64()),
        ("logit", pa.float64()),
        ("customer_type", pa.string()),
        ("row_id", pa.int32()),
    ]
)


def load_caravan():
    """Load Caravan from ISLP and return the 85 predictors, 0/1 labels and MOSHOOFD codes.

    Raises ValueError if the data does not have the expected columns or labels.
    """
    caravan = load_data("Caravan")

    purchase = caravan["Purchase"].astype(str)
    unexpected = sorted(set(purchase) - {"Yes", "No"})
    if unexpected:
        raise ValueError(
            f"invalid Purchase values {unexpected} in ISLP's Caravan data, expected "
            "only Yes/No. Check the installed ISLP version."
        )

    features = caravan.drop(columns="Purchase").to_numpy(dtype=np.float64)
    if features.shape[1] != 85:
        raise ValueError(
            f"expected 85 predictors in ISLP's Caravan data, found {features.shape[1]}. "
            "Check the installed ISLP version."
        )

    labels = (purchase == "Yes").to_numpy().astype(np.int8)
    main_type_codes = caravan["MOSHOOFD"].to_numpy()
    return features, labels, main_type_codes


def predict_out_of_fold(features, labels):
    """Return the out-of-fold logits of a standardized L2 logistic regression.

    Each row's logit comes from the model fitted on the other four folds.
    """
    # L2 is the default penalty, so it is not passed: scikit-learn 1.8 deprecated
    # `penalty`, and 1.9.1 emits a FutureWarning when it is set.
    model = make_pipeline(
        StandardScaler(),
        LogisticRegression(C=1.0, solver="lbfgs", max_iter=1000),
    )
    folds = StratifiedKFold(n_splits=N_FOLDS, shuffle=True, random_state=SEED)

    # A fold that stops at max_iter would make the predictions depend on that limit,
    # so non-convergence raises instead of warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        return cross_val_predict(
            model, features, labels, cv=folds, method="decision_function"
        )


def build_table(labels, logits, main_type_codes):
    """Assemble the output table with the column order and types in SCHEMA."""
    # NOTE: ISLP 0.6.0 ships no names for the MOSHOOFD customer main types,
    # so the column keeps the source's integer codes 1-10 as "type N".
    customer_type = [f"type {int(code)}" for code in main_type_codes]

    columns = {
        "label": labels,
        # expit is the logistic function, evaluated without overflow for large |logit|.
        "prob": expit(logits),
        "logit": logits,
        "customer_type": customer_type,
        "row_id": np.arange(len(labels), dtype=np.int32),
    }
    return pa.table(columns, schema=SCHEMA)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="Parquet file to write (default: src/logloss/data/caravan.parquet "
        "in this repository)",
    )
    args = parser.parse_args()

    features, labels, main_type_codes = load_caravan()
    logits = predict_out_of_fold(features, labels)
    table = build_table(labels, logits, main_type_codes)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, args.output, compression="zstd")

    oof_log_loss = log_loss(labels, table["prob"].to_numpy())
    print(f"wrote {args.output}")
    print(f"ISLP {version('ISLP')}, scikit-learn {version('scikit-learn')}")
    print(f"rows: {table.num_rows}")
    print(f"base rate: {labels.mean():.6f} ({int(labels.sum())} purchases)")
    print(f"out-of-fold log loss: {oof_log_loss:.6f}")


if __name__ == "__main__":
    main()
