"""Run configuration: TOML files, --set overrides, type checks and clear errors for unknown keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qsa.training.config import (
    ConfigError,
    MarkovSource,
    TextSource,
    TFIMSource,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    parse_overrides,
)

ROOT = Path(__file__).resolve().parents[3]


def test_defaults_are_the_reference_tfim_task():
    config = config_from_dict({})
    assert config == TrainConfig()
    assert isinstance(config.data, TFIMSource) and (config.data.n_qubits, config.data.T, config.data.dt) == (
        3,
        16,
        0.35,
    )


#: Experiments whose TOML files are training configs (gate_counts and hardware have their own formats).
TRAINING_EXPERIMENTS = ("tfim", "classical", "kernels", "circuit_in_the_loop", "shot_training")


@pytest.mark.parametrize(
    "path",
    sorted(str(p.relative_to(ROOT)) for e in TRAINING_EXPERIMENTS for p in (ROOT / "experiments" / e).glob("*.toml")),
)
def test_every_experiment_config_loads(path):
    config = load_config(ROOT / path)
    assert config.name and config.train.steps >= 1


def test_toml_file_and_overrides(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('name = "x"\n[data]\nsource = "markov"\nd = 8\n[model]\nk = 2\n[train]\nlr = 1\n')
    config = load_config(path, ["model.kernel=poly", "train.optimizer=lbfgs", "data.rho=0.5", "seed=3", "model.beta=2"])
    assert isinstance(config.data, MarkovSource) and config.data.d == 8 and config.data.rho == 0.5
    assert (config.model.k, config.model.kernel, config.model.beta) == (2, "poly", 2.0)
    assert config.train.lr == 1.0 and isinstance(config.train.lr, float) and config.train.optimizer == "lbfgs"
    assert config.seed == 3 and config.name == "x"
    assert load_config(path, ["model.beta=none"]).model.beta is None


def test_overrides_parse_toml_values_and_bare_words():
    assert parse_overrides(
        ["model.k=3", "train.lr=0.5", "model.positional=true", "data.corpus=stdlib", 'name="a b"']
    ) == [
        (("model", "k"), 3),
        (("train", "lr"), 0.5),
        (("model", "positional"), True),
        (("data", "corpus"), "stdlib"),
        (("name",), "a b"),
    ]


def test_source_switch_takes_the_schema_of_the_new_source():
    config = config_from_dict(apply_overrides({"data": {"source": "tfim"}}, ["data.source=text", "data.T=8"]))
    assert isinstance(config.data, TextSource) and config.data.T == 8


def test_random_couplings_and_heldout_ranges_from_a_config():
    config = load_config(ROOT / "experiments" / "tfim" / "random_couplings.toml")
    data = config.data
    assert (data.couplings, data.topology, data.J_range, data.sequences_per_hamiltonian) == (
        "random",
        "all",
        (0.0, 1.0),
        10,
    )
    assert data.heldout_J_range == (1.0, 2.0) and data.h_range is None
    again = config_from_dict(json.loads(json.dumps(config_to_dict(config))))  # JSON turns the pairs into lists
    assert again == config
    ranges = load_config(ROOT / "experiments" / "tfim" / "config.toml", ["data.heldout_J_range=[-1.5, -0.5]"])
    assert ranges.data.heldout_J_range == (-1.5, -0.5) and ranges.data.heldout_h_range == (0.5, 1.5)


def test_round_trip_through_json():
    config = load_config(ROOT / "experiments" / "classical" / "text.toml", ["model.beta=1.5"])
    again = config_from_dict(json.loads(json.dumps(config_to_dict(config))))
    assert again == config


@pytest.mark.parametrize(
    "overrides, match",
    [
        (["model.kk=2"], r"model.kk is not a key of \[model\] \(did you mean 'k'\?\); valid keys: k, kernel"),
        (["data.dt=0.2", "data.source=markov"], r"data.dt is not a key of \[data\] for source 'markov'"),
        (["trian.lr=1"], r"trian is not a key of the configuration's sections \(did you mean 'train'\?\)"),
        (["foo=1"], r"foo is not a key of the configuration"),
        (["model=3"], r"model is a section"),
        (["model.k"], r"an override must read KEY=VALUE"),
        (["a.b.c=1"], r"an override key must be"),
        (["model.k=two"], r"model.k must be an integer; got 'two'"),
        (["model.k=true"], r"model.k must be an integer; got True"),
        (["model.k=2.0"], r"model.k must be an integer; got 2.0"),
        (["model.k=0"], r"model.k must be >= 1; got 0"),
        (["train.lr=-1"], r"train.lr must be > 0; got -1.0"),
        (["train.optimizer=sgd"], r"train.optimizer must be one of 'adam', 'adamw', 'lbfgs', 'spsa'; got 'sgd'"),
        (["model.positional=1"], r"model.positional must be a boolean"),
        (["data.source=ptb"], r"data.source must be one of 'tfim', 'markov', 'text'; got 'ptb'"),
        (["data.trotter_order=3"], r"data.trotter_order must be 1 or 2; got 3"),
        (["model.d=6"], r"model.d must be a power of two >= 2; got 6"),
        (["name=a/b"], r"name must be a non-empty directory name"),
        (["seed=-1"], r"seed must be >= 0"),
        (["data.J_range=1"], r"data.J_range must be a pair of numbers \[low, high\]; got 1"),
        (["data.J_range=[0, 1, 2]"], r"data.J_range must be a pair of numbers"),
        (["data.couplings=random", "data.J_range=[1, 0]"], r"data.J_range must be \[low, high\] with low <= high"),
        (["data.heldout_J_range=[2, 1]"], r"data.heldout_J_range must be \[low, high\] with low <= high"),
        (
            ["data.J_range=[0, 2]"],
            r"data.J_range must be left at its default \(0.0, 1.0\) with data.couplings = 'fixed'",
        ),
        (["data.source=markov", "data.noise=unit"], r"data.noise must be one of 'standard', 'scaled'"),
    ],
)
def test_bad_keys_and_values_raise_clear_errors(overrides, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict(apply_overrides({}, overrides))


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="config must name an existing TOML file"):
        load_config(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[model\nk = 1")
    with pytest.raises(ConfigError, match="config must be valid TOML"):
        load_config(tmp_path / "bad.toml")
    (tmp_path / "section.toml").write_text("model = 3\n")
    with pytest.raises(ConfigError, match="model must be a table of keys"):
        load_config(tmp_path / "section.toml")
