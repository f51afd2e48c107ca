"""Ingest stage: raw study files -> mapping -> validation -> an atomic Parquet cohort store."""

from cohortcalc.ingest.mapping import Mapping, builtin_mappings, load_mapping, resolve_mapping
from cohortcalc.ingest.pipeline import ingest
from cohortcalc.ingest.report import IngestReport, SourceRecord, TableCounts
from cohortcalc.ingest.store import read_manifest, read_store

__all__ = [
    "IngestReport",
    "Mapping",
    "SourceRecord",
    "TableCounts",
    "builtin_mappings",
    "ingest",
    "load_mapping",
    "read_manifest",
    "read_store",
    "resolve_mapping",
]
