"""Shared machinery of the benchmarks: interleaved timing, paired ratios, peak memory, fits, the table.

Every figure is a ratio against a baseline measured in the same run: the cases of one benchmark
are timed in interleaved repeats (the order rotates every repeat), so a load from other jobs
affects baseline and fast path alike, and the ratio of repeat ``r`` pairs the two timings of that
repeat. Reported: the median over repeats and the min-max.
"""

from __future__ import annotations

import gc
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent


def interleaved(
    cases: Mapping[str, Callable[[], Any]],
    *,
    repeats: int,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Seconds of every case, ``repeats`` times, in rotating order after ``warmup`` untimed rounds.

    ``clock``: wall seconds by default; ``time.process_time`` gives CPU seconds of the process
    (all its threads), steadier on a shared machine when the cases run on one thread.
    """
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    out: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            start = clock()
            cases[name]()
            out[name].append(clock() - start)
    return out


def stats(values: list[float]) -> dict[str, Any]:
    """Median, min, max and every value."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "all": list(values)}


def ratio(baseline: list[float], fast: list[float]) -> dict[str, Any]:
    """Per-repeat ratios ``baseline[r] / fast[r]`` (paired: measured in the same repeat), summarised."""
    return stats([b / f for b, f in zip(baseline, fast)])


def row(
    benchmark: str,
    case: str,
    baseline: str,
    fast: str,
    times: Mapping[str, list[float]],
    *,
    goal: float | None = None,
    note: str = "",
) -> dict[str, Any]:
    """One line of the table: ``fast`` against ``baseline`` (names of ``times``)."""
    r = ratio(times[baseline], times[fast])
    return {
        "benchmark": benchmark,
        "case": case,
        "baseline": baseline,
        "fast": fast,
        "baseline_seconds": stats(times[baseline]),
        "fast_seconds": stats(times[fast]),
        "ratio": r,
        "goal": None if goal is None else f">= {goal:g}x",
        "met": None if goal is None else bool(r["median"] >= goal),
        "note": note,
    }


def fit_exponent(x: list[float], y: list[float]) -> float:
    """Slope of ``log y`` against ``log x`` (least squares): the growth exponent."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def peak_memory(code: str, *, timeout: float = 900) -> int:
    """Peak resident memory in bytes added by the measured part of ``code``, run in a fresh interpreter.

    ``code`` is a Python snippet with two parts separated by a line ``# --- measure``: the setup
    (imports, data), then what is measured. Just before the measured part the child resets its
    peak-RSS counter (``/proc/self/clear_refs``) and reads its resident size; afterwards it
    reports ``VmHWM`` minus that. (``ru_maxrss`` would not do: Linux carries the parent's
    high-water mark into a child across fork and exec.)
    """
    setup, measured = code.split("# --- measure\n")
    program = (
        "import os, json\n" + setup + "\n"
        "def _status(key):\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith(key + ':'):\n"
        "            return int(line.split()[1]) * 1024\n"
        "open('/proc/self/clear_refs', 'w').write('5')\n"
        "_before = _status('VmRSS')\n" + measured + "\n"
        "print(json.dumps({'peak_bytes': max(0, _status('VmHWM') - _before)}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=HERE,
        env={**os.environ, "PYTHONPATH": str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", "")},
    )
    if out.returncode != 0:
        raise RuntimeError(f"memory probe failed:\n{out.stderr[-2000:]}")
    return int(json.loads(out.stdout.strip().splitlines()[-1])["peak_bytes"])


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, and the load average now (1, 5, 15 min)."""
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        mem = None
    return {"cpu": model, "cores": os.cpu_count(), "memory_bytes": mem, "load_average": list(os.getloadavg())}


def seconds(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def format_table(rows: list[dict[str, Any]]) -> str:
    """The table printed at the end of ``run.py``: every ratio with its median and min-max."""
    head = (
        "benchmark",
        "case",
        "baseline -> ours",
        "baseline (median)",
        "ours (median)",
        "ratio median [min-max]",
        "goal",
    )
    lines = []
    for r in rows:
        q = r["ratio"]
        goal = "" if r["goal"] is None else f"{r['goal']}: {'met' if r['met'] else 'NOT met'}"
        lines.append(
            (
                r["benchmark"],
                r["case"],
                f"{r['baseline']} -> {r['fast']}",
                seconds(r["baseline_seconds"]["median"]),
                seconds(r["fast_seconds"]["median"]),
                f"{q['median']:.1f}x [{q['min']:.1f}-{q['max']:.1f}]",
                goal,
            )
        )
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
    fmt = "  ".join(f"{{:{w}}}" for w in widths)
    out = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*line) for line in lines]
    return "\n".join(out)


def finite(x: float) -> float | None:
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None
