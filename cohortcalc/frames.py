"""Accept the frame kinds users bring and hand the rest of the package one kind.

Supported: pandas, Polars (eager or lazy), PyArrow tables, DuckDB relations, narwhals frames,
and a path to a Parquet file or dataset. PySpark frames are handled by the Spark engine.

This module sits below every stage and imports none of them: the package root registers the
engine for a frame kind (``register_engine``: PySpark frames -> ``cohortcalc.spark``) and the
reader of a Parquet path (``register_path_reader``: the cohort store's), by module name, so
the model layer finds them without importing them (no import cycle).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from importlib import import_module
from pathlib import Path
from typing import Any, NoReturn

import polars as pl

from cohortcalc.errors import FrameError

_ENGINES: dict[str, str] = {}  # frame module prefix -> engine module (set by the package root)
_PATH_READER: list[str] = []  # "module:function" reading a Parquet path as a LazyFrame


def register_engine(module_prefix: str, engine: str) -> None:
    """Frames whose type lives in a module starting with ``module_prefix`` are fitted by the
    engine module ``engine`` (see ``survival/engine.py``)."""
    _ENGINES[module_prefix] = engine


def registered_engine(frame: Any) -> str | None:
    """The engine module registered for ``frame``'s kind, or None (the local engine)."""
    module = type(frame).__module__
    return next((e for prefix, e in _ENGINES.items() if module.startswith(prefix)), None)


def register_path_reader(reader: str) -> None:
    """``"module:function"`` that reads a Parquet file or folder as a Polars LazyFrame."""
    _PATH_READER[:] = [reader]


def _path_reader() -> Callable[[Path], pl.LazyFrame]:
    if not _PATH_READER:
        return lambda path: pl.scan_parquet(path if path.is_file() else path / "**/*.parquet")
    module, function = _PATH_READER[0].split(":")
    return getattr(import_module(module), function)


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
            refuse_missing_columns(missing, present)
        lazy = lazy.select(wanted)
    return lazy.collect()


def refuse_missing_columns(missing: Sequence[str], available: Iterable[str]) -> NoReturn:
    """The one error for columns a caller named that the frame does not have (any engine)."""
    raise FrameError(
        f"column(s) {list(missing)} not found in the frame; available columns: "
        f"{sorted(available)}. Check the spelling or derive the column first."
    )


def _to_lazy(frame: Any) -> pl.LazyFrame:
    if isinstance(frame, pl.LazyFrame):
        return frame
    if isinstance(frame, pl.DataFrame):
        return frame.lazy()
    if isinstance(frame, str | Path):
        path = Path(frame)
        if not path.exists():
            raise FrameError(f"{path}: no such Parquet file or folder.")
        return _path_reader()(path)  # the store's reader: a partitioned store table too
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
