r"""A batched torch statevector simulator of the circuit IR: the ``"torch"`` backend.

The state of ``B`` circuits on ``n`` wires is one complex tensor of shape ``(B, 2, ..., 2)``, one
axis per wire, wire 0 first (the most significant bit, as everywhere in QSA). An operation on
wires ``w`` moves their axes last and multiplies by its matrix (torchquantum / PennyLane
``apply_operation`` style); a control restricts the update to the slice where the control axes
hold the control values. Everything is a torch operation, so autograd differentiates the whole
simulation (backprop): ansatz angles, phases, and through the Householder state loads the tokens.

What makes it fast, next to a gate-by-gate simulator:

* **batching**: one state tensor for every sequence (and every parameter set) of a call; data
  arrays (tokens, phases) carry a batch axis, shared arrays (ansatz angles) do not;
* **gate fusion**: consecutive elementary gates are multiplied into one matrix per group of at
  most ``max_fused_wires`` entangled wires (a vectorised gather of the gate matrices and a tree of
  batched products, so an ``L``-layer ansatz costs a constant number of torch operations and one
  ``2^n x 2^n`` product on the state instead of ``4 L n`` passes). Runs on disjoint wires
  commute and stay separate, so independent registers are never fused into one wide matrix;
  identical runs (the ``k`` copies of ``W``) are multiplied out once per call;
* **multiplexed loads as blocks**: a :class:`~qsa.circuits.ir.Select` is ``2^c`` independent
  ``d x d`` blocks applied as one batched product over the index axis, never a ``(2^c d)^2``
  matrix; the Householder blocks of one data array are built once per call;
* **wires enter late and leave early**: the state only holds the wires touched so far; loading
  a token or preparing a state on fresh wires is an outer product, not a matrix product. Given
  a readout (:func:`readout_cells` of :class:`~qsa.circuits.QSACircuit` s, what the evaluator
  and ``run`` use), a projected wire is cut to its ``|0>`` slice right after its last
  operation, so the state shrinks as registers are un-loaded;
* **shared prefixes**: the common prefix of several circuits (the ``mu``, ``zeta`` and ``nu``
  circuits of circuit A share everything up to the un-loads) is simulated once.

Gate matrices follow PennyLane (``RX(t) = exp(-i t X / 2)``, ...); the IR's ``GlobalPhase(phi)`` is
``e^{+i phi}``, controlled: a phase on the control pattern. State loads use the Householder
completion of :mod:`qsa.circuits.to_pennylane`, so full states equal default.qubit's
(``tests/qsa/backends/test_statevector.py``).
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from qsa import _validate
from qsa.circuits.ir import GATES, Circuit, Gate, Param, Select, StatePrep, Unitary
from qsa.circuits.linalg import householder
from qsa.circuits.lowering import select_table

__all__ = [
    "MAX_FUSED_WIRES",
    "householder",
    "gate_matrix",
    "simulate",
    "simulate_many",
    "unitary",
    "compile_circuits",
    "cell_probabilities",
    "readout_cells",
    "run",
]

#: Default widest run of gates fused into one matrix (a ``64 x 64`` product per fused run).
MAX_FUSED_WIRES = 6

_SQ2 = 1 / math.sqrt(2)
_FIXED = {
    "H": [[_SQ2, _SQ2], [_SQ2, -_SQ2]],
    "X": [[0, 1], [1, 0]],
    "Y": [[0, -1j], [1j, 0]],
    "Z": [[1, 0], [0, -1]],
    "CNOT": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]],
    "CZ": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, -1]],
    "SWAP": [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]],
}


@functools.cache
def _fixed(name: str, dtype: torch.dtype, device: torch.device | None = None) -> torch.Tensor:
    return torch.tensor(_FIXED[name], dtype=dtype, device=device)


def gate_matrix(name: str, angles: Sequence[Any], dtype: torch.dtype = torch.complex128) -> torch.Tensor:
    """Matrix of an elementary gate (PennyLane conventions): ``(2^m, 2^m)``, or ``(B, 2^m, 2^m)`` for batched angles.

    ``GlobalPhase`` is the ``1 x 1`` matrix ``e^{+i phi}`` (its controlled form is a phase on the
    control pattern).
    """
    (theta,) = angles if name not in _FIXED else (None,)
    device = theta.device if isinstance(theta, torch.Tensor) else None
    if name in _FIXED:
        return _fixed(name, dtype, device)
    real = torch.float64 if dtype == torch.complex128 else torch.float32
    t = torch.as_tensor(theta, dtype=real, device=device)
    size = 1 if name == "GlobalPhase" else 2
    return _rotation_rows(name, t[..., None], dtype).reshape(*t.shape, size, size)


# --- applying matrices to the state ----------------------------------------------------------------
#
# The state is ``(B, 2, ..., 2)`` with one axis per *live* wire; ``live`` lists the wire of each
# axis (axis ``1 + i`` holds wire ``live[i]``). A wire enters when an operation first touches it
# (it is |0> until then) and, with a readout, leaves once it is projected on |0> after its last
# operation; the full state is only assembled when asked for.


def _apply_matrix(psi: torch.Tensor, M: torch.Tensor, axes: Sequence[int]) -> torch.Tensor:
    """``M`` ``(2^m, 2^m)`` or ``(B, 2^m, 2^m)`` on tensor ``axes`` of ``psi`` (first axis most significant)."""
    m = len(axes)
    n = psi.ndim - 1
    B = psi.shape[0]
    dst = list(range(n + 1 - m, n + 1))
    x = psi.movedim(list(axes), dst)
    moved = x.shape
    x = x.reshape(B, -1, 2**m)  # (B, R, 2^m)
    y = x @ M.transpose(-1, -2)  # (B, R, 2^m)
    return y.reshape(moved).movedim(dst, list(axes))


def _controlled(psi: torch.Tensor, control_axes: Sequence[int], values: Sequence[int], update) -> torch.Tensor:
    """``psi`` with ``update(sub, relabel)`` applied to the slice where the control axes hold ``values``.

    ``sub`` has the control axes removed; ``relabel(a)`` is axis ``a``'s index in ``sub``.
    """
    if not control_axes:
        return update(psi, lambda a: a)
    index: list[Any] = [slice(None)] * psi.ndim
    for a, v in zip(control_axes, values):
        index[a] = v
    index = tuple(index)
    removed = sorted(control_axes)

    def relabel(a: int) -> int:
        return a - sum(1 for r in removed if r < a)

    new = update(psi[index], relabel)
    out = psi.clone()
    out[index] = new
    return out


def _phase(psi: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """``psi`` times ``phase`` (a scalar or one value per batch entry)."""
    return psi * phase.reshape(phase.shape[:1] + (1,) * (psi.ndim - 1)) if phase.ndim else psi * phase


# --- parameters ------------------------------------------------------------------------------------


class _Params:
    """Named arrays of one call, with their batch axis (if any) detected from the circuit's specs."""

    def __init__(self, circuit: Circuit, params: Mapping[str, Any], dtype: torch.dtype):
        self.dtype = dtype
        self.real = torch.float64 if dtype == torch.complex128 else torch.float32
        self.arrays: dict[str, torch.Tensor] = {}
        self.batched: dict[str, bool] = {}
        sizes = set()
        specs = {s.name: s for s in circuit.params}
        for name, value in params.items():
            t = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
            spec = specs.get(name)
            batched = spec is not None and t.ndim == len(spec.shape) + 1
            if spec is not None and not batched and t.ndim != len(spec.shape):
                raise ValueError(
                    f"params[{name!r}] must have shape {spec.shape} or (B, *{spec.shape}); got {tuple(t.shape)}"
                )
            if batched:
                sizes.add(t.shape[0])
            self.arrays[name], self.batched[name] = t, batched
        if len(sizes) > 1:
            raise ValueError(f"batched parameter arrays must share one batch size; got sizes {sorted(sizes)}")
        self.size = sizes.pop() if sizes else None
        #: the torch device of the arrays: every tensor of the run is made there (the first array's; CPU if none)
        self.device = next((t.device for t in self.arrays.values()), torch.device("cpu"))
        self._cache: dict[tuple, torch.Tensor] = {}

    def array(self, name: str) -> tuple[torch.Tensor, bool]:
        try:
            return self.arrays[name], self.batched[name]
        except KeyError:
            raise KeyError(f"parameter {name!r} must be given; got only {sorted(self.arrays)}") from None

    def angle(self, a: Any) -> tuple[Any, bool]:
        """The value of an angle (float, scalar tensor, or ``(B,)`` tensor) and whether it is batched."""
        if not isinstance(a, Param):
            return float(a), False
        array, batched = self.array(a.name)
        value = array[(slice(None),) * batched + tuple(a.index)] if a.index else array
        value = value.to(self.real) if value.dtype != self.real else value
        return (value if a.scale == 1.0 else a.scale * value), batched

    def blocks(self, op: Select) -> tuple[torch.Tensor, bool]:
        """Householder blocks of ``op``'s rows, ``(R, d, d)`` or ``(B, R, d, d)`` (daggered if ``op.dagger``), cached."""
        key = ("select", op.ref, op.rows, op.dagger)
        array, batched = self.array(op.ref)
        if key not in self._cache:
            rows = array[..., list(op.rows), :].to(self.dtype)  # (.., R, d)
            U = householder(rows)
            self._cache[key] = U.conj().transpose(-1, -2) if op.dagger else U
        return self._cache[key], batched

    def matrix(self, op: Unitary) -> tuple[torch.Tensor, bool]:
        array, batched = self.array(op.ref)
        M = array.to(self.dtype)
        return (M.conj().transpose(-1, -2) if op.dagger else M), batched


