"""The data of a run, built from its configuration: training set, evaluation splits, chance levels.

Training and evaluation batches are either :class:`~qsa.data.Sequences` (TFIM, Markov) or id
windows ``(S, T+1)`` (text), as :class:`qsa.model.QSAModel` takes them.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from qsa.analytic import ChanceLevels, chance_levels, loss_L1, loss_L_half, step_probabilities
from qsa.data import (
    Sequences,
    TFIMConfig,
    Vocabulary,
    demo_corpus,
    load_text,
    markov_sequences,
    text_dataset,
    tfim_data,
)
from qsa.data.trotter import trotter_sequences
from qsa.model import ModelConfig
from qsa.training.config import MarkovSource, TextSource, TFIMSource, TrainConfig

logger = logging.getLogger(__name__)

__all__ = [
    "BIGRAM_PSEUDOCOUNT",
    "Dataset",
    "build_dataset",
    "model_config",
    "select",
    "to_device",
    "trivial_baselines",
]

#: Pseudo-count of the text bigram baseline, ``p(w'|w) = (c(w, w') + a p_1(w')) / (c(w) + a)``.
BIGRAM_PSEUDOCOUNT = 1.0

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
        baselines: untrained predictors scored on every split, ``{name: {split: {metric: value}}}``
            (:func:`trivial_baselines`): ``"copy_last"`` and ``"unigram"`` (``L_1``, ``L_half``)
            for tokens, ``"unigram"`` and ``"bigram"`` (``nll``, ``accuracy``) and ``"copy_last"``
            (``accuracy``) for text.
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
    baselines: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)


def size(batch: Batchable) -> int:
    return len(batch) if isinstance(batch, Sequences) else int(batch.shape[0])


def select(batch: Batchable, index: np.ndarray) -> Batchable:
    """The sequences (or windows) at ``index`` (a 1-d integer array), on the batch's device."""
    if isinstance(batch, Sequences):
        return batch[index]
    return batch[torch.as_tensor(index, dtype=torch.long).to(batch.device)]


def to_device(dataset: Dataset, device: torch.device | str) -> Dataset:
    """``dataset`` with every batch (training set and splits) on the torch ``device`` (the same object on CPU)."""
    device = torch.device(device)
    if device.type == "cpu":
        return dataset

    def move(batch: Batchable) -> Batchable:
        return batch.to(device)

    moved = {id(b): move(b) for b in [dataset.train, *dataset.splits.values()]}  # shared splits stay shared
    return replace(dataset, train=moved[id(dataset.train)], splits={n: moved[id(b)] for n, b in dataset.splits.items()})


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
        couplings=cfg.couplings,
        h_range=cfg.h_range,
        J_range=cfg.J_range,
        sequences_per_hamiltonian=cfg.sequences_per_hamiltonian,
        n_heldout_hamiltonians=cfg.n_heldout_hamiltonians,
        heldout_h_range=cfg.heldout_h_range,
        heldout_J_range=cfg.heldout_J_range,
    )
    simulate = None
    if cfg.evolution == "trotter":  # the same seed streams, trajectories from simulated Trotter circuits
        common = dict(
            dt=cfg.dt,
            T=cfg.T,
            initial=cfg.initial,
            n_steps=cfg.trotter_steps,
            order=cfg.trotter_order,
            simulator=cfg.simulator,
        )

        def simulate(model, n: int, stream: np.random.Generator) -> Sequences:
            return trotter_sequences(model, n_sequences=n, seed=stream, **common)

    data = tfim_data(tc, seed=rng, simulate=simulate)
    train, test, held = data.train, data.test, data.heldout_hamiltonians
    splits = {"train": train, "test": test}
    splits.update({f"heldout_H{i + 1}": seqs for i, seqs in enumerate(held)})
    d = train.d if d_model is None else d_model
    h_range, J_range = tc.heldout_ranges()
    info = {
        "source": "tfim",
        "n_train": len(train),
        "n_test": len(test),
        "couplings": cfg.couplings,
        "heldout_ranges": {"h": list(h_range), "J": list(J_range)},
        "heldout_hamiltonians": [s.meta["hamiltonian"] for s in held],
        "evolution": cfg.evolution,
    }
    if cfg.couplings == "random":
        info["training_hamiltonians"] = len(train.meta["hamiltonians"])
    return Dataset(train, splits, cfg.T, train.d, chance_levels(d), None, None, None, info)


