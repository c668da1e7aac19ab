r"""Export a :class:`~qsa.circuits.ir.Circuit` to PennyLane: apply its operations inside a QNode.

Parameters are resolved from a mapping of named arrays; torch tensors flow through untouched
(``qml.math`` dispatches), so gradients reach ansatz angles, phases and (through the Householder
completion of state loads) the token embeddings.

Wire ``w`` of the IR is PennyLane wire ``w``; both put wire 0 first (most significant).

**Named operations.** Token loads, index states and the LCU register are PennyLane operations of
their own, so ``qml.draw`` reads as the circuit and ``qml.specs`` counts them by kind:
:class:`TokenLoad` (one token; ``Load(x)``), :class:`IndexedLoad` (a multiplexed load over an
index register; ``Load(x)`` across index and data wires, ``Load(y)†`` for an un-load),
:class:`IndexState` (the triangular / uniform index states; ``Triangular``, ``Uniform†``) and
:class:`LCURegister` (the poly kernel's unary register; ``LCU``, ``LCU†``). Each has a matrix
(what ``default.qubit`` applies) and a decomposition (what devices without it apply: a
``QubitUnitary``, controlled token loads, or the register's RY/CRY gates). :func:`draw` prints a
QSA circuit with its register names as wire labels.

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

**Broadcasting.** Every array may carry leading batch axes (tokens ``x`` of shape ``(B, T, d)``,
phases ``(B, T)``, ...; the trailing axes are the parameter's own): the loads and gates are then
PennyLane-broadcast operations and one QNode call evaluates the whole batch (not with ``lowered=True``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pennylane as qml
from pennylane.operation import Operation

from qsa.circuits.ir import Circuit, Gate, Select, StatePrep, Unitary, bits, resolve
from qsa.circuits.linalg import householder
from qsa.circuits.lowering import derive, lower

__all__ = [
    "apply",
    "householder",
    "select_matrix",
    "matrix",
    "draw",
    "wire_labels",
    "GATE_MAP",
    "SELECT_MODES",
    "TokenLoad",
    "IndexedLoad",
    "IndexState",
    "LCURegister",
]

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

SELECT_MODES = ("matrix", "controlled")


def _dag(M: Any) -> Any:
    return qml.math.conj(qml.math.swapaxes(M, -1, -2))


def _block_diagonal(blocks: Any, n_index: int) -> Any:
    """``(..., R, d, d)`` blocks on the first ``R`` values of an ``n_index``-qubit register, identity after."""
    math = qml.math
    R, d = math.shape(blocks)[-3], math.shape(blocks)[-1]
    C = 2**n_index
    if C > R:
        eye = math.cast_like(math.eye(d, like=math.get_interface(blocks)), blocks)
        idle = math.stack([eye] * (C - R))  # (C - R, d, d)
        if math.ndim(blocks) > 3:
            idle = math.stack([idle] * math.shape(blocks)[0])
        blocks = math.concatenate([blocks, idle], axis=-3)
    delta = math.cast_like(math.eye(C, like=math.get_interface(blocks)), blocks)
    full = math.einsum("...vab,vw->...vawb", blocks, delta)
    return math.reshape(full, math.shape(full)[:-4] + (C * d, C * d))


class TokenLoad(Operation):
    r"""Load one token: the Householder unitary :func:`householder` whose first column is ``x``.

    Args:
        x: the token, ``(d,)`` with ``d = 2^len(wires)``, or a batch ``(B, d)`` (broadcast).
        wires: the data wires (wire 0 most significant).
        ref: the name of the data array, for the label (``Load(x)``).
        dagger: the adjoint (an un-load, ``Load(x)†``).

    Decomposition: one ``QubitUnitary``. Source: the state loads of circuits A and B (arXiv
    2602.06699, Secs. 4-5).
    """

    num_params = 1
    ndim_params = (1,)
    grad_method = None

    def __init__(self, x: Any, wires: Any, *, ref: str = "x", dagger: bool = False, id: str | None = None):
        super().__init__(x, wires=wires, id=id)
        d = qml.math.shape(x)[-1]
        if d != 2 ** len(self.wires):
            raise ValueError(f"x must have 2^{len(self.wires)} = {2 ** len(self.wires)} entries; got {d}")
        self.hyperparameters["ref"] = ref
        self.hyperparameters["dagger"] = bool(dagger)

    @staticmethod
    def compute_matrix(x: Any, ref: str = "x", dagger: bool = False) -> Any:
        U = householder(x)
        return _dag(U) if dagger else U

    @staticmethod
    def compute_decomposition(x: Any, wires: Any, ref: str = "x", dagger: bool = False) -> list:
        return [qml.QubitUnitary(TokenLoad.compute_matrix(x, dagger=dagger), wires=wires)]

    def adjoint(self) -> TokenLoad:
        return TokenLoad(
            self.data[0], self.wires, ref=self.hyperparameters["ref"], dagger=not self.hyperparameters["dagger"]
        )

    def label(self, decimals=None, base_label=None, cache=None) -> str:
        return (base_label or f"Load({self.hyperparameters['ref']})") + ("†" if self.hyperparameters["dagger"] else "")


class IndexedLoad(Operation):
    r"""Multiplexed load: controlled on ``index_wires = |i>``, load ``rows[i]`` on the data wires.

    ``|i>|0> -> |i>|x_i>`` for ``i < R``; index values ``>= R`` are left alone. Wires:
    ``index_wires + data wires``.

    Args:
        rows: the tokens, ``(R, d)``, or a batch ``(B, R, d)`` (broadcast); ``R <= 2^len(index_wires)``.
        wires: ``index_wires + data_wires``.
        n_index: how many of ``wires`` are the index register.
        ref: the data array's name, for the label (``Load(x)``).
        dagger: the adjoint (an un-load, ``Load(x)†``).
        mode: the decomposition: ``"matrix"`` (one block-diagonal ``QubitUnitary``) or
            ``"controlled"`` (one :class:`TokenLoad` controlled on each index value; no ``(2^c d)^2`` matrix).

    Source: the multiplexed loads of circuit A (arXiv 2602.06699, Sec. 4).
    """

    num_params = 1
    ndim_params = (2,)
    grad_method = None

    def __init__(
        self,
        rows: Any,
        wires: Any,
        *,
        n_index: int,
        ref: str = "x",
        dagger: bool = False,
        mode: str = "matrix",
        id: str | None = None,
    ):
        super().__init__(rows, wires=wires, id=id)
        if mode not in SELECT_MODES:
            raise ValueError(f"mode must be one of {SELECT_MODES}; got {mode!r}")
        n_data = len(self.wires) - int(n_index)
        shape = qml.math.shape(rows)
        if n_data < 1 or shape[-1] != 2**n_data or not 1 <= shape[-2] <= 2**n_index:
            raise ValueError(
                f"rows must have shape (R, {2**n_data}) with 1 <= R <= 2^{n_index} for {n_index} index wires; got {shape}"
            )
        self.hyperparameters.update(n_index=int(n_index), ref=ref, dagger=bool(dagger), mode=mode)

    @staticmethod
    def compute_matrix(rows: Any, n_index: int, ref: str = "x", dagger: bool = False, mode: str = "matrix") -> Any:
        M = _block_diagonal(householder(rows), n_index)
        return _dag(M) if dagger else M

    @staticmethod
    def compute_decomposition(
        rows: Any, wires: Any, n_index: int, ref: str = "x", dagger: bool = False, mode: str = "matrix"
    ) -> list:
        wires = qml.wires.Wires(wires)
        if mode == "matrix":
            return [qml.QubitUnitary(IndexedLoad.compute_matrix(rows, n_index, dagger=dagger), wires=wires)]
        index, data = wires[:n_index], wires[n_index:]
        R = qml.math.shape(rows)[-2]
        ops = []
        for v in range(R):
            load = TokenLoad(rows[..., v, :], data, ref=ref, dagger=dagger)
            ops.append(qml.ctrl(load, control=index, control_values=list(bits(v, n_index))) if n_index else load)
        return ops

    def adjoint(self) -> IndexedLoad:
        h = self.hyperparameters
        return IndexedLoad(
            self.data[0], self.wires, n_index=h["n_index"], ref=h["ref"], dagger=not h["dagger"], mode=h["mode"]
        )

    def label(self, decimals=None, base_label=None, cache=None) -> str:
        return (base_label or f"Load({self.hyperparameters['ref']})") + ("†" if self.hyperparameters["dagger"] else "")


class IndexState(Operation):
    r"""A fixed index state: the real Householder unitary whose first column is ``amplitudes``.

    Circuit A's triangular state :math:`\tau = N^{-1/2}\sum_{i\le j}|j\rangle|i\rangle` on
    ``C1 C2`` and the uniform state over the active values of an index register
    (:func:`qsa.circuits.triangular_state`, :func:`qsa.circuits.uniform_state`).

    Args:
        wires: the index wires.
        amplitudes: ``2^len(wires)`` non-negative amplitudes of unit norm (fixed, not trainable).
        kind: the label (``"triangular"``, ``"uniform"`` or any other name).
        dagger: the adjoint (un-preparation).
    """

    num_params = 0
    grad_method = None

    def __init__(self, wires: Any, *, amplitudes: Sequence[float], kind: str = "", dagger: bool = False, id=None):
        super().__init__(wires=wires, id=id)
        amplitudes = tuple(float(a) for a in amplitudes)
        if len(amplitudes) != 2 ** len(self.wires):
            raise ValueError(f"amplitudes must have 2^{len(self.wires)} entries; got {len(amplitudes)}")
        self.hyperparameters.update(amplitudes=amplitudes, kind=kind, dagger=bool(dagger))

    @staticmethod
    def compute_matrix(amplitudes: Sequence[float], kind: str = "", dagger: bool = False) -> np.ndarray:
        U = householder(np.asarray(amplitudes, dtype=np.float64))
        return U.T if dagger else U  # real

    @staticmethod
    def compute_decomposition(wires: Any, amplitudes: Sequence[float], kind: str = "", dagger: bool = False) -> list:
        return [qml.QubitUnitary(IndexState.compute_matrix(amplitudes, dagger=dagger), wires=wires)]

    def adjoint(self) -> IndexState:
        h = self.hyperparameters
        return IndexState(self.wires, amplitudes=h["amplitudes"], kind=h["kind"], dagger=not h["dagger"])

    def label(self, decimals=None, base_label=None, cache=None) -> str:
        kind = self.hyperparameters["kind"]
        name = base_label or (kind.capitalize() if kind else "IndexState")
        return name + ("†" if self.hyperparameters["dagger"] else "")


class LCURegister(Operation):
    r"""The poly kernel's unary register ``P``: ``sum_p sqrt(c_p / lambda) |1^p 0^{k-p}>`` from ``|0>``.

    ``RY(theta_0)`` on ``P[0]``, then ``RY(theta_p)`` on ``P[p]`` controlled by ``P[p-1]``
    (:func:`qsa.circuits.lcu_register`, angles :func:`qsa.circuits.lcu_angles`); ``dagger``: the
    un-preparation. Decomposition: those RY / CRY gates. Source: arXiv 2602.06699, Sec. 4 (LCU of
    the polynomial kernel).
    """

    num_params = 0
    grad_method = None

    def __init__(self, wires: Any, *, angles: Sequence[float], dagger: bool = False, id=None):
        super().__init__(wires=wires, id=id)
        angles = tuple(float(a) for a in angles)
        if len(angles) != len(self.wires):
            raise ValueError(f"angles must have one entry per wire ({len(self.wires)}); got {len(angles)}")
        self.hyperparameters.update(angles=angles, dagger=bool(dagger))

    @staticmethod
    def compute_decomposition(wires: Any, angles: Sequence[float], dagger: bool = False) -> list:
        wires = qml.wires.Wires(wires)
        sign = -1.0 if dagger else 1.0
        ops = [qml.RY(sign * angles[0], wires=wires[0])]
        ops += [qml.CRY(sign * angles[p], wires=[wires[p - 1], wires[p]]) for p in range(1, len(wires))]
        return ops[::-1] if dagger else ops

    def adjoint(self) -> LCURegister:
        h = self.hyperparameters
        return LCURegister(self.wires, angles=h["angles"], dagger=not h["dagger"])

    def label(self, decimals=None, base_label=None, cache=None) -> str:
        return (base_label or "LCU") + ("†" if self.hyperparameters["dagger"] else "")


def select_matrix(op: Select, params: Mapping[str, Any]) -> Any:
    """The block-diagonal matrix of ``op`` on ``index_wires + wires`` (plain controls not included)."""
    rows = _rows(op, params)
    return IndexedLoad.compute_matrix(rows, len(op.index_wires), dagger=op.dagger)


def _rows(op: Select, params: Mapping[str, Any]) -> Any:
    data = params[op.ref]
    return data[..., list(op.rows), :]  # (..., R, d): leading axes are a batch


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


def _lcu_run(ops: Sequence[Any], start: int, register: tuple[int, ...]) -> tuple[tuple[float, ...], bool] | None:
    """If ``ops[start:]`` begins with the LCU register's preparation (or its adjoint) on ``register``: angles and dagger.

    The preparation of :func:`qsa.circuits.lcu_register` is ``RY`` on ``P[0]`` then ``RY`` on
    ``P[p]`` controlled by ``P[p-1] = 1``, with fixed angles; its adjoint is the reverse with the
    angles negated.
    """
    k = len(register)
    run = ops[start : start + k]
    if len(run) < k or not all(
        isinstance(g, Gate) and g.name == "RY" and isinstance(g.params[0], (int, float)) for g in run
    ):
        return None
    pattern = [((register[0],), (), ())] + [((register[p],), (register[p - 1],), (1,)) for p in range(1, k)]
    shape = [(g.wires, g.controls, g.control_values) for g in run]
    if shape == pattern:
        return tuple(float(g.params[0]) for g in run), False
    if shape == pattern[::-1]:
        return tuple(-float(g.params[0]) for g in reversed(run)), True
    return None


def apply(circuit: Circuit, params: Mapping[str, Any], *, lowered: bool = False, select: str = "matrix") -> None:
    """Queue ``circuit``'s operations in the active QNode (or tape), resolving ``params`` by name.

    Loads and index states are queued as the named operations of this module (:class:`IndexedLoad`,
    :class:`TokenLoad`, :class:`IndexState`, :class:`LCURegister`), plain controls as ``qml.ctrl``.

    Args:
        circuit: the IR circuit.
        params: named arrays: data (``x``, ``y``, matrices ``W``, ``V``), trainable angles, phases;
            leading axes beyond a parameter's own are a batch (PennyLane broadcasting).
        lowered: apply the CNOT + RY/RZ lowering (derived angles computed here, in numpy: no
            gradient reaches the data through them, no batch) instead of load matrices.
        select: how a multiplexed load is applied, ``"matrix"`` or ``"controlled"`` (same unitary).

    Raises:
        ValueError: if ``select`` is not one of :data:`SELECT_MODES`.
    """
    if select not in SELECT_MODES:
        raise ValueError(f"select must be one of {SELECT_MODES}; got {select!r}")
    if lowered:
        circuit = lower(circuit)
        params = {**params, **derive(circuit, params)}
    lcu = next((r.wires for r in circuit.registers if r.name == "P"), None)
    ops = circuit.ops
    i = 0
    while i < len(ops):
        op = ops[i]
        if lcu is not None and not lowered:
            found = _lcu_run(ops, i, lcu)
            if found is not None:
                LCURegister(list(lcu), angles=found[0], dagger=found[1])
                i += len(lcu)
                continue
        i += 1
        if isinstance(op, Gate):
            _apply_gate(op, params)
        elif isinstance(op, Unitary):
            M = params[op.ref]
            M = _dag(M) if op.dagger else M
            _controlled(lambda M=M, op=op: qml.QubitUnitary(M, wires=list(op.wires)), op.controls, op.control_values)
        elif isinstance(op, Select):
            rows = _rows(op, params)
            wires = list(op.index_wires + op.wires)
            n_index = len(op.index_wires)

            def load(rows=rows, wires=wires, n_index=n_index, op=op):
                if n_index == 0:
                    return TokenLoad(rows[..., 0, :], wires, ref=op.ref, dagger=op.dagger)
                return IndexedLoad(rows, wires, n_index=n_index, ref=op.ref, dagger=op.dagger, mode=select)

            _controlled(load, op.controls, op.control_values)
        elif isinstance(op, StatePrep):

            def prep(op=op):
                return IndexState(list(op.wires), amplitudes=op.amplitudes, kind=op.label, dagger=op.dagger)

            _controlled(prep, op.controls, op.control_values)
        else:  # pragma: no cover - Circuit validates op kinds
            raise TypeError(f"op must be an IR operation; got {type(op).__name__}")


def matrix(circuit: Circuit, params: Mapping[str, Any], *, lowered: bool = False, select: str = "matrix") -> Any:
    """The full ``(2^n, 2^n)`` unitary of ``circuit`` (wire 0 most significant), via ``qml.matrix``."""

    def body() -> None:
        apply(circuit, params, lowered=lowered, select=select)

    return qml.matrix(body, wire_order=list(range(circuit.n_wires)))()


def wire_labels(circuit: Circuit) -> dict[int, str]:
    """IR wire -> ``"<register>[<i>]"`` (e.g. ``"C1[0]"``, ``"B2[1]"``; ``"q<w>"`` outside every register).

    ``i`` counts from the register's first (most significant) wire. Use with ``qml.map_wires``.
    """
    labels = {w: f"q{w}" for w in range(circuit.n_wires)}
    for reg in circuit.registers:
        for i, w in enumerate(reg.wires):
            labels[w] = f"{reg.name}[{i}]"
    return labels


def draw(circuit: Any, params: Mapping[str, Any], *, labels: bool = True, **kwargs: Any) -> str:
    """``qml.draw`` of ``circuit`` (a ``Circuit`` or ``QSACircuit``) applied with ``params`` on ``default.qubit``.

    Args:
        circuit: the IR circuit or a :class:`~qsa.circuits.QSACircuit` (its ``measured_wires`` are
            drawn as a ``probs`` measurement).
        params: named arrays, as for :func:`apply`.
        labels: name the wires after the registers (:func:`wire_labels`).
        kwargs: passed to ``qml.draw`` (``decimals``, ``max_length``, ...).

    Example::

        from qsa.circuits import circuit_a
        print(draw(circuit_a(3, 2, w_layers=1, v_layers=1), params))   # Triangular, Load(x), Load(y)†, ...
    """
    ir = getattr(circuit, "circuit", circuit)
    if not isinstance(ir, Circuit):
        raise TypeError(f"circuit must be a Circuit or a QSACircuit; got {type(circuit).__name__}")
    measured = list(getattr(circuit, "measured_wires", range(ir.n_wires)))

    @qml.qnode(qml.device("default.qubit", wires=ir.n_wires))
    def body():
        apply(ir, params)
        return qml.probs(wires=measured)

    names = wire_labels(ir)
    qnode = qml.map_wires(body, names) if labels else body
    kwargs.setdefault("wire_order", [names[w] for w in range(ir.n_wires)] if labels else list(range(ir.n_wires)))
    return qml.draw(qnode, **kwargs)()
