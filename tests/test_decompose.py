import math
import pickle
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from logloss import (
    BinnedDecompositionState,
    UndefinedMetricWarning,
    binary_cross_entropy,
    decompose,
    decompose_with_logits,
)

EPS = np.finfo(np.float64).eps
CARAVAN = Path(__file__).resolve().parents[1] / "src" / "logloss" / "data" / "caravan.parquet"


@st.composite
def samples(draw, max_size=60):
    n = draw(st.integers(2, max_size))  # two rows at least: one of each class
    # Few distinct values, so ties are common.
    p = draw(hnp.arrays(np.float64, n, elements=st.sampled_from([0.01, 0.1, 0.3, 0.5, 0.7, 0.95])))
    y = draw(hnp.arrays(np.float64, n, elements=st.sampled_from([0.0, 1.0])))
    w = draw(st.one_of(st.none(), hnp.arrays(np.float64, n, elements=st.floats(0.1, 5.0))))
    return p, y, w


def reference_decomposition(p, y, w=None):
    """Return (MCB, DSC, UNC, S) by a brute-force PAV over the pooled distinct predictions."""
    w = np.ones_like(p) if w is None else w
    values = np.unique(p)
    weight = np.array([w[p == v].sum() for v in values])
    mean = np.array([(w * y)[p == v].sum() for v in values]) / weight
    blocks = [[m, c] for m, c in zip(mean.tolist(), weight.tolist())]
    sizes = [1] * len(blocks)
    i = 0
    while i < len(blocks) - 1:
        if blocks[i][0] > blocks[i + 1][0]:
            total = blocks[i][1] + blocks[i + 1][1]
            blocks[i] = [(blocks[i][0] * blocks[i][1] + blocks[i + 1][0] * blocks[i + 1][1]) / total, total]
            sizes[i] += sizes.pop(i + 1)
            blocks.pop(i + 1)
            i = max(i - 1, 0)
        else:
            i += 1
    recalibrated = np.repeat([b[0] for b in blocks], sizes)
    fitted = recalibrated[np.searchsorted(values, p)]
    score = float(binary_cross_entropy(p, y, weights=w))
    recalibrated_score = float(binary_cross_entropy(np.clip(fitted, 0, 1), y, weights=w))
    rate = float(np.sum(w * y) / np.sum(w))
    uncertainty = float(binary_cross_entropy(np.full_like(p, rate), y, weights=w))
    return score - recalibrated_score, uncertainty - recalibrated_score, uncertainty, score


@settings(max_examples=80, deadline=None)
@given(samples())
def test_decompose_identity_and_reference(sample):
    p, y, w = sample
    y[0], y[1] = 0.0, 1.0  # both classes, so nothing warns
    result = decompose(p, y, weights=w)
    tolerance = 64 * EPS * max(1.0, result.score)
    assert result.score == pytest.approx(result.miscalibration - result.discrimination + result.uncertainty, abs=tolerance)
    expected = reference_decomposition(p, y, w)
    assert result.miscalibration == pytest.approx(expected[0], abs=tolerance)
    assert result.discrimination == pytest.approx(expected[1], abs=tolerance)
    assert result.uncertainty == pytest.approx(expected[2], abs=tolerance)
    assert result.score == pytest.approx(expected[3], abs=tolerance)
    assert result.miscalibration >= -tolerance
    assert result.discrimination >= -tolerance


@settings(max_examples=40, deadline=None)
@given(samples())
def test_decompose_normalized_entropy_identity(sample):
    p, y, w = sample
    y[0], y[1] = 0.0, 1.0
    result = decompose(p, y, weights=w)
    via_components = 1.0 - (result.discrimination - result.miscalibration) / result.uncertainty
    assert result.normalized_entropy == pytest.approx(via_components, rel=64 * EPS, abs=64 * EPS)
    assert result.normalized_entropy == pytest.approx(result.score / result.uncertainty, rel=4 * EPS, abs=0)


