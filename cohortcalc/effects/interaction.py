"""Additive interaction from one model with a product term: ``cc.additive_interaction``.

With log hazard ratios β₁ (A alone), β₂ (B alone) and β₃ (product), HR₁₀ = e^β₁, HR₀₁ = e^β₂,
HR₁₁ = e^(β₁+β₂+β₃): RERI = HR₁₁ − HR₁₀ − HR₀₁ + 1, AP = RERI / HR₁₁,
SI = (HR₁₁ − 1) / (HR₁₀ + HR₀₁ − 2) (Rothman 1976), delta-method CIs of Hosmer & Lemeshow
(1992, Epidemiology 3:452): RERI and AP on their own scale, SI on the log scale. Reported as
Knol & VanderWeele (2012, Int J Epidemiol 41:514) recommend: the joint table of each
combination against the doubly unexposed, the stratum-specific HRs and the multiplicative term.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cohortcalc.errors import ModelError, ModelWarning


@dataclass(frozen=True)
class AdditiveInteraction:
    """RERI, AP and SI with delta-method CIs, and the Knol & VanderWeele (2012) tables.

    ``measures`` is indexed by RERI, AP, SI, multiplicative (the ratio of HRs, e^β₃): estimate,
    se (SI and multiplicative: of the log), lower, upper, p (H0: no interaction on that scale);
    ``joint`` has a row per combination of the exposures' levels with hr, hr_lower, hr_upper
    against both at their reference; ``stratified`` the HR of each exposure within each level of
    the other.
    """

    first: str
    second: str
    coefficients: tuple[str, str, str]
    levels: tuple[tuple[str, str], tuple[str, str]]
    measures: pd.DataFrame
    joint: pd.DataFrame
    stratified: pd.DataFrame
    conf_level: float
    imputations: int = 0  # m when pooled over completed data sets (t-based CIs)

    def __str__(self) -> str:
        level = f"{100 * self.conf_level:g}%"
        lines = [f"Interaction of {self.first} and {self.second} (reference: both unexposed)"]
        for row in self.joint.itertuples():
            lines.append(
                f"  {self.first} = {row.first}, {self.second} = {row.second}: "
                f"{row.hr:.3f} ({row.hr_lower:.3f} to {row.hr_upper:.3f})"
            )
        for row in self.stratified.itertuples():
            lines.append(
                f"  {row.exposure} within {row.within} = {row.level}: "
                f"{row.hr:.3f} ({row.hr_lower:.3f} to {row.hr_upper:.3f})"
            )
        for name, row in self.measures.iterrows():
            lines.append(
                f"  {name}: {row['estimate']:.3f} ({level} CI {row['lower']:.3f} to "
                f"{row['upper']:.3f}), p = {row['p']:.3g}"
            )
        lines.append("Delta-method CIs (Hosmer & Lemeshow 1992); SI on the log scale.")
        if self.imputations:
            lines.append(f"Pooled over {self.imputations} imputed data sets (Rubin's rules).")
        return "\n".join(lines)


def additive_interaction(
    fit: Any, first: str, second: str, *, conf_level: float = 0.95
) -> AdditiveInteraction:
    """RERI, AP, SI for two binary exposures from ``fit`` (``cc.cox``/``cc.finegray``) whose
    covariates include ``first * second`` (0/1, boolean or two-level columns; a Cox fit's
    numeric exposures are checked to be 0/1, a Fine–Gray fit's cannot be). Warns when an
    exposure alone is protective (Knol et al. 2011 advise recoding so the reference has the
    lowest risk) and when the SI is undefined.

    ``fit`` may be a list of the same model's fits on m ≥ 2 completed data sets
    (``cc.impute``): each quantity — the joint and stratum-specific log HRs, RERI, AP, log SI
    and the product term — is then pooled by Rubin's rules (t-based CIs with Barnard–Rubin
    df, as ``cc.pool``), with the warnings of every data set said once."""
    if not 0 < conf_level < 1:
        raise ModelError(f"conf_level={conf_level!r} must be between 0 and 1.")
    if isinstance(fit, list | tuple):
        return _pooled(list(fit), first, second, conf_level)
    names = _coefficients(fit, first, second)
    _check_binary(fit, names[:2])
    beta = fit.coef.loc[list(names)].to_numpy()
    vcov = fit.vcov.loc[list(names), list(names)].to_numpy()
    z = float(stats.norm.ppf(0.5 + conf_level / 2.0))
    levels = (_levels(fit, first, names[0]), _levels(fit, second, names[1]))
    hr10, hr01 = np.exp(beta[0]), np.exp(beta[1])
    if min(hr10, hr01) < 1:
        warnings.warn(
            f"an exposure alone is protective (HR {first} = {hr10:.3g}, {second} = {hr01:.3g}); "
            "RERI, AP and SI assume both raise risk. Recode so the combination with the lowest "
            "risk is the reference (Knol et al. 2011, Eur J Epidemiol 26:433).",
            ModelWarning,
            stacklevel=2,
        )
    measures = interaction_measures(beta, vcov, z)
    if not np.isfinite(measures.loc["SI", "estimate"]):
        warnings.warn(
            "the synergy index is undefined (HR10 + HR01 - 2 <= 0 or HR11 <= 1); report RERI.",
            ModelWarning,
            stacklevel=2,
        )
    return AdditiveInteraction(
        first=first,
        second=second,
        coefficients=names,
        levels=levels,
        measures=measures,
        joint=_joint(beta, vcov, z, levels),
        stratified=_stratified(beta, vcov, z, first, second, levels),
        conf_level=conf_level,
    )


def _pooled(fits: list[Any], first: str, second: str, conf_level: float) -> AdditiveInteraction:
    """Every quantity of ``additive_interaction`` pooled over the fits by Rubin's rules."""
    from cohortcalc.imputation.estimates import extract
    from cohortcalc.imputation.pooling import pool_scalars

    if len(fits) < 2:
        raise ModelError(f"pooling needs the fits of 2 or more imputed data sets; got {len(fits)}.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = [additive_interaction(f, first, second, conf_level=conf_level) for f in fits]
    kinds: dict[str, list[str]] = {}  # one warning per kind, its numbers from the first
    for w in caught:
        kinds.setdefault(re.sub(r"[-\d.]+", "#", str(w.message)), []).append(str(w.message))
    for messages in kinds.values():
        where = f" (in {len(messages)} of {len(fits)} imputed data sets; the first's numbers)"
        warnings.warn(messages[0] + where, ModelWarning, stacklevel=3)
    dfcom = extract(fits[0], None).dfcom
    logged = ("SI", "multiplicative")  # pooled on the log scale, as their CIs are
    names = list(results[0].measures.index)
    estimates = np.array(
        [[np.log(r.measures.loc[n, "estimate"]) if n in logged else r.measures.loc[n, "estimate"]
          for n in names] for r in results]
    )  # fmt: skip
    variances = np.array([r.measures.loc[names, "se"].to_numpy() ** 2 for r in results])
    with np.errstate(invalid="ignore"):
        measures = pool_scalars(estimates, variances, dfcom, conf_level)
    measures.index = pd.Index(names, name="measure")
    for name in logged:
        measures.loc[name, ["estimate", "lower", "upper"]] = np.exp(
            measures.loc[name, ["estimate", "lower", "upper"]].to_numpy(dtype=np.float64)
        )
    return replace(
        results[0],
        measures=measures[["estimate", "se", "lower", "upper", "p"]],
        joint=_pooled_ratios([r.joint for r in results], dfcom, conf_level),
        stratified=_pooled_ratios([r.stratified for r in results], dfcom, conf_level),
        imputations=len(fits),
    )


def _pooled_ratios(tables: list[pd.DataFrame], dfcom: float, conf_level: float) -> pd.DataFrame:
    """Rows of HRs (log_hr, se) pooled row by row on the log scale."""
    from cohortcalc.imputation.pooling import pool_scalars

    estimates = np.array([t["log_hr"].to_numpy() for t in tables])
    variances = np.array([t["se"].to_numpy() ** 2 for t in tables])
    pooled = pool_scalars(estimates, variances, dfcom, conf_level)
    out = tables[0].copy()
    out["log_hr"], out["se"] = pooled["estimate"].to_numpy(), pooled["se"].to_numpy()
    out["hr"] = np.exp(out["log_hr"])
    out["hr_lower"] = np.exp(pooled["lower"].to_numpy())
    out["hr_upper"] = np.exp(pooled["upper"].to_numpy())
    return out


def interaction_measures(beta: np.ndarray, vcov: np.ndarray, z: float) -> pd.DataFrame:
    """RERI, AP, SI (and e^β₃) from (β₁, β₂, β₃) and their covariance, with delta-method
    standard errors from the analytic gradients (Hosmer & Lemeshow 1992, eqs. 4-9)."""
    b1, b2, b3 = beta
    s = b1 + b2 + b3
    hr11, hr10, hr01 = np.exp(s), np.exp(b1), np.exp(b2)
    reri = hr11 - hr10 - hr01 + 1
    grad_reri = np.array([hr11 - hr10, hr11 - hr01, hr11])
    ap = reri / hr11
    grad_ap = np.array(
        [np.exp(b2 - s) - np.exp(-s), np.exp(b1 - s) - np.exp(-s), (hr10 + hr01 - 1) / hr11]
    )
    denominator = hr10 + hr01 - 2
    with np.errstate(invalid="ignore", divide="ignore"):
        log_si = np.log(hr11 - 1) - np.log(denominator) if hr11 > 1 and denominator > 0 else np.nan
        grad_log_si = np.array(
            [
                hr11 / (hr11 - 1) - hr10 / denominator,
                hr11 / (hr11 - 1) - hr01 / denominator,
                hr11 / (hr11 - 1),
            ]
        )
    rows = {}
    for name, estimate, gradient, null in (
        ("RERI", reri, grad_reri, 0.0),
        ("AP", ap, grad_ap, 0.0),
        ("log SI", log_si, grad_log_si, 0.0),
        ("multiplicative", b3, np.array([0.0, 0.0, 1.0]), 0.0),
    ):
        se = float(np.sqrt(gradient @ vcov @ gradient))
        p = 2 * stats.norm.sf(abs((estimate - null) / se))
        rows[name] = (estimate, se, estimate - z * se, estimate + z * se, p)
    table = pd.DataFrame.from_dict(
        rows, orient="index", columns=["estimate", "se", "lower", "upper", "p"]
    )
    for name, target in (("log SI", "SI"), ("multiplicative", "multiplicative")):
        estimate, lower, upper = table.loc[name, ["estimate", "lower", "upper"]]
        table.loc[name, ["estimate", "lower", "upper"]] = np.exp([estimate, lower, upper])
        table = table.rename(index={name: target})
    table.index.name = "measure"
    return table


def _ratio(contrast: np.ndarray, beta: np.ndarray, vcov: np.ndarray, z: float) -> dict:
    log_hr = float(contrast @ beta)
    se = float(np.sqrt(contrast @ vcov @ contrast))
    return {
        "hr": np.exp(log_hr),
        "hr_lower": np.exp(log_hr - z * se),
        "hr_upper": np.exp(log_hr + z * se),
        "log_hr": log_hr,
        "se": se,
    }


def _joint(beta, vcov, z, levels) -> pd.DataFrame:
    records = []
    for a in (0, 1):
        for b in (0, 1):
            contrast = np.array([a, b, a * b], dtype=np.float64)
            record = {"first": levels[0][a], "second": levels[1][b]}
            if a == b == 0:
                record |= {"hr": 1.0, "hr_lower": 1.0, "hr_upper": 1.0, "log_hr": 0.0, "se": 0.0}
            else:
                record |= _ratio(contrast, beta, vcov, z)
            records.append(record)
    return pd.DataFrame.from_records(records)


def _stratified(beta, vcov, z, first, second, levels) -> pd.DataFrame:
    records = []
    for exposure, other, position in ((first, second, 0), (second, first, 1)):
        for level in (0, 1):
            contrast = np.zeros(3)
            contrast[position] = 1.0
            contrast[2] = float(level)
            records.append(
                {
                    "exposure": exposure,
                    "within": other,
                    "level": levels[1 - position][level],
                }
                | _ratio(contrast, beta, vcov, z)
            )
    return pd.DataFrame.from_records(records)


def _coefficients(fit: Any, first: str, second: str) -> tuple[str, str, str]:
    """The coefficient names of A, B and A:B; refuses exposures that are not binary, a model
    without the product, or other interactions of A or B (the measures would not apply)."""
    terms = list(fit.terms)
    names = [_main_coefficient(terms, first), _main_coefficient(terms, second)]
    products = [t for t in terms if set(t.split(":")) == set(names) and t.count(":") == 1]
    if not products:
        raise ModelError(
            f"the fit has no product term of {first} and {second}; fit covariates "
            f"['{first} * {second}', ...] (coefficients: {terms})."
        )
    others = [t for t in terms if ":" in t and t != products[0] and set(t.split(":")) & set(names)]
    if others:
        raise ModelError(
            f"{first} or {second} is also in the interaction(s) {others[:3]}; RERI needs a "
            "model whose only interaction of the two exposures is their product."
        )
    return names[0], names[1], products[0]


def _check_binary(fit: Any, names: tuple[str, ...]) -> None:
    """A numeric exposure must be coded 0/1: read the Cox fit's design (kept for ``ph_test``);
    a fit without it (Fine–Gray) relies on the caller, as the docstring says."""
    likelihood = getattr(getattr(fit, "fit_data", None), "likelihood", None)
    if likelihood is None:
        return
    for name in names:
        j = list(fit.terms).index(name)
        column = likelihood.matrix[:, j] + likelihood.center[j]  # the design is stored centred
        if not np.all((np.abs(column) < 1e-9) | (np.abs(column - 1) < 1e-9)):
            values = np.unique(np.round(column, 6))[:5].tolist()
            raise ModelError(
                f"exposure {name!r} is not coded 0/1 (values {values}...); RERI, AP and SI need "
                "two binary exposures. Binarise it first (e.g. cac_agatston > 0)."
            )


def _main_coefficient(terms: list[str], exposure: str) -> str:
    if exposure in terms:
        return exposure
    coded = [t for t in terms if t.startswith(f"{exposure}[") and ":" not in t]
    if len(coded) != 1:
        raise ModelError(
            f"exposure {exposure!r} must be one binary coefficient (a 0/1, boolean or two-level "
            f"column) in the fit; found {coded or 'none'} among {terms}. Binarise it first."
        )
    return coded[0]


def _levels(fit: Any, exposure: str, coefficient: str) -> tuple[str, str]:
    if coefficient == exposure:
        return ("0", "1")
    reference = getattr(fit, "reference", {}).get(exposure, "reference")
    return (str(reference), coefficient[len(exposure) + 1 : -1])
