"""Coronary artery calcium: Agatston, volume and density scores, categories, log transform.

Lesion-level rows (participant_id, artery, area_mm2, peak_hu) are scored per lesion and summed
per participant. A participant in the analysis frame with no lesion rows has CAC 0 when they were
scanned: every participant counts as scanned unless the frame has a boolean ``cac_scanned``
column, in which case participants with ``cac_scanned`` false get null CAC columns.

CAC percentiles for age, sex and race (MESA, McClelland et al. Circulation 2006) are NOT
provided: the MESA reference is a fitted model rather than a table we could transcribe
faithfully here, and we will not invent one.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import narwhals as nw

from cohortcalc.features._expr import label

# Agatston et al., J Am Coll Cardiol 1990;15:827-32: a lesion is >= 1 mm^2 of voxels >= 130 HU,
# weighted by its peak attenuation: 1 for 130-199 HU, 2 for 200-299, 3 for 300-399, 4 for >= 400.
AGATSTON_MIN_AREA_MM2 = 1.0
AGATSTON_DENSITY_THRESHOLDS_HU = (130.0, 200.0, 300.0, 400.0)
# Totals are rounded to 1e-6 so floating-point summation noise cannot move a score that is
# exactly on a category boundary (e.g. 100.0) into the next category.
SCORE_DECIMALS = 6
# Agatston 1990 scanned 3-mm contiguous slices (electron-beam CT); volume = area x slice thickness.
DEFAULT_SLICE_THICKNESS_MM = 3.0
ARTERIES = ("LM", "LAD", "LCX", "RCA")
# Per-participant count of invalid lesion rows, computed alongside the scores.
INVALID_LESIONS = "_invalid_lesions"

# Category upper bounds: standard clinical (Rumberger et al., Mayo Clin Proc 1999; 2019 ACC/AHA
# primary-prevention guideline) 0 / 1-100 / 101-400 / >400; MESA (Detrano et al., NEJM 2008)
# 0 / 1-100 / 101-300 / >300.
CAC_CATEGORY_CUTS: dict[str, tuple[float, ...]] = {
    "standard": (100.0, 400.0),
    "mesa": (100.0, 300.0),
}


def agatston_density_weight(peak_hu: nw.Expr) -> nw.Expr:
    """Agatston density weight 0-4 from a lesion's peak HU (Agatston et al., JACC 1990).

    0 below 130 HU (not calcium), 1: 130-199, 2: 200-299, 3: 300-399, 4: >= 400.
    """
    t130, t200, t300, t400 = AGATSTON_DENSITY_THRESHOLDS_HU
    return (
        nw.when(peak_hu >= t400)
        .then(4)
        .when(peak_hu >= t300)
        .then(3)
        .when(peak_hu >= t200)
        .then(2)
        .when(peak_hu >= t130)
        .then(1)
        .otherwise(0)
    )


def agatston(area_mm2: nw.Expr, peak_hu: nw.Expr) -> nw.Expr:
    """Per-lesion Agatston score: area (mm^2) x density weight; lesions < 1 mm^2 score 0.

    Agatston AS et al., J Am Coll Cardiol 1990;15:827-32. Sum over lesions for the total.
    """
    counted = area_mm2 >= AGATSTON_MIN_AREA_MM2
    return nw.when(counted).then(area_mm2 * agatston_density_weight(peak_hu)).otherwise(0.0)


def lesion_area(area_mm2: nw.Expr, peak_hu: nw.Expr) -> nw.Expr:
    """Area (mm^2) of a lesion that counts for Agatston (>= 1 mm^2, peak >= 130 HU), else 0.

    Denominator of the density score and basis of the volume score (Agatston 1990 criteria).
    """
    counted = (area_mm2 >= AGATSTON_MIN_AREA_MM2) & (peak_hu >= AGATSTON_DENSITY_THRESHOLDS_HU[0])
    return nw.when(counted).then(area_mm2).otherwise(0.0)


def cac_density(agatston_total: nw.Expr, area_total: nw.Expr) -> nw.Expr:
    """CAC density score: area-weighted mean density weight (1-4), Agatston / area.

    Criqui MH et al., JAMA 2014;311:271-8. Null when there is no calcified area.
    """
    return nw.when(area_total > 0).then(agatston_total / area_total)


def cac_category_labels(cuts: Sequence[float]) -> list[str]:
    """Labels "0", "1-100", "101-400", ">400" for cut points (100, 400) (any increasing cuts)."""
    bounds = [f"{c:g}" for c in cuts]
    labels = ["0", f"1-{bounds[0]}"]
    labels += [f"{int(lo) + 1}-{hi}" for lo, hi in zip(cuts[:-1], bounds[1:], strict=True)]
    return [*labels, f">{bounds[-1]}"]


def cac_category(cac: nw.Expr, cuts: Sequence[float], dtype: Any = None) -> nw.Expr:
    """CAC category (string, or ``dtype``): 0, (0, c1], ..., > c_last; e.g. 0/1-100/101-400/>400.

    Standard cuts (Rumberger 1999; 2019 ACC/AHA); MESA 100/300 (Detrano et al., NEJM 2008).
    """
    labels = cac_category_labels(cuts)
    expr = nw.when(cac.is_null()).then(label(None, dtype))
    expr = expr.when(cac <= 0).then(label(labels[0], dtype))
    for cut, text in zip(cuts, labels[1:-1], strict=True):
        expr = expr.when(cac <= cut).then(label(text, dtype))
    return expr.otherwise(label(labels[-1], dtype))


def log_cac(cac: nw.Expr) -> nw.Expr:
    """ln(CAC + 1), the usual transform of the right-skewed Agatston score.

    e.g. Budoff MJ et al., Eur Heart J 2018;39:2401-8 (MESA 10-year outcomes).
    """
    return (cac + 1.0).log()


def resolve_category_cuts(cuts: str | Sequence[float]) -> tuple[float, ...]:
    """Named preset ("standard", "mesa") or an increasing sequence of positive cut points."""
    if isinstance(cuts, str):
        if cuts not in CAC_CATEGORY_CUTS:
            raise ValueError(f"unknown cac_categories {cuts!r}; use {sorted(CAC_CATEGORY_CUTS)}")
        return CAC_CATEGORY_CUTS[cuts]
    values = tuple(float(c) for c in cuts)
    if not values or any(b <= a for a, b in itertools.pairwise(values)) or values[0] < 1:
        raise ValueError(f"cac_categories cut points must be increasing and >= 1, got {cuts!r}")
    return values


PER_ARTERY = tuple(f"cac_agatston_{a.lower()}" for a in ARTERIES)


ARTERY_CODE = "_artery"  # a lesion row's artery as an index into ARTERIES
INVALID_CODE = len(ARTERIES)  # ... or this, for a row with a missing or NaN value, area < 0
# or an unknown artery (an invalid row: derive() refuses the lesions and names the rows)


def scored_lesions(lesions: nw.LazyFrame) -> nw.LazyFrame:
    """One row per lesion: participant_id, Agatston score ``_score``, counted area ``cac_area``
    (float64) and ``ARTERY_CODE`` (index into ARTERIES, or INVALID_CODE), in lesion order."""
    area, hu, artery = nw.col("area_mm2"), nw.col("peak_hu"), nw.col("artery")
    missing = area.is_null() | hu.is_null() | artery.is_null()
    nan = area.cast(nw.Float64).is_nan() | hu.cast(nw.Float64).is_nan()  # null only if missing
    code = nw.when(missing | nan | (area < 0)).then(INVALID_CODE)
    for index, name in enumerate(ARTERIES):
        code = code.when(artery == name).then(index)
    return lesions.select(
        "participant_id",
        _score=agatston(area, hu).cast(nw.Float64),
        cac_area=lesion_area(area, hu).cast(nw.Float64),
        **{ARTERY_CODE: code.otherwise(INVALID_CODE).cast(nw.Int8)},
    )


def participant_sums(scored: nw.LazyFrame) -> nw.LazyFrame:
    """Per-participant sums of ``scored_lesions`` rows: Agatston score per artery, counted
    area and the count of invalid rows (``INVALID_LESIONS``), unrounded, in one group-by.

    ``participant_totals`` rounds them and adds the total and volume, after the few sum
    columns have been joined to the participants. (On Polars, lesions grouped by participant
    in id order are summed straight onto the frame's rows instead: ``features._runs``.)
    """
    code, score = nw.col(ARTERY_CODE), nw.col("_score")
    split = scored.select(
        "participant_id",
        "cac_area",
        **{INVALID_LESIONS: nw.when(code == INVALID_CODE).then(1).otherwise(0)},
        **{
            name: nw.when(code == index).then(score).otherwise(0.0)
            for index, name in enumerate(PER_ARTERY)
        },
    )
    sums = [nw.col(c).sum() for c in ("cac_area", INVALID_LESIONS, *PER_ARTERY)]
    return split.group_by("participant_id").agg(*sums)


def participant_totals(sums: nw.LazyFrame, slice_thickness_mm: float) -> nw.LazyFrame:
    """``sums`` (``participant_sums`` columns, 0 for no lesions, null if not scanned) with the
    Agatston total (sum of the arteries), all rounded to ``SCORE_DECIMALS``, and the volume
    score = counted area x slice thickness (Agatston 1990 criteria)."""
    lm, lad, lcx, rca = (nw.col(c) for c in PER_ARTERY)
    totals = ["cac_agatston", "cac_area", *PER_ARTERY]
    others = [c for c in sums.collect_schema().names() if c not in totals]
    return (
        sums.with_columns(cac_agatston=lm + lad + lcx + rca)
        .select(*others, *[nw.col(c).round(SCORE_DECIMALS) for c in totals])
        .with_columns(cac_volume=nw.col("cac_area") * slice_thickness_mm)
    )


def lesion_problems() -> dict[str, nw.Expr]:
    """Row-level lesion checks (description -> condition), run when any lesion is invalid."""
    checks = {f"{c} missing": nw.col(c).is_null() for c in ("artery", "area_mm2", "peak_hu")}
    for c in ("area_mm2", "peak_hu"):
        checks[f"{c} is NaN (use null for a missing value)"] = nw.col(c).cast(nw.Float64).is_nan()
    checks["area_mm2 < 0"] = nw.col("area_mm2") < 0
    checks[f"artery not one of {ARTERIES}"] = ~nw.col("artery").is_in(ARTERIES)
    return checks
