"""Build one canonical table from its staged sources: validate, merge, split, count.

Rows sources are stacked and checked together (so a duplicate id across two files is seen);
each ``role: columns`` source is checked on its own and joined on the table's key. Every
intermediate is a Parquet file in the staging folder, so tables stream through in bounded
memory. Accepted rows go to ``<table>.parquet``, the rest to ``_quarantine/<table>.parquet``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from cohortcalc.dictionary import DataDictionary, Table
from cohortcalc.errors import IngestError
from cohortcalc.ingest import validate as checks
from cohortcalc.ingest.mapping import RowErrorPolicy, SourceSpec
from cohortcalc.ingest.normalize import (
    FLAG,
    POLARS_TYPES,
    SOURCE_FILE,
    any_flag,
    flag_columns,
    reason_list,
)
from cohortcalc.ingest.readers import SOURCE_ROW
from cohortcalc.ingest.store import QUARANTINE_DIR

PARTICIPANTS = "participants"
SCRATCH_COMPRESSION = "lz4"  # intermediates: fast; the store's own files use Polars' zstd


@dataclass(frozen=True)
class StagedSource:
    """A source after normalization: its spec, its file label and its staged Parquet."""

    spec: SourceSpec
    label: str
    staged: Path


@dataclass(frozen=True)
class Outcome:
    """Per-source rows accepted/quarantined and reasons, and the written table's rows."""

    accepted: dict[str, int]
    quarantined: dict[str, int]
    reasons: dict[str, dict[str, int]]
    rows_written: int


def build_table(
    name: str,
    sources: list[StagedSource],
    dictionary: DataDictionary,
    staging: Path,
    policy: RowErrorPolicy,
) -> Outcome:
    """Validate, merge and write table ``name``; return its counts."""
    table = dictionary.table(name)
    scratch = staging / "_staging"
    key = list(table.key_columns)
    rows = _stack([s.staged for s in sources if s.spec.role == "rows"])
    rows = checks.check_duplicates(table, checks.check_rows(table, rows))
    if name != PARTICIPANTS:
        rows = _check_against_participants(name, rows, scratch)
    validated = [_sink_validated(rows, table, scratch / f"{name}-rows.parquet")]
    status = checks.key_status(pl.scan_parquet(validated[0]), key)
    for index, source in enumerate(s for s in sources if s.spec.role == "columns"):
        columns = pl.scan_parquet(source.staged)
        columns = checks.check_duplicates(table, checks.check_rows(table, columns))
        columns = checks.check_parent(columns, status, key)
        target = scratch / f"{name}-columns-{index}.parquet"
        validated.append(_sink_validated(columns, table, target))
    for path in validated:
        _raise_on_duplicates(path, policy, name, table.key_columns)
    _write_accepted(table, key, validated, staging / f"{name}.parquet")
    _write_quarantine(table, validated, staging / QUARANTINE_DIR / f"{name}.parquet")
    return _count(validated, staging / f"{name}.parquet")


def _stack(files: list[Path]) -> pl.LazyFrame:
    frame = pl.concat([pl.scan_parquet(f) for f in files], how="diagonal")
    return frame.with_columns(pl.col(f).fill_null(False) for f in flag_columns(frame))


def _check_against_participants(name: str, rows: pl.LazyFrame, scratch: Path) -> pl.LazyFrame:
    parents = scratch / f"{PARTICIPANTS}-rows.parquet"
    if not parents.is_file():
        raise IngestError(
            f"the mapping feeds {name} but no source feeds participants; add the participants "
            "file(s) to the mapping."
        )
    status = checks.key_status(pl.scan_parquet(parents), [checks.PID])
    rows = checks.check_parent(rows, status, [checks.PID])
    if name == "events":
        return checks.check_event_dates(rows, checks.death_dates(rows))
    if name == "followup":
        events = scratch / "events-rows.parquet"
        deaths = (
            checks.death_dates(pl.scan_parquet(events))
            if events.is_file()
            else pl.LazyFrame(schema={checks.PID: pl.String, "_death_date": pl.Date})
        )
        return checks.check_followup_dates(rows, deaths)
    return rows


def _sink_validated(frame: pl.LazyFrame, table: Table, target: Path) -> Path:
    present = frame.collect_schema().names()
    canonical = [n for n in table.names if n in present]
    selected = frame.select(*canonical, SOURCE_FILE, SOURCE_ROW, *flag_columns(frame))
    selected.sink_parquet(target, compression=SCRATCH_COMPRESSION)
    return target


def _write_accepted(table: Table, key: list[str], validated: list[Path], target: Path) -> None:
    def accepted(path: Path) -> pl.LazyFrame:
        frame = pl.scan_parquet(path)
        present = [n for n in table.names if n in frame.collect_schema().names()]
        return frame.filter(~any_flag(flag_columns(frame))).select(present)

    merged = accepted(validated[0])
    for path in validated[1:]:
        merged = merged.join(accepted(path), on=key, how="left", maintain_order="left")
    present = merged.collect_schema().names()
    absent = [pl.lit(None, POLARS_TYPES[v.type]).alias(v.name) for v in table.variables]
    merged = merged.with_columns(e for e in absent if e.meta.output_name() not in present)
    merged.select(table.names).sink_parquet(target)


def _write_quarantine(table: Table, validated: list[Path], target: Path) -> None:
    parts = []
    for path in validated:
        frame = pl.scan_parquet(path)
        flags = flag_columns(frame)
        present = [n for n in table.names if n in frame.collect_schema().names()]
        bad = frame.filter(any_flag(flags))
        parts.append(bad.select(*present, SOURCE_FILE, SOURCE_ROW, reason_list(flags)))
    frame = pl.concat(parts, how="diagonal")
    present = frame.collect_schema().names()
    absent = [
        pl.lit(None, POLARS_TYPES[v.type]).alias(v.name)
        for v in table.variables
        if v.name not in present
    ]
    frame.with_columns(absent).select(
        *table.names, SOURCE_FILE, SOURCE_ROW, "_reasons"
    ).sink_parquet(target)


def _raise_on_duplicates(
    validated: Path, policy: RowErrorPolicy, table: str, key: tuple[str, ...]
) -> None:
    rows = pl.scan_parquet(validated)
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


def _count(validated: list[Path], accepted: Path) -> Outcome:
    kept: dict[str, int] = {}
    dropped: dict[str, int] = {}
    reasons: dict[str, dict[str, int]] = {}
    for path in validated:
        frame = pl.scan_parquet(path)
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
    written = pl.scan_parquet(accepted).select(pl.len()).collect().item()
    return Outcome(kept, dropped, reasons, written)
