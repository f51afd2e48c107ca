"""Small expression helpers shared by the feature modules (null-safe flags, day numbers)."""

from __future__ import annotations

from typing import Any

import narwhals as nw

UNIX_EPOCH_DAY_NUMBER = 719_163  # datetime.date(1970, 1, 1).toordinal()


def label(value: str | None, dtype: Any = None) -> nw.Expr:
    """A category label literal: a string, or of ``dtype`` (e.g. ``nw.Enum(levels)``, which
    Polars builds from small codes, much cheaper than strings cast afterwards)."""
    if dtype is None:
        return nw.lit(value, dtype=nw.String) if value is None else nw.lit(value)
    return nw.lit(value, dtype=dtype)


def known_flag(value: nw.Expr, condition: nw.Expr) -> nw.Expr:
    """``condition`` where ``value`` is known, null where it is missing (never a silent False)."""
    return nw.when(value.is_null()).then(nw.lit(None, dtype=nw.Boolean)).otherwise(condition)


def day_number(column: str, engine: nw.Implementation | None = None) -> nw.Expr:
    """Proleptic Gregorian day number (``date.toordinal()``) of a Date/Datetime column.

    Built from year and day-of-year so that it runs on every engine (Spark lacks durations);
    on Polars (``engine``), where a Date is its day count from 1970-01-01, by one cast.
    """
    date = nw.col(column).cast(nw.Date)
    if engine is nw.Implementation.POLARS:
        return date.cast(nw.Int32) + UNIX_EPOCH_DAY_NUMBER
    years_before = date.dt.year() - 1
    return (
        date.dt.ordinal_day()
        + years_before * 365
        + years_before // 4
        - years_before // 100
        + years_before // 400
    )
