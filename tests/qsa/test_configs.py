"""The experiment configs installed as package data: ``qsa.configs`` and ``qsa configs``."""

from __future__ import annotations

from pathlib import Path

import pytest

from qsa.cli import main
from qsa.configs import KINDS, config_path, copy_configs, list_configs
from qsa.training import load_config

ROOT = Path(__file__).resolve().parents[2]


def test_every_experiment_config_is_installed_and_the_train_ones_load():
    configs = list_configs()
    assert [c.name for c in configs] == sorted(
        f"{p.parent.name}/{p.name}" for p in (ROOT / "experiments").glob("*/*.toml")
    )
    kinds = {c.name: c.kind for c in configs}
    assert kinds["tfim/config.toml"] == "train" and kinds["hardware/smoke.toml"] == "submit"
    assert kinds["gate_counts/full.toml"] == "gates" and kinds["comparison/sweep.toml"] == "sweep"
    for c in configs:
        assert c.path.read_bytes() == (ROOT / "experiments" / c.name).read_bytes()
        assert c.summary and c.command == KINDS[c.kind].replace("FILE", c.name)
        if c.kind == "train":
            load_config(c.path)  # a train config must pass the schema


def test_copy_keeps_the_layout_and_refuses_to_overwrite(tmp_path):
    written = copy_configs(tmp_path, ["tfim", "comparison/sweep.toml"])
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "comparison/sweep.toml",
        "tfim/config.toml",
        "tfim/random_couplings.toml",
        "tfim/smoke.toml",
    ]
    assert load_config(tmp_path / "tfim" / "config.toml") == load_config(config_path("tfim/config.toml"))
    with pytest.raises(ValueError, match="dest must not hold these files already"):
        copy_configs(tmp_path, ["tfim/smoke.toml"])
    (tmp_path / "tfim" / "smoke.toml").write_text("changed")
    copy_configs(tmp_path, ["tfim/smoke.toml"], overwrite=True)
    assert (tmp_path / "tfim" / "smoke.toml").read_bytes() == config_path("tfim/smoke.toml").read_bytes()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: config_path("tfim/nope.toml"), "name must be one of the installed configs"),
        (lambda: copy_configs(".", ["nope"]), "name must be one of the installed configs"),
        (lambda: copy_configs(".", "tfim"), "names must be a sequence of names"),
        (lambda: config_path(3), "name must be a string"),
    ],
)
def test_bad_names_are_refused(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_qsa_configs_lists_prints_and_copies(tmp_path, capsys):
    assert main(["configs"]) == 0
    listing = capsys.readouterr().out
    assert "tfim/config.toml" in listing and "qsa train" in listing and "qsa submit" in listing
    assert main(["configs", "tfim/smoke.toml"]) == 0
    assert capsys.readouterr().out == config_path("tfim/smoke.toml").read_text()
    assert main(["configs", "classical", "--copy", str(tmp_path)]) == 0
    assert (tmp_path / "classical" / "markov.toml").is_file()
    assert main(["configs", "classical", "--copy", str(tmp_path)]) == 2
    assert "dest must not hold" in capsys.readouterr().err
    assert main(["configs", "classical", "--copy", str(tmp_path), "--force"]) == 0
    assert main(["configs", "nope.toml"]) == 2
