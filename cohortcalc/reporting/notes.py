"""Footnotes that state how every number in a table was made (STYLE.md: defaults are printed).

Each statement is read off the fitted result (ties method, confidence level, covariate terms,
strata, analysed n), never assumed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from scipy.stats import norm

from cohortcalc.reporting.format import (
    format_count,
    level_label,
    short_label,
    stratum_heading,
    variable_label,
)


def confidence_level(fit: Any) -> float:
    """The confidence level of the fit's HR intervals, read back from its summary.

    For a Wald interval exp(coef - z·se): z = (coef - log(hr_lower)) / se, level = 2Φ(z) - 1.
    """
    level = getattr(fit, "conf_level", None)
    if level is not None:
        return float(level)
    summary = fit.summary
    usable = summary[(summary["se"] > 0) & (summary["hr_lower"] > 0)]
    if usable.empty:
        return 0.95
    line = usable.iloc[0]
    z = (line["coef"] - math.log(line["hr_lower"])) / line["se"]
    return round(2.0 * norm.cdf(z) - 1.0, 3)


def covariate_names(fit: Any, exclude: tuple[str, ...]) -> list[str]:
    """Variables a fit adjusts for: its terms, dummy terms ``col[level]`` collapsed to ``col``."""
    names: list[str] = []
    for term in map(str, fit.summary.index):
        parts = [part.split("[", 1)[0] for part in term.split(":")]
        if len(parts) == 1 and parts[0] in exclude:
            continue
        name = ":".join(parts)
        if name not in names:
            names.append(name)
    return names


def _model_note(name: str, fit: Any, exposure: str, labels: dict | None) -> str:
    covariates = covariate_names(fit, (exposure,))
    adjusted = ", ".join(
        " × ".join(short_label(part, labels) for part in c.split(":")) for c in covariates
    )
    adjusted = adjusted or "nothing (crude)"
    strata = getattr(fit, "strata", None)
    strata_text = ""
    if strata:
        strata_list = [strata] if isinstance(strata, str) else list(strata)
        strata_text = "; stratified by " + ", ".join(short_label(s, labels) for s in strata_list)
    return f"{name}: adjusted for {adjusted}{strata_text}."


def _method_note(fits: list[Any]) -> list[str]:
    notes: list[str] = []
    ties = sorted({str(fit.ties) for fit in fits if hasattr(fit, "ties")})
    if ties:
        methods = " and ".join(t.capitalize() for t in ties)
        notes.append(
            f"Cox proportional hazards models; tied event times handled by the {methods} method."
        )
    fine_gray = [fit for fit in fits if hasattr(fit, "n_competing")]
    if fine_gray:
        notes.append(
            "Subdistribution hazard ratios from the Fine–Gray model (Fine & Gray, JASA "
            "1999;94:496–509): participants with a competing event stay in the risk set with "
            "inverse-probability-of-censoring weights (Kaplan–Meier censoring distribution), "
            "ties by the Breslow method and the variance is the sandwich estimator of "
            f"cmprsk::crr. Competing event(s): {_competing_text(fine_gray)}."
        )
    levels = sorted({confidence_level(fit) for fit in fits})
    level_text = "/".join(f"{100 * lv:g}%" for lv in levels)
    cox_fits = [fit for fit in fits if not hasattr(fit, "n_competing")]
    robust = any(getattr(fit, "robust", False) or getattr(fit, "cluster", None) for fit in cox_fits)
    se_text = ""
    if cox_fits:
        se_text = "; Cox SEs " + ("cluster-robust (sandwich)" if robust else "model-based")
    notes.append(
        f"{level_text} CIs of hazard ratios are Wald intervals, exp(coef ± z·SE){se_text}."
    )
    return notes


def _competing_text(fits: list[Any]) -> str:
    codes = sorted({str(c) for fit in fits for c in getattr(fit, "competing", ())})
    if not codes:
        return "none observed"
    return ", ".join(f"status code {c}" for c in codes)


def running_text(label: str) -> str:
    """A label inside a sentence: "Myocardial infarction" -> "myocardial infarction", but
    "CKD progression" stays (an acronym keeps its capitals)."""
    return label if label[:2].isupper() else label[:1].lower() + label[1:]


def _stratum_word(stratum: Any, modifier: str | None, labels: dict | None) -> str:
    if stratum is None:
        return ""
    if isinstance(stratum, bool) and modifier is not None:
        return f" ({running_text(stratum_heading(modifier, stratum, labels))})"
    return f" ({level_label(stratum)})"


def _analysed_n_notes(
    fits: Mapping[str, Mapping[Any, Any]], modifier: str | None, labels: dict | None
) -> list[str]:
    lines = []
    for name, by_stratum in fits.items():
        parts = [
            format_count(fit.n) + _stratum_word(stratum, modifier, labels)
            for stratum, fit in by_stratum.items()
        ]
        events = [format_count(fit.n_events) for fit in by_stratum.values()]
        line = f"{name}: n = {' / '.join(parts)}, events = {' / '.join(events)}"
        if all(hasattr(fit, "n_competing") for fit in by_stratum.values()):
            competing = [format_count(fit.n_competing) for fit in by_stratum.values()]
            line += f", competing events = {' / '.join(competing)}"
        lines.append(line)
    return ["Analysed: " + "; ".join(lines) + "."]


def hr_footnotes(
    fits: Mapping[str, Mapping[Any, Any]],
    *,
    exposure: str,
    event: str,
    cause: int,
    time: str,
    per_sd_term: str,
    per_sd: bool,
    modifier: str | None,
    p_trend: Mapping[str, Any] | None,
    interaction_p: Mapping[str, Any] | None,
    labels: dict | None,
    outcome_label: str | None = None,
) -> list[str]:
    """The footnotes of an HR table, in reading order; ``outcome_label`` names the events
    (else "``event`` = ``cause``")."""
    all_fits = [fit for by_stratum in fits.values() for fit in by_stratum.values()]
    what = running_text(outcome_label) if outcome_label else None
    events = (
        f"Events: {what}; person-years from baseline to the event or the end of follow-up."
        if what
        else f"Events: {event} = {cause}; person-years from {time}."
    )
    fine_gray = any(hasattr(fit, "n_competing") for fit in all_fits)
    notes = [
        "PY, person-years; HR, hazard ratio; "
        + ("sHR, subdistribution hazard ratio; " if fine_gray else "")
        + "CI, confidence interval.",
        f"{events} Incidence rates per 1,000 person-years with exact Poisson 95% CIs.",
        *_method_note(all_fits),
    ]
    for name, by_stratum in fits.items():
        notes.append(_model_note(name, next(iter(by_stratum.values())), exposure, labels))
    notes.extend(_analysed_n_notes(fits, modifier, labels))
    if modifier is not None:
        stratum = short_label(modifier, labels)
        notes.append(f"Models fitted separately within each {stratum} group.")
    if per_sd:
        notes.append(
            f"Per SD: hazard ratio per 1-SD higher {variable_label(per_sd_term, labels)}, from "
            "models with it as a continuous term and the same adjustment."
        )
    for label, given in (("p for trend", p_trend), ("p for interaction", interaction_p)):
        if given:
            flat = [
                w for v in given.values() for w in (v.values() if isinstance(v, Mapping) else [v])
            ]
            methods = {str(getattr(v, "method", "")).split(":")[0] for v in flat} - {""}
            how = ", ".join(sorted(methods)) if methods else "as computed by the analysis"
            notes.append(f"{label}: {how}.")
    return notes
