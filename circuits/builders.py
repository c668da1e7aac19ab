r"""Pure builders of the QSA circuits (docs/method.md sections 2, 4, 5): same arguments, equal circuit.

Register layout of circuit A (wire 0 first, most significant):
``C1`` (``c = ceil(log2 T)`` qubits, query index ``j``), ``C2`` (``c`` qubits, key index ``i``),
``A`` (``n = log2 d`` qubits, value), ``B1..Bk`` (``n`` qubits each, key copies) and, for the poly
kernel, the unary register ``P`` (``k`` qubits): ``2c + (k+1) n (+ k)`` qubits.
Circuit B: ``C`` (``c`` qubits), ``A``, ``B1..Bk``: ``c + (k+1) n`` qubits.

Parameter arrays the circuits read (see each circuit's ``params`` specs): tokens ``x`` and targets
``y`` ``(T, d)``; the value/key maps either as matrices ``V``, ``W`` ``(d, d)`` or as ansatz angles
``theta_V``, ``theta_W`` ``(L, n, 3)``; query phases ``phi`` ``(T,)``; for circuit B the
superposition states ``psi`` ``(T, d^{k+1})``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from qsa.circuits import _checks
from qsa.circuits.ir import Circuit, Gate, Op, Param, ParamSpec, Register, Select, StatePrep, Unitary, bits
from qsa.circuits.shape import VARIANTS as _SHAPE_VARIANTS
from qsa.circuits.shape import Shape, n_index_qubits

__all__ = [
    "n_index_qubits",
    "triangular_amplitudes",
    "uniform_amplitudes",
    "triangular_state",
    "uniform_state",
    "token_load",
    "indexed_load",
    "ansatz_shape",
    "ansatz",
    "cnot_ring",
    "lcu_angles",
    "lcu_register",
    "query_phases",
    "QSACircuit",
    "circuit_a",
    "circuit_b",
    "VARIANTS",
    "tfim_trotter_step",
]

#: The variants of circuit A (see :data:`qsa.circuits.shape.VARIANTS` for both circuits).
VARIANTS = _SHAPE_VARIANTS["A"]


def _n_qubits_of_width(d: int) -> int:
    return _checks.power_of_two(d, "d")


def triangular_amplitudes(T: int) -> np.ndarray:
    r"""``tau = N^{-1/2} sum_{j<T} sum_{i<=j} |j>|i>`` on ``2c`` qubits (index ``j 2^c + i``), ``N = T(T+1)/2``."""
    c = n_index_qubits(T)
    tau = np.zeros((2**c, 2**c))
    tau[:T, :T] = np.tril(np.ones((T, T)))
    return (tau / math.sqrt(T * (T + 1) / 2)).reshape(-1)


def uniform_amplitudes(T: int) -> np.ndarray:
    r"""``u = T^{-1/2} sum_{j<T} |j>`` on ``c`` qubits: uniform over the *active* indices only."""
    c = n_index_qubits(T)
    u = np.zeros(2**c)
    u[:T] = 1 / math.sqrt(T)
    return u


def _wires(wires: tuple[int, ...] | None, n: int, name: str) -> tuple[int, ...]:
    if wires is None:
        return tuple(range(n))
    wires = tuple(int(w) for w in wires)
    if len(wires) != n:
        raise ValueError(f"{name} must have {n} wires; got {len(wires)}")
    return wires


def _circuit(
    ops: Sequence[Op], wires: tuple[int, ...], params: tuple[ParamSpec, ...] = (), registers: Sequence[Register] = ()
) -> Circuit:
    return Circuit(n_wires=max(wires, default=-1) + 1, ops=tuple(ops), params=params, registers=tuple(registers))


def triangular_state(T: int, *, wires: tuple[int, ...] | None = None) -> Circuit:
    """Prepare :func:`triangular_amplitudes` on ``2c`` wires (``C1`` then ``C2``)."""
    c = n_index_qubits(T)
    wires = _wires(wires, 2 * c, "wires")
    ops = [StatePrep(tuple(triangular_amplitudes(T)), wires, label="triangular")] if c else []
    return _circuit(ops, wires)


def uniform_state(T: int, *, wires: tuple[int, ...] | None = None) -> Circuit:
    """Prepare :func:`uniform_amplitudes` on ``c`` wires."""
    c = n_index_qubits(T)
    wires = _wires(wires, c, "wires")
    ops = [StatePrep(tuple(uniform_amplitudes(T)), wires, label="uniform")] if c else []
    return _circuit(ops, wires)


def token_load(
    ref: str,
    d: int,
    *,
    row: int = 0,
    wires: tuple[int, ...] | None = None,
    controls: tuple[int, ...] = (),
    control_value: int | None = None,
    dagger: bool = False,
) -> Circuit:
    """Load token ``params[ref][row]`` (a unitary whose first column is it), controlled on an index value.

    ``controls`` is an index register and ``control_value`` the value it must hold (default: all ones).
    """
    n = _n_qubits_of_width(d)
    wires = _wires(wires, n, "wires")
    controls = tuple(controls)
    value = 2 ** len(controls) - 1 if control_value is None else int(control_value)
    op = Select(
        ref, (), wires, (int(row),), controls=controls, control_values=bits(value, len(controls)), dagger=dagger
    )
    return _circuit([op], controls + wires)


def indexed_load(
    ref: str,
    T: int,
    d: int,
    *,
    index_wires: tuple[int, ...],
    wires: tuple[int, ...],
    controls: tuple[int, ...] = (),
    control_values: tuple[int, ...] | None = None,
    dagger: bool = False,
) -> Circuit:
    """Controlled on ``index_wires = |i>`` (``i < T``), load ``params[ref][i]`` on ``wires`` (one multiplexer)."""
    T = _checks.integer(T, "T", minimum=1)
    n = _n_qubits_of_width(d)
    wires = _wires(wires, n, "wires")
    index_wires = _wires(index_wires, n_index_qubits(T), "index_wires")
    values = (1,) * len(controls) if control_values is None else tuple(control_values)
    op = Select(
        ref, index_wires, wires, tuple(range(T)), controls=tuple(controls), control_values=values, dagger=dagger
    )
    return _circuit([op], tuple(controls) + index_wires + wires)


def ansatz_shape(n_qubits: int, n_layers: int) -> tuple[int, int, int]:
    """Shape ``(n_layers, n_qubits, 3)`` of the angles of :func:`ansatz`."""
    return (_checks.integer(n_layers, "n_layers", minimum=1), _checks.integer(n_qubits, "n_qubits", minimum=1), 3)


def cnot_ring(wires: tuple[int, ...]) -> list[tuple[int, int]]:
    """The ansatz's entangling layer on ``wires``: ``CNOT(w_q, w_{q+1 mod n})`` pairs, in order.

    One pair for two wires, none for one (a ring of two would apply the same CNOT twice).
    """
    n = len(wires)
    if n == 1:
        return []
    if n == 2:
        return [(wires[0], wires[1])]
    return [(wires[q], wires[(q + 1) % n]) for q in range(n)]


def ansatz(
    n_qubits: int,
    n_layers: int,
    *,
    wires: tuple[int, ...] | None = None,
    param: str = "theta",
    controls: tuple[int, ...] = (),
    control_values: tuple[int, ...] | None = None,
) -> Circuit:
    r"""Complex hardware-efficient ansatz: per layer ``RZ RY RX`` on every qubit, then a CNOT ring.

    Layer ``l`` applies ``RX(theta[l, q, 0])``, ``RY(theta[l, q, 1])``, ``RZ(theta[l, q, 2])`` to
    qubit ``q`` (so the qubit's operator is ``RZ RY RX``), then ``CNOT(q, q+1 mod n)`` for every
    ``q`` (one CNOT for ``n = 2``, none for ``n = 1``). Counts per layer: ``3n`` rotations and
    ``n`` (``n >= 3``), 1 (``n = 2``) or 0 CNOTs. With ``controls`` every gate is controlled.
    """
    shape = ansatz_shape(n_qubits, n_layers)
    wires = _wires(wires, n_qubits, "wires")
    controls = tuple(controls)
    values = (1,) * len(controls) if control_values is None else tuple(control_values)
    ops = []
    for layer in range(n_layers):
        for q, w in enumerate(wires):
            for a, axis in enumerate(("RX", "RY", "RZ")):
                ops.append(Gate(axis, (w,), (Param(param, (layer, q, a)),), controls, values))
        ops += [Gate("CNOT", pair, (), controls, values) for pair in cnot_ring(wires)]
    return _circuit(ops, controls + wires, (ParamSpec(param, shape, "trainable"),))


def lcu_angles(k: int, beta: float) -> np.ndarray:
    r"""Angles of the unary RY cascade giving ``sum_p sqrt(c_p/lambda) |1^p 0^{k-p}>``, ``c_p = beta^p/p!``.

    ``theta_p = 2 atan2(r_{p+1}, a_p)`` with ``a_p = sqrt(c_p/lambda)``, ``r_p^2 = sum_{q>=p} a_q^2``.
    """
    k = _checks.integer(k, "k", minimum=1)
    beta = _checks.real_number(beta, "beta", positive=True)
    if k * math.log(beta) >= math.log(float(np.finfo(np.float64).max) / (k + 1)):
        raise ValueError(
            f"beta must keep beta^k and the sum of beta^p / p! finite in float64 for k = {k}; got {beta!r}"
        )
    c = np.array([beta**p / math.factorial(p) for p in range(k + 1)])
    a = np.sqrt(c / c.sum())
    r = np.sqrt(np.cumsum((a**2)[::-1])[::-1])  # r_p, p = 0..k
    return np.array([2 * math.atan2(r[p + 1], a[p]) for p in range(k)])


def lcu_register(k: int, beta: float, *, wires: tuple[int, ...] | None = None) -> Circuit:
    """Prepare the poly-kernel register ``P`` (``k`` wires): RY on ``P[0]``, then RY on ``P[p]`` controlled by ``P[p-1]``."""
    theta = lcu_angles(k, beta)
    wires = _wires(wires, k, "wires")
    ops = [Gate("RY", (wires[0],), (float(theta[0]),))]
    ops += [Gate("RY", (wires[p],), (float(theta[p]),), (wires[p - 1],), (1,)) for p in range(1, k)]
    return _circuit(ops, wires)


def query_phases(T: int, *, wires: tuple[int, ...] | None = None, param: str = "phi") -> Circuit:
    r"""Phase ``e^{i phi_j}`` on query-register value ``|j>``, ``j < T`` (a controlled global phase each)."""
    T = _checks.integer(T, "T", minimum=1)
    c = n_index_qubits(T)
    wires = _wires(wires, c, "wires")
    ops = [Gate("GlobalPhase", (), (Param(param, (j,)),), wires, bits(j, c)) for j in range(T)]
    return _circuit(ops, wires, (ParamSpec(param, (T,), "trainable"),))


@dataclass(frozen=True)
class QSACircuit:
    r"""A QSA circuit and what to measure on it.

    The circuit's observable is the probability that every wire of ``zero_wires`` reads 0, resolved
    over the values ``j`` of ``index_wires`` (empty for ``mu`` and circuit B). Summed over ``j`` it is
    ``mu``, ``zeta``, ``nu`` (circuit A) or ``P0`` (circuit B); per ``j`` the ``zeta``/``nu`` circuits
    give ``||z_j||^2 / (lambda^2 T N)`` and ``|A_j|^2 / (lambda^2 T N)``.

    Attributes:
        circuit: the IR :class:`~qsa.circuits.ir.Circuit`.
        shape: the :class:`~qsa.circuits.shape.Shape` it was built from.
        variant: ``"mu"``, ``"zeta"``, ``"nu"`` (circuit A) or ``"P0"`` (circuit B).
        zero_wires, index_wires: the wires projected on 0, and the index wires read out per value.
    """

    circuit: Circuit
    shape: Shape
    variant: Literal["mu", "zeta", "nu", "P0"]
    zero_wires: tuple[int, ...]
    index_wires: tuple[int, ...]

    @property
    def T(self) -> int:
        return self.shape.T

    @property
    def d(self) -> int:
        return self.shape.d

    @property
    def k(self) -> int:
        return self.shape.k

    @property
    def kernel(self) -> str:
        return self.shape.kernel

    @property
    def beta(self) -> float | None:
        """The poly kernel's scale (``sqrt(d)`` by default); ``None`` for the mono kernel."""
        return self.shape.resolved_beta

    @property
    def n_qubits(self) -> int:
        return self.circuit.n_wires

    @property
    def measured_wires(self) -> tuple[int, ...]:
        """``index_wires + zero_wires``: the wires read at the end, in this order."""
        return self.index_wires + self.zero_wires


def _map(
    name: str,
    n: int,
    layers: int | None,
    wires: Sequence[int],
    controls: Sequence[int] = (),
    values: Sequence[int] = (),
) -> Circuit:
    if layers is None:
        op = Unitary(name, tuple(wires), tuple(controls), tuple(values))
        d = 2**n
        return _circuit([op], tuple(controls) + tuple(wires), (ParamSpec(name, (d, d), "data"),))
    return ansatz(
        n, layers, wires=tuple(wires), param=f"theta_{name}", controls=tuple(controls), control_values=tuple(values)
    )


def circuit_a(
    T: int,
    d: int,
    k: int = 1,
    *,
    kernel: Literal["mono", "poly"] = "mono",
    beta: float | None = None,
    variant: Literal["mu", "zeta", "nu"] = "mu",
    w_layers: int | None = None,
    v_layers: int | None = None,
    phases: bool = False,
) -> QSACircuit:
    r"""Circuit A, two control registers (docs/method.md section 4), in one of three variants.

    ``mu``: prepare ``tau`` on ``C1 C2`` (and the LCU register ``P``); controlled on ``C2 = |i>``
    load ``x_i`` on ``A`` and every ``B_c``; ``V`` on ``A``, ``W`` on every ``B_c``; controlled on
    ``C1 = |j>`` un-load ``y_j`` from ``A`` and ``x_j`` from every ``B_c`` (phases ``e^{i phi_j}``
    if ``phases``); un-prepare ``tau`` (and ``P``); project every wire on 0:
    ``mu = |sum_j e^{i phi_j} A_j|^2 / (lambda N)^2``.
    ``zeta``: no un-load on ``A``; un-prepare only ``C2`` with the uniform state over ``T``;
    project ``C2``, ``B`` (and ``P``) on 0, sum over ``C1`` and ``A``:
    ``zeta = sum_j ||z_j||^2 / (lambda^2 T N)``. ``nu``: as ``zeta`` with the ``A`` un-load kept
    and ``A`` projected: ``nu = sum_j |A_j|^2 / (lambda^2 T N)``.

    Poly kernel: ``P`` is prepared by :func:`lcu_register`; copy ``B_c``'s load, ``W`` and
    un-load are controlled on ``P[c-1] = 1``.

    Args:
        T, d, k: steps, token width (a power of two), key copies.
        kernel: ``"mono"`` or ``"poly"``; beta: poly scale (default ``sqrt(d)``).
        variant: ``"mu"``, ``"zeta"`` or ``"nu"``.
        w_layers, v_layers: ``None`` to enter ``W``/``V`` as matrices, or ansatz depth ``L``.
        phases: add the trainable query phases ``phi`` (``mu`` only; the others sum over ``C1``).

    Example:
        >>> from qsa.circuits import circuit_a
        >>> qc = circuit_a(4, 2, 1, variant="mu", w_layers=1, v_layers=1)  # T = 4, d = 2, k = 1
        >>> qc.n_qubits, sorted(qc.circuit.count_ops())  # 2 c + (k + 1) n qubits, c = 2
        (6, ['RX', 'RY', 'RZ', 'Select', 'StatePrep'])
    """
    shape = Shape("A", T, d, k, kernel, beta, w_layers, v_layers, phases)
    _checks.one_of(variant, "variant", VARIANTS)
    T, d, k, n = shape.T, shape.d, shape.k, shape.n_qubits
    beta = shape.resolved_beta
    c = n_index_qubits(T)
    C1 = tuple(range(c))
    C2 = tuple(range(c, 2 * c))
    A = tuple(range(2 * c, 2 * c + n))
    Bs = [tuple(range(2 * c + (1 + b) * n, 2 * c + (2 + b) * n)) for b in range(k)]
    top = 2 * c + (k + 1) * n
    P = tuple(range(top, top + k)) if kernel == "poly" else ()
    registers = [Register("C1", C1), Register("C2", C2), Register("A", A)]
    registers += [Register(f"B{b + 1}", B) for b, B in enumerate(Bs)]
    if P:
        registers.append(Register("P", P))
    gate = [((P[b],), (1,)) if P else ((), ()) for b in range(k)]  # plain controls of copy b

    data = (ParamSpec("x", (T, d), "data"), ParamSpec("y", (T, d), "data"))
    circ = Circuit(n_wires=top + len(P), registers=tuple(registers), params=data)
    circ = circ.compose(triangular_state(T, wires=C1 + C2))
    lcu = lcu_register(k, beta, wires=P) if P and beta is not None else None  # poly: beta is resolved
    if lcu is not None:
        circ = circ.compose(lcu)
    circ = circ.compose(indexed_load("x", T, d, index_wires=C2, wires=A))
    for b, B in enumerate(Bs):
        circ = circ.compose(indexed_load("x", T, d, index_wires=C2, wires=B, controls=gate[b][0]))
    circ = circ.compose(_map("V", n, v_layers, A))
    for b, B in enumerate(Bs):
        circ = circ.compose(_map("W", n, w_layers, B, *gate[b]))
    if variant in ("mu", "nu"):
        circ = circ.compose(indexed_load("y", T, d, index_wires=C1, wires=A, dagger=True))
    for b, B in enumerate(Bs):
        circ = circ.compose(indexed_load("x", T, d, index_wires=C1, wires=B, controls=gate[b][0], dagger=True))
    if phases and variant == "mu":  # for T = 1 (no C1 wires) e^{i phi_0} is a global phase
        circ = circ.compose(query_phases(T, wires=C1))
    if variant == "mu":
        circ = circ.compose(triangular_state(T, wires=C1 + C2).adjoint())
    else:
        circ = circ.compose(uniform_state(T, wires=C2).adjoint())
    if lcu is not None:
        circ = circ.compose(lcu.adjoint())

    B_all = tuple(w for B in Bs for w in B)
    zero: tuple[int, ...]
    index: tuple[int, ...]
    if variant == "mu":
        zero, index = tuple(range(circ.n_wires)), ()
    elif variant == "zeta":
        zero, index = C2 + B_all + P, C1
    else:
        zero, index = C2 + A + B_all + P, C1
    return QSACircuit(circ, shape, variant, zero, index)


def circuit_b(
    T: int,
    d: int,
    k: int = 1,
    *,
    w_layers: int | None = None,
    v_layers: int | None = None,
    phases: bool = False,
) -> QSACircuit:
    r"""Circuit B, superposition loading with one control register (docs/method.md section 5), mono kernel.

    Prepare the uniform state over the ``T`` active branches on ``C``; controlled on ``|j>`` load
    ``psi_j = sum_{i<=j} x_i (x) x_i^{(x)k} / n_j`` on ``A B1..Bk`` (``psi`` computed classically);
    ``V`` on ``A``, ``W`` on every ``B``; controlled on ``|j>`` un-load ``y_j`` from ``A`` and ``x_j``
    from every ``B`` (phases ``e^{i phi_j}`` if ``phases``); un-prepare the uniform state; project
    every wire on 0: ``P0 = |(1/T) sum_j e^{i phi_j} A_j / n_j|^2``.

    Example:
        >>> from qsa.circuits import circuit_b
        >>> qc = circuit_b(4, 2, 1, w_layers=1, v_layers=1)  # one control register: 2 + (k + 1) n qubits
        >>> qc.n_qubits, qc.variant
        (4, 'P0')
    """
    shape = Shape("B", T, d, k, w_layers=w_layers, v_layers=v_layers, phases=phases)
    T, d, k, n = shape.T, shape.d, shape.k, shape.n_qubits
    c = n_index_qubits(T)
    C = tuple(range(c))
    A = tuple(range(c, c + n))
    Bs = [tuple(range(c + (1 + b) * n, c + (2 + b) * n)) for b in range(k)]
    registers = [Register("C", C), Register("A", A)] + [Register(f"B{b + 1}", B) for b, B in enumerate(Bs)]
    data = (
        ParamSpec("x", (T, d), "data"),
        ParamSpec("y", (T, d), "data"),
        ParamSpec("psi", (T, d ** (k + 1)), "data"),
    )
    circ = Circuit(n_wires=c + (k + 1) * n, registers=tuple(registers), params=data)
    data_wires = A + tuple(w for B in Bs for w in B)
    circ = circ.compose(uniform_state(T, wires=C))
    circ = circ.compose(_circuit([Select("psi", C, data_wires, tuple(range(T)))], C + data_wires))
    circ = circ.compose(_map("V", n, v_layers, A))
    for B in Bs:
        circ = circ.compose(_map("W", n, w_layers, B))
    circ = circ.compose(indexed_load("y", T, d, index_wires=C, wires=A, dagger=True))
    for B in Bs:
        circ = circ.compose(indexed_load("x", T, d, index_wires=C, wires=B, dagger=True))
    if phases:
        circ = circ.compose(query_phases(T, wires=C))
    circ = circ.compose(uniform_state(T, wires=C).adjoint())
    return QSACircuit(circ, shape, "P0", tuple(range(circ.n_wires)), ())


def _per_item_floats(value: float | Sequence[float], n: int, name: str) -> tuple[float, ...]:
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        values = (float(value),) * n
    else:
        if isinstance(value, (str, bytes)):
            raise TypeError(f"{name} must be a real number or a sequence of {n} real numbers; got {value!r}")
        try:
            values = tuple(float(v) for v in value)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a real number or a sequence of {n} real numbers; got {value!r}") from None
        if len(values) != n:
            raise ValueError(f"{name} must have {n} entries; got {len(values)}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name} must be finite; got {value!r}")
    return values


def tfim_trotter_step(
    n_qubits: int,
    *,
    bonds: Sequence[tuple[int, int]],
    dt: float,
    h: float | Sequence[float] = 1.0,
    J: float | Sequence[float] = 1.0,
    n_steps: int = 1,
    order: Literal[1, 2] = 1,
    wires: tuple[int, ...] | None = None,
) -> Circuit:
    r"""One time step ``dt`` of the transverse-field Ising model as a Trotter circuit of RX, RZ and CNOT.

    For :math:`H = H_X + H_{ZZ}`, :math:`H_X = -\sum_q h_q X_q`, :math:`H_{ZZ} = -\sum_b J_b Z_q Z_r`
    (PennyLane's ``qml.spin.transverse_ising`` sign convention) and ``tau = dt / n_steps``, the
    circuit is the product formula

    .. math::

        U_1 = \bigl(e^{-i H_{ZZ}\tau}\, e^{-i H_X\tau}\bigr)^{n_\mathrm{steps}},\qquad
        U_2 = \bigl(e^{-i H_X\tau/2}\, e^{-i H_{ZZ}\tau}\, e^{-i H_X\tau/2}\bigr)^{n_\mathrm{steps}}

    (``order`` 1 or 2; the right-most factor acts first), the same splitting as
    :func:`qsa.data.tfim.trotter_unitary`. Every factor is exact in gates:
    ``e^{+i h_q X_q t} = RX(-2 h_q t)`` on qubit ``q`` and
    ``e^{+i J_b Z_q Z_r t} = CNOT(q, r) RZ_r(-2 J_b t) CNOT(q, r)``, with no global phase.

    Gate counts per Trotter step: ``n`` (order 1) or ``2n`` (order 2) RX, and per bond one RZ and
    two CNOTs. Angles are fixed floats: the circuit has no parameters.

    Args:
        n_qubits: spins ``n``; wire ``q`` is qubit ``q`` of the model (wire 0 most significant).
        bonds: coupled pairs ``(q, r)``, ``q != r``, each ``< n_qubits``.
        dt: evolution time of the whole circuit, ``> 0``.
        h: transverse field, a number or one value per qubit.
        J: coupling, a number or one value per bond (in ``bonds`` order).
        n_steps: Trotter steps, ``>= 1``.
        order: 1 (Lie-Trotter) or 2 (Strang).
        wires: the circuit's wires for qubits ``0..n-1`` (default ``0..n-1``).
    """
    n = _checks.integer(n_qubits, "n_qubits", minimum=1)
    n_steps = _checks.integer(n_steps, "n_steps", minimum=1)
    if isinstance(order, bool) or order not in (1, 2):
        raise ValueError(f"order must be 1 or 2; got {order!r}")
    if (
        isinstance(dt, bool)
        or not isinstance(dt, (int, float, np.integer, np.floating))
        or not math.isfinite(dt)
        or dt <= 0
    ):
        raise ValueError(f"dt must be a positive finite number; got {dt!r}")
    pairs = []
    for pair in bonds:
        if len(pair) != 2 or any(isinstance(q, bool) or not isinstance(q, (int, np.integer)) for q in pair):
            raise ValueError(f"each bond must be a pair (q, r) of qubit indices; got {pair!r}")
        q, r = int(pair[0]), int(pair[1])
        if not (0 <= q < n and 0 <= r < n) or q == r:
            raise ValueError(f"each bond must join two different qubits in [0, {n}); got {tuple(pair)}")
        pairs.append((q, r))
    fields = _per_item_floats(h, n, "h")
    couplings = _per_item_floats(J, len(pairs), "J")
    wires = _wires(wires, n, "wires")
    tau = float(dt) / n_steps

    def x_layer(t: float) -> list[Gate]:
        return [Gate("RX", (wires[q],), (-2.0 * fields[q] * t,)) for q in range(n)]

    zz_layer: list[Gate] = []
    for (q, r), coupling in zip(pairs, couplings):
        cnot = Gate("CNOT", (wires[q], wires[r]))
        zz_layer += [cnot, Gate("RZ", (wires[r],), (-2.0 * coupling * tau,)), cnot]
    step = x_layer(tau) + zz_layer if order == 1 else x_layer(tau / 2) + zz_layer + x_layer(tau / 2)
    return _circuit(step * n_steps, wires, registers=(Register("Q", wires),))
