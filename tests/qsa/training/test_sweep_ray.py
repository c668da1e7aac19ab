"""``qsa sweep --engine ray`` on a real local Ray instance (``ray.init(num_cpus=2)``): the same numbers as the
local engine, a killed trial worker resumed from its checkpoint, a killed driver finished by ``--resume``, Ctrl-C
an interruption as on the local engine.

Marker ``ray``: not in the default run (they start Ray: about 2.5 min on an idle 2-core machine); run them
after ``pip install -e ".[ray]"`` with ``python -m pytest -m ray -n 0`` (``.ci/run`` step 5 does).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

ray = pytest.importorskip("ray")

from sweep_support import FAST, TFIM_SMOKE, rows  # noqa: E402

from qsa.training.sweep import plan_sweep, resume_sweep, run_sweep  # noqa: E402

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def local_ray():
    """A real local Ray instance of 2 CPUs (not the deprecated local mode), shut down after the module."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


def _wait_for(predicate, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_four_trial_sweep_on_ray_equals_the_local_engine_number_for_number(local_ray, tmp_path, capsys):
    plan = plan_sweep(TFIM_SMOKE, ["model.k=1,2"], "0-1", overrides=FAST)
    tune_log, records = logging.getLogger("ray.tune"), _Records()
    tune_log.addHandler(records)
    try:
        on_ray = run_sweep(plan, sweep_dir=tmp_path / "ray", engine="ray")
    finally:
        tune_log.removeHandler(records)
    # each trial checkpoints after every step; handing Tune every checkpoint (num_to_keep=1) forced a snapshot
    # per checkpoint: 8 "Experiment state snapshotting ... may become a bottleneck" warnings in this sweep
    assert not [m for m in records.messages if "snapshotting" in m]
    out = capsys.readouterr().out  # Tune's new output engine printed its experiment box before our table
    assert "Configuration for experiment" not in out and "View detailed results" not in out, out
    here = run_sweep(plan, sweep_dir=tmp_path / "local", engine="local")
    assert len(on_ray.trials) == 4 and not on_ray.failed
    for name in ("trials.csv", "summary.csv"):
        assert rows(on_ray.sweep_dir / name) == rows(here.sweep_dir / name)
    assert (tmp_path / "ray" / "tune").is_dir()  # Tune's experiment state, what Tuner.restore reads


def test_a_sweep_plan_on_ray_gives_the_local_engines_trials_and_comparison(local_ray, tmp_path):
    """Two tasks x a plain family and one with settings of its own (the comparison's smoke plan, cut down)."""
    from qsa.training.comparison import sweep_results

    plan = plan_sweep(
        TFIM_SMOKE.parents[1] / "comparison" / "smoke.toml", ["task=tfim,markov", "model.family=qsa,chen"]
    )
    on_ray = run_sweep(plan, sweep_dir=tmp_path / "ray", engine="ray")
    here = run_sweep(plan, sweep_dir=tmp_path / "local", engine="local")
    assert len(on_ray.trials) == 4 and not on_ray.failed
    for name in ("trials.csv", "summary.csv"):
        assert rows(on_ray.sweep_dir / name) == rows(here.sweep_dir / name)
    timing = ("seconds", "cpu_seconds", "run_dir")
    a, b = sweep_results(on_ray.sweep_dir), sweep_results(here.sweep_dir)
    assert [{k: v for k, v in r.items() if k not in timing} for r in a["rows"]] == [
        {k: v for k, v in r.items() if k not in timing} for r in b["rows"]
    ]
    assert a["baselines_per_seed"] == b["baselines_per_seed"]


def test_a_killed_trial_worker_is_retried_from_its_checkpoint_and_ends_as_an_uninterrupted_run(local_ray, tmp_path):
    steps = ["train.steps=8", "train.eval_every=1", "train.checkpoint_every=1"]
    plan = plan_sweep(TFIM_SMOKE, [], "0", overrides=steps)
    run_dir = tmp_path / "ray" / "trials" / plan.trials[0].name
    outcome = {}
    driver = threading.Thread(
        target=lambda: outcome.setdefault("result", run_sweep(plan, sweep_dir=tmp_path / "ray", engine="ray"))
    )
    driver.start()
    metrics = run_dir / "metrics.jsonl"
    _wait_for(lambda: metrics.exists() and metrics.read_text().count('"step": 3') > 0, "step 3 of the trial")
    pid = int((run_dir / ".lock").read_text().split()[0])
    assert pid != os.getpid()  # the trial runs in a Ray worker process
    os.kill(pid, signal.SIGKILL)
    driver.join(timeout=600)
    assert not driver.is_alive()
    result = outcome["result"]
    assert not result.failed
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["resumes"] >= 1
    uninterrupted = run_sweep(plan, sweep_dir=tmp_path / "local", engine="local")
    assert rows(result.sweep_dir / "trials.csv") == rows(uninterrupted.sweep_dir / "trials.csv")


def test_a_killed_driver_is_finished_by_resume_without_rerunning_finished_trials(local_ray, tmp_path):
    argv = ["sweep", str(TFIM_SMOKE), "--grid", "model.k=1,2", "--seeds", "0", "--engine", "ray", "--num-cpus", "1"]
    argv += [a for item in FAST for a in ("--set", item)] + ["--out", str(tmp_path / "runs"), "--no-progress"]
    driver = subprocess.Popen([sys.executable, "-m", "qsa.cli", *argv], start_new_session=True)
    try:
        _wait_for(lambda: list((tmp_path / "runs").glob("*/trials/*-model.k=1-*/summary.json")), "the first trial")
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray instance it started
        driver.wait()
    (sweep_dir,) = (tmp_path / "runs").iterdir()
    first = next(sweep_dir.glob("trials/*-model.k=1-*/summary.json"))
    stamp = first.stat().st_mtime_ns
    assert not (sweep_dir / "summary.csv").exists()

    result = resume_sweep(sweep_dir)
    assert first.stat().st_mtime_ns == stamp  # finished trials are not rerun
    plan = plan_sweep(TFIM_SMOKE, ["model.k=1,2"], "0", overrides=FAST)
    uninterrupted = run_sweep(plan, sweep_dir=tmp_path / "local", engine="local")
    for name in ("trials.csv", "summary.csv"):
        assert rows(result.sweep_dir / name) == rows(uninterrupted.sweep_dir / name)


def test_ctrl_c_of_a_ray_sweep_is_an_interruption_as_on_the_local_engine(tmp_path):
    """Tune's fit returns normally on SIGINT (its state saved): the sweep must still end as interrupted, status
    130 and no summary of the trials that happened to finish, not as a finished sweep (status 0 and a summary)."""
    argv = ["sweep", str(TFIM_SMOKE), "--grid", "model.k=1,2", "--seeds", "0-1", "--engine", "ray", "--num-cpus", "1"]
    argv += ["--set", "train.steps=200", "--out", str(tmp_path / "runs"), "--no-progress"]
    driver = subprocess.Popen(
        [sys.executable, "-m", "qsa.cli", *argv], start_new_session=True, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for(lambda: list((tmp_path / "runs").glob("*/trials/*/metrics.jsonl")), "the first trial")
        driver.send_signal(signal.SIGINT)  # Ctrl-C: the driver only, as a terminal's process group would hold
        _, err = driver.communicate(timeout=300)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
    (sweep_dir,) = (tmp_path / "runs").iterdir()
    assert driver.returncode == 130 and "qsa sweep: interrupted" in err, err
    assert not (sweep_dir / "summary.csv").exists()
