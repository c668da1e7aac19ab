"""The project's own promises: README commands = CI, package list = source tree, import direction."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    return [
        m.group(1).strip() for m in re.finditer(r"^    (python3 -m venv .*)$", (ROOT / "README.md").read_text(), re.M)
    ]


def test_readme_opens_with_two_setup_commands_and_ci_runs_the_test_one():
    commands = _readme_commands()
    assert len(commands) == 2, commands
    main, tests = commands
    assert tests.endswith("python -m pytest") and "pip install torch==2.13.0" in tests
    assert "pip install torch==2.13.0" in main
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert tests in ci_lines, "the CI script must run the README's test command word for word"


def test_every_package_directory_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = config["package-dir"]
    assert mapping == {"qsa": "qsa", "qsa.circuits": "circuits", "qsa.experiments": "experiments"}
    found = set()
    for top, name in (("qsa", "qsa"), ("circuits", "qsa.circuits"), ("experiments", "qsa.experiments")):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top)
            found.add(".".join([name, *rel.parts]) if rel.parts else name)
    assert set(config["packages"]) == found


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_imports_go_one_way():
    """experiments -> qsa -> qsa.circuits -> {numpy, pennylane, qiskit}; no torch in circuits/."""
    for path in (ROOT / "circuits").rglob("*.py"):
        for name in _imports(path):
            assert not name.startswith("torch"), f"{path.name} imports {name}"
            assert not name.startswith("qsa") or name.startswith("qsa.circuits"), f"{path.name} imports {name}"
    for path in (ROOT / "qsa").rglob("*.py"):
        assert not any(n.startswith("experiments") for n in _imports(path)), path


def test_no_dependency_on_pennylane_qiskit():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not any(d.lower().startswith("pennylane-qiskit") or d.lower().startswith("pennylane_qiskit") for d in deps)


def test_readme_example_runs_and_both_ways_agree():
    code = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    assert len(code.strip().splitlines()) <= 10
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if "analytic" in line]
    assert len(rows) == 7
    for name, _, a, _, c in rows:
        assert abs(float(a) - float(c)) < 1e-10, name


@pytest.mark.slow
def test_regular_install_includes_every_package(tmp_path):
    """A built wheel (not only the editable install) carries qsa.circuits and every subpackage."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0 and "No module named" in out.stderr:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(ROOT)],
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert out.returncode == 0, out.stderr
    import zipfile

    (wheel,) = tmp_path.glob("qsa-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for package in config["packages"]:
        assert package.replace(".", "/") + "/__init__.py" in names, package
    assert "qsa/circuits/builders.py" in names
    assert "qsa/py.typed" in names
    assert "qsa/experiments/tfim/config.toml" in names  # the configs, for `qsa configs`
    shipped = {n.removeprefix("qsa/experiments/") for n in names if n.endswith(".toml")}
    assert shipped == {str(p.relative_to(ROOT / "experiments")) for p in (ROOT / "experiments").glob("*/*.toml")}
    assert not any(n.startswith("qsa/experiments/") and n.endswith(".py") and "__init__" not in n for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
