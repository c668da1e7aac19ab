r"""Trainable maps from data to unit tokens: vocabulary embeddings and projectors for large spin systems.

**IsometricEmbedding** (docs/method.md section 1, classical data). A vocabulary of ``M`` words gets an
input embedding ``E`` and an output embedding ``F``, both with orthonormal columns:

.. math::

    E = \mathrm{qf}(A) \in \mathbb{R}^{M\times d},\ E^\top E = I_d,\qquad
    R = \exp(K - K^\top) \in SO(d),\qquad F = E R,

where ``A`` (``M x d``) and the strictly upper triangle of ``K`` are the free parameters and
``qf(A)`` is the ``Q`` factor of the QR decomposition with the diagonal of ``R_QR`` made positive
(the unique, smooth Gram-Schmidt orthonormalisation of ``A``'s columns). Nothing is ever clipped or
projected after a step: ``E`` and ``R`` are orthogonal by construction for every parameter value.
``R`` covers ``SO(d)``, the part of ``O(d)`` reachable continuously from its identity start
(``det R = +1``).
A window of ids ``w_0..w_T`` becomes

.. math::

    x_t = \frac{e_{w_t} + \alpha\,\mathrm{PE}_t}{\|e_{w_t} + \alpha\,\mathrm{PE}_t\|},\qquad
    y_t = \frac{f_{w_{t+1}}}{\|f_{w_{t+1}}\|},\qquad t = 0..T-1,

(``e_l``, ``f_l`` rows of ``E``, ``F``; the positional term is optional). Because the rows of a
matrix with orthonormal columns form a Parseval frame, ``sum_l f_l f_l^T = F^T F = I_d``, so

.. math::

    p(l\mid z) = \frac{|\langle f_l|z\rangle|^2}{\|z\|^2}, \qquad \sum_{l=1}^{M} p(l\mid z) = 1

for every nonzero ``z in C^d``: token overlaps are a probability distribution over the
vocabulary, not a softmax. Tokens are real vectors returned as complex tensors (zero imaginary
part); their chance levels are ``qsa.analytic.chance_levels(d, field="real")``.

**Projector** (quantum data on ``D`` qubits with ``2^D > d``). A trainable ``Q in C^(2^D x d)``
with ``Q^dagger Q = I_d`` (the same phase-fixed QR map of a free complex matrix) gives

.. math::

    x = \frac{Q^\dagger \psi}{\|Q^\dagger \psi\|} \in \mathbb{C}^d,

the component of ``psi`` in the ``d``-dimensional subspace spanned by ``Q``'s columns, in that
basis. ``Q^dagger`` is a co-isometry (``Q`` is the isometry ``C^d -> C^(2^D)``). The
renormalisation is **part of the model**, not a silent fix of its input: it is the post-selection
on the subspace, which succeeds with probability ``||Q^dagger psi||^2`` (see
:meth:`Projector.projection_norms`).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from qsa import _validate
from qsa.data.sequences import Sequences

__all__ = [
    "orthonormal_columns",
    "skew_rotation",
    "sinusoidal_encoding",
    "Embedded",
    "IsometricEmbedding",
    "Projector",
]


def orthonormal_columns(A: torch.Tensor) -> torch.Tensor:
    r"""``Q`` of ``A = Q R`` with ``diag(R)`` real positive: orthonormal columns spanning those of ``A``.

    ``A`` is ``(m, n)`` with ``m >= n``, real or complex, full column rank. The phase fix makes the
    map unique and differentiable (LAPACK leaves the signs/phases of ``diag(R)`` free).
    """
    Q, R = torch.linalg.qr(A, mode="reduced")  # (m, n), (n, n)
    phase = torch.diagonal(R, dim1=-2, dim2=-1).sgn()  # (n,): sign (real) or r/|r| (complex)
    return Q * phase.unsqueeze(-2)  # column i times phase_i; then R_ii -> |R_ii|


def skew_rotation(theta: torch.Tensor, d: int) -> torch.Tensor:
    r"""``exp(K - K^T)`` in ``SO(d)`` for ``K`` strictly upper triangular with entries ``theta`` (row-major)."""
    iu = torch.triu_indices(d, d, 1, device=theta.device)
    K = torch.zeros(d, d, dtype=theta.dtype, device=theta.device).index_put((iu[0], iu[1]), theta)  # (d, d)
    return torch.linalg.matrix_exp(K - K.T)


def sinusoidal_encoding(
    T: int, d: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> torch.Tensor:
    r"""Unit-norm sinusoidal positions, ``(T, d)``: ``PE[t, 2i] = sin(t w_i)``, ``PE[t, 2i+1] = cos(t w_i)``,
    ``w_i = 10000^(-2i/d)``, divided by ``sqrt(d/2)`` (each row's norm) so ``||PE_t|| = 1``; on ``device``."""
    t = torch.arange(T, dtype=dtype, device=device)[:, None]  # (T, 1)
    w = 10000.0 ** (-torch.arange(0, d, 2, dtype=dtype, device=device) / d)  # (d/2,)
    pe = torch.stack([torch.sin(t * w), torch.cos(t * w)], dim=-1).reshape(T, d)  # (T, d)
    return pe / math.sqrt(d / 2)


def _complex_of(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64


def _abs2(z: torch.Tensor) -> torch.Tensor:
    return z.real**2 + z.imag**2 if z.is_complex() else z**2


def _check_ids(ids: Any, M: int, *, window: bool = True) -> torch.Tensor:
    """``ids`` as an int64 tensor ``(S, L)`` of values in ``[0, M)``; ``window``: ``L = T + 1 >= 2``."""
    shape = "(S, T+1) with T >= 1" if window else "(S, L) with L >= 1"
    if isinstance(ids, np.ndarray):
        ids = torch.from_numpy(ids)
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"ids must be an integer tensor of shape {shape}; got {type(ids).__name__}")
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise TypeError(f"ids must have an integer dtype; got {ids.dtype}")
    if ids.ndim != 2 or ids.shape[1] < (2 if window else 1):
        raise ValueError(f"ids must have shape {shape}; got shape {tuple(ids.shape)}")
    if ids.numel() and _validate.reads_values(ids) and (int(ids.min()) < 0 or int(ids.max()) >= M):
        raise ValueError(
            f"ids must lie in [0, {M}) (the vocabulary size); got values in [{int(ids.min())}, {int(ids.max())}]"
        )
    return ids.to(torch.long)


class Embedded(NamedTuple):
    """Tokens and targets of a batch of id windows, both ``(S, T, d)`` complex with unit rows."""

    X: torch.Tensor
    Y: torch.Tensor


class IsometricEmbedding(nn.Module):
    r"""Vocabulary embedding with ``E^T E = I_d`` and output embedding ``F = E R``, ``R in SO(d)``.

    Args:
        M: vocabulary size, ``>= d``.
        d: token width, a power of two ``>= 2``.
        seed: int or ``numpy.random.Generator``; ``A`` is drawn ``N(0, 1)`` from it, so ``E`` starts
            Haar-random on the Stiefel manifold; ``R`` starts at the identity (``F = E``).
        positional: add the sinusoidal encoding to the input tokens before normalising.
        pe_scale: ``alpha``, the norm of the positional term; default ``sqrt(d / M)``, the RMS row
            norm of ``E``, so words and positions weigh alike. Fixed (a buffer), not trained.
        train_rotation: make ``R`` trainable (else ``F = E`` throughout).
        dtype: ``torch.float64`` (default) or ``torch.float32`` for the parameters; tokens come out
            as the matching complex dtype.

    Parameters (all in ``state_dict``): ``embedding_raw`` ``(M, d)`` and ``rotation_raw``
    ``(d(d-1)/2,)``.
    """

    def __init__(
        self,
        M: int,
        d: int,
        *,
        seed: int | np.random.Generator,
        positional: bool = False,
        pe_scale: float | None = None,
        train_rotation: bool = True,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        M = _validate.integer(M, "M", minimum=1)
        _validate.power_of_two(d, "d")
        if M < d:
            raise ValueError(f"M must be >= d (E^T E = I_d needs at least d rows); got M={M}, d={d}")
        _validate.real_dtype(dtype)
        if not isinstance(positional, bool):
            raise TypeError(f"positional must be a bool; got {positional!r}")
        if not isinstance(train_rotation, bool):
            raise TypeError(f"train_rotation must be a bool; got {train_rotation!r}")
        alpha = math.sqrt(d / M) if pe_scale is None else _validate.real_number(pe_scale, "pe_scale", positive=True)
        rng = _validate.generator(seed)
        self.M, self.d, self.positional = M, d, positional
        self.embedding_raw = nn.Parameter(torch.from_numpy(rng.normal(size=(M, d))).to(dtype))  # (M, d)
        self.rotation_raw = nn.Parameter(torch.zeros(d * (d - 1) // 2, dtype=dtype), requires_grad=train_rotation)
        self.register_buffer("pe_scale", torch.tensor(alpha, dtype=dtype))

    @property
    def E(self) -> torch.Tensor:
        """Input embedding ``(M, d)``, orthonormal columns."""
        return orthonormal_columns(self.embedding_raw)

    @property
    def R(self) -> torch.Tensor:
        """Output rotation ``(d, d)`` in ``SO(d)``."""
        return skew_rotation(self.rotation_raw, self.d)

    @property
    def F(self) -> torch.Tensor:
        """Output embedding ``E R``, ``(M, d)``, orthonormal columns."""
        return self.E @ self.R

    def tokens(self, ids: torch.Tensor) -> torch.Tensor:
        """``x_t = normalise(e_{w_t} (+ alpha PE_t))`` for ids ``(S, L)`` -> ``(S, L, d)`` complex (positions ``0..L-1``)."""
        return self._tokens(_check_ids(ids, self.M, window=False), self.E)

    def targets(self, ids: torch.Tensor) -> torch.Tensor:
        """``y = f_w / ||f_w||`` for ids ``(S, L)`` -> ``(S, L, d)`` complex."""
        return self._targets(_check_ids(ids, self.M, window=False), self.F)

    def _tokens(self, ids: torch.Tensor, E: torch.Tensor) -> torch.Tensor:
        x = E[ids]  # (S, L, d)
        if self.positional:
            x = x + self.pe_scale * sinusoidal_encoding(
                ids.shape[-1], self.d, dtype=x.dtype, device=x.device
            )  # (S, L, d)
        return self._normalise(x, "token")

    def _targets(self, ids: torch.Tensor, F: torch.Tensor) -> torch.Tensor:
        return self._normalise(F[ids], "target")  # (S, L, d)

    def _normalise(self, v: torch.Tensor, what: str) -> torch.Tensor:
        norm = torch.linalg.vector_norm(v, dim=-1, keepdim=True)  # (..., 1)
        if _validate.reads_values(norm) and bool((norm == 0).any()):
            raise ValueError(f"every {what} vector must be nonzero before normalising; got a zero row")
        return (v / norm).to(_complex_of(v.dtype))

    def forward(self, ids: torch.Tensor) -> Embedded:
        """Windows ``ids`` ``(S, T+1)`` -> :class:`Embedded` ``X`` (from ``w_0..w_{T-1}``), ``Y`` (from ``w_1..w_T``)."""
        ids = _check_ids(ids, self.M)
        E = self.E
        return Embedded(X=self._tokens(ids[:, :-1], E), Y=self._targets(ids[:, 1:], E @ self.R))  # (S, T, d) each

    # --- next-token scoring ----------------------------------------------------------------------

    def _check_z(self, z: Any) -> torch.Tensor:
        if not isinstance(z, torch.Tensor):
            raise TypeError(f"z must be a torch.Tensor of shape (..., {self.d}); got {type(z).__name__}")
        if z.ndim < 1 or z.shape[-1] != self.d:
            raise ValueError(f"z must have shape (..., {self.d}); got {tuple(z.shape)}")
        if not (z.is_complex() or z.is_floating_point()):
            raise TypeError(f"z must be a float or complex tensor; got {z.dtype}")
        return z

    def next_token_probabilities(self, z: torch.Tensor) -> torch.Tensor:
        r"""``p(l | z) = |<f_l|z>|^2 / ||z||^2`` for predictions ``z`` ``(..., d)`` -> ``(..., M)``; sums to 1."""
        z = self._check_z(z)
        F = self.F.to(z.dtype)  # (M, d) real entries
        amp = z @ F.T  # (..., M): <f_l|z> = f_l^T z, f_l real
        return _abs2(amp) / _abs2(z).sum(-1, keepdim=True)

    def next_token_nll(self, z: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        r"""``-mean_{s,t} log p(w_{s,t+1} | z_{s,t})`` for ``z`` ``(S, T, d)`` and windows ``ids`` ``(S, T+1)``."""
        z, nxt = self._check_pair(z, ids)
        p = self.next_token_probabilities(z)  # (S, T, M)
        return -torch.log(p.gather(-1, nxt[..., None])[..., 0]).mean()

    def next_token_accuracy(self, z: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        r"""Fraction of steps where ``argmax_l p(l | z_{s,t})`` is the next word ``w_{s,t+1}``."""
        z, nxt = self._check_pair(z, ids)
        with torch.no_grad():
            guess = self.next_token_probabilities(z).argmax(-1)  # (S, T)
            return (guess == nxt).to(torch.float64).mean()

    def _check_pair(self, z: Any, ids: Any) -> tuple[torch.Tensor, torch.Tensor]:
        z = self._check_z(z)
        ids = _check_ids(ids, self.M)
        if z.ndim != 3 or z.shape[:2] != (ids.shape[0], ids.shape[1] - 1):
            raise ValueError(
                f"z must have shape (S, T, d) = ({ids.shape[0]}, {ids.shape[1] - 1}, {self.d}) to match ids "
                f"{tuple(ids.shape)}; got {tuple(z.shape)}"
            )
        return z, ids[:, 1:]

    def extra_repr(self) -> str:
        return f"M={self.M}, d={self.d}, positional={self.positional}"


class Projector(nn.Module):
    r"""Trainable map ``psi -> Q^dagger psi / ||Q^dagger psi||`` from ``2^D``-dim states to ``d``-dim tokens.

    Args:
        n_qubits: ``D``, qubits of the input states (width ``2^D >= d``).
        d: token width, a power of two ``>= 2``.
        seed: int or ``numpy.random.Generator``; ``Q`` starts Haar-random (phase-fixed QR of a
            complex Gaussian matrix drawn from it).
        dtype: ``torch.complex128`` (default) or ``torch.complex64``.

    Parameter (in ``state_dict``): ``isometry_raw``, real ``(2^D, d, 2)`` (real and imaginary parts
    of the free matrix, so every optimiser sees real parameters).

    Trained jointly with a model, ``Q`` may drift to a subspace where the projected dynamics are
    easy rather than representative; freeze it (``requires_grad_(False)``) if that matters.
    """

    def __init__(
        self, n_qubits: int, d: int, *, seed: int | np.random.Generator, dtype: torch.dtype = torch.complex128
    ) -> None:
        super().__init__()
        D = _validate.integer(n_qubits, "n_qubits", minimum=1)
        _validate.power_of_two(d, "d")
        if 2**D < d:
            raise ValueError(f"n_qubits must give 2^n_qubits >= d = {d}; got n_qubits={D} (2^{D} = {2**D})")
        _validate.complex_dtype(dtype)
        rng = _validate.generator(seed)
        real = torch.float64 if dtype == torch.complex128 else torch.float32
        self.n_qubits, self.d, self.dim_in = D, d, 2**D
        self.isometry_raw = nn.Parameter(torch.from_numpy(rng.normal(size=(2**D, d, 2))).to(real))  # (2^D, d, 2)

    @property
    def isometry(self) -> torch.Tensor:
        """``Q`` ``(2^D, d)`` with ``Q^dagger Q = I_d``."""
        return orthonormal_columns(torch.view_as_complex(self.isometry_raw))

    def _check_states(self, states: Any) -> torch.Tensor:
        if not isinstance(states, torch.Tensor):
            raise TypeError(f"states must be a torch.Tensor of shape (..., {self.dim_in}); got {type(states).__name__}")
        if states.ndim < 1 or states.shape[-1] != self.dim_in:
            raise ValueError(f"states must have shape (..., {self.dim_in}) (2^n_qubits); got {tuple(states.shape)}")
        want = torch.view_as_complex(self.isometry_raw).dtype
        if states.dtype != want:
            raise ValueError(f"states must have dtype {want} (the projector's); got {states.dtype}")
        _validate.unit_rows(states, "states")
        return states

    def projection_norms(self, states: torch.Tensor) -> torch.Tensor:
        """``||Q^dagger psi||`` per state, ``(...)``: the square root of the post-selection probability."""
        states = self._check_states(states)
        return torch.linalg.vector_norm(states @ self.isometry.conj(), dim=-1)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """Unit states ``(..., 2^D)`` -> unit tokens ``(..., d)``."""
        states = self._check_states(states)
        u = states @ self.isometry.conj()  # (..., d): (Q^dagger psi)_k = sum_i conj(Q_ik) psi_i
        norm = torch.linalg.vector_norm(u, dim=-1, keepdim=True)  # (..., 1)
        if _validate.reads_values(norm) and bool((norm == 0).any()):
            raise ValueError("states must not be orthogonal to the projector's subspace; got a zero projection")
        return u / norm

    def project(self, seqs: Sequences) -> Sequences:
        """A :class:`Sequences` of width ``2^D`` projected to width ``d`` with the current (fixed) ``Q``."""
        if not isinstance(seqs, Sequences):
            raise TypeError(f"seqs must be a Sequences; got {type(seqs).__name__}")
        with torch.no_grad():
            X = self(seqs.X.to(torch.view_as_complex(self.isometry_raw).dtype))
            Y = self(seqs.Y.to(X.dtype))
        meta = dict(seqs.meta, projected_from_qubits=self.n_qubits)
        return Sequences(X, Y, field="complex", meta=meta)

    def extra_repr(self) -> str:
        return f"n_qubits={self.n_qubits}, d={self.d}"
