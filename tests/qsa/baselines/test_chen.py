"""Chen's physical model of a transformer (qsa.baselines.chen): the paper's example, CPTP checks,
agreement with the direct autoregressive computation, and input checks."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
import pytest
from numpy.testing import assert_allclose

from qsa.baselines import chen

# The paper's example is compared at this precision: the closed forms are exact, the model computes
# them in float64 through exp, sqrt and products of a few terms.
TOL_EXAMPLE = 1e-12

SIGMA_X = np.array([[0.0, 1.0], [1.0, 0.0]])
I2 = np.eye(2)
E = math.e


def _example():
    """Tokens, text and the two blocks of the paper's Example (see test_paper_example_joint_distribution)."""
    tokens = np.eye(2)  # x0 = (1, 0), x1 = (0, 1)
    text = (0, 1, 0)  # T = (x0, x1, x0)
    layer1 = chen.ChenLayer(W_Q=I2, W_K=SIGMA_X, W_V=I2, ffn=None)  # W1^Q = W1^V = FFN1 = I, W1^K = sigma_x
    layer2 = chen.ChenLayer(W_Q=I2, W_K=I2, W_V=SIGMA_X, ffn=None)  # W2^Q = W2^K = FFN2 = I, W2^V = sigma_x
    return tokens, text, [layer1, layer2]


def _product_state(fock: chen.FockSpace, string: tuple[int, ...]) -> np.ndarray:
    """diag(0, ..., |x_1..x_k><x_1..x_k|, 0, ...) in the full Fock space."""
    N = fock.n_tokens
    k = len(string)
    idx = sum(a * N ** (k - 1 - j) for j, a in enumerate(string))
    block = np.zeros((N**k, N**k))
    block[idx, idx] = 1.0
    return fock.embed(block, k, k)


# Exact joint probabilities from the paper's closed forms.
PAPER_JOINT = {
    (0, 0): 2 / ((E + 2) * (3 * E + 1)),
    (0, 1): 6 * E / ((E + 2) * (3 * E + 1)),
    (1, 0): E**2 / ((E + 2) * (E + 1)),
    (1, 1): E / ((E + 2) * (E + 1)),
}


@pytest.mark.parametrize("cutoff", [None, 6])
def test_paper_example_joint_distribution(cutoff):
    r"""The paper's Example, reproduced exactly.

    Tokens x0 = (1, 0), x1 = (0, 1) in R^2; H = F^(6)(C^2); input text T = (x0, x1, x0).
    Block 1: W^Q = W^V = FFN = I, W^K = sigma_x. Block 2: W^Q = W^K = FFN = I, W^V = sigma_x.

    Hand derivation with score scale 1 (the example's numbers need scale 1, not 1/sqrt(2): see
    test_paper_example_uses_score_scale_one). Block 1, query x0: keys W^K x_i = (x1, x0, x1), scores
    (0, 1, 0), softmax (1, e, 1)/(e + 2), emitted y_i = x_i, so P(x0) = 2/(e+2), P(x1) = e/(e+2).
    Block 2 after x0 (text x0 x1 x0 x0, query x0): scores (1, 0, 1, 1), softmax (e, 1, e, e)/(3e+1),
    emitted sigma_x x_i = (x1, x0, x1, x1): P(x0|x0) = 1/(3e+1), P(x1|x0) = 3e/(3e+1). After x1 (text
    x0 x1 x0 x1, query x1): scores (0, 1, 0, 1), softmax (1, e, 1, e)/(2e+2), emitted (x1, x0, x1, x0):
    P(x0|x1) = e/(e+1), P(x1|x1) = 1/(e+1). Products: the four closed forms printed by the paper,
    2/((e+2)(3e+1)), 6e/((e+2)(3e+1)), e^2/((e+2)(e+1)), e/((e+2)(e+1)).

    The paper prints only these closed forms (no rounded decimals), so they are compared exactly,
    at 1e-12. The OCR of the example is unambiguous once "(0, 0^(1), ...)" in the block-2 states is
    read as "diag(0, 0^(1), ...)" and "measurement at time x2" as "at time t2".
    """
    tokens, text, layers = _example()
    got = chen.joint_distribution(text, layers, tokens, scale=1.0, cutoff=cutoff)
    assert set(got) == set(PAPER_JOINT)
    for key, p in PAPER_JOINT.items():
        assert_allclose(got[key], p, rtol=0, atol=TOL_EXAMPLE, err_msg=str(key))
    assert_allclose(sum(got.values()), 1.0, rtol=0, atol=TOL_EXAMPLE)


