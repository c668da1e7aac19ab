"""Builders: register layouts, qubit counts, gate-count formulas, index states, LCU register, phases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support import TOL_STATE, random_states, random_unitary

from qsa import analytic
from qsa.circuits import (
    ansatz,
    circuit_a,
    circuit_b,
    lcu_register,
    n_index_qubits,
    query_phases,
    token_load,
    triangular_amplitudes,
    uniform_amplitudes,
)
from qsa.circuits.to_pennylane import matrix


@pytest.mark.parametrize("T, c", [(1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (8, 3), (9, 4), (16, 4)])
def test_index_register_width(T, c):
    assert n_index_qubits(T) == c


@pytest.mark.parametrize("T, d, k", [(1, 2, 1), (3, 2, 2), (8, 4, 2), (16, 8, 2), (5, 8, 3)])
def test_qubit_counts_follow_the_register_layout(T, d, k):
    c, n = n_index_qubits(T), int(math.log2(d))
    assert circuit_a(T, d, k).n_qubits == 2 * c + (k + 1) * n
    assert circuit_a(T, d, k, kernel="poly").n_qubits == 2 * c + (k + 1) * n + k
    assert circuit_b(T, d, k).n_qubits == c + (k + 1) * n
    zeta = circuit_a(T, d, k, variant="zeta")
    assert zeta.index_wires == zeta.circuit.register("C1")
    assert set(zeta.zero_wires).isdisjoint(zeta.circuit.register("A"))
    nu = circuit_a(T, d, k, variant="nu")
    assert set(nu.circuit.register("A")) <= set(nu.zero_wires)


@pytest.mark.parametrize("n, L", [(1, 1), (2, 3), (3, 2), (4, 1)])
def test_ansatz_gate_counts(n, L):
    counts = ansatz(n, L).count_ops()
    ring = 0 if n == 1 else 1 if n == 2 else n
    assert counts["RX"] == counts["RY"] == counts["RZ"] == L * n
    assert counts.get("CNOT", 0) == L * ring
    assert ansatz(n, L).n_params == 3 * L * n
    controlled = ansatz(n, L, controls=(n,)).count_ops()
    assert controlled["C(RY)"] == L * n and controlled.get("C(CNOT)", 0) == L * ring


def test_builders_are_pure():
    assert circuit_a(5, 4, 2, kernel="poly", variant="nu") == circuit_a(5, 4, 2, kernel="poly", variant="nu")
    assert circuit_b(3, 2, 1, phases=True) == circuit_b(3, 2, 1, phases=True)
    assert circuit_a(5, 4, 2) != circuit_a(5, 4, 3)


@pytest.mark.parametrize("T", [1, 2, 3, 5, 8])
def test_index_states(T):
    tau = triangular_amplitudes(T).reshape(2 ** n_index_qubits(T), -1)
    N = T * (T + 1) / 2
    assert np.isclose(np.sum(tau**2), 1)
    for j in range(tau.shape[0]):
        for i in range(tau.shape[1]):
            assert np.isclose(tau[j, i], (i <= j < T) / math.sqrt(N))
    u = uniform_amplitudes(T)
    np.testing.assert_allclose(u[:T], 1 / math.sqrt(T))
    assert not u[T:].any()  # no idle branches (docs/method.md section 8)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_lcu_register_amplitudes_are_the_unary_poly_coefficients(k):
    beta = 1.7
    c = analytic.lcu_coefficients(k, beta)
    state = matrix(lcu_register(k, beta), {})[:, 0]
    expected = np.zeros(2**k)
    for p in range(k + 1):
        expected[int("1" * p + "0" * (k - p), 2)] = math.sqrt(c[p] / c.sum())
    np.testing.assert_allclose(state, expected, rtol=0, atol=TOL_STATE)


@pytest.mark.parametrize("T", [1, 3, 4])
def test_query_phases_put_e_i_phi_j_on_index_j(T, rng):
    phi = rng.uniform(-np.pi, np.pi, size=T)
    diag = np.ones(2 ** n_index_qubits(T), dtype=complex)
    diag[:T] = np.exp(1j * phi)
    np.testing.assert_allclose(matrix(query_phases(T), {"phi": phi}), np.diag(diag), rtol=0, atol=TOL_STATE)


def test_token_load_acts_only_on_its_index_value(rng):
    X = random_states(rng, 3, 4)
    U = matrix(token_load("x", 4, row=2, wires=(2, 3), controls=(0, 1), control_value=1), {"x": X})
    np.testing.assert_allclose(U[4:8, 4], X[2], atol=TOL_STATE)  # index |01>: loads x_2
    np.testing.assert_allclose(U[:4, :4], np.eye(4), atol=TOL_STATE)  # index |00>: untouched


def test_circuit_with_ansatz_equals_circuit_with_its_matrix(rng):
    torch = pytest.importorskip("torch")
    from qsa.ansatz import ansatz_unitary
    from qsa.backends import pennylane

    T, d, k, L = 3, 4, 2, 2
    thW, thV = rng.uniform(-np.pi, np.pi, size=(2, L, 2, 3))
    X, Y = random_states(rng, T, d), random_states(rng, T, d)
    W, V = (ansatz_unitary(torch.tensor(t)).numpy() for t in (thW, thV))
    with_ansatz = circuit_a(T, d, k, w_layers=L, v_layers=L)
    with_matrix = circuit_a(T, d, k)
    got = pennylane.run(with_ansatz, [{"x": X, "y": Y, "theta_W": thW, "theta_V": thV}])
    expected = pennylane.run(with_matrix, [{"x": X, "y": Y, "W": W, "V": V}])
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL_STATE)
    assert not np.allclose(
        expected, pennylane.run(with_matrix, [{"x": X, "y": Y, "W": random_unitary(rng, d), "V": V}])
    )


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: circuit_a(0, 2), ValueError, "T must be >= 1"),
        (lambda: circuit_a(2, 6), ValueError, "d must be a power of two"),
        (lambda: circuit_a(2, 2, 0), ValueError, "k must be >= 1"),
        (lambda: circuit_a(2, 2, 1.5), TypeError, "k must be an integer"),
        (lambda: circuit_a(2, 2, kernel="exp"), ValueError, "kernel must be"),
        (lambda: circuit_a(2, 2, variant="mu2"), ValueError, "variant must be one of"),
        (lambda: circuit_a(2, 2, w_layers=0), ValueError, "w_layers must be >= 1"),
        (lambda: lcu_register(2, -1.0), ValueError, "beta must be positive"),
        (lambda: ansatz(2, 1, wires=(0,)), ValueError, "wires must have 2 wires"),
    ],
)
def test_builder_arguments_are_checked(make, error, message):
    with pytest.raises(error, match=message):
        make()
