"""Frozen result objects of the regression models and their printed form.

``coefficient_table`` builds the summary every model shares (Wald 95% intervals on the log
hazard scale, exponentiated); ``format_coefficients`` prints it the way R's ``print.coxph``
does, so an epidemiologist recognises it. ``CoxResult`` is the Cox model's result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cohortcalc.errors import ModelError

SUMMARY_COLUMNS = ("coef", "se", "hr", "hr_lower", "hr_upper", "z", "p")


def coefficient_table(
    coef: np.ndarray, vcov: np.ndarray, terms: Sequence[str], conf_level: float = 0.95
) -> pd.DataFrame:
    """Summary table indexed by term: coef, se, hr, hr_lower, hr_upper (Wald), z, p (two-sided)."""
    coef = np.asarray(coef, dtype=np.float64)
    se = np.sqrt(np.diag(np.asarray(vcov, dtype=np.float64)))
    z_crit = stats.norm.ppf(0.5 + conf_level / 2.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = coef / se
        table = pd.DataFrame(
            {
                "coef": coef,
                "se": se,
                "hr": np.exp(coef),
                "hr_lower": np.exp(coef - z_crit * se),
                "hr_upper": np.exp(coef + z_crit * se),
                "z": z,
                "p": 2.0 * stats.norm.sf(np.abs(z)),
            },
            index=pd.Index(list(terms), name="term"),
        )
    return table


def vcov_frame(vcov: np.ndarray, terms: Sequence[str]) -> pd.DataFrame:
    """The variance matrix as a term x term DataFrame."""
    index = pd.Index(list(terms), name="term")
    return pd.DataFrame(np.asarray(vcov, dtype=np.float64), index=index, columns=list(terms))


def format_p(p: float) -> str:
    """p-values as R prints them: 3 significant digits, '<2e-16' below machine precision."""
    if not np.isfinite(p):
        return "NA"
    return "<2e-16" if p < 2e-16 else f"{p:.3g}"


def format_coefficients(summary: pd.DataFrame, se_label: str = "se") -> str:
    """Fixed-width coefficient table: term, coef, HR, se, 95% CI, z, p."""
    rows = [("", "coef", "HR", se_label, "lower .95", "upper .95", "z", "p")]
    for term, r in summary.iterrows():
        rows.append(
            (
                str(term),
                f"{r['coef']:.4g}",
                f"{r['hr']:.4g}",
                f"{r['se']:.4g}",
                f"{r['hr_lower']:.4g}",
                f"{r['hr_upper']:.4g}",
                f"{r['z']:.3f}",
                format_p(float(r["p"])),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        right = [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        cells = [row[0].ljust(widths[0]), *right]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


@dataclass(frozen=True)
class TestStatistic:
    """A chi-square test: statistic, degrees of freedom, p-value."""

    statistic: float
    df: int
    p: float

    @classmethod
    def chisq(cls, statistic: float, df: int) -> TestStatistic:
        return cls(float(statistic), int(df), float(stats.chi2.sf(statistic, df)))

    def __str__(self) -> str:
        p = format_p(self.p)
        return f"{self.statistic:.4g} on {self.df} df, p{'' if p.startswith('<') else '='}{p}"


@dataclass(frozen=True, eq=False)
class CoxResult:
    """A fitted Cox proportional hazards model (``cc.cox``); nothing in it changes after the fit.

    ``summary``/``vcov`` use the robust (sandwich) variance when ``cluster`` was given — or, as
    R does, per row for non-integer weights; ``naive_vcov`` then keeps the model-based one.
    ``loglik`` is the final partial log-likelihood, ``loglik_null`` its value at β = 0.
    ``assign`` maps each model term to its coefficient names (``cac_category`` -> its
    dummies), as ``cc.ph_test`` needs.
    """

    summary: pd.DataFrame
    vcov: pd.DataFrame
    loglik: float
    loglik_null: float
    n: int
    n_events: int
    converged: bool
    iterations: int
    ties: str
    terms: tuple[str, ...]
    time: str
    event: str
    entry: str | None = None
    strata: tuple[str, ...] | None = None
    cluster: str | None = None
    weights: str | None = None
    robust: bool = False
    naive_vcov: pd.DataFrame | None = None
    score_test: TestStatistic | None = None
    n_dropped: int = 0
    n_clusters: int | None = None
    reference: Mapping[str, str] = field(default_factory=dict)
    assign: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    fit_data: Any = field(default=None, repr=False)
    splines: Mapping[str, Any] = field(default_factory=dict)  # rcs term -> SplineTerm (knots)
    baseline: Any = field(default=None, repr=False)

    def baseline_terms(self) -> Any:
        """``riskset.BaselineTerms`` at the fitted β (for predicted survival): kept from a
        Spark fit, computed on demand from a local fit's arrays (one pass)."""
        if self.baseline is not None:
            return self.baseline
        if self.fit_data is None:
            raise ModelError("this fit kept neither its baseline terms nor its arrays.")
        from cohortcalc.survival.riskset import baseline_terms

        likelihood = self.fit_data.likelihood
        return baseline_terms(likelihood, self.fit_data.beta, efron=likelihood.efron)

    @property
    def coef(self) -> pd.Series:
        """The coefficients (log hazard ratios), indexed by term."""
        return self.summary["coef"]

    @property
    def lr_test(self) -> TestStatistic:
        """Likelihood-ratio test of all coefficients = 0."""
        return TestStatistic.chisq(2.0 * (self.loglik - self.loglik_null), len(self.terms))

    @property
    def wald_test(self) -> TestStatistic:
        """Wald test of all coefficients = 0 (robust variance when clustered)."""
        beta = self.summary["coef"].to_numpy()
        statistic = float(beta @ np.linalg.solve(self.vcov.to_numpy(), beta))
        return TestStatistic.chisq(statistic, len(self.terms))

    def __str__(self) -> str:
        header = f"Cox proportional hazards model: Surv({self._time_label()}, {self.event})"
        lines = [header]
        lines.append(
            f"n = {self.n}, events = {self.n_events}"
            + (f" ({self.n_dropped} rows dropped for missing values)" if self.n_dropped else "")
        )
        if self.strata:
            lines.append(f"stratified by: {', '.join(self.strata)}")
        if self.weights:
            lines.append(f"case weights: {self.weights}")
        if self.reference:
            refs = ", ".join(f"{k} = {v!r}" for k, v in self.reference.items())
            lines.append(f"reference levels: {refs}")
        lines.append("")
        label = "robust se" if self.robust else "se"
        lines.append(format_coefficients(self.summary, se_label=label))
        lines.append("")
        lines.append(f"Likelihood ratio test = {self.lr_test}")
        robust_note = " (robust)" if self.robust else ""
        lines.append(f"Wald test             = {self.wald_test}{robust_note}")
        if self.score_test is not None:
            lines.append(f"Score (logrank) test  = {self.score_test}")
        lines.append(f"Partial log-likelihood = {self.loglik:.6g} (null {self.loglik_null:.6g})")
        variance = (
            (
                f"robust (cluster sandwich) SE, {self.n_clusters} clusters of '{self.cluster}'"
                if self.cluster
                else "robust (sandwich, per row) SE for non-integer weights"
            )
            if self.robust
            else "model-based SE"
        )
        lines.append(
            f"Ties: {self.ties}; {variance}; Wald 95% CI; "
            + (
                f"converged in {self.iterations} iterations"
                if self.converged
                else f"NOT CONVERGED after {self.iterations} iterations"
            )
        )
        return "\n".join(lines)

    def _time_label(self) -> str:
        return f"{self.entry}, {self.time}" if self.entry else self.time