@functools.lru_cache(maxsize=256)
def _stateprep_matrix(amplitudes: tuple[float, ...], dagger: bool, dtype: torch.dtype) -> torch.Tensor:
    U = householder(torch.tensor(amplitudes, dtype=torch.float64)).to(dtype)
    return U.T.contiguous() if dagger else U


# --- operations ------------------------------------------------------------------------------------


def _apply_gate(psi: torch.Tensor, op: Gate, P: _Params, axis) -> torch.Tensor:
    angles = [P.angle(a) for a in op.params]
    ctrl = [axis(w) for w in op.controls]
    if op.name == "GlobalPhase":
        ((phi, _),) = angles
        phase = gate_matrix("GlobalPhase", [phi], P.dtype)[..., 0, 0]  # e^{i phi}, scalar or (B,)
        return _controlled(psi, ctrl, op.control_values, lambda sub, _r: _phase(sub, phase))
    M = gate_matrix(op.name, [a for a, _ in angles], P.dtype)
    return _controlled(
        psi, ctrl, op.control_values, lambda sub, r: _apply_matrix(sub, M, [r(axis(w)) for w in op.wires])
    )


def _apply_select(psi: torch.Tensor, op: Select, P: _Params, axis) -> torch.Tensor:
    U, _ = P.blocks(op)  # (R, d, d) or (B, R, d, d)
    R, c, m = len(op.rows), len(op.index_wires), len(op.wires)

    def update(sub: torch.Tensor, relabel) -> torch.Tensor:
        B, n = sub.shape[0], sub.ndim - 1
        idx = [relabel(axis(w)) for w in op.index_wires]
        dat = [relabel(axis(w)) for w in op.wires]
        dst_i, dst_d = list(range(1, 1 + c)), list(range(n + 1 - m, n + 1))
        x = sub.movedim(idx + dat, dst_i + dst_d)
        moved = x.shape
        x = x.reshape(B, 2**c, -1, 2**m)  # (B, 2^c, rest, d)
        if R == 2**c:
            y = x @ U.transpose(-1, -2)  # (B, R, rest, d): block r on index value r
        else:  # idle index values: identity
            y = torch.cat([x[:, :R] @ U.transpose(-1, -2), x[:, R:]], 1)
        return y.reshape(moved).movedim(dst_i + dst_d, idx + dat)

    return _controlled(psi, [axis(w) for w in op.controls], op.control_values, update)


