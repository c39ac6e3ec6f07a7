"""The loss and its derivatives on PyTorch, JAX and Dask arrays: library, dtype, autograd."""

import warnings

import numpy as np
import pytest

import logloss
from logloss import (
    InfiniteLossWarning,
    binary_cross_entropy,
    binary_cross_entropy_grad_hess,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_grad_hess,
)

Z = np.array([-800.0, -50.0, -3.0, -0.5, 0.0, 0.25, 2.0, 37.5, 900.0])
Y = np.array([1.0, 0.0, 0.3, 1.0, 0.0, 0.5, 1.0, 1.0, 0.0])
P = np.array([0.0, 1e-300, 0.01, 0.3, 0.5, 0.9, 1.0 - 1e-12, 1.0, 1.0])
Y_P = np.array([0.0, 1.0, 0.2, 1.0, 0.0, 0.6, 1.0, 1.0, 1.0])
# Autograd and the analytic formula order the operations differently; for soft labels the
# gradient is a difference of two terms, so they agree to a few units in the last place.
RTOL = 16 * np.finfo(np.float64).eps
OPTIONS = [
    {},
    {"pos_weight": 2.5},
    {"label_smoothing": 0.1},
    {"weights": np.linspace(0.0, 2.0, Z.size), "pos_weight": 0.7},
]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed; see docs/array-libraries.md for a CPU build")


@pytest.fixture
def jax_x64():
    jax = pytest.importorskip("jax", reason="JAX is a test dependency for array-library support")
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield jax
    jax.config.update("jax_enable_x64", previous)


def _torch_options(torch, options):
    return {k: torch.asarray(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}


@pytest.mark.parametrize("options", OPTIONS)
def test_torch_loss_matches_numpy(torch, options):
    expected = binary_cross_entropy_with_logits(Z, Y, reduction="none", **options)
    actual = binary_cross_entropy_with_logits(torch.asarray(Z), torch.asarray(Y), reduction="none", **_torch_options(torch, options))
    assert isinstance(actual, torch.Tensor)
    assert actual.dtype == torch.float64
    # NumPy computes in long double where it can, PyTorch in float64: both within 1.5 ulp.
    np.testing.assert_allclose(actual.numpy(), expected, rtol=3 * np.finfo(np.float64).eps, atol=0)



@pytest.mark.parametrize(
    ("convert", "message"),
    [
        (lambda t: t.to_sparse(), r"`y_pred` must be a dense tensor, got layout torch\.sparse_coo; convert it with \.to_dense\(\)"),
        (lambda t: t.to("meta"), r"`y_pred` must be a tensor with values, got one on the meta device"),
    ],
)
def test_torch_tensor_without_values_rejected(torch, convert, message):
    with pytest.raises(TypeError, match=message):
        binary_cross_entropy(convert(torch.tensor([0.3, 0.4])), torch.tensor([1.0, 0.0]))

def test_torch_float8_widens_to_float32(torch):
    # float8_e4m3fn has no infinity: an infinite or large loss must not become NaN or 448.
    z = torch.tensor([-300.0, 1.0]).to(torch.float8_e4m3fn)
    loss = binary_cross_entropy_with_logits(z, torch.tensor([1.0, 0.0]), weights=torch.tensor([2.0, 1.0]), reduction="none")
    assert loss.dtype == torch.float32
    assert loss[0].item() == 2 * 288.0  # -300 is stored as -288 in float8_e4m3fn


def test_jax_float8_infinite_loss(jax_x64):
    jnp = jax_x64.numpy
    p = jnp.array([0.0, 0.5], dtype=jnp.float8_e4m3fn)
    with pytest.warns(InfiniteLossWarning):
        loss = binary_cross_entropy(p, jnp.array([1.0, 0.0]), reduction="none")
    assert loss.dtype == jnp.float32
    assert np.isinf(np.asarray(loss)[0])


FLOAT8_TYPES = ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz"]
FLOAT8_ENTRIES = {
    "probabilities": binary_cross_entropy,
    "logits": binary_cross_entropy_with_logits,
    "probabilities_grad_hess": binary_cross_entropy_grad_hess,
    "logits_grad_hess": binary_cross_entropy_with_logits_grad_hess,
}


def _float8_values(name, *, probabilities):
    """Return every value of an ml_dtypes float8 type but NaN, only those in [0, 1] for probabilities."""
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="ml_dtypes provides the float8 types for NumPy")
    values = np.arange(256, dtype=np.uint8).view(getattr(ml_dtypes, name))
    wide = values.astype(np.float64)
    keep = ~np.isnan(wide)
    if probabilities:
        keep &= (wide >= 0.0) & (wide <= 1.0)
    return values[keep]


def _torch_float8(torch, values):
    """Return an ml_dtypes float8 array as the PyTorch tensor of the same type and bits."""
    bits = torch.from_numpy(values.view(np.uint8).copy())
    return bits.view(getattr(torch, values.dtype.name))


def _float8_call(torch, name, entry, reduction, **options):
    """Return (NumPy result, PyTorch result) of one entry point on every value of a float8 type."""
    x = _float8_values(name, probabilities=entry.startswith("probabilities"))
    y = _grid_labels(x.size, "soft")
    function = FLOAT8_ENTRIES[entry]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InfiniteLossWarning)
        expected = function(x, y, reduction=reduction, **options)
        actual = function(_torch_float8(torch, x), torch.asarray(y), reduction=reduction, **options)
    return _as_numpy(expected), _as_numpy(actual)


FLOAT8_CASES = [
    (entry, reduction)
    for entry in FLOAT8_ENTRIES
    for reduction in ("none", "sum", "mean")
    if not (entry.endswith("grad_hess") and reduction == "none")
]


@pytest.mark.parametrize("name", FLOAT8_TYPES)
@pytest.mark.parametrize(("entry", "reduction"), FLOAT8_CASES)
def test_torch_float8_equals_numpy(torch, name, entry, reduction):
    expected, actual = _float8_call(torch, name, entry, reduction)
    if not isinstance(expected, tuple):
        expected, actual = (expected,), (actual,)
    for expected_part, actual_part in zip(expected, actual, strict=True):
        # float8 results widen to float32, so that an infinite loss stays inf.
        assert expected_part.dtype == (np.float64 if reduction != "none" and "grad" not in entry else np.float32)
        assert actual_part.dtype == expected_part.dtype
        np.testing.assert_array_equal(actual_part, expected_part)


