"""PennyLane-native export: named load operations that draw and count by kind, and broadcasting."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pennylane as qml
import pytest
from support import TOL_STATE, random_states

from qsa.circuits import circuit_a, circuit_b, lcu_angles, triangular_amplitudes
from qsa.circuits import to_pennylane as tp
from qsa.circuits.to_pennylane import IndexedLoad, IndexState, LCURegister, TokenLoad, draw, wire_labels


def _params(rng, T, d, *, batch=None):
    n = d.bit_length() - 1
    lead = () if batch is None else (batch,)
    return {
        "x": random_states(rng, *lead, T, d),
        "y": random_states(rng, *lead, T, d),
        "theta_W": rng.normal(size=(1, n, 3)),
        "theta_V": rng.normal(size=(1, n, 3)),
        "phi": rng.uniform(-np.pi, np.pi, size=(*lead, T)),
    }


def test_draw_of_circuit_a_at_T3_d2_reads_as_the_circuit(rng):
    text = draw(circuit_a(3, 2, w_layers=1, v_layers=1, phases=True), _params(rng, 3, 2))
    for name in ("Triangular", "Load(x)", "Load(y)†", "Load(x)†", "Triangular†", "RX", "Rϕ"):
        assert name in text, name
    assert "U(M" not in text  # no anonymous matrix boxes
    lines = [line.split(":")[0].strip() for line in text.splitlines()[:6]]
    assert lines == ["C1[0]", "C1[1]", "C2[0]", "C2[1]", "A[0]", "B1[0]"]
    poly = draw(circuit_a(3, 2, 2, kernel="poly", variant="zeta", w_layers=1, v_layers=1), _params(rng, 3, 2))
    for name in ("LCU", "LCU†", "Uniform†", "P[1]"):
        assert name in poly, name


@pytest.mark.parametrize("kernel, k", [("mono", 1), ("poly", 2)])
def test_specs_count_loads_index_states_and_the_lcu_register_by_kind(rng, kernel, k):
    qc = circuit_a(3, 2, k, kernel=kernel, w_layers=1, v_layers=1, phases=True)
    params = _params(rng, 3, 2)

    @qml.qnode(qml.device("default.qubit", wires=qc.n_qubits))
    def run():
        tp.apply(qc.circuit, params)
        return qml.probs(wires=list(qc.measured_wires))

    gates = qml.specs(run)().resources.gate_types
    ir = qc.circuit.count_ops()
    assert gates["IndexedLoad"] == ir["Select"] == 2 + (2 * k if kernel == "mono" else 0)
    assert gates.get("C(IndexedLoad)", 0) == ir.get("C(Select)", 0) == (2 * k if kernel == "poly" else 0)
    assert gates["IndexState"] == ir["StatePrep"] == 2
    assert gates.get("LCURegister", 0) == (2 if kernel == "poly" else 0)
    assert "QubitUnitary" not in gates


def _decomposed_matrix(op, wires):
    return qml.matrix(qml.tape.QuantumScript(op.decomposition()), wire_order=wires)


@pytest.mark.parametrize("dagger", [False, True])
def test_each_named_operation_is_its_decomposition(rng, dagger):
    X = random_states(rng, 3, 4)
    ops = [
        TokenLoad(X[0], [1, 2], dagger=dagger),
        IndexedLoad(X, [0, 1, 2, 3], n_index=2, dagger=dagger),
        IndexedLoad(X, [0, 1, 2, 3], n_index=2, dagger=dagger, mode="controlled"),
        IndexState([0, 1, 2, 3], amplitudes=triangular_amplitudes(3), kind="triangular", dagger=dagger),
        LCURegister([1, 2, 3], angles=lcu_angles(3, 2.0), dagger=dagger),
    ]
    wires = [0, 1, 2, 3]
    for op in ops:
        want = _decomposed_matrix(op, wires)
        np.testing.assert_allclose(qml.matrix(op, wire_order=wires), want, rtol=0, atol=TOL_STATE, err_msg=op.name)
        np.testing.assert_allclose(
            qml.matrix(op.adjoint(), wire_order=wires), want.conj().T, rtol=0, atol=TOL_STATE, err_msg=op.name
        )
    if (
        not dagger
    ):  # a load's first column is its token; the LCU register prepares sum_p sqrt(c_p / lambda) |1^p 0^{k-p}>
        np.testing.assert_allclose(qml.matrix(ops[0], wire_order=[1, 2])[:, 0], X[0], rtol=0, atol=TOL_STATE)
        prepared = qml.matrix(ops[4], wire_order=[1, 2, 3])[:, 0]
        c = np.array([2.0**p / np.prod(range(1, p + 1)) for p in range(4)])
        want = np.zeros(8)
        want[[0b000, 0b100, 0b110, 0b111]] = np.sqrt(c / c.sum())
        np.testing.assert_allclose(prepared, want, rtol=0, atol=TOL_STATE)


def test_bad_named_operations_are_refused(rng):
    X = random_states(rng, 3, 4)
    with pytest.raises(ValueError, match="x must have 2\\^1 = 2 entries; got 4"):
        TokenLoad(X[0], [0])
    with pytest.raises(ValueError, match=r"rows must have shape \(R, 4\) with 1 <= R <= 2\^1"):
        IndexedLoad(X, [0, 1, 2], n_index=1)
    with pytest.raises(ValueError, match="mode must be one of"):
        IndexedLoad(X, [0, 1, 2, 3], n_index=2, mode="fast")
    with pytest.raises(ValueError, match="angles must have one entry per wire"):
        LCURegister([0, 1], angles=[0.1])
    with pytest.raises(TypeError, match="circuit must be a Circuit or a QSACircuit"):
        draw("circuit A", {})


@pytest.mark.parametrize("family", ["A", "B"])
def test_a_batch_runs_in_one_qnode_call_and_equals_the_loop(rng, family):
    from qsa.circuit_tier import superposition_states

    B, T, d = 3, 3, 2
    if family == "A":
        qc = circuit_a(T, d, 2, kernel="poly", w_layers=1, v_layers=1, phases=True)
    else:
        qc = circuit_b(T, d, 1, w_layers=1, v_layers=1, phases=True)
    params = _params(rng, T, d, batch=B)
    if family == "B":
        params["psi"] = np.stack([superposition_states(params["x"][b], k=1) for b in range(B)])
    dev = qml.device("default.qubit", wires=qc.n_qubits)

    @qml.qnode(dev)
    def probs(p):
        tp.apply(qc.circuit, p)
        return qml.probs(wires=list(qc.measured_wires))

    with qml.Tracker(dev) as tracker:
        batched = probs(params)
    assert batched.shape == (B, 2 ** len(qc.measured_wires))
    assert tracker.totals["simulations"] == 1 and tracker.totals["batches"] == 1
    for b in range(B):
        one = {name: (a[b] if name in ("x", "y", "phi", "psi") else a) for name, a in params.items()}
        np.testing.assert_allclose(batched[b], probs(one), rtol=0, atol=TOL_STATE)


def test_wire_labels_name_every_wire_after_its_register():
    labels = wire_labels(circuit_a(4, 4, 2, kernel="poly").circuit)
    assert [labels[w] for w in range(12)] == [
        "C1[0]", "C1[1]", "C2[0]", "C2[1]", "A[0]", "A[1]", "B1[0]", "B1[1]", "B2[0]", "B2[1]", "P[0]", "P[1]",
    ]  # fmt: skip
    assert Counter(v[0] for v in labels.values())["q"] == 0
