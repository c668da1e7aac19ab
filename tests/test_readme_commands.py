"""Every command in README.md and experiments/*/README.md runs (most of them are long: marked slow).

The commands are read from the READMEs' code blocks, so a new one is run without editing this file.
Each runs in a fresh temporary directory (its ``runs/`` land there) with ``experiments/`` pointing
into the repository. Commands that talk to IBM Quantum (``--backend ibm_*``) are marked
``hardware`` (never in CI); their offline twins (``--backend fake_torino --channel local``) run.
The README's setup commands (a venv and ``pip install``) are what ``.ci/run`` executes; their
``qsa train`` / ``python -m pytest`` tails are what runs here and in CI.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
READMES = [ROOT / "README.md", *sorted((ROOT / "experiments").glob("*/README.md"))]
#: Commands that read what an earlier command of the same README wrote: placeholder -> that command.
NEEDS = {
    "runs/comparison-smoke-sweep-<stamp>": "qsa sweep experiments/comparison/smoke.toml --no-progress",
    "runs/gate_counts-<stamp>": "python experiments/gate_counts/run.py --smoke",
    "runs/tfim-small-<stamp>": "qsa train experiments/hardware/tfim_small.toml",
    "runs/tfim-<stamp>": "qsa train experiments/tfim/smoke.toml --no-progress",
    "runs/kernels-sweep-<stamp>": "qsa sweep experiments/kernels/config.toml --set train.steps=400 --no-progress",
}


def _blocks(text: str) -> list[tuple[str, list[str]]]:
    blocks = [(m.group(1), m.group(2).splitlines()) for m in re.finditer(r"```(\w*)\n(.*?)```", text, re.S)]
    current: list[str] = []
    fenced, previous_blank = False, True
    for line in [*text.splitlines(), ""]:
        if line.startswith("```"):
            fenced = not fenced
        if fenced:
            continue
        if line.startswith("    ") and (current or previous_blank):
            current.append(line[4:])
        elif current:
            blocks.append(("indented", current))
            current = []
        previous_blank = not line.strip()
    return blocks


def _commands() -> list[tuple[str, str]]:
    found = []
    for readme in READMES:
        for kind, lines in _blocks(readme.read_text(encoding="utf-8")):
            if kind == "python":
                continue  # the README example: tests/test_packaging.py runs it and checks its output
            if kind == "toml":
                continue  # a configuration snippet, not a command
            for line in lines:
                command = line.split("  #")[0].strip()
                if command and not command.startswith("#"):
                    found.append((str(readme.relative_to(ROOT)), command))
    return found


def _runnable(command: str) -> str:
    """The tail a test runs: the README's setup commands end in the command that matters."""
    if command.startswith("python3 -m venv"):
        command = command.split("&& ")[-1]
    return command


def _params():
    out = []
    for readme, command in _commands():
        marks = [pytest.mark.slow]
        if re.search(r"--backend ibm_|submit-ibm_", command):
            marks = [pytest.mark.hardware]
        out.append(pytest.param(command, marks=marks, id=f"{readme}: {command}"))
    return out


def _shell(command: str, cwd: Path) -> subprocess.CompletedProcess:
    words = shlex.split(command)
    if words[0] == "python":
        words[0] = sys.executable
    elif words[0] == "qsa":
        words = [sys.executable, "-m", "qsa.cli", *words[1:]]
    words = [str(ROOT / w) if w.startswith("experiments/") else w for w in words]
    return subprocess.run(words, cwd=cwd, capture_output=True, text=True, timeout=3600)


def test_every_readme_has_its_commands_found():
    commands = _commands()
    assert len(commands) >= 30
    assert ("README.md", "qsa train experiments/tfim/config.toml") in [(r, _runnable(c)) for r, c in commands]
    assert all(c.split()[0] in ("python", "python3", "qsa") for _, c in commands), commands


@pytest.mark.parametrize("command", _params())
def test_readme_command_runs(command, tmp_path):
    command = _runnable(command)
    if "--engine ray" in command:
        pytest.importorskip("ray", reason='--engine ray needs Ray: pip install -e ".[ray]"')
    if command == "python -m pytest":
        pytest.skip(".ci/run runs the test command itself, word for word (tests/test_packaging.py checks it)")
    for placeholder, first in NEEDS.items():
        if placeholder in command:
            done = _shell(first, tmp_path)
            assert done.returncode == 0, done.stderr[-3000:]
            (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
            command = re.sub(re.escape(placeholder) + r"[^ /]*", str(run_dir), command)
    out = _shell(command, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]


@pytest.mark.slow
def test_tfim_readme_table_is_what_its_command_produces(tmp_path):
    """experiments/tfim/README.md quotes the final losses of its command: they must be today's."""
    out = _shell("qsa train experiments/tfim/config.toml --no-progress", tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    text = (ROOT / "experiments" / "tfim" / "README.md").read_text()
    rows = {"train": "train (4 sequences)", "test": "test (4 new initial states)"}
    rows |= {f"heldout_H{i}": f"held-out Hamiltonian {i}" for i in (1, 2)}
    for split, label in rows.items():
        m = summary["final"][split]
        assert f"| {label} | {m['L_1']:.4f} | {m['L_half']:.4f} | {m['L_B']:.4f} |" in text, (split, m)
    assert f"best test L_1 ({summary['best']['value']:.4f}) was at step {summary['best']['step']}" in text
    cost = summary["cost"]  # the cost block's table (qsa.training.cost)
    for split in ("train", "test"):
        e = cost["splits"][split]
        cells = " | ".join(f"{e[v]['mean']:.2g}, {e[v]['min']:.2g}" for v in ("mu", "zeta", "nu"))
        assert f"| success probability, {split} (mean, min) | {cells} |" in text, (split, cells)
    margins = [cost["splits"][s]["advantage"]["margin"] for s in ("train", "test")]
    assert f"`mu / threshold` is {margins[0]:.2g} (train), {margins[1]:.2g} (test)" in text, margins
