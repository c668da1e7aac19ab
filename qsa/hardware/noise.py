r"""IBM fake backends, their ISA pass managers, transpiled-circuit reports and noisy Aer simulators.

The fake backends of ``qiskit_ibm_runtime.fake_provider`` carry snapshots of real devices
(coupling map, basis gates, gate and readout errors, T1/T2). A circuit is transpiled **once per
shape** to the backend's ISA with a fixed ``seed_transpiler`` (:func:`isa_pass_manager`).

**Noisy simulation of a few qubits of a large device.** ``AerSimulator.from_backend`` on a
127-156 qubit snapshot builds a noise model for every qubit and serialises it on every run
(about 13 s to build and 3 s per run here, even for a 2-qubit circuit). The noise model of
``from_backend`` is local -- readout error per qubit, gate error per gate and qubit tuple, thermal
relaxation per qubit -- so restricting it to the qubits a transpiled circuit touches gives the
same channels on those qubits. :func:`restricted_backend` is the device restricted to a set of
physical qubits (same instruction properties and qubit properties, relabelled ``0..m-1``),
:func:`restrict_circuit` relabels a transpiled circuit accordingly, and :func:`noisy_simulator`
is ``AerSimulator.from_backend(restricted_backend(...))``. ``tests/hardware/test_noise.py`` checks
the restriction against the full-device simulator.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qiskit import QuantumCircuit
from qiskit.providers import BackendV2, Options
from qiskit.transpiler import Target, generate_preset_pass_manager

__all__ = [
    "HERON",
    "EAGLE",
    "fake_backend_names",
    "fake_backend",
    "isa_pass_manager",
    "active_qubits",
    "restrict_circuit",
    "restrict_observables",
    "restricted_backend",
    "noisy_simulator",
    "TranspileReport",
    "transpile_report",
    "two_qubit_gate_names",
]

logger = logging.getLogger(__name__)

#: Fake backends used by default: Heron-class (CZ, 133-156 qubits) and Eagle-class (ECR, 127 qubits).
HERON = ("fake_torino", "fake_fez", "fake_marrakesh")
EAGLE = ("fake_sherbrooke", "fake_brisbane", "fake_kyiv")


@functools.lru_cache(maxsize=1)
def _fake_classes() -> dict[str, type]:
    from qiskit_ibm_runtime import fake_provider

    out = {}
    for attr in dir(fake_provider):
        cls = getattr(fake_provider, attr)
        if isinstance(cls, type) and attr.startswith("Fake") and hasattr(cls, "backend_name"):
            name = getattr(cls, "backend_name", None)
            if isinstance(name, str) and name.startswith("fake_") and not attr.endswith("V1"):
                out.setdefault(name, cls)
    return out


def fake_backend_names() -> tuple[str, ...]:
    """Names of the fake backends ``qiskit_ibm_runtime.fake_provider`` ships (``fake_torino``, ...)."""
    return tuple(sorted(_fake_classes()))


@functools.lru_cache(maxsize=16)
def fake_backend(name: str) -> BackendV2:
    """The fake backend called ``name`` (e.g. ``"fake_torino"``); one instance per name per process."""
    if not isinstance(name, str):
        raise TypeError(f"backend name must be a string; got {name!r}")
    classes = _fake_classes()
    if name not in classes:
        raise ValueError(f"backend must be one of the fake backends {fake_backend_names()}; got {name!r}")
    return classes[name]()


def two_qubit_gate_names(backend: BackendV2) -> tuple[str, ...]:
    """The backend's native two-qubit gates (``cz`` on Heron, ``ecr`` on Eagle)."""
    target = backend.target
    out = []
    for name in target.operation_names:
        op = target.operation_from_name(name)
        if not isinstance(op, type) and getattr(op, "num_qubits", 0) == 2:
            out.append(name)
    return tuple(out)


def isa_pass_manager(backend: BackendV2, *, optimization_level: int = 1, seed_transpiler: int = 0):
    """``generate_preset_pass_manager`` onto ``backend``'s ISA with a fixed ``seed_transpiler``."""
    if optimization_level not in (0, 1, 2, 3):
        raise ValueError(f"optimization_level must be 0, 1, 2 or 3; got {optimization_level!r}")
    return generate_preset_pass_manager(
        optimization_level=optimization_level, backend=backend, seed_transpiler=seed_transpiler
    )


def active_qubits(circuit: QuantumCircuit) -> tuple[int, ...]:
    """Indices of the qubits any instruction of ``circuit`` touches (barriers and delays aside), sorted."""
    used = set()
    for inst in circuit.data:
        if inst.operation.name in ("barrier", "delay"):
            continue
        used.update(circuit.find_bit(q).index for q in inst.qubits)
    return tuple(sorted(used))


def restrict_circuit(circuit: QuantumCircuit, qubits: Sequence[int]) -> QuantumCircuit:
    """``circuit`` on ``len(qubits)`` qubits, physical qubit ``qubits[i]`` becoming qubit ``i``.

    Every instruction must act inside ``qubits`` (barriers and delays elsewhere are dropped).
    Classical bits, parameters and the global phase are kept.
    """
    position = {q: i for i, q in enumerate(qubits)}
    out = QuantumCircuit(len(qubits), name=circuit.name, global_phase=circuit.global_phase)
    for creg in circuit.cregs:
        out.add_register(creg)
    for inst in circuit.data:
        indices = [circuit.find_bit(q).index for q in inst.qubits]
        if any(i not in position for i in indices):
            if inst.operation.name in ("barrier", "delay"):
                continue
            raise ValueError(
                f"restrict_circuit: {inst.operation.name} acts on qubits {indices}, outside {tuple(qubits)}"
            )
        out.append(inst.operation, [out.qubits[position[i]] for i in indices], inst.clbits)
    return out


