r"""What goes into a primitive job: circuit templates, parameter-shift points and their bindings.

A :class:`~qsa.circuits.Shape` fixes the circuits (circuit A or B, ``T``, ``d``, ``k``, kernel, ansatz depths,
query phases); :func:`program` builds, once per shape, one parameterised Qiskit template per
circuit variant (``mu``, ``zeta``, ``nu`` for circuit A; ``P0`` for circuit B) and the
parameter-shift plan of each. :meth:`Program.bindings` turns the trainable angles and the data of
``S`` sequences into one parameter array per template: a PUB ``(template, array)`` per circuit
shape, holding the unshifted point of every sequence and, when a gradient is wanted, every
shifted point of every sequence.

**Occurrences.** A trainable angle can enter a circuit several times: ``theta_W`` drives the
``k`` copies of ``W`` in circuit A (and ``W`` on every key copy of circuit B). The product rule
makes the derivative the sum over occurrences, each shifted on its own, so the templates give
every occurrence its own Qiskit parameter: the ``c``-th occurrence of ``theta_W[l, q, a]`` is
``theta_W@c[l, q, a]``. Every occurrence is bound to the same value except at a shifted point.

**Shift rules** (exact for the gate's spectrum; ``theta`` the gate angle):

* ``RX``/``RY``/``RZ``/``PhaseShift`` and a *controlled* ``GlobalPhase`` (the query phase
  ``e^{i phi_j}`` on ``C1 = |j>``; its generator is a projector): eigenvalue gaps ``{1}``,

  .. math:: \partial_\theta f = \tfrac12\,[f(\theta + \tfrac\pi2) - f(\theta - \tfrac\pi2)].

* a *controlled* ``RX``/``RY``/``RZ`` (the poly-kernel copies of ``W`` are controlled on the LCU
  register): gaps ``{1/2, 1}``, the four-term rule

  .. math:: \partial_\theta f = c_+\,[f(\theta + \tfrac\pi2) - f(\theta - \tfrac\pi2)]
            - c_-\,[f(\theta + \tfrac{3\pi}2) - f(\theta - \tfrac{3\pi}2)],\quad
            c_\pm = \frac{\sqrt2 \pm 1}{4\sqrt2}.

An occurrence outside the backward light cone of the measured wires (``V`` in the ``zeta``
circuit, whose value register is traced out and never touched again) has derivative exactly
zero and gets no shifted points.

**Token gradients.** The tokens (``x``, ``y``; circuit B's superposition states ``psi``) enter
through multiplexed loads (:class:`~qsa.circuits.ir.Select`), each read by the lowered circuit
through derived rotation angles (:mod:`qsa.circuits.lowering`). The templates give every load its
own data array (the ``o``-th load of ``x`` reads ``x@o``), so one row of one load can be moved
while everything else stays. Every QSA observable depends on a load only through the loaded state
(its first column), and the amplitudes of a cell are *affine* in the state ``x_i`` that branch
``i`` of one load holds (the other branches do not involve it). Moving that state along a great
circle of the unit sphere, ``x(t) = cos t x + sin t v`` with ``v`` a unit tangent vector
(``Re <x|v> = 0``), makes every cell probability a trigonometric polynomial of degree 2 in ``t``
(frequencies 1 and 2), so a four-term rule is exact (:data:`TOKEN_SHIFTS`):

.. math:: \partial_t f = 2 c_+\,[f(\tfrac\pi4) - f(-\tfrac\pi4)] - 2 c_-\,[f(\tfrac{3\pi}4) - f(-\tfrac{3\pi}4)],

each shifted point being just another unit token, loaded through its own derived angles (no
derivative of the angle map is taken: it is singular where an amplitude vanishes, the state map
is not). The ``2 dim - 1`` tangent directions of a token (``i x`` and ``u, i u`` for an
orthonormal basis ``u`` of the complement of ``x``: :func:`tangent_basis`) give the gradient's
tangent part; summed over the loads that hold a token, this is the gradient of the observable
with respect to the token on the unit sphere (its radial part is not defined for states, and a
normalising map in front -- every QSA embedding and projector -- removes it anyway).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from qsa.circuits import QSACircuit, Shape
from qsa.circuits.ir import Circuit, Derivation, Gate, Param, ParamSpec, Select
from qsa.circuits.linalg import householder
from qsa.circuits.lowering import derive

if TYPE_CHECKING:
    from qsa.circuits.to_qiskit import QiskitTemplate

__all__ = [
    "TRAINABLE",
    "Shape",
    "ShiftRule",
    "TWO_TERM",
    "FOUR_TERM",
    "Occurrence",
    "Template",
    "Program",
    "program",
    "split_occurrences",
    "split_loads",
    "light_cone",
    "DataOccurrence",
    "DATA",
    "TOKEN_SHIFTS",
    "tangent_basis",
]

#: Data arrays whose gradient the templates can take (tokens, targets, circuit B's superposition states).
DATA = ("x", "y", "psi")

#: Trainable parameter arrays of the QSA circuits, in the order of the flat gradient vector.
TRAINABLE = ("theta_W", "theta_V", "phi")


@dataclass(frozen=True)
class ShiftRule:
    """``df/dtheta = sum_i coefficients[i] * f(theta + shifts[i])``."""

    name: str
    shifts: tuple[float, ...]
    coefficients: tuple[float, ...]


TWO_TERM = ShiftRule("two-term", (math.pi / 2, -math.pi / 2), (0.5, -0.5))
_CP, _CM = (math.sqrt(2) + 1) / (4 * math.sqrt(2)), (math.sqrt(2) - 1) / (4 * math.sqrt(2))
FOUR_TERM = ShiftRule(
    "four-term", (math.pi / 2, -math.pi / 2, 3 * math.pi / 2, -3 * math.pi / 2), (_CP, -_CP, -_CM, _CM)
)


def _rule(op: Gate) -> ShiftRule | None:
    """The shift rule of a parameterised gate (``None``: the angle has no effect, a global phase)."""
    if op.name in ("RX", "RY", "RZ"):
        return FOUR_TERM if op.controls else TWO_TERM
    if op.name == "PhaseShift":
        return TWO_TERM
    if op.name == "GlobalPhase":
        return TWO_TERM if op.controls else None
    raise NotImplementedError(f"no parameter-shift rule for a trainable {op.name} gate")


def light_cone(circuit: Circuit, measured: tuple[int, ...]) -> frozenset[int]:
    """Indices of the ops that can change the distribution of the ``measured`` wires.

    Walking backwards, an op matters if it touches a wire that (later) reaches a measured wire;
    every other op acts on a part of the state that is traced out, and cannot matter.
    """
    live = set(measured)
    relevant = set()
    for i in range(len(circuit.ops) - 1, -1, -1):
        wires = set(circuit.ops[i].all_wires)
        if wires & live:
            live |= wires
            relevant.add(i)
    return frozenset(relevant)


#: Great-circle shifts ``t`` of a token and their coefficients in ``d f / d t`` (module docstring).
TOKEN_SHIFTS = ShiftRule(
    "great-circle four-term",
    tuple(shift / 2 for shift in FOUR_TERM.shifts),
    tuple(2 * c for c in FOUR_TERM.coefficients),
)


def tangent_basis(x: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the tangent space of the unit sphere at the unit vectors ``x`` ``(..., n)``:
    ``(..., 2n - 1, n)``, orthonormal in the real inner product ``Re <a|b>`` and orthogonal to ``x``.

    The first direction is ``i x`` (the phase); then ``u`` and ``i u`` for the columns ``u`` of the
    Householder completion of ``x`` (:func:`qsa.circuits.linalg.householder`) after the first.
    """
    x = np.asarray(x, dtype=np.complex128)
    U = householder(x)  # (..., n, n), first column x
    rest = np.swapaxes(U[..., :, 1:], -1, -2)  # (..., n - 1, n)
    return np.concatenate([1j * x[..., None, :], rest, 1j * rest], axis=-2)


