"""Run configuration: dataclasses, TOML files and ``--set key=value`` overrides, all type-checked.

A run is described by a :class:`TrainConfig` with three sections, as in a TOML file::

    name = "tfim"
    seed = 0

    [data]            # source = "tfim" | "markov" | "text"; the other keys depend on the source
    source = "tfim"
    T = 16

    [model]           # QSA model: kernel, ansatz depth, phases, backend
    k = 2
    w_layers = 8

    [train]           # loss, optimiser, steps, batches, evaluation and checkpoint cadence
    optimizer = "lbfgs"

Every key has a default (the dataclass fields below); a key that is not a field is an error that
names the valid keys, and every value is checked against the field's type. Overrides use dotted
keys, ``--set model.k=3 --set train.optimizer=adam``; a value is read as a TOML value
(``3``, ``0.5``, ``true``, ``"text"``), else as a bare string (``train.optimizer=adam``), and
``none`` clears an optional key.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, NamedTuple, Union

from qsa import runs
from qsa.errors import UserError
from qsa.options import ModelOptions
from qsa.preflight import parse_size

__all__ = [
    "TFIMSource",
    "MarkovSource",
    "TextSource",
    "DATA_SOURCES",
    "FAMILIES",
    "FAMILY_KEYS",
    "ModelSection",
    "TrainSection",
    "TrainConfig",
    "ConfigError",
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "load_config_with_family",
    "LoadedConfig",
    "parse_overrides",
    "apply_overrides",
    "with_family",
]


class ConfigError(UserError):
    """A configuration that does not fit the schema (unknown key, wrong type, bad value); ``key`` names the key."""


# --- sections --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TFIMSource:
    """Transverse-field Ising trajectories (:func:`qsa.data.tfim_data`): train, test and held-out Hamiltonians.

    ``evolution = "trotter"`` generates every trajectory by running Trotter circuits on ``simulator``
    (:mod:`qsa.data.trotter`) instead of exact ``exp(-i H dt)``.

    ``couplings = "fixed"`` trains on the one Hamiltonian ``(h, J)``; ``"random"`` draws a new one
    (``J_b ~ U[J_range]``, ``h_q ~ U[h_range]`` or ``h`` if ``h_range`` is none) for every
    ``sequences_per_hamiltonian`` training or test sequences (the QSA authors' first version:
    ``topology = "all"``, ``J_range = [0, 1]``, every 10 sequences). ``h_range``, ``J_range`` and
    ``sequences_per_hamiltonian`` must stay at their defaults with fixed couplings. The held-out
    Hamiltonians draw from ``heldout_h_range`` and ``heldout_J_range`` (none: derived from the
    training couplings, see :class:`qsa.data.TFIMConfig`). Ranges are written ``[low, high]``.
    """

    source: Literal["tfim"] = "tfim"
    n_qubits: int = 3
    h: float = 1.0
    J: float = 1.0
    topology: Literal["open", "periodic", "all"] = "open"
    dt: float = 0.35
    T: int = 16
    n_train: int = 4
    n_test: int = 4
    initial: Literal["haar", "basis", "product"] = "haar"
    couplings: Literal["fixed", "random"] = "fixed"
    h_range: tuple[float, float] | None = None
    J_range: tuple[float, float] = (0.0, 1.0)
    sequences_per_hamiltonian: int = 10
    n_heldout_hamiltonians: int = 2
    heldout_h_range: tuple[float, float] | None = None
    heldout_J_range: tuple[float, float] | None = None
    evolution: Literal["exact", "trotter"] = "exact"
    trotter_steps: int = 1
    trotter_order: int = 2
    simulator: Literal["default.qubit", "lightning.qubit", "aer"] = "default.qubit"


@dataclass(frozen=True)
class MarkovSource:
    """Markov tokens on the unit sphere (:func:`qsa.data.markov_sequences`); train and test drawn independently.

    ``noise``: ``"standard"`` (``eps ~ N(0, I_d)``, the QSA authors' definition) or ``"scaled"``
    (``eps ~ N(0, I_d / d)``, unit expected energy: chains far more correlated at the same ``rho``).
    """

    source: Literal["markov"] = "markov"
    T: int = 8
    d: int = 4
    rho: float = 0.9
    field: Literal["complex", "real"] = "complex"
    noise: Literal["standard", "scaled"] = "standard"
    n_train: int = 16
    n_test: int = 16


@dataclass(frozen=True)
class TextSource:
    """Next-word windows of a text (:func:`qsa.data.text_dataset`), embedded by an isometric embedding.

    ``corpus``: ``"grammar"`` or ``"stdlib"`` (:func:`qsa.data.demo_corpus`), or ``"file"`` to read
    the UTF-8 text at ``path``. ``max_train``/``max_test`` (0: all) cap the windows used.
    """

    source: Literal["text"] = "text"
    corpus: Literal["grammar", "stdlib", "file"] = "grammar"
    path: str = ""
    n_sentences: int = 2000
    T: int = 16
    heldout_fraction: float = 0.1
    min_count: int = 1
    max_size: int | None = None
    max_train: int = 0
    max_test: int = 0


DATA_SOURCES: dict[str, type] = {"tfim": TFIMSource, "markov": MarkovSource, "text": TextSource}


@dataclass(frozen=True)
class ModelSection(ModelOptions):
    """The ``[model]`` section: the shared :class:`~qsa.options.ModelOptions` of :class:`qsa.model.ModelConfig`
    (``k``, ``kernel``, ``beta``, ``w_layers``, ``v_layers``, ``phases``, ``positional``,
    ``train_rotation``, ``train_embedding``, ``backend``, ``diff_method``, ``shots``,
    ``shot_seed``, ``noise``, ``device``, declared once there), and what a training config adds: the token
    width and the model family. The steps ``T`` come from the data.

    ``d``: token width the circuit sees. ``None`` takes the data's width (``2^n_qubits`` for TFIM,
    ``d`` for Markov tokens); smaller than ``2^n_qubits`` for TFIM adds a trainable projector;
    required for text (the isometric embedding's width).

    ``family``: which model family is trained on those tokens (:mod:`qsa.training.families`):
    ``"qsa"`` (the default: :class:`qsa.model.QSAModel`), or a baseline of :mod:`qsa.baselines`:
    ``"kcsa"``, ``"softmax_isometric"``, ``"softmax_general"``, ``"linear"``, ``"chen"`` (Chen's
    physical model, trainable), ``"transformer"``, and the dissipative Koopman paper's stages
    ``"fnet"`` (I: causal FNet), ``"koopman_no_attention"`` (II), ``"koopman"`` (III: with
    attention) and ``"koopman_unitary"`` (IV: the Hamiltonian ablation). The keys ``d``,
    ``positional``, ``train_rotation`` and ``train_embedding`` describe the tokens and apply to
    every family; each other key applies to the families listed in :data:`FAMILY_KEYS` and must
    stay at its default for the rest (a circuit backend means nothing to softmax attention).
    ``koopman_layers``: the number of Eq. (60) layers of the Koopman families. ``layers``,
    ``heads``, ``width``, ``ffn_width``: blocks, attention heads, model width (none: ``2 d``) and
    feed-forward width (none: twice the width) of the transformer and the FNet
    (``qsa.baselines.networks``); ``heads`` is also the number of heads of Chen's model.
    """

    d: int | None = None
    family: Literal[
        "qsa",
        "kcsa",
        "softmax_isometric",
        "softmax_general",
        "linear",
        "chen",
        "transformer",
        "fnet",
        "koopman_no_attention",
        "koopman",
        "koopman_unitary",
    ] = "qsa"
    koopman_layers: int = 1
    layers: int = 1
    heads: int = 1
    width: int | None = None
    ffn_width: int | None = None


#: The model families ``model.family`` can name (see :class:`ModelSection`).
FAMILIES = typing.get_args(typing.get_type_hints(ModelSection)["family"])
_QSA_KEYS = (
    "k",
    "kernel",
    "beta",
    "w_layers",
    "v_layers",
    "phases",
    "backend",
    "diff_method",
    "shots",
    "shot_seed",
    "noise",
)
#: The family-specific keys of ``[model]`` each family uses; the token keys (``d``, ``positional``,
#: ``train_rotation``, ``train_embedding``) apply to all.
FAMILY_KEYS: dict[str, tuple[str, ...]] = {
    "qsa": _QSA_KEYS,
    "kcsa": ("k", "kernel", "beta", "phases"),
    "softmax_isometric": (),
    "softmax_general": (),
    "linear": (),
    "chen": ("heads",),
    "transformer": ("layers", "heads", "width", "ffn_width"),
    "fnet": ("layers", "width", "ffn_width"),
    "koopman_no_attention": ("koopman_layers",),
    "koopman": ("koopman_layers",),
    "koopman_unitary": ("koopman_layers",),
}
#: Families whose observables include the circuit fields F and L_B (QSA's kernel), so train.loss = "L_B" applies.
CIRCUIT_OBSERVABLE_FAMILIES = ("qsa", "kcsa")


@dataclass(frozen=True)
class TrainSection:
    """Optimisation: objective, optimiser, steps, mini-batches, evaluation and checkpoint cadence.

    ``loss``: ``"L_B"``, ``"L_half"``, ``"L_1"``, or ``"nll"`` (text only: the next-word
    cross-entropy over the vocabulary, see :func:`qsa.model.objective`).

    ``batch_size = 0`` uses every training sequence at every step. With ``optimizer = "lbfgs"``
    one step is one L-BFGS iteration (:class:`qsa.training.LBFGS`, ``torch.optim.LBFGS`` with
    ``max_iter=1``; its strong-Wolfe line search evaluates the loss up to ``lbfgs_max_ls`` times;
    on a full batch without shots a step starts from the previous search's last evaluation). ``eval_every``/``checkpoint_every``: in steps.

    Optimisers (:mod:`qsa.training.optimizers`): ``"adam"``, ``"adamw"`` (``weight_decay``
    decoupled; for ``"adam"`` it is an L2 term), ``"lbfgs"``, ``"spsa"`` (two loss evaluations per
    step and no gradient, for shot and hardware training: ``lr`` is the first step's gain ``a_1``,
    ``spsa_c``, ``spsa_A`` (``none``: ``0.1 * steps``), ``spsa_alpha``, ``spsa_gamma`` as in Spall's
    method). ``grad_clip``: clip the gradient's total norm to this value (Adam and AdamW).
    ``schedule``: ``"constant"``, ``"cosine"`` (to ``min_lr``), ``"linear"`` (to ``min_lr``),
    ``"step"`` (times ``lr_gamma`` every ``lr_step_size`` steps) or ``"exponential"`` (times
    ``lr_gamma`` every step), after ``warmup_steps`` of linear warm-up. ``tensorboard = true``
    also writes TensorBoard events to ``<run>/tensorboard`` (needs ``pip install "qsa[tensorboard]"``).
    ``keep_checkpoints``: how many checkpoints the run directory keeps (the latest ``checkpoint.pt``
    and older ones ``checkpoint.<step>.pt``); a resume falls back to an older one if the latest is
    damaged. ``memory_limit``: the memory the run may use (``"16 GiB"``, or bytes), checked by
    :mod:`qsa.preflight` before the data or model is built; ``None`` is what this machine has available.
    """

    loss: Literal["L_B", "L_half", "L_1", "nll"] = "L_1"
    optimizer: Literal["adam", "adamw", "lbfgs", "spsa"] = "adam"
    lr: float = 0.05
    steps: int = 100
    batch_size: int = 0
    eval_every: int = 10
    checkpoint_every: int = 10
    lbfgs_history: int = 100
    lbfgs_max_ls: int = 25
    lbfgs_line_search: Literal["strong_wolfe", "none"] = "strong_wolfe"
    weight_decay: float = 0.0
    grad_clip: float | None = None
    schedule: Literal["constant", "cosine", "linear", "step", "exponential"] = "constant"
    warmup_steps: int = 0
    min_lr: float = 0.0
    lr_step_size: int = 100
    lr_gamma: float = 0.5
    spsa_c: float = 0.2
    spsa_A: float | None = None
    spsa_alpha: float = 0.602
    spsa_gamma: float = 0.101
    tensorboard: bool = False
    keep_checkpoints: int = 3
    memory_limit: int | str | None = None


@dataclass(frozen=True)
class TrainConfig:
    """A whole run: ``name`` (of its directory), ``seed`` (every random draw derives from it) and the sections."""

    name: str = "run"
    seed: int = 0
    data: TFIMSource | MarkovSource | TextSource = field(default_factory=TFIMSource)
    model: ModelSection = field(default_factory=ModelSection)
    train: TrainSection = field(default_factory=TrainSection)


#: Range checks beyond the type: (section, key) -> (predicate, description).
_RANGES: dict[tuple[str, str], tuple[Any, str]] = {
    ("", "seed"): (lambda v: v >= 0, ">= 0"),
    ("data", "n_qubits"): (lambda v: v >= 1, ">= 1"),
    ("data", "dt"): (lambda v: v > 0, "> 0"),
    ("data", "T"): (lambda v: v >= 1, ">= 1"),
    ("data", "n_train"): (lambda v: v >= 1, ">= 1"),
    ("data", "n_test"): (lambda v: v >= 1, ">= 1"),
    ("data", "n_heldout_hamiltonians"): (lambda v: v >= 0, ">= 0"),
    ("data", "trotter_steps"): (lambda v: v >= 1, ">= 1"),
    ("data", "sequences_per_hamiltonian"): (lambda v: v >= 1, ">= 1"),
    ("data", "h_range"): (lambda v: v is None or v[0] <= v[1], "[low, high] with low <= high"),
    ("data", "J_range"): (lambda v: v[0] <= v[1], "[low, high] with low <= high"),
    ("data", "heldout_h_range"): (lambda v: v is None or v[0] <= v[1], "[low, high] with low <= high"),
    ("data", "heldout_J_range"): (lambda v: v is None or v[0] <= v[1], "[low, high] with low <= high"),
    ("data", "trotter_order"): (lambda v: v in (1, 2), "1 or 2"),
    ("data", "d"): (lambda v: v >= 2 and not v & (v - 1), "a power of two >= 2"),
    ("data", "rho"): (lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("data", "n_sentences"): (lambda v: v >= 1, ">= 1"),
    ("data", "heldout_fraction"): (lambda v: 0 < v < 1, "in (0, 1)"),
    ("data", "min_count"): (lambda v: v >= 1, ">= 1"),
    ("data", "max_size"): (lambda v: v is None or v >= 2, ">= 2"),
    ("data", "max_train"): (lambda v: v >= 0, ">= 0 (0: all)"),
    ("data", "max_test"): (lambda v: v >= 0, ">= 0 (0: all)"),
    ("model", "d"): (lambda v: v is None or (v >= 2 and not v & (v - 1)), "a power of two >= 2"),
    ("model", "koopman_layers"): (lambda v: v >= 1, ">= 1"),
    ("model", "layers"): (lambda v: v >= 1, ">= 1"),
    ("model", "heads"): (lambda v: v >= 1, ">= 1"),
    ("model", "width"): (lambda v: v is None or v >= 1, ">= 1"),
    ("model", "ffn_width"): (lambda v: v is None or v >= 1, ">= 1"),
    ("train", "lr"): (lambda v: v > 0, "> 0"),
    ("train", "steps"): (lambda v: v >= 0, ">= 0"),
    ("train", "batch_size"): (lambda v: v >= 0, ">= 0 (0: every sequence)"),
    ("train", "eval_every"): (lambda v: v >= 1, ">= 1"),
    ("train", "checkpoint_every"): (lambda v: v >= 1, ">= 1"),
    ("train", "lbfgs_history"): (lambda v: v >= 1, ">= 1"),
    ("train", "lbfgs_max_ls"): (lambda v: v >= 1, ">= 1"),
    ("train", "weight_decay"): (lambda v: v >= 0, ">= 0"),
    ("train", "grad_clip"): (lambda v: v is None or v > 0, "> 0 (none: no clipping)"),
    ("train", "warmup_steps"): (lambda v: v >= 0, ">= 0"),
    ("train", "min_lr"): (lambda v: v >= 0, ">= 0"),
    ("train", "lr_step_size"): (lambda v: v >= 1, ">= 1"),
    ("train", "lr_gamma"): (lambda v: 0 < v <= 1, "in (0, 1]"),
    ("train", "spsa_c"): (lambda v: v > 0, "> 0"),
    ("train", "spsa_A"): (lambda v: v is None or v >= 0, ">= 0 (none: 0.1 * steps)"),
    ("train", "spsa_alpha"): (lambda v: v > 0, "> 0"),
    ("train", "spsa_gamma"): (lambda v: v > 0, "> 0"),
    ("train", "keep_checkpoints"): (lambda v: v >= 1, ">= 1"),
    ("train", "memory_limit"): (lambda v: _is_size(v), "a positive size such as '16 GiB' (or bytes), or none"),
}


def _is_size(value: Any) -> bool:
    try:
        parse_size(value)
    except UserError:
        return False
    return True


# --- type checking ---------------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is tuple:
        return "a pair of numbers [low, high]"
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) in (Union, types.UnionType):
        return " or ".join("none" if a is type(None) else _type_name(a) for a in typing.get_args(tp))
    return {int: "an integer", float: "a number", str: "a string", bool: "a boolean (true/false)"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """``value`` checked against the annotation ``tp`` (ints widen to floats; nothing else converts)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if type(None) in args and (value is None or (isinstance(value, str) and value.lower() in ("none", "null"))):
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                pass
    elif origin is tuple:  # a pair of numbers (a TOML array; JSON gives a list)
        args = typing.get_args(tp)
        if isinstance(value, (list, tuple)) and len(value) == len(args):
            try:
                return tuple(_coerce(v, a, key) for v, a in zip(value, args))
            except ConfigError:
                pass
    elif origin is Literal:
        if isinstance(value, str) and value in typing.get_args(tp):
            return value
        if not isinstance(value, (str, bool)) and value in typing.get_args(tp):
            return value
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:  # pragma: no cover - every field uses one of the kinds above
        raise TypeError(f"unsupported annotation {tp!r} for {key}")
    raise ConfigError(f"{key} must be {_type_name(tp)}; got {value!r}", key=key)


def _unknown(key: str, valid: Sequence[str], where: str) -> ConfigError:
    close = difflib.get_close_matches(key.rsplit(".", 1)[-1], valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"{key} is not a key of {where}{hint}; valid keys: {', '.join(valid)}", key=key)


def _section(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{prefix} must be a table of keys; got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    where = f"[{prefix}]" + (f" for source {raw.get('source')!r}" if prefix == "data" else "")
    values = {}
    for key, value in raw.items():
        if key not in names:
            raise _unknown(f"{prefix}.{key}", names, where)
        values[key] = _coerce(value, hints[key], f"{prefix}.{key}")
        check = _RANGES.get((prefix, key))
        if check is not None and values[key] is not None and not check[0](values[key]):
            raise ConfigError(f"{prefix}.{key} must be {check[1]}; got {values[key]!r}", key=f"{prefix}.{key}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:  # the section's own checks (ModelOptions): name the key
        raise ConfigError(f"{prefix}.{exc}", key=f"{prefix}.{str(exc).split()[0]}") from None


def config_from_dict(raw: Mapping[str, Any]) -> TrainConfig:
    """A :class:`TrainConfig` from nested mappings (a parsed TOML or JSON file), checked key by key."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"a configuration must be a table of keys; got {type(raw).__name__}")
    top = [f.name for f in fields(TrainConfig)]
    for key in raw:
        if key not in top:
            raise _unknown(key, top, "the configuration")
    name = _coerce(raw.get("name", "run"), str, "name")
    if not runs.is_directory_name(name):
        raise ConfigError(f"name must be a non-empty directory name (no slashes, not starting with '.'); got {name!r}")
    seed = _coerce(raw.get("seed", 0), int, "seed")
    if seed < 0:
        raise ConfigError(f"seed must be >= 0; got {seed}")
    data_raw = raw.get("data", {})
    if not isinstance(data_raw, Mapping):
        raise ConfigError(f"data must be a table of keys; got {data_raw!r}")
    source = data_raw.get("source", "tfim")
    if source not in DATA_SOURCES:
        raise ConfigError(f"data.source must be one of {', '.join(map(repr, DATA_SOURCES))}; got {source!r}")
    config = TrainConfig(
        name=name,
        seed=seed,
        data=_section(DATA_SOURCES[source], {"source": source, **data_raw}, "data"),
        model=_section(ModelSection, raw.get("model", {}), "model"),
        train=_section(TrainSection, raw.get("train", {}), "train"),
    )
    _check_family(config.model, config.train)
    _check_optimizer(config.train)
    _check_data(config.data)
    return config


#: Keys of [data] for source "tfim" that only random couplings use.
_RANDOM_COUPLING_KEYS = ("h_range", "J_range", "sequences_per_hamiltonian")


def _check_data(data: TFIMSource | MarkovSource | TextSource) -> None:
    """The random-coupling keys of TFIM data must keep their defaults with ``couplings = "fixed"``."""
    if not isinstance(data, TFIMSource) or data.couplings == "random":
        return
    for f in fields(TFIMSource):
        if f.name in _RANDOM_COUPLING_KEYS and getattr(data, f.name) != f.default:
            raise ConfigError(
                f"data.{f.name} must be left at its default {f.default!r} with data.couplings = 'fixed' "
                f"(it applies to random couplings); got {getattr(data, f.name)!r}"
            )


#: ``[train]`` keys that apply only to some optimisers (they must stay at their defaults for the rest).
OPTIMIZER_KEYS: dict[str, tuple[str, ...]] = {
    "weight_decay": ("adam", "adamw"),
    "grad_clip": ("adam", "adamw"),
    "lbfgs_history": ("lbfgs",),
    "lbfgs_max_ls": ("lbfgs",),
    "lbfgs_line_search": ("lbfgs",),
    "spsa_c": ("spsa",),
    "spsa_A": ("spsa",),
    "spsa_alpha": ("spsa",),
    "spsa_gamma": ("spsa",),
}


def _check_optimizer(train: TrainSection) -> None:
    """Optimiser-specific keys keep their defaults for other optimisers; the schedule's end fits below ``lr``."""
    for key, users in OPTIMIZER_KEYS.items():
        default = next(f.default for f in fields(TrainSection) if f.name == key)
        value = getattr(train, key)
        if train.optimizer not in users and value != default:
            raise ConfigError(
                f"train.{key} must be left at its default {default!r} for train.optimizer = {train.optimizer!r} "
                f"(it applies to {', '.join(repr(u) for u in users)}); got {value!r}"
            )
    if train.schedule in ("cosine", "linear") and train.min_lr > train.lr:
        raise ConfigError(
            f"train.min_lr must be <= train.lr = {train.lr} for schedule {train.schedule!r}; got {train.min_lr}"
        )
    if train.schedule not in ("cosine", "linear") and train.min_lr != 0.0:
        raise ConfigError(
            f"train.min_lr must be left at 0.0 unless train.schedule is 'cosine' or 'linear'; got {train.min_lr}"
        )


def _check_family(model: ModelSection, train: TrainSection) -> None:
    """Keys of ``[model]`` that do not apply to ``model.family`` must keep their defaults; ``L_B`` needs QSA's kernel."""
    family = model.family
    for f in fields(ModelSection):
        users = [name for name, keys in FAMILY_KEYS.items() if f.name in keys]
        value = getattr(model, f.name)
        if users and family not in users and value != f.default:
            raise ConfigError(
                f"model.{f.name} must be left at its default {f.default!r} for model.family = {family!r} "
                f"(it applies to {', '.join(repr(u) for u in users)}); got {value!r}"
            )
    if train.loss == "L_B" and family not in CIRCUIT_OBSERVABLE_FAMILIES:
        raise ConfigError(
            f"train.loss must be 'L_1' or 'L_half' (or 'nll' for text) for model.family = {family!r}: L_B = -log F is "
            f"the circuit observable of {' and '.join(CIRCUIT_OBSERVABLE_FAMILIES)} (set train.loss=L_1, say); got 'L_B'"
        )


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """The resolved configuration as nested dicts (every key, defaults included; ``None`` kept; pairs as lists, as JSON has them)."""
    return dataclasses.asdict(
        config, dict_factory=lambda items: {k: list(v) if isinstance(v, tuple) else v for k, v in items}
    )


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word; "none" clears an optional key (see _coerce)


def parse_overrides(overrides: Sequence[str]) -> list[tuple[tuple[str, ...], Any]]:
    """``["model.k=3", ...]`` -> ``[(("model", "k"), 3), ...]`` (values read as TOML, else as strings)."""
    parsed = []
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise ConfigError(f"an override must read KEY=VALUE (e.g. model.k=3); got {item!r}")
        key, text = item.split("=", 1)
        path = tuple(part.strip() for part in key.strip().split("."))
        if not all(path) or len(path) > 2:
            raise ConfigError(f"an override key must be 'name', 'seed' or 'section.key'; got {key!r}")
        parsed.append((path, _parse_value(text.strip())))
    return parsed


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``raw`` with the ``--set`` overrides applied (checked by :func:`config_from_dict` after)."""
    out = {key: dict(value) if isinstance(value, Mapping) else value for key, value in raw.items()}
    sections = {"data", "model", "train"}
    for path, value in parse_overrides(overrides):
        if len(path) == 1:
            if path[0] in sections:
                raise ConfigError(f"{path[0]} is a section; set one of its keys, e.g. {path[0]}.<key>=VALUE")
            out[path[0]] = value
        else:
            if path[0] not in sections:
                raise _unknown(path[0], sorted(sections), "the configuration's sections")
            out.setdefault(path[0], {})[path[1]] = value
    return out


def _read_toml(path: str | os.PathLike) -> dict[str, Any]:
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"config must name an existing TOML file; got {str(p)!r}, a directory")
    if not p.is_file():
        raise FileNotFoundError(f"config must name an existing TOML file; got {str(p)!r}, which does not exist")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config must be a UTF-8 TOML file; got {str(p)!r}, with an undecodable byte at offset {exc.start}",
            key="config",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config must be valid TOML; got {str(p)!r}: {exc}", key="config") from None


def load_config(path: str | os.PathLike, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read the TOML file ``path``, apply ``overrides`` (``"section.key=value"``) and check everything."""
    return config_from_dict(apply_overrides(_read_toml(path), overrides))


class LoadedConfig(NamedTuple):
    """A configuration read by :func:`load_config_with_family`.

    Attributes:
        config: the checked :class:`TrainConfig`.
        reset: the ``[model]`` keys of the file that the overridden family does not use, reset to
            their defaults: ``{"model.w_layers": 8, ...}`` (the file's values); empty if none.
    """

    config: TrainConfig
    reset: dict[str, Any]


def load_config_with_family(path: str | os.PathLike, overrides: Sequence[str] = ()) -> LoadedConfig:
    """:func:`load_config`, except that a ``model.family`` override resets the file's keys the family does not use.

    This is what ``qsa train CONFIG --set model.family=kcsa`` does: every shipped config sets QSA's
    kernel and ansatz keys, which a baseline family does not use, so the keys of the *file* that do
    not apply to the family named by the override are reset to their defaults, as
    :func:`with_family` does, and reported in ``reset``. Keys given in ``overrides`` are never
    reset: one that does not apply to the family is refused as by :func:`load_config`. Without a
    ``model.family`` override this is :func:`load_config`.
    """
    raw = apply_overrides(_read_toml(path), overrides)
    explicit = {key for key, _ in parse_overrides(overrides)}
    reset: dict[str, Any] = {}
    model = raw.get("model")
    family = model.get("family", "qsa") if isinstance(model, Mapping) else None
    if ("model", "family") in explicit and isinstance(family, str) and family in FAMILY_KEYS:
        defaults = {f.name: f.default for f in fields(ModelSection)}
        kept = {}
        for key, value in model.items():
            users = [name for name, keys in FAMILY_KEYS.items() if key in keys]
            if users and family not in users and ("model", key) not in explicit:
                if value != defaults.get(key):
                    reset[f"model.{key}"] = value
                continue
            kept[key] = value
        raw["model"] = kept
    return LoadedConfig(config_from_dict(raw), reset)


def with_family(config: TrainConfig, family: str) -> TrainConfig:
    """``config`` with ``model.family = family`` and every ``[model]`` key that does not apply to it reset to its default.

    The data, the token keys (``d``, ``positional``, ``train_rotation``, ``train_embedding``), the
    seed and the ``[train]`` section are kept, so every family is trained on the same data with the
    same optimiser budget; e.g. the TFIM reference config (``k = 2``, ``w_layers = 8``) becomes kCSA
    with ``k = 2`` or softmax attention with the kernel and ansatz keys cleared.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig; got {type(config).__name__}")
    if not isinstance(family, str) or family not in FAMILIES:
        raise ConfigError(f"family must be one of {', '.join(map(repr, FAMILIES))}; got {family!r}")
    keep = set(FAMILY_KEYS[family])
    defaults: dict[str, Any] = {
        f.name: f.default for f in fields(ModelSection) if any(f.name in keys for keys in FAMILY_KEYS.values())
    }
    changes: dict[str, Any] = {"family": family, **{k: v for k, v in defaults.items() if k not in keep}}
    model = dataclasses.replace(config.model, **changes)
    return config_from_dict(config_to_dict(dataclasses.replace(config, model=model)))
