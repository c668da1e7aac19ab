"""What a QSA circuit costs: qubits, logical and transpiled gate counts, shots, against classical attention.

METHOD.md section 7. The pieces, each usable alone:

* :mod:`qsa.circuits.decompose` — the logical decomposition to CNOT + single-qubit gates (which
  one, exactly, is in its docstring) and exact per-op count formulas;
* :mod:`~qsa.resources.counts` — :func:`shape` (a :class:`~qsa.circuits.Shape` from a circuit
  label ``"A-mono"``, ``"A-poly"``, ``"B"``) and :func:`logical_counts` of one of its variants;
* :mod:`~qsa.resources.transpiled` — two-qubit counts and depths on heavy-hex fake backends
  (Heron ``FakeFez``, Eagle ``FakeSherbrooke``), with an on-disk cache;
* :mod:`~qsa.resources.shots` — shots for a target precision and the advantage criterion;
* :mod:`~qsa.resources.classical` — multiply-adds of one classical attention head;
* :mod:`~qsa.resources.fits` and :mod:`~qsa.resources.sweep` — sweeps, log-log fits with
  confidence intervals, crossovers.

Qiskit is imported only when transpiling.
"""

from qsa.circuits import LABELS, Shape
from qsa.circuits.decompose import Decomposition, decompose, decomposed_counts, two_qubit_depth
from qsa.resources.classical import ClassicalCost, classical_attention_cost
from qsa.resources.counts import DEFAULT_LAYERS, LogicalCounts, logical_counts, shape
from qsa.resources.fits import JointFit, PowerLawFit, crossovers, fit_joint, fit_power_law
from qsa.resources.shots import (
    ProbabilityEstimate,
    advantage_threshold,
    meets_advantage,
    reference_probability,
    shots_for_precision,
)
from qsa.resources.sweep import SweepConfig, rows_to_csv, summarize, sweep
from qsa.resources.transpiled import BACKENDS, TranspileCache, TranspiledCounts, transpiled_counts

__all__ = [
    "BACKENDS",
    "DEFAULT_LAYERS",
    "LABELS",
    "ClassicalCost",
    "Decomposition",
    "JointFit",
    "LogicalCounts",
    "PowerLawFit",
    "ProbabilityEstimate",
    "Shape",
    "SweepConfig",
    "TranspileCache",
    "TranspiledCounts",
    "advantage_threshold",
    "classical_attention_cost",
    "crossovers",
    "decompose",
    "decomposed_counts",
    "fit_joint",
    "fit_power_law",
    "logical_counts",
    "meets_advantage",
    "reference_probability",
    "rows_to_csv",
    "shape",
    "shots_for_precision",
    "summarize",
    "sweep",
    "transpiled_counts",
    "two_qubit_depth",
]
