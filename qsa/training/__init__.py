"""Training QSA models and baselines: configuration, data, the loop with checkpoints and resume, plots, ``qsa train``.

``model.family`` selects QSA (default) or a baseline of :mod:`qsa.baselines` (:mod:`qsa.training.families`).

    from qsa.training import load_config, train, resume
    result = train(load_config("experiments/tfim/config.toml", ["train.steps=50"]))
    print(result.summary["final"]["test"]["L_1"], result.run_dir)

See :mod:`qsa.training.loop` for the run directory's layout and the determinism guarantees.
"""

from qsa.training.config import (
    FAMILIES,
    FAMILY_KEYS,
    ConfigError,
    MarkovSource,
    ModelSection,
    TextSource,
    TFIMSource,
    TrainConfig,
    TrainSection,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    with_family,
)
from qsa.training.data import Dataset, build_dataset, model_config
from qsa.training.families import FamilyModel, build_model, count_parameters
from qsa.training.load import LoadedRun, load_run
from qsa.training.loop import (
    BatchOrder,
    TrainResult,
    evaluate,
    make_optimizer,
    read_metrics,
    resume,
    run_environment,
    train,
)
from qsa.training.plots import plot_losses, plot_run

__all__ = [
    "FAMILIES",
    "FAMILY_KEYS",
    "FamilyModel",
    "build_model",
    "count_parameters",
    "ConfigError",
    "TFIMSource",
    "MarkovSource",
    "TextSource",
    "ModelSection",
    "TrainSection",
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "with_family",
    "Dataset",
    "build_dataset",
    "model_config",
    "BatchOrder",
    "TrainResult",
    "evaluate",
    "make_optimizer",
    "read_metrics",
    "run_environment",
    "train",
    "resume",
    "LoadedRun",
    "load_run",
    "plot_losses",
    "plot_run",
]
