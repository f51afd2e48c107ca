"""How a PySpark frame is read for a model: columns checked, nulls dropped, covariates coded.

The coding is the model layer's (``survival.terms``): the values of each coded column come
from one pass (``collect_set``) and are ordered and checked by ``terms.order_levels``; the
columns of each term come from ``terms.design_columns`` and become Spark expressions here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from cohortcalc.errors import ModelError
from cohortcalc.frames import refuse_missing_columns
from cohortcalc.spark.checks import first_row, is_numeric_type
from cohortcalc.survival.engine import DesignInfo
from cohortcalc.survival.splines import splines_of
from cohortcalc.survival.terms import (
    Basis,
    DesignSpec,
    design_columns,
    order_levels,
    refuse_coded_basis,
    refuse_constant_column,
    refuse_non_finite,
    refuse_numeric_reference,
)


@dataclass(frozen=True)
class SparkDesign:
    """The design as Spark columns: ``frame`` holds ``x_columns`` (one per term, float64)
    next to the requested extra columns; ``source`` is the frame of the rows used, before
    coding (for locating a row on an error path)."""

    frame: DataFrame
    source: DataFrame
    info: DesignInfo
    types: dict[str, T.DataType]
    ranges: list[tuple[Any, Any]]

    @property
    def x_columns(self) -> list[str]:
        return [f"__x{j}" for j in range(len(self.info.terms))]

    def is_numeric(self, name: str) -> bool:
        return is_numeric_type(self.types[name])

    def refuse_constant_columns(self) -> None:
        """A design column with one value (checked where the local engine checks it: when
        the matrix is built, after the row checks)."""
        for label, (low, high) in zip(self.info.terms, self.ranges, strict=True):
            if self.info.n and low == high:
                refuse_constant_column(label, low)

    def first_row(self, condition: Column) -> int:
        """The position (from 0, in the frame's order) of the first row used where
        ``condition`` holds: a few small jobs, run on error paths only."""
        return first_row(self.source, condition)[0]


def as_text(column: Column, data_type: T.DataType) -> Column:
    """A coded column as the text the local engine uses for its levels (``True``/``False``)."""
    if isinstance(data_type, T.BooleanType):
        return F.when(column, F.lit("True")).otherwise(F.lit("False"))
    return column.cast("string")


def non_finite(column: Column) -> Column:
    """NaN or ±infinite (a numeric column)."""
    value = column.cast("double")
    return F.isnan(value) | (F.abs(value) == float("inf"))


@contextmanager
def read_design(
    frame: DataFrame, spec: DesignSpec, columns: Sequence[str | None] = ()
) -> Iterator[SparkDesign]:
    """The Spark counterpart of ``survival.design.read_design`` (same terms, levels, errors).

    A context manager: the design rows are persisted (one scan of the source) for the passes
    of the fit and released on exit."""
    sources = spec.sources
    wanted = list(dict.fromkeys(sources + [c for c in columns if c is not None]))
    types = {f.name: f.dataType for f in frame.schema.fields}
    missing = [c for c in wanted if c not in types]
    if missing:
        refuse_missing_columns(missing, types)
    coded = [s for s in sources if s in spec.categorical or not is_numeric_type(types[s])]
    for name in coded:
        if not (
            is_numeric_type(types[name]) or isinstance(types[name], T.StringType | T.BooleanType)
        ):
            raise ModelError(
                f"column {name!r} has type {types[name].simpleString()}, which is neither "
                "numeric nor categorical; convert it to a number or a string first."
            )
    refuse_numeric_reference(spec, coded)
    complete = F.lit(True)
    for name in wanted:
        complete = complete & F.col(name).isNotNull()
    counts = frame.agg(
        F.count(F.lit(1)).alias("__rows"),
        F.sum(complete.cast("long")).alias("__complete"),
        *(F.collect_set(F.when(complete, F.col(s))).alias(s) for s in coded),
    ).first()
    data = frame.select(*wanted).filter(complete)  # not dropna(): it drops NaN rows too
    levels = {
        name: _levels(name, types[name], counts[name], spec.reference.get(name)) for name in coded
    }
    fitted = {f: _fit_basis(data, f, *spec.bases[f], coded) for f in spec.bases}
    spec = replace(spec, bases=fitted)  # labels from the fitted bases (rcs: knots may merge)
    plan, assign = design_columns(spec, levels)
    expressions = [_expression(c.parts, levels, types, fitted) for c in plan]
    n = int(counts["__complete"] or 0)
    info = DesignInfo(
        terms=tuple(c.label for c in plan),
        assign=assign,
        levels=levels,
        n=n,
        n_dropped=int(counts["__rows"]) - n,
        splines=splines_of(fitted),
    )
    persisted = data.select(
        *wanted, *(e.alias(f"__x{j}") for j, e in enumerate(expressions))
    ).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        yield _checked(persisted, data, info, types, [s for s in sources if s not in coded])
    finally:
        persisted.unpersist()


def _levels(
    name: str, data_type: T.DataType, values: list[Any], reference: str | None
) -> tuple[str, ...]:
    """Levels ordered and checked as the local coder orders them (reference first)."""
    if isinstance(data_type, T.BooleanType):
        present = {str(bool(v)) for v in values}
        return order_levels(name, present, declared=None, numeric=False, reference=reference)
    if is_numeric_type(data_type):
        if isinstance(data_type, T.FloatType | T.DoubleType):
            declared = [str(float(v)) for v in sorted(values)]
        else:
            declared = [str(int(v)) for v in sorted(values)]
        return order_levels(
            name, set(declared), declared=declared, numeric=True, reference=reference
        )
    return order_levels(
        name, {str(v) for v in values}, declared=None, numeric=False, reference=reference
    )


def _fit_basis(
    data: DataFrame, factor: str, source: str, basis: Basis, coded: Sequence[str]
) -> tuple[str, Basis]:
    """The basis fitted to the column's frequency table over the rows used (one group-by,
    the few distinct values to the driver), as the local engine fits it."""
    if source in coded:
        refuse_coded_basis(factor, source)
    rows = data.groupBy(source).count().orderBy(source).collect()
    distinct = np.array([float(r[0]) for r in rows], dtype=np.float64)
    counts = np.array([int(r[1]) for r in rows], dtype=np.int64)
    bad = ~np.isfinite(distinct)
    if bad.any():  # refused as the local engine refuses it, before the fit
        position = first_row(data, non_finite(F.col(source)))[0]
        refuse_non_finite(source, int(counts[bad].sum()), position)
    return source, basis.fit(distinct, counts)


def _expression(
    parts: Sequence[tuple[str, int | None]],
    levels: dict[str, tuple[str, ...]],
    types: dict[str, T.DataType],
    bases: dict[str, tuple[str, Basis]],
) -> Column:
    """One design column as a float64 Spark expression: the product of its parts."""
    result: Column | None = None
    for source, code in parts:
        if source in bases:
            column, basis = bases[source]
            assert code is not None
            value = basis.columns(
                F.col(column).cast("double"), lambda v: F.greatest(v, F.lit(0.0))
            )[code]
        elif code is None:
            value = F.col(source).cast("double")
        else:
            text = as_text(F.col(source), types[source])
            value = (text == F.lit(levels[source][code])).cast("double")
        result = value if result is None else result * value
    assert result is not None
    return result


def _checked(
    frame: DataFrame,
    source: DataFrame,
    info: DesignInfo,
    types: dict[str, T.DataType],
    numeric: Sequence[str],
) -> SparkDesign:
    """The design, after refusing NaN/infinite numeric covariates; one pass also records each
    design column's range (for ``refuse_constant_columns``)."""
    x = [f"__x{j}" for j in range(len(info.terms))]
    stats = frame.agg(
        *(F.sum(non_finite(F.col(n)).cast("long")).alias(f"bad{i}") for i, n in enumerate(numeric)),
        *(F.min(c).alias(f"lo{j}") for j, c in enumerate(x)),
        *(F.max(c).alias(f"hi{j}") for j, c in enumerate(x)),
    ).first()
    ranges = [(stats[f"lo{j}"], stats[f"hi{j}"]) for j in range(len(x))]
    design = SparkDesign(frame=frame, source=source, info=info, types=types, ranges=ranges)
    for i, name in enumerate(numeric):
        if stats[f"bad{i}"]:
            refuse_non_finite(name, stats[f"bad{i}"], design.first_row(non_finite(F.col(name))))
    return design
