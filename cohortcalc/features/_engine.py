"""Bring the user's frames onto one lazy narwhals engine and hand back their own kind.

Eager frames (pandas, PyArrow, Polars DataFrame) run on Polars lazy and are collected back to
their own kind with their row order kept; lazy frames (Polars LazyFrame, DuckDB, PySpark) stay
on their engine. Auxiliary tables (lesions, events, followup) are moved to the frame's engine.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import narwhals as nw
import numpy as np
import polars as pl
import pyarrow as pa

from cohortcalc.errors import FrameError
from cohortcalc.features._kernels import merge_sorted_keys

ROW_INDEX = "__cohortcalc_row"
POSITION = "__cohortcalc_position"  # row position in a materialized Polars frame


def to_lazy(frame: Any) -> tuple[nw.LazyFrame, Callable[[nw.LazyFrame], Any]]:
    """(lazy narwhals frame, function returning a result lazy frame as the input's kind)."""
    if isinstance(frame, str | Path):
        return nw.from_native(_read_parquet(frame, nw.Implementation.POLARS, None)), nw.to_native
    try:
        wrapped = nw.from_native(frame)
    except TypeError as error:
        raise FrameError(
            f"unsupported frame type {type(frame).__name__}; pass a pandas, Polars, PyArrow, "
            "DuckDB or PySpark frame, or a path to Parquet."
        ) from error
    if isinstance(wrapped, nw.LazyFrame):
        return wrapped, nw.to_native
    implementation = wrapped.implementation
    if ROW_INDEX in wrapped.columns:
        raise FrameError(f"column {ROW_INDEX!r} is a name derive() uses internally; rename it.")

    def restore(result: nw.LazyFrame) -> Any:
        eager = result.sort(ROW_INDEX).drop(ROW_INDEX).collect(backend=implementation)
        return nw.to_native(eager)

    indexed = wrapped.with_row_index(ROW_INDEX)
    return indexed.lazy(backend=nw.Implementation.POLARS), restore


def align(table: Any, like: nw.LazyFrame, name: str) -> nw.LazyFrame:
    """``table`` (any supported kind or a Parquet path) as a lazy frame on ``like``'s engine."""
    engine = like.implementation
    session = like.to_native().sparkSession if engine.is_spark_like() else None
    if isinstance(table, str | Path):
        table = _read_parquet(table, engine, session)
    try:
        wrapped = nw.from_native(table)
    except TypeError as error:
        raise FrameError(f"{name}: unsupported table type {type(table).__name__}.") from error
    if isinstance(wrapped, nw.LazyFrame):
        if wrapped.implementation == engine:
            return wrapped
        wrapped = wrapped.collect(backend=nw.Implementation.POLARS)
    return wrapped.lazy(backend=engine, session=session)


def _read_parquet(path: str | Path, engine: nw.Implementation, session: Any) -> Any:
    """A Parquet file or folder on ``engine``; a cohort store's (partitioned) table folder is
    read as ``read_store`` reads it (partition columns kept, no ``_store_row``)."""
    from cohortcalc.ingest.store import read_parquet_spark, scan_parquet_path, stored_table

    if not Path(path).exists():
        raise FrameError(f"{path}: no such Parquet file or folder.")
    if engine is nw.Implementation.POLARS:
        return scan_parquet_path(path)
    if engine is nw.Implementation.DUCKDB:
        import duckdb

        if stored_table(path) is not None:
            return duckdb.from_arrow(scan_parquet_path(path).collect().to_arrow())
        location = Path(path) if Path(path).is_file() else Path(path) / "**/*.parquet"
        return duckdb.read_parquet(str(location))
    return read_parquet_spark(session, path)


def materialize(*frames: nw.LazyFrame) -> tuple[nw.LazyFrame, ...]:
    """On Polars, compute ``frames`` once, together, in memory so later passes reuse them.

    One ``pl.collect_all`` runs the plans jointly, so a subplan they share (e.g. the lesion
    group-by feeding both the scores and their checks) is computed once. DuckDB and PySpark
    frames stay lazy: their engines plan and spill on their own.
    """
    if frames[0].implementation is not nw.Implementation.POLARS:
        return frames
    collected = pl.collect_all([frame.to_native() for frame in frames])
    return tuple(nw.from_native(frame.lazy()) for frame in collected)


def keyed_rows(frame: nw.LazyFrame, keys: list[str]) -> nw.LazyFrame:
    """``frame``'s ``keys`` columns; on Polars also each row's position, for ``attach``."""
    rows = frame.select(*keys)
    if rows.implementation is nw.Implementation.POLARS:
        return nw.from_native(rows.to_native().with_row_index(POSITION))
    return rows


def attach(frame: nw.LazyFrame, side: nw.LazyFrame, keys: list[str]) -> nw.LazyFrame:
    """``frame`` with the non-key columns of ``side`` (built from ``keyed_rows(frame, keys)``).

    ``side`` must hold at most one row per ``keys[0]`` (derive() checks this first). On Polars
    its rows carry their position in the materialized ``frame``, so they are put back in that
    order and placed alongside, without a join; elsewhere they are left-joined on ``keys[0]``.
    """
    if POSITION in side.collect_schema().names():  # both in memory: cheap, zero-copy collects
        rows = side.to_native().collect()
        if not rows[POSITION].is_sorted():  # merges keep frame order; hash joins do not
            rows = rows.sort(POSITION)
        ordered = rows.drop(POSITION, *keys)
        placed = pl.concat([frame.to_native().collect(), ordered], how="horizontal")
        return nw.from_native(placed.lazy())
    return frame.join(side.drop(*keys[1:]), on=keys[0], how="left")


def left_join(frame: nw.LazyFrame, side: nw.LazyFrame, key: str) -> nw.LazyFrame:
    """``frame`` left-joined with ``side`` on ``key``; on Polars, in ``frame``'s row order.

    On Polars both are computed in memory and matched as cheaply as their keys allow (same
    rows as the join): identical, sorted unique keys are placed side by side (a followup
    table in participant order); a sorted ``frame`` key meets a sorted unique ``side`` key in
    a merge join (string and integer keys: one compiled pass; others: binary search), a side
    under half the frame's size being sorted first (e.g. event summaries; the synthetic
    cohort writes every table sorted by participant_id and ingest keeps the source order);
    otherwise string keys are matched on their 64-bit hashes and checked (an order-keeping
    hash join). Other engines' lazy frames have no row order: a hash join.
    """
    if frame.implementation is not nw.Implementation.POLARS:
        return frame.join(side, on=key, how="left")
    left, right = (f.to_native().collect() for f in materialize(frame, side))
    return nw.from_native(_merge(left, right, key).lazy())


def _merge(left: pl.DataFrame, right: pl.DataFrame, key: str) -> pl.DataFrame:
    """Left join of in-memory frames in ``left``'s order: by position, merge or hashes."""
    lk, rk = left[key], right[key]
    values = right.drop(key)
    fast = lk.dtype == rk.dtype and not (lk.null_count() or rk.null_count())
    if fast and lk.is_sorted() and rk.len() and values.width:
        if lk.equals(rk) and strictly_increasing(lk):  # unique keys that line up
            return pl.concat([left, values], how="horizontal")
        if not rk.is_sorted() and 2 * right.height <= left.height:  # e.g. a group-by's
            right = right.sort(key)  # output: sorting the smaller side costs less than hashing
            rk, values = right[key], right.drop(key)
        if rk.is_sorted() and strictly_increasing(rk):
            rows = _sorted_match(lk, rk)
            return pl.concat([left, values.select(pl.all().gather(rows))], how="horizontal")
    if fast and lk.dtype == pl.String:
        joined = _join_on_hash(left, right, key)
        if joined is not None:
            return joined
    return left.join(right, on=key, how="left", maintain_order="left")


def _sorted_match(lk: pl.Series, rk: pl.Series) -> pl.Series:
    """Row of each sorted ``lk`` key in the strictly increasing ``rk`` (null where absent):
    string and integer keys by one merge pass over both (compiled), others by binary search."""
    left, right = compiled_keys(lk), compiled_keys(rk)
    if left is not None and right is not None:
        at = pl.Series(merge_sorted_keys(left, right))
        return pl.select(pl.when(at >= 0).then(at)).to_series()
    at = rk.search_sorted(lk, side="left")
    found = (at < rk.len()) & (rk.gather(at.clip(0, rk.len() - 1)) == lk)
    return pl.select(pl.when(found).then(at)).to_series()


#: Integer id types whose every value an int64 holds.
INTEGER_KEYS = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32)
Views = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def compiled_keys(values: pl.Series) -> Views | np.ndarray | None:
    """``values`` as the compiled loops take keys (``_kernels``): string views, or int64; None
    for keys with nulls or of another type."""
    if values.null_count():
        return None
    if values.dtype == pl.String:
        return string_views(values)
    if values.dtype in INTEGER_KEYS:
        return values.cast(pl.Int64).to_numpy()
    return None


