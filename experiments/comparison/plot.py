"""Figures of a comparison sweep, drawn from its ``results.json`` alone.

    python experiments/comparison/plot.py runs/comparison-<stamp>

``losses.png``: the held-out main metric (L_1, or nll for text) per family: bars at the mean over
seeds, error bars one standard deviation, dots the minimum and maximum; chance (or the uniform
guess) dashed, the untrained baselines (copy-last token, unigram, bigram) dotted; one panel per
task and held-out split.
``spectra.png``: eigenvalues of the trained Koopman operators, modulus relative to
``|det K|^(1/d)`` against phase, coloured decay / neutral / growth (neutral band shaded).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

from qsa import runs
from qsa.errors import UserError, run_command

SPLITS = {"test": "test (new sequences)", "heldout": "held-out Hamiltonians"}
CLASSES = (("decay", "tab:blue"), ("neutral", "tab:green"), ("growth", "tab:red"))
BASELINE_STYLES = {
    "copy_last": ("copy last token", ":"),
    "unigram": ("unigram", "-."),
    "bigram": ("bigram", (0, (5, 1))),
}


def _save(fig, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    runs.write_png(path, fig)
    return path


def plot_losses(results: dict, path: Path) -> Path:
    """Held-out main metric per family: bars at the mean over seeds, error bars one standard deviation,
    dots the minimum and maximum; chance (or the uniform guess) dashed, untrained baselines dotted."""
    from matplotlib.figure import Figure

    panels = []
    for task in results["tasks"]:
        name, main = task["name"], results["metrics"][task["name"]][0]
        for split in SPLITS:
            if any(a[f"{split}_{main}"] is not None for a in results["aggregates"] if a["task"] == name):
                panels.append((name, split, main))
    fig = Figure(figsize=(5.4 * len(panels), 5.0))
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (task, split, main) in zip(axes, panels):
        rows = [a for a in results["aggregates"] if a["task"] == task]
        x = np.arange(len(rows))
        stats = [a[f"{split}_{main}"] for a in rows]
        mean = np.array([s["mean"] for s in stats])
        ax.bar(
            x,
            mean,
            width=0.6,
            color="C0",
            yerr=[s["sd"] for s in stats],
            capsize=3,
            error_kw={"lw": 0.9},
            label="mean ± sd over seeds",
        )
        ax.scatter(
            np.repeat(x, 2),
            [v for s in stats for v in (s["min"], s["max"])],
            s=9,
            color="k",
            zorder=3,
            label="min, max",
        )
        top = max(s["max"] for s in stats)
        for xi, m, s in zip(x, mean, stats):
            ax.text(xi, s["max"], f"{m:.2f}", ha="center", va="bottom", fontsize=6, rotation=90)
        ref = results["baselines"][task]
        chance = ref["chance"].get(main)
        if chance is not None:
            ax.axhline(
                chance, color="k", ls="--", lw=1, label=f"{'uniform guess' if main == 'nll' else 'chance'} {chance:.3f}"
            )
            top = max(top, chance)
        for name, values in ref["baselines"].items():
            v = values.get(f"{split}_{main}")
            if v is not None:
                label, style = BASELINE_STYLES.get(name, (name, ":"))
                ax.axhline(v["mean"], color="0.3", ls=style, lw=1.2, label=f"{label} (untrained) {v['mean']:.3f}")
                top = max(top, v["mean"])
        ax.set_xticks(x, [f"{a['family']}\n{a['parameters']} par." for a in rows], rotation=45, ha="right", fontsize=7)
        ax.set_ylim(0, 1.45 * top)  # room for the legend
        ax.set(ylabel=f"{main} (nats)", title=f"{task}: {SPLITS[split]}")
        ax.legend(fontsize=7, loc="upper center", ncol=2)
    n = len(results["seeds"])
    fig.suptitle(f"Held-out losses per model family, same data and budget ({n} seed{'s' if n > 1 else ''})")
    fig.subplots_adjust(left=0.04, right=0.99, bottom=0.27, top=0.88, wspace=0.18)
    return _save(fig, path)


def plot_spectra(results: dict, path: Path) -> Path | None:
    from matplotlib.figure import Figure

    spectra = results["spectra"]
    if not spectra:
        return None
    tol = results["spectrum_tol"]
    tasks = [t["name"] for t in results["tasks"] if any(s["task"] == t["name"] for s in spectra)]
    families = list(dict.fromkeys(s["family"] for s in spectra))
    fig = Figure(figsize=(5.0 * len(families), 3.8 * len(tasks)))
    axes = np.array(fig.subplots(len(tasks), len(families), squeeze=False, sharey="row"))  # one scale per task
    markers = "os^Dv<>ph*"
    for r, task in enumerate(tasks):
        for c, family in enumerate(families):
            ax = axes[r, c]
            group = [s for s in spectra if s["task"] == task and s["family"] == family]
            counts = {name: 0 for name, _ in CLASSES}
            ax.axhspan(1 - tol, 1 + tol, color="tab:green", alpha=0.15, lw=0)
            ax.axhline(1, color="0.4", lw=0.8)
            for i, s in enumerate(group):
                for layer in s["layers"]:
                    z = np.array([complex(a, b) for a, b in layer["relative_eigenvalues"]])
                    r_ = np.abs(z)
                    for name, color in CLASSES:
                        mask = (
                            (r_ < 1 - tol)
                            if name == "decay"
                            else (r_ > 1 + tol)
                            if name == "growth"
                            else (abs(r_ - 1) <= tol)
                        )
                        counts[name] += int(mask.sum())
                        ax.scatter(
                            np.angle(z[mask]),
                            r_[mask],
                            s=22,
                            color=color,
                            marker=markers[i % len(markers)],
                            label=name if i == 0 and mask.any() else None,
                            zorder=3,
                        )
            net = (
                round(float(np.median([layer["net_rate"] for s in group for layer in s["layers"]])), 6) + 0.0
            )  # no "-0.000"
            ax.set(
                xlim=(-math.pi, math.pi),
                xlabel="arg λ",
                ylabel="|λ| / |det K|^(1/d)",
                title=f"{task}, {family}: "
                + ", ".join(f"{counts[n]} {n}" for n, _ in CLASSES)
                + f"\nmedian log|det K| = {net:+.3f} ({len(group)} seed{'s' if len(group) > 1 else ''})",
            )
            ax.title.set_fontsize(9)
            ax.legend(fontsize=7, loc="best")
    fig.suptitle(f"Trained Koopman spectra (relative moduli; neutral band ±{tol:g}; one marker shape per seed)")
    fig.tight_layout()
    return _save(fig, path)


def plot_all(sweep: str | Path) -> list[Path]:
    """Write ``losses.png`` and ``spectra.png`` (if Koopman families ran) into the sweep directory."""
    sweep = Path(sweep)
    results = json.loads((sweep / "results.json").read_text(encoding="utf-8"))
    written = [plot_losses(results, sweep / "losses.png"), plot_spectra(results, sweep / "spectra.png")]
    return [p for p in written if p is not None]


def _main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise UserError(f"arguments must be one RUN_DIR (with results.json); got {argv}")
    for written in plot_all(argv[0]):
        print(f"wrote {written}")


if __name__ == "__main__":
    sys.exit(run_command("experiments/comparison/plot.py", lambda: _main(sys.argv[1:])))
