"""Data of a run: sources from the config, Trotter-simulated TFIM data, the projector, text baselines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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