@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2"])
@pytest.mark.parametrize("entry", list(FLOAT8_ENTRIES))
def test_torch_float8_formulas_match_numpy(torch, name, entry):
    # The formulas in PyTorch are the path of float8 tensors on a GPU.
    with logloss._host.formulas_only():
        expected, actual = _float8_call(torch, name, entry, "sum")
    if not isinstance(expected, tuple):
        expected, actual = (expected,), (actual,)
    for expected_part, actual_part in zip(expected, actual, strict=True):
        assert actual_part.dtype == expected_part.dtype
        np.testing.assert_allclose(actual_part, expected_part, rtol=RTOL)


def test_torch_float8_labels_weights(torch):
    float8 = torch.float8_e4m3fn
    p = torch.asarray([0.25, 0.5, 0.75, 0.0625])
    y, w, pos_weight = [1.0, 0.0, 0.5, 1.0], [2.0, 0.5, 1.0, 0.0], [3.0, 1.0, 1.0, 1.0]
    numpy_options = {"weights": np.array(w), "pos_weight": np.array(pos_weight)}
    torch_options = {"weights": torch.asarray(w).to(float8), "pos_weight": torch.asarray(pos_weight).to(float8)}
    labels = torch.asarray(y).to(float8)

    expected = binary_cross_entropy(p.numpy(), np.array(y), reduction="none", **numpy_options)
    actual = binary_cross_entropy(p, labels, reduction="none", **torch_options)
    assert actual.dtype == torch.float32
    np.testing.assert_array_equal(actual.numpy(), expected)

    expected_gradient, expected_hessian = binary_cross_entropy_grad_hess(p.numpy(), np.array(y), **numpy_options)
    gradient, hessian = binary_cross_entropy_grad_hess(p, labels, **torch_options)
    np.testing.assert_array_equal(gradient.numpy(), expected_gradient)
    np.testing.assert_array_equal(hessian.numpy(), expected_hessian)


def test_torch_float8_infinite_probability_loss(torch):
    # float8_e4m3fn has no infinity, but the float32 result keeps the infinite loss.
    p = torch.asarray([0.0, 0.5]).to(torch.float8_e4m3fn)
    with pytest.warns(InfiniteLossWarning, match="1 element has an infinite loss"):
        loss = binary_cross_entropy(p, torch.asarray([1.0, 0.0]), reduction="none")
    assert loss.dtype == torch.float32
    assert loss[0].item() == np.inf
    assert loss[1].item() == np.float32(np.log(2.0))


