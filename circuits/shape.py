r"""The one frozen description of a QSA circuit: :class:`Shape`.

A shape fixes everything about the circuits of a QSA model except the data and the angles: which
circuit (``"A"``: two control registers, arXiv 2602.06699 Sec. "circuit A", measured as the three
variants ``mu``, ``zeta``, ``nu``; ``"B"``: superposition loading, the variant ``P0``), the
sizes ``T``, ``d``, ``k``, the kernel and its scale ``beta``, the ansatz depths of ``W`` and ``V``
(``None``: the maps enter as matrices) and whether the trainable query phases ``phi`` enter.
Every place that builds the ``mu``/``zeta``/``nu`` circuits (the evaluators, the circuit tier,
the hardware programs), counts their gates or keys a cache on them goes through a shape:

>>> from qsa.circuits import Shape
>>> shape = Shape("A", T=4, d=2, k=2, w_layers=1, v_layers=1, phases=True)
>>> shape.variants, shape.n_wires, shape.label
(('mu', 'zeta', 'nu'), 7, 'A-mono')
>>> shape.build("mu").circuit.n_wires
7
>>> sorted(shape.parameter_shapes())
['phi', 'theta_V', 'theta_W', 'x', 'y']

Qubits (``c = ceil(log2 T)``, ``n = log2 d``): circuit A ``2c + (k+1) n`` (``+ k`` for the poly
kernel's LCU register), circuit B ``c + (k+1) n``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from qsa.circuits import _checks

if TYPE_CHECKING:
    from qsa.circuits.builders import QSACircuit

__all__ = ["CIRCUITS", "KERNELS", "VARIANTS", "LABELS", "Shape", "n_index_qubits"]

#: The two QSA circuits: ``"A"`` (two control registers) and ``"B"`` (superposition loading).
CIRCUITS = ("A", "B")
#: Kernels: ``g(s) = s^k`` (``"mono"``) or the truncated exponential ``sum_p beta^p s^p / p!`` (``"poly"``).
KERNELS = ("mono", "poly")
#: The variants (measured circuits) of each circuit, the one whose probability sets the shots first.
VARIANTS: dict[str, tuple[str, ...]] = {"A": ("mu", "zeta", "nu"), "B": ("P0",)}
#: Circuit labels used by the gate-count study: circuit A with either kernel, and circuit B.
LABELS = ("A-mono", "A-poly", "B")


def n_index_qubits(T: int) -> int:
    """``ceil(log2 T)``: qubits of an index register over ``T`` steps (0 for ``T = 1``)."""
    T = _checks.integer(T, "T", minimum=1)
    return (T - 1).bit_length()


@dataclass(frozen=True)
class Shape:
    """The frozen description of one QSA circuit family member (hashable: a cache key).

    Attributes:
        circuit: ``"A"`` (variants ``mu``, ``zeta``, ``nu``) or ``"B"`` (variant ``P0``; mono
            kernel only).
        T: steps per sequence (``>= 1``).
        d: token width, a power of two ``>= 2`` (``n = log2 d`` qubits per token).
        k: key copies (mono: the power of the overlap; poly: the degree), ``>= 1``.
        kernel: ``"mono"`` or ``"poly"``.
        beta: the poly kernel's scale (``None``: ``sqrt(d)``); must be ``None`` for circuit B.
        w_layers, v_layers: ansatz depth ``L`` of ``W`` and ``V`` (angles ``theta_W``,
            ``theta_V`` of shape ``(L, n, 3)``), or ``None`` to enter the map as a ``(d, d)``
            matrix (data ``W``, ``V``).
        phases: whether the trainable query phases ``phi`` ``(T,)`` enter (the ``mu`` and ``P0``
            circuits only; ``zeta`` and ``nu`` sum over the query index).

    Raises:
        TypeError, ValueError: for any field out of its domain ("X must be ...; got ...").
    """

    circuit: Literal["A", "B"]
    T: int
    d: int
    k: int = 1
    kernel: Literal["mono", "poly"] = "mono"
    beta: float | None = None
    w_layers: int | None = None
    v_layers: int | None = None
    phases: bool = False

    def __post_init__(self) -> None:
        _checks.one_of(self.circuit, "circuit", CIRCUITS)
        object.__setattr__(self, "T", _checks.integer(self.T, "T", minimum=1))
        _checks.power_of_two(self.d, "d")
        object.__setattr__(self, "d", int(self.d))
        object.__setattr__(self, "k", _checks.integer(self.k, "k", minimum=1))
        _checks.one_of(self.kernel, "kernel", KERNELS)
        if self.beta is not None:
            object.__setattr__(self, "beta", _checks.real_number(self.beta, "beta", positive=True))
        for name in ("w_layers", "v_layers"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _checks.integer(getattr(self, name), name, minimum=1))
        _checks.boolean(self.phases, "phases")
        if self.circuit == "B" and self.kernel != "mono":
            raise ValueError(f"kernel must be 'mono' for circuit B; got {self.kernel!r}")
        if self.circuit == "B" and self.beta is not None:
            raise ValueError(f"beta must be None for circuit B (mono kernel); got {self.beta!r}")

    # --- derived sizes -----------------------------------------------------------------------------

    @property
    def n_qubits(self) -> int:
        """Qubits per token, ``n = log2 d``."""
        return self.d.bit_length() - 1

    @property
    def n_index_qubits(self) -> int:
        """Qubits ``c = ceil(log2 T)`` of one index register."""
        return n_index_qubits(self.T)

    @property
    def n_wires(self) -> int:
        """Qubits of every variant: A ``2c + (k+1) n`` (``+ k`` for poly), B ``c + (k+1) n``."""
        c, n, k = self.n_index_qubits, self.n_qubits, self.k
        if self.circuit == "B":
            return c + (k + 1) * n
        return 2 * c + (k + 1) * n + (k if self.kernel == "poly" else 0)

    @property
    def variants(self) -> tuple[str, ...]:
        """``("mu", "zeta", "nu")`` for circuit A, ``("P0",)`` for B: the measured variant first."""
        return VARIANTS[self.circuit]

    @property
    def label(self) -> str:
        """``"A-mono"``, ``"A-poly"`` or ``"B"``: the circuit and kernel, as the gate-count study names them."""
        return "B" if self.circuit == "B" else f"A-{self.kernel}"

    @property
    def resolved_beta(self) -> float | None:
        """The poly kernel's scale with its default ``sqrt(d)`` applied (``None`` for mono)."""
        if self.kernel != "poly":
            return None
        return math.sqrt(self.d) if self.beta is None else float(self.beta)

    def parameter_shapes(self, variant: str | None = None) -> dict[str, tuple[int, ...]]:
        """Shapes of the named arrays a variant reads (default: the union over the variants).

        Data: ``x``, ``y`` ``(T, d)``; circuit B also ``psi`` ``(T, d^{k+1})``; ``W``/``V``
        ``(d, d)`` where the map enters as a matrix. Trainable: ``theta_W`` ``(w_layers, n, 3)``,
        ``theta_V`` ``(v_layers, n, 3)``, ``phi`` ``(T,)`` (with phases, ``mu``/``P0`` only).
        """
        if variant is not None:
            _checks.one_of(variant, "variant", self.variants)
        n, T, d = self.n_qubits, self.T, self.d
        out: dict[str, tuple[int, ...]] = {"x": (T, d), "y": (T, d)}
        if self.circuit == "B":
            out["psi"] = (T, d ** (self.k + 1))
        for name, layers in (("W", self.w_layers), ("V", self.v_layers)):
            if layers is None:
                out[name] = (d, d)
            else:
                out[f"theta_{name}"] = (layers, n, 3)
        if self.phases and (variant is None or variant == self.variants[0]):
            out["phi"] = (T,)
        return out

    def trainable_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of the trainable arrays: ``theta_W``, ``theta_V`` (ansatz maps only) and ``phi`` (with phases)."""
        return {name: s for name, s in self.parameter_shapes().items() if name in ("theta_W", "theta_V", "phi")}

    # --- building ----------------------------------------------------------------------------------

    def build(self, variant: str | None = None) -> QSACircuit:
        """The :class:`~qsa.circuits.QSACircuit` of ``variant`` (default: the measured one, ``mu`` or ``P0``).

        Builders are pure, so equal shapes give equal circuits; the result is cached per
        ``(shape, variant)``.
        """
        variant = self.variants[0] if variant is None else _checks.one_of(variant, "variant", self.variants)
        return _build(self, variant)

    def build_all(self) -> dict[str, QSACircuit]:
        """Every variant's circuit, by variant name, in :attr:`variants` order."""
        return {v: self.build(v) for v in self.variants}

    # --- records -----------------------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (JSON-ready); :meth:`from_dict` reads it back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Shape:
        """A shape from :meth:`as_dict` output; unknown keys are an error.

        Records written before the field was called ``circuit`` name it ``family``; they are read
        the same way.
        """
        data = dict(data)
        if "family" in data and "circuit" not in data:
            data["circuit"] = data.pop("family")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"shape keys must be among {sorted(known)}; got unknown {unknown}")
        return cls(**data)


@functools.lru_cache(maxsize=256)
def _build(shape: Shape, variant: str) -> QSACircuit:
    from qsa.circuits.builders import circuit_a, circuit_b

    if shape.circuit == "B":
        return circuit_b(
            shape.T, shape.d, shape.k, w_layers=shape.w_layers, v_layers=shape.v_layers, phases=shape.phases
        )
    return circuit_a(
        shape.T,
        shape.d,
        shape.k,
        kernel=shape.kernel,
        beta=shape.beta,
        variant=variant,  # type: ignore[arg-type]
        w_layers=shape.w_layers,
        v_layers=shape.v_layers,
        phases=shape.phases,
    )
