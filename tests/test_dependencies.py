"""Dependency pins: real floors, caps below the next minor, and the upstream-release report of .ci/upstream.py."""

from __future__ import annotations

import importlib.util
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
CAPPED_BELOW_NEXT_MINOR = ("pennylane", "pennylane-lightning", "qiskit-ibm-runtime")


def _requirements() -> dict[str, Requirement]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {Requirement(d).name: Requirement(d) for d in deps}


def _upstream():
    spec = importlib.util.spec_from_file_location("ci_upstream", ROOT / ".ci" / "upstream.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", CAPPED_BELOW_NEXT_MINOR)
def test_fast_moving_dependencies_are_capped_below_the_next_minor(name):
    req = _requirements()[name]
    floor = Version(next(s.version for s in req.specifier if s.operator == ">="))
    cap = Version(next(s.version for s in req.specifier if s.operator == "<"))
    assert (cap.major, cap.minor) == (floor.major, floor.minor + 1), str(req)
    assert req.specifier.contains(metadata.version(name)), f"installed {name} {metadata.version(name)} is outside {req}"


@pytest.mark.parametrize("name", ["numpy", "scipy"])
def test_floors_are_not_below_what_the_other_dependencies_demand(name):
    """A floor lower than a dependency's own floor is a fiction pip never installs."""
    ours = Version(next(s.version for s in _requirements()[name].specifier if s.operator == ">="))
    demanded = {}
    for dep in _requirements():
        for line in metadata.requires(dep) or []:
            req = Requirement(line)
            if req.name == name and not req.marker:
                floors = [Version(s.version) for s in req.specifier if s.operator == ">="]
                if floors:
                    demanded[dep] = max(floors)
    assert demanded, f"no dependency declares a floor on {name}"
    assert ours == max(demanded.values()), f"{name}>={ours}; the dependencies demand {demanded}"


def test_upstream_report_names_newer_releases_and_never_needs_the_network():
    upstream = _upstream()
    reqs = [Requirement("pennylane>=0.45,<0.46"), Requirement("qiskit-ibm-runtime>=0.51,<0.52"), Requirement("x<2")]
    index = {
        "pennylane": ["0.44.0", "0.45.1", "0.46.0", "0.47.0rc1"],  # 0.46.0 is beyond the cap; the rc is ignored
        "qiskit-ibm-runtime": ["0.51.0", "0.52.0.dev1"],  # only a dev release beyond: up to date
    }

    def versions_of(name):
        if name not in index:
            raise OSError("index unreachable")
        return [Version(v) for v in index[name]]

    lines, outdated = upstream.report(reqs, versions_of)
    assert outdated == ["pennylane"]
    assert 'pip install "pennylane==0.46.0" && python -m pytest' in lines[0]
    assert "up to date" in lines[1] and "0.51.0" in lines[1]
    assert lines[2] == "upstream: x: not checked (index unreachable)"


def test_upstream_checks_exactly_the_capped_dependencies():
    names = [r.name for r in _upstream().capped_requirements()]
    assert set(CAPPED_BELOW_NEXT_MINOR) <= set(names)
    assert set(names) <= {n for n, r in _requirements().items() if any(s.operator == "<" for s in r.specifier)}


def test_license_and_typing_marker_ship():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    assert project["project"]["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text
    assert (ROOT / "qsa" / "py.typed").is_file()
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["qsa"]
