"""Build one canonical table from its staged sources: validate, merge, split, count.

Rows sources are stacked and checked together (so a duplicate id across two files is seen);
each ``role: columns`` source is checked on its own and joined on the table's key. Accepted
rows go to ``<table>.parquet`` (a file, or a partitioned folder: ``layout.py``), the rest to
``_quarantine/<table>.parquet``.

Intermediates are held in memory for tables up to ``IN_MEMORY_MAX_ROWS`` rows (fastest). Above
it nothing holds a whole table: the validated rows stay a lazy plan over the sources' scratch
Parquet files, re-run by each streaming query that reads it (``materialize``), duplicate keys
come from a separate pass over the keys (``validate.repeated_rows``), and store files are
sunk in fixed row groups, byte-identical to the in-memory path's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from cohortcalc.dictionary import DataDictionary, Table
from cohortcalc.errors import IngestError
from cohortcalc.ingest import issues as values
from cohortcalc.ingest import validate as checks
from cohortcalc.ingest.layout import TableLayout, write_table
from cohortcalc.ingest.mapping import RowErrorPolicy, SourceSpec, ValueErrorPolicy
from cohortcalc.ingest.normalize import (
    FLAG,
    MISSING,
    ORIGINAL,
    POLARS_TYPES,
    REASONS,
    SOURCE_FILE,
    any_flag,
    flag_columns,
    reason_list,
)
from cohortcalc.ingest.readers import SOURCE_ROW
from cohortcalc.ingest.store import ISSUES_DIR, QUARANTINE_DIR, table_entry, write_file

PARTICIPANTS = "participants"
SCRATCH_COMPRESSION = "lz4"  # intermediates: fast; the store's own files use Polars' zstd
IN_MEMORY_MAX_ROWS = 1_500_000


def materialize(
    frame: pl.LazyFrame, target: Path, in_memory: bool, *, recompute: bool = False
) -> pl.LazyFrame:
    """Compute ``frame`` once: into memory, or streamed into the scratch file ``target``.

    ``recompute``: when streaming, return the plan itself, to be run by each query that reads
    it (cheaper than writing and reading a wide scratch file, whose sink is the bottleneck
    and buffers what it cannot write yet). Only for plans that no query reads twice.
    """
    if in_memory:
        return frame.collect().lazy()
    if recompute:
        return frame
    frame.sink_parquet(target, compression=SCRATCH_COMPRESSION)
    return pl.scan_parquet(target)


@dataclass(frozen=True)
class StagedSource:
    """A source after normalization: its spec, its file label, its rows (lazy) and count."""

    spec: SourceSpec
    label: str
    frame: pl.LazyFrame
    rows: int
    value_policy: ValueErrorPolicy = "null"


@dataclass(frozen=True)
class Outcome:
    """Per-source rows accepted/quarantined and reasons, values nulled and missing codes
    replaced; the written table's rows, and what ingest derived."""

    accepted: dict[str, int]
    quarantined: dict[str, int]
    reasons: dict[str, dict[str, int]]
    rows_written: int
    validated_rows: pl.LazyFrame  # the rows sources after checks (children check against it)
    entry: dict[str, Any] = field(default_factory=dict)  # the manifest's store.table_entry
    values_nulled: dict[str, dict[str, int]] = field(default_factory=dict)
    missing_codes: dict[str, dict[str, int]] = field(default_factory=dict)
    derived: tuple[str, ...] = ()


