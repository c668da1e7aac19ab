"""Both exporters give the same unitary for every operation kind, and the bit order is wire 0 first."""

from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
from qiskit.quantum_info import Operator, Statevector
from qiskit_aer.primitives import SamplerV2
from support import TOL_STATE, random_states, random_unitary

from qsa.circuits import GATES, Circuit, Gate, Param, ParamSpec, Select, StatePrep, Unitary, triangular_amplitudes
from qsa.circuits import to_pennylane as tp
from qsa.circuits import to_qiskit as tq


def _qiskit_matrix(circuit: Circuit, params: dict, matrices: dict | None = None) -> np.ndarray:
    return Operator(tq.to_qiskit(circuit, matrices=matrices).bind(params)).data


def test_every_gate_kind_has_an_entry_in_both_exporters():
    assert set(tp.GATE_MAP) | {"GlobalPhase"} == set(GATES)
    assert set(tq.GATE_MAP) | {"GlobalPhase"} == set(GATES)


@pytest.mark.parametrize("name", sorted(GATES))
@pytest.mark.parametrize("controls", [(), (3,), (3, 0)], ids=["plain", "1ctrl", "2ctrl"])
def test_gate_matrices_agree_between_exporters(name, controls, rng):
    spec = GATES[name]
    wires = (1, 2)[: spec.n_wires]
    values = tuple(int(v) for v in rng.integers(0, 2, size=len(controls)))
    if name == "GlobalPhase" and not controls:
        values = ()
    theta = rng.uniform(-np.pi, np.pi, size=3)
    params = tuple(Param("theta", (i,), scale=(-1.0) ** i) for i in range(spec.n_params))
    c = Circuit(4, (Gate(name, wires, params, controls, values),), params=(ParamSpec("theta", (3,), "trainable"),))
    pl = tp.matrix(c, {"theta": theta})
    np.testing.assert_allclose(_qiskit_matrix(c, {"theta": theta}), pl, rtol=0, atol=TOL_STATE)
    np.testing.assert_allclose(pl.conj().T @ pl, np.eye(16), rtol=0, atol=TOL_STATE)


def test_controlled_global_phase_is_a_phase_on_the_control_pattern():
    c = Circuit(2, (Gate("GlobalPhase", (), (0.7,), (0, 1), (1, 0)),))
    expected = np.diag([1, 1, np.exp(0.7j), 1])
    np.testing.assert_allclose(tp.matrix(c, {}), expected, rtol=0, atol=TOL_STATE)
    np.testing.assert_allclose(_qiskit_matrix(c, {}), expected, rtol=0, atol=TOL_STATE)


def test_unitary_ops_agree_including_dagger_and_controls(rng):
    W = random_unitary(rng, 4)
    c = Circuit(
        3,
        (
            Unitary("W", (1, 2)),
            Unitary("W", (2, 0), dagger=True),
            Unitary("W", (0, 2), controls=(1,), control_values=(0,)),
        ),
        params=(ParamSpec("W", (4, 4), "data"),),
    )
    np.testing.assert_allclose(_qiskit_matrix(c, {}, {"W": W}), tp.matrix(c, {"W": W}), rtol=0, atol=TOL_STATE)


def test_load_ops_agree_when_both_are_lowered_and_on_the_first_column_otherwise(rng):
    X = random_states(rng, 3, 4)
    c = Circuit(
        5,
        (
            StatePrep(tuple(triangular_amplitudes(2)), (0, 1)),
            Select("x", (0, 1), (2, 3), (0, 1, 2)),
            Select("x", (1,), (3, 4), (2, 0), controls=(0,), control_values=(1,), dagger=True),
        ),
        params=(ParamSpec("x", (3, 4), "data"),),
    )
    lowered_pl = tp.matrix(c, {"x": X}, lowered=True)
    np.testing.assert_allclose(_qiskit_matrix(c, {"x": X}), lowered_pl, rtol=0, atol=TOL_STATE)
    # Householder completions differ from the rotation tree, but not on what the circuit prepares.
    single = Circuit(4, (Select("x", (0, 1), (2, 3), (0, 1, 2)),))
    for i in range(3):
        e = np.zeros(16)
        e[4 * i] = 1
        np.testing.assert_allclose(
            tp.matrix(single, {"x": X}) @ e, tp.matrix(single, {"x": X}, lowered=True) @ e, atol=TOL_STATE
        )


