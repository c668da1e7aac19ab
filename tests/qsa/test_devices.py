"""``model.device``: a torch device by one config field, checked before anything runs, with the CPU's results.

Without a GPU the equality tests compare two device names that resolve on the CPU ("cpu" and
"cpu:0"); on a machine with CUDA the same tests also run on "cuda" (its own parameter).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from support import TOL_GRAD, TOL_STATE

from qsa.data.sequences import Sequences
from qsa.devices import device_of, resolve_device
from qsa.errors import UserError
from qsa.model import ModelConfig, QSAModel
from qsa.options import ModelOptions
from qsa.training import FamilyModel, build_dataset, load_config, train, with_family
from qsa.training.data import to_device

ROOT = Path(__file__).resolve().parents[2]
MARKOV_SMOKE = ROOT / "experiments" / "classical" / "markov_smoke.toml"
#: Devices compared with "cpu": another name of the CPU always, CUDA where it is visible.
OTHER_DEVICES = ["cpu:0", *(["cuda"] if torch.cuda.is_available() else [])]


def on(device: torch.device, name: str) -> bool:
    """Whether a tensor's ``device`` is the one ``name`` names (torch reports "cpu:0" as "cpu")."""
    wanted = torch.device(name)
    return device.type == wanted.type and (wanted.index is None or device.index in (wanted.index, None))


# --- names and availability ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cpu", "cpu:0", torch.device("cpu")])
def test_cpu_names_resolve_to_the_cpu(name):
    assert resolve_device(name) == torch.device(name)
    assert resolve_device(name).type == "cpu"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("gpu", "model.device must be a torch device name such as 'cpu', 'cuda' or 'cuda:0'; got 'gpu'"),
        ("meta", "got 'meta'"),  # not a device that computes
        ("cuda:x", "got 'cuda:x'"),
        ("cpu:1", "got 'cpu:1' but torch has only 'cpu:0'"),
    ],
)
def test_a_bad_or_missing_device_is_refused_by_name(name, message):
    with pytest.raises(UserError, match="model.device must be") as info:
        resolve_device(name, key="model.device")
    assert message in str(info.value)
    assert info.value.key == "model.device"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible")
def test_cuda_without_a_cuda_device_says_so():
    with pytest.raises(
        UserError, match="model.device must be an available torch device; got 'cuda' but no CUDA device"
    ):
        resolve_device("cuda", key="model.device")
    with pytest.raises(UserError, match="got 'cuda:3' but no CUDA device"):
        resolve_device("cuda:3", key="model.device")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_cuda_index_beyond_the_visible_ones_says_how_many_there_are():  # pragma: no cover - GPU machines
    n = torch.cuda.device_count()
    with pytest.raises(UserError, match=f"only {n} CUDA device"):
        resolve_device(f"cuda:{n}", key="model.device")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"device": "GPU"}, "device must be a torch device name"),
        ({"device": 0}, "device must be a torch device name"),
        ({"backend": "lightning.qubit", "device": "cuda"}, "device must be 'cpu' for backend 'lightning.qubit'"),
        (
            {"backend": "aer", "shots": 100, "noise": "fake_manila", "device": "cuda:0"},
            "device must be 'cpu' for backend 'aer' with noise",
        ),
    ],
)
def test_model_options_refuse_device_combinations_that_cannot_run(options, message):
    with pytest.raises(ValueError, match=message):
        ModelOptions(**options)


def test_a_missing_device_is_refused_before_the_run_directory_is_made(tmp_path):
    config = load_config(MARKOV_SMOKE, ["model.device=cpu:7"])  # a well-formed name: the config itself is fine
    with pytest.raises(UserError, match="model.device must be an available torch device; got 'cpu:7'"):
        train(config, out=tmp_path / "runs", progress=False, plots=False)
    assert not (tmp_path / "runs").exists()


# --- the same numbers on every device ---------------------------------------------------------------


def _tokens(T: int, d: int, S: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(2, S, T, d)) + 1j * rng.normal(size=(2, S, T, d))
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    return torch.as_tensor(z[0]), torch.as_tensor(z[1])  # (S, T, d) each


