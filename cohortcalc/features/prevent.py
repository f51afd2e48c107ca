"""10-year risk by the AHA PREVENT equations (base model): total CVD, ASCVD and heart failure.

Khan SS, Matsushita K, Sang Y, et al. Development and Validation of the American Heart
Association's PREVENT Equations. Circulation 2024;149:430-449, Supplemental Table S12A (base
model, 10-year, sex-specific log-odds coefficients). Race-free; risk = 1 / (1 + exp(-x)) where
x is the sum of coefficient x term. The coefficients below were transcribed from Table S12A as
reproduced in two independent implementations and agree digit for digit: A. Linden's Stata
``prevent10i.ado`` (SSC, 2024) and the PHP ``PreventCalculatorAPI`` (Tables S12A-E); the
authors' own R code (AHAprevent ``pred_risk_base``) rounds one of them (female CVD SBP >= 110:
0.360078), a difference below 1e-6 in the log-odds.

Total CVD and ASCVD need no BMI; the heart-failure equation does (``bmi``, an optional
column of the data dictionary), so ``derive()`` adds ``prevent_hf_10y`` only to frames that
have one. Outside the input ranges below the risk is null, never extrapolated. ``derive()``
groups ``prevent_ascvd_10y`` into ``prevent_risk_group`` with the 2019 ACC/AHA cut points
(``risk_scores.risk_group``); those were set for the PCE, whose risks run higher than
PREVENT's, so the PREVENT groups are not the guideline's PCE groups.
"""

from __future__ import annotations

from collections.abc import Mapping

import narwhals as nw

CHOLESTEROL_MG_DL_TO_MMOL_L = 0.02586  # Khan 2024 Table S12: mmol/L = mg/dL x 0.02586

# Input ranges of the AHA PREVENT calculator (professional.heart.org), as enforced by the
# authors' R package AHAprevent and documented by preventr (Mayer, CRAN 2024; it narrows SBP to
# 180) and Linden's Stata prevent (it allows eGFR to 150). Inclusive; units as in the cohort.
PREVENT_INPUT_RANGES: dict[str, tuple[float, float]] = {
    "age": (30.0, 79.0),  # years
    "total_cholesterol": (130.0, 320.0),  # mg/dL
    "hdl_cholesterol": (20.0, 100.0),  # mg/dL
    "sbp": (90.0, 200.0),  # mmHg
    "egfr": (15.0, 140.0),  # mL/min/1.73 m2 (CKD-EPI 2021, the equations' eGFR)
}
PREVENT_BMI_RANGE = (18.5, 39.9)  # kg/m2; Khan 2024 Table 1 footnote (BMI exclusions)

