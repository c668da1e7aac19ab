"""Nothing is lost when a run is interrupted or its files are damaged (issue 17).

A run interrupted at step 7 (its last checkpoint at step 6, older ones at 4 and 2) is damaged in one
way per test and resumed; it must end with exactly the metrics and parameters of an uninterrupted
run, or be refused with a message naming the file and leave the directory as it was.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import pytest
import torch

from qsa import runs
from qsa.training import load_config, resume, train
from qsa.training import loop as training_loop

ROOT = Path(__file__).resolve().parents[3]
MARKOV_SMOKE = ROOT / "experiments" / "classical" / "markov_smoke.toml"
OVERRIDES = ["train.steps=10", "train.checkpoint_every=2", "train.eval_every=5"]


class Killed(Exception):
    """Stands for SIGKILL: the process stops between two steps (the lock is released as the kernel would)."""


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run."""
    return train(load_config(MARKOV_SMOKE, OVERRIDES), run_dir=tmp_path_factory.mktemp("ref") / "run", plots=False)


@pytest.fixture(scope="module")
def interrupted_template(tmp_path_factory):
    """The same run stopped after step 7 (checkpoints at 2, 4 and 6; metrics written up to step 7)."""
    path = tmp_path_factory.mktemp("interrupted") / "run"
    original = training_loop._Run._train_step
    calls = []

    def step(self, batch):
        if len(calls) == 7:
            raise Killed
        calls.append(1)
        return original(self, batch)

    training_loop._Run._train_step = step
    try:
        with pytest.raises(Killed):
            train(load_config(MARKOV_SMOKE, OVERRIDES), run_dir=path, plots=False)
    finally:
        training_loop._Run._train_step = original
    return path


@pytest.fixture
def interrupted(interrupted_template, tmp_path):
    path = tmp_path / "run"
    shutil.copytree(interrupted_template, path)
    return path


def _snapshot(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() for p in path.rglob("*") if p.is_file()
    }