def _forward_backward(config: ModelConfig, device: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    model = QSAModel(config, seed=3)
    assert all(on(p.device, device) for p in model.parameters())
    X, Y = _tokens(config.T, config.d, 2, seed=5)
    batch = Sequences(X, Y).to(device)
    obs = model(batch)
    assert on(obs.L_1.device, device)
    (obs.L_1.sum() + obs.L_B.sum()).backward()
    values = {name: getattr(obs, name).detach().cpu().numpy() for name in ("L_1", "L_half", "L_B")}
    grads = {name: p.grad.detach().cpu().numpy() for name, p in model.named_parameters() if p.grad is not None}
    return values, grads


@pytest.mark.parametrize("device", OTHER_DEVICES)
@pytest.mark.parametrize(
    "options",
    [
        {"backend": "analytic", "kernel": "poly", "k": 2, "phases": "trained"},
        {"backend": "torch", "kernel": "mono", "k": 1, "phases": "aligned"},
    ],
    ids=["analytic", "torch"],
)
def test_observables_and_gradients_on_a_device_equal_the_cpu_ones(device, options):
    cpu = _forward_backward(ModelConfig(4, 4, w_layers=2, v_layers=1, **options), "cpu")
    other = _forward_backward(ModelConfig(4, 4, w_layers=2, v_layers=1, device=device, **options), device)
    assert cpu[1] and set(cpu[1]) == set(other[1])
    for name, value in cpu[0].items():
        np.testing.assert_allclose(other[0][name], value, rtol=0, atol=TOL_STATE, err_msg=name)
    for name, grad in cpu[1].items():
        np.testing.assert_allclose(other[1][name], grad, rtol=0, atol=TOL_GRAD, err_msg=name)


@pytest.mark.parametrize("device", OTHER_DEVICES)
@pytest.mark.parametrize("family", ["kcsa", "softmax_general", "linear", "koopman"])
def test_every_baseline_family_moves_to_the_device_with_the_cpu_numbers(device, family):
    results = {}
    for name in ("cpu", device):
        config = with_family(load_config(MARKOV_SMOKE, [f"model.device={name}"]), family)
        dataset = to_device(build_dataset(config, np.random.default_rng(0)), name)
        assert on(dataset.train.X.device, name) and on(dataset.train.Y.device, name)
        from qsa.training.data import model_config

        model = FamilyModel(family, model_config(config, dataset), seed=np.random.default_rng(1))
        assert on(device_of(model), name)
        obs = model(dataset.train)
        obs.L_1.sum().backward()
        results[name] = (
            obs.L_1.detach().cpu().numpy(),
            [p.grad.detach().cpu().numpy() for p in model.parameters() if p.grad is not None],
        )
    np.testing.assert_allclose(results[device][0], results["cpu"][0], rtol=0, atol=TOL_STATE)
    assert len(results[device][1]) == len(results["cpu"][1]) > 0
    for g, g0 in zip(results[device][1], results["cpu"][1]):
        np.testing.assert_allclose(g, g0, rtol=0, atol=TOL_GRAD)


@pytest.mark.parametrize("device", OTHER_DEVICES)
def test_a_training_run_on_a_device_ends_with_the_cpu_run_losses(tmp_path, device):
    finals = {}
    for name in ("cpu", device):
        config = load_config(MARKOV_SMOKE, ["train.steps=2", "train.eval_every=1", f"model.device={name}"])
        result = train(config, out=tmp_path / name, progress=False, plots=False)
        assert json.loads((result.run_dir / "config.json").read_text())["model"]["device"] == name
        finals[name] = result.summary["final"]
    assert set(finals[device]) == set(finals["cpu"]) and finals["cpu"]
    for split, metrics in finals["cpu"].items():
        for metric, value in metrics.items():
            np.testing.assert_allclose(finals[device][split][metric], value, rtol=0, atol=TOL_STATE, err_msg=metric)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible")
def test_gpu_simulators_that_are_not_there_are_refused_with_the_install_command():
    from qsa.evaluators.pennylane import check_gpu_simulator
    from qsa.hardware.runners import check_aer_device

    with pytest.raises(UserError, match=r"model.backend must .*; got 'lightning.gpu'") as info:
        check_gpu_simulator("lightning.gpu")
    assert info.value.key == "model.backend"
    from qiskit_aer import AerSimulator

    if "GPU" not in AerSimulator().available_devices():
        with pytest.raises(UserError, match="this qiskit-aer build has no GPU support") as info:
            check_aer_device("GPU")
        assert info.value.key == "model.device"
    with pytest.raises(ValueError, match="device must be 'CPU' or 'GPU'; got 'TPU'"):
        check_aer_device("TPU")
