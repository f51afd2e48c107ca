"""Validated survival inputs, and the one group-by that collapses them per distinct time.

Shared by the nonparametric estimators, the hypothesis tests and the rates: every check names
the column at fault and says what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


def load_columns(frame: Any, columns: Sequence[str | None]) -> pl.DataFrame:
    """Load ``columns`` from any supported frame; error if empty or if a column has nulls."""
    wanted = [c for c in dict.fromkeys(columns) if c is not None]
    data = to_polars(frame, wanted)
    if data.height == 0:
        raise ModelError("the frame has no rows; nothing to estimate.")
    for name in wanted:
        nulls = data[name].null_count()
        if nulls:
            row = int(data[name].is_null().arg_true()[0])
            raise ModelError(
                f"column {name!r} has {nulls} missing value(s) (first at row {row}); "
                "drop or impute them before the analysis."
            )
    return data


def check_times(data: pl.DataFrame, column: str, *, allow_negative: bool = False) -> None:
    """Raise ``ModelError`` unless ``column`` is numeric, finite and (by default) ≥ 0."""
    series = data[column]
    if not series.dtype.is_numeric():
        raise ModelError(
            f"time column {column!r} has type {series.dtype}; it must be numeric "
            "(convert dates to days or years since baseline first)."
        )
    values = series.cast(pl.Float64)
    bad = ~values.is_finite()
    if bad.any():
        row = int(bad.arg_true()[0])
        raise ModelError(
            f"time column {column!r} has {int(bad.sum())} NaN or infinite value(s) "
            f"(first at row {row}: {values[row]}); fix or drop those rows."
        )
    if not allow_negative and values.min() < 0:  # type: ignore[operator]
        row = int((values < 0).arg_true()[0])
        raise ModelError(
            f"time column {column!r} has {int((values < 0).sum())} negative value(s) "
            f"(first at row {row}: {values[row]}); times must be ≥ 0."
        )


def check_binary_event(data: pl.DataFrame, column: str) -> pl.DataFrame:
    """Return ``data`` with ``column`` as 0/1 integers; error on any other code."""
    series = data[column]
    if series.dtype == pl.Boolean:
        return data.with_columns(series.cast(pl.Int64))
    if not series.dtype.is_numeric():
        raise ModelError(
            f"event column {column!r} has type {series.dtype}; code it 1 = event, 0 = censored."
        )
    bad = ~series.cast(pl.Float64).is_in([0.0, 1.0])
    if bad.any():
        row = int(bad.arg_true()[0])
        codes = sorted(set(series.filter(bad).unique().to_list()), key=str)[:5]
        raise ModelError(
            f"event column {column!r} must be 0 (censored) or 1 (event), but has {codes} "
            f"(first at row {row}); for competing risks use cumulative_incidence()."
        )
    return data.with_columns(series.cast(pl.Int64))


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


def check_weights(data: pl.DataFrame, column: str) -> None:
    """Raise ``ModelError`` unless the case weights in ``column`` are finite and > 0."""
    values = data[column]
    if not values.dtype.is_numeric():
        raise ModelError(f"weights column {column!r} has type {values.dtype}; it must be numeric.")
    bad = ~(values.cast(pl.Float64).is_finite() & (values > 0))
    if bad.any():
        row = int(bad.arg_true()[0])
        raise ModelError(
            f"weights column {column!r} has {int(bad.sum())} value(s) that are not finite and "
            f"> 0 (first at row {row}: {values[row]}); drop those rows or fix the weights."
        )
