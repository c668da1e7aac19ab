"""Text models of every family: next-token distributions, generated samples, and their GAI system."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from support import TOL_STATE

from qsa.baselines.chen import autoregressive_system
from qsa.training import build_model, load_config, next_token_probabilities, run_dataset, with_family
from qsa.training.generate import generate, next_token_distribution

TEXT_SMOKE = Path(__file__).resolve().parents[3] / "experiments" / "classical" / "text_smoke.toml"


@pytest.fixture(scope="module", params=["qsa", "chen"])
def text_model(request):
    config = with_family(load_config(TEXT_SMOKE), request.param)
    dataset = run_dataset(config)
    return build_model(config, dataset, seed=np.random.default_rng(0)), dataset


def test_next_token_probabilities_are_distributions_read_at_each_causal_position(text_model):
    model, dataset = text_model
    ids = dataset.splits["test"][:4]  # (S, T+1)
    with torch.no_grad():
        P = next_token_probabilities(model, ids)  # (S, T, M)
    M, T = len(dataset.vocabulary), ids.shape[1] - 1
    assert P.shape == (4, T, M)
    np.testing.assert_allclose(P.sum(-1).numpy(), 1.0, rtol=0, atol=TOL_STATE)
    # a shorter context, padded after it, gives the same distribution (the models are causal)
    ctx = ids[1, :5].tolist()
    np.testing.assert_allclose(next_token_distribution(model, ctx), P[1, 4].numpy(), rtol=0, atol=TOL_STATE)


def test_generation_is_seeded_and_greedy_takes_the_most_probable_word(text_model):
    model, dataset = text_model
    vocab = dataset.vocabulary
    prompt = dataset.train[0, :3].tolist()
    a = generate(model, vocab, prompt, 6, seed=1)
    assert a == generate(model, vocab, prompt, 6, seed=1)
    assert len(a.ids) == 9 and a.prompt_length == 3 and a.ids[:3] == tuple(prompt) and isinstance(a.text, str)
    greedy = generate(model, vocab, prompt, 2, seed=0, greedy=True)
    first = int(np.argmax(next_token_distribution(model, prompt)))
    assert greedy.ids[3] == first
    text_prompt = " ".join(vocab.decode(prompt))
    assert generate(model, vocab, text_prompt, 2, seed=1).ids[:3] == tuple(prompt)
    with pytest.raises(ValueError, match="temperature must be"):
        generate(model, vocab, prompt, 2, seed=0, temperature=0.0)
    with pytest.raises(ValueError, match="n_tokens must be >= 1"):
        generate(model, vocab, prompt, 0, seed=0)


def test_a_trained_text_model_is_a_consistent_gai_system(text_model):
    model, dataset = text_model
    M = len(dataset.vocabulary)
    system = autoregressive_system(lambda ctx: next_token_distribution(model, ctx), n_tokens=M, horizon=2)
    check = system.check([dataset.train[0, :4].tolist()])
    assert check.consistent and check.checked == 2
