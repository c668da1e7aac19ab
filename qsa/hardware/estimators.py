r"""The QSA observables from counts, with standard errors.

A circuit's readout is the probability that its zero wires all read 0, resolved over the values
``j`` of its index register (see :class:`qsa.circuits.QSACircuit`): one *cell* per ``j``. From
``shots`` samples the cell frequencies of one circuit are multinomial, so

.. math:: \mathrm{Cov}(\hat\pi_j, \hat\pi_{j'}) = (\pi_j \delta_{jj'} - \pi_j \pi_{j'}) / n_\text{shots},

and different circuits (``mu``, ``zeta``, ``nu``) are independent. Every derived quantity
(``F``, ``L_B``, ``L_A``, ``L_half``, ``L_1``, ``p_j``) is a smooth function of the cells,
computed by :func:`qsa.analytic.observables_from_probabilities` (the one derivation every tier
shares); its standard error is the delta method ``sqrt(g^T Cov g)`` with ``g`` the gradient of that
function at the estimated cells (torch autograd). The plug-in covariance uses the estimated cells,
as usual. Sampled zeros give ``inf``/``nan`` honestly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from qsa import analytic

__all__ = ["Estimate", "zero_cells", "cell_covariance", "estimate", "FIELDS_A", "FIELDS_B"]

FIELDS_A = ("mu", "zeta", "nu", "F", "L_B", "L_A", "L_half", "L_1")
FIELDS_B = ("P0", "L_half_circuit")


@dataclass(frozen=True)
class Estimate:
    """Observables and their standard errors (numpy; scalars ``(S,)``, ``p`` ``(S, T)``).

    ``stderr`` has the same fields as ``value`` (zero in exact mode). ``shots`` is ``None`` for exact
    probabilities.
    """

    value: analytic.Observables
    stderr: analytic.Observables
    shots: int | None

    def z_scores(self, reference: analytic.Observables, fields: tuple[str, ...]) -> dict[str, np.ndarray]:
        """``(value - reference) / stderr`` per field (the reference as numpy or torch)."""
        out = {}
        for name in fields:
            ref = getattr(reference, name)
            ref = ref.detach().cpu().numpy() if hasattr(ref, "detach") else np.asarray(ref)
            out[name] = (np.asarray(getattr(self.value, name)) - ref) / np.asarray(getattr(self.stderr, name))
        return out


def zero_cells(bits, n_index: int, n_zero: int) -> np.ndarray:
    """Counts of ``(index = j, zero wires = 0)`` from a ``BitArray`` of shape ``(B,)``: ``(B, 2^n_index)``.

    The bits must read in wire order (``measured_wires = index_wires + zero_wires``, as the Qiskit
    exporter measures them): the first ``n_index`` bits of a bitstring are the index register.
    """
    if bits.num_bits != n_index + n_zero:
        raise ValueError(f"the bit array must have {n_index + n_zero} bits; got {bits.num_bits}")
    b = bits.to_bool_array(order="big").reshape(-1, bits.num_shots, bits.num_bits)  # (B, shots, m)
    B = b.shape[0]
    ok = ~b[..., n_index:].any(-1)  # (B, shots)
    weights = 1 << np.arange(n_index - 1, -1, -1) if n_index else np.zeros(0, dtype=np.int64)
    j = b[..., :n_index].astype(np.int64) @ weights if n_index else np.zeros(b.shape[:2], dtype=np.int64)
    flat = (np.arange(B)[:, None] * 2**n_index + j)[ok]
    return np.bincount(flat, minlength=B * 2**n_index).reshape(B, 2**n_index).astype(np.float64)


def cell_covariance(cells: np.ndarray, shots: int) -> np.ndarray:
    """Multinomial covariance of estimated cells ``(..., K)`` (a subset of one circuit's outcomes): ``(..., K, K)``."""
    cells = np.asarray(cells, dtype=np.float64)
    return (
        np.einsum("...i,ij->...ij", cells, np.eye(cells.shape[-1])) - cells[..., :, None] * cells[..., None, :]
    ) / shots


def _a_outputs(q: torch.Tensor, T: int) -> torch.Tensor:
    """Circuit-A cells ``(S, [mu, zeta_0..zeta_{T-1}, nu_0..nu_{T-1}])`` -> ``(S, [fields..., p_0..p_{T-1}])``."""
    obs = analytic.observables_from_probabilities(q[:, 0], q[:, 1 : T + 1], q[:, T + 1 :])
    return torch.cat([torch.stack([getattr(obs, f) for f in FIELDS_A], dim=-1), obs.p], dim=-1)


def _jacobian(q: torch.Tensor, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Outputs ``(S, 8 + T)`` and their Jacobian ``(S, 8 + T, 1 + 2T)`` (sequences are independent).

    Each row is differentiated from its own output, not through the concatenation of all of them:
    backward through ``torch.cat`` sends zeros into every other output, and a zero times the
    infinite derivative of ``log p_j`` at an empty cell (routine with few shots) is NaN, which
    would spoil the error bars of ``mu``, ``F`` and ``L_B`` too.
    """
    with torch.enable_grad():  # also when called inside an autograd Function's forward
        q = q.clone().requires_grad_(True)
        obs = analytic.observables_from_probabilities(q[:, 0], q[:, 1 : T + 1], q[:, T + 1 :])
        outputs = [getattr(obs, f) for f in FIELDS_A] + [obs.p[:, j] for j in range(T)]
        rows = [torch.autograd.grad(o.sum(), q, retain_graph=True)[0] for o in outputs]
        out = torch.stack(outputs, dim=-1)
    return out.detach().numpy(), torch.stack(rows, dim=1).numpy()


def estimate(
    cells: Mapping[str, np.ndarray],
    *,
    T: int,
    shots: int | None,
    covariance: Mapping[str, np.ndarray] | None = None,
) -> Estimate:
    """Observables and standard errors from cell probabilities.

    Args:
        cells: per variant, ``(S, 2^c)`` cell probabilities (frequencies, or exact probabilities):
            ``mu``, ``zeta``, ``nu`` (circuit A) or ``P0`` (circuit B).
        T: steps (index values ``j >= T`` of ``zeta``/``nu`` are idle and left out).
        shots: shots per circuit and sequence, or ``None`` for exact probabilities (zero errors).
        covariance: per variant, the covariance ``(S, K, K)`` of its first ``K`` cells as
            measured (``K = 1`` for ``mu`` and ``P0``, ``T`` for ``zeta``, ``nu``; e.g. from a
            runtime Estimator's mitigated terms, :func:`qsa.hardware.mitigation.cells_from_terms`),
            used instead of the multinomial covariance; different circuits stay independent.
    """
    if "P0" in cells:
        P0 = np.asarray(cells["P0"], dtype=np.float64)[:, 0]
        if covariance is not None:
            se = np.sqrt(np.clip(np.asarray(covariance["P0"], dtype=np.float64)[:, 0, 0], 0.0, None))
        else:
            se = np.zeros_like(P0) if shots is None else np.sqrt(P0 * (1 - P0) / shots)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = _b_observables(P0, -np.log(P0))
            stderr = _b_observables(se, se / P0)
        return Estimate(value, stderr, shots)
    mu = np.asarray(cells["mu"], dtype=np.float64)[:, :1]
    zeta = np.asarray(cells["zeta"], dtype=np.float64)[:, :T]
    nu = np.asarray(cells["nu"], dtype=np.float64)[:, :T]
    q = torch.as_tensor(np.concatenate([mu, zeta, nu], axis=1))  # (S, 1 + 2T)
    S = q.shape[0]
    if covariance is not None:
        out, jac = _jacobian(q, T)  # (S, 8 + T), (S, 8 + T, 1 + 2T)
        cov = np.zeros((S, 1 + 2 * T, 1 + 2 * T))
        for v, lo, hi in (("mu", 0, 1), ("zeta", 1, T + 1), ("nu", T + 1, 2 * T + 1)):
            cov[:, lo:hi, lo:hi] = np.asarray(covariance[v], dtype=np.float64)[:, : hi - lo, : hi - lo]
        var = np.clip(np.einsum("soi,sij,soj->so", jac, cov, jac), 0.0, None)
    elif shots is not None:
        out, jac = _jacobian(q, T)
        cov = np.zeros((S, 1 + 2 * T, 1 + 2 * T))
        cov[:, 0, 0] = mu[:, 0] * (1 - mu[:, 0]) / shots
        cov[:, 1 : T + 1, 1 : T + 1] = cell_covariance(zeta, shots)
        cov[:, T + 1 :, T + 1 :] = cell_covariance(nu, shots)
        var = np.clip(np.einsum("soi,sij,soj->so", jac, cov, jac), 0.0, None)
    else:
        with torch.no_grad():
            out = _a_outputs(q, T).numpy()  # (S, 8 + T)
        var = np.zeros_like(out)
    n = len(FIELDS_A)
    value = analytic.Observables(**{f: out[:, i] for i, f in enumerate(FIELDS_A)}, p=out[:, n:])
    stderr = analytic.Observables(**{f: np.sqrt(var[:, i]) for i, f in enumerate(FIELDS_A)}, p=np.sqrt(var[:, n:]))
    return Estimate(value, stderr, shots)


def _b_observables(P0: np.ndarray, L: np.ndarray) -> analytic.Observables:
    none = dict.fromkeys(("mu", "zeta", "nu", "F", "L_B", "L_A", "L_half", "L_1", "p"))
    return analytic.Observables(**none, P0=P0, L_half_circuit=L)
