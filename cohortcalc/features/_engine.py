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
import polars as pl

from cohortcalc.errors import FrameError

ROW_INDEX = "__cohortcalc_row"


def to_lazy(frame: Any) -> tuple[nw.LazyFrame, Callable[[nw.LazyFrame], Any]]:
    """(lazy narwhals frame, function returning a result lazy frame as the input's kind)."""
    if isinstance(frame, str | Path):
        return nw.from_native(pl.scan_parquet(_parquet_glob(frame))), nw.to_native
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


def _parquet_glob(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise FrameError(f"{path}: no such Parquet file or folder.")
    return path if path.is_file() else path / "**/*.parquet"


def _read_parquet(path: str | Path, engine: nw.Implementation, session: Any) -> Any:
    location = _parquet_glob(path)
    if engine is nw.Implementation.POLARS:
        return pl.scan_parquet(location)
    if engine is nw.Implementation.DUCKDB:
        import duckdb

        return duckdb.read_parquet(str(location))
    return session.read.parquet(str(Path(path)))


def materialize(frame: nw.LazyFrame, *, streaming: bool = False) -> nw.LazyFrame:
    """On Polars, compute ``frame`` once in memory so validation and features reuse it.

    derive() must read its inputs once for the checks anyway; holding per-participant tables in
    memory (never the lesion rows) turns the later passes into in-memory work. DuckDB and
    PySpark frames stay lazy: their engines plan and spill on their own. ``streaming`` selects
    Polars' streaming engine (faster for the big lesion group-by, slower for joins).
    """
    if frame.implementation is nw.Implementation.POLARS:
        native: pl.LazyFrame = frame.to_native()
        engine = "streaming" if streaming else "auto"
        return nw.from_native(native.collect(engine=engine).lazy())
    return frame
