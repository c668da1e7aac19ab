"""Sweeps: one row per shape with every column, fits and crossovers from rows, config checks."""

from __future__ import annotations

import csv
import io
import math

import pytest

from qsa.resources import (
    SweepConfig,
    TranspileCache,
    logical_counts,
    preprocessing_cost,
    reference_probabilities,
    rows_to_csv,
    shape,
    shots_for_precision,
    summarize,
    sweep,
    transpiled_counts,
)
from qsa.resources.sweep import grid


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return TranspileCache(tmp_path_factory.mktemp("transpiled"))


@pytest.fixture(scope="module")
def rows(cache):
    config = SweepConfig(
        circuits=("A-mono", "B"),
        T=(2, 3, 4),
        d=(2, 4),
        k=(1,),
        n_layers=2,
        mu_samples=2,
        transpile_T=(2,),
        transpile_d=(2,),
        transpile_k=(1,),
        backends=("heron",),
    )
    return sweep(config, cache=cache)


def test_one_row_per_shape_with_logical_and_classical_columns(rows):
    assert len(rows) == 2 * 3 * 3 + 2 * 3  # A: mu, zeta, nu; B: P0
    for r in rows:
        s = shape(r["circuit"], r["T"], r["d"], r["k"], n_layers=r["n_layers"], phases=r["phases"])
        v = r["variant"]
        assert r["cnot"] == logical_counts(s, variant=v).cnot
        assert r["cnot_generic"] == logical_counts(s, variant=v, prune=False).cnot
        assert r["classical_attention"] == 2 * r["T"] ** 2 * r["d"]
        assert r["measured"] == (r["variant"] in ("mu", "P0"))
        assert (r["depth"] is not None) == r["measured"]
        assert r["shots_random"] >= r["shots_ideal"] >= 1
        assert (r["advantage_threshold"] is not None) == r["measured"]


def test_transpiled_columns_only_on_the_sub_grid(rows):
    done = [r for r in rows if r["heron_two_qubit"] is not None]
    assert {(r["circuit"], r["T"], r["d"], r["variant"]) for r in done} == {("A-mono", 2, 2, "mu"), ("B", 2, 2, "P0")}
    assert all("eagle_two_qubit" not in r for r in rows)


def test_measured_rows_hold_one_whole_evaluation_every_variant_at_its_shots(rows, cache):
    """A's evaluation is mu + zeta + nu, each circuit at the shots its own probability needs; B's is P0
    and its classical preprocessing; the columns agree with qsa.resources and with the variants' own rows."""
    for r in rows:
        if not r["measured"]:
            assert r["evaluation_cnot_ideal"] is None and r["preprocessing"] is None
            continue
        s = shape(r["circuit"], r["T"], r["d"], r["k"], n_layers=r["n_layers"], phases=r["phases"])
        same = {x["variant"]: x for x in rows if (x["circuit"], x["T"], x["d"], x["k"]) == (r["circuit"], *s_key(s))}
        assert set(same) == set(s.variants)
        for instance in ("random", "ideal"):
            probabilities = reference_probabilities(s, instance=instance, n_samples=2, seed=0)
            shots = {v: shots_for_precision(p.mean, rel_error=0.1) for v, p in probabilities.items()}
            assert {v: same[v][f"shots_{instance}"] for v in s.variants} == shots
            assert r[f"shots_evaluation_{instance}"] == sum(shots.values())
            cnot = sum(logical_counts(s, variant=v).cnot * shots[v] for v in s.variants)
            assert r[f"evaluation_cnot_{instance}"] == cnot == sum(same[v]["cnot"] * shots[v] for v in s.variants)
            assert r[f"evaluation_total_{instance}"] == cnot + preprocessing_cost(s).total == cnot + r["preprocessing"]
            if r["heron_two_qubit"] is not None:  # every variant transpiled on the sub-grid
                native = {v: transpiled_counts(s, "heron", variant=v, cache=cache).two_qubit for v in s.variants}
                assert r[f"evaluation_heron_{instance}"] == sum(native[v] * shots[v] for v in s.variants)
                assert all(r[f"heron_two_qubit_{v}"] == native[v] for v in s.variants if v != r["variant"])
            else:
                assert r[f"evaluation_heron_{instance}"] is None
        if r["circuit"] == "A-mono":  # the mu circuit at its shots is only part of an evaluation
            assert r["evaluation_cnot_ideal"] > r["cnot"] * r["shots_ideal"]