def test_paper_example_states_and_conditionals():
    """Every intermediate state the paper prints: E(t1,t0) rho(t0), rho_red(t1)_i, E(t2,t0) rho_red(t1)_i."""
    tokens, text, (layer1, layer2) = _example()
    fock = chen.FockSpace(2, 6)
    rho0 = chen.input_state(text, 2, cutoff=6)
    assert_allclose(rho0, _product_state(fock, (0, 1, 0)), rtol=0, atol=0)

    K1 = chen.fock_kraus(layer1, tokens, 6, scale=1.0)
    rho1 = chen.apply_kraus(K1, rho0)
    expected1 = 2 / (E + 2) * _product_state(fock, (0, 1, 0, 0)) + E / (E + 2) * _product_state(fock, (0, 1, 0, 1))
    assert_allclose(rho1, expected1, rtol=0, atol=TOL_EXAMPLE)

    step1 = {br.outcomes: br for br in chen.sequential_measurement(text, [layer1], tokens, scale=1.0, cutoff=6)}
    assert set(step1) == {(0,), (1,)}
    assert_allclose(step1[(0,)].probability, 2 / (E + 2), rtol=0, atol=TOL_EXAMPLE)
    assert_allclose(step1[(1,)].probability, E / (E + 2), rtol=0, atol=TOL_EXAMPLE)
    assert_allclose(step1[(0,)].state, _product_state(fock, (0, 1, 0, 0)), rtol=0, atol=TOL_EXAMPLE)
    assert_allclose(step1[(1,)].state, _product_state(fock, (0, 1, 0, 1)), rtol=0, atol=TOL_EXAMPLE)

    K2 = chen.fock_kraus(layer2, tokens, 6, scale=1.0)
    after0 = chen.apply_kraus(K2, step1[(0,)].state)
    exp0 = 1 / (3 * E + 1) * _product_state(fock, (0, 1, 0, 0, 0)) + 3 * E / (3 * E + 1) * _product_state(
        fock, (0, 1, 0, 0, 1)
    )
    assert_allclose(after0, exp0, rtol=0, atol=TOL_EXAMPLE)
    after1 = chen.apply_kraus(K2, step1[(1,)].state)
    exp1 = E / (E + 1) * _product_state(fock, (0, 1, 0, 1, 0)) + 1 / (E + 1) * _product_state(fock, (0, 1, 0, 1, 1))
    assert_allclose(after1, exp1, rtol=0, atol=TOL_EXAMPLE)


def test_paper_example_uses_score_scale_one():
    """With the 1/sqrt(d) scale of the paper's general definition the example's numbers change."""
    tokens, text, layers = _example()
    got = chen.joint_distribution(text, layers[:1], tokens)  # scale None -> 1/sqrt(2)
    a = math.exp(1 / math.sqrt(2))
    assert_allclose(got[(0,)], 2 / (a + 2), rtol=0, atol=TOL_EXAMPLE)
    assert abs(got[(0,)] - 2 / (E + 2)) > 0.05


# ------------------------------------------------------------------------------------------------
# Random instances.


def _random_model(rng: np.random.Generator, *, N: int = 3, d_prime: int = 2, L: int = 2, callable_ffn=False):
    """N = d linearly independent random tokens; W^V permutes them; random FFN table; random W^Q, W^K."""
    d = N
    tokens = rng.normal(size=(N, d))
    layers = []
    for _ in range(L):
        perm = rng.permutation(N)
        W_V = tokens[perm].T @ np.linalg.inv(tokens.T)  # W_V t_a = t_perm[a]
        table = rng.integers(0, N, size=N)
        if callable_ffn:

            def ffn(v, table=table, tokens=tokens):
                a = int(np.argmin(np.linalg.norm(tokens - v, axis=1)))
                return tokens[table[a]]
        else:
            ffn = table
        layers.append(
            chen.ChenLayer(W_Q=rng.normal(size=(d_prime, d)), W_K=rng.normal(size=(d_prime, d)), W_V=W_V, ffn=ffn)
        )
    return tokens, layers


def _reference_distribution(text, layers, tokens, scale):
    """Direct autoregressive computation, written independently from the paper's formulas.

    P_T(y_{i_1}, ..., y_{i_L}) = prod_l softmax(S_l^{(n+l-1)})_{i_l}, with s_i = c <W^Q x_last, W^K x_i>
    and y_i = FFN(W^V x_i) appended to the text; summed over index paths emitting the same tokens.
    """
    n, L = len(text), len(layers)
    out = defaultdict(float)
    for path in itertools.product(*[range(n + layer) for layer in range(L)]):
        seq = [tokens[a] for a in text]
        prob, emitted = 1.0, []
        for layer, i in zip(layers, path):
            X = np.array(seq)
            s = np.array([scale * float((layer.W_Q @ X[-1]) @ (layer.W_K @ x)) for x in X])
            w = np.exp(s) / np.exp(s).sum()
            prob *= w[i]
            v = layer.W_V @ X[i]
            v_idx = int(np.argmin(np.linalg.norm(tokens - v, axis=1)))
            if layer.ffn is None:
                y = v_idx
            elif callable(layer.ffn):
                y = int(np.argmin(np.linalg.norm(tokens - layer.ffn(tokens[v_idx]), axis=1)))
            else:
                y = layer.ffn[v_idx]
            emitted.append(y)
            seq.append(tokens[y])
        out[tuple(emitted)] += prob
    return dict(out)


