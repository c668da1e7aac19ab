"""Report dependencies whose newest release lies beyond the cap in pyproject.toml.

PennyLane, pennylane-lightning and qiskit-ibm-runtime are capped below their next minor version
because their APIs move every release. A cap must not go stale silently: this asks the package
index (through pip, so pip's own configuration, mirrors and proxies apply) for each capped
dependency's releases and prints one line per dependency, e.g.

    upstream: pennylane 0.46.0 is out, pyproject allows pennylane>=0.45,<0.46: test it with
        pip install "pennylane==0.46.0" && python -m pytest   (then raise the cap)

It exits 0 whatever it finds, and when the index cannot be reached (a new upstream release must
not turn every unrelated change red, nor a network hiccup fail CI); ``--strict`` exits 1 when a
newer release is out, for a scheduled job that should go red.

    python .ci/upstream.py [--strict]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.version import InvalidVersion, Version
except ImportError:  # run before the project's venv exists: report, never fail
    print("upstream: not checked (the Python running this has no 'packaging')")
    sys.exit(0)

ROOT = Path(__file__).resolve().parents[1]


def capped_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[Requirement]:
    """The dependencies of ``pyproject`` that have an upper bound (``<`` or ``<=``)."""
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    reqs = [Requirement(d) for d in deps]
    return [r for r in reqs if any(s.operator in ("<", "<=") for s in r.specifier)]


def pip_index_versions(name: str, timeout: float = 60.0) -> list[Version]:
    """Released versions of ``name`` on the configured index (``pip index versions``); raises OSError when unreachable."""
    try:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "index", "versions", name, "--timeout", "10", "--retries", "1"],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise OSError(f"pip index versions {name} took over {timeout:.0f} s") from exc
    match = re.search(r"^Available versions: (.*)$", out.stdout, re.M)
    if out.returncode != 0 or match is None:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise OSError(f"pip index versions {name} failed: {last}")
    versions = []
    for text in match.group(1).split(","):
        try:
            versions.append(Version(text.strip()))
        except InvalidVersion:
            continue
    return versions


def report(
    requirements: Iterable[Requirement], versions_of: Callable[[str], list[Version]]
) -> tuple[list[str], list[str]]:
    """``(lines, outdated)``: one line per requirement, and the names whose newest release is beyond the cap."""
    lines, outdated = [], []
    for req in requirements:
        try:
            released = [v for v in versions_of(req.name) if not v.is_prerelease and not v.is_devrelease]
        except OSError as exc:
            lines.append(f"upstream: {req.name}: not checked ({exc})")
            continue
        if not released:
            lines.append(f"upstream: {req.name}: not checked (the index lists no release)")
            continue
        newest = max(released)
        if req.specifier.contains(newest):
            lines.append(f"upstream: {req.name} {newest} is the newest release and within {req}: up to date")
        elif any(newest < Version(s.version) for s in req.specifier if s.operator in (">=", ">")):
            lines.append(f"upstream: {req.name}: the newest release {newest} is below the floor of {req}")
            outdated.append(req.name)
        else:
            lines.append(
                f"upstream: {req.name} {newest} is out, pyproject allows {req}: test it with\n"
                f'    pip install "{req.name}=={newest}" && python -m pytest   (then raise the cap)'
            )
            outdated.append(req.name)
    return lines, outdated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 when a newer release is beyond a cap")
    args = parser.parse_args(argv)
    lines, outdated = report(capped_requirements(), pip_index_versions)
    print("\n".join(lines), flush=True)
    return 1 if args.strict and outdated else 0


if __name__ == "__main__":
    sys.exit(main())
