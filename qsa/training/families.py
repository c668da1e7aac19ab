r"""Model families for the training loop: QSA or a baseline, on the same tokens, losses and run directories.

``model.family`` (:class:`~qsa.training.config.ModelSection`) picks what :func:`build_model`
returns:

========================= ==================================================== ======================================
family                    model                                                observables
========================= ==================================================== ======================================
``qsa``                   :class:`qsa.model.QSAModel` (ansatz ``W``, ``V``)    every field, on the configured backend
``kcsa``                  :class:`qsa.baselines.attention.KCSA`                every field (QSA's closed forms)
``softmax_isometric``     :class:`~qsa.baselines.attention.SoftmaxAttention`,  ``p``, ``L_1``, ``L_half``
                          unitary value map
``softmax_general``       the same with a free complex value map               ``p``, ``L_1``, ``L_half``
``linear``                :class:`~qsa.baselines.attention.LinearAttention`    ``p``, ``L_1``, ``L_half``
``chen``                  :class:`qsa.baselines.chen.ChenAttention`: Chen's    ``p = <y|rho|y>``, ``L_1``, ``L_half``
                          physical model, a mixed state per step, ``heads``
``transformer``           ``qsa.baselines.networks.CausalTransformer``         ``p``, ``L_1``, ``L_half``
                          (``layers``, ``heads``, ``width``, ``ffn_width``)
``fnet``                  ``qsa.baselines.networks.CausalFNet`` (Koopman       ``p``, ``L_1``, ``L_half``
                          paper's Stage I)
``koopman_no_attention``  :class:`qsa.baselines.koopman.KoopmanAttention`      ``p``, ``L_1``, ``L_half``
                          without attention (Stage II)
``koopman``               :class:`qsa.baselines.koopman.KoopmanAttention`,     ``p``, ``L_1``, ``L_half``
                          dissipative generator (Stage III)
``koopman_unitary``       the same, Hamiltonian ablation (``K`` unitary,       ``p``, ``L_1``, ``L_half``
                          Stage IV)
========================= ==================================================== ======================================

Families with something to monitor over training (the Koopman families: ``alpha`` per layer,
spectral radius, hidden-state norm; :meth:`qsa.baselines.koopman.KoopmanAttention.monitor`) add it
to every evaluation record through :meth:`FamilyModel.monitor`.

A baseline is wrapped in :class:`FamilyModel`, which gives it QSAModel's interface to the loop
(``model(batch) -> Observables``, ``loss``, ``predictions``, ``target_log_norm2``, ``embedding``,
``config``): the tokens come from the same batches through the same embedding or projector (built
from the same seed stream as QSA's, so a text or projector run starts from the same embedding
in every family), and the losses are :func:`qsa.model.objective` of the same observables.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch
from torch import nn

from qsa import _validate
from qsa.analytic import Observables
from qsa.baselines.attention import KCSA, LinearAttention, SoftmaxAttention, count_parameters, prediction_observables
from qsa.baselines.chen import ChenAttention
from qsa.baselines.koopman import Dynamics, KoopmanAttention, KoopmanConfig
from qsa.baselines.networks import CausalFNet, CausalTransformer, NetworkConfig
from qsa.data.sequences import Sequences
from qsa.devices import resolve_device
from qsa.embeddings import IsometricEmbedding
from qsa.evaluators import Evaluator
from qsa.model import ModelConfig, QSAModel, make_embedding
from qsa.training.config import FAMILIES, ModelSection, TrainConfig
from qsa.training.data import Dataset, model_config

__all__ = ["FAMILIES", "FamilyModel", "build_model", "count_parameters", "next_token_probabilities"]

BASELINES = tuple(f for f in FAMILIES if f != "qsa")


def _core(family: str, config: ModelConfig, rng: np.random.Generator, options: ModelSection) -> nn.Module:
    """The baseline module of ``family`` for tokens of width ``config.d`` (sizes from ``options``)."""
    d = config.d
    if family == "kcsa":
        return KCSA(d, config.T, k=config.k, kernel=config.kernel, beta=config.beta, phases=config.phases, seed=rng)
    if family in ("softmax_isometric", "softmax_general"):
        return SoftmaxAttention(d, value=family.split("_")[1], seed=rng)
    if family == "linear":
        return LinearAttention(d, seed=rng)
    if family == "chen":
        return ChenAttention(d, heads=options.heads, seed=rng)
    if family in ("transformer", "fnet"):
        net = NetworkConfig(
            d=d,
            T=config.T,
            layers=options.layers,
            heads=options.heads,
            width=options.width,
            ffn_width=options.ffn_width,
        )
        return CausalTransformer(net, seed=rng) if family == "transformer" else CausalFNet(net, seed=rng)
    dynamics: Dynamics = "unitary" if family == "koopman_unitary" else "dissipative"
    seed = int(rng.integers(0, 2**63 - 1))  # KoopmanAttention draws from a torch.Generator seeded with an int
    koopman = KoopmanConfig(
        d=d, n_layers=options.koopman_layers, dynamics=dynamics, attention=family != "koopman_no_attention"
    )
    return KoopmanAttention(koopman, seed=seed)


class FamilyModel(nn.Module):
    """A baseline family behind the training loop's model interface (that of :class:`qsa.model.QSAModel`).

    Args:
        family: one of the baselines (every entry of ``FAMILIES`` but ``"qsa"``).
        config: the :class:`~qsa.model.ModelConfig` of the run; its token fields (``d``, ``T``,
            ``embedding``, ``vocab_size``, ``positional``, ``train_rotation``, ``input_qubits``,
            ``train_embedding``) and, for ``"kcsa"``, its kernel and phases are used.
        seed: int or generator, split into three streams like QSAModel's: the baseline draws from
            the first, the embedding or projector from the third (the same as QSA's).
        options: the ``[model]`` section whose sizes the baseline takes (``koopman_layers``,
            ``layers``, ``heads``, ``width``, ``ffn_width``); ``None`` takes the defaults.

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
        self,
        family: str,
        config: ModelConfig,
        *,
        seed: int | np.random.Generator,
        options: ModelSection | None = None,
    ) -> None:
        super().__init__()
        _validate.one_of(family, "family", BASELINES)
        if not isinstance(config, ModelConfig):
            raise TypeError(f"config must be a ModelConfig; got {type(config).__name__}")
        name: Any = family  # checked above: one of the Literal family names
        options = ModelSection(family=name) if options is None else options
        if not isinstance(options, ModelSection):
            raise TypeError(f"options must be a ModelSection; got {type(options).__name__}")
        rng_core, _, rng_E = _validate.generator(seed).spawn(3)
        self.family, self.config = family, config
        self.core = _core(family, config, rng_core, options)
        self.embedding = make_embedding(config, rng_E)
        self.to(resolve_device(config.device, key="model.device"))  # drawn on the CPU, then moved

    def forward(self, batch: Sequences | torch.Tensor) -> Observables:
        """The observables of every sequence of ``batch``: QSA's closed forms for kCSA, else ``p``, ``L_1``, ``L_half``."""
        X, Y = self.tokens(batch)  # (S, T, d) each
        if isinstance(self.core, (KCSA, ChenAttention)):
            return self.core.observables(X, Y)
        return prediction_observables(self.core(X), Y)

    def predictions(self, batch: Sequences | torch.Tensor) -> torch.Tensor:
        """The predicted states ``z_j`` ``(S, T, d)`` (unnormalised; used for next-token scoring).

        Chen's model predicts mixed states, not vectors: its ``predictions`` are refused (use
        :func:`next_token_probabilities`, or ``model.core.density``).
        """
        if isinstance(self.core, ChenAttention):
            raise ValueError(
                "model.family = 'chen' predicts a mixed state per step, not a vector: use "
                "qsa.training.families.next_token_probabilities or model.core.density(X)"
            )
        X, _ = self.tokens(batch)
        return self.core(X)  # (S, T, d)

    def monitor(self, batch: Sequences | torch.Tensor) -> dict[str, Any]:
        """What the core monitors on ``batch`` (the Koopman families: ``alpha``, spectral radius, hidden norms); else ``{}``."""
        if not isinstance(self.core, KoopmanAttention):
            return {}
        X, _ = QSAModel.tokens(cast(QSAModel, self), batch)
        return dict(self.core.monitor(X))

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
    return FamilyModel(family, mc, seed=seed, options=config.model)