@pytest.mark.parametrize("seed", range(6))
def test_joint_distribution_equals_autoregressive(seed):
    rng = np.random.default_rng(100 + seed)
    N = 2 + seed % 2
    n = 1 + seed % 3
    L = 1 + (seed // 2) % 3
    if N == 3:  # keep the sector dimension N^(n+L) small
        n, L = min(n, 2), min(L, 2)
    tokens, layers = _random_model(rng, N=N, L=L, callable_ffn=seed % 2 == 1)
    text = tuple(int(a) for a in rng.integers(0, N, size=n))
    scale = None if seed % 3 == 0 else float(rng.uniform(0.3, 2.0))
    c = 1 / math.sqrt(N) if scale is None else scale

    got = chen.joint_distribution(text, layers, tokens, scale=scale)
    ref = _reference_distribution(text, layers, tokens, c)
    classical = chen.transformer_distribution(text, layers, tokens, scale=scale)
    keys = set(got) | set(ref)
    for key in keys:
        assert_allclose(got.get(key, 0.0), ref.get(key, 0.0), rtol=0, atol=TOL_EXAMPLE, err_msg=str(key))
        assert_allclose(classical.get(key, 0.0), ref.get(key, 0.0), rtol=0, atol=TOL_EXAMPLE, err_msg=str(key))
    assert_allclose(sum(got.values()), 1.0, rtol=0, atol=TOL_EXAMPLE)
    assert all(len(key) == L and None not in key for key in got)


def test_fock_space_measurement_equals_sector_measurement(rng):
    """The full-Fock-space run (with the outcome diamond in the measurement) gives the same table."""
    tokens, layers = _random_model(rng, N=2, L=2)
    text = (1, 0)
    sector = chen.joint_distribution(text, layers, tokens, scale=0.7)
    fock = chen.joint_distribution(text, layers, tokens, scale=0.7, cutoff=5)
    assert set(sector) == set(fock)
    for key in sector:
        assert_allclose(fock[key], sector[key], rtol=0, atol=TOL_EXAMPLE)


def test_next_token_distribution_sums_attention_over_emitted_tokens(rng):
    tokens, (layer,) = _random_model(rng, N=3, L=1)
    text = (2, 0, 1, 1)
    w = chen.attention_weights(text, layer, tokens, scale=1.3)
    y = chen.emitted_tokens(text, layer, tokens)
    p = chen.next_token_distribution(text, layer, tokens, scale=1.3)
    assert_allclose(w.sum(), 1.0, rtol=0, atol=TOL_EXAMPLE)
    assert_allclose(p, np.bincount(y, weights=w, minlength=3), rtol=0, atol=TOL_EXAMPLE)


# ------------------------------------------------------------------------------------------------
# CPTP checks.


@pytest.mark.parametrize(("N", "m"), [(3, 1), (3, 2), (2, 3)])
def test_built_kraus_sets_are_cptp(rng, N, m):
    tokens, (layer,) = _random_model(rng, N=N, L=1)
    K = chen.sector_kraus(layer, tokens, m, scale=0.9)
    assert K.shape == (N, N ** (m + 1), N**m)
    report = chen.check_kraus(K)
    assert report.cptp, report
    # The channel given as a function has the same Choi matrix.
    assert_allclose(
        chen.choi_from_map(lambda rho: chen.apply_kraus(K, rho), N**m), chen.choi_from_kraus(K), rtol=0, atol=1e-14
    )
    # On a basis text the channel is the paper's Eq. (3).
    text = tuple(int(a) for a in rng.integers(0, N, size=m))
    out = chen.apply_kraus(K, chen.input_state(text, N))
    idx = sum(a * N ** (m - 1 - j) for j, a in enumerate(text))
    p = chen.next_token_distribution(text, layer, tokens, scale=0.9)
    expected = np.zeros((N ** (m + 1),) * 2)
    expected[idx * N + np.arange(N), idx * N + np.arange(N)] = p
    assert_allclose(out, expected, rtol=0, atol=TOL_EXAMPLE)


def test_fock_kraus_is_trace_preserving_on_the_whole_space(rng):
    tokens, (layer,) = _random_model(rng, N=2, L=1)
    K = chen.fock_kraus(layer, tokens, 5, scale=1.1)
    D = chen.FockSpace(2, 5).dim
    assert K.shape == (3, D, D) and D == 63
    completeness = np.einsum("kai,kaj->ij", K.conj(), K)
    assert_allclose(completeness, np.eye(D), rtol=0, atol=TOL_EXAMPLE)


def test_broken_kraus_sets_fail_the_check(rng):
    tokens, (layer,) = _random_model(rng, N=3, L=1)
    K = chen.sector_kraus(layer, tokens, 2, scale=1.0)

    dropped = chen.check_kraus(K[1:])  # one outcome's operator missing: trace decreasing
    assert not dropped.trace_preserving and dropped.completely_positive and not dropped.cptp
    assert dropped.tp_defect > 1e-3

    scaled = chen.check_kraus(1.01 * K)  # trace increasing
    assert not scaled.trace_preserving and not scaled.cptp

    # Transposing the output is positive and trace preserving but not completely positive.
    transposed = chen.check_channel(lambda rho: chen.apply_kraus(K, rho).T, 9)
    assert transposed.trace_preserving
    assert not transposed.completely_positive and transposed.min_choi_eigenvalue < -1e-3


# ------------------------------------------------------------------------------------------------
# Input checks.


def test_bad_inputs_raise_clear_errors():
    tokens, text, layers = _example()
    with pytest.raises(ValueError, match="W_V t_0 must be a token"):
        chen.joint_distribution(text, [chen.ChenLayer(I2, I2, 2 * I2)], tokens)
    with pytest.raises(ValueError, match="must be a token"):
        chen.joint_distribution(text, [chen.ChenLayer(I2, I2, I2, ffn=lambda v: 0.5 * v)], tokens)
    with pytest.raises(ValueError, match="ffn must be a table of 2 token indices"):
        chen.joint_distribution(text, [chen.ChenLayer(I2, I2, I2, ffn=[0, 2])], tokens)
    with pytest.raises(TypeError, match="ffn must be None, a callable or a 1-D sequence"):
        chen.ChenLayer(I2, I2, I2, ffn=[0.5, 1.0])
    with pytest.raises(ValueError, match=r"W_K must have the shape of W_Q"):
        chen.ChenLayer(I2, np.eye(3), I2)
    with pytest.raises(ValueError, match=r"W_V must have shape \(2, 2\)"):
        chen.ChenLayer(I2, I2, np.eye(3))
    with pytest.raises(TypeError, match="W_Q must be a real numeric matrix"):
        chen.ChenLayer(1j * I2, I2, I2)
    with pytest.raises(ValueError, match=r"text must contain token indices in \[0, 2\)"):
        chen.joint_distribution((0, 2), layers, tokens)
    with pytest.raises(TypeError, match="text must contain token indices"):
        chen.joint_distribution((0, 1.0), layers, tokens)
    with pytest.raises(ValueError, match="text must have at least one token"):
        chen.joint_distribution((), layers, tokens)
    with pytest.raises(ValueError, match="layers must contain at least one block"):
        chen.joint_distribution(text, [], tokens)
    with pytest.raises(TypeError, match="layers must be a sequence of ChenLayer"):
        chen.joint_distribution(text, layers[0], tokens)
    with pytest.raises(ValueError, match="scale must be positive"):
        chen.joint_distribution(text, layers, tokens, scale=-1.0)
    with pytest.raises(TypeError, match="scale must be a real number"):
        chen.joint_distribution(text, layers, tokens, scale=True)
    with pytest.raises(ValueError, match="cutoff must be >= n \\+ L = 5"):
        chen.joint_distribution(text, layers, tokens, cutoff=4)
    with pytest.raises(ValueError, match="tokens must be distinct"):
        chen.joint_distribution(text, layers, np.ones((2, 2)))
    with pytest.raises(ValueError, match="layer matrices must act on the token dimension d = 3"):
        chen.joint_distribution((0,), layers, np.eye(3))
    with pytest.raises(ValueError, match=r"kraus must have shape \(n_kraus, d_out, d_in\)"):
        chen.check_kraus(np.eye(2))
    with pytest.raises(ValueError, match="atol must be >= 0"):
        chen.check_kraus(np.eye(2)[None], atol=-1.0)
    with pytest.raises(ValueError, match="d_in \\* d_out must be <="):
        chen.choi_from_kraus(np.zeros((1, 128, 64)))
    with pytest.raises(ValueError, match=r"rho must have shape \(2, 2\)"):
        chen.apply_kraus(np.eye(2)[None], np.eye(3))
