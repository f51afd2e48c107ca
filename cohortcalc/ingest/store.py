"""The cohort store on disk: atomic writes, the manifest, and reading it back.

Layout (DESIGN.md, "The cohort store")::

    cohort/
      participants.parquet  cac_lesions.parquet  events.parquet  followup.parquet  ...
      _quarantine/<table>.parquet   rejected rows + _source_file, _source_row, _reasons
      _issues/<table>.parquet       values nulled in written rows: _source_file, _source_row,
                                    key, column, source_column, value (original text), reason
      _manifest.json                sources (path, SHA-256, rows), counts, versions, time,
                                    and each table's layout and files (rows, SHA-256)
      _ingest_report.md / .json     the ingest report (no timestamps)

A table is one file (``"layout": "file"``) or, with ``partition_by`` / ``rows_per_file``, a
folder of the same name in Hive's layout (``"layout": "dataset"``, see ``layout.py``). The
manifest entry lists the dataset's ``files`` (path, partition values, rows, SHA-256), its
``partition_by`` columns with their dictionary ``partition_types``, ``columns`` (the table's
column order) and ``row_order`` (the column holding each row's position, or null).

Everything is written into a hidden sibling folder (``.<out>.tmp-<pid>-<id>``) and swapped
into place at the end, in one atomic ``renameat2(RENAME_EXCHANGE)`` where Linux offers it
(else two renames), so a crash or a validation error leaves an existing store as it was. A
crash between the two renames, or a killed ingest, leaves hidden siblings that the next ingest
recovers or removes, and says so (``recover_store``). Paths read from a manifest must stay
inside the store.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import hashlib
import json
import os
import shutil
import sys
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

from cohortcalc.errors import IngestError
from cohortcalc.ingest.normalize import POLARS_TYPES
from cohortcalc.ingest.report import IngestReport

QUARANTINE_DIR = "_quarantine"
ISSUES_DIR = "_issues"
MANIFEST = "_manifest.json"
REPORT_MD = "_ingest_report.md"
REPORT_JSON = "_ingest_report.json"
ROW_ORDER = "_store_row"  # in partitioned files: the row's position in the whole table
DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"  # Hive's and Spark's folder for null
STORE_ROW_GROUP = 262_144
SPARK_TYPES = {
    "string": "string",
    "category": "string",
    "int": "bigint",
    "bool": "boolean",
    "date": "date",
}  # dictionary type -> Spark SQL type of a partition column


@dataclass(frozen=True)
class StoredFile:
    """One data file of a table: path from the store root, partition values, rows, SHA-256."""

    path: str
    partition: dict[str, Any]
    rows: int
    sha256: str


def write_file(frame: pl.LazyFrame, target: Path, in_memory: bool) -> None:
    """Write a store file (Polars' default zstd), in memory or streaming.

    Row groups of a fixed ``STORE_ROW_GROUP`` rows, so both ways give the same bytes.
    """
    if in_memory:
        frame.collect().write_parquet(target, row_group_size=STORE_ROW_GROUP)
    else:
        frame.sink_parquet(target, row_group_size=STORE_ROW_GROUP)


def table_entry(
    name: str, columns: tuple[str, ...], types: dict[str, str], files: list[StoredFile]
) -> dict[str, Any]:
    """The manifest's description of how table ``name`` is stored (see the module docstring)."""
    single = len(files) == 1 and files[0].path == f"{name}.parquet"
    partition_by = [] if single else list(types)
    return {
        "file": f"{name}.parquet",
        "layout": "file" if single else "dataset",
        "columns": list(columns),
        "partition_by": partition_by,
        "partition_types": {c: types[c] for c in partition_by},
        "row_order": ROW_ORDER if partition_by else None,
        "files": [asdict(f) for f in files],
    }


def scan_table(root: Path, entry: dict[str, Any], ordered: bool = True) -> pl.LazyFrame:
    """A stored table as one LazyFrame: the columns, dtypes and row order it was written with.

    Partition values come from the manifest (not parsed from folder names), cast to their
    dictionary type; ``ordered=False`` skips restoring the row order (for counts).
    """
    if entry.get("layout", "file") == "file":
        return pl.scan_parquet(inside_store(root, entry["file"]))
    types = entry["partition_types"]
    parts = [
        pl.scan_parquet(inside_store(root, f["path"])).with_columns(
            _literal(f["partition"][c], types[c]).alias(c) for c in entry["partition_by"]
        )
        for f in entry["files"]
    ]
    frame = pl.concat(parts, how="vertical")
    if entry["row_order"] is not None and ordered:
        frame = frame.sort(entry["row_order"])
    return frame.select(entry["columns"])


def inside_store(root: Path, relative: str) -> Path:
    """``root / relative``, refusing a manifest path that leaves the store (absolute, ``..``,
    or a link out): a manifest is data, and data must not choose what else is read."""
    path = root / relative
    if Path(relative).is_absolute() or not path.resolve().is_relative_to(root.resolve()):
        raise IngestError(
            f"{root / MANIFEST}: path {relative!r} leaves the store; refusing to read it. The "
            "manifest was edited or the store copied with links: ingest the store again."
        )
    return path


def _literal(value: Any, kind: str) -> pl.Expr:
    if value is not None and kind == "date":
        value = dt.date.fromisoformat(value)
    return pl.lit(value, POLARS_TYPES[kind])


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def new_staging_dir(out: Path) -> Path:
    """A fresh hidden folder next to ``out`` (same file system, so rename is atomic), named
    with this process's id so a later ingest can tell a live one from a killed one."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    (staging / QUARANTINE_DIR).mkdir()
    (staging / ISSUES_DIR).mkdir()
    return staging


def recover_store(out: Path) -> list[str]:
    """Recover or remove what killed ingests left next to ``out``; say what was done.

    ``.<out>.old-*`` is a previous store set aside by a swap that never finished: when
    ``out`` is missing it is put back, else removed. ``.<out>.tmp-<pid>-*`` is an unfinished
    store (or, after an atomic swap, the replaced one) whose process is gone: removed. A
    folder whose process still runs (an ingest into the same ``out`` right now) is left alone.
    """
    done: list[str] = []
    if not out.parent.is_dir():
        return done
    for old in sorted(out.parent.glob(f".{out.name}.old-*")):
        if not out.exists() and (old / MANIFEST).is_file():
            os.replace(old, out)
            done.append(
                f"restored the previous store {out} from {old.name} (an ingest was "
                "stopped while replacing it)"
            )
        else:
            shutil.rmtree(old, ignore_errors=True)
            done.append(f"removed {old.name}, left by an ingest that was stopped")
    for tmp in sorted(out.parent.glob(f".{out.name}.tmp-*")):
        pid = tmp.name.rsplit(".tmp-", 1)[1].split("-", 1)[0]
        if pid.isdigit() and _process_alive(int(pid)):
            continue
        shutil.rmtree(tmp, ignore_errors=True)
        done.append(f"removed {tmp.name}, left by an ingest that was stopped")
    return done


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def write_reports(
    staging: Path,
    report: IngestReport,
    created_at: dt.datetime,
    entries: dict[str, dict[str, Any]],
) -> None:
    """Write the manifest (with time) and the Markdown/JSON report (without).

    ``entries``: each table's ``table_entry`` (its layout and files).
    """
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
                **entries[name],
                "quarantine": f"{QUARANTINE_DIR}/{name}.parquet",
                "issues": f"{ISSUES_DIR}/{name}.parquet",
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
    if out.exists() and _exchange(staging, out):  # one atomic step: no window without a store
        shutil.rmtree(staging, ignore_errors=True)  # now the previous store
        return
    retired = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:12]}"
    if out.exists():
        os.replace(out, retired)
    try:
        os.replace(staging, out)
    except BaseException:  # the old store goes back: never no store, never half of one
        if retired.exists():
            os.replace(retired, out)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # glibc < 2.28, musl
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange)
    return result == 0


def read_store(
    path: str | Path, quarantine: bool = False, spark: Any = None, *, issues: bool = False
) -> dict[str, Any]:
    """The tables of a cohort store, by table name (or its quarantine, or its issues).

    Polars LazyFrames by default; with ``spark`` (a SparkSession) Spark DataFrames, read in
    Spark by one ``spark.read.parquet`` per table (its file or Hive folder). A partitioned
    table comes back with the same columns, dtypes and row order as if it had been written as
    one file (Spark: partition columns read as text whatever
    ``spark.sql.sources.partitionColumnTypeInference`` says, so "007" stays "007", then cast
    to their dictionary type; ``_store_row`` dropped, as Spark has no row order).
    ``quarantine=True``: the rejected rows with ``_reasons``; ``issues=True``: the values
    nulled in written rows (file, row, key, column, source column, original value, reason).
    """
    root = Path(path)
    tables = _manifest_tables(root)
    if quarantine or issues:
        kind = "quarantine" if quarantine else "issues"
        paths = {
            name: inside_store(root, entry.get(kind, f"{ISSUES_DIR}/{name}.parquet"))
            for name, entry in tables.items()
        }
        if spark is not None:
            return {name: spark.read.parquet(str(p)) for name, p in paths.items()}
        return {name: pl.scan_parquet(p) for name, p in paths.items()}
    if spark is not None:
        return {name: _spark_table(spark, root, entry) for name, entry in tables.items()}
    return {name: scan_table(root, entry) for name, entry in tables.items()}


def _spark_table(session: Any, root: Path, entry: dict[str, Any]) -> Any:
    from pyspark.sql import functions, types

    partition_types = entry.get("partition_types", {})
    reader = session.read
    if partition_types:
        first = session.read.parquet(str(inside_store(root, entry["files"][0]["path"]))).schema
        text = [types.StructField(c, types.StringType()) for c in partition_types]
        reader = reader.schema(types.StructType([*first.fields, *text]))
    for stored in entry.get("files", []):
        inside_store(root, stored["path"])
    frame = reader.parquet(str(inside_store(root, entry["file"])))
    return frame.select(
        *(
            functions.col(c).cast(SPARK_TYPES[partition_types[c]])
            if c in partition_types
            else functions.col(c)
            for c in entry.get("columns", frame.columns)
        )
    )


def stored_table(path: str | Path) -> tuple[Path, dict[str, Any]] | None:
    """(store folder, manifest entry) when ``path`` is a table folder of a cohort store."""
    path = Path(path)
    manifest = path.parent / MANIFEST
    if not path.is_dir() or not manifest.is_file():
        return None
    for entry in json.loads(manifest.read_text()).get("tables", {}).values():
        if entry.get("file") == path.name and entry.get("layout") == "dataset":
            return path.parent, entry
    return None


def scan_parquet_path(path: str | Path) -> pl.LazyFrame:
    """A Parquet file or folder as a LazyFrame; a store's table folder as ``read_store`` reads
    it (partition columns restored, row order kept, no ``_store_row``)."""
    stored = stored_table(path)
    if stored is not None:
        return scan_table(*stored)
    path = Path(path)
    return pl.scan_parquet(path if path.is_file() else path / "**/*.parquet")


def read_parquet_spark(session: Any, path: str | Path) -> Any:
    """``spark.read.parquet(path)``; a store's table folder as ``read_store(spark=)`` reads it."""
    stored = stored_table(path)
    return session.read.parquet(str(path)) if stored is None else _spark_table(session, *stored)


def _manifest_tables(root: Path) -> dict[str, dict[str, Any]]:
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise IngestError(
            f"{root}: not a cohort store (no {MANIFEST}). Create it with `cohortcalc ingest`."
        )
    return json.loads(manifest_path.read_text())["tables"]


def read_manifest(path: str | Path) -> dict[str, object]:
    """The store's ``_manifest.json`` as a dict."""
    return json.loads((Path(path) / MANIFEST).read_text())
