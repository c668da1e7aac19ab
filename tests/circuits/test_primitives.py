"""Exported circuits are right on every Qiskit V2 primitive, as a Qiskit user would run them.

Every circuit family x kernel x query phases is exported by ``to_qiskit`` and run, with a
parameter array of two sequences per PUB, on ``StatevectorSampler``, Aer's ``SamplerV2``
(untranspiled, and transpiled to a CZ/RZ/SX line), Aer's ``EstimatorV2`` with the projector as a
``SparsePauliOp`` (exact) and qiskit-ibm-runtime's executor ``Sampler`` in local testing mode.
The totals ``mu``, ``zeta``, ``nu`` (circuit A) and ``P0`` (circuit B) must equal the analytic
tier (exact primitives, ``TOL_STATE``) or lie within ``N_SIGMA`` standard errors (samplers).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from qiskit.quantum_info import Statevector
from support import N_SIGMA, TOL_STATE, random_states

from qsa import analytic
from qsa.ansatz import ansatz_unitary
from qsa.circuit_tier import superposition_states
from qsa.circuits import Shape, circuit_a, circuit_b
from qsa.circuits.to_qiskit import (
    PARAMETERISED_GATES,
    SAFE_BASIS,
    projector,
    to_qiskit,
    unsafe_instructions,
)

SHOTS = 4000
S = 2  # sequences per PUB: every primitive binds a parameter array


def _case(family, kernel, phases, T, d, k, *, slow=False):
    marks = [pytest.mark.slow] if slow else []
    name = f"{family}-{kernel}-{'phases' if phases else 'nophases'}-T{T}d{d}k{k}"
    return pytest.param(family, kernel, phases, T, d, k, id=name, marks=marks)


def _cases(fast: tuple[str, ...] | None = None):
    """Every family x kernel x phases (``fast``: the ids run by default; the rest, and wider shapes, slow)."""
    base = [
        ("A", "mono", False, 3, 2, 1),
        ("A", "mono", True, 3, 2, 2),
        ("A", "poly", False, 2, 2, 2),
        ("A", "poly", True, 4, 2, 2),  # the shape of the silent-wrong case of issue 12 (mu 0.119 for 0.0082)
        ("B", "mono", False, 3, 2, 1),
        ("B", "mono", True, 3, 2, 2),
    ]
    out = [_case(*c, slow=fast is not None and f"{c[0]}-{c[1]}-{c[2]}" not in fast) for c in base]
    wide = [("A", "mono", True, 4, 4, 2), ("A", "poly", True, 3, 4, 2), ("B", "mono", True, 4, 4, 2)]
    return out + [_case(*c, slow=True) for c in wide]


CASES = _cases()  # every combination by default
FEW = _cases(fast=("A-poly-True", "B-mono-True"))  # one circuit A and one circuit B case by default


@functools.cache
def _template(qc, measured: bool):
    return to_qiskit(qc) if measured else to_qiskit(qc, measure=())


@functools.cache
def _instance(family, kernel, phases, T, d, k, seed=0):
    """Circuits by variant, per-sequence parameter mappings, and the analytic totals ``(S,)`` by variant."""
    rng = np.random.default_rng(seed)
    n = d.bit_length() - 1
    X, Y = random_states(rng, S, T, d), random_states(rng, S, T, d)
    theta_W, theta_V = rng.normal(size=(1, n, 3)), rng.normal(size=(1, n, 3))
    phi = rng.uniform(-np.pi, np.pi, size=(S, T)) if phases else None
    W, V = ansatz_unitary(torch.tensor(theta_W)), ansatz_unitary(torch.tensor(theta_V))
    if family == "A":
        circuits = {
            v: circuit_a(T, d, k, kernel=kernel, variant=v, w_layers=1, v_layers=1, phases=phases and v == "mu")
            for v in ("mu", "zeta", "nu")
        }
        obs = analytic.observables(X, Y, W, V, k=k, kernel=kernel, phases=phi)
        exact = {v: getattr(obs, v).numpy() for v in circuits}
    else:
        circuits = {"P0": circuit_b(T, d, k, w_layers=1, v_layers=1, phases=phases)}
        exact = {"P0": analytic.superposition_P0(X, Y, W, V, k=k, phases=phi).numpy()}
    instances = []
    for s in range(S):
        p = {"x": X[s], "y": Y[s], "theta_W": theta_W, "theta_V": theta_V}
        if phases:
            p["phi"] = phi[s]
        if family == "B":
            p["psi"] = superposition_states(X[s], k=k)
        instances.append(p)
    return circuits, instances, exact


def _zero_total(bits, s: int, n_zero: int) -> float:
    """Frequency of ``zero_wires = 0`` (index summed) in sequence ``s`` of a PUB's bit array."""
    counts = bits.get_int_counts(s)
    return sum(c for value, c in counts.items() if value % 2**n_zero == 0) / bits.num_shots


