r"""Blockwise causal kernel products with a memory-light backward: the core of the analytic fast path.

For queries ``Q`` and keys ``K`` of shape ``(..., T, d)`` and a kernel ``g`` (a polynomial), this
module computes

.. math::

    \tilde z_j = \sum_{i \le j} g(s_{ji})\, k_i, \qquad s_{ji} = q_j \cdot k_i = \sum_a Q_{ja} K_{ia}

(no conjugation: the caller passes ``Q = conj(X) W``, ``K = X`` for ``s_ji = <x_j|W|x_i>``) without
ever holding a ``T x T`` matrix: the causal lower triangle is walked in square tiles of ``block``
rows and columns (about half the work of the full product, and ``O(block^2)`` memory per
sequence). The backward pass recomputes each tile's scores from ``Q`` and ``K`` (the trick of
memory-efficient attention) instead of storing them, so forward and backward together keep
``O(T d + block^2)`` memory.

Gradients follow torch's convention for complex tensors (the conjugate Wirtinger derivative):
for a holomorphic map ``out = f(in)``, ``grad_in = grad_out * conj(f'(in))``. With
``G = g(S)`` (masked) and ``tilde z = G K``: ``grad_G = grad_z K^H``, ``grad_S = grad_G *
conj(g'(S))``, ``grad_Q = grad_S conj(K)``, ``grad_K = G^H grad_z + grad_S^T conj(Q)``.
The backward is written in differentiable torch operations, so double backward works too.
"""

from __future__ import annotations

import torch

from qsa import _validate

__all__ = ["DEFAULT_BLOCK", "causal_kernel_mix", "kernel_polynomial"]

#: Tile size of the causal walk (rows and columns); 512 x 512 complex128 is 4 MiB per sequence.
DEFAULT_BLOCK = 512

#: Bound on ``batch x block^2`` tile entries processed at once (batches are chunked beyond it).
_MAX_TILE_ENTRIES = 2**23


def kernel_polynomial(coefficients: tuple[float, ...]):
    """``(g, g')`` evaluating ``sum_p coefficients[p] s^p`` and its derivative (Horner), elementwise."""
    c = tuple(float(v) for v in coefficients)
    degree = len(c) - 1

    def g(s: torch.Tensor) -> torch.Tensor:
        if degree >= 1 and all(v == 0 for v in c[:-1]):  # a monomial c_k s^k
            out = s if degree == 1 else (s * s if degree == 2 else s**degree)
            return out if c[-1] == 1 else out * c[-1]
        out = torch.full_like(s, c[degree])
        for p in range(degree - 1, -1, -1):
            out = out * s + c[p]
        return out

    def dg(s: torch.Tensor) -> torch.Tensor:
        if degree == 0:
            return torch.zeros_like(s)
        if all(v == 0 for v in c[:-1]):  # k c_k s^{k-1}
            if degree == 1:
                return torch.full_like(s, c[1])
            out = s if degree == 2 else s ** (degree - 1)
            return out * (degree * c[-1])
        out = torch.full_like(s, degree * c[degree])
        for p in range(degree - 1, 0, -1):
            out = out * s + p * c[p]
        return out

    return g, dg


def _tiles(T: int, block: int):
    """``(J0, J1, I0, I1, diagonal)`` for every tile of the causal lower triangle, row block by row block."""
    for J0 in range(0, T, block):
        J1 = min(J0 + block, T)
        for I0 in range(0, J1, block):
            yield J0, J1, I0, min(I0 + block, T), I0 == J0


class _CausalKernelMix(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(Q, K, coefficients, block):
        g, _ = kernel_polynomial(coefficients)
        out = torch.zeros_like(Q)
        for J0, J1, I0, I1, diagonal in _tiles(Q.shape[-2], block):
            S = Q[..., J0:J1, :] @ K[..., I0:I1, :].transpose(-1, -2)  # (..., bq, bk)
            G = g(S)
            if diagonal:
                G = G.tril()
            out[..., J0:J1, :] += G @ K[..., I0:I1, :]
        return out

    @staticmethod
    def setup_context(ctx, inputs, output):
        Q, K, coefficients, block = inputs
        ctx.save_for_backward(Q, K)
        ctx.coefficients, ctx.block = coefficients, block

    @staticmethod
    def backward(ctx, grad):
        Q, K = ctx.saved_tensors
        g, dg = kernel_polynomial(ctx.coefficients)
        need_Q, need_K = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_Q = torch.zeros_like(Q) if need_Q else None
        grad_K = torch.zeros_like(K) if need_K else None
        Kc = K.conj()
        for J0, J1, I0, I1, diagonal in _tiles(Q.shape[-2], ctx.block):
            S = Q[..., J0:J1, :] @ K[..., I0:I1, :].transpose(-1, -2)  # (..., bq, bk), recomputed
            gz = grad[..., J0:J1, :]  # (..., bq, d)
            grad_S = (gz @ Kc[..., I0:I1, :].transpose(-1, -2)) * dg(S).conj()  # (..., bq, bk)
            if diagonal:
                grad_S = grad_S.tril()
            if need_Q:
                grad_Q[..., J0:J1, :] += grad_S @ Kc[..., I0:I1, :]
            if need_K:
                G = g(S)
                if diagonal:
                    G = G.tril()
                grad_K[..., I0:I1, :] += (
                    G.conj().transpose(-1, -2) @ gz + grad_S.transpose(-1, -2) @ Q[..., J0:J1, :].conj()
                )
        return grad_Q, grad_K, None, None


def causal_kernel_mix(
    Q: torch.Tensor, K: torch.Tensor, coefficients: tuple[float, ...], *, block: int = DEFAULT_BLOCK
) -> torch.Tensor:
    r"""``tilde z[..., j, :] = sum_{i<=j} g(q_j . k_i) K[..., i, :]`` for ``g(s) = sum_p coefficients[p] s^p``.

    Args:
        Q, K: ``(..., T, d)`` tensors of one complex dtype (leading axes broadcast together).
        coefficients: the kernel polynomial's coefficients, constant term first.
        block: tile size of the causal walk (rows and columns), ``>= 1``.

    Returns:
        ``(..., T, d)``, differentiable in ``Q`` and ``K`` (twice).
    """
    _validate.integer(block, "block", minimum=1, describe="a positive integer")
    batch = Q.shape[:-2]
    if K.shape[:-2] != batch:
        batch = torch.broadcast_shapes(batch, K.shape[:-2])
        Q, K = Q.expand(*batch, *Q.shape[-2:]), K.expand(*batch, *K.shape[-2:])
    coefficients = tuple(float(c) for c in coefficients)
    B = 1
    for n in batch:
        B *= n
    chunk = max(1, _MAX_TILE_ENTRIES // (min(block, Q.shape[-2]) ** 2))
    if B <= chunk:
        return _CausalKernelMix.apply(Q, K, coefficients, block)
    Qf, Kf = Q.reshape(B, *Q.shape[-2:]), K.reshape(B, *K.shape[-2:])
    parts = [
        _CausalKernelMix.apply(Qf[s : s + chunk], Kf[s : s + chunk], coefficients, block) for s in range(0, B, chunk)
    ]
    return torch.cat(parts).reshape(*batch, *Q.shape[-2:])
