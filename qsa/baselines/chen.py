r"""Chen's physical model of a transformer: quantum operations and Lüders measurements in Fock space.

Z. Chen, *Physical models realizing the transformer architecture of large language models* (2025).
A decoder-only transformer over a finite token set :math:`\mathbf T=\{t_0,\dots,t_{N-1}\}\subset
\mathbb R^d` is realised as an open quantum system on the truncated Fock space

.. math::

    \mathbb H = \mathcal F^{(M)}(\mathbf h) = \mathbb C \oplus \bigoplus_{k=1}^{M} \mathbf h^{\otimes k},
    \qquad \mathbf h = \operatorname{span}\{|t\rangle : t\in\mathbf T\} \cong \mathbb C^N .

**Classical side** (the paper's Eq. (1) and the generation rule after it). Block :math:`\ell` has an
attention mechanism :math:`(W^{Q}_\ell, W^{K}_\ell, W^{V}_\ell)` with :math:`W^V x\in\mathbf T` for
every token, and a token-valued :math:`\mathrm{FFN}_\ell`. On a text :math:`x_1\cdots x_m` it emits
:math:`y_i=\mathrm{FFN}_\ell(W^V_\ell x_i)` with probability

.. math::

    \operatorname{softmax}(S^{(m)})_i = \frac{e^{s_i}}{\sum_{j\le m} e^{s_j}},\qquad
    s_i = c\,\langle W^Q_\ell x_m, W^K_\ell x_i\rangle ,

with score scale :math:`c=1/\sqrt d` in the paper's definition (its worked example uses
:math:`c = 1`: pass ``scale=1.0``). The emitted token is appended and block :math:`\ell+1` acts on
the longer text, so ``L`` blocks generate ``L`` tokens with joint probability
:math:`P_T(y_{i_1},\dots,y_{i_L}) = \prod_\ell \operatorname{softmax}(S^{(n+\ell-1)}_\ell)_{i_\ell}`,
summed over the index paths that emit the same tokens.

**Quantum side** (Eqs. (3)-(4) and the Appendix). The input text is the state
:math:`\rho_T = |x_1\cdots x_n\rangle\langle x_1\cdots x_n|` in sector :math:`n`. Block :math:`\ell`
is a quantum operation :math:`\mathcal E_\ell` taking sector :math:`m=n+\ell-1` to sector
:math:`m+1`; the paper proves one exists (Stinespring + Arveson, not unique) and this module builds
one explicitly, with the ``N`` Kraus operators

.. math::

    K_y = \sum_{\vec x\in\mathbf T^m} \sqrt{p_\ell(y\mid\vec x)}\;|\vec x\,y\rangle\langle\vec x|,
    \qquad p_\ell(y\mid\vec x) = \sum_{i:\,y_i=y}\operatorname{softmax}(S^{(m)}_\ell)_i ,

so that :math:`\sum_y K_y^\dagger K_y = I_{\mathbf h^{\otimes m}}` (trace preserving) and
:math:`\mathcal E_\ell(|\vec x\rangle\langle\vec x|) = \sum_i \operatorname{softmax}_i\,
|\vec x\,y_i\rangle\langle\vec x\,y_i|`, exactly the paper's Eq. (3). After each operation the
projective measurement :math:`(X_\ell,\mathcal D)` with outcomes :math:`\Omega=\{\diamond\}\cup
\mathbf T`,

.. math::

    X_\ell(\{x\}) = I_{\mathbf h}^{\otimes m}\otimes|x\rangle\langle x| \text{ on sector } m+1,\qquad
    X_\ell(\{\diamond\}) = I_{\mathbb H} - \textstyle\sum_x X_\ell(\{x\}),

is read out and the state replaced by its von Neumann-Lüders reduction
:math:`E\rho E/\operatorname{Tr}[E\rho]`. The sequence of outcomes has the transformer's joint
distribution; :func:`joint_distribution` computes it by this sequential measurement (and the tests
check it against the direct autoregressive computation).

Basis order: a basis string :math:`|x_1\cdots x_k\rangle` of sector ``k`` has index
:math:`\sum_j x_j N^{k-j}` (the first token most significant); in the full Fock space sector ``k``
occupies the rows ``FockSpace.sector(k)``, the vacuum first. Tokens are referred to by their index
into the ``tokens`` array throughout.
"""

from __future__ import annotations

import itertools
import logging
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import torch

from qsa import _validate, analytic
from qsa.baselines.attention import FreeMatrix, FreeUnitary, probability_observables

__all__ = [
    "MAX_BRANCHES",
    "MAX_DENSE_DIM",
    "ChenLayer",
    "ChenMultiHeadLayer",
    "ConsistencyCheck",
    "GAISystem",
    "chen_system",
    "autoregressive_system",
    "ChenAttention",
    "FockSpace",
    "Branch",
    "ChannelCheck",
    "attention_weights",
    "emitted_tokens",
    "next_token_distribution",
    "transformer_distribution",
    "sector_kraus",
    "fock_kraus",
    "apply_kraus",
    "choi_from_kraus",
    "choi_from_map",
    "check_choi",
    "check_kraus",
    "check_channel",
    "input_state",
    "sequential_measurement",
    "joint_distribution",
]

logger = logging.getLogger(__name__)

# A dense Choi matrix larger than this (side d_in * d_out) is refused: its eigendecomposition would
# be the expensive part of a check and is never what a caller meant.
MAX_CHOI_SIDE = 4096
# Largest sector dimension N^k that sector_kraus builds densely (its N Kraus operators hold
# N * N^(m+1) * N^m numbers: 134 MB at N = 2, N^(m+1) = 2^12).
MAX_SECTOR_DIM = 1 << 12
# Largest state dimension (N^(n+L), or the Fock space's) of a dense sequential measurement: each
# block applies dense Kraus operators to a dense density matrix, about 3 s at 2^9 and 30 s at 2^10
# on the project's 2-core machine. Texts of basis tokens stay diagonal: method="populations".
MAX_DENSE_DIM = 1 << 9
# Most outcome histories (N^L) a sequential measurement returns, one Branch each.
MAX_BRANCHES = 1 << 16
# Relative tolerance for recognising W^V x and FFN outputs as tokens.
TOKEN_MATCH_RTOL = 1e-9

FFN = Sequence[int] | np.ndarray | Callable[[np.ndarray], np.ndarray] | None


