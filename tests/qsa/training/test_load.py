"""``qsa.load_run``: a run directory read back -- config, trained weights, the same data splits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import qsa
from qsa.training import load_config, train

ROOT = Path(__file__).resolve().parents[3]
SMALL = ROOT / "experiments" / "hardware" / "tfim_small.toml"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    overrides = ["train.optimizer=adam", "train.steps=4", "train.eval_every=2", "train.checkpoint_every=2"]
    config = load_config(SMALL, overrides)
    return train(config, out=tmp_path_factory.mktemp("runs"), plots=False)


def test_load_run_gives_the_trained_model_its_config_and_splits(trained):
    run = qsa.load_run(trained.run_dir, checkpoint="last")
    assert run.config.name == "tfim-small" and run.step == 4 and run.checkpoint == "last"
    for name, p in trained.model.named_parameters():
        torch.testing.assert_close(dict(run.model.named_parameters())[name], p, rtol=0, atol=0)
    recorded = json.loads((trained.run_dir / "data.json").read_text())["fingerprint"]
    assert run.dataset.info["fingerprint"] == recorded and {"train", "test"} <= set(run.splits)
    with torch.no_grad():
        got = run.model(run.splits["test"]).L_B
    summary = json.loads((trained.run_dir / "summary.json").read_text())
    assert abs(float(got.mean()) - summary["final"]["test"]["L_B"]) < 1e-12


def test_the_best_checkpoint_is_the_lowest_test_loss(trained):
    run = qsa.load_run(trained.run_dir)  # best by default
    best = json.loads((trained.run_dir / "summary.json").read_text())["best"]
    assert run.checkpoint == "best" and run.step == best["step"]
    with torch.no_grad():
        assert abs(float(run.model(run.splits["test"]).L_B.mean()) - best["value"]) < 1e-12


def test_bad_runs_are_refused(trained, tmp_path):
    with pytest.raises(ValueError, match="checkpoint must be one of"):
        qsa.load_run(trained.run_dir, checkpoint="first")
    with pytest.raises(ValueError, match="run_dir must be a training run directory"):
        qsa.load_run(tmp_path)
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("config.json", "data.json", "checkpoint.pt"):
        (copy / name).write_bytes((trained.run_dir / name).read_bytes())
    with pytest.raises(ValueError, match="the run must have a best checkpoint"):
        qsa.load_run(copy)
    data = json.loads((copy / "data.json").read_text())
    data["fingerprint"] = "0" * 64
    (copy / "data.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="the data rebuilt from the run's config must equal the run's"):
        qsa.load_run(copy, checkpoint="last")
    (copy / "data.json").write_bytes((trained.run_dir / "data.json").read_bytes())
    (copy / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="checkpoint must be a readable qsa-checkpoint file"):
        qsa.load_run(copy, checkpoint="last")
    torch.save({"format": "another"}, copy / "checkpoint.pt")
    with pytest.raises(ValueError, match="checkpoint must be a qsa-checkpoint file of version"):
        qsa.load_run(copy, checkpoint="last")


def test_only_qsa_models_have_circuits_to_submit(trained):
    import dataclasses

    from qsa.hardware.trained import submission_inputs

    run = qsa.load_run(trained.run_dir)
    config, (X, Y, params), source, exact = submission_inputs(run, split="test", shots=100)
    assert X.shape == (config.sequences, 4, 2) and params["phi"].shape == (config.sequences, 4)  # aligned, per sequence
    assert source["split"] == "test" and source["step"] == run.step and config.data_source == "run"
    with pytest.raises(ValueError, match="the run must train a QSA model"):
        submission_inputs(dataclasses.replace(run, model=torch.nn.Linear(1, 1)), split="test")
