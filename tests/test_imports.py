"""What importing costs: each promise is checked in a fresh interpreter (a subprocess), as a user meets it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "pennylane", "qiskit", "qiskit_aer", "qiskit_ibm_runtime", "scipy", "matplotlib")


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_import_qsa_circuits_loads_neither_torch_nor_pennylane_nor_qiskit():
    assert _loaded_after("import qsa.circuits; qsa.circuits.Shape('A', 4, 2).build_all()") == set()


def test_import_qsa_is_lazy():
    assert _loaded_after("import qsa; qsa.__version__") == set()
    assert "torch" in _loaded_after("import qsa; qsa.observables")


def test_qsa_help_loads_none_of_the_heavy_packages():
    code = "import sys\nfrom qsa.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    assert _loaded_after(code) == set()


def test_a_training_config_is_read_and_checked_without_torch():
    code = "from qsa.training import load_config\nload_config('experiments/tfim/config.toml', ['model.k=3'])"
    assert _loaded_after(code) == set()


@pytest.mark.parametrize("package", ["qsa", "qsa.training", "qsa.resources", "qsa.hardware", "qsa.evaluators"])
def test_every_lazy_name_resolves(package):
    import importlib

    module = importlib.import_module(package)
    for name in getattr(module, "__all__", []):
        assert getattr(module, name) is not None, f"{package}.{name}"
    with pytest.raises(AttributeError, match="has no attribute"):
        module.no_such_name  # noqa: B018


def test_an_exported_function_wins_over_its_submodule_of_the_same_name():
    import importlib

    module = importlib.import_module("qsa.resources.sweep")  # binds the submodule to the package first
    from qsa.resources import sweep

    assert callable(sweep) and sweep is module.sweep


def test_qsa_gates_refuses_a_grid_too_large_before_loading_torch_or_qiskit():
    """Issue 17: ``qsa gates --T 1048576`` is refused with the estimate at once, by arithmetic on the flags."""
    code = "from qsa.cli import main\nassert main(['gates', '--T', '1048576']) == 2"
    assert _loaded_after(code) == set()


def test_qsa_train_refuses_a_32_qubit_circuit_before_loading_torch(tmp_path):
    """Issue 17: the memory preflight of a new run is arithmetic on the config, before torch is loaded."""
    out = tmp_path / "runs"
    code = "from qsa.cli import main\n" + "\n".join(
        f"assert main(['train', 'experiments/classical/markov_smoke.toml', '--set', 'data.T=4096', '--set', "
        f"'model.k=3', '--set', 'model.backend={backend}', '--out', {str(out)!r}]) == 2"
        for backend in ("default.qubit", "lightning.qubit", "torch")
    )
    assert _loaded_after(code) == set()
    assert not out.exists()


def test_qsa_train_on_the_analytic_backend_loads_neither_pennylane_qiskit_scipy_stats_nor_torch_dynamo(tmp_path):
    """Issue 19: the reference task's path (analytic backend) imports none of what it does not use, with
    every optimiser the config offers: created, stepped (3 steps, checkpoints) and restored by ``resume``."""
    from qsa.training.optimizers import OPTIMIZERS

    code = (
        "import json, sys\nfrom pathlib import Path\nfrom qsa.cli import main\nfrom qsa.training import resume\n"
        "unwanted = ('pennylane', 'qiskit', 'scipy.stats', 'torch._dynamo')\nloaded = {}\n"
        f"for name in {OPTIMIZERS!r}:\n"
        f"    out = Path({str(tmp_path)!r}) / name\n"
        "    assert main(['train', 'experiments/tfim/smoke.toml', '--set', 'train.steps=3', '--set', "
        "'train.checkpoint_every=2', '--set', f'train.optimizer={name}', '--set', 'train.lr=0.05', "
        "'--out', str(out), '--no-progress']) == 0\n"
        "    (run_dir,) = out.iterdir()\n"
        "    resume(run_dir, plots=False)\n"
        "    loaded[name] = sorted(m for m in unwanted if m in sys.modules)\n"
        "print(json.dumps(loaded))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.splitlines()[-1])
    assert list(loaded) == list(OPTIMIZERS) and len(OPTIMIZERS) >= 4
    assert loaded == {name: [] for name in OPTIMIZERS}  # cumulative: the first name with a module brought it
