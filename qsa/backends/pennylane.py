"""Run QSA circuits on PennyLane devices (``default.qubit``, ``lightning.qubit``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pennylane as qml

from qsa.backends import marginal_zero
from qsa.circuits import QSACircuit
from qsa.circuits.to_pennylane import apply

__all__ = ["probabilities_qnode", "run", "SELECT_MODE"]

#: How each device applies multiplexed loads (see :func:`qsa.circuits.to_pennylane.apply`).
SELECT_MODE = {"default.qubit": "matrix", "lightning.qubit": "controlled"}


def probabilities_qnode(
    qsa_circuit: QSACircuit,
    *,
    device: str = "default.qubit",
    shots: int | None = None,
    seed: int | None = None,
    interface: str = "auto",
    diff_method: str = "best",
    lowered: bool = False,
) -> qml.QNode:
    """A QNode ``params -> probs(index_wires + zero_wires)`` applying ``qsa_circuit`` (wire 0 first).

    Multiplexed loads are block-diagonal matrices on ``default.qubit`` and controlled unitaries on
    lightning (:data:`SELECT_MODE`), the fast form for each.
    """
    dev = qml.device(device, wires=qsa_circuit.n_qubits, seed=seed)
    wires = list(qsa_circuit.measured_wires)
    select = SELECT_MODE.get(device, "matrix")

    @qml.qnode(dev, interface=interface, diff_method=diff_method)
    def circuit(params: Mapping[str, Any]):
        apply(qsa_circuit.circuit, params, lowered=lowered, select=select)
        return qml.probs(wires=wires)

    return qml.set_shots(circuit, shots=shots) if shots is not None else circuit


def run(
    qsa_circuit: QSACircuit,
    instances: Sequence[Mapping[str, Any]],
    *,
    device: str = "default.qubit",
    shots: int | None = None,
    seed: int | None = None,
) -> np.ndarray:
    """``P(index = j, zero = 0)`` per instance, shape ``(len(instances), 2^len(index_wires))``."""
    qnode = probabilities_qnode(qsa_circuit, device=device, shots=shots, seed=seed, interface="numpy")
    out = [qml.math.toarray(qnode(params)) for params in instances]
    probs = np.stack(out) if out else np.zeros((0, 2 ** len(qsa_circuit.measured_wires)))
    return marginal_zero(probs, len(qsa_circuit.index_wires), len(qsa_circuit.zero_wires))
