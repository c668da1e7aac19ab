"""Limits of the evaluators that the memory preflight (:mod:`qsa.preflight`) reads without loading torch."""

from __future__ import annotations

#: Default bound on ``chunk x 2^n`` amplitudes held per state by the torch statevector evaluator
#: (2^22: 64 MiB in complex128).
MAX_AMPLITUDES = 2**22
