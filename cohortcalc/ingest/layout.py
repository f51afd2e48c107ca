"""How each table of the store is laid out on disk: one file, or a Spark-readable dataset.

``cc.ingest(..., partition_by="site")`` turns ``<table>.parquet`` into a folder in Hive's
layout, the one ``spark.read.parquet`` (and ``pl.scan_parquet``) read directly::

    participants.parquet/site=BAL/part-00000.parquet
    participants.parquet/site=__HIVE_DEFAULT_PARTITION__/part-00000.parquet   (null site)

Partition values are escaped as Spark's ``ExternalCatalogUtils.escapePathName`` does (``%XX``
for ``/ = % ? # * : ' " \\ { [ ] ^``, DEL and control characters); null is Hive's default
partition. Partition files hold every other column plus ``_store_row``, the row's position in
the unpartitioned table, so ``read_store`` gives back the same rows in the same order.
``rows_per_file`` splits each partition (or an unpartitioned table) into files of at most that
many rows, so Spark reads a large table in parallel. Partitions and files are written in
sorted order with fixed names: the same inputs give the same bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from collections.abc import Mapping as AnyMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from cohortcalc.dictionary import DataDictionary
from cohortcalc.errors import IngestError
from cohortcalc.ingest.store import (
    DEFAULT_PARTITION,
    ROW_ORDER,
    StoredFile,
    sha256_of,
    write_file,
)

PartitionBy = str | Sequence[str] | AnyMapping[str, str | Sequence[str]] | None
PARTITION_TYPES = ("string", "category", "int", "bool", "date")
MAX_PARTITIONS = 10_000
MAX_SEGMENT_BYTES = 255  # longest file name on common file systems
_ESCAPED = frozenset("\"#%'*/:=?\\{[]^\x7f") | frozenset(chr(c) for c in range(1, 32))


@dataclass(frozen=True)
class TableLayout:
    """One table's layout: Hive partition columns (with dictionary types), rows per file."""

    partition_types: dict[str, str] = field(default_factory=dict)
    rows_per_file: int | None = None

    @property
    def partition_by(self) -> tuple[str, ...]:
        """The partition columns, outermost folder first."""
        return tuple(self.partition_types)

    @property
    def is_dataset(self) -> bool:
        """True when the table is a folder of files rather than one file."""
        return bool(self.partition_types) or self.rows_per_file is not None


def resolve_layouts(
    partition_by: PartitionBy,
    rows_per_file: int | None,
    dictionary: DataDictionary,
    tables: Sequence[str],
) -> dict[str, TableLayout]:
    """Each written table's layout, checked against the dictionary.

    ``partition_by``: a column or list of columns (each table is partitioned by those it has;
    each must be in at least one table), or a mapping from table to column(s).
    """
    if rows_per_file is not None and (
        isinstance(rows_per_file, bool) or not isinstance(rows_per_file, int) or rows_per_file < 1
    ):
        raise IngestError(f"rows_per_file must be a whole number >= 1, got {rows_per_file!r}.")
    if isinstance(partition_by, AnyMapping):
        unknown = [t for t in partition_by if t not in tables]
        if unknown:
            raise IngestError(
                f"partition_by: table(s) {unknown} are not written by this mapping; tables: "
                f"{list(tables)}."
            )
        wanted = {t: _column_list(partition_by.get(t), t) for t in tables}
        for table, columns in wanted.items():
            names = dictionary.table(table).names
            for column in columns:
                if column not in names:
                    raise IngestError(
                        f"partition_by: table {table!r} has no column {column!r}; its columns: "
                        f"{list(names)}."
                    )
    else:
        columns = _column_list(partition_by, "every table")
        for column in columns:
            if not any(column in dictionary.table(t).names for t in tables):
                raise IngestError(
                    f"partition_by: column {column!r} is in none of the tables this mapping "
                    f"writes ({', '.join(tables)}). Check the spelling (canonical names, see "
                    "`cohortcalc dictionary`)."
                )
        wanted = {t: tuple(c for c in columns if c in dictionary.table(t).names) for t in tables}
    return {
        table: TableLayout(_typed(dictionary, table, columns), rows_per_file)
        for table, columns in wanted.items()
    }


def parse_partition_option(values: Sequence[str]) -> PartitionBy:
    """``--partition-by`` values: all ``COLUMN`` (a list) or all ``TABLE:COLUMN`` (a dict)."""
    qualified = [v for v in values if ":" in v]
    if not qualified:
        return list(values) or None
    if len(qualified) < len(values):
        raise IngestError(
            f"--partition-by {list(values)}: give every value as COLUMN or every value as "
            "TABLE:COLUMN, not a mix."
        )
    by_table: dict[str, list[str]] = {}
    for value in values:
        table, column = value.split(":", 1)
        by_table.setdefault(table, []).append(column)
    return by_table


def _column_list(value: str | Sequence[str] | None, where: str) -> tuple[str, ...]:
    columns = (value,) if isinstance(value, str) else tuple(value or ())
    if not all(isinstance(c, str) and c for c in columns):
        raise IngestError(f"partition_by ({where}): give column names as text, got {value!r}.")
    if len(set(columns)) < len(columns):
        raise IngestError(f"partition_by ({where}): a column is listed twice in {list(columns)}.")
    return columns


def _typed(dictionary: DataDictionary, table: str, columns: tuple[str, ...]) -> dict[str, str]:
    types = {c: dictionary.table(table).variable(c).type for c in columns}
    for column, kind in types.items():
        if kind not in PARTITION_TYPES:
            raise IngestError(
                f"partition_by: {table}.{column} is a {kind} column; partition by a column of "
                f"type {', '.join(PARTITION_TYPES)} (e.g. site), not a measurement."
            )
    return types


