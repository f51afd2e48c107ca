"""``cc.standardized_risk``: covariate-adjusted (standardised) risk by exposure level.

G-computation (Robins 1986): set every row's exposure to level a, predict its risk by time t
from the fitted model and average over the rows, F_a(t) = (1/n) Σ_i F(t | a, x_i) — the risk
had everyone been exposed to a, with the cohort's own covariate distribution. Contrasts with
the first level: the risk difference F_a − F_ref and the risk ratio F_a / F_ref.

Cox fits (risk 1 − S(t | x), the cause-specific cumulative hazard's risk when competing
events are censored): the standard errors come from the influence function of F_a(t) as in
``riskRegression::ate`` (Ozenne, Scheike, Stærk et al. 2020, Biometrical Journal 62:751):
the empirical covariate term F(t | a, x_j) − F_a(t) plus the model term through the
influence functions of β̂ (I⁻¹ times the score residual) and of the baseline hazard Λ̂0(t)
(Breslow-type martingale term minus (Σ x̄ dΛ0)ᵀ IF_β). Fine–Gray fits give the cumulative
incidence of the cause directly (as ``cc.predict``); their CIs come from a seeded bootstrap
of refits, which also carries the variance of the censoring distribution the Fine–Gray
weights estimate (no influence function here covers it). Intervals: risk on
log(−log(1 − F)), difference on the plain scale, ratio on the log scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from scipy import stats

from cohortcalc.errors import ModelError
from cohortcalc.frames import is_spark_frame, to_polars
from cohortcalc.survival.newdata import code_new_rows


@dataclass(frozen=True, eq=False)
class StandardizedRisk:
    """Standardised risk by exposure level and time, and contrasts with the reference level.

    ``risk``: exposure, level, time, risk, se, lower, upper. ``contrasts``: level (against
    ``reference``), time, difference with its se/lower/upper/p, ratio with its
    se/lower/upper (se of the ratio by the delta method). ``n`` rows were averaged over.
    """

    exposure: str
    levels: tuple[Any, ...]
    times: tuple[float, ...]
    risk: pd.DataFrame
    contrasts: pd.DataFrame
    n: int
    conf_level: float
    method: str

    @property
    def reference(self) -> Any:
        return self.levels[0]

    def plot(self, **options: Any) -> Any:
        """Curves of standardised risk per level with pointwise bands (see
        ``plot_standardized_risk``)."""
        from cohortcalc.effects.standardized_plot import plot_standardized_risk

        return plot_standardized_risk(self, **options)


def standardized_risk(
    fit: Any,
    frame: Any,
    exposure: str,
    times: float | Sequence[float],
    levels: Sequence[Any] | None = None,
    competing: Any = None,
    conf_level: float = 0.95,
    n_boot: int = 200,
    seed: int = 1,
) -> StandardizedRisk:
    """Risk by each of ``times`` had every row of ``frame`` had each exposure level.

    ``fit`` is a ``cc.cox`` or ``cc.finegray`` fit of ``frame`` (the same rows: the cohort
    whose covariates are averaged over); ``exposure`` one of its covariates (categorical: all
    its levels by default, the reference first; numeric: give ``levels``, e.g. [0, 1]). The
    first level is the reference of the contrasts. Cox: influence-function SEs as
    ``riskRegression::ate``; Fine–Gray: ``n_boot`` seeded bootstrap refits (0: no interval).

    A Cox fit alone gives 1 − S(t | x); with competing events censored that is the risk had the
    competing event been abolished, not the cumulative incidence. For the cumulative incidence
    pass ``competing=`` the cause-specific ``cc.cox`` fit of the competing event (same frame and
    time; product limit of both hazards, SEs as ``ate`` on a ``CSC`` fit), or use a
    ``cc.finegray`` fit. Cox fits with weights, entry or cluster, and Spark frames, are
    refused (and strata with ``competing``).
    """
    if is_spark_frame(frame):
        raise ModelError(
            "cc.standardized_risk runs on a local frame: g-computation predicts every row "
            "under each exposure level. Fit on a local frame (.toPandas() of the analysis "
            "rows, or a random sample of them) and pass that same frame."
        )
    from cohortcalc.survival.predict import prediction_times

    horizons = prediction_times(times)
    if not 0 < conf_level < 1:
        raise ModelError(f"conf_level={conf_level!r} must be in (0, 1), e.g. 0.95.")
    design = _design_of(fit)
    chosen = _exposure_levels(fit, design, exposure, levels)
    data = to_polars(frame)
    from cohortcalc.survival.finegray_result import FineGrayResult

    if competing is not None:
        if isinstance(fit, FineGrayResult):
            raise ModelError(
                "competing= goes with a cause-specific cc.cox fit; a Fine–Gray fit already "
                "gives the cumulative incidence (drop competing=)."
            )
        from cohortcalc.effects.standardized_csc import csc_standardized

        values, n, method = csc_standardized(fit, competing, data, exposure, chosen, horizons)
    elif isinstance(fit, FineGrayResult):
        from cohortcalc.effects.standardized_finegray import finegray_standardized

        values, n, method = finegray_standardized(
            fit, data, exposure, chosen, horizons, n_boot, seed
        )
    else:
        from cohortcalc.effects.standardized_cox import cox_standardized

        values, n, method = cox_standardized(fit, data, exposure, chosen, horizons)
    risk, contrasts = _tables(exposure, chosen, horizons, values, conf_level)
    return StandardizedRisk(
        exposure=exposure,
        levels=tuple(chosen),
        times=horizons,
        risk=risk,
        contrasts=contrasts,
        n=n,
        conf_level=conf_level,
        method=(
            f"{method}; {conf_level:.0%} intervals: risk on log(-log(1 - F)), difference "
            "plain, ratio on the log scale"
        ),
    )


def _design_of(fit: Any) -> Any:
    from cohortcalc.survival.finegray_result import FineGrayResult
    from cohortcalc.survival.results import CoxResult

    if not isinstance(fit, CoxResult | FineGrayResult):
        raise ModelError(
            f"cc.standardized_risk needs a cc.cox or cc.finegray fit, not {type(fit).__name__}."
        )
    design = getattr(fit.fit_data, "design", None)
    if design is None:
        raise ModelError(
            "this fit keeps no baseline (a Spark fit); refit with cc.cox / cc.finegray on a "
            "local frame to standardise its risks."
        )
    return design


def _exposure_levels(
    fit: Any, design: Any, exposure: str, levels: Sequence[Any] | None
) -> list[Any]:
    """The exposure levels to set, checked against the fit's coding of ``exposure``."""
    sources = {f for term in design.assign for f in term.split(":")}
    strata = getattr(fit.fit_data, "strata", None) or fit.strata or ()  # Fine–Gray: a tuple
    if exposure in strata:
        raise ModelError(
            f"exposure {exposure!r} is a stratum of the fit: a stratified model has no "
            "contrast for it. Refit with it as a covariate (strata= other variables)."
        )
    if exposure not in sources:
        raise ModelError(
            f"exposure {exposure!r} is not a covariate of the fit (covariates: "
            f"{sorted(sources)}); refit with it, or name one of these."
        )
    fitted = design.levels.get(exposure)
    if fitted is None:
        if levels is None or len(levels) < 2:
            raise ModelError(
                f"exposure {exposure!r} is numeric: give levels=[...] with at least two "
                "values to set it to, the reference first (e.g. levels=[0, 1])."
            )
        bad = [v for v in levels if not _finite_number(v)]
        if bad:
            raise ModelError(f"levels {bad} of exposure {exposure!r} are not finite numbers.")
        return [float(v) for v in levels]
    if levels is None:
        return list(fitted)
    unseen = [v for v in levels if str(v) not in fitted]
    if unseen or len(levels) < 2:
        raise ModelError(
            f"levels {list(levels)} of exposure {exposure!r}: need at least two of the fit's "
            f"levels {list(fitted)}" + (f"; {unseen} never seen by the fit." if unseen else ".")
        )
    return [str(v) for v in levels]


