"""Design columns on a PySpark DataFrame: the Spark side of ``survival/design.py``.

Covariates are parsed by the local design code (same terms, names and reference levels);
the levels of coded columns come from one distinct-values pass, are ordered and checked by
the local level coder, and become indicator-column expressions. Interactions are products.
Rows with a null in any used column are dropped and counted, as the local engine does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from cohortcalc.errors import FrameError, ModelError
from cohortcalc.survival.design import (
    _CATEGORICAL_WRAPPER,
    _coded_variable,
    _strip_wrapper,
    parse_covariates,
)
from cohortcalc.survival.splines import SplineTerm, parse_rcs, rcs_columns

_NUMERIC = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType)


@dataclass(frozen=True)
class SparkDesign:
    """The design as Spark columns: ``frame`` holds ``x_columns`` (one per term, float64)
    next to the requested extra columns; ``n`` rows are used, ``n_dropped`` had a null."""

    frame: DataFrame
    terms: tuple[str, ...]
    assign: dict[str, tuple[int, ...]]
    types: dict[str, T.DataType]
    levels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    reference: dict[str, str] = field(default_factory=dict)
    n: int = 0
    n_dropped: int = 0
    splines: dict[str, SplineTerm] = field(default_factory=dict)

    @property
    def x_columns(self) -> list[str]:
        return [f"__x{j}" for j in range(len(self.terms))]

    def is_numeric(self, name: str) -> bool:
        return isinstance(self.types[name], _NUMERIC)


def is_numeric_type(data_type: T.DataType) -> bool:
    """True for the Spark integer and floating-point types."""
    return isinstance(data_type, _NUMERIC)


def as_text(column: Column, data_type: T.DataType) -> Column:
    """A coded column as the text the local engine uses for its levels (``True``/``False``)."""
    if isinstance(data_type, T.BooleanType):
        return F.when(column, F.lit("True")).otherwise(F.lit("False"))
    return column.cast("string")


@contextmanager
def build_design(
    frame: DataFrame,
    covariates: Sequence[str] | str,
    *,
    reference: Mapping[str, Any] | None = None,
    columns: Sequence[str | None] = (),
) -> Iterator[SparkDesign]:
    """The Spark version of ``survival.design.build_design`` (same terms, levels, errors).

    A context manager: the design rows are persisted (one scan of the source) for the passes
    of the fit and released on exit."""
    term_factors = parse_covariates(covariates)
    forced = {
        m.group("name").strip()
        for factors in term_factors
        for f in factors
        if (m := _CATEGORICAL_WRAPPER.match(f))
    }
    term_factors = [[_strip_wrapper(f) for f in factors] for factors in term_factors]
    requests = {f: r for factors in term_factors for f in factors if (r := parse_rcs(f))}
    sources = list(
        dict.fromkeys(
            requests[f].column if f in requests else f for factors in term_factors for f in factors
        )
    )
    wanted = list(dict.fromkeys(sources + [c for c in columns if c is not None]))
    types = {f.name: f.dataType for f in frame.schema.fields}
    missing = [c for c in wanted if c not in types]
    if missing:
        raise FrameError(
            f"column(s) {missing} not found in the frame; available columns: "
            f"{sorted(types)}. Check the spelling or derive the column first."
        )
    reference = {k: str(v) for k, v in (reference or {}).items()}
    if set(reference) - set(sources):
        raise ModelError(
            f"reference given for {sorted(set(reference) - set(sources))}, which are not "
            f"covariates; covariates are {sources}."
        )
    coded = [s for s in sources if s in forced or not is_numeric_type(types[s])]
    for name in coded:
        if not isinstance(types[name], (*_NUMERIC, T.StringType, T.BooleanType)):
            raise ModelError(
                f"column {name!r} has type {types[name].simpleString()}, which is neither "
                "numeric nor categorical; convert it to a number or a string first."
            )
    complete = F.lit(True)
    for name in wanted:
        complete = complete & F.col(name).isNotNull()
    counts = frame.agg(
        F.count(F.lit(1)).alias("__rows"),
        F.sum(complete.cast("long")).alias("__complete"),
        *(F.collect_set(F.when(complete, F.col(s))).alias(s) for s in coded),
    ).first()
    data = frame.select(*wanted).dropna()
    levels = {name: _levels(name, types[name], counts[name], reference.get(name)) for name in coded}
    splines = _splines(data, requests, levels)
    expressions, terms, assign = _term_columns(term_factors, levels, types, splines)
    design = SparkDesign(
        frame=data.select(
            *wanted, *(e.alias(f"__x{j}") for j, e in enumerate(expressions))
        ).persist(StorageLevel.MEMORY_AND_DISK),
        terms=tuple(terms),
        assign=assign,
        types=types,
        levels=levels,
        reference={name: lv[0] for name, lv in levels.items()},
        n=int(counts["__complete"] or 0),
        n_dropped=int(counts["__rows"]) - int(counts["__complete"] or 0),
        splines=splines,
    )
    try:
        _check_values(design, [s for s in sources if s not in coded])
        yield design
    finally:
        design.frame.unpersist()


def _levels(
    name: str, data_type: T.DataType, values: list[Any], reference: str | None
) -> tuple[str, ...]:
    """Levels ordered and checked exactly as the local coder orders them (reference first)."""
    if isinstance(data_type, T.BooleanType):
        dtype: Any = pl.Boolean
    elif isinstance(data_type, T.StringType):
        dtype = pl.String
    elif isinstance(data_type, T.FloatType | T.DoubleType):
        dtype = pl.Float64
    else:
        dtype = pl.Int64
    series = pl.Series(name, values, dtype=dtype)
    levels = _coded_variable(series, reference, None, check=True).levels
    assert levels is not None
    return levels


def _splines(
    data: DataFrame, requests: Mapping[str, Any], levels: Mapping[str, Any]
) -> dict[str, SplineTerm]:
    """Each ``rcs(...)`` term's knots, computed once on the driver from the column's frequency
    table over the complete rows (one group-by pass), exactly as the local engine."""
    splines = {}
    for factor, request in requests.items():
        if request.column in levels:
            raise ModelError(f"{factor}: column {request.column!r} must be numeric for a spline.")
        rows = data.groupBy(request.column).count().orderBy(request.column).collect()
        distinct = [float(r[0]) for r in rows]
        if any(v != v or abs(v) == float("inf") for v in distinct):  # NaN or infinite
            raise ModelError(
                f"column {request.column!r} has NaN or infinite value(s); fix them or set them "
                "to null (missing)."
            )
        splines[factor] = request.resolve_from_counts(distinct, [int(r[1]) for r in rows])
    return splines


def _term_columns(
    term_factors: list[list[str]],
    levels: Mapping[str, tuple[str, ...]],
    types: Mapping[str, T.DataType],
    splines: Mapping[str, SplineTerm] | None = None,
) -> tuple[list[Column], list[str], dict[str, tuple[int, ...]]]:
    """One float64 expression per design column, named as ``survival.design._assemble``."""
    expressions: list[Column] = []
    labels: list[str] = []
    assign: dict[str, tuple[int, ...]] = {}
    for factors in term_factors:
        columns: list[tuple[str, Column | None]] = [("", None)]
        for factor in factors:
            if splines and factor in splines:  # rcs(x, k): the basis as Spark expressions
                spline = splines[factor]
                basis = rcs_columns(
                    F.col(spline.column).cast("double"),
                    spline.knots,
                    lambda v: F.greatest(v, F.lit(0.0)),
                )
                options = list(zip(spline.labels, basis, strict=True))
            elif factor in levels:
                text = as_text(F.col(factor), types[factor])
                options = [
                    (f"{factor}[{lv}]", (text == F.lit(lv)).cast("double"))
                    for lv in levels[factor][1:]
                ]
            else:
                options = [(factor, F.col(factor).cast("double"))]
            columns = [
                (f"{label}:{name}" if label else name, value if expr is None else expr * value)
                for label, expr in columns
                for name, value in options
            ]
        start = len(labels)
        for label, expr in columns:
            labels.append(label)
            expressions.append(expr)  # type: ignore[arg-type]
        assign[":".join(factors)] = tuple(range(start, len(labels)))
    return expressions, labels, assign


def _check_values(design: SparkDesign, numeric: Sequence[str]) -> None:
    """NaN/infinite numeric covariates and constant design columns, in one pass."""
    x = design.x_columns
    stats = design.frame.agg(
        *(_non_finite(F.col(n)).alias(f"bad{i}") for i, n in enumerate(numeric)),
        *(F.min(c).alias(f"lo{j}") for j, c in enumerate(x)),
        *(F.max(c).alias(f"hi{j}") for j, c in enumerate(x)),
    ).first()
    for i, name in enumerate(numeric):
        if stats[f"bad{i}"]:
            raise ModelError(
                f"column {name!r} has {stats[f'bad{i}']} NaN or infinite value(s); fix them or "
                "set them to null (missing)."
            )
    for j, label in enumerate(design.terms):
        if design.n and stats[f"lo{j}"] == stats[f"hi{j}"]:
            raise ModelError(
                f"term {label!r} is constant (every row equals {stats[f'lo{j}']:g}); remove it "
                "or check the data — a Cox model cannot estimate it."
            )


def _non_finite(column: Column) -> Column:
    """Count of NaN or ±infinite values of a numeric column."""
    value = column.cast("double")
    bad = F.isnan(value) | (F.abs(value) == float("inf"))
    return F.sum(bad.cast("long"))
