"""Training QSA models and baselines: configuration, data, the loop with checkpoints and resume, plots, ``qsa train``.

``model.family`` selects QSA (default) or a baseline of :mod:`qsa.baselines` (:mod:`qsa.training.families`).

    from qsa.training import load_config, train, resume
    result = train(load_config("experiments/tfim/config.toml", ["train.steps=50"]))
    print(result.summary["final"]["test"]["L_1"], result.run_dir)

See :mod:`qsa.training.loop` for the run directory's layout and the determinism guarantees.
"""

from qsa._lazy import exports

_EXPORTS = {
    "FAMILIES": "qsa.training.config",
    "FAMILY_KEYS": "qsa.training.config",
    "ConfigError": "qsa.training.config",
    "MarkovSource": "qsa.training.config",
    "ModelSection": "qsa.training.config",
    "TextSource": "qsa.training.config",
    "TFIMSource": "qsa.training.config",
    "TrainConfig": "qsa.training.config",
    "TrainSection": "qsa.training.config",
    "apply_overrides": "qsa.training.config",
    "config_from_dict": "qsa.training.config",
    "config_to_dict": "qsa.training.config",
    "load_config": "qsa.training.config",
    "load_config_with_family": "qsa.training.config",
    "with_family": "qsa.training.config",
    "Dataset": "qsa.training.data",
    "build_dataset": "qsa.training.data",
    "model_config": "qsa.training.data",
    "FamilyModel": "qsa.training.families",
    "build_model": "qsa.training.families",
    "count_parameters": "qsa.training.families",
    "LoadedRun": "qsa.training.load",
    "load_run": "qsa.training.load",
    "BatchOrder": "qsa.training.loop",
    "Callback": "qsa.training.loop",
    "TensorBoardWriter": "qsa.training.loop",
    "TrainEvent": "qsa.training.loop",
    "TrainResult": "qsa.training.loop",
    "evaluate": "qsa.training.loop",
    "LBFGS": "qsa.training.optimizers",
    "SPSA": "qsa.training.optimizers",
    "make_optimizer": "qsa.training.optimizers",
    "make_scheduler": "qsa.training.optimizers",
    "read_metrics": "qsa.training.loop",
    "resume": "qsa.training.loop",
    "run_environment": "qsa.training.loop",
    "train": "qsa.training.loop",
    "plot_losses": "qsa.training.plots",
    "plot_run": "qsa.training.plots",
}

__getattr__, __dir__ = exports(__name__, _EXPORTS)

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
    "load_config_with_family",
    "with_family",
    "Dataset",
    "build_dataset",
    "model_config",
    "BatchOrder",
    "Callback",
    "TensorBoardWriter",
    "TrainEvent",
    "TrainResult",
    "LBFGS",
    "SPSA",
    "make_scheduler",
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