# Khan 2024 Supplemental Table S12A, 10-year base model. Terms (see prevent_terms): age per 10
# years from 55; non-HDL-C (mmol/L) from 3.5; HDL-C per 0.3 mmol/L from 1.3; SBP spline below
# 110 (per 20 mmHg from 110) and at/above 110 (per 20 from 130); BMI spline below 30 (per 5 from
# 25) and at/above 30 (per 5 from 30); eGFR spline below 60 (per -15 from 60) and at/above 60
# (per -15 from 90); diabetes, current smoking, antihypertensive and statin use (0/1); and the
# published interactions. "constant" is the intercept.
PREVENT_10Y_COEFFICIENTS: dict[tuple[str, str], dict[str, float]] = {
    ("cvd", "female"): {
        "age": 0.7939329, "non_hdl": 0.0305239, "hdl": -0.1606857, "sbp_low": -0.2394003,
        "sbp_high": 0.3600781, "diabetes": 0.8667604, "smoker": 0.5360739,
        "egfr_low": 0.6045917, "egfr_high": 0.0433769, "bp_treated": 0.3151672,
        "statin": -0.1477655, "bp_treated_x_sbp_high": -0.0663612,
        "statin_x_non_hdl": 0.1197879, "age_x_non_hdl": -0.0819715, "age_x_hdl": 0.0306769,
        "age_x_sbp_high": -0.0946348, "age_x_diabetes": -0.27057, "age_x_smoker": -0.078715,
        "age_x_egfr_low": -0.1637806, "constant": -3.307728,
    },
    ("cvd", "male"): {
        "age": 0.7688528, "non_hdl": 0.0736174, "hdl": -0.0954431, "sbp_low": -0.4347345,
        "sbp_high": 0.3362658, "diabetes": 0.7692857, "smoker": 0.4386871,
        "egfr_low": 0.5378979, "egfr_high": 0.0164827, "bp_treated": 0.288879,
        "statin": -0.1337349, "bp_treated_x_sbp_high": -0.0475924,
        "statin_x_non_hdl": 0.150273, "age_x_non_hdl": -0.0517874, "age_x_hdl": 0.0191169,
        "age_x_sbp_high": -0.1049477, "age_x_diabetes": -0.2251948, "age_x_smoker": -0.0895067,
        "age_x_egfr_low": -0.1543702, "constant": -3.031168,
    },
    ("ascvd", "female"): {
        "age": 0.719883, "non_hdl": 0.1176967, "hdl": -0.151185, "sbp_low": -0.0835358,
        "sbp_high": 0.3592852, "diabetes": 0.8348585, "smoker": 0.4831078,
        "egfr_low": 0.4864619, "egfr_high": 0.0397779, "bp_treated": 0.2265309,
        "statin": -0.0592374, "bp_treated_x_sbp_high": -0.0395762,
        "statin_x_non_hdl": 0.0844423, "age_x_non_hdl": -0.0567839, "age_x_hdl": 0.0325692,
        "age_x_sbp_high": -0.1035985, "age_x_diabetes": -0.2417542, "age_x_smoker": -0.0791142,
        "age_x_egfr_low": -0.1671492, "constant": -3.819975,
    },
    ("ascvd", "male"): {
        "age": 0.7099847, "non_hdl": 0.1658663, "hdl": -0.1144285, "sbp_low": -0.2837212,
        "sbp_high": 0.3239977, "diabetes": 0.7189597, "smoker": 0.3956973,
        "egfr_low": 0.3690075, "egfr_high": 0.0203619, "bp_treated": 0.2036522,
        "statin": -0.0865581, "bp_treated_x_sbp_high": -0.0322916,
        "statin_x_non_hdl": 0.114563, "age_x_non_hdl": -0.0300005, "age_x_hdl": 0.0232747,
        "age_x_sbp_high": -0.0927024, "age_x_diabetes": -0.2018525, "age_x_smoker": -0.0970527,
        "age_x_egfr_low": -0.1217081, "constant": -3.500655,
    },
    ("hf", "female"): {
        "age": 0.8998235, "sbp_low": -0.4559771, "sbp_high": 0.3576505, "diabetes": 1.038346,
        "smoker": 0.583916, "bmi_low": -0.0072294, "bmi_high": 0.2997706,
        "egfr_low": 0.7451638, "egfr_high": 0.0557087, "bp_treated": 0.3534442,
        "bp_treated_x_sbp_high": -0.0981511, "age_x_sbp_high": -0.0946663,
        "age_x_diabetes": -0.3581041, "age_x_smoker": -0.1159453, "age_x_bmi_high": -0.003878,
        "age_x_egfr_low": -0.1884289, "constant": -4.310409,
    },
    ("hf", "male"): {
        "age": 0.8972642, "sbp_low": -0.6811466, "sbp_high": 0.3634461, "diabetes": 0.923776,
        "smoker": 0.5023736, "bmi_low": -0.0485841, "bmi_high": 0.3726929,
        "egfr_low": 0.6926917, "egfr_high": 0.0251827, "bp_treated": 0.2980922,
        "bp_treated_x_sbp_high": -0.0497731, "age_x_sbp_high": -0.1289201,
        "age_x_diabetes": -0.3040924, "age_x_smoker": -0.1401688, "age_x_bmi_high": 0.0068126,
        "age_x_egfr_low": -0.1797778, "constant": -3.946391,
    },
}  # fmt: skip
PREVENT_INPUTS = (
    "age", "sex", "total_cholesterol", "hdl_cholesterol", "sbp", "bp_treated", "statin",
    "smoking", "diabetes", "egfr",
)  # fmt: skip
PREVENT_HF_INPUTS = ("age", "sex", "sbp", "bp_treated", "smoking", "diabetes", "egfr", "bmi")


PREVENT_INTERACTIONS = {  # Khan 2024 Table S12A: term = product of two predictors
    "bp_treated_x_sbp_high": ("bp_treated", "sbp_high"), "statin_x_non_hdl": ("statin", "non_hdl"),
    "age_x_non_hdl": ("age", "non_hdl"), "age_x_hdl": ("age", "hdl"),
    "age_x_sbp_high": ("age", "sbp_high"), "age_x_diabetes": ("age", "diabetes"),
    "age_x_smoker": ("age", "smoker"), "age_x_bmi_high": ("age", "bmi_high"),
    "age_x_egfr_low": ("age", "egfr_low"),
}  # fmt: skip


