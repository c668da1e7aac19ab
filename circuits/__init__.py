"""What a QSA circuit is: a small frozen IR, pure builders and exporters (imported as ``qsa.circuits``).

No torch here. Exporters: :mod:`qsa.circuits.to_pennylane` and :mod:`qsa.circuits.to_qiskit`
(imported on demand, so that building and counting circuits needs neither PennyLane nor Qiskit).
"""

from qsa.circuits.builders import (
    VARIANTS,
    QSACircuit,
    ansatz,
    ansatz_shape,
    circuit_a,
    circuit_b,
    cnot_ring,
    indexed_load,
    lcu_angles,
    lcu_register,
    n_index_qubits,
    query_phases,
    tfim_trotter_step,
    token_load,
    triangular_amplitudes,
    triangular_state,
    uniform_amplitudes,
    uniform_state,
)
from qsa.circuits.ir import (
    GATES,
    Circuit,
    Derivation,
    Gate,
    Param,
    ParamSpec,
    Register,
    Select,
    StatePrep,
    Unitary,
    bits,
)
from qsa.circuits.lowering import derive, lower
from qsa.circuits.shape import CIRCUITS, KERNELS, LABELS, Shape

__all__ = [
    "CIRCUITS",
    "GATES",
    "KERNELS",
    "LABELS",
    "VARIANTS",
    "Circuit",
    "Derivation",
    "Gate",
    "Param",
    "ParamSpec",
    "QSACircuit",
    "Register",
    "Select",
    "Shape",
    "StatePrep",
    "Unitary",
    "ansatz",
    "ansatz_shape",
    "cnot_ring",
    "bits",
    "circuit_a",
    "circuit_b",
    "derive",
    "indexed_load",
    "lcu_angles",
    "lcu_register",
    "lower",
    "n_index_qubits",
    "query_phases",
    "tfim_trotter_step",
    "token_load",
    "triangular_amplitudes",
    "triangular_state",
    "uniform_amplitudes",
    "uniform_state",
]