def _markov(cfg: MarkovSource, rng: np.random.Generator) -> Dataset:
    s_train, s_test = rng.spawn(2)
    common = dict(T=cfg.T, d=cfg.d, rho=cfg.rho, field=cfg.field, noise=cfg.noise)
    train = markov_sequences(cfg.n_train, seed=s_train, **common)
    test = markov_sequences(cfg.n_test, seed=s_test, **common)
    info = {"source": "markov", "n_train": cfg.n_train, "n_test": cfg.n_test, "noise": cfg.noise}
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


def _scores(p: torch.Tensor) -> dict[str, float]:
    return {"L_1": float(loss_L1(p).mean()), "L_half": float(loss_L_half(p).mean())}


def _token_baselines(train: Sequences, splits: dict[str, Sequences]) -> dict[str, dict[str, dict[str, float]]]:
    Y = train.Y.reshape(-1, train.d)  # (S T, d): every training target
    rho = Y.T @ Y.conj() / Y.shape[0]  # (d, d): the mean target state sum |y><y| / n
    out: dict[str, dict[str, dict[str, float]]] = {"copy_last": {}, "unigram": {}}
    for name, split in splits.items():
        out["copy_last"][name] = _scores(step_probabilities(split.X, split.Y))  # z_j = x_j
        p = torch.einsum("stc,cd,std->st", split.Y.conj(), rho, split.Y).real  # <y_j|rho|y_j>, (S, T)
        out["unigram"][name] = _scores(p)
    return out


def _text_baselines(
    train: torch.Tensor, splits: dict[str, torch.Tensor], M: int
) -> dict[str, dict[str, dict[str, float]]]:
    prev, nxt = train[:, :-1].reshape(-1).numpy(), train[:, 1:].reshape(-1).numpy()
    uni = (np.bincount(nxt, minlength=M) + 1.0) / (nxt.size + M)  # (M,), add-one
    pairs = np.zeros((M, M))
    np.add.at(pairs, (prev, nxt), 1.0)
    a = BIGRAM_PSEUDOCOUNT
    bigram = (pairs + a * uni) / (pairs.sum(1, keepdims=True) + a)  # (M, M): p(next | previous)
    out: dict[str, dict[str, dict[str, float]]] = {"copy_last": {}, "unigram": {}, "bigram": {}}
    for name, ids in splits.items():
        x, y = ids[:, :-1].reshape(-1).numpy(), ids[:, 1:].reshape(-1).numpy()
        out["copy_last"][name] = {"accuracy": float((x == y).mean())}
        out["unigram"][name] = {"nll": float(-np.log(uni[y]).mean()), "accuracy": float((y == uni.argmax()).mean())}
        out["bigram"][name] = {
            "nll": float(-np.log(bigram[x, y]).mean()),
            "accuracy": float((bigram[x].argmax(1) == y).mean()),
        }
    return out


def trivial_baselines(dataset: Dataset) -> dict[str, dict[str, dict[str, float]]]:
    r"""Untrained predictors scored on every split of ``dataset``: what a trained model must beat.

    Tokens (TFIM, Markov; scored like every model, ``p_j`` then ``L_1`` and ``L_half``, on the data's
    own tokens, before any projector):

    - ``"copy_last"``: ``z_j = x_j``, the next token predicted to equal the last one;
    - ``"unigram"``: no context at all: the mixed state ``rho = mean |y><y|`` over the training
      targets, ``p_j = <y_j|rho|y_j>`` (for orthonormal tokens these are the unigram frequencies).

    Text (next-word ids): ``"unigram"`` (training frequencies, add-one smoothed) and ``"bigram"``
    (``p(w'|w) = (c(w, w') + a p_1(w')) / (c(w) + a)``, ``a = BIGRAM_PSEUDOCOUNT``, the unigram
    ``p_1`` as prior), each with its ``nll`` and argmax ``accuracy``; ``"copy_last"`` with its
    ``accuracy`` (its nll is infinite whenever a word is not repeated).

    Returns:
        ``{baseline: {split: {metric: value}}}``.
    """
    if dataset.vocabulary is None:
        return _token_baselines(dataset.train, dataset.splits)
    return _text_baselines(dataset.train, dataset.splits, len(dataset.vocabulary))


def build_dataset(config: TrainConfig, rng: np.random.Generator) -> Dataset:
    """The :class:`Dataset` of ``config.data``, drawn from ``rng``, with its :func:`trivial_baselines`;
    ``info["fingerprint"]`` identifies it."""
    cfg = config.data
    if isinstance(cfg, TFIMSource):
        ds = _tfim(cfg, rng, config.model.d)
    elif isinstance(cfg, MarkovSource):
        ds = _markov(cfg, rng)
    else:
        ds = _text(cfg, rng, config.model.d)
    ds = replace(ds, baselines=trivial_baselines(ds))
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
    embedding, extra = "none", dict[str, Any]()
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