@dataclass(frozen=True)
class DataOccurrence:
    """One load of a data array in a template: ``split`` (e.g. ``x@1``) holds ``base`` (``x``).

    ``rows`` are the rows of ``base`` the load holds (one per branch of its index register);
    ``columns`` and ``names`` the template columns its derived angles fill and the derived
    ``(array, flat index)`` each one reads; ``relevant``: whether it lies in the light cone of the
    measured wires; ``n_data``: qubits of the loaded state.
    """

    split: str
    base: str
    rows: tuple[int, ...]
    relevant: bool
    derivation: Derivation
    columns: tuple[int, ...]
    names: tuple[tuple[str, int], ...]
    n_data: int

    @functools.cached_property
    def _derives(self) -> Circuit:
        """A circuit holding only this load's derivation (what :func:`~qsa.circuits.lowering.derive` reads)."""
        return Circuit(n_wires=0, derivations=(self.derivation,))


def split_loads(
    circuit: Circuit, measured: tuple[int, ...], names: tuple[str, ...] = DATA
) -> tuple[Circuit, tuple[tuple[str, str, tuple[int, ...], bool], ...]]:
    """``circuit`` with the ``o``-th load of ``name`` reading ``name@o``, and ``(split, base, rows, relevant)`` per load."""
    cone = light_cone(circuit, measured)
    counter: Counter[str] = Counter()
    ops, loads = [], []
    for i, op in enumerate(circuit.ops):
        if isinstance(op, Select) and op.ref in names:
            split = f"{op.ref}@{counter[op.ref]}"
            counter[op.ref] += 1
            loads.append((split, op.ref, tuple(dict.fromkeys(op.rows)), i in cone))
            op = replace(op, ref=split)
        ops.append(op)
    specs = []
    for spec in circuit.params:
        if spec.name in names:
            specs += [ParamSpec(f"{spec.name}@{o}", spec.shape, spec.kind) for o in range(counter[spec.name])]
        else:
            specs.append(spec)
    return replace(circuit, ops=tuple(ops), params=tuple(specs)), tuple(loads)


