"""A small frozen circuit IR: operations, parameter references, circuits.

One circuit definition serves every backend: builders (``qsa.circuits.builders``) return
:class:`Circuit` values, exporters turn them into PennyLane operations or a Qiskit
``QuantumCircuit``. Nothing here imports torch, PennyLane or Qiskit.

Conventions, stated once:

* **Bit order.** Wire 0 is the most significant bit of every state index, matrix and bitstring
  this package exposes (PennyLane's order). A multi-wire matrix on ``wires = (w0, w1, ...)`` has
  ``w0`` as its most significant bit. The Qiskit exporter is the one place that converts.
* **Angles** are floats or :class:`Param` references ``scale * params[name][index]``, resolved by
  the exporters from a mapping of named arrays (numpy arrays or torch tensors).
* **Phase** ``GlobalPhase(phi)`` multiplies by ``e^{+i phi}``; controlled, it is a phase on the
  control pattern (how the QSA query phases ``e^{i phi_j}`` are written).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from qsa.circuits import _checks

__all__ = [
    "Param",
    "Angle",
    "GateSpec",
    "GATES",
    "Gate",
    "Unitary",
    "Select",
    "StatePrep",
    "Op",
    "OP_KINDS",
    "Register",
    "ParamSpec",
    "Derivation",
    "Circuit",
    "resolve",
    "bits",
]


@dataclass(frozen=True)
class Param:
    """Reference to ``scale * params[name][index]``: a trainable angle, a phase, or a derived angle."""

    name: str
    index: tuple[int, ...] = ()
    scale: float = 1.0

    def __neg__(self) -> Param:
        return replace(self, scale=-self.scale)


Angle = float | Param


def resolve(angle: Angle, params: Mapping[str, Any]) -> Any:
    """The value of ``angle`` given named arrays ``params`` (a float stays a float; tensors flow through).

    ``angle.index`` addresses the array's trailing axes: leading axes are a batch, kept
    (``phi`` of shape ``(B, T)`` gives ``phi[:, j]`` for ``Param("phi", (j,))``).
    """
    if isinstance(angle, Param):
        try:
            array = params[angle.name]
        except KeyError:
            raise KeyError(f"parameter {angle.name!r} must be given; got only {sorted(params)}") from None
        value = array[(Ellipsis, *angle.index)] if angle.index else array
        return value if angle.scale == 1.0 else angle.scale * value
    return angle


class GateSpec(NamedTuple):
    n_wires: int
    n_params: int
    self_inverse: bool


#: Every elementary gate kind, with its number of target wires and angles. Both exporters have an
#: entry for each (tests/circuits/test_exporters.py checks their matrices against each other).
GATES: dict[str, GateSpec] = {
    "H": GateSpec(1, 0, True),
    "X": GateSpec(1, 0, True),
    "Y": GateSpec(1, 0, True),
    "Z": GateSpec(1, 0, True),
    "RX": GateSpec(1, 1, False),
    "RY": GateSpec(1, 1, False),
    "RZ": GateSpec(1, 1, False),
    "PhaseShift": GateSpec(1, 1, False),
    "CNOT": GateSpec(2, 0, True),
    "CZ": GateSpec(2, 0, True),
    "SWAP": GateSpec(2, 0, True),
    "GlobalPhase": GateSpec(0, 1, False),
}


def _check_controls(op: Any, targets: tuple[int, ...]) -> None:
    if len(op.control_values) != len(op.controls):
        raise ValueError(
            f"control_values must have one entry per control wire ({len(op.controls)}); got {op.control_values}"
        )
    if any(v not in (0, 1) for v in op.control_values):
        raise ValueError(f"control_values must be 0 or 1; got {op.control_values}")
    every = targets + op.controls
    if len(set(every)) != len(every):
        raise ValueError(f"an operation's wires must be distinct; got targets {targets}, controls {op.controls}")
    if any((not isinstance(w, int)) or w < 0 for w in every):
        raise ValueError(f"wires must be non-negative integers; got {every}")


@dataclass(frozen=True)
class Gate:
    """An elementary gate from :data:`GATES`, optionally controlled on ``controls == control_values``."""

    name: str
    wires: tuple[int, ...]
    params: tuple[Angle, ...] = ()
    controls: tuple[int, ...] = ()
    control_values: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        spec = GATES.get(self.name)
        if spec is None:
            raise ValueError(f"gate name must be one of {sorted(GATES)}; got {self.name!r}")
        if len(self.wires) != spec.n_wires or len(self.params) != spec.n_params:
            raise ValueError(
                f"gate {self.name} must have {spec.n_wires} wires and {spec.n_params} angles; "
                f"got {len(self.wires)} and {len(self.params)}"
            )
        _check_controls(self, self.wires)

    @property
    def all_wires(self) -> tuple[int, ...]:
        return self.controls + self.wires

    def adjoint(self) -> Gate:
        if GATES[self.name].self_inverse:
            return self
        return replace(self, params=tuple(-p if isinstance(p, Param) else -float(p) for p in self.params))


@dataclass(frozen=True)
class Unitary:
    """The ``(2^m, 2^m)`` matrix ``params[ref]`` on ``wires`` (``dagger``: its adjoint)."""

    ref: str
    wires: tuple[int, ...]
    controls: tuple[int, ...] = ()
    control_values: tuple[int, ...] = ()
    dagger: bool = False

    def __post_init__(self) -> None:
        _check_controls(self, self.wires)

    @property
    def name(self) -> str:
        return "Unitary"

    @property
    def all_wires(self) -> tuple[int, ...]:
        return self.controls + self.wires

    def adjoint(self) -> Unitary:
        return replace(self, dagger=not self.dagger)


@dataclass(frozen=True)
class Select:
    r"""Multiplexed token load: ``|v>|0> -> |v> (x_{rows[v]})`` on ``index_wires`` (+) ``wires``.

    For each value ``v < len(rows)`` of the index register it applies a unitary whose first column
    is the row ``params[ref][rows[v]]`` (a unit vector of length ``2^len(wires)``); values
    ``v >= len(rows)`` are left alone. ``controls`` add plain controls on top. With no index wires
    and ``rows == (i,)`` it is a single (controlled) token load. Which completion of the first
    column is used is the exporter's choice (a Householder reflection for matrix backends, the
    Mottonen rotation tree after :func:`qsa.circuits.lowering.lower`); every QSA observable only
    depends on the first column.
    """

    ref: str
    index_wires: tuple[int, ...]
    wires: tuple[int, ...]
    rows: tuple[int, ...]
    controls: tuple[int, ...] = ()
    control_values: tuple[int, ...] = ()
    dagger: bool = False

    def __post_init__(self) -> None:
        if not self.wires:
            raise ValueError("a Select must act on at least one wire; got none")
        if not 1 <= len(self.rows) <= 2 ** len(self.index_wires):
            raise ValueError(f"rows must have between 1 and 2^{len(self.index_wires)} entries; got {len(self.rows)}")
        _check_controls(self, self.index_wires + self.wires)

    @property
    def name(self) -> str:
        return "Select"

    @property
    def all_wires(self) -> tuple[int, ...]:
        return self.controls + self.index_wires + self.wires

    def adjoint(self) -> Select:
        return replace(self, dagger=not self.dagger)


@dataclass(frozen=True)
class StatePrep:
    """A fixed real unitary whose first column is ``amplitudes`` (non-negative, unit norm) on ``wires``.

    Used for the data-independent index states (triangular, uniform); ``label`` names which.
    """

    amplitudes: tuple[float, ...]
    wires: tuple[int, ...]
    controls: tuple[int, ...] = ()
    control_values: tuple[int, ...] = ()
    dagger: bool = False
    label: str = ""

    def __post_init__(self) -> None:
        if len(self.amplitudes) != 2 ** len(self.wires):
            raise ValueError(
                f"amplitudes must have 2^{len(self.wires)} = {2 ** len(self.wires)} entries; got {len(self.amplitudes)}"
            )
        if any(a < 0 for a in self.amplitudes):
            raise ValueError("amplitudes must be non-negative; got a negative entry")
        norm = math.fsum(a * a for a in self.amplitudes)
        if abs(norm - 1.0) > 1e-12:
            raise ValueError(f"amplitudes must have unit norm; got squared norm {norm!r}")
        _check_controls(self, self.wires)

    @property
    def name(self) -> str:
        return "StatePrep"

    @property
    def all_wires(self) -> tuple[int, ...]:
        return self.controls + self.wires

    def adjoint(self) -> StatePrep:
        return replace(self, dagger=not self.dagger)


Op = Gate | Unitary | Select | StatePrep
OP_KINDS: tuple[type, ...] = (Gate, Unitary, Select, StatePrep)


def label(op: Op) -> str:
    """``count_ops`` key: the op's name, prefixed ``C(...)``/``C<m>(...)`` for ``m`` plain controls."""
    m = len(op.controls)
    if m == 0:
        return op.name
    return f"C({op.name})" if m == 1 else f"C{m}({op.name})"


