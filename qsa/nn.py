r"""A torch-style QSA attention layer: ``(batch, seq, feature)`` in, predicted token states out.

:class:`QSAAttention` is the **classical twin** of the QSA circuit (Pecilli & Rosati, arXiv
2602.06699; METHOD.md section 2): it computes, in closed form (the analytic tier,
:mod:`qsa.analytic`), the states the circuit prepares before it un-loads the targets,

.. math::

    z_j = \frac{1}{\lambda} \sum_{i \le j} g(s_{ji})\, V |x_i\rangle,\qquad
    s_{ji} = \langle x_j | W | x_i \rangle,\qquad
    g(s) = s^k \ \text{(mono)}\ \text{or}\ \sum_{p \le k} \frac{\beta^p s^p}{p!}\ \text{(poly)},

with ``W`` and ``V`` the hardware-efficient ansatz (:func:`qsa.ansatz.ansatz_unitary`) of its
trainable angles. It is causal by construction (step ``j`` sees ``i <= j``), like
``torch.nn.MultiheadAttention(batch_first=True)`` with ``is_causal=True``, and its optional
attention weights are the complex kernel values ``g(s_ji) / lambda``. On a quantum computer the
states ``z_j`` are never read out: the circuit gives only the loss observables (``mu``, ``zeta``,
``nu``, hence ``F``, ``L_B`` and the per-step probabilities ``p_j = |<y_j|z_j>|^2 / ||z_j||^2``,
:func:`qsa.analytic.step_probabilities`). A model trained with this layer on ``p_j`` is the one
:class:`qsa.model.QSAModel` trains and :mod:`qsa.hardware` runs; any other use of ``z`` has no
circuit counterpart.

A 20-line torch model on the TFIM reference data, with a ``DataLoader`` and ``AdamW``:

.. code-block:: python

    import torch
    from torch.utils.data import DataLoader

    import qsa
    from qsa.data import reference_tfim_config, tfim_data
    from qsa.nn import QSAAttention

    torch.set_num_threads(1)  # d = 8 matrices: one thread is fastest
    data = tfim_data(reference_tfim_config(), seed=0)  # 4 + 4 trajectories of T = 16 states in C^8
    loader = DataLoader(data.train.as_dataset(), batch_size=2, shuffle=True, generator=torch.Generator().manual_seed(0))
    attention = QSAAttention(8, k=2, w_layers=8, v_layers=8, seed=0)
    optimizer = torch.optim.AdamW(attention.parameters(), lr=0.1, weight_decay=0.0)


    def loss_L1(x, y):  # Shannon cross-entropy of the predicted states against the next states
        return -torch.log(qsa.analytic.step_probabilities(attention(x), y)).mean()


    for epoch in range(60):
        for x, y in loader:  # (2, 16, 8) complex tokens and targets
            optimizer.zero_grad()
            loss_L1(x, y).backward()
            optimizer.step()
    with torch.no_grad():
        train, test = loss_L1(data.train.X, data.train.Y), loss_L1(data.test.X, data.test.Y)
    print(f"train L_1 {train:.3f}, test L_1 {test:.3f}, chance {qsa.chance_levels(8).L_1:.3f}")

It prints ``train L_1 0.527, test L_1 1.562, chance 2.593`` (torch 2.13.0 CPU; the reference task's
L-BFGS run of ``experiments/tfim`` gets further, see its README).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from torch import nn

from qsa import _validate, analytic
from qsa.ansatz import ansatz_unitary

__all__ = ["QSAAttention"]


class QSAAttention(nn.Module):
    r"""Causal quantum self-attention on ``(batch, seq, d)`` tokens: the analytic twin of the QSA circuit.

    Args:
        d: token width, a power of two (``n = log2 d`` qubits per token).
        k: key copies (mono: the power of the overlap; poly: the degree), ``>= 1``.
        kernel: ``"mono"`` (``g = s^k``) or ``"poly"`` (``g = sum_p beta^p s^p / p!``).
        beta: poly scale, ``> 0`` (``None``: ``sqrt(d)``).
        w_layers, v_layers: ansatz depths of ``W`` and ``V``.
        normalize: amplitude encoding: divide each token by its norm (the state ``|x_i> = x_i/||x_i||``);
            ``False`` requires unit rows and raises otherwise.
        seed: int or ``numpy.random.Generator`` for the initial angles (uniform in ``[0, 2 pi)``,
            the same streams as :class:`qsa.model.QSAModel`: ``theta_W`` first, then ``theta_V``).
        dtype: complex dtype of the computation, ``torch.complex128`` (default) or ``torch.complex64``
            (the angles are then float32).

    Parameters: ``theta_W`` ``(w_layers, n, 3)``, ``theta_V`` ``(v_layers, n, 3)``.

    Call ``attention(x, need_weights=False)``:

    * ``x``: ``(B, T, d)`` (or ``(T, d)``, unbatched), real or complex; no zero rows.
    * returns ``z`` ``(B, T, d)`` (or ``(T, d)``), complex: the unnormalised predicted states
      ``z_j`` (the factor ``1/lambda`` of the poly kernel included; it cancels in ``p_j``); with
      ``need_weights=True`` the pair ``(z, weights)``, ``weights`` ``(B, T, T)`` complex with
      ``weights[b, j, i] = g(s_ji) / lambda`` for ``i <= j`` and 0 above the diagonal, so that
      ``z = weights @ (x V^T)`` per sequence.

    Raises:
        ValueError, TypeError: for bad options at construction, and for an input of the wrong
            shape, width, dtype or (``normalize=False``) norm, before any computation.

    Example:
        >>> import torch
        >>> from qsa.nn import QSAAttention
        >>> attention = QSAAttention(4, k=2, seed=0)
        >>> x = torch.randn(3, 5, 4)  # (batch, seq, feature)
        >>> z, weights = attention(x, need_weights=True)
        >>> tuple(z.shape), tuple(weights.shape), z.dtype
        ((3, 5, 4), (3, 5, 5), torch.complex128)
        >>> bool((weights.triu(1) == 0).all())  # causal
        True

    Source: arXiv 2602.06699 (METHOD.md sections 2 and 6); the closed forms of :mod:`qsa.analytic`.
    """

    def __init__(
        self,
        d: int,
        *,
        k: int = 1,
        kernel: Literal["mono", "poly"] = "mono",
        beta: float | None = None,
        w_layers: int = 2,
        v_layers: int = 2,
        normalize: bool = True,
        seed: int | np.random.Generator,
        dtype: torch.dtype = torch.complex128,
    ) -> None:
        super().__init__()
        d = _validate.integer(d, "d", minimum=1)
        n = _validate.power_of_two(d, "d")
        _validate.kernel_options(k, kernel, beta)
        w_layers = _validate.integer(w_layers, "w_layers", minimum=1)
        v_layers = _validate.integer(v_layers, "v_layers", minimum=1)
        if not isinstance(normalize, bool):
            raise TypeError(f"normalize must be a bool; got {normalize!r}")
        self.dtype = _validate.complex_dtype(dtype)
        real = torch.float64 if self.dtype == torch.complex128 else torch.float32
        self.d, self.k, self.kernel, self.normalize = d, k, kernel, normalize
        self.beta = analytic.resolve_beta(beta, d)
        rng_W, rng_V, _ = _validate.generator(seed).spawn(3)
        self.theta_W = nn.Parameter(torch.from_numpy(rng_W.uniform(0, 2 * math.pi, (w_layers, n, 3))).to(real))
        self.theta_V = nn.Parameter(torch.from_numpy(rng_V.uniform(0, 2 * math.pi, (v_layers, n, 3))).to(real))

    def unitaries(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(W, V)``, the ``(d, d)`` ansatz matrices of the current angles."""
        return ansatz_unitary(self.theta_W).to(self.dtype), ansatz_unitary(self.theta_V).to(self.dtype)

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor of shape (batch, seq, {self.d}); got {type(x).__name__}")
        if x.ndim not in (2, 3) or x.shape[-1] != self.d or x.shape[-2] < 1:
            raise ValueError(f"x must have shape (batch, seq, {self.d}) or (seq, {self.d}); got {tuple(x.shape)}")
        if not (x.is_floating_point() or x.is_complex()):
            raise TypeError(f"x must be a real or complex floating tensor; got dtype {x.dtype}")
        x = x.to(self.dtype)
        norms = torch.linalg.vector_norm(x, dim=-1, keepdim=True)  # (..., T, 1)
        if self.normalize:
            if bool((norms == 0).any()) or not bool(torch.isfinite(norms).all()):
                raise ValueError("x must have finite, non-zero rows (each token is amplitude-encoded as x/||x||)")
            return torch.div(x, norms)
        _validate.unit_rows(x, "x")
        return x

    def forward(self, x: torch.Tensor, need_weights: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Predicted states ``z`` ``(B, T, d)``; with ``need_weights`` also the causal kernel weights ``(B, T, T)``."""
        X = self._tokens(x)  # (B, T, d) or (T, d), unit rows
        W, V = self.unitaries()  # (d, d) each
        z = analytic.predictions(X, W, V, k=self.k, kernel=self.kernel, beta=self.beta)  # (B, T, d)
        if not need_weights:
            return z
        weights = analytic.kernel_weights(analytic.scores(X, W), k=self.k, kernel=self.kernel, beta=self.beta)
        return z, weights  # (B, T, d), (B, T, T)

    def extra_repr(self) -> str:
        return (
            f"d={self.d}, k={self.k}, kernel={self.kernel!r}, w_layers={self.theta_W.shape[0]}, "
            f"v_layers={self.theta_V.shape[0]}, normalize={self.normalize}, dtype={self.dtype}"
        )
