"""Error suppression and mitigation from the config to the runtime primitive, the journal and the results."""

from __future__ import annotations

import json
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest

from qsa import cli
from qsa.hardware import submission
from qsa.hardware.estimators import estimate
from qsa.hardware.mitigation import ALL, NONE, Mitigation

ROOT = Path(__file__).resolve().parents[3]
SMOKE = ROOT / "experiments" / "hardware" / "smoke.toml"
SMALL = ROOT / "experiments" / "hardware" / "tfim_small.toml"


def test_words_tables_and_labels():
    assert Mitigation.parse("none") == NONE and Mitigation.parse("all") == ALL
    m = Mitigation.parse("dd-XpXm+twirl-gates+trex")
    assert (m.dynamical_decoupling, m.twirl_gates, m.twirl_measure, m.trex) == ("XpXm", True, False, True)
    assert m.label() == "dd-XpXm+twirl-gates+trex" and m.estimator and not NONE.enabled
    assert Mitigation.from_dict(m.as_dict()) == m
    assert Mitigation.from_dict({"dynamical_decoupling": "none", "trex": True}) == Mitigation(trex=True)
    with pytest.raises(ValueError, match="mitigation must be 'none', 'all' or"):
        Mitigation.parse("zne")
    with pytest.raises(ValueError, match=r"\[mitigation\] keys must be among"):
        Mitigation.from_dict({"pec": True})
    with pytest.raises(ValueError, match="dynamical_decoupling must be one of"):
        Mitigation(dynamical_decoupling="XYZ")
    with pytest.raises(TypeError, match="twirl_gates must be true or false"):
        Mitigation(twirl_gates="yes")


