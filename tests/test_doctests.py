"""The examples in the docstrings of the main entry points run (as doctests) and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

# module: the entry points whose examples are checked (observables, circuit_observables, QSAModel,
# train, circuit_a, circuit_b, to_qiskit, HardwareEvaluator, and QSAAttention).
ENTRY_POINTS = {
    "qsa.analytic": ["observables"],
    "qsa.circuit_tier": ["circuit_observables"],
    "qsa.model": ["QSAModel"],
    "qsa.training.loop": ["train"],
    "qsa.circuits.builders": ["circuit_a", "circuit_b"],
    "qsa.circuits.to_qiskit": ["to_qiskit"],
    "qsa.hardware.evaluator": ["HardwareEvaluator"],
    "qsa.nn": ["QSAAttention"],
}


@pytest.mark.parametrize("module_name", sorted(ENTRY_POINTS))
def test_entry_point_examples_run(module_name):
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for name in ENTRY_POINTS[module_name]:
        (test,) = [t for t in finder.find(getattr(module, name), f"{module_name}.{name}", module=module) if t.examples]
        result = runner.run(test)
        assert result.attempted >= 2 and result.failed == 0, f"{module_name}.{name}: {result}"
