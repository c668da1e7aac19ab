r"""The whole cost of a trained QSA model: probabilities, shots, circuit executions, gates, classical cost, advantage.

:mod:`qsa.resources` answers what a circuit of a given :class:`~qsa.circuits.Shape` costs on random
instances; this module answers it for *one trained model* on its own data (docs/method.md section
7), from the exact cell probabilities of circuit A on every sequence of every split
(:func:`qsa.training.cost.model_cells` computes them from a model). :func:`cost_block` returns a
JSON-ready dict, :func:`format_block` the lines ``qsa train`` and ``qsa cost`` print.

The cost model is the one of :mod:`qsa.hardware`:

* a **circuit execution** is one variant (``mu``, ``zeta``, ``nu``) bound to one parameter set
  (one sequence's tokens, targets and angles, at the unshifted point or at one parameter-shift
  point); every execution of a job runs the same number of **shots** (as the runners do);
* the **success probability** of a variant is the probability that its measured wires read the
  accepted outcome (all zeros; for ``zeta`` and ``nu`` any value ``j`` of the query index): ``mu``,
  ``zeta`` and ``nu`` themselves. The shots for a **relative precision** ``eps`` of one of them
  are :func:`~qsa.resources.shots.shots_for_precision` ``= ceil((1 - p) / (p eps^2))``;
* **shots per estimate of a loss** (``L_B``, ``L_1``) to standard error ``eps`` (in nats; for
  ``L_B = -log F`` that is a relative precision ``eps`` of ``F``), every circuit at the same shots:
  the delta method of :func:`qsa.hardware.estimators.estimate` over the multinomial cells.
  ``L_B`` needs ``mu`` and ``zeta``, ``L_1``, ``L_half`` (and ``nll``) the cells of ``zeta`` and
  ``nu``; in closed form (``T`` steps, cells ``zeta_j``, ``nu_j``)

  .. math::

      S_{L_B} = \frac{1}{\varepsilon^2}\Bigl(\frac{1-\mu}{\mu} + \frac{1-\zeta}{\zeta}\Bigr),\qquad
      S_{L_1} = \frac{1}{T^2\varepsilon^2}\Bigl(\sum_j \frac{1}{\nu_j} + \sum_j \frac{1}{\zeta_j} - 2T^2\Bigr);

* a **gradient** by parameter shift (:mod:`qsa.hardware.programs`): ``shift_points`` extra
  executions per variant and sequence (two per occurrence of a trainable angle, four for the
  controlled rotations of the poly kernel, none outside the measured wires' light cone). Its
  component ``theta`` is ``sum_r c_r q(theta_r)``; with ``w`` the largest ``sum_r c_r^2`` over
  components and variants, ``w`` times the loss's shots per shifted execution bound every
  component's standard error by ``eps`` (taking the probabilities at the shifted points equal to
  those at the unshifted one). Trainable here: ``theta_W``, ``theta_V`` and, with trained phases,
  ``phi``; aligned phases are computed, not trained, and an embedding enters through the token
  loads (no shift rule: not counted);
* **per training step**: one loss-and-gradient evaluation on a batch of ``B`` sequences, the
  variants the training loss needs (an L-BFGS step whose line search evaluates more often costs a
  multiple; an SPSA step is two loss evaluations and no gradient circuits); **per evaluation** of a split: all three variants at the unshifted point of every
  sequence, with the shots that give ``eps`` on both ``L_B`` and ``L_1``. Shots are set by the
  sequence that needs the most (one shot count per job);
* **two-qubit gates per shot**: logical CNOTs (:func:`~qsa.resources.counts.logical_counts`) and,
  when given, the native two-qubit gates after transpiling to a fake backend
  (:func:`~qsa.resources.transpiled.transpiled_counts`);
* the **classical attention** head of the same ``T`` and ``d``
  (:func:`~qsa.resources.classical.classical_attention_cost`);
* the **advantage criterion** ``mu >= k / min(T, m_k)`` (:func:`~qsa.resources.shots.advantage_threshold`)
  on the trained model, per split: yes/no and the margin ``mu / threshold``.

Source: arXiv 2602.06699 (the advantage criterion and ``1/mu`` shots); the library (the rest).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np

from qsa.circuits import Shape
from qsa.circuits._checks import integer, one_of, real_number
from qsa.circuits.shape import VARIANTS
from qsa.resources.classical import classical_attention_cost
from qsa.resources.counts import logical_counts
from qsa.resources.shots import advantage_threshold, shots_for_precision

__all__ = [
    "LOSS_VARIANTS",
    "EVALUATED_LOSSES",
    "shift_plan",
    "loss_shots",
    "spread",
    "cost_block",
    "format_block",
]

#: The variants of circuit A each loss is estimated from.
LOSS_VARIANTS: dict[str, tuple[str, ...]] = {
    "L_B": ("mu", "zeta"),
    "L_1": ("zeta", "nu"),
    "L_half": ("zeta", "nu"),
    "nll": ("zeta", "nu"),
}
#: The losses an evaluation reports to the stated precision (the loop's evaluations report both).
EVALUATED_LOSSES = ("L_B", "L_1")
#: The losses whose shots per estimate the block reports.
LOSS_SHOTS = ("L_B", "L_1", "L_half")


def shift_plan(shape: Shape, variant: str, *, trainable: tuple[str, ...] = ("theta_W", "theta_V")) -> tuple[int, float]:
    """``(points, weight)`` of a parameter-shift gradient of ``shape``'s ``variant`` circuit.

    ``points``: the shifted executions per sequence (:mod:`qsa.hardware.programs`' rules: two per
    relevant occurrence of an angle of ``trainable``, four for a controlled rotation); ``weight``: the
    largest ``sum_r c_r^2`` of one trainable element's shift coefficients (0 without points).
    Needs no Qiskit.
    """
    from qsa.hardware.programs import TRAINABLE, split_occurrences

    if not isinstance(shape, Shape):
        raise TypeError(f"shape must be a Shape; got {type(shape).__name__}")
    if not set(trainable) <= set(TRAINABLE):
        raise ValueError(f"trainable must name arrays among {TRAINABLE}; got {trainable!r}")
    qsa_circuit = shape.build(variant)
    _, occurrences = split_occurrences(qsa_circuit.circuit, qsa_circuit.measured_wires, tuple(trainable))
    points = 0
    weights: defaultdict[tuple[str, tuple[int, ...]], float] = defaultdict(float)
    for occ in occurrences:
        rule = occ.rule
        if not occ.relevant or rule is None:
            continue
        points += len(rule.shifts)
        weights[(occ.base, occ.index)] += float(sum((c * occ.scale) ** 2 for c in rule.coefficients))
    return points, max(weights.values(), default=0.0)


def _cells(cells: Mapping[str, Any], T: int) -> dict[str, np.ndarray]:
    out = {}
    for name, width in (("mu", 1), ("zeta", T), ("nu", T)):
        if name not in cells:
            raise ValueError(f"cells must hold 'mu', 'zeta' and 'nu'; got {sorted(cells)}")
        a = np.asarray(cells[name], dtype=np.float64)
        a = a.reshape(-1, 1) if name == "mu" else a
        if a.ndim != 2 or a.shape[1] != width or not np.all((a >= 0) & (a <= 1)):
            raise ValueError(f"cells[{name!r}] must be probabilities of shape (S, {width}); got shape {a.shape}")
        out[name] = a
    if not out["mu"].shape[0] == out["zeta"].shape[0] == out["nu"].shape[0]:
        raise ValueError("cells must hold the same number of sequences for mu, zeta and nu")
    return out


def _multinomial(g: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """``g^T Cov g`` at one shot for cells ``pi`` ``(S, K)`` of one circuit, ``Cov = diag(pi) - pi pi^T``."""
    return np.asarray((g**2 * pi).sum(-1) - (g * pi).sum(-1) ** 2, dtype=np.float64)


def loss_shots(cells: Mapping[str, Any], *, loss: str, rel_error: float = 0.1) -> np.ndarray:
    r"""Shots per execution that estimate ``loss`` of each sequence to standard error ``rel_error`` (nats).

    The delta method over the multinomial cells of each circuit (the circuits independent), the
    same as :func:`qsa.hardware.estimators.estimate` (the tests pin them equal), in closed form so
    that it costs ``O(S T)``: with ``g`` the gradient of the loss in one circuit's cells ``pi``,
    that circuit adds ``sum_j g_j^2 pi_j - (sum_j g_j pi_j)^2`` to the variance at one shot.

    Args:
        cells: ``mu`` ``(S,)``, ``zeta`` and ``nu`` ``(S, T)``: circuit A's exact cell probabilities.
        loss: ``"L_B"``, ``"L_1"``, ``"L_half"`` or ``"nll"`` (``L_1`` up to a constant).
        rel_error: the standard error wanted, in nats (for ``L_B``: the relative precision of ``F``).

    Returns:
        ``(S,)`` float64 shots (not rounded; ``inf`` where a needed cell is empty).
    """
    one_of(loss, "loss", tuple(LOSS_VARIANTS))
    rel_error = real_number(rel_error, "rel_error", positive=True)
    if not isinstance(cells, Mapping) or "zeta" not in cells:
        raise ValueError(f"cells must be a mapping with 'mu', 'zeta' and 'nu'; got {type(cells).__name__}")
    T = int(np.shape(cells["zeta"])[-1])
    q = _cells(cells, T)
    mu, zeta, nu = q["mu"][:, 0], q["zeta"], q["nu"]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if loss == "L_B":  # -log((T+1)/(2T)) - log mu + log sum_j zeta_j
            var = (1 - mu) / mu + _multinomial(np.broadcast_to(1 / zeta.sum(-1, keepdims=True), zeta.shape), zeta)
        else:
            if loss == "L_half":  # -2 log m, m = mean_j sqrt(nu_j / zeta_j)
                root = np.sqrt(nu / zeta)
                a = root / (root.sum(-1, keepdims=True))  # (S, T): sqrt(p_j) / (m T)
            else:  # L_1 = -(1/T) sum_j (log nu_j - log zeta_j)
                a = np.full_like(nu, 1 / T)
            var = _multinomial(-a / nu, nu) + _multinomial(a / zeta, zeta)
    shots: np.ndarray = np.where(np.isfinite(var), var / rel_error**2, np.inf)
    return shots


def spread(values: Any) -> dict[str, float | int | None]:
    """``mean``, ``std`` (population), ``min``, ``max`` and ``n`` of ``values`` over sequences (``None`` if not finite)."""
    a = np.asarray(values, dtype=np.float64).reshape(-1)

    def clean(v: float) -> float | None:
        return float(v) if math.isfinite(v) else None

    return {
        "mean": clean(float(a.mean())),
        "std": clean(float(a.std())),
        "min": clean(float(a.min())),
        "max": clean(float(a.max())),
        "n": int(a.size),
    }


def _ceil(value: float) -> int | None:
    return int(math.ceil(value)) if math.isfinite(value) else None


def cost_block(
    shape: Shape,
    cells: Mapping[str, Mapping[str, Any]],
    *,
    loss: str,
    batch_size: int,
    rel_error: float = 0.1,
    trained_phases: bool = False,
    train_split: str = "train",
    transpiled: Mapping[str, Any] | None = None,
    optimizer: str = "adam",
) -> dict[str, Any]:
    """The cost block of a trained model (module docstring), JSON-ready.

    Args:
        shape: circuit A of the model (``Shape("A", T, d, k, kernel, beta, w_layers, v_layers, phases)``).
        cells: per split, circuit A's exact cells ``{"mu": (S,), "zeta": (S, T), "nu": (S, T)}``.
        loss: the training loss (``"L_B"``, ``"L_1"``, ``"L_half"``, ``"nll"``).
        batch_size: sequences per training step.
        rel_error: the stated precision ``eps``: relative, of each probability; absolute (nats), of a loss.
        trained_phases: whether the query phases ``phi`` are trained (their shifted points count).
        train_split: the split whose sequences set the training step's shots.
        transpiled: optional ``{"backend": name, "backend_class": ..., "variants": {variant:
            TranspiledCounts or its dict}}`` to report native two-qubit gates per shot.
        optimizer: the training config's optimiser: ``"spsa"`` steps with two loss evaluations and
            no gradient circuits; any other takes one loss evaluation and its parameter-shift
            gradient per step (an L-BFGS step whose line search evaluates more often costs a multiple).

    Raises:
        ValueError, TypeError: for a shape that is not circuit A with ansatz depths, a loss,
            batch size or precision out of range, or cells of the wrong shape.
    """
    if not isinstance(shape, Shape):
        raise TypeError(f"shape must be a Shape; got {type(shape).__name__}")
    if shape.circuit != "A" or shape.w_layers is None or shape.v_layers is None:
        raise ValueError(f"shape must be circuit A with ansatz depths (a trained QSA model); got {shape}")
    one_of(loss, "loss", tuple(LOSS_VARIANTS))
    integer(batch_size, "batch_size", minimum=1)
    rel_error = real_number(rel_error, "rel_error", positive=True)
    if not isinstance(optimizer, str):
        raise TypeError(f"optimizer must be a string such as 'adam' or 'spsa'; got {type(optimizer).__name__}")
    if train_split not in cells:
        raise ValueError(f"cells must hold the split {train_split!r}; got {sorted(cells)}")
    T, d, k = shape.T, shape.d, shape.k
    trainable = ("theta_W", "theta_V", "phi") if trained_phases else ("theta_W", "theta_V")

    circuits: dict[str, dict[str, Any]] = {}
    weight = 0.0
    for variant in shape.variants:
        counts = logical_counts(shape, variant=variant)
        points, w = shift_plan(shape, variant, trainable=trainable)
        if variant in LOSS_VARIANTS[loss]:
            weight = max(weight, w)
        circuits[variant] = {
            "n_qubits": counts.n_qubits,
            "cnot": counts.cnot,
            "single_qubit": counts.single_qubit,
            "shift_points": points,
            "shift_weight": w,
        }
    native = None  # the key of the native two-qubit count per shot, when transpiled counts are given
    if transpiled is not None:
        native = f"{transpiled['backend']}_two_qubit"
        for variant, got in transpiled["variants"].items():
            got = got if isinstance(got, Mapping) else vars(got)
            circuits[variant][native] = got["two_qubit"]
            circuits[variant][f"{native}_depth"] = got["two_qubit_depth"]

    splits: dict[str, dict[str, Any]] = {}
    threshold = advantage_threshold(T, d, k)
    for split, raw in cells.items():
        q = _cells(raw, T)
        p = {"mu": q["mu"][:, 0], "zeta": q["zeta"].sum(1), "nu": q["nu"].sum(1)}
        entry: dict[str, Any] = {"n_sequences": int(p["mu"].size)}
        for variant, values in p.items():
            shots = np.array(
                [shots_for_precision(float(v), rel_error=rel_error) if v > 0 else math.inf for v in values]
            )
            entry[variant] = {**spread(values), "shots": spread(shots)}
        entry["F"] = spread((T + 1) / (2 * T) * p["mu"] / p["zeta"])
        entry["loss_shots"] = {name: spread(loss_shots(raw, loss=name, rel_error=rel_error)) for name in LOSS_SHOTS}
        eval_shots = max(
            (entry["loss_shots"][name]["max"] for name in EVALUATED_LOSSES),
            key=lambda v: math.inf if v is None else v,
        )
        eval_shots = _ceil(math.inf if eval_shots is None else eval_shots)
        executions = entry["n_sequences"] * len(shape.variants)
        entry["evaluation"] = {
            "losses": list(EVALUATED_LOSSES),
            "shots_per_execution": eval_shots,
            "executions": executions,
            "shots": None if eval_shots is None else executions * eval_shots,
            "two_qubit_gates": None
            if eval_shots is None
            else entry["n_sequences"] * eval_shots * sum(c["cnot"] for c in circuits.values()),
        }
        if native is not None:
            entry["evaluation"][native] = (
                None
                if eval_shots is None
                else entry["n_sequences"] * eval_shots * sum(c[native] for c in circuits.values())
            )
        mu = entry["mu"]["mean"]
        entry["advantage"] = {
            "mu": mu,
            "meets": mu is not None and mu >= threshold,
            "margin": None if mu is None else mu / threshold,
            "sequences_meeting": int((p["mu"] >= threshold).sum()),
        }
        splits[split] = entry

    needed = LOSS_VARIANTS[loss]
    train_loss_shots = splits[train_split]["loss_shots"]["L_1" if loss == "nll" else loss]["max"]
    point_shots = _ceil(math.inf if train_loss_shots is None else train_loss_shots)
    if optimizer == "spsa":  # two loss evaluations at shifted parameters, no gradient circuits
        runs_per_variant = dict.fromkeys(needed, (2, 0))  # (unshifted-like executions, shifted executions)
        shift_shots = None
    else:  # one loss evaluation and its parameter-shift points
        runs_per_variant = {v: (1, int(circuits[v]["shift_points"])) for v in needed}
        shift_shots = None if point_shots is None else max(1, math.ceil(point_shots * weight))
    executions = batch_size * sum(a + b for a, b in runs_per_variant.values())

    def step_count(key: str | None) -> int | None:
        """Shots (``key`` None) or two-qubit gates (``key`` a per-shot count) of one training step."""
        if point_shots is None or (shift_shots is None and optimizer != "spsa"):
            return None
        total = 0
        for v, (plain, shifted) in runs_per_variant.items():
            shots = plain * point_shots + shifted * (shift_shots or 0)
            total += shots * (1 if key is None else int(circuits[v][key]))
        return batch_size * total

    classical = classical_attention_cost(T, d)
    return {
        "shape": shape.as_dict(),
        "label": shape.label,
        "rel_error": rel_error,
        "loss": loss,
        "batch_size": batch_size,
        "trainable": list(trainable),
        "circuits": circuits,
        "transpiled": None
        if transpiled is None
        else {"backend": transpiled["backend"], "backend_class": transpiled.get("backend_class")},
        "split_names": list(splits),  # the order of the splits (a JSON object's keys may come back sorted)
        "splits": splits,
        "training_step": {
            "optimizer": optimizer,
            "gradient": "SPSA: two loss evaluations" if optimizer == "spsa" else "parameter shift",
            "variants": list(needed),
            "shots_per_execution": point_shots,
            "shots_per_shifted_execution": shift_shots,
            "executions": executions,
            "shots": step_count(None),
            "two_qubit_gates": step_count("cnot"),
            **({native: step_count(native)} if native else {}),
        },
        "classical": {
            "attention": classical.attention,
            "projections": classical.projections,
            "total": classical.total,
            "per_step": batch_size * classical.total,
        },
        "advantage": {"threshold": threshold, "m_k": math.comb(d + k - 1, k)},
    }


def _num(value: Any, fmt: str = "{:.3g}") -> str:
    if value is None:
        return "inf"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}" if abs(value) < 10**7 else f"{value:.3g}"
    return fmt.format(value)


def format_block(block: Mapping[str, Any]) -> list[str]:
    """The lines ``qsa train`` and ``qsa cost`` print for a :func:`cost_block`."""
    s = block["shape"]
    eps = block["rel_error"]
    lines = [
        f"cost of the trained model (circuit {block['label']}: T={s['T']}, d={s['d']}, k={s['k']}, "
        f"L_W={s['w_layers']}, L_V={s['v_layers']}, phases {'on' if s['phases'] else 'off'}; "
        f"precision eps = {eps:g})"
    ]
    circuits = {v: block["circuits"][v] for v in VARIANTS["A"]}
    splits = {name: block["splits"][name] for name in block.get("split_names", block["splits"])}
    backend = (block.get("transpiled") or {}).get("backend")
    header = f"  {'circuit':>7} {'qubits':>6} {'CNOT/shot':>9}" + (f" {backend + ' 2q/shot':>13}" if backend else "")
    header += f" {'shift pts':>9}"
    lines.append(header)
    for variant, c in circuits.items():
        row = f"  {variant:>7} {c['n_qubits']:>6} {c['cnot']:>9,}"
        if backend:
            row += f" {_num(c.get(backend + '_two_qubit')):>13}"
        lines.append(row + f" {c['shift_points']:>9}")
    if not backend:
        lines.append("  (transpiled two-qubit gates: qsa cost RUN_DIR, cached)")
    lines.append(
        f"  {'split':>12} {'circuit':>7} {'success p mean':>14} {'std':>9} {'min':>9} {'max':>9} "
        f"{'shots(eps) mean':>15} {'max':>9}"
    )
    for split, e in splits.items():
        for variant in circuits:
            v = e[variant]
            lines.append(
                f"  {split:>12} {variant:>7} {_num(v['mean']):>14} {_num(v['std']):>9} {_num(v['min']):>9} "
                f"{_num(v['max']):>9} {_num(v['shots']['mean']):>15} {_num(v['shots']['max']):>9}"
            )
    lines.append(
        "  shots per execution for standard error eps on the loss (max over sequences; every circuit at these shots):"
    )
    for split, e in splits.items():
        parts = ", ".join(f"{name} {_num(e['loss_shots'][name]['max'])}" for name in LOSS_SHOTS)
        lines.append(f"  {split:>12}: {parts}")
    t = block["training_step"]
    spsa = t.get("optimizer") == "spsa"
    how = f"two SPSA evaluations of {block['loss']}" if spsa else f"{block['loss']} and its parameter-shift gradient"
    each = f"{_num(t['shots_per_execution'])} shots each" + (
        "" if spsa else f" ({_num(t['shots_per_shifted_execution'])} per shifted point)"
    )
    lines.append(
        f"  per training step ({how} on {block['batch_size']} sequences, "
        f"circuits {'+'.join(t['variants'])}): {t['executions']:,} circuit executions, {each}, "
        f"{_num(t['shots'])} shots, {_num(t['two_qubit_gates'])} logical CNOTs"
        + (f", {_num(t[backend + '_two_qubit'])} two-qubit gates on {backend}" if backend else "")
    )
    for split, e in splits.items():
        ev = e["evaluation"]
        lines.append(
            f"  per evaluation of {split} ({e['n_sequences']} sequences, mu+zeta+nu, L_B and L_1 to eps): "
            f"{ev['executions']:,} circuit executions x {_num(ev['shots_per_execution'])} shots = "
            f"{_num(ev['shots'])} shots, {_num(ev['two_qubit_gates'])} logical CNOTs"
            + (f", {_num(ev[backend + '_two_qubit'])} two-qubit gates on {backend}" if backend else "")
        )
    c = block["classical"]
    lines.append(
        f"  classical attention head (T={s['T']}, d={s['d']}): 2T^2d = {c['attention']:,} multiply-adds per sequence "
        f"(+ 4Td^2 = {c['projections']:,} for the projections)"
    )
    a = block["advantage"]
    for split, e in splits.items():
        adv = e["advantage"]
        verdict = "yes" if adv["meets"] else "no"
        lines.append(
            f"  advantage mu >= k/min(T, m_k) = {a['threshold']:.4g} (m_k = {a['m_k']}) on {split}: {verdict}, "
            f"mu = {_num(adv['mu'], '{:.4g}')}, margin mu/threshold = {_num(adv['margin'], '{:.3g}')} "
            f"({adv['sequences_meeting']} of {e['n_sequences']} sequences meet it)"
        )
    return lines
