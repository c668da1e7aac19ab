r"""Logical resources of the QSA circuits: qubits, CNOT and single-qubit counts, depths.

A :class:`Shape` names one circuit: its family (``"A-mono"``, ``"A-poly"``: circuit A of
METHOD.md section 4 with the monomial or LCU-polynomial kernel; ``"B"``: circuit B of section 5),
``(T, d, k)``, the ansatz depth ``n_layers`` of ``W`` and ``V`` (the trainable circuit, not
matrices) and the variant (``"mu"``, ``"zeta"``, ``"nu"`` for A; ``"P0"`` for B). Counts follow
the decomposition of :mod:`qsa.resources.decompose`.

Qubits (``c = ceil(log2 T)``, ``n = log2 d``): A ``2c + (k+1) n`` (+ ``k`` for poly), B ``c + (k+1) n``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Literal

from qsa import _validate
from qsa.circuits import QSACircuit, circuit_a, circuit_b, n_index_qubits
from qsa.resources.decompose import SINGLE_QUBIT, TWO_QUBIT, decompose, decomposed_counts, two_qubit_depth

__all__ = ["FAMILIES", "VARIANTS", "DEFAULT_LAYERS", "Shape", "LogicalCounts", "build", "n_qubits", "logical_counts"]

FAMILIES = ("A-mono", "A-poly", "B")
#: Variants of each family: the measured circuit first (the one whose probability sets the shots).
VARIANTS: dict[str, tuple[str, ...]] = {"A-mono": ("mu", "zeta", "nu"), "A-poly": ("mu", "zeta", "nu"), "B": ("P0",)}
#: Ansatz depth of the reference model (METHOD.md section 9).
DEFAULT_LAYERS = 8


@dataclass(frozen=True)
class Shape:
    """One QSA circuit to count: family, ``(T, d, k)``, ansatz depth, variant, query phases.

    ``variant=None`` picks the family's measured circuit (``"mu"`` for A, ``"P0"`` for B).
    ``phases`` adds the trainable query phases (only the ``mu`` and ``P0`` circuits carry them).
    """

    family: Literal["A-mono", "A-poly", "B"]
    T: int
    d: int
    k: int = 1
    n_layers: int = DEFAULT_LAYERS
    variant: str | None = None
    phases: bool = True

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}; got {self.family!r}")
        _validate.integer(self.T, "T", minimum=1)
        _validate.power_of_two(self.d, "d")
        _validate.integer(self.k, "k", minimum=1)
        _validate.integer(self.n_layers, "n_layers", minimum=1)
        if self.variant is None:
            object.__setattr__(self, "variant", VARIANTS[self.family][0])
        if self.variant not in VARIANTS[self.family]:
            raise ValueError(
                f"variant must be one of {VARIANTS[self.family]} for family {self.family}; got {self.variant!r}"
            )
        if not isinstance(self.phases, bool):
            raise TypeError(f"phases must be a bool; got {self.phases!r}")

    def as_dict(self) -> dict:
        return asdict(self)


def build(shape: Shape) -> QSACircuit:
    """The circuit ``shape`` names, with ``W`` and ``V`` as ``n_layers``-layer ansatz."""
    L = shape.n_layers
    if shape.family == "B":
        return circuit_b(shape.T, shape.d, shape.k, w_layers=L, v_layers=L, phases=shape.phases)
    kernel = "mono" if shape.family == "A-mono" else "poly"
    phases = shape.phases and shape.variant == "mu"
    return circuit_a(
        shape.T, shape.d, shape.k, kernel=kernel, variant=shape.variant, w_layers=L, v_layers=L, phases=phases
    )


def n_qubits(shape: Shape) -> int:
    """Qubits of the circuit (formula of the module docstring; the tests check it against :func:`build`)."""
    c, n = n_index_qubits(shape.T), shape.d.bit_length() - 1
    if shape.family == "B":
        return c + (shape.k + 1) * n
    return 2 * c + (shape.k + 1) * n + (shape.k if shape.family == "A-poly" else 0)


@dataclass(frozen=True)
class LogicalCounts:
    """Gate counts of a circuit decomposed to CNOT + single-qubit gates.

    Attributes:
        shape: the circuit.
        prune: whether vanishing rotations of the fixed index states were dropped.
        n_qubits: width.
        cnot: CNOTs (the only two-qubit gate of the decomposition).
        single_qubit: single-qubit gates (global phases are free and not counted).
        by_name: every gate name and its count.
        depth: circuit depth (every gate one layer), or ``None`` if not computed.
        two_qubit_depth: layers of CNOTs, or ``None`` if not computed.
    """

    shape: Shape
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


def logical_counts(shape: Shape, *, prune: bool = True, depth: bool = False) -> LogicalCounts:
    """Counts of ``shape``'s circuit after :func:`qsa.resources.decompose.decompose`.

    Gate counts come from the exact per-op formulas (no gate list is built, so millions of gates
    cost milliseconds); ``depth=True`` builds the decomposed circuit to measure its depths.
    """
    if not isinstance(shape, Shape):
        raise TypeError(f"shape must be a Shape; got {type(shape).__name__}")
    circuit = build(shape).circuit
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
        prune=prune,
        n_qubits=circuit.n_wires,
        cnot=sum(v for g, v in counts.items() if g in TWO_QUBIT),
        single_qubit=sum(v for g, v in counts.items() if g in SINGLE_QUBIT),
        by_name=dict(sorted(counts.items())),
        depth=full_depth,
        two_qubit_depth=cx_depth,
    )
