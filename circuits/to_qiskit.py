r"""Export a :class:`~qsa.circuits.ir.Circuit` to a parameterised Qiskit ``QuantumCircuit`` that every primitive runs right.

One template per circuit shape: the circuit is lowered (:func:`qsa.circuits.lowering.lower`) so
that tokens enter only through rotation angles; every trainable or derived array becomes a
``ParameterVector`` of the same name, and :meth:`QiskitTemplate.values` turns named arrays into
the parameter values of a PUB (``(template.circuit, values)``), for one instance or a batch.
Matrices (``Unitary`` ops, e.g. ``W`` and ``V`` given as unitaries) are fixed at export time.

**Safe on every primitive.** The exported circuit holds only the gates of :data:`SAFE_BASIS` and
fixed ``unitary`` matrices, and only :data:`PARAMETERISED_GATES` (single-qubit rotations and
phases) carry parameters. Qiskit Aer's V2 primitives drop the bound values of parameterised
*controlled* gates (``cp``, ``crx``, ``cry``, ``crz``, multi-controlled phases; qiskit-aer issues
#2323, #2391, #2403, open for Aer 0.18) when a PUB binds a parameter array, which silently turned
the query phases and the controlled poly-kernel ansatz into identities; so controlled gates are
rewritten here with Qiskit's own equivalence library (``HighLevelSynthesis`` then
``BasisTranslator``: exact, no approximation). The global phase is not exported when it depends
on parameters (it is the sum of the token loads' phases, cannot change a probability, and
parameter-by-parameter gradient frameworks stumble on it): :attr:`QiskitTemplate.global_phase`
keeps it and :meth:`QiskitTemplate.bind` restores it, so ``Operator(template.bind(params))`` is
the IR circuit's unitary exactly.

**Registers and metadata.** The circuit's quantum registers are the IR's (``C1``, ``C2``, ``A``,
``B1``..``Bk``, ``P`` of circuit A; ``C`` of circuit B), measurements go into a classical register
``meas``, and ``circuit.metadata`` says what the circuit is (:func:`metadata`): the QSA version, the
shape and variant of a :class:`~qsa.circuits.QSACircuit`, the registers, the measured wires and the
parameter layout. :func:`dump_qpy` and :func:`dumps_qasm3` write it out;
:meth:`QiskitTemplate.values_for` binds a reloaded copy (for QASM 3, through the parameter-name
map :func:`dumps_qasm3` returns).

**Bit order -- the one place it is converted.** IR wire ``w`` of an ``n``-wire circuit is Qiskit
qubit ``n - 1 - w``. Qiskit indexes states little-endian (qubit 0 least significant), so a
``Statevector`` of the exported circuit has *our* index order (wire 0 most significant), and a
measured bitstring printed by Qiskit reads wire by wire from left to right. Bit ``i`` of a
register is its ``i``-th wire from the end (its least significant). Multi-qubit matrices are
applied with their target qubits listed least significant first (our last wire first).

Example::

    from qsa.circuits import circuit_a
    from qsa.circuits.to_qiskit import to_qiskit
    from qiskit_aer.primitives import SamplerV2

    template = to_qiskit(circuit_a(4, 2, 2, kernel="poly", w_layers=1, v_layers=1, phases=True))
    values = template.batch_values([{"x": X, "y": Y, "theta_W": tw, "theta_V": tv, "phi": phi}])
    counts = SamplerV2().run([(template.circuit, values)], shots=4000).result()[0].data.meas
    mu = counts.get_int_counts(0).get(0, 0) / 4000       # P(every wire reads 0)
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata as _metadata
from typing import Any

import numpy as np
from qiskit.circuit import ClassicalRegister, ParameterExpression, ParameterVector, QuantumCircuit, QuantumRegister
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
from qiskit.quantum_info.operators.predicates import is_unitary_matrix

from qsa.circuits.builders import QSACircuit
from qsa.circuits.ir import Circuit, Gate, Param, Register, Unitary
from qsa.circuits.lowering import derive, lower

__all__ = [
    "SAFE_BASIS",
    "PARAMETERISED_GATES",
    "QiskitTemplate",
    "Qasm3Export",
    "to_qiskit",
    "GATE_MAP",
    "qubit_of",
    "measured_qubits",
    "metadata",
    "unsafe_instructions",
    "projector",
    "dump_qpy",
    "load_qpy",
    "dumps_qasm3",
]

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

#: The gates an exported circuit is made of (besides fixed ``unitary`` matrices and ``measure``).
SAFE_BASIS: tuple[str, ...] = ("rx", "ry", "rz", "p", "h", "x", "y", "z", "sx", "cx", "cz", "swap")

#: The only gates that carry parameters in an exported circuit: Aer's V2 primitives bind parameter
#: arrays into these correctly (``tests/circuits/test_primitives.py`` runs every family on them).
PARAMETERISED_GATES: frozenset[str] = frozenset({"rx", "ry", "rz", "p"})

_EXPORT_BASIS = [*SAFE_BASIS, "unitary", "measure"]


def qubit_of(wire: int, n_wires: int) -> int:
    """Qiskit qubit index of IR wire ``wire`` (wire 0, most significant, is the last qubit)."""
    return n_wires - 1 - wire


def measured_qubits(wires: Sequence[int], n_wires: int) -> list[int]:
    """Qubits to list (least significant first) so that a result over ``wires`` reads in wire order."""
    return [qubit_of(w, n_wires) for w in reversed(tuple(wires))]


def _numpy(a: Any) -> Any:
    return a.detach().cpu().numpy() if hasattr(a, "detach") else a


def _element_source(p: Any) -> tuple[str, int]:
    if not hasattr(p, "vector"):  # pragma: no cover - the exporter only creates ParameterVectors
        raise TypeError(f"unexpected free parameter {p}")
    return (p.vector.name, int(p.index))


@dataclass(frozen=True)
class Qasm3Export:
    """A template as OpenQASM 3 text, and how its ``input`` names map back to the template's parameters.

    Attributes:
        text: the program (``qiskit.qasm3.dumps`` of the template with renamed parameters).
        names: QASM 3 input name -> template parameter name (e.g. ``"theta_V_0" -> "theta_V[0]"``).
    """

    text: str
    names: dict[str, str]


@dataclass(frozen=True)
class QiskitTemplate:
    """A parameterised circuit and how to fill its parameters from named arrays.

    Attributes:
        circuit: the ``QuantumCircuit`` (measured if ``measure`` was given), gates of
            :data:`SAFE_BASIS` and fixed ``unitary`` matrices only, no parameterised global phase.
        lowered: the lowered IR it was built from.
        sources: for each entry of ``circuit.parameters`` (in that order), the array name and flat index.
        measure: the IR wires measured, in the order the classical bits are read (wire order).
        global_phase: the global phase the IR circuit has on top of ``circuit`` (a float, or a
            ``ParameterExpression`` of derived angles; see :meth:`phase`).
    """

    circuit: QuantumCircuit
    lowered: Circuit
    sources: tuple[tuple[str, int], ...]
    measure: tuple[int, ...]
    global_phase: Any = 0.0
    _names: dict[str, tuple[str, int]] = field(default_factory=dict, repr=False, compare=False)

    def _arrays(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {**{k: _numpy(v) for k, v in params.items()}, **derive(self.lowered, params)}

    @staticmethod
    def _lookup(arrays: Mapping[str, Any], name: str, flat: int, given: Mapping[str, Any]) -> float:
        try:
            array = arrays[name]
        except KeyError:
            raise KeyError(f"parameter {name!r} must be given; got only {sorted(given)}") from None
        return float(np.real_if_close(np.asarray(array).reshape(-1)[flat]))

    def values(self, params: Mapping[str, Any]) -> np.ndarray:
        """Parameter values for ``circuit.parameters`` from named arrays (one instance), float64."""
        arrays = self._arrays(params)
        return np.array([self._lookup(arrays, name, flat, params) for name, flat in self.sources], dtype=np.float64)

    def batch_values(self, instances: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Stacked :meth:`values`, shape ``(len(instances), n_parameters)``: a PUB's parameter array."""
        return np.stack([self.values(p) for p in instances]) if instances else np.zeros((0, len(self.sources)))

    def phase(self, params: Mapping[str, Any]) -> float:
        """The value of :attr:`global_phase` for ``params`` (radians)."""
        if not isinstance(self.global_phase, ParameterExpression):
            return float(self.global_phase)
        arrays = self._arrays(params)
        binding = {p: self._lookup(arrays, *_element_source(p), params) for p in self.global_phase.parameters}
        return float(self.global_phase.bind(binding).numeric())

    def bind(self, params: Mapping[str, Any]) -> QuantumCircuit:
        """``circuit`` with every parameter bound from ``params`` and the IR's global phase restored."""
        bound = self.circuit.assign_parameters(self.values(params)) if self.sources else self.circuit.copy()
        bound.global_phase = float(bound.global_phase) + self.phase(params)
        return bound

    def values_for(
        self, circuit: QuantumCircuit, params: Mapping[str, Any], names: Mapping[str, str] | None = None
    ) -> np.ndarray:
        """Values for ``circuit.parameters`` of a reloaded copy of :attr:`circuit` (QPY, or QASM 3 with ``names``).

        Args:
            circuit: the reloaded circuit (its parameters are matched by name).
            params: named arrays, as for :meth:`values`.
            names: reloaded parameter name -> template parameter name (``Qasm3Export.names``);
                ``None`` when the names survived (QPY).

        Raises:
            ValueError: if a parameter of ``circuit`` is not one of the template's.
        """
        column = {str(p.name): i for i, p in enumerate(self.circuit.parameters)}
        mine = self.values(params)
        out = []
        for p in circuit.parameters:
            name = names.get(p.name, p.name) if names is not None else p.name
            if name not in column:
                raise ValueError(f"the circuit's parameters must be the template's; got {p.name!r}")
            out.append(mine[column[name]])
        return np.array(out, dtype=np.float64)