def _apply_op(psi: torch.Tensor, op: Any, P: _Params, axis) -> torch.Tensor:
    if isinstance(op, Gate):
        return _apply_gate(psi, op, P, axis)
    if isinstance(op, Select):
        return _apply_select(psi, op, P, axis)
    if isinstance(op, Unitary):
        M, _ = P.matrix(op)
    elif isinstance(op, StatePrep):
        M = _stateprep_matrix(op.amplitudes, op.dagger, P.dtype).to(P.device)
    else:  # pragma: no cover - Circuit validates op kinds
        raise TypeError(f"op must be an IR operation; got {type(op).__name__}")
    return _controlled(
        psi,
        [axis(w) for w in op.controls],
        op.control_values,
        lambda sub, r: _apply_matrix(sub, M, [r(axis(w)) for w in op.wires]),
    )


def _fresh_columns(op: Any, P: _Params) -> torch.Tensor | None:
    """What ``op`` makes of |0> on its (fresh) target wires, per value of its controls (+ index):
    ``(2^e, 2^m)`` or ``(B, 2^e, 2^m)`` -- or ``None`` if ``op`` is not a load or state preparation."""
    if isinstance(op, Select):
        U, _ = P.blocks(op)  # (.., R, d, d)
        first = U[..., :, 0]  # (.., R, d): the loaded states
        table = select_table(op)
        e0 = torch.zeros(first.shape[-1], dtype=first.dtype, device=first.device)
        e0[0] = 1
        rows = [first[..., r, :] if r >= 0 else e0.expand(*first.shape[:-2], -1) for r in table]
        return torch.stack(rows, -2)  # (.., 2^e, d)
    if isinstance(op, StatePrep):
        col = _stateprep_matrix(op.amplitudes, op.dagger, P.dtype)[:, 0].to(P.device)
        e0 = torch.zeros_like(col)
        e0[0] = 1
        active = sum(v << (len(op.controls) - 1 - r) for r, v in enumerate(op.control_values))
        return torch.stack([col if u == active else e0 for u in range(2 ** len(op.controls))])
    return None


def _load_fresh(psi: torch.Tensor, live: list[int], ext: Sequence[int], targets: Sequence[int], cols: torch.Tensor):
    """``psi`` (fresh ``targets`` implicitly |0>) after an op preparing ``cols[u]`` on them for ``ext`` value ``u``.

    An outer product: no matrix acts on the full state. Returns the new state and its live wires
    (the ext wires and then the targets moved last).
    """
    B, e, m = psi.shape[0], len(ext), len(targets)
    src = [1 + live.index(w) for w in ext]
    n = psi.ndim - 1
    x = psi.movedim(src, list(range(n + 1 - e, n + 1)))  # (B, rest..., ext...)
    moved = x.shape
    x = x.reshape(B, -1, 2**e)  # (B, Rr, 2^e)
    cols = cols if cols.ndim == 2 else cols[:, None]  # (2^e, d) or (B, 1, 2^e, d)
    y = x[..., None] * cols  # (B, Rr, 2^e, 2^m)
    rest = [w for w in live if w not in set(ext)]
    return y.reshape(*moved, *([2] * m)), rest + list(ext) + list(targets)


def _project(psi: torch.Tensor, live: list[int], wires: Sequence[int]):
    """``psi`` projected on |0> of ``wires`` (each live), those axes removed."""
    for w in wires:
        a = live.index(w)
        psi = psi.select(1 + a, 0)
        live = live[:a] + live[a + 1 :]
    return psi, live


def _insert(psi: torch.Tensor, live: list[int], wires: Sequence[int]):
    """``psi`` with fresh ``wires`` (in |0>) made live as new last axes."""
    for w in wires:
        psi = torch.stack([psi, torch.zeros_like(psi)], -1)
        live = live + [w]
    return psi, live


