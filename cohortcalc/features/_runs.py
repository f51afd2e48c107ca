"""Per-participant lesion sums on Polars, run by run (a compiled loop, ``_kernels.sum_runs``).

Lesion tables come grouped by participant (a study exports them so; the synthetic cohort and
ingest keep that order). Then each participant's lesions are one run of equal
``participant_id`` values, and one sequential pass sums every run: no hashing of 10 million
string keys, and the sums come out in participant order, so they meet a participant frame in
the same order by binary search rather than by a hash join. Rows in any other order still give
exact sums: the runs are then summed once more by a group-by (sums are associative).
"""

from __future__ import annotations

import narwhals as nw
import numpy as np
import polars as pl

from cohortcalc.features._engine import strictly_increasing
from cohortcalc.features._kernels import sum_runs
from cohortcalc.features.cac import ARTERY_CODE, INVALID_CODE, INVALID_LESIONS, PER_ARTERY

NEW_RUN = "__cohortcalc_new_run"


def lesion_sums(scored: nw.LazyFrame) -> nw.LazyFrame:
    """``cac.participant_sums`` of Polars ``scored_lesions`` rows (same columns and values),
    in participant_id order when the lesions are grouped by sorted participant_id."""
    ids = pl.col("participant_id")
    new_run = ids.ne_missing(ids.shift()).cast(pl.UInt8).alias(NEW_RUN)
    rows = scored.to_native().with_columns(new_run).collect(engine="streaming")
    columns = (NEW_RUN, ARTERY_CODE, "_score", "cac_area")
    if len({tuple(rows[c].chunk_lengths()) for c in columns}) > 1:
        rows = rows.rechunk()
    flags = rows[NEW_RUN]
    n_runs = int(flags.sum() or 0) + int(rows.height > 0 and flags[0] == 0)
    starts, scores = np.empty(n_runs, np.int64), np.zeros((INVALID_CODE, n_runs))
    areas, invalid = np.zeros(n_runs), np.zeros(n_runs, np.int64)
    run, first_row = -1, 0
    for chunk in zip(*(rows[c].get_chunks() for c in columns), strict=True):
        arrays = [np.ascontiguousarray(values.to_numpy()) for values in chunk]  # no copies
        run = sum_runs(*arrays, first_row, run, starts, scores, areas, invalid)
        first_row += chunk[0].len()
    sums = pl.DataFrame(
        {
            "participant_id": rows["participant_id"].gather(starts),
            "cac_area": areas,
            INVALID_LESIONS: invalid,
            **dict(zip(PER_ARTERY, scores, strict=True)),
        }
    )
    key = sums["participant_id"]
    if key.null_count() or not strictly_increasing(key):  # not grouped in sorted order
        sums = sums.group_by("participant_id").agg(pl.all().sum())
    return nw.from_native(sums.lazy())
