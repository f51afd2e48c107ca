"""derive()'s definition options, checked before anything is computed.

A wrong-typed or impossible option is a ``DeriveOptionError`` naming the option (the spec
runner turns it into a ``SpecError`` naming the line), never a traceback from deep inside an
expression nor a silently wrong column (a negative slice thickness gives negative volumes; a
``censor_date`` before a participant's baseline gives negative follow-up).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import narwhals as nw

from cohortcalc.errors import DeriveOptionError, FeatureError
from cohortcalc.features import cac, kidney

#: Thickest CT slice an Agatston score is read from (3 mm is the 1990 standard; 1.5-3 mm are
#: usual). Anything thicker is taken for a unit slip (cm, or a slice count), not a scan.
MAX_SLICE_THICKNESS_MM = 10.0
MAX_IDS_SHOWN = 5


@dataclass(frozen=True)
class DeriveOptions:
    """The checked options: CAC cut points, censoring date as a date, landmark in days."""

    cac_cuts: tuple[float, ...]
    censor_date: dt.date | None
    landmark_days: int | None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_options(
    *,
    require: Sequence[str],
    cac_categories: Any,
    ckd_definition: Any,
    hyperphosphatemia_above: Any,
    censor_date: Any,
    landmark_days: Any,
    slice_thickness_mm: Any,
    events: Any,
    followup: Any,
) -> DeriveOptions:
    """Check every option's type and range; return the normalised values."""
    if isinstance(require, str) or not all(isinstance(n, str) for n in require):
        raise DeriveOptionError("require", f"give a list of column names, got {require!r}.")
    if not isinstance(ckd_definition, str) or ckd_definition not in kidney.CKD_DEFINITIONS:
        raise DeriveOptionError(
            "ckd_definition", f"use one of {kidney.CKD_DEFINITIONS}, got {ckd_definition!r}."
        )
    if (events is None) != (followup is None):
        raise FeatureError("outcomes need both events= and followup= tables; one was not given.")
    if not _is_number(hyperphosphatemia_above) or not 0 < hyperphosphatemia_above < math.inf:
        raise DeriveOptionError(
            "hyperphosphatemia_above",
            f"give a phosphate level in mg/dL (a number > 0), got {hyperphosphatemia_above!r}.",
        )
    if not _is_number(slice_thickness_mm) or not 0 < slice_thickness_mm <= MAX_SLICE_THICKNESS_MM:
        raise DeriveOptionError(
            "slice_thickness_mm",
            f"give the CT slice thickness in mm, a number in (0, {MAX_SLICE_THICKNESS_MM:g}] "
            f"(3 for the Agatston standard), got {slice_thickness_mm!r}.",
        )
    return DeriveOptions(
        _cac_cuts(cac_categories), _censor_date(censor_date), _landmark_days(landmark_days)
    )


def _cac_cuts(cac_categories: Any) -> tuple[float, ...]:
    valid_sequence = (
        isinstance(cac_categories, Sequence)
        and not isinstance(cac_categories, str)
        and all(_is_number(c) and math.isfinite(c) for c in cac_categories)
    )
    if not isinstance(cac_categories, str) and not valid_sequence:
        raise DeriveOptionError(
            "cac_categories",
            f"give 'standard', 'mesa' or a list of increasing cut points, got {cac_categories!r}.",
        )
    try:
        return cac.resolve_category_cuts(cac_categories)
    except ValueError as error:
        raise DeriveOptionError("cac_categories", f"{error}.") from None


def _censor_date(censor_date: Any) -> dt.date | None:
    if censor_date is None or (
        isinstance(censor_date, dt.date) and not isinstance(censor_date, dt.datetime)
    ):
        return censor_date
    if isinstance(censor_date, str):
        try:
            return dt.date.fromisoformat(censor_date)
        except ValueError:
            pass
    raise DeriveOptionError(
        "censor_date", f"give a date as YYYY-MM-DD (e.g. 2020-12-31), got {censor_date!r}."
    )


def _landmark_days(landmark_days: Any) -> int | None:
    if landmark_days is None:
        return None
    whole = _is_number(landmark_days) and math.isfinite(landmark_days)
    if not whole or int(landmark_days) != landmark_days or landmark_days < 0:
        raise DeriveOptionError(
            "landmark_days", f"give a whole number of days >= 0, got {landmark_days!r}."
        )
    return int(landmark_days)


def check_censor_date(lazy: nw.LazyFrame, censor_date: dt.date, id_column: str | None) -> None:
    """Administrative censoring must not come before any participant's baseline_date."""
    late = nw.col("baseline_date").cast(nw.Date) > nw.lit(censor_date, nw.Date)
    counts = lazy.select(late=nw.when(late).then(1).otherwise(0).sum()).collect()
    count = int(counts["late"][0] or 0)
    if count == 0:
        return
    shown = ""
    if id_column is not None:
        rows = lazy.filter(late).select(id_column).sort(id_column).head(MAX_IDS_SHOWN).collect()
        more = ", ..." if count > MAX_IDS_SHOWN else ""
        shown = f" ({id_column} {', '.join(str(v) for v in rows[id_column].to_list())}{more})"
    raise DeriveOptionError(
        "censor_date",
        f"{censor_date.isoformat()} is before the baseline_date of {count} participant(s)"
        f"{shown}, which would give them negative follow-up. Choose a censor_date on or after "
        "every baseline_date, or leave those participants out first.",
    )
