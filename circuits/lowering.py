r"""Lowering of state loads to CNOT + RY/RZ, and the angles that feed the lowered circuit.

:func:`lower` rewrites every :class:`~qsa.circuits.ir.Select` and
:class:`~qsa.circuits.ir.StatePrep` into uniformly controlled rotations (Mottonen et al.,
*Transformation of quantum states using uniformly controlled rotations*, QIC 5, 467 (2005)),
each decomposed with Gray-code ordered CNOTs: a rotation with ``m`` uniform controls costs
``2^m`` single-qubit rotations and ``2^m`` CNOTs (none for ``m = 0``). A multiplexed load of ``T``
tokens of width ``d = 2^n`` on a ``c``-qubit index register costs
``sum_{m<n} 2^{c+m}`` RY + ``sum_{q<c+n} 2^q`` RZ rotations and as many CNOTs (about ``4 T d``
when ``T = 2^c``), plus a global phase.

Data never enters the lowered circuit directly: a lowered ``Select`` reads *derived* parameter
arrays (``<prefix>_ry<m>``, ``<prefix>_rz<q>``, ``<prefix>_gphase``) that :func:`derive` computes
from the data arrays. So one lowered circuit (one Qiskit template per shape) serves every data set.

Lowered semantics, exactly: the extended index register ``u`` (plain controls first, then the
index wires) selects a row ``table[u]`` (or identity for ``-1``); the op is
``D R`` where ``R`` is the block-diagonal real rotation tree with ``R|u>|0> = |u>|r_u>``
(``r_u = |x_{table[u]}|``) and ``D`` the diagonal of phases ``arg x_{table[u]}``; blocks with
``table[u] = -1`` are exactly the identity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from qsa.circuits.ir import Circuit, Derivation, Gate, Param, ParamSpec, Select, StatePrep

__all__ = [
    "lower",
    "derive",
    "gray_code_angles",
    "ry_tree_angles",
    "stateprep_rotations",
    "uniformly_controlled",
    "select_table",
]


def _fwht(a: np.ndarray) -> np.ndarray:
    """Fast Walsh-Hadamard transform over the last axis: ``(H a)_i = sum_l (-1)^{popcount(i & l)} a_l``."""
    a = np.array(a, dtype=np.float64, copy=True)
    n = a.shape[-1]
    h = 1
    while h < n:
        a = a.reshape(a.shape[:-1] + (n // (2 * h), 2, h))
        x, y = a[..., 0, :].copy(), a[..., 1, :].copy()
        a[..., 0, :], a[..., 1, :] = x + y, x - y
        a = a.reshape(a.shape[:-3] + (n,))
        h *= 2
    return a


def gray_code_angles(alpha: np.ndarray) -> np.ndarray:
    r"""Rotation angles ``theta`` of the Gray-code circuit for uniformly controlled angles ``alpha``.

    The circuit ``R(theta_0) CNOT R(theta_1) CNOT ...`` gives control value ``i`` the angle
    ``alpha_i = sum_j (-1)^{popcount(i & g_j)} theta_j`` (``g_j = j ^ (j >> 1)``), so
    ``theta_j = (H alpha)_{g_j} / 2^m``. Works on a batch over leading axes.
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    size = alpha.shape[-1]
    gray = np.arange(size) ^ (np.arange(size) >> 1)
    theta: np.ndarray = _fwht(alpha)[..., gray] / size
    return theta


def uniformly_controlled(axis: str, target: int, controls: tuple[int, ...], thetas: list[Any]) -> list[Gate]:
    """Gray-code circuit of a uniformly controlled ``R<axis>`` (``thetas`` from :func:`gray_code_angles`)."""
    m = len(controls)
    if len(thetas) != 2**m:
        raise ValueError(f"thetas must have 2^{m} entries; got {len(thetas)}")
    ops: list[Gate] = []
    for j in range(2**m):
        ops.append(Gate(axis, (target,), (thetas[j],)))
        if m:
            diff = (j ^ (j >> 1)) ^ (((j + 1) % 2**m) ^ (((j + 1) % 2**m) >> 1))
            ops.append(Gate("CNOT", (controls[m - diff.bit_length()], target)))
    return ops


