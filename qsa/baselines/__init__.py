"""Comparator models scored with the same losses as QSA (``qsa.analytic.step_probabilities``).

Modules:

- :mod:`qsa.baselines.attention`: classical attention on QSA's tokens — kCSA (QSA's kernel with
  free unitaries), causal softmax attention with an isometric or a general value map, causal
  linear attention.
- :mod:`qsa.baselines.chen`: Chen's physical model of a transformer as quantum operations and
  Lüders measurements on the truncated Fock space of token states.
- :mod:`qsa.baselines.koopman`: the dissipative Koopman + linear-attention ("measurement") sequence
  model, its spectral analysis and its Hamiltonian (unitary) ablation.

The attention and Koopman models train through ``qsa.training`` (``model.family``).
"""