def test_decompose_closed_form():
    result = decompose(np.array([0.1, 0.4, 0.4, 0.8]), np.array([0, 1, 0, 1]))
    recalibrated_score = math.log(2.0) / 2.0
    assert result.uncertainty == pytest.approx(math.log(2.0), rel=2 * EPS, abs=0)
    assert result.discrimination == pytest.approx(math.log(2.0) - recalibrated_score, rel=8 * EPS, abs=0)
    assert result.prediction.tolist() == [0.1, 0.4, 0.8]
    assert result.recalibrated.tolist() == [0.0, 0.5, 1.0]
    assert result.weight.tolist() == [1.0, 2.0, 1.0]
    assert result.method == "exact"
    assert result.error_bound is None


def test_decompose_constant_at_base_rate():
    result = decompose(np.full(4, 0.25), np.array([1, 0, 0, 0]))
    assert result.miscalibration == pytest.approx(0.0, abs=4 * EPS)
    assert result.discrimination == pytest.approx(0.0, abs=4 * EPS)


def test_decompose_integer_weights_equal_repeats():
    p = np.array([0.2, 0.6, 0.6, 0.9, 0.3])
    y = np.array([0, 1, 0, 1, 1])
    counts = np.array([3, 1, 2, 4, 1])
    weighted = decompose(p, y, weights=counts.astype(float))
    repeated = decompose(np.repeat(p, counts), np.repeat(y, counts))
    for name in ("score", "miscalibration", "discrimination", "uncertainty"):
        assert getattr(weighted, name) == pytest.approx(getattr(repeated, name), rel=64 * EPS, abs=0), name


def test_decompose_zero_weights_ignored():
    p, y = np.array([0.2, 0.7, 0.0, 0.4]), np.array([0, 1, 1, 1])
    with_zero = decompose(p, y, weights=np.array([1.0, 1.0, 0.0, 2.0]))
    without = decompose(p[[0, 1, 3]], y[[0, 1, 3]], weights=np.array([1.0, 1.0, 2.0]))
    assert with_zero.score == without.score
    assert with_zero.discrimination == without.discrimination
    assert with_zero.n_infinite == 0
    assert with_zero.count == 4


def test_decompose_zero_and_one_correct():
    result = decompose(np.array([0.0, 1.0, 0.0, 1.0]), np.array([0, 1, 0, 1]))
    assert result.score == 0.0
    assert result.miscalibration == 0.0
    assert result.discrimination == pytest.approx(math.log(2.0), rel=2 * EPS, abs=0)


def test_decompose_infinite_score():
    # p = 0 for a positive label: the score and MCB are inf, DSC and UNC stay finite.
    p, y = np.array([0.0, 0.2, 0.8, 1.0]), np.array([1, 0, 1, 1])
    result = decompose(p, y)
    assert result.score == math.inf
    assert result.miscalibration == math.inf
    assert result.normalized_entropy == math.inf
    assert result.n_infinite == 1
    assert math.isfinite(result.discrimination)
    assert result.recalibrated.tolist() == [0.5, 0.5, 1.0, 1.0]


def test_decompose_logits_match_probabilities():
    rng = np.random.default_rng(11)
    z = rng.normal(0.0, 2.0, 300)
    y = (rng.random(300) < 0.4).astype(np.int8)
    from_logits = decompose_with_logits(z, y)
    from_probabilities = decompose(1.0 / (1.0 + np.exp(-z)), y)
    for name in ("score", "miscalibration", "discrimination", "uncertainty"):
        assert getattr(from_logits, name) == pytest.approx(getattr(from_probabilities, name), rel=1e-12, abs=0), name


def test_decompose_empty_warns():
    with pytest.warns(UndefinedMetricWarning, match="there are no rows"):
        result = decompose(np.zeros(0), np.zeros(0))
    assert math.isnan(result.score)


def test_decompose_single_class_warns():
    with pytest.warns(UndefinedMetricWarning, match="every label is 1"):
        result = decompose(np.array([0.3, 0.9]), np.array([1, 1]))
    assert result.uncertainty == 0.0
    assert result.normalized_entropy == math.inf


