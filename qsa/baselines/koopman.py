r"""Dissipative Koopman + linear-attention ("measurement") sequence model and its Hamiltonian ablation.

X. Wang, *Path Integral Solution for Dissipative Generative Dynamics* (arXiv:2601.00860). The paper's
formulas were lost in the OCR copy we hold; what is implemented below is reconstructed from its text,
and each reconstruction is stated where it is made.

**Koopman generator (Sec. II.1, Eq. (1)).** A learnable generator :math:`G\in\mathbb C^{d\times d}`
splits uniquely as

.. math:: G = -iH + \Gamma,\qquad H = \tfrac{i}{2}(G - G^\dagger),\quad \Gamma = \tfrac12(G + G^\dagger),

:math:`H` Hermitian (oscillation) and :math:`\Gamma` Hermitian (dissipation: growth/decay). The
Koopman propagator over one step (:math:`\Delta t = 1`, Sec. IX.4) is :math:`K = e^{G}`, with
eigenvalues :math:`\lambda_k = e^{\mu_k}`, :math:`\mu_k` those of :math:`G`, and
:math:`|\lambda_k| = e^{\operatorname{Re}\mu_k}` (:math:`= e^{\gamma_k}` when :math:`[H,\Gamma]=0`).

**Mode classification (Sec. II.2).** :math:`|\lambda|<1` decay, :math:`|\lambda|=1` neutral,
:math:`|\lambda|>1` growth; numerically with a tolerance, see :func:`spectral_split`.

**Measurement target by linear attention (Sec. VI, Eqs. (34), (36)).** With :math:`q_t=W_Qh_t`,
:math:`k_s=W_Kh_s`, :math:`v_s=W_Vh_s` and the element-wise affine feature map
:math:`\phi(u)=1+u` (Eq. (36): "affine", replacing the :math:`\mathrm{elu}(u)+1` of Katharopoulos et
al.; we take the affine map that agrees with :math:`\mathrm{elu}+1` for positive arguments), the
context-aggregated target uses *unnormalised* causal weights (Eq. (34)):

.. math:: m_t = \sum_{s\le t} \langle\phi(q_t), \phi(k_s)\rangle\, v_s .

For complex states the weight is the Hermitian inner product
:math:`\langle a,b\rangle=\sum_i \bar a_i b_i` (the library's convention, ``analytic.scores``); on
real data it is the paper's :math:`\phi(q_t)^\top\phi(k_s)`.

**Per-layer update (Eq. (60), Stage III; Eq. (10)).** Each layer evolves every position with its
Koopman operator and adds the measurement (attention) term with a learnable strength
:math:`\alpha_\ell` (Sec. XI.5: :math:`\alpha_\ell=0` is pure Koopman evolution, large
:math:`\alpha_\ell` attention-dominated):

.. math:: h^{(\ell+1)}_t = K_\ell\, h^{(\ell)}_t + \alpha_\ell\, m^{(\ell)}_t ,
    \qquad h^{(0)} = X,\quad Z = h^{(L)} .

This is Eq. (10)'s "effective operator" :math:`K_\ell + \alpha_\ell A_\ell` acting on the state,
and the attention term is the pull toward the target :math:`m` of Sec. IV.3 (the measurement action
Eq. (12) penalises the deviation :math:`h-m`, Eq. (35)). The paper's bias and normalisation layers
are not part of Eq. (60) and are left out; the model is linear in the state except for the
bilinear attention weights, as the paper requires for its closed-form propagators (Sec. X).

**Koopman without attention (Stage II, Sec. XI.4).** ``attention=False``: the mixing layer is
replaced by the learnable Koopman operator alone, :math:`h^{(\ell+1)}_t = K_\ell h^{(\ell)}_t`,
with no attention matrices and no :math:`\alpha` (each position evolves on its own: the prediction
at ``t`` reads ``x_t`` only).

**Monitoring (Sec. IV.4, XI.5).** :meth:`KoopmanAttention.monitor` reports the learned strengths
:math:`\alpha_\ell` (the paper's Fig. 1 follows them over training), the spectral radius
:math:`\max_k|\lambda_k(K_\ell)|` of every layer, and the norm of the final hidden state
:math:`\|h^{(L)}_t\|` over a batch (mean and maximum; the paper reports mean 1.02, standard
deviation 0.08 at its scale). The library's losses ignore the scale of a prediction, so these norms
are free to drift; without the paper's normalisation layers nothing pins them.

**Hamiltonian ablation (Stage IV, Sec. VIII.4).** :math:`\Gamma = 0`: the generator is the
anti-Hermitian part of the same free parameter, :math:`G = (A - A^\dagger)/2 = -iH`, so
:math:`K = e^{-iH}` is unitary (to rounding) and differentiable in :math:`A`
(``KoopmanConfig(dynamics="unitary")``). The dissipative dynamics use :math:`G = A`.

Predictions ``Z`` (S, T, d) are scored like every model in the library:
``qsa.analytic.step_probabilities(Z, Y)`` then ``loss_L1`` / ``loss_L_half``; the scale of
``z_t`` is irrelevant to them.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from dataclasses import InitVar, dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch

from qsa import _validate
from qsa.analytic import loss_L1, loss_L_half, step_probabilities

__all__ = [
    "KoopmanConfig",
    "KoopmanAttention",
    "SpectralSplit",
    "Scores",
    "TrainResult",
    "generator_parts",
    "linear_attention_target",
    "spectral_split",
    "plot_spectrum",
    "evaluate",
    "train_koopman",
]

logger = logging.getLogger(__name__)

Dynamics = Literal["dissipative", "unitary"]
Objective = Literal["L1", "L_half"]
DYNAMICS = ("dissipative", "unitary")
OBJECTIVES = ("L1", "L_half")


@dataclass(frozen=True)
class KoopmanConfig:
    """Shape and initialisation of a :class:`KoopmanAttention` model.

    Attributes:
        d: token width.
        n_layers: number of Eq. (60) layers ``L``.
        d_k: query/key width; ``None`` means ``d``.
        dynamics: ``"dissipative"`` (free generator) or ``"unitary"`` (Hamiltonian ablation).
        alpha_init: initial measurement strength of every layer.
        attention: ``False`` drops the attention term (Stage II: Koopman operators alone).
        init_scale: standard deviation of the entries of the initial generator parameter ``A``
            (``K = e^G`` starts near the identity) and, divided by ``sqrt(d)``, of the attention
            matrices' entries.

    ``variant=`` is the former name of ``dynamics`` (in this library "variant" means the circuit
    variants mu, zeta, nu, P0): still accepted as a keyword, with a ``DeprecationWarning``; so is
    reading ``config.variant``.

    Raises:
        TypeError, ValueError: a field of the wrong type or out of range ("X must be ...; got ...");
            ``variant`` and ``dynamics`` both given and different.
    """

    d: int
    n_layers: int = 1
    d_k: int | None = None
    dynamics: Dynamics = "dissipative"
    alpha_init: float = 0.01
    init_scale: float = 0.1
    attention: bool = True
    variant: InitVar[str | None] = None

    def __post_init__(self, variant: str | None) -> None:
        _validate.integer(self.d, "d", minimum=1)
        _validate.integer(self.n_layers, "n_layers", minimum=1)
        if self.d_k is not None:
            _validate.integer(self.d_k, "d_k", minimum=1)
        if variant is not None:
            warnings.warn(
                "KoopmanConfig(variant=...) is deprecated: use dynamics= (the same values)",
                DeprecationWarning,
                stacklevel=3,
            )
            if self.dynamics != "dissipative" and self.dynamics != variant:
                raise ValueError(f"variant (deprecated) must equal dynamics when both are given; got {variant!r}")
            _validate.one_of(variant, "variant", DYNAMICS)
            object.__setattr__(self, "dynamics", variant)
        _validate.one_of(self.dynamics, "dynamics", DYNAMICS)
        _validate.real_number(self.alpha_init, "alpha_init")
        _validate.boolean(self.attention, "attention")
        _validate.real_number(self.init_scale, "init_scale", minimum=0.0)

    @property
    def key_width(self) -> int:
        """``d_k``, defaulting to ``d``."""
        return self.d if self.d_k is None else self.d_k


class Scores(NamedTuple):
    """Losses of predictions against targets, averaged over sequences (``qsa.analytic`` losses)."""

    L_1: float
    L_half: float


class SpectralSplit(NamedTuple):
    r"""Eigenvalues of a Koopman operator split by magnitude (Sec. II.2) and its energy budget (Sec. III.3).

    Attributes:
        eigenvalues: all eigenvalues, sorted by magnitude.
        decay: those with :math:`|\lambda| < 1 - \mathrm{tol}`.
        neutral: those with :math:`1-\mathrm{tol} \le |\lambda| \le 1 + \mathrm{tol}`.
        growth: those with :math:`|\lambda| > 1 + \mathrm{tol}`.
        total_decay: :math:`\sum_{\text{decay}} |\log|\lambda_k||`, the summed decay rates
            :math:`|\gamma_k|` with :math:`|\lambda_k| = e^{\gamma_k}` (Sec. II.1).
        total_growth: :math:`\sum_{\text{growth}} \log|\lambda_k|`.
        net_rate: :math:`\sum_k \log|\lambda_k| = \log|\det K|`; negative means net dissipative
            (Sec. III.3: total decay exceeds total growth).
        tol: the tolerance used.
    """

    eigenvalues: np.ndarray
    decay: np.ndarray
    neutral: np.ndarray
    growth: np.ndarray
    total_decay: float
    total_growth: float
    net_rate: float
    tol: float


class TrainResult(NamedTuple):
    """Outcome of :func:`train_koopman`.

    Attributes:
        model: the trained model.
        history: training objective before each Adam step (length ``n_steps``).
        final: losses after the last step.
    """

    model: KoopmanAttention
    history: list[float]
    final: Scores


def generator_parts(G) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Eq. (1): the Hermitian parts of :math:`G=-iH+\Gamma`, returned as ``(H, Gamma)``.

    :math:`H = \tfrac{i}{2}(G-G^\dagger)` and :math:`\Gamma = \tfrac12(G+G^\dagger)`; ``G`` is a
    ``(..., d, d)`` tensor or array.
    """
    G = torch.as_tensor(G)
    if G.ndim < 2 or G.shape[-1] != G.shape[-2]:
        raise ValueError(f"G must be a square matrix (..., d, d); got shape {tuple(G.shape)}")
    G = G.to(torch.complex128) if not G.is_complex() else G
    Gh = G.conj().transpose(-1, -2)
    return 0.5j * (G - Gh), 0.5 * (G + Gh)