def string_views(values: pl.Series) -> Views:
    """A String series (no nulls) in place as string views (Apache Arrow Utf8View): the
    16-byte views as bytes and as int32 words, the data buffers end to end, and each buffer's
    start in them; all read-only, as the compiled loops are built for."""
    array = values.to_arrow(compat_level=pl.CompatLevel.newest())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not pa.types.is_string_view(array.type):
        array = array.cast(pa.string_view())
    views, *data = array.buffers()[1:]
    start = array.offset
    view_bytes = np.frombuffer(views, np.uint8).reshape(-1, 16)[start : start + len(array)]
    blocks = [np.frombuffer(block, np.uint8) for block in data]
    starts = np.cumsum([0] + [block.size for block in blocks[:-1]], dtype=np.int64)
    joined = blocks[0] if len(blocks) == 1 else np.concatenate([np.zeros(0, np.uint8), *blocks])
    for array_ in (starts, joined):
        array_.flags.writeable = False
    return view_bytes, view_bytes.view(np.int32), joined, starts


def _join_on_hash(left: pl.DataFrame, right: pl.DataFrame, key: str) -> pl.DataFrame | None:
    """Order-keeping left join matching 64-bit hashes of string keys (cheaper than strings),
    checked against the strings; only ``right``'s rows are gathered. None on a hash
    collision or a repeated ``right`` key (the plain join then repeats frame rows).

    ``right``'s hashes probe ``left``'s (an inner join on the side's rows, usually fewer),
    and each match's ``right`` row number is scattered to its ``left`` position.
    """
    digest, row, at = "__cohortcalc_hash", "__cohortcalc_row", "__cohortcalc_at"
    side = right.select(pl.col(key).hash().alias(digest)).with_row_index(row)
    frame = left.select(pl.col(key).hash().alias(digest)).with_row_index(at)
    pairs = side.join(frame, on=digest, how="inner")
    rows = pl.repeat(None, left.height, dtype=pl.UInt32, eager=True)
    rows = rows.scatter(pairs[at], pairs[row]) if pairs.height else rows
    if rows.len() - rows.null_count() != pairs.height:  # a left row matched twice
        return None
    matched = right[key].gather(rows)
    if not (matched.is_null() | (matched == left[key])).all():
        return None
    values = right.drop(key).select(pl.all().gather(rows))
    return pl.concat([left, values], how="horizontal")


def strictly_increasing(values: pl.Series) -> bool:
    """True when ``values`` (no nulls) are sorted with no repeats, i.e. unique, in O(n)."""
    if values.len() < 2:
        return True
    return bool((values.slice(1) > values.slice(0, values.len() - 1)).all())


def unique_sorted_key(frame: nw.LazyFrame, key: str) -> bool:
    """Cheap proof that ``key`` is unique in an in-memory Polars ``frame`` (False elsewhere)."""
    if frame.implementation is not nw.Implementation.POLARS:
        return False
    values = frame.select(key).to_native().collect().to_series()
    return values.null_count() == 0 and strictly_increasing(values)
