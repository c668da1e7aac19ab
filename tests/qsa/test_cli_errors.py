"""Every user mistake, for every ``qsa`` subcommand, ends as one line on stderr naming the key, exit status 2,
and nothing written (issue 17); damage that a run can repair is repaired (exit 0, one warning naming the file).

The table below is the test: each case builds its input in a scratch directory, runs ``qsa`` in this
process, and checks the exit status, that stderr is one line ``qsa <command>: ...`` naming the key (no
traceback), and that the scratch directory is byte for byte what it was (nothing written or
half-written). ``python tests/qsa/test_cli_errors.py`` prints the same table as Markdown (input, exit
status, message), as measured on the machine that runs it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from qsa import cli

ROOT = Path(__file__).resolve().parents[2]
MARKOV = ROOT / "experiments" / "classical" / "markov_smoke.toml"
TEXT = ROOT / "experiments" / "classical" / "text_smoke.toml"
TFIM = ROOT / "experiments" / "tfim" / "smoke.toml"
SUBMIT = ROOT / "experiments" / "hardware" / "smoke.toml"
LOCAL = ["--backend", "fake_torino", "--channel", "local"]


class Scratch:
    """The scratch directory of one case (``root``), and ``shared``, where the pristine runs the
    resume and jobs cases damage are built once (each case damages its own copy)."""

    def __init__(self, root: Path, shared: Path, submitted: Path | None = None) -> None:
        self.root, self.shared, self.submitted = root, shared, submitted
        self.holders: list[subprocess.Popen] = []

    def locked(self, run: Path) -> Path:
        """``run``, with its lock held by another live process (a bare Python holding ``flock``), as while it trains."""
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, str(run / ".lock")], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert holder.stdout.readline() == b"locked\n"
        self.holders.append(holder)
        return run

    def release(self) -> None:
        for holder in self.holders:
            holder.stdin.close()  # the holder exits and its lock goes with it
            holder.wait(timeout=60)
        self.holders.clear()

    def file(self, name: str, data: bytes | str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def text_config(self, corpus: Path | str, *extra: str) -> list[str]:
        return ["train", str(TEXT), "--set", "data.corpus=file", "--set", f"data.path='{corpus}'", *extra]

    def train_run(self) -> Path:
        """A copy of a finished markov-smoke run that keeps one checkpoint."""
        pristine = self.shared / "pristine-train"
        if not pristine.exists():
            from qsa.training import load_config, train

            train(load_config(MARKOV, ["train.keep_checkpoints=1"]), run_dir=pristine, plots=False)
        shutil.copytree(pristine, self.root / "run")
        return self.root / "run"

    def submit_run(self) -> Path:
        """A copy of a finished local-mode submission (its local job store travels with it)."""
        pristine = self.submitted or self.shared / "pristine-submit"
        if not pristine.exists():
            from qsa.hardware import submission
            from qsa.hardware.providers import LocalProvider

            provider = LocalProvider(pristine / "local-service", simulator="ideal")
            backend = provider.backend("fake_torino")
            plan = submission.make_plan(submission.SubmitConfig.from_toml(SUBMIT), backend)
            submission.submit(plan, provider, pristine, backend=backend)
            submission.fetch(pristine, provider=provider)
        shutil.copytree(pristine, self.root / "run")
        return self.root / "run"


_HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, f"{os.getpid()}\\n".encode())
print("locked", flush=True)
sys.stdin.read()
os.unlink(sys.argv[1])
"""


@dataclass(frozen=True)
class Case:
    name: str
    argv: Callable[[Scratch], list[str]]
    key: str  # the config key, argument or file the message must name
    status: int = 2
    message: str = ""  # a further part of the message, when it matters


def _damage(relative: str, data: bytes) -> Callable[[Path], None]:
    def write(run: Path) -> None:
        (run / relative).write_bytes(data)

    return write


def _resume(damage: Callable[[Path], None]) -> Callable[[Scratch], list[str]]:
    def argv(s: Scratch) -> list[str]:
        run = s.train_run()
        damage(run)
        return ["train", "--resume", str(run)]

    return argv


