"""Rubin's rules: ``cc.pool(fits)`` combines one analysis per completed data set.

Rubin (1987, Multiple Imputation for Nonresponse in Surveys, eq. 3.1.2–3.1.7): pooled
estimate Q̄ = mean of the estimates, within variance Ū = mean of the variances, between
variance B = their sample variance, total T = Ū + (1 + 1/m) B. Degrees of freedom by Barnard
& Rubin (1999, Biometrika 86:948, eq. 3) with the complete-data df, exactly as
``mice::pool`` (mice 3.15, including its floor of λ at 1e-4); relative increase in variance
r = (1 + 1/m) B / Ū, λ = (1 + 1/m) B / T, fraction of missing information
FMI = (r + 2/(df + 3)) / (r + 1); CI and p from the t distribution with df.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cohortcalc.errors import ModelError
from cohortcalc.imputation.estimates import Estimates, stack
from cohortcalc.survival.results import format_p

_BACK = {"cox": ("hr", "hr"), "finegray": ("hr", "subdistribution hr"), "rates": ("rate", "rate")}


def barnard_rubin_df(m: int, between: np.ndarray, total: np.ndarray, dfcom: float) -> np.ndarray:
    """Barnard & Rubin (1999) df, as ``mice:::barnard.rubin`` (λ floored at 1e-4)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.maximum((1.0 + 1.0 / m) * between / total, 1e-4)
    df_old = (m - 1) / lam**2
    if np.isinf(dfcom):
        return df_old
    df_obs = (dfcom + 1.0) / (dfcom + 3.0) * dfcom * (1.0 - lam)
    return df_old * df_obs / (df_old + df_obs)


@dataclass(frozen=True, eq=False)
class PooledResult:
    """Pooled estimates of m analyses (``cc.pool``); nothing in it changes after pooling.

    ``summary`` is indexed by term: estimate, se (√T), df, lower, upper (t-based), statistic
    (estimate / se), p, and Rubin's components ubar, b, t, dfcom, riv, lambda, fmi; for Cox
    and Fine–Gray fits also hr, hr_lower, hr_upper; for rates rate, rate_lower, rate_upper
    (per ``per`` person-years); on a logit scale the back-transformed estimate, lower, upper.
    ``estimates`` (m × p) and ``variances`` (m × p × p) are the inputs; ``within``,
    ``between`` and ``total`` are the p × p matrices Ū, B and T = Ū + (1 + 1/m) B.
    """

    summary: pd.DataFrame
    m: int
    kind: str
    scale: str
    conf_level: float
    estimates: np.ndarray
    variances: np.ndarray
    within: np.ndarray
    between: np.ndarray
    dfcom: float
    fits: tuple[Any, ...] = field(repr=False)

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(self.summary.index)

    @property
    def total(self) -> np.ndarray:
        return self.within + (1.0 + 1.0 / self.m) * self.between

    def wald_test(self, terms: Sequence[str] | None = None) -> Any:
        """Pooled multi-df Wald test (D1) that ``terms`` (default: all) are zero."""
        from cohortcalc.imputation.pooled_tests import d1_test

        return d1_test(self, terms)

    def lr_test(self, null_fits: Sequence[Any]) -> Any:
        """Pooled likelihood-ratio test (D3, Meng & Rubin 1992) against nested ``null_fits``."""
        from cohortcalc.imputation.pooled_tests import d3_test

        return d3_test(self.fits, null_fits)

    def __str__(self) -> str:
        s = self.summary
        lines = [
            f"Multiple imputation (m = {self.m}), Rubin's rules: {self.kind} estimates pooled on "
            f"the {self.scale} scale",
            f"{'term':>16} {'estimate':>10} {'se':>9} {'df':>8} {'lower':>9} {'upper':>9} "
            f"{'p':>9} {'fmi':>6}",
        ]
        for term, r in s.iterrows():
            lines.append(
                f"{term!s:>16} {r['estimate']:>10.4g} {r['se']:>9.4g} {r['df']:>8.1f} "
                f"{r['lower']:>9.4g} {r['upper']:>9.4g} {format_p(float(r['p'])):>9} "
                f"{r['fmi']:>6.3f}"
            )
        dfcom = "infinite" if np.isinf(self.dfcom) else f"{self.dfcom:g}"
        lines.append(
            f"Barnard–Rubin df (complete-data df {dfcom}); {self.conf_level:.0%} CI and p from "
            "the t distribution"
        )
        return "\n".join(lines)


