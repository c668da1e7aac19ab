r"""Trainability diagnostics: the variance of the loss gradient over random initialisations (barren plateaus).

For a training config's model (its data source, ``k``, phases), :func:`diagnose` measures

.. math::

    \overline{\mathrm{Var}}[\partial \mathcal L] = \frac{1}{P}\sum_{p=1}^{P}
    \mathrm{Var}_{\theta \sim U[0, 2\pi)^P}\bigl[\partial_{\theta_p} \mathcal L(\theta)\bigr]

for ``L_B`` and ``L_1`` (the mean over the ``P`` ansatz angles of ``W`` and ``V`` of the sample
variance over ``inits`` uniformly random initialisations, the distribution
:class:`~qsa.model.QSAModel` starts from; the data and any embedding are held fixed), along three
sweeps for each kernel (``mono`` and ``poly``):

* **qubits through d**: token qubits ``n = log2 d`` over a grid at the config's ``T`` and depth;
* **qubits through T**: ``T`` over a grid at the config's ``d`` and depth;
* **depth**: the ansatz depth ``L`` of ``W`` and ``V`` over a grid at the config's ``d`` and ``T``.

The qubits are circuit A's (``2 ceil(log2 T) + (k+1) n``, ``+ k`` for poly). Each sweep is fitted
with ``Var = a exp(rate x)`` (:func:`qsa.resources.fits.fit_exponential`, ``scipy.stats.linregress``
of ``log Var`` on ``x``): a barren plateau shows as a clearly negative rate per qubit. Gradients
come from the analytic tier (batched over initialisations: fast); :func:`circuit_check` recomputes
the per-initialisation gradients of the smallest point through the circuits on one circuit backend
(QSA's torch statevector simulator by default) and reports the largest difference.

Source: the barren-plateau check of McClean et al. (Nat. Commun. 9, 4812, 2018) applied to the
circuits of arXiv 2602.06699 (docs/method.md sections 2-4); the library.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import torch

from qsa import analytic
from qsa.ansatz import ansatz_unitary
from qsa.circuits import Shape
from qsa.circuits._checks import integer
from qsa.training.config import MarkovSource, TextSource, TFIMSource, TrainConfig, config_from_dict, config_to_dict

__all__ = ["LOSSES", "SWEEPS", "DiagnoseGrid", "point_config", "gradient_samples", "circuit_check", "diagnose"]

#: The losses whose gradients are diagnosed.
LOSSES = ("L_B", "L_1")
#: The sweeps: qubits through d, qubits through T, ansatz depth.
SWEEPS = ("d", "T", "depth")


def _ints(values: Any, name: str, minimum: int) -> tuple[int, ...]:
    out = tuple(values)
    if not out:
        raise ValueError(f"{name} must be a non-empty sequence of integers >= {minimum}; got {out!r}")
    for v in out:
        integer(v, name, minimum=minimum)
    return tuple(sorted(set(out)))


@dataclass(frozen=True)
class DiagnoseGrid:
    """The sweeps of :func:`diagnose`.

    Attributes:
        n_qubits: token qubits ``log2 d`` of the d sweep (at least 3 values for a fit).
        T: sequence lengths of the T sweep; layers: ansatz depths of the depth sweep.
        kernels: ``"mono"`` and/or ``"poly"``.
        inits: random initialisations per point (``>= 2``).
        check_inits: initialisations recomputed on the circuit backend at the smallest point (0: none).
        check_backend: the circuit backend of that check (``"torch"``, ``"default.qubit"``, ...).
        seed: of the initialisations (point ``i`` of sweep ``s`` draws from ``default_rng([seed, s, i])``).

    Raises:
        ValueError, TypeError: for a value out of its domain.
    """

    n_qubits: tuple[int, ...] = (1, 2, 3, 4)
    T: tuple[int, ...] = (2, 4, 8, 16, 32)
    layers: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    kernels: tuple[Literal["mono", "poly"], ...] = ("mono", "poly")
    inits: int = 200
    check_inits: int = 4
    check_backend: str = "torch"
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "n_qubits", _ints(self.n_qubits, "n_qubits", 1))
        object.__setattr__(self, "T", _ints(self.T, "T", 1))
        object.__setattr__(self, "layers", _ints(self.layers, "layers", 1))
        kernels = tuple(dict.fromkeys(self.kernels))
        if not kernels or not set(kernels) <= {"mono", "poly"}:
            raise ValueError(f"kernels must be a non-empty subset of ('mono', 'poly'); got {self.kernels!r}")
        object.__setattr__(self, "kernels", kernels)
        integer(self.inits, "inits", minimum=2)
        integer(self.check_inits, "check_inits", minimum=0)
        integer(self.seed, "seed", minimum=0)


def _token_qubits(config: TrainConfig) -> int:
    data, d = config.data, config.model.d
    if d is None:
        d = 2**data.n_qubits if isinstance(data, TFIMSource) else getattr(data, "d", 2)
    return int(d).bit_length() - 1


def point_config(
    config: TrainConfig, *, n_qubits: int, T: int, layers: int, kernel: Literal["mono", "poly"]
) -> TrainConfig:
    """``config`` at ``d = 2^n_qubits``, ``T`` steps, ansatz depth ``layers`` for ``W`` and ``V`` and ``kernel``.

    The width goes where the data source takes it: ``data.n_qubits`` (TFIM; ``model.d`` then
    follows the data), ``data.d`` (Markov) or ``model.d`` (text). The result is checked as a file would be.
    """
    data, model = config.data, config.model
    d = 2**n_qubits
    if isinstance(data, TFIMSource):
        data, model = replace(data, n_qubits=n_qubits, T=T), replace(model, d=None)
    elif isinstance(data, MarkovSource):
        data = replace(data, d=d, T=T)
    elif isinstance(data, TextSource):
        data, model = replace(data, T=T), replace(model, d=d)
    model = replace(
        model, w_layers=layers, v_layers=layers, kernel=kernel, beta=None if kernel == "mono" else model.beta
    )
    return config_from_dict(config_to_dict(replace(config, data=data, model=model)))


def _point(config: TrainConfig) -> tuple[Any, Any, Shape]:
    """The model (analytic tier) and training batch of a point config, and its circuit A."""
    from qsa.evaluators import AnalyticEvaluator
    from qsa.training.data import build_dataset
    from qsa.training.families import build_model

    data_seed, model_seed, _ = np.random.SeedSequence(config.seed).spawn(3)  # the streams of qsa.training.loop
    dataset = build_dataset(config, np.random.default_rng(data_seed))
    model = build_model(config, dataset, seed=np.random.default_rng(model_seed), evaluator=AnalyticEvaluator())
    m = model.config
    shape = Shape("A", dataset.T, m.d, m.k, m.kernel, m.beta, m.w_layers, m.v_layers, m.phases != "none")
    return model, dataset.train, shape


def _draw(shape: Shape, inits: int, seed: Any) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    n, L_W, L_V = shape.n_qubits, cast(int, shape.w_layers), cast(int, shape.v_layers)
    theta_W = torch.from_numpy(rng.uniform(0, 2 * math.pi, (inits, L_W, n, 3)))  # (I, L_W, n, 3)
    theta_V = torch.from_numpy(rng.uniform(0, 2 * math.pi, (inits, L_V, n, 3)))  # (I, L_V, n, 3)
    return theta_W, theta_V


def gradient_samples(
    model: Any, batch: Any, theta_W: torch.Tensor, theta_V: torch.Tensor, *, losses: tuple[str, ...] = LOSSES
) -> dict[str, dict[str, np.ndarray]]:
    """Per-initialisation gradients of each loss (batch mean, as training uses it) in the ansatz angles.

    Args:
        model: a :class:`~qsa.model.QSAModel` (its tokens, kernel and phases are used; its angles are not).
        batch: the sequences (or id windows) the loss is averaged over.
        theta_W, theta_V: ``(I, L, n, 3)`` angles of ``I`` initialisations.

    Returns:
        ``{loss: {"theta_W": (I, L, n, 3), "theta_V": (I, L, n, 3)}}`` float64; trained phases
        start at zero, as :class:`~qsa.model.QSAModel` starts them.
    """
    cfg = model.config
    with torch.no_grad():
        X, Y = model.tokens(batch)  # (S, T, d) each
    theta_W = theta_W.detach().clone().requires_grad_(True)
    theta_V = theta_V.detach().clone().requires_grad_(True)
    W, V = ansatz_unitary(theta_W)[:, None], ansatz_unitary(theta_V)[:, None]  # (I, 1, d, d)
    beta = analytic.resolve_beta(cfg.beta, cfg.d)
    A, z_norm2 = analytic.amplitudes_and_norms(
        X[None], Y[None], W, V, k=cfg.k, kernel=cfg.kernel, beta=beta
    )  # (I, S, T)
    phases = {"none": None, "aligned": "aligned", "trained": torch.zeros(A.shape[-1], dtype=torch.float64)}
    obs = analytic.observables_from_amplitudes(A, z_norm2, phases=phases[cfg.phases])
    out = {}
    for i, loss in enumerate(losses):
        value = getattr(obs, loss).mean(-1).sum()  # sum over initialisations of each one's batch mean
        gW, gV = torch.autograd.grad(value, (theta_W, theta_V), retain_graph=i + 1 < len(losses))
        out[loss] = {"theta_W": gW.numpy(), "theta_V": gV.numpy()}
    return out


def _variance(grads: dict[str, np.ndarray]) -> dict[str, float]:
    per = {name: g.reshape(g.shape[0], -1).var(axis=0, ddof=1) for name, g in grads.items()}  # (P_name,)
    every = np.concatenate(list(per.values()))
    return {**{name: float(v.mean()) for name, v in per.items()}, "all": float(every.mean())}


def circuit_check(
    config: TrainConfig, *, inits: int = 4, seed: Any = 0, backend: str = "torch", losses: tuple[str, ...] = LOSSES
) -> dict[str, Any]:
    """The per-initialisation gradients of ``config``'s model through its circuits on ``backend`` against the analytic ones.

    The model is built on ``backend`` (:func:`qsa.evaluators.make_evaluator`) and differentiated
    by torch autograd (``model.loss(batch, loss).backward()``) once per initialisation.

    Returns:
        ``{"backend", "inits", "max_abs_difference", "max_gradient", "variance": {loss: {"analytic", "circuit"}}}``.
    """
    from qsa.evaluators import make_evaluator

    model, batch, shape = _point(config)
    theta_W, theta_V = _draw(shape, inits, seed)
    exact = gradient_samples(model, batch, theta_W, theta_V, losses=losses)
    model.evaluator = make_evaluator(backend, "best")
    worst, largest, variance = 0.0, 0.0, {}
    for loss in losses:
        got = {"theta_W": np.zeros_like(exact[loss]["theta_W"]), "theta_V": np.zeros_like(exact[loss]["theta_V"])}
        for i in range(inits):
            with torch.no_grad():
                model.theta_W.copy_(theta_W[i])
                model.theta_V.copy_(theta_V[i])
                if model.phi is not None:
                    model.phi.zero_()
            model.zero_grad()
            model.loss(batch, loss).backward()
            got["theta_W"][i], got["theta_V"][i] = model.theta_W.grad.numpy(), model.theta_V.grad.numpy()
        for name in got:
            worst = max(worst, float(np.abs(got[name] - exact[loss][name]).max()))
            largest = max(largest, float(np.abs(exact[loss][name]).max()))
        variance[loss] = {"analytic": _variance(exact[loss])["all"], "circuit": _variance(got)["all"]}
    return {
        "backend": backend,
        "inits": inits,
        "shape": shape.as_dict(),
        "n_qubits": shape.n_wires,
        "max_abs_difference": worst,
        "max_gradient": largest,
        "variance": variance,
    }


def _fit(x: list[float], y: list[float]) -> dict[str, Any] | None:
    from qsa.resources.fits import fit_exponential

    if len(set(x)) < 3 or any(not v > 0 for v in y):
        return None
    fit = fit_exponential(x, y)
    return {**fit._asdict(), "rate_ci": list(fit.rate_ci), "factor": fit.factor}


def diagnose(config: TrainConfig, grid: DiagnoseGrid | None = None) -> dict[str, Any]:
    """Gradient variances along the three sweeps for each kernel, their exponential fits, and the circuit check.

    Args:
        config: a training config of model family ``"qsa"``; its ``d``, ``T`` and depth are the
            fixed values of the sweeps that do not vary them.
        grid: the sweeps (default :class:`DiagnoseGrid`).

    Returns:
        A JSON-ready dict: ``config``, ``grid``, ``fixed`` (n_qubits, T, layers), ``points`` (one
        row per kernel, sweep and value: circuit qubits, variances per loss and array), ``fits``
        (``{kernel: {sweep: {loss: fit}}}``, ``x`` = circuit qubits for the d and T sweeps, layers
        for depth; the d sweep also per token qubit) and ``check`` (:func:`circuit_check`).

    Raises:
        ValueError: for a family other than ``"qsa"`` or a point the config cannot take.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig; got {type(config).__name__}")
    if config.model.family != "qsa":
        raise ValueError(f"model.family must be 'qsa' to diagnose its circuits; got {config.model.family!r}")
    grid = DiagnoseGrid() if grid is None else grid
    if not isinstance(grid, DiagnoseGrid):
        raise TypeError(f"grid must be a DiagnoseGrid; got {type(grid).__name__}")
    fixed = {"n_qubits": _token_qubits(config), "T": config.data.T, "layers": config.model.w_layers}
    sweeps = {
        "d": [{**fixed, "n_qubits": n} for n in grid.n_qubits],
        "T": [{**fixed, "T": T} for T in grid.T],
        "depth": [{**fixed, "layers": L} for L in grid.layers],
    }
    points: list[dict[str, Any]] = []
    for kernel in grid.kernels:
        for s, (sweep, values) in enumerate(sweeps.items()):
            for i, value in enumerate(values):
                model, batch, shape = _point(point_config(config, kernel=kernel, **value))
                theta_W, theta_V = _draw(shape, grid.inits, [grid.seed, s, i])
                grads = gradient_samples(model, batch, theta_W, theta_V)
                points.append(
                    {
                        "kernel": kernel,
                        "sweep": sweep,
                        **value,
                        "d": 2 ** value["n_qubits"],
                        "circuit_qubits": shape.n_wires,
                        "parameters": int(theta_W[0].numel() + theta_V[0].numel()),
                        "variance": {loss: _variance(g) for loss, g in grads.items()},
                    }
                )
    fits: dict[str, Any] = {}
    for kernel in grid.kernels:
        fits[kernel] = {}
        for sweep in SWEEPS:
            rows = [p for p in points if p["kernel"] == kernel and p["sweep"] == sweep]
            x = [p["layers"] if sweep == "depth" else p["circuit_qubits"] for p in rows]
            fits[kernel][sweep] = {loss: _fit(x, [p["variance"][loss]["all"] for p in rows]) for loss in LOSSES}
            if sweep == "d":
                fits[kernel]["d_per_token_qubit"] = {
                    loss: _fit([p["n_qubits"] for p in rows], [p["variance"][loss]["all"] for p in rows])
                    for loss in LOSSES
                }
    check = None
    if grid.check_inits:
        small = point_config(
            config, n_qubits=grid.n_qubits[0], T=grid.T[0], layers=grid.layers[0], kernel=grid.kernels[0]
        )
        check = circuit_check(small, inits=grid.check_inits, seed=[grid.seed, 99], backend=grid.check_backend)
    return {
        "config": config_to_dict(config),
        "grid": asdict(grid),
        "fixed": fixed,
        "points": points,
        "fits": fits,
        "check": check,
    }


