r"""The hardware-efficient ansatz of :func:`qsa.circuits.ansatz` as a batched torch matrix.

Layer ``l`` is ``R · (U_{l,0} (x) ... (x) U_{l,n-1})`` with ``U_{l,q} = RZ(theta[l,q,2]) RY(theta[l,q,1])
RX(theta[l,q,0])`` (qubit 0 the most significant factor) and ``R`` the CNOT ring (the pairs of
:func:`qsa.circuits.cnot_ring`, a permutation of the basis); the ansatz is the product of its
layers, layer 0 applied first. The circuit builder and this function are checked against each
other through both exporters (``tests/qsa/test_ansatz.py``).

**Fused build.** :func:`ansatz_unitary` and :func:`ansatz_unitaries` build every layer of every
matrix in one batch: the single-qubit gates as one product of the angles' half-angle cosines and
sines with a constant ``8 x 8`` matrix (real arithmetic), the Kronecker products of all layers at
once, the CNOT ring as a precomputed row permutation (no matrix product), then the prefix products
``P_l = K_l ... K_0``. The backward pass is written by hand: with ``U = P_{L-1}`` unitary, the
gradient of layer ``l`` is ``P_l (U^dagger grad_U) P_{l-1}^dagger`` (no suffix products), then
through the Kronecker factors and the gates in closed form. A double backward (``create_graph=True``)
recomputes through :func:`ansatz_unitary_autograd`, the same matrix in plain torch operations.
"""

from __future__ import annotations

import functools
from typing import Any, cast

import numpy as np
import torch

from qsa.circuits.builders import cnot_ring

__all__ = ["ansatz_unitary", "ansatz_unitaries", "ansatz_unitary_autograd", "ring_permutation"]


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


@functools.cache
def _gate_matrix() -> np.ndarray:
    r"""``M`` (8, 8) with ``view_as_real(RZ(c) RY(b) RX(a)).flatten() = m @ M`` for the 8 products
    ``m[(i, j, l)] = t_a[i] t_b[j] t_c[l]`` of ``t_x = (cos(x/2), sin(x/2))`` (index ``4 i + 2 j + l``).

    The gate is ``[[alpha, beta], [-conj(beta), conj(alpha)]]`` with ``alpha = e^{-ic/2} (cos(b/2) cos(a/2)
    + i sin(b/2) sin(a/2))`` and ``beta = -e^{-ic/2} (sin(b/2) cos(a/2) + i cos(b/2) sin(a/2))``.
    """
    M = np.zeros((8, 8))

    def add(entry: int, terms: list[tuple[int, int, float, float]], conjugate: bool) -> None:
        # each term (i, j, re, im): (re + i im) t_a[i] t_b[j], times e^{-ic/2} = t_c[0] - i t_c[1] (or its conjugate)
        sign = -1.0 if conjugate else 1.0
        for i, j, re, im in terms:
            M[4 * i + 2 * j, 2 * entry] += re
            M[4 * i + 2 * j + 1, 2 * entry] += im
            M[4 * i + 2 * j, 2 * entry + 1] += sign * im
            M[4 * i + 2 * j + 1, 2 * entry + 1] -= sign * re

    alpha = [(0, 0, 1.0, 0.0), (1, 1, 0.0, 1.0)]  # cos(b/2) cos(a/2) + i sin(b/2) sin(a/2)
    beta = [(0, 1, -1.0, 0.0), (1, 0, 0.0, -1.0)]  # -(sin(b/2) cos(a/2) + i cos(b/2) sin(a/2))
    add(0, alpha, False)  # u[0, 0] = alpha
    add(1, beta, False)  # u[0, 1] = beta
    add(2, [(i, j, -re, -im) for i, j, re, im in beta], True)  # u[1, 0] = -conj(beta)
    add(3, alpha, True)  # u[1, 1] = conj(alpha)
    return M


_PAULI = {
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.array([[1, 0], [0, -1]], dtype=complex),
}

