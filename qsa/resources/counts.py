r"""Logical resources of the QSA circuits: qubits, CNOT and single-qubit counts, depths.

A circuit to count is a :class:`~qsa.circuits.Shape` (circuit A with the mono or poly kernel, or
circuit B; ``(T, d, k)``; the ansatz depths of ``W`` and ``V``, the trainable circuit rather than
matrices; the query phases) and one of its variants (``"mu"``, ``"zeta"``, ``"nu"`` for A;
``"P0"`` for B; default the measured one). :func:`shape` makes one from the gate-count study's
circuit labels (``"A-mono"``, ``"A-poly"``, ``"B"``). Counts follow the decomposition of
:mod:`qsa.circuits.decompose`.

Qubits (``c = ceil(log2 T)``, ``n = log2 d``): A ``2c + (k+1) n`` (+ ``k`` for poly), B ``c + (k+1) n``
(:attr:`qsa.circuits.Shape.n_wires`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from qsa.circuits import LABELS, Shape
from qsa.circuits._checks import one_of
from qsa.circuits.decompose import SINGLE_QUBIT, TWO_QUBIT, decompose, decomposed_counts, two_qubit_depth

__all__ = ["LABELS", "DEFAULT_LAYERS", "LogicalCounts", "shape", "logical_counts"]

#: Ansatz depth of the reference model (arXiv 2602.06699, the TFIM reference task).
DEFAULT_LAYERS = 8


def shape(label: str, T: int, d: int, k: int = 1, *, n_layers: int = DEFAULT_LAYERS, phases: bool = True) -> Shape:
    """The :class:`~qsa.circuits.Shape` the gate-count study calls ``label`` (``"A-mono"``, ``"A-poly"``, ``"B"``).

    ``W`` and ``V`` are ``n_layers``-layer ansatz circuits; ``phases`` adds the trainable query
    phases (only the ``mu`` and ``P0`` circuits carry them).

    Raises:
        ValueError, TypeError: for a label or size out of its domain.
    """
    one_of(label, "circuit", LABELS)
    circuit, kernel = ("B", "mono") if label == "B" else ("A", label[2:])
    return Shape(circuit, T, d, k, kernel, None, n_layers, n_layers, phases)


@dataclass(frozen=True)
class LogicalCounts:
    """Gate counts of a circuit decomposed to CNOT + single-qubit gates.

    Attributes:
        shape: the circuit's shape; variant: which of its circuits was counted.
        prune: whether vanishing rotations of the fixed index states were dropped.
        n_qubits: width.
        cnot: CNOTs (the only two-qubit gate of the decomposition).
        single_qubit: single-qubit gates (global phases are free and not counted).
        by_name: every gate name and its count.
        depth: circuit depth (every gate one layer), or ``None`` if not computed.
        two_qubit_depth: layers of CNOTs, or ``None`` if not computed.
    """

    shape: Shape
    variant: str
    prune: bool
    n_qubits: int
    cnot: int
    single_qubit: int
    by_name: dict = field(default_factory=dict)
    depth: int | None = None
    two_qubit_depth: int | None = None

    @property
    def total(self) -> int:
        return self.cnot + self.single_qubit


def logical_counts(
    shape: Shape, *, variant: str | None = None, prune: bool = True, depth: bool = False
) -> LogicalCounts:
    """Counts of ``shape``'s ``variant`` circuit (default: the measured one) after :func:`qsa.circuits.decompose.decompose`.

    Gate counts come from the exact per-op formulas (no gate list is built, so millions of gates
    cost milliseconds); ``depth=True`` builds the decomposed circuit to measure its depths.
    """
    if not isinstance(shape, Shape):
        raise TypeError(f"shape must be a Shape; got {type(shape).__name__}")
    qc = shape.build(variant)
    circuit = qc.circuit
    counts: Counter = decomposed_counts(circuit, prune=prune)
    unknown = set(counts) - SINGLE_QUBIT - TWO_QUBIT
    if unknown:  # pragma: no cover - decompose() emits only these
        raise RuntimeError(f"decomposition left gates {sorted(unknown)}")
    full_depth = cx_depth = None
    if depth:
        decomposed = decompose(circuit, prune=prune).circuit
        full_depth, cx_depth = decomposed.depth(), two_qubit_depth(decomposed)
    return LogicalCounts(
        shape=shape,
        variant=qc.variant,
        prune=prune,
        n_qubits=circuit.n_wires,
        cnot=sum(v for g, v in counts.items() if g in TWO_QUBIT),
        single_qubit=sum(v for g, v in counts.items() if g in SINGLE_QUBIT),
        by_name=dict(sorted(counts.items())),
        depth=full_depth,
        two_qubit_depth=cx_depth,
    )