@dataclass(frozen=True)
class ChenLayer:
    r"""One building block: attention mechanism :math:`(W^Q, W^K, W^V)` and a token-valued FFN.

    Attributes:
        W_Q: query matrix, real, shape ``(d', d)``.
        W_K: key matrix, real, shape ``(d', d)``.
        W_V: value matrix, real, shape ``(d, d)``; must map every token to a token
            (:math:`W^V x\in\mathbf T`, the paper's standing assumption; checked against the token
            set when the layer is used).
        ffn: the FFN restricted to tokens. ``None`` is the identity; a sequence of ``N`` token
            indices is a lookup table, ``FFN(t_a) = t_{ffn[a]}``; a callable maps a vector of
            shape ``(d,)`` to a vector that must be a token.
    """

    W_Q: np.ndarray
    W_K: np.ndarray
    W_V: np.ndarray
    ffn: FFN = field(default=None)

    def __post_init__(self) -> None:
        W_Q = _real_matrix(self.W_Q, "W_Q")
        W_K = _real_matrix(self.W_K, "W_K")
        W_V = _real_matrix(self.W_V, "W_V")
        if W_Q.shape != W_K.shape:
            raise ValueError(f"W_K must have the shape of W_Q {W_Q.shape}; got {W_K.shape}")
        d = W_Q.shape[1]
        if W_V.shape != (d, d):
            raise ValueError(f"W_V must have shape ({d}, {d}) to match W_Q {W_Q.shape}; got {W_V.shape}")
        if self.ffn is not None and not callable(self.ffn):
            table = np.asarray(self.ffn)
            if table.ndim != 1 or not (np.issubdtype(table.dtype, np.integer) or table.size == 0):
                raise TypeError(f"ffn must be None, a callable or a 1-D sequence of token indices; got {self.ffn!r}")
            object.__setattr__(self, "ffn", tuple(int(a) for a in table))
        object.__setattr__(self, "W_Q", W_Q)
        object.__setattr__(self, "W_K", W_K)
        object.__setattr__(self, "W_V", W_V)

    @property
    def d(self) -> int:
        """Embedding dimension ``d``."""
        return self.W_V.shape[0]


@dataclass(frozen=True)
class ChenMultiHeadLayer:
    r"""A multi-head building block: a mixture of heads, each an attention mechanism and FFN.

    The paper states that multi-headed attention "can be constructed in a similar way" and omits
    the details; this is our construction. A block emits one token, so its heads cannot be
    concatenated as in a classical transformer; instead head ``h`` is chosen with probability
    ``weights[h]`` and emits as a :class:`ChenLayer` does:

    .. math:: p(y\mid\vec x) = \sum_h \pi_h \sum_{i:\,y^h_i=y}\operatorname{softmax}(S^{(m)}_h)_i .

    The quantum operation is the convex combination of the heads' operations (completely positive
    and trace preserving as each of them is); :func:`sector_kraus` builds Kraus operators from the
    mixed conditional :math:`p(y\mid\vec x)` as for one head.

    Attributes:
        heads: the heads, :class:`ChenLayer` objects on the same embedding dimension.
        weights: head probabilities :math:`\pi_h` (non-negative, summing to 1); ``None`` is uniform.
    """

    heads: tuple[ChenLayer, ...]
    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        heads = self.heads
        if isinstance(heads, ChenLayer) or not isinstance(heads, Sequence) or not heads:
            raise TypeError(f"heads must be a non-empty sequence of ChenLayer; got {heads!r}")
        if not all(isinstance(h, ChenLayer) for h in heads):
            raise TypeError(f"heads must contain ChenLayer objects; got {[type(h).__name__ for h in heads]}")
        if len({h.d for h in heads}) != 1:
            raise ValueError(f"heads must act on one embedding dimension; got {[h.d for h in heads]}")
        H = len(heads)
        if self.weights is None:
            weights = (1.0 / H,) * H
        else:
            w = np.asarray(self.weights, dtype=float)
            if w.shape != (H,) or not np.all(np.isfinite(w)) or (w < 0).any() or abs(w.sum() - 1.0) > 1e-12:
                raise ValueError(f"weights must be {H} non-negative numbers summing to 1; got {self.weights!r}")
            weights = tuple(float(v) for v in w)
        object.__setattr__(self, "heads", tuple(heads))
        object.__setattr__(self, "weights", weights)

    @property
    def d(self) -> int:
        """Embedding dimension ``d``."""
        return self.heads[0].d


Layer = ChenLayer | ChenMultiHeadLayer


@dataclass(frozen=True)
class _Block:
    """A layer resolved against a token set: per head, unscaled scores and emitted token per key token."""

    scores: np.ndarray  # (H, N, N): scores[h, a, b] = <W_Q t_a, W_K t_b> of head h, query a, key b
    emit: np.ndarray  # (H, N) int: emit[h, b] = index of FFN(W_V t_b) of head h
    weights: np.ndarray  # (H,): head probabilities


@dataclass(frozen=True)
class FockSpace:
    r"""The truncated Fock space :math:`\mathcal F^{(M)}(\mathbb C^N)`: sectors ``0..M`` of dims ``N^k``.

    Attributes:
        n_tokens: ``N``, the dimension of the one-token space ``h``.
        cutoff: ``M``, the largest number of tokens.
    """

    n_tokens: int
    cutoff: int

    def __post_init__(self) -> None:
        _validate.integer(self.n_tokens, "n_tokens", minimum=1)
        _validate.integer(self.cutoff, "cutoff", minimum=1)

    @property
    def dims(self) -> tuple[int, ...]:
        """``(1, N, N^2, ..., N^M)``."""
        return tuple(self.n_tokens**k for k in range(self.cutoff + 1))

    @property
    def dim(self) -> int:
        """``sum_k N^k``."""
        return sum(self.dims)

    def sector(self, k: int) -> slice:
        """Rows of sector ``k`` in the full space (the vacuum is row 0)."""
        _validate.integer(k, "k", minimum=0)
        if k > self.cutoff:
            raise ValueError(f"k must be <= cutoff {self.cutoff}; got {k}")
        start = sum(self.dims[:k])
        return slice(start, start + self.dims[k])

    def embed(self, block: np.ndarray, k_out: int, k_in: int) -> np.ndarray:
        """The operator on the full space that is ``block`` from sector ``k_in`` to ``k_out``, zero elsewhere."""
        rows, cols = self.sector(k_out), self.sector(k_in)
        block = np.asarray(block)
        if block.shape != (self.dims[k_out], self.dims[k_in]):
            raise ValueError(
                f"block must have shape ({self.dims[k_out]}, {self.dims[k_in]}) to map sector {k_in} to "
                f"sector {k_out}; got {block.shape}"
            )
        out = np.zeros((self.dim, self.dim), dtype=np.result_type(block.dtype, np.complex128))
        out[rows, cols] = block
        return out


class Branch(NamedTuple):
    """One outcome history of the sequential measurement.

    Attributes:
        outcomes: the measured outcomes, one per block: token indices, or ``None`` for the
            outcome :math:`\\diamond` (only possible in the full Fock space, and of probability 0
            for the models built here).
        probability: joint probability of ``outcomes``.
        state: the Lüders-reduced density matrix after the last measurement; on sector
            ``sector`` (shape ``(N^sector, N^sector)``) or, if a Fock cutoff was given, on the
            whole truncated Fock space; ``None`` for ``method="populations"``.
        sector: the number of tokens in the reduced state.
        populations: ``method="populations"``: the reduced state, diagonal in the basis of token
            strings, as ``{string: population}`` (a basis text stays one string); else ``None``.
    """

    outcomes: tuple[int | None, ...]
    probability: float
    state: np.ndarray | None
    sector: int
    populations: dict[tuple[int, ...], float] | None = None


class ChannelCheck(NamedTuple):
    """Result of a CPTP check (Choi-Jamiołkowski and, for Kraus sets, completeness).

    Attributes:
        trace_preserving: ``tp_defect <= atol``.
        completely_positive: Choi matrix Hermitian and ``min_choi_eigenvalue >= -atol``.
        tp_defect: ``max |Tr_out J - I|`` (for Kraus sets also ``max |sum_k K_k^dagger K_k - I|``).
        min_choi_eigenvalue: smallest eigenvalue of the Hermitian part of the Choi matrix ``J``.
        hermiticity_defect: ``max |J - J^dagger|``.
    """

    trace_preserving: bool
    completely_positive: bool
    tp_defect: float
    min_choi_eigenvalue: float
    hermiticity_defect: float

    @property
    def cptp(self) -> bool:
        """Both completely positive and trace preserving."""
        return self.trace_preserving and self.completely_positive