# --- fusion ----------------------------------------------------------------------------------------

_ZERO, _ONE = -2, -1  # gather codes for constant entries of an embedded gate matrix


def _embedding_index(targets: Sequence[int], controls: Sequence[int], values: Sequence[int], m: int) -> np.ndarray:
    """Where each entry of a gate's ``(2^m, 2^m)`` matrix on ``m`` local wires comes from.

    Entry ``[r, c]`` is ``g[r_t, c_t]`` (index ``r_t 2^t + c_t`` into the flattened target matrix
    ``g`` of the ``t`` target wires) where ``r`` and ``c`` agree off the targets and the controls
    hold ``values``; else the identity: ``_ONE`` on the diagonal, ``_ZERO`` elsewhere.
    """
    size = 2**m
    r, c = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    bit = lambda x, w: (x >> (m - 1 - w)) & 1  # noqa: E731 - local wire w, most significant first
    t = len(targets)
    rt = sum(bit(r, w) << (t - 1 - i) for i, w in enumerate(targets)) if t else np.zeros_like(r)
    ct = sum(bit(c, w) << (t - 1 - i) for i, w in enumerate(targets)) if t else np.zeros_like(c)
    off = [w for w in range(m) if w not in set(targets)]
    same = np.ones_like(r, dtype=bool)
    for w in off:
        same &= bit(r, w) == bit(c, w)
    active = np.ones_like(r, dtype=bool)
    for w, v in zip(controls, values):
        active &= bit(r, w) == v
    out = np.where(same & active, rt * 2**t + ct, np.where(r == c, _ONE, _ZERO))
    return out.reshape(-1)


class _FusedRun:
    r"""A run of elementary gates on ``m`` wires, multiplied into one ``(2^m, 2^m)`` matrix.

    Every gate's small matrix is built in one vectorised call per gate kind and scattered into
    its ``(2^m, 2^m)`` embedding by a precomputed gather; the ordered product of the ``G``
    embeddings is a tree of ``log2 G`` batched matrix products. The number of torch operations
    does not grow with the number of gates, which is what makes an ``L``-layer ansatz cheap.
    """

    def __init__(self, wires: tuple[int, ...], gates: Sequence[Gate]):
        self.wires = wires
        m = len(wires)
        position = {w: i for i, w in enumerate(wires)}
        self.size = 2**m
        self.kinds: dict[str, list[int]] = {}  # gate name -> gate positions in the run
        self.params: list[tuple[int, Any]] = []  # (gate position, angle) of parameterised gates
        index_rows = {}
        for i, g in enumerate(gates):
            self.kinds.setdefault(g.name, []).append(i)
            if g.params:
                self.params.append((i, g.params[0]))
            targets = () if g.name == "GlobalPhase" else tuple(position[w] for w in g.wires)
            index_rows[i] = _embedding_index(targets, [position[w] for w in g.controls], g.control_values, m)
        self.n_gates = len(gates)
        self.param_slot = {i: s for s, (i, _) in enumerate(self.params)}
        # kinds grouped by target size t, in a fixed order; each gate's gather row into [g_flat, 0, 1]
        self.groups: list[tuple[int, list[str], torch.Tensor]] = []
        order: list[int] = []
        for t in sorted({GATES[n].n_wires for n in self.kinds}):
            names = [n for n in self.kinds if GATES[n].n_wires == t]
            positions = [i for n in names for i in self.kinds[n]]
            rows = np.stack([index_rows[i] for i in positions])
            rows = np.where(rows == _ZERO, 4**t, np.where(rows == _ONE, 4**t + 1, rows))
            self.groups.append((t, names, torch.as_tensor(rows, dtype=torch.long)))
            order += positions
        self.unsort = torch.as_tensor(np.argsort(order), dtype=torch.long)
        sources: dict[str, list[tuple[int, tuple[int, ...], float]]] = {}
        constants: list[tuple[int, float]] = []
        for slot, (_, a) in enumerate(self.params):
            if isinstance(a, Param):
                sources.setdefault(a.name, []).append((slot, tuple(a.index), a.scale))
            else:
                constants.append((slot, float(a)))
        # per source array: one advanced index per axis, the scales, and the slots they fill
        self.sources = []
        slots: list[int] = []
        for name, entries in sources.items():
            rank = len(entries[0][1])
            if any(len(idx) != rank for _, idx, _ in entries):
                raise ValueError(f"every angle read from {name!r} must index it with {rank} indices")
            axes = tuple(torch.as_tensor([idx[a] for _, idx, _ in entries], dtype=torch.long) for a in range(rank))
            scales = np.array([sc for _, _, sc in entries])
            self.sources.append((name, axes, len(entries), None if np.all(scales == 1) else torch.as_tensor(scales)))
            slots += [slot for slot, _, _ in entries]
        self.constants = torch.as_tensor([v for _, v in constants], dtype=torch.float64) if constants else None
        slots += [slot for slot, _ in constants]
        self.slot_order = torch.as_tensor(np.argsort(slots), dtype=torch.long)
        self.kind_slots = {
            n: torch.as_tensor([self.param_slot[i] for i in pos], dtype=torch.long)
            for n, pos in self.kinds.items()
            if n not in _FIXED
        }
        self._on_device: dict[torch.device, _FusedRun] = {}

    def _to(self, device: torch.device) -> _FusedRun:
        """This run with its index tensors on ``device`` (a shallow copy, made once per device)."""
        if device.type == "cpu":
            return self
        if device not in self._on_device:
            moved = copy.copy(self)
            moved.groups = [(t, names, rows.to(device)) for t, names, rows in self.groups]
            moved.unsort = self.unsort.to(device)
            moved.sources = [
                (name, tuple(a.to(device) for a in axes), count, None if scales is None else scales.to(device))
                for name, axes, count, scales in self.sources
            ]
            moved.constants = None if self.constants is None else self.constants.to(device)
            moved.slot_order = self.slot_order.to(device)
            moved.kind_slots = {n: v.to(device) for n, v in self.kind_slots.items()}
            self._on_device[device] = moved
        return self._on_device[device]

    def _angles(self, P: _Params) -> torch.Tensor:
        """All angles of the run in slot order, ``(n_params,)`` or ``(B, n_params)``."""
        pieces = []
        for name, axes, count, scales in self.sources:
            array, batched = P.array(name)
            if axes:
                values = array[(slice(None),) * batched + axes]  # (..., n_entries)
            else:  # a scalar parameter read once per entry
                values = array[..., None].expand(*array.shape, count)
            values = values.to(P.real)
            pieces.append(values if scales is None else values * scales.to(P.real))
        if self.constants is not None:
            pieces.append(self.constants.to(P.real))
        batch = max((p.shape[:-1] for p in pieces), key=len)
        values = torch.cat([p.expand(*batch, p.shape[-1]) for p in pieces], -1) if len(pieces) > 1 else pieces[0]
        return values[..., self.slot_order]

    def matrix(self, P: _Params) -> torch.Tensor:
        """The run's matrix, ``(2^m, 2^m)`` or ``(B, 2^m, 2^m)`` when an angle is batched (on the arrays' device)."""
        if P.device.type != "cpu":
            return self._to(P.device)._matrix(P)
        return self._matrix(P)

    def _matrix(self, P: _Params) -> torch.Tensor:
        angles = self._angles(P) if self.params else None
        batch = tuple(angles.shape[:-1]) if angles is not None else ()
        embedded = []
        for t, names, rows in self.groups:
            mats = []
            for name in names:
                positions = self.kinds[name]
                if name in _FIXED:
                    mats.append(_fixed(name, P.dtype, P.device).reshape(1, -1).expand(*batch, len(positions), 4**t))
                    continue
                theta = angles[..., self.kind_slots[name]]  # (..., G_name)
                mats.append(_rotation_rows(name, theta, P.dtype))  # (..., G_name, 4^t)
            g = torch.cat(mats, -2)  # (..., G_t, 4^t)
            const = torch.tensor([0, 1], dtype=P.dtype, device=P.device).expand(*g.shape[:-1], 2)
            ext = torch.cat([g, const], -1)  # (..., G_t, 4^t + 2)
            embedded.append(torch.gather(ext, -1, rows.expand(*batch, *rows.shape)))  # (..., G_t, 4^m)
        E = torch.cat(embedded, -2)[..., self.unsort, :]  # (..., G, 4^m), run order
        E = E.reshape(*batch, self.n_gates, self.size, self.size).movedim(-3, 0)  # (G, ..., D, D)
        while E.shape[0] > 1:  # ordered product E_{G-1} ... E_1 E_0 as a tree
            if E.shape[0] % 2:
                E = torch.cat([E, torch.eye(self.size, dtype=E.dtype, device=E.device).expand(1, *E.shape[1:])])
            E = E[1::2] @ E[0::2]
        return E[0]


