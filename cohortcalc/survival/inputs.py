"""Validated survival inputs, and the one group-by that collapses them per distinct time.

Shared by the nonparametric estimators, the hypothesis tests and the rates: every check names
the column at fault and says what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import polars as pl

from cohortcalc.errors import ModelError
from cohortcalc.frames import to_polars

N_EXIT = "__n_exit"


def as_list(by: str | Sequence[str] | None) -> list[str]:
    """Normalise a grouping argument (None, one name or several) to a list of names."""
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


class RowChecks(Protocol):
    """The rows of a frame as the input checks see them: ``LocalRowChecks`` over Polars, the
    Spark engine's over a Spark frame, so every check and message here exists once.

    A condition is (kind, column[, other]): "null", "non_finite", "negative", "not_01",
    "bad_weight" (not finite and > 0), "not_before" (column >= other), "after" (column >
    other). ``first`` (asked on error paths only) gives the first such row (from 0) and its
    value."""

    height: int

    def type_of(self, name: str) -> tuple[bool, str]:
        """(numeric?, type name) of a column."""
        ...

    def count(self, kind: str, name: str, other: str | None = None) -> int: ...

    def first(self, kind: str, name: str, other: str | None = None) -> tuple[int, Any]: ...

    def codes(self, kind: str, name: str) -> list[Any]:
        """The distinct values of ``name`` in the rows where the condition holds, sorted."""
        ...


class LocalRowChecks:
    """``RowChecks`` over an eager Polars frame."""

    def __init__(self, data: pl.DataFrame) -> None:
        self.data, self.height = data, data.height

    def type_of(self, name: str) -> tuple[bool, str]:
        dtype = self.data[name].dtype
        return dtype.is_numeric(), str(dtype)

    def _mask(self, kind: str, name: str, other: str | None) -> pl.Series:
        column = self.data[name]
        if kind == "null":
            return column.is_null()
        values = column.cast(pl.Float64)
        if kind == "non_finite":
            return ~values.is_finite()
        if kind == "negative":
            return values < 0
        if kind == "not_01":
            return ~values.is_in([0.0, 1.0])
        if kind == "bad_weight":
            return ~(values.is_finite() & (values > 0))
        assert other is not None
        return column >= self.data[other] if kind == "not_before" else column > self.data[other]

    def count(self, kind: str, name: str, other: str | None = None) -> int:
        if kind == "null":  # kept by Polars: no pass over the rows
            return int(self.data[name].null_count())
        return int(self._mask(kind, name, other).sum())

    def first(self, kind: str, name: str, other: str | None = None) -> tuple[int, Any]:
        row = int(self._mask(kind, name, other).arg_true()[0])
        return row, self.data[name][row]

    def codes(self, kind: str, name: str) -> list[Any]:
        bad = self.data[name].filter(self._mask(kind, name, None))
        return sorted(set(bad.unique().to_list()), key=str)


def _checks(data: pl.DataFrame | RowChecks) -> RowChecks:
    return LocalRowChecks(data) if isinstance(data, pl.DataFrame) else data


def load_columns(frame: Any, columns: Sequence[str | None]) -> pl.DataFrame:
    """Load ``columns`` from any supported frame; error if empty or if a column has nulls."""
    wanted = [c for c in dict.fromkeys(columns) if c is not None]
    data = to_polars(frame, wanted)
    check_complete(LocalRowChecks(data), wanted)
    return data


def check_complete(checks: RowChecks, columns: Sequence[str]) -> None:
    """Raise ``ModelError`` if there are no rows or a column has missing values."""
    if checks.height == 0:
        raise ModelError("the frame has no rows; nothing to estimate.")
    for name in columns:
        nulls = checks.count("null", name)
        if nulls:
            row, _ = checks.first("null", name)
            raise ModelError(
                f"column {name!r} has {nulls} missing value(s) (first at row {row}); "
                "drop or impute them before the analysis."
            )


def check_times(
    data: pl.DataFrame | RowChecks, column: str, *, allow_negative: bool = False
) -> None:
    """Raise ``ModelError`` unless ``column`` is numeric, finite and (by default) ≥ 0."""
    checks = _checks(data)
    numeric, type_name = checks.type_of(column)
    if not numeric:
        raise ModelError(
            f"time column {column!r} has type {type_name}; it must be numeric "
            "(convert dates to days or years since baseline first)."
        )
    bad = checks.count("non_finite", column)
    if bad:
        row, value = checks.first("non_finite", column)
        raise ModelError(
            f"time column {column!r} has {bad} NaN or infinite value(s) "
            f"(first at row {row}: {float(value)}); fix or drop those rows."
        )
    negative = 0 if allow_negative else checks.count("negative", column)
    if negative:
        row, value = checks.first("negative", column)
        raise ModelError(
            f"time column {column!r} has {negative} negative value(s) "
            f"(first at row {row}: {float(value)}); times must be ≥ 0."
        )


def check_binary_event(data: Any, column: str) -> Any:
    """Raise ``ModelError`` unless ``column`` is boolean or 0/1; a Polars ``data`` is
    returned with ``column`` as 0/1 integers."""
    checks = _checks(data)
    numeric, type_name = checks.type_of(column)
    if not numeric and type_name != "Boolean":
        raise ModelError(
            f"event column {column!r} has type {type_name}; code it 1 = event, 0 = censored."
        )
    bad = 0 if type_name == "Boolean" else checks.count("not_01", column)
    if bad:
        row, _ = checks.first("not_01", column)
        codes = checks.codes("not_01", column)[:5]
        raise ModelError(
            f"event column {column!r} must be 0 (censored) or 1 (event), but has {codes} "
            f"(first at row {row}); for competing risks use cumulative_incidence()."
        )
    if isinstance(data, pl.DataFrame):
        return data.with_columns(data[column].cast(pl.Int64))
    return data


def check_entry(data: pl.DataFrame | RowChecks, entry: str, time: str) -> None:
    """Delayed entry: numeric, finite and before the exit time in every row."""
    checks = _checks(data)
    check_times(checks, entry, allow_negative=True)
    bad = checks.count("not_before", entry, time)
    if bad:
        row, _ = checks.first("not_before", entry, time)
        raise ModelError(
            f"entry column {entry!r} is not before time column {time!r} in "
            f"{bad} row(s) (first at row {row}); entry must be < exit."
        )


def check_entry_not_after(data: pl.DataFrame | RowChecks, entry: str, time: str) -> None:
    """Person-time from entry to exit: entry numeric, finite and not after the exit."""
    checks = _checks(data)
    check_times(checks, entry, allow_negative=True)
    if checks.count("after", entry, time):
        row, _ = checks.first("after", entry, time)
        raise ModelError(
            f"entry column {entry!r} is after time column {time!r} (first at row {row})."
        )


def check_weights(data: pl.DataFrame | RowChecks, column: str) -> None:
    """Raise ``ModelError`` unless the case weights in ``column`` are finite and > 0."""
    checks = _checks(data)
    numeric, type_name = checks.type_of(column)
    if not numeric:
        raise ModelError(f"weights column {column!r} has type {type_name}; it must be numeric.")
    bad = checks.count("bad_weight", column)
    if bad:
        row, value = checks.first("bad_weight", column)
        raise ModelError(
            f"weights column {column!r} has {bad} value(s) that are not finite and "
            f"> 0 (first at row {row}: {value}); drop those rows or fix the weights."
        )


def check_cause(data: pl.DataFrame, column: str, cause: Any, censor_code: Any) -> list[Any]:
    """Validate competing-risk codes; return the event codes (all but ``censor_code``)."""
    series = data[column]
    if series.dtype.is_float() and not series.is_finite().all():
        raise ModelError(f"event column {column!r} has NaN or infinite codes; fix those rows.")
    codes = series.unique().sort().to_list()
    if cause == censor_code:
        raise ModelError(f"cause {cause!r} equals censor_code; choose the event of interest.")
    if cause not in codes:
        raise ModelError(
            f"cause {cause!r} never occurs in event column {column!r} (codes present: "
            f"{codes}); check the code or the censor_code."
        )
    return [c for c in codes if c != censor_code]


def counts_by_time(
    data: pl.DataFrame, by: list[str], time: str, sums: dict[str, pl.Expr]
) -> tuple[pl.DataFrame, np.ndarray]:
    """Sum per (group, distinct time): a table sorted by (by, time) and each group's start row.

    The table has the ``by`` columns, ``time``, the row count ``N_EXIT`` and one column per
    ``sums`` entry (the sum of that per-row expression). One Polars group-by; without groups and
    with whole-number times (days) a NumPy bincount over the time range, which needs no hashing.
    """
    if not by:
        fast = _bincount_by_time(data, time, sums)
        if fast is not None:
            return fast, np.array([0, fast.height])
    aggregations = [expr.sum().alias(name) for name, expr in sums.items()]
    table = data.group_by([*by, time]).agg(pl.len().alias(N_EXIT), *aggregations)
    table = table.sort([*by, time])
    if not by:
        return table, np.array([0, table.height])
    first = table.select(pl.struct(by).is_first_distinct()).to_series().to_numpy()
    return table, np.append(np.flatnonzero(first), table.height)


def _bincount_by_time(
    data: pl.DataFrame, time: str, sums: dict[str, pl.Expr]
) -> pl.DataFrame | None:
    """The ungrouped table by bincount when times are whole numbers in a compact range."""
    values = data[time].to_numpy()
    low, high = values.min(), values.max()
    span = high - low + 1
    whole = values.dtype.kind in "iu" or np.array_equal(values, np.floor(values))
    if span > 2 * values.size + 1024 or not whole:
        return None
    index = (values - low).astype(np.int64)
    exits = np.bincount(index, minlength=int(span))
    present = np.flatnonzero(exits)
    columns = {time: pl.Series(time, present + low).cast(data[time].dtype), N_EXIT: exits[present]}
    for name, series in data.select(**sums).to_dict().items():
        summed = np.bincount(index, weights=series.cast(pl.Float64).to_numpy(), minlength=int(span))
        columns[name] = summed[present]
    return pl.DataFrame(columns)
