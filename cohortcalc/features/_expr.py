"""Small expression helpers shared by the feature modules (null-safe flags, day numbers)."""

from __future__ import annotations

import narwhals as nw


def known_flag(value: nw.Expr, condition: nw.Expr) -> nw.Expr:
    """``condition`` where ``value`` is known, null where it is missing (never a silent False)."""
    return nw.when(value.is_null()).then(nw.lit(None, dtype=nw.Boolean)).otherwise(condition)


def day_number(column: str) -> nw.Expr:
    """Proleptic Gregorian day number (``date.toordinal()``) of a Date/Datetime column.

    Built from year and day-of-year so that it runs on every engine (Spark lacks durations).
    """
    date = nw.col(column).cast(nw.Date)
    years_before = date.dt.year() - 1
    return (
        date.dt.ordinal_day()
        + years_before * 365
        + years_before // 4
        - years_before // 100
        + years_before // 400
    )
