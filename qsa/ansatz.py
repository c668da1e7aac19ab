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

from qsa.circuits.builders import cnot_ring

__all__ = ["ansatz_unitary", "ring_permutation"]


@functools.cache
def ring_permutation(n_qubits: int) -> np.ndarray:
    """The CNOT ring ``CNOT(n-1, 0) ... CNOT(1, 2) CNOT(0, 1)`` as a ``(2^n, 2^n)`` permutation matrix."""
    pairs = cnot_ring(tuple(range(n_qubits)))
    d = 2**n_qubits
    P = np.zeros((d, d))
    for b in range(d):
        bits = [(b >> (n_qubits - 1 - q)) & 1 for q in range(n_qubits)]
        for c, t in pairs:
            bits[t] ^= bits[c]
        P[sum(v << (n_qubits - 1 - q) for q, v in enumerate(bits)), b] = 1
    return P


def _single_qubit(theta: torch.Tensor) -> torch.Tensor:
    """``RZ(c) RY(b) RX(a)`` for ``theta[..., (a, b, c)]``: shape ``(..., 2, 2)``.

    In closed form ``[[alpha, beta], [-conj(beta), conj(alpha)]]`` with
    ``alpha = e^{-ic/2} (cos(b/2) cos(a/2) + i sin(b/2) sin(a/2))`` and
    ``beta = -e^{-ic/2} (sin(b/2) cos(a/2) + i cos(b/2) sin(a/2))``.
    """
    half = theta / 2
    c, s = torch.cos(half), torch.sin(half)
    ca, cb, cc = c[..., 0], c[..., 1], c[..., 2]
    sa, sb, sc = s[..., 0], s[..., 1], s[..., 2]
    ez = torch.complex(cc, -sc)  # e^{-ic/2}
    alpha = ez * torch.complex(cb * ca, sb * sa)
    beta = -ez * torch.complex(sb * ca, cb * sa)
    return torch.stack([torch.stack([alpha, beta], -1), torch.stack([-beta.conj(), alpha.conj()], -1)], -2)


def ansatz_unitary(theta: torch.Tensor) -> torch.Tensor:
    """Matrix of the ansatz with angles ``theta`` ``(..., L, n, 3)``: shape ``(..., 2^n, 2^n)``.

    Real ``theta`` of float64 gives complex128 (float32 gives complex64); differentiable. Built
    with a number of torch operations that grows like ``n + log2 L``, not ``L n``: every layer's
    Kronecker product at once, then the ordered product of the layers as a tree.
    """
    if not isinstance(theta, torch.Tensor) or not theta.dtype.is_floating_point:
        raise TypeError(f"theta must be a real floating torch tensor; got {type(theta).__name__}")
    if theta.ndim < 3 or theta.shape[-1] != 3:
        raise ValueError(f"theta must have shape (..., n_layers, n_qubits, 3); got {tuple(theta.shape)}")
    n = theta.shape[-2]
    gates = _single_qubit(theta)  # (..., L, n, 2, 2)
    K = gates[..., 0, :, :]  # (..., L, 2, 2)
    for q in range(1, n):  # Kronecker product, qubit 0 most significant, all layers at once
        G = gates[..., q, :, :]
        K = (K[..., :, None, :, None] * G[..., None, :, None, :]).reshape(
            *K.shape[:-2], 2 * K.shape[-2], 2 * K.shape[-1]
        )
    if n > 1:
        K = torch.as_tensor(ring_permutation(n), dtype=K.dtype, device=K.device) @ K  # (..., L, d, d): one layer each
    while K.shape[-3] > 1:  # ordered product layer_{L-1} ... layer_0, pairwise
        if K.shape[-3] % 2:
            eye = torch.eye(K.shape[-1], dtype=K.dtype, device=K.device).expand(*K.shape[:-3], 1, *K.shape[-2:])
            K = torch.cat([K, eye], -3)
        K = K[..., 1::2, :, :] @ K[..., 0::2, :, :]
    return K[..., 0, :, :]
