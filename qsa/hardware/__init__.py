"""The hardware path: shots, noise, batched parameter-shift gradients and IBM Quantum submission.

- :mod:`qsa.hardware.programs`: circuit templates per shape, parameter-shift plans, PUB bindings.
- :mod:`qsa.hardware.estimators`: observables and standard errors from counts (SamplerV2 bits).
- :mod:`qsa.hardware.runners`: where PUBs run as one job (any V2 sampler; exact Aer; noisy Aer).
- :mod:`qsa.hardware.noise`: IBM fake backends, ISA pass managers, transpile reports, noisy Aer.
- :mod:`qsa.hardware.evaluator`: the torch autograd Function and :class:`HardwareEvaluator`.
- :mod:`qsa.hardware.providers`, :mod:`~qsa.hardware.journal`, :mod:`~qsa.hardware.submission`:
  IBM runtime or local testing mode, the job journal, ``qsa submit`` / ``qsa jobs``.

Nothing here is imported by ``import qsa``; ``qiskit_ibm_runtime`` is imported only where needed.
"""

from qsa.hardware.estimators import Estimate, estimate, zero_cells
from qsa.hardware.evaluator import HardwareEvaluator, ParameterShift
from qsa.hardware.programs import Program, Shape, program
from qsa.hardware.runners import (
    Compiled,
    ExactRunner,
    NoisyAerRunner,
    Pub,
    Runner,
    SamplerRunner,
    aer_sampler_runner,
)

__all__ = [
    "Compiled",
    "Estimate",
    "ExactRunner",
    "HardwareEvaluator",
    "NoisyAerRunner",
    "ParameterShift",
    "Program",
    "Pub",
    "Runner",
    "SamplerRunner",
    "Shape",
    "aer_sampler_runner",
    "estimate",
    "program",
    "zero_cells",
]