def write_table(
    frame: pl.LazyFrame,
    root: Path,
    name: str,
    layout: TableLayout,
    in_memory: bool,
    scratch: Path,
) -> list[StoredFile]:
    """Write table ``name``'s accepted rows under ``root``; return the files written."""
    if not layout.is_dataset:
        write_file(frame, root / f"{name}.parquet", in_memory)
        return [_stored(root, root / f"{name}.parquet", {}, None)]
    if in_memory:
        source = frame.collect().lazy()
    else:  # the plan may be costly to re-run: once to scratch, then one pass per file
        frame.sink_parquet(scratch / f"{name}-accepted.parquet", compression="lz4")
        source = pl.scan_parquet(scratch / f"{name}-accepted.parquet")
    empty = source.head(0)
    columns = layout.partition_by
    if columns:
        source = source.with_row_index(ROW_ORDER).with_columns(pl.col(ROW_ORDER).cast(pl.Int64))
        source = source.select(pl.exclude(ROW_ORDER), ROW_ORDER)
    groups = _groups(source, columns, name)
    if not groups:  # no rows: one empty file keeps every column readable (Spark, Polars)
        write_file(empty, root / f"{name}.parquet", True)
        return [_stored(root, root / f"{name}.parquet", {}, 0)]
    # In memory, one split for all partitions; streamed, one filtered scan of scratch each.
    split = (
        source.collect().partition_by(list(columns), as_dict=True, maintain_order=True)
        if in_memory and columns
        else None
    )
    stored = []
    for values, rows in groups:
        folder = root / f"{name}.parquet" / _partition_path(values, name)
        folder.mkdir(parents=True)
        if split is not None:
            part = split[tuple(values[c] for c in columns)].lazy().drop(columns)
        else:
            part = source.filter(_matches(values)).drop(columns) if columns else source
        for index, (offset, length) in enumerate(_chunks(rows, layout.rows_per_file)):
            target = folder / f"part-{index:05d}.parquet"
            write_file(part.slice(offset, length), target, in_memory)
            stored.append(_stored(root, target, _json_values(values), length))
    return stored


def _groups(
    source: pl.LazyFrame, columns: tuple[str, ...], name: str
) -> list[tuple[dict[str, Any], int]]:
    """Distinct partition values in sorted order (nulls last) with their row counts."""
    if not columns:
        rows = source.select(pl.len()).collect().item()
        return [({}, rows)] if rows else []
    counts = source.group_by(columns).agg(pl.len().alias("_rows")).collect()
    if counts.height > MAX_PARTITIONS:
        raise IngestError(
            f"partition_by: {name} by {list(columns)} gives {counts.height} partitions (limit "
            f"{MAX_PARTITIONS}); partition by a coarser column such as site."
        )
    counts = counts.sort(columns, nulls_last=True)
    groups = [(row, row.pop("_rows")) for row in counts.iter_rows(named=True)]
    _refuse_case_collisions([values for values, _ in groups], name)
    return groups


def _refuse_case_collisions(groups: list[dict[str, Any]], table: str) -> None:
    """Two partitions whose folders differ only in case are one folder on macOS and Windows
    (and a raw FileExistsError there): refuse them everywhere, naming the values."""
    seen: dict[str, dict[str, Any]] = {}
    for values in groups:
        folder = _partition_path(values, table)
        other = seen.setdefault(folder.casefold(), values)
        if other is not values:
            raise IngestError(
                f"partition_by: {table} has partition values {other} and {values}, which differ "
                "only in case; on case-insensitive file systems (macOS, Windows) they are one "
                "folder. Map them to one code in the mapping (`codes:`), or partition by "
                "another column."
            )


def _matches(values: dict[str, Any]) -> pl.Expr:
    return pl.all_horizontal(
        pl.col(c).is_null() if v is None else pl.col(c) == v for c, v in values.items()
    )


def _chunks(rows: int, rows_per_file: int | None) -> Iterator[tuple[int, int]]:
    size = rows_per_file or rows
    for offset in range(0, rows, size):
        yield offset, min(size, rows - offset)


def _partition_path(values: dict[str, Any], table: str) -> str:
    return "/".join(f"{c}={partition_segment(v, table, c)}" for c, v in values.items())


def partition_segment(value: Any, table: str, column: str) -> str:
    """A partition value as Spark writes it in a folder name (escaped; null as Hive's default)."""
    if value is None:
        return DEFAULT_PARTITION
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dt.date | int):
        return str(value)
    problem = None
    if value in ("", DEFAULT_PARTITION):
        problem = "Spark reads it back as null"
    elif "\x00" in value:
        problem = "a NUL character cannot be in a folder name"
    text = "".join(f"%{ord(ch):02X}" if ch in _ESCAPED else ch for ch in value)
    if problem is None and len(f"{column}={text}".encode()) > MAX_SEGMENT_BYTES:
        problem = f"the folder name would exceed {MAX_SEGMENT_BYTES} bytes"
    if problem is not None:
        raise IngestError(
            f"partition_by: {table}.{column} has the value {value!r}, which cannot be a "
            f"partition ({problem}). Map it to missing or to another code in the mapping, or "
            "partition by another column."
        )
    return text


def _json_values(values: dict[str, Any]) -> dict[str, Any]:
    return {c: v.isoformat() if isinstance(v, dt.date) else v for c, v in values.items()}


def _stored(root: Path, path: Path, partition: dict[str, Any], rows: int | None) -> StoredFile:
    if rows is None:
        rows = pl.scan_parquet(path).select(pl.len()).collect().item()
    return StoredFile(path.relative_to(root).as_posix(), partition, rows, sha256_of(path))