def test_decompose_rejects_probability_outside():
    with pytest.raises(ValueError, match="decompose_with_logits"):
        decompose(np.array([2.5]), np.array([1]))


def test_decomposition_to_dict_records_method():
    figures = decompose(np.array([0.2, 0.7]), np.array([0, 1])).to_dict(curve=True)
    assert figures["method"] == "exact"
    assert figures["recalibrated"] == [0.0, 1.0]


# Real data: the bundled caravan predictions and out-of-fold predictions of a logistic
# regression on three data sets that scikit-learn ships.


def out_of_fold(features, target):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    return cross_val_predict(model, features, target, cv=folds, method="predict_proba")[:, 1]


def load_real(name):
    from sklearn import datasets

    if name == "caravan":
        table = pq.read_table(CARAVAN)
        return table["prob"].to_numpy(), table["label"].to_numpy()
    if name == "breast_cancer":
        features, target = datasets.load_breast_cancer(return_X_y=True)
    elif name == "digits_odd":
        features, digit = datasets.load_digits(return_X_y=True)
        target = digit % 2
    else:
        features, progression = datasets.load_diabetes(return_X_y=True)
        target = (progression > np.median(progression)).astype(int)
    return out_of_fold(features, target), target


REAL = ["caravan", "breast_cancer", "digits_odd", "diabetes_high"]


@pytest.fixture(scope="module", params=REAL)
def real(request):
    return load_real(request.param)


def test_decompose_matches_model_diagnostics(real):
    from model_diagnostics.scoring import LogLoss
    from model_diagnostics.scoring import decompose as reference

    p, y = real
    weights = np.random.default_rng(5).uniform(0.5, 2.0, len(y))
    for w in (None, weights):
        ours = decompose(p, y, weights=w)
        expected = reference(y, p, weights=w, scoring_function=LogLoss())
        for name in ("miscalibration", "discrimination", "uncertainty", "score"):
            assert getattr(ours, name) == pytest.approx(expected[name][0], rel=1e-9, abs=0), name


def test_binned_within_bound_of_exact(real):
    p, y = real
    exact = decompose(p, y)
    state = BinnedDecompositionState()
    state.update(p, y)
    binned = state.result()
    difference = exact.discrimination - binned.discrimination
    assert binned.method == "binned"
    assert -1e-12 <= difference <= binned.error_bound
    assert exact.miscalibration - binned.miscalibration == pytest.approx(difference, abs=1e-12)
    assert binned.score == pytest.approx(exact.score, rel=1e-12, abs=0)
    assert binned.uncertainty == pytest.approx(exact.uncertainty, rel=1e-12, abs=0)


def test_binned_equals_exact_one_row_per_bin():
    p = np.array([0.05, 0.2, 0.4, 0.6, 0.9])
    y = np.array([0, 1, 0, 1, 1])
    state = BinnedDecompositionState()
    state.update(p, y)
    binned, exact = state.result(), decompose(p, y)
    assert binned.discrimination == pytest.approx(exact.discrimination, rel=8 * EPS, abs=0)
    assert binned.recalibrated.tolist() == exact.recalibrated.tolist()
    assert binned.prediction == pytest.approx(exact.prediction, rel=2 * EPS, abs=0)


def test_binned_batches_and_merge_equal_whole():
    rng = np.random.default_rng(2)
    p, w = rng.random(3000), rng.uniform(0, 3, 3000)
    y = (rng.random(3000) < p).astype(np.int8)
    whole = BinnedDecompositionState()
    whole.update(p, y, weights=w)
    left, right = BinnedDecompositionState(), BinnedDecompositionState()
    left.update(p[:1000], y[:1000], weights=w[:1000])
    right.update(p[1000:], y[1000:], weights=w[1000:])
    merged = pickle.loads(pickle.dumps(right)).merge(left).result()
    expected = whole.result()
    for name in ("score", "miscalibration", "discrimination", "uncertainty", "error_bound"):
        assert getattr(merged, name) == pytest.approx(getattr(expected, name), rel=1e3 * EPS, abs=0), name
    assert merged.count == 3000


