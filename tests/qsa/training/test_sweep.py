"""``qsa sweep`` on the local engine: the plan, the trials as ordinary runs, the summary, resume, bad input.

The Ray engine's tests (a real local Ray instance) are in test_sweep_ray.py (marker ``ray``).
"""

from __future__ import annotations

import csv
import json
import os
import socket
import sys

import numpy as np
import pytest
import torch
from sweep_support import FAST, TFIM_SMOKE, rows

from qsa import cli
from qsa.errors import UserError
from qsa.training import sweep
from qsa.training.sweep import parse_grid, parse_seeds, plan_sweep, resume_sweep, run_sweep


@pytest.fixture(scope="module")
def plan():
    return plan_sweep(TFIM_SMOKE, ["model.k=1,2"], "0-1", overrides=FAST)


@pytest.fixture(scope="module")
def local_sweep(plan, tmp_path_factory):
    return run_sweep(plan, sweep_dir=tmp_path_factory.mktemp("sweep") / "local", engine="local")


# --- the plan -------------------------------------------------------------------------------------------


def test_grid_values_are_read_as_set_reads_them():
    assert parse_grid(["model.k=1,2", "model.kernel=mono,poly", "model.beta=0.5,[1]", "model.positional=true"]) == [
        ("model.k", [1, 2]),
        ("model.kernel", ["mono", "poly"]),
        ("model.beta", [0.5, [1]]),
        ("model.positional", [True]),
    ]


@pytest.mark.parametrize(
    ("text", "seeds"), [("0-4", [0, 1, 2, 3, 4]), ("2", [2]), ("0,3,7", [0, 3, 7]), ("0-1,9", [0, 1, 9])]
)
def test_seed_ranges(text, seeds):
    assert parse_seeds(text) == seeds


def test_the_plan_is_the_product_of_points_and_seeds_each_a_checked_config(plan):
    assert [(t.point["model.k"], t.seed) for t in plan.trials] == [(1, 0), (1, 1), (2, 0), (2, 1)]
    for t in plan.trials:
        assert t.config["model"]["k"] == t.point["model.k"] and t.config["seed"] == t.seed
        assert t.config["train"]["steps"] == 2
        assert t.name == f"tfim-smoke-model.k={t.point['model.k']}-seed={t.seed}"


# --- a local sweep ---------------------------------------------------------------------------------------


def test_every_trial_is_an_ordinary_run_directory(plan, local_sweep):
    assert not local_sweep.failed
    for t in plan.trials:
        run = local_sweep.sweep_dir / "trials" / t.name
        for name in ("config.json", "environment.json", "metrics.jsonl", "checkpoint.pt", "summary.json", "loss.png"):
            assert (run / name).is_file(), name
        assert json.loads((run / "config.json").read_text()) == t.config
    assert [p.name for p in local_sweep.files] == ["trials.csv", "summary.csv", "summary.md", "summary.png"]
    assert (local_sweep.sweep_dir / "summary.png").stat().st_size > 0


def test_the_summary_is_the_median_and_quartiles_over_seeds_of_the_runs_own_figures(plan, local_sweep):
    by_point = {}
    for t in plan.trials:
        summary = json.loads((local_sweep.sweep_dir / "trials" / t.name / "summary.json").read_text())
        by_point.setdefault(t.point["model.k"], []).append(summary)
    points = {int(r["model.k"]): r for r in csv.DictReader((local_sweep.sweep_dir / "summary.csv").open())}
    assert sorted(points) == [1, 2]
    for k, summaries in by_point.items():
        row = points[k]
        assert int(row["n_seeds"]) == 2
        for split in ("train", "test"):
            for metric in ("L_1", "L_half", "L_B"):
                values = [s["final"][split][metric] for s in summaries]
                q25, median, q75 = np.percentile(values, [25, 50, 75])
                assert float(row[f"{split}_{metric}_median"]) == pytest.approx(median, rel=0, abs=0)
                assert float(row[f"{split}_{metric}_iqr"]) == pytest.approx(q75 - q25, rel=1e-12, abs=1e-15)
        held = [np.mean([m["L_1"] for n, m in s["final"].items() if n.startswith("heldout")]) for s in summaries]
        assert float(row["heldout_L_1_median"]) == pytest.approx(np.median(held), rel=1e-15)
        assert float(row["chance_L_1_median"]) == summaries[0]["chance"]["L_1"]
    table = (local_sweep.sweep_dir / "summary.md").read_text()
    assert table.startswith("| model.k | seeds | train L_1 |") and table.count("\n") == 4
    assert local_sweep.table == table.rstrip("\n")


