"""The outcome's place in an imputation model: event indicators and Nelson–Aalen hazards.

White & Royston (2009, Stat Med 28:1982) show that imputing a covariate of a Cox model needs
the event indicator D and the Nelson–Aalen cumulative hazard H₀(T) at each participant's own
time as predictors (not T or log T). With competing events each cause's indicator and
cause-specific cumulative hazard enter (Bartlett & Taylor 2016, Stat Med 35:1, discuss why
the other causes' terms belong in a cause-specific or subdistribution analysis's model).
"""

from __future__ import annotations

import numpy as np


def nelson_aalen_at_own_time(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Ĥ(Tᵢ) = Σ_{t ≤ Tᵢ} d(t) / n(t), n(t) = #{T ≥ t} (Nelson 1972, Aalen 1978); tied times
    all count as at risk, as R ``survfit(...)$cumhaz``."""
    distinct, inverse = np.unique(time, return_inverse=True)
    at_time = np.bincount(inverse, minlength=len(distinct))
    events_at = np.bincount(inverse, weights=event.astype(np.float64), minlength=len(distinct))
    at_risk = at_time[::-1].cumsum()[::-1]
    return np.cumsum(events_at / at_risk)[inverse]


def outcome_terms(time: np.ndarray, status: np.ndarray, event_name: str) -> dict[str, np.ndarray]:
    """Indicator and cumulative hazard of each cause coded in ``status`` (0 = censored)."""
    causes = [c for c in np.unique(status) if c != 0]
    terms: dict[str, np.ndarray] = {}
    for cause in causes:
        label = event_name if len(causes) == 1 and cause == 1 else f"{event_name}=={cause:g}"
        indicator = (status == cause).astype(np.float64)
        terms[f"{label} (event)"] = indicator
        terms[f"{label} (Nelson-Aalen H)"] = nelson_aalen_at_own_time(time, indicator)
    return terms
