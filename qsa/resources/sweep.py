r"""Sweeps of the QSA resources over ``(T, d, k)`` against classical attention, fits and crossovers.

:func:`sweep` measures every circuit (a :class:`~qsa.circuits.Shape` and a variant) of a :class:`SweepConfig` grid:
qubits, logical counts (pruned and generic, :mod:`qsa.circuits.decompose`), logical depths (up to
a size limit), the measured probability on seeded instances and the shots it implies
(:mod:`qsa.resources.shots`), the classical cost (:mod:`qsa.resources.classical`) and, on a
sub-grid, transpiled counts on the heavy-hex backends (:mod:`qsa.resources.transpiled`, cached
by circuit). :func:`summarize` fits exponents of ``T`` at fixed ``d``, of ``d`` at fixed ``T`` and
jointly (:mod:`qsa.resources.fits`) and locates where QSA's count crosses the classical one.
Rows are flat dicts (one per circuit), ready for CSV or JSON.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

from qsa.circuits import LABELS, Shape
from qsa.resources.counts import DEFAULT_LAYERS, logical_counts
from qsa.resources.counts import shape as label_shape
from qsa.resources.fits import crossovers, fit_joint, fit_power_law
from qsa.resources.transpiled import BACKENDS, TranspileCache, transpiled_counts

__all__ = [
    "SweepConfig",
    "grid",
    "measure",
    "sweep",
    "summarize",
    "rows_to_csv",
    "QSA_METRICS",
    "EVALUATION_METRICS",
    "CLASSICAL_METRICS",
    "INSTANCES",  # noqa: F822 - served by the module __getattr__ below, which loads torch on first use
]

log = logging.getLogger(__name__)


def __getattr__(name: str) -> Any:
    """``INSTANCES``, re-exported from :mod:`qsa.resources.shots` on first use (that module loads torch)."""
    if name == "INSTANCES":
        from qsa.resources.shots import INSTANCES

        return INSTANCES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Count columns of a row that are fitted for the QSA circuits, and the classical ones. ``evaluation_*``:
#: one whole attention evaluation (every variant times its shots, :func:`measure`); ``evaluation_total_*``
#: adds the classical preprocessing; the others are per shot of the measured circuit.
QSA_METRICS = (
    "cnot",
    "cnot_generic",
    "total",
    "heron_two_qubit",
    "eagle_two_qubit",
    "preprocessing",
    "evaluation_cnot_ideal",
    "evaluation_cnot_random",
    "evaluation_total_ideal",
    "evaluation_total_random",
    "evaluation_heron_ideal",
    "evaluation_heron_random",
    "evaluation_eagle_ideal",
    "evaluation_eagle_random",
)
#: The whole-evaluation metrics among :data:`QSA_METRICS` (the crossovers that count).
EVALUATION_METRICS = tuple(m for m in QSA_METRICS if m.startswith("evaluation_") or m == "preprocessing")
CLASSICAL_METRICS = ("classical_attention", "classical_total")


def _ints(values: Iterable[Any], name: str) -> tuple[int, ...]:
    out = tuple(values)
    if any(isinstance(v, bool) or not isinstance(v, int) for v in out):
        raise TypeError(f"{name} must be a sequence of integers; got {out!r}")
    return out


@dataclass(frozen=True)
class SweepConfig:
    """What to measure: the grid, the ansatz depth, the transpiled sub-grid and the seeds.

    Attributes:
        circuits: circuit labels (``"A-mono"``, ``"A-poly"``, ``"B"``; :data:`qsa.circuits.LABELS`).
        T, d, k: grid values (``d`` powers of two).
        n_layers: ansatz depth of ``W`` and ``V``; phases: include the trainable query phases.
        all_variants: also count circuit A's ``zeta`` and ``nu`` circuits (needed for ``F``).
        depth_max_gates: build and measure logical depths of measured circuits up to this many gates.
        transpile_T, transpile_d, transpile_k: sub-grid of measured circuits to transpile.
        transpile_max_cnot: skip transpiling circuits with more logical CNOTs than this.
        backends, optimization_level, seed_transpiler: transpiler settings.
        mu_samples, mu_seed: seeded instances for the measured probabilities; rel_error: target
            relative precision of one estimate.
    """

    circuits: tuple[str, ...] = LABELS
    T: tuple[int, ...] = (2, 4, 8, 16)
    d: tuple[int, ...] = (2, 4, 8)
    k: tuple[int, ...] = (1, 2)
    n_layers: int = DEFAULT_LAYERS
    phases: bool = True
    all_variants: bool = True
    depth_max_gates: int = 300_000
    transpile_T: tuple[int, ...] = ()
    transpile_d: tuple[int, ...] = ()
    transpile_k: tuple[int, ...] = ()
    transpile_max_cnot: int = 50_000
    backends: tuple[str, ...] = tuple(BACKENDS)
    optimization_level: int = 2
    seed_transpiler: int = 0
    mu_samples: int = 8
    mu_seed: int = 0
    rel_error: float = 0.1

    def __post_init__(self) -> None:
        for name in ("circuits", "backends"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("T", "d", "k", "transpile_T", "transpile_d", "transpile_k"):
            object.__setattr__(self, name, _ints(getattr(self, name), name))
        if not set(self.circuits) <= set(LABELS) or not self.circuits:
            raise ValueError(f"circuits must be a non-empty subset of {LABELS}; got {self.circuits}")
        if not set(self.backends) <= set(BACKENDS):
            raise ValueError(f"backends must be a subset of {tuple(BACKENDS)}; got {self.backends}")
        if not (self.T and self.d and self.k):
            raise ValueError(f"T, d and k must be non-empty; got {self.T}, {self.d}, {self.k}")
        if self.optimization_level not in (0, 1, 2, 3):
            raise ValueError(f"optimization_level must be 0, 1, 2 or 3; got {self.optimization_level!r}")
        for name in ("mu_samples", "depth_max_gates", "transpile_max_cnot"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "mu_samples" else 0):
                raise ValueError(f"{name} must be an integer >= {1 if name == 'mu_samples' else 0}; got {value!r}")
        for name in ("mu_seed", "seed_transpiler"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer; got {value!r}")
        if isinstance(self.rel_error, bool) or not isinstance(self.rel_error, (int, float)) or not self.rel_error > 0:
            raise ValueError(f"rel_error must be a positive number; got {self.rel_error!r}")
        grid(self)  # every grid point must be a valid shape, before anything runs

    @classmethod
    def from_dict(cls, data: dict) -> SweepConfig:
        """A config from a mapping (e.g. a TOML table); unknown keys are an error.

        ``families``, the old name of ``circuits``, is still read (with a deprecation warning).
        """
        data = dict(data)
        if "families" in data and "circuits" not in data:
            warnings.warn("sweep key 'families' is deprecated: call it 'circuits'", DeprecationWarning, stacklevel=2)
            data["circuits"] = data.pop("families")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"config keys must be among {sorted(known)}; got unknown {sorted(unknown)}")
        return cls(**data)

    def as_dict(self) -> dict:
        return asdict(self)


def grid(config: SweepConfig) -> list[tuple[Shape, str]]:
    """Every circuit of the grid as ``(shape, variant)``, measured variants first within each ``(circuit, T, d, k)``."""
    out = []
    for label, k, d, T in itertools.product(config.circuits, config.k, config.d, config.T):
        shape = label_shape(label, T, d, k, n_layers=config.n_layers, phases=config.phases)
        variants = shape.variants if config.all_variants else shape.variants[:1]
        out += [(shape, v) for v in variants]
    return out


def _transpile_here(shape: Shape, config: SweepConfig, cnot: int) -> bool:
    return (
        shape.T in config.transpile_T
        and shape.d in config.transpile_d
        and shape.k in config.transpile_k
        and cnot <= config.transpile_max_cnot
    )


def measure(shape: Shape, variant: str, config: SweepConfig, *, cache: TranspileCache | None = None) -> dict[str, Any]:
    """One flat row of everything :func:`sweep` records for ``shape``'s ``variant`` circuit.

    Every row has the same columns (``None`` where a value does not apply). Per variant: qubits,
    logical counts, depths, the classical cost, the success probability on seeded instances
    (``p_random``, ``p_ideal``) and its shots ``(1 - p) / (p eps^2)``. The row of the measured
    variant (``mu``, ``P0``) also holds **one whole attention evaluation**: every variant of the
    circuit (``mu``, ``zeta`` and ``nu`` for A, which ``F`` and the losses need; ``P0`` for B) run
    at the shots its own probability needs, ``shots_evaluation_<instance>`` shots and
    ``evaluation_cnot_<instance> = sum_v cnot_v shots_v`` logical CNOTs (and
    ``evaluation_<backend>_<instance>`` native two-qubit gates on the transpiled sub-grid, where
    every variant is transpiled); ``preprocessing``, the classical multiply-adds before the
    circuits run (:func:`~qsa.resources.classical.preprocessing_cost`: ``O(T d^(k+1))`` for B);
    and ``evaluation_total_<instance>``, the two together.
    """
    # torch is imported here, at the first measurement: a grid refused by the preflight never loads it
    from qsa.resources.classical import classical_attention_cost, preprocessing_cost
    from qsa.resources.shots import INSTANCES, advantage_threshold, reference_probabilities, shots_for_precision

    start = time.perf_counter()
    measured = variant == shape.variants[0]
    generic = logical_counts(shape, variant=variant, prune=False)
    pruned = logical_counts(shape, variant=variant, prune=True)
    if measured and pruned.total <= config.depth_max_gates:
        pruned = logical_counts(shape, variant=variant, prune=True, depth=True)
    classical = classical_attention_cost(shape.T, shape.d)
    row: dict[str, Any] = {
        "circuit": shape.label,
        "variant": variant,
        "measured": measured,
        "T": shape.T,
        "d": shape.d,
        "k": shape.k,
        "n_layers": shape.w_layers,
        "phases": shape.phases,
        "n_qubits": pruned.n_qubits,
        "cnot": pruned.cnot,
        "single_qubit": pruned.single_qubit,
        "total": pruned.total,
        "cnot_generic": generic.cnot,
        "single_qubit_generic": generic.single_qubit,
        "total_generic": generic.total,
        "depth": pruned.depth,
        "two_qubit_depth": pruned.two_qubit_depth,
        "classical_scores": classical.scores,
        "classical_values": classical.values,
        "classical_attention": classical.attention,
        "classical_projections": classical.projections,
        "classical_total": classical.total,
        "classical_causal_attention": classical.causal_scores + classical.causal_values,
    }
    threshold = advantage_threshold(shape.T, shape.d, shape.k)
    row["advantage_threshold"] = threshold if measured else None
    probabilities = {
        instance: reference_probabilities(shape, instance=instance, n_samples=config.mu_samples, seed=config.mu_seed)
        for instance in INSTANCES
    }
    shots = {  # instance -> variant -> shots for the relative precision
        instance: {v: shots_for_precision(p.mean, rel_error=config.rel_error) for v, p in by_variant.items()}
        for instance, by_variant in probabilities.items()
    }
    for instance in INSTANCES:
        p = probabilities[instance][variant]
        row[f"p_{instance}"] = p.mean
        row[f"p_{instance}_min"], row[f"p_{instance}_max"] = p.min, p.max
        row[f"shots_{instance}"] = shots[instance][variant]
        row[f"advantage_{instance}"] = (p.mean >= threshold) if measured else None
    others = ("zeta", "nu")  # circuit A's normalisation circuits, carried in the measured row
    cnots = {variant: pruned.cnot}
    if measured:
        cnots.update({v: logical_counts(shape, variant=v).cnot for v in shape.variants if v != variant})
    row["preprocessing"] = preprocessing_cost(shape).total if measured else None
    for instance in INSTANCES:
        evaluation = sum(cnots[v] * shots[instance][v] for v in shape.variants) if measured else None
        row[f"shots_evaluation_{instance}"] = sum(shots[instance].values()) if measured else None
        row[f"evaluation_cnot_{instance}"] = evaluation
        row[f"evaluation_total_{instance}"] = None if evaluation is None else evaluation + row["preprocessing"]
    for backend in config.backends:
        for name in ("two_qubit", "two_qubit_depth", "depth", "n_physical", "seconds", "cached"):
            row[f"{backend}_{name}"] = None
        for v in others:
            row[f"{backend}_two_qubit_{v}"] = None
        for instance in INSTANCES:
            row[f"evaluation_{backend}_{instance}"] = None
        if not (measured and _transpile_here(shape, config, pruned.cnot)):
            continue
        native = {}
        for v in shape.variants:
            got = transpiled_counts(
                shape,
                backend,
                variant=v,
                optimization_level=config.optimization_level,
                seed_transpiler=config.seed_transpiler,
                cache=cache,
            )
            native[v] = got.two_qubit
            if v == variant:
                for name in ("two_qubit", "two_qubit_depth", "depth", "n_physical", "seconds", "cached"):
                    row[f"{backend}_{name}"] = getattr(got, name)
            else:
                row[f"{backend}_two_qubit_{v}"] = got.two_qubit
            log.info(
                "%s %s %s: %s two-qubit gates on %s (%.1f s%s)",
                shape.label,
                v,
                (shape.T, shape.d, shape.k),
                got.two_qubit,
                backend,
                got.seconds,
                ", cached" if got.cached else "",
            )
        for instance in INSTANCES:
            row[f"evaluation_{backend}_{instance}"] = sum(native[v] * shots[instance][v] for v in shape.variants)
    row["seconds"] = time.perf_counter() - start
    return row


def sweep(
    config: SweepConfig,
    *,
    cache: TranspileCache | None = None,
    progress: Callable[[int, int, dict], None] | None = None,
) -> list[dict[str, Any]]:
    """Measure every circuit of ``config`` (:func:`measure`); ``progress(i, n, row)`` after each."""
    if not isinstance(config, SweepConfig):
        raise TypeError(f"config must be a SweepConfig; got {type(config).__name__}")
    circuits = grid(config)
    rows = []
    for i, (shape, variant) in enumerate(circuits):
        rows.append(measure(shape, variant, config, cache=cache))
        if progress is not None:
            progress(i + 1, len(circuits), rows[-1])
    return rows


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV text (columns in the order of the first row; ``None`` as an empty cell)."""
    if not rows:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


