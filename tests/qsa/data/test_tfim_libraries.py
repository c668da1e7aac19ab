"""The TFIM against the field's libraries: PennyLane's and Qiskit's Hamiltonians, SciPy's expm_multiply,
Qiskit's PauliEvolutionGate for the Trotter circuit."""

from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
from qiskit.circuit.library import PauliEvolutionGate
from qiskit.quantum_info import Operator
from qiskit.synthesis import LieTrotter, SuzukiTrotter
from support import TOL_STATE

import qsa.data.tfim as tf
from qsa.circuits.to_qiskit import to_qiskit
from qsa.data import evolve, exact_unitary, initial_states, random_tfim, trajectories, transverse_ising
from qsa.data.trotter import trotter_circuit


@pytest.mark.parametrize("n, periodic", [(2, False), (4, False), (3, True), (5, True)])
def test_hamiltonian_equals_pennylanes_transverse_ising(n, periodic):
    ours = transverse_ising(n, h=0.7, J=1.3, topology="periodic" if periodic else "open")
    theirs = qml.spin.transverse_ising("chain", [n], coupling=1.3, h=0.7, boundary_condition=periodic)
    np.testing.assert_allclose(ours.matrix(), qml.matrix(theirs, wire_order=range(n)), rtol=0, atol=TOL_STATE)


@pytest.mark.parametrize("topology", ["open", "all", [(0, 3), (2, 1), (3, 1)]])
def test_hamiltonian_equals_pennylane_and_qiskit_operators_with_random_couplings(topology):
    model = random_tfim(4, topology=topology, seed=3)
    H = model.matrix()
    np.testing.assert_allclose(qml.matrix(model.to_pennylane(), wire_order=range(4)), H, rtol=0, atol=TOL_STATE)
    np.testing.assert_allclose(model.to_sparse_pauli_op().to_matrix(), H, rtol=0, atol=TOL_STATE)
    np.testing.assert_allclose(model.sparse_matrix().toarray(), H, rtol=0, atol=0)
    qiskit_sparse = model.to_sparse_pauli_op().to_matrix(sparse=True)  # Qiskit's own sparse builder
    np.testing.assert_allclose(qiskit_sparse.toarray(), model.sparse_matrix().toarray(), rtol=0, atol=TOL_STATE)


@pytest.mark.parametrize("n", [1, 3, 5])
def test_expm_multiply_trajectories_equal_dense_powers_of_expm(n):
    model = random_tfim(n, topology="open", seed=n)
    psi0 = initial_states(3, n, seed=0)
    dense = evolve(model, psi0, dt=0.35, T=6, method="dense")
    np.testing.assert_allclose(dense, trajectories(exact_unitary(model, 0.35), psi0, 6), rtol=0, atol=0)
    sparse = evolve(model, psi0, dt=0.35, T=6, method="expm_multiply")
    np.testing.assert_allclose(sparse, dense, rtol=0, atol=TOL_STATE)
    np.testing.assert_allclose(np.linalg.norm(sparse, axis=-1), 1.0, rtol=0, atol=TOL_STATE)


def test_auto_switches_to_expm_multiply_and_lifts_the_dense_cap():
    small = transverse_ising(tf.SPARSE_FROM_QUBITS - 1)
    psi = initial_states(1, small.n_qubits, seed=0)
    assert np.array_equal(evolve(small, psi, dt=0.3, T=2), evolve(small, psi, dt=0.3, T=2, method="dense"))
    big = transverse_ising(tf.MAX_DENSE_QUBITS + 1)  # beyond the dense matrices
    with pytest.raises(ValueError, match="use sparse_matrix"):
        big.matrix()
    with pytest.raises(ValueError, match="use sparse_matrix"):
        evolve(big, initial_states(1, big.n_qubits, seed=0), dt=0.3, T=1, method="dense")
    states = evolve(big, initial_states(1, big.n_qubits, kind="basis", seed=0), dt=0.05, T=1)
    # Short step from a basis state |b>: x_1 = |b> - i dt H|b> + O(dt^2).
    b = int(np.flatnonzero(states[0, 0])[0])
    column = big.sparse_matrix()[:, [b]].toarray()[:, 0]
    first_order = states[0, 0] - 0.05j * column
    assert np.abs(states[0, 1] - first_order).max() < 0.05**2 * np.abs(big.h).sum() ** 2


@pytest.mark.filterwarnings("ignore::scipy.sparse.SparseEfficiencyWarning")  # Qiskit's exact gate matrix
@pytest.mark.parametrize("order, n_steps", [(1, 1), (1, 3), (2, 2)])
def test_trotter_circuit_equals_qiskits_pauli_evolution_gate(order, n_steps):
    model = random_tfim(3, topology="periodic", seed=11)
    ours = Operator(to_qiskit(trotter_circuit(model, 0.35, n_steps=n_steps, order=order)).circuit)
    # X terms first: LieTrotter applies the listed terms in order (H_X acts first, as ours); order-2
    # Suzuki is then e^{-iH_X tau/2} e^{-iH_ZZ tau} e^{-iH_X tau/2} (terms inside a part commute).
    op = model.to_sparse_pauli_op()
    x_first = op[
        [i for i, p in enumerate(op.paulis) if "Z" not in p.to_label()]
        + [i for i, p in enumerate(op.paulis) if "Z" in p.to_label()]
    ]
    synthesis = LieTrotter(reps=n_steps) if order == 1 else SuzukiTrotter(order=2, reps=n_steps)
    # Operator() of the gate itself would be the exact exponential: synthesise its product formula.
    theirs = Operator(synthesis.synthesize(PauliEvolutionGate(x_first, time=0.35)))
    np.testing.assert_allclose(ours.data, theirs.data, rtol=0, atol=TOL_STATE)
    exact = Operator(PauliEvolutionGate(x_first, time=0.35)).data  # and the gate's own matrix is exp(-i H dt)
    np.testing.assert_allclose(exact, exact_unitary(model, 0.35), rtol=0, atol=TOL_STATE)
