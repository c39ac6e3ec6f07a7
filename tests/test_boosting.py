"""XGBoost and LightGBM with boosting_objective match their built-in logistic objective."""

from importlib import resources

import numpy as np
import pytest

from logloss import binary_cross_entropy, binary_cross_entropy_with_logits, boosting_objective

pq = pytest.importorskip("pyarrow.parquet", reason="the bundled data is a Parquet file")


@pytest.fixture(scope="module")
def caravan():
    with resources.as_file(resources.files("logloss") / "data" / "caravan.parquet") as path:
        table = pq.read_table(path, columns=["label", "logit", "customer_type"])
    customer_type = np.array([int(name.split()[-1]) for name in table["customer_type"].to_pylist()], dtype=np.float64)
    features = np.column_stack([customer_type, table["logit"].to_numpy()])
    labels = table["label"].to_numpy().astype(np.float64)
    weights = np.where(labels == 1, 2.0, 1.0)
    return features, labels, weights


def test_xgboost_custom_objective_matches_builtin(caravan):
    xgboost = pytest.importorskip("xgboost", reason="XGBoost is a test dependency")
    features, labels, weights = caravan
    train = xgboost.DMatrix(features, label=labels, weight=weights)
    params = {"max_depth": 3, "eta": 0.3, "nthread": 1, "seed": 0, "tree_method": "exact"}
    # Both start from margin 0: binary:logistic reads base_score as a probability, a custom
    # objective as a margin.
    builtin = xgboost.train({**params, "objective": "binary:logistic", "base_score": 0.5}, train, num_boost_round=10)
    custom = xgboost.train({**params, "base_score": 0.0}, train, num_boost_round=10, obj=boosting_objective("xgboost"))
    builtin_loss = binary_cross_entropy(builtin.predict(train).astype(np.float64), labels, weights=weights)
    margins = custom.predict(train, output_margin=True).astype(np.float64)
    custom_loss = binary_cross_entropy_with_logits(margins, labels, weights=weights)
    assert abs(float(custom_loss) - float(builtin_loss)) <= 1e-6


def test_lightgbm_custom_objective_matches_builtin(caravan):
    lightgbm = pytest.importorskip("lightgbm", reason="LightGBM is a test dependency")
    features, labels, weights = caravan
    params = {
        "num_leaves": 7,
        "learning_rate": 0.3,
        "num_threads": 1,
        "deterministic": True,
        "force_row_wise": True,
        "seed": 0,
        "verbose": -1,
        "boost_from_average": False,
    }

    def train(objective):
        dataset = lightgbm.Dataset(features, label=labels, weight=weights, params={"verbose": -1})
        return lightgbm.train({**params, "objective": objective}, dataset, num_boost_round=10)

    builtin = train("binary")
    custom = train(boosting_objective("lightgbm"))
    builtin_loss = binary_cross_entropy(builtin.predict(features), labels, weights=weights)
    custom_loss = binary_cross_entropy_with_logits(custom.predict(features), labels, weights=weights)
    assert abs(float(custom_loss) - float(builtin_loss)) <= 1e-6


# The recipes of docs/gradients.md and the boosting_objective docstring, as written there:
# XGBRegressor reads base_score as a margin, XGBClassifier as a probability.
@pytest.mark.parametrize(("estimator", "base_score"), [("XGBRegressor", 0.0), ("XGBClassifier", 0.5)])
def test_sklearn_objective_matches_builtin(caravan, estimator, base_score):
    xgboost = pytest.importorskip("xgboost", reason="XGBoost is a test dependency")
    features, labels, weights = caravan
    options = {"n_estimators": 5, "max_depth": 2, "n_jobs": 1, "random_state": 0, "tree_method": "exact"}
    builtin = xgboost.XGBClassifier(objective="binary:logistic", base_score=0.5, **options)
    builtin.fit(features, labels, sample_weight=weights)
    custom = getattr(xgboost, estimator)(objective=boosting_objective("sklearn"), base_score=base_score, **options)
    custom.fit(features, labels, sample_weight=weights)
    builtin_loss = binary_cross_entropy(builtin.predict_proba(features)[:, 1].astype(np.float64), labels, weights=weights)
    margins = custom.predict(features, output_margin=True).astype(np.float64)
    custom_loss = binary_cross_entropy_with_logits(margins, labels, weights=weights)
    assert abs(float(custom_loss) - float(builtin_loss)) <= 1e-6
    if estimator == "XGBClassifier":
        probabilities = custom.predict_proba(features)[:, 1].astype(np.float64)
        assert abs(float(binary_cross_entropy(probabilities, labels, weights=weights)) - float(builtin_loss)) <= 1e-6
