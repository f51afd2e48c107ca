"""Validate normalized tables against the dictionary; add a reason per failed check.

Reasons (a row may carry several): ``missing_required:<col>``, ``hard_range:<col>``,
``invalid_code:<col>``, ``duplicate_id`` (the primary key was seen in an earlier row: the
first row is kept, repeats are quarantined), ``unknown_participant`` (no such participant),
``participant_quarantined`` (the participant's own row was quarantined),
``event_before_baseline``, ``event_after_death``, ``death_cause_on_mi:death_cause`` (an MI
row with a cause of death), ``end_before_baseline``, ``end_after_death``,
``death_event_quarantined``, ``end_reason_contradicts_events``. Soft-range values are only
counted. Whether a reason costs the row or only the value is decided in ``issues.py``.
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
    Normalization already checked range and codes of mapped columns (with their source
    text); here constants get the same checks. A required value counts as missing only when
    no other check on it failed (an unparseable age is ``unparseable:age``, once).
    """
    columns = set(frame.collect_schema().names())
    flagged = {f.rsplit(":", 1)[1] for f in flag_columns(frame)}
    checks: list[tuple[pl.Expr, str]] = []
    for var in (v for v in table.variables if v.name in columns):
        column = pl.col(var.name)
        if var.required:
            earlier = [pl.col(f) for f in flag_columns(frame) if f.endswith(f":{var.name}")]
            other = any_flag(earlier) if earlier else pl.lit(False)
            checks.append((column.is_null() & ~other, f"missing_required:{var.name}"))
        if var.name in flagged:
            continue
        if var.hard_range is not None:
            checks.append((_outside(var, var.hard_range), f"hard_range:{var.name}"))
        if var.type == "category":
            checks.append((~column.is_in(list(var.codes)), f"invalid_code:{var.name}"))
    return _add_reasons(frame, checks)


def check_duplicates(table: Table, frame: pl.LazyFrame) -> pl.LazyFrame:
    """``duplicate_row`` / ``duplicate_id`` on every later row whose primary key was seen before.

    ``duplicate_row``: an exact copy of the first row with that key (every value equal);
    ``duplicate_id``: the same key with different values (a conflict someone must resolve).
    The first occurrence is kept; repeats are quarantined, so the quarantine shows what was
    dropped next to the row that was kept. A key with a null part never repeats. The repeats
    are found by a separate pass over the key columns (``repeated_rows``), so the rows
    themselves stream.
    """
    key = list(table.key_columns)
    indexed = frame.with_row_index("_row_order")
    repeats = repeated_rows(indexed.select(*key, "_row_order"), key)
    values = [n for n in table.names if n in frame.collect_schema().names()]
    exact = _exact_repeats(indexed, key, values, repeats)
    repeat = pl.col("_row_order").is_in(repeats.implode())
    copy = pl.col("_row_order").is_in(exact.implode())
    checks = [(repeat & ~copy, "duplicate_id"), (copy, "duplicate_row")]
    return _add_reasons(indexed, checks).drop("_row_order")


def _exact_repeats(
    indexed: pl.LazyFrame, key: list[str], values: list[str], repeats: pl.Series
) -> pl.Series:
    """Of the ``repeats``, those equal in every value to the first row with their key."""
    if repeats.len() == 0:
        return repeats
    keys = indexed.filter(pl.col("_row_order").is_in(repeats.implode())).select(key).unique()
    rows = indexed.join(keys, on=key, how="semi").select(*values, "_row_order").collect()
    rows = rows.sort("_row_order")
    same = pl.all_horizontal(pl.col(v).eq_missing(pl.col(v).first().over(key)) for v in values)
    exact = rows.filter(same & pl.col("_row_order").is_in(repeats.implode()))
    return exact.get_column("_row_order")


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
    """Per participant with a death row: the earliest accepted death date (``_death_date``)
    and whether a death row was quarantined (``_death_rejected``)."""
    deaths = events.filter(pl.col("event") == "death")
    ok = is_accepted(deaths) & pl.col("event_date").is_not_null()
    return deaths.group_by(PID).agg(
        pl.col("event_date").filter(ok).min().alias("_death_date"),
        (~ok).any().alias("_death_rejected"),
    )


def check_event_dates(events: pl.LazyFrame, deaths: pl.LazyFrame) -> pl.LazyFrame:
    """Events after baseline and nothing after death.

    Expects ``_baseline`` from check_parent. An event on the baseline day is kept.
    """
    joined = events.join(deaths.drop("_death_rejected"), on=PID, how="left", maintain_order="left")
    date = pl.col("event_date")
    checks = [
        (date < pl.col("_baseline"), "event_before_baseline"),
        (date > pl.col("_death_date"), "event_after_death"),
    ]
    return _add_reasons(joined, checks).drop("_death_date")


def check_row_logic(table: str, frame: pl.LazyFrame) -> pl.LazyFrame:
    """Checks within one row between variables: a cause of death on an MI row is
    ``death_cause_on_mi:death_cause`` (a value problem: the cause is dropped, the MI kept)."""
    if table != "events" or "death_cause" not in frame.collect_schema().names():
        return frame  # death_cause is optional: absent when the study does not export it
    cause_on_mi = (pl.col("event") == "mi") & pl.col("death_cause").is_not_null()
    return _add_reasons(frame, [(cause_on_mi, "death_cause_on_mi:death_cause")])


def check_followup_dates(followup: pl.LazyFrame, deaths: pl.LazyFrame) -> pl.LazyFrame:
    """Follow-up ends after baseline, not after death, and agrees with the events.

    Expects ``_baseline``. Without an ``end_reason`` column (the study exports none) it is
    derived: ``death`` when an accepted death is on or before ``end_date``, else ``censored``.
    Never read as censored silently: a participant whose death row was quarantined (and who
    has no accepted death) is ``death_event_quarantined``; a mapped ``end_reason`` that
    disagrees with the accepted deaths is ``end_reason_contradicts_events``.
    """
    joined = followup.join(deaths, on=PID, how="left", maintain_order="left")
    end, death = pl.col("end_date"), pl.col("_death_date")
    died = death.is_not_null() & (death <= end)
    if "end_reason" not in followup.collect_schema().names():
        derived = (
            pl.when(died).then(pl.lit("death")).when(end.is_not_null()).then(pl.lit("censored"))
        )
        joined = joined.with_columns(derived.alias("end_reason"))
        contradicts = pl.lit(False)
    else:
        said_death = pl.col("end_reason") == "death"
        contradicts = (said_death & death.is_null()) | (died & ~said_death)
    lost = pl.col("_death_rejected").fill_null(False) & death.is_null()
    return _add_reasons(
        joined,
        [
            (end < pl.col("_baseline"), "end_before_baseline"),
            (end > death, "end_after_death"),
            (lost, "death_event_quarantined"),
            (contradicts & ~lost, "end_reason_contradicts_events"),
        ],
    ).drop("_death_date", "_death_rejected")


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
