"""experiments/comparison and qsa.training.comparison: every family on three tasks in one command; statistics over
seeds, baselines, paired differences, spectra, samples, plots."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from qsa.training import FAMILIES
from qsa.training.comparison import aggregate, beats_baseline, paired, read_plan, strongest_baseline

ROOT = Path(__file__).resolve().parents[2]
TASKS = ("tfim", "markov", "text")


@pytest.fixture(autouse=True)
def restore_torch_threads():
    threads = torch.get_num_threads()  # the entry point sets one thread
    yield
    torch.set_num_threads(threads)


def _runner():
    spec = importlib.util.spec_from_file_location(
        "experiment_comparison", ROOT / "experiments" / "comparison" / "run.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_comparison_smoke_trains_every_family_on_three_tasks_and_writes_tables_samples_and_plots(tmp_path, capsys):
    results = _runner().main(["--smoke", "--out", str(tmp_path)])
    sweep = results["sweep"]
    rows = results["rows"]
    assert [(r["task"], r["family"]) for r in rows] == [(t, f) for t in TASKS for f in FAMILIES]
    for r in rows:  # each a complete run directory of qsa train
        summary = json.loads((sweep / r["run_dir"] / "summary.json").read_text())
        main = "nll" if r["task"] == "text" else "L_1"
        assert summary["family"] == r["family"] and summary["final"]["test"][main] == r[f"test_{main}"]
        assert r["parameters"] == summary["parameters"] > 0
    baselines = results["baselines"]
    assert (
        abs(baselines["tfim"]["chance"]["L_1"] - 2.5929) < 1e-4
        and abs(baselines["markov"]["chance"]["L_1"] - 1.8333) < 1e-4
    )
    assert set(baselines["tfim"]["baselines"]) == {"copy_last", "unigram"}
    assert set(baselines["text"]["baselines"]) == {"copy_last", "unigram", "bigram"}
    params = {(r["task"], r["family"]): r["parameters"] for r in rows}
    assert params["tfim", "kcsa"] == 2 * 8**2 and params["markov", "softmax_general"] == 4 * 4**2
    assert params["markov", "chen"] == 2 * 3 * 4**2 + 2 and params["tfim", "koopman_no_attention"] == 2 * 8**2
    # the same data for every family of a task
    fingerprints = {r["task"]: set() for r in rows}
    for r in rows:
        fingerprints[r["task"]].add(json.loads((sweep / r["run_dir"] / "data.json").read_text())["fingerprint"])
    assert all(len(f) == 1 for f in fingerprints.values())
    # tables printed and written; CSV one line per run
    out = capsys.readouterr().out
    table = results["table"]
    assert table in out and (sweep / "table.md").read_text() == table
    for family in FAMILIES:
        assert f"| {family} |" in table
    assert "| chance (random direction) | 2.593 |" in table and "| copy last token (z_j = x_j, untrained) |" in table
    assert "| bigram counts (untrained) |" in table and "| uniform guess (log M) |" in table
    assert "| tfim | koopman | koopman_unitary | test L_1 |" in table and "| text | qsa | kcsa | test nll |" in table
    with open(sweep / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == len(rows)
    assert json.loads((sweep / "results.json").read_text())["aggregates"] == results["aggregates"]
    # Koopman spectra: the unitary variant all neutral; no alpha without attention
    spectra = {(s["task"], s["family"]): s for s in results["spectra"]}
    koopmans = ("koopman_no_attention", "koopman", "koopman_unitary")
    assert set(spectra) == {(t, f) for t in TASKS for f in koopmans}
    for task, d in (("tfim", 8), ("markov", 4), ("text", 4)):
        unitary = spectra[task, "koopman_unitary"]["layers"][0]
        assert (
            unitary["relative_counts"] == {"decay": 0, "neutral": d, "growth": 0} and abs(unitary["net_rate"]) < 1e-10
        )
        assert spectra[task, "koopman_no_attention"]["alpha"] is None and len(spectra[task, "koopman"]["alpha"]) == 1
    # a generated text per family for the text task
    assert [s["family"] for s in results["samples"]] == list(FAMILIES)
    assert all(s["text"].lower().startswith(s["prompt"].split()[0].lower()) for s in results["samples"])
    assert "**chen**" in (sweep / "samples.md").read_text()
    for name in ("losses.png", "spectra.png"):
        assert (sweep / name).stat().st_size > 30_000


def _rows(values_a, values_b, key="test_L_1"):
    rows = []
    for family, values in (("a", values_a), ("b", values_b)):
        for seed, v in enumerate(values):
            rows.append({"task": "t", "family": family, "seed": seed, "parameters": 3, "seconds": float(seed), key: v})
    return rows


def test_aggregate_gives_mean_standard_deviation_median_and_range_over_seeds():
    agg = aggregate(_rows([1.0, 5.0, 2.0, 4.0], [0.0, 0.0, 0.0, 0.0]))
    a = agg[0]
    assert (a["family"], a["n_seeds"], a["seeds"], a["seconds"], a["parameters"]) == ("a", 4, [0, 1, 2, 3], 1.5, 3)
    stats = a["test_L_1"]
    assert (stats["mean"], stats["median"], stats["min"], stats["max"]) == (3.0, 3.0, 1.0, 5.0)
    assert abs(stats["sd"] - (10 / 3) ** 0.5) < 1e-12  # sample standard deviation: sum of squares 10 over n - 1 = 3
    assert aggregate(_rows([2.0], [1.0]))[0]["test_L_1"]["sd"] == 0.0


def test_paired_differences_compare_families_seed_by_seed():
    rows = _rows([1.0, 2.0, 3.0], [1.5, 1.0, 4.0])
    d = paired(rows, "t", "a", "b", "test_L_1")
    assert (d["n"], d["b_larger"], d["min"], d["max"]) == (3, 2, -1.0, 1.0) and abs(d["mean"] - 0.5 / 3) < 1e-12
    assert paired(rows, "t", "a", "c", "test_L_1") is None


def test_families_are_counted_against_the_strongest_baseline_seed_by_seed():
    """The strongest baseline has the lowest mean loss; a family wins a seed when it is below that seed's baseline."""
    baselines = {"t": {"baselines": {"copy_last": {"test_L_1": {"mean": 0.5}}, "unigram": {"test_L_1": {"mean": 2.0}}}}}
    assert strongest_baseline(baselines, "t", "test_L_1") == "copy_last"
    assert strongest_baseline(baselines, "t", "heldout_L_1") is None
    per_seed = {"t": [{"seed": s, "baselines": {"copy_last": {"test_L_1": v}}} for s, v in enumerate([1.0, 1.0, 5.0])]}
    rows = _rows([0.5, 2.0, 4.0], [1.5, 1.0, 6.0])  # a: below at seeds 0 and 2; b: never below (a tie is no win)
    assert beats_baseline(rows, per_seed, "t", "a", "copy_last", "test_L_1") == (2, 3)
    assert beats_baseline(rows, per_seed, "t", "b", "copy_last", "test_L_1") == (0, 3)


