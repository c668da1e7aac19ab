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

from typing import Any, cast

import torch

from qsa import _validate

__all__ = ["DEFAULT_BLOCK", "causal_amplitudes", "causal_kernel_mix", "kernel_polynomial"]

#: Tile size of the causal walk (rows and columns); 512 x 512 complex128 is 4 MiB per sequence.
DEFAULT_BLOCK = 512

#: Bound on ``batch x block^2`` tile entries processed at once (batches are chunked beyond it).
_MAX_TILE_ENTRIES = 2**23

#: Bound on ``batch x T^2`` score entries :func:`causal_amplitudes` keeps for its backward pass
#: (32 MiB in complex128); beyond it, or beyond one tile, the tiled path recomputes them.
_MAX_SAVED_ENTRIES = 2**21


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


def _amplitudes_tiled(
    X: torch.Tensor, Y: torch.Tensor, W: torch.Tensor, V: torch.Tensor, coefficients: tuple[float, ...], block: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`causal_amplitudes` through :func:`causal_kernel_mix` (differentiable torch operations)."""
    mix = causal_kernel_mix(X.conj() @ W, X, coefficients, block=block)  # (..., T, d): z_j = V mix_j
    A = ((Y.conj() @ V) * mix).sum(-1)  # (..., T)
    z_norm2 = torch.view_as_real(mix).square().sum((-1, -2))  # (..., T): ||z_j||^2 = ||mix_j||^2, V unitary
    return A, z_norm2


#: Rows per block of :class:`_CausalAmplitudes`: block ``J`` of rows keeps only the scores of the keys
#: ``i <= J1`` it can see, so ``T / ROW_BLOCK`` blocks touch about ``(1 + 1/blocks) / 2`` of the ``T x T``
#: scores (three quarters at ``T = 256``) in each product and elementwise pass.
_ROW_BLOCK = 128


def _row_blocks(T: int) -> list[tuple[int, int]]:
    """``(J0, J1)`` row blocks of :data:`_ROW_BLOCK` rows covering ``0..T`` (the last may be shorter)."""
    return [(J0, min(J0 + _ROW_BLOCK, T)) for J0 in range(0, T, _ROW_BLOCK)]


def _square(coefficients: tuple[float, ...]) -> bool:
    """Whether the kernel is ``c s^2`` (the default ``k = 2`` mono kernel): ``g'(s) = 2 c s``."""
    return len(coefficients) == 3 and coefficients[0] == 0 and coefficients[1] == 0


class _CausalAmplitudes(torch.autograd.Function):
    """The whole causal triangle in blocks of rows, the scores kept for the backward pass.

    Row block ``J0:J1`` holds the scores ``s_ji`` of its rows against the keys ``i < J1`` only (the
    keys after it are masked anyway), lower-triangular in its last ``J1 - J0`` columns.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(
        X: torch.Tensor, Y: torch.Tensor, W: torch.Tensor, V: torch.Tensor, coefficients: tuple[float, ...], block: int
    ) -> tuple[torch.Tensor, ...]:
        g, _ = kernel_polynomial(coefficients)
        Q = X.conj() @ W  # (..., T, d): rows <x_j|W
        scores, mixes = [], []
        for J0, J1 in _row_blocks(X.shape[-2]):
            S = Q[..., J0:J1, :] @ X[..., :J1, :].transpose(-1, -2)  # (..., J1 - J0, J1): s_ji, i < J1
            S[..., J0:].tril_()  # i <= j (the only scores used)
            G = g(S)  # (g may return S itself: never in place)
            if coefficients[0] != 0:  # g(0) = c_0 above the diagonal
                G = G.clone() if G is S else G
                G[..., J0:].tril_()
            mixes.append(G @ X[..., :J1, :])  # (..., J1 - J0, d)
            scores.append(S)
        mix = torch.cat(mixes, -2) if len(mixes) > 1 else mixes[0]  # (..., T, d)
        B = Y.conj() @ V  # (..., T, d): rows <y_j|V
        A = (B * mix).sum(-1)  # (..., T)
        z_norm2 = torch.view_as_real(mix).square().sum((-1, -2))  # (..., T)
        return (A, z_norm2, Q, mix, B, *scores)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[torch.Tensor, ...]) -> None:
        X, Y, W, V, coefficients, block = inputs
        _, _, Q, mix, B, *scores = output
        ctx.mark_non_differentiable(Q, mix, B, *scores)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(X, Y, W, V, Q, mix, B, *scores)
        ctx.coefficients, ctx.block = coefficients, block

    @staticmethod
    def backward(
        ctx: Any, grad_A: torch.Tensor | None, grad_z: torch.Tensor | None, *_intermediates: Any
    ) -> tuple[torch.Tensor | None, ...]:
        X, Y, W, V, Q, mix, B, *scores = ctx.saved_tensors
        need_X, need_Y, need_W, need_V = ctx.needs_input_grad[:4]
        if grad_A is None and grad_z is None:
            return None, None, None, None, None, None
        coefficients = ctx.coefficients
        if torch.is_grad_enabled():  # create_graph=True: differentiate a differentiable recomputation
            with torch.enable_grad():
                outputs = _amplitudes_tiled(X, Y, W, V, coefficients, ctx.block)
                pairs = [(o, g) for o, g in zip(outputs, (grad_A, grad_z)) if g is not None]
                wanted = [t for t, need in zip((X, Y, W, V), ctx.needs_input_grad) if need]
                grads = iter(
                    torch.autograd.grad([o for o, _ in pairs], wanted, [g for _, g in pairs], create_graph=True)
                )
                return (*(next(grads) if need else None for need in ctx.needs_input_grad[:4]), None, None)
        g, dg = kernel_polynomial(coefficients)
        d = X.shape[-1]
        # holomorphic chain rule in torch's convention: grad_in = grad_out * conj(f'(in))
        grad_mix = torch.zeros_like(mix) if grad_z is None else (2 * grad_z)[..., None] * mix  # (..., T, d)
        if grad_A is not None:
            grad_mix = grad_mix + grad_A[..., None] * B.conj()
        grad_X = grad_Y = grad_W = grad_V = None
        if need_X or need_W:
            square = _square(coefficients)
            # conj(grad_S) = (conj(grad_mix) X^T) * g'(S) on the lower triangle: the conjugations stay on the
            # (..., T, d) operands, the score blocks are multiplied once, in place; for g = c s^2 the factor
            # 2 c rides on the (..., T, d) operand and the masked S zeroes the upper triangle itself
            grad_mix_conj = grad_mix.conj() * (2 * coefficients[2]) if square else grad_mix.conj()
            grad_Qs, grad_Xs = [], []
            for (J0, J1), S in zip(_row_blocks(X.shape[-2]), scores):
                H = grad_mix_conj[..., J0:J1, :] @ X[..., :J1, :].transpose(-1, -2)  # (..., J1 - J0, J1)
                if square:
                    H.mul_(S)
                else:
                    H.mul_(dg(S))
                    if len(coefficients) > 1 and coefficients[1] != 0:  # g'(0) = c_1 above the diagonal
                        H[..., J0:].tril_()
                grad_Qs.append((H @ X[..., :J1, :]).conj())  # (..., J1 - J0, d): grad_S conj(X)
                if need_X:
                    G = g(S)
                    if coefficients[0] != 0:
                        G = G.clone() if G is S else G
                        G[..., J0:].tril_()
                    part = G.mH @ grad_mix[..., J0:J1, :] + (H.transpose(-1, -2) @ Q[..., J0:J1, :]).conj()
                    grad_Xs.append((J1, part))  # (..., J1, d): onto the keys i < J1
            grad_Q = torch.cat(grad_Qs, -2) if len(grad_Qs) > 1 else grad_Qs[0]  # (..., T, d)
            if need_W:
                grad_W = X.reshape(-1, d).T @ grad_Q.reshape(-1, d)  # sum over sequences and steps
            if need_X:
                grad_X = (grad_Q @ W.mH).conj().resolve_conj()
                for J1, part in grad_Xs:
                    grad_X[..., :J1, :] += part
        if (need_Y or need_V) and grad_A is not None:
            grad_B = grad_A[..., None] * mix.conj()  # (..., T, d)
            if need_V:
                grad_V = Y.reshape(-1, d).T @ grad_B.reshape(-1, d)
            if need_Y:
                grad_Y = (grad_B @ V.mH).conj()
        return grad_X, grad_Y, grad_W, grad_V, None, None


def causal_amplitudes(
    X: torch.Tensor,
    Y: torch.Tensor,
    W: torch.Tensor,
    V: torch.Tensor,
    coefficients: tuple[float, ...],
    *,
    block: int = DEFAULT_BLOCK,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Branch amplitudes ``A_j = <y_j|V tilde z_j>`` and norms ``||tilde z_j||^2``, each ``(..., T)``.

    ``tilde z_j = sum_{i<=j} g(<x_j|W|x_i>) x_i`` with ``g(s) = sum_p coefficients[p] s^p``
    (:func:`causal_kernel_mix` with ``Q = conj(X) W``, ``K = X``). Where the whole causal triangle
    fits in one tile (``T <= block``) and its scores in :data:`_MAX_SAVED_ENTRIES`, it runs as one
    fused kernel with a hand-written backward that keeps the scores, in blocks of
    :data:`_ROW_BLOCK` rows that skip the keys after them (a few batched products each way: the
    small sizes are bound by the number of operations and memory passes, not by arithmetic);
    otherwise through the tiled :func:`causal_kernel_mix`. Both give the same numbers and are
    differentiable in all four tensors (twice).

    Args:
        X, Y: tokens and targets ``(..., T, d)``; W, V: ``(d, d)`` (batched ones take the tiled path); one
            complex dtype.
        coefficients: the kernel polynomial's coefficients, constant term first.
        block: tile size of the causal walk, ``>= 1``.
    """
    _validate.integer(block, "block", minimum=1, describe="a positive integer")
    coefficients = tuple(float(c) for c in coefficients)
    T = X.shape[-2]
    entries = X[..., 0, 0].numel() * T * T
    if T <= block and entries <= _MAX_SAVED_ENTRIES and X.shape == Y.shape and W.ndim == 2 and V.ndim == 2:
        out = _CausalAmplitudes.apply(X, Y, W, V, coefficients, block)  # type: ignore[no-untyped-call]
        return cast(torch.Tensor, out[0]), cast(torch.Tensor, out[1])
    return _amplitudes_tiled(X, Y, W, V, coefficients, block)
