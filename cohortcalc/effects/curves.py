"""Hazard-ratio curves of a spline exposure: ``cc.hr_curve``.

For a restricted cubic spline term with basis B and coefficients β (covariance V), the log
hazard ratio of exposure value x against the reference r is (B(x) − B(r))ᵀβ with variance
(B(x) − B(r))ᵀ V (B(x) − B(r)): pointwise Wald intervals, as ``rms::contrast`` (Harrell 2015,
sec. 2.4.5 and 9.3.1). Wald tests: association (all k − 1 spline coefficients = 0) and
non-linearity (the k − 2 nonlinear ones = 0), as ``rms::anova``. For the likelihood-ratio test
of non-linearity refit with the plain column and use ``cc.lrtest(linear_fit, spline_fit)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from cohortcalc.errors import ModelError, ModelWarning
from cohortcalc.survival.results import TestStatistic, format_p
from cohortcalc.survival.splines import SplineTerm

if TYPE_CHECKING:
    from cohortcalc.imputation.pooled_tests import PooledTest

GRID_POINTS = 101


@dataclass(frozen=True)
class HrCurve:
    """Hazard ratios of a spline exposure against a reference value, with pointwise CIs.

    ``table`` has one row per exposure value: value, log_hr, se, hr, hr_lower, hr_upper.
    ``association`` and ``nonlinearity`` are Wald chi-square tests with the fit's variance
    (robust/sandwich when the fit's is) — or, pooled over ``imputations`` completed data sets,
    D1 F tests (``PooledTest``). ``ratio`` is "HR" for Cox, "SHR" for Fine–Gray.
    """

    term: str
    column: str
    knots: tuple[float, ...]
    reference: float
    table: pd.DataFrame
    association: TestStatistic | PooledTest
    nonlinearity: TestStatistic | PooledTest
    conf_level: float
    ratio: str
    value_range: tuple[float, float]
    imputations: int = 0  # m when pooled over completed data sets (tests are then D1 F tests)

    def __str__(self) -> str:
        level = f"{100 * self.conf_level:g}%"
        lines = [
            f"{self.ratio} of {self.term} vs {self.column} = {self.reference:g} "
            f"(restricted cubic spline, knots {', '.join(f'{k:.4g}' for k in self.knots)})",
            f"Wald test of association: {self.association}",
            f"Wald test of non-linearity: {self.nonlinearity}",
            "",
            f"{'value':>10}  {self.ratio:>7}  {level + ' CI':>19}",
        ]
        for row in self.table.itertuples():
            lines.append(
                f"{row.value:>10.4g}  {row.hr:>7.3f}  ({row.hr_lower:.3f} to {row.hr_upper:.3f})"
            )
        kind = f"Rubin's-rules (m = {self.imputations})" if self.imputations else "Wald"
        lines.append(
            f"pointwise {kind} {level} CIs; p non-linearity {format_p(self.nonlinearity.p)}"
        )
        return "\n".join(lines)


def hr_curve(
    fit: Any,
    term: str,
    *,
    reference: float,
    at: Sequence[float] | np.ndarray | None = None,
    conf_level: float = 0.95,
) -> HrCurve:
    """The hazard ratio of a spline exposure at ``at`` against ``reference``, with CIs.

    ``fit`` is a ``cc.cox`` or ``cc.finegray`` result with an ``rcs(...)`` covariate, or a list
    of the same model's results on m ≥ 2 completed data sets (``cc.impute``): each point's log
    HR is then pooled by Rubin's rules (CIs from t with Barnard–Rubin df, as ``cc.pool``) and
    the tests are D1 (Li, Raghunathan & Rubin 1991). ``term``
    is that covariate as written (``"rcs(log_cac, 4)"``) or its column (``"log_cac"``).
    ``at`` defaults to 101 points from the 10th smallest to the 10th largest exposure value in
    the fit (``rms::datadist``'s plotting limits). For log(CAC + 1)
    with reference CAC = 0 pass ``reference=0``. Raises ``ModelError`` if the fit has no such
    spline or the spline is part of an interaction (its HR then depends on the other factor).
    """
    imputed = isinstance(fit, list | tuple)  # one fit per completed data set: pooled
    fits = list(fit) if imputed else [fit]
    spline = _spline_of(fits[0], term)
    for other in fits[1:]:
        if _spline_of(other, term).knots != spline.knots:
            raise ModelError(
                f"{spline.term} has other knots in another completed data set; pooled curves "
                "need one basis: give the knots (rcs(x, knots=[...])) or do not impute x."
            )
    if not 0 < conf_level < 1:
        raise ModelError(f"conf_level={conf_level!r} must be between 0 and 1.")
    if not np.isfinite(reference):
        raise ModelError(f"reference={reference!r} for {spline.term} must be a finite number.")
    values = (
        np.linspace(*spline.display_range, GRID_POINTS)
        if at is None
        else np.asarray(at, dtype=np.float64).reshape(-1)
    )
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ModelError(f"at= for {spline.term} must hold finite exposure values.")
    _warn_if_extrapolated(spline, reference, values)
    labels = list(spline.labels)
    contrast = spline.basis(values) - spline.basis(np.array([reference]))
    if imputed:
        log_hr, se, lower, upper, (association, nonlinearity) = _pooled(
            fits, labels, contrast, conf_level
        )
    else:
        beta = fit.coef.loc[labels].to_numpy()
        vcov = fit.vcov.loc[labels, labels].to_numpy()
        log_hr = contrast @ beta
        se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", contrast, vcov, contrast), 0.0))
        z = stats.norm.ppf(0.5 + conf_level / 2.0)
        lower, upper = log_hr - z * se, log_hr + z * se
        association = _wald(beta, vcov)
        nonlinearity = _wald(beta[1:], vcov[1:, 1:])
    table = pd.DataFrame(
        {
            "value": values,
            "log_hr": log_hr,
            "se": se,
            "hr": np.exp(log_hr),
            "hr_lower": np.exp(lower),
            "hr_upper": np.exp(upper),
        }
    )
    return HrCurve(
        term=spline.term,
        column=spline.column,
        knots=spline.knots,
        reference=float(reference),
        table=table,
        association=association,
        nonlinearity=nonlinearity,
        conf_level=conf_level,
        ratio="HR" if hasattr(fits[0], "ties") else "SHR",
        value_range=spline.value_range,
        imputations=len(fits) if imputed else 0,
    )


def _pooled(
    fits: list[Any], labels: list[str], contrast: np.ndarray, conf_level: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[Any, Any]]:
    """Rubin's rules at each point (``pool_scalars``: the pooled log HR, √T and t limits with
    Barnard–Rubin df, complete-data df events − coefficients as ``cc.pool``) and the D1 tests
    of association and non-linearity of the pooled spline coefficients."""
    from cohortcalc.imputation.pooled_tests import d1_test
    from cohortcalc.imputation.pooling import pool, pool_scalars

    pooled = pool(fits)  # refuses fewer than 2
    index = [list(pooled.terms).index(label) for label in labels]
    beta = pooled.estimates[:, index]  # m × k
    variances = pooled.variances[:, index][:, :, index]
    points = beta @ contrast.T  # m × points
    within = np.einsum("ij,mjk,ik->mi", contrast, variances, contrast)
    table = pool_scalars(points, within, pooled.dfcom, conf_level)
    tests = (d1_test(pooled, labels), d1_test(pooled, labels[1:]))
    estimate, se, lower, upper = (table[c].to_numpy() for c in ("estimate", "se", "lower", "upper"))
    return estimate, se, lower, upper, tests


def _warn_if_extrapolated(spline: SplineTerm, reference: float, values: np.ndarray) -> None:
    low, high = spline.value_range
    outside = [v for v in (reference, *values) if not low <= v <= high]
    if outside:
        warnings.warn(
            f"{spline.term}: {len(outside)} value(s) (e.g. {outside[0]:g}) lie outside the "
            f"observed range [{low:g}, {high:g}] of {spline.column}; the curve there is an "
            "extrapolation (linear beyond the outer knots).",
            ModelWarning,
            stacklevel=3,
        )


def _wald(beta: np.ndarray, vcov: np.ndarray) -> TestStatistic:
    return TestStatistic.chisq(float(beta @ np.linalg.solve(vcov, beta)), beta.shape[0])


def _spline_of(fit: Any, term: str) -> SplineTerm:
    splines = getattr(fit, "splines", None)
    if not splines:
        raise ModelError(
            f"the fit has no spline term (asked for {term!r}); fit it with a covariate such as "
            f"'rcs({term}, 4)'."
        )
    matches = [s for key, s in splines.items() if term in (key, s.column)]
    if len(matches) != 1:
        raise ModelError(
            f"{term!r} names {len(matches)} of the fit's spline terms {list(splines)}; "
            "give the term as written in the covariates."
        )
    spline = matches[0]
    in_product = [t for t in fit.terms if ":" in t and set(t.split(":")) & set(spline.labels)]
    if in_product:
        raise ModelError(
            f"{spline.term} is part of the interaction term(s) {in_product[:3]}: its hazard "
            "ratio depends on the other factor. Fit within strata of that factor instead."
        )
    return spline
