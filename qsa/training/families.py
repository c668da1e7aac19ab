r"""Model families for the training loop: QSA or a baseline, on the same tokens, losses and run directories.

``model.family`` (:class:`~qsa.training.config.ModelSection`) picks what :func:`build_model`
returns:

===================== ===================================================== =========================================
family                model                                                 observables
===================== ===================================================== =========================================
``qsa``               :class:`qsa.model.QSAModel` (ansatz ``W``, ``V``)      every field, on the configured backend
``kcsa``              :class:`qsa.baselines.attention.KCSA`                  every field (QSA's closed forms)
``softmax_isometric`` :class:`~qsa.baselines.attention.SoftmaxAttention`,    ``p``, ``L_1``, ``L_half``
                      unitary value map
``softmax_general``   the same with a free complex value map                ``p``, ``L_1``, ``L_half``
``linear``            :class:`~qsa.baselines.attention.LinearAttention`      ``p``, ``L_1``, ``L_half``
``koopman``           :class:`qsa.baselines.koopman.KoopmanAttention`,       ``p``, ``L_1``, ``L_half``
                      dissipative generator
``koopman_unitary``   the same, Hamiltonian ablation (``K`` unitary)         ``p``, ``L_1``, ``L_half``
===================== ===================================================== =========================================

A baseline is wrapped in :class:`FamilyModel`, which gives it QSAModel's interface to the loop
(``model(batch) -> Observables``, ``loss``, ``predictions``, ``target_log_norm2``, ``embedding``,
``config``): the tokens come from the same batches through the same embedding or projector (built
from the same seed stream as QSA's, so a text or projector run starts from the same embedding
in every family), and the losses are :func:`qsa.model.objective` of the same observables.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from qsa import _validate
from qsa.analytic import Observables
from qsa.baselines.attention import KCSA, LinearAttention, SoftmaxAttention, count_parameters, prediction_observables
from qsa.baselines.koopman import KoopmanAttention, KoopmanConfig
from qsa.data.sequences import Sequences
from qsa.devices import resolve_device
from qsa.evaluators import Evaluator
from qsa.model import ModelConfig, QSAModel, make_embedding
from qsa.training.config import FAMILIES, TrainConfig
from qsa.training.data import Dataset, model_config

__all__ = ["FAMILIES", "FamilyModel", "build_model", "count_parameters"]

BASELINES = tuple(f for f in FAMILIES if f != "qsa")


def _core(family: str, config: ModelConfig, rng: np.random.Generator, koopman_layers: int) -> nn.Module:
    """The baseline module of ``family`` for tokens of width ``config.d``."""
    d = config.d
    if family == "kcsa":
        return KCSA(d, config.T, k=config.k, kernel=config.kernel, beta=config.beta, phases=config.phases, seed=rng)
    if family in ("softmax_isometric", "softmax_general"):
        return SoftmaxAttention(d, value=family.split("_")[1], seed=rng)
    if family == "linear":
        return LinearAttention(d, seed=rng)
    variant = "unitary" if family == "koopman_unitary" else "dissipative"
    seed = int(rng.integers(0, 2**63 - 1))  # KoopmanAttention draws from a torch.Generator seeded with an int
    return KoopmanAttention(KoopmanConfig(d=d, n_layers=koopman_layers, variant=variant), seed=seed)


class FamilyModel(nn.Module):
    """A baseline family behind the training loop's model interface (that of :class:`qsa.model.QSAModel`).

    Args:
        family: one of the baselines (every entry of ``FAMILIES`` but ``"qsa"``).
        config: the :class:`~qsa.model.ModelConfig` of the run; its token fields (``d``, ``T``,
            ``embedding``, ``vocab_size``, ``positional``, ``train_rotation``, ``input_qubits``,
            ``train_embedding``) and, for ``"kcsa"``, its kernel and phases are used.
        seed: int or generator, split into three streams like QSAModel's: the baseline draws from
            the first, the embedding or projector from the third (the same as QSA's).
        koopman_layers: Eq. (60) layers of the Koopman families.

    Attributes:
        core: the baseline module (``core(X) -> Z`` predictions ``(S, T, d)``).
        embedding: the embedding or projector, or ``None``.
    """

    # Token handling and the objective are QSAModel's own code: they read only ``config`` and
    # ``embedding``, which this class has with the same meaning.
    tokens = QSAModel.tokens
    target_log_norm2 = QSAModel.target_log_norm2
    loss = QSAModel.loss

    def __init__(
        self, family: str, config: ModelConfig, *, seed: int | np.random.Generator, koopman_layers: int = 1
    ) -> None:
        super().__init__()
        _validate.one_of(family, "family", BASELINES)
        if not isinstance(config, ModelConfig):
            raise TypeError(f"config must be a ModelConfig; got {type(config).__name__}")
        _validate.integer(koopman_layers, "koopman_layers", minimum=1)
        rng_core, _, rng_E = _validate.generator(seed).spawn(3)
        self.family, self.config = family, config
        self.core = _core(family, config, rng_core, koopman_layers)
        self.embedding = make_embedding(config, rng_E)
        self.to(resolve_device(config.device, key="model.device"))  # drawn on the CPU, then moved

    def forward(self, batch: Sequences | torch.Tensor) -> Observables:
        """The observables of every sequence of ``batch``: QSA's closed forms for kCSA, else ``p``, ``L_1``, ``L_half``."""
        X, Y = self.tokens(batch)  # (S, T, d) each
        if isinstance(self.core, KCSA):
            return self.core.observables(X, Y)
        return prediction_observables(self.core(X), Y)

    def predictions(self, batch: Sequences | torch.Tensor) -> torch.Tensor:
        """The predicted states ``z_j`` ``(S, T, d)`` (unnormalised; used for next-token scoring)."""
        X, _ = self.tokens(batch)
        return self.core(X)  # (S, T, d)

    def extra_repr(self) -> str:
        return f"family={self.family!r}, d={self.config.d}, T={self.config.T}, embedding={self.config.embedding!r}"


def build_model(
    config: TrainConfig, dataset: Dataset, *, seed: int | np.random.Generator, evaluator: Evaluator | None = None
) -> QSAModel | FamilyModel:
    """The model of ``config.model.family`` for ``dataset``: a :class:`~qsa.model.QSAModel` or a :class:`FamilyModel`.

    ``"qsa"`` builds exactly ``QSAModel(model_config(config, dataset), seed=seed, evaluator=evaluator)``.
    ``evaluator`` (a replacement for the circuit backend) applies to ``"qsa"`` only.
    """
    family = config.model.family
    mc = model_config(config, dataset)
    if family == "qsa":
        return QSAModel(mc, seed=seed, evaluator=evaluator)
    if evaluator is not None:
        raise ValueError(
            f"evaluator must be None for model.family = {family!r} (it replaces QSA's circuit backend); got {evaluator!r}"
        )
    return FamilyModel(family, mc, seed=seed, koopman_layers=config.model.koopman_layers)
