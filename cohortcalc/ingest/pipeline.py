"""``ingest``: read every source, normalize, validate, and write the cohort store atomically.

Sources are normalized one at a time into Parquet staging files (streaming for CSV and
Parquet); tables are then validated from those files and split into accepted rows and the
quarantine. Nothing is visible at ``out`` until every table succeeded.
"""

from __future__ import annotations

import datetime as dt
import shutil
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from collections.abc import Mapping as AnyMapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

import cohortcalc
from cohortcalc.dictionary import DataDictionary, Table, load_dictionary
from cohortcalc.errors import CohortcalcWarning, DataQualityWarning, IngestError
from cohortcalc.ingest import tables
from cohortcalc.ingest import validate as checks
from cohortcalc.ingest.issues import Loss, check_loss
from cohortcalc.ingest.layout import PartitionBy, TableLayout, resolve_layouts
from cohortcalc.ingest.mapping import Mapping, SourceSpec, load_mapping, resolve_mapping
from cohortcalc.ingest.normalize import FLAG, first_parse_failure, normalize_source, text_types
from cohortcalc.ingest.readers import SOURCE_ROW, ReadInfo, scan_source
from cohortcalc.ingest.report import IngestReport, SourceRecord, TableCounts
from cohortcalc.ingest.store import (
    REPORT_MD,
    commit_store,
    new_staging_dir,
    recover_store,
    scan_table,
    sha256_of,
    write_reports,
)
from cohortcalc.ingest.tables import Outcome, StagedSource, build_table, materialize

Progress = Callable[[str, int, int], None]
SourcesArg = str | Path | Iterable[str | Path] | AnyMapping[str, str | Path] | None
TABLE_ORDER = ("participants", "events", "followup", "cac_lesions", "cac_scores")
IN_MEMORY_MAX_BYTES = 256 * 1024**2  # larger sources are streamed through scratch Parquet


