"""Kidney function and mineral metabolism labs, correlated as in CKD.

A latent measured GFR (falling ~0.9 mL/min/1.73m² per year of age, plus a kidney-disease
component more likely with age, diabetes, black race and high SBP) is turned into serum
creatinine by inverting CKD-EPI 2021 (Inker et al., NEJM 2021;385:1737) and into cystatin C by
inverting CKD-EPI 2012 cystatin (Inker et al., NEJM 2012;367:20) with extra non-GFR noise.
Mineral markers follow the CKD-MBD pattern (KDIGO 2017 CKD-MBD guideline; Levin et al., Kidney
Int 2007;71:31, SEEK): phosphate and PTH rise and 25-OH vitamin D falls as GFR falls; total
calcium tracks albumin (Payne et al., BMJ 1973;4:643: 0.8 mg/dL per g/dL). CKD (eGFR < 60 or
UACR >= 30 mg/g, KDIGO 2012) is enriched to about a quarter of the cohort (MESA: ~15%).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

_KAPPA = {True: 0.9, False: 0.7}  # CKD-EPI 2021 κ (male, female)
_ALPHA = {True: -0.302, False: -0.241}  # CKD-EPI 2021 α (male, female)


def egfr_ckd_epi_2021(
    creatinine_mg_dl: np.ndarray, age: np.ndarray, male: np.ndarray
) -> np.ndarray:
    """eGFR (mL/min/1.73m²) by the race-free CKD-EPI 2021 creatinine equation.

    142 · min(Scr/κ,1)^α · max(Scr/κ,1)^-1.200 · 0.9938^age · 1.012 [female]
    (Inker et al., NEJM 2021;385:1737, Table 2).
    """
    kappa = np.where(male, _KAPPA[True], _KAPPA[False])
    alpha = np.where(male, _ALPHA[True], _ALPHA[False])
    ratio = creatinine_mg_dl / kappa
    return (
        142.0
        * np.minimum(ratio, 1.0) ** alpha
        * np.maximum(ratio, 1.0) ** -1.200
        * 0.9938**age
        * np.where(male, 1.0, 1.012)
    )


def _creatinine_from_gfr(gfr: np.ndarray, age: np.ndarray, male: np.ndarray) -> np.ndarray:
    """Invert `egfr_ckd_epi_2021` for creatinine (mg/dL)."""
    kappa = np.where(male, _KAPPA[True], _KAPPA[False])
    alpha = np.where(male, _ALPHA[True], _ALPHA[False])
    scaled = gfr / (142.0 * 0.9938**age * np.where(male, 1.0, 1.012))
    ratio = np.where(scaled >= 1.0, scaled ** (1.0 / alpha), scaled ** (1.0 / -1.200))
    return ratio * kappa


def _cystatin_from_gfr(gfr: np.ndarray, age: np.ndarray, male: np.ndarray) -> np.ndarray:
    """Invert CKD-EPI 2012 cystatin C: 133·min(Scys/0.8,1)^-0.499·max(Scys/0.8,1)^-1.328
    ·0.996^age·0.932 [female] (Inker et al., NEJM 2012;367:20)."""
    scaled = gfr / (133.0 * 0.996**age * np.where(male, 1.0, 0.932))
    ratio = np.where(scaled >= 1.0, scaled ** (1.0 / -0.499), scaled ** (1.0 / -1.328))
    return ratio * 0.8


def _latent_gfr(
    rng: np.random.Generator, pop: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Latent measured GFR (mL/min/1.73m²) and the kidney-disease flag that lowers it."""
    n = pop["age"].size
    a10 = (pop["age"] - 62.0) / 10
    black = pop["race_idx"] == 1
    gfr = 93.0 - 9.0 * a10 + rng.normal(0, 14, n)
    kidney_disease_logit = (
        -1.75 + 0.45 * a10 + 0.8 * pop["diabetes"] + 0.35 * black + 0.012 * (pop["sbp"] - 126)
    )
    kidney_disease = rng.random(n) < expit(kidney_disease_logit)
    gfr = np.where(kidney_disease, gfr * rng.uniform(0.25, 0.85, n), gfr)
    return np.clip(gfr, 6.0, 150.0), kidney_disease


def simulate_labs(rng: np.random.Generator, pop: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Baseline labs in canonical units, plus the generating `egfr` and `ckd` flag."""
    n = pop["age"].size
    age, male = pop["age"], pop["male"]
    black, hispanic = pop["race_idx"] == 1, pop["race_idx"] == 2
    gfr, kidney_disease = _latent_gfr(rng, pop)
    creatinine = np.round(np.maximum(_creatinine_from_gfr(gfr, age, male), 0.3), 2)
    egfr = egfr_ckd_epi_2021(creatinine, age, male)
    cys_gfr = gfr * np.exp(rng.normal(0, 0.12, n))
    cystatin = np.round(np.maximum(_cystatin_from_gfr(cys_gfr, age, male), 0.4), 2)

    low_gfr = np.maximum(0.0, 60.0 - gfr)  # mL/min below 60: drives CKD-MBD
    log_uacr = (
        np.log(5.5)
        + 1.0 * pop["diabetes"]
        + 0.012 * (pop["sbp"] - 126)
        + 1.4 * kidney_disease
        + 0.02 * low_gfr
        + rng.normal(0, 1.0, n)
    )
    uacr = np.round(np.clip(np.exp(log_uacr), 0.5, 5000), 1)
    albumin = 4.2 - 0.01 * (age - 62) - 0.25 * (uacr >= 300) - 0.004 * low_gfr
    albumin = np.round(np.clip(albumin + rng.normal(0, 0.28, n), 2.0, 5.4), 1)
    corrected_calcium = 9.4 - 0.006 * low_gfr + rng.normal(0, 0.35, n)
    calcium = np.round(corrected_calcium + 0.8 * (albumin - 4.0), 1)
    phosphate = 3.5 + 0.2 * ~male + 0.025 * low_gfr + rng.normal(0, 0.45, n)
    phosphate = np.round(np.clip(phosphate, 1.5, 9.0), 1)
    season = np.cos(2 * np.pi * ((pop["baseline_days"] % 365.25) - 225) / 365.25)
    vitamin_d = (
        28 - 8 * black - 4 * hispanic - 3 * pop["diabetes"] - 0.12 * low_gfr + 4 * season
    ) + rng.normal(0, 8.5, n)
    vitamin_d = np.round(np.clip(vitamin_d, 4.0, 120.0), 1)
    log_pth = (
        np.log(42)
        + 0.022 * low_gfr
        - 0.012 * (vitamin_d - 25)
        + 0.15 * black
        + 0.05 * (phosphate - 3.6)
    )
    pth = np.round(np.exp(log_pth + rng.normal(0, 0.33, n)), 1)
    log_alp = np.log(70) + 0.1 * ~male + 0.005 * low_gfr - 0.004 * (vitamin_d - 25)
    alp = np.round(np.exp(log_alp + rng.normal(0, 0.25, n)))
    return {
        "serum_creatinine": creatinine,
        "cystatin_c": cystatin,
        "uacr": uacr,
        "serum_calcium": calcium,
        "serum_phosphate": phosphate,
        "albumin": albumin,
        "pth": pth,
        "vitamin_d_25oh": vitamin_d,
        "alkaline_phosphatase": alp,
        "egfr": egfr,
        "ckd": (egfr < 60) | (uacr >= 30),
    }
