r"""Classical attention baselines on QSA's tokens, scored with QSA's losses.

Every model here maps tokens ``X`` ``(S, T, d)`` (complex unit rows, the same tokens QSA sees) to
unnormalised predictions ``Z`` ``(S, T, d)``, causally: ``z_j`` depends on ``x_0..x_j`` only. A
prediction is scored exactly like QSA's (docs/method.md sections 2-3):

.. math::

    p_j = \frac{|\langle y_j|z_j\rangle|^2}{\|z_j\|^2},\qquad
    L_1 = -\frac1T\sum_j \log p_j,\qquad L_{1/2} = -2\log\Big(\frac1T\sum_j\sqrt{p_j}\Big),

so the scale of each ``z_j`` (and hence any normalisation of attention weights) is irrelevant.
``model.observables(X, Y)`` returns :class:`qsa.analytic.Observables`; only :class:`KCSA` fills
the circuit fields ``mu``, ``zeta``, ``nu``, ``F``, ``L_B``, ``L_A`` (it *is* QSA's closed form with
other unitaries); the others leave them ``None``, because ``F`` depends on the relative scale of
the ``z_j``, which only the overlap kernel fixes.

The models (``s_ji = <x_j|W|x_i>``, query ``j``, key ``i <= j``):

================================= ====================================================== ================
model                             prediction ``z_j``                                     real parameters
================================= ====================================================== ================
``KCSA``                          ``sum_i g(s_ji) V x_i``, ``g`` QSA's mono/poly kernel, ``2 d^2``
                                  ``W``, ``V`` free unitaries                            (+ ``T`` phases)
``SoftmaxAttention("isometric")`` ``sum_i softmax_i(beta Re s_ji) V x_i``, ``W`` free    ``3 d^2``
                                  complex, ``V`` free unitary, ``beta = sqrt(d)``
``SoftmaxAttention("general")``   as above with ``V`` a free complex matrix              ``4 d^2``
``LinearAttention``               ``sum_i w_ji V x_i / sum_i w_ji``,                     ``6 d^2``
                                  ``w_ji = <phi(W_Q x_j), phi(W_K x_i)>``,
                                  ``phi(u) = |u|^2`` elementwise
================================= ====================================================== ================

Choices, stated:

* **Free unitaries** (:class:`FreeUnitary`): ``U = exp(-iH)`` with ``H`` Hermitian built from a
  real ``(d, d)`` parameter (``d^2`` numbers, the dimension of ``U(d)``); unitary to rounding for
  every parameter value, never projected after a step. The principal logarithm sets ``H`` from a
  given unitary (:meth:`FreeUnitary.set_unitary`).
* **Softmax logits** are ``beta * Re <x_j|W|x_i>`` with ``beta = sqrt(d)`` (the poly kernel's
  default scale, of which softmax is the untruncated version ``exp(beta s)`` up to the phase):
  the real part because a logit must be real and ``Re`` keeps the linear dependence on ``W``
  (``|s|`` would discard the sign and phase structure). ``W`` is a free complex matrix, so the
  temperature is learned. Logits are invariant under a common global phase of a sequence's tokens.
* **Linear attention** (Katharopoulos et al. 2020, causal form) needs a non-negative feature map.
  Its ``elu(u) + 1`` acts on real vectors; on complex tokens (the real and imaginary parts of
  ``W_Q x``) it would make the weights depend on each sequence's arbitrary global phase, which is
  unphysical for quantum states. We use ``phi(u) = |u|^2`` elementwise instead: non-negative,
  phase-invariant, and the probabilities of measuring ``x`` in the learned (non-orthogonal)
  basis of ``W_Q``'s rows. The row sum ``sum_i w_ji`` normalises as in the original.

Parameters are float64 (complex matrices as real and imaginary parts); predictions complex128.
Initialisation draws from a ``seed`` (int or ``numpy.random.Generator``); no global RNG is used.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import scipy.linalg
import torch
from torch import nn

from qsa import _validate, analytic
from qsa.analytic import Observables

__all__ = [
    "VALUE_MAPS",
    "FreeUnitary",
    "FreeMatrix",
    "KCSA",
    "SoftmaxAttention",
    "LinearAttention",
    "prediction_observables",
    "probability_observables",
    "count_parameters",
]

VALUE_MAPS = ("isometric", "general")
PHASES = ("none", "aligned", "trained")


# --- free maps -------------------------------------------------------------------------------------


class FreeUnitary(nn.Module):
    r"""A trainable ``d x d`` unitary ``U = exp(-iH)`` from ``d^2`` real parameters ``h``.

    .. math::

        H_{ii} = h_{ii},\qquad H_{ij} = h_{ij} + i\,h_{ji},\quad H_{ji} = \overline{H_{ij}}\quad (i < j).

    ``h`` starts with independent standard normal entries, so ``U`` starts as ``exp(-iH)`` of a
    random Hermitian ``H`` whose eigenvalues spread over several times ``2 pi``: a well-spread
    random unitary.
    """

    def __init__(self, d: int, *, seed: int | np.random.Generator) -> None:
        super().__init__()
        self.d = _validate.integer(d, "d", minimum=1)
        rng = _validate.generator(seed)
        self.h = nn.Parameter(torch.from_numpy(rng.standard_normal((d, d))))  # (d, d)

    def hermitian(self) -> torch.Tensor:
        """``H`` ``(d, d)`` complex128, Hermitian by construction."""
        upper = torch.triu(self.h, 1)  # real parts above the diagonal
        lower = torch.tril(self.h, -1).transpose(0, 1)  # imaginary parts, moved above the diagonal
        A = torch.complex(upper, lower)  # strictly upper triangle of H
        return A + A.conj().transpose(0, 1) + torch.diag(torch.diagonal(self.h)).to(A.dtype)

    def forward(self) -> torch.Tensor:
        """``U = exp(-iH)`` ``(d, d)`` complex128."""
        return torch.linalg.matrix_exp(-1j * self.hermitian())

    @torch.no_grad()
    def set_unitary(self, U) -> None:
        """Set ``h`` so that ``exp(-iH) = U`` (to rounding): ``H = i log U``, the principal logarithm.

        ``U`` must be a ``(d, d)`` unitary (numpy or torch); it is diagonalised by a complex Schur
        decomposition (triangular factor diagonal for a normal matrix).
        """
        U = _validate.unitary(U, self.d, "U", torch.complex128).numpy()
        T, Q = scipy.linalg.schur(U, output="complex")
        H = Q @ np.diag(-np.angle(np.diag(T))) @ Q.conj().T  # exp(-iH) = Q diag(e^{i angle}) Q^dagger
        H = 0.5 * (H + H.conj().T)
        h = np.triu(H.real, 1) + np.triu(H.imag, 1).T + np.diag(np.diag(H.real))
        self.h.copy_(torch.from_numpy(h))

    def extra_repr(self) -> str:
        return f"d={self.d}"


class FreeMatrix(nn.Module):
    r"""A trainable complex ``(d_out, d_in)`` matrix, entries starting complex Gaussian with ``E|M_ij|^2 = 1/d_in``."""

    def __init__(self, d_out: int, d_in: int, *, seed: int | np.random.Generator) -> None:
        super().__init__()
        self.shape = (_validate.integer(d_out, "d_out", minimum=1), _validate.integer(d_in, "d_in", minimum=1))
        rng = _validate.generator(seed)
        std = 1.0 / math.sqrt(2 * d_in)
        self.re = nn.Parameter(torch.from_numpy(std * rng.standard_normal(self.shape)))  # (d_out, d_in)
        self.im = nn.Parameter(torch.from_numpy(std * rng.standard_normal(self.shape)))  # (d_out, d_in)

    def forward(self) -> torch.Tensor:
        """The matrix ``(d_out, d_in)`` complex128."""
        return torch.complex(self.re, self.im)

    def extra_repr(self) -> str:
        return f"d_out={self.shape[0]}, d_in={self.shape[1]}"


# --- scoring ---------------------------------------------------------------------------------------


def prediction_observables(Z: torch.Tensor, Y: torch.Tensor) -> Observables:
    r"""The losses of predictions ``Z`` against targets ``Y`` ``(..., T, d)``: ``p``, ``L_1``, ``L_half``.

    The circuit fields (``mu`` .. ``L_A``) are ``None``: they are defined by QSA's kernel.
    """
    return probability_observables(analytic.step_probabilities(Z, Y))


def probability_observables(p: torch.Tensor) -> Observables:
    r"""The losses ``L_1``, ``L_half`` of step probabilities ``p`` ``(..., T)``, with ``p`` itself.

    The circuit fields (``mu`` .. ``L_A``) are ``None``: they are defined by QSA's kernel.
    """
    return Observables(
        mu=None,
        zeta=None,
        nu=None,
        F=None,
        L_B=None,
        L_A=None,
        L_half=analytic.loss_L_half(p),
        L_1=analytic.loss_L1(p),
        p=p,
    )


def count_parameters(module: nn.Module) -> int:
    """The number of trainable real parameters of ``module`` (entries of every parameter with ``requires_grad``)."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _pair(X, Y, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    X = _validate.model_tokens(X, d)
    Y = _validate.tokens(Y, "Y")
    if Y.shape != X.shape or Y.dtype != X.dtype:
        raise ValueError(
            f"Y must have the shape and dtype of X {tuple(X.shape)}, {X.dtype}; got {tuple(Y.shape)}, {Y.dtype}"
        )
    return X, Y


