"""E-values for hazard ratios: ``cc.evalue`` and ``cc.evalues``.

The E-value (VanderWeele & Ding 2017, Ann Intern Med 167:268) is the minimum strength of
association, on the risk-ratio scale, that an unmeasured confounder would need with both the
exposure and the outcome to explain away an estimate: RR + sqrt(RR (RR − 1)) for RR ≥ 1 (1/RR
first if RR < 1). For the CI it is computed at the limit closer to 1, and is 1 if the CI
contains 1. A hazard ratio is a risk ratio only when the outcome is rare at the end of
follow-up (< 15%, VanderWeele & Ding 2017, Table 2); otherwise it is first converted with
RR ≈ (1 − 0.5^√HR) / (1 − 0.5^√(1/HR)) (VanderWeele 2020, Biometrics 76:746; the
``EValue`` R package's ``rare = FALSE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cohortcalc.errors import ModelError

RARE_OUTCOME_RISK = 0.15


@dataclass(frozen=True)
class EValue:
    """E-values of a hazard ratio and of its CI limit closer to 1.

    ``rare`` says whether the rare-outcome approximation (HR taken as RR) was used; otherwise
    ``risk_ratio`` (and the limits) are the converted values the E-values are computed from.
    ``ci`` is None if no limits were given.
    """

    hr: float
    lower: float | None
    upper: float | None
    rare: bool
    outcome_risk: float
    risk_ratio: float
    point: float
    ci: float | None

    def __str__(self) -> str:
        basis = (
            "HR taken as the risk ratio (outcome rare: "
            if self.rare
            else "HR converted to a risk ratio with (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR)) "
            "(outcome common: "
        )
        ci = "" if self.ci is None else f", CI limit {self.ci:.2f}"
        return (
            f"E-value {self.point:.2f}{ci} for HR {self.hr:.3g}; {basis}"
            f"risk {self.outcome_risk:.1%} at the end of follow-up)"
        )


def evalue(
    hr: float,
    lower: float | None = None,
    upper: float | None = None,
    *,
    outcome_risk: float,
) -> EValue:
    """E-values of ``hr`` and its CI (``lower``, ``upper``); ``outcome_risk`` is the outcome's
    cumulative incidence at the end of follow-up (e.g. from ``cc.cumulative_incidence``), which
    decides whether the HR may be taken as a risk ratio (risk < 15%)."""
    if not 0 <= outcome_risk <= 1:
        raise ModelError(f"outcome_risk={outcome_risk!r} must be a proportion between 0 and 1.")
    values = [v for v in (hr, lower, upper) if v is not None]
    if any(not np.isfinite(v) or v <= 0 for v in values):
        raise ModelError(f"hazard ratios must be positive and finite; got {values}.")
    if (lower is None) != (upper is None):
        raise ModelError("give both CI limits (lower and upper) or neither.")
    if lower is not None and not lower <= hr <= upper:
        raise ModelError(f"the CI ({lower}, {upper}) does not contain the HR {hr}.")
    rare = outcome_risk < RARE_OUTCOME_RISK
    ratio = float(hr) if rare else hr_to_risk_ratio(hr)
    ci_value = None
    if lower is not None and upper is not None:
        low, high = (lower, upper) if rare else (hr_to_risk_ratio(lower), hr_to_risk_ratio(upper))
        ci_value = 1.0 if low <= 1 <= high else evalue_of_risk_ratio(low if low > 1 else high)
    return EValue(
        hr=float(hr),
        lower=None if lower is None else float(lower),
        upper=None if upper is None else float(upper),
        rare=rare,
        outcome_risk=float(outcome_risk),
        risk_ratio=ratio,
        point=evalue_of_risk_ratio(ratio),
        ci=ci_value,
    )


def evalue_of_risk_ratio(risk_ratio: float) -> float:
    """VanderWeele & Ding (2017) eq. 1: RR + sqrt(RR (RR − 1)), with RR < 1 inverted first."""
    rr = risk_ratio if risk_ratio >= 1 else 1.0 / risk_ratio
    return float(rr + np.sqrt(rr * (rr - 1.0)))


def hr_to_risk_ratio(hr: float) -> float:
    """VanderWeele (2020) approximate risk ratio of a hazard ratio for a common outcome."""
    return float((1.0 - 0.5 ** np.sqrt(hr)) / (1.0 - 0.5 ** np.sqrt(1.0 / hr)))


def evalues(fit: Any, *, outcome_risk: float, terms: Sequence[str] | None = None) -> pd.DataFrame:
    """E-values of every term of a ``cc.cox``/``cc.finegray`` fit (or of ``terms``): hr,
    hr_lower, hr_upper, evalue, evalue_ci, rare (whether the rare-outcome approximation was
    used). ``outcome_risk`` as in ``evalue``."""
    summary = fit.summary
    chosen = list(summary.index if terms is None else terms)
    missing = [t for t in chosen if t not in summary.index]
    if missing:
        raise ModelError(f"terms {missing} are not in the fit; its terms: {list(summary.index)}.")
    records = []
    for term in chosen:
        row = summary.loc[term]
        result = evalue(row["hr"], row["hr_lower"], row["hr_upper"], outcome_risk=outcome_risk)
        records.append(
            {
                "term": term,
                "hr": row["hr"],
                "hr_lower": row["hr_lower"],
                "hr_upper": row["hr_upper"],
                "evalue": result.point,
                "evalue_ci": result.ci,
                "rare": result.rare,
            }
        )
    return pd.DataFrame.from_records(records).set_index("term")