def select_table(op: Select) -> tuple[int, ...]:
    """Row loaded at each value of the extended index register (plain controls first), ``-1`` for none."""
    k, c = len(op.controls), len(op.index_wires)
    table = [-1] * 2 ** (k + c)
    ctrl_value = sum(v << (k - 1 - r) for r, v in enumerate(op.control_values))
    for v, row in enumerate(op.rows):
        table[(ctrl_value << c) + v] = row
    return tuple(table)


def ry_tree_angles(amplitudes: np.ndarray, n: int) -> list[np.ndarray]:
    """RY angles of the Mottonen tree for rows ``amplitudes`` ``(U, 2^n)``. Per level ``m``: ``alpha[u, p] = 2 atan2(||x[u, p1*]||, ||x[u, p0*]||)``, flattened over (u, p)."""
    mag2 = np.abs(amplitudes) ** 2  # (U, 2^n)
    out = []
    for m in range(n):
        blocks = mag2.reshape(mag2.shape[0], 2**m, 2, 2 ** (n - m - 1)).sum(-1)  # (U, 2^m, 2)
        out.append((2 * np.arctan2(np.sqrt(blocks[..., 1]), np.sqrt(blocks[..., 0]))).reshape(-1))
    return out


def _diagonal_angles(phases: np.ndarray) -> tuple[list[np.ndarray], float]:
    """RZ angles per qubit (``q = 0..K-1``, uniform controls on qubits ``< q``) and the global phase."""
    omega = np.asarray(phases, dtype=np.float64).reshape(-1)
    K = int(round(math.log2(omega.size)))
    rz: list[np.ndarray] = [np.zeros(0)] * K
    for q in range(K - 1, -1, -1):
        pairs = omega.reshape(2**q, 2)
        rz[q] = pairs[:, 1] - pairs[:, 0]
        omega = pairs.mean(axis=1)
    return rz, float(omega[0])


def _select_amplitudes(table: tuple[int, ...], data: np.ndarray, d: int) -> np.ndarray:
    amps = np.zeros((len(table), d), dtype=np.complex128)
    amps[:, 0] = 1.0
    for u, row in enumerate(table):
        if row >= 0:
            amps[u] = data[row]
    return amps


