"""Property tests (hypothesis) of the identities in docs/method.md section 4, on random instances."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from support import TOL_STATE, random_states, random_unitary

from qsa import analytic

instances = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**32 - 1),
        "T": st.integers(1, 9),
        "d": st.sampled_from([2, 4, 8]),
        "k": st.integers(1, 3),
        "kernel": st.sampled_from(["mono", "poly"]),
        "real": st.booleans(),
    }
)


def _draw(inst):
    rng = np.random.default_rng(inst["seed"])
    T, d = inst["T"], inst["d"]
    X = random_states(rng, T, d, real=inst["real"])
    Y = random_states(rng, T, d, real=inst["real"])
    return rng, X, Y, random_unitary(rng, d), random_unitary(rng, d)


@settings(max_examples=150, deadline=None)
@given(instances)
def test_bounds_hold(inst):
    """L_1/2 <= L_1, nu <= zeta, mu <= 2T/(T+1) zeta, 0 <= F <= 1, for any phases."""
    rng, X, Y, W, V = _draw(inst)
    kw = dict(k=inst["k"], kernel=inst["kernel"])
    for phases in (None, "aligned", rng.uniform(-np.pi, np.pi, size=inst["T"])):
        o = analytic.observables(X, Y, W, V, phases=phases, **kw)
        T = inst["T"]
        assert float(o.L_half) <= float(o.L_1) + TOL_STATE
        assert float(o.nu) <= float(o.zeta) * (1 + 1e-12)
        assert float(o.mu) <= 2 * T / (T + 1) * float(o.zeta) * (1 + 1e-12)
        assert -TOL_STATE <= float(o.F) <= 1 + TOL_STATE


@settings(max_examples=150, deadline=None)
@given(instances)
def test_aligned_gap_is_the_renyi_half_divergence(inst):
    """With phi_j = -arg A_j: L_B - L_A = D_1/2(u_T || Q~) >= 0, Q~_j = |A_j|^2 / sum |A|^2."""
    _, X, Y, W, V = _draw(inst)
    kw = dict(k=inst["k"], kernel=inst["kernel"], beta=analytic.resolve_beta(None, inst["d"]))
    o = analytic.observables(X, Y, W, V, phases="aligned", k=inst["k"], kernel=inst["kernel"])
    A = analytic.branch_amplitudes(*(torch.as_tensor(a, dtype=torch.complex128) for a in (X, Y, W, V)), **kw)
    Q = A.abs() ** 2 / (A.abs() ** 2).sum()
    u = torch.full_like(Q, 1 / inst["T"])
    D = analytic.renyi_half_divergence(u, Q)
    np.testing.assert_allclose(float(o.L_B - o.L_A), float(D), rtol=1e-9, atol=1e-9)
    assert float(D) >= -TOL_STATE


@settings(max_examples=100, deadline=None)
@given(instances.filter(lambda inst: inst["T"] <= inst["d"]))
def test_equal_prediction_norms_make_L_B_the_renyi_half_cross_entropy(inst):
    """Orthonormal tokens and W diagonal in their basis give ||z_j|| = 1 for all j; aligned: L_B = L_1/2."""
    rng = np.random.default_rng(inst["seed"])
    T, d = inst["T"], inst["d"]
    basis = random_unitary(rng, d)
    X = basis[:, :T].T.copy()  # (T, d) orthonormal rows
    W = basis @ np.diag(np.exp(1j * rng.uniform(-np.pi, np.pi, size=d))) @ basis.conj().T  # W x_i = w_i x_i
    Y, V = random_states(rng, T, d), random_unitary(rng, d)
    o = analytic.observables(X, Y, W, V, k=inst["k"], phases="aligned")
    z = analytic.predictions(*(torch.as_tensor(a) for a in (X, W, V)), k=inst["k"])
    np.testing.assert_allclose(torch.linalg.vector_norm(z, dim=-1).numpy(), 1.0, atol=1e-12)
    np.testing.assert_allclose(float(o.L_B), float(o.L_half), rtol=1e-9, atol=1e-9)
