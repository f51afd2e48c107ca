"""The cohort store on disk: atomic writes, the manifest, and reading it back.

Layout (DESIGN.md, "The cohort store")::

    cohort/
      participants.parquet  cac_lesions.parquet  events.parquet  followup.parquet  ...
      _quarantine/<table>.parquet   rejected rows + _source_file, _source_row, _reasons
      _manifest.json                sources (path, SHA-256, rows), counts, versions, time
      _ingest_report.md / .json     the ingest report (no timestamps)

Everything is written into a hidden sibling folder and renamed into place at the end, so a
crash or a validation error leaves an existing store as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

import polars as pl

from cohortcalc.errors import IngestError
from cohortcalc.ingest.report import IngestReport

QUARANTINE_DIR = "_quarantine"
MANIFEST = "_manifest.json"
REPORT_MD = "_ingest_report.md"
REPORT_JSON = "_ingest_report.json"


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def new_staging_dir(out: Path) -> Path:
    """A fresh hidden folder next to ``out`` (same file system, so rename is atomic)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    (staging / QUARANTINE_DIR).mkdir()
    return staging


def write_reports(staging: Path, report: IngestReport, created_at: dt.datetime) -> None:
    """Write the manifest (with time) and the Markdown/JSON report (without)."""
    data = report.to_dict()
    data.pop("out")
    (staging / REPORT_JSON).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    (staging / REPORT_MD).write_text(report.to_markdown())
    manifest = {
        "created_at": created_at.isoformat(timespec="seconds"),
        "study": report.study,
        "package_version": report.package_version,
        "mapping_version": report.mapping_version,
        "dictionary_version": report.dictionary_version,
        "sources": data["sources"],
        "tables": {
            name: {
                "file": f"{name}.parquet",
                "quarantine": f"{QUARANTINE_DIR}/{name}.parquet",
                "rows_read": t.rows_read,
                "rows_written": t.rows_written,
                "rows_quarantined": t.rows_quarantined,
            }
            for name, t in report.tables.items()
        },
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def commit_store(staging: Path, out: Path) -> None:
    """Move the finished store into place; an existing store is replaced only now."""
    if out.exists() and not (out / MANIFEST).is_file() and any(out.iterdir()):
        shutil.rmtree(staging, ignore_errors=True)
        raise IngestError(
            f"{out}: exists, is not empty and is not a cohort store (no {MANIFEST}); refusing "
            "to replace it. Choose another --out folder or empty this one."
        )
    retired = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:12]}"
    if out.exists():
        os.replace(out, retired)
    os.replace(staging, out)
    shutil.rmtree(retired, ignore_errors=True)


def read_store(path: str | Path, quarantine: bool = False) -> dict[str, pl.LazyFrame]:
    """The tables of a cohort store as LazyFrames, by table name (or its quarantine)."""
    root = Path(path)
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise IngestError(
            f"{root}: not a cohort store (no {MANIFEST}). Create it with `cohortcalc ingest`."
        )
    tables = json.loads(manifest_path.read_text())["tables"]
    key = "quarantine" if quarantine else "file"
    return {name: pl.scan_parquet(root / entry[key]) for name, entry in tables.items()}


def read_manifest(path: str | Path) -> dict[str, object]:
    """The store's ``_manifest.json`` as a dict."""
    return json.loads((Path(path) / MANIFEST).read_text())