# --------------------------------------------------------------------------------------------
# Classical side: Eq. (1) and the FFN-after-attention generation rule.


def attention_weights(text: Sequence[int], layer: Layer, tokens, *, scale: float | None = None) -> np.ndarray:
    r"""``softmax(S^{(m)})``: probability that the last token of ``text`` attends to each position.

    .. math:: s_i = c\,\langle W^Q x_m, W^K x_i\rangle,\quad \operatorname{softmax}(S^{(m)})_i
        = e^{s_i}/\textstyle\sum_j e^{s_j} \qquad (\text{Eq. } (1)).

    Args:
        text: token indices ``x_1..x_m``, ``m >= 1``.
        layer: the block.
        tokens: the token set, real array ``(N, d)``.
        scale: ``c``; ``None`` means the paper's ``1/sqrt(d)``.

    Returns:
        Array of shape ``(m,)`` summing to 1; ``(H, m)``, one row per head, for a
        :class:`ChenMultiHeadLayer`.
    """
    T = _tokens(tokens)
    text = _text(text, T.shape[0])
    c = _scale(scale, T.shape[1])
    block = _resolve(layer, T)
    w = _softmax(c * block.scores[:, text[-1], list(text)])  # (H, m)
    return w[0] if isinstance(layer, ChenLayer) else w


def emitted_tokens(text: Sequence[int], layer: Layer, tokens) -> np.ndarray:
    r"""``y_i = FFN(W^V x_i)`` for every position ``i`` of ``text`` (token indices, shape ``(m,)``;
    ``(H, m)`` for a :class:`ChenMultiHeadLayer`)."""
    T = _tokens(tokens)
    text = _text(text, T.shape[0])
    emit = _resolve(layer, T).emit[:, list(text)]  # (H, m)
    return emit[0] if isinstance(layer, ChenLayer) else emit


def next_token_distribution(text: Sequence[int], layer: Layer, tokens, *, scale: float | None = None) -> np.ndarray:
    r"""Distribution of the token the block emits after ``text``: :math:`p(y)=\sum_{i:\,y_i=y}\operatorname{softmax}_i`
    (for a :class:`ChenMultiHeadLayer` the mixture over heads).

    Returns:
        Array of shape ``(N,)`` over token indices, summing to 1.
    """
    T = _tokens(tokens)
    text = _text(text, T.shape[0])
    c = _scale(scale, T.shape[1])
    return _next_distribution(_resolve(layer, T), np.asarray([text]), c)[0]


def transformer_distribution(
    text: Sequence[int], layers: Sequence[Layer], tokens, *, scale: float | None = None
) -> dict[tuple[int, ...], float]:
    r"""Joint distribution of the ``L = len(layers)`` generated tokens, computed autoregressively.

    The direct (classical) computation of the paper's
    :math:`P_T(y_{i_1},\dots,y_{i_L})=\prod_\ell\operatorname{softmax}(S^{(n+\ell-1)}_\ell)_{i_\ell}`:
    block ``l`` acts on the input text followed by the ``l - 1`` tokens emitted so far. Only
    outcomes of positive probability are listed.
    """
    T = _tokens(tokens)
    text = _text(text, T.shape[0])
    layers = _layers(layers)
    c = _scale(scale, T.shape[1])
    blocks = [_resolve(layer, T) for layer in layers]
    table: dict[tuple[int, ...], float] = {(): 1.0}
    for block in blocks:
        new: dict[tuple[int, ...], float] = {}
        for hist, p in table.items():
            q = _next_distribution(block, np.asarray([text + hist]), c)[0]
            for y in np.flatnonzero(q > 0):
                new[hist + (int(y),)] = p * float(q[y])
        table = new
    return table


# --------------------------------------------------------------------------------------------
# Quantum side: Kraus operators, CPTP checks, sequential Lüders measurement.


def sector_kraus(layer: Layer, tokens, m: int, *, scale: float | None = None) -> np.ndarray:
    r"""Kraus operators of block ``layer`` acting on texts of ``m`` tokens (sector ``m`` to ``m + 1``).

    .. math:: K_y = \sum_{\vec x\in\mathbf T^m}\sqrt{p(y\mid\vec x)}\;|\vec x\,y\rangle\langle\vec x|,
        \qquad y\in\mathbf T,

    with :math:`p(y\mid\vec x)` from :func:`next_token_distribution`. Then
    :math:`\sum_y K_y^\dagger K_y = I` on :math:`\mathbf h^{\otimes m}` and on a basis text the
    channel gives the paper's Eq. (3).

    Returns:
        Real array of shape ``(N, N^(m+1), N^m)``: ``K[y]`` for each token index ``y``.
    """
    T = _tokens(tokens)
    N = T.shape[0]
    m = _validate.integer(m, "m", minimum=1)
    if N ** (m + 1) > MAX_SECTOR_DIM:
        raise ValueError(
            f"N^(m+1) must be <= {MAX_SECTOR_DIM} for a dense Kraus set; got N = {N}, m = {m} "
            f"(N^(m+1) = {N ** (m + 1)})"
        )
    c = _scale(scale, T.shape[1])
    block = _resolve(layer, T)
    strings = np.asarray(list(itertools.product(range(N), repeat=m)), dtype=np.int64)  # (N^m, m)
    P = _next_distribution(block, strings, c)  # (N^m, N)
    K = np.zeros((N, N ** (m + 1), N**m))
    idx = np.arange(N**m)
    for y in range(N):
        K[y, idx * N + y, idx] = np.sqrt(P[:, y])
    return K


def fock_kraus(layer: Layer, tokens, cutoff: int, *, scale: float | None = None, empty_token: int = 0) -> np.ndarray:
    r"""Kraus operators of block ``layer`` on the whole truncated Fock space :math:`\mathcal F^{(M)}(\mathbf h)`.

    The paper's Appendix defines :math:`\Phi` on the commutative algebra spanned by the vacuum and
    the basis projectors: :math:`\Phi(1)=|x_0\rangle\langle x_0|` for a fixed token
    :math:`x_0` (``empty_token``) and, on a text of any length ``k``, the attention rule of Eq. (3).
    This realises it on every sector ``k = 1..M-1`` with the Kraus operators of
    :func:`sector_kraus` (summed over sectors, which is allowed because different sectors map to
    different output sectors), the vacuum part :math:`|x_0\rangle\langle\Omega|`, and the identity
    on the top sector ``M`` (a text of ``M`` tokens has no room to grow; the paper takes
    ``M`` larger than any text it generates). The extension is not unique (the paper's Arveson
    argument says so); any choice gives the same measurement statistics on the input states used.

    Returns:
        Complex array of shape ``(N + 1, D, D)``, ``D = sum_k N^k``: ``K[y]`` for ``y < N``, and
        ``K[N]`` the projector on sector ``M``. Their completeness :math:`\sum K^\dagger K = I_{\mathbb H}`
        holds exactly.
    """
    T = _tokens(tokens)
    N = T.shape[0]
    cutoff = _validate.integer(cutoff, "cutoff", minimum=1)
    empty_token = _validate.integer(empty_token, "empty_token", minimum=0)
    if empty_token >= N:
        raise ValueError(f"empty_token must be a token index in [0, {N}); got {empty_token}")
    fock = FockSpace(N, cutoff)
    if fock.dim > MAX_SECTOR_DIM:
        raise ValueError(f"the Fock space dimension must be <= {MAX_SECTOR_DIM}; got {fock.dim}")
    D = fock.dim
    K = np.zeros((N + 1, D, D), dtype=np.complex128)
    K[empty_token, fock.sector(1), fock.sector(0)] = np.eye(N)[:, [empty_token]]  # |x_0><vacuum|
    for k in range(1, cutoff):
        Kk = sector_kraus(layer, T, k, scale=scale)  # (N, N^(k+1), N^k)
        for y in range(N):
            K[y, fock.sector(k + 1), fock.sector(k)] = Kk[y]
    top = fock.sector(cutoff)
    K[N, top, top] = np.eye(fock.dims[cutoff])
    return K


