"""QSA: variational quantum circuits for quantum self-attention.

Two ways to the same numbers (METHOD.md section 6):

* :func:`observables` — the analytic tier, closed forms in torch (fast, differentiable);
* :func:`circuit_observables` — the circuits built gate by gate and run on PennyLane or Aer.
"""

from qsa.analytic import Observables, chance_levels, observables
from qsa.circuit_tier import circuit_observables

__version__ = "0.1.0"

__all__ = ["Observables", "chance_levels", "circuit_observables", "observables", "__version__"]
