r"""Export a :class:`~qsa.circuits.ir.Circuit` to a parameterised Qiskit ``QuantumCircuit``.

One template per circuit shape: the circuit is lowered (:func:`qsa.circuits.lowering.lower`) so
that tokens enter only through rotation angles; every trainable or derived array becomes a
``ParameterVector`` of the same name, and :meth:`QiskitTemplate.values` turns named arrays into
the parameter values of a PUB (``(template.circuit, values)``), for one instance or a batch.
Matrices (``Unitary`` ops, e.g. ``W`` and ``V`` given as unitaries) are fixed at export time.

**Bit order — the one place it is converted.** IR wire ``w`` of an ``n``-wire circuit is Qiskit
qubit ``n - 1 - w``. Qiskit indexes states little-endian (qubit 0 least significant), so a
``Statevector`` of the exported circuit has *our* index order (wire 0 most significant), and a
measured bitstring printed by Qiskit reads wire by wire from left to right. Multi-qubit matrices
are applied with their target qubits listed least significant first (our last wire first).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit.circuit import ClassicalRegister, ParameterVector, QuantumCircuit
from qiskit.circuit.library import (
    CXGate,
    CZGate,
    HGate,
    PhaseGate,
    RXGate,
    RYGate,
    RZGate,
    SwapGate,
    UnitaryGate,
    XGate,
    YGate,
    ZGate,
)

from qsa.circuits.ir import Circuit, Gate, Param, Unitary
from qsa.circuits.lowering import derive, lower

__all__ = ["QiskitTemplate", "to_qiskit", "GATE_MAP", "qubit_of", "measured_qubits"]

#: IR gate name -> Qiskit gate class (GlobalPhase is handled separately).
GATE_MAP: dict[str, type] = {
    "H": HGate,
    "X": XGate,
    "Y": YGate,
    "Z": ZGate,
    "RX": RXGate,
    "RY": RYGate,
    "RZ": RZGate,
    "PhaseShift": PhaseGate,
    "CNOT": CXGate,
    "CZ": CZGate,
    "SWAP": SwapGate,
}


def qubit_of(wire: int, n_wires: int) -> int:
    """Qiskit qubit index of IR wire ``wire`` (wire 0, most significant, is the last qubit)."""
    return n_wires - 1 - wire


def measured_qubits(wires: Sequence[int], n_wires: int) -> list[int]:
    """Qubits to list (least significant first) so that a result over ``wires`` reads in wire order."""
    return [qubit_of(w, n_wires) for w in reversed(tuple(wires))]


@dataclass(frozen=True)
class QiskitTemplate:
    """A parameterised circuit and how to fill its parameters from named arrays.

    Attributes:
        circuit: the ``QuantumCircuit`` (measured if ``measure`` was given).
        lowered: the lowered IR it was built from.
        sources: for each entry of ``circuit.parameters`` (in that order), the array name and flat index.
        measure: the IR wires measured, in the order the classical bits are read (wire order).
    """

    circuit: QuantumCircuit
    lowered: Circuit
    sources: tuple[tuple[str, int], ...]
    measure: tuple[int, ...]

    def values(self, params: Mapping[str, Any]) -> np.ndarray:
        """Parameter values for ``circuit.parameters`` from named arrays (one instance), float64."""
        arrays = {**{k: _numpy(v) for k, v in params.items()}, **derive(self.lowered, params)}
        out = np.empty(len(self.sources))
        for i, (name, flat) in enumerate(self.sources):
            try:
                array = arrays[name]
            except KeyError:
                raise KeyError(f"parameter {name!r} must be given; got only {sorted(params)}") from None
            out[i] = np.real_if_close(np.asarray(array).reshape(-1)[flat])
        return out

    def batch_values(self, instances: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Stacked :meth:`values`, shape ``(len(instances), n_parameters)``: a PUB's parameter array."""
        return np.stack([self.values(p) for p in instances]) if instances else np.zeros((0, len(self.sources)))


def _numpy(a: Any) -> Any:
    return a.detach().cpu().numpy() if hasattr(a, "detach") else a


