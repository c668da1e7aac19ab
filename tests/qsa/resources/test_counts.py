"""Exact gate-count formulas (the way Qiskit pins ``expected_cx = 3 * reps``), derived by hand.

Notation: ``c = ceil(log2 T)``, ``n = log2 d``, ``ring(n)`` the CNOTs of one ansatz layer.
A lowered multiplexed load with ``K >= 1`` index (+ control) qubits on ``n`` data qubits has
``2^K (2^n - 1)`` RY, ``2^(K+n) - 1`` RZ and ``2^K (2^n - 1) + 2^(K+n) - 2`` CNOTs.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from qiskit.quantum_info import Statevector

from qsa.circuits import (
    ansatz,
    indexed_load,
    n_index_qubits,
    triangular_amplitudes,
    triangular_state,
    uniform_state,
)
from qsa.circuits.decompose import decompose, decomposed_counts, two_qubit_depth
from qsa.circuits.to_qiskit import to_qiskit
from qsa.resources import logical_counts, shape


def ring(n: int) -> int:
    return n if n >= 3 else (1 if n == 2 else 0)


def sel_cx(K: int, n: int) -> int:
    return 2**K * (2**n - 1) + 2 ** (K + n) - 2


def sel_1q(K: int, n: int) -> int:
    return 2**K * (2**n - 1) + 2 ** (K + n) - 1


@pytest.mark.parametrize("n, L", [(1, 1), (2, 3), (3, 8), (4, 2)])
def test_ansatz_counts(n, L):
    expected_cx = L * ring(n)
    assert decomposed_counts(ansatz(n, L)) == +Counter({"CNOT": expected_cx, "RX": L * n, "RY": L * n, "RZ": L * n})


@pytest.mark.parametrize("n, L", [(1, 2), (2, 1), (3, 2)])
def test_controlled_ansatz_counts(n, L):
    """Each controlled rotation: 2 CNOTs; each controlled CNOT (Toffoli): 6."""
    counts = decomposed_counts(ansatz(n, L, wires=tuple(range(1, n + 1)), controls=(0,)))
    assert counts["CNOT"] == L * (6 * n + 6 * ring(n))
    assert sum(counts.values()) - counts["CNOT"] == L * (8 * n + 9 * ring(n))


@pytest.mark.parametrize("T", [2, 3, 4, 7, 8, 16, 33])
def test_index_state_preparations_generic(T):
    c = n_index_qubits(T)
    assert decomposed_counts(triangular_state(T), prune=False) == Counter(
        {"RY": 2 ** (2 * c) - 1, "CNOT": 2 ** (2 * c) - 2}
    )
    assert decomposed_counts(uniform_state(T), prune=False) == +Counter({"RY": 2**c - 1, "CNOT": 2**c - 2})


@pytest.mark.parametrize("c", [1, 2, 3, 6])
def test_uniform_state_over_a_power_of_two_pruned_is_c_rotations_and_no_cnot(c):
    assert decomposed_counts(uniform_state(2**c)) == Counter({"RY": c})


@pytest.mark.parametrize("T", [4, 5, 8, 16, 32])
def test_pruned_triangular_state_is_exact_and_no_dearer(T):
    """Exact: the same state from |0> (test_decompose.py compares whole unitaries of small circuits)."""
    pruned = decompose(triangular_state(T)).circuit
    generic = decompose(triangular_state(T), prune=False).circuit
    assert pruned.count_ops()["CNOT"] <= generic.count_ops()["CNOT"]
    if T >= 8 and T & (T - 1) == 0:
        assert pruned.count_ops()["CNOT"] < generic.count_ops()["CNOT"]
    state = Statevector(to_qiskit(pruned).circuit).data
    np.testing.assert_allclose(state, triangular_amplitudes(T), rtol=0, atol=1e-12)


@pytest.mark.parametrize("T, d", [(2, 2), (3, 4), (8, 8)])
def test_indexed_load_counts(T, d):
    c, n = n_index_qubits(T), d.bit_length() - 1
    load = indexed_load("x", T, d, index_wires=tuple(range(c)), wires=tuple(range(c, c + n)))
    assert decomposed_counts(load) == Counter({"RY": 2**c * (2**n - 1), "RZ": 2 ** (c + n) - 1, "CNOT": sel_cx(c, n)})


GRID = [(2, 2, 1, 1), (3, 2, 2, 2), (5, 4, 1, 8), (8, 4, 3, 2), (16, 8, 2, 8), (64, 16, 1, 8)]


@pytest.mark.parametrize("T, d, k, L", GRID)
def test_circuit_a_mono_mu(T, d, k, L):
    c, n = n_index_qubits(T), d.bit_length() - 1
    expected_cx = 2 * (2 ** (2 * c) - 2) + 2 * (k + 1) * sel_cx(c, n) + (k + 1) * L * ring(n) + (2**c - 2)
    expected_1q = 2 * (2 ** (2 * c) - 1) + 2 * (k + 1) * sel_1q(c, n) + (k + 1) * 3 * L * n + (2**c - 1)
    got = logical_counts(shape("A-mono", T, d, k, n_layers=L), prune=False)
    assert (got.cnot, got.single_qubit) == (expected_cx, expected_1q)
    assert got.n_qubits == 2 * c + (k + 1) * n


@pytest.mark.parametrize("T, d, k, L", GRID)
def test_circuit_a_mono_zeta_and_nu(T, d, k, L):
    c, n = n_index_qubits(T), d.bit_length() - 1
    index_states = (2 ** (2 * c) - 2) + (2**c - 2)  # triangular prepared, uniform un-prepared on C2
    zeta = logical_counts(shape("A-mono", T, d, k, n_layers=L), variant="zeta", prune=False)
    nu = logical_counts(shape("A-mono", T, d, k, n_layers=L), variant="nu", prune=False)
    assert zeta.cnot == index_states + (2 * k + 1) * sel_cx(c, n) + (k + 1) * L * ring(n)
    assert nu.cnot == index_states + 2 * (k + 1) * sel_cx(c, n) + (k + 1) * L * ring(n)


@pytest.mark.parametrize("T, d, k, L", GRID)
def test_circuit_a_poly_mu(T, d, k, L):
    """Copies B_c are controlled on P[c]: their loads gain an index bit, their W is a controlled ansatz."""
    c, n = n_index_qubits(T), d.bit_length() - 1
    expected_cx = (
        2 * (2 ** (2 * c) - 2)  # triangular state and its inverse
        + 2 * sel_cx(c, n)
        + 2 * k * sel_cx(c + 1, n)  # loads/un-loads of A and of the k controlled copies
        + L * ring(n)
        + k * L * (6 * n + 6 * ring(n))  # V, and k controlled W
        + 2 * 2 * (k - 1)  # LCU cascade (k - 1 controlled RY) and its inverse
        + (2**c - 2)  # query phases
    )
    got = logical_counts(shape("A-poly", T, d, k, n_layers=L), prune=False)
    assert got.cnot == expected_cx
    assert got.n_qubits == 2 * c + (k + 1) * n + k


@pytest.mark.parametrize("T, d, k, L", GRID + [(4, 2, 2, 1), (32, 4, 1, 8)])
@pytest.mark.parametrize("prune", [False, True])
def test_circuit_b(T, d, k, L, prune):
    """Pruned, the uniform state over ``T = 2^c`` is ``c`` RY and no CNOT (other ``T``: not pinned)."""
    c, n = n_index_qubits(T), d.bit_length() - 1
    uniform = 0 if prune else 2 * (2**c - 2)
    expected_cx = uniform + sel_cx(c, (k + 1) * n) + (k + 1) * sel_cx(c, n) + (k + 1) * L * ring(n) + (2**c - 2)
    got = logical_counts(shape("B", T, d, k, n_layers=L), prune=prune)
    if prune and T != 2**c:  # some of the uniform state's 2 (2^c - 2) CNOTs go: no closed form pinned
        assert expected_cx < got.cnot <= expected_cx + 2 * (2**c - 2)
    else:
        assert got.cnot == expected_cx
    assert got.n_qubits == c + (k + 1) * n


@pytest.mark.parametrize("label", ["A-mono", "A-poly", "B"])
@pytest.mark.parametrize("T, d, k", [(2, 2, 1), (6, 4, 3), (16, 2, 2)])
def test_qubit_formula_matches_the_built_circuit(label, T, d, k):
    s = shape(label, T, d, k)
    assert {s.n_wires} == {qc.n_qubits for qc in s.build_all().values()}


def test_logical_counts_fields_are_consistent():
    s = shape("A-poly", 5, 4, 2, n_layers=2)
    got = logical_counts(s, depth=True)
    built = decompose(s.build().circuit).circuit
    assert got.cnot == got.by_name["CNOT"] and got.total == sum(got.by_name.values())
    assert (got.depth, got.two_qubit_depth) == (built.depth(), two_qubit_depth(built))
    assert got.two_qubit_depth <= got.cnot and logical_counts(s).depth is None
    assert (got.shape, got.variant) == (s, "mu")


def test_phases_cost_one_diagonal():
    with_phases = logical_counts(shape("B", 8, 2, 1))
    without = logical_counts(shape("B", 8, 2, 1, phases=False))
    assert with_phases.cnot - without.cnot == 2**3 - 2


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"label": "C", "T": 4, "d": 2}, ValueError, "circuit must be one of"),
        ({"label": "B", "T": 4, "d": 3}, ValueError, "d must be a power of two"),
        ({"label": "B", "T": 0, "d": 2}, ValueError, "T must be >= 1"),
        ({"label": "A-mono", "T": 4, "d": 2, "k": 1.5}, TypeError, "k must be an integer"),
        ({"label": "A-mono", "T": 4, "d": 2, "phases": 1}, TypeError, "phases must be a bool"),
    ],
)
def test_bad_shapes(kwargs, error, match):
    with pytest.raises(error, match=match):
        shape(**kwargs)


def test_variants_are_checked_against_the_circuit():
    with pytest.raises(ValueError, match="variant must be one of"):
        logical_counts(shape("B", 4, 2), variant="mu")


def test_logical_counts_wants_a_shape():
    with pytest.raises(TypeError, match="shape must be a Shape"):
        logical_counts(("B", 4, 2))
