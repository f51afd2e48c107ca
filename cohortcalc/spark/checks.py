"""Small Spark helpers of the Spark engine: counts, group codes, persisted frames."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


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
