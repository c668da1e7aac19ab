"""Templates, occurrences, light cones and shift rules of the hardware programs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qsa.hardware import programs
from qsa.hardware.programs import FOUR_TERM, TWO_TERM, Shape, program


def _shape(**kw) -> Shape:
    base = dict(circuit="A", T=3, d=4, k=2, kernel="mono", beta=None, w_layers=1, v_layers=2, phases=True)
    base.update(kw)
    return Shape(**base)


@pytest.mark.parametrize("rule, frequencies", [(TWO_TERM, (1.0,)), (FOUR_TERM, (0.5, 1.0))])
def test_shift_rules_are_exact_on_their_spectrum(rule, frequencies):
    """f(t) = a + sum_w (b_w cos wt + c_w sin wt): the rule gives f'(t) exactly."""
    rng = np.random.default_rng(0)
    a, b, c = rng.normal(), rng.normal(size=len(frequencies)), rng.normal(size=len(frequencies))
    w = np.array(frequencies)

    def f(t):
        return a + np.sum(b * np.cos(w * t) + c * np.sin(w * t))

    for t in rng.uniform(-4, 4, size=5):
        exact = np.sum(-b * w * np.sin(w * t) + c * w * np.cos(w * t))
        got = sum(coef * f(t + s) for s, coef in zip(rule.shifts, rule.coefficients))
        assert abs(got - exact) < 1e-12


def test_each_copy_of_W_is_its_own_occurrence_and_poly_copies_use_the_four_term_rule():
    for kernel, rule in (("mono", TWO_TERM), ("poly", FOUR_TERM)):
        tpl = program(_shape(kernel=kernel, k=3)).templates["mu"]
        w = [o for o in tpl.occurrences if o.base == "theta_W"]
        assert sorted({o.split for o in w}) == ["theta_W@0", "theta_W@1", "theta_W@2"]
        assert len(w) == 3 * (1 * 2 * 3)  # k copies x (L n 3) angles
        assert {o.rule for o in w} == {rule}
        assert {o.rule for o in tpl.occurrences if o.base == "theta_V"} == {TWO_TERM}  # V is never controlled
        assert {o.rule for o in tpl.occurrences if o.base == "phi"} == {TWO_TERM}  # controlled phase


def test_light_cone_drops_V_from_zeta_only():
    prog = program(_shape())
    for variant, V_matters in (("mu", True), ("zeta", False), ("nu", True)):
        occ = [o for o in prog.templates[variant].occurrences if o.base == "theta_V"]
        assert occ and all(o.relevant == V_matters for o in occ), variant
    assert not [o for o in prog.templates["zeta"].occurrences if o.base == "phi"]  # phases live in mu only


def test_rows_per_sequence_count_every_shift():
    """mu: 2 shifts per angle of each of k copies of W, of V, and of each phase; four for poly copies."""
    L_W, L_V, n, k, T = 1, 2, 2, 2, 3
    mono = program(_shape())
    assert mono.templates["mu"].rows_per_sequence == 1 + 2 * (k * 3 * L_W * n) + 2 * 3 * L_V * n + 2 * T
    assert mono.templates["zeta"].rows_per_sequence == 1 + 2 * (k * 3 * L_W * n)
    poly = program(_shape(kernel="poly"))
    assert poly.templates["mu"].rows_per_sequence == 1 + 4 * (k * 3 * L_W * n) + 2 * 3 * L_V * n + 2 * T
    assert poly.n_trainable == 3 * L_W * n + 3 * L_V * n + T


def test_bindings_shift_one_column_per_row(rng):
    prog = program(_shape(d=2, k=1))
    S, T, d = 2, 3, 2
    X = np.exp(1j * rng.normal(size=(S, T, d))) / math.sqrt(d)
    params = {
        "theta_W": rng.normal(size=(1, 1, 3)),
        "theta_V": rng.normal(size=(2, 1, 3)),
        "phi": rng.normal(size=(S, T)),
    }
    arrays = prog.bindings(params, X, X, gradient=True)
    tpl = prog.templates["mu"]
    block = arrays["mu"].reshape(S, tpl.rows_per_sequence, -1)
    diff = block[:, 1:] - block[:, :1]
    assert np.all(np.count_nonzero(diff, axis=-1) == 1)
    cols, deltas = zip(*tpl.shift_rows)
    np.testing.assert_allclose(diff[0, np.arange(len(cols)), list(cols)], deltas)
    assert prog.bindings(params, X, X, gradient=False)["mu"].shape == (S, block.shape[-1])


def test_shape_checks_its_input():
    with pytest.raises(ValueError, match="circuit must be"):
        _shape(circuit="C")
    with pytest.raises(ValueError, match="power of two"):
        _shape(d=3)
    with pytest.raises(ValueError, match="kernel must be 'mono' for circuit B"):
        _shape(circuit="B", kernel="poly")
    with pytest.raises(TypeError, match="shape must be a Shape"):
        programs.program("A")
