"""The ingest report: what was read, written and quarantined, and why (frozen objects)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SourceRecord:
    """One source file: where, its hash, how it was read; rows read = accepted + quarantined.

    ``role`` is "rows" (its rows are the table's rows) or "columns" (joined on the key).
    ``reasons`` counts this file's quarantined rows per reason; ``values_nulled`` counts the
    values nulled in its accepted rows per ``reason:column`` (the rows of ``_issues/``);
    ``missing_codes`` counts the missing codes replaced by null per column.
    """

    path: str
    table: str
    role: str
    format: str
    sha256: str
    rows_read: int
    rows_accepted: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    encoding: str | None = None
    delimiter: str | None = None
    values_nulled: dict[str, int] = field(default_factory=dict)
    missing_codes: dict[str, int] = field(default_factory=dict)

    @property
    def reconciles(self) -> bool:
        """True when rows read equal rows accepted plus rows quarantined."""
        return self.rows_read == self.rows_accepted + self.rows_quarantined


@dataclass(frozen=True)
class TableCounts:
    """Row counts of one canonical table: read = written + quarantined.

    Rows read and quarantined are those of the table's ``role: rows`` sources (columns
    sources reconcile in their own SourceRecord). ``reasons`` counts every quarantined row of
    the table, from any source, per reason (a row with two reasons counts in both);
    ``values_nulled`` counts the nulled values of written rows per ``reason:column`` (from
    any source; the rows of ``_issues/<table>.parquet``); ``missing_codes`` the missing codes
    replaced per column; ``soft_range`` counts accepted values outside the soft range per
    variable; ``derived`` names the variables ingest derived (no source provided them).
    """

    table: str
    rows_read: int
    rows_written: int
    rows_quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)
    soft_range: dict[str, int] = field(default_factory=dict)
    values_nulled: dict[str, int] = field(default_factory=dict)
    missing_codes: dict[str, int] = field(default_factory=dict)
    derived: tuple[str, ...] = ()

    @property
    def reconciles(self) -> bool:
        """True when rows read equal rows written plus rows quarantined."""
        return self.rows_read == self.rows_written + self.rows_quarantined


@dataclass(frozen=True)
class IngestReport:
    """The result of ``cc.ingest``: the store's path, its sources and its table counts."""

    out: Path
    study: str
    sources: tuple[SourceRecord, ...]
    tables: dict[str, TableCounts]
    mapping_version: str
    dictionary_version: str
    package_version: str

    @property
    def rows_quarantined(self) -> int:
        """Rows quarantined over all source files (``role: columns`` sources included)."""
        return sum(s.rows_quarantined for s in self.sources)

    @property
    def values_nulled(self) -> int:
        """Values nulled over all source files (the rows of every ``_issues/`` table)."""
        return sum(sum(s.values_nulled.values()) for s in self.sources)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (no timestamps, so the same inputs give the same report)."""
        data = asdict(self)
        data["out"] = str(self.out)
        data["sources"] = [asdict(s) for s in self.sources]
        return data

    def to_markdown(self) -> str:
        """The report a person reads: sources, counts per table, reasons, soft-range notes."""
        lines = [
            f"# Ingest report: {self.study}",
            "",
            f"Mapping version {self.mapping_version}, dictionary version "
            f"{self.dictionary_version}, cohortcalc {self.package_version}.",
            "",
            "## Sources",
            "",
            "| file | table (role) | format | read | accepted | quarantined | SHA-256 |",
            "|---|---|---|---:|---:|---:|---|",
        ]
        lines += [
            f"| {s.path} | {s.table} ({s.role}) | {s.format} | {s.rows_read} | "
            f"{s.rows_accepted} | {s.rows_quarantined} | `{s.sha256[:16]}…` |"
            for s in self.sources
        ]
        lines += [
            "",
            "Every file: read = accepted + quarantined. Values with a problem in accepted rows "
            "were nulled (listed in `_issues/`); missing codes were replaced by null.",
        ]
        for source in self.sources:
            lines += _source_details(source)
        lines += [
            "",
            "## Tables",
            "",
            "| table | rows read | written | quarantined | values nulled |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {t.table} | {t.rows_read} | {t.rows_written} | {t.rows_quarantined} | "
            f"{sum(t.values_nulled.values())} |"
            for t in self.tables.values()
        ]
        for counts in self.tables.values():
            if counts.derived:
                lines += ["", f"### Derived in {counts.table} (no source provides it)", ""]
                lines += [f"- `{v}`: {DERIVED_NOTE.get(v, 'derived')}" for v in counts.derived]
            if counts.reasons:
                lines += ["", f"### Quarantined from {counts.table} (rows per reason)", ""]
                lines += [f"- `{r}`: {n}" for r, n in counts.reasons.items()]
            if counts.values_nulled:
                lines += ["", f"### Values nulled in {counts.table} (reason:column)", ""]
                lines += [f"- `{r}`: {n}" for r, n in counts.values_nulled.items()]
            if counts.soft_range:
                lines += ["", f"### Kept but implausible in {counts.table} (soft range)", ""]
                lines += [f"- `{v}`: {n} value(s)" for v, n in counts.soft_range.items()]
        return "\n".join(lines) + "\n"


DERIVED_NOTE = {
    "lesion_id": "lesions numbered 1..k within participant, in file order",
    "end_reason": "death when an accepted death is on or before end_date, else censored; a "
    "participant whose death row was quarantined is quarantined (death_event_quarantined)",
}


def _source_details(source: SourceRecord) -> list[str]:
    lines = []
    if source.values_nulled:
        nulled = ", ".join(f"`{k}` {n}" for k, n in source.values_nulled.items())
        lines.append(f"- {source.path}: values nulled: {nulled}")
    if source.missing_codes:
        codes = ", ".join(f"`{k}` {n}" for k, n in source.missing_codes.items())
        lines.append(f"- {source.path}: missing codes replaced: {codes}")
    return ["", *lines] if lines else []
