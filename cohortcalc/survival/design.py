"""Turn a frame and a covariate list (or formula) into the plain arrays a model engine needs.

Numeric columns enter as given; string, categorical and boolean columns are dummy-coded
against a reference level (treatment contrasts, as R's ``contr.treatment``), giving terms named
``column[level]``; ``a:b`` is the product of the codings of ``a`` and ``b``; ``rcs(x, 4)`` is a
restricted cubic spline of ``x`` (a ``terms.Basis``, ``splines.RcsBasis``: ``rms::rcs`` columns
``x``, ``x'``, ``x''``, knots from the rows used). Rows with a missing (null) value in any used
column are dropped and counted, as R's ``na.omit``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from cohortcalc.errors import ModelError
from cohortcalc.frames import to_polars
from cohortcalc.survival import _layout
from cohortcalc.survival.splines import SplineTerm, splines_of
from cohortcalc.survival.terms import (
    Basis,
    Column,
    DesignSpec,
    design_columns,
    design_spec,
    order_levels,
    parse_covariates,
    refuse_coded_basis,
    refuse_constant_column,
    refuse_non_finite,
    refuse_numeric_reference,
)

__all__ = ["CodedFrame", "Design", "build_design", "parse_covariates", "read_design"]

RowOrder = Callable[[dict[str, np.ndarray], dict[str, tuple[str, ...]]], np.ndarray]
"""(extra columns, their levels) -> the rows the design matrix should hold, in order."""


@dataclass(frozen=True)
class Design:
    """Design matrix and companion arrays for a regression on a frame.

    ``matrix`` is n x p float64 (C order), one column per entry of ``terms``. ``assign`` maps each
    model term (``age``, ``sex``, ``age:sex``) to its column indices, as R's ``assign``.
    ``columns`` holds the extra requested columns (one value per row used): numeric as
    float64, string, boolean and categorical as int64 codes into ``column_levels[name]``;
    ``levels`` are the covariates' levels, reference first. If ``rows`` is set, the matrix
    holds only those rows (indices into the ``columns`` arrays), in that order.
    """

    matrix: np.ndarray
    terms: tuple[str, ...]
    assign: dict[str, tuple[int, ...]]
    columns: dict[str, np.ndarray]
    levels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    column_levels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    reference: dict[str, str] = field(default_factory=dict)
    n_dropped: int = 0
    rows: np.ndarray | None = None
    n_used: int | None = None
    splines: dict[str, SplineTerm] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of rows used (after dropping rows with missing values)."""
        return int(self.matrix.shape[0] if self.n_used is None else self.n_used)


@dataclass(frozen=True)
class _Variable:
    """One source column as it enters the design: numeric, or coded with levels."""

    name: str
    values: np.ndarray
    levels: tuple[str, ...] | None  # None for numeric; levels[0] is the reference


@dataclass(frozen=True)
class CodedFrame:
    """A frame read for a model: the covariates coded (not yet a matrix) and the extra columns.

    ``assemble(rows)`` builds the design matrix of those rows, in that order (the engines'
    bin order: the matrix is built once, already sorted)."""

    spec: DesignSpec
    variables: dict[str, _Variable]
    columns: dict[str, np.ndarray]
    column_levels: dict[str, tuple[str, ...]]
    terms: tuple[str, ...]
    assign: dict[str, tuple[int, ...]]
    plan: tuple[Column, ...]
    n_used: int
    n_dropped: int

    @property
    def levels(self) -> dict[str, tuple[str, ...]]:
        """The coded covariates' levels, reference first."""
        return {v.name: v.levels for v in self.variables.values() if v.levels is not None}

    @property
    def reference(self) -> dict[str, str]:
        return {name: lv[0] for name, lv in self.levels.items()}

    @property
    def splines(self) -> dict[str, SplineTerm]:
        """Each ``rcs(...)`` term's fitted spline (its knots), by the term as written."""
        return splines_of(self.spec.bases)

    def codes(self, name: str) -> np.ndarray:
        """The level codes (or values) of covariate ``name``, one per row used."""
        return self.variables[name].values

    def column(self, j: int) -> np.ndarray:
        """Design column ``j`` for every row used (input order)."""
        values: np.ndarray | None = None
        for source, code in self.plan[j].parts:
            part = _part(self.variables[source].values, code)
            values = part if values is None else values * part
        assert values is not None
        return values

    def assemble(self, rows: np.ndarray | None = None) -> Design:
        """The ``Design`` of ``rows`` (indices into the rows used, in order; None: all)."""
        n_rows = len(rows) if rows is not None else self.n_used
        matrix = np.empty((n_rows, len(self.plan)), dtype=np.float64)
        low, high = _fill(self.plan, self.variables, matrix, rows)
        for j, column in enumerate(self.plan):
            if n_rows and low[j] == high[j]:
                refuse_constant_column(column.label, low[j])
        return Design(
            matrix=matrix,
            terms=self.terms,
            assign=self.assign,
            columns=self.columns,
            levels=self.levels,
            column_levels=self.column_levels,
            reference=self.reference,
            n_dropped=self.n_dropped,
            rows=rows,
            n_used=self.n_used,
            splines=self.splines,
        )