def ingest(
    sources: SourcesArg = None,
    *,
    mapping: str | Path,
    out: str | Path,
    dictionary: DataDictionary | None = None,
    progress: Progress | None = None,
    partition_by: PartitionBy = None,
    rows_per_file: int | None = None,
    allow_outside_sources: bool = False,
) -> IngestReport:
    """Ingest a study's files into a validated cohort store at ``out``.

    ``sources``: the folder holding the mapping's files (default: the mapping's folder), a
    list of file paths (matched by name), or a dict from the mapping's ``file:`` to a path.
    ``mapping``: a mapping YAML path, or the name of one shipped with cohortcalc (e.g.
    ``"synthetic_study"``, for the export of ``cohortcalc simulate``).
    ``progress(step_description, step, total_steps)`` is called as work proceeds.
    ``partition_by``: write tables as Hive-partitioned folders that Spark reads directly
    (``<out>/<table>.parquet/site=BAL/part-00000.parquet``): a column (``"site"``) or list of
    columns, applied to every table that has them, or a dict from table to column(s).
    ``rows_per_file``: split each table (or partition) into files of at most this many rows.
    ``cc.read_store`` reads either layout back with the same columns, types and row order.
    ``allow_outside_sources``: read mapped files that lie outside the sources folder.
    Raises ``IngestError`` (naming file, column, row and the fix); ``out`` is then untouched.
    Warns ``DataQualityWarning`` when values outside a soft range were kept.
    """
    dictionary = dictionary or load_dictionary()
    mapping_path = resolve_mapping(mapping)
    spec = load_mapping(mapping_path, dictionary)
    paths = resolve_paths(spec, mapping_path, sources, allow_outside_sources)
    tables = sorted({s.table for s in spec.sources}, key=_table_rank)
    layouts = resolve_layouts(partition_by, rows_per_file, dictionary, tables)
    out = Path(out)
    recovered = recover_store(out)
    for message in recovered:
        warnings.warn(f"{out}: {message}", CohortcalcWarning, stacklevel=2)
    staging = new_staging_dir(out)
    try:
        report, entries = _ingest_into(
            spec, paths, dictionary, staging, out, progress or _silent, layouts
        )
        write_reports(staging, report, dt.datetime.now(dt.UTC), entries)
        commit_store(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _warn_soft_range(report)
    return report


def _warn_soft_range(report: IngestReport) -> None:
    kept = [
        f"{counts.table}.{var} ({n})"
        for counts in report.tables.values()
        for var, n in counts.soft_range.items()
    ]
    if kept:
        warnings.warn(
            f"implausible values (outside the soft range) were kept: {', '.join(kept)}; see "
            f"{report.out / REPORT_MD}",
            DataQualityWarning,
            stacklevel=3,
        )


def _silent(_description: str, _step: int, _total: int) -> None:
    return None


def resolve_paths(
    spec: Mapping, mapping_path: Path, sources: SourcesArg, allow_outside_sources: bool = False
) -> list[Path]:
    """Each mapped file's path. With a folder (or none: the mapping's), a ``file:`` that
    leaves the folder (``..``, an absolute path, a link out) is refused unless
    ``allow_outside_sources``: a mapping from elsewhere must not read files it was not given."""
    if sources is None or isinstance(sources, str | Path):
        base = mapping_path.parent if sources is None else Path(sources)
        paths = [base / s.file for s in spec.sources]
        if not allow_outside_sources:
            root = base.resolve()
            outside = [
                s.file
                for s, p in zip(spec.sources, paths, strict=True)
                if not p.resolve().is_relative_to(root)
            ]
            if outside:
                raise IngestError(
                    f"mapping file(s) {outside} lie outside the sources folder {base}; refusing "
                    "to read them. Copy the files into the folder, or pass "
                    "allow_outside_sources=True (CLI: --allow-outside-sources) if you mean it."
                )
        return paths
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
    layouts: dict[str, TableLayout],
) -> tuple[IngestReport, dict[str, dict[str, Any]]]:
    scratch = staging / "_staging"
    scratch.mkdir()
    tables = list(layouts)
    total = len(paths) + len(tables)
    read: dict[str, SourceRecord] = {}
    staged: dict[str, list[StagedSource]] = {t: [] for t in tables}
    for index, (source, path) in enumerate(zip(spec.sources, paths, strict=True)):
        progress(f"reading {path.name}", index, total)
        record, frame = _stage_source(spec, source, path, dictionary, scratch, index)
        read[path.name] = record
        policy = spec.value_error_policy(source)
        staged[source.table].append(
            StagedSource(source, path.name, frame, record.rows_read, policy)
        )
    counts: dict[str, TableCounts] = {}
    records: list[SourceRecord] = []
    parents: dict[str, pl.LazyFrame] = {}
    entries: dict[str, dict[str, Any]] = {}
    for step, table in enumerate(tables, start=len(paths)):
        progress(f"validating {table}", step, total)
        outcome = build_table(
            table, staged[table], dictionary, staging, spec.on_row_error, parents, layouts[table]
        )
        parents[table] = outcome.validated_rows
        entries[table] = outcome.entry
        table_records = [
            replace(
                read[s.label],
                rows_accepted=outcome.accepted.get(s.label, 0),
                rows_quarantined=outcome.quarantined.get(s.label, 0),
                reasons=outcome.reasons.get(s.label, {}),
                values_nulled=outcome.values_nulled.get(s.label, {}),
                missing_codes=outcome.missing_codes.get(s.label, {}),
            )
            for s in staged[table]
        ]
        for record, source in zip(table_records, staged[table], strict=True):
            loss = Loss(
                source.label,
                record.rows_read,
                record.reasons,
                record.values_nulled,
                record.rows_quarantined,
            )
            check_loss(loss, spec.max_loss_for(source.spec), table)
        records += table_records
        counts[table] = _table_counts(table, table_records, outcome, dictionary, staging)
    progress("done", total, total)
    shutil.rmtree(scratch)
    order = {str(path): i for i, path in enumerate(paths)}
    report = IngestReport(
        out=out,
        study=spec.study,
        sources=tuple(sorted(records, key=lambda r: order[r.path])),
        tables=counts,
        mapping_version=spec.mapping_version,
        dictionary_version=dictionary.version,
        package_version=cohortcalc.__version__,
    )
    return report, entries