def test_the_cli_prints_the_table_and_names_the_files(tmp_path, capsys):
    argv = ["sweep", str(TFIM_SMOKE), "--grid", "model.k=1", "--seeds", "0", "--out", str(tmp_path), "--no-progress"]
    assert cli.main([*argv, *(a for item in FAST[:1] for a in ("--set", item))]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| model.k | seeds |") and "wrote: " in out and "summary.png" in out
    (sweep_dir,) = tmp_path.iterdir()
    assert sweep_dir.name.startswith("tfim-smoke-sweep-")


def test_an_interrupted_sweep_resumes_without_rerunning_finished_trials(local_sweep, tmp_path, monkeypatch):
    """The driver stops mid-way through the second trial (after its first checkpoint); --resume finishes it.

    The sweep is the k = 1 half of ``local_sweep``'s: its rows must equal those.
    """
    plan = plan_sweep(TFIM_SMOKE, ["model.k=1"], "0-1", overrides=FAST)
    run_trial = sweep.run_trial

    def interrupted(trial, run_dir, **kwargs):
        if trial.index == 1:

            def stop(step, path):
                raise KeyboardInterrupt  # as a killed driver: nothing after the first checkpoint

            kwargs["on_checkpoint"] = stop
        return run_trial(trial, run_dir, **kwargs)

    monkeypatch.setattr(sweep, "run_trial", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(plan, sweep_dir=tmp_path / "s", engine="local")
    monkeypatch.setattr(sweep, "run_trial", run_trial)
    trials = tmp_path / "s" / "trials"
    first = trials / plan.trials[0].name / "summary.json"
    stamp = first.stat().st_mtime_ns
    assert not (trials / plan.trials[1].name / "summary.json").exists()
    assert (trials / plan.trials[1].name / "checkpoint.pt").exists()

    result = resume_sweep(tmp_path / "s")
    assert first.stat().st_mtime_ns == stamp  # not rerun
    resumed = json.loads((trials / plan.trials[1].name / "summary.json").read_text())
    assert resumed["resumes"] == 1
    for name in ("trials.csv", "summary.csv"):
        uninterrupted = [r for r in rows(local_sweep.sweep_dir / name) if r["model.k"] == "1"]
        assert rows(result.sweep_dir / name) == uninterrupted and uninterrupted


# --- bad input: one line, exit 2, before any trial ---------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BAD = [
    (["--grid", "model.kk=1,2"], "model.kk is not a key"),
    (["--grid", "model.k="], "--grid model.k must list at least one value"),
    (["--grid", "model.k=1,,2"], "--grid model.k must list at least one value"),
    (["--grid", "model.k"], "--grid must read KEY=V1,V2"),
    (["--grid", "seed=1,2"], "--grid key must not be 'seed'"),
    (["--grid", "model.k=1,2", "--grid", "model.k=3"], "--grid key must appear once"),
    (["--grid", "model.k=0,1"], "model.k must be"),
    (["--seeds", "3-1"], "--seeds ranges must read LOW-HIGH"),
    (["--seeds", "a-b"], "--seeds must be seeds >= 0 or ranges"),
    (["--seeds", "0-"], "--seeds must be seeds >= 0 or ranges"),
    (["--seeds", "1,1"], "--seeds must name each seed once"),
    (["--engine", "mpi"], "--engine must be one of local, ray; got 'mpi'"),
    (["--gpus-per-trial", "1"], "--gpus-per-trial must not be given with --engine local"),
    (["--cpus-per-trial", "0", "--engine", "ray"], "--cpus-per-trial must be > 0"),
    (["--set", "model.device=cuda:9"], "model.device must be an available torch device"),
    (["--grid", "task=tfim"], "--grid task must only be given with a sweep plan"),
]


@pytest.mark.parametrize(("extra", "message"), BAD, ids=[" ".join(e) for e, _ in BAD])
def test_bad_input_is_one_line_before_any_trial(tmp_path, capsys, extra, message):
    status = cli.main(["sweep", str(TFIM_SMOKE), "--seeds", "0", "--out", str(tmp_path / "runs"), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1, err
    assert err[0].startswith("qsa sweep: ") and message in err[0], err[0]
    assert not (tmp_path / "runs").exists()


def test_engine_ray_without_ray_installed_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    status = cli.main(["sweep", str(TFIM_SMOKE), "--engine", "ray", "--out", str(tmp_path / "runs")])
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and "--engine must be 'local' when Ray is not installed" in line and "qsa[ray]" in line
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("address", ["127.0.0.1:{port}", "nohost", "10.0.0.1:port"])
def test_an_unreachable_or_malformed_address_is_refused_before_ray_starts(tmp_path, monkeypatch, address):
    monkeypatch.setattr(sweep, "check_ray", lambda: None)  # Ray installed or not: the address is checked first
    plan = plan_sweep(TFIM_SMOKE, [], "0", overrides=FAST)
    with pytest.raises(UserError, match="--address must be") as info:
        run_sweep(plan, out=tmp_path / "runs", engine="ray", address=address.format(port=_closed_port()))
    assert info.value.key == "--address"
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_gpus_per_trial_beyond_this_machines_gpus_is_refused_before_ray_starts(tmp_path, monkeypatch):
    """Ray started here with no GPU would wait for one forever; the sweep is refused before anything is written."""
    monkeypatch.setattr(sweep, "check_ray", lambda: None)
    plan = plan_sweep(TFIM_SMOKE, [], "0", overrides=FAST)
    with pytest.raises(UserError, match=r"--gpus-per-trial must be at most the GPUs .* \(0\); got 1") as info:
        run_sweep(plan, out=tmp_path / "runs", engine="ray", gpus_per_trial=1)
    assert info.value.key == "--gpus-per-trial"
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("where", ["empty directory", "missing", "a plan file"])
def test_resume_refuses_a_directory_that_is_not_a_sweep(tmp_path, capsys, where):
    target = {"empty directory": tmp_path, "missing": tmp_path / "missing", "a plan file": TFIM_SMOKE}[where]
    assert cli.main(["sweep", "--resume", str(target)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("qsa sweep: --resume must name a sweep directory (with sweep.json); got "), line


def test_ray_trials_hand_tune_their_first_checkpoint_then_at_most_one_per_period():
    """Why Tune's "snapshotting may become a bottleneck" warning is gone: a trial no longer hands it every checkpoint."""
    now, handed = [0.0], []
    hook = sweep._every(30.0, lambda step, path: handed.append(step), clock=lambda: now[0])
    for step, t in enumerate([0.0, 1.0, 29.9, 30.0, 45.0, 59.9, 60.0, 200.0]):
        now[0] = t
        hook(step, None)
    assert handed == [0, 3, 6, 7]


def test_tune_runs_with_its_legacy_output_engine_unless_the_user_chose_one(monkeypatch):
    """Ray Tune's documented RAY_AIR_NEW_OUTPUT=0 while a sweep runs (silent at verbose=0); a user's choice is kept."""
    monkeypatch.delenv("RAY_AIR_NEW_OUTPUT", raising=False)
    with sweep._quiet_tune_output():
        assert os.environ["RAY_AIR_NEW_OUTPUT"] == "0"
    assert "RAY_AIR_NEW_OUTPUT" not in os.environ
    monkeypatch.setenv("RAY_AIR_NEW_OUTPUT", "1")
    with sweep._quiet_tune_output():
        assert os.environ["RAY_AIR_NEW_OUTPUT"] == "1"
    assert os.environ["RAY_AIR_NEW_OUTPUT"] == "1"