def build_design(
    frame: Any,
    covariates: Sequence[str] | str,
    *,
    reference: Mapping[str, Any] | None = None,
    columns: Sequence[str | None] = (),
    row_order: RowOrder | None = None,
) -> Design:
    """Build the design matrix of ``covariates`` plus the arrays of ``columns`` from ``frame``.

    ``row_order(columns, column_levels)``, if given, sees the extra columns first and returns
    the rows the matrix should hold, in order. Raises ``FrameError`` for a missing column and
    ``ModelError`` naming the column or term for NaN/infinite values, a constant column, or a
    level without rows.
    """
    coded = read_design(frame, design_spec(covariates, reference), columns)
    rows = None
    if row_order is not None:
        rows = np.asarray(row_order(coded.columns, coded.column_levels), dtype=np.int64)
    return coded.assemble(rows)


def read_design(frame: Any, spec: DesignSpec, columns: Sequence[str | None] = ()) -> CodedFrame:
    """Read the covariates of ``spec`` and the extra ``columns`` from ``frame``; drop (and
    count) rows with a missing value; code the covariates (``terms.order_levels``)."""
    sources = spec.sources
    extra = [c for c in dict.fromkeys(columns) if c is not None]
    data = to_polars(frame, columns=list(dict.fromkeys(sources + extra)))
    n_before = data.height
    if data.null_count().sum_horizontal().item() > 0:  # drop_nulls copies every column
        data = data.drop_nulls()
    pandas_order = _pandas_category_order(frame, sources)
    variables = {
        name: _variable(
            data[name], name in spec.categorical, spec.reference.get(name), pandas_order.get(name)
        )
        for name in sources
    }
    refuse_numeric_reference(spec, [n for n, v in variables.items() if v.levels is not None])
    fitted = {}
    for factor, (source, basis) in spec.bases.items():  # fitted once, on the rows used
        variables[factor], fitted[factor] = _basis_variable(factor, variables[source], basis)
    spec = replace(spec, bases=fitted)
    extra_arrays: dict[str, np.ndarray] = {}
    column_levels: dict[str, tuple[str, ...]] = {}
    for name in extra:
        variable = _variable(data[name], False, None, pandas_order.get(name), check=False)
        extra_arrays[name] = variable.values
        if variable.levels is not None:
            column_levels[name] = variable.levels
    levels = {v.name: v.levels for v in variables.values() if v.levels is not None}
    plan, assign = design_columns(spec, levels)
    return CodedFrame(
        spec=spec,
        variables=variables,
        columns=extra_arrays,
        column_levels=column_levels,
        terms=tuple(c.label for c in plan),
        assign=assign,
        plan=tuple(plan),
        n_used=data.height,
        n_dropped=n_before - data.height,
    )


def _basis_variable(
    factor: str, source: _Variable, basis: Basis
) -> tuple[_Variable, tuple[str, Basis]]:
    """The columns of ``basis`` (n x k) of a numeric source, and the basis fitted to the
    source's frequency table."""
    if source.levels is not None:
        refuse_coded_basis(factor, source.name)
    fitted = basis.fit(*np.unique(source.values, return_counts=True))
    columns = fitted.columns(source.values, lambda v: np.maximum(v, 0.0))
    variable = _Variable(factor, np.column_stack(columns).astype(np.float64), None)
    return variable, (source.name, fitted)