@dataclass(frozen=True)
class Occurrence:
    """One gate angle driven by a trainable element: ``split[index]`` in the template, ``base[index]`` in the model."""

    split: str
    base: str
    index: tuple[int, ...]
    scale: float
    rule: ShiftRule | None
    relevant: bool


def split_occurrences(
    circuit: Circuit, measured: tuple[int, ...], names: tuple[str, ...] = TRAINABLE
) -> tuple[Circuit, tuple[Occurrence, ...]]:
    """``circuit`` with the ``c``-th use of ``name[index]`` renamed ``name@c[index]``, and the occurrences."""
    cone = light_cone(circuit, measured)
    counter: Counter[tuple[str, Any]] = Counter()
    ops, occurrences = [], []
    for i, op in enumerate(circuit.ops):
        if isinstance(op, Gate) and any(isinstance(a, Param) and a.name in names for a in op.params):
            rule = _rule(op)
            params = []
            for a in op.params:
                if isinstance(a, Param) and a.name in names:
                    c = counter[(a.name, a.index)]
                    counter[(a.name, a.index)] += 1
                    split = f"{a.name}@{c}"
                    params.append(replace(a, name=split))
                    occurrences.append(
                        Occurrence(split, a.name, a.index, a.scale, rule, rule is not None and i in cone)
                    )
                else:
                    params.append(a)
            op = replace(op, params=tuple(params))
        ops.append(op)
    specs = []
    for spec in circuit.params:
        if spec.name in names:
            copies = max((c for (name, _), c in counter.items() if name == spec.name), default=0)
            specs += [ParamSpec(f"{spec.name}@{c}", spec.shape, "trainable") for c in range(copies)]
        else:
            specs.append(spec)
    return replace(circuit, ops=tuple(ops), params=tuple(specs)), tuple(occurrences)


@dataclass(frozen=True)
class Template:
    """One circuit variant: its IR, its measured Qiskit template and its parameter-shift plan.

    ``shift_rows[r] = (column, delta)`` is row ``r + 1`` of a sequence's block (row 0 is the
    unshifted point): the template parameter ``column`` moved by ``delta``. ``coefficients`` is
    ``(1 + n_shift_rows, n_trainable)``: the derivative of any probability with respect to the flat
    trainable vector is ``coefficients.T @ f(rows)``.
    """

    variant: str
    qsa_circuit: QSACircuit
    qiskit: QiskitTemplate
    occurrences: tuple[Occurrence, ...]
    shift_rows: tuple[tuple[int, float], ...]
    coefficients: np.ndarray
    loads: tuple[DataOccurrence, ...] = ()

    def values(self, arrays: Mapping[str, Any]) -> np.ndarray:
        """The template's parameter row from the base arrays (``x``, ``y``, ``psi``, angles); each load reads its own copy."""
        split = {name: value for name, value in arrays.items() if name not in DATA}
        for load in self.loads:
            split[load.split] = arrays[load.base]
        return self.qiskit.values(split)

    def load_values(self, load: DataOccurrence, data: np.ndarray) -> np.ndarray:
        """The values of ``load``'s columns when it holds the rows ``data`` ``(rows, dim)``."""
        derived = derive(load._derives, {load.split: data})
        return np.array([float(np.asarray(derived[name]).reshape(-1)[flat]) for name, flat in load.names])

    def data_rows(self, base: str) -> int:
        """Shifted rows per sequence for the gradient w.r.t. ``base``: 4 per tangent direction, row and load."""
        n = len(TOKEN_SHIFTS.shifts)
        return sum(len(a.rows) * (2 * 2**a.n_data - 1) * n for a in self.loads if a.relevant and a.base == base)

    @property
    def n_index(self) -> int:
        return len(self.qsa_circuit.index_wires)

    @property
    def n_zero(self) -> int:
        return len(self.qsa_circuit.zero_wires)

    @property
    def rows_per_sequence(self) -> int:
        return 1 + len(self.shift_rows)


