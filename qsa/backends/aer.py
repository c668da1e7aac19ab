"""Run QSA circuits on Qiskit Aer: exact statevector probabilities, or SamplerV2 counts.

One parameterised template per circuit shape (:func:`qsa.circuits.to_qiskit.to_qiskit`),
transpiled once; all sequences go into one job (exact) or one PUB with a parameter array (shots).

The templates are made of :data:`qsa.circuits.to_qiskit.SAFE_BASIS` gates, with parameters only in
single-qubit rotations: Aer's primitives drop the bound values of parameterised *controlled* gates
(``cp``, ``cry``, ...; qiskit-aer issues #2323, #2391, #2403, open for Aer 0.18), so the exporter
never emits them (``tests/circuits/test_primitives.py`` runs every family on Aer's primitives).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from qiskit.circuit.library import UnitaryGate
from qiskit.transpiler import Target, generate_preset_pass_manager
from qiskit_aer import AerSimulator
from qiskit_aer.primitives import SamplerV2

from qsa.backends import marginal_zero
from qsa.circuits import QSACircuit
from qsa.circuits.to_qiskit import SAFE_BASIS, measured_qubits, to_qiskit

__all__ = ["run", "MATRIX_NAMES", "SAFE_BASIS", "pass_manager"]

#: Parameter arrays that enter Aer templates as fixed matrices (the W, V of ``circuit_observables``).
MATRIX_NAMES = ("W", "V")


def pass_manager(seed_transpiler: int = 0):
    """Optimisation level 0 onto :data:`SAFE_BASIS` and ``unitary``, fixed transpiler seed."""
    target = Target.from_configuration(basis_gates=[*SAFE_BASIS, "measure"])
    target.add_instruction(UnitaryGate, name="unitary")
    return generate_preset_pass_manager(optimization_level=0, target=target, seed_transpiler=seed_transpiler)


def _matrices(instances: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """The fixed matrices, which must be the same for every instance of one template."""
    out: dict[str, np.ndarray] = {}
    for name in MATRIX_NAMES:
        if instances and name in instances[0]:
            first = np.asarray(instances[0][name])
            if any(not np.array_equal(np.asarray(p[name]), first) for p in instances[1:]):
                raise ValueError(f"{name} must be the same matrix for every sequence of one Aer run")
            out[name] = first
    return out


def run(
    qsa_circuit: QSACircuit,
    instances: Sequence[Mapping[str, Any]],
    *,
    shots: int | None = None,
    seed: int | None = None,
) -> np.ndarray:
    """``P(index = j, zero = 0)`` per instance, shape ``(len(instances), 2^len(index_wires))``."""
    n_index, n_zero = len(qsa_circuit.index_wires), len(qsa_circuit.zero_wires)
    if not instances:
        return np.zeros((0, 2**n_index))
    measure = qsa_circuit.measured_wires if shots is not None else None
    template = to_qiskit(qsa_circuit.circuit, matrices=_matrices(instances), measure=measure)
    sim = AerSimulator(method="statevector", seed_simulator=seed)
    values = template.batch_values(instances)  # (S, n_parameters)
    if shots is None:
        qc = template.circuit.copy()
        tqc = pass_manager().run(qc)
        tqc.save_probabilities(measured_qubits(qsa_circuit.measured_wires, qc.num_qubits))
        bound = [tqc.assign_parameters(v) for v in values] if len(values[0]) else [tqc] * len(values)
        result = sim.run(bound).result()
        probs = np.stack([np.asarray(result.data(i)["probabilities"]) for i in range(len(bound))])
        return marginal_zero(probs, n_index, n_zero)
    tqc = pass_manager().run(template.circuit)
    sampler = SamplerV2(seed=seed)
    pub = (tqc, values) if values.shape[1] else (tqc,)
    bits = sampler.run([pub], shots=shots).result()[0].data.meas
    m = len(qsa_circuit.measured_wires)
    counts = np.zeros((len(instances), 2**m))
    for s in range(len(instances)):
        for value, count in bits.get_int_counts(loc=s if values.shape[1] else None).items():
            counts[s, value] += count
    return marginal_zero(counts / shots, n_index, n_zero)
