"""Demographics and classic risk factors of a MESA-like cohort at the baseline exam.

Calibrated to MESA exam 1 (Bild et al., "Multi-Ethnic Study of Atherosclerosis: objectives and
design", Am J Epidemiol 2002;156:871): six field centres, age 45-84 (mean 62, SD 10), 47% men,
38% white / 28% black / 22% Hispanic / 12% Chinese, diabetes ~13%, current smoking ~13%,
SBP ~126 mmHg, total cholesterol ~194 mg/dL, HDL ~51 mg/dL, BP treatment ~37%, statins ~15%.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from scipy.special import expit, ndtr, ndtri

#: MESA field centres (Baltimore, Chicago, Forsyth County, Los Angeles, New York, St Paul)
#: and their race/ethnicity mix (white, black, hispanic, chinese); each recruited whites
#: plus one to three minority groups (Bild et al. 2002, Table 1).
SITE_RACE_MIX: dict[str, tuple[float, float, float, float]] = {
    "BAL": (0.50, 0.50, 0.00, 0.00),
    "CHI": (0.45, 0.25, 0.00, 0.30),
    "FOR": (0.55, 0.45, 0.00, 0.00),
    "LAX": (0.15, 0.10, 0.40, 0.35),
    "NYC": (0.25, 0.30, 0.45, 0.00),
    "STP": (0.50, 0.00, 0.50, 0.00),
}
RACES: tuple[str, ...] = ("white", "black", "hispanic", "chinese")
SMOKING: tuple[str, ...] = ("never", "former", "current")
AGE_MIN, AGE_MAX, AGE_MEAN, AGE_SD = 45.0, 84.0, 62.0, 11.5
MALE_SHARE = 0.47  # MESA exam 1: 47% men (Bild et al. 2002)


def truncated_normal(
    rng: np.random.Generator, n: int, mean: float, sd: float, low: float, high: float | np.ndarray
) -> np.ndarray:
    """Inverse-CDF draw from N(mean, sd) truncated to [low, high]."""
    a, b = ndtr((low - mean) / sd), ndtr((high - mean) / sd)
    return mean + sd * ndtri(a + (b - a) * rng.random(n))


def _baseline_days(rng: np.random.Generator, n: int, start: str, end: str) -> np.ndarray:
    """Exam dates uniform over the baseline window, as days since 1970-01-01."""
    epoch = dt.date(1970, 1, 1)
    first = (dt.date.fromisoformat(start) - epoch).days
    last = (dt.date.fromisoformat(end) - epoch).days
    return rng.integers(first, last + 1, size=n)


def simulate_population(
    rng: np.random.Generator, n: int, baseline_start: str, baseline_end: str
) -> dict[str, np.ndarray]:
    """Participant-level demographics and risk factors as NumPy arrays (one entry per person)."""
    sites = np.array(list(SITE_RACE_MIX))
    site_idx = rng.integers(0, len(sites), size=n)
    mix = np.array(list(SITE_RACE_MIX.values()))[site_idx]
    race_idx = (rng.random(n)[:, None] > np.cumsum(mix, axis=1)).sum(axis=1)
    race_idx = np.minimum(race_idx, len(RACES) - 1)
    black, hispanic, chinese = (race_idx == 1), (race_idx == 2), (race_idx == 3)

    age = np.round(truncated_normal(rng, n, AGE_MEAN, AGE_SD, AGE_MIN, AGE_MAX), 1)
    age = np.clip(age, AGE_MIN, AGE_MAX)
    male = rng.random(n) < MALE_SHARE
    a10 = (age - AGE_MEAN) / 10

    diabetes_logit = (
        -2.45 + 0.35 * a10 + 0.15 * male + 0.65 * black + 0.75 * hispanic + 0.3 * chinese
    )
    diabetes = rng.random(n) < expit(diabetes_logit)
    current = rng.random(n) < expit(-1.95 - 0.4 * a10 + 0.35 * male - 0.9 * chinese)
    former = ~current & (rng.random(n) < expit(-0.55 + 0.2 * a10 + 0.55 * male - 0.6 * chinese))
    smoking_idx = np.where(current, 2, np.where(former, 1, 0))

    sbp = 126 + 6.5 * a10 + 6 * black + 3 * diabetes - 2 * chinese + rng.normal(0, 19, n)
    sbp = np.round(np.clip(sbp, 80, 230))
    bp_logit = -0.98 + 0.75 * a10 + 0.025 * (sbp - 126) + 0.6 * black + 0.7 * diabetes
    bp_treated = rng.random(n) < expit(bp_logit)
    statin = rng.random(n) < expit(-1.95 + 0.35 * a10 + 0.9 * diabetes + 0.2 * male)

    total_chol = 198 - 8 * male - 30 * statin - 4 * a10 + rng.normal(0, 34, n)
    total_chol = np.round(np.clip(total_chol, 90, 400))
    hdl = np.exp(np.log(55) - 0.2 * male - 0.06 * diabetes + rng.normal(0, 0.27, n))
    hdl = np.round(np.clip(hdl, 15, 130))

    return {
        "site": sites[site_idx],
        "baseline_days": _baseline_days(rng, n, baseline_start, baseline_end),
        "age": age,
        "male": male,
        "race_idx": race_idx,
        "diabetes": diabetes,
        "smoking_idx": smoking_idx,
        "sbp": sbp,
        "total_cholesterol": total_chol,
        "hdl_cholesterol": hdl,
        "bp_treated": bp_treated,
        "statin": statin,
    }
