"""Small Spark helpers of the Spark engine: counts, group codes, persisted frames, and the
input checks' view of a Spark frame (``SparkRowChecks``, the ``survival.inputs.RowChecks``
of the count-based estimators)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T


def count_where(condition: Column) -> Column:
    """Aggregate: the number of rows where ``condition`` holds."""
    return F.sum(F.when(condition, 1).otherwise(0))


def group_code(frame: DataFrame, names: Sequence[str]) -> tuple[Column, int]:
    """Integer codes 0..G-1 of the (sorted) combinations of ``names``, from one distinct pass."""
    combos = sorted(tuple(row) for row in frame.select(*names).distinct().collect())
    code = F.lit(None).cast("long")
    for k, combo in reversed(list(enumerate(combos))):
        match = F.lit(True)
        for name, value in zip(names, combo, strict=True):
            match = match & (F.col(name) == F.lit(value))
        code = F.when(match, F.lit(k)).otherwise(code)
    return code, max(len(combos), 1)


@contextmanager
def persisted(frame: DataFrame) -> Iterator[DataFrame]:
    """``frame`` cached (memory, spilling to disk) for the passes of a fit, released on exit."""
    cached = frame.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        yield cached
    finally:
        cached.unpersist()


ROW_ID = "__row"
_NUMERIC = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType)
POLARS_TYPE_NAMES = {"string": "String", "boolean": "Boolean", "date": "Date"}


def is_numeric_type(data_type: T.DataType) -> bool:
    """True for the Spark integer and floating-point types."""
    return isinstance(data_type, _NUMERIC)


def first_row(frame: DataFrame, condition: Column) -> tuple[int, Any]:
    """The position (from 0, in the frame's order) of the first row where ``condition``
    holds, and that row: a few small jobs, for error messages only."""
    indexed = frame.withColumn(ROW_ID, F.monotonically_increasing_id()).persist()
    try:
        first = indexed.filter(condition).orderBy(ROW_ID).first()
        assert first is not None
        position = indexed.filter(F.col(ROW_ID) < F.lit(first[ROW_ID])).count()
        return int(position), first
    finally:
        indexed.unpersist()


def _condition(kind: str, name: str, other: str | None) -> Column:
    column = F.col(name)
    if kind == "null":
        return column.isNull()
    value = column.cast("double")
    if kind == "non_finite":
        return F.isnan(value) | (F.abs(value) == float("inf"))
    if kind == "negative":
        return value < 0
    if kind == "not_01":
        return ~value.isin(0.0, 1.0)
    if kind == "bad_weight":
        return ~(value > 0) | F.isnan(value) | (value == float("inf"))
    if kind == "fraction":
        return value != F.floor(value)
    assert other is not None
    end = F.col(other).cast("double")
    return value >= end if kind == "not_before" else value > end


class SparkRowChecks:
    """``survival.inputs.RowChecks`` over a Spark frame: the conditions ``expected`` are
    counted in one aggregation on first use; any other one in its own."""

    def __init__(
        self, frame: DataFrame, expected: Sequence[tuple[str, str, str | None]] = ()
    ) -> None:
        self.frame = frame
        self.types = {f.name: f.dataType for f in frame.schema.fields}
        self.expected = list(expected)
        self._counts: dict[tuple[str, str, str | None], int] | None = None
        self._height: int | None = None

    @property
    def height(self) -> int:
        self._count_all()
        assert self._height is not None
        return self._height

    def _count_all(self) -> None:
        if self._counts is not None:
            return
        aggregates = [
            count_where(_condition(*key)).alias(f"c{i}") for i, key in enumerate(self.expected)
        ]
        stats = self.frame.agg(F.count(F.lit(1)).alias("rows"), *aggregates).first()
        assert stats is not None
        self._height = int(stats["rows"])
        self._counts = {key: int(stats[f"c{i}"] or 0) for i, key in enumerate(self.expected)}

    def type_of(self, name: str) -> tuple[bool, str]:
        data_type = self.types[name]
        simple = data_type.simpleString()
        return is_numeric_type(data_type), POLARS_TYPE_NAMES.get(simple, simple)

    def count(self, kind: str, name: str, other: str | None = None) -> int:
        self._count_all()
        assert self._counts is not None
        key = (kind, name, other)
        if key not in self._counts:
            self._counts[key] = int(self.frame.filter(_condition(*key)).count())
        return self._counts[key]

    def first(self, kind: str, name: str, other: str | None = None) -> tuple[int, Any]:
        position, row = first_row(self.frame, _condition(kind, name, other))
        return position, row[name]

    def codes(self, kind: str, name: str) -> list[Any]:
        bad = self.frame.filter(_condition(kind, name, None)).select(name).distinct()
        return sorted((r[0] for r in bad.collect()), key=str)
