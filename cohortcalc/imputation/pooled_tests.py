"""Pooled tests of several coefficients at once: D1 (Wald) and D3 (likelihood ratio).

D1: Li, Raghunathan & Rubin (1991, JASA 86:1065) multivariate Wald statistic
D = Q̄ᵀ Ū⁻¹ Q̄ / (k (1 + r)), r = (1 + 1/m) tr(B Ū⁻¹) / k, referred to F(k, v); v with a
finite complete-data df by Reiter (2007, Biometrika 94:502), else Li et al. — the numbers of
``mice::D1`` (``mitml::testModels``, method "D1"); where Reiter's df is undefined (k(m − 1) < 4,
e.g. one term and m = 3: mice gives NaN) Li et al.'s is used. D3: Meng & Rubin (1992, Biometrika
79:103), each data set's log-likelihood evaluated at its own and at the pooled estimates,
the formula of ``mice::D3``. mice refuses D3 for Cox models; here the Cox partial likelihood
at the pooled coefficients is exact (the reference computes it with ``coxph(init=,
iter.max=0)``). D2 is not offered: D1 and D3 cover every model the package fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from cohortcalc.errors import ModelError
from cohortcalc.survival.results import format_p


@dataclass(frozen=True)
class PooledTest:
    """A pooled F test: statistic ~ F(df1, df2); ``riv`` the average relative increase in
    variance due to missing data; ``method`` "D1" or "D3"; ``terms`` the terms tested."""

    statistic: float
    df1: int
    df2: float
    p: float
    riv: float
    method: str
    terms: tuple[str, ...]

    def __str__(self) -> str:
        p = format_p(self.p)
        return (
            f"{self.method} pooled test of {', '.join(self.terms)}: F = {self.statistic:.4g} on "
            f"{self.df1} and {self.df2:.1f} df, p{'' if p.startswith('<') else '='}{p}"
        )


def d1_test(pooled: Any, terms: Sequence[str] | None = None) -> PooledTest:
    """D1 of ``terms`` = 0 from a ``PooledResult`` (its Ū, B and complete-data df)."""
    names = list(pooled.terms)
    chosen = names if terms is None else [terms] if isinstance(terms, str) else list(terms)
    unknown = [t for t in chosen if t not in names]
    if unknown or not chosen:
        raise ModelError(f"wald_test: term(s) {unknown or chosen} not among the pooled {names}.")
    index = [names.index(t) for t in chosen]
    k, m = len(index), pooled.m
    qbar = pooled.estimates[:, index].mean(axis=0)
    ubar = pooled.within[np.ix_(index, index)]
    between = pooled.between[np.ix_(index, index)]
    r = (1.0 + 1.0 / m) * float(np.trace(between @ np.linalg.inv(ubar))) / k
    statistic = float(qbar @ np.linalg.solve((1.0 + r) * ubar, qbar)) / k
    t = k * (m - 1)
    dfcom = pooled.dfcom
    df2 = (
        _reiter_df(np.float64(r), np.float64(t), np.float64(dfcom))
        if np.isfinite(dfcom)
        else np.nan
    )
    if not df2 > 0:  # no finite dfcom, or Reiter's undefined (k(m − 1) < 4: NaN in mice::D1)
        df2 = _li_df(t, k, r)
    p = _f_sf(statistic, k, df2)
    return PooledTest(statistic, k, float(df2), p, r, "D1", tuple(chosen))


def _f_sf(statistic: float, df1: int, df2: float) -> float:
    """P(F(df1, df2) > statistic); with df2 = ∞ (no between-imputation variance) the
    chi-square limit, as R's ``pf`` (scipy returns NaN there)."""
    if np.isinf(df2):
        return float(stats.chi2.sf(df1 * statistic, df1))
    return float(stats.f.sf(statistic, df1, df2))


