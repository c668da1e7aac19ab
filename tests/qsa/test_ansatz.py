"""The torch ansatz matrix equals the IR ansatz through both exporters, and is differentiable."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit.quantum_info import Operator
from support import TOL_GRAD, TOL_STATE

from qsa.ansatz import ansatz_unitary
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
