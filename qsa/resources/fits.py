r"""Power-law fits on log-log data, with confidence intervals, and crossovers.

:func:`fit_power_law` fits ``y ~ a x^alpha`` by ordinary least squares of ``log y`` on ``log x``
(``scipy.stats.linregress``); :func:`fit_joint` fits ``y ~ a T^alpha d^beta`` (``numpy.linalg.lstsq``,
the same estimator with two regressors; the tests pin it to ``linregress`` with one). Confidence
intervals are ``estimate +- t s.e.``
with the Student-t quantile at ``n - p`` degrees of freedom and the standard errors from the
covariance ``s^2 (X^T X)^{-1}`` of the fit (``s^2`` the residual variance). Residuals are
returned in log space (natural log): ``rms_residual`` and ``max_residual`` say how far the
data are from a power law (``0.1`` is a 10 % deviation); a small confidence interval on a
staircase is not a good fit, the residuals tell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["PowerLawFit", "JointFit", "ExponentialFit", "fit_power_law", "fit_joint", "fit_exponential", "crossovers"]


class PowerLawFit(NamedTuple):
    """``y ~ prefactor * x^exponent``; ``exponent_ci`` at ``confidence``; residuals in natural log."""

    exponent: float
    exponent_ci: tuple[float, float]
    prefactor: float
    r2: float
    rms_residual: float
    max_residual: float
    n: int
    confidence: float


class JointFit(NamedTuple):
    """``y ~ prefactor * T^alpha * d^beta``; CIs at ``confidence``; residuals in natural log."""

    alpha: float
    alpha_ci: tuple[float, float]
    beta: float
    beta_ci: tuple[float, float]
    prefactor: float
    r2: float
    rms_residual: float
    max_residual: float
    n: int
    confidence: float


def _positive(values: Sequence[float], name: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 1 or not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"{name} must be a 1-d sequence of positive finite numbers; got {values!r}")
    return a


def _check_confidence(confidence: float) -> None:
    if not isinstance(confidence, float) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a float in (0, 1); got {confidence!r}")


def _t_quantile(confidence: float, dof: int) -> float:
    from scipy import stats  # imported here: scipy.stats is slow to import and off the training path

    return float(stats.t.ppf(0.5 + confidence / 2, dof))


def _ols(X: np.ndarray, y: np.ndarray, confidence: float):
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    n, p = X.shape
    dof = n - p
    s2 = float(resid @ resid) / dof
    cov = s2 * np.linalg.inv(X.T @ X)
    half = _t_quantile(confidence, dof) * np.sqrt(np.diag(cov))
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(resid @ resid) / ss_tot if ss_tot > 0 else 1.0
    return coef, half, r2, float(np.sqrt(np.mean(resid**2))), float(np.max(np.abs(resid)))


def fit_power_law(x: Sequence[float], y: Sequence[float], *, confidence: float = 0.95) -> PowerLawFit:
    """Least-squares fit of ``log y = log a + alpha log x`` (at least 3 points, 2 distinct ``x``) by ``scipy.stats.linregress``.

    ``r2`` is 1 for data on an exact power law (also a constant ``y``, where ``linregress`` has no correlation).
    """
    from scipy import stats

    _check_confidence(confidence)
    lx, ly = np.log(_positive(x, "x")), np.log(_positive(y, "y"))
    if lx.size != ly.size or lx.size < 3 or np.ptp(lx) == 0:
        raise ValueError(f"x and y must have the same length >= 3 with distinct x; got {lx.size} and {ly.size} points")
    fit = stats.linregress(lx, ly)
    alpha, half = float(fit.slope), _t_quantile(confidence, lx.size - 2) * float(fit.stderr)
    resid = ly - (fit.intercept + fit.slope * lx)
    r2 = float(fit.rvalue) ** 2 if np.ptp(ly) > 0 else 1.0
    return PowerLawFit(
        alpha,
        (alpha - half, alpha + half),
        math.exp(fit.intercept),
        r2,
        float(np.sqrt(np.mean(resid**2))),
        float(np.max(np.abs(resid))),
        lx.size,
        confidence,
    )


class ExponentialFit(NamedTuple):
    """``y ~ prefactor * exp(rate * x)``; ``rate_ci`` at ``confidence``; residuals in natural log.

    ``factor`` is ``exp(rate)``, what one more unit of ``x`` multiplies ``y`` by (``< 1``: decay).
    """

    rate: float
    rate_ci: tuple[float, float]
    prefactor: float
    r2: float
    rms_residual: float
    max_residual: float
    n: int
    confidence: float

    @property
    def factor(self) -> float:
        return math.exp(self.rate)


def fit_exponential(x: Sequence[float], y: Sequence[float], *, confidence: float = 0.95) -> ExponentialFit:
    """Least-squares fit of ``log y = log a + rate x`` (at least 3 points, 2 distinct ``x``) by ``scipy.stats.linregress``.

    The decay rate of a barren plateau: ``y`` a gradient variance, ``x`` a number of qubits or layers.
    """
    from scipy import stats

    _check_confidence(confidence)
    lx = np.asarray(x, dtype=np.float64)
    if lx.ndim != 1 or not np.all(np.isfinite(lx)):
        raise ValueError(f"x must be a 1-d sequence of finite numbers; got {x!r}")
    ly = np.log(_positive(y, "y"))
    if lx.size != ly.size or lx.size < 3 or np.ptp(lx) == 0:
        raise ValueError(f"x and y must have the same length >= 3 with distinct x; got {lx.size} and {ly.size} points")
    fit = stats.linregress(lx, ly)
    rate, half = float(fit.slope), _t_quantile(confidence, lx.size - 2) * float(fit.stderr)
    resid = ly - (fit.intercept + fit.slope * lx)
    return ExponentialFit(
        rate,
        (rate - half, rate + half),
        math.exp(fit.intercept),
        float(fit.rvalue) ** 2 if np.ptp(ly) > 0 else 1.0,
        float(np.sqrt(np.mean(resid**2))),
        float(np.max(np.abs(resid))),
        lx.size,
        confidence,
    )


def fit_joint(T: Sequence[float], d: Sequence[float], y: Sequence[float], *, confidence: float = 0.95) -> JointFit:
    """Least-squares fit of ``log y = log a + alpha log T + beta log d`` (at least 4 points)."""
    _check_confidence(confidence)
    lT, ld, ly = np.log(_positive(T, "T")), np.log(_positive(d, "d")), np.log(_positive(y, "y"))
    if not lT.size == ld.size == ly.size or ly.size < 4:
        raise ValueError(f"T, d and y must have the same length >= 4; got {lT.size}, {ld.size} and {ly.size}")
    X = np.stack([np.ones_like(lT), lT, ld], 1)
    if np.linalg.matrix_rank(X) < 3:
        raise ValueError("T and d must each take at least two values, not in lockstep")
    coef, half, r2, rms, worst = _ols(X, ly, confidence)
    a, b = float(coef[1]), float(coef[2])
    return JointFit(
        a,
        (a - half[1], a + half[1]),
        b,
        (b - half[2], b + half[2]),
        math.exp(coef[0]),
        r2,
        rms,
        worst,
        ly.size,
        confidence,
    )


def crossovers(x: Sequence[float], a: Sequence[float], b: Sequence[float]) -> tuple[float, ...]:
    """Where ``a`` and ``b`` cross along increasing ``x``, interpolating ``log(a/b)`` linearly in ``log x``.

    A point where ``a == b`` exactly is a crossing only if the sign differs on both sides.
    """
    x, a, b = _positive(x, "x"), _positive(a, "a"), _positive(b, "b")
    if not x.size == a.size == b.size or np.any(np.diff(x) <= 0):
        raise ValueError("x must be strictly increasing and x, a, b of equal length")
    r = np.log(a / b)
    lx = np.log(x)
    out = []
    nz = [i for i in range(r.size) if r[i] != 0]
    for i, j in zip(nz, nz[1:]):
        if (r[i] > 0) != (r[j] > 0):
            k = next((m for m in range(i + 1, j) if r[m] == 0), None)
            if k is not None:
                out.append(float(x[k]))
            else:
                t = r[i] / (r[i] - r[j])
                out.append(float(math.exp(lx[i] + t * (lx[j] - lx[i]))))
    return tuple(out)
