r"""The QSA observables from counts, with standard errors: the one estimator policy of the shot tier.

A circuit's readout is the probability that its zero wires all read 0, resolved over the values
``j`` of its index register (see :class:`qsa.circuits.QSACircuit`): one *cell* per ``j``. From
``shots`` samples the cell frequencies ``hat q = n / shots`` of one circuit are multinomial, so

.. math:: \mathrm{Cov}(\hat q_j, \hat q_{j'}) = (q_j \delta_{jj'} - q_j q_{j'}) / n_\text{shots},

and different circuits (``mu``, ``zeta``, ``nu``) are independent (each samples its own stream,
:mod:`qsa.random`).

**The estimator policy** (every sampled estimate goes through it: :class:`qsa.hardware.HardwareEvaluator`
on every runner, :func:`qsa.circuit_observables` / :func:`qsa.circuit_estimate` with shots on every
backend, ``qsa jobs fetch``; exact probabilities pass through unchanged):

1. **Smoothing** (:func:`smoothed`). Each cell frequency becomes the Jeffreys (add-1/2) estimate

   .. math:: \tilde q = \frac{n + 1/2}{n_\text{shots} + 1},

   the posterior mean of a binomial proportion under the Jeffreys prior Beta(1/2, 1/2). It is never
   0 or 1, so an empty cell (a routine event: ``mu ~ 3e-4`` at 2000 shots is empty half the time)
   gives a finite loss and a nonzero error bar. Its bias is stated exactly:
   ``E[tilde q] - q = (1/2 - q) / (n_shots + 1)``, at most ``1 / (2 (n_shots + 1))`` in size
   (2.5e-4 at 2000 shots); the bias this leaves in the losses is measured in
   ``experiments/shot_training/README.md``.
2. **Bounding** (:func:`bounded_cells`). The *values* are those of the smoothed cells projected on
   the set the exact cells lie in: ``nu_j <= zeta_j`` (so ``p_j = nu_j / zeta_j <= 1``) and
   ``mu <= 2T/(T+1) zeta`` (so ``F <= 1``). With 1, every derived field is finite and in its
   valid range: ``0 < p_j <= 1``, ``0 < F <= 1``, ``L_B, L_A, L_half, L_1 >= 0``.
3. **Derivation**: ``F``, ``L_B``, ``L_A``, ``L_half``, ``L_1``, ``p_j`` by
   :func:`qsa.analytic.observables_from_probabilities`, the one derivation every tier shares
   (:func:`policy_observables` does 2-3).
4. **Standard errors**: the delta method ``sqrt(g^T Cov g)`` through 1-3, ``g`` the gradient of
   the field with respect to the frequencies (torch autograd, as in 5), ``Cov`` the multinomial
   covariance at the smoothed cells (plug-in; scaled to sum at most 1 per circuit, which only very
   few shots on many cells need).
5. **Gradients** are those of the smoothed, *unbounded* cells (straight-through: each field is
   ``bounded.detach() + (v - v.detach())`` for ``v`` derived from the unbounded cells). A ``min`` would
   also cut the gradient: whenever a sampled ``nu_j`` exceeds ``zeta_j`` (37 % of the runs at
   ``p_j = 0.9`` with cells of 0.005 at 4000 shots) ``p_j`` would be the constant 1 and the step's
   whole gradient 0, a bias of about one standard deviation that does not fall like
   ``1 / n_shots``; so would the error bars of 4. Through the unbounded cells the mean gradient's
   only bias is that of ``E[1 / tilde q] != 1 / q`` (``O(1 / n_shots)``). In
   :class:`qsa.hardware.HardwareEvaluator` (and ``qsa jobs fetch``) the parameter-shift Jacobian of
   the cells is taken from the raw frequencies of the shifted circuits (unbiased; pseudo-counts
   would cancel in the differences anyway) and chained through 2-3 at the smoothed base cells.

**Mitigated cells** (``estimate(..., covariance=...)``: a runtime Estimator's readout-mitigated
terms, :func:`qsa.hardware.mitigation.cells_from_terms`) are not counts, so they are not smoothed:
mitigation can return a cell ``<= 0`` or ``> 1``, which would give an infinite or NaN loss. Step 1
is then a **clip** of every cell to ``[1/2 / (n_shots + 1), 1]`` (the smallest value the smoothing
gives an empty cell at the same shot count), with the gradient of the cell as measured
(straight-through, so the error bars are evaluated at the clipped cells and do not vanish); steps
2-5 follow unchanged, with the measured covariance in 4. Every field is then finite and in its
range as with counts; a clipped cell's bias is at most its distance to the clip, which the error
bar of a cell near 0 covers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from qsa import analytic

__all__ = [
    "Estimate",
    "PSEUDO_COUNT",
    "mitigation_floor",
    "zero_cells",
    "cell_covariance",
    "smoothed",
    "bounded_cells",
    "policy_observables",
    "cell_observables",
    "p0_observables",
    "estimate",
    "FIELDS_A",
    "FIELDS_B",
]

#: Pseudo-count added to every cell of a sampled circuit (Jeffreys prior of a binomial proportion).
PSEUDO_COUNT = 0.5

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


def smoothed(frequencies: Any, shots: int) -> Any:
    """Step 1 of the policy: ``(n + 1/2) / (shots + 1)`` for cell frequencies ``n / shots`` (numpy or torch, any shape)."""
    return (frequencies * shots + PSEUDO_COUNT) / (shots + 2 * PSEUDO_COUNT)


def bounded_cells(
    mu: torch.Tensor, zeta_j: torch.Tensor, nu_j: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Step 2 of the policy: ``nu_j <= zeta_j`` and ``mu <= 2T/(T+1) sum_j zeta_j`` (torch).

    Shapes: ``mu`` ``(...)``, ``zeta_j`` and ``nu_j`` ``(..., T)``. Exact cells satisfy both
    (Cauchy-Schwarz: ``|A_j| <= ||z_j||``, and ``F <= 1``); sampled ones need not. For the values only:
    the ``min`` has derivative 0 where it is active, so the policy differentiates the unbounded cells
    (:func:`policy_observables`).
    """
    T = zeta_j.shape[-1]
    nu_j = torch.minimum(nu_j, zeta_j)
    mu = torch.minimum(mu, 2 * T / (T + 1) * zeta_j.sum(-1))
    return mu, zeta_j, nu_j