def test_options_land_on_the_runtime_primitives():
    from qiskit_aer import AerSimulator
    from qiskit_ibm_runtime import EstimatorV2, SamplerV2
    from qiskit_ibm_runtime.executor_estimator import Estimator
    from qiskit_ibm_runtime.executor_sampler import Sampler

    m = Mitigation("XY4", True, True, 8, False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        samplers = [Sampler(mode=AerSimulator()), SamplerV2(mode=AerSimulator())]
        estimators = [Estimator(mode=AerSimulator()), EstimatorV2(mode=AerSimulator())]
    for primitive in samplers:
        o = m.apply(primitive).options
        assert o.dynamical_decoupling.enable and o.dynamical_decoupling.sequence_type == "XY4"
        assert o.twirling.enable_gates and o.twirling.enable_measure and o.twirling.num_randomizations == 8
        with pytest.raises(ValueError, match="mitigation.trex must run on an Estimator"):
            ALL.apply(primitive)
    for primitive in estimators:
        o = ALL.apply(primitive).options
        assert o.resilience_level == 0 and o.resilience.measure_mitigation is True
        assert o.twirling.enable_measure and o.dynamical_decoupling.sequence_type == "XY4"


def test_the_config_section_round_trips_and_is_checked(tmp_path):
    table = tomllib.loads(SMOKE.read_text())
    table["mitigation"] = {"dynamical_decoupling": "XX", "twirl_gates": True}
    config = submission.SubmitConfig.from_dict(table)
    assert config.mitigation == Mitigation("XX", twirl_gates=True)
    assert submission.SubmitConfig.from_dict(tomllib.loads(config.to_toml())) == config
    with pytest.raises(ValueError, match="run.gradient must be false with mitigation.trex"):
        config.replace(gradient=True, mitigation=ALL)


def test_estimator_cells_carry_their_own_covariance():
    """With ``covariance`` the delta method uses it: mu's error as given, L_B's through d L_B / d mu."""
    rng = np.random.default_rng(0)
    T = 3
    cells = {"mu": rng.uniform(0.1, 0.3, (2, 1)), "zeta": rng.uniform(0.05, 0.2, (2, 4))}
    cells["nu"] = cells["zeta"] * 0.5
    se_mu = np.array([0.01, 0.02])
    cov = {"mu": se_mu[:, None, None] ** 2, "zeta": np.zeros((2, 4, 4)), "nu": np.zeros((2, 4, 4))}
    est = estimate(cells, T=T, shots=1000, covariance=cov)  # cells in range: taken as they are
    np.testing.assert_allclose(est.stderr.mu, se_mu, rtol=1e-12)
    h = 1e-6
    up = estimate({**cells, "mu": cells["mu"] + h}, T=T, shots=None).value.L_B
    down = estimate({**cells, "mu": cells["mu"] - h}, T=T, shots=None).value.L_B
    np.testing.assert_allclose(est.stderr.L_B, np.abs((up - down) / (2 * h)) * se_mu, rtol=1e-6)
    p0 = estimate({"P0": np.array([[0.4]])}, T=T, shots=1000, covariance={"P0": np.array([[[0.05**2]]])})
    np.testing.assert_allclose(p0.stderr.L_half_circuit, [0.05 / 0.4], rtol=1e-12)
    with pytest.raises(ValueError, match="shots must be the shots per parameter set when covariance is given"):
        estimate(cells, T=T, shots=None, covariance=cov)


def test_mitigated_cells_out_of_range_give_finite_estimates_in_range():
    """Readout mitigation can return a cell <= 0 or > 1 (here mu = 0, zeta_1 = -0.01, nu_0 > zeta_0, P0 = -0.02
    and 1.03): each is clipped to [1/2 / (shots + 1), 1], so every value is finite and in its range, and the
    error bars are those of the measured covariance at the clipped cells (not 0, not NaN)."""
    from qsa.hardware.estimators import mitigation_floor

    T, shots = 2, 1000
    floor = mitigation_floor(shots)
    assert floor == 0.5 / (shots + 1)
    cells = {"mu": np.array([[0.0], [0.2]]), "zeta": np.array([[0.3, -0.01], [0.2, 1.2]])}
    cells["nu"] = np.array([[0.35, 0.0], [0.1, 0.3]])
    se = 0.01
    cov = {v: np.broadcast_to(se**2 * np.eye(c.shape[1]), (2, c.shape[1], c.shape[1])) for v, c in cells.items()}
    est = estimate(cells, T=T, shots=shots, covariance=cov)
    v, e = est.value, est.stderr
    assert v.mu[0] == floor and v.zeta[0] == pytest.approx(0.3 + floor, rel=1e-15)
    assert v.zeta[1] == pytest.approx(1.2, rel=1e-15)  # 0.2 + 1 (zeta_1 = 1.2 clipped to 1)
    for field in ("mu", "zeta", "nu", "F", "L_B", "L_A", "L_half", "L_1", "p"):
        assert np.all(np.isfinite(getattr(v, field))) and np.all(getattr(e, field) > 0), field
    assert np.all((v.p > 0) & (v.p <= 1)) and np.all((v.F > 0) & (v.F <= 1))
    assert all(np.all(getattr(v, f) >= 0) for f in ("L_B", "L_A", "L_half", "L_1"))
    assert v.p[0, 0] == 1.0 and v.p[0, 1] == 1.0  # nu_0 > zeta_0 bounded; nu_1 = zeta_1 = floor
    np.testing.assert_allclose(e.mu, se, rtol=1e-12)  # the clip keeps the measured error bar
    zeta = 0.3 + floor  # L_B = -log(mu / zeta) + const: d/d mu = -1/mu, d/d zeta_j = 1/zeta for both j
    np.testing.assert_allclose(e.L_B[0], se * np.sqrt(1 / floor**2 + 2 / zeta**2), rtol=1e-12)
    p0 = estimate({"P0": np.array([[-0.02], [1.03]])}, T=T, shots=shots, covariance={"P0": np.full((2, 1, 1), se**2)})
    np.testing.assert_array_equal(p0.value.P0, [floor, 1.0])
    np.testing.assert_allclose(p0.value.L_half_circuit, [-np.log(floor), 0.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p0.stderr.L_half_circuit, [se / floor, se], rtol=1e-12)


@pytest.mark.parametrize("n_index, n_zero", [(0, 3), (2, 2), (1, 4)])
def test_cells_from_z_terms_have_the_multinomial_covariance_without_mitigation(n_index, n_zero):
    """Terms with their shot-noise stds (sqrt((1 - <Z_u>^2) / shots)) give back the cells' multinomial covariance."""
    from qsa.hardware.estimators import cell_covariance
    from qsa.hardware.mitigation import cell_coefficients, cells_from_terms

    rng = np.random.default_rng(n_index + 10 * n_zero)
    m, shots = n_index + n_zero, 1000
    probs = rng.dirichlet(np.ones(2**m), size=2)  # (B, 2^m) over bitstrings, wire r is bit m-1-r
    bits = (np.arange(2**m)[:, None] >> (m - 1 - np.arange(m))[None, :]) & 1  # (2^m, m)
    parity = np.array(
        [[(-1) ** bits[b, [r for r in range(m) if u >> r & 1]].sum() for u in range(2**m)] for b in range(2**m)]
    )
    evs = probs @ parity  # (B, 2^m): <Z_u>
    stds = np.sqrt(np.clip(1 - evs**2, 0, None) / shots)
    cells, cov = cells_from_terms(evs, stds, n_index=n_index, n_zero=n_zero, n_cells=2**n_index)
    want = probs.reshape(2, 2**n_index, 2**n_zero)[..., 0]
    np.testing.assert_allclose(cells, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(cov, cell_covariance(want, shots), rtol=0, atol=1e-12)
    assert cell_coefficients(n_index, n_zero, 2**n_index).shape == (2**n_index, 2**m)


def test_trex_plans_measure_projector_cells_on_the_isa_layout():
    from qsa.hardware.noise import fake_backend

    table = tomllib.loads(SMOKE.read_text())
    table["circuit"]["T"] = 2
    table["mitigation"] = {"trex": True}
    config = submission.SubmitConfig.from_dict(table)
    backend = fake_backend("fake_manila")
    plan = submission.make_plan(config, backend)
    assert plan.estimator and plan.summary()["mitigation"]["trex"] is True
    terms = {"mu": 2**4, "zeta": 2**3, "nu": 2**4}  # 2^m Z-strings on the m measured wires
    for variant, obs in plan.observables.items():
        assert len(obs) == terms[variant]
        assert all(o.num_qubits == backend.num_qubits and len(o) == 1 for o in obs)
        assert not any(inst.operation.name == "measure" for inst in plan.compiled[variant].isa.data)
    circuit, cells, values = plan.pubs(0)[1]
    assert len(cells) == terms["zeta"] and values.shape == (config.sequences, circuit.num_parameters)


def _train_small(root: Path) -> Path:
    from qsa.training import load_config, train

    overrides = ["train.optimizer=adam", "train.steps=2", "train.eval_every=1", "train.checkpoint_every=1"]
    return train(load_config(SMALL, overrides), out=root, plots=False).run_dir


def test_submit_run_dry_run_plans_with_and_without_mitigation(tmp_path, capsys):
    run = _train_small(tmp_path / "runs")
    args = ["submit", "--run", str(run), "--backend", "fake_lagos", "--channel", "local", "--out", str(tmp_path)]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "mitigation: none" in out and "mitigation: dd-XY4+twirl-gates+twirl-measure+trex (estimator cells)" in out
    assert "split 'test', 4 sequences" in out and "dry run: nothing was submitted" in out and "2 job(s)" in out
    assert cli.main(["submit", str(SMOKE), "--run", str(run), "--backend", "fake_torino", "--channel", "local"]) == 2
    assert "must be given a CONFIG or --run RUN_DIR" in capsys.readouterr().err
    assert cli.main([*args, "--split", "validation"]) == 2
    assert "split must be one of" in capsys.readouterr().err
    assert cli.main([*args, "--gradient"]) == 2
    assert "--gradient must not be given with --run" in capsys.readouterr().err


def test_config_mitigation_is_overridden_from_the_command_line(tmp_path, capsys):
    table = SMOKE.read_text().replace("T = 4", "T = 2")
    config = tmp_path / "small.toml"
    config.write_text(table + '\n[mitigation]\ndynamical_decoupling = "XX"\n')
    args = ["submit", str(config), "--backend", "fake_manila", "--channel", "local", "--out", str(tmp_path)]
    assert cli.main([*args, "--mitigation", "twirl", "--randomizations", "4"]) == 0
    assert "mitigation: twirl-gates+twirl-measure" in capsys.readouterr().out
    assert cli.main([*args, "--randomizations", "3"]) == 0
    assert "mitigation: dd-XX\n" in capsys.readouterr().out


@pytest.mark.slow
def test_submit_run_on_a_fake_backend_reports_L_B_with_and_without_mitigation(tmp_path, capsys):
    """The acceptance command of issue 12, offline: two runs (none; DD + twirling + TREX), journaled options."""
    run = _train_small(tmp_path / "runs")
    args = ["submit", "--run", str(run), "--backend", "fake_torino", "--channel", "local", "--submit"]
    assert cli.main([*args, "--shots", "1000", "--randomizations", "4", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "exact (analytic)" in out and "mitigation none" in out
    assert "mitigation dd-XY4+twirl-gates+twirl-measure+trex" in out
    dirs = sorted((tmp_path / "out").glob("submit-fake_torino*"))
    assert len(dirs) == 2
    for d in dirs:
        header = [json.loads(line) for line in (d / "journal.jsonl").read_text().splitlines()][0]
        results = json.loads((d / "results.json").read_text())
        assert header["mitigation"] == results["mitigation"] and results["source"]["split"] == "test"
        assert header["estimator"] == ("trex" in d.name) and np.all(np.asarray(results["stderr"]["L_B"]) > 0)


@pytest.mark.slow
def test_trex_cells_on_the_ideal_simulator_agree_with_the_exact_values(tmp_path, capsys):
    """The estimator path (projector cells on the ISA layout, TREX, restricted qubits) is unbiased without noise."""
    from qsa.hardware.trained import submission_inputs
    from qsa.training import load_run

    run = _train_small(tmp_path / "runs")
    args = ["submit", "--run", str(run), "--backend", "fake_torino", "--channel", "local", "--submit"]
    args += ["--local-simulator", "ideal", "--mitigation", "trex", "--no-baseline", "--out", str(tmp_path / "out")]
    assert cli.main(args) == 0
    (d,) = (tmp_path / "out").glob("submit-fake_torino-trex*")
    results = json.loads((d / "results.json").read_text())
    _, _, _, exact = submission_inputs(load_run(run), split="test")
    for field in ("mu", "zeta", "nu", "L_B"):
        got, err = np.asarray(results["observables"][field]), np.asarray(results["stderr"][field])
        z = (got - getattr(exact, field).numpy()) / err
        assert np.all(np.abs(z) < 4), (field, z)


class _InProcess:
    """A provider that runs runtime primitives in this process on a restricted device simulator (local mode)."""

    kind = "in-process"

    def __init__(self, device: str, *, ideal: bool):
        from qsa.hardware.noise import fake_backend

        self.device, self.ideal, self.jobs = fake_backend(device), ideal, {}

    def backend(self, name):
        return self.device

    def record(self):
        return {"kind": self.kind}

    def submit(self, backend, chunks, *, shots, seed_simulator=None, on_submitted=None, estimator=False, **options):
        from qsa.hardware import noise
        from qsa.hardware.providers import _run, make_primitive

        ids = []
        for c, pubs in enumerate(chunks):
            union = sorted(set().union(*(noise.active_qubits(p[0]) for p in pubs)))
            small = [
                (noise.restrict_circuit(p[0], union), noise.restrict_observables(p[1], union), *p[2:]) for p in pubs
            ]
            sim = noise.noisy_simulator(self.device, union)
            if self.ideal:
                sim.set_options(noise_model=None)
            primitive = make_primitive(
                "executor", sim, shots=shots, estimator=estimator, mitigation=options.get("mitigation"),
                seed_simulator=seed_simulator,
            )  # fmt: skip
            job = _run(primitive, small, shots)
            ids.append(str(job.job_id()))
            self.jobs[ids[-1]] = job
            if on_submitted is not None:
                on_submitted(c, ids[-1])
        return ids

    def job(self, job_id):
        return self.jobs[job_id]


def test_trex_cells_from_z_terms_end_to_end_in_process(tmp_path, capsys):
    """make_plan -> submit -> fetch with the runtime Estimator (TREX, twirled readout) on the ideal device:
    the estimates agree with the exact ones, and the options are in the journal and the results."""
    from qsa import analytic
    from qsa.ansatz import ansatz_unitary
    from qsa.hardware.cli import _print_comparison

    table = tomllib.loads(SMOKE.read_text())
    table["circuit"]["T"] = 2
    table["data"]["sequences"] = 1
    table["run"]["shots"] = 2000
    table["mitigation"] = {"trex": True, "randomizations": 2}
    config = submission.SubmitConfig.from_dict(table)
    provider = _InProcess("fake_manila", ideal=True)
    plan = submission.make_plan(config, provider.backend("fake_manila"))
    submission.submit(plan, provider, tmp_path, backend=provider.device)
    results = submission.fetch(tmp_path, provider=provider)
    header = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()][0]
    assert header["estimator"] and header["mitigation"]["trex"] and results["mitigation"] == header["mitigation"]
    X, Y, params = submission.load_inputs(config)
    import torch

    W, V = (ansatz_unitary(torch.as_tensor(params[n])) for n in ("theta_W", "theta_V"))
    exact = analytic.observables(X, Y, W, V, k=1, phases=params["phi"])
    for field in ("mu", "zeta", "nu", "L_B"):
        z = (np.asarray(results["observables"][field]) - getattr(exact, field).numpy()) / np.asarray(
            results["stderr"][field]
        )
        assert np.all(np.abs(z) < 4), (field, z)
    _print_comparison([("trex", results)], exact)
    assert "mitigation trex" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"inputs X and Y must have shape \(1, 2, 2\)"):
        submission.make_plan(config, provider.device, inputs=(X[:, :1], Y[:, :1], params))
    with pytest.raises(ValueError, match="data.source 'run' takes the tokens and angles of a training run"):
        submission.load_inputs(config.replace(data_source="run"))
