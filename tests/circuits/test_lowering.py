"""Lowering of loads to CNOT + RY/RZ (Mottonen): exact action, identity on idle blocks, adjoints."""

from __future__ import annotations

import numpy as np
import pytest
from support import TOL_STATE, random_states

from qsa.circuits import Circuit, Gate, Select, StatePrep, derive, lower, uniform_amplitudes
from qsa.circuits.lowering import gray_code_angles, uniformly_controlled
from qsa.circuits.to_pennylane import matrix


def _ry(t):
    return np.array([[np.cos(t / 2), -np.sin(t / 2)], [np.sin(t / 2), np.cos(t / 2)]])


def _rz(t):
    return np.diag([np.exp(-0.5j * t), np.exp(0.5j * t)])


@pytest.mark.parametrize("m", [0, 1, 2, 3])
@pytest.mark.parametrize("axis, rot", [("RY", _ry), ("RZ", _rz)])
def test_uniformly_controlled_rotation_is_block_diagonal_with_the_requested_angles(m, axis, rot, rng):
    alpha = rng.uniform(-np.pi, np.pi, size=2**m)
    ops = uniformly_controlled(axis, m, tuple(range(m)), list(gray_code_angles(alpha)))
    assert sum(op.name == "CNOT" for op in ops) == (2**m if m else 0)
    assert sum(op.name == axis for op in ops) == 2**m
    got = matrix(Circuit(m + 1, tuple(ops)), {})
    expected = np.zeros((2 ** (m + 1),) * 2, dtype=complex)
    for v in range(2**m):
        expected[2 * v : 2 * v + 2, 2 * v : 2 * v + 2] = rot(alpha[v])
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL_STATE)


@pytest.mark.parametrize("c, n, T", [(0, 1, 1), (1, 1, 2), (2, 2, 3), (2, 3, 4), (3, 2, 5)])
def test_lowered_select_loads_each_row_and_is_identity_on_idle_values(c, n, T, rng):
    X = random_states(rng, T, 2**n)
    op = Select("x", tuple(range(c)), tuple(range(c, c + n)), tuple(range(T)))
    lowered = lower(Circuit(c + n, (op,)))
    assert all(isinstance(o, Gate) for o in lowered.ops)
    U = matrix(lowered, {**derive(lowered, {"x": X})})
    d = 2**n
    for i in range(T):
        np.testing.assert_allclose(U[:, i * d], np.kron(np.eye(2**c)[i], X[i]), rtol=0, atol=TOL_STATE)
    for i in range(T, 2**c):  # idle index values: exactly the identity block
        np.testing.assert_allclose(U[i * d : (i + 1) * d, i * d : (i + 1) * d], np.eye(d), rtol=0, atol=TOL_STATE)
    np.testing.assert_allclose(U.conj().T @ U, np.eye(U.shape[0]), rtol=0, atol=TOL_STATE)


def test_lowered_select_adjoint_unloads_and_controls_act_as_an_extra_index_bit(rng):
    X = random_states(rng, 2, 4)
    op = Select("x", (1,), (2, 3), (0, 1), controls=(0,), control_values=(0,))
    lowered = lower(Circuit(4, (op,)))
    params = derive(lowered, {"x": X})
    U = matrix(lowered, params)
    for i in range(2):
        col = U[:, i * 4]  # control wire 0 = 0 (active), index = i
        np.testing.assert_allclose(col, np.kron(np.eye(4)[i], X[i]), rtol=0, atol=TOL_STATE)
    np.testing.assert_allclose(U[8:, 8:], np.eye(8), rtol=0, atol=TOL_STATE)  # control wire 0 = 1: identity
    Ud = matrix(lower(Circuit(4, (op.adjoint(),))), params)
    np.testing.assert_allclose(Ud, U.conj().T, rtol=0, atol=TOL_STATE)


def test_identical_loads_share_derived_arrays():
    a = Select("x", (0,), (2,), (0, 1))
    b = Select("x", (1,), (3,), (0, 1), dagger=True)  # same table and width, other wires
    lowered = lower(Circuit(4, (a, b)))
    assert len(lowered.derivations) == 1
    other = lower(Circuit(4, (a, Select("x", (1,), (3,), (0,)))))  # different table
    assert len(other.derivations) == 2


def test_lowered_stateprep_prepares_the_amplitudes():
    amps = uniform_amplitudes(5)
    U = matrix(lower(Circuit(3, (StatePrep(tuple(amps), (0, 1, 2)),))), {})
    np.testing.assert_allclose(U[:, 0], amps, rtol=0, atol=TOL_STATE)


def test_derive_refuses_data_of_the_wrong_shape():
    lowered = lower(Circuit(3, (Select("x", (0,), (1, 2), (0, 1)),)))
    with pytest.raises(ValueError, match="x must have shape \\(rows, 4\\)"):
        derive(lowered, {"x": np.ones((2, 2))})
    with pytest.raises(ValueError, match="at least 2 rows"):
        derive(lowered, {"x": np.ones((1, 4))})