# --- summary: fits and crossovers ---------------------------------------------------------------


def _is_pow2(T: int) -> bool:
    return T & (T - 1) == 0


def _fit_dict(fit) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in fit._asdict().items()}


def _line_fits(rows: list[dict], metric: str, along: str, fixed: str, confidence: float) -> list[dict]:
    out = []
    for value in sorted({r[fixed] for r in rows}):
        line = sorted((r for r in rows if r[fixed] == value and r.get(metric) is not None), key=lambda r: r[along])
        subsets = {"all": line}
        if along == "T":
            subsets["pow2"] = [r for r in line if _is_pow2(r["T"])]
        for subset, pts in subsets.items():
            if len({r[along] for r in pts}) < 3:
                continue
            fit = fit_power_law([r[along] for r in pts], [r[metric] for r in pts], confidence=confidence)
            out.append({fixed: value, "subset": subset, "range": [pts[0][along], pts[-1][along]], **_fit_dict(fit)})
    return out


def _joint(rows: list[dict], metric: str, confidence: float, pow2_only: bool) -> dict | None:
    pts = [r for r in rows if r.get(metric) is not None and (_is_pow2(r["T"]) or not pow2_only)]
    if len({r["T"] for r in pts}) < 2 or len({r["d"] for r in pts}) < 2 or len(pts) < 4:
        return None
    fit = fit_joint([r["T"] for r in pts], [r["d"] for r in pts], [r[metric] for r in pts], confidence=confidence)
    return {"subset": "pow2" if pow2_only else "all", **_fit_dict(fit)}