def plot_diagnostics(result: dict[str, Any], directory: str | Path) -> list[Path]:
    """``variance_vs_qubits.png`` (the d and T sweeps) and ``variance_vs_depth.png``, with the fitted lines."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from qsa import runs

    directory = Path(directory)
    styles = {("mono", "L_B"): ("C0", "-"), ("mono", "L_1"): ("C0", "--"), ("poly", "L_B"): ("C1", "-")}
    styles[("poly", "L_1")] = ("C1", "--")
    fixed, grid = result["fixed"], result["grid"]
    written = []
    panels = {
        "variance_vs_qubits.png": [
            ("d", "circuit_qubits", f"qubits through d = 2^n (T = {fixed['T']}, L = {fixed['layers']})"),
            ("T", "circuit_qubits", f"qubits through T (d = {2 ** fixed['n_qubits']}, L = {fixed['layers']})"),
        ],
        "variance_vs_depth.png": [
            ("depth", "layers", f"ansatz depth L of W and V (d = {2 ** fixed['n_qubits']}, T = {fixed['T']})")
        ],
    }
    for name, spec in panels.items():
        # constrained layout fits the two-line suptitle to one panel as well as to two
        fig = Figure(figsize=(6.2 * len(spec), 4.8), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, len(spec), squeeze=False)[0]
        for ax, (sweep, xkey, title) in zip(axes, spec):
            for kernel in grid["kernels"]:
                rows = sorted(
                    (p for p in result["points"] if p["kernel"] == kernel and p["sweep"] == sweep),
                    key=lambda p: p[xkey],
                )
                x = [p[xkey] for p in rows]
                for loss in LOSSES:
                    color, ls = styles[(kernel, loss)]
                    y = [p["variance"][loss]["all"] for p in rows]
                    fit = result["fits"][kernel][sweep][loss]
                    label = f"{kernel} {loss}"
                    if fit is not None:
                        label += f": rate {fit['rate']:+.3f} [{fit['rate_ci'][0]:+.3f}, {fit['rate_ci'][1]:+.3f}]"
                        xs = np.linspace(min(x), max(x), 50)
                        ax.plot(xs, fit["prefactor"] * np.exp(fit["rate"] * xs), color=color, ls=":", lw=1)
                    ax.plot(x, y, color=color, ls=ls, marker="o", ms=4, label=label)
            ax.set_yscale("log")
            ax.set_xlabel("circuit A qubits" if xkey == "circuit_qubits" else "layers L")
            ax.set_ylabel("mean over angles of Var over inits of dLoss/dtheta")
            ax.set_title(title, fontsize=10)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
        fig.suptitle(
            f"Gradient variance over {grid['inits']} random initialisations (analytic tier)\n"
            "dotted: the fit Var = a exp(rate x); rate per qubit or per layer, 95 % CI",
            fontsize=10,
        )
        runs.write_png(directory / name, fig)
        written.append(directory / name)
    return written
