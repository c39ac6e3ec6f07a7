import numpy as np
import pytest

from logloss import BootstrapState, GroupedLogLossState, LogLossState, decompose

torch = pytest.importorskip("torch", reason="PyTorch is not installed; see docs/array-libraries.md for a CPU build")

P = np.array([0.2, 0.7, 0.4, 0.9])
Y = np.array([0.0, 1.0, 1.0, 0.0])


def grad_tensor(values):
    return torch.tensor(values, dtype=torch.float64, requires_grad=True)


def test_state_accepts_requires_grad():
    state, expected = LogLossState(), LogLossState()
    state.update(grad_tensor(P), torch.tensor(Y), weights=grad_tensor(np.ones(4)))
    expected.update(P, Y, weights=np.ones(4))
    assert state.result().log_loss == expected.result().log_loss


def test_state_logits_accept_requires_grad():
    state, expected = LogLossState(), LogLossState()
    state.update_logits(grad_tensor(P - 0.5), Y)
    expected.update_logits(P - 0.5, Y)
    assert state.result().log_loss == expected.result().log_loss


def test_grouped_accepts_requires_grad():
    state = GroupedLogLossState()
    state.update(grad_tensor(P), torch.tensor(Y), np.array([1, 1, 2, 2]))
    assert state.total().count == 4


def test_bootstrap_accepts_requires_grad():
    state = BootstrapState()
    state.update(grad_tensor(P), torch.tensor(Y))
    assert state.count == 4


def test_decompose_accepts_requires_grad():
    assert decompose(grad_tensor(P), torch.tensor(Y)).score == decompose(P, Y).score


@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2", "bfloat16"])
def test_state_accepts_tensor_without_numpy_dtype(name):
    # NumPy has no dtype for these tensors, and their cast to float32 is exact.
    dtype = getattr(torch, name)
    predictions = torch.tensor([0.25, 0.5, 0.75, 0.875]).to(dtype)
    state, expected = LogLossState(), LogLossState()
    state.update(predictions, torch.tensor(Y).to(dtype), weights=torch.ones(4).to(dtype))
    expected.update(predictions.float().numpy(), Y)
    assert state.result().log_loss == expected.result().log_loss
    assert decompose(predictions, torch.tensor(Y)).score == decompose(predictions.float().numpy(), Y).score
