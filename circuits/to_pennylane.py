r"""Export a :class:`~qsa.circuits.ir.Circuit` to PennyLane: apply its operations inside a QNode.

Parameters are resolved from a mapping of named arrays; torch tensors flow through untouched
(``qml.math`` dispatches), so gradients reach ansatz angles, phases and (through the Householder
completion of state loads) the token embeddings.

Wire ``w`` of the IR is PennyLane wire ``w``; both put wire 0 first (most significant).

Token loads (``Select``) and index states (``StatePrep``) are applied as matrices: the unitary
whose first column is ``x`` is the Householder completion

.. math::

    U(x) = e^{i\alpha}\,\Bigl(I - \frac{2\,w w^\dagger}{\|w\|^2}\Bigr),\quad
    e^{i\alpha} = \frac{x_0}{|x_0|},\quad w = e_0 - e^{-i\alpha} x ,

and a multiplexed load is either the block-diagonal matrix of these completions on index and
data wires (identity on idle index values; ``select="matrix"``, fastest on ``default.qubit``) or
one completion per index value controlled on that value (``select="controlled"``, fastest on
``lightning.qubit``, and without the ``(2^c d)^2`` matrix). With ``lowered=True`` the circuit is first lowered to CNOT + RY/RZ
(:func:`qsa.circuits.lowering.lower`) and applied gate by gate, exactly as the Qiskit exporter does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pennylane as qml

from qsa.circuits.ir import Circuit, Gate, Select, StatePrep, Unitary, resolve
from qsa.circuits.linalg import householder
from qsa.circuits.lowering import derive, lower

__all__ = ["apply", "householder", "select_matrix", "matrix", "GATE_MAP", "SELECT_MODES"]

#: IR gate name -> PennyLane operation (GlobalPhase is handled separately: sign conventions differ).
GATE_MAP: dict[str, Callable[..., qml.operation.Operator]] = {
    "H": qml.Hadamard,
    "X": qml.PauliX,
    "Y": qml.PauliY,
    "Z": qml.PauliZ,
    "RX": qml.RX,
    "RY": qml.RY,
    "RZ": qml.RZ,
    "PhaseShift": qml.PhaseShift,
    "CNOT": qml.CNOT,
    "CZ": qml.CZ,
    "SWAP": qml.SWAP,
}


def select_matrix(op: Select, params: Mapping[str, Any]) -> Any:
    """The block-diagonal matrix of ``op`` on ``index_wires + wires`` (plain controls not included)."""
    data = params[op.ref]
    rows = list(op.rows)
    blocks = householder(data[rows])  # (len(rows), d, d)
    d = 2 ** len(op.wires)
    n_idle = 2 ** len(op.index_wires) - len(rows)
    pieces = [blocks[r] for r in range(len(rows))]
    if n_idle:
        eye = qml.math.cast_like(qml.math.eye(d * n_idle, like=qml.math.get_interface(data)), blocks)
        pieces.append(eye)
    M = qml.math.block_diag(pieces) if len(pieces) > 1 else pieces[0]
    return _dag(M) if op.dagger else M


def _apply_select_controlled(op: Select, params: Mapping[str, Any]) -> None:
    blocks = householder(params[op.ref][list(op.rows)])  # (len(rows), d, d)
    c = len(op.index_wires)
    for v in range(len(op.rows)):
        U = _dag(blocks[v]) if op.dagger else blocks[v]
        values = op.control_values + tuple((v >> (c - 1 - r)) & 1 for r in range(c))
        _controlled(functools.partial(qml.QubitUnitary, U, wires=list(op.wires)), op.controls + op.index_wires, values)


def _dag(M: Any) -> Any:
    return qml.math.conj(qml.math.transpose(M))


def _controlled(make: Callable[[], Any], controls: tuple[int, ...], values: tuple[int, ...]) -> None:
    if controls:
        qml.ctrl(make, control=list(controls), control_values=list(values))()
    else:
        make()


def _apply_gate(op: Gate, params: Mapping[str, Any]) -> None:
    angles = [resolve(a, params) for a in op.params]
    if op.name == "GlobalPhase":
        (phi,) = angles
        if not op.controls:
            qml.GlobalPhase(-phi)  # PennyLane's GlobalPhase(phi) is e^{-i phi}; ours is e^{+i phi}
            return
        # e^{i phi} on the control pattern: a phase shift on the last control, controlled by the rest.
        target, value = op.controls[-1], op.control_values[-1]
        if value == 0:
            qml.PauliX(target)
        _controlled(lambda: qml.PhaseShift(phi, wires=target), op.controls[:-1], op.control_values[:-1])
        if value == 0:
            qml.PauliX(target)
        return
    gate = GATE_MAP[op.name]
    _controlled(lambda: gate(*angles, wires=list(op.wires)), op.controls, op.control_values)


SELECT_MODES = ("matrix", "controlled")


def apply(circuit: Circuit, params: Mapping[str, Any], *, lowered: bool = False, select: str = "matrix") -> None:
    """Queue ``circuit``'s operations in the active QNode (or tape), resolving ``params`` by name.

    Args:
        circuit: the IR circuit.
        params: named arrays: data (``x``, ``y``, matrices ``W``, ``V``), trainable angles, phases.
        lowered: apply the CNOT + RY/RZ lowering (derived angles computed here, in numpy: no
            gradient reaches the data through them) instead of load matrices.
        select: how a multiplexed load is applied, ``"matrix"`` or ``"controlled"`` (same unitary).
    """
    if select not in SELECT_MODES:
        raise ValueError(f"select must be one of {SELECT_MODES}; got {select!r}")
    if lowered:
        circuit = lower(circuit)
        params = {**params, **derive(circuit, params)}
    for op in circuit.ops:
        if isinstance(op, Gate):
            _apply_gate(op, params)
        elif isinstance(op, Unitary):
            M = params[op.ref]
            M = _dag(M) if op.dagger else M
            _controlled(functools.partial(qml.QubitUnitary, M, wires=list(op.wires)), op.controls, op.control_values)
        elif isinstance(op, Select) and select == "controlled":
            _apply_select_controlled(op, params)
        elif isinstance(op, Select):
            M = select_matrix(op, params)
            wires = list(op.index_wires + op.wires)
            _controlled(functools.partial(qml.QubitUnitary, M, wires=wires), op.controls, op.control_values)
        elif isinstance(op, StatePrep):
            U = householder(np.asarray(op.amplitudes, dtype=np.float64))
            U = U.T if op.dagger else U  # real
            _controlled(functools.partial(qml.QubitUnitary, U, wires=list(op.wires)), op.controls, op.control_values)
        else:  # pragma: no cover - Circuit validates op kinds
            raise TypeError(f"op must be an IR operation; got {type(op).__name__}")


def matrix(circuit: Circuit, params: Mapping[str, Any], *, lowered: bool = False, select: str = "matrix") -> Any:
    """The full ``(2^n, 2^n)`` unitary of ``circuit`` (wire 0 most significant), via ``qml.matrix``."""

    def body() -> None:
        apply(circuit, params, lowered=lowered, select=select)

    return qml.matrix(body, wire_order=list(range(circuit.n_wires)))()
