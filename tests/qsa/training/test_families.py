"""Model families in the training loop: every baseline trains through train() on the same data and losses,
QSA's path is unchanged, options that do not apply are refused, with_family resets them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from qsa.baselines.attention import KCSA, LinearAttention, SoftmaxAttention
from qsa.baselines.chen import ChenAttention
from qsa.baselines.koopman import KoopmanAttention
from qsa.baselines.networks import CausalFNet, CausalTransformer
from qsa.cli import main
from qsa.evaluators import AnalyticEvaluator
from qsa.model import QSAModel
from qsa.training import (
    FAMILIES,
    FAMILY_KEYS,
    ConfigError,
    FamilyModel,
    apply_overrides,
    build_dataset,
    build_model,
    config_from_dict,
    config_to_dict,
    load_config,
    load_config_with_family,
    read_metrics,
    train,
    with_family,
)
from qsa.training.families import BASELINES

ROOT = Path(__file__).resolve().parents[3]
TFIM_SMOKE = ROOT / "experiments" / "tfim" / "smoke.toml"
MARKOV_SMOKE = ROOT / "experiments" / "classical" / "markov_smoke.toml"
TEXT_SMOKE = ROOT / "experiments" / "classical" / "text_smoke.toml"


def baseline_config(family: str, overrides: list[str]):
    """The Markov smoke config moved to ``family`` (its QSA keys reset), then ``overrides`` applied and checked."""
    raw = config_to_dict(with_family(load_config(MARKOV_SMOKE), family))
    return config_from_dict(apply_overrides(raw, overrides))


CORES = {
    "kcsa": KCSA,
    "softmax_isometric": SoftmaxAttention,
    "softmax_general": SoftmaxAttention,
    "linear": LinearAttention,
    "chen": ChenAttention,
    "transformer": CausalTransformer,
    "fnet": CausalFNet,
    "koopman_no_attention": KoopmanAttention,
    "koopman": KoopmanAttention,
    "koopman_unitary": KoopmanAttention,
}


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_trains_on_the_same_tfim_data_with_the_same_losses(tmp_path, family):
    config = with_family(load_config(TFIM_SMOKE), family)
    result = train(config, run_dir=tmp_path / family, plots=False)
    s = result.summary
    assert s["family"] == family and s["steps"] == 10 and set(s["final"]) == {"train", "test", "heldout_H1"}
    assert abs(s["chance"]["L_1"] - 2.5929) < 1e-4
    evals = [r for r in read_metrics(result.run_dir) if r["kind"] == "eval" and r["split"] == "train"]
    assert evals[-1]["L_1"] < evals[0]["L_1"]  # it learns
    assert s["parameters"] == sum(p.numel() for p in result.model.parameters())
    env = json.loads((result.run_dir / "environment.json").read_text())
    if family == "qsa":
        assert isinstance(result.model, QSAModel) and env["evaluator"] == "AnalyticEvaluator()"
    else:
        assert isinstance(result.model, FamilyModel) and isinstance(result.model.core, CORES[family])
        assert env["evaluator"] is None
    # L_B and F exist exactly for the families with QSA's kernel
    assert ("L_B" in s["final"]["test"]) == (family in ("qsa", "kcsa"))
    # the Koopman families monitor alpha (with attention), the spectral radius and the hidden-state norm
    monitored = {"spectral_radius", "hidden_norm_mean", "hidden_norm_max"} | (
        {"alpha"} if family in ("koopman", "koopman_unitary") else set()
    )
    assert set(s["final"]["test"]) & {"alpha", *monitored} == (monitored if family.startswith("koopman") else set())
    checkpoint = torch.load(result.run_dir / "checkpoint.pt", weights_only=True)
    assert set(checkpoint["model"]) == set(result.model.state_dict())


def test_the_data_is_the_same_for_every_family():
    fingerprints = {
        build_dataset(with_family(load_config(TFIM_SMOKE), f), np.random.default_rng(0)).info["fingerprint"]
        for f in FAMILIES
    }
    assert len(fingerprints) == 1


@pytest.mark.parametrize("family", BASELINES)
def test_every_baseline_makes_its_tensors_on_the_inputs_device(family):
    # A tensor made without device= lands on torch's default device: set to "meta" here, it would mix
    # with the CPU parameters and inputs and fail (on CUDA the same slip fails against the CPU mask).
    config = with_family(load_config(MARKOV_SMOKE), family)
    dataset = build_dataset(config, np.random.default_rng(0))
    model = build_model(config, dataset, seed=np.random.default_rng(1))
    expected = model(dataset.train).L_1.detach()
    with torch.device("meta"):
        obs = model(dataset.train)
        obs.L_1.sum().backward()
    assert obs.L_1.device.type == "cpu"
    torch.testing.assert_close(obs.L_1.detach(), expected, rtol=0, atol=0)
    assert all(p.grad is not None and p.grad.device.type == "cpu" for p in model.parameters() if p.requires_grad)


def test_qsa_family_builds_the_same_model_as_before():
    config = load_config(TFIM_SMOKE)
    dataset = build_dataset(config, np.random.default_rng(0))
    from qsa.training import model_config

    built = build_model(config, dataset, seed=np.random.default_rng(1))
    direct = QSAModel(model_config(config, dataset), seed=np.random.default_rng(1))
    assert type(built) is QSAModel and built.config == direct.config
    assert all(torch.equal(a, b) for a, b in zip(built.state_dict().values(), direct.state_dict().values()))


@pytest.mark.parametrize("family", ["kcsa", "softmax_general"])
def test_baselines_train_through_a_projector_and_a_text_embedding(tmp_path, family):
    projected = train(
        with_family(load_config(TFIM_SMOKE, ["model.d=4", "train.steps=3"]), family),
        run_dir=tmp_path / "projector",
        plots=False,
    )
    assert projected.model.embedding is not None and projected.summary["final"]["test"]["L_1"] > 0
    text = train(
        with_family(load_config(TEXT_SMOKE, ["train.steps=3"]), family), run_dir=tmp_path / "text", plots=False
    )
    final = text.summary["final"]["test"]
    assert {"nll", "next_token_accuracy", "L_1"} <= set(final) and np.isfinite(final["nll"])
    qsa = train(load_config(TEXT_SMOKE, ["train.steps=0"]), run_dir=tmp_path / "qsa", plots=False)
    base = train(
        with_family(load_config(TEXT_SMOKE, ["train.steps=0"]), family), run_dir=tmp_path / "base", plots=False
    )
    # the embedding starts from the same seed stream in every family
    assert torch.equal(qsa.model.embedding.E, base.model.embedding.E)


def test_with_family_resets_only_the_keys_that_do_not_apply():
    config = load_config(ROOT / "experiments" / "tfim" / "config.toml")
    kcsa = with_family(config, "kcsa")
    assert (kcsa.model.family, kcsa.model.k, kcsa.model.w_layers, kcsa.model.phases) == ("kcsa", 2, 2, "aligned")
    soft = with_family(config, "softmax_general")
    assert (soft.model.k, soft.model.w_layers, soft.model.v_layers) == (1, 2, 2)
    assert soft.data == config.data and soft.train == config.train and soft.seed == config.seed
    back = with_family(with_family(config, "koopman"), "qsa")
    assert back.model.family == "qsa" and back.model.koopman_layers == 1
    with pytest.raises(ConfigError, match="family must be one of 'qsa', 'kcsa'"):
        with_family(config, "gpt")


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["model.family=kcsa", "model.w_layers=4"],
            "model.w_layers must be left at its default 2 for model.family = 'kcsa' (it applies to 'qsa'); got 4",
        ),
        (
            ["model.family=softmax_isometric", "model.backend=default.qubit"],
            "model.backend must be left at its default 'analytic' for model.family = 'softmax_isometric' (it applies to 'qsa'); got 'default.qubit'",
        ),
        (
            ["model.family=linear", "model.k=2"],
            "model.k must be left at its default 1 for model.family = 'linear' (it applies to 'qsa', 'kcsa'); got 2",
        ),
        (
            ["model.family=qsa", "model.koopman_layers=2"],
            "model.koopman_layers must be left at its default 1 for model.family = 'qsa' (it applies to 'koopman_no_attention', 'koopman', 'koopman_unitary'); got 2",
        ),
        (
            ["model.family=koopman", "train.loss=L_B"],
            "train.loss must be 'L_1' or 'L_half' (or 'nll' for text) for model.family = 'koopman'",
        ),
        (["model.family=gpt"], "model.family must be one of 'qsa', 'kcsa'"),
        (["model.family=koopman", "model.koopman_layers=0"], "model.koopman_layers must be >= 1; got 0"),
        (
            ["model.family=chen", "model.layers=2"],
            "model.layers must be left at its default 1 for model.family = 'chen' (it applies to 'transformer', 'fnet')",
        ),
        (["model.family=transformer", "model.heads=0"], "model.heads must be >= 1; got 0"),
    ],
)
def test_options_that_do_not_apply_are_refused(overrides, message):
    with pytest.raises(ConfigError) as info:
        baseline_config("linear", overrides)
    assert message in str(info.value)


def test_refusals_reach_the_command_line_and_code_built_configs(tmp_path, capsys):
    argv = ["train", str(MARKOV_SMOKE), "--set", "model.family=kcsa", "--set", "model.w_layers=3"]
    assert main(argv + ["--out", str(tmp_path), "--no-progress"]) == 2  # a key given with --set is never reset
    err = capsys.readouterr().err
    assert "model.w_layers must be left at its default 2 for model.family = 'kcsa'" in err and "Traceback" not in err
    config = with_family(load_config(MARKOV_SMOKE), "linear")
    with pytest.raises(ConfigError, match="model.phases must be left at its default 'aligned'"):
        train(replace(config, model=replace(config.model, phases="trained")), out=tmp_path)
    with pytest.raises(ValueError, match="evaluator must be None for model.family = 'linear'"):
        train(config, out=tmp_path, evaluator=AnalyticEvaluator())
    assert not list(tmp_path.iterdir())  # nothing written


TRAINING_CONFIGS = sorted(
    p.relative_to(ROOT)
    for e in ("tfim", "classical", "kernels", "circuit_in_the_loop", "shot_training")
    for p in (ROOT / "experiments" / e).glob("*.toml")
)


@pytest.mark.parametrize("path", TRAINING_CONFIGS, ids=str)
def test_a_family_override_works_on_every_shipped_config(path):
    # what `qsa train CONFIG --set model.family=F` reads: the file's keys F does not use are reset, as with_family does
    for family in FAMILIES:
        base = load_config(ROOT / path)
        if base.train.loss == "L_B" and family not in ("qsa", "kcsa"):
            with pytest.raises(ConfigError, match="set train.loss=L_1"):
                load_config_with_family(ROOT / path, [f"model.family={family}"])
            continue
        config, reset = load_config_with_family(ROOT / path, [f"model.family={family}"])
        assert config == with_family(base, family)
        assert all(getattr(base.model, key.split(".")[1]) == value for key, value in reset.items())
        assert all(key.split(".")[1] not in FAMILY_KEYS[family] for key in reset)


def test_the_command_line_resets_the_files_keys_and_says_so(tmp_path, capsys):
    argv = ["train", str(MARKOV_SMOKE), "--set", "model.family=kcsa", "--set", "train.steps=2"]
    assert main(argv + ["--out", str(tmp_path), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert (
        "model.family = 'kcsa' does not use model.w_layers = 1, model.v_layers = 1 of the config file; reset to the "
        "defaults" in captured.err
    )
    assert "model: family kcsa, 32 trainable parameters" in captured.out  # 2 d^2 at d = 4
    config, reset = load_config_with_family(
        MARKOV_SMOKE, ["model.family=qsa"]
    )  # the file's own family: nothing to reset
    assert reset == {} and config == load_config(MARKOV_SMOKE)
    assert load_config_with_family(MARKOV_SMOKE, ["train.steps=2"]).reset == {}


def test_command_line_trains_a_baseline_and_reports_family_and_parameters(tmp_path, capsys):
    assert (
        main(
            [
                "train",
                str(MARKOV_SMOKE),
                "--set",
                "model.family=softmax_isometric",
                "--set",
                "model.w_layers=2",
                "--set",
                "model.v_layers=2",
                "--set",
                "train.steps=3",
                "--out",
                str(tmp_path),
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "model: family softmax_isometric, 48 trainable parameters" in out  # 3 d^2 at d = 4
    (run,) = tmp_path.iterdir()
    assert (run / "loss.png").stat().st_size > 20_000


def test_the_sizes_of_the_new_families_come_from_the_model_section():
    config = load_config(MARKOV_SMOKE)
    dataset = build_dataset(config, np.random.default_rng(0))
    d = 4

    def core(family, **keys):
        c = with_family(config, family)
        return build_model(replace(c, model=replace(c.model, **keys)), dataset, seed=np.random.default_rng(1)).core

    chen = core("chen", heads=3)
    assert chen.heads == 3 and sum(p.numel() for p in chen.parameters()) == 3 * 3 * d**2 + 3
    net = core("transformer", layers=2, heads=2, width=12, ffn_width=20)
    assert (net.config.layers, net.config.heads, net.config.model_width, net.config.hidden_width) == (2, 2, 12, 20)
    assert core("fnet", layers=3).config.layers == 3
    stage2 = core("koopman_no_attention", koopman_layers=2)
    assert not stage2.config.attention and sum(p.numel() for p in stage2.parameters()) == 2 * 2 * d**2  # K only
    assert stage2.config.n_layers == 2 and core("koopman").config.attention
