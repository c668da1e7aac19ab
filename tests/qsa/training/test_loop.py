"""The training loop: run directory, determinism, any evaluator, checkpoints, and resume after SIGKILL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from qsa.evaluators import AnalyticEvaluator
from qsa.training import config_from_dict, config_to_dict, load_config, read_metrics, resume, train

ROOT = Path(__file__).resolve().parents[3]
TFIM_SMOKE = ROOT / "experiments" / "tfim" / "smoke.toml"
MARKOV_SMOKE = ROOT / "experiments" / "classical" / "markov_smoke.toml"
TEXT_SMOKE = ROOT / "experiments" / "classical" / "text_smoke.toml"


def test_run_directory_records_config_environment_metrics_checkpoints_and_plot(tmp_path):
    config = load_config(TFIM_SMOKE)
    result = train(config, out=tmp_path)
    run = result.run_dir
    assert run.parent == tmp_path and run.name.startswith("tfim-smoke-")
    names = {p.name for p in run.iterdir()}
    assert {
        "config.json",
        "environment.json",
        "data.json",
        "metrics.jsonl",
        "checkpoint.pt",
        "best.pt",
        "loss.png",
        "summary.json",
    } <= names
    assert config_from_dict(json.loads((run / "config.json").read_text())) == config
    env = json.loads((run / "environment.json").read_text())
    assert env["packages"]["torch"] and env["packages"]["qsa"] and "git_commit" in env and env["torch_threads"] >= 1
    assert env["evaluator"] == "AnalyticEvaluator()"

    records = read_metrics(run)
    assert [r["step"] for r in records if r["kind"] == "train"] == list(range(1, 11))
    evals = [(r["step"], r["split"]) for r in records if r["kind"] == "eval"]
    assert evals == [(s, split) for s in (0, 5, 10) for split in ("train", "test", "heldout_H1")]
    first, last = records[0], [r for r in records if r["kind"] == "eval" and r["split"] == "train"][-1]
    assert last["L_1"] < first["L_1"] < 4  # it learns (and starts near chance)

    summary = result.summary
    assert summary == json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 10 and set(summary["final"]) == {"train", "test", "heldout_H1"}
    assert summary["final"]["train"]["L_1"] == last["L_1"]
    assert abs(summary["chance"]["L_1"] - 2.5929) < 1e-4 and summary["wall_seconds"] > 0
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (run / "loss.png").stat().st_size > 20_000

    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    assert checkpoint["step"] == 10 and checkpoint["metrics_bytes"] == (run / "metrics.jsonl").stat().st_size
    assert set(checkpoint["model"]) == set(result.model.state_dict())
    best = torch.load(run / "best.pt", weights_only=True)
    assert best["step"] == summary["best"]["step"] and best["best"]["value"] == min(
        r["L_1"] for r in records if r["kind"] == "eval" and r["split"] == "test"
    )


SEED_CASES = {
    "adam-minibatch": (MARKOV_SMOKE, []),
    "lbfgs": (TFIM_SMOKE, []),
    "text-embedding": (TEXT_SMOKE, []),
    "kcsa-lbfgs": (TFIM_SMOKE, ["model.family=kcsa", "model.k=2"]),
    "softmax-adam-minibatch": (
        MARKOV_SMOKE,
        ["model.family=softmax_isometric", "model.w_layers=2", "model.v_layers=2"],
    ),
    "koopman-lbfgs": (TFIM_SMOKE, ["model.family=koopman", "model.k=1"]),
}


@pytest.mark.parametrize("case", list(SEED_CASES))
def test_same_seed_twice_gives_identical_metrics(tmp_path, case):
    path, overrides = SEED_CASES[case]
    config = load_config(path, overrides)
    a = train(config, run_dir=tmp_path / "a", plots=False)
    b = train(config, run_dir=tmp_path / "b", plots=False)
    assert (a.run_dir / "metrics.jsonl").read_bytes() == (b.run_dir / "metrics.jsonl").read_bytes()
    other = train(replace(config, seed=config.seed + 1), run_dir=tmp_path / "c", plots=False)
    assert (other.run_dir / "metrics.jsonl").read_bytes() != (a.run_dir / "metrics.jsonl").read_bytes()


class WrappedAnalytic:
    """An evaluator object of our own that meets the contract by delegating to the closed forms."""

    def __init__(self):
        self.inner, self.calls = AnalyticEvaluator(), 0

    def __call__(self, params, X, Y, *, k, kernel, beta):
        self.calls += 1
        return self.inner(params, X, Y, k=k, kernel=kernel, beta=beta)

    def __repr__(self):
        return "WrappedAnalytic()"


@pytest.mark.parametrize("path", [TFIM_SMOKE, TEXT_SMOKE], ids=["tfim-lbfgs", "text-nll"])
def test_any_conforming_evaluator_drives_training(tmp_path, path):
    config = load_config(path, ["model.phases=trained", "train.loss=L_B"] if path == TFIM_SMOKE else [])
    evaluator = WrappedAnalytic()
    custom = train(config, run_dir=tmp_path / "custom", evaluator=evaluator, plots=False)
    reference = train(config, run_dir=tmp_path / "reference", plots=False)
    assert evaluator.calls > config.train.steps
    assert (custom.run_dir / "metrics.jsonl").read_bytes() == (reference.run_dir / "metrics.jsonl").read_bytes()
    assert json.loads((custom.run_dir / "environment.json").read_text())["evaluator"] == "WrappedAnalytic()"


def test_text_runs_report_next_word_metrics_consistently(tmp_path):
    result = train(load_config(TEXT_SMOKE), out=tmp_path, plots=False)
    final = result.summary["final"]["test"]
    assert {"nll", "next_token_accuracy", "L_1"} <= set(final)
    b = result.summary["nll_baselines"]
    assert b["uniform"] > b["unigram"] > 0 and 0 < result.summary["majority_accuracy"] < 1
    # nll from the evaluator's p_j and the target norms = nll of p(l|z) over the vocabulary from the closed-form z
    model = result.model
    from qsa.training import build_dataset

    ids = build_dataset(load_config(TEXT_SMOKE), np.random.default_rng(np.random.SeedSequence(0).spawn(3)[0])).splits[
        "test"
    ]
    with torch.no_grad():
        direct = model.embedding.next_token_nll(model.predictions(ids), ids)
    assert abs(float(direct) - final["nll"]) < 1e-10


def test_resume_without_a_checkpoint_starts_over(tmp_path):
    result = train(load_config(MARKOV_SMOKE), run_dir=tmp_path / "run", plots=False)
    expected = (result.run_dir / "metrics.jsonl").read_bytes()
    for checkpoint in result.run_dir.glob("checkpoint*.pt"):  # as if killed before the first checkpoint
        checkpoint.unlink()
    with open(result.run_dir / "metrics.jsonl", "ab") as f:
        f.write(b'{"kind": "train", "step": 1, "loss": 0.1')  # a torn last line
    again = resume(result.run_dir, plots=False)
    assert (again.run_dir / "metrics.jsonl").read_bytes() == expected
    assert again.summary["resumes"] == 0


def test_resuming_a_finished_run_changes_no_metric(tmp_path):
    result = train(load_config(MARKOV_SMOKE), run_dir=tmp_path / "run", plots=False)
    expected = (result.run_dir / "metrics.jsonl").read_bytes()
    again = resume(result.run_dir, plots=False)
    assert (again.run_dir / "metrics.jsonl").read_bytes() == expected and again.summary["resumes"] == 1
    assert again.summary["final"] == result.summary["final"]


def _train_steps_written(metrics: Path) -> int:
    text = metrics.read_text() if metrics.exists() else ""
    lines = text.split("\n")[:-1]  # complete lines only
    return max((json.loads(line)["step"] for line in lines if '"kind": "train"' in line), default=0)


KILL_CASES = {
    "adam-minibatch": (MARKOV_SMOKE, ["train.steps=160", "train.checkpoint_every=40", "train.eval_every=50"]),
    "lbfgs": (
        TFIM_SMOKE,
        [
            "data.n_qubits=2",
            "data.T=4",
            "data.n_heldout_hamiltonians=0",
            "model.w_layers=1",
            "model.v_layers=1",
            "train.steps=160",
            "train.checkpoint_every=40",
            "train.eval_every=50",
        ],
    ),
    # a baseline family through the same loop: L-BFGS history and free-unitary parameters restored bitwise
    "kcsa-lbfgs": (
        TFIM_SMOKE,
        [
            "model.family=kcsa",
            "data.n_qubits=2",
            "data.T=4",
            "data.n_heldout_hamiltonians=0",
            "train.steps=160",
            "train.checkpoint_every=40",
            "train.eval_every=50",
        ],
    ),
}


@pytest.mark.parametrize("case", list(KILL_CASES))
def test_sigkill_during_training_then_resume_gives_the_uninterrupted_metrics_bitwise(tmp_path, case):
    """Bitwise, not to a tolerance: parameters, optimiser state (Adam moments and step count,
    L-BFGS history), the batch-order generator and the step are restored exactly (torch.save
    keeps float64 bits), metrics.jsonl is cut back to its length at the checkpoint, and CPU
    kernels are deterministic at a fixed thread count (one thread in all three runs here)."""
    path, overrides = KILL_CASES[case]
    command = [
        sys.executable,
        "-m",
        "qsa.cli",
        "train",
        str(path),
        "--out",
        str(tmp_path / "killed"),
        "--threads",
        "1",
        "--no-progress",
    ] + [arg for o in overrides for arg in ("--set", o)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
    deadline = time.monotonic() + 300
    try:
        while True:  # wait for a checkpoint and a few steps beyond it, then kill -9
            found = list((tmp_path / "killed").glob("*/checkpoint.pt"))
            if found and _train_steps_written(found[0].parent / "metrics.jsonl") >= 45:
                break
            if proc.poll() is not None:
                pytest.fail(
                    f"training ended (code {proc.returncode}) before it could be killed: {proc.stderr.read().decode()}"
                )
            if time.monotonic() > deadline:
                pytest.fail("no checkpoint within 300 s")
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    run_dir = found[0].parent
    assert not (run_dir / "summary.json").exists()
    config = load_config(path, overrides)
    killed_at = torch.load(run_dir / "checkpoint.pt", weights_only=True)["step"]
    assert 40 <= killed_at < config.train.steps and _train_steps_written(run_dir / "metrics.jsonl") > killed_at

    assert torch.get_num_threads() == 1  # as in the killed run (conftest.py)
    reference = train(config, out=tmp_path / "reference", plots=False)
    resumed = resume(run_dir, plots=False)
    assert resumed.summary["resumes"] == 1 and resumed.summary["steps"] == config.train.steps
    assert (run_dir / "metrics.jsonl").read_bytes() == (reference.run_dir / "metrics.jsonl").read_bytes()
    assert json.loads((run_dir / "config.json").read_text()) == config_to_dict(config)
    for a, b in zip(resumed.model.state_dict().values(), reference.model.state_dict().values()):
        assert torch.equal(a, b)


def test_bad_run_directories(tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "file").write_text("x")
    with pytest.raises(ValueError, match="run_dir must be a new or empty directory"):
        train(load_config(MARKOV_SMOKE), run_dir=tmp_path / "used")
    with pytest.raises(FileNotFoundError, match="run_dir must be a run directory"):
        resume(tmp_path / "used")
    with pytest.raises(TypeError, match="config must be a TrainConfig"):
        train({"name": "x"}, out=tmp_path)
    config = load_config(MARKOV_SMOKE)
    with pytest.raises(ValueError, match="train.steps must be >= 0; got -1"):  # configs built in code are checked too
        train(replace(config, train=replace(config.train, steps=-1)), out=tmp_path)
    assert not list(tmp_path.glob("markov*"))
    with pytest.raises(ValueError, match="train.loss must be 'L_B', 'L_half' or 'L_1' for markov data"):
        train(load_config(MARKOV_SMOKE, ["train.loss=nll"]), out=tmp_path)
    with pytest.raises(ValueError, match="model.d must be given for text data"):
        train(load_config(TEXT_SMOKE, ["model.d=none"]), out=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["used"]  # no run directory left behind by a refused config


def test_resume_refuses_different_data(tmp_path):
    result = train(load_config(MARKOV_SMOKE), run_dir=tmp_path / "run", plots=False)
    config = json.loads((result.run_dir / "config.json").read_text())
    config["data"]["rho"] = 0.5  # as if the data source had changed under the run
    (result.run_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="the data rebuilt for resuming must equal the run's"):
        resume(result.run_dir, plots=False)


def test_resume_refuses_a_changed_text_file(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat . " * 40)
    overrides = ["data.corpus=file", f"data.path='{corpus}'", "train.steps=2", "model.d=4"]
    result = train(load_config(TEXT_SMOKE, overrides), run_dir=tmp_path / "run", plots=False)
    corpus.write_text("the mat sat on the cat . " * 40)  # the same words, other windows
    with pytest.raises(ValueError, match="the data rebuilt for resuming must equal the run's"):
        resume(result.run_dir, plots=False)


def test_aer_backend_trains_like_the_analytic_tier(tmp_path):
    """model.backend = "aer" with exact probabilities (parameter-shift gradients, one Aer job per
    step) follows the analytic run: the same losses at every step, to 1e-8."""
    smoke = ROOT / "experiments" / "shot_training" / "smoke.toml"
    common = ["train.steps=3", "model.shots=none", "model.shot_seed=none"]
    aer = train(load_config(smoke, common), run_dir=tmp_path / "aer", plots=False)
    exact = train(load_config(smoke, [*common, "model.backend=analytic"]), run_dir=tmp_path / "analytic", plots=False)
    assert "HardwareEvaluator" in json.loads((aer.run_dir / "environment.json").read_text())["evaluator"]
    got, expected = ([r.get("loss", r.get("L_B")) for r in read_metrics(run.run_dir)] for run in (aer, exact))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-8)
