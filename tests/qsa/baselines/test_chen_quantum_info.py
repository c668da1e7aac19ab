"""Chen's channel checks against qiskit.quantum_info: the same Choi matrix and the same CP/TP verdicts."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit.quantum_info import Choi, Kraus
from support import TOL_STATE

from qsa.baselines import chen

QISKIT_ATOL = 1e-8  # Kraus.is_cp / is_tp tolerance used below (Qiskit's default)


def _isometric_kraus(rng, n, d_out, d_in):
    M = rng.normal(size=(n * d_out, d_in)) + 1j * rng.normal(size=(n * d_out, d_in))
    Q, _ = np.linalg.qr(M)  # an isometry C^d_in -> C^(n d_out): sum_k K_k^dagger K_k = I
    return Q.reshape(n, d_out, d_in)


@pytest.mark.parametrize("n, d_out, d_in", [(1, 3, 3), (4, 3, 2), (3, 2, 4)])
def test_choi_matrix_equals_qiskits(rng, n, d_out, d_in):
    K = _isometric_kraus(rng, n, d_out, d_in)
    expected = Choi(Kraus(list(K))).data  # Qiskit: sum_ij |i><j| (x) E(|i><j|), input factor first, as ours
    np.testing.assert_allclose(chen.choi_from_kraus(K), expected, rtol=0, atol=TOL_STATE)
    np.testing.assert_allclose(chen.choi_from_map(lambda r: chen.apply_kraus(K, r), d_in), expected, atol=TOL_STATE)


def test_cp_and_tp_verdicts_equal_qiskits(rng):
    K = _isometric_kraus(rng, 3, 2, 3)
    cases = {"cptp": K, "dropped": K[1:], "scaled": 1.01 * K}
    for name, kraus in cases.items():
        ours, theirs = chen.check_kraus(kraus, atol=QISKIT_ATOL), Kraus(list(kraus))
        assert (ours.completely_positive, ours.trace_preserving) == (theirs.is_cp(), theirs.is_tp()), name
    # Transposing the output: positive and trace preserving, not completely positive.
    J = chen.choi_from_map(lambda r: chen.apply_kraus(K, r).T, 3)
    ours, theirs = chen.check_choi(J, 3, atol=QISKIT_ATOL), Choi(J, input_dims=3, output_dims=2)
    assert (ours.completely_positive, ours.trace_preserving) == (theirs.is_cp(), theirs.is_tp()) == (False, True)


def test_chens_fock_space_channel_is_cptp_for_qiskit_too(rng):
    tokens = rng.normal(size=(2, 2))
    W_V = tokens[[1, 0]].T @ np.linalg.inv(tokens.T)
    layer = chen.ChenLayer(W_Q=rng.normal(size=(2, 2)), W_K=rng.normal(size=(2, 2)), W_V=W_V, ffn=np.array([1, 0]))
    K = chen.fock_kraus(layer, tokens, 3)
    assert chen.check_kraus(K).cptp and Kraus(list(K)).is_cptp()