def _package_version() -> str | None:
    try:
        return _metadata.version("qsa")
    except _metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return None


def metadata(circuit: Circuit | QSACircuit, *, measure: Sequence[int] = ()) -> dict[str, Any]:
    """What an exported circuit is, as JSON-able data (``QuantumCircuit.metadata``; QPY keeps it).

    Keys: ``qsa_version``; ``bit_order``; ``registers`` (name -> IR wires); ``measure`` (IR wires in
    the order the bits of ``meas`` are read); ``parameters`` (array name -> shape and kind, the
    *unlowered* layout a caller binds: data arrays, trainable angles); for a
    :class:`~qsa.circuits.QSACircuit` also ``shape`` (:meth:`qsa.circuits.Shape.as_dict`: circuit,
    ``T``, ``d``, ``k``, kernel, ``beta``, ansatz depths, query phases; ``Shape.from_dict``
    rebuilds it), ``variant`` and the ``zero_wires`` and ``index_wires`` its observable reads.
    """
    ir = circuit.circuit if isinstance(circuit, QSACircuit) else circuit
    out: dict[str, Any] = {
        "qsa_version": _package_version(),
        "bit_order": "IR wire w is qubit n_qubits - 1 - w (wire 0 most significant)",
        "registers": {r.name: list(r.wires) for r in ir.registers},
        "measure": [int(w) for w in measure],
        "parameters": {p.name: {"shape": list(p.shape), "kind": p.kind} for p in ir.params},
    }
    if isinstance(circuit, QSACircuit):
        out["shape"] = circuit.shape.as_dict()
        out["variant"] = circuit.variant
        out["zero_wires"] = list(circuit.zero_wires)
        out["index_wires"] = list(circuit.index_wires)
    return out