@pytest.mark.parametrize(
    "text, match",
    [
        (
            'families = ["gpt"]\n[[tasks]]\nname = "x"\nconfig = "../tfim/smoke.toml"',
            "families must be a non-empty list",
        ),
        ('seeds = [-1]\n[[tasks]]\nname = "x"\nconfig = "../tfim/smoke.toml"', "seeds must be a non-empty list"),
        ("seeds = [0]", "tasks must be a non-empty list"),
        ('extra = 1\n[[tasks]]\nname = "x"\nconfig = "../tfim/smoke.toml"', "must have only the keys"),
        (
            'family_overrides = { gpt = ["model.heads=2"] }\n[[tasks]]\nname = "x"\nconfig = "../tfim/smoke.toml"',
            "family_overrides must map families",
        ),
        (
            'families = ["chen"]\nfamily_overrides = { chen = ["model.layers=2"] }\n[[tasks]]\nname = "x"\n'
            f"config = {str(ROOT / 'experiments' / 'tfim' / 'smoke.toml')!r}",
            "model.layers must be left at its default 1 for model.family = 'chen'",
        ),
    ],
)
def test_bad_plans_are_refused(tmp_path, text, match):
    (tmp_path / "plans").mkdir()
    path = tmp_path / "plans" / "plan.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_plan(path)


def test_the_shipped_plan_reads():
    plan = read_plan(ROOT / "experiments" / "comparison" / "config.toml")
    assert [t.name for t in plan.tasks] == list(TASKS) and set(plan.families) == set(FAMILIES)
    assert plan.family_overrides == {"transformer": ("model.layers=2", "model.heads=2"), "chen": ("model.heads=2",)}


