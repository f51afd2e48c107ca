"""Self-validation: a simulation study on synthetic cohorts whose true ratios are known.

For each scenario (MI cause-specific hazard ratios estimated by Cox; MI subdistribution hazard
ratios estimated by Fine-Gray), ``replicates`` cohorts are simulated, the correctly specified
model is fitted on the generating terms, and for every term we report the bias of the log
ratio, the empirical SE against the model SE, and 95% CI coverage, each with its Monte Carlo
standard error (Morris, White & Crowther, Stat Med 2019;38:2074, Table 6).

Each measure is also tested against its target with a test that is exact for normally
distributed estimates, so it holds for a handful of replicates too: bias 0 by a one-sample t
test (R - 1 df); model SE = true SE by the chi-square test of the empirical variance,
(R - 1)·EmpSE² / ModSE² ~ χ²(R - 1); coverage 0.95 by an exact binomial test. A check fails when
its p-value is below ``alpha`` divided by the number of checks (Bonferroni).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd
import polars as pl
from scipy import stats

from cohortcalc.errors import SpecError
from cohortcalc.survival.cox import cox
from cohortcalc.survival.finegray import finegray
from cohortcalc.synth import SynthParams, generating_terms, simulate_cohort

Scenario = Literal["cause_specific", "subdistribution"]
#: Confidence level of the intervals whose coverage is checked (nominal coverage).
CONF_LEVEL = 0.95
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class ValidationResult:
    """The study's summary ``table`` (one row per scenario x term) and per-replicate estimates."""

    table: pd.DataFrame
    estimates: pd.DataFrame
    replicates: int
    n: int
    seed: int
    alpha_per_check: float

    @property
    def passed(self) -> bool:
        """True when no bias, SE-ratio or coverage check rejects its target."""
        return not self.failures()

    def failures(self) -> list[str]:
        """One line per check whose p-value is below ``alpha_per_check``."""
        out = []
        targets = {"bias": 0.0, "se_ratio": 1.0, "coverage": CONF_LEVEL}
        for row in self.table.itertuples():
            for check, target in targets.items():
                if not getattr(row, f"{check}_ok"):
                    out.append(
                        f"{row.scenario} {row.term}: {check} {getattr(row, check):.4f} differs "
                        f"from {target} beyond its Monte Carlo error (MCSE "
                        f"{getattr(row, f'{check}_mcse'):.4f}, p = {getattr(row, f'{check}_p'):.2g}"
                        f" < {self.alpha_per_check:.2g})"
                    )
        return out


def study_params(scenario: Scenario) -> SynthParams:
    """Generator settings with more MI events per participant, so small cohorts carry power.

    The true ratios are the generator's defaults; only the baseline MI risk is raised
    (cause-specific: Weibull rate x10; subdistribution: long-run MI probability p = 0.25).
    """
    base = SynthParams(outcome_model=scenario)
    if scenario == "cause_specific":
        return replace(base, mi=replace(base.mi, rate=base.mi.rate * 10))
    return replace(base, mi_subdist_p=0.25)


def replicate_estimates(
    scenario: Scenario, n: int, seed: int, params: SynthParams | None = None
) -> pd.DataFrame:
    """Fit the correctly specified MI model on one simulated cohort.

    Returns one row per term: ``term``, ``true_log_ratio``, ``estimate``, ``se``.
    """
    params = params or study_params(scenario)
    cohort = simulate_cohort(n=n, seed=seed, params=params)
    truth = params.mi.hazard_ratios
    terms = list(truth)
    frame = pl.concat(
        [
            cohort.analysis_frame().select("mi_years", "mi_status"),
            generating_terms(cohort.analysis),
        ],
        how="horizontal",
    ).select("mi_years", "mi_status", *terms)
    if scenario == "cause_specific":
        frame = frame.with_columns(mi_event=(pl.col("mi_status") == 1).cast(pl.Int8))
        fit = cox(frame, time="mi_years", event="mi_event", covariates=terms, ties="efron")
    else:
        fit = finegray(frame, time="mi_years", event="mi_status", cause=1, covariates=terms)
    summary = fit.summary.loc[terms]
    return pd.DataFrame(
        {
            "term": terms,
            "true_log_ratio": [math.log(truth[t]) for t in terms],
            "estimate": summary["coef"].to_numpy(dtype=float),
            "se": summary["se"].to_numpy(dtype=float),
        }
    )


