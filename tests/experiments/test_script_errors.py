"""The experiments' scripts share the ``qsa`` command's error boundary (:func:`qsa.errors.run_command`): a
user mistake is one line on stderr naming the script, exit status 2, no traceback, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qsa.errors import EXIT_INTERNAL, EXIT_USER, UserError, run_command

ROOT = Path(__file__).resolve().parents[2]

CASES = [
    (["experiments/comparison/run.py", "{tmp}"], "must be a qsa sweep directory"),
    (["experiments/comparison/run.py", "{tmp}/missing"], "must be a qsa sweep directory"),
    (["experiments/kernels/at_step.py", "{tmp}", "--step", "3"], "SWEEP_DIR must be a sweep directory"),
    (["experiments/comparison/plot.py"], "arguments must be one RUN_DIR"),
    (["experiments/comparison/plot.py", "{tmp}"], "could not use a file: No such file or directory"),
    (["experiments/gate_counts/plot.py", "{tmp}/missing.json"], "could not use a file: No such file or directory"),
]


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_a_scripts_user_mistake_is_one_line_and_exit_2(tmp_path, argv, message):
    args = [a.format(tmp=tmp_path) for a in argv]
    out = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == EXIT_USER, out.stderr
    assert len(lines) == 1 and lines[0].startswith(f"{argv[0]}: ") and message in lines[0], out.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_run_command_statuses(capsys):
    assert run_command("demo", lambda: None) == 0
    assert run_command("demo", lambda: {"agree": True}) == 0  # a script's results are not a status
    assert run_command("demo", lambda: 1) == 1

    def refuse() -> None:
        raise UserError("n must be >= 1; got 0")  # a user mistake (a ValueError raised here is no check of qsa's)

    assert run_command("demo", refuse) == EXIT_USER
    assert capsys.readouterr().err == "demo: n must be >= 1; got 0\n"

    def interrupted() -> None:
        raise KeyboardInterrupt

    assert run_command("demo", interrupted) == 130
    assert capsys.readouterr().err == "demo: interrupted\n"
    assert run_command("demo", lambda: {}["missing"]) == EXIT_INTERNAL  # a bug keeps its traceback
    err = capsys.readouterr().err
    assert "Traceback" in err and "demo: internal error (KeyError)" in err