def test_binned_logits_extremes_in_end_bins():
    state = BinnedDecompositionState(n_bins=8, logit_limit=4.0)
    state.update_logits(np.array([-50.0, -4.0, 3.99, 4.0, np.inf]), np.array([0, 0, 1, 1, 1]))
    assert state.bin_sums()["count"].tolist() == [1, 1, 0, 0, 0, 0, 0, 0, 1, 2]
    state.update(np.array([0.0, 1.0]), np.array([0, 1]))
    assert state.bin_sums()["count"].tolist() == [2, 1, 0, 0, 0, 0, 0, 0, 1, 3]
    assert state.result().score == 0.0 or state.result().score > 0.0


def test_binned_infinite_loss():
    state = BinnedDecompositionState()
    state.update(np.array([1.0, 0.3, 0.6]), np.array([0, 0, 1]))
    result = state.result()
    assert result.score == math.inf
    assert result.n_infinite == 1
    assert math.isfinite(result.discrimination)


def test_binned_merge_rejects_other_bins():
    with pytest.raises(ValueError, match="`other` must have the same bins"):
        BinnedDecompositionState().merge(BinnedDecompositionState(n_bins=10))


def test_binned_rejects_bad_bins():
    with pytest.raises(ValueError, match="`n_bins` must be from 1 to 1,048,576, got 0"):
        BinnedDecompositionState(n_bins=0)
    with pytest.raises(ValueError, match="`n_bins` must be from 1 to 1,048,576, got 1000000000000"):
        BinnedDecompositionState(n_bins=10**12)
    with pytest.raises(TypeError, match="`n_bins` must be an integer, got float 2.5"):
        BinnedDecompositionState(n_bins=2.5)


@pytest.mark.parametrize("limit", ["16", True, None])
def test_binned_logit_limit_type_rejected(limit):
    with pytest.raises(TypeError, match="`logit_limit` must be a real number, got"):
        BinnedDecompositionState(logit_limit=limit)


@pytest.mark.parametrize("limit", [0.0, -1.0, np.inf, np.nan, 10**400])
def test_binned_logit_limit_value_rejected(limit):
    with pytest.raises(ValueError, match="`logit_limit` must be a positive finite number, got"):
        BinnedDecompositionState(logit_limit=limit)


@pytest.mark.parametrize("limit", [1e-310, 5e-324])
def test_binned_logit_limit_too_small(limit):
    # n_bins / (2 * logit_limit) would overflow when update() places the logits.
    with pytest.raises(ValueError, match=r"`logit_limit` must be above 1.14e-305 for 4096 bins, got"):
        BinnedDecompositionState(logit_limit=limit)


def test_binned_logit_limit_rounds_to_zero():
    with pytest.raises(ValueError, match="`logit_limit` must be a positive finite number, got Fraction"):
        BinnedDecompositionState(logit_limit=Fraction(1, 10**400))


def test_binned_logit_limit_numpy_float():
    assert BinnedDecompositionState(logit_limit=np.float32(8.0)).logit_limit == 8.0


def test_binned_logits_match_probabilities_many_chunks():
    rng = np.random.default_rng(9)
    n = 150_000  # more than two chunks of 65,536 rows
    z, w = rng.normal(0.0, 3.0, n), rng.uniform(0.0, 2.0, n)
    y = (rng.random(n) < 0.3).astype(np.int8)
    from_logits, from_probabilities = BinnedDecompositionState(), BinnedDecompositionState()
    from_logits.update_logits(z, y, weights=w)
    from_probabilities.update(1.0 / (1.0 + np.exp(-z)), y, weights=w)
    a, b = from_logits.result(), from_probabilities.result()
    for name in ("score", "miscalibration", "discrimination", "uncertainty"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-9, abs=0), name
    assert from_logits.bin_sums()["count"].sum() == n