def _table_counts(
    name: str,
    records: list[SourceRecord],
    outcome: Outcome,
    dictionary: DataDictionary,
    staging: Path,
) -> TableCounts:
    reasons: Counter[str] = Counter()
    nulled: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    for record in records:
        reasons.update(record.reasons)
        nulled.update(record.values_nulled)
        codes.update(record.missing_codes)
    row_sources = [r for r in records if r.role == "rows"]
    accepted = scan_table(staging, outcome.entry, ordered=False)
    return TableCounts(
        table=name,
        rows_read=sum(r.rows_read for r in row_sources),
        rows_written=outcome.rows_written,
        rows_quarantined=sum(r.rows_quarantined for r in row_sources),
        reasons=dict(sorted(reasons.items())),
        soft_range=checks.soft_range_counts(dictionary.table(name), accepted),
        values_nulled=dict(sorted(nulled.items())),
        missing_codes=dict(sorted(codes.items())),
        derived=outcome.derived,
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
) -> tuple[SourceRecord, pl.LazyFrame]:
    table = dictionary.table(source.table)
    target = scratch / f"{index:03d}-{source.table}.parquet"
    raw, info = scan_source(path, source, scratch, text_types(source, spec, table))
    in_memory = _fits_in_memory(path, raw, info)
    try:
        try:  # fast path: numbers parsed by the CSV reader
            staged = materialize(
                _normalized(raw, info, source, spec, table, path), target, in_memory
            )
        except pl.exceptions.PolarsError:  # a value did not parse: read as text to find it
            raw, info = scan_source(path, source, scratch)
            normalized = _normalized(raw, info, source, spec, table, path)
            staged = materialize(normalized, target, in_memory)
    except pl.exceptions.PolarsError as err:
        raise IngestError(
            f"{path}: cannot be parsed as {info.format} ({err}). Check the delimiter, "
            "quoting and that every line has the same number of fields; set `delimiter:` "
            "if needed."
        ) from err
    except BaseException as err:  # a Rust panic in a reader is a BaseException
        if type(err).__name__ != "PanicException":
            raise
        raise IngestError(
            f"{path}: file is corrupt: the {info.format} reader failed ({err}). Export it again."
        ) from err
    rows = staged.select(pl.len()).collect().item()
    if rows == 0:
        raise IngestError(f"{path}: the file has a header but no data rows. Export it again.")
    if spec.row_error_policy(source) == "error":
        _raise_on_short_row(info, path)
        _raise_on_parse_failure(staged, raw, source, path)
    record = SourceRecord(
        path=str(path),
        table=source.table,
        role=source.role,
        format=info.format,
        sha256=sha256_of(path),
        rows_read=rows,
        encoding=info.encoding,
        delimiter=info.delimiter,
    )
    return record, staged


def _normalized(
    raw: pl.LazyFrame, info: ReadInfo, source: SourceSpec, spec: Mapping, table: Table, path: Path
) -> pl.LazyFrame:
    """``normalize_source`` plus the reader's row problems (``short_row``)."""
    normalized = normalize_source(raw, source, spec, table, path.name)
    if not info.short_rows:
        return normalized
    short = pl.col(SOURCE_ROW).is_in(pl.Series(info.short_rows, dtype=pl.Int64).implode())
    return normalized.with_columns(short.alias(f"{FLAG}short_row"))


def _raise_on_short_row(info: ReadInfo, path: Path) -> None:
    if info.short_rows:
        raise IngestError(
            f"{path}: data row {info.short_rows[0]} has fewer fields than the header "
            f"({len(info.short_rows)} such row(s)); the file may be cut off or a delimiter "
            "missing. Export it again, or set `on_row_error: quarantine` to quarantine such "
            "rows."
        )


def _fits_in_memory(path: Path, raw: pl.LazyFrame, info: ReadInfo) -> bool:
    """Small enough to normalize in memory: at most ``IN_MEMORY_MAX_BYTES`` on disk, and for
    Parquet (compressed) at most the table stage's ``IN_MEMORY_MAX_ROWS`` rows (metadata)."""
    if not path.is_file():
        return True
    if path.stat().st_size > IN_MEMORY_MAX_BYTES:
        return False
    if info.format != "parquet":
        return True
    return raw.select(pl.len()).collect().item() <= tables.IN_MEMORY_MAX_ROWS


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