def _blocks(n: int, registers: Sequence[Register]) -> list[tuple[str, tuple[int, ...]]]:
    """Registers covering wires ``0..n-1`` in order: the IR's where they are contiguous and disjoint, else ``q``."""
    named = sorted((r for r in registers if r.wires), key=lambda r: r.wires[0])
    taken: set[int] = set()
    usable = []
    for r in named:
        contiguous = list(r.wires) == list(range(r.wires[0], r.wires[0] + len(r.wires)))
        if contiguous and not taken & set(r.wires) and r.wires[-1] < n and r.name not in ("meas",):
            usable.append(r)
            taken |= set(r.wires)
    blocks: list[tuple[str, tuple[int, ...]]] = []
    w, gaps = 0, 0
    for r in usable:
        if r.wires[0] > w:
            blocks.append((f"q{gaps}", tuple(range(w, r.wires[0]))))
            gaps += 1
        blocks.append((r.name, r.wires))
        w = r.wires[-1] + 1
    if w < n:
        blocks.append((f"q{gaps}", tuple(range(w, n))))
    if len(blocks) == 1 and blocks[0][0].startswith("q") and not usable:
        blocks = [("q", blocks[0][1])]
    return blocks


def _translate(qc: QuantumCircuit) -> QuantumCircuit:
    from qiskit.circuit.equivalence_library import SessionEquivalenceLibrary
    from qiskit.transpiler import PassManager
    from qiskit.transpiler.passes import BasisTranslator, HighLevelSynthesis

    pm = PassManager(
        [
            HighLevelSynthesis(equivalence_library=SessionEquivalenceLibrary, basis_gates=_EXPORT_BASIS),
            BasisTranslator(SessionEquivalenceLibrary, _EXPORT_BASIS),
        ]
    )
    return pm.run(qc)