def _jobs(action: str, damage: Callable[[Path], None] | None = None, *extra: str) -> Callable[[Scratch], list[str]]:
    def argv(s: Scratch) -> list[str]:
        run = s.submit_run()
        if damage is not None:
            damage(run)
        return ["jobs", action, str(run), *extra]

    return argv


def _truncate(relative: str, keep: int) -> Callable[[Path], None]:
    def cut(run: Path) -> None:
        data = (run / relative).read_bytes()
        (run / relative).write_bytes(data[:keep])

    return cut


def _other_shape(run: Path) -> None:
    import json

    config = json.loads((run / "config.json").read_text())
    config["model"]["w_layers"] = 3
    (run / "config.json").write_text(json.dumps(config))


def _submit_config(s: Scratch, old: str, new: str) -> str:
    text = SUBMIT.read_text()
    assert old in text
    return str(s.file("submit.toml", text.replace(old, new)))


CASES = [
    # --- qsa train ---------------------------------------------------------------------------------
    Case("model.d larger than the data's token width", lambda s: ["train", str(MARKOV), "--set", "model.d=8"], "model.d", message="must be <= the data's token width 4; got 8"),
    Case("train.loss = nll on Markov data", lambda s: ["train", str(MARKOV), "--set", "train.loss=nll"], "train.loss"),
    Case("model.shots with the analytic backend", lambda s: ["train", str(MARKOV), "--set", "model.shots=1000"], "model.shots"),
    Case("TFIM with 13 qubits (d = 8192 ansatz matrices)", lambda s: ["train", str(TFIM), "--set", "data.n_qubits=13", "--set", "train.memory_limit=8GiB"], "model.d", message="needs"),
    Case("32-qubit circuit on default.qubit", lambda s: ["train", str(MARKOV), "--set", "data.T=4096", "--set", "model.k=3", "--set", "model.backend=default.qubit"], "data.T", message="(32 qubits)"),
    Case("32-qubit circuit on lightning.qubit", lambda s: ["train", str(MARKOV), "--set", "data.T=4096", "--set", "model.k=3", "--set", "model.backend=lightning.qubit"], "data.T", message="(32 qubits)"),
    Case("32-qubit circuit on the torch simulator", lambda s: ["train", str(MARKOV), "--set", "data.T=4096", "--set", "model.k=3", "--set", "model.backend=torch"], "data.T", message="(32 qubits)"),
    Case("circuit wider than the Aer noise backend", lambda s: ["train", str(MARKOV), "--set", "model.backend=aer", "--set", "model.shots=100", "--set", "model.noise=fake_manila"], "model.noise", message="has 8 qubits"),
    Case("unknown Aer noise backend", lambda s: ["train", str(MARKOV), "--set", "model.backend=aer", "--set", "model.shots=100", "--set", "model.noise=fake_nowhere"], "model.noise"),
    Case("text corpus is a directory", lambda s: s.text_config(s.root), "data.path", message="a directory"),
    Case("text corpus is empty", lambda s: s.text_config(s.file("empty.txt", "")), "data.path", message="empty"),
    Case("text corpus is binary", lambda s: s.text_config(s.file("binary.txt", b"ab\x00cd" * 50)), "data.path", message="NUL bytes"),
    Case("text corpus is not UTF-8", lambda s: s.text_config(s.file("latin1.txt", "caf\xe9 au lait ".encode("latin-1") * 50)), "data.path", message="UTF-8"),
    Case("text corpus is a single token", lambda s: s.text_config(s.file("one.txt", "word")), "data.path"),
    Case("text corpus shorter than T + 1", lambda s: s.text_config(s.file("short.txt", "a b c d e")), "data.path", message="T + 1"),
    Case("data.path empty", lambda s: ["train", str(TEXT), "--set", "data.corpus=file"], "data.path", message="got ''"),
    Case("model.d missing for text", lambda s: ["train", str(TEXT), "--set", "model.d=none"], "model.d"),
    Case("config file not UTF-8", lambda s: ["train", str(s.file("latin1.toml", b"name = 'caf\xe9'\n"))], "config", message="UTF-8"),
    Case("config file is a directory", lambda s: ["train", str(s.root)], "config", message="a directory"),
    Case("config file missing", lambda s: ["train", str(s.root / "missing.toml")], "config"),
    Case("config not TOML", lambda s: ["train", str(s.file("bad.toml", "[model\nk = 1"))], "config", message="valid TOML"),
    Case("unknown config key", lambda s: ["train", str(MARKOV), "--set", "model.kk=1"], "model.kk"),
    Case("--out names an existing file", lambda s: ["train", str(MARKOV), "--out", str(s.file("taken", "x"))], "--out", message="which is a file"),
    Case("--threads 0", lambda s: ["train", str(MARKOV), "--threads", "0"], "--threads"),
    Case("model.device not a torch device name", lambda s: ["train", str(MARKOV), "--set", "model.device=gpu"], "model.device", message="got 'gpu'"),
    Case("model.device a CPU torch does not have", lambda s: ["train", str(MARKOV), "--set", "model.device=cpu:1"], "model.device", message="only 'cpu:0'"),
    *([Case("model.device cuda with no CUDA device", lambda s: ["train", str(MARKOV), "--set", "model.device=cuda"], "model.device", message="no CUDA device is visible")] if not torch.cuda.is_available() else []),
    Case("model.device cuda for lightning.qubit", lambda s: ["train", str(MARKOV), "--set", "model.backend=lightning.qubit", "--set", "model.device=cuda"], "model.device", message="lightning.gpu"),
    Case("train.memory_limit not a size", lambda s: ["train", str(MARKOV), "--set", "train.memory_limit=lots"], "train.memory_limit"),
    # --- qsa train --resume ------------------------------------------------------------------------
    Case("resume: corrupted checkpoint.pt", _resume(_damage("checkpoint.pt", b"PK\x03\x04" + os.urandom(300))), "checkpoint.pt", message="no intact older checkpoint"),
    Case("resume: truncated checkpoint.pt", _resume(_truncate("checkpoint.pt", 1000)), "checkpoint.pt"),
    Case("resume: empty checkpoint.pt", _resume(_damage("checkpoint.pt", b"")), "checkpoint.pt"),
    Case("resume: run directory of another model shape", _resume(_other_shape), "theta_W (1, 2, 3)", message="got theta_W (3, 2, 3)"),
    Case("resume: missing run directory", lambda s: ["train", "--resume", str(s.root / "nowhere")], "--resume"),
    Case("resume: a directory that is not a run", lambda s: ["train", "--resume", str(s.root)], "--resume"),
    Case("resume: run directory in use by another process", lambda s: ["train", "--resume", str(s.locked(s.train_run()))], "must not be in use", message="got process"),
    Case("resume: --set with --resume", lambda s: ["train", "--resume", str(s.root), "--set", "train.steps=3"], "--set"),
    Case("resume: truncated metrics.jsonl (repaired)", _resume(_truncate("metrics.jsonl", 100)), "metrics.jsonl", status=0, message="restoring it"),
    Case("resume: truncated config.json (repaired)", _resume(_truncate("config.json", 30)), "config.json", status=0, message="restoring it"),
    Case("resume: missing data.json (repaired)", _resume(lambda run: (run / "data.json").unlink()), "data.json", status=0, message="rewrote"),
    # --- qsa gates -----------------------------------------------------------------------------------
    Case("gates: --csv into a missing folder", lambda s: ["gates", "--csv", str(s.root / "no" / "t.csv")], "--csv"),
    Case("gates: --json into a missing folder", lambda s: ["gates", "--json", str(s.root / "no" / "t.json")], "--json"),
    Case("gates: --cache naming a file", lambda s: ["gates", "--cache", str(s.file("cache", "x"))], "--cache"),
    Case("gates: --samples 0", lambda s: ["gates", "--samples", "0"], "--samples"),
    Case("gates: negative --rel-error", lambda s: ["gates", "--rel-error", "-0.1"], "--rel-error"),
    Case("gates: --T 1048576", lambda s: ["gates", "--T", "1048576"], "--T", message="needs"),
    Case("gates: --d 3", lambda s: ["gates", "--d", "3"], "--d"),
    Case("gates: --samples abc", lambda s: ["gates", "--samples", "abc"], "--samples"),
    # --- qsa cost, qsa diagnose (issue 15) --------------------------------------------------------------
    Case("cost: not a run directory", lambda s: ["cost", str(s.root / "nowhere")], "RUN_DIR"),
    Case("cost: a directory without a checkpoint", lambda s: ["cost", str(s.root), "--no-transpile"], "RUN_DIR", message="checkpoint.pt"),
    Case("cost: negative --rel-error", lambda s: ["cost", str(s.root), "--rel-error", "-0.1"], "--rel-error"),
    Case("cost: unknown --backend", lambda s: ["cost", str(s.root), "--backend", "falcon"], "--backend"),
    Case("cost: --cache naming a file", lambda s: ["cost", str(s.root), "--cache", str(s.file("cache", "x"))], "--cache"),
    Case("diagnose: --T 0", lambda s: ["diagnose", str(TFIM), "--T", "0", "--out", str(s.root)], "--T"),
    Case("diagnose: --inits 1", lambda s: ["diagnose", str(TFIM), "--inits", "1", "--out", str(s.root)], "--inits"),
    Case("diagnose: a baseline family", lambda s: ["diagnose", str(TFIM), "--set", "model.family=kcsa", "--out", str(s.root)], "model.family"),
    Case("gates: --memory-limit lots", lambda s: ["gates", "--memory-limit", "lots"], "--memory-limit"),
    # --- qsa submit ----------------------------------------------------------------------------------
    Case("submit: config is a directory", lambda s: ["submit", str(s.root), *LOCAL], "config", message="a directory"),
    Case("submit: config missing", lambda s: ["submit", str(s.root / "missing.toml"), *LOCAL], "config"),
    Case("submit: config not UTF-8", lambda s: ["submit", str(s.file("latin1.toml", b"[circuit]\nT = 4 # \xe9\n")), *LOCAL], "config", message="UTF-8"),
    Case("submit: phases = 1", lambda s: ["submit", _submit_config(s, "phases = true", "phases = 1"), *LOCAL], "circuit.phases"),
    Case("submit: shots = \"2000\"", lambda s: ["submit", _submit_config(s, "shots = 2000", 'shots = "2000"'), *LOCAL], "run.shots"),
    Case("submit: d = 3", lambda s: ["submit", _submit_config(s, "d = 2", "d = 3"), *LOCAL], "circuit.d"),
    Case("submit: unknown key", lambda s: ["submit", _submit_config(s, "[run]\n", "[run]\nshotz = 3\n"), *LOCAL], "[run]", message="shotz"),
    Case("submit: a section that is not a table", lambda s: ["submit", str(s.file("t.toml", "params = 1\n" + SUBMIT.read_text().replace("[params]\nseed = 1\n", ""))), *LOCAL], "params", message="must be a table"),
    Case("submit: --shots 0", lambda s: ["submit", str(SUBMIT), *LOCAL, "--shots", "0"], "--shots"),
    Case("submit: --out names an existing file", lambda s: ["submit", str(SUBMIT), *LOCAL, "--submit", "--out", str(s.file("taken", "x"))], "--out"),
    Case("submit: unknown backend", lambda s: ["submit", str(SUBMIT), "--backend", "fake_nowhere", "--channel", "local"], "backend"),
    Case("submit: circuit wider than the backend", lambda s: ["submit", str(SUBMIT), "--backend", "fake_manila", "--channel", "local"], "the circuit must fit the backend"),
    Case("submit: over the shot budget", lambda s: ["submit", str(SUBMIT), *LOCAL, "--max-shots", "5000"], "--max-shots", message="got 12,000 shots"),
    # --- qsa jobs ------------------------------------------------------------------------------------
    Case("jobs status: missing run directory", lambda s: ["jobs", "status", str(s.root / "nowhere")], "RUN_DIR"),
    Case("jobs fetch: a directory without a journal", lambda s: ["jobs", "fetch", str(s.root)], "RUN_DIR", message="journal.jsonl"),
    Case("jobs fetch: garbage journal", _jobs("fetch", _damage("journal.jsonl", b"garbage\n{not json\n")), "journal.jsonl"),
    Case("jobs status: journal not UTF-8", _jobs("status", _damage("journal.jsonl", "caf\xe9\n".encode("latin-1") * 5)), "journal.jsonl"),
    Case("jobs fetch: garbage plan.json", _jobs("fetch", _damage("plan.json", b"{garbage")), "plan.json"),
    Case("jobs status: plan.json not UTF-8", _jobs("status", _damage("plan.json", b"\xff\xfe\x00")), "plan.json"),
    Case("jobs resubmit: garbage plan.json", _jobs("resubmit", _damage("plan.json", b"[]")), "plan.json"),
    Case("jobs adopt: unknown job id", _jobs("adopt", None, "--job", "no-such-job", "--chunk", "0"), "--job"),
    Case("jobs fetch: run directory in use by another process", lambda s: ["jobs", "fetch", str(s.locked(s.submit_run()))], "must not be in use", message="got process"),
    Case("jobs fetch: garbage results.json (rewritten)", _jobs("fetch", _damage("results.json", b"\x00garbage")), "results.json", status=0, message="results:"),
    # --- qsa configs ---------------------------------------------------------------------------------
    Case("configs: unknown config", lambda s: ["configs", "nowhere/config.toml"], "nowhere"),
    Case("unknown subcommand", lambda s: ["trian"], "trian"),
]  # fmt: skip


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
    }


