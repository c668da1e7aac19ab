"""The TFIM Trotter builder: gate counts, and its unitary through both exporters equals the splitting."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit.quantum_info import Operator
from support import TOL_STATE

from qsa.circuits import tfim_trotter_step
from qsa.circuits.to_pennylane import matrix
from qsa.circuits.to_qiskit import to_qiskit
from qsa.data import random_tfim, transverse_ising, trotter_unitary


@pytest.mark.parametrize(
    "n, topology, n_steps, order",
    [(1, "open", 1, 1), (2, "open", 3, 1), (3, "open", 2, 2), (3, "periodic", 1, 2), (4, "all", 2, 1)],
)
def test_gate_counts(n, topology, n_steps, order):
    model = transverse_ising(n, topology=topology)
    counts = tfim_trotter_step(n, bonds=model.bonds, dt=0.3, n_steps=n_steps, order=order).count_ops()
    n_bonds = len(model.bonds)
    assert counts["RX"] == order * n * n_steps
    assert counts.get("RZ", 0) == n_bonds * n_steps
    assert counts.get("CNOT", 0) == 2 * n_bonds * n_steps
    assert set(counts) <= {"RX", "RZ", "CNOT"}


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("n_steps", [1, 3])
def test_unitary_equals_trotter_splitting_through_both_exporters(order, n_steps):
    model = random_tfim(3, topology="periodic", seed=7)
    circuit = tfim_trotter_step(
        3, bonds=model.bonds, h=tuple(model.h), J=tuple(model.J), dt=0.35, n_steps=n_steps, order=order
    )
    expected = trotter_unitary(model.parts(), 0.35, n_steps, order=order)
    np.testing.assert_allclose(matrix(circuit, {}), expected, rtol=0, atol=TOL_STATE)
    # Qiskit's Operator of the exported circuit is in our index order (the exporter reverses qubits).
    np.testing.assert_allclose(Operator(to_qiskit(circuit).circuit).data, expected, rtol=0, atol=TOL_STATE)


def test_builder_is_pure_and_places_wires():
    a = tfim_trotter_step(2, bonds=[(0, 1)], dt=0.2, h=[1.0, 0.5], J=0.7)
    assert a == tfim_trotter_step(2, bonds=[(0, 1)], dt=0.2, h=[1.0, 0.5], J=0.7)
    shifted = tfim_trotter_step(2, bonds=[(0, 1)], dt=0.2, h=[1.0, 0.5], J=0.7, wires=(3, 5))
    assert shifted.n_wires == 6 and {w for op in shifted.ops for w in op.all_wires} == {3, 5}


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(n_qubits=0, bonds=[], dt=0.1), ValueError, "n_qubits must be >= 1"),
        (dict(n_qubits=2, bonds=[(0, 0)], dt=0.1), ValueError, "two different qubits"),
        (dict(n_qubits=2, bonds=[(0, 2)], dt=0.1), ValueError, "two different qubits"),
        (dict(n_qubits=2, bonds=[(0, 1)], dt=0.0), ValueError, "dt must be a positive"),
        (dict(n_qubits=2, bonds=[(0, 1)], dt=0.1, order=3), ValueError, "order must be 1 or 2"),
        (dict(n_qubits=2, bonds=[(0, 1)], dt=0.1, h=[1.0]), ValueError, "h must have 2 entries"),
        (dict(n_qubits=2, bonds=[(0, 1)], dt=0.1, J=[1.0, 2.0]), ValueError, "J must have 1 entries"),
        (dict(n_qubits=2, bonds=[(0, 1)], dt=0.1, h="x"), TypeError, "h must be a real number"),
        (dict(n_qubits=2, bonds=[(0, 1)], dt=0.1, n_steps=0), ValueError, "n_steps must be >= 1"),
    ],
)
def test_bad_input_raises(kwargs, error, match):
    with pytest.raises(error, match=match):
        tfim_trotter_step(**kwargs)
