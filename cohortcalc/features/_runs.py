"""Lesion sums placed on the participant frame's rows in one compiled pass (Polars only).

Lesion tables come grouped by participant in id order (studies export them so; the synthetic
cohort and ingest keep that order), and so do participant frames. Then one pass over the
lesion rows sums each participant's run of rows straight into that participant's frame row,
a merge join of the two orders (``_kernels.place_runs``): no hashing of 10 million ids and no
join afterwards. String ids are read in place from Polars' string views, integer ids as int64.
Tables in any other order take the group-by and join (``cac.participant_sums``,
``_engine.left_join``).
"""

from __future__ import annotations

import narwhals as nw
import numpy as np
import polars as pl

from cohortcalc.features._engine import compiled_keys, strictly_increasing
from cohortcalc.features._kernels import UNSORTED, place_runs
from cohortcalc.features.cac import ARTERY_CODE, INVALID_CODE, PER_ARTERY


def placed_lesion_sums(
    scored: nw.LazyFrame, frame: nw.LazyFrame
) -> tuple[nw.LazyFrame, int] | None:
    """(``frame`` with its participants' unrounded lesion sums ``cac_area`` and per artery,
    0 without lesions; the number of invalid lesion rows in the whole table), or None unless
    the frame's ids strictly increase and the ``scored_lesions`` rows are grouped by
    participant_id in increasing order, ids being strings or integers (of one type), none
    missing."""
    keys = frame.to_native().collect()
    frame_ids = keys["participant_id"]
    frame_keys = compiled_keys(frame_ids)
    if frame_keys is None or not strictly_increasing(frame_ids):
        return None
    rows = scored.to_native().collect()
    columns = ("participant_id", ARTERY_CODE, "_score", "cac_area")
    lesion_ids = rows["participant_id"]
    if lesion_ids.dtype != frame_ids.dtype or lesion_ids.null_count():
        return None
    if len({tuple(rows[c].chunk_lengths()) for c in columns}) > 1:
        rows = rows.rechunk()
    scores, areas = np.zeros((INVALID_CODE, keys.height)), np.zeros(keys.height)
    state = np.zeros(3, np.int64)  # next frame row, current frame row, invalid rows
    last = None
    for ids, code, score, area in zip(*(rows[c].get_chunks() for c in columns), strict=True):
        if ids.is_empty():
            continue
        first = 1 if last is None else (ids[0] > last) - (ids[0] < last)  # as the kernels order
        numbers = [np.ascontiguousarray(c.to_numpy()) for c in (code, score, area)]
        found = place_runs(compiled_keys(ids), first, *numbers, frame_keys, state, scores, areas)
        if found == UNSORTED:
            return None
        last = ids[-1]
    sums = {"cac_area": areas, **dict(zip(PER_ARTERY, scores, strict=True))}
    placed = keys.with_columns(pl.Series(name, values) for name, values in sums.items())
    return nw.from_native(placed.lazy()), int(state[2])
