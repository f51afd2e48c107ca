"""Validate normalized tables against the dictionary; add a reason per failed check.

Reasons (a row may carry several): ``missing_required:<col>``, ``hard_range:<col>``,
``invalid_code:<col>``, ``duplicate_id`` (the primary key was seen in an earlier row: the
first row is kept, repeats are quarantined), ``unknown_participant`` (no such participant),
``participant_quarantined`` (the participant's own row was quarantined),
``event_before_baseline``, ``event_after_death``, ``death_cause_on_mi`` (an MI row with a
cause of death), ``end_before_baseline``, ``end_after_death``. Soft-range values are only
counted.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from cohortcalc.dictionary import Table, Variable
from cohortcalc.ingest.normalize import FLAG, any_flag, flag_columns

PID = "participant_id"


def _add_reasons(frame: pl.LazyFrame, checks: list[tuple[pl.Expr, str]]) -> pl.LazyFrame:
    """Set the flag column of ``reason`` wherever its condition is true (OR with any earlier)."""
    if not checks:
        return frame
    present = set(flag_columns(frame))
    flags = []
    for cond, reason in checks:
        name = FLAG + reason
        flag = cond.fill_null(False)
        if name in present:
            flag = flag | pl.col(name).fill_null(False)
        flags.append(flag.alias(name))
    return frame.with_columns(flags)


def is_accepted(frame: pl.LazyFrame) -> pl.Expr:
    """True for rows of ``frame`` with no reason flag set."""
    return ~any_flag(flag_columns(frame))


def _bound(value: float | dt.date) -> pl.Expr:
    return pl.lit(value, pl.Date) if isinstance(value, dt.date) else pl.lit(float(value))


def _outside(var: Variable, bounds: tuple[float | dt.date, float | dt.date]) -> pl.Expr:
    column = pl.col(var.name)
    return (column < _bound(bounds[0])) | (column > _bound(bounds[1]))


def check_rows(table: Table, frame: pl.LazyFrame) -> pl.LazyFrame:
    """Required values present, values inside the hard range, codes allowed.

    Only the variables present in ``frame`` are checked (a source may carry a subset).
    """
    present = set(frame.collect_schema().names())
    checks: list[tuple[pl.Expr, str]] = []
    for var in (v for v in table.variables if v.name in present):
        column = pl.col(var.name)
        if var.required:
            checks.append((column.is_null(), f"missing_required:{var.name}"))
        if var.hard_range is not None:
            checks.append((_outside(var, var.hard_range), f"hard_range:{var.name}"))
        if var.type == "category":
            checks.append((~column.is_in(list(var.codes)), f"invalid_code:{var.name}"))
    return _add_reasons(frame, checks)


def check_duplicates(table: Table, frame: pl.LazyFrame) -> pl.LazyFrame:
    """``duplicate_id`` on every later row whose primary key was seen before.

    The first occurrence is kept; repeats (exact or conflicting) are quarantined, so the
    quarantine shows what was dropped next to the row that was kept. A key with a null part
    never repeats. The repeats are found by a separate pass over the key columns
    (``repeated_rows``), so the rows themselves stream.
    """
    key = list(table.key_columns)
    indexed = frame.with_row_index("_row_order")
    repeats = repeated_rows(indexed.select(*key, "_row_order"), key)
    repeat = pl.col("_row_order").is_in(repeats.implode())
    return _add_reasons(indexed, [(repeat, "duplicate_id")]).drop("_row_order")


def repeated_rows(keys: pl.LazyFrame, key: list[str]) -> pl.Series:
    """``_row_order`` of every row whose (complete) ``key`` occurred in an earlier row.

    Memory is 8 bytes per row, not a hash table of every key: one streaming pass collects a
    64-bit hash of each key, numpy sorts them to find the repeated hashes, and a second pass
    collects only the rows with those hashes, where the exact keys decide (a hash collision
    flags nothing).
    """
    complete = keys.filter(pl.all_horizontal(pl.col(k).is_not_null() for k in key))
    complete = complete.with_columns(pl.struct(key).hash().alias("_key_hash"))
    hashes = np.sort(complete.select("_key_hash").collect().to_series().to_numpy())
    repeated = np.unique(hashes[1:][hashes[1:] == hashes[:-1]])
    del hashes
    candidates = complete.filter(pl.col("_key_hash").is_in(pl.Series(repeated).implode())).collect()
    first = pl.struct(key).is_first_distinct()
    return candidates.sort("_row_order").filter(~first).get_column("_row_order")


def key_status(rows: pl.LazyFrame, key: list[str]) -> pl.LazyFrame:
    """Per key: whether a row was accepted, and its baseline date when the table has one."""
    ok = rows.with_columns(is_accepted(rows).alias("_ok"))
    status = [pl.col("_ok").any().alias("_accepted")]
    if "baseline_date" in rows.collect_schema().names():
        status.append(pl.col("baseline_date").filter(pl.col("_ok")).first().alias("_baseline"))
    return ok.group_by(key).agg(status)


def check_parent(frame: pl.LazyFrame, status: pl.LazyFrame, key: list[str]) -> pl.LazyFrame:
    """``unknown_participant`` / ``participant_quarantined``: rows whose key has no accepted row.

    Used for child tables (key participant_id) and for ``role: columns`` sources.
    """
    joined = frame.join(status, on=key, how="left", maintain_order="left")
    return _add_reasons(
        joined,
        [
            (pl.col(key[0]).is_not_null() & pl.col("_accepted").is_null(), "unknown_participant"),
            (pl.col("_accepted") == False, "participant_quarantined"),  # noqa: E712
        ],
    )


def death_dates(events: pl.LazyFrame) -> pl.LazyFrame:
    """The earliest accepted death date per participant."""
    accepted = events.filter(
        (pl.col("event") == "death") & pl.col("event_date").is_not_null() & is_accepted(events)
    )
    return accepted.group_by(PID).agg(pl.col("event_date").min().alias("_death_date"))


def check_event_dates(events: pl.LazyFrame, deaths: pl.LazyFrame) -> pl.LazyFrame:
    """Events after baseline, nothing after death, causes only on deaths.

    Expects ``_baseline`` from check_parent. An event on the baseline day is kept.
    """
    joined = events.join(deaths, on=PID, how="left", maintain_order="left")
    date = pl.col("event_date")
    cause_on_mi = (pl.col("event") == "mi") & pl.col("death_cause").is_not_null()
    return _add_reasons(
        joined,
        [
            (date < pl.col("_baseline"), "event_before_baseline"),
            (date > pl.col("_death_date"), "event_after_death"),
            (cause_on_mi, "death_cause_on_mi"),
        ],
    ).drop("_death_date")


def check_followup_dates(followup: pl.LazyFrame, deaths: pl.LazyFrame) -> pl.LazyFrame:
    """Follow-up ends after baseline and not after death (expects ``_baseline``)."""
    joined = followup.join(deaths, on=PID, how="left", maintain_order="left")
    end = pl.col("end_date")
    return _add_reasons(
        joined,
        [
            (end < pl.col("_baseline"), "end_before_baseline"),
            (end > pl.col("_death_date"), "end_after_death"),
        ],
    ).drop("_death_date")


def soft_range_counts(table: Table, accepted: pl.LazyFrame) -> dict[str, int]:
    """Per variable with a soft range: accepted values outside it (kept, reported)."""
    checked = [v for v in table.variables if v.soft_range is not None]
    if not checked:
        return {}
    row = accepted.select(
        _outside(v, v.soft_range).sum().alias(v.name)  # type: ignore[arg-type]
        for v in checked
    ).collect()
    return {name: int(row[name][0] or 0) for name in row.columns if row[name][0]}
