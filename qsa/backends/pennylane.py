"""Run QSA circuits on PennyLane devices (``default.qubit``, ``lightning.qubit``), and QNode factories.

* :func:`probabilities_qnode`: a QNode ``params -> probs(index_wires + zero_wires)`` of a built
  circuit; named arrays in, any interface; arrays with a leading batch axis are broadcast (one
  call, one device execution for the batch).
* :func:`layer_qnode` and :func:`torch_layer`: the same circuit as a ``qml.qnn.TorchLayer`` whose
  inputs are batches of token sequences (:func:`pack_inputs`) and whose weights are the ansatz
  angles (and query phases): ``layer(inputs)`` is ``(B, 2^m)`` probabilities in one QNode call.
  :func:`cells` reads ``P(index = j, zero = 0)`` from them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pennylane as qml

from qsa.backends import marginal_zero
from qsa.circuits import QSACircuit
from qsa.circuits.to_pennylane import apply

__all__ = [
    "probabilities_qnode",
    "layer_qnode",
    "torch_layer",
    "pack_inputs",
    "cells",
    "weight_shapes",
    "run",
    "SELECT_MODE",
]

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

    Args:
        qsa_circuit: a built circuit (:func:`qsa.circuits.circuit_a`, :func:`qsa.circuits.circuit_b`).
        device: a PennyLane device name (``"default.qubit"``, ``"lightning.qubit"``).
        shots, seed: ``None`` for exact probabilities, or the device's sampling.
        interface, diff_method: passed to ``qml.qnode``.
        lowered: apply the CNOT + RY/RZ lowering instead of the named load operations.

    Returns:
        ``qnode(params)``: ``params`` maps the circuit's array names (``x``, ``y`` ``(T, d)``; ``W``,
        ``V`` or ``theta_W``, ``theta_V`` ``(L, n, 3)``; ``phi`` ``(T,)``; ``psi`` for circuit B) to
        arrays; with a leading batch axis on the data (``x``, ``y`` ``(B, T, d)``, ``phi``
        ``(B, T)``) one call returns ``(B, 2^m)`` probabilities (PennyLane broadcasting; not with
        ``lowered``), else ``(2^m,)``, ``m = len(measured_wires)``. :func:`cells` reads the observable.

    Multiplexed loads are block-diagonal matrices on ``default.qubit`` and controlled unitaries on
    lightning (:data:`SELECT_MODE`), the fast form for each.

    Example::

        from qsa.circuits import circuit_a
        qnode = probabilities_qnode(circuit_a(4, 2, 1, w_layers=1, v_layers=1), interface="torch")
        probs = qnode({"x": X, "y": Y, "theta_W": tw, "theta_V": tv})   # X, Y: (B, 4, 2) -> (B, 2^m)
        mu = cells(probs, qsa_circuit)[..., 0]
    """
    dev = qml.device(device, wires=qsa_circuit.n_qubits, seed=seed)
    wires = list(qsa_circuit.measured_wires)
    select = SELECT_MODE.get(device, "matrix")

    @qml.qnode(dev, interface=interface, diff_method=diff_method)
    def circuit(params: Mapping[str, Any]):
        apply(qsa_circuit.circuit, params, lowered=lowered, select=select)
        return qml.probs(wires=wires)

    return qml.set_shots(circuit, shots=shots) if shots is not None else circuit


def cells(probs: Any, qsa_circuit: QSACircuit) -> Any:
    """``P(index = j, zero = 0)`` from probabilities over ``measured_wires``: ``(..., 2^m) -> (..., 2^c)``.

    Summed over ``j`` this is ``mu``, ``zeta``, ``nu`` (circuit A) or ``P0`` (circuit B).
    """
    n_index, n_zero = len(qsa_circuit.index_wires), len(qsa_circuit.zero_wires)
    shape = tuple(probs.shape[:-1]) + (2**n_index, 2**n_zero)
    return probs.reshape(shape)[..., 0]


def weight_shapes(qsa_circuit: QSACircuit) -> dict[str, tuple[int, ...]]:
    """The trainable arrays of ``qsa_circuit`` and their shapes (``theta_W``, ``theta_V``, ``phi``), in order.

    Raises:
        ValueError: if the circuit takes ``W`` or ``V`` as matrices (build it with ``w_layers`` and
            ``v_layers`` to train them).
    """
    specs = {p.name: p for p in qsa_circuit.circuit.params}
    if "W" in specs or "V" in specs:
        raise ValueError("the circuit must be built with w_layers and v_layers (ansatz angles); got W, V as matrices")
    return {name: tuple(specs[name].shape) for name in ("theta_W", "theta_V", "phi") if name in specs}