def to_qiskit(
    circuit: Circuit,
    *,
    matrices: Mapping[str, Any] | None = None,
    measure: Sequence[int] | None = None,
    name: str | None = None,
) -> QiskitTemplate:
    """Lower ``circuit`` and export it as a parameterised ``QuantumCircuit``.

    Args:
        circuit: the IR circuit.
        matrices: the arrays named by its ``Unitary`` ops (fixed in the template).
        measure: IR wires to measure at the end (into one classical register, read in wire order).
        name: the ``QuantumCircuit`` name.

    Raises:
        KeyError: if a ``Unitary`` op's matrix is missing from ``matrices``.
    """
    lowered = lower(circuit)
    n = lowered.n_wires
    vectors = {
        spec.name: ParameterVector(spec.name, max(1, math.prod(spec.shape)))
        for spec in lowered.params
        if spec.kind in ("trainable", "derived")
    }
    flat_index = {spec.name: spec.shape for spec in lowered.params}
    qc = QuantumCircuit(n, name=name)

    def angle(a: Any) -> Any:
        if isinstance(a, Param):
            shape = flat_index.get(a.name)
            if a.name not in vectors or shape is None:
                raise KeyError(f"angle parameter {a.name!r} must be a trainable or derived parameter spec")
            flat = int(np.ravel_multi_index(a.index, shape)) if a.index else 0
            element = vectors[a.name][flat]
            return element if a.scale == 1.0 else a.scale * element
        return float(a)

    def qubits(wires: Sequence[int]) -> list[int]:
        return [qubit_of(w, n) for w in wires]

    def ctrl_state(values: Sequence[int]) -> int:
        return sum(v << i for i, v in enumerate(values))  # bit i <-> i-th control qarg

    for op in lowered.ops:
        if isinstance(op, Gate):
            params = [angle(a) for a in op.params]
            if op.name == "GlobalPhase":
                (phi,) = params
                if not op.controls:
                    qc.global_phase = qc.global_phase + phi
                    continue
                target, value = op.controls[-1], op.control_values[-1]
                if value == 0:
                    qc.x(qubit_of(target, n))
                gate = PhaseGate(phi)
                if len(op.controls) > 1:
                    gate = gate.control(
                        len(op.controls) - 1, ctrl_state=ctrl_state(op.control_values[:-1]), annotated=False
                    )
                qc.append(gate, qubits(op.controls[:-1] + (target,)))
                if value == 0:
                    qc.x(qubit_of(target, n))
                continue
            gate = GATE_MAP[op.name](*params)
            if op.controls:
                gate = gate.control(len(op.controls), ctrl_state=ctrl_state(op.control_values), annotated=False)
            qc.append(gate, qubits(op.controls + op.wires))
        elif isinstance(op, Unitary):
            if matrices is None or op.ref not in matrices:
                raise KeyError(f"matrix {op.ref!r} must be given in matrices= (Unitary ops are fixed in a template)")
            M = np.asarray(_numpy(matrices[op.ref]), dtype=np.complex128)
            gate = UnitaryGate(M.conj().T if op.dagger else M, check_input=True)
            if op.controls:
                gate = gate.control(len(op.controls), ctrl_state=ctrl_state(op.control_values), annotated=False)
            qc.append(gate, qubits(op.controls) + qubits(tuple(reversed(op.wires))))
        else:  # pragma: no cover - lower() leaves only Gate and Unitary
            raise TypeError(f"op must be lowered to Gate or Unitary; got {type(op).__name__}")

    measure = tuple(measure or ())
    if measure:
        creg = ClassicalRegister(len(measure), "meas")
        qc.add_register(creg)
        m = len(measure)
        for r, w in enumerate(measure):
            qc.measure(qubit_of(w, n), creg[m - 1 - r])

    sources = []
    for p in qc.parameters:
        if not hasattr(p, "vector"):  # pragma: no cover - we only create ParameterVectors
            raise TypeError(f"unexpected free parameter {p}")
        sources.append((p.vector.name, p.index))
    return QiskitTemplate(circuit=qc, lowered=lowered, sources=tuple(sources), measure=measure)
