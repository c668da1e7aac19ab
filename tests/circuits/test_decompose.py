"""The logical decomposition is exact, emits only CNOT + single-qubit gates, and its formulas count it."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pennylane as qml
import pytest
from qiskit.quantum_info import Operator
from support import TOL_STATE, random_states

from qsa.circuit_tier import superposition_states
from qsa.circuits import Circuit, Gate, Param, ParamSpec, Shape, Unitary, query_phases
from qsa.circuits.decompose import CONTROLLED_COST, SINGLE_QUBIT, _pruned_rotation, decompose, decomposed_counts
from qsa.circuits.lowering import gray_code_angles, uniformly_controlled
from qsa.circuits.to_pennylane import matrix
from qsa.circuits.to_qiskit import to_qiskit


def _case(label: str, T: int, d: int, k: int, n_layers: int, variant: str | None = None) -> tuple[Shape, str]:
    """The ``variant`` circuit (default: the measured one) of a gate-count label, ``L``-layer ansatz, phases."""
    circuit, kernel = ("B", "mono") if label == "B" else ("A", label[2:])
    shape = Shape(circuit, T, d, k, kernel, None, n_layers, n_layers, True)
    return shape, variant or shape.variants[0]


def _ids(case: tuple[Shape, str]) -> str:
    shape, variant = case
    return f"{shape.label}-T{shape.T}-d{shape.d}-k{shape.k}-L{shape.w_layers}-{variant}"


def _params(shape: Shape, rng: np.random.Generator) -> dict:
    T, d, L = shape.T, shape.d, shape.w_layers
    n = d.bit_length() - 1
    p = {
        "x": random_states(rng, T, d),
        "y": random_states(rng, T, d),
        "phi": rng.uniform(-np.pi, np.pi, T),
        "theta_W": rng.uniform(-np.pi, np.pi, (L, n, 3)),
        "theta_V": rng.uniform(-np.pi, np.pi, (L, n, 3)),
    }
    if shape.circuit == "B":
        p["psi"] = superposition_states(p["x"], k=shape.k)
    return p


def _operator(circuit: Circuit, params: dict) -> np.ndarray:
    return Operator(to_qiskit(circuit).bind(params)).data


SMALL = [
    _case("A-mono", 3, 2, 1, 1),
    _case("A-mono", 2, 4, 1, 1),
    _case("A-poly", 2, 2, 2, 1),
    _case("A-poly", 3, 2, 1, 1, "zeta"),
    _case("A-poly", 2, 2, 1, 2, "nu"),
    _case("B", 3, 2, 1, 1),
    _case("B", 4, 2, 2, 1),
]


@pytest.mark.parametrize("case", SMALL, ids=_ids)
@pytest.mark.parametrize("prune", [True, False])
def test_decomposition_is_the_same_unitary_as_the_qiskit_export(case, prune, rng):
    """Against Qiskit's own controlled gates (crx, ccx, mcphase, ...) on the lowered circuit."""
    shape, variant = case
    circuit = shape.build(variant).circuit
    params = _params(shape, rng)
    dec = decompose(circuit, prune=prune)
    expected = _operator(circuit, params)
    got = _operator(dec.circuit, {**params, **dec.derive(params)})
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL_STATE)


@pytest.mark.parametrize("case", SMALL[:3], ids=_ids)
def test_decomposition_only_has_cnots_and_uncontrolled_single_qubit_gates(case):
    shape, variant = case
    ops = decompose(shape.build(variant).circuit).circuit.ops
    assert all(not op.controls for op in ops)
    assert {op.name for op in ops} <= SINGLE_QUBIT | {"CNOT", "GlobalPhase"}
    assert all(len(op.wires) == 0 for op in ops if op.name == "GlobalPhase")


@pytest.mark.parametrize(
    "name, n_params", [("RX", 1), ("RY", 1), ("RZ", 1), ("PhaseShift", 1), ("X", 0), ("Y", 0), ("Z", 0)]
)
@pytest.mark.parametrize("value", [0, 1])
def test_each_singly_controlled_gate_matches_its_matrix_and_tabulated_cost(name, n_params, value, rng):
    params = {"a": rng.uniform(-np.pi, np.pi, 1)}
    gate = Gate(name, (1,), (Param("a", (0,)),) * n_params, controls=(0,), control_values=(value,))
    dec = decompose(Circuit(2, (gate,), params=(ParamSpec("a", (1,), "trainable"),)))
    np.testing.assert_allclose(matrix(dec.circuit, params), matrix(Circuit(2, (gate,)), params), rtol=0, atol=TOL_STATE)
    cnots, singles = CONTROLLED_COST[name]
    assert dec.count_ops()["CNOT"] == cnots
    assert sum(c for n, c in dec.count_ops().items() if n != "CNOT") == singles + 2 * (1 - value)


@pytest.mark.parametrize("value", [0, 1])
def test_controlled_cnot_is_a_toffoli_of_six_cnots(value):
    gate = Gate("CNOT", (1, 2), controls=(0,), control_values=(value,))
    dec = decompose(Circuit(3, (gate,)))
    np.testing.assert_allclose(matrix(dec.circuit, {}), matrix(Circuit(3, (gate,)), {}), rtol=0, atol=TOL_STATE)
    assert dec.count_ops()["CNOT"] == 6 == CONTROLLED_COST["CNOT"][0]
    assert sum(dec.count_ops().values()) - 6 == CONTROLLED_COST["CNOT"][1] + 2 * (1 - value)


