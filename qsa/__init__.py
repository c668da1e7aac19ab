"""QSA: variational quantum circuits for quantum self-attention.

Two ways to the same numbers (METHOD.md section 6):

* :func:`observables` — the analytic tier, closed forms in torch (fast, differentiable);
* :func:`circuit_observables` — the circuits built gate by gate and run on PennyLane or Aer.

:func:`load_run` reads a trained run back (model, config, data splits; imported on first use).
"""

from typing import Any

from qsa.analytic import Observables, chance_levels, observables
from qsa.circuit_tier import circuit_observables

__version__ = "0.1.0"

__all__ = ["Observables", "chance_levels", "circuit_observables", "load_run", "observables", "__version__"]


def __getattr__(name: str) -> Any:
    """``qsa.load_run``: :func:`qsa.training.load.load_run`, imported when first asked for."""
    if name == "load_run":
        from qsa.training.load import load_run

        return load_run
    raise AttributeError(f"module 'qsa' has no attribute {name!r}")
