r"""Error suppression and mitigation of IBM Runtime primitives, as a submission asks for them.

:class:`Mitigation` names the runtime's options and sets them on a primitive (:meth:`Mitigation.apply`):

* **dynamical decoupling** (``dynamical_decoupling = "XX" | "XpXm" | "XY4"``): the runtime
  schedules the ISA circuits and fills idle windows with the sequence
  (``options.dynamical_decoupling.enable`` / ``sequence_type``);
* **Pauli twirling** of two-qubit gates and of measurements (``twirl_gates``, ``twirl_measure``;
  ``options.twirling.enable_gates`` / ``enable_measure`` / ``num_randomizations``);
* **readout mitigation, TREX** (``trex``): twirled readout error extinction, an *Estimator*
  resilience option (``options.resilience.measure_mitigation``). TREX takes Pauli observables only
  (the runtime refuses projector terms), so with it every circuit asks the runtime ``Estimator`` for
  the ``2^m`` Z-strings on its ``m`` measured wires (:func:`z_terms`, one measurement basis), and
  :func:`cells_from_terms` assembles the cells ``P(index = j, zero = 0)`` and their covariance.

**Error bars with TREX.** The runtime's ``stds`` of a multi-term observable treat its terms as
independent, which for a projector (``2^m`` strongly correlated terms) gives error bars several
times too small (measured: 0.0038 where the binomial error is 0.0061). So the terms are requested
one by one: each term's ``std`` is right (it includes TREX's rescaling and, with twirling, the
spread over randomizations), and the covariance of two terms is ``std_U std_V rho_UV`` with the
shot correlation ``rho_UV = (<Z_{U^V}> - <Z_U><Z_V>) / sqrt((1 - <Z_U>^2)(1 - <Z_V>^2))`` computed
from the (mitigated) expectation values. Without mitigation this is exactly the multinomial
covariance of the cells.

What qiskit-ibm-runtime 0.51's **local testing mode** does with them (checked in
``tests/qsa/hardware/test_mitigation.py`` and written down in ``experiments/hardware/README.md``):
the client-side primitives (``executor_sampler.Sampler``, ``executor_estimator.Estimator``, the
defaults here) apply all three on the client -- the DD pass inserts delays and X/Y pulses, twirling
builds randomised circuits (samplomatic), TREX adds its calibration circuit and rescales the
expectation values -- and local mode simulates the result, so they are honoured offline. The
deprecated server-side ``SamplerV2``/``EstimatorV2`` leave them to the service: local mode ignores
them (with a warning). The simulated noise has no coherent or crosstalk errors, so in simulation DD
can only add the idle-time relaxation of its delays and twirling leaves incoherent noise as it is;
TREX does remove the simulated readout bias.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["DD_SEQUENCES", "Mitigation", "NONE", "ALL", "z_terms", "cell_coefficients", "cells_from_terms"]

#: Dynamical-decoupling sequences of the runtime (``None``: no DD).
DD_SEQUENCES = ("XX", "XpXm", "XY4")


@dataclass(frozen=True)
class Mitigation:
    """Which error suppression and mitigation a runtime job uses (all off by default).

    Attributes:
        dynamical_decoupling: ``None`` or one of :data:`DD_SEQUENCES`.
        twirl_gates: Pauli-twirl the two-qubit gates.
        twirl_measure: twirl the measurements.
        randomizations: twirling randomizations per parameter set (``0``: the runtime's ``"auto"``).
        trex: readout error mitigation by TREX (runs the cells on the runtime ``Estimator``).

    TOML (a ``[mitigation]`` section of a submission config)::

        [mitigation]
        dynamical_decoupling = "XY4"     # or "XX", "XpXm", "none"
        twirl_gates = true
        twirl_measure = true
        randomizations = 0               # 0: auto
        trex = true
    """

    dynamical_decoupling: str | None = None
    twirl_gates: bool = False
    twirl_measure: bool = False
    randomizations: int = 0
    trex: bool = False

    def __post_init__(self) -> None:
        dd = self.dynamical_decoupling
        if dd is not None and dd not in DD_SEQUENCES:
            raise ValueError(f"mitigation.dynamical_decoupling must be one of {DD_SEQUENCES} or 'none'; got {dd!r}")
        for name in ("twirl_gates", "twirl_measure", "trex"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"mitigation.{name} must be true or false; got {getattr(self, name)!r}")
        r = self.randomizations
        if isinstance(r, bool) or not isinstance(r, int) or r < 0:
            raise ValueError(f"mitigation.randomizations must be an integer >= 0 (0: auto); got {r!r}")

    @property
    def enabled(self) -> bool:
        """Whether any option is on."""
        return self != NONE

    @property
    def estimator(self) -> bool:
        """Whether the cells must run on an ``Estimator`` (TREX is an Estimator option)."""
        return self.trex

    def label(self) -> str:
        """A short name: ``"none"``, or the options on, e.g. ``"dd-XY4+twirl-gates+twirl-measure+trex"``."""
        parts = []
        if self.dynamical_decoupling:
            parts.append(f"dd-{self.dynamical_decoupling}")
        if self.twirl_gates:
            parts.append("twirl-gates")
        if self.twirl_measure:
            parts.append("twirl-measure")
        if self.trex:
            parts.append("trex")
        return "+".join(parts) or "none"

    def as_dict(self) -> dict[str, Any]:
        """JSON-able fields (``dynamical_decoupling`` ``None`` as ``"none"``), as the journal records them."""
        out = dataclasses.asdict(self)
        out["dynamical_decoupling"] = self.dynamical_decoupling or "none"
        return out

    @classmethod
    def from_dict(cls, table: Mapping[str, Any]) -> Mitigation:
        """From a ``[mitigation]`` TOML table (unknown keys are errors; ``"none"`` turns DD off)."""
        if not isinstance(table, Mapping):
            raise TypeError(f"[mitigation] must be a table; got {type(table).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ValueError(f"[mitigation] keys must be among {sorted(known)}; got {unknown}")
        values = dict(table)
        if values.get("dynamical_decoupling") in ("none", False):
            values["dynamical_decoupling"] = None
        return cls(**values)

    @classmethod
    def parse(cls, text: str) -> Mitigation:
        """From a command-line word: ``none``, ``all`` or ``+``-joined ``dd[-SEQ]``, ``twirl``, ``twirl-gates``,
        ``twirl-measure``, ``trex`` (``dd`` alone is ``XY4``; ``twirl`` twirls gates and measurements)."""
        if text == "none":
            return NONE
        if text == "all":
            return ALL
        fields: dict[str, Any] = {}
        for word in text.split("+"):
            if word == "dd":
                fields["dynamical_decoupling"] = "XY4"
            elif word.startswith("dd-") and word[3:] in DD_SEQUENCES:
                fields["dynamical_decoupling"] = word[3:]
            elif word == "twirl":
                fields["twirl_gates"] = fields["twirl_measure"] = True
            elif word == "twirl-gates":
                fields["twirl_gates"] = True
            elif word == "twirl-measure":
                fields["twirl_measure"] = True
            elif word == "trex":
                fields["trex"] = True
            else:
                raise ValueError(
                    "mitigation must be 'none', 'all' or '+'-joined dd, dd-XX, dd-XpXm, dd-XY4, twirl, twirl-gates, "
                    f"twirl-measure, trex; got {text!r}"
                )
        return cls(**fields)

    def apply(self, primitive: Any) -> Any:
        """Set these options on a runtime ``Sampler``/``Estimator`` (client-side or server-side V2); returns it.

        Raises:
            ValueError: if ``trex`` is asked of a sampler (readout mitigation is an Estimator option).
        """
        options = primitive.options
        is_estimator = hasattr(options, "resilience")
        if self.trex and not is_estimator:
            raise ValueError("mitigation.trex must run on an Estimator (TREX is an Estimator option); got a sampler")
        if self.dynamical_decoupling:
            options.dynamical_decoupling.enable = True
            options.dynamical_decoupling.sequence_type = self.dynamical_decoupling
        measure = self.twirl_measure or self.trex  # TREX twirls the readout
        if self.twirl_gates or measure:
            options.twirling.enable_gates = self.twirl_gates
            options.twirling.enable_measure = measure
            if self.randomizations:
                options.twirling.num_randomizations = self.randomizations
        if is_estimator:
            options.resilience_level = 0  # nothing implicit: only what is asked for
            options.resilience.measure_mitigation = self.trex
            options.resilience.zne_mitigation = False
        return primitive


#: No mitigation (the default of every submission).
NONE = Mitigation()
#: Every option: XY4 dynamical decoupling, gate and measurement twirling, TREX.
ALL = Mitigation("XY4", True, True, 0, True)


def z_terms(qsa_circuit: Any) -> list[Any]:
    """The ``2^m`` Z-strings on the ``m = len(measured_wires)`` measured wires of ``qsa_circuit``, as ``SparsePauliOp``.

    Term ``u`` (``0 <= u < 2^m``) is the product of ``Z`` on ``measured_wires[r]`` for every bit
    ``r`` set in ``u``, on the qubits of the exported circuit (:func:`qsa.circuits.to_qiskit.qubit_of`).
    """
    from qiskit.quantum_info import SparsePauliOp

    from qsa.circuits.to_qiskit import qubit_of

    n, wires = qsa_circuit.n_qubits, list(qsa_circuit.measured_wires)
    out = []
    for u in range(2 ** len(wires)):
        chosen = [qubit_of(wires[r], n) for r in range(len(wires)) if u >> r & 1]
        out.append(SparsePauliOp.from_sparse_list([("Z" * len(chosen), chosen, 1.0)], num_qubits=n))
    return out


def cell_coefficients(n_index: int, n_zero: int, n_cells: int) -> np.ndarray:
    r"""``(n_cells, 2^m)``: cell ``j`` as a combination of the :func:`z_terms`, ``m = n_index + n_zero``.

    ``|j><j| (x) |0..0><0..0| = 2^{-m} sum_u prod_{r in u} s_{j,r} Z_u`` with ``s = (-1)^{bit}`` on
    the index wires (bits of ``j``, most significant first) and ``s = +1`` on the zero wires.
    """
    m = n_index + n_zero
    signs = np.ones((n_cells, m))
    for j in range(n_cells):
        for r in range(n_index):
            signs[j, r] = -1.0 if (j >> (n_index - 1 - r)) & 1 else 1.0
    out = np.ones((n_cells, 2**m))
    for u in range(2**m):
        for r in range(m):
            if u >> r & 1:
                out[:, u] *= signs[:, r]
    return np.asarray(out / 2**m, dtype=np.float64)


def cells_from_terms(
    evs: np.ndarray, stds: np.ndarray, *, n_index: int, n_zero: int, n_cells: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cells ``(B, n_cells)`` and their covariance ``(B, n_cells, n_cells)`` from the Z-terms' ``evs``, ``stds`` ``(B, 2^m)``.

    The covariance of terms ``U``, ``V`` is ``stds_U stds_V rho_UV`` with ``rho`` from the expectation
    values (module docstring); the identity term (``u = 0``) is exact.
    """
    evs = np.array(evs, dtype=np.float64)
    stds = np.asarray(stds, dtype=np.float64)
    evs[:, 0] = 1.0  # the identity term
    K = evs.shape[-1]
    sym = np.arange(K)[:, None] ^ np.arange(K)[None, :]  # index of Z_U Z_V = Z_{U xor V}
    m = np.clip(evs, -1.0, 1.0)
    spread = np.sqrt(np.clip(1.0 - m**2, 0.0, None))  # (B, K)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (m[:, sym] - m[:, :, None] * m[:, None, :]) / (spread[:, :, None] * spread[:, None, :])
    rho = np.where(np.isfinite(rho), np.clip(rho, -1.0, 1.0), 0.0)
    rho[:, np.arange(K), np.arange(K)] = 1.0
    sigma = stds.copy()
    sigma[:, 0] = 0.0  # the identity
    cov_terms = sigma[:, :, None] * sigma[:, None, :] * rho
    C = cell_coefficients(n_index, n_zero, n_cells)  # (n_cells, K)
    cells = evs @ C.T
    cov = np.einsum("jk,bkl,il->bji", C, cov_terms, C)
    return cells, cov