@pytest.mark.parametrize("plan_file", ["smoke.toml", "config.toml"])
def test_every_run_of_the_plan_is_a_qsa_sweep_trial(plan_file):
    """The README's claim: per task, ``qsa sweep TASK --grid model.family=...`` over the families without
    sizes of their own, plus one sweep per family of ``[family_overrides]`` with those as ``--set``, plans
    exactly the configs of the comparison's runs (only the run names differ)."""
    from qsa.training import config_to_dict
    from qsa.training.comparison import task_config
    from qsa.training.sweep import plan_sweep

    plan = read_plan(ROOT / "experiments" / "comparison" / plan_file)
    plain = [f for f in plan.families if f not in plan.family_overrides]
    for task in plan.tasks:
        base = task.load()
        sweeps = [plan_sweep(task.config, [f"model.family={','.join(plain)}"], "0,3")]
        sweeps += [
            plan_sweep(task.config, [f"model.family={f}"], "0,3", overrides=list(o))
            for f, o in plan.family_overrides.items()
        ]
        trials = [t for sweep in sweeps for t in sweep.trials]
        assert sorted(t.point["model.family"] for t in trials) == sorted(list(plan.families) * 2)
        for trial in trials:
            family = trial.point["model.family"]
            expected = config_to_dict(
                task_config(base, task.name, family, trial.seed, plan.family_overrides.get(family, ()))
            )
            assert {**trial.config, "name": ""} == {**expected, "name": ""}, (task.name, family, trial.seed)


def _part(seeds, values):
    baselines = [
        {"seed": s, "fingerprint": "x", "chance": {"L_1": 2.0}, "baselines": {"copy_last": {"test_L_1": 0.5 + s}}}
        for s in seeds
    ]
    rows = [
        {"task": "t", "family": f, "seed": s, "parameters": 3, "seconds": 1.0, "cpu_seconds": 1.0, "test_L_1": v}
        for s, v in zip(seeds, values)
        for f in ("b", "a")
    ]
    return {
        "families": ["a", "b"],
        "seeds": list(seeds),
        "tasks": [{"name": "t"}],
        "metrics": {"t": ["L_1", "L_half"]},
        "base_configs": {"t": {"seed": 0}},
        "rows": rows,
        "baselines_per_seed": {"t": baselines},
        "spectra": [],
        "samples": [{"task": "t", "seed": seeds[0], "family": "a", "text": "x"}],
        "wall_seconds": 2.0,
    }


def test_results_of_disjoint_seeds_merge_into_one():
    from qsa.training.comparison import merge_results

    merged = merge_results([_part([2, 3], [3.0, 4.0]), _part([0, 1], [1.0, 2.0])])
    assert merged["seeds"] == [0, 1, 2, 3] and merged["wall_seconds"] == 4.0 and merged["samples"][0]["seed"] == 0
    assert [(r["seed"], r["family"]) for r in merged["rows"]][:3] == [(0, "a"), (0, "b"), (1, "a")]
    stats = merged["aggregates"][0]["test_L_1"]
    assert (merged["aggregates"][0]["family"], stats["mean"], stats["min"], stats["max"]) == ("a", 2.5, 1.0, 4.0)
    assert merged["baselines"]["t"]["baselines"]["copy_last"]["test_L_1"]["mean"] == 2.0
    with pytest.raises(ValueError, match="must not repeat"):
        merge_results([_part([0], [1.0]), _part([0], [1.0])])
    redo = _part([1], [9.0])
    redo["rows"] = [r for r in redo["rows"] if r["family"] == "a"]  # family a at seed 1 run again
    replaced = merge_results([_part([0, 1], [1.0, 2.0]), redo], replace_rows=True)
    assert replaced["replaced"] == [["t", "a", 1]] and len(replaced["rows"]) == 4
    assert replaced["aggregates"][0]["test_L_1"]["max"] == 9.0 and replaced["aggregates"][1]["test_L_1"]["max"] == 2.0
    other = _part([5], [1.0])
    other["base_configs"] = {"t": {"seed": 1}}
    with pytest.raises(ValueError, match="same base configs"):
        merge_results([_part([0], [1.0]), other])
