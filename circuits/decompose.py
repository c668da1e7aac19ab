r"""Decomposition of a QSA circuit to CNOT + single-qubit gates, and its exact gate counts.

:func:`decompose` is the *logical* decomposition every count in :mod:`qsa.resources` refers to:

1. **State loads and index states** (``Select``, ``StatePrep``): :func:`qsa.circuits.lowering.lower`,
   i.e. Mottonen uniformly controlled rotations with Gray-code CNOTs. A rotation uniformly
   controlled by ``m`` qubits costs ``2^m`` rotations and ``2^m`` CNOTs (none for ``m = 0``).
   A ``Select`` with ``K`` control + index qubits and ``n`` data qubits costs
   ``2^K (2^n - 1)`` RY, ``2^(K+n) - 1`` RZ and ``sum_{m<n, K+m>=1} 2^(K+m) + 2^(K+n) - 2``
   CNOTs; a ``StatePrep`` on ``n`` qubits (``K`` controls) the RY part only. Plain controls are
   folded into the multiplexer (a controlled load costs as much as one with an extra index bit).
   The preparation is *generic*: no structure of the triangular or uniform index state is used,
   so the triangular state on ``2c`` qubits costs ``2^(2c) - 2`` CNOTs, ``O(T^2)``.
   With ``prune=True`` (the default) the rotations of these *fixed* index states whose angle
   vanishes (``|theta| <= 1e-12``; the smallest non-zero one for ``T <= 64`` is ``7e-6``) are
   dropped and the Gray-code CNOTs between two kept rotations merged into the parity change
   between them (CNOTs onto one target commute): the rotation ``j`` of the Gray-code circuit
   sees the target XORed with the controls of the bits of ``g_j = j ^ (j >> 1)``, so going from
   kept rotation ``j`` to kept rotation ``j'`` takes ``popcount(g_j ^ g_j')`` CNOTs. This is what
   an optimising compiler finds by commutation (Qiskit's level 2 does), and it makes the
   triangular state far cheaper than ``O(T^2)`` for ``T`` a power of two. Data-dependent
   rotations (token loads, ansatz, phases) are never pruned: the counts hold for generic data.
2. **Singly controlled gates** (the poly kernel's controlled ansatz copies and LCU cascade), by
   fixed textbook circuits (Nielsen & Chuang section 4.3; Barenco et al. 1995):

   ================ ======== ====================================================
   gate             CNOTs    single-qubit gates
   ================ ======== ====================================================
   C-RY, C-RZ       2        2 (``R(t/2) CX R(-t/2) CX``)
   C-RX             2        4 (C-RY conjugated by ``RZ(+-pi/2)``)
   C-Phase          2        3
   C-X              1        0
   C-Y, C-Z         1        2
   C-CNOT (Toffoli) 6        9 (2 H and 7 T/T-dagger as ``PhaseShift(+-pi/4)``)
   ================ ======== ====================================================

   A control on value 0 adds two X gates.
3. **Multi-controlled phases** (the query phases ``e^{i phi_j}`` on ``C1 = |j>``): a run of
   consecutive phases on one control register of ``c`` qubits is one diagonal unitary,
   decomposed as uniformly controlled RZ rotations (Bullock & Markov 2004; Mottonen's diagonal):
   ``2^c - 1`` RZ and ``2^c - 2`` CNOTs for the whole run, plus a global phase, instead of
   ``T`` separate ancilla-free multi-controlled phases (``O(c^2)`` CNOTs each at best).

Global phases cost nothing and are not counted. ``Unitary`` ops (``W``, ``V`` given as matrices)
are refused: the counts are of the trainable circuit, with ``W`` and ``V`` as ansatz.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from qsa.circuits.ir import Angle, Circuit, Gate, Param, ParamSpec, Select, StatePrep, Unitary, resolve
from qsa.circuits.lowering import derive as derive_loads
from qsa.circuits.lowering import gray_code_angles, lower, stateprep_rotations, uniformly_controlled

__all__ = [
    "PRUNE_ATOL",
    "SINGLE_QUBIT",
    "TWO_QUBIT",
    "CONTROLLED_COST",
    "DiagonalPhase",
    "Decomposition",
    "decompose",
    "decomposed_counts",
    "select_counts",
    "stateprep_counts",
    "diagonal_counts",
    "two_qubit_depth",
]

#: Gate names of a decomposed circuit, by arity (``GlobalPhase`` is neither: it is free).
SINGLE_QUBIT = frozenset({"H", "X", "Y", "Z", "RX", "RY", "RZ", "PhaseShift"})
TWO_QUBIT = frozenset({"CNOT"})

#: (CNOTs, single-qubit gates) of each singly controlled gate, control on value 1.
CONTROLLED_COST: dict[str, tuple[int, int]] = {
    "RY": (2, 2),
    "RZ": (2, 2),
    "RX": (2, 4),
    "PhaseShift": (2, 3),
    "X": (1, 0),
    "Y": (1, 2),
    "Z": (1, 2),
    "CNOT": (6, 9),
}

_QUARTER = math.pi / 4

#: Rotations of fixed index states with ``|theta|`` at most this are dropped when pruning.
PRUNE_ATOL = 1e-12


def _pruned_rotation(axis: str, target: int, controls: tuple[int, ...], thetas: np.ndarray) -> list[Gate]:
    """The Gray-code uniformly controlled rotation without its vanishing rotations (parity merging)."""
    m = len(controls)
    kept = [j for j in range(2**m) if abs(thetas[j]) > PRUNE_ATOL]
    ops: list[Gate] = []

    def parity(change: int) -> None:
        for b in range(m):  # bit b of a Gray code word <-> controls[m - 1 - b] (as in uniformly_controlled)
            if change >> b & 1:
                ops.append(Gate("CNOT", (controls[m - 1 - b], target)))

    previous = 0
    for j in kept:
        g = j ^ (j >> 1)
        parity(previous ^ g)
        ops.append(Gate(axis, (target,), (float(thetas[j]),)))
        previous = g
    parity(previous)
    return ops


def _pruned_stateprep(op: StatePrep) -> list[Gate]:
    """:func:`lower`'s rotation tree of a fixed ``StatePrep`` with vanishing rotations pruned."""
    ops: list[Gate] = []
    for target, controls, thetas in stateprep_rotations(op):
        ops += _pruned_rotation("RY", target, controls, thetas)
    if op.dagger:
        ops = [g.adjoint() for g in reversed(ops)]
    return ops


