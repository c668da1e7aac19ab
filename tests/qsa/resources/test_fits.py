"""Log-log fits: exact power laws recovered, intervals as scipy's regression gives them, crossovers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from qsa.resources import crossovers, fit_exponential, fit_joint, fit_power_law


def test_exact_power_law_has_zero_width_interval():
    x = np.array([2, 4, 8, 16, 32])
    fit = fit_power_law(x, 3.0 * x**1.5)
    assert fit.exponent == pytest.approx(1.5, abs=1e-12) and fit.prefactor == pytest.approx(3.0, rel=1e-12)
    assert fit.exponent_ci[1] - fit.exponent_ci[0] == pytest.approx(0, abs=1e-9)
    assert fit.rms_residual < 1e-12 and fit.r2 == pytest.approx(1.0)


def test_interval_is_t_quantile_times_standard_error_of_the_slope(rng):
    x = np.array([2.0, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64])
    y = 5 * x**1.3 * np.exp(rng.normal(0, 0.1, x.size))
    fit = fit_power_law(x, y, confidence=0.9)
    ref = stats.linregress(np.log(x), np.log(y))
    half = stats.t.ppf(0.95, x.size - 2) * ref.stderr
    assert fit.exponent == pytest.approx(ref.slope, rel=1e-12)
    np.testing.assert_allclose(fit.exponent_ci, (ref.slope - half, ref.slope + half), rtol=1e-10)
    assert fit.r2 == pytest.approx(ref.rvalue**2, rel=1e-10)


def test_exponential_fit_is_linregress_of_log_y_on_x(rng):
    x = np.array([1.0, 2, 3, 4, 5, 6])
    exact = fit_exponential(x, 0.5 * np.exp(-0.7 * x))
    assert exact.rate == pytest.approx(-0.7, abs=1e-12) and exact.prefactor == pytest.approx(0.5, rel=1e-12)
    assert exact.factor == pytest.approx(np.exp(-0.7)) and exact.rms_residual < 1e-12
    y = 2 * np.exp(-0.4 * x + rng.normal(0, 0.1, x.size))
    fit, ref = fit_exponential(x, y, confidence=0.9), stats.linregress(x, np.log(y))
    half = stats.t.ppf(0.95, x.size - 2) * ref.stderr
    assert fit.rate == pytest.approx(ref.slope, rel=1e-12) and fit.r2 == pytest.approx(ref.rvalue**2, rel=1e-10)
    np.testing.assert_allclose(fit.rate_ci, (ref.slope - half, ref.slope + half), rtol=1e-10)
    with pytest.raises(ValueError, match="y must be a 1-d sequence of positive"):
        fit_exponential(x, -y)
    with pytest.raises(ValueError, match="distinct x"):
        fit_exponential([1, 1, 1], [1, 2, 3])


def test_joint_fits_least_squares_equals_linregress_with_one_regressor(rng):
    """fit_joint's own OLS (two regressors, no scipy equivalent) is pinned to linregress on one."""
    from qsa.resources.fits import _ols

    lx = np.log([2.0, 3, 4, 6, 8, 12, 16])
    ly = 0.7 + 1.4 * lx + rng.normal(0, 0.2, lx.size)
    coef, half, r2, *_ = _ols(np.stack([np.ones_like(lx), lx], 1), ly, 0.95)
    ref = stats.linregress(lx, ly)
    np.testing.assert_allclose(coef, (ref.intercept, ref.slope), rtol=1e-12)
    np.testing.assert_allclose(
        half, stats.t.ppf(0.975, lx.size - 2) * np.array([ref.intercept_stderr, ref.stderr]), rtol=1e-10
    )
    assert r2 == pytest.approx(ref.rvalue**2, rel=1e-12)


def test_joint_fit_recovers_both_exponents():
    T, d = np.meshgrid([2, 4, 8, 16, 64], [2, 4, 8, 16])
    T, d = T.ravel(), d.ravel()
    fit = fit_joint(T, d, 2.0 * T**2.0 * d**1.0)
    assert (fit.alpha, fit.beta, fit.prefactor) == pytest.approx((2.0, 1.0, 2.0), rel=1e-10)
    noisy = fit_joint(T, d, 2.0 * T**1.0 * d**2.0 + T**2)  # not a power law: residuals say so
    assert noisy.rms_residual > 0.05 and noisy.alpha_ci[0] < noisy.alpha < noisy.alpha_ci[1]


def test_crossovers_of_power_laws_are_exact():
    x = np.array([1.0, 2, 3, 5, 8, 13])
    assert crossovers(x, x**2, 4 * x) == pytest.approx((4.0,))
    assert crossovers(x, x**2, 100 * x) == ()
    assert crossovers([1, 2, 4], [1, 2, 1], [2, 2, 2]) == ()  # touching is not crossing
    assert crossovers([1, 2, 4], [1, 2, 3], [2, 2, 2]) == (2.0,)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: fit_power_law([1, 2], [1, 2]), "same length >= 3"),
        (lambda: fit_power_law([1, 2, 3], [1, 0, 2]), "positive finite"),
        (lambda: fit_power_law([1, 2, 3], [1, 2, 3], confidence=95), "confidence must be"),
        (lambda: fit_joint([2, 4, 8, 16], [2, 4, 8, 16], [1, 2, 3, 4]), "not in lockstep"),
        (lambda: crossovers([2, 1, 3], [1, 1, 1], [1, 1, 1]), "strictly increasing"),
    ],
)
def test_bad_fit_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
