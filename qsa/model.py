r"""The QSA model: trainable W and V ansatz angles, query phases and token embeddings, evaluated on a backend.

Read top to bottom: :class:`ModelConfig` (the sizes, on top of the shared
:class:`~qsa.options.ModelOptions`); :func:`objective`; :class:`QSAModel`. The evaluators that
turn parameters and tokens into observables (analytic, torch simulator, PennyLane, Aer) live in
:mod:`qsa.evaluators`.

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
The analytic evaluator takes them from the amplitudes of the very pass that gives the observables
(one build of ``W`` and ``V`` per evaluation); a circuit evaluator gets them from a closed-form pass
first (:meth:`QSAModel.circuit_params`).
"""

from __future__ import annotations

import importlib
import math
import warnings
from dataclasses import KW_ONLY, dataclass, fields
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import nn

from qsa import _validate, analytic, evaluators
from qsa.analytic import Observables
from qsa.ansatz import ansatz_unitaries
from qsa.data.sequences import Sequences
from qsa.devices import resolve_device
from qsa.embeddings import IsometricEmbedding, Projector
from qsa.evaluators.analytic import AnalyticEvaluator as _AnalyticEvaluator  # (qsa.model.AnalyticEvaluator: moved)
from qsa.options import EMBEDDINGS, PHASES, ModelOptions
from qsa.options import PENNYLANE_DEVICES as _PENNYLANE_DEVICES  # the public name is a moved one (__getattr__)

if TYPE_CHECKING:
    from qsa.evaluators import Evaluator

__all__ = [
    "PHASES",
    "EMBEDDINGS",
    "LOSSES",
    "ModelConfig",
    "objective",
    "make_embedding",
    "QSAModel",
]

#: Training objectives: fields of :class:`~qsa.analytic.Observables` averaged over sequences, and
#: ``"nll"``, the next-word cross-entropy over a vocabulary (see :func:`objective`).
LOSSES = ("L_B", "L_half", "L_1", "nll")