def _finite_number(value: Any) -> bool:
    try:
        return bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


def set_exposure(data: pl.DataFrame, exposure: str, level: Any) -> pl.DataFrame:
    """``data`` with every row's exposure set to ``level`` (a fitted label or a number)."""
    if isinstance(level, str):
        return data.with_columns(pl.lit(level, dtype=pl.String).alias(exposure))
    return data.with_columns(pl.lit(level, dtype=pl.Float64).alias(exposure))


def coded(fit: Any, design: Any, data: pl.DataFrame, strata: Sequence[str]) -> Any:
    """The fit's design for the rows of ``data``."""
    return code_new_rows(data, design, fit.terms, strata)


def _tables(
    exposure: str,
    levels: list[Any],
    horizons: tuple[float, ...],
    values: tuple[np.ndarray, np.ndarray],
    conf_level: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Risk and contrast tables from (risk, covariance) per time: ``risk`` is levels x times,
    ``cov`` times x levels x levels (NaN: no interval)."""
    risk, cov = values
    z = stats.norm.ppf(0.5 + conf_level / 2.0)
    k = len(horizons)
    se = np.sqrt(np.diagonal(cov, axis1=1, axis2=2)).T  # levels x times
    with np.errstate(divide="ignore", invalid="ignore"):
        log_h = np.log(-np.log1p(-risk))
        se_log_h = se / ((1.0 - risk) * -np.log1p(-risk))
        lower = 1.0 - np.exp(-np.exp(log_h - z * se_log_h))
        upper = 1.0 - np.exp(-np.exp(log_h + z * se_log_h))
    rows = pd.DataFrame(
        {
            "exposure": exposure,
            "level": np.repeat(np.asarray(levels, dtype=object), k),
            "time": np.tile(np.asarray(horizons), len(levels)),
            "risk": risk.ravel(),
            "se": se.ravel(),
            "lower": lower.ravel(),
            "upper": upper.ravel(),
        }
    )
    parts = []
    for a in range(1, len(levels)):
        diff = risk[a] - risk[0]
        diff_se = np.sqrt(cov[:, a, a] + cov[:, 0, 0] - 2.0 * cov[:, a, 0])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = risk[a] / risk[0]
            # delta method on log(F_a / F_0)
            log_se = np.sqrt(
                cov[:, a, a] / risk[a] ** 2
                + cov[:, 0, 0] / risk[0] ** 2
                - 2.0 * cov[:, a, 0] / (risk[a] * risk[0])
            )
            p_diff = 2.0 * stats.norm.sf(np.abs(diff / diff_se))
        parts.append(
            pd.DataFrame(
                {
                    "level": levels[a],
                    "reference": levels[0],
                    "time": np.asarray(horizons),
                    "difference": diff,
                    "difference_se": diff_se,
                    "difference_lower": diff - z * diff_se,
                    "difference_upper": diff + z * diff_se,
                    "p": p_diff,
                    "ratio": ratio,
                    "ratio_se": ratio * log_se,
                    "ratio_lower": ratio * np.exp(-z * log_se),
                    "ratio_upper": ratio * np.exp(z * log_se),
                }
            )
        )
    return rows, pd.concat(parts, ignore_index=True)