def summarise(estimates: pd.DataFrame, alpha_per_check: float) -> pd.DataFrame:
    """Performance measures with Monte Carlo SEs (Morris et al. 2019, Table 6) and checks."""
    rows = []
    critical = stats.norm.ppf(0.5 + CONF_LEVEL / 2)
    for (scenario, term), group in estimates.groupby(["scenario", "term"], sort=False):
        r = len(group)
        theta = float(group["true_log_ratio"].iloc[0])
        est = group["estimate"].to_numpy()
        se = group["se"].to_numpy()
        emp_se = float(est.std(ddof=1))
        model_se = float(np.sqrt(np.mean(se**2)))
        covered = np.abs(est - theta) <= critical * se
        coverage = float(covered.mean())
        ratio = model_se / emp_se
        rows.append(
            {
                "scenario": scenario,
                "kind": "HR" if scenario == "cause_specific" else "sHR",
                "term": term,
                "true_ratio": math.exp(theta),
                "mean_ratio": float(np.exp(est.mean())),
                "bias": float(est.mean() - theta),
                "bias_mcse": emp_se / math.sqrt(r),
                "empirical_se": emp_se,
                "model_se": model_se,
                "se_ratio": ratio,
                "se_ratio_mcse": ratio / math.sqrt(2 * (r - 1)),
                "coverage": coverage,
                "coverage_mcse": math.sqrt(CONF_LEVEL * (1 - CONF_LEVEL) / r),
                "replicates": r,
                **_tests(est - theta, emp_se, model_se, int(covered.sum())),
            }
        )
    table = pd.DataFrame(rows)
    for check in ("bias", "se_ratio", "coverage"):
        table[f"{check}_ok"] = table[f"{check}_p"] >= alpha_per_check
    return table


def _tests(errors: np.ndarray, emp_se: float, model_se: float, covered: int) -> dict:
    """Two-sided p-values: t test of the mean error, chi-square test of the variance ratio,
    exact binomial test of the coverage count against ``CONF_LEVEL``."""
    r = errors.size
    t = errors.mean() / (emp_se / math.sqrt(r)) if emp_se > 0 else math.inf
    variance = (r - 1) * emp_se**2 / model_se**2
    tail = stats.chi2.cdf(variance, r - 1)
    return {
        "bias_p": float(2 * stats.t.sf(abs(t), r - 1)),
        "se_ratio_p": float(min(1.0, 2 * min(tail, 1 - tail))),
        "coverage_p": float(stats.binomtest(covered, r, CONF_LEVEL).pvalue),
    }


def validate(
    replicates: int = 200,
    n: int = 5_000,
    seed: int = 1,
    scenarios: Sequence[Scenario] = ("cause_specific", "subdistribution"),
    alpha: float = 0.01,
    progress: ProgressFn | None = None,
) -> ValidationResult:
    """Run the simulation study; ``progress(done, total)`` is called after each replicate.

    Replicate ``r`` of a scenario uses seed ``seed * 100_003 + r``, so results are reproducible
    and a larger study extends a smaller one.
    """
    if replicates < 3:
        raise SpecError(f"replicates={replicates}: use at least 3 (SEs need several replicates).")
    frames = []
    total = replicates * len(scenarios)
    for s, scenario in enumerate(scenarios):
        params = study_params(scenario)
        for r in range(replicates):
            one = replicate_estimates(scenario, n, seed * 100_003 + r, params)
            frames.append(one.assign(scenario=scenario, replicate=r))
            if progress is not None:
                progress(s * replicates + r + 1, total)
    estimates = pd.concat(frames, ignore_index=True)
    per_check = alpha / (3 * estimates.groupby(["scenario", "term"]).ngroups)
    return ValidationResult(
        summarise(estimates, per_check), estimates, replicates, n, seed, per_check
    )