def cox_result(
    fit: Any,
    design: Any,
    *,
    variance: np.ndarray,
    robust: bool,
    n_events: int,
    n_clusters: int | None,
    labels: Mapping[str, Any],
    fit_data: Any = None,
    baseline: Any = None,
) -> CoxResult:
    """Assemble a ``CoxResult`` from a Newton fit and its design (local or Spark engine alike).

    ``variance`` is the reported one (sandwich when ``robust``); ``labels`` holds the caller's
    names: ties, time, event, entry, strata (a tuple or None), cluster, weights.
    """
    return CoxResult(
        summary=coefficient_table(fit.beta, variance, design.terms),
        vcov=vcov_frame(variance, design.terms),
        loglik=fit.loglik,
        loglik_null=fit.loglik_init,
        n=design.n,
        n_events=n_events,
        converged=fit.converged,
        iterations=fit.iterations,
        terms=design.terms,
        robust=robust,
        naive_vcov=vcov_frame(fit.variance, design.terms) if robust else None,
        score_test=TestStatistic.chisq(fit.score_test, len(design.terms)),
        n_dropped=design.n_dropped,
        n_clusters=n_clusters,
        reference=dict(design.reference),
        assign={term: tuple(design.terms[j] for j in cols) for term, cols in design.assign.items()},
        fit_data=fit_data,
        splines=dict(design.splines),
        baseline=baseline,
        **labels,
    )
