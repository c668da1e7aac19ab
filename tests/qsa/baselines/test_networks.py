"""The causal transformer and causal FNet baselines: causal, prefix-consistent, counted, seeded without global state."""

from __future__ import annotations

import pytest
import torch
from support import TOL_STATE

from qsa.baselines.attention import count_parameters
from qsa.baselines.networks import CausalFNet, CausalTransformer, NetworkConfig, causal_dft
from qsa.random import random_states

MODELS = [CausalTransformer, CausalFNet]


def _tokens(seed: int, S: int = 3, T: int = 7, d: int = 4) -> torch.Tensor:
    return torch.as_tensor(random_states(S, T, d, seed=seed))


@pytest.mark.parametrize("cls", MODELS)
@torch.no_grad()
def test_predictions_are_causal_and_do_not_depend_on_the_length(cls):
    model = cls(NetworkConfig(d=4, T=7, layers=2, heads=2), seed=0)
    X = _tokens(1)
    Z = model(X)
    assert Z.shape == X.shape and Z.dtype == torch.complex128
    changed = X.clone()
    changed[:, 4:] = _tokens(2)[:, 4:]  # change the future of step 3
    Z2 = model(changed)
    torch.testing.assert_close(Z2[:, :4], Z[:, :4], rtol=0, atol=TOL_STATE)
    assert float((Z2[:, 4:] - Z[:, 4:]).abs().max()) > 1e-3  # the future does matter where it should
    torch.testing.assert_close(model(X[:, :4]), Z[:, :4], rtol=0, atol=TOL_STATE)  # a prefix alone
    torch.testing.assert_close(model(X[0]), Z[0], rtol=0, atol=TOL_STATE)  # unbatched


@pytest.mark.parametrize("cls", MODELS)
def test_same_seed_same_model_and_the_global_rng_is_left_alone(cls):
    state = torch.random.get_rng_state()
    a, b = cls(NetworkConfig(d=4, T=5), seed=3), cls(NetworkConfig(d=4, T=5), seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c = cls(NetworkConfig(d=4, T=5), seed=4)
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


@pytest.mark.parametrize("d, w, f, L, H", [(4, 8, 16, 2, 2), (8, 16, 32, 1, 4), (2, None, None, 3, 1)])
def test_parameter_counts(d, w, f, L, H):
    config = NetworkConfig(d=d, T=6, layers=L, heads=H, width=w, ffn_width=f)
    w, f = config.model_width, config.hidden_width
    io = 2 * d * w + w + 2 * d * w + 2 * d  # the linear maps in and out of the real coordinates
    per_block = 4 * w * w + 4 * w + 2 * w * f + f + w + 4 * w  # attention (q, k, v, out), FFN, two LayerNorms
    assert count_parameters(CausalTransformer(config, seed=0)) == io + L * per_block + 2 * w
    assert count_parameters(CausalFNet(config, seed=0)) == io + L * (2 * w * f + f + w + 4 * w)  # no mixing weights


def test_the_causal_dft_is_the_lower_triangle_of_the_unitary_dft():
    F = causal_dft(5)
    full = torch.fft.fft(torch.eye(5, dtype=torch.complex128), norm="ortho")  # F[t, s] = e^{-2 pi i ts/5}/sqrt 5
    torch.testing.assert_close(F, torch.tril(full), rtol=0, atol=TOL_STATE)


@pytest.mark.parametrize("cls", MODELS)
def test_gradients_reach_every_parameter(cls):
    model = cls(NetworkConfig(d=4, T=5, layers=1, heads=2), seed=0)
    model(_tokens(5, T=5)).abs().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: CausalTransformer(NetworkConfig(d=4, T=5, heads=3), seed=0), ValueError, "width must be a multiple"),
        (lambda: NetworkConfig(d=4, T=0), ValueError, "T must be >= 1"),
        (lambda: NetworkConfig(d=4, T=5, layers=0), ValueError, "layers must be >= 1"),
        (lambda: CausalFNet(NetworkConfig(d=4, T=3), seed=0)(_tokens(0, T=4)), ValueError, "at most T = 3 steps"),
        (lambda: CausalFNet(NetworkConfig(d=4, T=5), seed=0)(_tokens(0, d=2, T=5)), ValueError, "token width d = 4"),
        (lambda: CausalFNet({"d": 4}, seed=0), TypeError, "config must be a NetworkConfig"),
        (lambda: CausalTransformer(NetworkConfig(d=4, T=5), seed=-1), ValueError, "seed must be >= 0"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