def _same_as(result, reference) -> None:
    assert (result.run_dir / "metrics.jsonl").read_bytes() == (reference.run_dir / "metrics.jsonl").read_bytes()
    for (name, a), b in zip(result.model.state_dict().items(), reference.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_the_interrupted_run_is_what_the_tests_assume(interrupted):
    names = sorted(p.name for p in interrupted.iterdir())
    assert names == ["best.pt", "checkpoint.2.pt", "checkpoint.4.pt", "checkpoint.pt", "config.json", "data.json",
                     "environment.json", "metrics.jsonl"]  # fmt: skip
    assert torch.load(interrupted / "checkpoint.pt", weights_only=True)["step"] == 6


def test_metrics_cut_short_before_the_checkpoint_are_restored(interrupted, reference):
    """The issue's first data-loss case: metrics.jsonl truncated to 100 bytes, then resumed. Before, the
    file was padded with NUL bytes to the recorded length and the run broke for good."""
    with open(interrupted / "metrics.jsonl", "r+b") as f:
        f.truncate(100)
    result = resume(interrupted, plots=False)
    assert b"\x00" not in (interrupted / "metrics.jsonl").read_bytes()
    _same_as(result, reference)
    assert resume(interrupted, plots=False).summary["steps"] == 10  # and it resumes again


def test_metrics_changed_before_the_checkpoint_are_restored(interrupted, reference):
    text = (interrupted / "metrics.jsonl").read_bytes()
    (interrupted / "metrics.jsonl").write_bytes(text.replace(b'"step": 1,', b'"step": 9,', 1))
    _same_as(resume(interrupted, plots=False), reference)


def test_a_torn_last_line_is_cut_and_never_extended(interrupted, reference):
    with open(interrupted / "metrics.jsonl", "ab") as f:
        f.write(b'{"kind": "train", "st')  # a kill in the middle of a write
    _same_as(resume(interrupted, plots=False), reference)


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(interrupted, reference, damage, caplog):
    latest = interrupted / "checkpoint.pt"
    data = latest.read_bytes()
    damaged = {"empty": b"", "truncated": data[: len(data) // 2], "garbage": os.urandom(2000)}[damage]
    latest.write_bytes(damaged)
    with caplog.at_level(logging.WARNING, logger="qsa.training.loop"):
        result = resume(interrupted, plots=False)
    assert "checkpoint.pt is damaged" in caplog.text and "resuming from checkpoint.4.pt (step 4)" in caplog.text
    _same_as(result, reference)
    assert (interrupted / "checkpoint.pt.damaged").read_bytes() == damaged  # kept for inspection
    assert torch.load(interrupted / "checkpoint.pt", weights_only=True)["step"] == 10


def test_every_checkpoint_damaged_is_refused_and_nothing_is_touched(interrupted):
    for path in interrupted.glob("checkpoint*.pt"):
        path.write_bytes(b"PK\x03\x04 not a checkpoint")
    before = _snapshot(interrupted)
    with pytest.raises(ValueError, match=r"checkpoint.pt must be a readable qsa-checkpoint file .* no intact older"):
        resume(interrupted, plots=False)
    assert _snapshot(interrupted) == before


def test_damaged_config_and_missing_data_record_are_restored_from_the_checkpoint(interrupted, reference, caplog):
    config = (interrupted / "config.json").read_bytes()
    (interrupted / "config.json").write_bytes(config[:40])
    (interrupted / "data.json").unlink()
    with caplog.at_level(logging.WARNING, logger="qsa.training.loop"):
        result = resume(interrupted, plots=False)
    assert "restoring it from checkpoint.pt" in caplog.text
    assert (interrupted / "config.json").read_bytes() == config
    assert json.loads((interrupted / "data.json").read_text()) == json.loads(
        (reference.run_dir / "data.json").read_text()
    )
    _same_as(result, reference)


def test_another_model_shape_is_refused_naming_both_shapes(interrupted):
    config = json.loads((interrupted / "config.json").read_text())
    config["model"]["w_layers"] = 3
    (interrupted / "config.json").write_text(json.dumps(config))
    before = _snapshot(interrupted)
    with pytest.raises(ValueError) as info:
        resume(interrupted, plots=False)
    message = str(info.value)
    assert "must have the shape of the one in checkpoint.pt: theta_W (1, 2, 3)" in message
    assert "got theta_W (3, 2, 3)" in message and "model.w_layers = 3 (the checkpoint's run: 1)" in message
    assert _snapshot(interrupted) == before


def test_a_second_process_is_refused_with_the_holders_pid_and_a_stale_lock_is_taken_over(interrupted, reference):
    before = _snapshot(interrupted)
    with runs.RunLock(interrupted):  # another live process training it
        with pytest.raises(ValueError, match=rf"must not be in use by another process; got process {os.getpid()}"):
            resume(interrupted, plots=False)
        assert _snapshot(interrupted) == {**before, ".lock": _snapshot(interrupted)[".lock"]}
    (interrupted / ".lock").write_text("999999999\n")  # left by a process killed long ago: no flock held
    _same_as(resume(interrupted, plots=False), reference)
    assert not (interrupted / ".lock").exists()


def test_temporary_files_left_by_a_kill_inside_a_write_are_removed(interrupted, reference):
    (interrupted / ".checkpoint.pt.x1y2z3w4.tmp").write_bytes(b"half a checkpoint")
    (interrupted / ".metrics.jsonl.abcdefgh").write_bytes(b"older qsa")
    _same_as(resume(interrupted, plots=False), reference)
    assert not [p for p in interrupted.iterdir() if p.name.startswith(".")]


def test_only_the_last_checkpoints_are_kept(tmp_path):
    result = train(load_config(MARKOV_SMOKE, [*OVERRIDES, "train.keep_checkpoints=2"]), run_dir=tmp_path, plots=False)
    assert sorted(p.name for p in result.run_dir.glob("checkpoint*.pt")) == ["checkpoint.8.pt", "checkpoint.pt"]