def next_token_probabilities(model: QSAModel | FamilyModel, ids: torch.Tensor) -> torch.Tensor:
    r"""``p(l | context up to t)`` ``(S, T, M)`` of a text model for id windows ``ids`` ``(S, T+1)``.

    Every family predicts a state :math:`z_t` read as :math:`|\langle f_l|z_t\rangle|^2/\|z_t\|^2`
    (:meth:`qsa.embeddings.IsometricEmbedding.next_token_probabilities`), except Chen's, whose mixed
    state gives :math:`\langle f_l|\rho_t|f_l\rangle`. Rows sum to 1 (the output rows form a
    Parseval frame).
    """
    if not isinstance(model, (QSAModel, FamilyModel)):
        raise TypeError(f"model must be a QSAModel or FamilyModel; got {type(model).__name__}")
    if model.config.embedding != "isometric":
        raise ValueError(
            f"model must be a text model (embedding 'isometric'); got embedding {model.config.embedding!r}"
        )
    embedding = model.embedding
    if not isinstance(embedding, IsometricEmbedding):  # pragma: no cover - the config check above guarantees it
        raise TypeError(f"model.embedding must be an IsometricEmbedding; got {type(embedding).__name__}")
    if isinstance(model, FamilyModel) and isinstance(model.core, ChenAttention):
        X, _ = QSAModel.tokens(cast(QSAModel, model), ids)  # (S, T, d)
        return model.core.next_token_probabilities(X, embedding.F)  # (S, T, M)
    probabilities: torch.Tensor = embedding.next_token_probabilities(model.predictions(ids))  # (S, T, M)
    return probabilities
