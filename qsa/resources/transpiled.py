r"""Two-qubit gate count and depth after transpiling to IBM heavy-hex fake backends.

The input is the logical decomposition (:func:`qsa.circuits.decompose.decompose`, pruned) exported
as one parameterised Qiskit template per shape (:func:`qsa.circuits.to_qiskit.to_qiskit`): token
loads enter as parameters, so the counts hold for any data. It is transpiled with Qiskit's preset
pass manager for the backend's target (SabreLayout + SabreSwap routing on the heavy-hex coupling
map, translation to the native basis, and at ``optimization_level=2``, Qiskit's default, 1q
resynthesis and commutative cancellation), with a fixed ``seed_transpiler``.

Backends (from ``qiskit_ibm_runtime.fake_provider``; snapshots of real devices):

* ``"heron"``: ``FakeFez``, Heron r2, 156 qubits, native two-qubit gate ``cz``;
* ``"eagle"``: ``FakeSherbrooke``, Eagle r3, 127 qubits, native two-qubit gate ``ecr``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from qsa.circuits import Shape
from qsa.circuits.decompose import decompose

__all__ = [
    "BACKENDS",
    "TranspiledCounts",
    "TranspileCache",
    "fake_backend",
    "fingerprint",
    "transpile_counts",
    "transpiled_counts",
]

#: Fake backend class names by IBM processor type (Heron r2 ``FakeFez``, Eagle r3 ``FakeSherbrooke``).
BACKENDS: dict[str, str] = {"heron": "FakeFez", "eagle": "FakeSherbrooke"}


def fake_backend(name: str) -> Any:
    """The fake backend of ``BACKENDS[name]`` (``"heron"`` or ``"eagle"``), built once per process."""
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {tuple(BACKENDS)}; got {name!r}")
    return _fake_backend(BACKENDS[name])


@functools.cache
def _fake_backend(class_name: str) -> Any:  # loading a snapshot takes ~0.3 s; transpiling never mutates it
    from qiskit_ibm_runtime import fake_provider

    return getattr(fake_provider, class_name)()


@dataclass(frozen=True)
class TranspiledCounts:
    """A shape's circuit after transpilation to one backend.

    Attributes:
        backend: ``"heron"`` or ``"eagle"``; backend_class: the fake backend's class name.
        optimization_level, seed_transpiler: the transpiler settings.
        two_qubit: native two-qubit gates (``cz`` or ``ecr``; routing SWAPs are already translated).
        two_qubit_depth: layers of two-qubit gates.
        depth: full depth (every native gate one layer).
        ops: native gate counts by name.
        n_physical: physical qubits touched by the laid-out circuit.
        seconds: wall time of the transpilation (when it ran, also for a cached result).
        cached: whether this result came from a :class:`TranspileCache`.
    """

    backend: str
    backend_class: str
    optimization_level: int
    seed_transpiler: int
    two_qubit: int
    two_qubit_depth: int
    depth: int
    ops: dict = field(default_factory=dict)
    n_physical: int = 0
    seconds: float = 0.0
    cached: bool = False


class TranspileCache:
    """Transpiled counts on disk, one JSON file per key, under a directory the caller names.

    The key (:meth:`key`) hashes the decomposed circuit's operations, the backend, the transpiler
    settings and the Qiskit and qiskit-ibm-runtime versions, so a changed builder, decomposition
    or library version never reads a stale entry. Writes are atomic.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    @staticmethod
    def key(circuit_fingerprint: str, backend: str, optimization_level: int, seed_transpiler: int) -> str:
        record = {
            "circuit": circuit_fingerprint,
            "backend": BACKENDS[backend],
            "optimization_level": optimization_level,
            "seed_transpiler": seed_transpiler,
            "qiskit": metadata.version("qiskit"),
            "qiskit-ibm-runtime": metadata.version("qiskit-ibm-runtime"),
        }
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:32]

    def get(self, key: str) -> TranspiledCounts | None:
        path = self.directory / f"{key}.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        data["cached"] = True
        return TranspiledCounts(**data)

    def put(self, key: str, counts: TranspiledCounts) -> None:
        from qsa.runs import write_json

        self.directory.mkdir(parents=True, exist_ok=True)
        write_json(self.directory / f"{key}.json", {**asdict(counts), "cached": False})


def _is_two_qubit(instruction: Any) -> bool:
    return instruction.operation.num_qubits == 2


def fingerprint(circuit: Any) -> str:
    """SHA-256 of a decomposed IR circuit's operations (for cache keys)."""
    h = hashlib.sha256()
    for op in circuit.ops:
        h.update(repr(op).encode())
    return h.hexdigest()


def transpile_counts(
    qc: Any, backend: str, *, optimization_level: int = 2, seed_transpiler: int = 0
) -> TranspiledCounts:
    """Transpile a ``QuantumCircuit`` ``qc`` to ``backend`` and count its two-qubit gates and depths."""
    from qiskit.transpiler import generate_preset_pass_manager

    if optimization_level not in (0, 1, 2, 3):
        raise ValueError(f"optimization_level must be 0, 1, 2 or 3; got {optimization_level!r}")
    target = fake_backend(backend)
    start = time.perf_counter()
    pm = generate_preset_pass_manager(
        optimization_level=optimization_level, backend=target, seed_transpiler=seed_transpiler
    )
    out = pm.run(qc)
    seconds = time.perf_counter() - start
    used = {out.find_bit(q).index for inst in out.data for q in inst.qubits}
    return TranspiledCounts(
        backend=backend,
        backend_class=BACKENDS[backend],
        optimization_level=optimization_level,
        seed_transpiler=seed_transpiler,
        two_qubit=sum(1 for inst in out.data if _is_two_qubit(inst)),
        two_qubit_depth=out.depth(filter_function=_is_two_qubit),
        depth=out.depth(),
        ops={name: int(v) for name, v in sorted(out.count_ops().items())},
        n_physical=len(used),
        seconds=seconds,
    )


def transpiled_counts(
    shape: Shape,
    backend: str = "heron",
    *,
    variant: str | None = None,
    optimization_level: int = 2,
    seed_transpiler: int = 0,
    cache: TranspileCache | None = None,
) -> TranspiledCounts:
    """Transpile ``shape``'s ``variant`` circuit (default: the measured one), decomposed, pruned and parameterised, to ``backend`` and count it.

    With ``cache``, a result for the same circuit, backend, settings and versions is read instead.
    """
    from qsa.circuits.to_qiskit import to_qiskit

    if not isinstance(shape, Shape):
        raise TypeError(f"shape must be a Shape; got {type(shape).__name__}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {tuple(BACKENDS)}; got {backend!r}")
    if optimization_level not in (0, 1, 2, 3):
        raise ValueError(f"optimization_level must be 0, 1, 2 or 3; got {optimization_level!r}")
    decomposed = decompose(shape.build(variant).circuit).circuit
    key = None
    if cache is not None:
        key = cache.key(fingerprint(decomposed), backend, optimization_level, seed_transpiler)
        hit = cache.get(key)
        if hit is not None:
            return hit
    counts = transpile_counts(
        to_qiskit(decomposed).circuit, backend, optimization_level=optimization_level, seed_transpiler=seed_transpiler
    )
    if cache is not None:
        cache.put(key, counts)
    return counts
