"""Small Spark helpers shared by the Spark models: counts, group codes, type checks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from cohortcalc.errors import ModelError
from cohortcalc.spark.design import SparkDesign


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


def require_numeric(design: SparkDesign, name: str, role: str) -> None:
    """Raise ``ModelError`` unless column ``name`` (the ``role`` column) is numeric."""
    if not design.is_numeric(name):
        raise ModelError(
            f"{role} column {name!r} must be numeric; it holds {design.types[name].simpleString()}."
        )


@contextmanager
def persisted(frame: DataFrame) -> Iterator[DataFrame]:
    """``frame`` cached (memory, spilling to disk) for the passes of a fit, released on exit."""
    cached = frame.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        yield cached
    finally:
        cached.unpersist()


def refuse_bad_times_and_weights(
    time: str, n_bad_time: int, weights: str | None, n_bad_weight: int
) -> None:
    """The local engine's refusals of times <= 0 and weights <= 0, with Spark's row counts."""
    if n_bad_time:
        raise ModelError(
            f"time column {time!r} has values <= 0 (or NaN) in {n_bad_time} row(s); "
            "follow-up time must be positive (an event on the entry day is usually coded as "
            "0.5 day)."
        )
    if weights is not None and n_bad_weight:
        raise ModelError(
            f"weights column {weights!r} has values <= 0 in {n_bad_weight} row(s); case "
            "weights must be positive (drop rows instead of giving them weight 0)."
        )