def _columns(template_circuit, compiled):
    position = {p.name: i for i, p in enumerate(template_circuit.parameters)}
    return [position[p.name] for p in compiled.parameters]


def _check_sampled(got: np.ndarray, want: np.ndarray, label: str) -> None:
    stderr = np.sqrt(np.clip(want * (1 - want), 1e-12, None) / SHOTS)
    z = (got - want) / stderr
    assert np.all(np.abs(z) < N_SIGMA), f"{label}: got {got}, exact {want}, z = {z}"


def _sample(run, circuits, instances, *, transpile=None):
    """Totals ``(S,)`` by variant from a sampler ``run(pubs) -> PrimitiveResult``, one job for all variants."""
    pubs, layout = [], []
    for variant, qc in circuits.items():
        template = _template(qc, True)
        values = template.batch_values(instances)
        circuit = template.circuit
        if transpile is not None:
            circuit = transpile.run(circuit)
            values = values[:, _columns(template.circuit, circuit)]
        pubs.append((circuit, values))
        layout.append((variant, len(qc.zero_wires)))
    result = run(pubs)
    return {v: np.array([_zero_total(r.data.meas, s, m) for s in range(S)]) for (v, m), r in zip(layout, result)}


@pytest.mark.parametrize("family, kernel, phases, T, d, k", CASES)
def test_exported_circuits_use_only_gates_that_bind_right(family, kernel, phases, T, d, k):
    circuits, instances, _ = _instance(family, kernel, phases, T, d, k)
    for variant, qc in circuits.items():
        template = _template(qc, True)
        circuit = template.circuit
        assert set(circuit.count_ops()) <= {*SAFE_BASIS, "unitary", "measure"}, circuit.count_ops()
        for inst in circuit.data:
            if inst.is_parameterized():
                assert inst.operation.name in PARAMETERISED_GATES
        assert unsafe_instructions(circuit) == []
        assert not getattr(circuit.global_phase, "parameters", None)  # no parameterised global phase
        assert [r.name for r in reversed(circuit.qregs)] == [r.name for r in qc.circuit.registers]
        assert [c.name for c in circuit.cregs] == ["meas"]
        meta = circuit.metadata
        assert Shape.from_dict(meta["shape"]) == qc.shape and meta["variant"] == variant
        assert (meta["shape"]["circuit"], meta["shape"]["kernel"]) == (family, kernel)
        assert (meta["shape"]["T"], meta["shape"]["d"], meta["shape"]["k"]) == (T, d, k)
        assert meta["qsa_version"] and meta["measure"] == list(qc.measured_wires)
        assert meta["parameters"]["x"] == {"shape": [T, d], "kind": "data"}
        # bound with its global phase, the export is the IR circuit's state exactly
        bare = _template(qc, False)
        for p in instances:
            state = Statevector(bare.bind(p)).data
            assert abs(np.linalg.norm(state) - 1) < TOL_STATE


@pytest.mark.parametrize("family, kernel, phases, T, d, k", FEW)
def test_statevector_sampler(family, kernel, phases, T, d, k):
    from qiskit.primitives import StatevectorSampler

    circuits, instances, exact = _instance(family, kernel, phases, T, d, k)
    sampler = StatevectorSampler(seed=11)
    got = _sample(lambda pubs: sampler.run(pubs, shots=SHOTS).result(), circuits, instances)
    for v in circuits:
        _check_sampled(got[v], exact[v], v)


