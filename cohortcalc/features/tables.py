"""Per-participant side table from the long tables (lesions, events, follow-up).

Built on the narrow key columns of the analysis frame (participant_id, baseline_date, age,
cac_scanned) and checked there, so that the wide frame is touched once, at the end.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import narwhals as nw

from cohortcalc.errors import FeatureError
from cohortcalc.features import cac, outcomes
from cohortcalc.features._checks import raise_violations
from cohortcalc.features._engine import (
    align,
    attach,
    keyed_rows,
    left_join,
    materialize,
    unique_sorted_key,
)
from cohortcalc.features._runs import placed_lesion_sums

LESION_COLUMNS = ("participant_id", "artery", "area_mm2", "peak_hu")
LESION_OUTPUTS = (
    "cac_agatston", *(f"cac_agatston_{a.lower()}" for a in cac.ARTERIES), "cac_area",
    "cac_volume", "cac_density",
)  # fmt: skip
OUTCOME_INPUTS = ("participant_id", "baseline_date")
SIDE_KEYS = ("participant_id", "baseline_date", "age", "cac_scanned")


def with_side_columns(
    frame: nw.LazyFrame,
    columns: set[str],
    lesions: Any,
    events: Any,
    followup: Any,
    slice_thickness_mm: float,
    censor_date: dt.date | None,
    landmark_days: int | None,
) -> nw.LazyFrame:
    """``frame`` with lesion scores and/or outcome columns appended (replacing its own).

    The long tables are reduced to one row per participant and joined onto the narrow key
    columns (``SIDE_KEYS``); that side table is checked, then placed alongside ``frame`` once.
    """
    if "participant_id" not in columns:
        raise FeatureError("lesions=/events= given but the frame has no participant_id column.")
    produced = [*LESION_OUTPUTS] if lesions is not None else []
    if events is not None:
        lacks_age = "age" not in columns
        produced += [c for c in outcomes.OUTCOME_COLUMNS if not (lacks_age and "age_" in c)]
    frame = frame.drop(*[c for c in produced if c in columns])
    keys = [c for c in SIDE_KEYS if c in columns]
    side = keyed_rows(frame, keys)
    if lesions is not None:
        side = _lesion_scores(side, lesions, slice_thickness_mm)
    if events is None:
        (side,) = materialize(side)
        _check_one_row_each(side)
        return attach(frame, side, keys)
    if not set(OUTCOME_INPUTS) <= columns:
        lacking = sorted(set(OUTCOME_INPUTS) - columns)
        raise FeatureError(f"events=/followup= given but the frame lacks {lacking}.")
    ends, summary = align(followup, side, "followup"), align(events, side, "events")
    (side,) = materialize(outcomes.join_followup(side, summary, ends))
    _check_one_row_each(side)
    outcomes.check_dates(side)
    return outcomes.outcome_columns(attach(frame, side, keys), censor_date, landmark_days)


def _check_one_row_each(side: nw.LazyFrame) -> None:
    """Duplicated ids in the frame (or followup) would multiply rows when joined."""
    if unique_sorted_key(side, "participant_id"):
        return  # ids sorted without repeats (the synthetic cohort's order): unique, O(n) proof
    counts = side.select(ids=nw.col("participant_id").n_unique(), rows=nw.len()).collect()
    if counts["ids"][0] == counts["rows"][0]:
        return  # the common case costs one distinct count; the group-by below names offenders
    raise_violations(
        side.group_by("participant_id").agg(nw.len().alias("rows")),
        {"participant_id appears more than once": nw.col("rows") > 1},
        "participant_id",
        "the analysis frame or followup table (one row per participant is needed)",
    )


def _lesion_scores(frame: nw.LazyFrame, lesions: Any, slice_thickness_mm: float) -> nw.LazyFrame:
    """``frame`` joined to its participants' lesion sums (computed and checked once)."""
    table = align(lesions, frame, "lesions")
    missing = [c for c in LESION_COLUMNS if c not in table.collect_schema().names()]
    if missing:
        raise FeatureError(f"lesions table lacks column(s) {missing}; it needs {LESION_COLUMNS}.")
    (scored,) = materialize(cac.scored_lesions(table))  # on Polars: read once, in memory
    placed = None
    if scored.implementation is nw.Implementation.POLARS:
        placed = placed_lesion_sums(scored, frame)  # None unless both are in id order
    if placed is not None:
        joined, invalid_rows = placed
        if invalid_rows:  # the row-level pass names them
            raise_violations(table, cac.lesion_problems(), "participant_id", "lesions")
            raise FeatureError(f"lesions: {invalid_rows} invalid lesion row(s).")
    else:
        (scores,) = materialize(cac.participant_sums(scored))  # checked, then joined
        invalid = {
            "participant_id missing": nw.col("participant_id").is_null(),
            "invalid lesion rows": nw.col(cac.INVALID_LESIONS) > 0,
        }
        try:
            raise_violations(scores, invalid, "participant_id", "lesions")
        except FeatureError:  # rare path: a second, row-level pass names the problems exactly
            raise_violations(table, cac.lesion_problems(), "participant_id", "lesions")
            raise
        joined = left_join(frame, scores.drop(cac.INVALID_LESIONS), "participant_id")
    sums = ["cac_area", *cac.PER_ARTERY]  # joined unrounded; totals computed on the frame rows
    if "cac_scanned" in frame.collect_schema().names():
        scanned = nw.col("cac_scanned")
        filled = [nw.when(scanned).then(nw.col(c).fill_null(0.0)).alias(c) for c in sums]
    else:
        filled = [nw.col(c).fill_null(0.0) for c in sums]
    totals = cac.participant_totals(joined.with_columns(*filled), slice_thickness_mm)
    return totals.with_columns(
        cac_density=cac.cac_density(nw.col("cac_agatston"), nw.col("cac_area"))
    )
