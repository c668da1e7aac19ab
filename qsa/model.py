r"""The QSA model: trainable W and V ansatz angles, query phases and token embeddings, evaluated on a backend.

Read top to bottom: :class:`ModelConfig`; the :class:`Evaluator` contract every backend meets;
the analytic and PennyLane evaluators; :class:`QSAModel`.

Every trainable quantity is a registered parameter (so it is in ``state_dict`` and
``model.parameters()``):

==================== ================= ==================================================
name                 shape             meaning
==================== ================= ==================================================
``theta_W``          ``(L_W, n, 3)``   key/query ansatz angles, ``W = ansatz_unitary(theta_W)``
``theta_V``          ``(L_V, n, 3)``   value ansatz angles
``phi``              ``(T,)``          query phases ``e^{i phi_j}`` (``phases="trained"`` only)
``embedding.*``      see below         :class:`~qsa.embeddings.IsometricEmbedding` (ids -> tokens)
                                       or :class:`~qsa.embeddings.Projector` (states -> tokens)
==================== ================= ==================================================

A forward pass maps a batch to tokens ``X`` and targets ``Y`` ``(S, T, d)`` and hands the
circuit parameters to the evaluator, which returns the :class:`~qsa.analytic.Observables`
(``mu``, ``zeta``, ``nu``, ``F``, ``L_B``, ``L_A``, ``L_half``, ``L_1``, ``p``), one value per sequence.
With ``phases="aligned"`` the phases ``phi_j = -arg A_j`` are computed in closed form without
gradient and passed to the evaluator as ``(S, T)`` phases: they maximise ``mu``, so the gradient
of ``mu`` with respect to them vanishes and a detached ``phi`` gives the exact gradient of ``L_B``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from qsa import _validate, analytic
from qsa.analytic import Observables
from qsa.ansatz import ansatz_unitary
from qsa.data.sequences import Sequences
from qsa.embeddings import IsometricEmbedding, Projector

__all__ = [
    "PHASES",
    "EMBEDDINGS",
    "LOSSES",
    "PENNYLANE_DEVICES",
    "HARDWARE_BACKENDS",
    "DIFF_METHODS",
    "ModelConfig",
    "Evaluator",
    "AnalyticEvaluator",
    "PennyLaneEvaluator",
    "make_evaluator",
    "objective",
    "QSAModel",
]

PHASES = ("none", "aligned", "trained")
EMBEDDINGS = ("none", "isometric", "projector")
#: Training objectives: fields of :class:`~qsa.analytic.Observables` averaged over sequences, and
#: ``"nll"``, the next-word cross-entropy over a vocabulary (see :func:`objective`).
LOSSES = ("L_B", "L_half", "L_1", "nll")
PENNYLANE_DEVICES = ("default.qubit", "lightning.qubit")
#: Backends evaluated by :class:`qsa.hardware.HardwareEvaluator`: batched parameter shift on Qiskit Aer.
HARDWARE_BACKENDS = ("aer",)
DIFF_METHODS = ("best", "backprop", "adjoint", "parameter-shift")


# --- configuration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes a model's shape and how it is evaluated.

    Attributes:
        d: token width the circuit sees (a power of two; ``n = log2 d`` qubits per token).
        T: steps per sequence.
        k: key copies (mono: power of the overlap; poly: degree).
        kernel: ``"mono"`` or ``"poly"``; beta: poly scale (``None``: ``sqrt(d)``).
        w_layers, v_layers: depth ``L`` of the hardware-efficient ansatz of ``W`` and ``V``.
        phases: ``"none"``, ``"aligned"`` (``-arg A_j``, analytic) or ``"trained"`` (parameters ``phi``).
        embedding: ``"none"`` (batches are token :class:`~qsa.data.Sequences` of width ``d``),
            ``"isometric"`` (batches are id windows ``(S, T+1)`` over ``vocab_size`` words) or
            ``"projector"`` (batches are :class:`~qsa.data.Sequences` of ``input_qubits``-qubit states).
        vocab_size: ``M`` for ``"isometric"``; positional: add sinusoidal positions to the tokens;
            train_rotation: train the output rotation ``R`` (``F = E R``).
        input_qubits: ``D`` for ``"projector"`` (``2^D >= d``).
        train_embedding: ``False`` freezes the embedding or projector.
        backend: ``"analytic"`` (closed forms), ``"torch"`` (the circuits in the loop on QSA's
            batched torch statevector simulator, backprop), a PennyLane device (``"default.qubit"``,
            ``"lightning.qubit"``: the circuits in the loop) or ``"aer"`` (the hardware path:
            :class:`qsa.hardware.HardwareEvaluator`, one Aer job per step holding every
            parameter-shift point of every sequence). Any other evaluator is passed to
            :class:`QSAModel` as an object.
        diff_method: PennyLane's ``"best"``, ``"backprop"``, ``"adjoint"`` or ``"parameter-shift"``
            (PennyLane devices only).
        shots: ``"aer"`` only: ``None`` for exact statevector probabilities, else samples per
            circuit and parameter set (SamplerV2 counts).
        shot_seed: ``"aer"`` with shots: the sampler's seed. Every evaluation samples with this
            same seed, so runs repeat and resume exactly; ``None`` draws fresh randomness (a resumed
            run then differs in its sampling noise).
        noise: ``"aer"`` with shots: a ``qiskit_ibm_runtime.fake_provider`` backend name (e.g.
            ``"fake_torino"``) whose noise model and layout Aer simulates; ``None`` is noiseless.
    """

    d: int
    T: int
    k: int = 1
    kernel: Literal["mono", "poly"] = "mono"
    beta: float | None = None
    w_layers: int = 2
    v_layers: int = 2
    phases: Literal["none", "aligned", "trained"] = "aligned"
    embedding: Literal["none", "isometric", "projector"] = "none"
    vocab_size: int | None = None
    positional: bool = False
    train_rotation: bool = True
    input_qubits: int | None = None
    train_embedding: bool = True
    backend: str = "analytic"
    diff_method: str = "best"
    shots: int | None = None
    shot_seed: int | None = None
    noise: str | None = None

    def __post_init__(self) -> None:
        _validate.power_of_two(self.d, "d")
        _validate.integer(self.T, "T", minimum=1)
        _validate.kernel_options(self.k, self.kernel, self.beta)
        _validate.integer(self.w_layers, "w_layers", minimum=1)
        _validate.integer(self.v_layers, "v_layers", minimum=1)
        _validate.one_of(self.phases, "phases", PHASES)
        _validate.one_of(self.embedding, "embedding", EMBEDDINGS)
        for name in ("positional", "train_rotation", "train_embedding"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool; got {getattr(self, name)!r}")
        if self.embedding == "isometric":
            if self.vocab_size is None:
                raise ValueError("vocab_size must be given for embedding='isometric'; got None")
            _validate.integer(self.vocab_size, "vocab_size", minimum=self.d)
        elif self.vocab_size is not None:
            raise ValueError(f"vocab_size must be None unless embedding='isometric'; got {self.vocab_size!r}")
        if self.embedding == "projector":
            if self.input_qubits is None:
                raise ValueError("input_qubits must be given for embedding='projector'; got None")
            if _validate.integer(self.input_qubits, "input_qubits", minimum=1) < self.n_qubits:
                raise ValueError(f"input_qubits must be >= log2 d = {self.n_qubits}; got {self.input_qubits}")
        elif self.input_qubits is not None:
            raise ValueError(f"input_qubits must be None unless embedding='projector'; got {self.input_qubits!r}")
        backends = ("analytic", "torch", *PENNYLANE_DEVICES, *HARDWARE_BACKENDS)
        if not isinstance(self.backend, str) or self.backend not in backends:
            raise ValueError(
                f"backend must be one of {backends} (pass other evaluators to QSAModel); got {self.backend!r}"
            )
        _validate.one_of(self.diff_method, "diff_method", DIFF_METHODS)
        if self.backend not in HARDWARE_BACKENDS:
            for name in ("shots", "shot_seed", "noise"):
                if getattr(self, name) is not None:
                    raise ValueError(
                        f"{name} must be None unless backend is one of {HARDWARE_BACKENDS}; got {getattr(self, name)!r}"
                    )
        else:
            if self.shots is not None:
                _validate.integer(self.shots, "shots", minimum=1)
            if self.shot_seed is not None:
                _validate.integer(self.shot_seed, "shot_seed", minimum=0)
            if self.shots is None and (self.shot_seed is not None or self.noise is not None):
                raise ValueError("shots must be given for shot_seed or noise (exact Aer samples nothing); got None")
            if self.noise is not None and not isinstance(self.noise, str):
                raise TypeError(f"noise must be a fake backend name such as 'fake_torino' or None; got {self.noise!r}")

    @property
    def n_qubits(self) -> int:
        """Qubits per token, ``log2 d``."""
        return self.d.bit_length() - 1

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# --- the evaluator contract ------------------------------------------------------------------------


@runtime_checkable
class Evaluator(Protocol):
    r"""Anything that turns circuit parameters and tokens into QSA observables.

    ``evaluator(params, X, Y, *, k, kernel, beta) -> Observables`` where

    * ``params`` maps ``"theta_W"`` and ``"theta_V"`` to ``(L, n, 3)`` float64 ansatz angles (the
      ansatz of :func:`qsa.circuits.ansatz`, matrix :func:`qsa.ansatz.ansatz_unitary`) and, when the
      model has phases, ``"phi"`` to real phases of shape ``(T,)`` or ``(S, T)`` (the query phases
      ``e^{i phi_j}`` of circuit A's ``mu`` circuit; absent means no phases);
    * ``X``, ``Y`` are tokens and targets ``(S, T, d)``, complex with unit rows;
    * ``k``, ``kernel``, ``beta`` are the kernel options of :func:`qsa.observables`.

    It returns :class:`qsa.analytic.Observables` whose fields are torch tensors of shape ``(S,)``
    (``p``: ``(S, T)``), differentiable with respect to ``params`` (e.g. through a custom
    ``torch.autograd.Function`` running parameter-shift jobs). Fields it cannot estimate may be
    ``None``; the training loop needs the field of its loss (``L_B``, ``L_half`` or ``L_1``).
    Gradients with respect to ``X`` and ``Y`` are optional: an evaluator that cannot
    differentiate state preparation must raise if ``X`` or ``Y`` requires grad, never return a
    silent zero.
    """

    def __call__(
        self,
        params: Mapping[str, torch.Tensor],
        X: torch.Tensor,
        Y: torch.Tensor,
        *,
        k: int,
        kernel: str,
        beta: float | None,
    ) -> Observables: ...


class AnalyticEvaluator:
    """The closed forms of :func:`qsa.observables`: exact, fast, differentiable in everything.

    ``dtype=torch.complex64`` evaluates in single precision (about twice as fast at large ``T``;
    the accuracy measured by ``experiments/benchmarks`` is in its README).
    """

    def __init__(self, *, dtype: torch.dtype = torch.complex128) -> None:
        self.dtype = _validate.complex_dtype(dtype)

    def __call__(self, params, X, Y, *, k, kernel, beta):
        W = ansatz_unitary(params["theta_W"]).to(self.dtype)  # (d, d)
        V = ansatz_unitary(params["theta_V"]).to(self.dtype)  # (d, d)
        X, Y = X.to(self.dtype), Y.to(self.dtype)
        return analytic.observables(X, Y, W, V, k=k, kernel=kernel, beta=beta, phases=params.get("phi"))

    def __repr__(self) -> str:
        return "AnalyticEvaluator()" if self.dtype == torch.complex128 else f"AnalyticEvaluator(dtype={self.dtype})"


def _resolved_diff_method(device: str, diff_method: str) -> str:
    if diff_method != "best":
        return diff_method
    return "backprop" if device == "default.qubit" else "adjoint"


@contextlib.contextmanager
def _float64_results():
    """Torch's default dtype float64 while QNodes run.

    PennyLane's torch interface turns a device result that is a Python float into a tensor with
    ``torch.as_tensor``, i.e. of the default dtype, float32: lightning.qubit returns Python floats
    for expectation values of products of projectors, so without this they would lose 8 digits.
    """
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


#: Widest Projector handed to lightning.qubit in one piece (see PennyLaneEvaluator._qnode).
_PROJECTOR_GROUP = 6


class PennyLaneEvaluator:
    r"""Circuit A's ``mu``, ``zeta`` and ``nu`` circuits (ansatz gates for ``W``, ``V``) run as torch QNodes.

    One QNode per circuit and shape, applied sequence by sequence. Each QNode returns the
    expectation values of the projectors the observables are read from: ``|0...0><0...0|`` on
    every wire (``mu``) and ``|j><j| (x) |0..0><0..0|`` on the index and zero wires for ``j < T``
    (``zeta_j``, ``nu_j``, as in :func:`qsa.circuit_observables`); they are assembled in torch, so
    gradients flow. Expectation values (not probabilities) because the adjoint method
    differentiates only those. Token loads are applied as block-diagonal matrices
    (``select="matrix"`` of :func:`qsa.circuits.to_pennylane.apply`).

    ``diff_method="backprop"`` (default.qubit) also differentiates the token loads, so gradients
    reach an embedding; ``"adjoint"`` and ``"parameter-shift"`` differentiate gate angles only
    and raise if ``X`` or ``Y`` needs a gradient. lightning.qubit's adjoint Jacobian fails on
    controlled matrices (pennylane-lightning 0.45 raises ``IndexError: unordered_map::at``), which
    the poly kernel's controlled key copies need: that combination is refused.

    Args:
        device: ``"default.qubit"`` or ``"lightning.qubit"``.
        diff_method: ``"best"`` (backprop on default.qubit, adjoint on lightning), ``"backprop"``,
            ``"adjoint"`` or ``"parameter-shift"``.
    """

    def __init__(self, device: str = "default.qubit", *, diff_method: str = "best") -> None:
        _validate.one_of(device, "device", PENNYLANE_DEVICES)
        _validate.one_of(diff_method, "diff_method", DIFF_METHODS)
        method = _resolved_diff_method(device, diff_method)
        if method == "backprop" and device != "default.qubit":
            raise ValueError(
                f"diff_method must not be 'backprop' on {device} (it supports adjoint and parameter-shift); got 'backprop'"
            )
        self.device, self.diff_method = device, method
        self._qnodes: dict[tuple, dict[str, tuple[Any, Any]]] = {}

    @property
    def differentiates_data(self) -> bool:
        """Whether gradients reach the tokens ``X``, ``Y`` (backprop through the state loads)."""
        return self.diff_method == "backprop"

    def _qnode(self, qc):
        import pennylane as qml

        from qsa.circuits import bits
        from qsa.circuits.to_pennylane import apply

        dev = qml.device(self.device, wires=qc.n_qubits)
        wires = list(qc.index_wires + qc.zero_wires)
        n_values = qc.T if qc.index_wires else 1
        patterns = [list(bits(j, len(qc.index_wires)) + (0,) * len(qc.zero_wires)) for j in range(n_values)]

        def projector(pattern):
            if self.device != "lightning.qubit" or len(wires) <= _PROJECTOR_GROUP:
                return qml.Projector(pattern, wires=wires)
            # lightning turns a Projector into a dense 2^m x 2^m Hermitian matrix (8 GiB of work
            # per adjoint pass at m = 13); a product of projectors on small wire groups is the
            # same operator and stays small.
            groups = range(0, len(wires), _PROJECTOR_GROUP)
            return qml.prod(
                *(
                    qml.Projector(pattern[g : g + _PROJECTOR_GROUP], wires=wires[g : g + _PROJECTOR_GROUP])
                    for g in groups
                )
            )

        @qml.qnode(dev, interface="torch", diff_method=self.diff_method)
        def projectors(values):
            apply(qc.circuit, values, select="matrix")
            return [qml.expval(projector(b)) for b in patterns]

        return projectors

    def _circuits(self, T: int, d: int, k: int, kernel: str, beta: float | None, L_W: int, L_V: int, phases: bool):
        key = (T, d, k, kernel, beta, L_W, L_V, phases)
        if key not in self._qnodes:
            from qsa.circuits import circuit_a

            built = {}
            for variant in ("mu", "zeta", "nu"):
                qc = circuit_a(
                    T,
                    d,
                    k,
                    kernel=kernel,
                    beta=beta,
                    variant=variant,
                    w_layers=L_W,
                    v_layers=L_V,
                    phases=phases and variant == "mu",
                )
                built[variant] = (qc, self._qnode(qc))
            self._qnodes[key] = built
        return self._qnodes[key]

    def __call__(self, params, X, Y, *, k, kernel, beta):
        if (X.requires_grad or Y.requires_grad) and not self.differentiates_data:
            raise ValueError(
                f"X and Y must not require grad with diff_method={self.diff_method!r} on {self.device} "
                "(it cannot differentiate state preparation): freeze the embedding or use default.qubit with backprop"
            )
        if kernel == "poly" and self.device == "lightning.qubit" and self.diff_method == "adjoint":
            raise ValueError(
                "kernel must be 'mono' for adjoint differentiation on lightning.qubit (its adjoint Jacobian fails on "
                "the poly kernel's controlled loads); got 'poly': use default.qubit or diff_method='parameter-shift'"
            )
        S, T, d = X.shape
        theta_W, theta_V, phi = params["theta_W"], params["theta_V"], params.get("phi")
        circuits = self._circuits(T, d, k, kernel, beta, theta_W.shape[0], theta_V.shape[0], phi is not None)
        if phi is not None:
            phi = torch.broadcast_to(phi, (S, T))  # (S, T)
        values: dict[str, torch.Tensor] = {}
        with _float64_results():
            for variant, (_qc, qnode) in circuits.items():
                rows = []
                for s in range(S):
                    inputs = {"x": X[s], "y": Y[s], "theta_W": theta_W, "theta_V": theta_V}
                    if phi is not None and variant == "mu":
                        inputs["phi"] = phi[s]
                    rows.append(torch.stack(list(qnode(inputs))))  # (T,) or (1,): P(C1 = j, zero wires = 0)
                values[variant] = torch.stack(rows)  # (S, T) or (S, 1)
        mu = values["mu"][:, 0]  # (S,)
        zeta_j, nu_j = values["zeta"], values["nu"]  # (S, T)
        zeta, nu = zeta_j.sum(-1), nu_j.sum(-1)  # (S,)
        F = (T + 1) / (2 * T) * mu / zeta
        p = nu_j / zeta_j  # (S, T)
        return Observables(
            mu=mu,
            zeta=zeta,
            nu=nu,
            F=F,
            L_B=-torch.log(F),
            L_A=-torch.log(nu / zeta),
            L_half=analytic.loss_L_half(p),
            L_1=analytic.loss_L1(p),
            p=p,
        )

    def __repr__(self) -> str:
        return f"PennyLaneEvaluator({self.device!r}, diff_method={self.diff_method!r})"


def make_evaluator(
    backend: str,
    diff_method: str = "best",
    *,
    shots: int | None = None,
    shot_seed: int | None = None,
    noise: str | None = None,
) -> Evaluator:
    """The evaluator named by a :class:`ModelConfig`: analytic, the torch simulator, a PennyLane device, or Aer.

    ``"aer"`` builds a :class:`qsa.hardware.HardwareEvaluator` on exact statevector probabilities
    (``shots=None``), on Aer's ``SamplerV2`` (``shots``, ``shot_seed``), or on a noisy Aer copy of
    the fake backend ``noise``.
    """
    if backend == "analytic":
        return AnalyticEvaluator()
    if backend == "torch":
        from qsa.backends.statevector import StatevectorEvaluator

        return StatevectorEvaluator()
    if backend in PENNYLANE_DEVICES:
        return PennyLaneEvaluator(backend, diff_method=diff_method)
    if backend in HARDWARE_BACKENDS:
        from qsa import hardware  # Qiskit is imported only when the hardware path is used

        if shots is None:
            runner = hardware.ExactRunner()
        elif noise is None:
            runner = hardware.aer_sampler_runner(shots=shots, seed=shot_seed)
        else:
            runner = hardware.NoisyAerRunner(noise, shots=shots, seed=shot_seed)
        return hardware.HardwareEvaluator(runner)
    raise ValueError(
        f"backend must be 'analytic', 'torch' or one of {PENNYLANE_DEVICES + HARDWARE_BACKENDS}; got {backend!r}"
    )


def objective(obs: Observables, loss: str, *, target_log_norm2: torch.Tensor | None = None) -> torch.Tensor:
    r"""The training objective: ``L_B``, ``L_half`` or ``L_1`` averaged over sequences, or ``"nll"``.

    ``"nll"`` is the next-word cross-entropy over a vocabulary with output embedding rows
    ``f_l`` (a Parseval frame, so ``p(l|z) = |<f_l|z>|^2/||z||^2`` sums to 1 over the words):

    .. math::

        \mathrm{NLL} = -\frac{1}{ST}\sum_{s,j} \log p(w_{j+1}|z_j)
                     = \frac{1}{S}\sum_s L_1 - \frac{1}{ST}\sum_{s,j}\log\|f_{w_{j+1}}\|^2 ,

    since the model's ``p_j`` uses the normalised target ``y_j = f_w/||f_w||``. ``L_1`` alone
    rewards shrinking ``||f_w||`` of the frequent words (the normalisation hides it), which a
    trainable embedding exploits; the NLL cannot be lowered that way. ``target_log_norm2``
    (``(S, T)``: ``log ||f_{w_{j+1}}||^2``) is required for it.
    """
    _validate.one_of(loss, "loss", LOSSES)
    field = "L_1" if loss == "nll" else loss
    value = getattr(obs, field)
    if value is None:
        raise ValueError(f"the evaluator must return the field {field!r} to train on {loss!r}; got None")
    if loss == "nll":
        if target_log_norm2 is None:
            raise ValueError("target_log_norm2 must be given for loss='nll' (it needs a vocabulary); got None")
        return value.mean() - target_log_norm2.mean()
    return value.mean()


# --- the model -------------------------------------------------------------------------------------


def make_embedding(config: ModelConfig, seed: int | np.random.Generator) -> nn.Module | None:
    """The embedding (``"isometric"``) or projector (``"projector"``) that ``config`` names, or ``None``.

    Frozen (``requires_grad=False``) when ``config.train_embedding`` is false. Shared by
    :class:`QSAModel` and the baseline families, so both start from the same embedding for a seed.
    """
    embedding: nn.Module | None = None
    if config.embedding == "isometric":
        embedding = IsometricEmbedding(
            config.vocab_size, config.d, seed=seed, positional=config.positional, train_rotation=config.train_rotation
        )
    elif config.embedding == "projector":
        embedding = Projector(config.input_qubits, config.d, seed=seed)
    if embedding is not None and not config.train_embedding:
        embedding.requires_grad_(False)
    return embedding


class QSAModel(nn.Module):
    r"""Quantum self-attention with hardware-efficient ``W`` and ``V``, phases and an optional embedding.

    Args:
        config: the :class:`ModelConfig`.
        seed: int or ``numpy.random.Generator``; split into independent streams for ``theta_W``,
            ``theta_V`` (angles uniform in ``[0, 2 pi)``) and the embedding. Phases start at 0.
        evaluator: any :class:`Evaluator`; ``None`` uses ``config.backend`` and ``config.diff_method``.

    Batches: a :class:`~qsa.data.Sequences` of tokens (``embedding="none"``) or of states
    (``"projector"``), or an int64 tensor of id windows ``(S, T+1)`` (``"isometric"``).
    """

    def __init__(
        self, config: ModelConfig, *, seed: int | np.random.Generator, evaluator: Evaluator | None = None
    ) -> None:
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise TypeError(f"config must be a ModelConfig; got {type(config).__name__}")
        if evaluator is not None and not callable(evaluator):
            raise TypeError(
                f"evaluator must be callable as evaluator(params, X, Y, *, k, kernel, beta); got {type(evaluator).__name__}"
            )
        rng_W, rng_V, rng_E = _validate.generator(seed).spawn(3)
        self.config = config
        n = config.n_qubits
        self.theta_W = nn.Parameter(
            torch.from_numpy(rng_W.uniform(0, 2 * math.pi, (config.w_layers, n, 3)))
        )  # (L_W, n, 3)
        self.theta_V = nn.Parameter(
            torch.from_numpy(rng_V.uniform(0, 2 * math.pi, (config.v_layers, n, 3)))
        )  # (L_V, n, 3)
        self.phi = (
            nn.Parameter(torch.zeros(config.T, dtype=torch.float64)) if config.phases == "trained" else None
        )  # (T,)
        self.embedding = make_embedding(config, rng_E)
        if evaluator is None:
            evaluator = make_evaluator(
                config.backend, config.diff_method, shots=config.shots, shot_seed=config.shot_seed, noise=config.noise
            )
        self.evaluator = evaluator

    # --- the pieces of a forward pass ----------------------------------------------------------

    def unitaries(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(W, V)``, the ansatz matrices ``(d, d)`` of the current angles."""
        return ansatz_unitary(self.theta_W), ansatz_unitary(self.theta_V)

    def tokens(self, batch: Sequences | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens ``X`` and targets ``Y`` ``(S, T, d)`` of a batch (through the embedding, if any)."""
        cfg = self.config
        if cfg.embedding == "isometric":
            if not isinstance(batch, torch.Tensor):
                raise TypeError(
                    f"batch must be an id tensor (S, T+1) for embedding='isometric'; got {type(batch).__name__}"
                )
            X, Y = self.embedding(batch)  # (S, T, d) each
        else:
            if not isinstance(batch, Sequences):
                raise TypeError(
                    f"batch must be a Sequences for embedding={cfg.embedding!r}; got {type(batch).__name__}"
                )
            want = 2**cfg.input_qubits if cfg.embedding == "projector" else cfg.d
            if batch.d != want:
                raise ValueError(f"batch must have token width {want}; got {batch.d}")
            X, Y = batch.X, batch.Y
            if cfg.embedding == "projector":
                X, Y = self.embedding(X), self.embedding(Y)  # (S, T, d) each
        if cfg.phases == "trained" and X.shape[1] != cfg.T:
            raise ValueError(
                f"batch must have T = {cfg.T} steps (the trained phases have one per step); got {X.shape[1]}"
            )
        return X, Y

    def circuit_params(self, X: torch.Tensor, Y: torch.Tensor) -> dict[str, torch.Tensor]:
        """The ``params`` mapping of the :class:`Evaluator` contract for tokens ``X``, ``Y``."""
        params = {"theta_W": self.theta_W, "theta_V": self.theta_V}
        if self.config.phases == "trained":
            params["phi"] = self.phi  # (T,)
        elif self.config.phases == "aligned":
            with torch.no_grad():  # stationary point of mu: no gradient needed through phi (module docstring)
                W, V = self.unitaries()
                A = analytic.branch_amplitudes(
                    X,
                    Y,
                    W,
                    V,
                    k=self.config.k,
                    kernel=self.config.kernel,
                    beta=analytic.resolve_beta(self.config.beta, self.config.d),
                )  # (S, T)
                params["phi"] = analytic.aligned_phases(A)  # (S, T)
        return params

    def forward(self, batch: Sequences | torch.Tensor) -> Observables:
        """The observables of every sequence of ``batch`` on the model's evaluator."""
        X, Y = self.tokens(batch)  # (S, T, d) each
        params = self.circuit_params(X, Y)
        return self.evaluator(params, X, Y, k=self.config.k, kernel=self.config.kernel, beta=self.config.beta)

    def target_log_norm2(self, batch: torch.Tensor) -> torch.Tensor:
        """``log ||f_{w_{j+1}}||^2`` ``(S, T)`` of the output-embedding rows of the targets of id windows ``batch``."""
        if self.config.embedding != "isometric":
            raise ValueError(
                f"the model must have a vocabulary (embedding='isometric') for target norms; got {self.config.embedding!r}"
            )
        F = self.embedding.F  # (M, d)
        return torch.log((F**2).sum(-1))[batch[:, 1:]]  # (S, T)

    def loss(self, batch: Sequences | torch.Tensor, which: str = "L_1") -> torch.Tensor:
        """:func:`objective` of ``self(batch)``: the batch mean of ``L_B``, ``L_half``, ``L_1``, or ``"nll"`` (vocabularies)."""
        if which == "nll":
            return objective(self(batch), which, target_log_norm2=self.target_log_norm2(batch))
        return objective(self(batch), which)

    def predictions(self, batch: Sequences | torch.Tensor) -> torch.Tensor:
        """The model's predicted states ``z_j = sum_{i<=j} g(s_ji) V x_i`` ``(S, T, d)``, in closed form.

        Used for next-token scoring (``IsometricEmbedding.next_token_probabilities``); the factor
        ``1/lambda`` of the poly kernel is included and cancels in every normalised quantity.
        """
        X, _ = self.tokens(batch)
        W, V = self.unitaries()
        beta = analytic.resolve_beta(self.config.beta, self.config.d)
        return analytic.predictions(X, W, V, k=self.config.k, kernel=self.config.kernel, beta=beta)  # (S, T, d)

    def extra_repr(self) -> str:
        c = self.config
        return (
            f"d={c.d}, T={c.T}, k={c.k}, kernel={c.kernel!r}, w_layers={c.w_layers}, v_layers={c.v_layers}, "
            f"phases={c.phases!r}, evaluator={self.evaluator!r}"
        )