def policy_observables(mu: torch.Tensor, zeta_j: torch.Tensor, nu_j: torch.Tensor) -> analytic.Observables:
    """Steps 2, 3 and 5 of the policy on smoothed cells: the values of the bounded cells, the gradient of the
    unbounded ones (torch).

    Shapes: ``mu`` ``(...)``, ``zeta_j`` and ``nu_j`` ``(..., T)``, every cell ``> 0`` (smoothed). Each field
    is ``b.detach() + (v - v.detach())``, ``b`` derived from :func:`bounded_cells` and ``v`` from the cells as
    they are: exactly ``b`` in value, differentiated as ``v`` (module docstring, step 5).
    """
    free = analytic.observables_from_probabilities(mu, zeta_j, nu_j)
    bounded = analytic.observables_from_probabilities(*bounded_cells(mu, zeta_j, nu_j))
    return analytic.Observables(
        **{f: None if v is None else _straight_through(getattr(bounded, f), v) for f, v in vars(free).items()}
    )


def _straight_through(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``value`` exactly in the forward pass, differentiated as ``like`` (``like - like.detach()`` is exactly 0)."""
    return value.detach() + (like - like.detach())


def cell_observables(
    mu: torch.Tensor, zeta_j: torch.Tensor, nu_j: torch.Tensor, *, shots: int | None
) -> analytic.Observables:
    """Circuit A's observables from its cell frequencies under the policy (torch, differentiable).

    ``mu`` ``(...)``, ``zeta_j``, ``nu_j`` ``(..., T)``: frequencies (``shots``: smoothed, then
    :func:`policy_observables`) or exact probabilities (``shots=None``: no smoothing or bounding, the
    exact derivation).
    """
    if shots is not None:
        return policy_observables(smoothed(mu, shots), smoothed(zeta_j, shots), smoothed(nu_j, shots))
    return analytic.observables_from_probabilities(mu, zeta_j, nu_j)


def p0_observables(P0: Any, *, shots: int | None) -> analytic.Observables:
    """Circuit B's ``P0`` and ``L_half_circuit = -log P0`` under the policy (numpy or torch ``(...)``)."""
    if shots is not None:
        P0 = smoothed(P0, shots)
    if isinstance(P0, torch.Tensor):
        L = -torch.log(P0)
    else:
        with np.errstate(divide="ignore"):
            L = -np.log(P0)
    return _b_observables(P0, L)


def mitigation_floor(shots: int) -> float:
    """The smallest value a mitigated cell is clipped to: ``1/2 / (shots + 1)`` (module docstring, mitigated cells)."""
    return PSEUDO_COUNT / (shots + 2 * PSEUDO_COUNT)


def _clipped(cells: Any, floor: float) -> Any:
    """Mitigated cells (torch) clipped to ``[floor, 1]``, differentiated as the cells themselves."""
    return _straight_through(cells.clamp(floor, 1.0), cells)


def _cells_observables(q: torch.Tensor, T: int, shots: int | None, floor: float | None) -> analytic.Observables:
    """The policy on cells ``(S, [mu, zeta_0..zeta_{T-1}, nu_0..nu_{T-1}])``: counts or exact probabilities
    (``floor`` ``None``), or mitigated cells clipped to ``[floor, 1]``."""
    mu, zeta_j, nu_j = q[:, 0], q[:, 1 : T + 1], q[:, T + 1 :]
    if floor is not None:
        return policy_observables(_clipped(mu, floor), _clipped(zeta_j, floor), _clipped(nu_j, floor))
    return cell_observables(mu, zeta_j, nu_j, shots=shots)


def _a_outputs(q: torch.Tensor, T: int, shots: int | None) -> torch.Tensor:
    """Circuit-A cells ``(S, [mu, zeta_0..zeta_{T-1}, nu_0..nu_{T-1}])`` -> ``(S, [fields..., p_0..p_{T-1}])``."""
    obs = cell_observables(q[:, 0], q[:, 1 : T + 1], q[:, T + 1 :], shots=shots)
    return torch.cat([torch.stack([getattr(obs, f) for f in FIELDS_A], dim=-1), obs.p], dim=-1)


def _jacobian(
    q: torch.Tensor, T: int, shots: int | None, *, floor: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Outputs ``(S, 8 + T)`` and their Jacobian ``(S, 8 + T, 1 + 2T)`` w.r.t. the frequencies ``q``
    (sequences are independent), through the whole policy (``floor``: mitigated cells, clipped).

    Each row is differentiated from its own output, not through the concatenation of all of them
    (backward through ``torch.cat`` would send zeros into every other output, and a zero times an
    infinite derivative is NaN).
    """
    with torch.enable_grad():  # also when called inside an autograd Function's forward
        q = q.clone().requires_grad_(True)
        obs = _cells_observables(q, T, shots, floor)
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
    """Observables and standard errors from cell frequencies, under the policy (module docstring).

    Args:
        cells: per variant, ``(S, 2^c)`` cell frequencies (``n / shots``) or exact probabilities:
            ``mu``, ``zeta``, ``nu`` (circuit A) or ``P0`` (circuit B).
        T: steps (index values ``j >= T`` of ``zeta``/``nu`` are idle and left out).
        shots: shots per circuit and sequence, or ``None`` for exact probabilities (taken as they
            are; zero errors).
        covariance: per variant, the covariance ``(S, K, K)`` of its first ``K`` cells as
            measured (``K = 1`` for ``mu`` and ``P0``, ``T`` for ``zeta``, ``nu``; e.g. from a
            runtime Estimator's mitigated terms, :func:`qsa.hardware.mitigation.cells_from_terms`),
            used instead of the multinomial covariance; different circuits stay independent. The
            cells are then mitigated values, not counts: clipped to ``[1/2 / (shots + 1), 1]``
            instead of smoothed (module docstring, mitigated cells); needs ``shots``.

    Returns:
        :class:`Estimate` (numpy): with ``shots`` (with or without ``covariance``), every field finite
        and in its valid range, and a standard error next to it.

    Raises:
        ValueError: ``covariance`` without ``shots``.
    """
    if covariance is not None:
        if shots is None:
            raise ValueError(
                "shots must be the shots per parameter set when covariance is given (mitigated cells are clipped to "
                "[1/2 / (shots + 1), 1]); got None"
            )
        return _mitigated_estimate(cells, T=T, shots=shots, covariance=covariance)
    if "P0" in cells:
        P0 = np.asarray(cells["P0"], dtype=np.float64)[:, 0]
        value = p0_observables(P0, shots=shots)
        if shots is None:
            se = np.zeros_like(P0)
        else:
            p = np.asarray(value.P0)
            se = shots / (shots + 1) * np.sqrt(p * (1 - p) / shots)  # the smoothing is affine in n / shots
        return Estimate(value, _b_observables(se, se / np.asarray(value.P0)), shots)
    q = _a_cells(cells, T)  # (S, 1 + 2T)
    S = q.shape[0]
    if shots is None:
        with torch.no_grad():
            out = _a_outputs(q, T, None).numpy()  # (S, 8 + T)
        var = np.zeros_like(out)
    else:
        out, jac = _jacobian(q, T, shots)  # (S, 8 + T), (S, 8 + T, 1 + 2T)
        mu_s, zeta_s, nu_s = (smoothed(c, shots) for c in (q[:, :1], q[:, 1 : T + 1], q[:, T + 1 :]))
        cov = np.zeros((S, 1 + 2 * T, 1 + 2 * T))
        cov[:, 0, 0] = (mu_s[:, 0] * (1 - mu_s[:, 0]) / shots).numpy()
        cov[:, 1 : T + 1, 1 : T + 1] = cell_covariance(_at_most_one(zeta_s.numpy()), shots)
        cov[:, T + 1 :, T + 1 :] = cell_covariance(_at_most_one(nu_s.numpy()), shots)
        var = np.maximum(np.einsum("soi,sij,soj->so", jac, cov, jac), 0.0)  # a rounding -1e-20 is 0
    return _a_estimate(out, var, shots)


def _mitigated_estimate(
    cells: Mapping[str, np.ndarray], *, T: int, shots: int, covariance: Mapping[str, np.ndarray]
) -> Estimate:
    """:func:`estimate` of mitigated cells with their measured covariance (module docstring, mitigated cells)."""
    floor = mitigation_floor(shots)
    if "P0" in cells:
        P0 = np.clip(np.asarray(cells["P0"], dtype=np.float64)[:, 0], floor, 1.0)
        se = np.sqrt(np.clip(np.asarray(covariance["P0"], dtype=np.float64)[:, 0, 0], 0.0, None))
        return Estimate(_b_observables(P0, -np.log(P0)), _b_observables(se, se / P0), shots)
    q = _a_cells(cells, T)
    S = q.shape[0]
    out, jac = _jacobian(q, T, shots, floor=floor)  # (S, 8 + T), (S, 8 + T, 1 + 2T)
    cov = np.zeros((S, 1 + 2 * T, 1 + 2 * T))
    for v, lo, hi in (("mu", 0, 1), ("zeta", 1, T + 1), ("nu", T + 1, 2 * T + 1)):
        cov[:, lo:hi, lo:hi] = np.asarray(covariance[v], dtype=np.float64)[:, : hi - lo, : hi - lo]
    var = np.clip(np.einsum("soi,sij,soj->so", jac, cov, jac), 0.0, None)
    return _a_estimate(out, var, shots)


def _a_cells(cells: Mapping[str, np.ndarray], T: int) -> torch.Tensor:
    """Circuit A's cells as one tensor ``(S, [mu, zeta_0..zeta_{T-1}, nu_0..nu_{T-1}])`` (float64)."""
    mu = np.asarray(cells["mu"], dtype=np.float64)[:, :1]
    zeta = np.asarray(cells["zeta"], dtype=np.float64)[:, :T]
    nu = np.asarray(cells["nu"], dtype=np.float64)[:, :T]
    return torch.as_tensor(np.concatenate([mu, zeta, nu], axis=1))


def _a_estimate(out: np.ndarray, var: np.ndarray, shots: int | None) -> Estimate:
    """The :class:`Estimate` of circuit A from the outputs ``(S, 8 + T)`` of :func:`_jacobian` and their variances."""
    n = len(FIELDS_A)
    value = analytic.Observables(**{f: out[:, i] for i, f in enumerate(FIELDS_A)}, p=out[:, n:])
    stderr = analytic.Observables(**{f: np.sqrt(var[:, i]) for i, f in enumerate(FIELDS_A)}, p=np.sqrt(var[:, n:]))
    return Estimate(value, stderr, shots)


def _at_most_one(cells: np.ndarray) -> np.ndarray:
    """Cells ``(S, K)`` of one circuit scaled to sum to at most 1 (with very few shots the pseudo-counts of
    many cells can add up to more), so that their multinomial covariance is positive semi-definite."""
    scaled: np.ndarray = cells / np.maximum(1.0, cells.sum(-1, keepdims=True))
    return scaled


def _b_observables(P0: Any, L: Any) -> analytic.Observables:
    none = dict.fromkeys(("mu", "zeta", "nu", "F", "L_B", "L_A", "L_half", "L_1", "p"))
    return analytic.Observables(**none, P0=P0, L_half_circuit=L)
