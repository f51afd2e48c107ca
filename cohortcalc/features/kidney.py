"""Kidney function: CKD-EPI 2021 eGFR (creatinine; creatinine-cystatin C) and KDIGO staging."""

from __future__ import annotations

import math
from typing import Any

import narwhals as nw

from cohortcalc.features._expr import known_flag, label

# Inker LA et al., N Engl J Med 2021;385:1737-49 (race-free CKD-EPI 2021), creatinine equation:
# 142 x min(Scr/k, 1)^a x max(Scr/k, 1)^-1.200 x 0.9938^age x 1.012 [female],
# k = 0.7 (F) / 0.9 (M), a = -0.241 (F) / -0.302 (M); Scr mg/dL, eGFR mL/min/1.73 m^2.
CKD_EPI_2021_CR = {
    "intercept": 142.0,
    "kappa": {"female": 0.7, "male": 0.9},
    "alpha": {"female": -0.241, "male": -0.302},
    "above_kappa_exponent": -1.200,
    "age_base": 0.9938,
    "female_factor": 1.012,
}
# Same paper, creatinine-cystatin C equation: 135 x min(Scr/k,1)^a x max(Scr/k,1)^-0.544 x
# min(Scys/0.8,1)^-0.323 x max(Scys/0.8,1)^-0.778 x 0.9961^age x 0.963 [female],
# k = 0.7 (F) / 0.9 (M), a = -0.219 (F) / -0.144 (M); Scys mg/L.
CKD_EPI_2021_CR_CYS = {
    "intercept": 135.0,
    "kappa": {"female": 0.7, "male": 0.9},
    "alpha": {"female": -0.219, "male": -0.144},
    "above_kappa_exponent": -0.544,
    "cystatin_kappa": 0.8,
    "cystatin_below_exponent": -0.323,
    "cystatin_above_exponent": -0.778,
    "age_base": 0.9961,
    "female_factor": 0.963,
}
# KDIGO 2012 CKD guideline (Kidney Int Suppl 2013;3:1-150), GFR categories (lower bounds) and
# albuminuria categories by UACR (mg/g): A1 < 30, A2 30-300, A3 > 300.
KDIGO_GFR_LOWER_BOUNDS = (("G1", 90.0), ("G2", 60.0), ("G3a", 45.0), ("G3b", 30.0), ("G4", 15.0))
KDIGO_ALBUMINURIA_A2_MG_G = 30.0
KDIGO_ALBUMINURIA_A3_ABOVE_MG_G = 300.0
# KDIGO 2012 definition of CKD used by default: eGFR < 60 or UACR >= 30 mg/g.
CKD_EGFR_BELOW = 60.0
CKD_DEFINITIONS = ("egfr_or_uacr", "egfr", "egfr_cr_cys_or_uacr")


def _by_sex(sex: nw.Expr, values: dict[str, float]) -> nw.Expr:
    return nw.when(sex == "female").then(values["female"]).otherwise(values["male"])


def _power(base: nw.Expr, exponent: nw.Expr | float) -> nw.Expr:
    """base ** exponent as exp(exponent x ln base) (base > 0; portable to every engine)."""
    return (base.log() * exponent).exp()


def _spline_power(ratio: nw.Expr, below: nw.Expr | float, above: float) -> nw.Expr:
    """min(ratio, 1) ** below x max(ratio, 1) ** above, as one power: one factor is 1 ** x,
    exactly 1.0 (exp of a signed zero), so the product is the other factor, bit for bit."""
    return _power(ratio, nw.when(ratio < 1.0).then(below).otherwise(above))


def egfr_ckd_epi_2021(creatinine: nw.Expr, age: nw.Expr, sex: nw.Expr) -> nw.Expr:
    """eGFR (mL/min/1.73 m^2), CKD-EPI 2021 creatinine equation without race.

    Inker LA et al., N Engl J Med 2021;385:1737-49; creatinine in mg/dL, age in years.
    """
    c = CKD_EPI_2021_CR
    ratio = creatinine / _by_sex(sex, c["kappa"])
    return (
        c["intercept"]
        * _spline_power(ratio, _by_sex(sex, c["alpha"]), c["above_kappa_exponent"])
        * (age * math.log(c["age_base"])).exp()
        * nw.when(sex == "female").then(c["female_factor"]).otherwise(1.0)
    )


def egfr_ckd_epi_2021_cr_cys(
    creatinine: nw.Expr, cystatin_c: nw.Expr, age: nw.Expr, sex: nw.Expr
) -> nw.Expr:
    """eGFR (mL/min/1.73 m^2), CKD-EPI 2021 creatinine-cystatin C equation without race.

    Inker LA et al., N Engl J Med 2021;385:1737-49; creatinine mg/dL, cystatin C mg/L.
    """
    c = CKD_EPI_2021_CR_CYS
    ratio = creatinine / _by_sex(sex, c["kappa"])
    cys_ratio = cystatin_c / c["cystatin_kappa"]
    return (
        c["intercept"]
        * _spline_power(ratio, _by_sex(sex, c["alpha"]), c["above_kappa_exponent"])
        * _spline_power(cys_ratio, c["cystatin_below_exponent"], c["cystatin_above_exponent"])
        * (age * math.log(c["age_base"])).exp()
        * nw.when(sex == "female").then(c["female_factor"]).otherwise(1.0)
    )


def ckd_stage_g(egfr: nw.Expr, dtype: Any = None) -> nw.Expr:
    """KDIGO GFR category G1 >= 90, G2 60-89, G3a 45-59, G3b 30-44, G4 15-29, G5 < 15.

    KDIGO 2012 CKD guideline, Kidney Int Suppl 2013;3:1-150 (lower bounds inclusive).
    Labels are strings, or of ``dtype`` (e.g. the Enum of the categories).
    """
    expr = nw.when(egfr.is_null()).then(label(None, dtype))
    for stage, lower in KDIGO_GFR_LOWER_BOUNDS:
        expr = expr.when(egfr >= lower).then(label(stage, dtype))
    return expr.otherwise(label("G5", dtype))


def ckd_stage_a(uacr: nw.Expr, dtype: Any = None) -> nw.Expr:
    """KDIGO albuminuria category from UACR (mg/g): A1 < 30, A2 30-300, A3 > 300.

    KDIGO 2012 CKD guideline, Kidney Int Suppl 2013;3:1-150. Labels as in ``ckd_stage_g``.
    """
    return (
        nw.when(uacr.is_null())
        .then(label(None, dtype))
        .when(uacr < KDIGO_ALBUMINURIA_A2_MG_G)
        .then(label("A1", dtype))
        .when(uacr <= KDIGO_ALBUMINURIA_A3_ABOVE_MG_G)
        .then(label("A2", dtype))
        .otherwise(label("A3", dtype))
    )


def ckd(egfr: nw.Expr, uacr: nw.Expr | None) -> nw.Expr:
    """CKD: eGFR < 60 or UACR >= 30 mg/g (UACR part omitted when ``uacr`` is None).

    KDIGO 2012 CKD guideline. True if any criterion is met; null if none is met and one is unknown.
    """
    low_gfr = known_flag(egfr, egfr < CKD_EGFR_BELOW)
    if uacr is None:
        return low_gfr
    albuminuria = known_flag(uacr, uacr >= KDIGO_ALBUMINURIA_A2_MG_G)
    return (
        nw.when(low_gfr | albuminuria)
        .then(nw.lit(True))
        .when(egfr.is_null() | uacr.is_null())
        .then(nw.lit(None, dtype=nw.Boolean))
        .otherwise(nw.lit(False))
    )