def apply_kraus(kraus: np.ndarray, rho: np.ndarray) -> np.ndarray:
    r""":math:`\mathcal E(\rho)=\sum_k K_k\rho K_k^\dagger` for Kraus operators ``(n_kraus, d_out, d_in)``."""
    kraus = _kraus(kraus)
    rho = np.asarray(rho)
    d_in = kraus.shape[2]
    if rho.shape != (d_in, d_in):
        raise ValueError(f"rho must have shape ({d_in}, {d_in}) for these Kraus operators; got {rho.shape}")
    return np.einsum("kab,kcb->ac", kraus @ rho, kraus.conj())  # sum_k (K_k rho) K_k^dagger, (d_out, d_out)


def choi_from_kraus(kraus: np.ndarray) -> np.ndarray:
    r"""Choi matrix :math:`J=\sum_{ij}|i\rangle\langle j|\otimes\mathcal E(|i\rangle\langle j|)` of a Kraus set.

    Input factor first: ``J`` has shape ``(d_in * d_out, d_in * d_out)`` and equals
    :math:`\sum_k |v_k\rangle\langle v_k|` with :math:`|v_k\rangle=\sum_i|i\rangle\otimes K_k|i\rangle`.
    """
    kraus = _kraus(kraus)
    n, d_out, d_in = kraus.shape
    _choi_size(d_in, d_out)
    v = kraus.transpose(0, 2, 1).reshape(n, d_in * d_out)  # v[k, i*d_out + a] = K_k[a, i]
    return v.T @ v.conj()


def choi_from_map(channel: Callable[[np.ndarray], np.ndarray], d_in: int) -> np.ndarray:
    r"""Choi matrix of any linear map given as a function on ``(d_in, d_in)`` matrices (same convention)."""
    if not callable(channel):
        raise TypeError(f"channel must be callable; got {type(channel).__name__}")
    d_in = _validate.integer(d_in, "d_in", minimum=1)
    blocks = []
    for i in range(d_in):
        row = []
        for j in range(d_in):
            E = np.zeros((d_in, d_in), dtype=np.complex128)
            E[i, j] = 1.0
            out = np.asarray(channel(E))
            if out.ndim != 2 or out.shape[0] != out.shape[1]:
                raise ValueError(f"channel must return a square matrix; got shape {out.shape}")
            row.append(out)
        blocks.append(row)
    _choi_size(d_in, blocks[0][0].shape[0])
    return np.block(blocks).astype(np.complex128)


def check_choi(choi: np.ndarray, d_in: int, *, atol: float = 1e-12) -> ChannelCheck:
    r"""Check a Choi matrix (input factor first).

    CP iff :math:`J\succeq 0`; TP iff :math:`\operatorname{Tr}_{out}J=I_{in}`.
    """
    choi = np.asarray(choi)
    d_in = _validate.integer(d_in, "d_in", minimum=1)
    atol = _tolerance(atol)
    if choi.ndim != 2 or choi.shape[0] != choi.shape[1] or choi.shape[0] % d_in:
        raise ValueError(f"choi must be square with side a multiple of d_in = {d_in}; got shape {choi.shape}")
    d_out = choi.shape[0] // d_in
    _choi_size(d_in, d_out)
    herm = float(np.abs(choi - choi.conj().T).max())
    min_eig = float(np.linalg.eigvalsh((choi + choi.conj().T) / 2).min())
    partial = np.einsum("iaja->ij", choi.reshape(d_in, d_out, d_in, d_out))  # Tr_out J, (d_in, d_in)
    tp_defect = float(np.abs(partial - np.eye(d_in)).max())
    return ChannelCheck(
        trace_preserving=tp_defect <= atol,
        completely_positive=herm <= atol and min_eig >= -atol,
        tp_defect=tp_defect,
        min_choi_eigenvalue=min_eig,
        hermiticity_defect=herm,
    )


def check_kraus(kraus: np.ndarray, *, atol: float = 1e-12) -> ChannelCheck:
    r"""CPTP check of a Kraus set: completeness :math:`\sum_k K_k^\dagger K_k=I` and a PSD Choi matrix.

    ``tp_defect`` is the larger of the completeness defect and the Choi partial-trace defect.
    """
    kraus = _kraus(kraus)
    atol = _tolerance(atol)
    d_in = kraus.shape[2]
    completeness = float(np.abs(np.einsum("kai,kaj->ij", kraus.conj(), kraus) - np.eye(d_in)).max())
    choi = check_choi(choi_from_kraus(kraus), d_in, atol=atol)
    tp_defect = max(completeness, choi.tp_defect)
    return choi._replace(trace_preserving=tp_defect <= atol, tp_defect=tp_defect)


def check_channel(channel: Callable[[np.ndarray], np.ndarray], d_in: int, *, atol: float = 1e-12) -> ChannelCheck:
    """CPTP check of a linear map given as a function, through its Choi matrix."""
    return check_choi(choi_from_map(channel, d_in), d_in, atol=atol)


def input_state(text: Sequence[int], n_tokens: int, *, cutoff: int | None = None) -> np.ndarray:
    r"""The input state :math:`\rho_T=|x_1\cdots x_n\rangle\langle x_1\cdots x_n|`.

    On sector ``n`` (shape ``(N^n, N^n)``) or, with ``cutoff`` ``M``, embedded in the full
    :math:`\mathcal F^{(M)}(\mathbf h)` as :math:`\operatorname{diag}(0,\dots,0,\rho_T,0,\dots)`.
    """
    N = _validate.integer(n_tokens, "n_tokens", minimum=1)
    text = _text(text, N)
    n = len(text)
    if N**n > MAX_SECTOR_DIM:
        raise ValueError(f"N^n must be <= {MAX_SECTOR_DIM}; got N = {N}, n = {n}")
    idx = _string_index(text, N)
    rho = np.zeros((N**n, N**n), dtype=np.complex128)
    rho[idx, idx] = 1.0
    if cutoff is None:
        return rho
    fock = FockSpace(N, _validate.integer(cutoff, "cutoff", minimum=1))
    if n > fock.cutoff:
        raise ValueError(f"cutoff must be >= the text length {n}; got {fock.cutoff}")
    return fock.embed(rho, n, n)