def _fits(rows: list[dict], metric: str, confidence: float) -> dict:
    return {
        "T_at_fixed_d": _line_fits(rows, metric, "T", "d", confidence),
        "d_at_fixed_T": _line_fits(rows, metric, "d", "T", confidence),
        "joint": [j for j in (_joint(rows, metric, confidence, p) for p in (False, True)) if j],
    }


def summarize(rows: list[dict[str, Any]], *, confidence: float = 0.95) -> dict[str, Any]:
    """Fits of every count column and the crossovers with classical attention, from :func:`sweep` rows.

    Returns ``{"qsa": {circuit: {k: {metric: fits}}}, "classical": {metric: fits}, "crossovers": [...]}``
    where ``fits`` holds the ``T`` exponents at each fixed ``d`` (on all ``T`` and on powers of two
    only), the ``d`` exponents at each fixed ``T`` and the joint fits; only measured circuits
    (``mu``, ``P0``) are fitted. Each crossover entry gives, for one circuit, ``k``, ``d``, QSA metric
    and classical metric, the ``T`` where the two cross (log-log interpolation), the grid ``T``
    from which QSA stays below (``below_from_T``, ``None`` if it is not below at the largest
    ``T``) and the ratio at the largest ``T``.
    """
    measured = [r for r in rows if r["measured"]]
    out: dict[str, Any] = {"confidence": confidence, "qsa": {}, "classical": {}, "crossovers": []}
    for circuit in sorted({r["circuit"] for r in measured}):
        out["qsa"][circuit] = {}
        for k in sorted({r["k"] for r in measured if r["circuit"] == circuit}):
            sub = [r for r in measured if r["circuit"] == circuit and r["k"] == k]
            out["qsa"][circuit][k] = {m: _fits(sub, m, confidence) for m in QSA_METRICS if any(r.get(m) for r in sub)}
            for d in sorted({r["d"] for r in sub}):
                line = sorted((r for r in sub if r["d"] == d), key=lambda r: r["T"])
                for metric, against in itertools.product(QSA_METRICS, CLASSICAL_METRICS):
                    pts = [r for r in line if r.get(metric) is not None]
                    if len(pts) < 2:
                        continue
                    T = [r["T"] for r in pts]
                    q, c = [r[metric] for r in pts], [r[against] for r in pts]
                    below = [i for i in range(len(T)) if all(q[m] < c[m] for m in range(i, len(T)))]
                    out["crossovers"].append(
                        {
                            "circuit": circuit,
                            "k": k,
                            "d": d,
                            "metric": metric,
                            "against": against,
                            "T_range": [T[0], T[-1]],
                            "crossings_T": list(crossovers(T, q, c)),
                            "below_from_T": T[below[0]] if below else None,
                            "qsa_below_at_max_T": q[-1] < c[-1],
                            "ratio_at_max_T": q[-1] / c[-1],
                        }
                    )
    seen = {}
    for r in measured:
        seen[(r["T"], r["d"])] = r
    classical_rows = list(seen.values())
    out["classical"] = {m: _fits(classical_rows, m, confidence) for m in CLASSICAL_METRICS}
    return out