def derive(circuit: Circuit, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The derived angle arrays of a lowered ``circuit`` from its data arrays (numpy, float64).

    ``params[ref]`` must hold the rows each lowered ``Select`` loads (numpy or torch; read as numpy).
    """
    out: dict[str, np.ndarray] = {}
    for der in circuit.derivations:
        if der.ref not in params:
            raise KeyError(f"parameter {der.ref!r} must be given; got only {sorted(params)}")
        data = params[der.ref]
        data = np.asarray(data.detach().cpu().numpy() if hasattr(data, "detach") else data, dtype=np.complex128)
        d = 2**der.n_data
        if data.ndim != 2 or data.shape[1] != d:
            raise ValueError(f"{der.ref} must have shape (rows, {d}); got {data.shape}")
        if max(der.table) >= data.shape[0]:
            raise ValueError(f"{der.ref} must have at least {max(der.table) + 1} rows; got {data.shape[0]}")
        amps = _select_amplitudes(der.table, data, d)
        for m, alpha in enumerate(ry_tree_angles(amps, der.n_data)):
            out[f"{der.prefix}_ry{m}"] = gray_code_angles(alpha)
        phases = np.where(np.abs(amps) > 1e-300, np.angle(amps), 0.0)
        rz, gphase = _diagonal_angles(phases)
        for q, alpha in enumerate(rz):
            out[f"{der.prefix}_rz{q}"] = gray_code_angles(alpha)
        out[f"{der.prefix}_gphase"] = np.array(gphase)
    return out


def _lower_select(op: Select, prefix: str) -> tuple[list[Gate], list[ParamSpec], Derivation]:
    ext = op.controls + op.index_wires
    K, n = len(ext), len(op.wires)
    order = ext + op.wires  # qubits of the diagonal, most significant first
    ops: list[Gate] = []
    specs: list[ParamSpec] = []
    for m in range(n):
        name = f"{prefix}_ry{m}"
        size = 2 ** (K + m)
        specs.append(ParamSpec(name, (size,), "derived"))
        ops += uniformly_controlled("RY", op.wires[m], ext + op.wires[:m], [Param(name, (j,)) for j in range(size)])
    for q in range(K + n):
        name = f"{prefix}_rz{q}"
        specs.append(ParamSpec(name, (2**q,), "derived"))
        ops += uniformly_controlled("RZ", order[q], order[:q], [Param(name, (j,)) for j in range(2**q)])
    specs.append(ParamSpec(f"{prefix}_gphase", (), "derived"))
    ops.append(Gate("GlobalPhase", (), (Param(f"{prefix}_gphase"),)))
    if op.dagger:
        ops = [g.adjoint() for g in reversed(ops)]
    return ops, specs, Derivation(prefix=prefix, ref=op.ref, table=select_table(op), n_data=n)


def stateprep_rotations(op: StatePrep) -> list[tuple[int, tuple[int, ...], np.ndarray]]:
    """The RY tree of a fixed ``StatePrep`` (its dagger aside): ``(target, controls, thetas)`` per level.

    Level ``m`` is a uniformly controlled RY on ``op.wires[m]`` controlled by the external controls
    and ``op.wires[:m]``, with Gray-code ordered angles ``thetas``. Inactive control patterns keep
    ``|0>`` (their amplitude table is ``e_0``).
    """
    ext, n = tuple(op.controls), len(op.wires)
    K = len(ext)
    amps = np.zeros((2**K, 2**n))
    amps[:, 0] = 1.0
    active = sum(v << (K - 1 - r) for r, v in enumerate(op.control_values))
    amps[active] = op.amplitudes
    return [
        (op.wires[m], ext + tuple(op.wires[:m]), gray_code_angles(alpha))
        for m, alpha in enumerate(ry_tree_angles(amps, n))
    ]


def _lower_stateprep(op: StatePrep) -> list[Gate]:
    ops: list[Gate] = []
    for target, controls, thetas in stateprep_rotations(op):
        ops += uniformly_controlled("RY", target, controls, [float(t) for t in thetas])
    if op.dagger:
        ops = [g.adjoint() for g in reversed(ops)]
    return ops


def lower(circuit: Circuit) -> Circuit:
    """``circuit`` with every ``Select`` and ``StatePrep`` replaced by CNOT + RY/RZ (+ global phase).

    ``Gate`` and ``Unitary`` operations are kept. Identical loads (same data array, table and
    width) share one set of derived arrays, recorded in ``circuit.derivations``.
    """
    ops: list[Any] = []
    specs = list(circuit.params)
    derivations: dict[str, Derivation] = {d_.prefix: d_ for d_ in circuit.derivations}
    keys: dict[tuple[Any, ...], str] = {(d_.ref, d_.table, d_.n_data): d_.prefix for d_ in circuit.derivations}
    for op in circuit.ops:
        if isinstance(op, Select):
            key = (op.ref, select_table(op), len(op.wires))
            prefix = keys.get(key) or f"{op.ref}_L{sum(1 for k in keys if k[0] == op.ref)}"
            new_ops, new_specs, der = _lower_select(op, prefix)
            if key not in keys:
                keys[key] = prefix
                derivations[prefix] = der
                specs += new_specs
            ops += new_ops
        elif isinstance(op, StatePrep):
            ops += _lower_stateprep(op)
        else:
            ops.append(op)
    return replace(circuit, ops=tuple(ops), params=tuple(specs), derivations=tuple(derivations.values()))
