"""The frozen result of a Fine–Gray fit and its printed form (tables from `results.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cohortcalc.survival.results import TestStatistic, format_coefficients


@dataclass(frozen=True, eq=False)
class FineGrayResult:
    """A fitted Fine–Gray subdistribution hazards model (Fine & Gray 1999, JASA 94:496).

    `summary` is indexed by term with coef, se, hr, hr_lower, hr_upper, z, p: `hr` is the
    subdistribution hazard ratio and `se` the sandwich standard error `cmprsk::crr` reports
    (it includes the term for the estimated censoring distribution). `loglik` is crr's log
    pseudo-likelihood (Breslow ties) at the estimate, `loglik_null` at β = 0. Counts are rows.
    """

    summary: pd.DataFrame
    vcov: pd.DataFrame
    terms: tuple[str, ...]
    time: str
    event: str
    cause: object
    competing: tuple[object, ...]
    censor_code: object
    n: int
    n_events: int
    n_competing: int
    n_censored: int
    loglik: float
    loglik_null: float
    converged: bool
    iterations: int
    n_dropped: int = 0
    strata: str | None = None
    n_strata: int = 1
    weights: str | None = None
    reference: Mapping[str, str] = field(default_factory=dict)
    fit_data: Any = field(default=None, repr=False)

    @property
    def coef(self) -> pd.Series:
        """The coefficients (log subdistribution hazard ratios), indexed by term."""
        return self.summary["coef"]

    @property
    def wald_test(self) -> TestStatistic:
        """Wald test of all coefficients = 0, with the sandwich variance."""
        beta = self.summary["coef"].to_numpy()
        statistic = float(beta @ np.linalg.solve(self.vcov.to_numpy(), beta))
        return TestStatistic.chisq(statistic, len(self.terms))

    def __str__(self) -> str:
        competing = ", ".join(str(c) for c in self.competing) or "none observed"
        lines = [
            f"Fine–Gray subdistribution hazards, cause = {self.cause}, competing = {competing}"
            f" (event column {self.event!r}, censored = {self.censor_code}; time {self.time!r})",
            f"n = {self.n}, events of cause {self.cause} = {self.n_events}, competing events = "
            f"{self.n_competing}, censored = {self.n_censored}"
            + (f" ({self.n_dropped} rows dropped for missing values)" if self.n_dropped else ""),
        ]
        if self.strata:
            lines.append(
                f"stratified by: {self.strata} ({self.n_strata} strata; baseline and censoring"
                " distribution estimated within stratum)"
            )
        if self.weights:
            lines.append(f"case weights: {self.weights}")
        if self.reference:
            refs = ", ".join(f"{k} = {v!r}" for k, v in self.reference.items())
            lines.append(f"reference levels: {refs}")
        lines += ["", format_coefficients(self.summary, se_label="se"), ""]
        lines.append("HR = subdistribution hazard ratio; Wald 95% CI")
        lines.append(f"Wald test = {self.wald_test}")
        lines.append(
            f"Log pseudo-likelihood = {self.loglik:.6g} (null {self.loglik_null:.6g}); "
            + (
                f"converged in {self.iterations} iterations"
                if self.converged
                else f"NOT CONVERGED after {self.iterations} iterations"
            )
        )
        lines.append(
            "Censoring distribution: Kaplan–Meier; ties: Breslow; SE: Fine–Gray sandwich with "
            "the censoring term (as cmprsk::crr)"
        )
        return "\n".join(lines)
