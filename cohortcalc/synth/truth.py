"""The known truth: what each true ratio means, realised summaries, and true MI CIFs."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from cohortcalc.synth.params import AGE_CENTRE, TERMS, HazardModel, SynthParams

TERM_DEFINITIONS: dict[str, str] = {
    "cac_1_100": "0 < cac_agatston <= 100",
    "cac_101_400": "100 < cac_agatston <= 400",
    "cac_gt_400": "cac_agatston > 400",
    "cac_positive": "cac_agatston > 0",
    "ckd": "egfr (CKD-EPI 2021 creatinine) < 60 or uacr >= 30 mg/g",
    "cac_pos_x_ckd": "(cac_agatston > 0) * ckd; multiplies the CAC HR within CKD",
    "age_per_10y": f"(age - {AGE_CENTRE:g}) / 10",
    "male": "sex == 'male'",
    "diabetes": "diabetes",
    "current_smoker": "smoking == 'current'",
}


def _ratio_kinds(model: str) -> dict[str, str]:
    if model == "cause_specific":
        mi = (
            "cause-specific hazard ratios of MI (competing event: death without prior MI); "
            "the MI subdistribution hazard ratios are then NOT constant over time"
        )
        death = "cause-specific hazard ratios of death without prior MI from this cause"
    else:
        mi = (
            "subdistribution hazard ratios of MI (Fine & Gray 1999; competing event: death "
            "without prior MI); the MI cause-specific hazard ratios are then NOT constant"
        )
        death = (
            "cause-specific hazard ratios of the latent death process of participants who "
            "never have an MI (Beyersmann et al. 2009); not a ratio of the observed hazards"
        )
    return {
        "mi": mi,
        "cv_death": death,
        "noncv_death": death,
        "post_mi_death": "hazard ratios of death after MI, time since MI (clock reset)",
    }


def generating_terms(frame: pl.DataFrame) -> pl.DataFrame:
    """The generating terms (`params.TERMS`) as Float64 columns from an analysis frame."""
    cac = pl.col("cac_agatston")
    ckd = pl.col("ckd").cast(pl.Float64)
    return frame.select(
        cac_1_100=((cac > 0) & (cac <= 100)).cast(pl.Float64),
        cac_101_400=((cac > 100) & (cac <= 400)).cast(pl.Float64),
        cac_gt_400=(cac > 400).cast(pl.Float64),
        cac_positive=(cac > 0).cast(pl.Float64),
        ckd=ckd,
        cac_pos_x_ckd=(cac > 0).cast(pl.Float64) * ckd,
        age_per_10y=(pl.col("age") - AGE_CENTRE) / 10,
        male=(pl.col("sex") == "male").cast(pl.Float64),
        diabetes=pl.col("diabetes").cast(pl.Float64),
        current_smoker=(pl.col("smoking") == "current").cast(pl.Float64),
    ).select(TERMS)


def _risk_ratio(model: HazardModel, terms: pl.DataFrame) -> np.ndarray:
    lp = np.zeros(terms.height)
    for name, ratio in model.hazard_ratios.items():
        lp += np.log(ratio) * terms[name].to_numpy()
    return np.exp(lp)


def true_mi_cif(
    params: SynthParams, terms: pl.DataFrame, years: np.ndarray, steps: int = 400
) -> np.ndarray:
    """True P(MI first by t | x), shape (participants, times), in the absence of censoring.

    Subdistribution: 1 - (1 - p·F0(t))^exp(xβ) (Fine & Gray 1999 §6). Cause-specific:
    ∫0^t λ_MI(s) exp(-Λ_MI(s) - Λ_CV(s) - Λ_nonCV(s)) ds: trapezoidal rule in u = s^shape_MI
    (so the integrand stays finite at 0) on `steps` steps.
    """
    years = np.asarray(years, dtype=np.float64)
    r_mi = _risk_ratio(params.mi, terms)[:, None]
    if params.outcome_model == "subdistribution":
        f0 = 1 - np.exp(-((years / params.mi_subdist_scale_years) ** params.mi_subdist_shape))
        return 1 - (1 - params.mi_subdist_p * f0[None, :]) ** r_mi
    shape = params.mi.shape
    others = [
        (m.rate * _risk_ratio(m, terms)[:, None], m.shape)
        for m in (params.cv_death, params.noncv_death)
    ]
    cif = np.empty((terms.height, years.size))
    for j, t in enumerate(years):
        u = np.linspace(0.0, t**shape, steps + 1)  # u = s^shape: dΛ_MI = rate·r·du
        s = u ** (1.0 / shape)
        total = params.mi.rate * r_mi * u[None, :]
        for scale, other_shape in others:
            total = total + scale * s[None, :] ** other_shape
        density = params.mi.rate * r_mi * np.exp(-total)
        cif[:, j] = np.trapezoid(density, u, axis=1)
    return cif


def _profile_cifs(params: SynthParams) -> dict[str, Any]:
    """True MI CIFs per CAC category x CKD at the reference profile, and the implied
    subdistribution HRs exp(cloglog F(t|x) - cloglog F(t|ref)) (Fine & Gray 1999, eq. 2)."""
    times = np.array([5.0, 10.0, 15.0])
    cats = list(TERMS[:3])
    rows = []
    for level in range(4):
        for ckd in (0.0, 1.0):
            row = dict.fromkeys(TERMS, 0.0)
            if level:
                row |= {cats[level - 1]: 1.0, "cac_positive": 1.0, "cac_pos_x_ckd": ckd}
            rows.append(row | {"ckd": ckd})
    cif = true_mi_cif(params, pl.DataFrame(rows), times)
    cloglog = np.log(-np.log1p(-cif))
    ratio = np.exp(cloglog - cloglog[0])
    labels = ("0", "1-100", "101-400", ">400")
    return {
        "profile": f"age {AGE_CENTRE:g}, female, no diabetes, not a current smoker",
        "times_years": times.tolist(),
        "note": "constant over t only in the subdistribution mode",
        "rows": [
            {
                "cac_category": labels[i // 2],
                "ckd": bool(i % 2),
                "mi_cif": cif[i].round(6).tolist(),
                "subdistribution_hr_vs_cac0_no_ckd": ratio[i].round(4).tolist(),
            }
            for i in range(len(rows))
        ],
    }


def _realised(analysis: pl.DataFrame) -> dict[str, Any]:
    """Realised prevalences and rates (null where the cohort has no one to count)."""
    summary = analysis.select(
        ckd_prevalence=pl.col("ckd").mean(),
        egfr_lt_60_prevalence=(pl.col("egfr") < 60).mean(),
        uacr_ge_30_prevalence=(pl.col("uacr") >= 30).mean(),
        cac_zero_share_age_lt_65=(pl.col("cac_agatston") == 0).filter(pl.col("age") < 65).mean(),
        mi_events=(pl.col("mi_status") == 1).sum().cast(pl.Int64),
        deaths_without_mi=(pl.col("mi_status") == 2).sum().cast(pl.Int64),
        deaths=pl.col("death_status").sum().cast(pl.Int64),
        mi_person_years=pl.col("mi_years").sum(),
        median_follow_up_years=pl.col("death_years").median(),
    ).row(0, named=True)
    shares = analysis["cac_category"].value_counts(normalize=True).sort("cac_category")
    summary["cac_category_shares"] = {
        str(c): float(s) for c, s in zip(shares["cac_category"], shares["proportion"], strict=True)
    }
    summary["mi_rate_per_1000_person_years"] = (
        1000 * summary["mi_events"] / summary["mi_person_years"]
        if summary["mi_person_years"] > 0
        else None
    )
    return summary


def build_truth(
    params: SynthParams, seed: int, tables: dict[str, pl.DataFrame], analysis: pl.DataFrame
) -> dict[str, Any]:
    """JSON-able truth: parameters, what each ratio is, row counts, realised summaries."""
    return {
        "generator": "cohortcalc.synth.simulate_cohort",
        "seed": seed,
        "n": analysis.height,
        "outcome_model": params.outcome_model,
        "ratio_kinds": _ratio_kinds(params.outcome_model),
        "true_hazard_ratios": {
            name: dict(getattr(params, name).hazard_ratios)
            for name in ("mi", "cv_death", "noncv_death", "post_mi_death")
        },
        "terms": TERM_DEFINITIONS,
        "status_codes": {
            "mi_status": {"0": "censored", "1": "MI", "2": "death without prior MI (competing)"},
            "cv_death_status": {"0": "censored", "1": "CV death", "2": "non-CV death"},
        },
        "true_mi_cif_by_profile": _profile_cifs(params),
        "params": params.to_dict(),
        "row_counts": {name: frame.height for name, frame in tables.items()},
        "realised": _realised(analysis),
    }
