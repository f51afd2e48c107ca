"""Value problems versus row problems: what a failed check costs, and the issues table.

A check that fails on one value (out of its hard range, unparseable, in an unknown unit, an
unknown code, a required value missing) costs that value: it becomes null in the store and
``_issues/<table>.parquet`` keeps the file, row, column, original text and reason; the rest
of the row stays. A failure on a variable that defines the row (``Table.row_defining``: the
key, dates and types the row needs) and every row-level check (duplicates, unknown
participant, date logic) quarantine the row. ``on_value_error: quarantine`` in the mapping
makes value problems cost the row, as row problems do.

Value flags are renamed from ``_flag:<reason>:<column>`` to ``_value:<reason>:<column>``, so
everything that decides acceptance (``flag_columns``) sees only row problems.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from cohortcalc.dictionary import Table
from cohortcalc.errors import IngestError
from cohortcalc.ingest.mapping import SourceSpec, ValueErrorPolicy
from cohortcalc.ingest.normalize import FLAG, MISSING, ORIGINAL, SOURCE_FILE, lookup
from cohortcalc.ingest.readers import SOURCE_ROW

VALUE = "_value:"
VALUE_REASONS = (
    "unparseable",
    "unparseable_date",
    "unknown_unit",
    "invalid_code",
    "hard_range",
    "missing_required",
    "death_cause_on_mi",
)
ISSUE_COLUMNS = ("column", "source_column", "value", "reason")
#: Reasons that point at the mapping rather than at the data, and the likely cause.
LIKELY_CAUSE = {
    "unknown_unit": "the unit: the rows' unit is not one the mapping or dictionary accepts "
    "(`unit:`, `unit_column:`, `unit_by:`)",
    "hard_range": "a wrong unit (values outside the possible range after conversion; check "
    "`unit:`) or a wrong column",
    "unparseable": 'the number format: a decimal comma (`decimal: ","`) or a text code '
    "meaning missing that is not in `missing_codes:`",
    "unparseable_date": 'the date format (`date_format:`, e.g. "%d/%m/%Y")',
    "invalid_code": "the code map (`codes:`): source codes not mapped to dictionary codes",
    "missing_required": "a wrong or empty column mapped to a required variable",
    "unknown_participant": "the participant id column or its format (ids not found in "
    "participants)",
    "short_row": "the file is cut off or its delimiter/quoting is wrong",
}
MIN_LOSS_TO_FAIL = 10  # fewer lost rows or values never fail (a small file may carry a typo)


def value_flag_columns(frame: pl.LazyFrame) -> list[str]:
    """The value-problem flag columns of ``frame`` (``_value:<reason>:<column>``)."""
    return [c for c in frame.collect_schema().names() if c.startswith(VALUE)]


def apply_value_policy(frame: pl.LazyFrame, table: Table, policy: ValueErrorPolicy) -> pl.LazyFrame:
    """Turn value problems into nulls plus ``_value:`` flags (policy ``null``).

    With ``quarantine`` the frame is returned unchanged: every flag quarantines its row.
    """
    if policy == "quarantine":
        return frame
    per_column: dict[str, list[str]] = {}
    for name in frame.collect_schema().names():
        if not name.startswith(FLAG):
            continue
        reason, _, column = name.removeprefix(FLAG).partition(":")
        if reason in VALUE_REASONS and column in table.names and column not in table.row_defining:
            per_column.setdefault(column, []).append(name)
    if not per_column:
        return frame
    names = set(frame.collect_schema().names())
    kept, nulled = [], []
    for column, flags in per_column.items():
        problem = pl.any_horizontal(flags).fill_null(False)
        text = pl.col(column).cast(pl.String)
        if f"{ORIGINAL}{column}" in names:  # the source text, where normalization kept it
            text = pl.coalesce(pl.col(f"{ORIGINAL}{column}"), text)
        kept.append(pl.when(problem).then(text).alias(f"{ORIGINAL}{column}"))
        nulled.append(pl.when(problem).then(None).otherwise(pl.col(column)).alias(column))
    renamed = {f: VALUE + f.removeprefix(FLAG) for flags in per_column.values() for f in flags}
    return frame.with_columns(kept).with_columns(nulled).rename(renamed)


def issues(
    frames: list[pl.LazyFrame],
    row_flags: list[list[str]],
    key: list[str],
    sources: list[SourceSpec],
    labels: list[str],
) -> pl.LazyFrame:
    """One row per nulled value of the written rows: file, row, key, column, source column,
    original text and reason (``_issues/<table>.parquet``)."""
    parts = []
    for frame, flags in zip(frames, row_flags, strict=True):
        names = frame.collect_schema().names()
        kept = frame.filter(~pl.any_horizontal(flags).fill_null(False)) if flags else frame
        for flag in value_flag_columns(frame):
            reason, _, column = flag.removeprefix(VALUE).partition(":")
            original = f"{ORIGINAL}{column}"
            text = pl.col(original) if original in names else pl.lit(None, pl.String)
            by_label = {
                label: s.columns[column].column
                for label, s in zip(labels, sources, strict=True)
                if column in s.columns
            }
            source_column = lookup(
                pl.col(SOURCE_FILE), by_label, pl.lit(None, pl.String), pl.String
            )
            parts.append(
                kept.filter(pl.col(flag).fill_null(False)).select(
                    SOURCE_FILE,
                    SOURCE_ROW,
                    *key,
                    pl.lit(column).alias("column"),
                    source_column.alias("source_column"),
                    text.alias("value"),
                    pl.lit(reason).alias("reason"),
                )
            )
    if not parts:
        schema = {SOURCE_FILE: pl.String, SOURCE_ROW: pl.Int64}
        schema |= {k: pl.String for k in key} | {c: pl.String for c in ISSUE_COLUMNS}
        return pl.LazyFrame(schema=schema)
    return pl.concat(parts, how="vertical_relaxed").sort(SOURCE_FILE, SOURCE_ROW, "column")


def missing_code_columns(frame: pl.LazyFrame) -> list[str]:
    """``_miss:<column>`` columns: true where a missing code was replaced by null."""
    return [c for c in frame.collect_schema().names() if c.startswith(MISSING)]


@dataclass(frozen=True)
class Loss:
    """What one source lost: rows quarantined and values nulled, by reason."""

    label: str
    rows_read: int
    rows_quarantined: dict[str, int]  # reason -> rows (a row with two reasons is in both)
    values_nulled: dict[str, int]  # "reason:column" -> values
    rows_lost: int = 0  # rows quarantined, each once


def check_loss(loss: Loss, max_loss: float, table: str) -> None:
    """Fail when a source lost more than ``max_loss`` of its rows, or of one column's values,
    to problems that point at the mapping; the message names the likely cause."""
    limit = max(max_loss * loss.rows_read, MIN_LOSS_TO_FAIL - 1)
    for reason_column, n in sorted(loss.values_nulled.items(), key=lambda item: -item[1]):
        if n > limit:
            reason, _, column = reason_column.partition(":")
            _fail(loss, table, f"column {column!r}", n, reason, max_loss)
    by_reason: dict[str, int] = {}
    for reason_column, n in loss.rows_quarantined.items():
        reason = reason_column.partition(":")[0]
        if reason in LIKELY_CAUSE:
            by_reason[reason] = by_reason.get(reason, 0) + n
    if by_reason:
        reason, _ = max(by_reason.items(), key=lambda item: item[1])
        rows = min(sum(by_reason.values()), loss.rows_lost)
        if rows > limit:
            _fail(loss, table, "rows", rows, reason, max_loss)


def _fail(loss: Loss, table: str, what: str, n: int, reason: str, max_loss: float) -> None:
    share = n / max(loss.rows_read, 1)
    raise IngestError(
        f"{loss.label} ({table}): {what} lost {n} of {loss.rows_read} ({share:.1%}) to "
        f"{reason!r}, more than max_loss {max_loss:.1%}. Likely cause: {LIKELY_CAUSE[reason]}. "
        "Fix the mapping; if the data really are this bad, raise `max_loss:` for this source "
        "and say why in the study's notes. Nothing was written."
    )