def sequential_measurement(
    text: Sequence[int],
    layers: Sequence[Layer],
    tokens,
    *,
    scale: float | None = None,
    cutoff: int | None = None,
    method: Literal["populations", "dense"] | None = None,
) -> list[Branch]:
    r"""Run the physical model: per block a quantum operation, the measurement :math:`(X_\ell,\mathcal D)`
    and the Lüders reduction.

    Args:
        text: input token indices ``x_1..x_n``.
        layers: the blocks (:class:`ChenLayer` or :class:`ChenMultiHeadLayer`), one per generated
            token (``L = len(layers)``).
        tokens: the token set, real array ``(N, d)`` of distinct rows.
        scale: score scale ``c``; ``None`` means ``1/sqrt(d)`` (the paper's example uses 1).
        cutoff: ``None`` works sector by sector (the state of the model always lies in one sector,
            where :math:`X_\ell(\{\diamond\})` vanishes); an integer ``M >= n + L`` works on the
            whole :math:`\mathcal F^{(M)}(\mathbf h)` with the operations of :func:`fock_kraus`
            and the full measurement including the outcome :math:`\diamond` (``method="dense"``).
        method: ``"populations"`` (the default without ``cutoff``): the input
            :math:`\rho_T=|x_1\cdots x_n\rangle\langle x_1\cdots x_n|` is diagonal in the basis of
            token strings and every operation and measurement here keeps it so (a Kraus operator
            maps a basis string to a basis string, a projector :math:`X_\ell(\{x\})` is
            diagonal), so only the populations of the strings are propagated: block ``l`` takes
            a string of population ``q`` to its extensions ``x y`` with ``q p_l(y|x)`` (the
            diagonal of Eq. (3)), and measuring ``y`` keeps the strings ending in ``y``,
            renormalised. The cost is that of the classical computation, for any text length.
            ``"dense"`` (the default with ``cutoff``): dense Kraus operators on dense density
            matrices of side ``N^(n+L)`` (or the Fock space's dimension), at most
            ``MAX_DENSE_DIM``; the two give the same probabilities (tested).

    Returns:
        The branches of positive probability after the last measurement (see :class:`Branch`).

    Raises:
        ValueError: ``N^(n+L)`` (or the Fock dimension) above ``MAX_DENSE_DIM`` for
            ``method="dense"``, ``N^L`` above ``MAX_BRANCHES``, ``cutoff`` with
            ``method="populations"``; checked before any work.
    """
    T = _tokens(tokens)
    N = T.shape[0]
    text = _text(text, N)
    layers = _layers(layers)
    c = _scale(scale, T.shape[1])
    n, L = len(text), len(layers)
    if method is None:
        method = "populations" if cutoff is None else "dense"
    if method not in ("populations", "dense"):
        raise ValueError(f"method must be 'populations', 'dense' or None; got {method!r}")
    blocks = [_resolve(layer, T) for layer in layers]  # every layer must fit the token set before any work
    if N**L > MAX_BRANCHES:
        raise ValueError(
            f"N^L must be <= {MAX_BRANCHES} (one branch per outcome history); got N = {N}, L = {L} (N^L = {N**L})"
        )
    if cutoff is not None:
        if method == "populations":
            raise ValueError("method must be 'dense' (or None) with a Fock cutoff; got 'populations'")
        cutoff = _validate.integer(cutoff, "cutoff", minimum=1)
        if cutoff < n + L:
            raise ValueError(f"cutoff must be >= n + L = {n + L} to hold the generated text; got {cutoff}")
        fock = FockSpace(N, cutoff)
        if fock.dim > MAX_DENSE_DIM:
            raise ValueError(
                f"the Fock space dimension must be <= {MAX_DENSE_DIM} for dense density matrices; got {fock.dim} "
                "(without a cutoff, method='populations' works for any text length)"
            )
    elif method == "dense" and N ** (n + L) > MAX_DENSE_DIM:
        raise ValueError(
            f"N^(n+L) must be <= {MAX_DENSE_DIM} for method='dense' (dense density matrices of that side; about "
            f"30 s at 2^10); got N = {N}, n + L = {n + L} (N^(n+L) = {N ** (n + L)}); method='populations' "
            "propagates the diagonal of the same state for any text length"
        )
    if method == "populations":
        return _measure_populations(text, blocks, c)

    branches = [Branch((), 1.0, input_state(text, N, cutoff=cutoff), n)]
    for ell, layer in enumerate(layers):
        m = n + ell  # tokens before this block emits
        if cutoff is None:
            kraus = sector_kraus(layer, T, m, scale=c)
            masks = {x: _last_token_mask(N, m + 1, x) for x in range(N)}
        else:
            kraus = fock_kraus(layer, T, cutoff, scale=c)
            masks = {}
            for x in range(N):
                mask = np.zeros(fock.dim, dtype=bool)
                mask[fock.sector(m + 1)] = _last_token_mask(N, m + 1, x)
                masks[x] = mask
            masks[None] = ~np.logical_or.reduce(list(masks.values()))  # X({diamond})
        new = []
        for br in branches:
            if br.state is None:  # pragma: no cover - the dense path keeps a state in every branch
                raise RuntimeError("a dense branch must hold its state")
            rho = apply_kraus(kraus, br.state)  # rho(t_l), Eqs. (3)-(4)
            for outcome, mask in masks.items():
                p = float(np.real(np.diagonal(rho)[mask].sum()))  # Tr[E rho]
                if p <= 0.0:
                    continue
                reduced = np.where(np.outer(mask, mask), rho, 0.0) / p  # E rho E / Tr[E rho]
                new.append(Branch(br.outcomes + (outcome,), br.probability * p, reduced, m + 1))
        branches = new
        logger.debug("block %d: %d branches", ell + 1, len(branches))
    return branches


def _measure_populations(text: tuple[int, ...], blocks: list[_Block], c: float) -> list[Branch]:
    """The sequential measurement on diagonal states, ``{string: population}`` (see :func:`sequential_measurement`)."""
    n = len(text)
    branches = [Branch((), 1.0, None, n, {text: 1.0})]
    for ell, block in enumerate(blocks):
        new = []
        for br in branches:
            populations = br.populations
            if populations is None:  # pragma: no cover - the population path keeps them in every branch
                raise RuntimeError("a population branch must hold its populations")
            strings = list(populations)
            q = np.array([populations[x] for x in strings])  # (K,)
            P = q[:, None] * _next_distribution(block, np.asarray(strings), c)  # (K, N): population of x y
            for y in np.flatnonzero(P.sum(0) > 0):  # outcome y: the strings ending in y
                p = float(P[:, y].sum())  # Tr[E rho]
                reduced = {x + (int(y),): float(P[k, y]) / p for k, x in enumerate(strings) if P[k, y] > 0}
                new.append(Branch(br.outcomes + (int(y),), br.probability * p, None, n + ell + 1, reduced))
        branches = new
        logger.debug("block %d: %d branches", ell + 1, len(branches))
    return branches


def joint_distribution(
    text: Sequence[int],
    layers: Sequence[Layer],
    tokens,
    *,
    scale: float | None = None,
    cutoff: int | None = None,
    method: Literal["populations", "dense"] | None = None,
) -> dict[tuple[int | None, ...], float]:
    r"""Joint distribution of the generated text, by sequential measurement of the physical model.

    Arguments as in :func:`sequential_measurement`. Returns ``{(y_1, ..., y_L): P_T(y_1..y_L)}``
    over token indices, for the outcomes of positive probability (``None`` would stand for
    :math:`\diamond`, which has probability 0 here). Equals :func:`transformer_distribution`.
    """
    table: dict[tuple[int | None, ...], float] = {}
    for br in sequential_measurement(text, layers, tokens, scale=scale, cutoff=cutoff, method=method):
        table[br.outcomes] = table.get(br.outcomes, 0.0) + br.probability
    return table


