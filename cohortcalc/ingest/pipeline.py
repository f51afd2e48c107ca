"""``ingest``: read every source, normalize, validate, and write the cohort store atomically.

Sources are normalized one at a time into Parquet staging files (streaming for CSV and
Parquet); tables are then validated from those files and split into accepted rows and the
quarantine. Nothing is visible at ``out`` until every table succeeded.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterable
from collections.abc import Mapping as AnyMapping
from pathlib import Path

import polars as pl

import cohortcalc
from cohortcalc.dictionary import DataDictionary, Table, load_dictionary
from cohortcalc.errors import IngestError
from cohortcalc.ingest import validate as checks
from cohortcalc.ingest.mapping import Mapping, SourceSpec, load_mapping
from cohortcalc.ingest.normalize import (
    FLAG,
    SOURCE_FILE,
    any_flag,
    first_parse_failure,
    flag_columns,
    normalize_source,
    reason_list,
)
from cohortcalc.ingest.readers import SOURCE_ROW, scan_source
from cohortcalc.ingest.report import IngestReport, SourceRecord, TableCounts
from cohortcalc.ingest.store import (
    QUARANTINE_DIR,
    commit_store,
    new_staging_dir,
    sha256_of,
    write_reports,
)

Progress = Callable[[str, int, int], None]
SourcesArg = str | Path | Iterable[str | Path] | AnyMapping[str, str | Path] | None
TABLE_ORDER = ("participants", "events", "followup", "cac_lesions", "cac_scores")


def ingest(
    sources: SourcesArg = None,
    *,
    mapping: str | Path,
    out: str | Path,
    dictionary: DataDictionary | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest a study's files into a validated cohort store at ``out``.

    ``sources``: the folder holding the mapping's files (default: the mapping's folder), a
    list of file paths (matched by name), or a dict from the mapping's ``file:`` to a path.
    ``progress(step_description, step, total_steps)`` is called as work proceeds.
    Raises ``IngestError`` (naming file, column, row and the fix); ``out`` is then untouched.
    """
    dictionary = dictionary or load_dictionary()
    spec = load_mapping(mapping, dictionary)
    paths = _resolve_paths(spec, Path(mapping), sources)
    out = Path(out)
    staging = new_staging_dir(out)
    try:
        report = _ingest_into(spec, paths, dictionary, staging, out, progress or _silent)
        write_reports(staging, report, dt.datetime.now(dt.UTC))
        commit_store(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


def _silent(_description: str, _step: int, _total: int) -> None:
    return None


def _resolve_paths(spec: Mapping, mapping_path: Path, sources: SourcesArg) -> list[Path]:
    if sources is None or isinstance(sources, str | Path):
        base = mapping_path.parent if sources is None else Path(sources)
        return [base / s.file for s in spec.sources]
    if isinstance(sources, AnyMapping):
        given = {str(k): Path(v) for k, v in sources.items()}
    else:
        given = {Path(p).name: Path(p) for p in sources}
    missing = [s.file for s in spec.sources if s.file not in given]
    if missing:
        raise IngestError(
            f"no path given for mapped source file(s) {missing}; given: {sorted(given)}. "
            "Pass every file the mapping names, or pass the folder that holds them."
        )
    return [given[s.file] for s in spec.sources]


def _ingest_into(
    spec: Mapping,
    paths: list[Path],
    dictionary: DataDictionary,
    staging: Path,
    out: Path,
    progress: Progress,
) -> IngestReport:
    scratch = staging / "_staging"
    scratch.mkdir()
    tables = sorted({s.table for s in spec.sources}, key=_table_rank)
    total = len(paths) + len(tables)
    records: list[SourceRecord] = []
    staged: dict[str, list[Path]] = {t: [] for t in tables}
    for index, (source, path) in enumerate(zip(spec.sources, paths, strict=True)):
        progress(f"reading {path.name}", index, total)
        record, staged_file = _stage_source(spec, source, path, dictionary, scratch, index)
        records.append(record)
        staged[source.table].append(staged_file)
    counts: dict[str, TableCounts] = {}
    for step, table in enumerate(tables, start=len(paths)):
        progress(f"validating {table}", step, total)
        counts[table] = _validate_table(table, staged[table], spec, dictionary, staging)
    progress("done", total, total)
    shutil.rmtree(scratch)
    return IngestReport(
        out=out,
        study=spec.study,
        sources=tuple(records),
        tables=counts,
        mapping_version=spec.mapping_version,
        dictionary_version=dictionary.version,
        package_version=cohortcalc.__version__,
    )


def _table_rank(table: str) -> int:
    return TABLE_ORDER.index(table) if table in TABLE_ORDER else len(TABLE_ORDER)


def _stage_source(
    spec: Mapping,
    source: SourceSpec,
    path: Path,
    dictionary: DataDictionary,
    scratch: Path,
    index: int,
) -> tuple[SourceRecord, Path]:
    raw, info = scan_source(path, source, scratch)
    table = dictionary.table(source.table)
    normalized = normalize_source(raw, source, spec, table, path.name)
    target = scratch / f"{index:03d}-{source.table}.parquet"
    try:
        normalized.sink_parquet(target)
    except pl.exceptions.PolarsError as err:
        raise IngestError(
            f"{path}: cannot be parsed as {info.format} ({err}). Check the delimiter, quoting "
            "and that every line has the same number of fields; set `delimiter:` if needed."
        ) from err
    rows = pl.scan_parquet(target).select(pl.len()).collect().item()
    if rows == 0:
        raise IngestError(f"{path}: the file has a header but no data rows. Export it again.")
    if spec.row_error_policy(source) == "error":
        _raise_on_parse_failure(pl.scan_parquet(target), raw, source, path)
    record = SourceRecord(
        path=str(path),
        table=source.table,
        format=info.format,
        sha256=sha256_of(path),
        rows_read=rows,
        encoding=info.encoding,
        delimiter=info.delimiter,
    )
    return record, target


def _raise_on_parse_failure(
    staged: pl.LazyFrame, raw: pl.LazyFrame, source: SourceSpec, path: Path
) -> None:
    failure = first_parse_failure(staged)
    if failure is None:
        return
    reason, row = failure
    kind, canonical = reason.split(":", 1)
    spec = source.column(canonical)
    column = spec.unit_column or (spec.unit_by.column if spec.unit_by else None)
    column = column if kind == "unknown_unit" else spec.column
    value = raw.filter(pl.col(SOURCE_ROW) == row).select(column).collect().item()
    fixes = {
        "unparseable": "the column mixes numbers and text: correct the value, or add it to "
        "`missing_codes` if it means missing",
        "unparseable_date": "give the column's `date_format` in the mapping or correct the date",
        "unknown_unit": "add the unit to the mapping (`unit_by`) or the dictionary's "
        "source_units, or correct the file",
    }
    raise IngestError(
        f"{path}: column {column!r} (-> {source.table}.{canonical}), row {row}: value {value!r} "
        f"is {kind.replace('_', ' ')}. Fix: {fixes[kind]}; or set `on_row_error: quarantine` "
        "to quarantine such rows."
    )


def _validate_table(
    name: str, files: list[Path], spec: Mapping, dictionary: DataDictionary, staging: Path
) -> TableCounts:
    table = dictionary.table(name)
    scratch = staging / "_staging"
    frame = pl.concat([pl.scan_parquet(f) for f in files], how="diagonal")
    frame = frame.with_columns(pl.col(f).fill_null(False) for f in flag_columns(frame))
    frame = checks.check_duplicates(table, checks.check_rows(table, frame))
    if name != "participants" and "participants" in dictionary.tables:
        parents = scratch / "participants-validated.parquet"
        if not parents.is_file():
            raise IngestError(
                f"the mapping feeds {name} but no source feeds participants; add the "
                "participants file to the mapping."
            )
        frame = checks.check_parent(frame, checks.participant_status(pl.scan_parquet(parents)))
        deaths = scratch / "events-validated.parquet"
        if name in ("events", "followup"):
            deaths_frame = (
                checks.death_dates(frame)
                if name == "events"
                else checks.death_dates(pl.scan_parquet(deaths))
                if deaths.is_file()
                else pl.LazyFrame(schema={"participant_id": pl.String, "_death_date": pl.Date})
            )
            check = checks.check_event_dates if name == "events" else checks.check_followup_dates
            frame = check(frame, deaths_frame)
    flags = flag_columns(frame)
    validated = scratch / f"{name}-validated.parquet"
    frame.select(*table.names, SOURCE_FILE, SOURCE_ROW, *flags).sink_parquet(validated)
    _raise_on_duplicates(validated, spec, name, table.key_columns)
    bad = any_flag(flags)
    rows = pl.scan_parquet(validated)
    rows.filter(~bad).select(table.names).sink_parquet(staging / f"{name}.parquet")
    quarantined = rows.filter(bad).select(*table.names, SOURCE_FILE, SOURCE_ROW, reason_list(flags))
    quarantined.sink_parquet(staging / QUARANTINE_DIR / f"{name}.parquet")
    return _count(name, validated, table, staging / f"{name}.parquet")


def _raise_on_duplicates(validated: Path, spec: Mapping, table: str, key: tuple[str, ...]) -> None:
    if spec.on_row_error != "error":
        return
    rows = pl.scan_parquet(validated)
    if FLAG + "duplicate_id" not in flag_columns(rows):
        return
    flagged = rows.filter(pl.col(FLAG + "duplicate_id"))
    first = flagged.select(*key).head(1).collect()
    if first.height == 0:
        return
    same_key = pl.all_horizontal(pl.col(k) == first[k][0] for k in key)
    dupes = flagged.filter(same_key).select(*key, SOURCE_FILE, SOURCE_ROW).head(2).collect()
    rows = zip(dupes[SOURCE_FILE], dupes[SOURCE_ROW], strict=True)
    where = " and ".join(f"{f} row {r}" for f, r in rows)
    shown = ", ".join(f"{k}={dupes[k][0]!r}" for k in key)
    raise IngestError(
        f"{table}: duplicate id {shown} in column {key[0]!r} ({where}). Fix: remove or correct "
        "the duplicate in the source, or set `on_row_error: quarantine` to quarantine every copy."
    )


def _count(name: str, validated: Path, table_def: Table, accepted: Path) -> TableCounts:
    frame = pl.scan_parquet(validated)
    flags = flag_columns(frame)
    totals = frame.select(
        pl.len().alias("_read"),
        any_flag(flags).sum().alias("_bad"),
        *(pl.col(f).sum() for f in flags),
    ).collect()
    reasons = {f.removeprefix(FLAG): int(totals[f][0]) for f in sorted(flags) if totals[f][0]}
    return TableCounts(
        table=name,
        rows_read=int(totals["_read"][0]),
        rows_written=pl.scan_parquet(accepted).select(pl.len()).collect().item(),
        rows_quarantined=int(totals["_bad"][0]),
        reasons=reasons,
        soft_range=checks.soft_range_counts(table_def, pl.scan_parquet(accepted)),
    )
