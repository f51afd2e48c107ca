"""10-year ASCVD risk: the 2013 ACC/AHA Pooled Cohort Equations (PCE) and risk groups.

Goff DC Jr et al., 2013 ACC/AHA Guideline on the Assessment of Cardiovascular Risk,
Circulation 2014;129(25 Suppl 2):S49-73, Appendix 7 Table A (coefficients, baseline survival,
mean linear predictor, worked example). Black participants use the African-American equations;
everyone else the white equations, as the guideline advises for other groups. Defined for ages
40-79: outside that range the risk is null, never extrapolated.
AHA PREVENT (Khan SS et al., Circulation 2024) is in ``prevent.py``; ``risk_group`` also groups
its 10-year ASCVD risk (``prevent_risk_group``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import narwhals as nw

from cohortcalc.features._expr import label

# Goff 2013 Appendix 7 Table A. Keys: ln_age, ln_age_sq, ln_tc, ln_age_x_ln_tc, ln_hdl,
# ln_age_x_ln_hdl, ln_sbp_treated, ln_age_x_ln_sbp_treated, ln_sbp_untreated,
# ln_age_x_ln_sbp_untreated, smoker, ln_age_x_smoker, diabetes; mean of the linear predictor
# and 10-year baseline survival. Cholesterol in mg/dL, SBP in mmHg.
PCE_COEFFICIENTS: dict[tuple[str, str], dict[str, float]] = {
    ("female", "white"): {
        "ln_age": -29.799, "ln_age_sq": 4.884, "ln_tc": 13.540, "ln_age_x_ln_tc": -3.114,
        "ln_hdl": -13.578, "ln_age_x_ln_hdl": 3.149, "ln_sbp_treated": 2.019,
        "ln_sbp_untreated": 1.957, "smoker": 7.574, "ln_age_x_smoker": -1.665,
        "diabetes": 0.661, "mean": -29.18, "baseline_survival": 0.9665,
    },
    ("female", "black"): {
        "ln_age": 17.114, "ln_tc": 0.940, "ln_hdl": -18.920, "ln_age_x_ln_hdl": 4.475,
        "ln_sbp_treated": 29.291, "ln_age_x_ln_sbp_treated": -6.432,
        "ln_sbp_untreated": 27.820, "ln_age_x_ln_sbp_untreated": -6.087, "smoker": 0.691,
        "diabetes": 0.874, "mean": 86.61, "baseline_survival": 0.9533,
    },
    ("male", "white"): {
        "ln_age": 12.344, "ln_tc": 11.853, "ln_age_x_ln_tc": -2.664, "ln_hdl": -7.990,
        "ln_age_x_ln_hdl": 1.769, "ln_sbp_treated": 1.797, "ln_sbp_untreated": 1.764,
        "smoker": 7.837, "ln_age_x_smoker": -1.795, "diabetes": 0.658, "mean": 61.18,
        "baseline_survival": 0.9144,
    },
    ("male", "black"): {
        "ln_age": 2.469, "ln_tc": 0.302, "ln_hdl": -0.307, "ln_sbp_treated": 1.916,
        "ln_sbp_untreated": 1.809, "smoker": 0.549, "diabetes": 0.645, "mean": 19.54,
        "baseline_survival": 0.8954,
    },
}  # fmt: skip
PCE_AGE_RANGE = (40.0, 79.0)
PCE_INPUTS = (
    "age", "sex", "race_ethnicity", "total_cholesterol", "hdl_cholesterol", "sbp",
    "bp_treated", "smoking", "diabetes",
)  # fmt: skip
# Arnett DK et al., 2019 ACC/AHA primary-prevention guideline (Circulation 2019;140:e596):
# low < 5%, borderline 5-7.4%, intermediate 7.5-19.9% (where CAC scoring is considered),
# high >= 20%.
RISK_GROUP_LOWER_BOUNDS = (("high", 0.20), ("intermediate", 0.075), ("borderline", 0.05))
RISK_GROUPS = ("low", "borderline", "intermediate", "high")


def pce_predictors() -> dict[str, nw.Expr]:
    """The PCE predictors (Goff 2013, Appendix 7 Table A): natural logs of age, total and HDL
    cholesterol (mg/dL) and SBP (mmHg), 0/1 treated, smoker and diabetes, and the sex and race
    indicators that choose each row's equation."""
    return {
        "ln_age": nw.col("age").log(),
        "ln_tc": nw.col("total_cholesterol").log(),
        "ln_hdl": nw.col("hdl_cholesterol").log(),
        "ln_sbp": nw.col("sbp").log(),
        "treated": nw.col("bp_treated").cast(nw.Float64),
        "smoker": (nw.col("smoking") == "current").cast(nw.Float64),
        "diabetes": nw.col("diabetes").cast(nw.Float64),
        "female": nw.col("sex") == "female",
        "black": nw.col("race_ethnicity") == "black",
    }