def test_torch_float8_out_of_range_rejected(torch):
    p = torch.asarray([0.5, 1.5]).to(torch.float8_e5m2)
    with pytest.raises(ValueError, match=r"`y_pred` must be in \[0, 1\], got 1.5 at index 1"):
        binary_cross_entropy(p, torch.asarray([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"`y_true` must be in \[0, 1\], got 1.5 at index 1"):
        binary_cross_entropy(torch.asarray([0.5, 0.5]), p)


def test_torch_float8_autograd(torch):
    p = torch.asarray([0.25, 0.5, 0.75]).to(torch.float8_e4m3fn).requires_grad_()
    y = torch.asarray([1.0, 0.0, 1.0])
    loss = binary_cross_entropy(p, y, reduction="sum")
    assert loss.item() == pytest.approx(2 * np.log(2.0) + np.log(2.0) + np.log(4.0 / 3.0), rel=1e-15, abs=0)
    loss.backward()
    # The gradient -1/p for y = 1 and 1/(1 - p) for y = 0, rounded to the leaf's float8 type.
    expected = torch.asarray([-4.0, 2.0, -4.0 / 3.0]).to(torch.float8_e4m3fn)
    assert p.grad.dtype == torch.float8_e4m3fn
    assert p.grad.float().tolist() == expected.float().tolist()


@pytest.mark.parametrize("name", ["float8_e8m0fnu", "float4_e2m1fn_x2"])
def test_torch_unsupported_byte_floats_rejected(torch, name):
    if not hasattr(torch, name):
        pytest.skip(f"this PyTorch has no torch.{name}")
    values = torch.zeros(2, dtype=torch.uint8).view(getattr(torch, name))
    message = rf"`y_pred` must have a real numeric dtype that logloss reads, got dtype torch.{name}; convert it"
    with pytest.raises(TypeError, match=message):
        binary_cross_entropy(values, torch.asarray([1.0, 0.0]))
    with pytest.raises(TypeError, match=rf"`y_true` must have a real numeric dtype .*got dtype torch.{name}"):
        binary_cross_entropy_with_logits(torch.asarray([1.0, 0.0]), values)


@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2"])
def test_jax_float8_equals_numpy(jax_x64, name):
    jnp = jax_x64.numpy
    for entry in ("probabilities", "logits"):
        x = _float8_values(name, probabilities=entry == "probabilities")
        y = _grid_labels(x.size, "soft")
        function = FLOAT8_ENTRIES[entry]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InfiniteLossWarning)
            expected = function(x, y, reduction="none")
            actual = np.asarray(function(jnp.asarray(x), jnp.asarray(y), reduction="none"))
        assert expected.dtype == np.float32
        assert actual.dtype == np.float32
        np.testing.assert_array_equal(actual, expected)


def test_torch_reduction_float64(torch):
    z = torch.asarray(Z, dtype=torch.float32)
    total = binary_cross_entropy_with_logits(z, torch.asarray(Y), reduction="sum")
    assert total.dtype == torch.float64
    assert total.ndim == 0
    expected = binary_cross_entropy_with_logits(Z.astype(np.float32), Y, reduction="none").astype(np.float64).sum()
    np.testing.assert_allclose(total.item(), expected, rtol=4 * np.finfo(np.float32).eps)


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32"])
def test_torch_half_dtype_kept(torch, name):
    dtype = getattr(torch, name)
    p = torch.asarray([0.2, 0.7, 0.5], dtype=dtype)
    loss = binary_cross_entropy(p, torch.asarray([0, 1, 1]), reduction="none")
    assert loss.dtype == dtype
    gradient, hessian = binary_cross_entropy_grad_hess(p, torch.asarray([0, 1, 1]))
    assert gradient.dtype == dtype
    assert hessian.dtype == dtype
    exact = binary_cross_entropy(p.float().numpy().astype(np.float64), np.array([0, 1, 1]), reduction="none")
    np.testing.assert_allclose(loss.float().numpy(), exact, rtol=torch.finfo(dtype).eps)


@pytest.mark.parametrize("options", OPTIONS)
def test_torch_gradcheck_logits(torch, options):
    z = torch.asarray(Z[2:-2], requires_grad=True)
    kwargs = _torch_options(torch, {k: v[2:-2] if isinstance(v, np.ndarray) else v for k, v in options.items()})
    y = torch.asarray(Y[2:-2])
    assert torch.autograd.gradcheck(lambda a: binary_cross_entropy_with_logits(a, y, **kwargs), (z,))
    assert torch.autograd.gradgradcheck(lambda a: binary_cross_entropy_with_logits(a, y, reduction="sum", **kwargs), (z,))


def test_torch_gradcheck_probabilities(torch):
    p = torch.asarray([0.01, 0.3, 0.5, 0.9, 0.99], dtype=torch.float64, requires_grad=True)
    y = torch.asarray([0.0, 1.0, 0.2, 0.6, 1.0], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a: binary_cross_entropy(a, y, pos_weight=1.5), (p,))


@pytest.mark.parametrize("options", OPTIONS)
def test_torch_autograd_matches_analytic(torch, options):
    kwargs = _torch_options(torch, options)
    z = torch.asarray(Z, requires_grad=True)
    binary_cross_entropy_with_logits(z, torch.asarray(Y), reduction="mean", **kwargs).backward()
    gradient, _ = binary_cross_entropy_with_logits_grad_hess(z.detach(), torch.asarray(Y), reduction="mean", **kwargs)
    assert not torch.isnan(z.grad).any()
    np.testing.assert_allclose(z.grad.numpy(), gradient.numpy(), rtol=RTOL, atol=1e-300)

    p = torch.asarray(P, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InfiniteLossWarning)
        binary_cross_entropy(p, torch.asarray(Y_P), reduction="sum", **kwargs).backward()
    gradient, _ = binary_cross_entropy_grad_hess(p.detach(), torch.asarray(Y_P), **kwargs)
    np.testing.assert_array_equal(np.isnan(p.grad.numpy()), np.isnan(gradient.numpy()))
    np.testing.assert_allclose(p.grad.numpy(), gradient.numpy(), rtol=RTOL)


def test_torch_autograd_ends_not_nan(torch):
    p = torch.asarray([1.0, 0.0, 0.0], dtype=torch.float64, requires_grad=True)
    loss = binary_cross_entropy(p, torch.asarray([1, 0, 1]), weights=torch.asarray([1.0, 1.0, 0.0]), reduction="sum")
    loss.backward()
    assert loss.item() == 0.0
    assert p.grad.tolist() == [-1.0, 1.0, 0.0]

    z = torch.asarray([np.inf, -np.inf, 0.0], dtype=torch.float64, requires_grad=True)
    binary_cross_entropy_with_logits(z, torch.asarray([1.0, 0.0, 1.0]), reduction="sum").backward()
    assert z.grad.tolist() == [0.0, 0.0, -0.5]


def test_torch_nan_policy_omit_autograd(torch):
    z = torch.asarray([0.5, 1.0, -1.0], dtype=torch.float64, requires_grad=True)
    y = torch.asarray([1.0, float("nan"), 0.0], dtype=torch.float64)
    loss = binary_cross_entropy_with_logits(z, y, nan_policy="omit")
    loss.backward()
    expected = binary_cross_entropy_with_logits(np.array([0.5, -1.0]), np.array([1.0, 0.0]))
    assert loss.item() == pytest.approx(float(expected), rel=1e-15, abs=0)
    assert z.grad[1].item() == 0.0


def test_torch_nan_rejected_with_index(torch):
    with pytest.raises(ValueError, match=r"`logits` must not contain NaN, got NaN at index 1"):
        binary_cross_entropy_with_logits(torch.asarray([0.0, float("nan")]), torch.asarray([1, 0]))


def test_torch_out_of_range_rejected(torch):
    with pytest.raises(ValueError, match=r"`y_true` must be in \[0, 1\], got 2.0 at index 0"):
        binary_cross_entropy(torch.asarray([0.5]), torch.asarray([2.0]))


def test_torch_infinite_loss_warns(torch):
    with pytest.warns(InfiniteLossWarning, match="1 element has an infinite loss"):
        binary_cross_entropy(torch.asarray([0.0, 0.5]), torch.asarray([1, 1]))


def test_torch_complex_rejected(torch):
    with pytest.raises(TypeError, match="`y_pred` must have a real numeric dtype"):
        binary_cross_entropy(torch.asarray([0.5j]), torch.asarray([1]))


def test_torch_empty_mean_warns(torch):
    with pytest.warns(logloss.UndefinedMetricWarning):
        mean = binary_cross_entropy_with_logits(torch.zeros(0), torch.zeros(0))
    assert torch.isnan(mean)


@pytest.mark.parametrize("options", OPTIONS)
def test_jax_grad_matches_analytic(jax_x64, options):
    jnp = jax_x64.numpy
    kwargs = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    y = jnp.asarray(Y)

    def mean_loss(z):
        return binary_cross_entropy_with_logits(z, y, reduction="mean", **kwargs)

    autograd = jax_x64.grad(mean_loss)(jnp.asarray(Z))
    gradient, hessian = binary_cross_entropy_with_logits_grad_hess(jnp.asarray(Z), y, reduction="mean", **kwargs)
    np.testing.assert_allclose(np.asarray(autograd), np.asarray(gradient), rtol=RTOL, atol=1e-300)
    second = jax_x64.vmap(jax_x64.grad(jax_x64.grad(lambda a, b, *w: binary_cross_entropy_with_logits(
        a, b, reduction="sum", pos_weight=kwargs.get("pos_weight"), label_smoothing=kwargs.get("label_smoothing", 0.0)))))
    if "weights" not in kwargs:
        np.testing.assert_allclose(np.asarray(second(jnp.asarray(Z), y)) / Z.size, np.asarray(hessian), rtol=1e-14, atol=1e-300)


def test_jax_jit_matches_eager(jax_x64):
    jnp = jax_x64.numpy
    z, y = jnp.asarray(Z), jnp.asarray(Y)
    compiled = jax_x64.jit(lambda a, b: binary_cross_entropy_with_logits(a, b, pos_weight=2.0))
    assert float(compiled(z, y)) == pytest.approx(float(binary_cross_entropy_with_logits(Z, Y, pos_weight=2.0)), rel=RTOL, abs=0)
    gradient = jax_x64.jit(lambda a, b: binary_cross_entropy_grad_hess(a, b)[0])(jnp.asarray(P[1:-2]), jnp.asarray(Y_P[1:-2]))
    np.testing.assert_allclose(np.asarray(gradient), binary_cross_entropy_grad_hess(P[1:-2], Y_P[1:-2])[0], rtol=RTOL)


@pytest.mark.parametrize("subtract_entropy", [False, True])
def test_jax_jit_tiny_smoothing_matches_eager(jax_x64, subtract_entropy):
    # With smoothing 1e-17, 1 - smoothing rounds to 1. Under jit, XLA can then fold the
    # complement of a label of 1 to 0, which drops the negative term, unless prepare() stops it.
    jnp = jax_x64.numpy
    z, y = jnp.asarray([40.0, 3.0]), jnp.asarray([1.0, 1.0])

    def loss(a, b):
        return binary_cross_entropy_with_logits(
            a, b, label_smoothing=1e-17, subtract_entropy=subtract_entropy, reduction="none"
        )

    expected = binary_cross_entropy_with_logits(
        np.asarray([40.0, 3.0]), np.ones(2), label_smoothing=1e-17, subtract_entropy=subtract_entropy, reduction="none"
    )
    np.testing.assert_allclose(np.asarray(jax_x64.jit(loss)(z, y)), expected, rtol=RTOL, atol=0)



@pytest.mark.parametrize("weight", [1e307, 9e307, 1.7e308])
def test_jax_huge_weights_keep_gradient(jax_x64, weight):
    # XLA divides by a reciprocal that it flushes to 0 when subnormal, which zeroed weights
    # above about 4.5e307 under jit and grad.
    jnp = jax_x64.numpy
    z, y, w = np.array([1.0, 2.0]), np.array([0.0, 1.0]), np.array([weight, weight / 3])
    expected_loss = binary_cross_entropy_with_logits(z, y, weights=w)
    expected_gradient, _ = binary_cross_entropy_with_logits_grad_hess(z, y, weights=w, reduction="mean")

    def loss(a, b):
        return binary_cross_entropy_with_logits(a, jnp.asarray(y), weights=b)

    jitted = jax_x64.jit(loss)(jnp.asarray(z), jnp.asarray(w))
    gradient = jax_x64.grad(loss)(jnp.asarray(z), jnp.asarray(w))
    jitted_gradient = jax_x64.jit(jax_x64.grad(loss))(jnp.asarray(z), jnp.asarray(w))
    np.testing.assert_allclose(float(jitted), expected_loss, rtol=RTOL, atol=0)
    np.testing.assert_allclose(np.asarray(gradient), expected_gradient, rtol=RTOL, atol=0)
    np.testing.assert_allclose(np.asarray(jitted_gradient), expected_gradient, rtol=RTOL, atol=0)

def test_jax_jit_skips_value_checks(jax_x64):
    jnp = jax_x64.numpy
    compiled = jax_x64.jit(lambda a, b: binary_cross_entropy(a, b, reduction="none"))
    loss = compiled(jnp.asarray([0.5, 1.5]), jnp.asarray([0.0, 0.0]))
    assert np.isnan(np.asarray(loss)[1])
    with pytest.raises(ValueError, match="`y_pred` must be in"):
        binary_cross_entropy(jnp.asarray([0.5, 1.5]), jnp.asarray([1.0, 1.0]))


# Each case: keyword arguments with one invalid value at index 1 of three rows.
_TRACED_INVALID = {
    "probability above 1": {"y_pred": [0.3, 1.5, 0.6], "y_true": [1.0, 1.0, 0.0]},
    "probability below 0": {"y_pred": [0.3, -0.2, 0.6], "y_true": [1.0, 0.0, 0.0]},
    "label above 1": {"y_pred": [0.3, 0.5, 0.6], "y_true": [1.0, 2.0, 0.0]},
    "label NaN": {"y_pred": [0.3, 0.5, 0.6], "y_true": [1.0, float("nan"), 0.0]},
    "negative weight": {"y_pred": [0.3, 0.5, 0.6], "y_true": [1.0, 1.0, 0.0], "weights": [1.0, -1.0, 2.0]},
    "infinite weight": {"y_pred": [0.3, 0.5, 0.6], "y_true": [1.0, 1.0, 0.0], "weights": [1.0, float("inf"), 2.0]},
    "negative pos_weight": {"y_pred": [0.3, 0.5, 0.6], "y_true": [1.0, 1.0, 0.0], "pos_weight": [1.0, -2.0, 1.0]},
    # pos_weight 0 zeroes the only term of y = 1, which would turn the NaN into 0.
    "prediction NaN": {"y_pred": [0.3, float("nan"), 0.6], "y_true": [1.0, 1.0, 0.0], "pos_weight": [1.0, 0.0, 1.0]},
    # A weight of 0 drops the row's loss, but an eager call still raises for its label.
    "label above 1 at weight 0": {"y_pred": [0.3, 0.5, 0.6], "y_true": [1.0, 2.0, 0.0], "weights": [1.0, 0.0, 2.0]},
}


@pytest.mark.parametrize("case", _TRACED_INVALID, ids=list(_TRACED_INVALID))
@pytest.mark.parametrize("entry", ["probabilities", "logits"])
def test_jax_jit_invalid_input_gives_nan(jax_x64, case, entry):
    jnp = jax_x64.numpy
    arrays = {name: jnp.asarray(value) for name, value in _TRACED_INVALID[case].items()}
    if entry == "logits":
        if "probability" in case:
            pytest.skip("a logit has no range")
        # The logit of NaN is NaN.
        arrays["y_pred"] = jnp.log(arrays["y_pred"]) - jnp.log1p(-arrays["y_pred"])
    loss_function = binary_cross_entropy if entry == "probabilities" else binary_cross_entropy_with_logits
    derivatives = binary_cross_entropy_grad_hess if entry == "probabilities" else binary_cross_entropy_with_logits_grad_hess
    names = list(arrays)

    def call(function, **options):
        return jax_x64.jit(lambda *values: function(*values[:2], **dict(zip(names[2:], values[2:])), **options))(*arrays.values())

    per_element = np.asarray(call(loss_function, reduction="none"))
    assert np.isnan(per_element[1])
    assert np.isfinite(per_element[[0, 2]]).all()
    assert np.isnan(float(call(loss_function)))
    for derivative in call(derivatives):
        derivative = np.asarray(derivative)
        assert np.isnan(derivative[1])
        assert np.isfinite(derivative[[0, 2]]).all()


@pytest.mark.parametrize("entry", ["probabilities", "logits"])
def test_jax_grad_of_invalid_input_is_nan(jax_x64, entry):
    jnp = jax_x64.numpy
    function = binary_cross_entropy if entry == "probabilities" else binary_cross_entropy_with_logits
    # Row 0 has a label of 2; row 1 is valid.
    gradient = jax_x64.jit(jax_x64.grad(lambda a, b: function(a, b)))(jnp.asarray([0.4, 0.2]), jnp.asarray([2.0, 0.0]))
    assert np.isnan(np.asarray(gradient)[0])
    assert np.isfinite(np.asarray(gradient)[1])


def test_torch_func_grad_invalid_input_raises(torch):
    labels = torch.asarray([1.0, 0.0], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"`y_pred` must be in \[0, 1\], got 1.5 at index 0"):
        torch.func.grad(lambda a: binary_cross_entropy(a, labels))(torch.asarray([1.5, 0.2], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"`y_true` must be in \[0, 1\], got 2.0 at index 0"):
        torch.func.jacrev(lambda a: binary_cross_entropy_with_logits(a, labels * 2))(torch.asarray([1.5, 0.2], dtype=torch.float64))


def test_torch_vmap_grad_invalid_input_is_nan(torch):
    p = torch.asarray([[1.5, 0.2]], dtype=torch.float64)
    y = torch.asarray([[1.0, 0.0]], dtype=torch.float64)
    gradient = torch.func.vmap(torch.func.grad(lambda a, b: binary_cross_entropy(a, b)))(p, y)
    assert torch.isnan(gradient[0, 0])
    assert gradient[0, 1].item() == pytest.approx(0.625)


def test_jax_jit_omitted_label_stays_out(jax_x64):
    jnp = jax_x64.numpy
    compiled = jax_x64.jit(lambda a, b: binary_cross_entropy(a, b, nan_policy="omit"))
    mean = float(compiled(jnp.asarray([0.3, 0.4, 0.6]), jnp.asarray([1.0, float("nan"), 0.0])))
    assert mean == pytest.approx(float(binary_cross_entropy(np.array([0.3, 0.6]), np.array([1.0, 0.0]))), rel=RTOL, abs=0)


# Finite logits whose probabilities stay inside (0, 1), so that no call warns.
_VMAP_Z = np.array([[-50.0, -3.0, -0.5, 0.0], [0.25, 2.0, 37.5, 5.0]])
_VMAP_Y = Y[1:].reshape(2, 4)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_torch_vmap_matches_loop(torch, reduction):
    z = torch.asarray(_VMAP_Z)
    y = torch.asarray(_VMAP_Y)
    p = torch.sigmoid(z)
    for function, x in ((binary_cross_entropy_with_logits, z), (binary_cross_entropy, p)):
        batched = torch.func.vmap(lambda a, b, f=function: f(a, b, reduction=reduction))(x, y)
        looped = torch.stack([function(x[i], y[i], reduction=reduction) for i in range(2)])
        np.testing.assert_allclose(batched.numpy(), looped.numpy(), rtol=RTOL, atol=1e-300, err_msg=function.__name__)


def test_torch_vmap_grad_hess_and_grad(torch):
    z = torch.asarray(_VMAP_Z)
    y = torch.asarray(_VMAP_Y)
    gradient, hessian = torch.func.vmap(binary_cross_entropy_with_logits_grad_hess)(z, y)
    for i in range(2):
        expected = binary_cross_entropy_with_logits_grad_hess(_VMAP_Z[i], _VMAP_Y[i])
        np.testing.assert_allclose(gradient[i].numpy(), expected[0], rtol=RTOL, atol=1e-300)
        np.testing.assert_allclose(hessian[i].numpy(), expected[1], rtol=RTOL, atol=1e-300)
    autograd = torch.func.vmap(torch.func.grad(lambda a, b: binary_cross_entropy_with_logits(a, b, reduction="sum")))(z, y)
    np.testing.assert_allclose(autograd.numpy(), gradient.numpy(), rtol=1e-14, atol=1e-300)


def test_torch_vmap_invalid_probability_gives_nan(torch):
    p = torch.asarray([[0.3, 1.5], [0.4, 0.6]], dtype=torch.float64)
    y = torch.asarray([[1.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    means = torch.func.vmap(lambda a, b: binary_cross_entropy(a, b))(p, y)
    assert torch.isnan(means[0])
    assert torch.isfinite(means[1])


def test_jax_float32_without_x64():
    jax = pytest.importorskip("jax", reason="JAX is a test dependency for array-library support")
    if jax.config.jax_enable_x64:
        pytest.skip("float64 is enabled in JAX, so this test cannot check the float32 fallback")
    jnp = jax.numpy
    loss = binary_cross_entropy_with_logits(jnp.asarray([0.5, -2.0], dtype=jnp.bfloat16), jnp.asarray([1, 0]), reduction="none")
    assert loss.dtype == jnp.bfloat16
    mean = binary_cross_entropy_with_logits(jnp.asarray([0.5, -2.0]), jnp.asarray([1, 0]))
    assert mean.dtype == jnp.float32
    np.testing.assert_allclose(float(mean), float(binary_cross_entropy_with_logits(np.array([0.5, -2.0]), np.array([1, 0]))), rtol=2e-7)


def test_dask_loss_lazy_and_equal():
    da = pytest.importorskip("dask.array", reason="Dask is a test dependency for array-library support")
    z = da.from_array(Z, chunks=4)
    y = da.from_array(Y, chunks=4)
    mean = binary_cross_entropy_with_logits(z, y, pos_weight=1.5)
    assert isinstance(mean, da.Array)
    assert float(mean.compute()) == pytest.approx(float(binary_cross_entropy_with_logits(Z, Y, pos_weight=1.5)), rel=1e-15, abs=0)
    gradient, _ = binary_cross_entropy_with_logits_grad_hess(z, y)
    assert isinstance(gradient, da.Array)
    np.testing.assert_allclose(gradient.compute(), binary_cross_entropy_with_logits_grad_hess(Z, Y)[0], rtol=4 * np.finfo(np.float64).eps)


def test_cupy_loss_on_device():
    cupy = pytest.importorskip("cupy", reason="CuPy needs a CUDA device")
    loss = binary_cross_entropy_with_logits(cupy.asarray(Z), cupy.asarray(Y), reduction="none")
    assert isinstance(loss, cupy.ndarray)
    np.testing.assert_allclose(loss.get(), binary_cross_entropy_with_logits(Z, Y, reduction="none"), rtol=4e-16)


def test_torch_float32_computed_in_float64(torch):
    z = np.array([-14.913008], dtype=np.float32)
    expected = binary_cross_entropy_with_logits(z, np.array([1.0], dtype=np.float32), pos_weight=3.0, reduction="none")
    actual = binary_cross_entropy_with_logits(torch.asarray(z), torch.asarray([1.0]), pos_weight=3.0, reduction="none")
    assert actual.dtype == torch.float32
    assert actual.item() == float(expected[0])
    assert actual.item() == float(np.float32(44.73902420973372941687851749962409105828))


@pytest.mark.parametrize("x64", [False, True])
def test_jax_jit_captured_labels_weights(x64):
    jax = pytest.importorskip("jax", reason="JAX is a test dependency for array-library support")
    jnp = jax.numpy
    with jax.enable_x64(x64):
        labels = jnp.asarray([1.0, 0.0])
        weights = jnp.asarray([1.0, 3.0])
        z = jnp.asarray([0.5, -2.0])
        calls = {
            "logits": lambda a: binary_cross_entropy_with_logits(a, labels, weights=weights),
            "probabilities": lambda a: binary_cross_entropy(jax.nn.sigmoid(a), labels, weights=weights),
            "logits_grad": lambda a: binary_cross_entropy_with_logits_grad_hess(a, labels, weights=weights)[0],
            "probabilities_grad": lambda a: binary_cross_entropy_grad_hess(jax.nn.sigmoid(a), labels, weights=weights)[0],
        }
        for name, call in calls.items():
            compiled = np.asarray(jax.jit(call)(z))
            eager = np.asarray(call(z))
            np.testing.assert_allclose(compiled, eager, rtol=8 * np.finfo(eager.dtype).eps, err_msg=name)


@pytest.mark.parametrize("weight", [1e308, 5e-324])
def test_torch_grad_mean_extreme_weights(torch, weight):
    gradient, hessian = binary_cross_entropy_with_logits_grad_hess(
        torch.zeros(2, dtype=torch.float64), torch.asarray([1.0, 0.0]), weights=torch.full((2,), weight, dtype=torch.float64), reduction="mean"
    )
    assert gradient.tolist() == [-0.25, 0.25]
    assert hessian.tolist() == [0.125, 0.125]


def test_dask_unknown_sizes_message():
    da = pytest.importorskip("dask.array", reason="Dask is a test dependency for array-library support")
    z = da.from_array(Z, chunks=4)
    unknown = z[z > -1000.0]
    labels = da.from_array(Y, chunks=4)
    with pytest.raises(ValueError, match=r"unknown size.*compute_chunk_sizes\(\)") as raised:
        binary_cross_entropy_with_logits(unknown, labels[labels >= 0.0])
    assert "same shape" not in str(raised.value)
    with pytest.raises(ValueError, match=r"`y_true` must have the same shape as `y_pred` \(nan, 2\)"):
        binary_cross_entropy_with_logits(da.stack([unknown, unknown], axis=1), da.stack([labels, labels, labels], axis=1))
    known = unknown.compute_chunk_sizes()
    assert float(binary_cross_entropy_with_logits(known, labels).compute()) == pytest.approx(float(binary_cross_entropy_with_logits(Z, Y)), rel=1e-15, abs=0)


def test_dask_no_floating_point_warnings():
    da = pytest.importorskip("dask.array", reason="Dask is a test dependency for array-library support")
    p = da.from_array(np.array([0.0, 1.0, 0.0, 1.0, 0.5]), chunks=2)
    y = da.from_array(np.array([1.0, 0.0, 0.5, 0.5, 1.0]), chunks=2)
    z = da.from_array(np.array([-np.inf, np.inf, -np.inf, np.inf, 0.0]), chunks=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = binary_cross_entropy(p, y, reduction="none").compute()
        gradient, hessian = da.compute(*binary_cross_entropy_grad_hess(p, y))
        logit_loss = binary_cross_entropy_with_logits(z, y, reduction="none", pos_weight=2.0).compute()
    assert np.isinf(loss[:4]).all()
    assert np.isinf(gradient[:4]).all()
    assert np.isinf(hessian[:4]).all()
    with pytest.warns(InfiniteLossWarning):
        expected = binary_cross_entropy_with_logits(z.compute(), y.compute(), reduction="none", pos_weight=2.0)
    np.testing.assert_array_equal(logit_loss, expected)


def test_dask_weight_overflow_quiet():
    da = pytest.importorskip("dask.array", reason="Dask is a test dependency for array-library support")
    z = da.from_array(np.zeros(2), chunks=1)
    y = da.from_array(np.array([1.0, 0.0]), chunks=1)
    weights = da.from_array(np.full(2, 1e308), chunks=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        total = binary_cross_entropy_with_logits(z, y, weights=weights, pos_weight=1e308, reduction="sum").compute()
        gradient, hessian = da.compute(*binary_cross_entropy_with_logits_grad_hess(z, y, weights=weights, pos_weight=1e308))
        mean_gradient, mean_hessian = da.compute(*binary_cross_entropy_with_logits_grad_hess(z, y, weights=weights, reduction="mean"))
    assert total == np.inf
    assert gradient.tolist() == [-np.inf, 5e307]
    assert hessian.tolist() == [np.inf, 2.5e307]
    assert mean_gradient.tolist() == [-0.25, 0.25]
    assert mean_hessian.tolist() == [0.125, 0.125]


def _logit_grid():
    exponents = np.arange(-1074, 1024, 7, dtype=np.float64)
    magnitudes = np.concatenate([np.ldexp(1.0, exponents.astype(int)), [1e308, np.finfo(np.float64).max]])
    steps = np.linspace(-60.0, 60.0, 1201)
    return np.concatenate([-magnitudes, magnitudes, steps, [0.0, -np.inf, np.inf]])


def _probability_grid():
    eps = np.finfo(np.float64).eps
    powers = np.ldexp(1.0, np.arange(-1074, 0, 3))
    near_one = 1.0 - np.ldexp(1.0, -np.arange(1, 54))
    return np.concatenate([[0.0, 5e-324, 1e-310, 1.0 - eps, 1.0 - eps / 2, 1.0], powers, near_one, np.linspace(0.0, 1.0, 1201)])


def _grid_labels(size, kind):
    rng = np.random.default_rng(7)
    if kind == "hard":
        return rng.integers(0, 2, size).astype(np.float64)
    return rng.uniform(0.0, 1.0, size)


def _max_ulp(actual, expected):
    """Return the largest difference in units of np.spacing(expected); equal values (inf, NaN) count 0."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    equal = (actual == expected) | (np.isnan(actual) & np.isnan(expected))
    with np.errstate(invalid="ignore", over="ignore"):
        difference = np.abs(actual - expected) / np.spacing(np.abs(expected))
    return float(np.max(np.where(equal, 0.0, difference), initial=0.0))


def _library_arrays(library):
    if library == "torch":
        torch = pytest.importorskip("torch", reason="PyTorch is not installed; see docs/array-libraries.md for a CPU build")
        return lambda a: torch.asarray(a)
    jax = pytest.importorskip("jax", reason="JAX is a test dependency for array-library support")
    return lambda a: jax.numpy.asarray(a)


def _as_numpy(result):
    if isinstance(result, tuple):
        return tuple(_as_numpy(part) for part in result)
    if hasattr(result, "detach"):
        result = result.detach()
    return np.asarray(result)


GRID_OPTIONS = [
    {},
    {"pos_weight": 2.5},
    {"label_smoothing": 0.1, "subtract_entropy": True},
    {"weights": True, "pos_weight": "columns"},
    {"nan_policy": "omit"},
    {"clip": 1e-7},
]


def _grid_call(entry, library, kind, options, reduction, dtype=np.float64):
    """Return (NumPy result, library result) of one entry point on the dense grid, shape (N / 2, 2)."""
    x = _logit_grid() if entry.startswith("logits") else _probability_grid()
    with np.errstate(over="ignore"):  # 1e308 is inf in float32
        x = x[: x.size // 2 * 2].reshape(-1, 2).astype(dtype)
    y = _grid_labels(x.size, kind).reshape(x.shape).astype(dtype)
    kwargs = dict(options)
    if kwargs.pop("weights", False):
        kwargs["weights"] = np.linspace(0.0, 3.0, x.shape[0])
        kwargs["weights_axis"] = 0
    if kwargs.get("pos_weight") == "columns":
        kwargs["pos_weight"] = np.array([0.5, 4.0])
    if kwargs.get("nan_policy") == "omit":
        y[::5, 0] = np.nan
    function = {
        "logits": binary_cross_entropy_with_logits,
        "probabilities": binary_cross_entropy,
        "logits_grad_hess": binary_cross_entropy_with_logits_grad_hess,
        "probabilities_grad_hess": binary_cross_entropy_grad_hess,
    }[entry]
    if entry.endswith("grad_hess"):
        kwargs.pop("subtract_entropy", None)
    convert = _library_arrays(library)
    converted = {k: convert(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InfiniteLossWarning)
        expected = function(x, y, reduction=reduction, **kwargs)
        actual = function(convert(x), convert(y), reduction=reduction, **converted)
    return _as_numpy(expected), _as_numpy(actual)


def _grid_cases():
    """Yield (entry, options, reduction) for every option and reduction that an entry point takes."""
    for entry in ("logits", "probabilities", "logits_grad_hess", "probabilities_grad_hess"):
        for options in GRID_OPTIONS:
            if "clip" in options and entry != "probabilities":
                continue
            for reduction in ("none", "sum", "mean"):
                if entry.endswith("grad_hess") and reduction == "none":
                    continue
                yield pytest.param(entry, options, reduction, id=f"{entry}-{'-'.join(options) or 'default'}-{reduction}")


@pytest.mark.parametrize("library", ["torch", "jax"])
@pytest.mark.parametrize("kind", ["hard", "soft"])
@pytest.mark.parametrize(("entry", "options", "reduction"), list(_grid_cases()))
def test_grid_equals_numpy(jax_x64, library, entry, kind, options, reduction):
    expected, actual = _grid_call(entry, library, kind, options, reduction)
    if not isinstance(expected, tuple):
        expected, actual = (expected,), (actual,)
    for expected_part, actual_part in zip(expected, actual, strict=True):
        assert actual_part.dtype == expected_part.dtype
        assert _max_ulp(actual_part, expected_part) <= 1.0


@pytest.mark.parametrize("library", ["torch", "jax"])
@pytest.mark.parametrize("entry", ["logits", "probabilities"])
def test_grid_float32_equals_numpy(jax_x64, library, entry):
    for reduction in ("none", "mean"):
        expected, actual = _grid_call(entry, library, "soft", {"pos_weight": 2.5}, reduction, dtype=np.float32)
        assert actual.dtype == expected.dtype
        assert _max_ulp(actual, expected) <= 1.0


# The grid reaches logits near 1e308, so some of its sums exceed the float64 range and warn.
@pytest.mark.filterwarnings("ignore::logloss.LossOverflowWarning")
def test_grid_axis_equals_numpy(jax_x64, torch):
    z = _logit_grid()[:1200].reshape(40, 30)
    y = _grid_labels(z.size, "soft").reshape(z.shape)
    for axis in (0, 1, (0, 1)):
        expected = binary_cross_entropy_with_logits(z, y, axis=axis, reduction="sum")
        from_torch = binary_cross_entropy_with_logits(torch.asarray(z), torch.asarray(y), axis=axis, reduction="sum")
        from_jax = binary_cross_entropy_with_logits(jax_x64.numpy.asarray(z), jax_x64.numpy.asarray(y), axis=axis, reduction="sum")
        np.testing.assert_array_equal(from_torch.numpy(), expected)
        np.testing.assert_array_equal(np.asarray(from_jax), expected)


def test_torch_requires_grad_exact_value(torch):
    # Soft labels strictly inside (0, 1): at a hard label the xlogy convention zeroes the
    # gradient in y of the term that vanishes.
    soft = np.linspace(0.1, 0.9, Z.size)
    z = torch.asarray(Z, requires_grad=True)
    y = torch.asarray(soft, requires_grad=True)
    weights = torch.asarray(np.linspace(0.5, 2.0, Z.size), requires_grad=True)
    loss = binary_cross_entropy_with_logits(z, y, weights=weights, pos_weight=1.5, reduction="sum")
    assert loss.item() == float(binary_cross_entropy_with_logits(Z, soft, weights=np.linspace(0.5, 2.0, Z.size), pos_weight=1.5, reduction="sum"))
    loss.backward()
    gradient, _ = binary_cross_entropy_with_logits_grad_hess(Z, soft, weights=np.linspace(0.5, 2.0, Z.size), pos_weight=1.5)
    np.testing.assert_allclose(z.grad.numpy(), gradient, rtol=RTOL, atol=1e-300)
    # d/dy of w (1.5 y softplus(-z) + (1 - y) softplus(z)) = w (1.5 softplus(-z) - softplus(z)).
    softplus = np.logaddexp(0.0, Z)
    softplus_negative = np.logaddexp(0.0, -Z)
    np.testing.assert_allclose(y.grad.numpy(), np.linspace(0.5, 2.0, Z.size) * (1.5 * softplus_negative - softplus), rtol=RTOL)
    np.testing.assert_allclose(weights.grad.numpy(), binary_cross_entropy_with_logits(Z, soft, pos_weight=1.5, reduction="none"), rtol=RTOL)


def test_torch_requires_grad_infinite_loss(torch):
    p = torch.asarray([0.0, 0.3], dtype=torch.float64, requires_grad=True)
    with pytest.warns(InfiniteLossWarning):
        loss = binary_cross_entropy(p, torch.asarray([1.0, 0.0]), reduction="sum")
    loss.backward()
    assert loss.item() == np.inf
    assert p.grad[0].item() == -np.inf
    assert p.grad[1].item() == pytest.approx(1 / 0.7, rel=RTOL, abs=0)


def test_torch_func_grad_matches_analytic(torch):
    y = torch.asarray(Y)
    gradient = torch.func.grad(lambda z: binary_cross_entropy_with_logits(z, y, reduction="sum"))(torch.asarray(Z))
    expected, _ = binary_cross_entropy_with_logits_grad_hess(Z, Y)
    np.testing.assert_allclose(gradient.numpy(), expected, rtol=RTOL, atol=1e-300)


def test_torch_warning_points_at_caller(torch):
    with pytest.warns(InfiniteLossWarning) as record:
        binary_cross_entropy(torch.asarray([0.0, 0.5]), torch.asarray([1, 1]))
    assert record[0].filename == __file__


def test_jax_jit_log1p_region(jax_x64):
    # XLA's log1p is up to 128 ulp off near -0.414; the traced formulas avoid it.
    p = np.linspace(0.25, 0.5, 20001)
    y = np.zeros_like(p)
    jnp = jax_x64.numpy
    compiled = jax_x64.jit(lambda a, b: binary_cross_entropy(a, b, reduction="none"))
    assert _max_ulp(compiled(jnp.asarray(p), jnp.asarray(y)), binary_cross_entropy(p, y, reduction="none")) <= 1.0
    z = np.linspace(-40.0, 40.0, 20001)
    compiled = jax_x64.jit(lambda a, b: binary_cross_entropy_with_logits(a, b, reduction="none"))
    assert _max_ulp(compiled(jnp.asarray(z), jnp.asarray(y)), binary_cross_entropy_with_logits(z, y, reduction="none")) <= 2.0


@pytest.mark.parametrize("library", ["torch", "jax"])
@pytest.mark.parametrize("name", ["float16", "int32", "bool"])
def test_other_dtypes_equal_numpy(jax_x64, library, name):
    p = np.array([0.0, 1.0, 1.0, 0.0, 1.0]).astype(name) if name != "float16" else np.linspace(0.0, 1.0, 101).astype(name)
    y = np.linspace(0.0, 1.0, p.size)
    convert = _library_arrays(library)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InfiniteLossWarning)
        expected = binary_cross_entropy(p, y, reduction="none")
        actual = _as_numpy(binary_cross_entropy(convert(p), convert(y), reduction="none"))
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(actual, expected)
    expected_gradient = binary_cross_entropy_with_logits_grad_hess(p, y)[0]
    actual_gradient = _as_numpy(binary_cross_entropy_with_logits_grad_hess(convert(p), convert(y))[0])
    np.testing.assert_array_equal(actual_gradient, expected_gradient)
