"""The hardware path: shots, noise, batched parameter-shift gradients and IBM Quantum submission.

- :mod:`qsa.hardware.programs`: circuit templates per shape, parameter-shift plans, PUB bindings.
- :mod:`qsa.hardware.estimators`: observables and standard errors from counts (SamplerV2 bits).
- :mod:`qsa.hardware.runners`: where PUBs run as one job (any V2 sampler; exact Aer; noisy Aer).
- :mod:`qsa.hardware.noise`: IBM fake backends, ISA pass managers, transpile reports, noisy Aer.
- :mod:`qsa.hardware.evaluator`: the torch autograd Function and :class:`HardwareEvaluator`.
- :mod:`qsa.hardware.providers`, :mod:`~qsa.hardware.journal`, :mod:`~qsa.hardware.submission`,
  :mod:`~qsa.hardware.cli`: IBM runtime or local testing mode, the job journal, ``qsa submit`` and
  ``qsa jobs``.

Nothing here is imported by ``import qsa``; the names below load their modules on first use, so
that ``qsa --help`` does not pay for Qiskit.
"""

from __future__ import annotations

from qsa._lazy import exports

_EXPORTS = {
    "Estimate": ".estimators",
    "estimate": ".estimators",
    "zero_cells": ".estimators",
    "HardwareEvaluator": ".evaluator",
    "ParameterShift": ".evaluator",
    "Program": ".programs",
    "Shape": ".programs",
    "program": ".programs",
    "Compiled": ".runners",
    "ExactRunner": ".runners",
    "NoisyAerRunner": ".runners",
    "Pub": ".runners",
    "Runner": ".runners",
    "SamplerRunner": ".runners",
    "aer_sampler_runner": ".runners",
    "IBMProvider": ".providers",
    "LocalProvider": ".providers",
    "MissingAccountError": ".providers",
    "Journal": ".journal",
    "SubmitConfig": ".submission",
}

__all__ = [
    "Compiled",
    "Estimate",
    "ExactRunner",
    "HardwareEvaluator",
    "IBMProvider",
    "Journal",
    "LocalProvider",
    "MissingAccountError",
    "NoisyAerRunner",
    "ParameterShift",
    "Program",
    "Pub",
    "Runner",
    "SamplerRunner",
    "Shape",
    "SubmitConfig",
    "aer_sampler_runner",
    "estimate",
    "program",
    "zero_cells",
]


__getattr__, __dir__ = exports(__name__, _EXPORTS)
