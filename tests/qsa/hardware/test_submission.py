"""``qsa submit`` / ``qsa jobs`` offline: local testing mode, no network, no credentials.

The end-to-end test submits in a separate process, SIGKILLs it once the job id is journaled (the
job still queued), resumes with ``qsa jobs fetch`` from the journal alone, and checks the results
are identical to an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from qsa import cli
from qsa.hardware import submission
from qsa.hardware.journal import Journal
from qsa.hardware.providers import LocalProvider, MissingAccountError

ROOT = Path(__file__).resolve().parents[3]
SMOKE = ROOT / "experiments" / "hardware" / "smoke.toml"
LOCAL = ["--backend", "fake_torino", "--channel", "local"]


@pytest.fixture
def no_ibm_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("QISKIT_IBM_"):
            monkeypatch.delenv(name)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("QISKIT_IBM_")}


def _run_dir(root: Path) -> Path:
    (run,) = root.glob("submit-*")
    return run


def _same_results(a: dict, b: dict) -> None:
    for key in ("observables", "stderr", "cells"):
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            np.testing.assert_array_equal(np.asarray(a[key][name]), np.asarray(b[key][name]), err_msg=f"{key}.{name}")
    assert a["transpiled"] == b["transpiled"]


def test_submit_kill_resume_gives_identical_results(tmp_path, no_ibm_env, capsys):
    # the uninterrupted reference run, in a thread of this process, while another process submits
    # the same run and is SIGKILLed as soon as its job id is journaled (the job still queued)
    reference_rc = []
    thread = threading.Thread(
        target=lambda: reference_rc.append(
            cli.main(["submit", str(SMOKE), *LOCAL, "--submit", "--out", str(tmp_path / "ref")])
        )
    )
    crash_root = tmp_path / "crash"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qsa.cli",
            "submit",
            str(SMOKE),
            *LOCAL,
            "--submit",
            "--local-latency",
            "3",
            "--out",
            str(crash_root),
        ],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    thread.start()
    deadline = time.monotonic() + 180
    job_id = None
    while job_id is None and time.monotonic() < deadline and proc.poll() is None:
        runs_ = list(crash_root.glob("submit-*"))
        if runs_:
            submitted = Journal(runs_[0] / "journal.jsonl").events("submitted")
            job_id = submitted[0]["job_id"] if submitted else None
        time.sleep(0.02)
    assert job_id is not None, proc.stderr.read().decode() if proc.poll() is not None else "no job journaled in time"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    run = _run_dir(crash_root)
    status = json.loads((run / "local-service" / job_id / "status.json").read_text())["status"]
    assert status == "QUEUED"  # the job outlives the process that submitted it
    assert not (run / "results.json").exists()
    thread.join(timeout=300)
    assert reference_rc == [0]
    reference = json.loads((_run_dir(tmp_path / "ref") / "results.json").read_text())
    capsys.readouterr()

    # resume by job id: this process never held the job; it finds it through the journal alone
    assert cli.main(["jobs", "status", str(run)]) == 0
    assert job_id in capsys.readouterr().out
    assert cli.main(["jobs", "fetch", str(run)]) == 0
    resumed = json.loads((run / "results.json").read_text())
    _same_results(resumed, reference)
    assert resumed["job_ids"] == [job_id] != reference["job_ids"]
    events = [r["event"] for r in Journal(run / "journal.jsonl").records()]
    assert events == ["run", "submitted", "result", "complete"]

    # fetching again is idempotent
    assert cli.main(["jobs", "fetch", str(run)]) == 0
    _same_results(json.loads((run / "results.json").read_text()), reference)


def test_dry_run_prints_the_plan_and_sends_nothing(tmp_path, capsys):
    assert cli.main(["submit", str(SMOKE), *LOCAL, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for word in ("fake_torino", "2q gates", "depth", "shots", "QPU time", "dry run: nothing was submitted"):
        assert word in out
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--backend", "fake_nowhere", "--channel", "local"], "backend must be one of the fake backends"),
        (
            ["--backend", "fake_manila", "--channel", "local"],
            "the circuit must fit the backend: mu .* has 6 qubits; fake_manila has 5",
        ),
        ([*LOCAL, "--max-shots", "5000"], "the run must fit the shot budget of 5,000; got 12,000 shots"),
        ([*LOCAL, "--max-qpu-seconds", "1"], "the run must fit the QPU-time budget of 1 s"),
        (
            [*LOCAL, "--gradient", "--shots", "20000", "--max-qpu-seconds", "1000"],
            "the run must fit the shot budget of 1,000,000; got 1,640,000",
        ),
    ],
)
def test_bad_input_is_refused_before_any_job(tmp_path, capsys, extra, message):
    assert cli.main(["submit", str(SMOKE), *extra, "--submit", "--out", str(tmp_path)]) == 2
    import re

    assert re.search(message, capsys.readouterr().err)
    assert not any(tmp_path.iterdir())  # no run directory, no local job


def test_missing_account_is_a_clear_error_before_any_job(tmp_path, capsys, no_ibm_env):
    empty = tmp_path / "no-account"
    empty.mkdir()
    account_file = empty / "qiskit-ibm.json"
    args = [
        "submit",
        str(SMOKE),
        "--backend",
        "ibm_torino",
        "--account-file",
        str(account_file),
        "--submit",
        "--out",
        str(tmp_path / "runs"),
    ]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "an IBM Quantum account must be saved" in err and "save_account" in err
    assert not (tmp_path / "runs").exists()
    assert not account_file.exists() or json.loads(account_file.read_text()) == {}  # nothing of ours written
    from qsa.hardware.providers import IBMProvider

    with pytest.raises(MissingAccountError):
        IBMProvider(filename=str(account_file))


def test_several_jobs_in_one_session_and_a_gradient(tmp_path):
    """Three jobs (parameter arrays split at 10 rows) in a Session (the end-to-end test uses Batch)."""
    config = submission.SubmitConfig.from_toml(SMOKE).replace(
        gradient=True, max_parameter_sets_per_job=10, sequences=1, shots=200
    )
    provider = LocalProvider(tmp_path / "store", simulator="ideal")
    backend = provider.backend("fake_torino")
    plan = submission.make_plan(config, backend)
    assert len(plan.chunks) == 3 and plan.parameter_sets == 41  # mu 21 rows (3 jobs), zeta 7 (1), nu 13 (2)
    ids = submission.submit(plan, provider, tmp_path / "run", backend=backend, execution="session")
    assert len(set(ids)) == 3
    results = submission.fetch(tmp_path / "run", provider=provider)
    assert results["job_ids"] == ids
    grad = results["gradient"]
    assert np.asarray(grad["theta_W"]).shape == (1, 1, 3) and np.asarray(grad["phi"]).shape == (4,)
    assert np.all(np.isfinite(np.asarray(grad["theta_V"])))
    rows = submission.status(tmp_path / "run", provider=provider)
    assert [r["status"] for r in rows] == ["DONE"] * 3 and all(r["saved"] for r in rows)


def test_fetch_refuses_a_run_with_an_unsubmitted_job(tmp_path):
    config = submission.SubmitConfig.from_toml(SMOKE).replace(max_parameter_sets_per_job=1)
    provider = LocalProvider(tmp_path / "store")
    backend = provider.backend("fake_torino")
    plan = submission.make_plan(config, backend)
    run = tmp_path / "run"
    run.mkdir()
    submission.runs.write_json(run / "plan.json", plan.summary())
    Journal(run / "journal.jsonl").append("run", provider=provider.record(), backend="fake_torino")
    with pytest.raises(
        ValueError,
        match=r"every job of the run must have been submitted; got none journaled or tagged for chunk\(s\) \[0, 1\] "
        r".*send them with qsa jobs resubmit",
    ):
        submission.fetch(run, provider=provider)


def test_journal_survives_a_line_cut_short(tmp_path):
    journal = Journal(tmp_path / "j.jsonl")
    journal.append("submitted", chunk=0, job_id="a")
    with open(journal.path, "a") as f:
        f.write('{"event": "submitted", "chunk": 1, "job_')  # a crash mid-write
    assert [r["job_id"] for r in journal.events("submitted")] == ["a"]
    journal.append("submitted", chunk=2, job_id="c")  # terminates the torn line first
    assert [r["job_id"] for r in journal.events("submitted")] == ["a", "c"]
    assert len(journal.path.read_text().splitlines()) == 3


def test_config_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[circuit]\nT = 4\nd = 3\n")
    with pytest.raises(ValueError, match="d must be a power of two"):
        submission.SubmitConfig.from_toml(bad)
    bad.write_text("[circuit]\nT = 4\nd = 2\n[run]\nshotz = 3\n")
    with pytest.raises(ValueError, match=r"\[run\] keys must be among .*; got 'shotz'"):
        submission.SubmitConfig.from_toml(bad)
    with pytest.raises(ValueError, match="config must be an existing TOML file"):
        submission.SubmitConfig.from_toml(tmp_path / "missing.toml")


@pytest.mark.hardware
def test_dry_run_against_the_saved_account(capsys):  # pragma: no cover - needs credentials and network
    from qsa.hardware.providers import IBMProvider

    backend = IBMProvider().service.least_busy(operational=True, simulator=False)
    assert cli.main(["submit", str(SMOKE), "--backend", backend.name]) == 0
    assert "dry run: nothing was submitted" in capsys.readouterr().out


def test_the_fetched_gradient_is_finite_and_follows_the_estimator_policy_when_cells_are_empty():
    """Issue 11, case 1 in ``qsa jobs fetch``: an empty mu cell and an empty nu cell (F = 0, L_B = inf from
    raw frequencies) give the gradient of the policy's L_B (smoothed, bounded cells), not NaN."""
    from qsa.circuits import Shape
    from qsa.hardware import programs
    from qsa.hardware.estimators import smoothed

    shape = Shape(circuit="A", T=2, d=2, k=1, kernel="mono", beta=None, w_layers=1, v_layers=1, phases=False)
    prog = programs.program(shape)
    rng = np.random.default_rng(0)
    base = {"mu": np.array([[0.0]]), "zeta": np.array([[0.3, 0.2]]), "nu": np.array([[0.0, 0.1]])}
    jac = {v: rng.normal(size=(1, c.shape[1], prog.n_trainable)) for v, c in base.items()}
    shots = 200
    grad = submission._loss_gradient(prog, base, jac, shape, 1, shots=shots, per_sequence_phi=False)
    got = np.concatenate([np.ravel(grad[name]) for name in prog.layout])
    # by hand: L_B = -log F, F = (T+1)/(2T) mu / sum(zeta) at the smoothed cells (no bound is active here)
    s = lambda a: smoothed(a, shots)  # noqa: E731
    factor = shots / (shots + 1)  # d smoothed / d frequency
    dmu = -1 / s(base["mu"][0, 0]) * factor
    dzeta = np.full(2, 1 / s(base["zeta"][0]).sum() * factor)
    want = dmu * jac["mu"][0, 0] + dzeta @ jac["zeta"][0]
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_the_fetched_gradient_near_f_1_is_that_of_the_unbounded_smoothed_cells():
    """``qsa jobs fetch``'s L_B gradient at F = 0.95 (T = 1, 40 shots): the sampled mu exceeds zeta in a third
    of the draws (bound mu <= zeta active, L_B = 0 there). Its exact mean over every outcome of the two counts
    (each outcome a sequence, its Jacobian weighted by the outcome's probability: no sampling) must be the
    closed form E[dL_B/d q] J with dL_B/d mu = -(N/(N+1)) / tilde mu, dL_B/d zeta = (N/(N+1)) / tilde zeta."""
    from support import binomial_pairs

    from qsa.circuits import Shape
    from qsa.hardware import programs

    shape = Shape(circuit="A", T=1, d=2, k=1, kernel="mono", beta=None, w_layers=1, v_layers=1, phases=False)
    prog = programs.program(shape)
    N = 40
    mu, zeta, weights, inverse = binomial_pairs(N, 0.285, 0.3)  # F = 0.95
    S = len(weights)
    base = {"mu": mu[:, None], "zeta": np.stack([zeta, np.zeros(S)], 1), "nu": np.full((S, 2), 0.1)}
    rng = np.random.default_rng(1)
    J = {v: rng.normal(size=(c.shape[1], prog.n_trainable)) for v, c in base.items()}  # one Jacobian per circuit
    jac = {v: S * weights[:, None, None] * J[v] for v in base}  # the mean over sequences weighted by probability
    grad = submission._loss_gradient(prog, base, jac, shape, S, shots=N, per_sequence_phi=False)
    got = np.concatenate([np.ravel(grad[name]) for name in prog.layout])
    slope = N / (N + 1)
    assert 0.25 < weights @ (mu > zeta) < 0.5  # the bound is active in a third of the draws
    want = -slope * inverse["first"] * J["mu"][0] + slope * inverse["second"] * J["zeta"][0]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
