"""Baselines for the benchmarks: the analytic tier as it was before the fast paths (commit 0d14344).

Kept verbatim (apart from names) so that every ratio of ``run.py`` compares against the real
previous implementation, measured in the same run on the same machine:

* :func:`ansatz_unitary` builds the ansatz layer by layer and qubit by qubit;
* :func:`observables` forms three ``T x T`` products: scores ``s_ji``, value amplitudes
  ``a_ji`` and the causal kernel matrix ``G`` times ``V x_i``;
* :class:`ReferenceEvaluator` and :class:`ReferenceModel` use both everywhere a model does
  (the evaluator and the aligned phases).
"""

from __future__ import annotations

import torch

from qsa import _validate, analytic
from qsa.ansatz import ring_permutation
from qsa.model import QSAModel

__all__ = ["ansatz_unitary", "observables", "ReferenceEvaluator", "ReferenceModel"]


def _single_qubit(theta: torch.Tensor) -> torch.Tensor:
    a, b, c = (theta[..., i] for i in range(3))
    ca, sa = torch.cos(a / 2), torch.sin(a / 2)
    cb, sb = torch.cos(b / 2), torch.sin(b / 2)
    ez = torch.exp(-0.5j * c.to(torch.complex128 if theta.dtype == torch.float64 else torch.complex64))
    one = torch.ones_like(ca)
    rx = torch.stack([torch.stack([ca * one, -1j * sa], -1), torch.stack([-1j * sa, ca * one], -1)], -2)
    ry = torch.stack([torch.stack([cb, -sb], -1), torch.stack([sb, cb], -1)], -2).to(rx.dtype)
    rz = torch.diag_embed(torch.stack([ez, ez.conj()], -1))
    return rz @ ry @ rx


def ansatz_unitary(theta: torch.Tensor) -> torch.Tensor:
    """The ansatz matrix, layer by layer (the previous :func:`qsa.ansatz.ansatz_unitary`)."""
    L, n = theta.shape[-3], theta.shape[-2]
    gates = _single_qubit(theta)  # (..., L, n, 2, 2)
    ring = torch.as_tensor(ring_permutation(n), dtype=gates.dtype)
    U = None
    for layer in range(L):
        K = gates[..., layer, 0, :, :]
        for q in range(1, n):  # Kronecker product, qubit 0 most significant
            G = gates[..., layer, q, :, :]
            K = (K[..., :, None, :, None] * G[..., None, :, None, :]).reshape(
                *K.shape[:-2], 2 * K.shape[-2], 2 * K.shape[-1]
            )
        layer_U = ring @ K
        U = layer_U if U is None else layer_U @ U
    return U


def observables(X, Y, W, V, *, k=1, kernel="mono", beta=None, phases=None) -> analytic.Observables:
    """The previous :func:`qsa.observables`: three dense ``T x T`` products."""
    X, Y, W, V = _validate.tokens_and_unitaries(X, Y, W, V)
    _validate.kernel_options(k, kernel, beta)
    phases = _validate.phases(phases, X.shape[:-1])
    beta = analytic.resolve_beta(beta, X.shape[-1])
    G = analytic.kernel_weights(analytic.scores(X, W), k=k, kernel=kernel, beta=beta)  # (..., T, T)
    A = (analytic.value_amplitudes(X, Y, V) * G).sum(-1)  # (..., T)
    z = G @ (X @ V.transpose(-1, -2))  # (..., T, d)
    z_norm2 = (z.real**2 + z.imag**2).sum(-1)  # (..., T)
    return analytic.observables_from_amplitudes(A, z_norm2, phases=phases)


def branch_amplitudes(X, Y, W, V, *, k=1, kernel="mono", beta=1.0) -> torch.Tensor:
    G = analytic.kernel_weights(analytic.scores(X, W), k=k, kernel=kernel, beta=beta)
    return (analytic.value_amplitudes(X, Y, V) * G).sum(-1)


class ReferenceEvaluator:
    """The previous analytic evaluator."""

    def __call__(self, params, X, Y, *, k, kernel, beta):
        W, V = ansatz_unitary(params["theta_W"]), ansatz_unitary(params["theta_V"])
        return observables(X, Y, W, V, k=k, kernel=kernel, beta=beta, phases=params.get("phi"))


class ReferenceModel(QSAModel):
    """A :class:`qsa.model.QSAModel` whose every closed form is the previous one (aligned phases too)."""

    def __init__(self, config, *, seed):
        super().__init__(config, seed=seed, evaluator=ReferenceEvaluator())

    def unitaries(self):
        return ansatz_unitary(self.theta_W), ansatz_unitary(self.theta_V)

    def circuit_params(self, X, Y):
        params = {"theta_W": self.theta_W, "theta_V": self.theta_V}
        if self.config.phases == "trained":
            params["phi"] = self.phi
        elif self.config.phases == "aligned":
            with torch.no_grad():
                W, V = self.unitaries()
                A = branch_amplitudes(
                    X,
                    Y,
                    W,
                    V,
                    k=self.config.k,
                    kernel=self.config.kernel,
                    beta=analytic.resolve_beta(self.config.beta, self.config.d),
                )
                params["phi"] = analytic.aligned_phases(A)
        return params
