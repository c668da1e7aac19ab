"""Gate counts of the QSA circuits against classical attention: sweep, exponent fits, crossovers, plots.

    python experiments/gate_counts/run.py                                   # full.toml (20 min; 4 min cached)
    python experiments/gate_counts/run.py --config experiments/gate_counts/quick.toml   # < 2 min
    python experiments/gate_counts/run.py --smoke                           # seconds, run by the tests

Writes ``runs/gate_counts-<stamp>/``: ``results.csv`` (one row per circuit shape),
``results.json`` (config, environment with package versions and git commit, seeds, wall time,
rows, fits), ``fits.md`` (the exponents with confidence intervals, the crossovers) and the
figures of ``plot.py``. Transpiled counts are cached in ``runs/cache/gate_counts`` (keyed by
circuit, backend, settings and versions).
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing
import sys
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import plot  # noqa: E402

from qsa import runs  # noqa: E402
from qsa.errors import run_command  # noqa: E402
from qsa.resources import SweepConfig, TranspileCache, rows_to_csv, summarize  # noqa: E402
from qsa.resources.sweep import EVALUATION_METRICS, QSA_METRICS, measure  # noqa: E402
from qsa.resources.sweep import grid as circuit_grid  # noqa: E402

#: Extrapolated crossovers beyond this T are reported as such (a power law fitted on T <= 64 says nothing there).
FAR = 1e6
DIGEST_METRICS = ("cnot", "cnot_generic", "heron_two_qubit", "eagle_two_qubit")


def _measure(job):
    shape, variant, config, cache = job
    return measure(shape, variant, config, cache=cache)


def _ci(fit: dict, key: str = "exponent") -> str:
    lo, hi = fit[f"{key}_ci"]
    return f"{fit[key]:.2f} [{lo:.2f}, {hi:.2f}] (rms {fit['rms_residual']:.2f})"


def _extrapolated(summary: dict, c: dict, classical_exponent: float = 2.0) -> str:
    """Where a QSA count above the classical one at the largest T would meet it, on the fitted power law in T."""
    by_k = summary["qsa"][c["circuit"]]  # keyed by k (a string once read back from results.json)
    fits = by_k.get(c["k"], by_k.get(str(c["k"]), {})).get(c["metric"], {}).get("T_at_fixed_d", [])
    fit = next((f for f in fits if f["d"] == c["d"] and f["subset"] == "pow2"), None) or next(
        (f for f in fits if f["d"] == c["d"]), None
    )
    if fit is None or c["ratio_at_max_T"] <= 1:
        return ""
    T_max, r = c["T_range"][1], c["ratio_at_max_T"]

    def meet(alpha: float) -> float:
        if alpha >= classical_exponent:
            return math.inf
        log_T = math.log(T_max) + math.log(r) / (classical_exponent - alpha)
        return math.exp(log_T) if log_T < 700 else math.inf

    lo, hi = fit["exponent_ci"]
    law = f"its fitted T^{fit['exponent']:.2f} (95 % CI [{lo:.2f}, {hi:.2f}])"
    if fit["exponent"] >= classical_exponent:
        return f"; {law} grows no slower than 2T^2d: no crossover ahead"
    if meet(fit["exponent"]) > FAR:
        return f"; on {law} it would not meet 2T^2d before T = {FAR:.0e}"

    def at(alpha: float) -> str:
        T = meet(alpha)
        return f"{T:.3g}" if T <= FAR else "beyond 1e6"

    return f"; on {law} it would meet 2T^2d at T ~ {at(fit['exponent'])} ({at(lo)} to {at(hi)}), beyond the grid"


def crossover_statements(
    summary: dict, metric: str = "evaluation_total", against: str = "classical_attention"
) -> list[str]:
    """One sentence per circuit, ``k`` and ``d``: where one whole evaluation (ideal and random targets,
    shots and preprocessing counted) meets the classical ``2 T^2 d``, or that it never does on the grid
    (with the crossover its fitted ``T`` exponent would reach, if any)."""
    by_key: dict = {}
    for c in summary["crossovers"]:
        if c["against"] == against and c["metric"] in (f"{metric}_ideal", f"{metric}_random"):
            by_key.setdefault((c["circuit"], c["k"], c["d"]), {})[c["metric"].rsplit("_", 1)[1]] = c
    out = []
    for (circuit, k, d), pair in sorted(by_key.items()):
        parts = []
        for instance in ("ideal", "random"):
            c = pair.get(instance)
            if c is None:
                continue
            lo, hi = c["T_range"]
            if c["below_from_T"] is not None:
                verdict = f"below the classical head from T = {c['below_from_T']} on"
            elif c["crossings_T"]:
                verdict = "crosses at T = " + ", ".join(f"{t:.1f}" for t in c["crossings_T"]) + " but ends above"
            else:
                verdict = f"above it at every T in [{lo}, {hi}]"
            parts.append(
                f"{instance} targets {verdict} ({c['ratio_at_max_T']:.3g}x classical at T = {hi}"
                f"{_extrapolated(summary, c)})"
            )
        out.append(f"{circuit}, k = {k}, d = {d}: " + "; ".join(parts))
    return out


def fits_markdown(summary: dict, config: SweepConfig) -> str:
    """The fitted exponents (95 % CI; rms of log residuals) and crossovers as Markdown tables."""
    conf = f"{summary['confidence']:.0%}"
    out = [f"# Fitted exponents ({conf} confidence intervals; rms = rms residual of ln count)\n"]
    out.append(
        "Power-of-two T only in the T fits (padded index registers make other T a staircase; the "
        "'all' subset is in results.json).\n"
    )

    def table(title: str, along: str, fixed: str, values, groups) -> None:
        out.append(f"\n## {title}\n")
        out.append("| circuit | k | metric | " + " | ".join(f"{fixed}={v}" for v in values) + " |")
        out.append("|---" * (3 + len(values)) + "|")
        for circuit, k, metric, fits in groups:
            cells = []
            for v in values:
                match = [
                    f for f in fits[f"{along}_at_fixed_{fixed}"] if f[fixed] == v and f["subset"] in ("pow2", "all")
                ]
                pow2 = [f for f in match if f["subset"] == "pow2"]
                label = " (all T)" if along == "T" and not pow2 and match else ""
                cells.append(_ci((pow2 or match)[0]) + label if match else "-")
            out.append(f"| {circuit} | {k} | {metric} | " + " | ".join(cells) + " |")

    groups = [
        (f, k, m, fits)
        for f, by_k in summary["qsa"].items()
        for k, by_m in by_k.items()
        for m, fits in by_m.items()
        if m != "total"
    ]
    classical = [("classical", "-", m, fits) for m, fits in summary["classical"].items()]
    table("Exponent of T at fixed d", "T", "d", config.d, groups + classical)
    table(
        "Exponent of d at fixed T (powers of two)",
        "d",
        "T",
        [T for T in config.T if T & (T - 1) == 0],
        groups + classical,
    )
    out.append("\n## Joint fits count ~ a T^alpha d^beta\n")
    out.append("| circuit | k | metric | subset | alpha | beta | n |")
    out.append("|---|---|---|---|---|---|---|")
    for circuit, k, metric, fits in groups + classical:
        for j in fits["joint"]:
            out.append(
                f"| {circuit} | {k} | {metric} | {j['subset']} | {_ci(j, 'alpha')} | {_ci(j, 'beta')} | {j['n']} |"
            )

    def crossings(title: str, metrics) -> None:
        out.append(f"\n## {title}\n")
        out.append(
            "| circuit | k | d | QSA metric | classical | crossings at T | QSA below from T | QSA/classical at largest T |"
        )
        out.append("|---|---|---|---|---|---|---|---|")
        for c in summary["crossovers"]:
            if c["metric"] not in metrics:
                continue
            cross = ", ".join(f"{t:.1f}" for t in c["crossings_T"]) or "none"
            below = "never" if c["below_from_T"] is None else c["below_from_T"]
            out.append(
                f"| {c['circuit']} | {c['k']} | {c['d']} | {c['metric']} | {c['against']} | {cross} | "
                f"{below} | {c['ratio_at_max_T']:.3g} |"
            )

    out.append("\n## Crossover statements: one whole attention evaluation against one classical head\n")
    out += [f"- {line}" for line in crossover_statements(summary)]
    crossings(
        "Crossovers in T of one whole evaluation (every variant x its shots; total = + classical preprocessing)",
        EVALUATION_METRICS,
    )
    crossings(
        "Crossovers in T of ONE SHOT of the measured circuit (not a whole evaluation)",
        [m for m in QSA_METRICS if m not in EVALUATION_METRICS and m != "total"],
    )
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(HERE / "full.toml"), help="TOML config (default: full.toml)")
    parser.add_argument("--smoke", action="store_true", help="use smoke.toml (seconds)")
    parser.add_argument("--out", default="runs", help="root of the run directories (default: runs)")
    parser.add_argument("--cache", default=None, help="transpiled-count cache (default: <out>/cache/gate_counts)")
    parser.add_argument("--no-cache", action="store_true", help="transpile everything afresh")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default: 2)")
    args = parser.parse_args()
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("qsa").setLevel(logging.INFO)

    config_path = HERE / "smoke.toml" if args.smoke else Path(args.config)
    data = tomllib.loads(config_path.read_text())
    config = SweepConfig.from_dict(data["sweep"])
    cache = None if args.no_cache else TranspileCache(args.cache or Path(args.out) / "cache" / "gate_counts")
    run_dir = runs.new_run_dir(args.out, "gate_counts")
    grid = circuit_grid(config)
    print(f"{len(grid)} circuits from {config_path.name}; writing {run_dir}", flush=True)

    start = time.perf_counter()
    jobs = [(shape, variant, config, cache) for shape, variant in grid]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            rows = []
            for i, row in enumerate(pool.map(_measure, jobs, chunksize=1)):
                rows.append(row)
                if (i + 1) % 50 == 0 or i + 1 == len(jobs):
                    print(f"  {i + 1}/{len(jobs)} circuits, {time.perf_counter() - start:.0f} s", flush=True)
    else:
        rows = [_measure(job) for job in jobs]
    wall = time.perf_counter() - start
    summary = summarize(rows)
    transpiled = [r for r in rows if any(r.get(f"{b}_two_qubit") is not None for b in config.backends)]
    record = {
        "config": config.as_dict(),
        "config_file": config_path.name,
        "plots": data.get("plots", {}),
        "environment": runs.environment(HERE),
        "jobs": args.jobs,
        "wall_seconds": wall,
        "transpile_seconds_uncached": sum(r[f"{b}_seconds"] or 0 for r in transpiled for b in config.backends),
        "n_transpiled_from_cache": sum(bool(r.get(f"{b}_cached")) for r in transpiled for b in config.backends),
        "rows": rows,
        "summary": summary,
    }
    runs.write_bytes(run_dir / "results.csv", rows_to_csv(rows).encode())
    runs.write_json(run_dir / "results.json", record)
    runs.write_bytes(run_dir / "fits.md", fits_markdown(summary, config).encode())
    plot.plot_all(record, run_dir)
    for line in crossover_statements(summary):
        print("  " + line)
    print(
        f"done in {wall:.0f} s ({record['n_transpiled_from_cache']} transpilations from cache); "
        f"wrote results.csv, results.json, fits.md and {len(plot.FIGURES)} figures to {run_dir}"
    )


if __name__ == "__main__":
    sys.exit(run_command("experiments/gate_counts/run.py", main))