@dataclass(frozen=True)
class Register:
    name: str
    wires: tuple[int, ...]


@dataclass(frozen=True)
class ParamSpec:
    """A named parameter array a circuit reads: its shape and role.

    ``kind``: ``"data"`` (tokens, targets, matrices: given per evaluation), ``"trainable"``
    (ansatz angles, phases) or ``"derived"`` (computed from data by :class:`Derivation` after lowering).
    """

    name: str
    shape: tuple[int, ...]
    kind: str


@dataclass(frozen=True)
class Derivation:
    """How the derived rotation angles of a lowered :class:`Select` follow from its data array.

    ``table`` lists, for every value of the (extended) index register, the row of ``ref`` loaded
    there or ``-1`` for identity. ``prefix`` names the derived arrays ``<prefix>_ry<m>``,
    ``<prefix>_rz<q>`` and ``<prefix>_gphase``.
    """

    prefix: str
    ref: str
    table: tuple[int, ...]
    n_data: int


def bits(value: int, n: int) -> tuple[int, ...]:
    """The ``n`` bits of ``value``, most significant first."""
    if not 0 <= value < 2**n:
        raise ValueError(f"value must lie in [0, 2^{n}); got {value}")
    return tuple((value >> (n - 1 - r)) & 1 for r in range(n))