def prevent_predictors(bmi: bool = True) -> dict[str, nw.Expr]:
    """The centred and scaled predictors of Khan 2024 Table S12 (cholesterol given in mg/dL),
    and ``female`` (which coefficient set applies); the BMI pieces only if ``bmi``.

    Spline pieces use min/max at the knots (SBP 110 mmHg, BMI 30 kg/m2, eGFR 60).
    """
    c, mmol = nw.col, CHOLESTEROL_MG_DL_TO_MMOL_L
    predictors = {
        "female": c("sex") == "female",
        "age": (c("age") - 55) / 10,
        "non_hdl": (c("total_cholesterol") - c("hdl_cholesterol")) * mmol - 3.5,
        "hdl": (c("hdl_cholesterol") * mmol - 1.3) / 0.3,
        "sbp_low": (c("sbp").clip(upper_bound=110) - 110) / 20,
        "sbp_high": (c("sbp").clip(lower_bound=110) - 130) / 20,
        "egfr_low": (c("egfr").clip(upper_bound=60) - 60) / -15,
        "egfr_high": (c("egfr").clip(lower_bound=60) - 90) / -15,
        "diabetes": c("diabetes").cast(nw.Float64),
        "smoker": (c("smoking") == "current").cast(nw.Float64),
        "bp_treated": c("bp_treated").cast(nw.Float64),
        "statin": c("statin").cast(nw.Float64),
    }
    if bmi:
        predictors["bmi_low"] = (c("bmi").clip(upper_bound=30) - 25) / 5
        predictors["bmi_high"] = (c("bmi").clip(lower_bound=30) - 30) / 5
    return predictors


def prevent_terms(predictors: Mapping[str, nw.Expr] | None = None) -> dict[str, nw.Expr]:
    """Every term of Khan 2024 Table S12: the predictors and their published interactions.

    ``predictors``: as ``prevent_predictors()`` builds them (the default), or columns already
    holding them (``derive()`` computes them once on engines that would rebuild each use).
    """
    terms = dict(prevent_predictors() if predictors is None else predictors)
    for name, (left, right) in PREVENT_INTERACTIONS.items():
        if left in terms and right in terms:
            terms[name] = terms[left] * terms[right]
    return terms


def _ten_year_risk(
    outcome: str,
    ranges: dict[str, tuple[float, float]],
    predictors: Mapping[str, nw.Expr] | None,
) -> nw.Expr:
    """1 / (1 + exp(-log odds)) with each row's sex-specific set; null outside ``ranges``.

    One sum with each row's coefficients (female or male set): half the work of one sum per
    sex.
    """
    female_set = PREVENT_10Y_COEFFICIENTS[(outcome, "female")]
    male_set = PREVENT_10Y_COEFFICIENTS[(outcome, "male")]
    terms = prevent_terms(predictors)

    def coefficient(name: str) -> nw.Expr:
        return nw.when(terms["female"]).then(female_set[name]).otherwise(male_set[name])

    log_odds = coefficient("constant")
    for name in female_set:
        if name != "constant":
            log_odds = log_odds + coefficient(name) * terms[name]
    risk = 1 / (1 + (log_odds * -1).exp())
    undefined = nw.col("sex").is_null()
    for column, (lowest, highest) in ranges.items():
        undefined = undefined | (nw.col(column) < lowest) | (nw.col(column) > highest)
    return nw.when(undefined).then(nw.lit(None, dtype=nw.Float64)).otherwise(risk)


def prevent_cvd_10y(predictors: Mapping[str, nw.Expr] | None = None) -> nw.Expr:
    """10-year total CVD risk (0-1), PREVENT base model (Khan 2024, Table S12A, total CVD).

    Inputs: PREVENT_INPUTS; cholesterol in mg/dL, eGFR by CKD-EPI 2021 (``egfr``).
    ``predictors``: see ``prevent_terms``.
    """
    return _ten_year_risk("cvd", PREVENT_INPUT_RANGES, predictors)


def prevent_ascvd_10y(predictors: Mapping[str, nw.Expr] | None = None) -> nw.Expr:
    """10-year ASCVD risk (0-1), PREVENT base model (Khan 2024, Table S12A, ASCVD).

    Inputs: PREVENT_INPUTS; cholesterol in mg/dL, eGFR by CKD-EPI 2021 (``egfr``).
    ``predictors``: see ``prevent_terms``.
    """
    return _ten_year_risk("ascvd", PREVENT_INPUT_RANGES, predictors)


def prevent_hf_10y() -> nw.Expr:
    """10-year heart-failure risk (0-1), PREVENT base model (Khan 2024, Table S12A, HF).

    Inputs: PREVENT_HF_INPUTS (no cholesterol or statin; needs ``bmi`` in kg/m2).
    """
    ranges = {k: v for k, v in PREVENT_INPUT_RANGES.items() if "cholesterol" not in k}
    return _ten_year_risk("hf", {**ranges, "bmi": PREVENT_BMI_RANGE}, None)
