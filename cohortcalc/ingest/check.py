"""``check_mapping``: try a mapping against the files' headers and a sample of rows, write nothing.

What ``cohortcalc ingest --check`` runs. Every source is read (its first ``sample_rows``
rows), normalized and value-checked exactly as ingest would; each problem found is a
``Finding`` naming the file, the column and what to do. Row-level checks that need whole
tables (duplicates, participants, dates against the events) are left to the ingest itself.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from cohortcalc.dictionary import DataDictionary, load_dictionary
from cohortcalc.errors import IngestError
from cohortcalc.ingest.issues import LIKELY_CAUSE, MIN_LOSS_TO_FAIL
from cohortcalc.ingest.mapping import load_mapping, resolve_mapping
from cohortcalc.ingest.normalize import FLAG, MISSING, normalize_source, text_types
from cohortcalc.ingest.readers import scan_source
from cohortcalc.ingest.validate import check_rows

DEFAULT_SAMPLE_ROWS = 1000


@dataclass(frozen=True)
class Finding:
    """One problem: where (file, column), how many sampled values, and the likely fix."""

    file: str
    column: str | None
    message: str
    count: int = 0
    fatal: bool = True  # would fail the ingest (unreadable, or more lost than max_loss)


@dataclass(frozen=True)
class MappingCheck:
    """The outcome of ``check_mapping``: rows sampled per file, problems, missing codes seen."""

    mapping: Path
    rows_sampled: dict[str, int]
    findings: tuple[Finding, ...]
    missing_codes: dict[str, dict[str, int]]

    @property
    def ok(self) -> bool:
        """True when nothing found would fail the ingest (value problems within max_loss)."""
        return not any(f.fatal for f in self.findings)


def check_mapping(
    mapping: str | Path,
    sources: str | Path | None = None,
    *,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    dictionary: DataDictionary | None = None,
) -> MappingCheck:
    """Check ``mapping`` against its files (in ``sources``, default the mapping's folder).

    Raises ``IngestError`` only when the mapping itself cannot be loaded; problems with files
    and values come back as findings, all at once.
    """
    from cohortcalc.ingest.pipeline import resolve_paths  # the same path rules as ingest

    dictionary = dictionary or load_dictionary()
    mapping_path = resolve_mapping(mapping)
    spec = load_mapping(mapping_path, dictionary)
    paths = resolve_paths(spec, mapping_path, sources)
    findings: list[Finding] = []
    sampled: dict[str, int] = {}
    codes: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="cohortcalc-check-") as scratch:
        for source, path in zip(spec.sources, paths, strict=True):
            table = dictionary.table(source.table)
            try:
                raw, info = scan_source(
                    path, source, Path(scratch), text_types(source, spec, table)
                )
                frame = normalize_source(raw.head(sample_rows), source, spec, table, path.name)
                frame = check_rows(table, frame).collect()
            except IngestError as err:
                findings.append(Finding(path.name, None, str(err)))
                continue
            except pl.exceptions.PolarsError:
                raw, info = scan_source(path, source, Path(scratch))
                frame = normalize_source(raw.head(sample_rows), source, spec, table, path.name)
                frame = check_rows(table, frame).collect()
            sampled[path.name] = frame.height
            if info.short_rows:
                findings.append(
                    Finding(
                        path.name,
                        None,
                        f"{len(info.short_rows)} row(s) have fewer fields than the header "
                        f"(first: data row {info.short_rows[0]}); check "
                        f"{LIKELY_CAUSE['short_row']}",
                        len(info.short_rows),
                    )
                )
            limit = max(spec.max_loss_for(source) * frame.height, MIN_LOSS_TO_FAIL - 1)
            findings += _value_findings(frame, path.name, source.columns, limit)
            codes[path.name] = {
                c.removeprefix(MISSING): int(frame[c].sum())
                for c in frame.columns
                if c.startswith(MISSING) and frame[c].sum()
            }
    return MappingCheck(mapping_path, sampled, tuple(findings), codes)


def _value_findings(frame: pl.DataFrame, file: str, columns: dict, limit: float) -> list[Finding]:
    found = []
    for flag in (c for c in frame.columns if c.startswith(FLAG)):
        count = int(frame[flag].fill_null(False).sum())
        if not count:
            continue
        reason, _, canonical = flag.removeprefix(FLAG).partition(":")
        source_column = columns[canonical].column if canonical in columns else None
        cause = LIKELY_CAUSE.get(reason, "the data")
        where = f"column {source_column!r} (-> {canonical})" if source_column else canonical
        found.append(
            Finding(
                file,
                source_column,
                f"{where}: {count} of {frame.height} sampled value(s) are {reason}; check {cause}",
                count,
                fatal=count > limit,
            )
        )
    return found
