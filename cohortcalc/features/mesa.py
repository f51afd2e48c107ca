"""MESA 10-year coronary heart disease risk, without and with coronary artery calcium.

McClelland RL et al., J Am Coll Cardiol 2015;66(15):1643-53 (Appendix: the two Cox models'
coefficients and 10-year baseline survival; risk = 1 − S10^exp(Σ βx), uncentred). Inputs:
age (years), sex, race_ethnicity (white = reference, chinese, black = African American,
hispanic), diabetes, current smoking, total and HDL cholesterol (mg/dL), ``statin`` as the
paper's lipid-lowering medication, sbp (mmHg), bp_treated, ``family_history_chd`` (heart
attack in a parent, sibling or child) and, for the CAC model, cac_agatston (ln(CAC + 1)).
Defined for ages 45-84 (MESA's range): outside it, or with a race/ethnicity outside the four
MESA groups, the risk is null, never extrapolated. Coefficients as printed in the
appendix; cross-checked against the ebmcalc.com MESA calculator's published equations.
"""

from __future__ import annotations

import math

import narwhals as nw

MESA_AGE_RANGE = (45.0, 84.0)
MESA_RACES = ("white", "chinese", "black", "hispanic")
MESA_INPUTS = (
    "age", "sex", "race_ethnicity", "diabetes", "smoking", "total_cholesterol",
    "hdl_cholesterol", "statin", "sbp", "bp_treated", "family_history_chd",
)  # fmt: skip
MESA_CAC_INPUTS = (*MESA_INPUTS, "cac_agatston")

# McClelland 2015, Appendix. Per unit: age (year), total/HDL cholesterol (mg/dL), SBP (mmHg),
# ln_cac = ln(Agatston + 1); the rest are 0/1 indicators.
MESA_COEFFICIENTS: dict[str, dict[str, float]] = {
    "without_cac": {
        "age": 0.0455, "male": 0.7496, "chinese": -0.5055, "black": -0.2111,
        "hispanic": -0.1900, "diabetes": 0.5168, "smoker": 0.4732,
        "total_cholesterol": 0.0053, "hdl_cholesterol": -0.0140, "lipid_lowering": 0.2473,
        "sbp": 0.0085, "bp_treated": 0.3381, "family_history": 0.4522,
        "baseline_survival": 0.99963,
    },
    "with_cac": {
        "age": 0.0172, "male": 0.4079, "chinese": -0.3475, "black": 0.0353,
        "hispanic": -0.0222, "diabetes": 0.3892, "smoker": 0.3717,
        "total_cholesterol": 0.0043, "hdl_cholesterol": -0.0114, "lipid_lowering": 0.1206,
        "sbp": 0.0066, "bp_treated": 0.2278, "family_history": 0.3239, "ln_cac": 0.2743,
        "baseline_survival": 0.99833,
    },
}  # fmt: skip


def _flag(expr: nw.Expr) -> nw.Expr:
    return expr.cast(nw.Float64)


def _mesa_risk(model: str) -> nw.Expr:
    """1 − S10^exp(Σ βx) for ``model`` "without_cac" or "with_cac" (McClelland 2015)."""
    b = MESA_COEFFICIENTS[model]
    c = nw.col
    race = c("race_ethnicity")
    terms = (
        b["age"] * c("age")
        + b["male"] * _flag(c("sex") == "male")
        + b["chinese"] * _flag(race == "chinese")
        + b["black"] * _flag(race == "black")
        + b["hispanic"] * _flag(race == "hispanic")
        + b["diabetes"] * _flag(c("diabetes"))
        + b["smoker"] * _flag(c("smoking") == "current")
        + b["total_cholesterol"] * c("total_cholesterol")
        + b["hdl_cholesterol"] * c("hdl_cholesterol")
        + b["lipid_lowering"] * _flag(c("statin"))
        + b["sbp"] * c("sbp")
        + b["bp_treated"] * _flag(c("bp_treated"))
        + b["family_history"] * _flag(c("family_history_chd"))
    )
    if "ln_cac" in b:
        terms = terms + b["ln_cac"] * (c("cac_agatston") + 1.0).log()
    risk = 1.0 - (terms.exp() * math.log(b["baseline_survival"])).exp()
    outside = (
        (c("age") < MESA_AGE_RANGE[0])
        | (c("age") > MESA_AGE_RANGE[1])
        | ~race.is_in(list(MESA_RACES))
        | race.is_null()
        | c("sex").is_null()
    )
    return nw.when(outside).then(nw.lit(None, dtype=nw.Float64)).otherwise(risk)


def mesa_chd_10y() -> nw.Expr:
    """MESA 10-year CHD risk (0-1) from traditional risk factors (McClelland 2015)."""
    return _mesa_risk("without_cac")


def mesa_chd_cac_10y() -> nw.Expr:
    """MESA 10-year CHD risk (0-1) with ln(CAC + 1) added (McClelland 2015)."""
    return _mesa_risk("with_cac")