# --------------------------------------------------------------------------------------------
# The GAI formalism: a system as a family of sequential joint probabilities.


class ConsistencyCheck(NamedTuple):
    r"""Result of :meth:`GAISystem.check`.

    Attributes:
        consistent: every defect at most ``atol``.
        marginal_defect: largest :math:`|\sum_{y_n} P_T(y_1..y_n) - P_T(y_1..y_{n-1})|` over the
            texts, horizons ``n`` and outcome histories checked.
        normalisation_defect: largest :math:`|\sum P_T(y_1..y_n) - 1|`.
        checked: how many (text, n) pairs were checked.
    """

    consistent: bool
    marginal_defect: float
    normalisation_defect: float
    checked: int


class GAISystem:
    r"""A GAI system in Chen's formalism: a family of sequential joint probabilities over input texts.

    Z. Chen, *Mathematical formalism and physical models for generative artificial intelligence*
    (2025; abstract in the project's papers): a GAI system is "a family of sequential joint
    probabilities associated with input texts and temporal sequences of tokens" (histories of
    events, after Gudder and Isham). Here: for every input text ``T`` and horizon
    ``n = 1..horizon``, a distribution :math:`P_T(y_1, \dots, y_n)` over the outcome histories of
    length ``n``. A family of histories is consistent (Kolmogorov) when the marginal over the last
    outcome is the shorter joint,

    .. math:: \sum_{y_n} P_T(y_1,\dots,y_n) = P_T(y_1,\dots,y_{n-1}),\qquad P_T() = 1,

    which :meth:`check` verifies on given texts. :func:`chen_system` makes the system of a
    physical model (each horizon by its own sequential measurement, so consistency is a property
    of the model, not of the bookkeeping); :func:`autoregressive_system` that of any next-token
    rule, e.g. a trained text model.

    Args:
        joint: ``joint(text, n) -> {(y_1, ..., y_n): probability}`` (outcomes of probability 0
            may be left out).
        n_tokens: ``N``, outcomes and text tokens are indices in ``[0, N)``.
        horizon: largest ``n``.
    """

    def __init__(
        self,
        joint: Callable[[tuple[int, ...], int], Mapping[tuple[int | None, ...], float]],
        *,
        n_tokens: int,
        horizon: int,
    ) -> None:
        if not callable(joint):
            raise TypeError(f"joint must be callable as joint(text, n); got {type(joint).__name__}")
        self._joint = joint
        self.n_tokens = _validate.integer(n_tokens, "n_tokens", minimum=1)
        self.horizon = _validate.integer(horizon, "horizon", minimum=1)

    def joint(self, text: Sequence[int], n: int) -> dict[tuple[int | None, ...], float]:
        """:math:`P_T(y_1..y_n)` for the input ``text``; ``n = 0`` is ``{(): 1.0}``."""
        text = _text(text, self.n_tokens)
        n = _validate.integer(n, "n", minimum=0)
        if n > self.horizon:
            raise ValueError(f"n must be <= the horizon {self.horizon}; got {n}")
        if n == 0:
            return {(): 1.0}
        table = dict(self._joint(text, n))
        for key in table:
            if not isinstance(key, tuple) or len(key) != n:
                raise ValueError(f"joint(text, {n}) must map histories of length {n}; got the key {key!r}")
        return table

    def marginal(self, text: Sequence[int], n: int) -> dict[tuple[int | None, ...], float]:
        r""":math:`\sum_{y_n} P_T(y_1..y_n)` as a table over histories of length ``n - 1``."""
        out: dict[tuple[int | None, ...], float] = {}
        for key, p in self.joint(text, _validate.integer(n, "n", minimum=1)).items():
            out[key[:-1]] = out.get(key[:-1], 0.0) + p
        return out

    def check(self, texts: Sequence[Sequence[int]], *, atol: float = 1e-12) -> ConsistencyCheck:
        """Consistency of the marginals and normalisation for every text of ``texts`` and ``n = 1..horizon``."""
        atol = _tolerance(atol)
        if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence) or not texts:
            raise TypeError(f"texts must be a non-empty sequence of texts; got {texts!r}")
        marginal, norm, checked = 0.0, 0.0, 0
        for text in texts:
            shorter = self.joint(text, 0)
            for n in range(1, self.horizon + 1):
                longer = self.joint(text, n)
                summed: dict[tuple[int | None, ...], float] = {}
                for key, p in longer.items():
                    summed[key[:-1]] = summed.get(key[:-1], 0.0) + p
                for key in set(summed) | set(shorter):
                    marginal = max(marginal, abs(summed.get(key, 0.0) - shorter.get(key, 0.0)))
                norm = max(norm, abs(sum(longer.values()) - 1.0))
                shorter, checked = longer, checked + 1
        return ConsistencyCheck(marginal <= atol and norm <= atol, marginal, norm, checked)


def chen_system(
    layers: Sequence[Layer],
    tokens,
    *,
    scale: float | None = None,
    method: Literal["populations", "dense"] | None = None,
) -> GAISystem:
    """The GAI system of Chen's physical model: :math:`P_T(y_1..y_n)` by sequential measurement with the first ``n`` blocks.

    ``horizon = len(layers)``; each ``joint(text, n)`` is its own :func:`joint_distribution` run.
    """
    T = _tokens(tokens)
    layers = _layers(layers)
    c = _scale(scale, T.shape[1])
    for layer in layers:
        _resolve(layer, T)

    def joint(text: tuple[int, ...], n: int) -> dict[tuple[int | None, ...], float]:
        return joint_distribution(text, layers[:n], T, scale=c, method=method)

    return GAISystem(joint, n_tokens=T.shape[0], horizon=len(layers))


def autoregressive_system(
    next_token: Callable[[tuple[int, ...]], np.ndarray], *, n_tokens: int, horizon: int
) -> GAISystem:
    r"""The GAI system of a next-token rule: :math:`P_T(y_1..y_n)=\prod_k p(y_k\mid T\,y_1\cdots y_{k-1})`.

    ``next_token(text)`` returns the distribution ``(N,)`` of the token after ``text`` (for a
    trained text model, ``qsa.training.generate.next_token_distribution``). Outcome histories
    of probability 0 are left out.
    """
    N = _validate.integer(n_tokens, "n_tokens", minimum=1)
    if not callable(next_token):
        raise TypeError(f"next_token must be callable as next_token(text); got {type(next_token).__name__}")

    def joint(text: tuple[int, ...], n: int) -> dict[tuple[int | None, ...], float]:
        if N**n > MAX_BRANCHES:
            raise ValueError(f"N^n must be <= {MAX_BRANCHES} (one entry per history); got N = {N}, n = {n}")
        table: dict[tuple[int, ...], float] = {(): 1.0}
        for _ in range(n):
            new: dict[tuple[int, ...], float] = {}
            for hist, p in table.items():
                q = np.asarray(next_token(text + hist), dtype=np.float64)
                if q.shape != (N,):
                    raise ValueError(f"next_token must return a distribution of shape ({N},); got {q.shape}")
                for y in np.flatnonzero(q > 0):
                    new[hist + (int(y),)] = p * float(q[y])
            table = new
        return dict(table.items())

    return GAISystem(joint, n_tokens=N, horizon=horizon)