def _scaled(angle: Angle, factor: float) -> Angle:
    if isinstance(angle, Param):
        return replace(angle, scale=angle.scale * factor)
    return float(angle) * factor


def _controlled_gate(op: Gate) -> list[Gate]:
    """CNOT + single-qubit circuit of a gate with exactly one control (see the module table)."""
    (c,) = op.controls
    name = op.name
    if name not in CONTROLLED_COST:
        raise ValueError(f"a controlled gate must be one of {sorted(CONTROLLED_COST)}; got C({name})")
    ops: list[Gate] = []
    if name in ("RY", "RZ"):
        (t,) = op.wires
        (theta,) = op.params
        ops = [
            Gate(name, (t,), (_scaled(theta, 0.5),)),
            Gate("CNOT", (c, t)),
            Gate(name, (t,), (_scaled(theta, -0.5),)),
            Gate("CNOT", (c, t)),
        ]
    elif name == "RX":  # RX(t) = S^dag RY(t) S, and RZ(-pi/2) (.) RZ(pi/2) = S^dag (.) S exactly
        (t,) = op.wires
        (theta,) = op.params
        ops = [
            Gate("RZ", (t,), (math.pi / 2,)),
            Gate("RY", (t,), (_scaled(theta, 0.5),)),
            Gate("CNOT", (c, t)),
            Gate("RY", (t,), (_scaled(theta, -0.5),)),
            Gate("CNOT", (c, t)),
            Gate("RZ", (t,), (-math.pi / 2,)),
        ]
    elif name == "PhaseShift":
        (t,) = op.wires
        (phi,) = op.params
        ops = [
            Gate("PhaseShift", (c,), (_scaled(phi, 0.5),)),
            Gate("CNOT", (c, t)),
            Gate("PhaseShift", (t,), (_scaled(phi, -0.5),)),
            Gate("CNOT", (c, t)),
            Gate("PhaseShift", (t,), (_scaled(phi, 0.5),)),
        ]
    elif name == "X":
        ops = [Gate("CNOT", (c, op.wires[0]))]
    elif name == "Y":  # Y = S X S^dag
        (t,) = op.wires
        ops = [
            Gate("PhaseShift", (t,), (-math.pi / 2,)),
            Gate("CNOT", (c, t)),
            Gate("PhaseShift", (t,), (math.pi / 2,)),
        ]
    elif name == "Z":
        (t,) = op.wires
        ops = [Gate("H", (t,)), Gate("CNOT", (c, t)), Gate("H", (t,))]
    else:  # Toffoli on controls (c, a), target t: Nielsen & Chuang Fig. 4.9
        a, t = op.wires
        T_, Tdg = (_QUARTER,), (-_QUARTER,)
        ops = [
            Gate("H", (t,)),
            Gate("CNOT", (a, t)),
            Gate("PhaseShift", (t,), Tdg),
            Gate("CNOT", (c, t)),
            Gate("PhaseShift", (t,), T_),
            Gate("CNOT", (a, t)),
            Gate("PhaseShift", (t,), Tdg),
            Gate("CNOT", (c, t)),
            Gate("PhaseShift", (a,), T_),
            Gate("PhaseShift", (t,), T_),
            Gate("H", (t,)),
            Gate("CNOT", (c, a)),
            Gate("PhaseShift", (c,), T_),
            Gate("PhaseShift", (a,), Tdg),
            Gate("CNOT", (c, a)),
        ]
    if op.control_values == (0,):
        ops = [Gate("X", (c,)), *ops, Gate("X", (c,))]
    return ops


