r"""Next-token distributions and text samples of a trained text model, of any family.

Every model of :mod:`qsa.training` on text (``embedding = "isometric"``) predicts, at step ``t``, a
distribution over the vocabulary: :math:`p(l\mid z_t)=|\langle f_l|z_t\rangle|^2/\|z_t\|^2` for a
predicted state, :math:`\langle f_l|\rho_t|f_l\rangle` for Chen's mixed state. Generation samples
from it autoregressively (the dissipative Koopman paper's Table 3 shows such samples for its
stages); :func:`qsa.baselines.chen.autoregressive_system` turns :func:`next_token_distribution`
into a GAI system whose joint probabilities can be checked for consistency.

Every model here is causal (the prediction at ``t`` depends on the tokens up to ``t``), so a
context shorter than the model's ``T`` is placed at the start of a window of ``T`` tokens padded
with id 0 after it, and the prediction at its last position is read; a longer context keeps its
last ``T`` tokens.

    from qsa.training import load_config, run_dataset, train
    from qsa.training.generate import generate
    config = load_config("experiments/classical/text.toml")
    result = train(config)
    vocabulary = run_dataset(config).vocabulary   # the run's data, rebuilt from its seed
    print(generate(result.model, vocabulary, "the cat", n_tokens=12, seed=0).text)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from qsa import _validate
from qsa.data.text import Vocabulary, _detokenize, tokenize
from qsa.model import QSAModel
from qsa.training.families import FamilyModel, next_token_probabilities

__all__ = ["Sample", "next_token_probabilities", "next_token_distribution", "generate"]


def _text_model(model: Any) -> QSAModel | FamilyModel:
    if not isinstance(model, (QSAModel, FamilyModel)):
        raise TypeError(f"model must be a QSAModel or FamilyModel; got {type(model).__name__}")
    if model.config.embedding != "isometric":
        raise ValueError(
            f"model must be a text model (embedding 'isometric'); got embedding {model.config.embedding!r}"
        )
    return model


def next_token_distribution(model: QSAModel | FamilyModel, context: Sequence[int]) -> np.ndarray:
    """The distribution ``(M,)`` of the word after ``context`` (ids; the last ``T`` are used)."""
    model = _text_model(model)
    M, T = model.config.vocab_size, model.config.T
    if M is None:  # pragma: no cover - a text model has a vocabulary
        raise ValueError("model must have a vocabulary (config.vocab_size); got None")
    ctx = [_validate.integer(i, "context id", minimum=0) for i in context]
    if not ctx or max(ctx) >= M:
        raise ValueError(f"context must be a non-empty sequence of ids in [0, {M}); got {list(context)!r}")
    ctx = ctx[-T:]
    window = torch.zeros(1, T + 1, dtype=torch.long)  # padded after the context: causal models ignore it
    window[0, : len(ctx)] = torch.tensor(ctx)
    with torch.no_grad():
        p = next_token_probabilities(model, window)[0, len(ctx) - 1]  # (M,)
    return p.numpy()


class Sample(NamedTuple):
    """A generated text.

    Attributes:
        ids: prompt ids followed by the generated ids.
        prompt_length: how many of ``ids`` are the prompt.
        text: the words joined back into text (the prompt included).
        log_probability: sum of the log probabilities of the generated words under the model.
    """

    ids: tuple[int, ...]
    prompt_length: int
    text: str
    log_probability: float


def generate(
    model: QSAModel | FamilyModel,
    vocabulary: Vocabulary,
    prompt: str | Sequence[int],
    n_tokens: int,
    *,
    seed: int | np.random.Generator,
    temperature: float = 1.0,
    greedy: bool = False,
) -> Sample:
    """Sample ``n_tokens`` words after ``prompt`` from the model's next-token distributions.

    Args:
        model: a trained text model (:func:`qsa.training.train` on ``source = "text"``).
        vocabulary: its vocabulary (the dataset's; every run directory's data is rebuilt from the config).
        prompt: text (tokenised with :func:`qsa.data.text.tokenize`; unknown words map to
            ``<unk>`` if the vocabulary has it, else raise) or a sequence of ids.
        n_tokens: words to generate, ``>= 1``.
        seed: int or ``numpy.random.Generator`` for the draws.
        temperature: ``p^(1/temperature)`` renormalised, ``> 0``.
        greedy: take the most probable word instead of sampling.
    """
    model = _text_model(model)
    if not isinstance(vocabulary, Vocabulary):
        raise TypeError(f"vocabulary must be a qsa.data.Vocabulary; got {type(vocabulary).__name__}")
    if len(vocabulary) != model.config.vocab_size:
        raise ValueError(f"vocabulary must have the model's {model.config.vocab_size} words; got {len(vocabulary)}")
    n_tokens = _validate.integer(n_tokens, "n_tokens", minimum=1)
    temperature = _validate.real_number(temperature, "temperature", positive=True)
    rng = _validate.generator(seed)
    ids = [int(i) for i in (vocabulary.encode(tokenize(prompt)) if isinstance(prompt, str) else prompt)]
    if not ids:
        raise ValueError("prompt must hold at least one word; got an empty prompt")
    start, logp = len(ids), 0.0
    for _ in range(n_tokens):
        p = next_token_distribution(model, ids)  # (M,)
        if greedy:
            y = int(np.argmax(p))
        else:
            q = p ** (1.0 / temperature)
            y = int(rng.choice(len(q), p=q / q.sum()))
        logp += float(np.log(p[y]))
        ids.append(y)
    return Sample(tuple(ids), start, _detokenize(vocabulary.decode(ids)), logp)
