"""What a QSA circuit costs: qubits, logical and transpiled gate counts, shots, against classical attention.

docs/method.md section 7. The pieces, each usable alone:

* :mod:`qsa.circuits.decompose` — the logical decomposition to CNOT + single-qubit gates (which
  one, exactly, is in its docstring) and exact per-op count formulas;
* :mod:`~qsa.resources.counts` — :func:`shape` (a :class:`~qsa.circuits.Shape` from a circuit
  label ``"A-mono"``, ``"A-poly"``, ``"B"``) and :func:`logical_counts` of one of its variants;
* :mod:`~qsa.resources.transpiled` — two-qubit counts and depths on heavy-hex fake backends
  (Heron ``FakeFez``, Eagle ``FakeSherbrooke``), with an on-disk cache;
* :mod:`~qsa.resources.shots` — shots for a target precision and the advantage criterion;
* :mod:`~qsa.resources.classical` — multiply-adds of one classical attention head, and the
  classical preprocessing a QSA circuit needs (circuit B's ``O(T d^(k+1))`` loads);
* :mod:`~qsa.resources.fits` and :mod:`~qsa.resources.sweep` — sweeps (one whole attention
  evaluation: every variant at its own shots), log-log and exponential fits with confidence
  intervals, crossovers;
* :mod:`~qsa.resources.report` — the cost block of a trained model (:mod:`qsa.training.cost`):
  probabilities, shots per circuit, loss and gradient, executions per step, advantage.

Qiskit is imported only when transpiling.
"""

from qsa._lazy import exports

_EXPORTS = {
    "LABELS": "qsa.circuits",
    "Shape": "qsa.circuits",
    "Decomposition": "qsa.circuits.decompose",
    "decompose": "qsa.circuits.decompose",
    "decomposed_counts": "qsa.circuits.decompose",
    "two_qubit_depth": "qsa.circuits.decompose",
    "ClassicalCost": "qsa.resources.classical",
    "classical_attention_cost": "qsa.resources.classical",
    "Preprocessing": "qsa.resources.classical",
    "preprocessing_cost": "qsa.resources.classical",
    "DEFAULT_LAYERS": "qsa.resources.counts",
    "LogicalCounts": "qsa.resources.counts",
    "logical_counts": "qsa.resources.counts",
    "shape": "qsa.resources.counts",
    "ExponentialFit": "qsa.resources.fits",
    "JointFit": "qsa.resources.fits",
    "PowerLawFit": "qsa.resources.fits",
    "crossovers": "qsa.resources.fits",
    "fit_exponential": "qsa.resources.fits",
    "fit_joint": "qsa.resources.fits",
    "fit_power_law": "qsa.resources.fits",
    "ProbabilityEstimate": "qsa.resources.shots",
    "advantage_threshold": "qsa.resources.shots",
    "meets_advantage": "qsa.resources.shots",
    "reference_probability": "qsa.resources.shots",
    "reference_probabilities": "qsa.resources.shots",
    "shots_for_precision": "qsa.resources.shots",
    "SweepConfig": "qsa.resources.sweep",
    "rows_to_csv": "qsa.resources.sweep",
    "summarize": "qsa.resources.sweep",
    "sweep": "qsa.resources.sweep",
    "BACKENDS": "qsa.resources.transpiled",
    "TranspileCache": "qsa.resources.transpiled",
    "TranspiledCounts": "qsa.resources.transpiled",
    "transpiled_counts": "qsa.resources.transpiled",
}

__getattr__, __dir__ = exports(__name__, _EXPORTS)

__all__ = [
    "BACKENDS",
    "DEFAULT_LAYERS",
    "LABELS",
    "ClassicalCost",
    "Decomposition",
    "ExponentialFit",
    "JointFit",
    "LogicalCounts",
    "PowerLawFit",
    "Preprocessing",
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
    "fit_exponential",
    "fit_joint",
    "fit_power_law",
    "logical_counts",
    "meets_advantage",
    "preprocessing_cost",
    "reference_probabilities",
    "reference_probability",
    "rows_to_csv",
    "shape",
    "shots_for_precision",
    "summarize",
    "sweep",
    "transpiled_counts",
    "two_qubit_depth",
]
