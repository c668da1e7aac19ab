"""The model options, declared once: shared by :class:`qsa.model.ModelConfig` and the ``[model]`` TOML section.

:class:`ModelOptions` holds every option of a QSA model that is not a size fixed by the data (the
kernel, the ansatz depths, the phases, how the embedding trains, the backend and its shot and
noise settings). :class:`qsa.model.ModelConfig` adds the sizes (``d``, ``T``, the embedding);
:class:`qsa.training.ModelSection` adds what a training config chooses (the model family, a
token width that may come from the data). Both check their options here, once.

No torch here: a training config is read and checked before anything heavy is imported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any, Literal

from qsa.circuits import KERNELS, _checks

__all__ = [
    "PHASES",
    "EMBEDDINGS",
    "BACKENDS",
    "PENNYLANE_DEVICES",
    "HARDWARE_BACKENDS",
    "DIFF_METHODS",
    "DEVICE_PATTERN",
    "GPU_BACKENDS",
    "ModelOptions",
]

#: Query phases: none, aligned (``phi_j = -arg A_j``, closed form) or trained (parameters ``phi``).
PHASES = ("none", "aligned", "trained")
#: How batches become tokens: given tokens, an isometric vocabulary embedding, or a projector of states.
EMBEDDINGS = ("none", "isometric", "projector")
#: PennyLane devices that run the circuits in the loop (``lightning.gpu``: NVIDIA GPUs, ``pip install "qsa[gpu]"``).
PENNYLANE_DEVICES = ("default.qubit", "lightning.qubit", "lightning.gpu")
#: Backends that simulate on a GPU of their own (they need one, whatever ``device`` says).
GPU_BACKENDS = ("lightning.gpu",)
#: Backends evaluated by :class:`qsa.hardware.HardwareEvaluator`: batched parameter shift on Qiskit Aer.
HARDWARE_BACKENDS = ("aer",)
#: Every backend a model can name (see :mod:`qsa.evaluators`).
BACKENDS = ("analytic", "torch", *PENNYLANE_DEVICES, *HARDWARE_BACKENDS)
#: Torch device names (checked for presence by :func:`qsa.devices.resolve_device` when a model is built).
DEVICE_PATTERN = r"(cpu|cuda|mps|xpu)(:[0-9]+)?"
#: PennyLane's differentiation methods (PennyLane devices only).
DIFF_METHODS = ("best", "backprop", "adjoint", "parameter-shift")


@dataclass(frozen=True, kw_only=True)
class ModelOptions:
    """Options of a QSA model beyond its sizes (keyword-only; every one has a default).

    Attributes:
        k: key copies (mono: power of the overlap; poly: degree), ``>= 1``.
        kernel: ``"mono"`` or ``"poly"``; beta: the poly scale (``None``: ``sqrt(d)``), ``> 0``.
        w_layers, v_layers: depth ``L >= 1`` of the hardware-efficient ansatz of ``W`` and ``V``.
        phases: ``"none"``, ``"aligned"`` (``-arg A_j``, analytic) or ``"trained"`` (parameters ``phi``).
        positional: add sinusoidal positions to the tokens (isometric embedding).
        train_rotation: train the output rotation ``R`` (``F = E R``; isometric embedding).
        train_embedding: ``False`` freezes the embedding or projector.
        backend: ``"analytic"`` (closed forms), ``"torch"`` (the circuits in the loop on QSA's
            batched torch statevector simulator, backprop), a PennyLane device (``"default.qubit"``,
            ``"lightning.qubit"``, ``"lightning.gpu"``: the circuits in the loop) or ``"aer"`` (the hardware path:
            :class:`qsa.hardware.HardwareEvaluator`, one Aer job per step holding every
            parameter-shift point of every sequence). See :mod:`qsa.evaluators`.
        diff_method: PennyLane's ``"best"``, ``"backprop"``, ``"adjoint"`` or ``"parameter-shift"``
            (PennyLane devices only).
        shots: ``"aer"`` only: ``None`` for exact statevector probabilities, else samples per
            circuit and parameter set (SamplerV2 counts).
        shot_seed: ``"aer"`` with shots: the root seed of the sampling. Every training step and
            evaluation samples its own stream derived from it and the step (and every circuit of a
            job its own child stream: :mod:`qsa.random`), so runs repeat and resume exactly;
            ``None`` draws fresh randomness (a resumed run then differs in its sampling noise).
        noise: ``"aer"`` with shots: a ``qiskit_ibm_runtime.fake_provider`` backend name (e.g.
            ``"fake_torino"``) whose noise model and layout Aer simulates; ``None`` is noiseless.
        device: the torch device of the parameters, the data and every tensor a training step makes
            (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``): the analytic tier, the torch
            simulator and PennyLane's ``default.qubit`` run there. ``"lightning.qubit"`` runs on
            the CPU (``device`` must be a CPU); ``"aer"`` with a CUDA ``device`` simulates on Aer's
            GPU build (``device="GPU"``, ``pip install "qsa[gpu]"``). Whether the device exists is
            checked when the model is built (:func:`qsa.devices.resolve_device`).

    Raises:
        TypeError, ValueError: for an option out of its domain, or options that do not go
            together (shots without ``backend = "aer"``, ...), with "X must be ...; got ...".
    """

    k: int = 1
    kernel: Literal["mono", "poly"] = "mono"
    beta: float | None = None
    w_layers: int = 2
    v_layers: int = 2
    phases: Literal["none", "aligned", "trained"] = "aligned"
    positional: bool = False
    train_rotation: bool = True
    train_embedding: bool = True
    backend: Literal["analytic", "torch", "default.qubit", "lightning.qubit", "lightning.gpu", "aer"] = "analytic"
    diff_method: Literal["best", "backprop", "adjoint", "parameter-shift"] = "best"
    shots: int | None = None
    shot_seed: int | None = None
    noise: str | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        _checks.integer(self.k, "k", minimum=1)
        _checks.one_of(self.kernel, "kernel", KERNELS)
        if self.beta is not None:
            _checks.real_number(self.beta, "beta", positive=True)
        _checks.integer(self.w_layers, "w_layers", minimum=1)
        _checks.integer(self.v_layers, "v_layers", minimum=1)
        _checks.one_of(self.phases, "phases", PHASES)
        for name in ("positional", "train_rotation", "train_embedding"):
            _checks.boolean(getattr(self, name), name)
        if not isinstance(self.backend, str) or self.backend not in BACKENDS:
            raise ValueError(
                f"backend must be one of {BACKENDS} (pass other evaluators to QSAModel); got {self.backend!r}"
            )
        _checks.one_of(self.diff_method, "diff_method", DIFF_METHODS)
        if not isinstance(self.device, str) or not re.fullmatch(DEVICE_PATTERN, self.device):
            raise ValueError(
                f"device must be a torch device name such as 'cpu', 'cuda' or 'cuda:0'; got {self.device!r}"
            )
        if self.backend == "aer" and self.noise is not None and not self.device.startswith("cpu"):
            raise ValueError(
                f"device must be 'cpu' for backend 'aer' with noise (the fake backends' noise models simulate on the "
                f"CPU); got {self.device!r}"
            )
        if self.backend == "lightning.qubit" and not self.device.startswith("cpu"):
            raise ValueError(
                f"device must be 'cpu' for backend 'lightning.qubit' (a CPU simulator; on NVIDIA GPUs use "
                f"backend = 'lightning.gpu'); got {self.device!r}"
            )
        if self.backend not in HARDWARE_BACKENDS:
            for name in ("shots", "shot_seed", "noise"):
                if getattr(self, name) is not None:
                    raise ValueError(
                        f"{name} must be None unless backend is one of {HARDWARE_BACKENDS}; got {getattr(self, name)!r}"
                    )
        else:
            if self.shots is not None:
                _checks.integer(self.shots, "shots", minimum=1)
            if self.shot_seed is not None:
                _checks.integer(self.shot_seed, "shot_seed", minimum=0)
            if self.shots is None and (self.shot_seed is not None or self.noise is not None):
                raise ValueError("shots must be given for shot_seed or noise (exact Aer samples nothing); got None")
            if self.noise is not None and not isinstance(self.noise, str):
                raise TypeError(f"noise must be a fake backend name such as 'fake_torino' or None; got {self.noise!r}")

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """The names of the shared options, in declaration order."""
        return tuple(f.name for f in fields(ModelOptions))

    def options(self) -> dict[str, Any]:
        """The shared options of ``self`` as keyword arguments (for a :class:`ModelOptions` subclass)."""
        return {name: getattr(self, name) for name in ModelOptions.option_names()}
