"""The data of a run, built from its configuration: training set, evaluation splits, chance levels.

Training and evaluation batches are either :class:`~qsa.data.Sequences` (TFIM, Markov) or id
windows ``(S, T+1)`` (text), as :class:`qsa.model.QSAModel` takes them.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from qsa.analytic import ChanceLevels, chance_levels
from qsa.data import (
    Sequences,
    TFIMConfig,
    Vocabulary,
    demo_corpus,
    load_text,
    markov_sequences,
    random_tfim,
    text_dataset,
    tfim_data,
    transverse_ising,
)
from qsa.data.trotter import trotter_sequences
from qsa.model import ModelConfig
from qsa.training.config import MarkovSource, TextSource, TFIMSource, TrainConfig

logger = logging.getLogger(__name__)

__all__ = ["Dataset", "build_dataset", "model_config", "select"]

Batchable = Sequences | torch.Tensor


@dataclass(frozen=True, eq=False)
class Dataset:
    """What a run trains and evaluates on.

    Attributes:
        train: the training set (mini-batches are drawn from it).
        splits: evaluation sets by name, ``"train"`` (the whole training set) and ``"test"``
            first; ``"test"`` selects the best checkpoint.
        T: steps per sequence; width: token width of the data (``2^n_qubits``, Markov ``d``, or
            ``None`` for id windows).
        chance: expected losses of a random prediction at the model's token width.
        vocabulary: the text vocabulary, or ``None``.
        majority_accuracy: next-token accuracy of always guessing the most frequent training
            target (text only; the baseline next to the model's accuracy).
        nll_baselines: text only: next-word cross-entropies of the uniform guess (``log M``) and
            of the training unigram frequencies (their entropy), the baselines of ``"nll"``.
        info: JSON-friendly description (sizes, sources) for the run record.
    """

    train: Batchable
    splits: dict[str, Batchable]
    T: int
    width: int | None
    chance: ChanceLevels
    vocabulary: Vocabulary | None
    majority_accuracy: float | None
    nll_baselines: dict[str, float] | None
    info: dict[str, Any]


def size(batch: Batchable) -> int:
    return len(batch) if isinstance(batch, Sequences) else int(batch.shape[0])


def select(batch: Batchable, index: np.ndarray) -> Batchable:
    """The sequences (or windows) at ``index`` (a 1-d integer array)."""
    if isinstance(batch, Sequences):
        return batch[index]
    return batch[torch.as_tensor(index, dtype=torch.long)]


def _tfim(cfg: TFIMSource, rng: np.random.Generator, d_model: int | None) -> Dataset:
    tc = TFIMConfig(
        n_qubits=cfg.n_qubits,
        h=cfg.h,
        J=cfg.J,
        topology=cfg.topology,
        dt=cfg.dt,
        T=cfg.T,
        n_train=cfg.n_train,
        n_test=cfg.n_test,
        initial=cfg.initial,
        n_heldout_hamiltonians=cfg.n_heldout_hamiltonians,
    )
    if cfg.evolution == "exact":
        data = tfim_data(tc, seed=rng)
        train, test, held = data.train, data.test, data.heldout_hamiltonians
    else:  # the same seed streams as tfim_data, trajectories from simulated Trotter circuits
        streams = rng.spawn(2 + cfg.n_heldout_hamiltonians)
        common = dict(
            dt=cfg.dt,
            T=cfg.T,
            initial=cfg.initial,
            n_steps=cfg.trotter_steps,
            order=cfg.trotter_order,
            simulator=cfg.simulator,
        )
        model = transverse_ising(cfg.n_qubits, h=cfg.h, J=cfg.J, topology=cfg.topology)
        train = trotter_sequences(model, n_sequences=cfg.n_train, seed=streams[0], **common)
        test = trotter_sequences(model, n_sequences=cfg.n_test, seed=streams[1], **common)
        held = tuple(
            trotter_sequences(
                random_tfim(cfg.n_qubits, topology=cfg.topology, seed=s), n_sequences=cfg.n_test, seed=s, **common
            )
            for s in streams[2:]
        )
    splits = {"train": train, "test": test}
    splits.update({f"heldout_H{i + 1}": seqs for i, seqs in enumerate(held)})
    d = train.d if d_model is None else d_model
    info = {
        "source": "tfim",
        "n_train": len(train),
        "n_test": len(test),
        "heldout_hamiltonians": [s.meta["hamiltonian"] for s in held],
        "evolution": cfg.evolution,
    }
    return Dataset(train, splits, cfg.T, train.d, chance_levels(d), None, None, None, info)


def _markov(cfg: MarkovSource, rng: np.random.Generator) -> Dataset:
    s_train, s_test = rng.spawn(2)
    common = dict(T=cfg.T, d=cfg.d, rho=cfg.rho, field=cfg.field)
    train = markov_sequences(cfg.n_train, seed=s_train, **common)
    test = markov_sequences(cfg.n_test, seed=s_test, **common)
    info = {"source": "markov", "n_train": cfg.n_train, "n_test": cfg.n_test}
    return Dataset(
        train,
        {"train": train, "test": test},
        cfg.T,
        cfg.d,
        chance_levels(cfg.d, field=cfg.field),
        None,
        None,
        None,
        info,
    )


def _text(cfg: TextSource, rng: np.random.Generator, d_model: int | None) -> Dataset:
    if d_model is None:
        raise ValueError("model.d must be given for text data (the embedding's token width, a power of two); got none")
    s_corpus, s_split, s_cap = rng.spawn(3)
    if cfg.corpus == "file":
        if not cfg.path:
            raise ValueError("data.path must name a UTF-8 text file for data.corpus = 'file'; got ''")
        text = load_text(cfg.path)
    else:
        text = demo_corpus(cfg.corpus, seed=s_corpus, n_sentences=cfg.n_sentences)
    data = text_dataset(
        text,
        T=cfg.T,
        heldout_fraction=cfg.heldout_fraction,
        seed=s_split,
        min_count=cfg.min_count,
        max_size=cfg.max_size,
    )
    train, test = data.train, data.heldout
    if cfg.max_train and len(train) > cfg.max_train:
        train = train[torch.as_tensor(np.sort(s_cap.choice(len(train), cfg.max_train, replace=False)))]
    if cfg.max_test and len(test) > cfg.max_test:
        test = test[torch.as_tensor(np.sort(s_cap.choice(len(test), cfg.max_test, replace=False)))]
    vocab = data.vocabulary
    if len(vocab) < d_model:
        raise ValueError(
            f"model.d must be <= the vocabulary size {len(vocab)} (an isometric embedding needs M >= d); got {d_model}"
        )
    counts = np.bincount(train[:, 1:].reshape(-1).numpy(), minlength=len(vocab))
    majority = float(counts.max() / counts.sum())
    freq = counts[counts > 0] / counts.sum()
    baselines = {"uniform": float(np.log(len(vocab))), "unigram": float(-(freq * np.log(freq)).sum())}
    info = {
        "source": "text",
        "corpus": cfg.corpus,
        "vocabulary_size": len(vocab),
        "has_unk": vocab.has_unk,
        "n_train": int(train.shape[0]),
        "n_test": int(test.shape[0]),
    }
    # Tokens are real vectors: the chance level of a random direction in R^d.
    return Dataset(
        train,
        {"train": train, "test": test},
        cfg.T,
        None,
        chance_levels(d_model, field="real"),
        vocab,
        majority,
        baselines,
        info,
    )


def fingerprint(splits: dict[str, Batchable]) -> str:
    """SHA-256 of every split's tensors: a resumed run checks it is training on the same data."""
    digest = hashlib.sha256()
    for name, batch in splits.items():
        digest.update(name.encode())
        tensors = (batch.X, batch.Y) if isinstance(batch, Sequences) else (batch,)
        for t in tensors:
            digest.update(t.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def build_dataset(config: TrainConfig, rng: np.random.Generator) -> Dataset:
    """The :class:`Dataset` of ``config.data``, drawn from ``rng``; ``info["fingerprint"]`` identifies it."""
    cfg = config.data
    if isinstance(cfg, TFIMSource):
        ds = _tfim(cfg, rng, config.model.d)
    elif isinstance(cfg, MarkovSource):
        ds = _markov(cfg, rng)
    else:
        ds = _text(cfg, rng, config.model.d)
    ds.info["fingerprint"] = fingerprint(ds.splits)
    logger.info("dataset %s: %s", cfg.source, ds.info)
    return ds


def model_config(config: TrainConfig, dataset: Dataset) -> ModelConfig:
    """The :class:`~qsa.model.ModelConfig` for ``config.model`` on ``dataset`` (width, embedding, projector)."""
    m = config.model
    if config.train.loss == "nll" and dataset.vocabulary is None:
        raise ValueError(
            f"train.loss must be 'L_B', 'L_half' or 'L_1' for {config.data.source} data ('nll' needs a vocabulary); got 'nll'"
        )
    embedding, extra = "none", {}
    if dataset.vocabulary is not None:
        d = m.d
        embedding, extra = "isometric", {"vocab_size": len(dataset.vocabulary)}
    else:
        d = dataset.width if m.d is None else m.d
        if d > dataset.width:
            raise ValueError(f"model.d must be <= the data's token width {dataset.width}; got {d}")
        if d < dataset.width:
            if not isinstance(config.data, TFIMSource):
                raise ValueError(
                    f"model.d must equal the data's token width {dataset.width} for {config.data.source} data; got {d}"
                )
            embedding, extra = "projector", {"input_qubits": dataset.width.bit_length() - 1}
    options = m.options()  # the shared ModelOptions, declared once
    token_keys = {
        "none": ("positional", "train_rotation", "train_embedding"),
        "projector": ("positional", "train_rotation"),
    }
    for key in token_keys.get(embedding, ()):  # token options of an embedding the data does not use
        del options[key]
    return ModelConfig(d, dataset.T, embedding=embedding, **options, **extra)