def _pandas_category_order(frame: Any, names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Category order of pandas categorical columns (lost on conversion to Polars)."""
    if not type(frame).__module__.startswith("pandas"):
        return {}
    order = {}
    for name in names:
        if name in frame.columns and str(frame[name].dtype) == "category":
            order[name] = tuple(str(c) for c in frame[name].cat.categories)
    return order


def _variable(
    series: pl.Series,
    categorical: bool,
    reference: str | None,
    category_order: tuple[str, ...] | None,
    *,
    check: bool = True,
) -> _Variable:
    name = series.name
    dtype = series.dtype
    is_coded = (
        categorical
        or dtype in (pl.String, pl.Boolean, pl.Categorical)
        or isinstance(dtype, pl.Enum)
    )
    if not is_coded and not dtype.is_numeric():
        raise ModelError(
            f"column {name!r} has type {dtype}, which is neither numeric nor categorical; "
            "convert it to a number or a string first."
        )
    if not is_coded:
        values = series.cast(pl.Float64).to_numpy()
        bad = ~np.isfinite(values)
        if bad.any():
            refuse_non_finite(name, int(bad.sum()), int(np.argmax(bad)))
        return _Variable(name, values, None)
    return _coded_variable(series, reference, category_order, check=check)


def _coded_variable(
    series: pl.Series,
    reference: str | None,
    category_order: tuple[str, ...] | None,
    *,
    check: bool,
) -> _Variable:
    name = series.name
    physical = _physical_codes(series)
    if physical is not None:  # Enum or Boolean: codes in O(n) without text
        natural_codes, natural_levels = physical
        seen = np.bincount(natural_codes, minlength=len(natural_levels)) > 0
        present = {lv for lv, found in zip(natural_levels, seen, strict=True) if found}
    else:
        text = series.cast(pl.String)
        present = set(text.unique().to_list())
    if isinstance(series.dtype, pl.Enum):
        declared: list[str] | None = [str(c) for c in series.dtype.categories]
    elif category_order is not None:
        declared = list(category_order)
    elif series.dtype.is_numeric():
        declared = [str(v) for v in sorted(series.unique().to_list())]
    else:
        declared = None
    levels = list(
        order_levels(
            name, present, declared=declared, numeric=False, reference=reference, check=check
        )
    )
    if physical is not None:
        position = {lv: k for k, lv in enumerate(levels)}
        lookup = np.array([position.get(lv, -1) for lv in natural_levels], dtype=np.int64)
        return _Variable(name, lookup[natural_codes], tuple(levels))
    codes = text.replace_strict(levels, list(range(len(levels))), return_dtype=pl.Int64)
    return _Variable(name, codes.to_numpy(), tuple(levels))


def _physical_codes(series: pl.Series) -> tuple[np.ndarray, list[str]] | None:
    """(codes, level names) of an Enum (its categories) or Boolean ("False", "True") column,
    read from the physical values; None for other types (coded through their text)."""
    if series.dtype == pl.Boolean:
        return series.to_numpy().astype(np.int64), ["False", "True"]
    if isinstance(series.dtype, pl.Enum):
        codes = series.to_physical().to_numpy().astype(np.int64)
        return codes, [str(c) for c in series.dtype.categories]
    return None


def _fill(
    plan: Sequence[Column],
    variables: Mapping[str, _Variable],
    matrix: np.ndarray,
    rows: np.ndarray | None,
) -> tuple[np.ndarray, ...]:
    """Fill ``matrix``; return each column's min and max over all source rows. Plain numeric
    columns with a row order take one compiled pass (threads share the rows); otherwise row
    blocks, each block's rows scattered straight to their places."""
    sources = [variables[c.parts[0][0]].values for c in plan]
    simple = all(len(c.parts) == 1 and c.parts[0][1] is None for c in plan) and all(
        v.dtype == np.float64 and v.flags.c_contiguous and v.flags.writeable == s.flags.writeable
        for v in sources
        for s in sources[:1]
    )
    if rows is not None and plan and simple:
        threads = _layout.thread_count(sources[0].shape[0])
        return _layout.scatter_columns(tuple(sources), rows, matrix, threads)
    n_all = sources[0].shape[0] if plan else matrix.shape[0]
    low = np.full(len(plan), np.inf)
    high = np.full(len(plan), -np.inf)
    if rows is not None:  # each source row's place in the matrix (-1: not kept)
        position = np.full(n_all, -1, dtype=np.int64)
        position[rows] = np.arange(rows.shape[0])
    block = 65_536  # row blocks: no full-length temporaries, strided writes stay in cache
    buffer = np.empty((min(block, n_all), len(plan)), dtype=np.float64)
    for start in range(0, n_all, block):
        stop = min(start + block, n_all)
        target = matrix[start:stop] if rows is None else buffer[: stop - start]
        for j, spec in enumerate(plan):
            column = None
            for source, code in spec.parts:
                values = _part(variables[source].values[start:stop], code)
                column = values if column is None else column * values
            target[:, j] = column
            low[j] = min(low[j], column.min())
            high[j] = max(high[j], column.max())
        if rows is not None:  # whole rows to their places: one cache line per row
            _layout.scatter_rows(target, position[start:stop], matrix)
    return low, high


def _part(values: np.ndarray, code: int | None) -> np.ndarray:
    """A part of a design column: the number, the level indicator, or the basis column."""
    if code is None:
        return values
    return values[:, code] if values.ndim == 2 else (values == code).astype(np.float64)