def pack_inputs(X: Any, Y: Any) -> Any:
    """Token sequences as the real feature rows a ``TorchLayer`` takes: ``(..., T, d)`` twice -> ``(..., 4 T d)``.

    The row is ``[Re X, Im X, Re Y, Im Y]``, each flattened over ``(T, d)``; :func:`layer_qnode` unpacks it.
    """
    import torch

    X, Y = torch.as_tensor(X), torch.as_tensor(Y)
    if X.shape != Y.shape or X.ndim < 2:
        raise ValueError(f"X and Y must have one shape (..., T, d); got {tuple(X.shape)} and {tuple(Y.shape)}")
    lead = X.shape[:-2]
    parts = [X.real, X.imag, Y.real, Y.imag] if X.is_complex() else [X, torch.zeros_like(X), Y, torch.zeros_like(Y)]
    return torch.cat([p.reshape(*lead, -1) for p in parts], dim=-1).to(torch.float64)


def _superposition(x: Any, k: int) -> Any:
    """``psi_j = sum_{i<=j} x_i (x) x_i^{(x)k} / n_j`` in torch (:func:`qsa.circuit_tier.superposition_states`)."""
    from qsa.circuit_tier import superposition_states

    return superposition_states(x, k=k)


def layer_qnode(qsa_circuit: QSACircuit, *, device: str = "default.qubit", diff_method: str = "backprop") -> qml.QNode:
    """A torch QNode ``(inputs, theta_W, theta_V[, phi]) -> probs(measured_wires)`` for ``qml.qnn.TorchLayer``.

    Args:
        qsa_circuit: circuit A (any variant, kernel) or circuit B, built with ``w_layers`` and ``v_layers``.
        device: ``"default.qubit"`` (broadcasting and backprop) or another PennyLane device.
        diff_method: passed to ``qml.qnode``.

    The inputs are :func:`pack_inputs` rows ``(B, 4 T d)`` (or one row ``(4 T d,)``); the tokens
    are unpacked, broadcast through the loads, and the whole batch runs in one QNode call:
    output ``(B, 2^m)``.

    Raises:
        ValueError: as :func:`weight_shapes`.
    """
    import torch

    shapes = weight_shapes(qsa_circuit)
    T, d, k = qsa_circuit.T, qsa_circuit.d, qsa_circuit.k
    dev = qml.device(device, wires=qsa_circuit.n_qubits)
    wires = list(qsa_circuit.measured_wires)
    select = SELECT_MODE.get(device, "matrix")
    size = T * d

    def body(inputs, theta_W, theta_V, phi=None):
        if inputs.shape[-1] != 4 * size:
            raise ValueError(f"inputs must have 4 T d = {4 * size} features (pack_inputs); got {inputs.shape[-1]}")
        lead = inputs.shape[:-1]
        x = torch.complex(inputs[..., :size], inputs[..., size : 2 * size]).reshape(*lead, T, d)
        y = torch.complex(inputs[..., 2 * size : 3 * size], inputs[..., 3 * size :]).reshape(*lead, T, d)
        params = {"x": x, "y": y, "theta_W": theta_W, "theta_V": theta_V}
        if phi is not None:
            params["phi"] = phi
        if qsa_circuit.shape.circuit == "B":
            params["psi"] = _superposition(x, k)
        apply(qsa_circuit.circuit, params, select=select)
        return qml.probs(wires=wires)

    if "phi" in shapes:

        def circuit(inputs, theta_W, theta_V, phi):
            return body(inputs, theta_W, theta_V, phi)

    else:

        def circuit(inputs, theta_W, theta_V):
            return body(inputs, theta_W, theta_V)

    return qml.QNode(circuit, dev, interface="torch", diff_method=diff_method)


def torch_layer(qsa_circuit: QSACircuit, *, device: str = "default.qubit", init_method: Any = None, **kwargs: Any):
    """``qml.qnn.TorchLayer`` of :func:`layer_qnode`: a ``torch.nn.Module`` ``inputs (B, 4 T d) -> (B, 2^m)``.

    Its parameters are ``theta_W``, ``theta_V`` (and ``phi``) with :func:`weight_shapes`;
    ``init_method`` is passed to ``TorchLayer`` (default: uniform on ``[0, 2 pi)``).

    Example::

        layer = torch_layer(circuit_a(4, 2, 1, w_layers=1, v_layers=1, phases=True))
        probs = layer(pack_inputs(X, Y))                  # X, Y: (B, 4, 2) complex
        loss = -torch.log(cells(probs, qc)[:, 0]).mean()  # L_B's -log mu, batch mean
    """
    qnode = layer_qnode(qsa_circuit, device=device, **kwargs)
    return qml.qnn.TorchLayer(qnode, weight_shapes(qsa_circuit), init_method=init_method)


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
