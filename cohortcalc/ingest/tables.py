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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from cohortcalc.dictionary import DataDictionary, Table
from cohortcalc.errors import IngestError
from cohortcalc.ingest import validate as checks
from cohortcalc.ingest.layout import TableLayout, write_table
from cohortcalc.ingest.mapping import RowErrorPolicy, SourceSpec
from cohortcalc.ingest.normalize import (
    FLAG,
    POLARS_TYPES,
    REASONS,
    SOURCE_FILE,
    any_flag,
    flag_columns,
    reason_list,
)
from cohortcalc.ingest.readers import SOURCE_ROW
from cohortcalc.ingest.store import QUARANTINE_DIR, table_entry, write_file

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


@dataclass(frozen=True)
class Outcome:
    """Per-source rows accepted/quarantined and reasons, and the written table's rows."""

    accepted: dict[str, int]
    quarantined: dict[str, int]
    reasons: dict[str, dict[str, int]]
    rows_written: int
    validated_rows: pl.LazyFrame  # the rows sources after checks (children check against it)
    entry: dict[str, Any] = field(default_factory=dict)  # the manifest's store.table_entry


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
    rows = _stack([s.frame for s in sources if s.spec.role == "rows"])
    rows = checks.check_duplicates(table, checks.check_rows(table, rows))
    if name != PARTICIPANTS:
        rows = _check_against_participants(name, rows, parents)
    target = scratch / f"{name}-rows.parquet"
    split = [s for s in sources if s.spec.role == "columns"]  # join validated[0] twice
    validated = [
        materialize(_validated_columns(rows, table), target, in_memory, recompute=not split)
    ]
    status = checks.key_status(validated[0], key)
    for index, source in enumerate(split):
        columns = checks.check_duplicates(table, checks.check_rows(table, source.frame))
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
    entry = table_entry(name, table.names, layout.partition_types, files)
    return _count(validated, sum(f.rows for f in files), entry)


def _stack(frames: list[pl.LazyFrame]) -> pl.LazyFrame:
    frame = pl.concat(frames, how="diagonal")
    return frame.with_columns(pl.col(f).fill_null(False) for f in flag_columns(frame))


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
            else pl.LazyFrame(schema={checks.PID: pl.String, "_death_date": pl.Date})
        )
        return checks.check_followup_dates(rows, deaths)
    return rows


def _validated_columns(frame: pl.LazyFrame, table: Table) -> pl.LazyFrame:
    present = frame.collect_schema().names()
    canonical = [n for n in table.names if n in present]
    return frame.select(*canonical, SOURCE_FILE, SOURCE_ROW, *flag_columns(frame))


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
        parts.append(bad.select(*present, SOURCE_FILE, SOURCE_ROW, reason_list(flags)))
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
    repeat = rows.filter(pl.col(FLAG + "duplicate_id")).select(*key, SOURCE_FILE, SOURCE_ROW)
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
    for frame in validated:
        flags = flag_columns(frame)
        totals = (
            frame.group_by(SOURCE_FILE)
            .agg(
                pl.len().alias("_read"),
                any_flag(flags).sum().alias("_bad"),
                *(pl.col(f).sum() for f in flags),
            )
            .collect()
        )
        for row in totals.iter_rows(named=True):
            label = row[SOURCE_FILE]
            kept[label], dropped[label] = row["_read"] - row["_bad"], row["_bad"]
            reasons[label] = {f.removeprefix(FLAG): row[f] for f in sorted(flags) if row[f]}
    return Outcome(kept, dropped, reasons, written, validated[0], entry)
