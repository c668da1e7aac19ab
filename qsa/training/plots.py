"""PNG plots of a run, drawn from its directory alone (``metrics.jsonl`` and ``data.json``).

Uses matplotlib's object-oriented API with the Agg canvas: no pyplot, no global backend change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from qsa import runs

__all__ = ["plot_run", "plot_losses", "plot_monitor", "training_curve"]


def _records(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _save(fig, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    runs.write_png(path, fig)


def _legend_below(ax: Any) -> None:
    """The axes' legend under it, in two columns: inside, it hid the curves it names (late steps)."""
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)


def _yscale(ax, values: list[float]) -> None:
    """Log scale when the values span more than a factor 20 (plain tick labels), else linear."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    positive = [v for v in values if v > 0]
    if positive and max(positive) / min(positive) > 20:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())


def training_curve(records: list[dict[str, Any]]) -> tuple[list[int], list[float]]:
    """The training-batch losses of ``metrics.jsonl`` records and the steps they belong to.

    The loop writes ``{"kind": "train", "step": s, "loss": ...}`` after its ``s``-th optimiser step
    with the loss of the batch *before* that step (:mod:`qsa.training.loop`: Adam's closure and
    L-BFGS's first evaluation are taken at the parameters the step starts from; SPSA records the
    mean of its two evaluations around them), that is at the
    parameters of step ``s - 1``, where the evaluation records of step ``s - 1`` were taken. So the
    point is drawn at ``s - 1``: with full batches it lies on the training split's evaluation curve.

    Returns:
        ``(steps, losses)``, two lists of the same length.
    """
    train = [r for r in records if r["kind"] == "train"]
    return [r["step"] - 1 for r in train], [r["loss"] for r in train]


def plot_losses(records: list[dict], info: dict, path: str | os.PathLike, *, title: str = "") -> Path:
    """Loss curves: the objective per step and on every split; every loss on the test split; accuracy (text).

    Every panel draws the untrained baselines of ``info["baselines"]`` on the held-out split
    (:func:`qsa.training.data.trivial_baselines`: copy-last and unigram for tokens, unigram and
    bigram for text) next to the chance level, so a model that does not beat them shows it.

    Args:
        records: ``metrics.jsonl`` records.
        info: ``data.json`` of the run (``loss``, ``chance``, ``baselines``, ``majority_accuracy``,
            ``vocabulary_size``).
        path: the PNG to write.
    """
    from matplotlib.figure import Figure

    loss, chance = info["loss"], info["chance"]
    train = [r for r in records if r["kind"] == "train"]
    evals = [r for r in records if r["kind"] == "eval"]
    splits = list(dict.fromkeys(r["split"] for r in evals))
    held = "test" if "test" in splits else splits[-1]
    text = any("next_token_accuracy" in r for r in evals)
    baselines = {  # {name: {metric: value}} on the held-out split (runs from before baselines have none)
        name: by_split[held] for name, by_split in (info.get("baselines") or {}).items() if held in by_split
    }
    labels = {"copy_last": "copy last", "unigram": "unigram", "bigram": "bigram"}
    styles = {"copy_last": "-.", "unigram": (0, (5, 1)), "bigram": (0, (3, 1, 1, 1, 1, 1))}
    fig = Figure(figsize=(5.2 * (3 if text else 2), 5.0))
    axes = fig.subplots(1, 3 if text else 2)

    ax = axes[0]
    if train:
        ax.plot(*training_curve(records), lw=0.8, color="0.6", label="training batch")
    for name in splits:
        rows = [r for r in evals if r["split"] == name and loss in r]
        ax.plot([r["step"] for r in rows], [r[loss] for r in rows], marker="o", ms=3, label=name)
    if loss in chance:
        ax.axhline(chance[loss], color="k", ls="--", lw=1, label=f"chance {chance[loss]:.3f}")
    if loss == "nll" and info.get("nll_baselines"):
        value = info["nll_baselines"]["uniform"]
        ax.axhline(value, color="0.6", ls=":", lw=1, label=f"uniform guess {value:.3f}")
    drawn = []
    for name, values in baselines.items():
        if loss in values:
            ax.axhline(
                values[loss],
                color="0.35",
                ls=styles.get(name, "-."),
                lw=1.2,
                label=f"{labels.get(name, name)} ({held}) {values[loss]:.3f}",
            )
            drawn.append(values[loss])
    ax.set(xlabel="step", ylabel=loss, title=f"objective {loss}")
    _yscale(ax, [r["loss"] for r in train] + [r[loss] for r in evals if loss in r] + drawn)
    _legend_below(ax)

    ax = axes[1]  # every loss on the held-out split, with the chance levels and baselines of L_1 and L_half
    rows = [r for r in evals if r["split"] == held]
    for name, color in (("L_1", "C0"), ("L_half", "C1"), ("L_B", "C2"), ("nll", "C3")):
        if rows and name in rows[0]:
            ax.plot([r["step"] for r in rows], [r[name] for r in rows], marker="o", ms=3, color=color, label=name)
        if name in chance:
            ax.axhline(chance[name], color=color, ls="--", lw=1, label=f"chance {name} {chance[name]:.3f}")
        for base, values in baselines.items():
            if name in values:
                ax.axhline(
                    values[name],
                    color=color,
                    ls=styles.get(base, "-."),
                    lw=1,
                    label=f"{labels.get(base, base)} {name} {values[name]:.3f}",
                )
    ax.set(xlabel="step", ylabel="loss", title=f"every loss on '{held}'")
    _yscale(ax, [r[name] for r in rows for name in ("L_1", "L_half", "L_B", "nll") if name in r])
    _legend_below(ax)

    if text:
        ax = axes[2]
        for name in splits:
            rows = [r for r in evals if r["split"] == name]
            ax.plot([r["step"] for r in rows], [r["next_token_accuracy"] for r in rows], marker="o", ms=3, label=name)
        for name, values in baselines.items():
            if "accuracy" in values and name != "unigram":  # the unigram argmax is the most frequent word below
                ax.axhline(
                    values["accuracy"],
                    color="0.35",
                    ls=styles.get(name, "-."),
                    lw=1,
                    label=f"{labels.get(name, name)} ({held}) {values['accuracy']:.3f}",
                )
        if info.get("majority_accuracy") is not None:
            ax.axhline(
                info["majority_accuracy"],
                color="k",
                ls="--",
                lw=1,
                label=f"most frequent word {info['majority_accuracy']:.3f}",
            )
        if info.get("vocabulary_size"):
            ax.axhline(
                1 / info["vocabulary_size"],
                color="k",
                ls=":",
                lw=1,
                label=f"uniform 1/M = {1 / info['vocabulary_size']:.3f}",
            )
        ax.set(xlabel="step", ylabel="next-token accuracy", title="next-token accuracy", ylim=(0, 1))
        _legend_below(ax)
    if title:
        fig.suptitle(title)
    fig.subplots_adjust(
        left=0.07 if text else 0.08, right=0.98, bottom=0.28, top=0.86, wspace=0.25
    )  # tight_layout costs ~0.5 s
    path = Path(path)
    _save(fig, path)
    return path


def plot_monitor(records: list[dict[str, Any]], path: str | os.PathLike[str], *, title: str = "") -> Path:
    """What a Koopman run monitors, per evaluation step: the learned strength ``alpha`` of every
    layer (the dissipative Koopman paper's Fig. 1), the spectral radius of every layer's Koopman
    operator, and the norm of the final hidden state (mean and maximum) on every split.

    Args:
        records: ``metrics.jsonl`` records whose evaluations carry ``spectral_radius`` (and
            ``alpha``, ``hidden_norm_mean``, ``hidden_norm_max``).
        path: the PNG to write.
    """
    from matplotlib.figure import Figure

    evals = [r for r in records if r["kind"] == "eval" and "spectral_radius" in r]
    if not evals:
        raise ValueError("records must hold evaluations with 'spectral_radius' (a Koopman run); got none")
    first = evals[0]["split"]
    rows = [r for r in evals if r["split"] == first]  # the parameters are the same on every split
    steps = [r["step"] for r in rows]
    fig = Figure(figsize=(15.6, 5.0))
    axes = fig.subplots(1, 3)
    ax = axes[0]
    if "alpha" in rows[0]:
        for ell in range(len(rows[0]["alpha"])):
            ax.plot(steps, [r["alpha"][ell] for r in rows], marker="o", ms=3, label=f"layer {ell + 1}")
        _legend_below(ax)
    else:
        ax.text(0.5, 0.5, "no attention: no alpha", ha="center", va="center", transform=ax.transAxes)
    ax.set(xlabel="step", ylabel="alpha", title="measurement strength alpha per layer")
    ax = axes[1]
    for ell in range(len(rows[0]["spectral_radius"])):
        ax.plot(steps, [r["spectral_radius"][ell] for r in rows], marker="o", ms=3, label=f"layer {ell + 1}")
    ax.axhline(1.0, color="k", ls="--", lw=1, label="unit circle")
    ax.set(xlabel="step", ylabel="max |lambda(K)|", title="spectral radius of K per layer")
    _legend_below(ax)
    ax = axes[2]
    for i, split in enumerate(dict.fromkeys(r["split"] for r in evals)):
        part = [r for r in evals if r["split"] == split]
        x = [r["step"] for r in part]
        ax.plot(x, [r["hidden_norm_mean"] for r in part], marker="o", ms=3, color=f"C{i}", label=f"{split} mean")
        ax.plot(x, [r["hidden_norm_max"] for r in part], ls=":", color=f"C{i}", label=f"{split} max")
    ax.set(xlabel="step", ylabel="||h^(L)||", title="final hidden-state norm")
    _yscale(ax, [r[k] for r in evals for k in ("hidden_norm_mean", "hidden_norm_max")])
    _legend_below(ax)
    if title:
        fig.suptitle(title)
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.28, top=0.86, wspace=0.25)
    path = Path(path)
    _save(fig, path)
    return path


def plot_run(run_dir: str | os.PathLike) -> list[Path]:
    """Write ``loss.png`` for the run in ``run_dir``; returns the paths written."""
    run_dir = Path(run_dir)
    info = json.loads((run_dir / "data.json").read_text(encoding="utf-8"))
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    m = config["model"]
    family = m.get("family", "qsa")  # runs from before model families were added are QSA runs
    if family == "qsa":
        title = (
            f"{config['name']}: {info['source']} T={info['T']}, k={m['k']} {m['kernel']}, L_W={m['w_layers']}, "
            f"L_V={m['v_layers']}, {config['train']['optimizer']}, backend {m['backend']}"
        )
    else:
        kernel = f", k={m['k']} {m['kernel']}" if family == "kcsa" else ""
        if family in ("transformer", "fnet"):
            kernel = f", {m.get('layers', 1)} layer(s)" + (
                f", {m.get('heads', 1)} head(s)" if family == "transformer" else ""
            )
        elif family.startswith("koopman"):
            kernel = f", {m.get('koopman_layers', 1)} layer(s)"
        title = (
            f"{config['name']}: {info['source']} T={info['T']}, family {family}{kernel}, {config['train']['optimizer']}"
        )
    records = _records(run_dir)
    written = [plot_losses(records, info, run_dir / "loss.png", title=title)]
    if any(r["kind"] == "eval" and "spectral_radius" in r for r in records):
        written.append(plot_monitor(records, run_dir / "monitor.png", title=title))
    return written
