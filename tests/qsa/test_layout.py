"""Where things live: one vocabulary, moved names still importable (with a deprecation warning) for one release."""

from __future__ import annotations

import importlib
import sys

import pytest

from qsa.training import ConfigError, config_from_dict


@pytest.mark.parametrize(
    "module, name, new",
    [
        ("qsa.model", "AnalyticEvaluator", "qsa.evaluators.analytic"),
        ("qsa.model", "PennyLaneEvaluator", "qsa.evaluators.pennylane"),
        ("qsa.model", "make_evaluator", "qsa.evaluators"),
        ("qsa.model", "Evaluator", "qsa.evaluators"),
        ("qsa.model", "PENNYLANE_DEVICES", "qsa.options"),
        ("qsa.backends.statevector", "StatevectorEvaluator", "qsa.evaluators.statevector"),
    ],
)
def test_moved_names_warn_and_are_the_same_object(module, name, new):
    with pytest.deprecated_call(match=new.replace(".", r"\.")):
        old = getattr(importlib.import_module(module), name)
    assert old is getattr(importlib.import_module(new), name)


def test_the_decomposition_moved_to_circuits():
    sys.modules.pop("qsa.resources.decompose", None)
    with pytest.deprecated_call(match="qsa.circuits.decompose"):
        old = importlib.import_module("qsa.resources.decompose")
    from qsa.circuits import decompose

    assert old.decompose is decompose.decompose


def test_model_options_are_declared_once():
    from dataclasses import fields

    from qsa.model import ModelConfig
    from qsa.options import ModelOptions
    from qsa.training import ModelSection

    shared = [f.name for f in fields(ModelOptions)]
    for cls in (ModelConfig, ModelSection):
        assert issubclass(cls, ModelOptions)
        own = [f.name for f in fields(cls) if f.name not in shared]
        assert not set(own) & set(shared)
    # the training-only keys: the width the circuit sees, the family and the baselines' sizes
    own = [f.name for f in fields(ModelSection) if f.name not in shared]
    assert own == ["d", "family", "koopman_layers", "layers", "heads", "width", "ffn_width"]


@pytest.mark.parametrize(
    "model, match",
    [
        ({"w_layers": 0}, "model.w_layers must be >= 1; got 0"),
        ({"shots": 100}, r"model.shots must be None unless backend is one of \('aer',\); got 100"),
        ({"backend": "aer", "shot_seed": 3}, "model.shots must be given for shot_seed or noise"),
        ({"beta": -2.0}, "model.beta must be positive"),
    ],
)
def test_the_toml_section_checks_the_shared_options_and_names_the_key(model, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict({"model": model})
