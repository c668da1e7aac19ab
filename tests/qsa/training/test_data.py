"""Data of a run: sources from the config, Trotter-simulated TFIM data, the projector, text baselines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from qsa.training import build_dataset, load_config, model_config
from qsa.training.config import apply_overrides, config_from_dict

TEXT_SMOKE = Path(__file__).resolve().parents[3] / "experiments" / "classical" / "text_smoke.toml"
TFIM = {"data": {"source": "tfim", "n_qubits": 2, "T": 3, "n_train": 2, "n_test": 1, "n_heldout_hamiltonians": 1}}


def _dataset(raw, overrides=()):
    config = config_from_dict(apply_overrides(raw, overrides))
    return config, build_dataset(config, np.random.default_rng(5))


def test_trotter_evolution_keeps_the_initial_states_and_approaches_exact_evolution():
    _, exact = _dataset(TFIM)
    _, trotter = _dataset(TFIM, ["data.evolution=trotter", "data.trotter_steps=16", "data.trotter_order=2"])
    assert list(trotter.splits) == list(exact.splits) == ["train", "test", "heldout_H1"]
    for name in exact.splits:
        a, b = exact.splits[name], trotter.splits[name]
        np.testing.assert_array_equal(a.X[:, 0].numpy(), b.X[:, 0].numpy())
        assert float((a.Y - b.Y).abs().max()) < 1e-3  # Strang error at tau = 0.35/16 is ~2e-4
        assert b.meta["evolution"] == "trotter" and b.meta["trotter_steps"] == 16
    _, coarse = _dataset(TFIM, ["data.evolution=trotter", "data.trotter_steps=1", "data.trotter_order=1"])
    assert float((coarse.train.Y - exact.train.Y).abs().max()) > 1e-2


def test_projector_when_the_model_is_narrower_than_the_states():
    config, data = _dataset(TFIM, ["model.d=2"])
    mc = model_config(config, data)
    assert (mc.embedding, mc.input_qubits, mc.d, mc.T) == ("projector", 2, 2, 3)
    assert abs(data.chance.L_1 - 1.0) < 1e-12  # psi(2) - psi(1): chance at the model's width
    with pytest.raises(ValueError, match="model.d must be <= the data's token width 4"):
        model_config(*_dataset(TFIM, ["model.d=8"]))
    with pytest.raises(ValueError, match="model.d must equal the data's token width 4 for markov"):
        model_config(*_dataset({"data": {"source": "markov", "d": 4}}, ["model.d=2"]))


def test_text_windows_vocabulary_and_baselines():
    config = load_config(TEXT_SMOKE)
    data = build_dataset(config, np.random.default_rng(0))
    assert data.train.shape == (32, 9) and data.splits["test"].shape == (16, 9)
    M = len(data.vocabulary)
    assert abs(data.nll_baselines["uniform"] - np.log(M)) < 1e-12 and data.nll_baselines["unigram"] < np.log(M)
    mc = model_config(config, data)
    assert (mc.embedding, mc.vocab_size, mc.d, mc.positional) == ("isometric", M, 4, True)
    with pytest.raises(ValueError, match="model.d must be <= the vocabulary size"):
        build_dataset(load_config(TEXT_SMOKE, ["model.d=256"]), np.random.default_rng(0))


def test_token_baselines_copy_the_last_token_and_predict_the_mean_target_state():
    from qsa.analytic import loss_L1, step_probabilities
    from qsa.data import Sequences
    from qsa.training.data import Dataset, trivial_baselines

    config, data = _dataset({"data": {"source": "markov", "d": 4, "T": 5, "n_train": 6, "n_test": 3}})
    base = data.baselines
    assert set(base) == {"copy_last", "unigram"} and set(base["copy_last"]) == {"train", "test"}
    test = data.splits["test"]
    assert abs(base["copy_last"]["test"]["L_1"] - float(loss_L1(step_probabilities(test.X, test.Y)).mean())) < 1e-12
    # orthonormal tokens: the mean target state is diagonal and p_j is the unigram frequency of y_j
    eye = np.eye(4, dtype=complex)
    ids = np.array([[0, 1, 1, 2], [1, 1, 3, 0]])  # targets: 1 1 2 | 1 3 0 -> frequencies 1/6, 3/6, 1/6, 1/6
    seqs = Sequences.from_trajectories(eye[ids], field="complex")
    ds = Dataset(seqs, {"train": seqs}, 3, 4, data.chance, None, None, None, {})
    freq = np.array([1, 3, 1, 1]) / 6
    expected = -np.log(freq[ids[:, 1:]]).mean()
    assert abs(trivial_baselines(ds)["unigram"]["train"]["L_1"] - expected) < 1e-12
    assert trivial_baselines(ds)["copy_last"]["train"]["L_1"] == float("inf")  # 1 -> 1 repeats once only


def test_text_baselines_are_smoothed_unigram_and_bigram_counts():
    from qsa.training.data import BIGRAM_PSEUDOCOUNT, _text_baselines

    train = torch.tensor([[0, 1, 0, 1], [1, 1, 2, 0]])  # pairs (0,1) (1,0) (0,1) (1,1) (1,2) (2,0)
    test = torch.tensor([[2, 2, 1]])  # pairs (2,2) (2,1)
    out = _text_baselines(train, {"train": train, "test": test}, 3)
    uni = (np.array([2, 3, 1]) + 1) / (6 + 3)
    a = BIGRAM_PSEUDOCOUNT
    p22, p21 = (0 + a * uni[2]) / (1 + a), (0 + a * uni[1]) / (1 + a)
    assert abs(out["bigram"]["test"]["nll"] + (np.log(p22) + np.log(p21)) / 2) < 1e-12
    assert abs(out["unigram"]["test"]["nll"] + (np.log(uni[2]) + np.log(uni[1])) / 2) < 1e-12
    assert out["copy_last"]["test"]["accuracy"] == 0.5 and out["copy_last"]["train"]["accuracy"] == 1 / 6
    assert out["unigram"]["test"]["accuracy"] == 0.5  # the most frequent word (1) is right once
    assert out["bigram"]["train"]["accuracy"] == 4 / 6  # argmax p(.|0) = 1, p(.|1) = 0 or 1, p(.|2) = 0