def pce_linear_predictor(coefficients: dict[str, float]) -> nw.Expr:
    """Sum of coefficient x term for one PCE sex-race group (Goff 2013, Appendix 7 Table A).

    Terms use natural logs of age, total and HDL cholesterol (mg/dL) and SBP (mmHg).
    """
    return _linear_predictor(lambda name: coefficients.get(name, 0.0), pce_predictors())


def _linear_predictor(c: Callable[[str], Any], p: Mapping[str, nw.Expr]) -> nw.Expr:
    """The PCE sum with coefficients ``c(name)`` (numbers, or per-row expressions) and
    predictors ``p`` (see ``pce_predictors``)."""
    ln_age, treated = p["ln_age"], p["treated"]
    treated_slope = c("ln_sbp_treated") + c("ln_age_x_ln_sbp_treated") * ln_age
    untreated_slope = c("ln_sbp_untreated") + c("ln_age_x_ln_sbp_untreated") * ln_age
    return (
        ln_age * (c("ln_age") + c("ln_age_sq") * ln_age)
        + p["ln_tc"] * (c("ln_tc") + c("ln_age_x_ln_tc") * ln_age)
        + p["ln_hdl"] * (c("ln_hdl") + c("ln_age_x_ln_hdl") * ln_age)
        + p["ln_sbp"] * (treated * treated_slope + (1 - treated) * untreated_slope)
        + p["smoker"] * (c("smoker") + c("ln_age_x_smoker") * ln_age)
        + p["diabetes"] * c("diabetes")
    )


def pce_risk(predictors: Mapping[str, nw.Expr] | None = None) -> nw.Expr:
    """10-year hard-ASCVD risk (0-1) = 1 - S10^exp(sum - mean), by sex and race group.

    Goff DC Jr et al., Circulation 2014;129(25 Suppl 2):S49-73, Appendix 7 Table A.
    ``predictors``: as ``pce_predictors()`` builds them (the default), or columns already
    holding them (``derive()`` computes them once on engines that would rebuild each use).
    """
    p = pce_predictors() if predictors is None else predictors
    female, black = p["female"], p["black"]

    def by_group(name: str) -> nw.Expr:  # each row's coefficient for its sex-race group
        value = {
            group: coefficients.get(name, 0.0) for group, coefficients in PCE_COEFFICIENTS.items()
        }
        return (
            nw.when(female & black)
            .then(value[("female", "black")])
            .when(female)
            .then(value[("female", "white")])
            .when(black)
            .then(value[("male", "black")])
            .otherwise(value[("male", "white")])
        )

    centred = _linear_predictor(by_group, p) - by_group("mean")
    risk = 1 - (centred.exp() * by_group("baseline_survival").log()).exp()
    age = nw.col("age")
    undefined = (
        nw.col("sex").is_null()
        | nw.col("race_ethnicity").is_null()
        | (age < PCE_AGE_RANGE[0])
        | (age > PCE_AGE_RANGE[1])
    )
    return nw.when(undefined).then(nw.lit(None, dtype=nw.Float64)).otherwise(risk)


def risk_group(risk: nw.Expr, dtype: Any = None) -> nw.Expr:
    """2019 ACC/AHA 10-year risk group: low < 5%, borderline, intermediate 7.5-19.9%, high.

    Arnett DK et al., Circulation 2019;140:e596-e646, section 2. Labels are strings, or of
    ``dtype`` (e.g. the Enum of ``RISK_GROUPS``).
    """
    expr = nw.when(risk.is_null()).then(label(None, dtype))
    for group, lower in RISK_GROUP_LOWER_BOUNDS:
        expr = expr.when(risk >= lower).then(label(group, dtype))
    return expr.otherwise(label("low", dtype))