@dataclass
class Outcome:
    argv: list[str]
    status: int
    err: str
    out: str
    before: dict[str, str]
    after: dict[str, str]


def run_case(case: Case, scratch: Scratch) -> Outcome:
    """Build the case's input and run ``qsa`` in this process; warnings go to stderr as in the command."""
    try:
        return _run(case, scratch)
    finally:
        scratch.release()


def _run(case: Case, scratch: Scratch) -> Outcome:
    argv = case.argv(scratch)
    out, err = io.StringIO(), io.StringIO()
    before = _snapshot(scratch.root)
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.WARNING)
    logging.getLogger("qsa").addHandler(handler)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = cli.main(argv)
            except SystemExit as exc:  # argparse's usage errors
                status = exc.code
    finally:
        logging.getLogger("qsa").removeHandler(handler)
    return Outcome(argv, status, err.getvalue(), out.getvalue(), before, _snapshot(scratch.root))


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return tmp_path_factory.mktemp("pristine")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_mistake_is_one_line_naming_the_key_and_nothing_is_written(case, shared, tmp_path, request):
    submitted = request.getfixturevalue("two_job_submission")[2] if case.name.startswith("jobs") else None
    got = run_case(case, Scratch(tmp_path, shared, submitted))
    assert "Traceback" not in got.err and "internal error" not in got.err, got.err
    assert got.status == case.status, got.err
    if case.status == 2:
        lines = got.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("qsa"), got.err
        assert case.key in lines[0] and case.message in lines[0], lines[0]
        assert got.after == got.before  # nothing written, nothing half-written
    else:  # repaired: one warning names the file, and no temporary file is left behind
        said = [line for line in got.err.splitlines() if line.startswith("WARNING")] + got.out.splitlines()
        assert any(case.key in line for line in said) and case.message in got.err + got.out, got.err
        assert not [name for name in got.after if Path(name).name.startswith(".")]


def table() -> str:
    """The Markdown table of every case: input, command, exit status, what stderr said."""
    shared = Path(tempfile.mkdtemp(prefix="qsa-cli-errors-"))
    rows = ["| input | command | exit | message (stderr) |", "|---|---|---|---|"]
    try:
        for i, case in enumerate(CASES):
            root = shared / f"case-{i}"
            root.mkdir()
            got = run_case(case, Scratch(root, shared))
            lines = [line for line in got.err.splitlines() if line.startswith(("qsa", "WARNING"))]  # no progress bars
            if got.status == 0 and got.out.strip():
                lines += got.out.strip().splitlines()[-1:]
            command = " ".join(["qsa", *got.argv]).replace(str(ROOT) + os.sep, "").replace(str(root), "…")
            message = " / ".join(lines).replace(str(root), "…").replace(str(shared), "…").replace("|", "\\|")
            rows.append(f"| {case.name} | `{command}` | {got.status} | {message} |")
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover
    print(table())
