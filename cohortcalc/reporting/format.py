"""Number formatting shared by every table, figure and export.

One rule per kind of number, so the same value reads the same everywhere:
hazard ratios to two decimals, p-values to three decimals with "<0.001" below that (JAMA/AMA
Manual of Style 11th ed., 20.8), counts with thousands separators, percentages to one decimal.
"""

from __future__ import annotations

import math
import re

EN_DASH = "–"
REFERENCE_LABEL = "1.00 (reference)"
MISSING_VALUE = "—"


def _is_missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_count(value: float | None) -> str:
    """A count with thousands separators: 12345 -> "12,345"."""
    if _is_missing(value):
        return MISSING_VALUE
    return f"{round(value):,}"


def format_number(value: float | None, decimals: int = 1) -> str:
    """A fixed-decimal number with thousands separators: 12345.67 -> "12,345.7"."""
    if _is_missing(value):
        return MISSING_VALUE
    text = f"{value:,.{decimals}f}"
    return text.lstrip("-") if text.strip("-0.,") == "" else text


def format_df(value: float) -> str:
    """Denominator degrees of freedom of a pooled F test: one decimal, "> 100,000" beyond
    (the F is then a chi-square / df in all but name), "∞" without between-imputation
    variance."""
    if math.isinf(value):
        return "∞"
    return "> 100,000" if value > 100_000 else format_number(value, 1)


def format_ratio_ci(estimate: float, lower: float, upper: float, decimals: int = 2) -> str:
    """A ratio with its interval: "1.52 (1.21–1.91)" (en dash, two decimals by default)."""
    if any(_is_missing(v) for v in (estimate, lower, upper)):
        return MISSING_VALUE
    return (
        f"{format_number(estimate, decimals)} "
        f"({format_number(lower, decimals)}{EN_DASH}{format_number(upper, decimals)})"
    )


def format_p(p: float | None, prefix: bool = False) -> str:
    """A p-value: "<0.001", "0.042", ">0.99"; with ``prefix`` "p < 0.001" / "p = 0.042"."""
    if _is_missing(p):
        return MISSING_VALUE
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p-value {p} is outside [0, 1]")
    if p < 0.001:
        return "p < 0.001" if prefix else "<0.001"
    if p > 0.99:
        return "p > 0.99" if prefix else ">0.99"
    text = f"{p:.3f}"
    return f"p = {text}" if prefix else text


def format_count_percent(count: int, denominator: int) -> str:
    """A count with its column percentage: "123 (45.6%)"."""
    if denominator <= 0:
        return f"{format_count(count)} ({MISSING_VALUE})"
    return f"{format_count(count)} ({100.0 * count / denominator:.1f}%)"


def decimals_for(spread: float) -> int:
    """Decimals for a summary whose spread (SD or IQR) is ``spread``: precision of about a
    tenth of the spread, i.e. >= 10 -> 0 decimals, >= 1 -> 1, else 2.
    """
    if _is_missing(spread):
        return 1
    magnitude = abs(spread)
    if magnitude >= 10:
        return 0
    if magnitude >= 1:
        return 1
    return 2


def format_mean_sd(mean: float, sd: float, decimals: int) -> str:
    """Mean and standard deviation: "61.2 (10.3)"."""
    return f"{format_number(mean, decimals)} ({format_number(sd, decimals)})"


def format_median_iqr(median: float, q1: float, q3: float, decimals: int) -> str:
    """Median and interquartile range: "85 [12–310]"."""
    return (
        f"{format_number(median, decimals)} "
        f"[{format_number(q1, decimals)}{EN_DASH}{format_number(q3, decimals)}]"
    )


def suppressed_label(threshold: int) -> str:
    """What a suppressed count prints as: "<11" for a threshold of 11."""
    return f"<{threshold}"


VARIABLE_LABELS: dict[str, str] = {
    "age": "Age, years",
    "sex": "Sex",
    "race_ethnicity": "Race/ethnicity",
    "diabetes": "Diabetes",
    "smoking": "Smoking",
    "sbp": "Systolic blood pressure, mmHg",
    "total_cholesterol": "Total cholesterol, mg/dL",
    "hdl_cholesterol": "HDL cholesterol, mg/dL",
    "bp_treated": "Antihypertensive treatment",
    "statin": "Statin use",
    "serum_creatinine": "Serum creatinine, mg/dL",
    "cystatin_c": "Cystatin C, mg/L",
    "uacr": "UACR, mg/g",
    "serum_calcium": "Serum calcium, mg/dL",
    "serum_phosphate": "Serum phosphate, mg/dL",
    "albumin": "Albumin, g/dL",
    "pth": "PTH, pg/mL",
    "vitamin_d_25oh": "25-OH vitamin D, ng/mL",
    "alkaline_phosphatase": "Alkaline phosphatase, U/L",
    "cac_agatston": "CAC (Agatston units)",
    "cac_category": "CAC category (Agatston units)",
    "log_cac": "log(CAC+1)",
    "egfr": "eGFR, mL/min/1.73 m²",
    "egfr_cr_cys": "eGFR (creatinine–cystatin C), mL/min/1.73 m²",
    "ckd": "CKD",
    "ckd_stage_g": "CKD G stage",
    "ckd_stage_a": "CKD A stage",
    "corrected_calcium": "Albumin-corrected calcium, mg/dL",
    "ca_x_p": "Calcium × phosphate, mg²/dL²",
    "pce_risk": "Pooled Cohort Equations 10-year ASCVD risk",
    "prevent_cvd_10y": "PREVENT 10-year CVD risk",
    "prevent_ascvd_10y": "PREVENT 10-year ASCVD risk",
    "prevent_hf_10y": "PREVENT 10-year heart-failure risk",
    "mesa_chd_10y": "MESA 10-year CHD risk",
    "mesa_chd_cac_10y": "MESA 10-year CHD risk with CAC",
}


def short_label(name: str, labels: dict[str, str] | None = None) -> str:
    """A variable's label without its unit, for running text: "Age, years" -> "age"."""
    label = variable_label(name, labels).split(", ", 1)[0]
    return label if label[:2].isupper() else label[:1].lower() + label[1:]


def stratum_label(value: object) -> str:
    """How a stratum or group value prints: True/False as "Yes"/"No", anything else as str."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


def level_label(value: object) -> str:
    """A category as printed: an en dash in a range ("1-100" -> "1–100"), Yes/No for booleans,
    and a lower-case word capitalised ("female" -> "Female")."""
    text = stratum_label(value)
    text = re.sub(r"(?<=\d)-(?=\d)", EN_DASH, text)
    return text[:1].upper() + text[1:] if text[:1].islower() else text


def stratum_heading(column: str, value: object, labels: dict[str, str] | None = None) -> str:
    """The heading of a subgroup: "With CKD" / "Without CKD" for a yes/no column, else
    "Site: North"."""
    label = variable_label(column, labels)
    if isinstance(value, bool):
        return f"{'With' if value else 'Without'} {label}"
    return f"{label}: {level_label(value)}"


def variable_label(name: str, labels: dict[str, str] | None = None) -> str:
    """Display label of a variable: ``labels`` first, then the canonical one, else the name."""
    if labels and name in labels:
        return labels[name]
    return VARIABLE_LABELS.get(name, name)
