"""What a QSA circuit costs: qubits and logical gate counts (METHOD.md section 7)."""

from qsa.resources.counts import DEFAULT_LAYERS, FAMILIES, VARIANTS, LogicalCounts, Shape, build, logical_counts, n_qubits
from qsa.resources.decompose import Decomposition, decompose, decomposed_counts, two_qubit_depth

__all__ = [
    "DEFAULT_LAYERS",
    "FAMILIES",
    "VARIANTS",
    "Decomposition",
    "LogicalCounts",
    "Shape",
    "build",
    "decompose",
    "decomposed_counts",
    "logical_counts",
    "n_qubits",
    "two_qubit_depth",
]