def s_key(s):
    return s.T, s.d, s.k


def test_rows_to_csv_round_trips(rows):
    back = list(csv.DictReader(io.StringIO(rows_to_csv(rows))))
    assert len(back) == len(rows) and int(back[0]["cnot"]) == rows[0]["cnot"]
    assert rows_to_csv([]) == ""


def _synthetic(T_values, d_values, law):
    out = []
    for T in T_values:
        for d in d_values:
            out.append(
                {
                    "circuit": "A-mono",
                    "variant": "mu",
                    "measured": True,
                    "T": T,
                    "d": d,
                    "k": 1,
                    "cnot": law(T, d),
                    "classical_attention": 2 * T * T * d,
                    "classical_total": 2 * T * T * d + 4 * T * d * d,
                }
            )
    return out


def test_summary_fits_exponents_and_finds_the_crossover():
    rows = _synthetic([2, 4, 8, 16, 32, 64], [2, 4, 8], lambda T, d: 16 * T * d * d)
    summary = summarize(rows)
    fits = summary["qsa"]["A-mono"][1]["cnot"]
    for fit in fits["T_at_fixed_d"]:
        assert fit["exponent"] == pytest.approx(1.0, abs=1e-9)
    for fit in fits["d_at_fixed_T"]:
        assert fit["exponent"] == pytest.approx(2.0, abs=1e-9)
    (joint,) = [j for j in fits["joint"] if j["subset"] == "all"]
    assert (joint["alpha"], joint["beta"]) == pytest.approx((1.0, 2.0), abs=1e-9)
    classical = summary["classical"]["classical_attention"]["joint"][0]
    assert (classical["alpha"], classical["beta"]) == pytest.approx((2.0, 1.0), abs=1e-9)
    # 16 T d^2 = 2 T^2 d  <=>  T = 8 d
    for entry in summary["crossovers"]:
        if entry["metric"] == "cnot" and entry["against"] == "classical_attention":
            expected = [8 * entry["d"]] if 8 * entry["d"] < 64 else []
            assert entry["crossings_T"] == pytest.approx(expected)
            assert entry["qsa_below_at_max_T"] == (8 * entry["d"] < 64)
            assert entry["below_from_T"] == (16 * entry["d"] if 8 * entry["d"] < 64 else None)


def test_summary_separates_powers_of_two():
    rows = _synthetic([2, 3, 4, 6, 8, 12, 16], [2, 4], lambda T, d: 2 ** (2 * math.ceil(math.log2(T))) * d)
    fits = summarize(rows)["qsa"]["A-mono"][1]["cnot"]["T_at_fixed_d"]
    pow2 = [f for f in fits if f["subset"] == "pow2"]
    every = [f for f in fits if f["subset"] == "all"]
    assert all(f["exponent"] == pytest.approx(2.0) and f["rms_residual"] < 1e-9 for f in pow2)
    assert all(f["rms_residual"] > 0.05 for f in every)  # the padding staircase shows in the residuals


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"circuits": ("A-mono", "C")}, ValueError, "circuits must be"),
        ({"d": (2, 6)}, ValueError, "d must be a power of two"),
        ({"T": ()}, ValueError, "must be non-empty"),
        ({"backends": ("falcon",)}, ValueError, "backends must be"),
        ({"k": (1.0,)}, TypeError, "k must be a sequence of integers"),
    ],
)
def test_bad_config(kwargs, error, match):
    with pytest.raises(error, match=match):
        SweepConfig(**kwargs)


def test_config_from_dict_refuses_unknown_keys_and_orders_shapes():
    with pytest.raises(ValueError, match="unknown"):
        SweepConfig.from_dict({"T": [2], "Ts": [4]})
    config = SweepConfig.from_dict({"circuits": ["B", "A-poly"], "T": [4], "d": [2], "k": [1], "all_variants": False})
    assert [(s.label, v) for s, v in grid(config)] == [("B", "P0"), ("A-poly", "mu")]
    assert SweepConfig.from_dict(config.as_dict()) == config


def test_config_reads_the_old_key_families_with_a_deprecation_warning():
    with pytest.deprecated_call(match="families"):
        config = SweepConfig.from_dict({"families": ["B"], "T": [4], "d": [2], "k": [1]})
    assert config.circuits == ("B",)
