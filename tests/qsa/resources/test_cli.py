"""``qsa gates``: prints the table, writes CSV and JSON with versions and seeds, refuses bad input."""

from __future__ import annotations

import csv
import json

from qsa.cli import main


def test_gates_default_prints_one_row_per_circuit(capsys):
    assert main(["gates", "--samples", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["circuit", "var", "T"]
    assert [line.split()[0] for line in out[1:4]] == ["A-mono", "A-poly", "B"]
    assert "optimization_level 2" in out[-1]


def test_gates_writes_csv_and_json_with_transpiled_counts(tmp_path, capsys):
    args = [
        "gates",
        "--circuit",
        "B",
        "--T",
        "2",
        "4",
        "--d",
        "2",
        "--layers",
        "1",
        "--samples",
        "1",
        "--transpile",
        "--backend",
        "eagle",
        "--seed",
        "5",
        "--cache",
        str(tmp_path / "cache"),
        "--csv",
        str(tmp_path / "t.csv"),
        "--json",
        str(tmp_path / "t.json"),
    ]
    assert main(args) == 0
    assert "eagle 2q" in capsys.readouterr().out
    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert [int(r["T"]) for r in rows] == [2, 4] and all(int(r["eagle_two_qubit"]) > 0 for r in rows)
    record = json.loads((tmp_path / "t.json").read_text())
    assert record["config"]["mu_seed"] == 5 and record["config"]["seed_transpiler"] == 0
    assert record["environment"]["packages"]["qiskit"] and len(record["rows"]) == 2
    assert main(args) == 0  # the second run reads the cache
    assert all(r["eagle_cached"] for r in json.loads((tmp_path / "t.json").read_text())["rows"])


def test_gates_refuses_a_bad_width(capsys):
    assert main(["gates", "--d", "6"]) == 2
    assert "d must be a power of two" in capsys.readouterr().err
