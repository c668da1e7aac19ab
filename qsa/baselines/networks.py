r"""Classical sequence networks on QSA's tokens: a causal transformer and a causal FNet.

The dissipative Koopman paper (X. Wang, *Path Integral Solution for Dissipative Generative
Dynamics*, arXiv:2601.00860, Sec. XI-XII, Table 2) compares its Koopman stages with a *baseline
transformer* (heads and feed-forward layers) and a *causal FNet* (Stage I: FNet with causal
Fourier mixing). Both are built here at the scale of the library's tasks.

**Tokens.** A complex token :math:`x\in\mathbb C^d` enters as its real coordinates
:math:`(\operatorname{Re}x, \operatorname{Im}x)\in\mathbb R^{2d}` (text tokens are real: the second
half is zero), a linear layer maps them to the model width ``w``, causal blocks follow, and a last
linear layer maps back to :math:`\mathbb R^{2d}`, read as the prediction
:math:`z = u_{:d} + i\,u_{d:}\in\mathbb C^d`. Predictions are scored like every model of the
library, :math:`p_j = |\langle y_j|z_j\rangle|^2/\|z_j\|^2` (``qsa.analytic.step_probabilities``).

**Transformer** (:class:`CausalTransformer`): ``layers`` pre-LayerNorm blocks
(``torch.nn.TransformerEncoderLayer`` with ``norm_first=True``, GELU, no dropout): causal
multi-head self-attention with ``heads`` heads, then a feed-forward layer of width ``ffn_width``,
each in a residual branch; a final LayerNorm before the output layer (GPT-2's layout).

**Causal FNet** (:class:`CausalFNet`; Lee-Thorp et al., *FNet: Mixing tokens with Fourier
transforms*, 2022): FNet's post-LayerNorm blocks :math:`h \leftarrow \mathrm{LN}(h + \mathrm{mix}(h))`,
:math:`h \leftarrow \mathrm{LN}(h + \mathrm{FFN}(h))` with the parameter-free mixing
:math:`\mathrm{mix}(h) = \operatorname{Re}(F_T\, h\, F_w)` (DFT along the sequence and along the
width). FNet's sequence DFT mixes every position with every other; the causal version masks the
sequence DFT matrix to its lower triangle, :math:`(F_T)_{ts} = e^{-2\pi i\,ts/T}/\sqrt T` for
:math:`s\le t` and 0 otherwise, so position ``t`` mixes positions ``s <= t`` only. The Koopman paper
names "causal Fourier mixing" without formulas; this masking is our construction. ``T`` is the
model's sequence length (fixed at construction), so the prediction at ``t`` does not depend on how
many positions follow it: a shorter input uses the top-left block of :math:`F_T`.

Initialisation: weight matrices Xavier-uniform, biases 0, LayerNorm gains 1, drawn from a
``torch.Generator`` seeded from ``seed``; the modules are built with the global RNG state saved and
restored (``torch.random.fork_rng``), so constructing one neither uses nor changes it. Parameters
are float64; predictions complex128.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from qsa import _validate

__all__ = ["NetworkConfig", "CausalTransformer", "CausalFNet", "causal_dft"]


@dataclass(frozen=True)
class NetworkConfig:
    """Shape of a :class:`CausalTransformer` or :class:`CausalFNet`.

    Attributes:
        d: token width (complex tokens in ``C^d``).
        T: longest sequence (the FNet's DFT length; the transformer takes any length ``<= T``).
        layers: blocks, ``>= 1``.
        heads: attention heads of the transformer (``width`` must be a multiple); unused by the FNet.
        width: model width; ``None`` is ``2 d`` (the real coordinates of a token).
        ffn_width: hidden width of the feed-forward layers; ``None`` is ``2 * width``.
    """

    d: int
    T: int
    layers: int = 1
    heads: int = 1
    width: int | None = None
    ffn_width: int | None = None

    def __post_init__(self) -> None:
        _validate.integer(self.d, "d", minimum=1)
        _validate.integer(self.T, "T", minimum=1)
        _validate.integer(self.layers, "layers", minimum=1)
        _validate.integer(self.heads, "heads", minimum=1)
        if self.width is not None:
            _validate.integer(self.width, "width", minimum=1)
        if self.ffn_width is not None:
            _validate.integer(self.ffn_width, "ffn_width", minimum=1)

    @property
    def model_width(self) -> int:
        """``width``, defaulting to ``2 d``."""
        return 2 * self.d if self.width is None else self.width

    @property
    def hidden_width(self) -> int:
        """``ffn_width``, defaulting to ``2 * model_width``."""
        return 2 * self.model_width if self.ffn_width is None else self.ffn_width


def _seed(seed: int | np.random.Generator) -> int:
    """An int for a ``torch.Generator``: the seed itself, or one drawn from a numpy generator."""
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63 - 1))
    return _validate.integer(seed, "seed", minimum=0)


@torch.no_grad()
def _initialise(module: nn.Module, seed: int) -> None:
    """Xavier-uniform weight matrices, zero biases, unit LayerNorm gains, from a generator seeded with ``seed``."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    for name, p in module.named_parameters():
        if p.ndim >= 2:
            fan_out, fan_in = p.shape[0], math.prod(p.shape[1:])
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            p.copy_(torch.empty(p.shape, dtype=p.dtype).uniform_(-bound, bound, generator=g))
        elif "norm" in name and name.endswith("weight"):
            p.fill_(1.0)
        else:
            p.zero_()


def causal_dft(T: int, *, dtype: torch.dtype = torch.complex128) -> torch.Tensor:
    r"""The causally masked unitary DFT matrix ``(T, T)``: :math:`e^{-2\pi i ts/T}/\sqrt T` for ``s <= t``, else 0."""
    T = _validate.integer(T, "T", minimum=1)
    t = torch.arange(T, dtype=torch.float64)
    F = torch.polar(torch.full((T, T), 1.0 / math.sqrt(T), dtype=torch.float64), -2 * math.pi * torch.outer(t, t) / T)
    return torch.tril(F).to(dtype)  # (T, T)


class _RealCoordinates(nn.Module):
    """Shared input and output maps: ``C^d -> R^w`` on the way in, ``R^w -> C^d`` on the way out."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig; got {type(config).__name__}")
        self.config = config
        w = config.model_width
        self.embed = nn.Linear(2 * config.d, w, dtype=torch.float64)
        self.unembed = nn.Linear(w, 2 * config.d, dtype=torch.float64)

    def _input(self, X: Any) -> torch.Tensor:
        X = _validate.model_tokens(X, self.config.d)
        if X.shape[-2] > self.config.T:
            raise ValueError(f"X must have at most T = {self.config.T} steps (the model's); got {X.shape[-2]}")
        h: torch.Tensor = self.embed(torch.cat([X.real, X.imag], dim=-1))  # (..., T, w)
        return h

    def _output(self, h: torch.Tensor) -> torch.Tensor:
        u = self.unembed(h)  # (..., T, 2d)
        d = self.config.d
        return torch.complex(u[..., :d], u[..., d:])  # (..., T, d)


class CausalTransformer(_RealCoordinates):
    r"""A causal pre-LayerNorm transformer on the real coordinates of the tokens (module docstring).

    Args:
        config: the :class:`NetworkConfig` (``layers``, ``heads``, ``width``, ``ffn_width``).
        seed: int or ``numpy.random.Generator`` for the initialisation.

    ``model(X)`` maps tokens ``(T, d)`` or ``(S, T, d)`` (complex128, ``T <= config.T``) to predictions
    of the same shape; ``z_t`` depends on ``x_0..x_t`` only.
    """

    def __init__(self, config: NetworkConfig, *, seed: int | np.random.Generator) -> None:
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig; got {type(config).__name__}")
        if config.model_width % config.heads:
            raise ValueError(
                f"width must be a multiple of heads = {config.heads} (each head gets width/heads); "
                f"got width {config.model_width}"
            )
        seed = _seed(seed)
        with torch.random.fork_rng(devices=[]):  # torch's own initialisers draw from the global RNG
            super().__init__(config)
            w = config.model_width
            self.blocks = nn.ModuleList(
                nn.TransformerEncoderLayer(
                    w,
                    config.heads,
                    dim_feedforward=config.hidden_width,
                    dropout=0.0,
                    activation="gelu",
                    batch_first=True,
                    norm_first=True,
                    dtype=torch.float64,
                )
                for _ in range(config.layers)
            )
            self.norm = nn.LayerNorm(w, dtype=torch.float64)
        _initialise(self, seed)

    def forward(self, X: Any) -> torch.Tensor:
        """Predictions ``Z`` of the shape of ``X``."""
        h = self._input(X)  # (..., T, w)
        lead = h.shape[:-2]
        h = h.reshape(-1, *h.shape[-2:])  # (B, T, w)
        T = h.shape[1]
        mask = torch.triu(
            torch.full((T, T), float("-inf"), dtype=h.dtype, device=h.device), diagonal=1
        )  # (T, T): key > query hidden
        for block in self.blocks:
            h = block(h, src_mask=mask, is_causal=True)  # (B, T, w)
        return self._output(self.norm(h)).reshape(*lead, T, self.config.d)  # (..., T, d)

    def extra_repr(self) -> str:
        c = self.config
        return f"d={c.d}, layers={c.layers}, heads={c.heads}, width={c.model_width}, ffn_width={c.hidden_width}"


class _FNetBlock(nn.Module):
    def __init__(self, w: int, hidden: int) -> None:
        super().__init__()
        self.mix_norm = nn.LayerNorm(w, dtype=torch.float64)
        self.ffn = nn.Sequential(
            nn.Linear(w, hidden, dtype=torch.float64), nn.GELU(), nn.Linear(hidden, w, dtype=torch.float64)
        )
        self.ffn_norm = nn.LayerNorm(w, dtype=torch.float64)

    def forward(self, h: torch.Tensor, F_T: torch.Tensor, F_w: torch.Tensor) -> torch.Tensor:
        mixed = (F_T @ (h.to(F_w.dtype) @ F_w)).real  # (..., T, w): Re(F_T h F_w), causal in t
        h = self.mix_norm(h + mixed)
        out: torch.Tensor = self.ffn_norm(h + self.ffn(h))  # (..., T, w)
        return out


class CausalFNet(_RealCoordinates):
    r"""FNet with causal Fourier mixing on the real coordinates of the tokens (module docstring).

    Args:
        config: the :class:`NetworkConfig` (``T``, ``layers``, ``width``, ``ffn_width``; ``heads`` unused).
        seed: int or ``numpy.random.Generator`` for the initialisation.

    ``model(X)`` maps tokens ``(T', d)`` or ``(S, T', d)`` (``T' <= config.T``) to predictions of
    the same shape; ``z_t`` depends on ``x_0..x_t`` only.
    """

    F_T: torch.Tensor  # (T, T) buffer
    F_w: torch.Tensor  # (w, w) buffer

    def __init__(self, config: NetworkConfig, *, seed: int | np.random.Generator) -> None:
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig; got {type(config).__name__}")
        seed = _seed(seed)
        with torch.random.fork_rng(devices=[]):
            super().__init__(config)
            w = config.model_width
            self.blocks = nn.ModuleList(_FNetBlock(w, config.hidden_width) for _ in range(config.layers))
        _initialise(self, seed)
        self.register_buffer("F_T", causal_dft(config.T), persistent=False)  # (T, T)
        w_idx = torch.arange(config.model_width, dtype=torch.float64)
        F_w = torch.polar(
            torch.full((w, w), 1.0 / math.sqrt(w), dtype=torch.float64), -2 * math.pi * torch.outer(w_idx, w_idx) / w
        )
        self.register_buffer("F_w", F_w, persistent=False)  # (w, w): the DFT along the width

    def forward(self, X: Any) -> torch.Tensor:
        """Predictions ``Z`` of the shape of ``X``."""
        h = self._input(X)  # (..., T', w)
        T = h.shape[-2]
        F_T = self.F_T[:T, :T]  # (T', T'): the top-left block, so z_t does not depend on later positions
        for block in self.blocks:
            h = block(h, F_T, self.F_w)
        return self._output(h)  # (..., T', d)

    def extra_repr(self) -> str:
        c = self.config
        return f"d={c.d}, T={c.T}, layers={c.layers}, width={c.model_width}, ffn_width={c.hidden_width}"
