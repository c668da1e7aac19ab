"""QPY and OpenQASM 3 round trips: a reloaded export binds from named arrays and gives mu again."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from qiskit import qasm3
from qiskit.quantum_info import Statevector
from support import TOL_STATE, random_states

from qsa import analytic
from qsa.ansatz import ansatz_unitary
from qsa.circuits import Shape, circuit_a
from qsa.circuits.to_qiskit import dump_qpy, dumps_qasm3, load_qpy, to_qiskit


def _mu_instance(seed=3, T=4, d=2, k=2):
    rng = np.random.default_rng(seed)
    n = d.bit_length() - 1
    params = {
        "x": random_states(rng, T, d),
        "y": random_states(rng, T, d),
        "theta_W": rng.normal(size=(1, n, 3)),
        "theta_V": rng.normal(size=(1, n, 3)),
        "phi": rng.uniform(-np.pi, np.pi, size=T),
    }
    W, V = ansatz_unitary(torch.tensor(params["theta_W"])), ansatz_unitary(torch.tensor(params["theta_V"]))
    mu = analytic.observables(params["x"], params["y"], W, V, k=k, kernel="poly", phases=params["phi"]).mu
    qc = circuit_a(T, d, k, kernel="poly", w_layers=1, v_layers=1, phases=True)
    return qc, params, float(mu)


def _p_all_zero(circuit, values) -> float:
    bare = circuit.remove_final_measurements(inplace=False)
    return float(Statevector(bare.assign_parameters(values)).probabilities()[0])


def test_qasm3_round_trip_binds_by_the_name_map_and_recovers_mu():
    qc, params, mu = _mu_instance()
    template = to_qiskit(qc)
    export = dumps_qasm3(template)
    assert "qubit[2] C1;" in export.text and "bit[9] meas;" in export.text
    assert export.names["theta_V_0"] == "theta_V[0]" and "phi_3" in export.names
    reloaded = qasm3.loads(export.text)
    assert {p.name for p in reloaded.parameters} == set(export.names)
    values = template.values_for(reloaded, params, export.names)
    np.testing.assert_allclose(_p_all_zero(reloaded, values), mu, rtol=0, atol=TOL_STATE)
    # without the map the QASM names mean nothing to the template: refused, not guessed
    with pytest.raises(ValueError, match="the circuit's parameters must be the template's"):
        template.values_for(reloaded, params)


def test_qpy_round_trip_keeps_names_registers_and_metadata():
    qc, params, mu = _mu_instance(seed=4)
    template = to_qiskit(qc)
    buffer = io.BytesIO()
    dump_qpy(template, buffer)
    buffer.seek(0)
    (reloaded,) = load_qpy(buffer)
    assert [r.name for r in reloaded.qregs] == [r.name for r in template.circuit.qregs]
    assert reloaded.metadata == template.circuit.metadata
    assert Shape.from_dict(reloaded.metadata["shape"]) == qc.shape and reloaded.metadata["variant"] == "mu"
    assert reloaded.metadata["parameters"]["phi"]["shape"] == [4]
    values = template.values_for(reloaded, params)
    np.testing.assert_allclose(_p_all_zero(reloaded, values), mu, rtol=0, atol=TOL_STATE)


def test_bind_restores_the_global_phase_the_export_leaves_out():
    """``Operator(template.bind(p))`` is the IR unitary (PennyLane's matrix of the lowered circuit) exactly."""
    from qiskit.quantum_info import Operator

    from qsa.circuits.to_pennylane import matrix

    qc, params, _ = _mu_instance(seed=5, T=2, k=1)
    template = to_qiskit(qc, measure=())
    assert template.circuit.global_phase == 0 and template.global_phase.parameters  # kept aside, parameterised
    np.testing.assert_allclose(
        Operator(template.bind(params)).data, matrix(qc.circuit, params, lowered=True), rtol=0, atol=TOL_STATE
    )