def pool(
    fits: Sequence[Any],
    *,
    dfcom: float | None = None,
    conf_level: float = 0.95,
    scale: str | None = None,
) -> PooledResult:
    """Pool one analysis per completed data set by Rubin's rules; the numbers of ``mice::pool``.

    ``fits``: CoxResult, FineGrayResult, ``cc.incidence_rates`` tables (pooled as log rates)
    or objects with ``estimate`` and ``variance``/``se`` (``scale`` or their
    ``pooling_scale`` names the scale: "identity", "log", "logit" for a C-statistic).
    ``dfcom``: the complete-data df (default: events − coefficients for Cox and Fine–Gray, as
    mice; infinite otherwise). Cox fits with a cluster use the robust variance, as mice does.
    """
    fits = list(fits)
    if len(fits) < 2:
        raise ModelError(
            f"pool() needs the analyses of at least 2 imputed data sets; got {len(fits)}."
        )
    if not 0 < conf_level < 1:
        raise ModelError(f"conf_level must be between 0 and 1, got {conf_level}.")
    extracted = stack(fits, scale)
    first = extracted[0]
    m = len(extracted)
    dfcom_used = float(max(dfcom, 1)) if dfcom is not None else first.dfcom
    estimates = np.stack([e.estimate for e in extracted])
    variances = np.stack([e.variance for e in extracted])
    if not np.all(np.isfinite(estimates)) or not np.all(np.isfinite(variances)):
        bad = int(
            np.flatnonzero(
                ~np.isfinite(estimates).all(axis=1) | ~np.isfinite(variances).all(axis=(1, 2))
            )[0]
        )
        raise ModelError(f"analysis {bad + 1} has a non-finite estimate or variance; not pooled.")
    qbar = estimates.mean(axis=0)
    within = variances.mean(axis=0)
    between = np.atleast_2d(np.cov(estimates, rowvar=False, ddof=1))
    summary = _summary(first, qbar, within, between, m, dfcom_used, conf_level)
    return PooledResult(
        summary, m, first.kind, first.scale, conf_level, estimates, variances, within, between,
        dfcom_used, tuple(fits),
    )  # fmt: skip


def _summary(
    first: Estimates,
    qbar: np.ndarray,
    within: np.ndarray,
    between: np.ndarray,
    m: int,
    dfcom: float,
    conf_level: float,
) -> pd.DataFrame:
    ubar, b = np.diag(within), np.diag(between)
    rules = _rubin(qbar, ubar, b, m, dfcom, conf_level)
    total, df = rules["t"], rules["df"]
    with np.errstate(divide="ignore", invalid="ignore"):
        riv = (1.0 + 1.0 / m) * b / ubar
        lam = (1.0 + 1.0 / m) * b / total
        fmi = (riv + 2.0 / (df + 3.0)) / (riv + 1.0)
    table = pd.DataFrame(
        {
            **{k: rules[k] for k in ("estimate", "se", "df", "lower", "upper", "statistic")},
            "p": rules["p"],
            "ubar": ubar,
            "b": b,
            "t": total,
            "dfcom": dfcom,
            "riv": riv,
            "lambda": lam,
            "fmi": fmi,
        },
        index=pd.Index(list(first.terms), name="term"),
    )
    if first.kind in _BACK:
        name = _BACK[first.kind][0]
        factor = first.per if first.kind == "rates" else 1.0
        for column, source in ((name, "estimate"), (f"{name}_lower", "lower"),
                               (f"{name}_upper", "upper")):  # fmt: skip
            table[column] = factor * np.exp(table[source])
    elif first.scale != "identity":
        inverse = np.exp if first.scale == "log" else (lambda x: 1.0 / (1.0 + np.exp(-x)))
        for column, source in (("value", "estimate"), ("value_lower", "lower"),
                               ("value_upper", "upper")):  # fmt: skip
            table[column] = inverse(table[source].to_numpy())
    return table


def _rubin(
    qbar: np.ndarray, ubar: np.ndarray, b: np.ndarray, m: int, dfcom: float, conf_level: float
) -> dict[str, np.ndarray]:
    """Rubin's rules per scalar (Rubin 1987; Barnard & Rubin 1999 df): total variance
    T = Ū + (1 + 1/m) B, se √T, df, t-based limits, statistic Q̄/√T and its two-sided p."""
    total = ubar + (1.0 + 1.0 / m) * b
    df = barnard_rubin_df(m, b, total, dfcom)
    se = np.sqrt(total)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = qbar / se
    crit = stats.t.ppf(0.5 + conf_level / 2.0, df)
    return {
        "estimate": qbar, "se": se, "df": df, "t": total, "lower": qbar - crit * se,
        "upper": qbar + crit * se, "statistic": statistic,
        "p": 2.0 * stats.t.sf(np.abs(statistic), np.maximum(df, 0.001)),
    }  # fmt: skip


def pool_scalars(
    estimates: np.ndarray, variances: np.ndarray, dfcom: float, conf_level: float = 0.95
) -> pd.DataFrame:
    """Rubin's rules for each of k scalar quantities estimated in m completed data sets
    (``estimates`` and their ``variances``, m × k) — a point of a curve, a RERI, a log HR:
    estimate Q̄, se √T, Barnard–Rubin df (complete-data ``dfcom``), t-based lower and upper
    limits and p (H0: 0), as ``cc.pool`` gives for one coefficient. A quantity that is fixed
    in every data set (T = 0, a reference) keeps its value as both limits, df and p NaN."""
    estimates = np.atleast_2d(np.asarray(estimates, dtype=np.float64))
    variances = np.atleast_2d(np.asarray(variances, dtype=np.float64))
    m = estimates.shape[0]
    qbar = estimates.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rules = _rubin(qbar, variances.mean(axis=0), estimates.var(axis=0, ddof=1), m, dfcom,
                       conf_level)  # fmt: skip
    table = pd.DataFrame({k: rules[k] for k in ("estimate", "se", "df", "lower", "upper", "p")})
    fixed = ~(rules["t"] > 0)
    table["lower"] = np.where(fixed, qbar, table["lower"])
    table["upper"] = np.where(fixed, qbar, table["upper"])
    table["df"] = np.where(fixed, np.nan, table["df"])
    table["p"] = np.where(fixed, np.nan, table["p"])
    return table