def test_householder_first_column_is_the_token_even_near_e0():
    x = np.array([1 - 1e-15, 1e-8 * (1 + 1j), 0, 0])
    x = x / np.linalg.norm(x)
    for v in (x, np.array([0, 1j, 0, 0]), np.exp(0.3j) * np.eye(4)[0], random_states(np.random.default_rng(0), 4)):
        U = tp.householder(v)
        np.testing.assert_allclose(U[:, 0], v, rtol=0, atol=1e-14)
        np.testing.assert_allclose(U.conj().T @ U, np.eye(4), rtol=0, atol=1e-14)


def test_bit_order_wire_zero_is_most_significant_everywhere():
    """X on wire 0 of 3 wires: state index 4 = 0b100 in PennyLane, Qiskit statevector and counts."""
    c = Circuit(3, (Gate("X", (0,)), Gate("H", (2,)), Gate("Z", (2,)), Gate("H", (2,))))  # wires 0 and 2 set
    dev = qml.device("default.qubit", wires=3)

    @qml.qnode(dev)
    def state():
        tp.apply(c, {})
        return qml.state()

    expected = np.zeros(8)
    expected[0b101] = 1
    np.testing.assert_allclose(np.abs(state()), expected, atol=TOL_STATE)
    template = tq.to_qiskit(c, measure=(0, 1, 2))
    qc = template.circuit.remove_final_measurements(inplace=False)
    np.testing.assert_allclose(np.abs(Statevector(qc).data), expected, atol=TOL_STATE)
    counts = SamplerV2(seed=1).run([template.circuit], shots=10).result()[0].data.meas.get_counts()
    assert counts == {"101": 10}
    partial = tq.to_qiskit(c, measure=(2, 1))  # bits read in the listed wire order
    counts = SamplerV2(seed=1).run([partial.circuit], shots=10).result()[0].data.meas.get_counts()
    assert counts == {"10": 10}


def test_template_is_one_per_shape_and_values_follow_the_data(rng):
    X1, X2 = random_states(rng, 2, 2), random_states(rng, 2, 2)
    c = Circuit(2, (Select("x", (0,), (1,), (0, 1)),), params=(ParamSpec("x", (2, 2), "data"),))
    template = tq.to_qiskit(c)
    assert template.circuit.num_parameters == len(template.sources) > 0
    batch = template.batch_values([{"x": X1}, {"x": X2}])
    assert batch.shape == (2, template.circuit.num_parameters)
    for values, X in zip(batch, (X1, X2)):
        np.testing.assert_array_equal(values, template.values({"x": X}))
        sv = Statevector(template.bind({"x": X})).data
        np.testing.assert_allclose(sv[[0, 1]], X[0], atol=TOL_STATE)
    with pytest.raises(KeyError, match="parameter 'x' must be given"):
        template.values({})


def test_missing_matrix_is_a_clear_error():
    with pytest.raises(KeyError, match="matrix 'W' must be given"):
        tq.to_qiskit(Circuit(1, (Unitary("W", (0,)),)))


def test_gradients_flow_to_angles_phases_and_tokens_through_pennylane():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    X = torch.tensor(random_states(rng, 2, 2), requires_grad=True)
    theta = torch.tensor(rng.uniform(size=(1,)), requires_grad=True)
    phi = torch.tensor(rng.uniform(size=(2,)), requires_grad=True)
    c = Circuit(
        2,
        (
            Gate("H", (0,)),
            Select("x", (0,), (1,), (0, 1)),
            Gate("RY", (1,), (Param("theta", (0,)),)),
            Gate("GlobalPhase", (), (Param("phi", (0,)),), (0,), (0,)),
            Gate("GlobalPhase", (), (Param("phi", (1,)),), (0,), (1,)),
            Gate("H", (0,)),
        ),
    )

    @qml.qnode(qml.device("default.qubit", wires=2), interface="torch", diff_method="backprop")
    def p0(X, theta, phi):
        tp.apply(c, {"x": X, "theta": theta, "phi": phi})
        return qml.probs(wires=[0, 1])

    p0(X, theta, phi)[0].backward()
    for t in (X, theta, phi):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_both_select_modes_give_the_same_unitary(rng):
    X = random_states(rng, 3, 4)
    c = Circuit(
        5,
        (
            Select("x", (0, 1), (2, 3), (0, 2, 1)),
            Select("x", (1,), (3, 4), (2, 0), controls=(0,), control_values=(0,), dagger=True),
        ),
    )
    np.testing.assert_allclose(
        tp.matrix(c, {"x": X}, select="controlled"), tp.matrix(c, {"x": X}), rtol=0, atol=TOL_STATE
    )
    with pytest.raises(ValueError, match="select must be one of"):
        tp.matrix(c, {"x": X}, select="fast")
