"""The analysis frame of an ``engine: spark`` run: a Spark DataFrame and the local schema.

The rows stay in Spark. ``schema`` is the Polars schema the local engine would have (from
``cc.derive`` on empty tables of the same columns), so ordered categories keep their level order
(Spark has no Enum type), and filters, checks and collected frames see the local types.
Every question the runner asks of the rows is one small Spark aggregation: counts, distinct
levels, events per cell, an SD. Only the columns the tables and figures need are collected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import polars as pl
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema

from cohortcalc.analysis.filters import COMPARISONS, ORDERING
from cohortcalc.analysis.spec import Filter
from cohortcalc.features import derive


def local_schema(tables: dict[str, DataFrame], options: dict[str, Any]) -> pl.Schema:
    """The schema ``cc.derive`` gives on the local engine for tables shaped like ``tables``."""
    empty = {name: _empty_polars(frame) for name, frame in tables.items()}
    frame = derive(
        empty["participants"],
        lesions=empty["cac_lesions"],
        events=empty["events"],
        followup=empty["followup"],
        **options,
    )
    return (frame.collect() if isinstance(frame, pl.LazyFrame) else frame).schema


def _empty_polars(frame: DataFrame) -> pl.DataFrame:
    arrow = to_arrow_schema(frame.schema)
    return pl.from_arrow(arrow.empty_table())  # type: ignore[return-value]


@dataclass(frozen=True)
class SparkFrame:
    """A Spark DataFrame with the local engine's ``schema`` of its columns."""

    df: DataFrame
    local: pl.Schema

    @cached_property
    def height(self) -> int:
        """Number of rows (one Spark count, remembered)."""
        return int(self.df.count())

    @property
    def columns(self) -> list[str]:
        return list(self.df.columns)

    @property
    def schema(self) -> pl.Schema:
        """Local dtypes of the columns present (added columns are Float64 or Int8)."""
        return pl.Schema({c: self.local.get(c, pl.Float64) for c in self.df.columns})

    def _with(self, df: DataFrame, **added: pl.DataType) -> SparkFrame:
        return SparkFrame(df, pl.Schema({**self.local, **added}))

    def cache(self) -> SparkFrame:
        """The same rows, kept in executor memory for the many passes of a run."""
        return self._with(self.df.cache())

    def select(self, columns: Sequence[str]) -> SparkFrame:
        """Only ``columns``."""
        return self._with(self.df.select(*columns))

    def keep(self, rule: Filter) -> SparkFrame:
        """Rows satisfying a population filter (null and NaN never satisfy a comparison)."""
        return self._with(self.df.filter(filter_column(rule, self.schema[rule.column])))

    def complete(self, columns: Sequence[str]) -> SparkFrame:
        """Rows with no null (or NaN) in ``columns``."""
        return self._with(self.df.dropna(how="any", subset=list(columns)))

    def landmark(self, time: str, at: float) -> SparkFrame:
        """Rows with ``time > at``, their clock restarted at ``at``."""
        shifted = self.df.filter(F.col(time) > F.lit(at))
        clock = shifted.withColumn(time, F.col(time) - F.lit(at))
        return self._with(clock, **({time: pl.Float64} if isinstance(at, float) else {}))

    def landmark_entry(self, entry: str, time: str, by: float) -> SparkFrame:
        """Entry moved to ``entry + by``; rows whose ``time`` is not after it dropped."""
        moved = F.col(entry) + F.lit(by)
        kept = self.df.filter(F.col(time) > moved).withColumn(entry, moved)
        return self._with(kept, **{entry: pl.Float64})

    def time_summary(self, entry: str | None, time: str, years_per_unit: float) -> Any:
        """The time-scale checks' ``TimeSummary``: one aggregation, and the follow-up
        lengths (one float column) collected for the landmark check."""
        from cohortcalc.analysis.timescales import TimeSummary

        present = [c for c in (entry, time) if c is not None]
        rows = self.df.dropna(how="any", subset=present)
        length = F.col(time) - F.col(entry) if entry is not None else F.col(time)
        ids = "participant_id" in self.df.columns
        first = F.min_by(F.col("participant_id"), F.when(length <= 0, F.lit(0)))
        stats = rows.agg(
            F.count(F.lit(1)).alias("n"),
            F.min(time).alias("min_time"),
            F.sum((length <= 0).cast("int")).alias("bad"),
            (first if ids else F.lit(None)).alias("first"),
        ).first()
        years = rows.select((length * F.lit(years_per_unit)).alias("years")).toPandas()
        not_after = int(stats["bad"] or 0) if entry is not None else 0
        return TimeSummary(
            n=int(stats["n"]),
            min_time=float(stats["min_time"]) if stats["min_time"] is not None else float("nan"),
            n_not_after=not_after,
            first_not_after=f"participant_id {stats['first']!r}" if not_after else None,
            followup_years=pl.Series(years["years"].to_numpy(dtype=float)),
        )

    def at_level(self, column: str, level: str) -> tuple[SparkFrame, Any]:
        """Rows whose ``column`` as text equals ``level``, and the level as a value."""
        rows = self._with(self.df.filter(_as_text(column) == level))
        return rows, level_value(level, self.schema[column])

    def with_event(self, status: str, code: int, name: str) -> SparkFrame:
        """Add ``name`` = 1 where ``status == code``, else 0."""
        event = (F.col(status) == F.lit(code)).cast("tinyint")
        return self._with(self.df.withColumn(name, event), **{name: pl.Int8})

    def with_score(self, column: str, name: str) -> SparkFrame:
        """Add ``name`` = position (0, 1, ...) of ``column`` among its ordered levels."""
        dtype = self.schema[column]
        assert isinstance(dtype, pl.Enum)
        score = level_position(F.col(column), dtype.categories.to_list())
        return self._with(self.df.withColumn(name, score), **{name: pl.Float64})

    def count_equal(self, column: str, value: int) -> int:
        """Rows where ``column == value``."""
        return int(self.df.filter(F.col(column) == F.lit(value)).count())

    def levels(self, column: str) -> list[str]:
        """Distinct non-null values as text (``levels_of``): Enum order, else sorted."""
        dtype = self.schema[column]
        values = [r[0] for r in self.df.select(column).dropna().distinct().collect()]
        if isinstance(dtype, pl.Enum):
            present = {str(v) for v in values}
            return [level for level in dtype.categories.to_list() if level in present]
        return [_text(v) for v in sorted(values)]

    def n_levels(self, column: str) -> int:
        """Number of distinct non-null values of ``column``."""
        return int(self.df.select(column).dropna().distinct().count())

    def std(self, column: str) -> float | None:
        """Sample SD of ``column`` over non-null, non-NaN rows (None with fewer than two)."""
        value = F.col(column)
        rows = self.df.filter(value.isNotNull() & ~F.isnan(value))
        sd = rows.agg(F.stddev_samp(value)).first()[0]
        return None if sd is None else float(sd)

    def cells_without_events(
        self, status: str, code: int, columns: Sequence[str]
    ) -> list[tuple[str, ...]]:
        """Level combinations of ``columns`` (as text) present but with no ``status == code``."""
        keys = [_as_text(c).alias(c) for c in columns]
        events = F.sum(F.when(F.col(status) == F.lit(code), 1).otherwise(0)).alias("events")
        grouped = self.df.dropna(subset=list(columns)).groupBy(*keys).agg(events)
        empty = grouped.filter(F.col("events") == 0).select(*columns).collect()
        return sorted(tuple(row) for row in empty)

    def collect(self, columns: Sequence[str], order_by: str | None = None) -> pl.DataFrame:
        """The named columns as a local Polars frame with the local engine's dtypes, sorted
        by ``order_by`` when given (Spark's joins do not keep the row order)."""
        wanted = list(dict.fromkeys(columns))
        data = self.df.select(*wanted)
        if hasattr(data, "toArrow"):  # PySpark >= 4: keeps null and NaN apart
            frame = pl.from_arrow(data.toArrow())
        else:
            frame = pl.from_pandas(data.toPandas())
        if frame.height == 0:
            frame = _empty_polars(data)
        frame = frame.select(pl.col(c).cast(self.schema[c]) for c in wanted)
        return frame.sort(order_by, maintain_order=True) if order_by else frame


