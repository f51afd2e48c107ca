"""Event times: MI, death (CV / non-CV) as competing events, death after MI, censoring.

Two generating mechanisms (see params.py for which ratios they make true):

- cause-specific: latent Weibull PH times for MI, CV death and non-CV death; the first wins
  (Beyersmann, Allignol & Schumacher, Competing Risks and Multistate Models with R, 2012, §3.2:
  simulate from the cause-specific hazards).
- subdistribution: Fine & Gray (JASA 1999, §6) generalised with a Weibull F0 as in Beyersmann
  et al. (Stat Med 2009;28:956): MI is the first event with probability
  P1(x) = 1 - (1 - p)^exp(xβ); given MI, T has CDF F1(t|x)/P1(x) with
  F1(t|x) = 1 - (1 - p·F0(t))^exp(xβ), so the MI subdistribution hazards are proportional;
  otherwise the first event is a death from the CV / non-CV hazards.

After an MI, death follows its own Weibull PH hazard on a clock reset at the MI. Censoring is
independent: exponential loss to follow-up and the administrative end date.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from cohortcalc.synth.params import AGE_CENTRE, TERMS, HazardModel, SynthParams

DAYS_PER_YEAR = 365.25


def design_terms(
    pop: dict[str, np.ndarray], ckd: np.ndarray, cac_cat: np.ndarray
) -> dict[str, np.ndarray]:
    """The generating terms of `params.TERMS` as float arrays."""
    terms = {
        "cac_1_100": cac_cat == 1,
        "cac_101_400": cac_cat == 2,
        "cac_gt_400": cac_cat == 3,
        "cac_positive": cac_cat > 0,
        "ckd": ckd,
        "cac_pos_x_ckd": (cac_cat > 0) & ckd,
        "age_per_10y": (pop["age"] - AGE_CENTRE) / 10,
        "male": pop["male"],
        "diabetes": pop["diabetes"],
        "current_smoker": pop["smoking_idx"] == 2,
    }
    return {name: np.asarray(terms[name], dtype=np.float64) for name in TERMS}


def linear_predictor(model: HazardModel, terms: dict[str, np.ndarray]) -> np.ndarray:
    """Σ log(HR_k) · x_k over the model's terms."""
    n = next(iter(terms.values())).size
    lp = np.zeros(n)
    for name, ratio in model.hazard_ratios.items():
        lp += np.log(ratio) * terms[name]
    return lp


def weibull_times(rng: np.random.Generator, model: HazardModel, lp: np.ndarray) -> np.ndarray:
    """Invert Λ(t|x) = rate·t^shape·exp(lp) at a unit exponential (years)."""
    return (rng.exponential(1.0, lp.size) / (model.rate * np.exp(lp))) ** (1.0 / model.shape)


def subdistribution_mi(
    rng: np.random.Generator, params: SynthParams, lp: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(is_mi_first, MI time in years or inf) under proportional subdistribution hazards."""
    risk_ratio = np.exp(lp)
    p_mi = 1.0 - (1.0 - params.mi_subdist_p) ** risk_ratio
    is_mi = rng.random(lp.size) < p_mi
    u = rng.random(lp.size)
    f0 = (1.0 - (1.0 - u * p_mi) ** (1.0 / risk_ratio)) / params.mi_subdist_p
    f0 = np.clip(f0, 0.0, 1.0 - 1e-15)
    t = params.mi_subdist_scale_years * (-np.log1p(-f0)) ** (1.0 / params.mi_subdist_shape)
    return is_mi, np.where(is_mi, t, np.inf)


def _event_day(years: np.ndarray) -> np.ndarray:
    """Day number (1 = day after baseline) of an event at `years` after baseline."""
    finite = np.isfinite(years)
    days = np.floor(np.where(finite, years, 0.0) * DAYS_PER_YEAR) + 1
    return np.where(finite, days, np.iinfo(np.int32).max).astype(np.int64)


def simulate_outcomes(
    rng: np.random.Generator,
    params: SynthParams,
    terms: dict[str, np.ndarray],
    baseline_days: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per-participant outcome arrays (days since baseline, statuses, censoring reason)."""
    n = baseline_days.size
    lp_mi = linear_predictor(params.mi, terms)
    t_cv = weibull_times(rng, params.cv_death, linear_predictor(params.cv_death, terms))
    t_ncv = weibull_times(rng, params.noncv_death, linear_predictor(params.noncv_death, terms))
    if params.outcome_model == "cause_specific":
        t_mi = weibull_times(rng, params.mi, lp_mi)
    else:
        is_mi, t_mi = subdistribution_mi(rng, params, lp_mi)
        t_cv, t_ncv = np.where(is_mi, np.inf, t_cv), np.where(is_mi, np.inf, t_ncv)
    t_post = weibull_times(rng, params.post_mi_death, linear_predictor(params.post_mi_death, terms))
    post_cv = rng.random(n) < params.post_mi_cv_fraction

    epoch = dt.date(1970, 1, 1)
    admin_days = (dt.date.fromisoformat(params.administrative_end) - epoch).days - baseline_days
    t_ltfu = rng.exponential(1.0 / params.loss_to_follow_up_rate, n)
    lost = _event_day(t_ltfu) < admin_days
    censor_years = np.where(lost, t_ltfu, admin_days / DAYS_PER_YEAR)
    censor_day = np.where(lost, _event_day(t_ltfu), admin_days)

    first = np.minimum(t_mi, np.minimum(t_cv, t_ncv))
    mi = (t_mi == first) & (t_mi < censor_years)
    pre_mi_death = (t_mi != first) & (first < censor_years)
    t_death = np.where(mi, t_mi + t_post, np.where(pre_mi_death, first, np.inf))
    died = t_death < censor_years
    cv = np.where(mi, post_cv, t_cv < t_ncv) & died

    mi_status = np.where(mi, 1, np.where(pre_mi_death, 2, 0))
    mi_days = np.where(mi_status > 0, _event_day(first), censor_day)
    death_days = np.where(died, _event_day(t_death), censor_day)
    return {
        "mi_days": mi_days,
        "mi_status": mi_status,
        "death_days": death_days,
        "death_status": died.astype(np.int64),
        "cv_death_status": np.where(died, np.where(cv, 1, 2), 0),
        "lost_to_follow_up": lost & ~died,
    }