def unsafe_instructions(circuit: QuantumCircuit) -> list[str]:
    """Names of the parameterised *controlled* gates of ``circuit`` (sorted, unique): what Aer binds wrongly.

    Qiskit Aer 0.18's V2 primitives, given a PUB with a parameter array, drop the bound values of
    parameterised controlled gates (``cp``, ``crx``, ``crz``, multi-controlled phases, ...;
    qiskit-aer #2323, #2391, #2403) and return wrong probabilities without a warning. An empty list
    means every parameter sits in a gate that binds right (single-qubit rotations, ``rzz`` and
    the other two-qubit rotations, ``unitary`` matrices are fixed).
    """
    from qiskit.circuit import ControlledGate

    bad = set()
    for inst in circuit.data:
        if isinstance(inst.operation, ControlledGate) and _parameterised(inst):
            bad.add(inst.operation.name)
    return sorted(bad)


def _parameterised(inst: Any) -> bool:
    """Whether an instruction reads a parameter (``Instruction.is_parameterized`` misses controlled gates)."""
    return any(isinstance(p, ParameterExpression) for p in inst.operation.params)


def _outside_export_basis(circuit: QuantumCircuit) -> list[str]:
    names = set()
    for inst in circuit.data:
        op = inst.operation
        if op.name not in _EXPORT_BASIS or (_parameterised(inst) and op.name not in PARAMETERISED_GATES):
            names.add(op.name)
    return sorted(names)


def _controlled_matrix(M: np.ndarray, n_controls: int, state: int) -> np.ndarray:
    """The matrix of ``M`` controlled on ``n_controls`` qubits (Qiskit order: controls least significant)."""
    d = M.shape[0]
    k = 2**n_controls
    out = np.eye(k * d, dtype=np.complex128)
    # Qiskit orders the control qubits first in the argument list, i.e. least significant.
    idx = [t * k + state for t in range(d)]
    out[np.ix_(idx, idx)] = M
    return out


