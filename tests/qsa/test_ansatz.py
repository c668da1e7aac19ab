"""The torch ansatz matrix equals the IR ansatz through both exporters, and is differentiable."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit.quantum_info import Operator
from support import TOL_F32, TOL_GRAD, TOL_STATE

from qsa import ansatz as qsa_ansatz
from qsa.ansatz import ansatz_unitaries, ansatz_unitary, ansatz_unitary_autograd
from qsa.circuits import ansatz
from qsa.circuits.to_pennylane import matrix
from qsa.circuits.to_qiskit import to_qiskit


@pytest.mark.parametrize("n, L", [(1, 1), (2, 2), (3, 3)])
def test_torch_ansatz_equals_circuit_on_both_exporters(n, L, rng):
    theta = rng.uniform(-np.pi, np.pi, size=(L, n, 3))
    U = ansatz_unitary(torch.tensor(theta)).numpy()
    np.testing.assert_allclose(U, matrix(ansatz(n, L), {"theta": theta}), rtol=0, atol=TOL_STATE)
    template = to_qiskit(ansatz(n, L))
    np.testing.assert_allclose(
        Operator(template.circuit.assign_parameters(template.values({"theta": theta}))).data, U, rtol=0, atol=TOL_STATE
    )


def test_batched_angles_give_a_batch_of_matrices(rng):
    theta = torch.tensor(rng.uniform(size=(4, 2, 3, 3)))
    batch = ansatz_unitary(theta)
    assert batch.shape == (4, 8, 8)
    torch.testing.assert_close(batch[2], ansatz_unitary(theta[2]), rtol=0, atol=TOL_STATE)


def test_gradient_matches_finite_differences(rng):
    theta = torch.tensor(rng.uniform(size=(2, 2, 3)), requires_grad=True)
    target = torch.tensor(rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4)))
    assert torch.autograd.gradcheck(lambda t: (ansatz_unitary(t) * target).sum().real, (theta,), atol=TOL_GRAD)


def test_bad_angles_are_refused():
    with pytest.raises(ValueError, match="theta must have shape"):
        ansatz_unitary(torch.zeros(2, 3))
    with pytest.raises(TypeError, match="theta must be a real floating torch tensor"):
        ansatz_unitary(np.zeros((1, 1, 3)))


@pytest.mark.parametrize("n, L, batch", [(1, 1, ()), (2, 3, ()), (3, 8, (2,)), (4, 2, (2, 3))])
@pytest.mark.parametrize("dense", [True, False])
def test_fused_build_equals_plain_autograd_in_value_and_gradient(rng, monkeypatch, request, n, L, batch, dense):
    """The fused build (hand-written backward) against the same matrix in plain torch operations."""
    if not dense:  # the partial-trace contraction used above _DENSE_GENERATORS qubits
        monkeypatch.setattr(qsa_ansatz, "_DENSE_GENERATORS", 0)
        qsa_ansatz._constants.cache_clear()
        request.addfinalizer(qsa_ansatz._constants.cache_clear)
    theta = torch.tensor(rng.uniform(0, 2 * np.pi, size=(*batch, L, n, 3)), requires_grad=True)
    weights = torch.tensor(rng.normal(size=(*batch, 2**n, 2**n)) + 1j * rng.normal(size=(*batch, 2**n, 2**n)))
    fused, plain = ansatz_unitary(theta), ansatz_unitary_autograd(theta)
    torch.testing.assert_close(fused, plain, rtol=0, atol=TOL_STATE)
    (g_fused,) = torch.autograd.grad((fused * weights).sum().real, theta)
    (g_plain,) = torch.autograd.grad((plain * weights).sum().real, theta)
    torch.testing.assert_close(g_fused, g_plain, rtol=0, atol=TOL_GRAD)


def test_unitaries_in_one_batch_equal_separate_builds(rng):
    tW, tV = (torch.tensor(rng.uniform(size=(3, 2, 3)), requires_grad=True) for _ in range(2))
    W, V = ansatz_unitaries(tW, tV)
    torch.testing.assert_close(W, ansatz_unitary(tW), rtol=0, atol=TOL_STATE)
    torch.testing.assert_close(V, ansatz_unitary(tV), rtol=0, atol=TOL_STATE)
    (W.real.sum() + V.imag.sum()).backward()
    assert tW.grad is not None and tV.grad is not None
    W2, V2 = ansatz_unitaries(tW[:2], tV)  # other depths: two builds
    torch.testing.assert_close(W2, ansatz_unitary(tW[:2]), rtol=0, atol=TOL_STATE)


def test_double_backward_and_float32_and_torch_func(rng):
    theta = torch.tensor(rng.uniform(size=(2, 2, 3)), requires_grad=True)
    target = torch.tensor(rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4)))

    def f(t):
        return (ansatz_unitary(t) * target).sum().real

    assert torch.autograd.gradgradcheck(f, (theta,), atol=1e-7, rtol=1e-5)
    torch.testing.assert_close(torch.func.grad(f)(theta.detach()), torch.autograd.grad(f(theta), theta)[0])
    single = ansatz_unitary(theta.detach().float())
    assert single.dtype == torch.complex64
    torch.testing.assert_close(single.cdouble(), ansatz_unitary(theta.detach()), rtol=0, atol=TOL_F32)
