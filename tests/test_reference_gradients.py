"""Reference cases about gradients, infinite logits and the float32 tails, on every entry point."""

import math

import numpy as np
import pytest

from logloss import (
    binary_cross_entropy,
    binary_cross_entropy_grad_hess,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_grad_hess,
)


def test_logit_grad_saturated_float32():
    gradient, _ = binary_cross_entropy_with_logits_grad_hess(
        np.array([-50.0], dtype=np.float32), np.array([1], dtype=np.float32), reduction="mean"
    )
    assert gradient.tolist() == [-1.0]
    gradient, _ = binary_cross_entropy_with_logits_grad_hess(
        np.full(8, -50.0, dtype=np.float32), np.ones(8, dtype=np.float32), reduction="mean"
    )
    assert gradient[0] == -0.125


def test_probability_path_grad_through_sigmoid_torch():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; see docs/array-libraries.md for a CPU build")
    z = torch.tensor([-50.0], dtype=torch.float32, requires_grad=True)
    binary_cross_entropy(torch.sigmoid(z), torch.tensor([1.0]), reduction="mean").backward()
    assert z.grad.item() == pytest.approx(-1.0, rel=float(np.finfo(np.float32).eps), abs=0)
    z = torch.tensor([-50.0], dtype=torch.float32, requires_grad=True)
    binary_cross_entropy_with_logits(z, torch.tensor([1.0]), reduction="mean").backward()
    assert z.grad.item() == -1.0


def test_grad_at_exact_boundary_float32():
    p = np.array([1.0, 0.0], dtype=np.float32)
    y = np.array([1, 0], dtype=np.float32)
    assert float(binary_cross_entropy(p, y, reduction="sum")) == 0.0
    gradient, _ = binary_cross_entropy_grad_hess(p, y)
    assert gradient.tolist() == [-1.0, 1.0]


def test_grad_at_exact_boundary_torch_autograd():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; see docs/array-libraries.md for a CPU build")
    p = torch.tensor([1.0, 0.0], dtype=torch.float32, requires_grad=True)
    loss = binary_cross_entropy(p, torch.tensor([1.0, 0.0]), reduction="sum")
    loss.backward()
    assert loss.item() == 0.0
    assert p.grad.tolist() == [-1.0, 1.0]


def test_infinite_logits_loss_and_grad():
    z = np.array([np.inf, 1.0], dtype=np.float32)
    y = np.array([1, 0], dtype=np.float32)
    assert float(binary_cross_entropy_with_logits(z, y)) == pytest.approx(0.65663084375911142, rel=2e-7, abs=0)
    gradient, hessian = binary_cross_entropy_with_logits_grad_hess(z, y)
    assert gradient[0] == 0.0
    assert not np.isnan(hessian).any()


def test_float32_huge_literal_overflows_to_inf_loss():
    with np.errstate(over="ignore"):
        z = np.array([-2.3135e307]).astype(np.float32)
    with pytest.warns(match="infinite loss"):
        loss = binary_cross_entropy_with_logits(z, np.array([1.0], dtype=np.float32), reduction="none")
    assert math.isinf(loss[0])
    gradient, _ = binary_cross_entropy_with_logits_grad_hess(z, np.array([1.0], dtype=np.float32))
    assert gradient.tolist() == [-1.0]


def test_pos_weight_soft_labels_torch():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; see docs/array-libraries.md for a CPU build")
    loss = binary_cross_entropy_with_logits(
        torch.tensor([0.5, 0.5]),
        torch.tensor([0.5, 0.5]),
        weights=torch.tensor([0.5, 0.5]),
        pos_weight=torch.tensor([1.0, 2.0]),
        reduction="none",
    )
    np.testing.assert_allclose(loss.numpy(), [0.36203849209005334, 0.48055773813508001], rtol=2 * float(np.finfo(np.float32).eps))
