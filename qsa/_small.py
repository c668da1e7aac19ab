r"""The analytic tier of small problems in NumPy: one autograd node from the ansatz angles to every observable.

At the sizes of the reference task (``d = 8``, ``T = 16``, four sequences) one evaluation is a few
hundred tiny array operations, and their cost is dispatch, not arithmetic: a torch operation
costs 5-25 us on such arrays, a NumPy one 1-3 us, and every autograd node more on the way back.
So for small complex128 problems on the CPU, :class:`qsa.evaluators.AnalyticEvaluator` computes
the whole chain -- ansatz (:mod:`qsa.ansatz`'s fused build), amplitudes and norms
(:func:`qsa._causal.causal_amplitudes`), observables (:func:`qsa.analytic.observables_from_amplitudes`)
-- in NumPy inside one ``torch.autograd.Function``, with the backward pass written by hand along
the same steps. The formulas are those of the torch modules, term by term; the tests pin every
field to them (1e-10) and every gradient to torch's autograd through them (1e-8).

Gradients reach ``theta_W``, ``theta_V`` and trained phases; tokens must not require grad (the
torch path handles embeddings). A double backward (``create_graph=True``) recomputes through the
torch path. NumPy's floating-point warnings are silenced as torch has none: ``p_j = 0`` gives the
same infinities and NaNs either way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch

from qsa.ansatz import _DENSE_GENERATORS, _PAULI, _gate_matrix, ring_permutation

__all__ = ["FIELDS", "MAX_PRODUCT", "applies", "observables"]

#: ``recompute(theta_W, theta_V, phi)``: the fields through differentiable torch operations.
Recompute = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], tuple[torch.Tensor, ...]]

#: The :class:`~qsa.analytic.Observables` fields the node returns, in order.
FIELDS = ("mu", "zeta", "nu", "F", "L_B", "L_A", "L_half", "L_1", "p")

#: Largest ``m n k`` of any matrix product computed here. NumPy's bundled OpenBLAS hands larger
#: products to threads that spin while they wait: on a busy machine a ``64 x 64`` by ``64 x 16``
#: complex product then costs 30 ms of CPU instead of 0.03. Larger problems take the torch path,
#: which is as fast there (``experiments/benchmarks/README.md``).
MAX_PRODUCT = 2**15


def applies(theta_W: torch.Tensor, theta_V: torch.Tensor, phi: Any, X: torch.Tensor, Y: torch.Tensor) -> bool:
    """Whether :func:`observables` takes this call: complex128 tokens of one shape ``(..., T, d)`` on the CPU
    that need no gradient, float64 angles ``(L, n, 3)`` on the CPU, every product within :data:`MAX_PRODUCT`,
    phases ``None``, ``"aligned"`` or float64 ``(T,)`` / ``(..., T)`` on the CPU."""
    if X.dtype != torch.complex128 or Y.dtype != torch.complex128 or X.shape != Y.shape or X.ndim < 2:
        return False
    if X.requires_grad or Y.requires_grad or X.device.type != "cpu" or Y.device.type != "cpu":
        return False
    for theta in (theta_W, theta_V):
        if theta.dtype != torch.float64 or theta.ndim != 3 or theta.device.type != "cpu":
            return False
    if isinstance(phi, torch.Tensor) and (phi.dtype != torch.float64 or phi.device.type != "cpu"):
        return False
    T, d = X.shape[-2:]
    rows = X[..., 0, 0].numel() * T  # S T: the gradient of W is a (d, S T) by (S T, d) product
    return max(T * T * d, d * d * rows, d**3) <= MAX_PRODUCT


# --- constants --------------------------------------------------------------------------------------


@functools.cache
def _constants(n: int) -> tuple[Array, Array, Array, Array | None]:
    """Gate matrix, ring rows and their inverse, and the generator matrices (as :func:`qsa.ansatz._constants`)."""
    rows = ring_permutation(n).argmax(1)
    generators = None
    if n <= _DENSE_GENERATORS:
        columns = []
        for name in ("X", "Y", "Z"):
            for q in range(n):
                E = np.kron(np.kron(np.eye(2**q), -0.5j * _PAULI[name]), np.eye(2 ** (n - 1 - q)))
                columns.append(np.stack([E.real, E.imag], -1).ravel())
        generators = np.stack(columns, -1)  # (2 d^2, 3 n)
    return _gate_matrix(), rows, np.argsort(rows), generators


# --- the ansatz -------------------------------------------------------------------------------------


Array = np.ndarray[Any, Any]
Saved = tuple[Array, Array, Array]


def _ansatz(theta: Array) -> tuple[Array, Saved]:
    """``theta`` ``(L, B, n, 3)`` -> ``U`` ``(B, d, d)`` and what the backward pass needs (as :func:`qsa.ansatz._build`)."""
    L, n = theta.shape[0], theta.shape[-2]
    M, rows, _, _ = _constants(n)
    half = theta * 0.5
    t = np.stack((np.cos(half), np.sin(half)), -1)  # (L, B, n, 3, 2)
    t_bc = t[..., 1, :, None] * t[..., 2, None, :]  # (L, B, n, 2, 2)
    m = (t[..., 0, :, None, None] * t_bc[..., None, :, :]).reshape(*theta.shape[:-1], 8)
    u = np.ascontiguousarray(m @ M).view(np.complex128).reshape(*theta.shape[:-1], 2, 2)  # (L, B, n, 2, 2)
    kron = u[..., n - 1, :, :]
    for q in range(n - 2, -1, -1):
        a, D = u[..., q, :, :], kron.shape[-1]
        kron = (a[..., :, None, :, None] * kron[..., None, :, None, :]).reshape(*kron.shape[:-2], 2 * D, 2 * D)
    K = kron[..., rows, :]  # (L, B, d, d)
    P = np.empty_like(K)
    P[0] = K[0]
    for layer in range(1, L):
        np.matmul(K[layer], P[layer - 1], out=P[layer])
    return P[-1], (theta, kron, P)


def _generator_parts(H: Array, n: int, generators: Array | None) -> Array:
    """``Re tr(H^dagger E_{sigma,q})`` ``(..., 3, n)`` (as :func:`qsa.ansatz._generator_parts`)."""
    if generators is not None:
        flat = np.ascontiguousarray(H).view(np.float64).reshape(*H.shape[:-2], -1)
        return cast(Array, (flat @ generators).reshape(*H.shape[:-2], 3, n))
    parts = []
    for q in range(n):
        left, right = 2**q, 2 ** (n - 1 - q)
        h = H.reshape(*H.shape[:-2], left, 2, right, left, 2, right)
        h = np.einsum("...iajibj->...ab", h)
        c = h.conj()
        parts.append(
            0.5
            * np.stack(
                (
                    (c[..., 0, 1] + c[..., 1, 0]).imag,
                    (1j * (c[..., 1, 0] - c[..., 0, 1])).imag,
                    (c[..., 0, 0] - c[..., 1, 1]).imag,
                ),
                -1,
            )
        )
    return np.stack(parts, -1)


def _ansatz_backward(grad_U: Array, saved: Saved) -> Array:
    """Gradient of the angles ``(L, B, n, 3)`` from that of ``U`` (as :func:`qsa.ansatz._build_backward`)."""
    theta, kron, P = saved
    n = theta.shape[-2]
    _, _, inverse, generators = _constants(n)
    U = P[-1]
    core = U.conj().swapaxes(-1, -2) @ grad_U
    previous = np.concatenate((np.broadcast_to(np.eye(U.shape[-1]), (1, *U.shape)), P[:-1]))
    grad_kron = (P @ core @ previous.conj().swapaxes(-1, -2))[..., inverse, :]
    kron_h = kron.conj().swapaxes(-1, -2)
    left = _generator_parts(grad_kron @ kron_h, n, generators)
    right = _generator_parts(kron_h @ grad_kron, n, generators)
    c = theta[..., 2]
    grad_b = np.cos(c) * left[..., 1, :] - np.sin(c) * left[..., 0, :]
    return np.stack((right[..., 0, :], grad_b, left[..., 2, :]), -1)


# --- kernel, amplitudes, observables ------------------------------------------------------------------


def _polynomial(coefficients: tuple[float, ...]) -> tuple[Callable[[Array], Array], Callable[[Array], Array]]:
    """``(g, g')`` of ``sum_p c_p s^p`` on arrays (as :func:`qsa._causal.kernel_polynomial`)."""
    c = coefficients
    degree = len(c) - 1
    monomial = degree >= 1 and all(v == 0 for v in c[:-1])

    def g(s: Array) -> Array:
        if monomial:
            out = s if degree == 1 else (s * s if degree == 2 else s**degree)
            return out if c[-1] == 1 else out * c[-1]
        out = np.full_like(s, c[degree])
        for p in range(degree - 1, -1, -1):
            out = out * s + c[p]
        return out

    def dg(s: Array) -> Array:
        if degree == 0:
            return np.zeros_like(s)
        if monomial:
            if degree == 1:
                return np.full_like(s, c[1])
            return (s if degree == 2 else s ** (degree - 1)) * (degree * c[-1])
        out = np.full_like(s, degree * c[degree])
        for p in range(degree - 1, 0, -1):
            out = out * s + p * c[p]
        return out

    return g, dg


class _Observables(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        theta_W: torch.Tensor,
        theta_V: torch.Tensor,
        phi: torch.Tensor | None,
        X: torch.Tensor,
        Y: torch.Tensor,
        coefficients: tuple[float, ...],
        aligned: bool,
        recompute: Recompute,
    ) -> tuple[torch.Tensor, ...]:
        with np.errstate(all="ignore"):
            out, saved = _forward(
                theta_W.detach().numpy(),
                theta_V.detach().numpy(),
                None if phi is None else phi.detach().numpy(),
                X.resolve_conj().numpy(),
                Y.resolve_conj().numpy(),
                coefficients,
                aligned,
            )
        ctx.set_materialize_grads(False)
        ctx.saved = saved
        ctx.recompute = recompute
        ctx.phi_shape = None if phi is None else tuple(phi.shape)
        ctx.save_for_backward(theta_W, theta_V, phi)
        return tuple(torch.from_numpy(np.asarray(a)) for a in out)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
        theta_W, theta_V, phi = ctx.saved_tensors
        need_W, need_V, need_phi = ctx.needs_input_grad[:3]
        if torch.is_grad_enabled():  # create_graph=True: differentiate the torch path
            with torch.enable_grad():
                outputs = ctx.recompute(theta_W, theta_V, phi)
                pairs = [(o, g) for o, g in zip(outputs, grads) if g is not None]
                inputs = (theta_W, theta_V, phi)
                wanted = [t for t, need in zip(inputs, (need_W, need_V, need_phi)) if need]
                found = iter(
                    torch.autograd.grad([o for o, _ in pairs], wanted, [g for _, g in pairs], create_graph=True)
                )
                return (*(next(found) if need else None for need in (need_W, need_V, need_phi)), *(None,) * 5)
        with np.errstate(all="ignore"):
            g_W, g_V, g_phi = _backward([None if g is None else g.numpy() for g in grads], ctx.saved, need_phi)
        if g_phi is not None and ctx.phi_shape is not None and g_phi.shape != ctx.phi_shape:
            g_phi = g_phi.reshape(-1, *ctx.phi_shape).sum(0)
        return (
            torch.from_numpy(g_W) if need_W else None,
            torch.from_numpy(g_V) if need_V else None,
            torch.from_numpy(g_phi) if need_phi and g_phi is not None else None,
            None,
            None,
            None,
            None,
            None,
        )


def _forward(
    theta_W: Array,
    theta_V: Array,
    phi: Array | None,
    X: Array,
    Y: Array,
    coefficients: tuple[float, ...],
    aligned: bool,
) -> tuple[tuple[Array, ...], dict[str, Any]]:
    """Every field of :data:`FIELDS` and what :func:`_backward` needs."""
    ansatz_saved: tuple[Saved, ...]
    if theta_W.shape == theta_V.shape:
        WV, saved_WV = _ansatz(np.stack((theta_W, theta_V), 1))
        W, V = WV
        ansatz_saved = (saved_WV,)
    else:
        (W,), saved_W = _ansatz(theta_W[:, None].copy())
        (V,), saved_V = _ansatz(theta_V[:, None].copy())
        ansatz_saved = (saved_W, saved_V)
    # amplitudes and norms (qsa._causal.causal_amplitudes, one tile)
    g, _ = _polynomial(coefficients)
    Xc = X.conj()
    Q = Xc @ W  # (..., T, d)
    S = Q @ X.swapaxes(-1, -2)  # (..., T, T)
    mix = np.tril(g(S)) @ X  # (..., T, d)
    B = Y.conj() @ V  # (..., T, d)
    A = (B * mix).sum(-1)  # (..., T)
    z_norm2 = np.square(np.ascontiguousarray(mix).view(np.float64)).sum(-1)  # (..., T)
    # observables (qsa.analytic.observables_from_amplitudes / _from_probabilities)
    T = A.shape[-1]
    N = T * (T + 1) / 2
    if aligned:
        phi = -np.angle(A)
    rotated = A if phi is None else np.exp(1j * phi) * A
    C = rotated.sum(-1)
    mu = (C.real**2 + C.imag**2) / N**2
    zeta_j = z_norm2 / (T * N)
    nu_j = (A.real**2 + A.imag**2) / (T * N)
    zeta, nu = zeta_j.sum(-1), nu_j.sum(-1)
    F = (T + 1) / (2 * T) * mu / zeta
    p = nu_j / zeta_j
    root = np.sqrt(p).mean(-1)
    out = (mu, zeta, nu, F, -np.log(F), -np.log(nu / zeta), -2.0 * np.log(root), -np.log(p).mean(-1), p)
    saved = dict(
        W=W,
        V=V,
        ansatz=ansatz_saved,
        coefficients=coefficients,
        X=X,
        Xc=Xc,
        Y=Y,
        S=S,
        mix=mix,
        B=B,
        A=A,
        phi=phi,
        aligned=aligned,
        rotated=rotated,
        C=C,
        mu=mu,
        zeta=zeta,
        nu=nu,
        zeta_j=zeta_j,
        F=F,
        p=p,
        root=root,
        T=T,
        N=N,
    )
    return out, saved


def _backward(grads: list[Array | None], s: dict[str, Any], need_phi: bool) -> tuple[Array, Array, Array | None]:
    """Gradients of ``theta_W``, ``theta_V`` and the phases from those of the fields (any of them ``None``)."""
    g_mu, g_zeta, g_nu, g_F, g_LB, g_LA, g_Lhalf, g_L1, g_p = grads
    T, N, p, zeta_j = s["T"], s["N"], s["p"], s["zeta_j"]
    shape = s["A"].shape[:-1]
    zero = np.zeros(shape)
    g_mu = zero if g_mu is None else g_mu
    g_zeta = zero if g_zeta is None else g_zeta
    g_nu = zero if g_nu is None else g_nu
    g_F = zero if g_F is None else g_F
    g_pj = np.zeros(p.shape) if g_p is None else g_p
    if g_LB is not None:  # L_B = -log F
        g_F = g_F - g_LB / s["F"]
    if g_LA is not None:  # L_A = -log(nu / zeta)
        g_nu = g_nu - g_LA / s["nu"]
        g_zeta = g_zeta + g_LA / s["zeta"]
    if g_Lhalf is not None:  # L_half = -2 log(mean sqrt p); d sqrt(p) / dp = 0 at p = 0 (qsa.analytic.sqrt0)
        positive = p > 0
        d_root = np.where(positive, 0.5 / (T * np.sqrt(np.where(positive, p, 1.0))), 0.0)
        g_pj = g_pj + (-2.0 * g_Lhalf / s["root"])[..., None] * d_root
    if g_L1 is not None:  # L_1 = -mean log p
        g_pj = g_pj - g_L1[..., None] / (T * p)
    # F = c mu / zeta
    c = (T + 1) / (2 * T)
    g_mu = g_mu + g_F * c / s["zeta"]
    g_zeta = g_zeta - g_F * s["F"] / s["zeta"]
    # p = nu_j / zeta_j; zeta = sum zeta_j; nu = sum nu_j
    g_nu_j = g_pj / zeta_j + g_nu[..., None]
    g_zeta_j = -g_pj * p / zeta_j + g_zeta[..., None]
    g_z = g_zeta_j / (T * N)  # zeta_j = ||z_j||^2 / (T N)
    A = s["A"]
    g_A = (2.0 / (T * N)) * g_nu_j * A  # nu_j = |A_j|^2 / (T N), torch's convention: grad = 2 dL/d conj(A)
    # mu = |C|^2 / N^2, C = sum_j e^{i phi_j} A_j
    g_C = (2.0 / N**2) * g_mu * s["C"]
    g_phi = None
    if s["phi"] is None:
        g_A = g_A + g_C[..., None]
    else:
        e = np.exp(1j * s["phi"])
        g_A = g_A + g_C[..., None] * e.conj()
        if need_phi and not s["aligned"]:  # dL/dphi_j = Re(conj(g_C) i e^{i phi_j} A_j)
            g_phi = np.real(g_C.conj()[..., None] * 1j * s["rotated"])
    # amplitudes and norms (qsa._causal._CausalAmplitudes.backward)
    _, dg = _polynomial(s["coefficients"])
    X, Xc, Y, mix, B = s["X"], s["Xc"], s["Y"], s["mix"], s["B"]
    d = X.shape[-1]
    g_mix = (2 * g_z)[..., None] * mix + g_A[..., None] * B.conj()
    g_S = np.tril((g_mix @ Xc.swapaxes(-1, -2)) * dg(s["S"]).conj())
    g_Q = g_S @ Xc
    g_W = X.reshape(-1, d).T @ g_Q.reshape(-1, d)
    g_B = g_A[..., None] * mix.conj()
    g_V = Y.reshape(-1, d).T @ g_B.reshape(-1, d)
    # the ansatz
    if len(s["ansatz"]) == 1:
        g = _ansatz_backward(np.stack((g_W, g_V)), s["ansatz"][0])  # (L, 2, n, 3)
        return g[:, 0], g[:, 1], g_phi
    return _ansatz_backward(g_W[None], s["ansatz"][0])[:, 0], _ansatz_backward(g_V[None], s["ansatz"][1])[:, 0], g_phi


def observables(
    theta_W: torch.Tensor,
    theta_V: torch.Tensor,
    X: torch.Tensor,
    Y: torch.Tensor,
    coefficients: tuple[float, ...],
    phases: torch.Tensor | str | None,
    recompute: Recompute,
) -> tuple[torch.Tensor, ...]:
    """The fields :data:`FIELDS` for unchecked input meeting :func:`applies`, as one autograd node.

    ``recompute(theta_W, theta_V, phi)`` must give the same fields through differentiable torch
    operations (used only for a double backward).
    """
    aligned = isinstance(phases, str)
    phi = None if phases is None or aligned else phases
    fields = _Observables.apply(  # type: ignore[no-untyped-call]
        theta_W, theta_V, phi, X, Y, tuple(float(c) for c in coefficients), aligned, recompute
    )
    return cast(tuple[torch.Tensor, ...], fields)