#: Up to this many qubits the angle gradients contract with precomputed generator matrices
#: (``2 d^2 x 4 n`` reals: 1.5 MiB at ``n = 6``); beyond, with partial traces.
_DENSE_GENERATORS = 6


@functools.cache
def _constants(n_qubits: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
    """The gate matrix, the ring's row order and its inverse, and (up to :data:`_DENSE_GENERATORS`
    qubits) the generator matrices of the angle gradients, on ``device``."""
    rows = ring_permutation(n_qubits).argmax(1)  # (R K)[r] = K[rows[r]]
    out = [
        torch.as_tensor(_gate_matrix(), dtype=dtype, device=device),
        torch.as_tensor(rows, device=device),
        torch.as_tensor(np.argsort(rows), device=device),
    ]
    if n_qubits <= _DENSE_GENERATORS:
        # column (sigma, q) = view_as_real(I (x) ... (x) -i sigma / 2 (at qubit q) (x) ... (x) I).flatten()
        columns = []
        for name in ("X", "Y", "Z"):
            for q in range(n_qubits):
                E = np.kron(np.kron(np.eye(2**q), -0.5j * _PAULI[name]), np.eye(2 ** (n_qubits - 1 - q)))
                columns.append(np.stack([E.real, E.imag], -1).ravel())
        out.append(torch.as_tensor(np.stack(columns, -1), dtype=dtype, device=device))  # (2 d^2, 3 n)
    return tuple(out)


def _generator_parts(H: torch.Tensor, n: int, generators: torch.Tensor | None) -> torch.Tensor:
    """``Re tr(H^dagger E_{sigma,q})`` for ``E = I (x) -i sigma / 2 (x) I`` (``sigma`` X, Y, Z at qubit ``q``):
    ``(..., 3, n)`` from ``H`` ``(..., d, d)``."""
    if generators is not None:
        return (torch.view_as_real(H).flatten(-3) @ generators).reshape(*H.shape[:-2], 3, n)
    parts = []
    for q in range(n):  # the partial trace onto qubit q, then its Pauli components
        left, right = 2**q, 2 ** (n - 1 - q)
        h = torch.diagonal(H.reshape(*H.shape[:-2], left, 2, right, left, 2, right), dim1=-6, dim2=-3)
        h = torch.diagonal(h, dim1=-4, dim2=-2).sum((-1, -2))  # (..., 2, 2)
        # Re tr(h^dag (-i sigma / 2)) = Im tr(h^dag sigma) / 2
        parts.append(
            0.5
            * torch.stack(
                (
                    (h[..., 0, 1].conj() + h[..., 1, 0].conj()).imag,
                    (1j * h[..., 1, 0].conj() - 1j * h[..., 0, 1].conj()).imag,
                    (h[..., 0, 0].conj() - h[..., 1, 1].conj()).imag,
                ),
                -1,
            )
        )
    return torch.stack(parts, -1)


def _build(theta: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """``theta`` ``(L, B, n, 3)`` -> ``(U (B, d, d), saved)``: the fused forward pass."""
    L, n = theta.shape[0], theta.shape[-2]
    M, rows = _constants(n, theta.dtype, theta.device)[:2]
    half = theta * 0.5
    t = torch.stack((torch.cos(half), torch.sin(half)), -1)  # (L, B, n, 3, 2)
    t_bc = t[..., 1, :, None] * t[..., 2, None, :]  # (L, B, n, 2, 2)
    m = (t[..., 0, :, None, None] * t_bc[..., None, :, :]).flatten(-3)  # (L, B, n, 8)
    u = torch.view_as_complex((m @ M).reshape(*m.shape[:-1], 4, 2)).reshape(*m.shape[:-1], 2, 2)  # (L, B, n, 2, 2)
    kron = u[..., n - 1, :, :]  # u_q (x) ... (x) u_{n-1}, built from the last qubit
    for q in range(n - 2, -1, -1):
        a, D = u[..., q, :, :], kron.shape[-1]
        kron = (a[..., :, None, :, None] * kron[..., None, :, None, :]).reshape(*kron.shape[:-2], 2 * D, 2 * D)
    K = kron.index_select(-2, rows)  # (L, B, d, d): layer l is R (u_l0 (x) ... (x) u_l,n-1)
    P = torch.empty_like(K)  # P[l] = K[l] ... K[0]
    P[0] = K[0]
    for layer in range(1, L):
        torch.matmul(K[layer], P[layer - 1], out=P[layer])
    return P[-1].clone(), (kron, P)


def _build_backward(
    grad_U: torch.Tensor, theta: torch.Tensor, saved: tuple[torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    """Gradient ``(L, B, n, 3)`` of the angles from that of ``U`` (torch's conjugate-Wirtinger convention).

    With ``g_K`` the gradient of the kron of layer ``l`` (ring undone), ``dL/dtheta = Re tr(g_K^dag dK/dtheta)``,
    and ``dK/dtheta`` is ``K`` times a generator: ``K (-i X_q / 2)`` for RX (applied first), ``(-i Z_q / 2) K``
    for RZ (applied last), and ``(-i/2)(cos c Y_q - sin c X_q) K`` for RY (``RZ(c) Y RZ(c)^dag``).
    """
    kron, P = saved
    n = theta.shape[-2]
    constants = _constants(n, theta.dtype, theta.device)
    inverse, generators = constants[2], (constants[3] if len(constants) > 3 else None)
    U = P[-1]
    core = U.mH @ grad_U  # (B, d, d)
    eye = torch.eye(U.shape[-1], dtype=U.dtype, device=U.device).expand(1, *U.shape)
    grad_kron = (P @ core @ torch.cat((eye, P[:-1])).mH).index_select(-2, inverse)  # P_l U^dag g_U P_{l-1}^dag
    left = _generator_parts(grad_kron @ kron.mH, n, generators)  # (L, B, 3, n): E K terms
    right = _generator_parts(kron.mH @ grad_kron, n, generators)  # (L, B, 3, n): K E terms
    c = theta[..., 2]  # (L, B, n)
    grad_b = torch.cos(c) * left[..., 1, :] - torch.sin(c) * left[..., 0, :]
    return torch.stack((right[..., 0, :], grad_b, left[..., 2, :]), -1)  # (L, B, n, 3)


class _Ansatz(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        U, (kron, P) = _build(theta)  # (L, B, n, 3) -> U (B, d, d); the krons and prefix products for the backward
        return U, kron, P

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[torch.Tensor, ...]) -> None:
        (theta,) = inputs
        _, kron, P = output
        ctx.mark_non_differentiable(kron, P)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(theta, kron, P)

    @staticmethod
    def backward(ctx: Any, grad_U: torch.Tensor | None, *_unused: Any) -> torch.Tensor | None:
        theta, kron, P = ctx.saved_tensors
        if grad_U is None:
            return None
        if torch.is_grad_enabled():  # create_graph=True: differentiate a differentiable recomputation
            with torch.enable_grad():
                U = ansatz_unitary_autograd(theta.movedim(0, -3))
                (grad,) = torch.autograd.grad(U, theta, grad_U, create_graph=True)
                return cast(torch.Tensor, grad)
        return _build_backward(grad_U, theta, (kron, P))


def _apply(theta: torch.Tensor) -> torch.Tensor:
    """``_Ansatz`` of angles ``(L, B, n, 3)``: ``(B, d, d)``."""
    return cast(torch.Tensor, _Ansatz.apply(theta)[0])  # type: ignore[no-untyped-call]


def _fused(theta: torch.Tensor) -> torch.Tensor:
    """The ansatz of unchecked angles ``(..., L, n, 3)``: ``(..., d, d)``."""
    batch, (L, n) = theta.shape[:-3], theta.shape[-3:-1]
    U = _apply(theta.movedim(-3, 0).reshape(L, -1, n, 3))  # (B, d, d)
    return U.reshape(*batch, *U.shape[-2:])


def _check(theta: Any, name: str) -> None:
    if not isinstance(theta, torch.Tensor) or not theta.dtype.is_floating_point:
        raise TypeError(f"{name} must be a real floating torch tensor; got {type(theta).__name__}")
    if theta.ndim < 3 or theta.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (..., n_layers, n_qubits, 3); got {tuple(theta.shape)}")


def ansatz_unitary(theta: torch.Tensor) -> torch.Tensor:
    """Matrix of the ansatz with angles ``theta`` ``(..., L, n, 3)``: shape ``(..., 2^n, 2^n)``.

    Real ``theta`` of float64 gives complex128 (float32 gives complex64), on ``theta``'s device;
    differentiable (the fused build of the module docstring, about ``n + L`` torch operations each
    way, not ``L n``).

    Raises:
        TypeError: ``theta`` is not a real floating tensor. ValueError: its shape is not ``(..., L, n, 3)``.
    """
    _check(theta, "theta")
    return _fused(theta)


def ansatz_unitaries(theta_W: torch.Tensor, theta_V: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(W, V)`` = ``(ansatz_unitary(theta_W), ansatz_unitary(theta_V))``, built in one batch when the shapes agree.

    Raises:
        TypeError, ValueError: as :func:`ansatz_unitary`, naming ``theta_W`` or ``theta_V``.
    """
    _check(theta_W, "theta_W")
    _check(theta_V, "theta_V")
    if theta_W.shape == theta_V.shape and theta_W.dtype == theta_V.dtype and theta_W.device == theta_V.device:
        L, n = theta_W.shape[-3:-1]
        WV = _apply(torch.stack((theta_W, theta_V), -3).movedim(-4, 0).reshape(L, -1, n, 3))  # (2 B, d, d)
        WV = WV.reshape(*theta_W.shape[:-3], 2, *WV.shape[-2:])
        return WV[..., 0, :, :], WV[..., 1, :, :]
    return _fused(theta_W), _fused(theta_V)


def ansatz_unitary_autograd(theta: torch.Tensor) -> torch.Tensor:
    """:func:`ansatz_unitary` in plain torch operations (autograd throughout, any order of derivatives).

    Every layer's Kronecker product at once, the ring as a permutation matrix, then the ordered
    product of the layers as a tree. Used for double backward and pinned equal to the fused build.
    """
    _check(theta, "theta")
    n = theta.shape[-2]
    half = theta / 2
    c, s = torch.cos(half), torch.sin(half)
    ca, cb, cc = c[..., 0], c[..., 1], c[..., 2]
    sa, sb, sc = s[..., 0], s[..., 1], s[..., 2]
    ez = torch.complex(cc, -sc)  # e^{-ic/2}
    alpha = ez * torch.complex(cb * ca, sb * sa)
    beta = -ez * torch.complex(sb * ca, cb * sa)
    gates = torch.stack([torch.stack([alpha, beta], -1), torch.stack([-beta.conj(), alpha.conj()], -1)], -2)
    K = gates[..., 0, :, :]  # (..., L, 2, 2)
    for q in range(1, n):  # Kronecker product, qubit 0 most significant, all layers at once
        G = gates[..., q, :, :]
        K = (K[..., :, None, :, None] * G[..., None, :, None, :]).reshape(
            *K.shape[:-2], 2 * K.shape[-2], 2 * K.shape[-1]
        )
    if n > 1:
        K = torch.as_tensor(ring_permutation(n), dtype=K.dtype, device=K.device) @ K  # (..., L, d, d)
    while K.shape[-3] > 1:  # ordered product layer_{L-1} ... layer_0, pairwise
        if K.shape[-3] % 2:
            eye = torch.eye(K.shape[-1], dtype=K.dtype, device=K.device).expand(*K.shape[:-3], 1, *K.shape[-2:])
            K = torch.cat([K, eye], -3)
        K = K[..., 1::2, :, :] @ K[..., 0::2, :, :]
    return K[..., 0, :, :]