#: Names that moved to :mod:`qsa.evaluators` and :mod:`qsa.options`; still importable from here for one release.
_MOVED = {
    "Evaluator": "qsa.evaluators",
    "make_evaluator": "qsa.evaluators",
    "AnalyticEvaluator": "qsa.evaluators.analytic",
    "PennyLaneEvaluator": "qsa.evaluators.pennylane",
    "PENNYLANE_DEVICES": "qsa.options",
    "HARDWARE_BACKENDS": "qsa.options",
    "DIFF_METHODS": "qsa.options",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        warnings.warn(
            f"qsa.model.{name} moved to {_MOVED[name]}; the old path will be removed in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module 'qsa.model' has no attribute {name!r}")


# --- configuration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelConfig(ModelOptions):
    """Everything that fixes a model's shape and how it is evaluated.

    The sizes are positional (``ModelConfig(d, T, ...)``); every option of
    :class:`~qsa.options.ModelOptions` (``k``, ``kernel``, ``beta``, ``w_layers``, ``v_layers``,
    ``phases``, ``positional``, ``train_rotation``, ``train_embedding``, ``backend``,
    ``diff_method``, ``shots``, ``shot_seed``, ``noise``) is a keyword.

    Attributes:
        d: token width the circuit sees (a power of two; ``n = log2 d`` qubits per token).
        T: steps per sequence.
        embedding: ``"none"`` (batches are token :class:`~qsa.data.Sequences` of width ``d``),
            ``"isometric"`` (batches are id windows ``(S, T+1)`` over ``vocab_size`` words) or
            ``"projector"`` (batches are :class:`~qsa.data.Sequences` of ``input_qubits``-qubit states).
        vocab_size: ``M`` for ``"isometric"``.
        input_qubits: ``D`` for ``"projector"`` (``2^D >= d``).

    Raises:
        TypeError, ValueError: for a size or option out of its domain ("X must be ...; got ...").

    >>> ModelConfig(8, 16, k=2, w_layers=8, v_layers=8).n_qubits
    3
    """

    d: int
    T: int
    _: KW_ONLY
    embedding: Literal["none", "isometric", "projector"] = "none"
    vocab_size: int | None = None
    input_qubits: int | None = None

    def __post_init__(self) -> None:
        _validate.power_of_two(self.d, "d")
        _validate.integer(self.T, "T", minimum=1)
        super().__post_init__()
        _validate.kernel_options(self.k, self.kernel, self.beta)  # a poly beta whose coefficients overflow float64
        _validate.one_of(self.embedding, "embedding", EMBEDDINGS)
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
        if self.embedding != "none" and self.train_embedding and self.backend in _PENNYLANE_DEVICES:
            method = self.diff_method
            if method == "best":
                method = "backprop" if self.backend == "default.qubit" else "adjoint"
            if method != "backprop":  # adjoint and parameter-shift differentiate gate angles, not state loads
                raise ValueError(
                    f"train_embedding must be false on backend {self.backend!r} with diff_method {method!r} (it "
                    "cannot differentiate the token loads): freeze the embedding, or use backend 'default.qubit' "
                    "with backprop, 'torch', 'aer' or 'analytic'; got true"
                )

    @property
    def n_qubits(self) -> int:
        """Qubits per token, ``log2 d``."""
        return self.d.bit_length() - 1

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


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

    The parameters are drawn on the CPU (so every device starts from the same numbers) and moved
    to ``config.device``; batches must be on that device too (``Sequences.to(device)``,
    ``ids.to(device)``), as :func:`qsa.training.train` puts them.

    Batches: a :class:`~qsa.data.Sequences` of tokens (``embedding="none"``) or of states
    (``"projector"``), or an int64 tensor of id windows ``(S, T+1)`` (``"isometric"``).

    Example:
        >>> from qsa.data import reference_tfim_config, tfim_data
        >>> from qsa.model import ModelConfig, QSAModel
        >>> data = tfim_data(reference_tfim_config(), seed=0)  # d = 8, T = 16
        >>> model = QSAModel(ModelConfig(d=8, T=16, k=2, w_layers=2, v_layers=2), seed=0)
        >>> loss = model.loss(data.train, "L_1")  # the batch mean of L_1, differentiable
        >>> loss.backward()
        >>> tuple(model.theta_W.grad.shape), model(data.train).L_1.shape
        ((2, 3, 3), torch.Size([4]))
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
            evaluator = evaluators.make_evaluator(
                config.backend,
                config.diff_method,
                shots=config.shots,
                shot_seed=config.shot_seed,
                noise=config.noise,
                device=config.device,
            )
        self.evaluator = evaluator
        self.to(resolve_device(config.device, key="model.device"))  # drawn on the CPU (same numbers), then moved

    # --- the pieces of a forward pass ----------------------------------------------------------

    def unitaries(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(W, V)``, the ansatz matrices ``(d, d)`` of the current angles (built in one batch)."""
        return ansatz_unitaries(self.theta_W, self.theta_V)

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
        if X.shape[0] < 1:  # the analytic evaluator does not check tokens again: a mean over none is NaN
            raise ValueError(f"batch must hold at least one sequence (S >= 1); got shape {tuple(X.shape)}")
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
                    X.to(W.dtype),  # any real or complex dtype of the batch: the unitaries' (complex128)
                    Y.to(W.dtype),
                    W,
                    V,
                    k=self.config.k,
                    kernel=self.config.kernel,
                    beta=analytic.resolve_beta(self.config.beta, self.config.d),
                )  # (S, T)
                params["phi"] = analytic.aligned_phases(A)  # (S, T)
        return params

    def forward(self, batch: Sequences | torch.Tensor) -> Observables:
        """The observables of every sequence of ``batch`` on the model's evaluator.

        On the analytic evaluator the tokens are not checked again (a :class:`~qsa.data.Sequences`
        is checked when built; the embeddings give unit rows) and aligned phases come from the same
        pass as the observables (:meth:`AnalyticEvaluator.evaluate`): ``W`` and ``V`` are built once.
        """
        X, Y = self.tokens(batch)  # (S, T, d) each
        cfg = self.config
        if isinstance(self.evaluator, _AnalyticEvaluator):
            phases = self.phi if cfg.phases == "trained" else ("aligned" if cfg.phases == "aligned" else None)
            return self.evaluator.evaluate(
                self.theta_W, self.theta_V, X, Y, k=cfg.k, kernel=cfg.kernel, beta=cfg.beta, phases=phases
            )
        params = self.circuit_params(X, Y)
        return self.evaluator(params, X, Y, k=cfg.k, kernel=cfg.kernel, beta=cfg.beta)

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