def _causal(T: int, device: torch.device | None = None) -> torch.Tensor:
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()  # (T, T): key i <= query j


# --- the models ------------------------------------------------------------------------------------


class KCSA(nn.Module):
    r"""Classical kernel self-attention: QSA's closed forms with free unitaries ``W``, ``V``.

    ``z_j = sum_{i<=j} g(s_ji) V x_i`` with QSA's kernel ``g`` (mono ``s^k`` or poly, docs/method.md
    section 2), scored by :func:`qsa.observables`; only the parametrisation of ``W`` and ``V``
    differs from QSA (a :class:`FreeUnitary` each instead of the hardware-efficient ansatz). With
    ``W``, ``V`` set to QSA's ansatz unitaries it gives QSA's observables.

    Args:
        d: token width.
        T: steps (used only by ``phases="trained"``).
        k, kernel, beta: QSA's kernel options.
        phases: ``"none"``, ``"aligned"`` (``-arg A_j``, no gradient through them, as in
            :class:`qsa.model.QSAModel`) or ``"trained"`` (parameters ``phi`` ``(T,)``); they
            enter ``mu``, ``F``, ``L_B`` only.
        seed: int or generator; split into the streams of ``W`` and ``V``.
    """

    def __init__(
        self,
        d: int,
        T: int = 1,
        *,
        k: int = 1,
        kernel: Literal["mono", "poly"] = "mono",
        beta: float | None = None,
        phases: str = "aligned",
        seed: int | np.random.Generator,
    ) -> None:
        super().__init__()
        self.d = _validate.integer(d, "d", minimum=1)
        self.T = _validate.integer(T, "T", minimum=1)
        _validate.kernel_options(k, kernel, beta)
        self.k, self.kernel, self.beta = int(k), kernel, beta
        self.phases = _validate.one_of(phases, "phases", PHASES)
        rng_W, rng_V = _validate.generator(seed).spawn(2)
        self.W, self.V = FreeUnitary(d, seed=rng_W), FreeUnitary(d, seed=rng_V)
        self.phi = nn.Parameter(torch.zeros(T, dtype=torch.float64)) if phases == "trained" else None  # (T,)

    def unitaries(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(W, V)``, each ``(d, d)``."""
        return self.W(), self.V()

    def _beta(self) -> float:
        return analytic.resolve_beta(self.beta, self.d)

    def forward(self, X) -> torch.Tensor:
        """Predictions ``Z`` ``(..., T, d)``."""
        X = _validate.model_tokens(X, self.d)
        W, V = self.unitaries()
        return analytic.predictions(X, W, V, k=self.k, kernel=self.kernel, beta=self._beta())  # (..., T, d)

    def observables(self, X, Y) -> Observables:
        """Every QSA observable (``mu`` .. ``L_1``, ``p``) of tokens ``X`` and targets ``Y`` ``(..., T, d)``."""
        X, Y = _pair(X, Y, self.d)
        W, V = self.unitaries()
        if self.phases == "trained":
            if X.shape[-2] != self.T:
                raise ValueError(
                    f"X must have T = {self.T} steps (the trained phases have one per step); got {X.shape[-2]}"
                )
            phi = self.phi  # (T,)
        elif self.phases == "aligned":
            with torch.no_grad():  # the maximiser of mu: its gradient there vanishes (qsa.model)
                phi = analytic.aligned_phases(
                    analytic.branch_amplitudes(X, Y, W, V, k=self.k, kernel=self.kernel, beta=self._beta())
                )  # (..., T)
        else:
            phi = None
        return analytic.observables(X, Y, W, V, k=self.k, kernel=self.kernel, beta=self.beta, phases=phi)

    def extra_repr(self) -> str:
        return f"d={self.d}, k={self.k}, kernel={self.kernel!r}, phases={self.phases!r}"


class SoftmaxAttention(nn.Module):
    r"""Causal softmax attention: ``z_j = sum_{i<=j} softmax_i(beta Re <x_j|W|x_i>) V x_i``.

    Args:
        d: token width.
        value: ``"isometric"`` (``V`` a :class:`FreeUnitary`) or ``"general"`` (``V`` a free
            complex matrix).
        seed: int or generator; split into the streams of ``W`` and ``V``.

    ``W`` is a free complex ``(d, d)`` matrix (``W = W_Q^dagger W_K`` at full rank) and
    ``beta = sqrt(d)``.
    """

    def __init__(
        self, d: int, *, value: Literal["isometric", "general"] = "isometric", seed: int | np.random.Generator
    ) -> None:
        super().__init__()
        self.d = _validate.integer(d, "d", minimum=1)
        self.value = _validate.one_of(value, "value", VALUE_MAPS)
        self.beta = math.sqrt(d)
        rng_W, rng_V = _validate.generator(seed).spawn(2)
        self.W = FreeMatrix(d, d, seed=rng_W)
        self.V = FreeUnitary(d, seed=rng_V) if value == "isometric" else FreeMatrix(d, d, seed=rng_V)

    def weights(self, X: torch.Tensor) -> torch.Tensor:
        """Attention weights ``(..., T, T)``: row ``j`` a distribution over keys ``i <= j``."""
        logits = self.beta * analytic.scores(X, self.W()).real  # (..., T, T)
        logits = logits.masked_fill(~_causal(X.shape[-2], X.device), float("-inf"))
        return torch.softmax(logits, dim=-1)  # (..., T, T)

    def forward(self, X) -> torch.Tensor:
        """Predictions ``Z`` ``(..., T, d)``."""
        X = _validate.model_tokens(X, self.d)
        A = self.weights(X).to(X.dtype)  # (..., T, T)
        return A @ (X @ self.V().transpose(-1, -2))  # (..., T, d)

    def observables(self, X, Y) -> Observables:
        """``p``, ``L_1``, ``L_half`` (circuit fields ``None``)."""
        X, Y = _pair(X, Y, self.d)
        return prediction_observables(self(X), Y)

    def extra_repr(self) -> str:
        return f"d={self.d}, value={self.value!r}, beta={self.beta:.4g}"


class LinearAttention(nn.Module):
    r"""Causal linear attention with the phase-invariant feature map ``phi(u) = |u|^2``.

    .. math::

        w_{ji} = \sum_m |(W_Q x_j)_m|^2\,|(W_K x_i)_m|^2,\qquad
        z_j = \frac{\sum_{i\le j} w_{ji}\, V x_i}{\sum_{i\le j} w_{ji}} .

    ``W_Q``, ``W_K`` (``(d_k, d)``) and ``V`` (``(d, d)``) are free complex matrices.

    Args:
        d: token width; d_k: feature width (``None``: ``d``).
        seed: int or generator; split into the streams of ``W_Q``, ``W_K``, ``V``.
    """

    def __init__(self, d: int, *, d_k: int | None = None, seed: int | np.random.Generator) -> None:
        super().__init__()
        self.d = _validate.integer(d, "d", minimum=1)
        self.d_k = d if d_k is None else _validate.integer(d_k, "d_k", minimum=1)
        rng_Q, rng_K, rng_V = _validate.generator(seed).spawn(3)
        self.W_Q, self.W_K = FreeMatrix(self.d_k, d, seed=rng_Q), FreeMatrix(self.d_k, d, seed=rng_K)
        self.V = FreeMatrix(d, d, seed=rng_V)

    @staticmethod
    def features(u: torch.Tensor) -> torch.Tensor:
        """``phi(u) = |u|^2`` elementwise (real, non-negative)."""
        return u.real**2 + u.imag**2

    def weights(self, X: torch.Tensor) -> torch.Tensor:
        """Unnormalised causal weights ``w_ji`` ``(..., T, T)``, zero above the diagonal."""
        fq = self.features(X @ self.W_Q().transpose(-1, -2))  # (..., T, d_k)
        fk = self.features(X @ self.W_K().transpose(-1, -2))  # (..., T, d_k)
        w = fq @ fk.transpose(-1, -2)  # (..., T, T)
        return w.masked_fill(~_causal(X.shape[-2], X.device), 0.0)

    def forward(self, X) -> torch.Tensor:
        """Predictions ``Z`` ``(..., T, d)``."""
        X = _validate.model_tokens(X, self.d)
        w = self.weights(X)  # (..., T, T)
        Z = w.to(X.dtype) @ (X @ self.V().transpose(-1, -2))  # (..., T, d)
        return Z / w.sum(-1, keepdim=True)  # (..., T, d)

    def observables(self, X, Y) -> Observables:
        """``p``, ``L_1``, ``L_half`` (circuit fields ``None``)."""
        X, Y = _pair(X, Y, self.d)
        return prediction_observables(self(X), Y)

    def extra_repr(self) -> str:
        return f"d={self.d}, d_k={self.d_k}, feature='|u|^2'"
