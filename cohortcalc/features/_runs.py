"""Lesion sums placed on the participant frame's rows in one compiled pass (Polars only).

Lesion tables come grouped by participant in id order (studies export them so; the synthetic
cohort and ingest keep that order), and so do participant frames. Then one pass over the
lesion rows sums each participant's run of rows straight into that participant's frame row,
a merge join of the two orders (``_kernels.place_runs``): no hashing of 10 million string ids
and no join afterwards. The ids are read in place from Polars' string views. Tables in any
other order take the group-by and join (``cac.participant_sums``, ``_engine.left_join``).
"""

from __future__ import annotations

import narwhals as nw
import numpy as np
import polars as pl

from cohortcalc.features._engine import strictly_increasing, string_views
from cohortcalc.features._kernels import UNSORTED, place_runs
from cohortcalc.features.cac import ARTERY_CODE, INVALID_CODE, PER_ARTERY


def placed_lesion_sums(
    scored: nw.LazyFrame, frame: nw.LazyFrame
) -> tuple[nw.LazyFrame, int] | None:
    """(``frame`` with its participants' unrounded lesion sums ``cac_area`` and per artery,
    0 without lesions; the number of invalid lesion rows in the whole table), or None unless
    the frame's ids strictly increase and the ``scored_lesions`` rows are grouped by
    participant_id in increasing order, without missing ids."""
    keys = frame.to_native().collect()
    frame_ids = keys["participant_id"]
    if not _plain_strings(frame_ids) or not strictly_increasing(frame_ids):
        return None
    rows = scored.to_native().collect()
    columns = ("participant_id", ARTERY_CODE, "_score", "cac_area")
    if not _plain_strings(rows["participant_id"]):
        return None
    if len({tuple(rows[c].chunk_lengths()) for c in columns}) > 1:
        rows = rows.rechunk()
    scores, areas = np.zeros((INVALID_CODE, keys.height)), np.zeros(keys.height)
    state = np.zeros(3, np.int64)  # next frame row, current frame row, invalid rows
    frame_views = string_views(frame_ids)
    last: str | None = None
    for ids, code, score, area in zip(*(rows[c].get_chunks() for c in columns), strict=True):
        if ids.is_empty():
            continue
        first = 1 if last is None else (ids[0] > last) - (ids[0] < last)  # UTF-8 byte order
        numbers = [np.ascontiguousarray(c.to_numpy()) for c in (code, score, area)]
        found = place_runs(*string_views(ids), first, *numbers, *frame_views, state, scores, areas)
        if found == UNSORTED:
            return None
        last = ids[-1]
    sums = {"cac_area": areas, **dict(zip(PER_ARTERY, scores, strict=True))}
    placed = keys.with_columns(pl.Series(name, values) for name, values in sums.items())
    return nw.from_native(placed.lazy()), int(state[2])


def _plain_strings(values: pl.Series) -> bool:
    return values.dtype == pl.String and values.null_count() == 0