def _reiter_df(r: np.float64, t: np.float64, dfcom: np.float64) -> float:
    """Reiter (2007) denominator df, as ``mitml:::.D1``: IEEE arithmetic as in R, so that
    k(m − 1) = 4 gives c0 = ∞ and df = 4 rather than an error."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a = r * t / (t - 2.0)
        vstar = (dfcom + 1.0) / (dfcom + 3.0) * dfcom
        c0, c1, c2 = 1.0 / (t - 4.0), vstar - 2.0 * (1.0 + a), vstar - 4.0 * (1.0 + a)
        z = (
            1.0 / c2
            + c0 * (a**2 * c1 / ((1.0 + a) ** 2 * c2))
            + c0 * (8.0 * a**2 * c1 / ((1.0 + a) * c2**2) + 4.0 * a**2 / ((1.0 + a) * c2))
            + c0 * (4.0 * a**2 / (c2 * c1) + 16.0 * a**2 * c1 / c2**3)
            + c0 * (8.0 * a**2 / c2**2)
        )
        return float(4.0 + 1.0 / z)


def _li_df(t: int, k: int, r: float) -> float:
    """Denominator df of Li et al. (1991), as mitml and mice::D3 (r = 0 gives ∞, as in R)."""
    r = np.float64(r)
    with np.errstate(divide="ignore"):
        if t > 4:
            return float(4.0 + (t - 4.0) * (1.0 + (1.0 - 2.0 / t) / r) ** 2)
        return float(t * (1.0 + 1.0 / k) * (1.0 + 1.0 / r) ** 2 / 2.0)


def d3_statistic(
    deviance_model: np.ndarray,
    deviance_null: np.ndarray,
    deviance_model_pooled: np.ndarray,
    deviance_null_pooled: np.ndarray,
    k: int,
) -> tuple[float, float, float, float]:
    """Meng & Rubin's D3 from −2 log-likelihoods at each data set's own estimates and at the
    pooled ones (``mice::D3``): statistic, df2, p, riv."""
    m = len(deviance_model)
    dev_own = float(np.mean(np.asarray(deviance_null) - np.asarray(deviance_model)))
    dev_pooled = float(
        np.mean(np.asarray(deviance_null_pooled) - np.asarray(deviance_model_pooled))
    )
    r = (m + 1.0) / (k * (m - 1.0)) * (dev_own - dev_pooled)
    statistic = dev_pooled / (k * (1.0 + r))
    df2 = _li_df(k * (m - 1), k, r)
    return statistic, df2, _f_sf(statistic, k, df2), r


def d3_test(fits: Sequence[Any], null_fits: Sequence[Any]) -> PooledTest:
    """D3 of Cox ``fits`` against nested Cox ``null_fits`` fitted to the same data sets."""
    from cohortcalc.survival.results import CoxResult

    fits, null_fits = list(fits), list(null_fits)
    if len(fits) != len(null_fits):
        raise ModelError(
            f"lr_test: {len(fits)} fits but {len(null_fits)} null fits; fit the null model to "
            "each of the same completed data sets."
        )
    for fit in [*fits, *null_fits]:
        if not isinstance(fit, CoxResult) or getattr(fit, "fit_data", None) is None:
            raise ModelError(
                "lr_test (D3) needs local-engine Cox fits (it re-evaluates each partial "
                f"likelihood at the pooled coefficients); got {type(fit).__name__}. Use "
                "wald_test (D1) for Fine–Gray, Spark or other fits."
            )
    terms, null_terms = list(fits[0].terms), list(null_fits[0].terms)
    if not set(null_terms) < set(terms):
        raise ModelError(
            f"lr_test: the null model's terms {null_terms} are not a proper subset of the "
            f"model's {terms}; the models must be nested."
        )
    deviances = [_deviances(group) for group in (fits, null_fits)]
    k = len(terms) - len(null_terms)
    statistic, df2, p, r = d3_statistic(
        deviances[0][0], deviances[1][0], deviances[0][1], deviances[1][1], k
    )
    tested = tuple(t for t in terms if t not in null_terms)
    return PooledTest(statistic, k, df2, p, r, "D3", tested)


def _deviances(fits: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """−2 log partial likelihood of each fit at its own and at the pooled coefficients."""
    for i, fit in enumerate(fits[1:], start=2):
        if list(fit.terms) != list(fits[0].terms) or fit.event != fits[0].event:
            raise ModelError(f"lr_test: fit {i} is not the same model as fit 1.")
    beta = np.mean([fit.fit_data.beta for fit in fits], axis=0)
    own = np.array([-2.0 * fit.loglik for fit in fits])
    pooled = np.array([-2.0 * fit.fit_data.likelihood(beta)[0] for fit in fits])
    return own, pooled