@pytest.mark.parametrize("T", [2, 3, 4, 5, 8])
def test_query_phases_become_one_diagonal_of_2c_minus_1_rz_and_2c_minus_2_cnots(T, rng):
    circuit = query_phases(T)
    c = circuit.n_wires
    phi = rng.uniform(-np.pi, np.pi, T)
    dec = decompose(circuit)
    U = matrix(dec.circuit, {"phi": phi, **dec.derive({"phi": phi})})
    expected = np.ones(2**c, dtype=complex)
    expected[:T] = np.exp(1j * phi)
    np.testing.assert_allclose(U, np.diag(expected), rtol=0, atol=TOL_STATE)
    assert dec.count_ops() == +Counter({"RZ": 2**c - 1, "CNOT": 2**c - 2})


@pytest.mark.parametrize("m", [1, 2, 3])
def test_pruned_uniformly_controlled_rotation_equals_the_full_gray_code_circuit(m, rng):
    alpha = rng.uniform(-np.pi, np.pi, 2**m)
    thetas = gray_code_angles(alpha)
    thetas[rng.random(2**m) < 0.5] = 0.0  # vanishing rotations, as in the fixed index states
    full = Circuit(m + 1, tuple(uniformly_controlled("RY", m, tuple(range(m)), list(thetas))))
    pruned = Circuit(m + 1, tuple(_pruned_rotation("RY", m, tuple(range(m)), thetas)))
    np.testing.assert_allclose(matrix(pruned, {}), matrix(full, {}), rtol=0, atol=TOL_STATE)
    kept = [j ^ (j >> 1) for j in range(2**m) if thetas[j] != 0]
    expected_cnot = sum(bin(a ^ b).count("1") for a, b in zip([0] + kept, kept + [0])) if kept else 0
    assert pruned.count_ops()["CNOT"] == expected_cnot <= full.count_ops()["CNOT"]


COUNTED = [
    _case(f, T, d, k, L, v)
    for f, v in [("A-mono", "mu"), ("A-mono", "zeta"), ("A-poly", "mu"), ("A-poly", "nu"), ("B", "P0")]
    for T, d, k, L in [(2, 2, 1, 1), (5, 4, 2, 2), (16, 8, 2, 3)]
]


@pytest.mark.parametrize("case", COUNTED, ids=_ids)
@pytest.mark.parametrize("prune", [True, False])
def test_count_formulas_equal_the_built_decomposition(case, prune):
    shape, variant = case
    circuit = shape.build(variant).circuit
    assert decomposed_counts(circuit, prune=prune) == decompose(circuit, prune=prune).count_ops()


def test_pruning_never_adds_gates_and_keeps_data_rotations():
    for shape, variant in COUNTED:
        circuit = shape.build(variant).circuit
        pruned, generic = decomposed_counts(circuit), decomposed_counts(circuit, prune=False)
        assert pruned["CNOT"] <= generic["CNOT"] and pruned["RZ"] == generic["RZ"]


def test_matrices_and_multiply_controlled_gates_are_refused():
    with pytest.raises(ValueError, match="must have W and V as ansatz"):
        decompose(Circuit(2, (Unitary("W", (0, 1)),)))
    with pytest.raises(ValueError, match="at most one control"):
        decomposed_counts(Circuit(3, (Gate("RY", (2,), (0.1,), (0, 1), (1, 1)),)))
    with pytest.raises(ValueError, match="controlled gate must be one of"):
        decompose(Circuit(2, (Gate("H", (1,), (), (0,), (1,)),)))


def test_pennylane_specs_and_qiskit_count_ops_agree_with_the_ir_on_the_decomposition(rng):
    """Same decomposed circuit, three counters: gate counts and depth agree exactly."""
    shape, variant = _case("A-poly", 3, 2, 1, 1)
    dec = decompose(shape.build(variant).circuit)
    params = _params(shape, rng)
    params = {**params, **dec.derive(params)}
    circuit = replace(dec.circuit, ops=tuple(op for op in dec.circuit.ops if op.name != "GlobalPhase"))  # free
    ir = circuit.count_ops()
    qc = to_qiskit(circuit).circuit
    qiskit_names = {"cx": "CNOT", "rx": "RX", "ry": "RY", "rz": "RZ", "h": "H", "p": "PhaseShift", "x": "X"}
    assert Counter({qiskit_names[k]: v for k, v in qc.count_ops().items()}) == ir
    assert qc.depth() == circuit.depth()

    @qml.qnode(qml.device("default.qubit", wires=circuit.n_wires))
    def run():
        from qsa.circuits.to_pennylane import apply

        apply(circuit, params)
        return qml.probs()

    resources = qml.specs(run, level="device")().resources  # the LCU register is one named op before
    pl_names = {"Hadamard": "H", "PauliX": "X"}
    assert Counter({pl_names.get(k, k): v for k, v in resources.gate_types.items()}) == ir
    assert resources.depth == circuit.depth()
    assert resources.gate_sizes[2] == ir["CNOT"]