@dataclass(frozen=True)
class Program:
    """The templates of one :class:`Shape` and the layout of its flat trainable vector."""

    shape: Shape
    templates: dict[str, Template]
    layout: dict[str, tuple[int, tuple[int, ...]]]  # name -> (offset, shape) in the flat vector
    n_trainable: int

    def flatten(self, params: Mapping[str, Any]) -> np.ndarray:
        """The flat trainable vector (``phi`` of one sequence) from named arrays."""
        out = np.zeros(self.n_trainable)
        for name, (offset, shape) in self.layout.items():
            out[offset : offset + math.prod(shape)] = np.asarray(params[name], dtype=np.float64).reshape(-1)
        return out

    def bindings(
        self,
        params: Mapping[str, Any],
        X: np.ndarray,
        Y: np.ndarray,
        *,
        gradient: bool,
        data: tuple[str, ...] = (),
        psi: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """One parameter array per variant, ``(S * rows, n_parameters)``, sequence-major.

        Args:
            params: ``theta_W``, ``theta_V`` (shapes of :meth:`~qsa.circuits.Shape.trainable_shapes`) and, with phases,
                ``phi`` of shape ``(T,)`` or ``(S, T)``; numpy arrays (float64).
            X, Y: tokens and targets, ``(S, T, d)`` complex, unit rows.
            gradient: include every shifted point of the angles (else only the unshifted one per sequence).
            data: the data arrays (of :data:`DATA`) whose gradient is wanted: their shifted points
                follow those of the angles, per sequence, array by array in this order, each as
                :meth:`data_layout` lists them.
            psi: circuit B's superposition states ``(S, T, d^(k+1))`` (default: from ``X``).
        """
        S = X.shape[0]
        phi = None
        if self.shape.phases:
            phi = np.broadcast_to(np.asarray(params["phi"], dtype=np.float64), (S, self.shape.T))
        if self.shape.circuit == "B" and psi is None:
            psi = np.stack([_superposition(X[s], self.shape.k) for s in range(S)])
        out = {}
        for variant, tpl in self.templates.items():
            blocks = []
            for s in range(S):
                arrays: dict[str, Any] = {"x": X[s], "y": Y[s]}
                if psi is not None:  # circuit B
                    arrays["psi"] = psi[s]
                for occ in tpl.occurrences:
                    base = phi[s] if occ.base == "phi" else params[occ.base]
                    arrays[occ.split] = np.asarray(base, dtype=np.float64)
                row = tpl.values(arrays)
                if gradient and tpl.shift_rows:
                    block = np.repeat(row[None], tpl.rows_per_sequence, axis=0)
                    cols, deltas = zip(*tpl.shift_rows)
                    block[np.arange(1, tpl.rows_per_sequence), list(cols)] += deltas
                else:
                    block = row[None]
                blocks.append(block)
                for name in data:
                    blocks.append(_shifted_loads(tpl, name, row, arrays[name]))
            out[variant] = np.concatenate(blocks)
        return out

    def data_layout(self, variant: str, name: str) -> list[tuple[DataOccurrence, int]]:
        """The shifted points of ``name`` in a sequence's block of ``variant``: ``(load, row)`` pairs, in
        order, each followed by ``2 dim - 1`` directions x 4 shifts (:data:`TOKEN_SHIFTS`)."""
        loads = self.templates[variant].loads
        return [(load, r) for load in loads if load.relevant and load.base == name for r in load.rows]

    def rows_per_sequence(self, variant: str, *, gradient: bool) -> int:
        return self.templates[variant].rows_per_sequence if gradient else 1

    def binding_bytes(self, S: int, *, gradient: bool, data: tuple[str, ...] = ()) -> int:
        """Bytes of the float64 parameter arrays :meth:`bindings` returns for ``S`` sequences (one copy),
        from the templates' row and parameter counts, before anything is allocated.

        Rows per sequence and variant: the unshifted one, with ``gradient`` the angles' shifted ones, and per
        data array of ``data`` 4 per tangent direction (``2 dim - 1``), row and load (:meth:`Template.data_rows`).
        """
        total = 0
        for variant, tpl in self.templates.items():
            rows = self.rows_per_sequence(variant, gradient=gradient) + sum(tpl.data_rows(name) for name in data)
            total += S * rows * tpl.qiskit.circuit.num_parameters * 8
        return total


def _superposition(x: np.ndarray, k: int) -> np.ndarray:
    from qsa.circuit_tier import superposition_states

    return np.asarray(superposition_states(x, k=k))


def _shifted_loads(tpl: Template, name: str, row: np.ndarray, data: np.ndarray) -> np.ndarray:
    """The shifted points of the data array ``name`` for one sequence: ``(data_rows, n_parameters)``.

    For each relevant load of ``name`` and each row ``i`` it holds, each tangent direction ``v`` of
    ``data[i]`` and each shift ``t`` of :data:`TOKEN_SHIFTS`: the unshifted ``row`` with that load's
    columns recomputed for ``data[i]`` moved to ``cos t data[i] + sin t v``.
    """
    data = np.asarray(data, dtype=np.complex128)
    blocks = []
    directions = tangent_basis(data)  # (rows, 2 dim - 1, dim)
    cos, sin = np.cos(TOKEN_SHIFTS.shifts), np.sin(TOKEN_SHIFTS.shifts)
    for load in tpl.loads:
        if not (load.relevant and load.base == name):
            continue
        cols = list(load.columns)
        for i in load.rows:
            moved = cos[None, :, None] * data[i] + sin[None, :, None] * directions[i][:, None, :]  # (2dim-1, 4, dim)
            block = np.repeat(row[None], moved.shape[0] * moved.shape[1], axis=0)
            for r, state in enumerate(moved.reshape(-1, data.shape[-1])):
                shifted = data.copy()
                shifted[i] = state
                block[r, cols] = tpl.load_values(load, shifted)
            blocks.append(block)
    return np.concatenate(blocks) if blocks else np.zeros((0, row.shape[0]))


def _template(shape: Shape, variant: str, layout: dict[str, tuple[int, tuple[int, ...]]], n_trainable: int) -> Template:
    qsa_circuit = shape.build(variant)
    split, occurrences = split_occurrences(qsa_circuit.circuit, qsa_circuit.measured_wires)
    split, load_list = split_loads(split, qsa_circuit.measured_wires)
    qsa_circuit = replace(qsa_circuit, circuit=split)
    from qsa.circuits.to_qiskit import to_qiskit  # here: the shift plan alone (split_occurrences) needs no Qiskit

    qiskit = to_qiskit(split, measure=qsa_circuit.measured_wires, name=f"qsa_{shape.circuit}_{variant}")
    column = {source: c for c, source in enumerate(qiskit.sources)}
    derivations = {der.ref: der for der in qiskit.lowered.derivations}
    loads = []
    for split_name, base, load_rows, relevant in load_list:
        der = derivations[split_name]
        owned = [(c, source) for c, source in enumerate(qiskit.sources) if source[0].startswith(der.prefix + "_")]
        names = tuple(source for _, source in owned)
        loads.append(
            DataOccurrence(split_name, base, load_rows, relevant, der, tuple(c for c, _ in owned), names, der.n_data)
        )
    rows: list[tuple[int, float]] = []
    coefficient_rows: list[tuple[int, float]] = []  # (flat trainable slot, coefficient) per shift row
    for occ in occurrences:
        if not occ.relevant:
            continue
        offset, base_shape = layout[occ.base]
        flat = int(np.ravel_multi_index(occ.index, base_shape)) if occ.index else 0
        col = column.get((occ.split, flat))
        if col is None:  # pragma: no cover - every Param of the split circuit becomes a parameter
            raise RuntimeError(f"{occ.split}[{flat}] is missing from the template")
        for delta, coefficient in zip(occ.rule.shifts, occ.rule.coefficients):
            rows.append((col, delta / occ.scale))
            coefficient_rows.append((offset + flat, coefficient * occ.scale))
    coefficients = np.zeros((1 + len(rows), n_trainable))
    for r, (slot, coefficient) in enumerate(coefficient_rows, start=1):
        coefficients[r, slot] += coefficient
    return Template(variant, qsa_circuit, qiskit, occurrences, tuple(rows), coefficients, tuple(loads))


@functools.lru_cache(maxsize=64)
def program(shape: Shape) -> Program:
    """The templates and shift plans of ``shape`` (built once per shape and cached)."""
    if not isinstance(shape, Shape):
        raise TypeError(f"shape must be a Shape; got {type(shape).__name__}")
    for name in ("w_layers", "v_layers"):
        if getattr(shape, name) is None:
            raise ValueError(f"shape.{name} must be an ansatz depth (the hardware path trains ansatz angles); got None")
    layout, offset = {}, 0
    for name, s in shape.trainable_shapes().items():
        layout[name] = (offset, s)
        offset += math.prod(s)
    templates = {v: _template(shape, v, layout, offset) for v in shape.variants}
    return Program(shape, templates, layout, offset)
