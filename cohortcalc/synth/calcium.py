"""Coronary artery calcium as lesion-level CT rows, and the Agatston score they imply.

Two-part model calibrated to MESA: P(CAC > 0) rises with age, male sex, diabetes, smoking and
CKD and is lower in black, Hispanic and Chinese than white participants (McClelland et al.,
Circulation 2006;113:30; Bild et al., Circulation 2005;111:1313: CAC > 0 in 70% of white men,
45% of white women); among CAC > 0, log score ~ normal (MESA: ~50% CAC 0, ~26% 1-100,
~13% 101-400, ~10% > 400; Detrano et al., NEJM 2008;358:1336). Each positive participant's
latent score is spread over lesions (artery, area mm², peak HU >= 130) and the Agatston score
is then *recomputed from the lesions* (Agatston et al., JACC 1990;15:827): Σ area × density
weight (1: 130-199 HU, 2: 200-299, 3: 300-399, 4: >= 400), lesions < 1 mm² ignored.
Some participants (also with CAC 0) carry sub-1 mm² specks that must not count.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from cohortcalc.synth.population import truncated_normal

ARTERIES: tuple[str, ...] = ("LM", "LAD", "LCX", "RCA")
_ARTERY_P = np.array([0.10, 0.42, 0.22, 0.26])
#: Agatston density-weight thresholds (HU) and minimum lesion area (mm²), Agatston et al. 1990.
DENSITY_THRESHOLDS_HU: tuple[int, ...] = (130, 200, 300, 400)
MIN_LESION_AREA_MM2 = 1.0
#: Largest simulated lesion (mm²); bigger shares are cut, so the score is what lesions imply.
MAX_AREA_MM2 = 300.0
#: Category labels and right-closed upper bounds: 0 | (0, 100] | (100, 400] | > 400.
CAC_CATEGORIES: tuple[str, ...] = ("0", "1-100", "101-400", ">400")
#: Upper truncation of the latent score (MESA's largest scores are of this order).
MAX_LATENT_SCORE = 8000.0


def density_weight(peak_hu: np.ndarray) -> np.ndarray:
    """Agatston weight 1-4 from peak HU (0 below 130 HU)."""
    return np.searchsorted(np.asarray(DENSITY_THRESHOLDS_HU), peak_hu, side="right")


def agatston_from_arrays(
    owner: np.ndarray, area_mm2: np.ndarray, peak_hu: np.ndarray, n: int
) -> np.ndarray:
    """Agatston score per participant index 0..n-1 from lesion arrays (Agatston et al. 1990).

    Areas are multiples of 0.1 mm², so the sum is done exactly in tenths and rounded to 0.1.
    """
    counted = area_mm2 >= MIN_LESION_AREA_MM2
    tenths = np.where(counted, np.rint(area_mm2 * 10).astype(np.int64) * density_weight(peak_hu), 0)
    return np.bincount(owner, weights=tenths, minlength=n).round() / 10


def cac_category(score: np.ndarray) -> np.ndarray:
    """Index into `CAC_CATEGORIES`: 0 | (0,100] | (100,400] | >400."""
    return np.searchsorted(np.array([0.0, 100.0, 400.0]), score, side="left")


def _latent_score(
    rng: np.random.Generator, pop: dict[str, np.ndarray], ckd: np.ndarray
) -> np.ndarray:
    n = pop["age"].size
    a10 = (pop["age"] - 62.0) / 10
    race = pop["race_idx"]
    race_shift = np.array([0.0, -0.55, -0.45, -0.35])[race]
    smoking = np.array([0.0, 0.25, 0.45])[pop["smoking_idx"]]
    logit = (
        -0.55
        + 0.8 * a10
        + 1.05 * pop["male"]
        + race_shift
        + 0.5 * pop["diabetes"]
        + smoking
        + 0.45 * ckd
        + 0.008 * (pop["sbp"] - 126)
    )
    positive = rng.random(n) < expit(logit)
    mean_log = 4.2 + 0.35 * a10 + 0.45 * pop["male"] + 0.3 * pop["diabetes"] + 0.4 * ckd
    log_score = truncated_normal(rng, n, 0.0, 1.7, -np.inf, np.log(MAX_LATENT_SCORE) - mean_log)
    return np.where(positive, np.maximum(np.exp(mean_log + log_score), 1.0), 0.0)


def simulate_lesions(
    rng: np.random.Generator, pop: dict[str, np.ndarray], ckd: np.ndarray
) -> dict[str, np.ndarray]:
    """Lesion rows (owner index, artery index, lesion_id, area_mm2, peak_hu), sorted by owner."""
    n = pop["age"].size
    latent = _latent_score(rng, pop, ckd)
    n_real = np.where(latent > 0, 1 + rng.poisson(0.6 * latent**0.4), 0)
    n_speck = np.where(rng.random(n) < 0.06, 1 + rng.poisson(0.5, n), 0)
    owner_real = np.repeat(np.arange(n), n_real)
    owner_speck = np.repeat(np.arange(n), n_speck)

    score = latent[owner_real]
    peak_real = 130 + rng.gamma(2.0, 45 + 12 * np.log(score))
    share = rng.exponential(1.0, owner_real.size)
    share /= np.bincount(owner_real, weights=share, minlength=n)[owner_real]
    area_real = np.clip(
        score * share / density_weight(peak_real), MIN_LESION_AREA_MM2, MAX_AREA_MM2
    )
    area_speck = rng.uniform(0.2, 0.95, owner_speck.size)
    peak_speck = 130 + rng.gamma(1.5, 30, owner_speck.size)

    owner = np.concatenate([owner_real, owner_speck])
    order = np.argsort(owner, kind="stable")
    owner = owner[order]
    area = np.round(np.concatenate([area_real, area_speck])[order], 1)
    peak = np.floor(np.concatenate([peak_real, peak_speck])[order]).astype(np.int64)
    artery = rng.choice(len(ARTERIES), size=owner.size, p=_ARTERY_P)
    starts = np.searchsorted(owner, np.arange(n))
    lesion_id = np.arange(owner.size) - starts[owner] + 1
    return {
        "owner": owner,
        "artery_idx": artery,
        "lesion_id": lesion_id,
        "area_mm2": area,
        "peak_hu": peak,
    }
