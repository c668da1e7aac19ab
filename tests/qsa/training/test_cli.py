"""The ``qsa train`` command: runs a config with overrides, resumes, and fails clearly on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qsa.cli import main

ROOT = Path(__file__).resolve().parents[3]
SMOKE = str(ROOT / "experiments" / "classical" / "markov_smoke.toml")


def test_train_with_overrides_then_resume(tmp_path, capsys):
    assert (
        main(["train", SMOKE, "--set", "train.steps=4", "--set", "name=cli", "--out", str(tmp_path), "--no-progress"])
        == 0
    )
    out = capsys.readouterr().out
    (run,) = tmp_path.glob("cli-*")
    assert f"run: {run}" in out and "chance" in out and f"plot: {run / 'loss.png'}" in out
    assert json.loads((run / "config.json").read_text())["train"]["steps"] == 4
    assert json.loads((run / "environment.json").read_text())["torch_threads"] == 1
    before = (run / "metrics.jsonl").read_bytes()
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    assert (run / "metrics.jsonl").read_bytes() == before


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", SMOKE, "--set", "model.kk=1"], "model.kk is not a key of [model] (did you mean 'k'?)"),
        (["train", SMOKE, "--set", "train.steps=many"], "train.steps must be an integer; got 'many'"),
        (["train", "missing.toml"], "config must name an existing TOML file"),
        (["train"], "train must be given either CONFIG or --resume RUN_DIR; got neither"),
        (["train", SMOKE, "--resume", "runs/x"], "train must be given either CONFIG or --resume RUN_DIR; got both"),
        (["train", "--resume", "runs/x", "--set", "train.steps=3"], "--set must not be given with --resume"),
        (["train", SMOKE, "--threads", "0"], "--threads must be >= 1"),
    ],
)
def test_bad_input_exits_2_with_the_reason(tmp_path, capsys, argv, message):
    assert main(argv + ["--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing written