@pytest.mark.parametrize("family, kernel, phases, T, d, k", CASES)
def test_aer_sampler_with_parameter_arrays(family, kernel, phases, T, d, k):
    _aer_sampler(family, kernel, phases, T, d, k, transpiled=False)


@pytest.mark.parametrize("family, kernel, phases, T, d, k", FEW)
def test_aer_sampler_with_parameter_arrays_transpiled(family, kernel, phases, T, d, k):
    _aer_sampler(family, kernel, phases, T, d, k, transpiled=True)


def _aer_sampler(family, kernel, phases, T, d, k, *, transpiled):
    from qiskit.transpiler import CouplingMap, generate_preset_pass_manager
    from qiskit_aer.primitives import SamplerV2

    circuits, instances, exact = _instance(family, kernel, phases, T, d, k)
    pm = None
    if transpiled:  # an ISA of a heavy-hex-like device: CZ on a line, RZ/SX/X
        width = max(qc.n_qubits for qc in circuits.values())
        pm = generate_preset_pass_manager(
            optimization_level=1,
            basis_gates=["cz", "rz", "sx", "x"],
            coupling_map=CouplingMap.from_line(width),
            seed_transpiler=0,
        )
    sampler = SamplerV2(seed=12)
    got = _sample(lambda pubs: sampler.run(pubs, shots=SHOTS).result(), circuits, instances, transpile=pm)
    for v in circuits:
        _check_sampled(got[v], exact[v], v)


@pytest.mark.parametrize("family, kernel, phases, T, d, k", FEW)
def test_aer_estimator_with_the_projector_is_exact(family, kernel, phases, T, d, k):
    from qiskit_aer.primitives import EstimatorV2

    circuits, instances, exact = _instance(family, kernel, phases, T, d, k)
    pubs = []
    for qc in circuits.values():
        template = _template(qc, False)
        pubs.append((template.circuit, projector(qc), template.batch_values(instances)))
    result = EstimatorV2().run(pubs).result()
    for v, r in zip(circuits, result):
        np.testing.assert_allclose(r.data.evs, exact[v], rtol=0, atol=TOL_STATE, err_msg=v)


@pytest.mark.parametrize("family, kernel, phases, T, d, k", FEW)
def test_runtime_sampler_in_local_testing_mode(family, kernel, phases, T, d, k):
    from qiskit_aer import AerSimulator
    from qiskit_ibm_runtime.executor_sampler import Sampler

    circuits, instances, exact = _instance(family, kernel, phases, T, d, k)
    sampler = Sampler(mode=AerSimulator())
    sampler.options.simulator.seed_simulator = 13
    got = _sample(lambda pubs: sampler.run(pubs, shots=SHOTS).result(), circuits, instances)
    for v in circuits:
        _check_sampled(got[v], exact[v], v)


def test_projector_cells_sum_to_the_total_and_read_the_index_register():
    """``projector(qc, j)``: the cell ``P(C1 = j, zero = 0)``; the cells sum to the total."""
    from qiskit.quantum_info import SparsePauliOp

    qc = circuit_a(3, 2, 1, variant="zeta", w_layers=1, v_layers=1)
    total = projector(qc)
    cells = [projector(qc, j) for j in range(4)]
    assert (sum(cells[1:], cells[0]) - total).simplify(atol=1e-12) == SparsePauliOp("I" * qc.n_qubits, 0)
    circuits, instances, _ = _instance("A", "mono", False, 3, 2, 1)
    template = to_qiskit(qc, measure=())
    probs = Statevector(template.bind(instances[0])).probabilities_dict()
    for j in range(4):  # Qiskit's bitstrings print qubit n-1 (wire 0) first
        want = sum(
            p
            for bits, p in probs.items()
            if int("".join(bits[w] for w in qc.index_wires), 2) == j and all(bits[w] == "0" for w in qc.zero_wires)
        )
        got = Statevector(template.bind(instances[0])).expectation_value(cells[j]).real
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL_STATE)
    with pytest.raises(ValueError, match=r"index must be an integer in \[0, 4\)"):
        projector(qc, 4)
