r"""The small pieces of linear algebra every backend shares: the Householder completion of a state,
and the nearest valid inputs of the tolerance policy.

A token load is a unitary whose first column is the token (arXiv 2602.06699, amplitude encoding).
:func:`householder` builds it for numpy arrays and torch tensors alike (torch keeps autograd, so
gradients reach the tokens through the load), with the operations both libraries name the same;
``qsa.circuits`` itself never imports torch: a torch tensor brings its own module.

**Tolerance policy** (one for every tier): QSA validates its inputs once, with the tolerances of
``qsa._validate`` (unit rows and unitarity to 1e-6 in complex128, 1e-4 in complex64), and the
circuit tiers then run the nearest valid input in complex128: token rows divided by their norm
(:func:`unit_rows`), ``W`` and ``V`` projected on the nearest unitary (:func:`nearest_unitary`,
polar decomposition). So an input QSA accepts runs on every backend, including Qiskit Aer, whose
``UnitaryGate`` checks unitarity to 1e-8; the analytic tier computes with the input as given.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

__all__ = ["householder", "nearest_unitary", "unit_rows"]


def _namespace(x: Any) -> Any:
    """numpy for arrays; torch for torch tensors (already imported by whoever made the tensor)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return torch
    return np


def householder(x: Any) -> Any:
    r"""Unitaries whose first column is ``x``: shape ``(..., d) -> (..., d, d)`` (numpy or torch).

    ``U(x) = e^{i alpha} (I - 2 w w^dagger / ||w||^2)`` with ``e^{i alpha} = x_0/|x_0|`` and
    ``w = e_0 - e^{-i alpha} x``; ``w_0 = 1 - |x_0|`` is computed as
    ``sum_{b>0} |x_b|^2 / (1 + |x_0|)`` to avoid cancellation near ``x = e_0``. Where ``x`` is a
    multiple of ``e_0`` the result is ``e^{i alpha} I``. Differentiable in torch (no branch on data).

    Args:
        x: unit vectors, ``(..., d)``, a numpy array (real or complex) or a torch tensor.

    Returns:
        ``(..., d, d)`` of ``x``'s dtype (numpy promotes integers to float).

    >>> import numpy as np
    >>> U = householder(np.array([0.6, 0.8j]))
    >>> np.allclose(U[:, 0], [0.6, 0.8j]), np.allclose(U.conj().T @ U, np.eye(2))
    (True, True)
    """
    xp = _namespace(x)
    if xp is np:
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.inexact):
            x = x.astype(np.float64)
    d = x.shape[-1]
    x0 = x[..., 0]
    a = xp.abs(x0)
    rest2 = (xp.abs(x[..., 1:]) ** 2).sum(-1)  # (...,)
    nonzero = a > 0
    phase = xp.where(nonzero, x0 / xp.where(nonzero, a, xp.ones_like(a)), xp.ones_like(x0))  # e^{i alpha}
    v = x * xp.conj(phase)[..., None]  # v_0 = |x_0|, real
    w0 = rest2 / (1 + a)
    w = xp.concatenate([w0.astype(x.dtype)[..., None] if xp is np else w0.to(x.dtype)[..., None], -v[..., 1:]], -1)
    norm2 = w0**2 + rest2
    degenerate = norm2 <= 0
    scale = xp.where(degenerate, xp.zeros_like(norm2), 2.0 / xp.where(degenerate, xp.ones_like(norm2), norm2))
    if xp is np:
        eye = np.eye(d, dtype=x.dtype)
        scale = scale.astype(x.dtype)
    else:
        eye = xp.eye(d, dtype=x.dtype, device=x.device)
        scale = scale.to(x.dtype)
    outer = w[..., :, None] * xp.conj(w)[..., None, :]  # (..., d, d)
    return phase[..., None, None] * (eye - scale[..., None, None] * outer)


def nearest_unitary(M: Any) -> np.ndarray:
    r"""The unitary closest to the square matrix ``M`` (in every unitarily invariant norm), complex128.

    The unitary factor ``U`` of the polar decomposition ``M = U P`` (:func:`scipy.linalg.polar`):
    for a matrix that passed QSA's unitarity check (``max |M^dagger M - I| <= 1e-6``, ``1e-4`` for
    complex64 input) it moves ``M`` by about as much, and the result is unitary to machine
    precision -- what Qiskit's ``UnitaryGate`` (tolerance 1e-8) accepts. ``M``: numpy array or torch tensor.
    """
    from scipy.linalg import polar

    M = np.asarray(M.detach().cpu().numpy() if hasattr(M, "detach") else M, dtype=np.complex128)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"M must be a square matrix; got shape {M.shape}")
    U, _ = polar(M)
    return np.asarray(U, dtype=np.complex128)


def unit_rows(X: Any) -> np.ndarray:
    """``X`` (numpy or torch, ``(..., d)``) in complex128 with every row divided by its norm."""
    X = np.asarray(X.detach().cpu().numpy() if hasattr(X, "detach") else X, dtype=np.complex128)
    rows: np.ndarray = X / np.linalg.norm(X, axis=-1, keepdims=True)
    return rows