def to_qiskit(
    circuit: Circuit | QSACircuit,
    *,
    matrices: Mapping[str, Any] | None = None,
    measure: Sequence[int] | None = None,
    name: str | None = None,
) -> QiskitTemplate:
    """Lower ``circuit`` and export it as a parameterised ``QuantumCircuit`` that every primitive runs right.

    Args:
        circuit: the IR circuit, or a :class:`~qsa.circuits.QSACircuit` (then measured, by
            default, on its ``measured_wires`` and described in full by ``circuit.metadata``).
        matrices: the arrays named by its ``Unitary`` ops (fixed in the template).
        measure: IR wires to measure at the end (into the classical register ``meas``, read in
            wire order); ``()`` for none.
        name: the ``QuantumCircuit`` name.

    Returns:
        :class:`QiskitTemplate`: the circuit (gates of :data:`SAFE_BASIS` and fixed ``unitary``
        matrices, parameters only in :data:`PARAMETERISED_GATES`, no parameterised global phase,
        the IR's registers, :func:`metadata`) and how to bind it.

    Raises:
        KeyError: if a ``Unitary`` op's matrix is missing from ``matrices``.
        TypeError: if ``circuit`` is neither a ``Circuit`` nor a ``QSACircuit``.

    Example:
        >>> from qsa.circuits import circuit_a
        >>> from qsa.circuits.to_qiskit import to_qiskit
        >>> template = to_qiskit(circuit_a(4, 2, 1, w_layers=1, v_layers=1))
        >>> template.circuit.num_qubits, template.circuit.num_parameters  # wire 0 is Qiskit's last qubit
        (6, 28)
    """
    qsa_circuit = circuit if isinstance(circuit, QSACircuit) else None
    if qsa_circuit is not None:
        circuit = qsa_circuit.circuit
        if measure is None:
            measure = qsa_circuit.measured_wires
    if not isinstance(circuit, Circuit):
        raise TypeError(f"circuit must be a Circuit or a QSACircuit; got {type(circuit).__name__}")
    lowered = lower(circuit)
    n = lowered.n_wires
    vectors = {
        spec.name: ParameterVector(spec.name, max(1, math.prod(spec.shape)))
        for spec in lowered.params
        if spec.kind in ("trainable", "derived")
    }
    flat_index = {spec.name: spec.shape for spec in lowered.params}
    registers = [QuantumRegister(len(wires), reg) for reg, wires in reversed(_blocks(n, lowered.registers))]
    qc = QuantumCircuit(*registers, name=name) if n else QuantumCircuit(name=name)

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
            if M.ndim == 2 and M.shape[0] == M.shape[1] and not is_unitary_matrix(M):
                err = float(np.abs(M.conj().T @ M - np.eye(M.shape[0])).max())
                raise ValueError(
                    f"matrices[{op.ref!r}] must be unitary to Qiskit's UnitaryGate tolerance (1e-8); got "
                    f"max |M^dagger M - I| = {err:.3g}: project it first (qsa.circuits.linalg.nearest_unitary), "
                    "as qsa.circuit_observables does"
                )
            M = M.conj().T if op.dagger else M
            if op.controls:
                M = _controlled_matrix(M, len(op.controls), ctrl_state(op.control_values))
            qc.append(UnitaryGate(M, check_input=True), qubits(op.controls) + qubits(tuple(reversed(op.wires))))
        else:  # pragma: no cover - lower() leaves only Gate and Unitary
            raise TypeError(f"op must be lowered to Gate or Unitary; got {type(op).__name__}")

    qc = _translate(qc)
    bad = _outside_export_basis(qc)
    if bad:  # pragma: no cover - the equivalence library rewrites every gate into the basis
        raise RuntimeError(f"the export must use {SAFE_BASIS} (parameters in {sorted(PARAMETERISED_GATES)}); got {bad}")
    phase = qc.global_phase
    if isinstance(phase, ParameterExpression) and not phase.parameters:
        phase = float(phase.numeric())
    if isinstance(phase, ParameterExpression):
        qc.global_phase = 0.0
    else:
        phase = 0.0  # a fixed phase stays in the circuit

    measure = tuple(int(w) for w in (measure or ()))
    if measure:
        creg = ClassicalRegister(len(measure), "meas")
        qc.add_register(creg)
        m = len(measure)
        for r, w in enumerate(measure):
            qc.measure(qubit_of(w, n), creg[m - 1 - r])
    qc.metadata = metadata(qsa_circuit if qsa_circuit is not None else circuit, measure=measure)
    if name is not None:
        qc.name = name

    sources = tuple(_element_source(p) for p in qc.parameters)
    return QiskitTemplate(circuit=qc, lowered=lowered, sources=sources, measure=measure, global_phase=phase)


