"""Seeded, offline data sources; every one returns or feeds a :class:`~qsa.data.sequences.Sequences`.

- :mod:`qsa.data.sequences`: the shared container ``Sequences(X, Y, field, meta)``, ``(S, T, d)`` unit tokens.
- :mod:`qsa.data.tfim`: transverse-field Ising trajectories (exact ``exp(-i H dt)`` by SciPy's ``expm`` or
  ``expm_multiply``, up to 20 qubits; Trotter reference).
- :mod:`qsa.data.trotter`: TFIM trajectories from Trotter circuits run on a simulator.
- :mod:`qsa.data.markov`: Markov tokens on the unit sphere with correlation ``rho``.
- :mod:`qsa.data.text`: tokenizer, vocabulary, text loader, id windows, offline demo corpora
  (turned into tokens by :class:`qsa.embeddings.IsometricEmbedding`).

Randomness comes only from a ``seed`` argument (an int or a ``numpy.random.Generator``).
"""

from qsa.data.markov import markov_sequences
from qsa.data.sequences import Sequences, collate
from qsa.data.text import (
    TextData,
    Vocabulary,
    demo_corpus,
    grammar_corpus,
    load_text,
    stdlib_corpus,
    text_dataset,
    tokenize,
    windows,
)
from qsa.data.tfim import (
    TFIM,
    TFIMConfig,
    TFIMData,
    TFIMParts,
    evolve,
    exact_unitary,
    initial_states,
    random_tfim,
    reference_tfim_config,
    tfim_data,
    tfim_sequences,
    trajectories,
    transverse_ising,
    trotter_unitary,
)
from qsa.data.trotter import trotter_circuit, trotter_sequences, trotter_trajectories

__all__ = [
    "Sequences",
    "collate",
    "markov_sequences",
    "TFIM",
    "TFIMConfig",
    "TFIMData",
    "TFIMParts",
    "transverse_ising",
    "random_tfim",
    "exact_unitary",
    "trotter_unitary",
    "trotter_circuit",
    "trotter_trajectories",
    "trotter_sequences",
    "initial_states",
    "trajectories",
    "evolve",
    "tfim_sequences",
    "tfim_data",
    "reference_tfim_config",
    "tokenize",
    "Vocabulary",
    "load_text",
    "windows",
    "TextData",
    "text_dataset",
    "grammar_corpus",
    "stdlib_corpus",
    "demo_corpus",
]
