"""Nothing is lost when ``qsa submit`` is interrupted at any point of a two-job submission (issue 17).

Runtime local testing mode on a fake backend (``qsa.hardware.providers.LocalProvider``): no network,
no credentials. The smoke config split into two jobs is submitted and the submitting process is
stopped at one point -- before the first job, between the two, after both, between a job's id and
its journal line, in the middle of fetching -- and the run is then recovered with ``qsa jobs
resubmit`` / ``qsa jobs fetch``. Every recovery must end with every result identical to an
uninterrupted run.

The two data-loss cases of the issue run in the default suite, in process: the submitting process
"dies" by an exception out of a journal hook, which closes its pipes to the detached worker exactly
as a kill does (the worker is a real process and must survive). Every kill point also runs as a real
``SIGKILL`` of a ``qsa submit`` process (marked slow).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from qsa import cli
from qsa.hardware import submission
from qsa.hardware.journal import Journal
from qsa.hardware.providers import LocalProvider

ROOT = Path(__file__).resolve().parents[3]
SMOKE = ROOT / "experiments" / "hardware" / "smoke.toml"


class Died(BaseException):
    """Stands for the death of the submitting process (not an Exception: nothing catches it on the way out)."""


@pytest.fixture
def two_jobs(two_job_submission):
    """The smoke config split into two jobs, its plan (transpiled once), and the uninterrupted results."""
    plan, backend, _run, results = two_job_submission
    return plan, backend, results


def _same_results(a: dict, b: dict) -> None:
    for key in ("observables", "stderr", "cells"):
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            np.testing.assert_array_equal(np.asarray(a[key][name]), np.asarray(b[key][name]), err_msg=f"{key}.{name}")


def _die_at(monkeypatch, event: str, chunk: int, *, before: bool) -> None:
    original = Journal.append

    def append(self, name, **fields):
        if name == event and fields.get("chunk") == chunk and before:
            raise Died
        record = original(self, name, **fields)
        if name == event and fields.get("chunk") == chunk:
            raise Died
        return record

    monkeypatch.setattr(Journal, "append", append)


def _submit_and_die(tmp_path, monkeypatch, two_jobs, event, chunk, *, before):
    plan, backend, _ = two_jobs
    provider = LocalProvider(tmp_path / "run" / "local-service", simulator="ideal")
    with monkeypatch.context() as m:
        _die_at(m, event, chunk, before=before)
        with pytest.raises(Died):
            submission.submit(plan, provider, tmp_path / "run", backend=backend)
    return tmp_path / "run"


def test_killed_between_two_submissions_the_second_job_is_sent_again(tmp_path, monkeypatch, two_jobs, capsys):
    """Before: the worker died writing to the closed pipe and marked every job ERROR, the journaled one
    too, and nothing could send the missing job; the whole run had to be sent again."""
    run = _submit_and_die(tmp_path, monkeypatch, two_jobs, "submitted", 0, before=False)
    assert [r["chunk"] for r in Journal(run / "journal.jsonl").events("submitted")] == [0]
    rows = submission.status(run)
    assert [r["status"] for r in rows][1] == "NOT SUBMITTED" and rows[0]["status"] != "ERROR"
    assert cli.main(["jobs", "fetch", str(run)]) == 2
    assert "got none journaled or tagged for chunk(s) [1]" in capsys.readouterr().err
    assert cli.main(["jobs", "resubmit", str(run)]) == 0
    assert "chunk 1: submitted job" in capsys.readouterr().out
    assert cli.main(["jobs", "fetch", str(run)]) == 0
    _same_results(json.loads((run / "results.json").read_text()), two_jobs[2])
    records = Journal(run / "journal.jsonl").events("submitted")
    assert [(r["chunk"], r.get("resubmitted", False)) for r in records] == [(0, False), (1, True)]


def test_a_job_sent_the_instant_before_its_id_was_journaled_is_found_by_its_tags_or_adopted_by_id(
    tmp_path, monkeypatch, two_jobs, capsys
):
    """Before: it ran to DONE, `qsa jobs status` said NOT SUBMITTED, fetch refused and nothing could adopt it."""
    run = _submit_and_die(tmp_path, monkeypatch, two_jobs, "submitted", 1, before=True)
    assert [r["chunk"] for r in Journal(run / "journal.jsonl").events("submitted")] == [0]
    rows = submission.status(run)
    assert [r["status"] for r in rows][1] == "NOT JOURNALED" and rows[1]["job_id"]
    orphan = rows[1]["job_id"]
    LocalProvider(run / "local-service").job(orphan).result(timeout=600)  # it runs to the end on its own
    by_id = tmp_path / "by-id"
    shutil.copytree(run, by_id)  # the same crash, recovered the other way

    assert cli.main(["jobs", "fetch", str(run)]) == 0  # adopts chunk 1 by its tags on the way
    _same_results(json.loads((run / "results.json").read_text()), two_jobs[2])
    records = Journal(run / "journal.jsonl").events("submitted")
    assert [(r["chunk"], r["job_id"] == orphan, r.get("found_by")) for r in records] == [
        (0, False, None),
        (1, True, "tag"),
    ]

    capsys.readouterr()
    assert cli.main(["jobs", "adopt", str(by_id), "--job", "no-such-job"]) == 2
    assert "--job must name a job in the local store" in capsys.readouterr().err
    assert cli.main(["jobs", "adopt", str(by_id), "--job", orphan, "--chunk", "0"]) == 2
    assert "--chunk must be the job's own chunk 1 (its tag); got 0" in capsys.readouterr().err
    assert cli.main(["jobs", "adopt", str(by_id), "--job", orphan]) == 0
    assert f"chunk 1: job {orphan} journaled" in capsys.readouterr().out
    assert [r.get("found_by") for r in Journal(by_id / "journal.jsonl").events("submitted")] == [None, "adopt"]
    assert cli.main(["jobs", "fetch", str(by_id)]) == 0
    _same_results(json.loads((by_id / "results.json").read_text()), two_jobs[2])


# --- every kill point, as a real SIGKILL of a `qsa submit` process ----------------------------------

KILL_POINTS = {
    "before the first submission": ("run", None, False),
    "between the two submissions": ("submitted", 0, False),
    "between an id and its journal line": ("submitted", 0, True),
    "after both submissions": ("submitted", 1, False),
    "in the middle of fetching": ("result", 0, False),
}

_KILLER = """
import os, signal, sys
from qsa.hardware.journal import Journal
event, chunk, before = sys.argv[1], None if sys.argv[2] == "-" else int(sys.argv[2]), sys.argv[3] == "1"
original = Journal.append
def append(self, name, **fields):
    hit = name == event and (chunk is None or fields.get("chunk") == chunk)
    if hit and before:
        os.kill(os.getpid(), signal.SIGKILL)
    record = original(self, name, **fields)
    if hit:
        os.kill(os.getpid(), signal.SIGKILL)
    return record
Journal.append = append
from qsa.cli import main
sys.exit(main(sys.argv[4:]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_at_every_point_of_a_two_job_submission_loses_nothing(tmp_path, two_jobs, point):
    event, chunk, before = KILL_POINTS[point]
    split = tmp_path / "split.toml"
    split.write_text(SMOKE.read_text().replace("[run]\n", "[run]\nmax_parameter_sets_per_job = 1\n"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("QISKIT_IBM_")}
    argv = ["submit", str(split), "--backend", "fake_torino", "--channel", "local", "--local-simulator", "ideal",
            "--submit", "--out", str(tmp_path)]  # fmt: skip
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(_KILLER),
            event,
            "-" if chunk is None else str(chunk),
            str(int(before)),
            *argv,
        ],
        env=env,
        capture_output=True,
        timeout=600,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    (run,) = tmp_path.glob("submit-*")
    assert cli.main(["jobs", "resubmit", str(run)]) == 0
    assert cli.main(["jobs", "fetch", str(run)]) == 0
    _same_results(json.loads((run / "results.json").read_text()), two_jobs[2])
    assert not [p for p in run.rglob(".*") if p.name != ".lock"]  # no temporary file left