def projector(qsa_circuit: QSACircuit, index: int | None = None):
    r"""The observable of ``qsa_circuit`` as a ``SparsePauliOp`` on the exported circuit's qubits.

    ``index=None``: the projector on ``zero_wires = 0`` (its expectation is ``mu``, ``zeta``,
    ``nu`` or ``P0`` summed over the index register); ``index=j``: ``|j><j|`` on ``index_wires``
    times that projector (the cell ``P(index = j, zero = 0)``). A projector on ``m`` qubits is
    :math:`\prod_w (I + Z_w)/2`, i.e. ``2^m`` diagonal Pauli terms (one measurement basis).

    Raises:
        ValueError: if ``index`` is not in ``[0, 2^len(index_wires))``.
    """
    from qiskit.quantum_info import SparsePauliOp

    n = qsa_circuit.n_qubits
    wires = list(qsa_circuit.zero_wires)
    signs = [1] * len(wires)
    if index is not None:
        c = len(qsa_circuit.index_wires)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < 2**c:
            raise ValueError(f"index must be an integer in [0, {2**c}); got {index!r}")
        bits = [(int(index) >> (c - 1 - r)) & 1 for r in range(c)]
        wires = list(qsa_circuit.index_wires) + wires
        signs = [1 - 2 * b for b in bits] + signs
    m = len(wires)
    terms = []
    for mask in range(2**m):
        chosen = [r for r in range(m) if mask >> r & 1]
        coefficient = math.prod(signs[r] for r in chosen) / 2**m
        terms.append(("Z" * len(chosen), [qubit_of(wires[r], n) for r in chosen], coefficient))
    return SparsePauliOp.from_sparse_list(terms, num_qubits=n).simplify(atol=0)


# --- round trips ------------------------------------------------------------------------------


def dump_qpy(template: QiskitTemplate | Sequence[QiskitTemplate], file: str | os.PathLike | io.IOBase) -> None:
    """Write the template circuit(s) as QPY (parameter names, registers and metadata survive).

    Bind a circuit read back with :func:`load_qpy` by ``template.values_for(circuit, params)``.
    """
    from qiskit import qpy

    templates = [template] if isinstance(template, QiskitTemplate) else list(template)
    circuits = [t.circuit for t in templates]
    if isinstance(file, (str, os.PathLike)):
        with open(file, "wb") as f:
            qpy.dump(circuits, f)
    else:
        qpy.dump(circuits, file)


def load_qpy(file: str | os.PathLike | io.IOBase) -> list[QuantumCircuit]:
    """The circuits of a QPY file written by :func:`dump_qpy`."""
    from qiskit import qpy

    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as f:
            return list(qpy.load(f))
    return list(qpy.load(file))


_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")


def dumps_qasm3(template: QiskitTemplate) -> Qasm3Export:
    """The template as OpenQASM 3, with a parameter-name map to bind it once reloaded.

    Parameter names such as ``theta_V[0]`` or ``theta_W@1[5]`` are not QASM identifiers; each is
    renamed ``<array>_<flat index>`` with other characters replaced by ``_`` (and a numeric suffix
    in the unlikely case of a clash) before ``qiskit.qasm3.dumps``. Bind the circuit that
    ``qiskit.qasm3.loads`` reads back with ``template.values_for(circuit, params, export.names)``.

    Raises:
        RuntimeError: if Qiskit's exporter renamed a parameter anyway (the map would be wrong).
    """
    from qiskit import qasm3
    from qiskit.circuit import Parameter

    renamed, names, used = {}, {}, set()
    for p in template.circuit.parameters:
        vector, flat = _element_source(p)
        base = f"{_IDENTIFIER.sub('_', vector)}_{flat}"
        new, suffix = base, 0
        while new in used:
            suffix += 1
            new = f"{base}_{suffix}"
        used.add(new)
        renamed[p] = Parameter(new)
        names[new] = str(p.name)
    text = qasm3.dumps(template.circuit.assign_parameters(renamed) if renamed else template.circuit)
    declared = set(re.findall(r"^input\s+float\[64\]\s+([A-Za-z_][A-Za-z0-9_]*)\s*;", text, flags=re.MULTILINE))
    if declared != set(names):
        raise RuntimeError(
            f"the QASM 3 inputs must be the renamed parameters; got {sorted(declared ^ set(names))[:5]} differing"
        )
    return Qasm3Export(text=text, names=names)