def filter_column(rule: Filter, dtype: pl.DataType) -> Column:
    """A population filter as a Spark column (the ``filters.py`` grammar; never eval).

    Spark comparisons with null are null and ``filter`` drops them; NaN is excluded explicitly
    (Spark orders NaN above every number, as Polars does). An ordered category (Enum, text in
    Spark) is ordered by its level positions, as Polars orders an Enum, not alphabetically.
    """
    column, value = F.col(rule.column), rule.value
    if isinstance(dtype, pl.Enum) and rule.op in ORDERING:
        levels = dtype.categories.to_list()
        column = level_position(column, levels)
        value = [levels.index(v) for v in value] if isinstance(value, list) else levels.index(value)
    if rule.op == "is_null":  # NaN is a value, not a null (as in Polars)
        return column.isNull()
    if rule.op == "not_null":
        return column.isNotNull() & ~F.isnan(column) if dtype.is_float() else column.isNotNull()
    if rule.op in ("in", "not_in"):
        assert isinstance(value, list)
        text = dtype == pl.String or isinstance(dtype, pl.Enum | pl.Categorical)
        inside = column.isin([str(v) if text else v for v in value])
        condition = inside if rule.op == "in" else ~inside
    elif rule.op == "between":
        assert isinstance(value, list)
        condition = column.between(value[0], value[1])
    else:
        condition = COMPARISONS[rule.op](column, F.lit(value))
    keep = F.coalesce(condition, F.lit(False))
    return keep & ~F.isnan(column) if dtype.is_float() else keep


def level_position(column: Column, levels: Sequence[str]) -> Column:
    """Position (0.0, 1.0, ...) of a text ``column``'s value among ``levels``; null if absent."""
    position = F.lit(None).cast("double")
    for index, level in reversed(list(enumerate(levels))):
        position = F.when(column == F.lit(level), F.lit(float(index))).otherwise(position)
    return position


def _as_text(column: str) -> Column:
    """``column`` as the text Polars' ``cast(pl.String)`` gives (``true``/``false`` for bools)."""
    return F.col(column).cast("string")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def level_value(level: str, dtype: pl.DataType) -> Any:
    """A level's text back as the column's value (``"true"`` -> True for a Boolean column)."""
    if dtype == pl.Boolean:
        return level == "true"
    if dtype.is_integer():
        return int(level)
    if dtype.is_float():
        return float(level)
    return level