def build_table(
    name: str,
    sources: list[StagedSource],
    dictionary: DataDictionary,
    staging: Path,
    policy: RowErrorPolicy,
    parents: dict[str, pl.LazyFrame],
    layout: TableLayout | None = None,
) -> Outcome:
    """Validate, merge and write table ``name``; return its counts.

    ``parents``: validated rows of tables built before (participants, events), by name.
    ``layout``: how to write the accepted rows (default: one file).
    """
    table = dictionary.table(name)
    scratch = staging / "_staging"
    key = list(table.key_columns)
    in_memory = sum(s.rows for s in sources) <= IN_MEMORY_MAX_ROWS
    row_sources = [s for s in sources if s.spec.role == "rows"]
    rows = _stack([_checked(table, s) for s in row_sources])
    rows, derived = _derive_missing(name, rows)
    rows = checks.check_duplicates(table, rows)
    if name != PARTICIPANTS:
        rows = _check_against_participants(name, rows, parents)
    target = scratch / f"{name}-rows.parquet"
    split = [s for s in sources if s.spec.role == "columns"]  # join validated[0] twice
    validated = [
        materialize(_validated_columns(rows, table), target, in_memory, recompute=not split)
    ]
    status = checks.key_status(validated[0], key)
    for index, source in enumerate(split):
        columns = checks.check_duplicates(table, _checked(table, source))
        columns = checks.check_parent(columns, status, key)
        target = scratch / f"{name}-columns-{index}.parquet"
        validated.append(materialize(_validated_columns(columns, table), target, in_memory))
    for frame in validated:
        _raise_on_duplicates(frame, policy, name, table.key_columns)
    layout = layout or TableLayout()
    accepted = _accepted(table, key, validated)
    files = write_table(accepted, staging, name, layout, in_memory, scratch)
    quarantine = _quarantined(table, validated)
    write_file(quarantine, staging / QUARANTINE_DIR / f"{name}.parquet", in_memory)
    row_flags = [flag_columns(frame) for frame in validated]
    nulled = values.issues(
        validated, row_flags, key, [s.spec for s in sources], [s.label for s in sources]
    )
    write_file(nulled, staging / ISSUES_DIR / f"{name}.parquet", in_memory)
    entry = table_entry(name, table.names, layout.partition_types, files)
    return replace(_count(validated, sum(f.rows for f in files), entry), derived=derived)


def _checked(table: Table, source: StagedSource) -> pl.LazyFrame:
    """One source's value checks, with its value policy applied."""
    frame = checks.check_row_logic(source.spec.table, checks.check_rows(table, source.frame))
    return values.apply_value_policy(frame, table, source.value_policy)


def _derive_missing(name: str, rows: pl.LazyFrame) -> tuple[pl.LazyFrame, tuple[str, ...]]:
    """Number lesions 1..k within participant in file order when no source numbers them.

    (A missing ``end_reason`` is derived from the events in ``validate.check_followup_dates``.)
    """
    present = rows.collect_schema().names()
    if name == "followup" and "end_reason" not in present:
        return rows, ("end_reason",)
    if name != "cac_lesions" or "lesion_id" in present:
        return rows, ()
    number = pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(checks.PID)
    return rows.with_columns(number.alias("lesion_id")), ("lesion_id",)


def _stack(frames: list[pl.LazyFrame]) -> pl.LazyFrame:
    frame = pl.concat(frames, how="diagonal")
    marks = [
        c for c in frame.collect_schema().names() if c.startswith((FLAG, values.VALUE, MISSING))
    ]
    return frame.with_columns(pl.col(f).fill_null(False) for f in marks)


def _check_against_participants(
    name: str, rows: pl.LazyFrame, parents: dict[str, pl.LazyFrame]
) -> pl.LazyFrame:
    if PARTICIPANTS not in parents:
        raise IngestError(
            f"the mapping feeds {name} but no source feeds participants; add the participants "
            "file(s) to the mapping."
        )
    status = checks.key_status(parents[PARTICIPANTS], [checks.PID])
    rows = checks.check_parent(rows, status, [checks.PID])
    if name == "events":  # deaths collected apart: a self-join would hold every event row
        return checks.check_event_dates(rows, checks.death_dates(rows).collect().lazy())
    if name == "followup":
        deaths = (
            checks.death_dates(parents["events"]).collect().lazy()
            if "events" in parents
            else pl.LazyFrame(
                schema={
                    checks.PID: pl.String,
                    "_death_date": pl.Date,
                    "_death_rejected": pl.Boolean,
                }
            )
        )
        return checks.check_followup_dates(rows, deaths)
    return rows


def _validated_columns(frame: pl.LazyFrame, table: Table) -> pl.LazyFrame:
    present = frame.collect_schema().names()
    canonical = [n for n in table.names if n in present]
    marks = [c for c in present if c.startswith((values.VALUE, ORIGINAL, MISSING))]
    return frame.select(*canonical, SOURCE_FILE, SOURCE_ROW, *flag_columns(frame), *marks)


def _accepted(table: Table, key: list[str], validated: list[pl.LazyFrame]) -> pl.LazyFrame:
    def accepted(frame: pl.LazyFrame) -> pl.LazyFrame:
        present = [n for n in table.names if n in frame.collect_schema().names()]
        return frame.filter(~any_flag(flag_columns(frame))).select(present)

    merged = accepted(validated[0])
    for frame in validated[1:]:
        merged = merged.join(accepted(frame), on=key, how="left", maintain_order="left")
    return _with_every_variable(table, merged).select(table.names)


