"""QSA: variational quantum circuits for quantum self-attention (Pecilli & Rosati, arXiv 2602.06699).

Two ways to the same numbers (the method page of the docs, ``docs/method.md``, section 6):

* :func:`observables` — the analytic tier, closed forms in torch (fast, differentiable);
* :func:`circuit_observables` — the circuits built gate by gate and run on PennyLane, Aer or
  QSA's torch simulator (:func:`circuit_estimate`: with a standard error next to every field).

Words, one meaning each across the code:

* **circuit** — circuit A (two control registers; variants ``mu``, ``zeta``, ``nu``) or circuit B
  (superposition loading; variant ``P0``), described by one :class:`qsa.circuits.Shape`;
* **variant** — which of a circuit's measured circuits (``mu``, ``zeta``, ``nu``, ``P0``);
* **backend** — where a circuit runs (``"analytic"``, ``"torch"``, ``"default.qubit"``,
  ``"lightning.qubit"``, ``"aer"``; :mod:`qsa.backends` holds the simulators);
* **evaluator** — what turns parameters and tokens into :class:`Observables`
  (:mod:`qsa.evaluators`, and :class:`qsa.hardware.HardwareEvaluator`);
* **runner** — what executes Qiskit PUBs on a primitive (:mod:`qsa.hardware.runners`);
* **family** — a model family trained by :mod:`qsa.training` (``qsa``, ``kcsa``, ``softmax_*``, ...);
* **device** — a torch device (``cpu``, ``cuda:N``).

Importing ``qsa`` is cheap: the names below load their modules (and torch) on first use, and
``import qsa.circuits`` needs neither torch, PennyLane nor Qiskit. :func:`load_run` reads a
trained run back (model, config, data splits).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qsa._lazy import exports

__version__ = "0.1.0"

_EXPORTS = {
    "Observables": "qsa.analytic",
    "chance_levels": "qsa.analytic",
    "observables": "qsa.analytic",
    "circuit_observables": "qsa.circuit_tier",
    "circuit_estimate": "qsa.circuit_tier",
    "load_run": "qsa.training.load",
}

__all__ = [
    "Observables",
    "chance_levels",
    "circuit_estimate",
    "circuit_observables",
    "load_run",
    "observables",
    "__version__",
]

if TYPE_CHECKING:
    from qsa.analytic import Observables, chance_levels, observables
    from qsa.circuit_tier import circuit_estimate, circuit_observables
    from qsa.training.load import load_run


__getattr__, __dir__ = exports(__name__, _EXPORTS)
