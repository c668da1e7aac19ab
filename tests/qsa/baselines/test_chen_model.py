"""Chen's model beyond one head: populations vs dense states, multi-head blocks, the GAI view, the trainable model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from support import TOL_STATE

from qsa.baselines import chen
from qsa.baselines.attention import count_parameters
from qsa.random import random_states


def _layer(rng: np.random.Generator, N: int) -> chen.ChenLayer:
    """A random block on the basis tokens of R^N: Gaussian W_Q, W_K, a permutation W_V, a random FFN table."""
    return chen.ChenLayer(
        rng.normal(size=(N, N)),
        rng.normal(size=(N, N)),
        np.eye(N)[rng.permutation(N)],
        ffn=rng.integers(0, N, size=N),
    )


def _tables_equal(a: dict, b: dict, atol: float = TOL_STATE) -> None:
    for key in set(a) | set(b):
        assert_allclose(a.get(key, 0.0), b.get(key, 0.0), rtol=0, atol=atol, err_msg=str(key))


@pytest.mark.parametrize("seed", range(4))
def test_propagating_populations_equals_the_dense_density_matrices(seed):
    rng = np.random.default_rng(seed)
    N, L = 2 + seed % 2, 1 + seed % 2
    layers = [_layer(rng, N) for _ in range(L)]
    if seed % 2:  # a multi-head block too
        layers[0] = chen.ChenMultiHeadLayer((layers[0], _layer(rng, N)), (0.25, 0.75))
    text = tuple(int(a) for a in rng.integers(0, N, size=3))
    dense = chen.sequential_measurement(text, layers, np.eye(N), scale=0.8, method="dense")
    pops = chen.sequential_measurement(text, layers, np.eye(N), scale=0.8)
    assert [b.outcomes for b in pops] == [b.outcomes for b in dense]
    for p, d in zip(pops, dense):
        assert_allclose(p.probability, d.probability, rtol=0, atol=TOL_STATE)
        ((string, q),) = p.populations.items()  # a basis text stays one basis string
        assert string == text + p.outcomes and q == 1.0 and p.state is None
        idx = sum(a * N ** (len(string) - 1 - k) for k, a in enumerate(string))
        assert_allclose(d.state[idx, idx], 1.0, rtol=0, atol=TOL_STATE)


def test_long_texts_run_on_populations_and_the_dense_path_refuses_them_clearly():
    rng = np.random.default_rng(7)
    layers = [_layer(rng, 2) for _ in range(2)]
    text = tuple(int(a) for a in rng.integers(0, 2, size=40))  # N^(n+L) = 2^42: no dense state could hold it
    _tables_equal(
        chen.joint_distribution(text, layers, np.eye(2)), chen.transformer_distribution(text, layers, np.eye(2))
    )
    with pytest.raises(ValueError, match=r"N\^\(n\+L\) must be <= 512 for method='dense'.*method='populations'"):
        chen.joint_distribution(text[:8], layers, np.eye(2), method="dense")
    with pytest.raises(ValueError, match="N\\^L must be <= 65536"):
        chen.joint_distribution((0,), [layers[0]] * 17, np.eye(2))
    with pytest.raises(ValueError, match="method must be 'dense' \\(or None\\) with a Fock cutoff"):
        chen.joint_distribution((0,), layers, np.eye(2), cutoff=4, method="populations")
    with pytest.raises(ValueError, match="method must be 'populations', 'dense' or None"):
        chen.joint_distribution((0,), layers, np.eye(2), method="sparse")


def test_a_multi_head_block_mixes_its_heads_and_is_a_channel():
    rng = np.random.default_rng(3)
    h1, h2 = _layer(rng, 3), _layer(rng, 3)
    block = chen.ChenMultiHeadLayer((h1, h2), (0.3, 0.7))
    text = (2, 0, 1)
    p = chen.next_token_distribution(text, block, np.eye(3), scale=1.1)
    p1, p2 = (chen.next_token_distribution(text, h, np.eye(3), scale=1.1) for h in (h1, h2))
    assert_allclose(p, 0.3 * p1 + 0.7 * p2, rtol=0, atol=TOL_STATE)
    assert chen.attention_weights(text, block, np.eye(3)).shape == (2, 3)
    assert chen.emitted_tokens(text, block, np.eye(3)).shape == (2, 3)
    assert chen.check_kraus(chen.sector_kraus(block, np.eye(3), 2)).cptp
    _tables_equal(
        chen.joint_distribution(text, [block, h1], np.eye(3)),
        chen.transformer_distribution(text, [block, h1], np.eye(3)),
    )
    assert chen.ChenMultiHeadLayer((h1, h2)).weights == (0.5, 0.5)
    with pytest.raises(ValueError, match="weights must be 2 non-negative numbers summing to 1"):
        chen.ChenMultiHeadLayer((h1, h2), (0.5, 0.6))
    with pytest.raises(TypeError, match="heads must be a non-empty sequence of ChenLayer"):
        chen.ChenMultiHeadLayer(())
    with pytest.raises(ValueError, match="heads must act on one embedding dimension"):
        chen.ChenMultiHeadLayer((h1, _layer(rng, 2)))


def test_the_gai_system_of_the_physical_model_is_consistent():
    # Chen's GAI formalism: P_T(y_1..y_n) for every text and horizon, marginal over y_n = the shorter joint
    rng = np.random.default_rng(11)
    layers = [_layer(rng, 3), chen.ChenMultiHeadLayer((_layer(rng, 3), _layer(rng, 3))), _layer(rng, 3)]
    system = chen.chen_system(layers, np.eye(3), scale=1.3)
    texts = [(0,), (2, 1), tuple(int(a) for a in rng.integers(0, 3, size=12))]
    check = system.check(texts)
    assert check.consistent and check.checked == 9 and check.marginal_defect < TOL_STATE
    _tables_equal(system.marginal(texts[1], 3), system.joint(texts[1], 2))
    assert system.joint((1,), 0) == {(): 1.0}

    # a family that is not the histories of one process fails: horizon n uses the last n blocks
    def shifted(text, n):
        return chen.joint_distribution(text, layers[-n:], np.eye(3), scale=1.3)

    broken = chen.GAISystem(shifted, n_tokens=3, horizon=3).check(texts)
    assert not broken.consistent and broken.marginal_defect > 1e-3 and broken.normalisation_defect < TOL_STATE
    with pytest.raises(ValueError, match="n must be <= the horizon 3"):
        system.joint((0,), 4)


def test_any_next_token_rule_makes_a_consistent_system():
    def rule(text):
        q = np.array([1.0 + len(text), 2.0, 0.5 + text[-1]])
        return q / q.sum()

    system = chen.autoregressive_system(rule, n_tokens=3, horizon=4)
    assert system.check([(0, 1), (2,)]).consistent
    assert_allclose(system.joint((2,), 1)[(0,)], rule((2,))[0], rtol=0, atol=TOL_STATE)
    with pytest.raises(ValueError, match=r"next_token must return a distribution of shape \(3,\)"):
        chen.autoregressive_system(lambda t: np.ones(2) / 2, n_tokens=3, horizon=1).joint((0,), 1)


# --- the trainable model -----------------------------------------------------------------------


def test_the_trainable_model_is_the_physical_model_on_basis_tokens():
    # W = W_Q^T W_K (real), V a permutation (W^V maps tokens to tokens): p(y | text) of the exact block
    rng = np.random.default_rng(5)
    N = 4
    heads = [
        chen.ChenLayer(rng.normal(size=(N, N)), rng.normal(size=(N, N)), np.eye(N)[rng.permutation(N)])
        for _ in range(2)
    ]
    block = chen.ChenMultiHeadLayer(tuple(heads), (0.4, 0.6))
    model = chen.ChenAttention(N, heads=2, scale=0.7, seed=0)
    with torch.no_grad():
        for h, layer in enumerate(heads):
            model.W[h].re.copy_(torch.from_numpy(layer.W_Q.T @ layer.W_K))
            model.W[h].im.zero_()
            model.V[h].set_unitary(layer.W_V)
        model.head_logits.copy_(torch.log(torch.tensor([0.4, 0.6], dtype=torch.float64)))
    text = [3, 0, 2, 2, 1]
    X = torch.eye(N, dtype=torch.complex128)[text]  # (T, N)
    P = model.next_token_probabilities(X, torch.eye(N, dtype=torch.float64)).detach().numpy()  # (T, N)
    for t in range(len(text)):
        assert_allclose(
            P[t], chen.next_token_distribution(text[: t + 1], block, np.eye(N), scale=0.7), rtol=0, atol=1e-10
        )


def test_the_trainable_model_emits_a_mixed_state_causally():
    model = chen.ChenAttention(4, heads=3, seed=1)
    X = torch.as_tensor(random_states(2, 6, 4, seed=2))
    Y = torch.as_tensor(random_states(2, 6, 4, seed=3))
    with torch.no_grad():
        rho = model(X)  # (S, T, d, d)
        assert rho.shape == (2, 6, 4, 4)
        torch.testing.assert_close(rho, rho.conj().transpose(-1, -2), rtol=0, atol=TOL_STATE)
        assert_allclose(torch.diagonal(rho, dim1=-2, dim2=-1).sum(-1).real.numpy(), 1.0, rtol=0, atol=TOL_STATE)
        assert torch.linalg.eigvalsh(rho).min() > -TOL_STATE
        p = model.probabilities(X, Y)
        torch.testing.assert_close(p, torch.einsum("stc,stcd,std->st", Y.conj(), rho, Y).real, rtol=0, atol=TOL_STATE)
        obs = model.observables(X, Y)
        torch.testing.assert_close(obs.L_1, -torch.log(p).mean(-1), rtol=0, atol=TOL_STATE)
        later = X.clone()
        later[:, 3:] = torch.as_tensor(random_states(2, 3, 4, seed=4))
        torch.testing.assert_close(model(later)[:, :3], rho[:, :3], rtol=0, atol=TOL_STATE)
    assert count_parameters(model) == 3 * (3 * 4**2) + 3  # W (2 d^2) and V (d^2) per head, 3 head logits
    assert count_parameters(chen.ChenAttention(4, seed=0)) == 3 * 4**2
    F = torch.linalg.qr(torch.randn(9, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))[0]
    with torch.no_grad():  # a Parseval frame (F^T F = I): next-word probabilities sum to 1
        assert_allclose(model.next_token_probabilities(X, F).sum(-1).numpy(), 1.0, rtol=0, atol=TOL_STATE)
    assert math.isclose(model.scale, 2.0)
    with pytest.raises(ValueError, match="heads must be >= 1"):
        chen.ChenAttention(4, heads=0, seed=0)
