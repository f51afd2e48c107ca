"""Accept the frame kinds users bring and hand the rest of the package one kind.

Supported: pandas, Polars (eager or lazy), PyArrow tables, DuckDB relations, narwhals frames,
and a path to a Parquet file or dataset. PySpark frames are handled by the Spark engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from cohortcalc.errors import FrameError


def is_spark_frame(frame: Any) -> bool:
    """True for a PySpark DataFrame (checked by module name, so PySpark need not be installed)."""
    return type(frame).__module__.startswith("pyspark.sql")


def to_polars(frame: Any, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """Return ``frame`` (restricted to ``columns`` if given) as an eager Polars DataFrame.

    Raises ``FrameError`` naming the missing column(s) or the unsupported frame type.
    """
    lazy = _to_lazy(frame)
    if columns is not None:
        wanted = list(dict.fromkeys(c for c in columns if c is not None))
        present = set(lazy.collect_schema().names())
        missing = [c for c in wanted if c not in present]
        if missing:
            raise FrameError(
                f"column(s) {missing} not found in the frame; available columns: "
                f"{sorted(present)}. Check the spelling or derive the column first."
            )
        lazy = lazy.select(wanted)
    return lazy.collect()


def _to_lazy(frame: Any) -> pl.LazyFrame:
    if isinstance(frame, pl.LazyFrame):
        return frame
    if isinstance(frame, pl.DataFrame):
        return frame.lazy()
    if isinstance(frame, str | Path):
        path = Path(frame)
        if not path.exists():
            raise FrameError(f"{path}: no such Parquet file or folder.")
        from cohortcalc.ingest.store import scan_parquet_path  # a partitioned store table too

        return scan_parquet_path(path)
    module = type(frame).__module__
    if module.startswith("pandas"):
        return pl.from_pandas(frame).lazy()
    if module.startswith("pyarrow"):
        return pl.from_arrow(frame).lazy()  # type: ignore[union-attr]
    if module.startswith("duckdb"):
        return frame.pl().lazy()
    if module.startswith("narwhals"):
        import narwhals as nw

        native = nw.to_native(frame)
        return _to_lazy(native)
    if is_spark_frame(frame):
        raise FrameError(
            "a PySpark DataFrame was given to a local-engine function; use the Spark engine "
            "or collect it with .toPandas() first."
        )
    raise FrameError(
        f"unsupported frame type {type(frame).__name__}; pass a pandas, Polars, PyArrow or "
        "DuckDB frame, or a path to a Parquet file."
    )
