"""Where a built QSA circuit runs: PennyLane devices, Qiskit Aer and QSA's own torch simulator.

Every runner takes a :class:`~qsa.circuits.QSACircuit` and a list of per-sequence parameter
mappings and returns, per sequence, the probabilities ``P(index = j, zero_wires = 0)`` over the
values ``j`` of the circuit's index register (one value when there is none): exact when
``shots is None``, else frequencies of ``shots`` samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from qsa import _validate
from qsa.circuits import QSACircuit

__all__ = ["BACKENDS", "MAX_QUBITS", "check_backend", "check_shots", "run"]

#: Backend names and the widest circuit each takes here (statevector memory on a 24 GiB machine,
#: with room for the copies a simulator makes): 2^24 amplitudes for PennyLane's python device,
#: 2^26 for lightning and for the torch simulator (:mod:`qsa.backends.statevector`), 2^28 for Aer.
MAX_QUBITS: dict[str, int] = {"default.qubit": 24, "lightning.qubit": 26, "aer": 28, "torch": 26}
BACKENDS: tuple[str, ...] = tuple(MAX_QUBITS)


def check_backend(backend: Any, n_qubits: int | None = None) -> str:
    """``backend`` if it is a known name and (given ``n_qubits``) the circuit fits; else a clear error."""
    if not isinstance(backend, str) or backend not in MAX_QUBITS:
        raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}")
    if n_qubits is not None and n_qubits > MAX_QUBITS[backend]:
        raise ValueError(
            f"the circuit must fit the backend: {backend} takes at most {MAX_QUBITS[backend]} qubits here; "
            f"got a circuit of {n_qubits} qubits"
        )
    return backend


def check_shots(shots: Any, seed: Any) -> None:
    """``shots``: ``None`` (exact) or a positive integer; ``seed``: ``None`` or a non-negative integer."""
    if shots is not None:
        _validate.integer(shots, "shots", minimum=1, describe="None or a positive integer")
    if seed is not None:
        _validate.integer(seed, "seed", minimum=0, describe="None or a non-negative integer")


def marginal_zero(probs: np.ndarray, n_index: int, n_zero: int) -> np.ndarray:
    """From probabilities over ``index + zero`` wires (wire order), ``P(index = j, zero = 0)`` per ``j``."""
    probs = np.asarray(probs)
    return probs.reshape(probs.shape[:-1] + (2**n_index, 2**n_zero))[..., 0]


def run(
    qsa_circuit: QSACircuit,
    instances: Sequence[Mapping[str, Any]],
    *,
    backend: str = "default.qubit",
    shots: int | None = None,
    seed: int | None = None,
) -> np.ndarray:
    """Probabilities ``(len(instances), 2^len(index_wires))`` of ``qsa_circuit`` on ``backend``."""
    check_backend(backend, qsa_circuit.n_qubits)
    check_shots(shots, seed)
    if backend == "aer":
        from qsa.backends import aer

        return aer.run(qsa_circuit, instances, shots=shots, seed=seed)
    if backend == "torch":
        from qsa.backends import statevector

        return statevector.run(qsa_circuit, instances, shots=shots, seed=seed)
    from qsa.backends import pennylane

    return pennylane.run(qsa_circuit, instances, device=backend, shots=shots, seed=seed)
