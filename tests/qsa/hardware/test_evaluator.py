"""Batched parameter-shift gradients: exact mode equals the analytic gradient; shots agree within errors.

The evaluator contract (``evaluator(params, X, Y, *, k, kernel, beta) -> Observables``) is checked
against the analytic tier with ``W = ansatz_unitary(theta_W)``, ``V = ansatz_unitary(theta_V)``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from support import N_SIGMA, TOL_GRAD, TOL_STATE, binomial_pairs, random_states

from qsa import analytic
from qsa.ansatz import ansatz_unitary
from qsa.hardware import ExactRunner, HardwareEvaluator, SamplerRunner, aer_sampler_runner, programs
from qsa.hardware.runners import Pub, RunJob, Runner

FIELDS = ("mu", "zeta", "nu", "F", "L_B", "L_A", "L_half", "L_1", "p")


def _instance(seed, S, T, d, L, phi_mode):
    rng = np.random.default_rng(seed)
    n = d.bit_length() - 1
    X = torch.as_tensor(random_states(rng, S, T, d))
    Y = torch.as_tensor(random_states(rng, S, T, d))
    params = {
        "theta_W": torch.tensor(rng.normal(size=(L, n, 3)), requires_grad=True),
        "theta_V": torch.tensor(rng.normal(size=(L, n, 3)), requires_grad=True),
    }
    if phi_mode == "shared":
        params["phi"] = torch.tensor(rng.uniform(-np.pi, np.pi, size=T), requires_grad=True)
    elif phi_mode == "per-sequence":
        params["phi"] = torch.tensor(rng.uniform(-np.pi, np.pi, size=(S, T)), requires_grad=True)
    return X, Y, params


def _analytic(params, X, Y, k, kernel):
    W, V = ansatz_unitary(params["theta_W"]), ansatz_unitary(params["theta_V"])
    return analytic.observables(X, Y, W, V, k=k, kernel=kernel, phases=params.get("phi"))


def _weighted(obs, weights):
    """A random linear functional of every field (so one gradient checks every Jacobian)."""
    return sum((w * getattr(obs, f)).sum() for f, w in weights.items())


@pytest.fixture(scope="module")
def exact():
    return HardwareEvaluator(ExactRunner())


@pytest.mark.parametrize(
    "T, d, k, kernel, L, phi_mode",
    [
        (3, 2, 2, "mono", 1, "shared"),
        (3, 2, 2, "poly", 1, "per-sequence"),
        (4, 4, 1, "mono", 2, None),
        (2, 2, 3, "poly", 1, "shared"),
        (5, 2, 1, "mono", 1, "per-sequence"),
        (1, 2, 1, "mono", 1, "shared"),
    ],
)
def test_exact_mode_values_and_gradients_equal_the_analytic_ones(exact, T, d, k, kernel, L, phi_mode):
    S = 2
    X, Y, params = _instance(100 * T + 10 * d + k, S, T, d, L, phi_mode)
    got = exact(params, X, Y, k=k, kernel=kernel, beta=None)
    want = _analytic(params, X, Y, k, kernel)
    for f in FIELDS:
        np.testing.assert_allclose(
            getattr(got, f).detach().numpy(), getattr(want, f).detach().numpy(), rtol=0, atol=TOL_STATE, err_msg=f
        )
    rng = np.random.default_rng(0)
    weights = {
        f: torch.as_tensor(rng.normal(size=getattr(want, f).shape)) for f in FIELDS if f not in ("mu", "zeta", "nu")
    }
    leaves = list(params.values())
    g_got = torch.autograd.grad(_weighted(got, weights), leaves)
    g_want = torch.autograd.grad(_weighted(want, weights), leaves)
    for name, a, b in zip(params, g_got, g_want):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=TOL_GRAD, err_msg=name)
    assert len(exact.job_ids) >= 1


def test_exact_mode_circuit_b_gradient(exact):
    X, Y, params = _instance(5, 2, 3, 2, 1, "shared")
    ev = HardwareEvaluator(exact.runner, circuit="B")
    got = ev(params, X, Y, k=2)
    W, V = ansatz_unitary(params["theta_W"]), ansatz_unitary(params["theta_V"])
    want = analytic.superposition_P0(X, Y, W, V, k=2, phases=params["phi"])
    np.testing.assert_allclose(got.P0.detach().numpy(), want.detach().numpy(), rtol=0, atol=TOL_STATE)
    leaves = list(params.values())
    for a, b in zip(
        torch.autograd.grad(got.L_half_circuit.sum(), leaves), torch.autograd.grad(-torch.log(want).sum(), leaves)
    ):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=TOL_GRAD)


def test_one_job_per_call_holds_every_shift_of_every_sequence(exact):
    X, Y, params = _instance(3, 3, 3, 2, 1, "shared")
    seen = []
    ev = HardwareEvaluator(exact.runner, on_job=lambda job_id, info: seen.append(info))
    obs = ev(params, X, Y, k=2)
    obs.L_B.sum().backward()
    prog = programs.program(programs.Shape("A", 3, 2, 2, "mono", None, 1, 1, True))
    assert seen[-1]["parameter_sets"] == [3 * prog.templates[v].rows_per_sequence for v in ("mu", "zeta", "nu")]
    with torch.no_grad():
        ev(params, X, Y, k=2)
    assert seen[-1]["parameter_sets"] == [3, 3, 3] and not seen[-1]["gradient"]


# --- shots --------------------------------------------------------------------------------------


def _rows(runner, ev, shape, params_np, X, Y):
    """Cell probabilities of every row (unshifted and shifted) per variant: (S, rows, cells)."""
    prog = programs.program(shape)
    bindings = prog.bindings(params_np, X, Y, gradient=True)
    cells = runner.run([Pub(ev.compiled(shape, v), bindings[v]) for v in shape.variants])
    return {v: c.reshape(X.shape[0], prog.templates[v].rows_per_sequence, -1) for v, c in zip(shape.variants, cells)}


def _cells_vector(rows, T):
    return np.concatenate([rows["mu"][..., :1], rows["zeta"][..., :T], rows["nu"][..., :T]], axis=-1)


def _multinomial_cov(pi, shots):
    return (np.einsum("...i,ij->...ij", pi, np.eye(pi.shape[-1])) - pi[..., :, None] * pi[..., None, :]) / shots


def test_shot_gradients_lie_within_their_standard_errors():
    """Cell Jacobians and the L_B gradient from SamplerV2 counts, against exact mode, in units of
    their standard errors (computed from the exact probabilities of every row)."""
    shots, S, T, d, k = 4000, 2, 3, 2, 2
    X, Y, params = _instance(11, S, T, d, 1, "shared")
    sampled = HardwareEvaluator(aer_sampler_runner(shots=shots, seed=2024))
    exact_ev = HardwareEvaluator(ExactRunner())
    obs = sampled(params, X, Y, k=k)
    leaves = list(params.values())
    g_shots = torch.cat([g.reshape(-1) for g in torch.autograd.grad(obs.L_B.sum(), leaves)]).numpy()

    shape = programs.Shape("A", T, d, k, "mono", None, 1, 1, True)
    prog = programs.program(shape)
    p_np = {n: v.detach().numpy() for n, v in params.items()}
    Xn, Yn = X.numpy(), Y.numpy()
    exact_rows = _rows(exact_ev.runner, exact_ev, shape, p_np, Xn, Yn)
    sampled_rows = _rows(sampled.runner, sampled, shape, p_np, Xn, Yn)
    coef = {v: prog.templates[v].coefficients for v in shape.variants}

    # 1. every component of every cell Jacobian
    for v in shape.variants:
        J_hat = np.einsum("rp,src->scp", coef[v], sampled_rows[v])
        J = np.einsum("rp,src->scp", coef[v], exact_rows[v])
        pi = exact_rows[v]
        var = np.einsum("rp,src->scp", coef[v] ** 2, pi * (1 - pi) / shots)
        nonzero = var > 0
        z = (J_hat - J)[nonzero] / np.sqrt(var[nonzero])
        assert np.all(np.abs(z) < N_SIGMA), (v, np.abs(z).max())
        assert np.all((J_hat - J)[~nonzero] == 0)

    # 2. the L_B gradient: shifted rows (through dL/dcells) + unshifted rows (through d2L/dcells2)
    def L_B(q):
        return analytic.observables_from_probabilities(q[0], q[1 : T + 1], q[T + 1 :]).L_B

    q = torch.as_tensor(_cells_vector({v: exact_rows[v][:, 0] for v in exact_rows}, T))  # (S, 1 + 2T)
    slices = {"mu": slice(0, 1), "zeta": slice(1, T + 1), "nu": slice(T + 1, 2 * T + 1)}
    var = np.zeros(prog.n_trainable)
    g_exact = np.zeros(prog.n_trainable)
    for s in range(S):
        a = torch.func.grad(L_B)(q[s]).numpy()
        H = torch.func.hessian(L_B)(q[s]).numpy()
        J = np.zeros((1 + 2 * T, prog.n_trainable))
        for v in shape.variants:
            J[slices[v]] = np.einsum("rp,rc->cp", coef[v], exact_rows[v][s])[: slices[v].stop - slices[v].start]
            cells = exact_rows[v][s][:, : slices[v].stop - slices[v].start]  # (rows, cells)
            cov_rows = _multinomial_cov(cells, shots)  # (rows, c, c)
            av = a[slices[v]]
            var += np.einsum("rp,r->p", coef[v] ** 2, np.einsum("c,rcd,d->r", av, cov_rows, av))
        cov_base = np.zeros((1 + 2 * T, 1 + 2 * T))
        for v in shape.variants:
            cov_base[slices[v], slices[v]] = _multinomial_cov(
                exact_rows[v][s, 0, : slices[v].stop - slices[v].start], shots
            )
        u = H @ J  # (cells, params)
        var += np.einsum("cp,cd,dp->p", u, cov_base, u)
        g_exact += a @ J
    # phi is shared: the flat layout sums sequences already; theta entries likewise
    z = (g_shots - g_exact) / np.sqrt(var)
    assert np.all(np.abs(z) < N_SIGMA), np.abs(z).max()
    assert np.abs(z).max() > 0.05  # the estimate is noisy: a sampled, not an exact, gradient


def test_runtime_primitives_plug_in_in_local_testing_mode():
    """qiskit_ibm_runtime's server-side SamplerV2 (deprecated in 0.50) and client-side executor
    Sampler, in local testing mode on an AerSimulator, give estimates within their error bars."""
    from qiskit_aer import AerSimulator
    from qiskit_ibm_runtime import SamplerV2
    from qiskit_ibm_runtime.executor_sampler import Sampler

    from qsa.backends.aer import pass_manager

    shots, S, T, d, k = 20_000, 2, 3, 2, 1
    X, Y, params = _instance(21, S, T, d, 1, "shared")
    want = _analytic(params, X, Y, k, "mono")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        legacy = SamplerV2(mode=AerSimulator())
    for sampler in (legacy, Sampler(mode=AerSimulator())):
        sampler.options.simulator.seed_simulator = 99
        ev = HardwareEvaluator(SamplerRunner(sampler, shots=shots, pass_manager=pass_manager()))
        est = ev.estimate(params, X, Y, k=k)
        for f, z in est.z_scores(want, ("mu", "zeta", "nu", "F", "L_B", "L_A", "L_half", "L_1")).items():
            assert np.all(np.abs(z) < N_SIGMA), (type(sampler).__module__, f, z)
        assert est.shots == shots and np.all(est.stderr.L_B > 0)


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, error, message",
    [
        (lambda p: p.update(theta_w=p.pop("theta_W")), ValueError, r"params must hold only .*; got also \['theta_w'\]"),
        (lambda p: p.pop("theta_V"), ValueError, "params must hold 'theta_V'"),
        (
            lambda p: p.update(theta_W=p["theta_W"][None]),
            ValueError,
            r"params\['theta_W'\] must have shape \(L, 1, 3\)",
        ),
        (lambda p: p.update(theta_V=p["theta_V"].numpy()), TypeError, r"params\['theta_V'\] must be a torch tensor"),
        (
            lambda p: p.update(phi=torch.zeros(5, dtype=torch.float64)),
            ValueError,
            r"params\['phi'\] must have shape \(3,\) or \(2, 3\)",
        ),
        (lambda p: p.update(phi=torch.full((3,), float("nan"), dtype=torch.float64)), ValueError, "must be finite"),
    ],
)
def test_bad_params_are_refused_before_any_job(exact, change, error, message):
    X, Y, params = _instance(1, 2, 3, 2, 1, "shared")
    params = {k: v.detach() for k, v in params.items()}
    change(params)
    before = len(exact.job_ids)
    with pytest.raises(error, match=message):
        exact(params, X, Y, k=1)
    assert len(exact.job_ids) == before


def test_bad_data_and_options_are_refused(exact):
    X, Y, params = _instance(1, 2, 3, 2, 1, None)
    with pytest.raises(ValueError, match="X must have unit-norm rows"):
        exact(params, 2 * X, Y, k=1)
    with pytest.raises(ValueError, match="Y must have the shape of X"):
        exact(params, X, Y[:, :2], k=1)
    with pytest.raises(ValueError, match="kernel must be one of"):
        exact(params, X, Y, k=1, kernel="exp")
    with pytest.raises(ValueError, match="kernel must be 'mono' for circuit B"):
        HardwareEvaluator(exact.runner, circuit="B")(params, X, Y, k=1, kernel="poly")
    with pytest.raises(TypeError, match="runner must be a qsa.hardware.runners.Runner"):
        HardwareEvaluator("aer")


# --- gradients w.r.t. the tokens (issue 11, case 4) ------------------------------------------------


def _normalised(A: torch.Tensor) -> torch.Tensor:
    """A normalising map in front of the evaluator, as every embedding and projector has."""
    return A / torch.linalg.vector_norm(A, dim=-1, keepdim=True)


@pytest.mark.parametrize(
    "circuit, T, d, k, kernel, phi_mode",
    [
        ("A", 3, 2, 1, "mono", "shared"),
        ("B", 3, 2, 1, "mono", "per-sequence"),
        pytest.param("A", 2, 4, 2, "poly", None, marks=pytest.mark.slow),
        pytest.param("A", 1, 2, 2, "mono", "shared", marks=pytest.mark.slow),
        pytest.param("B", 2, 4, 1, "mono", None, marks=pytest.mark.slow),
    ],
)
def test_exact_mode_token_gradients_equal_the_analytic_ones(exact, circuit, T, d, k, kernel, phi_mode):
    """The tokens' gradient by great-circle shifts (one job with the angles' shifts) equals autograd
    of the analytic tier through a normalising map, for every field; the case where HardwareEvaluator
    used to detach X and Y and return no token gradient at all."""
    S = 2
    X, Y, params = _instance(7 * T + d + k, S, T, d, 1, phi_mode)
    Xr, Yr = X.clone().requires_grad_(True), Y.clone().requires_grad_(True)
    leaves = [Xr, Yr, *params.values()]
    rng = np.random.default_rng(1)
    if circuit == "A":
        got = exact(params, _normalised(Xr), _normalised(Yr), k=k, kernel=kernel, beta=None)
        want = _analytic(params, _normalised(Xr), _normalised(Yr), k, kernel)
        fields = [f for f in FIELDS if f not in ("mu", "zeta", "nu")]
        weights = {f: torch.as_tensor(rng.normal(size=getattr(want, f).shape)) for f in fields}
        g_got = torch.autograd.grad(_weighted(got, weights), leaves)
        g_want = torch.autograd.grad(_weighted(want, weights), leaves)
    else:
        got = HardwareEvaluator(exact.runner, circuit="B")(params, _normalised(Xr), _normalised(Yr), k=k)
        W, V = ansatz_unitary(params["theta_W"]), ansatz_unitary(params["theta_V"])
        P0 = analytic.superposition_P0(_normalised(Xr), _normalised(Yr), W, V, k=k, phases=params.get("phi"))
        g_got = torch.autograd.grad(got.L_half_circuit.sum(), leaves)
        g_want = torch.autograd.grad(-torch.log(P0).sum(), leaves)
    for name, a, b in zip(["X", "Y", *params], g_got, g_want):
        # not trivially zero (at T = 1 W drops out, and one shared phase is a global phase)
        assert float(b.abs().max()) > 1e-3 or (T == 1 and name in ("theta_W", "phi")), name
        np.testing.assert_allclose(a.resolve_conj(), b.resolve_conj(), rtol=0, atol=TOL_GRAD, err_msg=name)


def _text_models(backend_overrides, seed=0):
    from pathlib import Path

    from qsa.training import load_config
    from qsa.training.data import build_dataset
    from qsa.training.families import build_model

    smoke = Path(__file__).resolve().parents[3] / "experiments" / "classical" / "text_smoke.toml"
    common = ["data.T=3", "model.d=2", "data.max_train=2"]
    models = []
    for overrides in (["model.backend=analytic"], backend_overrides):
        config = load_config(smoke, [*common, *overrides])
        data_seed, model_seed, _ = np.random.SeedSequence(config.seed).spawn(3)
        dataset = build_dataset(config, np.random.default_rng(data_seed))
        models.append(build_model(config, dataset, seed=np.random.default_rng(model_seed)))
    batch = dataset.train
    return models, batch


def _gradients(model, batch):
    model.zero_grad()
    model.loss(batch, "nll").backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad}


def test_a_text_model_with_a_trainable_embedding_trains_on_aer_with_the_analytic_gradient():
    """Issue 11's acceptance, exact: backend "aer" (ExactRunner, parameter shift for the angles and
    great-circle shifts for the tokens, one job per step) gives the analytic tier's gradient for every
    parameter: the embedding, the output rotation and the ansatz angles."""
    (analytic_model, aer_model), batch = _text_models(["model.backend=aer"])
    assert "HardwareEvaluator" in repr(aer_model.evaluator)
    want, got = _gradients(analytic_model, batch), _gradients(aer_model, batch)
    assert set(want) == set(got) and {"embedding.embedding_raw", "embedding.rotation_raw"} <= set(got)
    for name in want:
        assert float(want[name].abs().max()) > 1e-4, name
        np.testing.assert_allclose(got[name], want[name], rtol=0, atol=TOL_GRAD, err_msg=name)


@pytest.mark.slow
def test_a_text_model_with_a_trainable_embedding_on_aer_with_shots_has_gradients_within_errors():
    """Issue 11's acceptance, shots: Aer's SamplerV2 at 4000 shots, 16 sampling seeds; the mean gradient
    of every parameter lies within N_SIGMA standard errors of the analytic one (fixed seeds)."""
    repeats = 16
    runs = []
    for seed in range(repeats):
        (analytic_model, aer_model), batch = _text_models(
            ["model.backend=aer", "model.shots=4000", f"model.shot_seed={seed}"]
        )
        runs.append(_gradients(aer_model, batch))
    want = _gradients(analytic_model, batch)
    for name in want:
        samples = torch.stack([r[name] for r in runs]).numpy()  # (repeats, ...)
        mean, se = samples.mean(0), samples.std(0, ddof=1) / np.sqrt(repeats)
        z = (mean - want[name].numpy()) / se
        assert np.all(np.abs(z) < N_SIGMA), (name, z)


class _Done:
    def __init__(self, cells):
        self.cells = cells

    def job_id(self):
        return "every-outcome"

    def result(self):
        return self.cells


class _EveryOutcome(Runner):
    """Exact rows (an :class:`ExactRunner`) for ``S`` copies of one sequence, with the unshifted row of the zeta
    and nu circuits replaced, copy by copy, by given frequencies ``(S,)`` (one outcome of the counts each):
    the evaluator's output over every outcome of its counts in one call, with exact parameter shifts."""

    def __init__(self, frequencies, shots):
        self.exact, self.frequencies, self.shots = ExactRunner(), frequencies, shots

    def compile(self, template, *, n_index, n_zero):
        return self.exact.compile(template, n_index=n_index, n_zero=n_zero)

    def submit(self, pubs, *, key=None):
        S = len(self.frequencies["nu"])
        rows = [len(p.values) // S for p in pubs]
        assert all(
            np.array_equal(p.values.reshape(S, r, -1), np.broadcast_to(p.values[:r], (S, r, p.values.shape[1])))
            for p, r in zip(pubs, rows)
        )  # the copies are the same sequence
        one = self.exact.run([Pub(p.compiled, p.values[:r]) for p, r in zip(pubs, rows)])
        cells = []
        for variant, c in zip(("mu", "zeta", "nu"), one):
            c = np.repeat(c[None], S, axis=0)  # (S, rows, 2^c)
            if variant in self.frequencies:
                c[:, 0, 0] = self.frequencies[variant]
            cells.append(c.reshape(-1, c.shape[-1]))
        return RunJob(_Done(cells), tuple(pubs), lambda result, pubs: result, self.shots)


def test_the_mean_shot_gradient_near_p_1_is_that_of_the_unbounded_smoothed_cells():
    """T = 1, d = 2, y at p_0 = 0.9 from the prediction, 12 shots: the sampled nu_0 exceeds zeta_0 in about a
    quarter of the draws (the bound makes p_0 = 1 there). The exact mean of the evaluator's L_1 gradient over
    every outcome of the two counts (weighted by its binomial probability; exact parameter shifts) must be
    E[-1 / tilde nu] d nu / d theta + E[1 / tilde zeta] d zeta / d theta (L_1 = -log(nu / zeta), T = 1), the
    derivatives from the analytic tier. Before the fix the bound cut the gradient wherever it was active."""
    rng = np.random.default_rng(0)
    params = {n: torch.tensor(rng.normal(size=(1, 1, 3)), requires_grad=True) for n in ("theta_W", "theta_V")}
    X = torch.as_tensor(random_states(rng, 1, 1, 2))
    W, V = ansatz_unitary(params["theta_W"]), ansatz_unitary(params["theta_V"])
    z = analytic.predictions(X, W, V, k=1).detach().numpy()[0, 0]
    z = z / np.linalg.norm(z)
    Y = torch.as_tensor((np.sqrt(0.9) * z + np.sqrt(0.1) * np.array([-z[1].conj(), z[0].conj()]))[None, None])
    exact = analytic.observables(X, Y, W, V, k=1)
    assert float(exact.p.detach()[0, 0]) == pytest.approx(0.9, rel=1e-12)
    N = 12
    zeta, nu, weights, inverse = binomial_pairs(N, float(exact.zeta.detach()[0]), float(exact.nu.detach()[0]))
    S = len(weights)
    assert 0.15 < weights @ (nu > zeta) < 0.5  # the bound is active in a good part of the draws
    evaluator = HardwareEvaluator(_EveryOutcome({"zeta": zeta, "nu": nu}, N))
    obs = evaluator(params, X.expand(S, 1, 2), Y.expand(S, 1, 2), k=1)
    got = torch.autograd.grad((torch.as_tensor(weights) * obs.L_1).sum(), list(params.values()))
    leaves = list(params.values())
    slopes = [
        [torch.zeros_like(p) if g is None else g for p, g in zip(leaves, grads)]
        for grads in (
            torch.autograd.grad(getattr(exact, c).sum(), leaves, retain_graph=True, allow_unused=True)
            for c in ("nu", "zeta")
        )
    ]
    for g, d_nu, d_zeta in zip(got, *slopes):
        want = -inverse["second"] * d_nu + inverse["first"] * d_zeta
        np.testing.assert_allclose(g.numpy(), want.numpy(), rtol=0, atol=TOL_GRAD)


def test_the_parameter_arrays_of_a_job_are_counted_and_refused_before_they_are_allocated(monkeypatch):
    """Program.binding_bytes is the size of what Program.bindings returns (circuits A and B, with and without
    token gradients); a job whose arrays cannot fit (circuit B at T = 2, token gradients through the
    d^(k+1) = 64 amplitude superposition load: 66 MiB for 8 sequences, the circuit itself 3.3 MiB) is refused
    with 8 MiB available, before they are allocated."""
    from qsa import preflight

    rng = np.random.default_rng(5)
    for circuit, T, d, k, data in (("A", 2, 2, 1, ("x", "y")), ("B", 2, 4, 1, ("x", "psi"))):
        shape = programs.Shape(circuit, T, d, k, "mono", None, 1, 1, False)
        prog = programs.program(shape)
        X, Y = (random_states(rng, 3, T, d) for _ in "XY")
        params = {n: rng.normal(size=(1, d.bit_length() - 1, 3)) for n in ("theta_W", "theta_V")}
        for gradient, names in ((False, ()), (True, ()), (True, data)):
            arrays = prog.bindings(params, X, Y, gradient=gradient, data=names)
            assert prog.binding_bytes(3, gradient=gradient, data=names) == sum(a.nbytes for a in arrays.values())
    monkeypatch.setattr(preflight, "available_memory", lambda: (8 * 2**20, "a test's machine"))
    monkeypatch.setattr(programs.Program, "bindings", lambda *a, **k: pytest.fail("allocated before the check"))
    X = torch.as_tensor(random_states(rng, 8, 2, 4)).requires_grad_(True)
    params = {n: torch.zeros(1, 2, 3, dtype=torch.float64, requires_grad=True) for n in ("theta_W", "theta_V")}
    evaluator = HardwareEvaluator(ExactRunner(), circuit="B")
    with pytest.raises(preflight.ResourceError, match=r"one job's parameter arrays \(circuit B.*token gradients"):
        evaluator(params, X, X.detach(), k=2)