# --------------------------------------------------------------------------------------------
# A trainable Chen model on the library's tokens and losses.


class ChenAttention(torch.nn.Module):
    r"""Chen's physical model as a trainable sequence model: one (multi-head) block on every prefix.

    For the query at position ``j`` the block is the quantum operation of Eq. (3) followed by the
    readout of the emitted token: head ``h`` (chosen with probability :math:`\pi_h`) attends to key
    ``i <= j`` with probability :math:`a^h_{ji}=\operatorname{softmax}_i(c\,\operatorname{Re}
    \langle x_j|W_h|x_i\rangle)` and emits the value state :math:`V_h|x_i\rangle`, so the emitted
    token is the *mixed* state

    .. math:: \rho_j = \sum_h \pi_h \sum_{i\le j} a^h_{ji}\, V_h|x_i\rangle\langle x_i|V_h^\dagger ,

    and the probability of the target is :math:`p_j=\langle y_j|\rho_j|y_j\rangle`, scored with the
    library's ``L_1`` and ``L_half``. This is the incoherent counterpart of softmax attention
    (:class:`qsa.baselines.attention.SoftmaxAttention`, a coherent sum
    :math:`z_j=\sum_i a_{ji}V x_i` and :math:`p_j=|\langle y_j|z_j\rangle|^2/\|z_j\|^2`).

    Choices, stated: ``W_h`` is a free complex matrix (:math:`W=W_Q^{\top}W_K` at full rank; for
    real tokens :math:`\operatorname{Re}\langle x_j|W|x_i\rangle=\langle W_Q x_j, W_K x_i\rangle`,
    the paper's score); ``V_h`` a free unitary: the paper requires :math:`W^V x\in\mathbf T` and a
    token-valued FFN, i.e. unit states to unit states, and the FFN composed with :math:`W^V` is
    absorbed in ``V_h``. With basis tokens, real ``W`` and a permutation ``V`` the model is exactly
    :func:`next_token_distribution` of the :class:`ChenLayer` ``(W_Q, W_K, V)`` (tested). Score
    scale ``c``: ``scale`` (default ``sqrt(d)``, the softmax baselines' ``beta``; the paper's
    ``1/sqrt(d)`` differs from it by a rescaling of the free ``W``). Head probabilities
    :math:`\pi = \operatorname{softmax}(\eta)`, ``eta`` trained (absent for one head).

    Args:
        d: token width.
        heads: number of heads, ``>= 1``.
        scale: score scale ``c > 0``; ``None`` is ``sqrt(d)``.
        seed: int or ``numpy.random.Generator``, split into one stream per head's ``W`` and ``V``.

    Parameters: ``3 d^2`` real numbers per head (``W``: ``2 d^2``, ``V``: ``d^2``), plus the
    ``heads`` logits when ``heads > 1``.
    """

    def __init__(self, d: int, *, heads: int = 1, scale: float | None = None, seed: int | np.random.Generator) -> None:
        super().__init__()
        self.d = _validate.integer(d, "d", minimum=1)
        self.heads = _validate.integer(heads, "heads", minimum=1)
        self.scale = math.sqrt(self.d) if scale is None else _scale(scale, self.d)
        rngs = _validate.generator(seed).spawn(2 * self.heads)
        self.W = torch.nn.ModuleList(FreeMatrix(self.d, self.d, seed=rngs[2 * h]) for h in range(self.heads))
        self.V = torch.nn.ModuleList(FreeUnitary(self.d, seed=rngs[2 * h + 1]) for h in range(self.heads))
        self.head_logits = (
            torch.nn.Parameter(torch.zeros(self.heads, dtype=torch.float64)) if self.heads > 1 else None
        )  # (H,)

    def head_weights(self) -> torch.Tensor:
        r"""Head probabilities :math:`\pi` ``(H,)``."""
        if self.head_logits is None:
            return torch.ones(1, dtype=torch.float64, device=next(self.parameters()).device)
        weights: torch.Tensor = torch.softmax(self.head_logits, 0)
        return weights

    def attention(self, X: torch.Tensor) -> torch.Tensor:
        """Attention probabilities :math:`a^h_{ji}` ``(H, ..., T, T)``: row ``j`` a distribution over keys ``i <= j``."""
        T = X.shape[-2]
        causal = torch.ones(T, T, dtype=torch.bool, device=X.device).tril()  # (T, T)
        out = []
        for W in self.W:
            logits = self.scale * analytic.scores(X, W()).real  # (..., T, T): Re <x_j|W|x_i>, query j, key i
            out.append(torch.softmax(logits.masked_fill(~causal, float("-inf")), -1))
        return torch.stack(out)  # (H, ..., T, T)

    def values(self, X: torch.Tensor) -> torch.Tensor:
        """The value states :math:`V_h|x_i\rangle` ``(H, ..., T, d)``."""
        return torch.stack([X @ V().transpose(-1, -2) for V in self.V])

    def density(self, X) -> torch.Tensor:
        """The emitted states :math:`\rho_j` ``(..., T, d, d)`` (unit trace)."""
        X = _validate.model_tokens(X, self.d)
        a, v = self.attention(X), self.values(X)  # (H, ..., T, T), (H, ..., T, d)
        rho = torch.einsum("h...ji,h...ic,h...ie->h...jce", a.to(v.dtype), v, v.conj())  # (H, ..., T, d, d)
        return torch.einsum("h,h...->...", self.head_weights().to(v.dtype), rho)

    forward = density

    def probabilities(self, X, Y) -> torch.Tensor:
        r""":math:`p_j=\langle y_j|\rho_j|y_j\rangle` ``(..., T)`` for tokens ``X`` and unit targets ``Y``."""
        X, Y = _validate.model_tokens(X, self.d, "X"), _validate.model_tokens(Y, self.d, "Y")
        if X.shape != Y.shape:
            raise ValueError(f"Y must have the shape of X {tuple(X.shape)}; got {tuple(Y.shape)}")
        a, v = self.attention(X), self.values(X)  # (H, ..., T, T), (H, ..., T, d)
        amp = Y.conj() @ v.transpose(-1, -2)  # (H, ..., T, T): <y_j|V_h x_i>
        p = (a * (amp.real**2 + amp.imag**2)).sum(-1)  # (H, ..., T)
        return torch.einsum("h,h...->...", self.head_weights(), p)

    def observables(self, X: Any, Y: Any) -> analytic.Observables:
        """``p``, ``L_1``, ``L_half`` (:class:`qsa.analytic.Observables`; circuit fields ``None``)."""
        return probability_observables(self.probabilities(X, Y))

    def next_token_probabilities(self, X, F: torch.Tensor) -> torch.Tensor:
        r""":math:`p(l\mid\rho_t)=\langle f_l|\rho_t|f_l\rangle` ``(..., T, M)`` for output-embedding rows ``F`` ``(M, d)``
        (a Parseval frame, so each row sums to 1)."""
        X = _validate.model_tokens(X, self.d)
        a, v = self.attention(X), self.values(X)  # (H, ..., T, T), (H, ..., T, d)
        amp = v @ F.to(v.dtype).conj().T  # (H, ..., T, M): <f_l|V_h x_i>
        p = a @ (amp.real**2 + amp.imag**2)  # (H, ..., T, M)
        return torch.einsum("h,h...->...", self.head_weights(), p)

    def extra_repr(self) -> str:
        return f"d={self.d}, heads={self.heads}, scale={self.scale:.4g}"