def restrict_observables(observables: Any, qubits: Sequence[int]) -> Any:
    """Observables (a ``SparsePauliOp`` or nested lists of them) on ``qubits`` of a device, relabelled ``0..m-1``.

    Physical qubit ``qubits[i]`` becomes qubit ``i`` (as :func:`restrict_circuit`); every term must act
    inside ``qubits``.
    """
    from qiskit.quantum_info import SparsePauliOp

    if isinstance(observables, (list, tuple)):
        return [restrict_observables(o, qubits) for o in observables]
    if not isinstance(observables, SparsePauliOp):
        observables = SparsePauliOp(observables)
    position = {q: i for i, q in enumerate(qubits)}
    terms = []
    for label, indices, coefficient in observables.to_sparse_list():
        if any(i not in position for i in indices):
            raise ValueError(f"restrict_observables: a term acts on qubits {indices}, outside {tuple(qubits)}")
        terms.append((label, [position[i] for i in indices], coefficient))
    return SparsePauliOp.from_sparse_list(terms, num_qubits=len(qubits))


class _RestrictedBackend(BackendV2):
    """A device restricted to some of its physical qubits (for building noise models)."""

    def __init__(self, parent: BackendV2, qubits: Sequence[int]):
        super().__init__(name=f"{parent.name}[{','.join(map(str, qubits))}]")
        source = parent.target
        position = {q: i for i, q in enumerate(qubits)}
        props = source.qubit_properties
        self._target = Target(
            description=f"{parent.name} restricted to qubits {tuple(qubits)}",
            num_qubits=len(qubits),
            dt=source.dt,
            granularity=source.granularity,
            min_length=source.min_length,
            pulse_alignment=source.pulse_alignment,
            acquire_alignment=source.acquire_alignment,
            qubit_properties=[props[q] for q in qubits] if props else None,
        )
        for name in source.operation_names:
            op = source.operation_from_name(name)
            entries = source[name]
            if isinstance(op, type) or None in entries:  # control flow and global instructions
                self._target.add_instruction(op, name=name)
                continue
            kept = {
                tuple(position[q] for q in qargs): value
                for qargs, value in entries.items()
                if all(q in position for q in qargs)
            }
            if kept:
                self._target.add_instruction(op, kept, name=name)
        self._parent_name = parent.name
        self.physical_qubits = tuple(qubits)

    @property
    def target(self) -> Target:
        return self._target

    @property
    def max_circuits(self) -> None:
        return None

    @classmethod
    def _default_options(cls) -> Options:
        return Options(shots=1024)

    def run(self, run_input: Any, **options: Any):  # pragma: no cover - only used for its target
        raise NotImplementedError("a restricted backend describes noise; run circuits on noisy_simulator()")


def restricted_backend(backend: BackendV2, qubits: Sequence[int]) -> BackendV2:
    """``backend`` restricted to the physical ``qubits`` (relabelled ``0..len(qubits)-1``)."""
    qubits = tuple(int(q) for q in qubits)
    if len(set(qubits)) != len(qubits) or any(not 0 <= q < backend.num_qubits for q in qubits):
        raise ValueError(
            f"qubits must be distinct physical qubits of {backend.name} (0..{backend.num_qubits - 1}); got {qubits}"
        )
    return _RestrictedBackend(backend, qubits)


def noisy_simulator(backend: BackendV2, qubits: Sequence[int], *, seed: int | None = None, method: str = "automatic"):
    """``AerSimulator.from_backend`` of ``backend`` restricted to ``qubits`` (see the module docstring)."""
    from qiskit_aer import AerSimulator

    sim = AerSimulator.from_backend(restricted_backend(backend, qubits), method=method)
    if seed is not None:
        sim.set_options(seed_simulator=seed)
    return sim


@dataclass(frozen=True)
class TranspileReport:
    """A transpiled circuit's size on a device."""

    backend: str
    logical_qubits: int
    physical_qubits: tuple[int, ...]
    two_qubit_gates: int
    depth: int
    two_qubit_depth: int
    size: int
    ops: dict[str, int]
    duration_seconds: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "logical_qubits": self.logical_qubits,
            "physical_qubits": list(self.physical_qubits),
            "two_qubit_gates": self.two_qubit_gates,
            "depth": self.depth,
            "two_qubit_depth": self.two_qubit_depth,
            "size": self.size,
            "ops": dict(self.ops),
            "duration_seconds": self.duration_seconds,
        }


def transpile_report(isa_circuit: QuantumCircuit, backend: BackendV2, *, logical_qubits: int) -> TranspileReport:
    """Two-qubit count, depth, two-qubit depth and estimated duration of an ISA circuit on ``backend``."""
    twoq = set(two_qubit_gate_names(backend))
    ops = dict(isa_circuit.count_ops())
    try:
        duration = float(isa_circuit.estimate_duration(backend.target, unit="s"))
    except Exception as exc:  # noqa: BLE001 - a target without durations (e.g. AerSimulator)
        logger.info("no duration estimate for %s: %s", backend.name, exc)
        duration = None
    return TranspileReport(
        backend=backend.name,
        logical_qubits=logical_qubits,
        physical_qubits=active_qubits(isa_circuit),
        two_qubit_gates=sum(n for name, n in ops.items() if name in twoq),
        depth=isa_circuit.depth(lambda inst: inst.operation.name not in ("barrier",)),
        two_qubit_depth=isa_circuit.depth(lambda inst: inst.operation.name in twoq),
        size=isa_circuit.size(),
        ops={str(k): int(v) for k, v in ops.items()},
        duration_seconds=duration,
    )
