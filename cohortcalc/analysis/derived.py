"""The spec's ``derived:`` variables: new columns from a closed vocabulary, never code.

``log``/``log2`` of column + offset, ``divide_by`` (per-unit scaling), ``cut`` at breaks
into ordered labels with the closed side stated, ``recode`` (rename or merge levels) and
``order`` (an ordered category). They are computed in spec order after ``cc.derive`` and
before the population filters, so filters, exposures, covariates, modifiers and figure
groupings can all use them. A value an operation cannot take (a log of a number ≤ 0, a level
missing from ``order``) is a ``SpecError`` naming the line, the count and the fix.
"""

from __future__ import annotations

import math

import polars as pl

from cohortcalc.analysis.spec import DerivedVariable, Spec
from cohortcalc.errors import SpecError


def add_derived(spec: Spec, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every derived variable of ``spec`` appended, in spec order."""
    for index, variable in enumerate(spec.derived):
        where = spec.where("derived", index)
        if variable.column not in frame.columns:
            raise SpecError(
                f"{where}: derived variable {variable.name!r} is computed from "
                f"{variable.column!r}, which is not a column; available: {sorted(frame.columns)}."
            )
        if variable.name in frame.columns:
            raise SpecError(
                f"{where}: derived variable {variable.name!r} would replace the column of that "
                "name; give it another name."
            )
        frame = frame.with_columns(_expression(variable, frame, where).alias(variable.name))
    return frame


def _expression(variable: DerivedVariable, frame: pl.DataFrame, where: str) -> pl.Expr:
    source = frame.get_column(variable.column)
    if variable.log is not None or variable.log2 is not None:
        return _log(variable, source, where)
    if variable.divide_by is not None:
        _numeric(variable, source, where, "divide_by")
        return pl.col(variable.column).cast(pl.Float64) / variable.divide_by
    if variable.cut is not None:
        return _cut(variable, source, where)
    return _levels(variable, source, where)


def _numeric(variable: DerivedVariable, source: pl.Series, where: str, op: str) -> pl.Series:
    if not source.dtype.is_numeric():
        raise SpecError(
            f"{where}: {op} of {variable.column!r} needs a numeric column; it is {source.dtype}."
        )
    values = source.cast(pl.Float64)
    return values.fill_nan(None) if values.dtype.is_float() else values


def _log(variable: DerivedVariable, source: pl.Series, where: str) -> pl.Expr:
    """ln or log2 of column + offset; NaN and null give null."""
    options = variable.log if variable.log is not None else variable.log2
    assert options is not None
    op = "log" if variable.log is not None else "log2"
    shifted = _numeric(variable, source, where, op) + options.offset
    bad = int((shifted <= 0).sum())
    if bad:
        smallest = float(shifted.min()) - options.offset  # type: ignore[arg-type]
        raise SpecError(
            f"{where}: {op} of {variable.column!r} + {options.offset:g} is undefined for {bad} "
            f"value(s) (smallest {variable.column} = {smallest:g}); give an offset above "
            f"{-smallest:g} (e.g. offset: 1 for a score that can be 0) or exclude those rows "
            "with a population filter."
        )
    base = math.e if op == "log" else 2.0
    value = pl.col(variable.column).cast(pl.Float64).fill_nan(None) + options.offset
    return value.log(base)


def _cut(variable: DerivedVariable, source: pl.Series, where: str) -> pl.Expr:
    """Ordered labels of the intervals between breaks: [a, b) (left) or (a, b] (right)."""
    cut = variable.cut
    assert cut is not None
    _numeric(variable, source, where, "cut")
    value = pl.col(variable.column).cast(pl.Float64).fill_nan(None)
    expression = pl.lit(cut.labels[-1])
    for upper, label in zip(reversed(cut.breaks), reversed(cut.labels[:-1]), strict=True):
        below = value < upper if cut.closed == "left" else value <= upper
        expression = pl.when(below).then(pl.lit(label)).otherwise(expression)
    return pl.when(value.is_null()).then(None).otherwise(expression).cast(pl.Enum(cut.labels))


def _levels(variable: DerivedVariable, source: pl.Series, where: str) -> pl.Expr:
    """``recode`` (mapping levels as text; unmapped levels kept) and/or ``order``."""
    text = source.cast(pl.String)
    present = set(text.drop_nulls().unique().to_list())
    mapping = variable.recode or {}
    unknown = sorted(set(mapping) - present)
    if unknown:
        raise SpecError(
            f"{where}: recode of {variable.column!r} names level(s) {unknown} that do not occur; "
            f"its levels are {sorted(present)}."
        )
    expression = pl.col(variable.column).cast(pl.String)
    if mapping:
        expression = expression.replace(mapping)
    if variable.order is None:
        return expression
    result = {mapping.get(level, level) for level in present}
    missing = sorted(result - set(variable.order))
    if missing:
        raise SpecError(
            f"{where}: level(s) {missing} of {variable.name!r} are not in 'order' "
            f"{variable.order}; add them (or recode them into a listed level)."
        )
    return expression.cast(pl.Enum(variable.order))
