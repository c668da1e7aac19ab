"""Figures of a gate_counts run: whole attention evaluations and per-shot counts vs T, d and k, and shots.

``evaluation_vs_T.png`` / ``evaluation_vs_d.png`` draw one whole attention evaluation (every circuit
variant at the shots its probability needs, plus circuit B's classical preprocessing);
``counts_vs_*.png`` the gates of one shot of the measured circuit alone. Every title says which.

    python experiments/gate_counts/plot.py runs/gate_counts-<stamp>/results.json   # redraw

Called by run.py after a sweep. Each figure is written next to results.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D

from qsa import runs
from qsa.errors import UserError, run_command

COLORS = {"A-mono": "tab:blue", "A-poly": "tab:orange", "B": "tab:green"}
QSA_LINES = [  # column, label, style
    ("cnot", "logical CNOT (index states pruned)", {"ls": "-", "marker": "o", "ms": 3}),
    ("cnot_generic", "logical CNOT (generic Möttönen)", {"ls": ":", "marker": None}),
    ("heron_two_qubit", "CZ on Heron (FakeFez)", {"ls": "none", "marker": "s", "ms": 6, "mfc": "none"}),
    ("eagle_two_qubit", "ECR on Eagle (FakeSherbrooke)", {"ls": "none", "marker": "^", "ms": 6, "mfc": "none"}),
]
EVALUATION_LINES = [  # column, label, style
    (
        "evaluation_cnot_ideal",
        "logical CNOT x shots, ideal targets y = z/|z| (best case)",
        {"ls": "-", "marker": "o", "ms": 3},
    ),
    ("evaluation_cnot_random", "logical CNOT x shots, random targets (untrained)", {"ls": ":", "marker": None}),
    (
        "evaluation_heron_ideal",
        "CZ on Heron x shots, ideal targets",
        {"ls": "none", "marker": "s", "ms": 6, "mfc": "none"},
    ),
    ("preprocessing", "classical preprocessing (multiply-adds)", {"ls": "-.", "marker": "x", "ms": 4, "lw": 1}),
]
CLASSICAL_LINES = [
    ("classical_attention", "classical 2T²d (scores + values)", {"color": "black", "ls": "-", "lw": 2}),
    ("classical_total", "classical + 4Td² projections", {"color": "black", "ls": "--", "lw": 1.5}),
]


def _save(fig, path: Path) -> None:
    runs.write_png(path, fig, dpi=110)
    plt.close(fig)


def _legend(fig, circuits, lines=QSA_LINES) -> None:
    handles = [Line2D([], [], color=COLORS[f], lw=3, label=f"QSA {f}") for f in circuits]
    handles += [Line2D([], [], color="gray", label=label, **style) for _, label, style in lines]
    handles += [Line2D([], [], label=label, **style) for _, label, style in CLASSICAL_LINES]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)


def _measured(rows, **fixed):
    return [r for r in rows if r["measured"] and all(r[k] == v for k, v in fixed.items())]


def _panel(ax, rows, along: str, circuits, lines=QSA_LINES) -> None:
    for circuit in circuits:
        line = sorted((r for r in rows if r["circuit"] == circuit), key=lambda r: r[along])
        for column, _, style in lines:
            pts = [(r[along], r[column]) for r in line if r.get(column) is not None]
            if pts:
                ax.plot(*zip(*pts), color=COLORS[circuit], **style)
    classical = {r[along]: r for r in rows}
    xs = sorted(classical)
    for column, _, style in CLASSICAL_LINES:
        ax.plot(xs, [classical[x][column] for x in xs], **style)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.grid(True, which="major", alpha=0.3)


def counts_vs(record: dict, along: str, path: Path) -> None:
    """Gates of one shot of the measured circuit against ``along`` (``"T"`` or ``"d"``), one panel per fixed value of the other."""
    rows, plots = record["rows"], record["plots"]
    k = plots["k"]
    other, values = ("d", plots["d_fixed"]) if along == "T" else ("T", plots["T_fixed"])
    circuits = sorted({r["circuit"] for r in rows})
    fig, axes = plt.subplots(1, len(values), figsize=(5.5 * len(values), 5.2), squeeze=False)
    for ax, value in zip(axes[0], values):
        _panel(ax, _measured(rows, k=k, **{other: value}), along, circuits)
        ax.set_xlabel(along)
        ax.set_ylabel("two-qubit gates per shot (QSA) / multiply-adds (classical)")
        ax.set_title(f"{other} = {value}, k = {k}, L = {rows[0]['n_layers']}")
    fig.suptitle(
        f"One shot of one circuit vs {along}: mu circuit for A, P0 for B\n"
        "(NOT a whole evaluation: no shots, no zeta/nu circuits, no preprocessing), and a classical head"
    )
    _legend(fig, circuits)
    fig.tight_layout(rect=(0, 0.1, 1, 0.93))
    _save(fig, path)


def evaluation_vs(record: dict, along: str, path: Path) -> None:
    """One whole attention evaluation against ``along`` (``"T"`` or ``"d"``), one panel per fixed value of the other.

    Circuit A: the mu, zeta and nu circuits, each times the shots its own probability needs for the
    run's relative precision; circuit B: the P0 circuit times its shots, with its classical
    preprocessing (building the d^(k+1)-dimensional loads) drawn next to it.
    """
    rows, plots = record["rows"], record["plots"]
    k, eps = plots["k"], record["config"]["rel_error"]
    other, values = ("d", plots["d_fixed"]) if along == "T" else ("T", plots["T_fixed"])
    circuits = sorted({r["circuit"] for r in rows})
    fig, axes = plt.subplots(1, len(values), figsize=(5.5 * len(values), 5.4), squeeze=False)
    for ax, value in zip(axes[0], values):
        _panel(ax, _measured(rows, k=k, **{other: value}), along, circuits, EVALUATION_LINES)
        ax.set_xlabel(along)
        ax.set_ylabel("two-qubit gates x shots (QSA) / multiply-adds (classical)")
        ax.set_title(f"{other} = {value}, k = {k}, L = {rows[0]['n_layers']}")
    fig.suptitle(
        f"One whole attention evaluation vs {along}: A = mu + zeta + nu circuits, B = P0 circuit,\n"
        f"each x the shots for {eps:.0%} relative precision of its probability; "
        "circuit B's classical preprocessing O(T d^(k+1)) drawn next to it"
    )
    _legend(fig, circuits, EVALUATION_LINES)
    fig.tight_layout(rect=(0, 0.1, 1, 0.93))
    _save(fig, path)


def counts_vs_k(record: dict, path: Path) -> None:
    rows, (T, d) = record["rows"], record["plots"]["k_at"]
    circuits = sorted({r["circuit"] for r in rows})
    fig, ax = plt.subplots(figsize=(10, 5.6))
    for circuit in circuits:
        line = sorted(_measured(rows, circuit=circuit, T=T, d=d), key=lambda r: r["k"])
        for column, _, style in QSA_LINES:
            pts = [(r["k"], r[column]) for r in line if r.get(column) is not None]
            if pts:
                ax.plot(*zip(*pts), color=COLORS[circuit], **style)
    classical = _measured(rows, T=T, d=d)
    if classical:
        for column, _, style in CLASSICAL_LINES:
            ax.axhline(classical[0][column], **style)
    ax.set_yscale("log")
    ax.set_xlabel("k (key copies / polynomial degree)")
    ax.set_xticks(sorted({r["k"] for r in rows}))
    ax.set_ylabel("two-qubit gates per shot / multiply-adds")
    ax.set_title(
        f"One shot of one circuit (mu for A, P0 for B) vs k at T = {T}, d = {d}, L = {rows[0]['n_layers']}\n"
        "(not a whole evaluation; the classical cost does not depend on k)"
    )
    _legend(fig, circuits)
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    _save(fig, path)


def shots(record: dict, path: Path) -> None:
    """Measured probability vs T against the advantage threshold, and the shots of one whole evaluation."""
    rows, plots = record["rows"], record["plots"]
    k, d = plots["k"], plots["d_fixed"][0]
    eps = record["config"]["rel_error"]
    circuits = sorted({r["circuit"] for r in rows})
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 5.2))
    for circuit in circuits:
        line = sorted(_measured(rows, circuit=circuit, k=k, d=d), key=lambda r: r["T"])
        T = [r["T"] for r in line]
        for instance, ls in (("ideal", "-"), ("random", ":")):
            left.plot(T, [r[f"p_{instance}"] for r in line], color=COLORS[circuit], ls=ls, marker="o", ms=3)
            right.plot(
                T, [r[f"shots_evaluation_{instance}"] for r in line], color=COLORS[circuit], ls=ls, marker="o", ms=3
            )
    line = sorted(_measured(rows, circuit=circuits[0], k=k, d=d), key=lambda r: r["T"])
    T = [r["T"] for r in line]
    left.plot(T, [r["advantage_threshold"] for r in line], color="black", lw=2)
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("T")
        ax.grid(True, alpha=0.3)
    left.set_ylabel("probability measured (mu for A, P0 for B)")
    left.set_title(f"Measured probability, d = {d}, k = {k}\nblack: advantage needs it >= k / min(T, C(d+k-1, k))")
    right.set_ylabel(f"shots per evaluation ({eps:.0%} relative precision of each probability)")
    right.set_title(f"Shots of one whole evaluation, d = {d}, k = {k}\nA: mu + zeta + nu circuits; B: P0 circuit")
    handles = [Line2D([], [], color=COLORS[f], lw=3, label=f"QSA {f}") for f in circuits]
    handles += [
        Line2D([], [], color="gray", ls="-", label="ideal targets y = z/|z|"),
        Line2D([], [], color="gray", ls=":", label="random targets (untrained)"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    _save(fig, path)


FIGURES = {
    "evaluation_vs_T.png": lambda rec, p: evaluation_vs(rec, "T", p),
    "evaluation_vs_d.png": lambda rec, p: evaluation_vs(rec, "d", p),
    "counts_vs_T.png": lambda rec, p: counts_vs(rec, "T", p),
    "counts_vs_d.png": lambda rec, p: counts_vs(rec, "d", p),
    "counts_vs_k.png": counts_vs_k,
    "shots_vs_T.png": shots,
}


def plot_all(record: dict, run_dir: Path) -> list[Path]:
    """Every figure of :data:`FIGURES` for a run record (``results.json`` content)."""
    paths = []
    for name, draw in FIGURES.items():
        draw(record, run_dir / name)
        paths.append(run_dir / name)
    return paths


def _main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise UserError(f"arguments must be one results.json of experiments/gate_counts/run.py; got {argv}")
    results = Path(argv[0])
    for p in plot_all(json.loads(results.read_text()), results.parent):
        print(f"wrote {p}")


if __name__ == "__main__":
    sys.exit(run_command("experiments/gate_counts/plot.py", lambda: _main(sys.argv[1:])))
