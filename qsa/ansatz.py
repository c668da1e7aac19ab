r"""The hardware-efficient ansatz of :func:`qsa.circuits.ansatz` as a batched torch matrix.

Layer ``l`` is ``R · (U_{l,0} (x) ... (x) U_{l,n-1})`` with ``U_{l,q} = RZ(theta[l,q,2]) RY(theta[l,q,1])
RX(theta[l,q,0])`` (qubit 0 the most significant factor) and ``R`` the CNOT ring; the ansatz is
the product of its layers, layer 0 applied first. The circuit builder and this function are
checked against each other through both exporters (``tests/qsa/test_ansatz.py``).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

__all__ = ["ansatz_unitary", "ring_permutation"]


@functools.lru_cache(maxsize=None)
def ring_permutation(n_qubits: int) -> np.ndarray:
    """The CNOT ring ``CNOT(n-1, 0) ... CNOT(1, 2) CNOT(0, 1)`` as a ``(2^n, 2^n)`` permutation matrix."""
    pairs = [] if n_qubits == 1 else [(0, 1)] if n_qubits == 2 else [(q, (q + 1) % n_qubits) for q in range(n_qubits)]
    d = 2**n_qubits
    P = np.zeros((d, d))
    for b in range(d):
        bits = [(b >> (n_qubits - 1 - q)) & 1 for q in range(n_qubits)]
        for c, t in pairs:
            bits[t] ^= bits[c]
        P[sum(v << (n_qubits - 1 - q) for q, v in enumerate(bits)), b] = 1
    return P


def _single_qubit(theta: torch.Tensor) -> torch.Tensor:
    """``RZ(c) RY(b) RX(a)`` for ``theta[..., (a, b, c)]``: shape ``(..., 2, 2)``."""
    a, b, c = (theta[..., i] for i in range(3))
    ca, sa = torch.cos(a / 2), torch.sin(a / 2)
    cb, sb = torch.cos(b / 2), torch.sin(b / 2)
    ez = torch.exp(-0.5j * c.to(torch.complex128 if theta.dtype == torch.float64 else torch.complex64))
    one = torch.ones_like(ca)
    rx = torch.stack([torch.stack([ca * one, -1j * sa], -1), torch.stack([-1j * sa, ca * one], -1)], -2)
    ry = torch.stack([torch.stack([cb, -sb], -1), torch.stack([sb, cb], -1)], -2).to(rx.dtype)
    rz = torch.diag_embed(torch.stack([ez, ez.conj()], -1))
    return rz @ ry @ rx


def ansatz_unitary(theta: torch.Tensor) -> torch.Tensor:
    """Matrix of the ansatz with angles ``theta`` ``(..., L, n, 3)``: shape ``(..., 2^n, 2^n)``.

    Real ``theta`` of float64 gives complex128 (float32 gives complex64); differentiable.
    """
    if not isinstance(theta, torch.Tensor) or not theta.dtype.is_floating_point:
        raise TypeError(f"theta must be a real floating torch tensor; got {type(theta).__name__}")
    if theta.ndim < 3 or theta.shape[-1] != 3:
        raise ValueError(f"theta must have shape (..., n_layers, n_qubits, 3); got {tuple(theta.shape)}")
    L, n = theta.shape[-3], theta.shape[-2]
    gates = _single_qubit(theta)  # (..., L, n, 2, 2)
    ring = torch.as_tensor(ring_permutation(n), dtype=gates.dtype)
    U = None
    for layer in range(L):
        K = gates[..., layer, 0, :, :]
        for q in range(1, n):  # Kronecker product, qubit 0 most significant
            G = gates[..., layer, q, :, :]
            K = (K[..., :, None, :, None] * G[..., None, :, None, :]).reshape(*K.shape[:-2], 2 * K.shape[-2], 2 * K.shape[-1])
        layer_U = ring @ K
        U = layer_U if U is None else layer_U @ U
    return U
