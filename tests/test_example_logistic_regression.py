"""The logistic-regression example agrees with scikit-learn's fit of the same objective."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("scipy", reason="the example minimizes with scipy.optimize")
pytest.importorskip("pyarrow", reason="the example reads the bundled Parquet file")
linear_model = pytest.importorskip("sklearn.linear_model", reason="scikit-learn is the reference fit")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "logistic_regression.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("logistic_regression_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("C", "positive_weight"), [(1.0, None), (0.1, 3.0)])
def test_example_matches_sklearn(example, C, positive_weight):
    features, labels, names = example.load_caravan_features()
    assert features.shape == (5822, 11)
    assert names[-1] == "logit"
    weights = None if positive_weight is None else np.where(labels == 1, positive_weight, 1.0)
    coef, intercept = example.fit_logistic_regression(features, labels, C=C, sample_weight=weights)
    reference = linear_model.LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=100)
    reference.fit(features, labels, sample_weight=weights)
    np.testing.assert_allclose(coef, reference.coef_[0], rtol=0, atol=1e-6)
    assert intercept == pytest.approx(reference.intercept_[0], abs=1e-6)
