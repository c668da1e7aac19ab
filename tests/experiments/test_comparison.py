"""experiments/comparison and qsa.training.comparison: the comparison is one ``qsa sweep`` of a sweep plan, its
tables are built from the finished sweep directory; statistics over seeds, baselines, paired differences, spectra,
samples, plots."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from qsa import cli
from qsa.training import FAMILIES
from qsa.training.comparison import aggregate, beats_baseline, paired, strongest_baseline

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "experiments" / "comparison"
TASKS = ("tfim", "markov", "text")
#: What the old runner's smoke command produced (``python experiments/comparison/run.py --smoke`` at 96def9b, the
#: last commit with its own training loop), reduced by :func:`_numbers`.
OLD_SMOKE = Path(__file__).parent / "data" / "comparison_smoke_96def9b.json"
#: The plan every README table of the comparison was measured with (the old config.toml / smoke.toml): task configs,
#: families in order, and the sizes set after moving a task's config to a family.
MEASURED_TASKS = {
    "sweep.toml": {"tfim": "tfim/config.toml", "markov": "classical/markov.toml", "text": "classical/text.toml"},
    "smoke.toml": {
        "tfim": "tfim/smoke.toml",
        "markov": "classical/markov_smoke.toml",
        "text": "classical/text_smoke.toml",
    },
}
MEASURED_OVERRIDES = {"transformer": ("model.layers=2", "model.heads=2"), "chen": ("model.heads=2",)}


@pytest.fixture(autouse=True)
def restore_torch_threads():
    threads = torch.get_num_threads()  # the table builder sets one thread
    yield
    torch.set_num_threads(threads)


def _builder():
    spec = importlib.util.spec_from_file_location("experiment_comparison", HERE / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: What differs between two runs of the same trial (time) or names where it ran (directories).
_NOT_NUMBERS = {"seconds", "cpu_seconds", "run_dir"}


def _numbers(results: dict) -> dict:
    """Every result of the comparison that does not depend on the machine's load or paths: rows, statistics,
    baselines, paired differences, spectra, samples (``family_overrides`` as sets: the order of settings is no result)."""
    keep = ("families", "seeds", "metrics", "baselines", "baselines_per_seed", "spectra", "samples", "paired")
    out = {key: results[key] for key in keep}
    out["tasks"] = [t["name"] for t in results["tasks"]]
    out["family_overrides"] = {f: sorted(v) for f, v in results["family_overrides"].items()}
    out["rows"] = [{k: v for k, v in r.items() if k not in _NOT_NUMBERS} for r in results["rows"]]
    out["aggregates"] = [{k: v for k, v in a.items() if k not in _NOT_NUMBERS} for a in results["aggregates"]]
    return out


def test_the_smoke_sweep_and_table_builder_give_the_old_runners_results_number_for_number(tmp_path, capsys):
    """``qsa sweep smoke.toml`` then ``run.py SWEEP_DIR`` equals, number for number, what the runner with its own
    training loop produced on the same plan (every row, statistic, baseline, paired difference, spectrum and sample)."""
    assert cli.main(["sweep", str(HERE / "smoke.toml"), "--out", str(tmp_path), "--no-progress"]) == 0
    (sweep,) = tmp_path.iterdir()
    capsys.readouterr()
    results = _builder().main([str(sweep)])
    expected = json.loads(OLD_SMOKE.read_text(encoding="utf-8"))
    got = _numbers(results)
    assert got.keys() == expected.keys()
    for key in expected:  # one key at a time: a failure names the part that differs
        assert got[key] == expected[key], key
    rows = results["rows"]
    assert [(r["task"], r["family"]) for r in rows] == [(t, f) for t in TASKS for f in FAMILIES]
    for r in rows:  # each a complete run directory of qsa train: a trial of the sweep
        summary = json.loads((tmp_path / r["run_dir"] / "summary.json").read_text())
        main = "nll" if r["task"] == "text" else "L_1"
        assert summary["family"] == r["family"] and summary["final"]["test"][main] == r[f"test_{main}"]
    # the same data for every family of a task
    fingerprints = {r["task"]: set() for r in rows}
    for r in rows:
        fingerprints[r["task"]].add(json.loads((tmp_path / r["run_dir"] / "data.json").read_text())["fingerprint"])
    assert all(len(f) == 1 for f in fingerprints.values())
    # tables printed and written into the sweep directory; CSV one line per run; plots drawn
    out = capsys.readouterr().out
    table = results["table"]
    assert table in out and (sweep / "table.md").read_text() == table
    assert "| chance (random direction) | 2.593 |" in table and "| uniform guess (log M) |" in table
    assert "| tfim | koopman | koopman_unitary | test L_1 |" in table and "| text | qsa | kcsa | test nll |" in table
    with open(sweep / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == len(rows)
    assert json.loads((sweep / "results.json").read_text())["aggregates"] == results["aggregates"]
    assert "**chen**" in (sweep / "samples.md").read_text()
    for name in ("losses.png", "spectra.png"):
        assert (sweep / name).stat().st_size > 30_000
    # the sweep's own summary: one panel per task, a line per family in summary.md
    summary_md = (sweep / "summary.md").read_text()
    assert summary_md.startswith("| task | model.family | seeds |") and "| text | chen | 1 |" in summary_md


@pytest.mark.parametrize("plan_file", ["smoke.toml", "sweep.toml"])
def test_the_sweep_plans_trials_are_exactly_the_runs_the_readme_tables_were_measured_with(plan_file):
    """The README's tables came from the old runner: per (task, family, seed), the task's config moved to the family
    (``with_family``), then the family's sizes, at the seed. The sweep plan's trials are exactly those configs (only
    the run names differ), so the tables stay valid for the sweep (runs are deterministic)."""
    from qsa.training import config_to_dict
    from qsa.training.config import apply_overrides, config_from_dict, load_config, with_family
    from qsa.training.sweep import plan_sweep

    plan = plan_sweep(HERE / plan_file, seeds="0,3")
    assert plan.tasks.keys() == MEASURED_TASKS[plan_file].keys()
    trials = {(t.point["task"], t.point["model.family"], t.seed): t for t in plan.trials}
    assert sorted(trials) == sorted(
        (task, f, s) for task in MEASURED_TASKS[plan_file] for f in FAMILIES for s in (0, 3)
    )
    assert [t.point["model.family"] for t in plan.trials[:: len(plan.seeds)]][: len(FAMILIES)] == list(FAMILIES)
    for (task, family, seed), trial in trials.items():
        config = with_family(load_config(ROOT / "experiments" / MEASURED_TASKS[plan_file][task]), family)
        config = config_from_dict(apply_overrides(config_to_dict(config), MEASURED_OVERRIDES.get(family, ())))
        expected = {**config_to_dict(config), "seed": seed, "name": ""}
        assert {**trial.config, "name": ""} == expected, (task, family, seed)


def test_a_subset_of_the_plan_is_chosen_with_grid_and_seeds():
    from qsa.training.sweep import plan_sweep

    plan = plan_sweep(HERE / "smoke.toml", ["task=markov,tfim", "model.family=chen,qsa"], "1-2")
    assert [(t.point["task"], t.point["model.family"], t.seed) for t in plan.trials] == [
        (task, family, seed) for task in ("markov", "tfim") for family in ("chen", "qsa") for seed in (1, 2)
    ]
    assert {t.config["model"]["heads"] for t in plan.trials if t.point["model.family"] == "chen"} == {2}
    assert plan.trials[0].name == "markov-model.family=chen-seed=1" and plan.seeds == (1, 2)
    # a key that is no axis of the plan adds one; the seeds default to the plan's
    wider = plan_sweep(HERE / "smoke.toml", ["task=text", "model.family=qsa", "train.lr=0.01,0.02"])
    assert [(t.point, t.seed, t.config["train"]["lr"]) for t in wider.trials] == [
        ({"task": "text", "model.family": "qsa", "train.lr": lr}, 0, lr) for lr in (0.01, 0.02)
    ]


@pytest.mark.parametrize(
    "text, extra, message",
    [
        ('tasks = { t = "../tfim/smoke.toml" }\nfamilies = ["qsa"]', [], "sweep plan keys must be among"),
        ('tasks = { t = "../tfim/nothere.toml" }', [], "tasks.t must be the path of a training config"),
        ("tasks = {}", [], "tasks must name at least one training config"),
        (
            'tasks = { t = "../tfim/smoke.toml" }\n[grid]\nmodel.family = []',
            [],
            "grid model.family must be a non-empty",
        ),
        (
            'tasks = { t = "../tfim/smoke.toml" }\n[grid]\nmodel.family = [{ model.heads = 2 }]',
            [],
            "a table of settings must set model.family itself",
        ),
        (
            'tasks = { t = "../tfim/smoke.toml" }\n[grid]\nmodel.family = [{ model.family = "chen", model.layers = 2 }]',
            [],
            "model.layers must be left at its default 1 for model.family = 'chen'",
        ),
        (
            'tasks = { t = "../tfim/smoke.toml" }\n[grid]\nmodel.family = [{ model.family = "chen", model.nope = 2 }]',
            [],
            "nope",
        ),
        ('tasks = { t = "../tfim/smoke.toml" }\nseeds = "3-1"', [], "seeds ranges must read LOW-HIGH"),
        ('tasks = { t = "../tfim/smoke.toml" }\ngrid = 3', [], "grid must be a table of KEY = [values]"),
        ('tasks = { t = "../tfim/smoke.toml" }\nname = ""', [], "name must be a non-empty string"),
        ('tasks = { t = "../tfim/smoke.toml" }\nname = "../x"', [], "name must be a non-empty directory name"),
        ('tasks = { t = "../tfim/smoke.toml" }\nname = "a/b"', [], "name must be a non-empty directory name"),
        ('tasks = { "../../x" = "../tfim/smoke.toml" }', [], "tasks key '../../x' must be a non-empty directory name"),
        ('tasks = { "a/b" = "../tfim/smoke.toml" }', [], "tasks key 'a/b' must be a non-empty directory name"),
        (
            'tasks = { t = "../tfim/smoke.toml" }\n[grid]\nmodel.family = ["qsa", "qsa"]',
            [],
            "must list each value once",
        ),
        ('tasks = { t = "../tfim/smoke.toml" }\n[grid]\ntask = ["a"]', [], "grid key must be 'section.key'"),
        (
            'tasks = { t = "../tfim/smoke.toml" }\n[grid]\nmodel.family = [{ model.family = "chen", model.heads = 2 }]\n'
            "model.heads = [1, 2]",
            [],
            "grid key model.heads must be set by one axis",
        ),
        (
            'tasks = { t = "../tfim/smoke.toml" }\n[grid]\nmodel.family = [{ model.family = "chen", model.heads = 2 }]',
            ["--set", "model.heads=3"],
            "--grid model.heads must not also be given with --set",
        ),
        ('tasks = { t = "../tfim/smoke.toml" }', ["--grid", "task=x"], "--grid task must list values of the plan"),
    ],
)
def test_a_bad_sweep_plan_is_one_line_before_anything_is_written(tmp_path, capsys, text, extra, message):
    (tmp_path / "plans").mkdir()
    plan = tmp_path / "plans" / "plan.toml"
    plan.write_text(text.replace("../tfim/", str(ROOT / "experiments" / "tfim") + "/"))
    status = cli.main(["sweep", str(plan), "--out", str(tmp_path / "runs"), *extra])
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and line.startswith("qsa sweep: ") and message in line, line
    assert not (tmp_path / "runs").exists()


def test_the_table_builder_refuses_an_unfinished_sweep_or_another_grid(tmp_path):
    from qsa.errors import UserError
    from qsa.training.comparison import sweep_results
    from qsa.training.sweep import plan_sweep, run_sweep

    with pytest.raises(UserError, match="sweep_dir must be a qsa sweep directory"):
        sweep_results(tmp_path)
    smoke = ROOT / "experiments" / "tfim" / "smoke.toml"
    run_sweep(plan_sweep(smoke, ["model.k=1"], overrides=["train.steps=1"]), sweep_dir=tmp_path / "k")
    with pytest.raises(UserError, match=r"must hold a sweep over model.family \(and task\) only"):
        sweep_results(tmp_path / "k")
    done = run_sweep(plan_sweep(smoke, ["model.family=qsa"], overrides=["train.steps=1"]), sweep_dir=tmp_path / "f")
    (done.sweep_dir / "trials" / done.trials[0]["run"] / "summary.json").unlink()
    with pytest.raises(UserError, match="must hold a finished sweep; got 1 unfinished trials"):
        sweep_results(tmp_path / "f")


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


def test_sweeps_over_other_seeds_are_one_result_and_replace_takes_a_later_sweeps_repeat(tmp_path, capsys):
    from qsa.training.sweep import plan_sweep, run_sweep

    smoke = ROOT / "experiments" / "tfim" / "smoke.toml"
    fast = ["train.steps=1"]

    def sweep(name, seeds, steps=fast):
        plan = plan_sweep(smoke, ["model.family=qsa,koopman"], seeds, overrides=steps)
        return str(run_sweep(plan, sweep_dir=tmp_path / name).sweep_dir)

    first, second = sweep("a", "0"), sweep("b", "1")
    merged = _builder().main([first, second, "--out", str(tmp_path / "merged")])
    assert [(r["seed"], r["family"]) for r in merged["rows"]] == [
        (0, "qsa"),
        (0, "koopman"),
        (1, "qsa"),
        (1, "koopman"),
    ]
    assert merged["sweep"].parent == tmp_path / "merged" and (merged["sweep"] / "table.md").is_file()
    assert [a["n_seeds"] for a in merged["aggregates"]] == [2, 2] and len(merged["spectra"]) == 2
    with pytest.raises(ValueError, match="must not repeat"):
        _builder().main([first, first, "--out", str(tmp_path / "merged")])
    redo = sweep("c", "0", ["train.steps=1", "train.lr=0.5"])  # another budget: refused as another comparison
    with pytest.raises(ValueError, match="same base configs"):
        _builder().main([first, redo, "--replace", "--out", str(tmp_path / "merged")])
    again = sweep("d", "0")
    replaced = _builder().main([first, again, "--replace", "--out", str(tmp_path / "merged")])
    assert replaced["replaced"] == [["tfim-smoke", "koopman", 0], ["tfim-smoke", "qsa", 0]]
    with pytest.raises(SystemExit):
        _builder().main([first, "--replace"])
    assert "--replace must come with several SWEEP_DIRs" in capsys.readouterr().err