def _rotation_rows(name: str, theta: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Flattened ``2 x 2`` matrices (``1 x 1`` for ``GlobalPhase``) of one kind of gate for angles ``(..., G)``: ``(..., G, 4)``.

    ``RX(t) = exp(-i t X/2)``, ``RY(t) = exp(-i t Y/2)``, ``RZ(t) = diag(e^{-it/2}, e^{it/2})``,
    ``PhaseShift(t) = diag(1, e^{it})``, ``GlobalPhase(t) = e^{+it}``.
    """
    if name == "GlobalPhase":
        return torch.polar(torch.ones_like(theta), theta).to(dtype)[..., None]
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    z = torch.zeros_like(theta)
    if name == "RX":
        re, im = [c, z, z, c], [z, -s, -s, z]
    elif name == "RY":
        re, im = [c, -s, s, c], [z, z, z, z]
    elif name == "RZ":
        re, im = [c, z, z, c], [-s, z, z, s]
    elif name == "PhaseShift":
        one = torch.ones_like(theta)
        re, im = [one, z, z, torch.cos(theta)], [z, z, z, torch.sin(theta)]
    else:  # pragma: no cover - Gate validates names
        raise ValueError(f"gate name must be one of the IR gates; got {name!r}")
    return torch.complex(torch.stack(re, -1), torch.stack(im, -1)).to(dtype)


def _local(op: Gate, position: Mapping[int, int]) -> Gate:
    return Gate(
        op.name,
        tuple(position[w] for w in op.wires),
        op.params,
        tuple(position[w] for w in op.controls),
        op.control_values,
    )


class _Program:
    """Circuits compiled for simulation: shared prefixes, fused gate runs and, given readouts, early projections.

    ``readouts``: per circuit ``(index_wires, zero_wires)`` (a :class:`~qsa.circuits.QSACircuit`'s
    readout) or ``None`` for full final states. With a readout, a zero wire is projected on |0>
    right after the last operation that touches it (in every circuit sharing that operation), so
    the state shrinks as registers are un-loaded; :meth:`run` then returns cell probabilities.
    """

    def __init__(self, circuits: Sequence[Circuit], max_fused_wires: int, readouts: Sequence[tuple] | None = None):
        n = circuits[0].n_wires
        if any(c.n_wires != n for c in circuits):
            raise ValueError(f"circuits must have the same number of wires; got {[c.n_wires for c in circuits]}")
        if readouts is not None and len(readouts) != len(circuits):
            raise ValueError(f"readouts must have one entry per circuit ({len(circuits)}); got {len(readouts)}")
        self.n_wires = n
        self.readouts = None if readouts is None else [(tuple(i), tuple(z)) for i, z in readouts]
        specs: dict[str, Any] = {}
        for c in circuits:
            specs.update({s.name: s for s in c.params})
        self.specs = Circuit(n, (), params=tuple(specs.values()))
        self.runs: list[_FusedRun] = []
        self._run_ids: dict[tuple, int] = {}
        first = circuits[0].ops
        self.shared = []
        for c in circuits[1:]:
            p = 0
            while p < min(len(first), len(c.ops)) and c.ops[p] == first[p]:
                p += 1
            self.shared.append(p)
        last = [self._last_touch(c) for c in circuits]
        points = sorted({0, len(first), *self.shared})
        self.first = []
        for a, b in zip(points, points[1:]):
            sharing = [0] + [i + 1 for i, p in enumerate(self.shared) if p >= b]
            self.first.append((b, self._steps(first, a, b, max_fused_wires, [(last[c], c) for c in sharing])))
        self.rest = [
            self._steps(c.ops, p, len(c.ops), max_fused_wires, [(last[i + 1], i + 1)])
            for i, (c, p) in enumerate(zip(circuits[1:], self.shared))
        ]

    @staticmethod
    def _last_touch(circuit: Circuit) -> dict[int, int]:
        last: dict[int, int] = {}
        for t, op in enumerate(circuit.ops):
            for w in op.all_wires:
                last[w] = t
        return last

    def _drops(self, positions: Sequence[int], sharing: list[tuple[dict[int, int], int]]) -> tuple[int, ...]:
        """Zero wires of every sharing circuit whose last operation (in each of them) is one of ``positions``."""
        if self.readouts is None:
            return ()
        positions = set(positions)
        return tuple(
            w
            for w in range(self.n_wires)
            if all(w in self.readouts[c][1] and last.get(w, -1) in positions for last, c in sharing)
        )

    def _steps(self, ops: Sequence[Any], start: int, end: int, max_wires: int, sharing) -> list[tuple]:
        """Steps for ``ops[start:end]``: gates fused into runs of at most ``max_wires`` wires.

        Runs on disjoint wires stay open side by side (they commute), so independent registers
        are never fused into one wide matrix; a run is emitted when an operation overlapping it
        cannot join it (or at the end).
        """
        steps: list[tuple] = []
        open_runs: list[tuple[set[int], list[tuple[int, Gate]]]] = []

        def emit(run: tuple[set[int], list[tuple[int, Gate]]]) -> None:
            wires, members = run
            positions = [t for t, _ in members]
            if len(members) == 1:
                steps.append(("op", members[0][1], self._drops(positions, sharing)))
                return
            key_wires = tuple(sorted(wires))
            local = {w: i for i, w in enumerate(key_wires)}
            key = tuple(_local(g, local) for _, g in members)
            if key not in self._run_ids:
                self._run_ids[key] = len(self.runs)
                self.runs.append(_FusedRun(tuple(range(len(key_wires))), key))
            steps.append(("fused", key_wires, self._run_ids[key], self._drops(positions, sharing)))

        def flush(touching: set[int] | None) -> None:
            keep = []
            for run in open_runs:
                if touching is None or run[0] & touching:
                    emit(run)
                else:
                    keep.append(run)
            open_runs[:] = keep

        for t in range(start, end):
            op = ops[t]
            wires = set(op.all_wires)
            if not (isinstance(op, Gate) and wires) or max_wires < 2:
                flush(wires)  # an uncontrolled global phase touches nothing and commutes with every run
                steps.append(("op", op, self._drops([t], sharing)))
                continue
            overlapping = [run for run in open_runs if run[0] & wires]
            merged = wires.union(*(run[0] for run in overlapping))
            if len(merged) <= max_wires:
                members = [m for run in overlapping for m in run[1]] + [(t, op)]  # disjoint runs commute
                open_runs[:] = [run for run in open_runs if not run[0] & wires] + [(merged, members)]
            else:
                flush(wires)
                open_runs.append((wires, [(t, op)]))
        flush(None)
        return steps

    def _execute(
        self, state: tuple[torch.Tensor, list[int]], steps: list[tuple], P: _Params, matrices: dict[int, torch.Tensor]
    ) -> tuple[torch.Tensor, list[int]]:
        psi, live = state
        for step in steps:
            if step[0] == "op":
                op, drops = step[1], step[2]
                targets = op.wires
                fresh_targets = isinstance(op, (Select, StatePrep)) and all(w not in live for w in op.wires)
                ext = tuple(op.controls) + (tuple(op.index_wires) if isinstance(op, Select) else ())
                if fresh_targets:
                    psi, live = _insert(psi, live, [w for w in ext if w not in live])
                    psi, live = _load_fresh(psi, live, ext, targets, _fresh_columns(op, P))
                else:
                    psi, live = _insert(psi, live, [w for w in op.all_wires if w not in live])
                    psi = _apply_op(psi, op, P, lambda w, live=live: 1 + live.index(w))
            else:
                _, wires, rid, drops = step
                psi, live = _insert(psi, live, [w for w in wires if w not in live])
                if rid not in matrices:
                    matrices[rid] = self.runs[rid].matrix(P)
                psi = _apply_matrix(psi, matrices[rid], [1 + live.index(w) for w in wires])
            if drops:
                psi, live = _project(psi, live, drops)
        return psi, live

    def _finish(self, state: tuple[torch.Tensor, list[int]], c: int) -> torch.Tensor:
        psi, live = state
        if self.readouts is None:  # the full state, wire order
            psi, live = _insert(psi, live, [w for w in range(self.n_wires) if w not in live])
            return psi.permute(0, *(1 + live.index(w) for w in range(self.n_wires)))
        index, zero = self.readouts[c]
        psi, live = _project(psi, live, [w for w in zero if w in live])
        psi, live = _insert(psi, live, [w for w in index if w not in live])
        prob = psi.real**2 + psi.imag**2
        prob = prob.permute(
            0, *(1 + live.index(w) for w in index), *(1 + i for i, w in enumerate(live) if w not in index)
        )
        return prob.reshape(prob.shape[0], 2 ** len(index), -1).sum(-1)  # (B, 2^c)

    def run(
        self, params: Mapping[str, Any], dtype: torch.dtype, initial: torch.Tensor | None = None
    ) -> list[torch.Tensor]:
        """Final states ``(B, 2, ..., 2)`` or, with readouts, cell probabilities ``(B, 2^c)`` of every circuit."""
        P = _Params(self.specs, params, dtype)
        matrices: dict[int, torch.Tensor] = {}
        if initial is None:
            state = (torch.ones((P.size or 1,), dtype=dtype, device=P.device), [])  # no wire touched yet: |0...0>
        else:
            state = (_initial(self.n_wires, P.size, dtype, initial, P.device), list(range(self.n_wires)))
        snapshots = {0: state}
        for b, steps in self.first:
            state = self._execute(state, steps, P, matrices)
            snapshots[b] = state
        out = [self._finish(state, 0)]
        for i, (p, steps) in enumerate(zip(self.shared, self.rest)):
            out.append(self._finish(self._execute(snapshots[p], steps, P, matrices), i + 1))
        return out


@functools.lru_cache(maxsize=32)
def compile_circuits(
    circuits: tuple[Circuit, ...], max_fused_wires: int = 6, readouts: tuple | None = None
) -> _Program:
    """The simulation program of ``circuits`` (cached): shared prefixes found, gate runs fused,
    and with ``readouts`` (per circuit ``(index_wires, zero_wires)``) zero wires projected early."""
    if not circuits:
        raise ValueError("circuits must hold at least one circuit; got none")
    return _Program(circuits, max_fused_wires, readouts)


# --- public entry points ---------------------------------------------------------------------------


def _initial(
    n_wires: int, batch: int | None, dtype: torch.dtype, initial: Any = None, device: torch.device | None = None
) -> torch.Tensor:
    """``|0...0>`` per batch entry, or ``initial`` (``(2^n,)`` or ``(B, 2^n)``) as ``(B, 2, ..., 2)``, on ``device``."""
    if initial is None:
        psi = torch.zeros((batch or 1,) + (2,) * n_wires, dtype=dtype, device=device)
        psi[(slice(None),) + (0,) * n_wires] = 1
        return psi
    t = initial if isinstance(initial, torch.Tensor) else torch.as_tensor(np.asarray(initial))
    if t.ndim not in (1, 2) or t.shape[-1] != 2**n_wires:
        raise ValueError(f"initial must have shape ({2**n_wires},) or (B, {2**n_wires}); got {tuple(t.shape)}")
    t = t.to(dtype=dtype, device=device).reshape(-1, *(2,) * n_wires)
    if batch is not None and t.shape[0] not in (1, batch):
        raise ValueError(f"initial must hold one state or one per batch entry ({batch}); got {t.shape[0]}")
    return t.expand(batch, *t.shape[1:]) if batch is not None else t


def simulate_many(
    circuits: Sequence[Circuit],
    params: Mapping[str, Any],
    *,
    dtype: torch.dtype = torch.complex128,
    max_fused_wires: int = MAX_FUSED_WIRES,
    initial: Any = None,
) -> list[torch.Tensor]:
    """Final states ``(B, 2, ..., 2)`` of ``circuits`` (same wires) from ``|0...0>``, sharing common prefixes.

    Args:
        circuits: IR circuits on the same number of wires.
        params: named arrays (numpy or torch); an array with one more axis than its spec in the
            circuit is batched (``B`` instances, leading axis), the others are shared.
        dtype: ``torch.complex128`` (default) or ``torch.complex64``.
        max_fused_wires: widest run of consecutive gates fused into one matrix (``< 2``: no fusion).
        initial: start from these states instead, ``(2^n,)`` or ``(B, 2^n)`` (e.g. the identity's
            columns: then the final states are the columns of the circuits' unitaries).

    Every op of the longest prefix a circuit shares with the first circuit is applied once.
    """
    dtype = _validate.complex_dtype(dtype)
    if isinstance(max_fused_wires, bool) or not isinstance(max_fused_wires, int) or max_fused_wires < 0:
        raise ValueError(f"max_fused_wires must be a non-negative integer; got {max_fused_wires!r}")
    if not circuits:
        return []
    return compile_circuits(tuple(circuits), max_fused_wires).run(params, dtype, initial)


def simulate(
    circuit: Circuit,
    params: Mapping[str, Any],
    *,
    dtype: torch.dtype = torch.complex128,
    max_fused_wires: int = MAX_FUSED_WIRES,
    initial: Any = None,
) -> torch.Tensor:
    """Final state ``(B, 2, ..., 2)`` of ``circuit`` (see :func:`simulate_many`)."""
    return simulate_many([circuit], params, dtype=dtype, max_fused_wires=max_fused_wires, initial=initial)[0]


def unitary(
    circuit: Circuit,
    params: Mapping[str, Any],
    *,
    dtype: torch.dtype = torch.complex128,
    max_fused_wires: int = MAX_FUSED_WIRES,
) -> torch.Tensor:
    """The circuit's ``(2^n, 2^n)`` unitary (wire 0 most significant), from the identity's columns; unbatched params only."""
    size = 2**circuit.n_wires
    cols = simulate(circuit, params, dtype=dtype, max_fused_wires=max_fused_wires, initial=torch.eye(size, dtype=dtype))
    return cols.reshape(size, size).T


def cell_probabilities(psi: torch.Tensor, index_wires: Sequence[int], zero_wires: Sequence[int]) -> torch.Tensor:
    """``P(index = j, zero wires = 0)`` over the values ``j`` of ``index_wires`` (in order): ``(B, 2^c)``."""
    n = psi.ndim - 1
    index: list[Any] = [slice(None)] * psi.ndim
    for w in zero_wires:
        index[1 + w] = 0
    sub = psi[tuple(index)]  # axes: batch, then the wires not projected, in wire order
    rest = [w for w in range(n) if w not in set(zero_wires)]
    prob = sub.real**2 + sub.imag**2
    pos = [1 + rest.index(w) for w in index_wires]
    prob = prob.movedim(pos, list(range(1, 1 + len(pos))))
    return prob.reshape(prob.shape[0], 2 ** len(pos), -1).sum(-1)


def readout_cells(
    qsa_circuits: Sequence[Any],
    params: Mapping[str, Any],
    *,
    dtype: torch.dtype = torch.complex128,
    max_fused_wires: int = MAX_FUSED_WIRES,
) -> list[torch.Tensor]:
    """``P(index = j, zero wires = 0)`` ``(B, 2^c)`` of each :class:`~qsa.circuits.QSACircuit` (same wires).

    Equal to :func:`cell_probabilities` of the final states of :func:`simulate_many`, but common
    prefixes are simulated once and zero wires are projected right after their last operation.
    """
    dtype = _validate.complex_dtype(dtype)
    readouts = tuple((tuple(qc.index_wires), tuple(qc.zero_wires)) for qc in qsa_circuits)
    program = compile_circuits(tuple(qc.circuit for qc in qsa_circuits), max_fused_wires, readouts)
    return program.run(params, dtype)


def run(
    qsa_circuit: Any, instances: Sequence[Mapping[str, Any]], *, shots: int | None = None, seed: int | None = None
) -> np.ndarray:
    """``P(index = j, zero = 0)`` per instance, ``(len(instances), 2^len(index_wires))`` (the backend API).

    All instances are simulated as one batch (their arrays stacked); with ``shots``, multinomial
    counts of the measured wires are drawn from the exact probabilities by ``numpy`` (``seed``).
    """
    n_index = len(qsa_circuit.index_wires)
    if not instances:
        return np.zeros((0, 2**n_index))
    names = instances[0].keys()
    stacked = {name: torch.as_tensor(np.stack([np.asarray(p[name]) for p in instances])) for name in names}
    if shots is not None:  # the distribution over every measured wire, to sample from
        qsa_circuit = replace(qsa_circuit, index_wires=qsa_circuit.measured_wires, zero_wires=())
    with torch.no_grad():
        (cells,) = readout_cells([qsa_circuit], stacked)
    if shots is None:
        return cells.numpy()
    full = cells.numpy()  # (B, 2^m) over the index and zero wires
    rng = np.random.default_rng(seed)
    counts = np.stack([rng.multinomial(shots, p / p.sum()) for p in full]) / shots
    return counts.reshape(len(instances), 2**n_index, -1)[..., 0]


def __getattr__(name: str) -> Any:
    if name in ("StatevectorEvaluator", "MAX_AMPLITUDES"):  # moved to qsa.evaluators.statevector
        import warnings

        warnings.warn(
            f"qsa.backends.statevector.{name} moved to qsa.evaluators.statevector; the old path will be removed "
            "in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        from qsa.evaluators import statevector

        return getattr(statevector, name)
    raise AttributeError(f"module 'qsa.backends.statevector' has no attribute {name!r}")
