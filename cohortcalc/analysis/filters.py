"""The spec's population filters as Polars expressions (a closed set of operators, never eval).

On the Spark engine the same rules become Spark columns (``spark_frame.filter_column``).
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from cohortcalc.analysis.spec import Filter, Spec
from cohortcalc.errors import SpecError

#: The spec's comparison operators; they apply to Polars expressions and Spark columns alike.
COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}

#: Operators that order values; on an ordered category (Enum) they follow its level order.
ORDERING = frozenset({">", ">=", "<", "<=", "between"})


def filter_expression(rule: Filter, dtype: pl.DataType) -> pl.Expr:
    """The Polars expression keeping the rows that satisfy ``rule``.

    Null and NaN never satisfy a comparison (Polars orders NaN above every number, so
    ``age >= 45`` alone would keep a NaN age).
    """
    expression = _expression(rule, dtype)
    if dtype.is_float() and rule.op not in ("is_null", "not_null"):
        expression = expression & pl.col(rule.column).is_not_nan().fill_null(False)
    return expression


def _expression(rule: Filter, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(rule.column)
    value = rule.value
    if rule.op == "is_null":
        return column.is_null()
    if rule.op == "not_null":
        if dtype.is_float():
            return column.is_not_null() & column.is_not_nan()
        return column.is_not_null()
    if rule.op in ("in", "not_in"):
        assert isinstance(value, list)
        inside = (
            column.cast(pl.String).is_in([str(v) for v in value])
            if _is_text(dtype)
            else (column.is_in(value))
        )
        return inside.fill_null(False) if rule.op == "in" else (~inside).fill_null(False)
    if rule.op == "between":
        assert isinstance(value, list)
        low, high = pl.lit(value[0]), pl.lit(value[1])  # a bare string is a column name
        return column.is_between(low, high, closed="both").fill_null(False)
    target = str(value) if _is_text(dtype) else value
    return COMPARISONS[rule.op](column, target).fill_null(False)


def _is_text(dtype: pl.DataType) -> bool:
    return dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)


def _check_value_type(rule: Filter, dtype: pl.DataType, where: str) -> None:
    values = rule.value if isinstance(rule.value, list) else [rule.value]
    values = [v for v in values if v is not None]
    numeric = dtype.is_numeric()
    for value in values:
        ok = (
            (numeric and isinstance(value, int | float) and not isinstance(value, bool))
            or (dtype == pl.Boolean and isinstance(value, bool))
            or (_is_text(dtype) and isinstance(value, str))
            or (dtype in (pl.Date, pl.Datetime) and isinstance(value, dt.date))
        )
        if not ok:
            raise SpecError(
                f"{where}: filter on {rule.column!r} compares a {dtype} column with "
                f"{value!r} ({type(value).__name__}); give a value of the column's type."
            )
        if isinstance(dtype, pl.Enum) and rule.op in ORDERING:
            levels = dtype.categories.to_list()
            if value not in levels:
                raise SpecError(
                    f"{where}: filter '{rule.describe()}' orders {rule.column!r} by its levels "
                    f"{levels}; {value!r} is not one of them."
                )


def apply_population(
    frame: Any, spec: Spec, filters: Sequence[Filter] | None = None
) -> tuple[Any, pl.DataFrame]:
    """Apply the filters in order; return the kept rows and the flow table.

    ``frame`` is a Polars DataFrame or a ``SparkFrame`` (each step then counts in Spark).
    The flow table has one row per step (``step``, ``criterion``, ``n_remaining``,
    ``n_excluded``). A filter that leaves nobody is a ``SpecError`` naming its line.
    """
    rules = list(spec.population if filters is None else filters)
    steps = [{"step": 0, "criterion": "Participants in the source", "n_remaining": frame.height}]
    for index, rule in enumerate(rules):
        where = spec.where("population", index)
        if rule.column not in frame.columns:
            raise SpecError(
                f"{where}: filter column {rule.column!r} is not in the analysis frame; "
                f"available: {sorted(frame.columns)}."
            )
        dtype = frame.schema[rule.column]
        _check_value_type(rule, dtype, where)
        if isinstance(frame, pl.DataFrame):
            kept = frame.filter(filter_expression(rule, dtype))
        else:
            kept = frame.keep(rule)
        if kept.height == 0:
            raise SpecError(
                f"{where}: filter '{rule.describe()}' leaves no participants "
                f"({frame.height} before it); loosen or remove it."
            )
        frame = kept
        steps.append({"step": index + 1, "criterion": rule.describe(), "n_remaining": kept.height})
    flow = pl.DataFrame(steps).with_columns(
        n_excluded=(pl.col("n_remaining").shift(1) - pl.col("n_remaining")).fill_null(0)
    )
    return frame, flow