def _quarantined(table: Table, validated: list[pl.LazyFrame]) -> pl.LazyFrame:
    parts = []
    for frame in validated:
        flags = flag_columns(frame)
        present = [n for n in table.names if n in frame.collect_schema().names()]
        bad = frame.filter(any_flag(flags))
        named = [*flags, *values.value_flag_columns(frame)]
        reasons = reason_list(named).list.eval(pl.element().str.strip_prefix(values.VALUE))
        parts.append(bad.select(*present, SOURCE_FILE, SOURCE_ROW, reasons.alias(REASONS)))
    merged = _with_every_variable(table, pl.concat(parts, how="diagonal"))
    return merged.select(*table.names, SOURCE_FILE, SOURCE_ROW, REASONS)


def _with_every_variable(table: Table, frame: pl.LazyFrame) -> pl.LazyFrame:
    """Add the table's variables that no source provided, as typed nulls."""
    present = set(frame.collect_schema().names())
    return frame.with_columns(
        pl.lit(None, POLARS_TYPES[v.type]).alias(v.name)
        for v in table.variables
        if v.name not in present
    )


def _raise_on_duplicates(
    rows: pl.LazyFrame, policy: RowErrorPolicy, table: str, key: tuple[str, ...]
) -> None:
    if policy != "error" or FLAG + "duplicate_id" not in flag_columns(rows):
        return
    either = pl.col(FLAG + "duplicate_id") | pl.col(FLAG + "duplicate_row")
    repeat = rows.filter(either).select(*key, SOURCE_FILE, SOURCE_ROW)
    hit = repeat.head(1).collect()
    if hit.height == 0:
        return
    same_key = pl.all_horizontal(pl.col(k) == hit[k][0] for k in key)
    first = rows.filter(same_key).select(SOURCE_FILE, SOURCE_ROW).head(1).collect()
    shown = ", ".join(f"{k}={hit[k][0]!r}" for k in key)
    raise IngestError(
        f"{table}: duplicate id {shown} in column {key[0]!r}: {first[SOURCE_FILE][0]} row "
        f"{first[SOURCE_ROW][0]} and {hit[SOURCE_FILE][0]} row {hit[SOURCE_ROW][0]}. Fix: remove "
        "or correct the repeat in the source, or set `on_row_error: quarantine` to keep the "
        "first row and quarantine the repeats."
    )


def _count(validated: list[pl.LazyFrame], written: int, entry: dict[str, Any]) -> Outcome:
    kept: dict[str, int] = {}
    dropped: dict[str, int] = {}
    reasons: dict[str, dict[str, int]] = {}
    nulled: dict[str, dict[str, int]] = {}
    codes: dict[str, dict[str, int]] = {}
    for frame in validated:
        flags = flag_columns(frame)
        value_flags = values.value_flag_columns(frame)
        missing = values.missing_code_columns(frame)
        bad = any_flag(flags)
        totals = (
            frame.group_by(SOURCE_FILE)
            .agg(
                pl.len().alias("_read"),
                bad.sum().alias("_bad"),
                *(pl.col(f).sum() for f in flags),
                *(pl.col(f).filter(bad).sum().alias(f"q{f}") for f in value_flags),
                *(pl.col(f).filter(~bad).sum() for f in value_flags),
                *(pl.col(f).sum() for f in missing),
            )
            .collect()
        )
        for row in totals.iter_rows(named=True):
            label = row[SOURCE_FILE]
            kept[label], dropped[label] = row["_read"] - row["_bad"], row["_bad"]
            found = {f.removeprefix(FLAG): row[f] for f in flags if row[f]}
            found |= {
                f.removeprefix(values.VALUE): row[f"q{f}"] for f in value_flags if row[f"q{f}"]
            }
            reasons[label] = dict(sorted(found.items()))
            nulled[label] = {
                f.removeprefix(values.VALUE): row[f] for f in sorted(value_flags) if row[f]
            }
            codes[label] = {f.removeprefix(MISSING): row[f] for f in sorted(missing) if row[f]}
    return Outcome(kept, dropped, reasons, written, validated[0], entry, nulled, codes)
