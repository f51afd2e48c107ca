"""Injecting the documented mess into the clean source frames, recording every defect.

Every change is listed (file, 1-based data row, column, kind, value) so ingest can reconcile
row and cell counts exactly. Added rows (duplicates, impossible events) never replace clean
rows, so removing the listed rows and nulling the listed cells gives back the clean cohort.
Duplicated source rows and added rows are never themselves given missing or impossible values.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl

#: file -> column -> (missing code, share of clean rows that get it)
MISSING_PLAN: dict[str, dict[str, tuple[Any, float]]] = {
    "exam1_riskfactors.csv": {
        "DIAB": ("-9", 0.005),
        "SMKSTAT": ("-9", 0.005),
        "SBP": ("999", 0.01),
        "TOTCHOL": (".", 0.015),
        "HDL": (".", 0.015),
    },
    "exam1_labs.dta": {
        "CREAT_UMOL": (-9.0, 0.005),
        "CYSC": (-9.0, 0.04),
        "UACR": (-9.0, 0.02),
        "CA_SERUM": (-9.0, 0.005),
        "PTH": (-9.0, 0.03),
        "VITD25": (999.0, 0.03),
        "ALKPHOS": (-9.0, 0.02),
    },
}
#: file -> column -> how the impossible value is made from the clean one
IMPOSSIBLE_PLAN: dict[str, dict[str, str]] = {
    "mesa_demog.xpt": {"AGE": "age 250 years"},
    "exam1_labs.dta": {"CREAT_UMOL": "negative creatinine"},
    "ct_lesions.parquet": {"AREA_MM2": "negative lesion area"},
}

#: Kinds of added rows and what they are.
ADDED_ROW_KINDS: dict[str, str] = {
    "duplicate_id_exact": "exact copy of an earlier row (same PTID)",
    "duplicate_id_conflicting": "later row, same PTID, CREAT_UMOL differs; first row is clean",
    "event_before_baseline": "MI dated before the participant's baseline exam (EXAMDT)",
    "event_after_death": "MI dated after the participant's death date",
}


def defects_per_kind(n: int) -> int:
    """Defects of each kind for a cohort of `n`: n // 5000, at least 2, at most n // 10."""
    return min(max(2, n // 5000), n // 10)


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def insert_rows(
    frame: pl.DataFrame, added: pl.DataFrame, after: np.ndarray, kinds: list[str]
) -> pl.DataFrame:
    """Place `added` rows after clean rows `after` (0-based); mark them in `_kind`.

    The result has `_kind` (null for clean rows) and `_source` (clean row index, or -1).
    """
    clean = frame.with_columns(
        _kind=pl.lit(None, dtype=pl.String),
        _source=pl.int_range(pl.len(), dtype=pl.Int64),
        _key=pl.int_range(pl.len(), dtype=pl.Int64) * 2,
    )
    extra = added.with_columns(
        _kind=pl.Series(kinds, dtype=pl.String),
        _source=pl.lit(-1, dtype=pl.Int64),
        _key=pl.Series(after.astype(np.int64) * 2 + 1),
    )
    return pl.concat([clean, extra]).sort("_key", maintain_order=True).drop("_key")


def added_row_defects(file: str, frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Defect records of the rows `insert_rows` added."""
    rows = frame.with_row_index("_row", offset=1).filter(pl.col("_kind").is_not_null())
    return [
        {
            "file": file,
            "row": int(r),
            "participant_id": pid,
            "column": None,
            "kind": kind,
            "description": ADDED_ROW_KINDS[kind],
            "value": None,
        }
        for r, pid, kind in zip(rows["_row"], rows["PTID"], rows["_kind"], strict=True)
    ]


def _eligible_rows(frame: pl.DataFrame, avoid: set[int]) -> np.ndarray:
    """0-based rows that are clean, not the source of a duplicate, and not in `avoid`."""
    duplicated = frame.filter(pl.col("_kind").str.starts_with("duplicate"))["PTID"]
    ok = (frame["_kind"].is_null() & ~frame["PTID"].is_in(duplicated.implode())).to_numpy()
    ok[np.fromiter(avoid, dtype=np.int64, count=len(avoid))] = False
    return np.flatnonzero(ok)


def inject_impossible(
    rng: np.random.Generator, file: str, frame: pl.DataFrame, k: int
) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """Replace k clean cells per planned column with an impossible value."""
    defects: list[dict[str, Any]] = []
    taken: set[int] = set()
    for column, kind in IMPOSSIBLE_PLAN.get(file, {}).items():
        pool = _eligible_rows(frame, taken)
        rows = np.sort(rng.choice(pool, size=k, replace=False))
        taken.update(rows.tolist())
        values = frame[column].to_numpy().copy()
        clean = values[rows].copy()
        values[rows] = 250.0 if column == "AGE" else -clean
        frame = frame.with_columns(pl.Series(column, values, dtype=frame[column].dtype))
        defects += [
            {
                "file": file,
                "row": int(r) + 1,
                "participant_id": frame["PTID"][int(r)],
                "column": column,
                "kind": "impossible_value",
                "description": kind,
                "value": _json_value(values[r].item()),
                "clean_value": _json_value(c.item()),
            }
            for r, c in zip(rows, clean, strict=True)
        ]
    return frame, defects


def inject_missing(
    rng: np.random.Generator, file: str, frame: pl.DataFrame, avoid: set[int]
) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """Replace a planned share of clean cells by the column's missing-value code."""
    records: list[dict[str, Any]] = []
    n_clean = int(frame["_kind"].is_null().sum())
    pool = _eligible_rows(frame, avoid)
    for column, (code, share) in MISSING_PLAN.get(file, {}).items():
        rows = np.sort(rng.choice(pool, size=round(share * n_clean), replace=False))
        mask = np.zeros(frame.height, dtype=bool)
        mask[rows] = True
        frame = frame.with_columns(
            pl.when(pl.Series(mask)).then(pl.lit(code)).otherwise(pl.col(column)).alias(column)
        )
        records.append(
            {
                "file": file,
                "column": column,
                "code": str(int(code)) if isinstance(code, float) else code,
                "count": int(rows.size),
                "rows": (rows + 1).tolist(),
            }
        )
    return frame, records


def duplicate_rows(
    rng: np.random.Generator, frame: pl.DataFrame, k: int, conflicting: str | None
) -> pl.DataFrame:
    """k clean rows repeated later in the file; with `conflicting`, that column differs.

    The first occurrence always holds the clean value; the later copy is the defect.
    """
    sources = np.sort(rng.choice(frame.height, size=k, replace=False))
    after = sources + (rng.random(k) * (frame.height - sources)).astype(np.int64)
    added = frame[sources]
    kind = "duplicate_id_exact"
    if conflicting is not None:
        kind = "duplicate_id_conflicting"
        factor = rng.uniform(0.85, 1.15, k)
        added = added.with_columns((pl.col(conflicting) * factor).round(1))
    return insert_rows(frame, added, after, [kind] * k)


def impossible_events(
    rng: np.random.Generator,
    events: pl.DataFrame,
    baseline: pl.DataFrame,
    k: int,
) -> pl.DataFrame:
    """Events file with k MI rows dated before baseline and k MI rows after the death date.

    `baseline` has PTID and EXAMDT; dead participants are taken from the DEATH rows.
    """
    early = baseline[np.sort(rng.choice(baseline.height, size=k, replace=False))]
    before = early.select(
        "PTID",
        EVENT_TYPE=pl.lit("MI"),
        EVENT_DATE=pl.col("EXAMDT") - pl.duration(days=pl.Series(rng.integers(30, 3000, k))),
        DEATH_CAUSE=pl.lit(None, dtype=pl.String),
    )
    deaths = events.filter(pl.col("EVENT_TYPE") == "DEATH")
    dead = deaths[np.sort(rng.choice(deaths.height, size=min(k, deaths.height), replace=False))]
    after_death = dead.with_columns(
        EVENT_TYPE=pl.lit("MI"),
        EVENT_DATE=pl.col("EVENT_DATE")
        + pl.duration(days=pl.Series(rng.integers(1, 400, dead.height))),
        DEATH_CAUSE=pl.lit(None, dtype=pl.String),
    )
    added = pl.concat([before, after_death])
    kinds = ["event_before_baseline"] * before.height + ["event_after_death"] * dead.height
    after = rng.integers(0, max(events.height, 1), added.height)
    return insert_rows(events, added, after, kinds)