def _uncontrolled_gate(op: Gate) -> list[Gate]:
    if op.name == "CZ":
        a, t = op.wires
        return [Gate("H", (t,)), Gate("CNOT", (a, t)), Gate("H", (t,))]
    if op.name == "SWAP":
        a, b = op.wires
        return [Gate("CNOT", (a, b)), Gate("CNOT", (b, a)), Gate("CNOT", (a, b))]
    return [op]


@dataclass(frozen=True)
class DiagonalPhase:
    """A run of controlled phases on one register, decomposed as one diagonal unitary.

    ``terms`` lists ``(value, angle)``: phase ``e^{i angle}`` on register value ``value`` (wire 0 of
    ``wires`` most significant). The decomposed gates read the derived arrays
    ``<prefix>_rz<q>`` (``q < len(wires)``) and ``<prefix>_gphase``.
    """

    prefix: str
    wires: tuple[int, ...]
    terms: tuple[tuple[int, Angle], ...]

    def angles(self, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """The derived arrays for the phases resolved from ``params`` (numpy, float64)."""
        c = len(self.wires)
        omega = np.zeros(2**c)
        for value, angle in self.terms:
            a = resolve(angle, params)
            omega[value] += float(a.detach().cpu().numpy() if hasattr(a, "detach") else a)
        out: dict[str, np.ndarray] = {}
        for q in range(c - 1, -1, -1):  # RZ on wire q, uniformly controlled by the wires before it
            pairs = omega.reshape(2**q, 2)
            out[f"{self.prefix}_rz{q}"] = gray_code_angles(pairs[:, 1] - pairs[:, 0])
            omega = pairs.mean(axis=1)
        out[f"{self.prefix}_gphase"] = np.array(omega[0])
        return out

    def gates(self) -> list[Gate]:
        ops: list[Gate] = []
        for q in range(len(self.wires)):
            name = f"{self.prefix}_rz{q}"
            ops += uniformly_controlled("RZ", self.wires[q], self.wires[:q], [Param(name, (j,)) for j in range(2**q)])
        ops.append(Gate("GlobalPhase", (), (Param(f"{self.prefix}_gphase"),)))
        return ops

    def specs(self) -> list[ParamSpec]:
        c = len(self.wires)
        return [ParamSpec(f"{self.prefix}_rz{q}", (2**q,), "derived") for q in range(c)] + [
            ParamSpec(f"{self.prefix}_gphase", (), "derived")
        ]


@dataclass(frozen=True)
class Decomposition:
    """A circuit of CNOTs and single-qubit gates (plus free global phases) and how to fill its angles.

    Attributes:
        circuit: the decomposed circuit (``Gate`` ops only; none controlled).
        diagonals: the grouped query-phase runs, whose RZ angles derive from the phases.
    """

    circuit: Circuit
    diagonals: tuple[DiagonalPhase, ...]

    def derive(self, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Every derived angle array (token loads and phase diagonals) from the named data arrays."""
        out = derive_loads(self.circuit, params)
        for diag in self.diagonals:
            out.update(diag.angles(params))
        return out

    def count_ops(self) -> Counter[str]:
        """Gates by name, global phases left out (they cost nothing)."""
        counts = self.circuit.count_ops()
        counts.pop("GlobalPhase", None)
        return counts


def _is_controlled_phase(op: Any) -> bool:
    return isinstance(op, Gate) and op.name == "GlobalPhase" and bool(op.controls)


def _phase_runs(ops: tuple[Any, ...]) -> list[tuple[str, Any]]:
    """``("op", op)`` or ``("diag", [ops])`` items: consecutive controlled phases on one register grouped."""
    items: list[tuple[str, Any]] = []
    for op in ops:
        if _is_controlled_phase(op):
            if items and items[-1][0] == "diag" and items[-1][1][0].controls == op.controls:
                items[-1][1].append(op)
            else:
                items.append(("diag", [op]))
        else:
            items.append(("op", op))
    return items


def _check_decomposable(circuit: Circuit) -> None:
    for op in circuit.ops:
        if isinstance(op, Unitary):
            raise ValueError(
                f"circuit must have W and V as ansatz (w_layers, v_layers) to be counted; got a Unitary op on {op.ref!r}"
            )
        if isinstance(op, Gate) and not _is_controlled_phase(op) and len(op.controls) > 1:
            raise ValueError(f"a controlled gate must have at most one control; got {len(op.controls)} on {op.name}")


def decompose(circuit: Circuit, *, prune: bool = True) -> Decomposition:
    """``circuit`` as CNOT + single-qubit gates: :func:`lower`, then the controlled gates (module docstring).

    Args:
        circuit: an IR circuit with ``W`` and ``V`` as ansatz (no ``Unitary`` ops).
        prune: drop the vanishing rotations of the fixed index states (module docstring).

    Raises:
        ValueError: for a ``Unitary`` op, or a gate other than a phase with more than one control.
    """
    _check_decomposable(circuit)
    if prune:
        ops_in: list[Any] = []
        for op in circuit.ops:
            ops_in += _pruned_stateprep(op) if isinstance(op, StatePrep) else [op]
        circuit = replace(circuit, ops=tuple(ops_in))
    lowered = lower(circuit)
    ops: list[Gate] = []
    diagonals: list[DiagonalPhase] = []
    for kind, item in _phase_runs(lowered.ops):
        if kind == "diag":
            prefix = f"qphase{len(diagonals)}"
            diag = DiagonalPhase(
                prefix,
                item[0].controls,
                tuple(
                    (sum(v << (len(op.control_values) - 1 - r) for r, v in enumerate(op.control_values)), op.params[0])
                    for op in item
                ),
            )
            diagonals.append(diag)
            ops += diag.gates()
        elif item.controls:
            ops += _controlled_gate(item)
        else:
            ops += _uncontrolled_gate(item)
    specs = list(lowered.params) + [s for diag in diagonals for s in diag.specs()]
    return Decomposition(replace(lowered, ops=tuple(ops), params=tuple(specs)), tuple(diagonals))


# --- counts without building ----------------------------------------------------------------------


def _rotation_tree(K: int, n: int) -> tuple[int, int]:
    """(RY, CNOT) of the Mottonen RY tree: level ``m < n`` uniformly controlled by ``K + m`` qubits."""
    ry = sum(2 ** (K + m) for m in range(n))
    cx = sum(2 ** (K + m) for m in range(n) if K + m >= 1)
    return ry, cx


def select_counts(n_controls: int, n_wires: int) -> Counter[str]:
    """Gates of a lowered ``Select`` with ``n_controls`` control + index qubits on ``n_wires`` data qubits."""
    ry, cx = _rotation_tree(n_controls, n_wires)
    total = n_controls + n_wires
    return Counter({"RY": ry, "RZ": 2**total - 1, "CNOT": cx + 2**total - 2})


def stateprep_counts(n_controls: int, n_wires: int) -> Counter[str]:
    """Gates of a lowered (real) ``StatePrep`` on ``n_wires`` qubits with ``n_controls`` controls."""
    ry, cx = _rotation_tree(n_controls, n_wires)
    return Counter({"RY": ry, "CNOT": cx})


def diagonal_counts(n_wires: int) -> Counter[str]:
    """Gates of a diagonal unitary on ``n_wires`` qubits (one run of query phases)."""
    return Counter({"RZ": 2**n_wires - 1, "CNOT": 2**n_wires - 2})


def _gate_counts(op: Gate) -> Counter[str]:
    if op.name == "GlobalPhase":
        return Counter()
    if not op.controls:
        return Counter({"H": 2, "CNOT": 1} if op.name == "CZ" else {"CNOT": 3} if op.name == "SWAP" else {op.name: 1})
    return Counter(g.name for g in _controlled_gate(op))


def decomposed_counts(circuit: Circuit, *, prune: bool = True) -> Counter[str]:
    """``decompose(circuit, prune=prune).count_ops()`` computed op by op, without building it.

    Loads and controlled gates by the formulas above, pruned index states from their angles.
    Exact (the tests check it against the built decomposition); fast for millions of gates.
    """
    _check_decomposable(circuit)
    total: Counter[str] = Counter()
    cache: dict[tuple[Any, ...], Counter[str]] = {}
    for kind, item in _phase_runs(circuit.ops):
        if kind == "diag":
            total += diagonal_counts(len(item[0].controls))
            continue
        op = item
        if isinstance(op, Select):
            key: tuple[Any, ...] = ("S", len(op.controls) + len(op.index_wires), len(op.wires))
            counts = cache.get(key) or cache.setdefault(key, select_counts(key[1], key[2]))
        elif isinstance(op, StatePrep) and prune:
            key = ("p", op.amplitudes, op.controls, op.control_values, op.wires)
            if key not in cache:
                cache[key] = Counter(g.name for g in _pruned_stateprep(op))
            counts = cache[key]
        elif isinstance(op, StatePrep):
            key = ("P", len(op.controls), len(op.wires))
            counts = cache.get(key) or cache.setdefault(key, stateprep_counts(*key[1:]))
        else:
            counts = _gate_counts(op)
        total += counts
    return +total


def two_qubit_depth(circuit: Circuit) -> int:
    """Layers of two-qubit gates (single-qubit gates and global phases ignored) of a decomposed circuit."""
    level = [0] * circuit.n_wires
    for op in circuit.ops:
        wires = op.all_wires
        if len(wires) < 2:
            continue
        top = max(level[w] for w in wires) + 1
        for w in wires:
            level[w] = top
    return max(level, default=0)