# --------------------------------------------------------------------------------------------
# Helpers.


def _next_distribution(block: _Block, strings: np.ndarray, c: float) -> np.ndarray:
    """``p(y | x_1..x_m)`` for a batch of texts ``strings`` (B, m) -> (B, N), mixed over the heads."""
    B, m = strings.shape
    H, N = block.emit.shape
    P = np.zeros((B, N))
    for h in range(H):
        w = _softmax(c * block.scores[h][strings[:, -1:], strings])  # (B, m): query x_m, keys x_i
        np.add.at(P, (np.repeat(np.arange(B), m), block.emit[h][strings].ravel()), block.weights[h] * w.ravel())
    return P


def _softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _last_token_mask(N: int, k: int, x: int) -> np.ndarray:
    """Diagonal of ``I^{(k-1)} (x) |x><x|`` on sector ``k``."""
    return np.arange(N**k) % N == x


def _string_index(text: tuple[int, ...], N: int) -> int:
    idx = 0
    for a in text:
        idx = idx * N + a
    return idx


def _resolve(layer: Layer, T: np.ndarray) -> _Block:
    if isinstance(layer, ChenMultiHeadLayer):
        heads = [_resolve(h, T) for h in layer.heads]
        return _Block(
            scores=np.concatenate([b.scores for b in heads]),
            emit=np.concatenate([b.emit for b in heads]),
            weights=np.asarray(layer.weights),
        )
    if not isinstance(layer, ChenLayer):
        raise TypeError(f"layer must be a ChenLayer or ChenMultiHeadLayer; got {type(layer).__name__}")
    N, d = T.shape
    if layer.d != d:
        raise ValueError(f"layer matrices must act on the token dimension d = {d}; got W_V of shape {layer.W_V.shape}")
    values = T @ layer.W_V.T  # (N, d): W_V t_b
    value_idx = np.array([_match_token(values[b], T, f"W_V t_{b}") for b in range(N)])
    if layer.ffn is None:
        emit = value_idx
    elif callable(layer.ffn):
        emit = np.array(
            [
                _match_token(np.asarray(layer.ffn(T[v].copy()), dtype=float), T, f"ffn(W_V t_{b})")
                for b, v in enumerate(value_idx)
            ]
        )
    else:
        table = np.asarray(layer.ffn, dtype=np.int64)
        if table.shape != (N,) or table.min(initial=0) < 0 or table.max(initial=0) >= N:
            raise ValueError(f"ffn must be a table of {N} token indices in [0, {N}); got {layer.ffn!r}")
        emit = table[value_idx]
    scores = (T @ layer.W_Q.T) @ (T @ layer.W_K.T).T  # (N, N): <W_Q t_a, W_K t_b>
    return _Block(scores=scores[None], emit=emit.astype(np.int64)[None], weights=np.ones(1))


def _match_token(v: np.ndarray, T: np.ndarray, what: str) -> int:
    if v.shape != T.shape[1:] or not np.all(np.isfinite(v)):
        raise ValueError(f"{what} must be a finite vector of shape {T.shape[1:]}; got {v!r}")
    dist = np.linalg.norm(T - v, axis=1)
    tol = TOKEN_MATCH_RTOL * max(1.0, float(np.abs(T).max()))
    hits = np.flatnonzero(dist <= tol)
    if hits.size != 1:
        raise ValueError(f"{what} must be a token (the model needs W_V x and FFN outputs in T); got {v}")
    return int(hits[0])


def _tokens(tokens) -> np.ndarray:
    T = np.asarray(tokens)
    if T.dtype == object or not np.issubdtype(T.dtype, np.number) or np.iscomplexobj(T):
        raise TypeError(f"tokens must be a real numeric array of shape (N, d); got dtype {T.dtype}")
    if T.ndim != 2 or T.shape[0] < 1 or T.shape[1] < 1:
        raise ValueError(f"tokens must have shape (N, d) with N, d >= 1; got shape {T.shape}")
    T = T.astype(np.float64)
    if not np.all(np.isfinite(T)):
        raise ValueError("tokens must be finite; got NaN or inf")
    diff = np.linalg.norm(T[:, None, :] - T[None, :, :], axis=-1) + np.eye(T.shape[0])
    if (diff <= TOKEN_MATCH_RTOL * max(1.0, float(np.abs(T).max()))).any():
        raise ValueError("tokens must be distinct vectors; got two equal rows")
    return T


def _text(text, N: int) -> tuple[int, ...]:
    if isinstance(text, (str, bytes)) or not isinstance(text, (Sequence, np.ndarray)):
        raise TypeError(f"text must be a sequence of token indices; got {type(text).__name__}")
    out = []
    for a in text:
        if isinstance(a, bool) or not isinstance(a, numbers.Integral):
            raise TypeError(f"text must contain token indices (integers); got {a!r}")
        if not 0 <= a < N:
            raise ValueError(f"text must contain token indices in [0, {N}); got {a}")
        out.append(int(a))
    if not out:
        raise ValueError("text must have at least one token; got an empty text")
    return tuple(out)


def _layers(layers) -> tuple[Layer, ...]:
    if isinstance(layers, (ChenLayer, ChenMultiHeadLayer)) or not isinstance(layers, Sequence):
        raise TypeError(f"layers must be a sequence of ChenLayer; got {type(layers).__name__}")
    if not layers:
        raise ValueError("layers must contain at least one block; got an empty sequence")
    for layer in layers:
        if not isinstance(layer, (ChenLayer, ChenMultiHeadLayer)):
            raise TypeError(f"layers must contain ChenLayer objects; got {type(layer).__name__}")
    return tuple(layers)


def _scale(scale: Any, d: int) -> float:
    """``scale``, or ``1/sqrt(d)`` for ``None``: a positive finite real number."""
    return 1.0 / math.sqrt(d) if scale is None else _validate.real_number(scale, "scale", positive=True)


def _tolerance(atol: Any) -> float:
    return _validate.real_number(atol, "atol", minimum=0.0)


def _real_matrix(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise TypeError(f"{name} must be a real numeric matrix; got dtype {arr.dtype}")
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValueError(f"{name} must be a non-empty 2-D matrix; got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite; got NaN or inf")
    return arr


def _kraus(kraus: Any) -> np.ndarray:
    K = np.asarray(kraus)
    if K.dtype == object or not np.issubdtype(K.dtype, np.number):
        raise TypeError(f"kraus must be a numeric array of shape (n_kraus, d_out, d_in); got dtype {K.dtype}")
    if K.ndim != 3 or 0 in K.shape:
        raise ValueError(f"kraus must have shape (n_kraus, d_out, d_in) with no empty axis; got shape {K.shape}")
    if not np.all(np.isfinite(K)):
        raise ValueError("kraus must be finite; got NaN or inf")
    return K


def _choi_size(d_in: int, d_out: int) -> None:
    if d_in * d_out > MAX_CHOI_SIDE:
        raise ValueError(f"d_in * d_out must be <= {MAX_CHOI_SIDE} for a dense Choi matrix; got {d_in} * {d_out}")