def linear_attention_target(h: torch.Tensor, W_Q: torch.Tensor, W_K: torch.Tensor, W_V: torch.Tensor) -> torch.Tensor:
    r"""Eqs. (34), (36): :math:`m_t=\sum_{s\le t}\langle\phi(W_Qh_t),\phi(W_Kh_s)\rangle W_Vh_s`, :math:`\phi(u)=1+u`.

    Args:
        h: states ``(..., T, d)``.
        W_Q, W_K: ``(d_k, d)``; W_V: ``(d, d)``.

    Returns:
        Targets ``(..., T, d)``.
    """
    T = h.shape[-2]
    fq = 1 + h @ W_Q.transpose(-1, -2)  # (..., T, d_k)
    fk = 1 + h @ W_K.transpose(-1, -2)  # (..., T, d_k)
    v = h @ W_V.transpose(-1, -2)  # (..., T, d)
    w = fq.conj() @ fk.transpose(-1, -2)  # (..., T, T): w[t, s] = <phi(q_t), phi(k_s)>
    causal = torch.ones(T, T, dtype=torch.bool, device=h.device).tril()
    w = torch.where(causal, w, torch.zeros((), dtype=w.dtype, device=h.device))
    return w @ v  # (..., T, d)


class KoopmanAttention(torch.nn.Module):
    r"""The Eq. (60) stack: :math:`h^{(\ell+1)} = K_\ell h^{(\ell)} + \alpha_\ell\, m^{(\ell)}`, ``L`` layers.

    Parameters (float64; complex matrices kept as real and imaginary parts): the generator
    parameter ``A`` ``(L, d, d)``, attention matrices ``W_Q``, ``W_K`` ``(L, d_k, d)`` and ``W_V``
    ``(L, d, d)``, and strengths ``alpha`` ``(L,)`` (the last four absent with ``attention=False``). Initialisation is drawn from a
    ``torch.Generator`` seeded with ``seed``; the global RNG is not touched.
    """

    def __init__(self, config: KoopmanConfig, *, seed: int):
        super().__init__()
        if not isinstance(config, KoopmanConfig):
            raise TypeError(f"config must be a KoopmanConfig; got {type(config).__name__}")
        seed = _validate.integer(seed, "seed", minimum=0)
        self.config = config
        L, d, dk = config.n_layers, config.d, config.key_width
        g = torch.Generator(device="cpu").manual_seed(seed)

        def normal(*shape: int, std: float) -> torch.nn.Parameter:
            return torch.nn.Parameter(std * torch.randn(*shape, generator=g, dtype=torch.float64))

        s = config.init_scale
        self.A_re, self.A_im = normal(L, d, d, std=s), normal(L, d, d, std=s)
        if not config.attention:
            return
        self.WQ_re, self.WQ_im = normal(L, dk, d, std=s / math.sqrt(d)), normal(L, dk, d, std=s / math.sqrt(d))
        self.WK_re, self.WK_im = normal(L, dk, d, std=s / math.sqrt(d)), normal(L, dk, d, std=s / math.sqrt(d))
        self.WV_re, self.WV_im = normal(L, d, d, std=s / math.sqrt(d)), normal(L, d, d, std=s / math.sqrt(d))
        self.alpha = torch.nn.Parameter(torch.full((L,), float(config.alpha_init), dtype=torch.float64))

    def generator(self) -> torch.Tensor:
        """``G`` per layer, ``(L, d, d)`` complex128: ``A`` (dissipative) or ``(A - A^dagger)/2`` (unitary)."""
        A = torch.complex(self.A_re, self.A_im)
        if self.config.dynamics == "unitary":
            return 0.5 * (A - A.conj().transpose(-1, -2))
        return A

    def koopman(self) -> torch.Tensor:
        """Koopman propagators ``K = exp(G)`` per layer, ``(L, d, d)`` complex128."""
        return torch.linalg.matrix_exp(self.generator())

    def attention_matrices(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(W_Q, W_K, W_V)``, shapes ``(L, d_k, d)``, ``(L, d_k, d)``, ``(L, d, d)``, complex128."""
        if not self.config.attention:
            raise ValueError("the model must have attention (KoopmanConfig(attention=True)) for attention matrices")
        return (
            torch.complex(self.WQ_re, self.WQ_im),
            torch.complex(self.WK_re, self.WK_im),
            torch.complex(self.WV_re, self.WV_im),
        )

    def hidden_states(self, X) -> list[torch.Tensor]:
        """``[h^(0), ..., h^(L)]``, each of the shape of ``X`` (``h^(0) = X``, ``h^(L)`` the prediction)."""
        h = _validate.model_tokens(X, self.config.d)
        K = self.koopman()  # (L, d, d)
        states = [h]
        if self.config.attention:
            W_Q, W_K, W_V = self.attention_matrices()
        for ell in range(self.config.n_layers):
            if self.config.attention:
                m = linear_attention_target(h, W_Q[ell], W_K[ell], W_V[ell])  # (..., T, d)
                h = h @ K[ell].transpose(-1, -2) + self.alpha[ell] * m  # Eq. (60), (..., T, d)
            else:
                h = h @ K[ell].transpose(-1, -2)  # Stage II: the Koopman operator alone
            states.append(h)
        return states

    def forward(self, X) -> torch.Tensor:
        """Predictions ``Z`` of the shape of ``X`` (``(T, d)`` or ``(S, T, d)``, complex128, unit rows)."""
        return self.hidden_states(X)[-1]

    @torch.no_grad()
    def monitor(self, X) -> dict[str, float | list[float]]:
        r"""What the paper monitors, for tokens ``X``: ``alpha`` per layer (with attention),
        ``spectral_radius`` per layer (:math:`\max|\lambda(K_\ell)|`), and the norm of the final
        hidden state over every sequence and step, ``hidden_norm_mean`` and ``hidden_norm_max``."""
        norms = torch.linalg.vector_norm(self(X), dim=-1)  # (..., T)
        out: dict[str, float | list[float]] = {}
        if self.config.attention:
            out["alpha"] = [float(a) for a in self.alpha]
        out["spectral_radius"] = [float(r) for r in torch.linalg.eigvals(self.koopman()).abs().amax(-1)]
        out["hidden_norm_mean"] = float(norms.mean())
        out["hidden_norm_max"] = float(norms.max())
        return out


def evaluate(model: KoopmanAttention, X, Y) -> Scores:
    """Shannon and Renyi-1/2 cross-entropies of ``model(X)`` against ``Y``, averaged over sequences."""
    X, Y = _pair(X, Y, model)
    with torch.no_grad():
        p = step_probabilities(model(X), Y)  # (..., T)
        return Scores(L_1=float(loss_L1(p).mean()), L_half=float(loss_L_half(p).mean()))


def train_koopman(
    X,
    Y,
    config: KoopmanConfig,
    *,
    seed: int,
    n_steps: int = 200,
    lr: float = 0.02,
    objective: Objective = "L1",
) -> TrainResult:
    r"""Train a fresh model by full-batch Adam on ``loss_L1`` (or ``loss_L_half``) of ``step_probabilities``.

    The objective is the mean over sequences of ``loss(step_probabilities(model(X), Y))``.

    Deterministic: the only randomness is the initialisation, drawn from ``seed``; the same
    arguments give the same history.

    Args:
        X: tokens ``(S, T, d)`` or ``(T, d)``, complex128 with unit rows.
        Y: targets, same shape.
        config: model configuration (``config.d`` must equal ``d``).
        seed: initialisation seed.
        n_steps: number of Adam steps, ``>= 1``.
        lr: Adam learning rate, positive.
        objective: ``"L1"`` (Shannon) or ``"L_half"`` (Renyi-1/2).

    Returns:
        :class:`TrainResult` with the per-step objective history.
    """
    if not isinstance(config, KoopmanConfig):
        raise TypeError(f"config must be a KoopmanConfig; got {type(config).__name__}")
    n_steps = _validate.integer(n_steps, "n_steps", minimum=1)
    _validate.real_number(lr, "lr", positive=True)
    if not isinstance(objective, str) or objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}; got {objective!r}")
    model = KoopmanAttention(config, seed=seed)
    X, Y = _pair(X, Y, model)
    loss_fn = loss_L1 if objective == "L1" else loss_L_half
    opt = torch.optim.Adam(model.parameters(), lr=float(lr))
    history: list[float] = []
    for step in range(n_steps):
        opt.zero_grad()
        loss = loss_fn(step_probabilities(model(X), Y)).mean()
        loss.backward()
        opt.step()
        history.append(loss.item())
        if step % 50 == 0:
            logger.debug("step %d: %s = %.6f", step, objective, history[-1])
    final = evaluate(model, X, Y)
    logger.info("trained %s Koopman model: L_1 = %.4f, L_half = %.4f", config.dynamics, *final)
    return TrainResult(model=model, history=history, final=final)


def spectral_split(K, *, tol: float = 1e-6, relative: bool = False) -> SpectralSplit:
    r"""Split the eigenvalues of a Koopman operator into decay, neutral and growth modes (Sec. II.2).

    Args:
        K: a square matrix ``(d, d)`` (numpy or torch).
        tol: width of the neutral band around the unit circle, ``>= 0``.
        relative: divide ``K`` by :math:`|\det K|^{1/d}` first, so that ``net_rate`` is 0 and
            only the spread of the moduli is classified. The library's losses depend on the
            direction of each prediction only, so for a one-layer model ``(K, alpha)`` and
            ``(cK, c alpha)`` predict identically: the overall modulus of a learned ``K`` is not
            identifiable from the loss, only the ratios :math:`|\lambda_i|/|\lambda_j|` are.

    Returns:
        :class:`SpectralSplit`. A zero eigenvalue counts as decay with rate ``inf`` (and
        ``relative`` is then refused).
    """
    if isinstance(K, torch.Tensor):
        K = K.detach().cpu().numpy()
    K = np.asarray(K)
    if K.dtype == object or not np.issubdtype(K.dtype, np.number):
        raise TypeError(f"K must be a numeric matrix; got dtype {K.dtype}")
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] == 0:
        raise ValueError(f"K must be a non-empty square matrix (d, d); got shape {K.shape}")
    if not np.all(np.isfinite(K)):
        raise ValueError("K must be finite; got NaN or inf")
    tol = _validate.real_number(tol, "tol", minimum=0.0)
    if not isinstance(relative, bool):
        raise TypeError(f"relative must be a bool; got {relative!r}")
    lam = np.linalg.eigvals(K.astype(np.complex128))
    if relative:
        if np.any(lam == 0):
            raise ValueError("K must be invertible for relative=True; got a zero eigenvalue")
        lam = lam / np.exp(np.mean(np.log(np.abs(lam))))  # divide by |det K|^(1/d)
    lam = lam[np.argsort(np.abs(lam), kind="stable")]
    r = np.abs(lam)
    with np.errstate(divide="ignore"):
        rate = np.log(r)  # gamma_k, -inf for a zero eigenvalue
    decay, growth = r < 1 - tol, r > 1 + tol
    return SpectralSplit(
        eigenvalues=lam,
        decay=lam[decay],
        neutral=lam[~decay & ~growth],
        growth=lam[growth],
        total_decay=float(-rate[decay].sum()),
        total_growth=float(rate[growth].sum()),
        net_rate=float(rate.sum()),
        tol=tol,
    )


def plot_spectrum(spectrum, path: str | os.PathLike, *, tol: float = 1e-6, title: str | None = None) -> Path:
    """Draw eigenvalues against the unit circle to a PNG (matplotlib's Agg canvas, no pyplot state).

    Args:
        spectrum: a :class:`SpectralSplit` or a square operator (split with ``tol``).
        path: output file; its folder must exist.
        tol: neutral-band width when ``spectrum`` is an operator.
        title: figure title.

    Returns:
        The path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    split = spectrum if isinstance(spectrum, SpectralSplit) else spectral_split(spectrum, tol=tol)
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"path must be in an existing folder; got {str(path)!r}")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string or None; got {title!r}")
    fig = Figure(figsize=(4.5, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    theta = np.linspace(0, 2 * np.pi, 512)
    ax.plot(np.cos(theta), np.sin(theta), color="0.3", lw=1, label="|λ| = 1")
    for name, values, color in (
        ("decay", split.decay, "tab:blue"),
        ("neutral", split.neutral, "tab:green"),
        ("growth", split.growth, "tab:red"),
    ):
        ax.scatter(values.real, values.imag, s=28, color=color, label=f"{name} ({len(values)})", zorder=3)
    lim = max(1.1, 1.1 * float(np.abs(split.eigenvalues).max()))
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.axhline(0, color="0.85", lw=0.5, zorder=0)
    ax.axvline(0, color="0.85", lw=0.5, zorder=0)
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")
    ax.set_title(title if title is not None else f"Koopman spectrum (net rate {split.net_rate:+.3f})")
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120)
    return path


def _pair(X: Any, Y: Any, model: KoopmanAttention) -> tuple[torch.Tensor, torch.Tensor]:
    d = model.config.d
    X, Y = _validate.model_tokens(X, d, "X"), _validate.model_tokens(Y, d, "Y")
    if X.shape != Y.shape:
        raise ValueError(f"Y must have the shape of X {tuple(X.shape)}; got {tuple(Y.shape)}")
    return X, Y


def _deprecated_variant(self: KoopmanConfig) -> str:
    """Deprecated: ``dynamics`` (read with a ``DeprecationWarning``)."""
    warnings.warn("KoopmanConfig.variant is deprecated: read .dynamics", DeprecationWarning, stacklevel=2)
    return self.dynamics


KoopmanConfig.variant = property(_deprecated_variant)  # type: ignore[attr-defined]  # replaces the InitVar's default
#: Deprecated name of :data:`DYNAMICS`.
VARIANTS = DYNAMICS