@dataclass(frozen=True)
class Circuit:
    """An ordered tuple of operations on ``n_wires`` wires, with named registers and parameter specs."""

    n_wires: int
    ops: tuple[Op, ...] = ()
    registers: tuple[Register, ...] = ()
    params: tuple[ParamSpec, ...] = ()
    derivations: tuple[Derivation, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        _checks.integer(self.n_wires, "n_wires", minimum=0, describe="a non-negative integer")
        for op in self.ops:
            if not isinstance(op, OP_KINDS):
                raise TypeError(f"ops must be Gate, Unitary, Select or StatePrep; got {type(op).__name__}")
            if any(w >= self.n_wires for w in op.all_wires):
                raise ValueError(f"{op.name} acts on wires {op.all_wires}, outside the circuit's {self.n_wires} wires")
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"parameter names must be unique; got {names}")

    # --- lookup -------------------------------------------------------------------------------
    def register(self, name: str) -> tuple[int, ...]:
        for reg in self.registers:
            if reg.name == name:
                return reg.wires
        raise KeyError(f"register name must be one of {[r.name for r in self.registers]}; got {name!r}")

    def param_spec(self, name: str) -> ParamSpec:
        for spec in self.params:
            if spec.name == name:
                return spec
        raise KeyError(f"parameter name must be one of {[p.name for p in self.params]}; got {name!r}")

    # --- composition --------------------------------------------------------------------------
    def compose(self, other: Circuit) -> Circuit:
        """``self`` followed by ``other`` (same wire numbering; registers and specs merged)."""
        regs = {r.name: r for r in self.registers}
        for r in other.registers:
            if r.name in regs and regs[r.name] != r:
                raise ValueError(
                    f"register {r.name!r} must mean the same wires in both circuits; got {regs[r.name]} and {r}"
                )
            regs[r.name] = r
        return Circuit(
            n_wires=max(self.n_wires, other.n_wires),
            ops=self.ops + other.ops,
            registers=tuple(regs.values()),
            params=_merge_specs(self.params, other.params),
            derivations=tuple(dict.fromkeys(self.derivations + other.derivations)),
        )

    def adjoint(self) -> Circuit:
        return replace(self, ops=tuple(op.adjoint() for op in reversed(self.ops)))

    # --- resources ----------------------------------------------------------------------------
    def count_ops(self) -> Counter[str]:
        """Operations by :func:`label` (e.g. ``RY``, ``CNOT``, ``C(RY)``, ``C2(Select)``)."""
        return Counter(label(op) for op in self.ops)

    def depth(self) -> int:
        """Number of layers when each operation occupies all of its wires (targets, index, controls).

        An uncontrolled ``GlobalPhase`` occupies no wire and adds no depth.
        """
        level = [0] * self.n_wires
        for op in self.ops:
            wires = op.all_wires
            if not wires:
                continue
            top = max(level[w] for w in wires) + 1
            for w in wires:
                level[w] = top
        return max(level, default=0)

    @property
    def n_params(self) -> int:
        """Number of trainable scalars (from the ``trainable`` specs)."""
        return sum(math.prod(p.shape) for p in self.params if p.kind == "trainable")


def _merge_specs(a: tuple[ParamSpec, ...], b: tuple[ParamSpec, ...]) -> tuple[ParamSpec, ...]:
    merged = {p.name: p for p in a}
    for p in b:
        if p.name in merged and merged[p.name] != p:
            raise ValueError(f"parameter {p.name!r} must have one shape and kind; got {merged[p.name]} and {p}")
        merged[p.name] = p
    return tuple(merged.values())
