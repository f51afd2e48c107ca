"""Turn a frame and a covariate list (or formula) into the plain arrays a model engine needs.

Numeric columns enter as given; string, categorical and boolean columns are dummy-coded
against a reference level (treatment contrasts, as R's ``contr.treatment``), giving terms named
``column[level]``; ``a:b`` is the product of the codings of ``a`` and ``b``; ``rcs(x, 4)`` is a
restricted cubic spline of ``x`` (``splines.py``: ``rms::rcs`` columns ``x``, ``x'``, ``x''``, knots
from the rows used). Rows with a missing (null) value in any used column are dropped and
counted, as R's ``na.omit``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from cohortcalc.errors import ModelError
from cohortcalc.frames import to_polars
from cohortcalc.survival import _layout
from cohortcalc.survival.splines import SplineTerm, parse_rcs

_CATEGORICAL_WRAPPER = re.compile(r"^C\((?P<name>[^,()]+)\)$")

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
    labels: tuple[str, ...] | None = None  # a spline basis: values is n x len(labels)


def parse_covariates(covariates: Sequence[str] | str) -> list[list[str]]:
    """Model terms as lists of factor names: ``"a*b"`` -> [[a], [b], [a, b]].

    A string with formula syntax (``+ * : ( ~``) is parsed by formulaic; a plain string is one
    column. Items of a list may themselves be ``a:b`` or ``a*b``.
    """
    if isinstance(covariates, str):
        covariates = _formula_terms(covariates) if re.search(r"[+*~]", covariates) else [covariates]
    terms: list[list[str]] = []
    for item in covariates:
        if not isinstance(item, str) or not item.strip():
            raise ModelError(f"covariate {item!r} is not a column name or term.")
        expanded = _formula_terms(item) if "*" in item else [item]
        for term in expanded:
            factors = [part.strip() for part in term.split(":")]
            if factors not in terms:
                terms.append(factors)
    if not terms:
        raise ModelError("no covariates given; a Cox model needs at least one term.")
    return terms


def _formula_terms(formula: str) -> list[str]:
    from formulaic import Formula

    rhs = formula.split("~", 1)[1] if "~" in formula else formula
    try:
        parsed = Formula(rhs)
    except Exception as exc:  # formulaic raises several parser exception types
        raise ModelError(f"cannot parse the formula {formula!r}: {exc}") from exc
    return [
        ":".join(str(f) for f in term.factors) for term in parsed if str(term) not in ("1", "0")
    ]


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
    the rows the matrix should hold, in order (the Cox engine's bin order: the matrix is then
    built once, already sorted). Raises ``FrameError`` for a missing column and
    ``ModelError`` naming the column or term for NaN/infinite values, a constant column, or a
    level without rows.
    """
    term_factors = parse_covariates(covariates)
    forced_categorical = {
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
    extra = [c for c in dict.fromkeys(columns) if c is not None]
    data = to_polars(frame, columns=list(dict.fromkeys(sources + extra)))
    n_before = data.height
    if data.null_count().sum_horizontal().item() > 0:  # drop_nulls copies every column
        data = data.drop_nulls()
    reference = {k: str(v) for k, v in (reference or {}).items()}
    unknown_reference = set(reference) - set(sources)
    if unknown_reference:
        raise ModelError(
            f"reference given for {sorted(unknown_reference)}, which are not covariates; "
            f"covariates are {sources}."
        )
    pandas_order = _pandas_category_order(frame, sources)
    variables = {
        name: _variable(
            data[name], name in forced_categorical, reference.get(name), pandas_order.get(name)
        )
        for name in sources
    }
    levels = {v.name: v.levels for v in variables.values() if v.levels is not None}
    splines = {}
    for factor, request in requests.items():
        if variables[request.column].levels is not None:
            raise ModelError(f"{factor}: column {request.column!r} must be numeric for a spline.")
        splines[factor] = request.resolve(variables[request.column].values)
        basis = splines[factor].basis(variables[request.column].values)
        variables[factor] = _Variable(factor, basis, None, splines[factor].labels)
    extra_arrays: dict[str, np.ndarray] = {}
    column_levels: dict[str, tuple[str, ...]] = {}
    for name in extra:
        variable = _variable(data[name], False, None, pandas_order.get(name), check=False)
        extra_arrays[name] = variable.values
        if variable.levels is not None:
            column_levels[name] = variable.levels
    rows = None
    if row_order is not None:
        rows = np.asarray(row_order(extra_arrays, column_levels), dtype=np.int64)
    n_rows = len(rows) if rows is not None else data.height
    matrix, terms, assign = _assemble(term_factors, variables, n_rows, rows)
    return Design(
        matrix=matrix,
        terms=tuple(terms),
        assign=assign,
        columns=extra_arrays,
        levels=levels,
        column_levels=column_levels,
        reference={name: lv[0] for name, lv in levels.items()},
        n_dropped=n_before - data.height,
        rows=rows,
        n_used=data.height,
        splines=splines,
    )


def _strip_wrapper(factor: str) -> str:
    match = _CATEGORICAL_WRAPPER.match(factor)
    return match.group("name").strip() if match else factor


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
            raise ModelError(
                f"column {name!r} has {int(bad.sum())} NaN or infinite value(s) (first at row "
                f"{int(np.argmax(bad))} after dropping missing rows); fix them or set them to "
                "null (missing)."
            )
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
        levels = [str(c) for c in series.dtype.categories]
    elif category_order is not None:
        levels = list(category_order)
    elif series.dtype.is_numeric():
        levels = [str(v) for v in sorted(series.unique().to_list())]
    else:
        levels = sorted(present)
    if check:
        empty = [lv for lv in levels if lv not in present]
        if empty:
            raise ModelError(
                f"{name}[{empty[0]}] has no rows (levels without rows: {empty}); drop the "
                f"unused level(s) of {name!r} or merge them with another level."
            )
        if len(levels) < 2:
            raise ModelError(
                f"column {name!r} is constant ({levels[0]!r} in every row); remove it from the "
                "covariates."
            )
    if reference is not None:
        if reference not in levels:
            raise ModelError(
                f"reference level {reference!r} of {name!r} does not occur; levels: {levels}."
            )
        levels.remove(reference)
        levels.insert(0, reference)
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


Plan = list[tuple[str, list[tuple[_Variable, int | None]]]]


def _assemble(
    term_factors: list[list[str]],
    variables: Mapping[str, _Variable],
    n: int,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, list[str], dict[str, tuple[int, ...]]]:
    """The design matrix (n x terms), its term labels and the columns of each term; with
    ``rows``, only those source rows, in that order (no unsorted copy is ever made)."""
    plan: Plan = []
    assign: dict[str, tuple[int, ...]] = {}
    for factors in term_factors:
        columns: Plan = [("", [])]
        for factor in factors:
            var = variables[factor]
            options: list[tuple[str, int | None]] = (
                list(zip(var.labels, range(len(var.labels)), strict=True))
                if var.labels is not None
                else [(factor, None)]
                if var.levels is None
                else [(f"{factor}[{lv}]", k) for k, lv in enumerate(var.levels) if k > 0]
            )
            columns = [
                (f"{label}:{opt}" if label else opt, [*parts, (var, code)])
                for label, parts in columns
                for opt, code in options
            ]
        start = len(plan)
        plan.extend(columns)
        assign[":".join(factors)] = tuple(range(start, len(plan)))
    labels = [label for label, _ in plan]
    if len(set(labels)) < len(labels):
        twice = sorted({label for label in labels if labels.count(label) > 1})
        raise ModelError(f"coefficient(s) {twice} would appear twice; drop the repeated term.")
    matrix = np.empty((n, len(plan)), dtype=np.float64)
    low, high = _fill(plan, matrix, rows)
    for j, (label, _) in enumerate(plan):
        if n and low[j] == high[j]:
            raise ModelError(
                f"term {label!r} is constant (every row used equals {low[j]:g}); remove it or "
                "check the data — a Cox model cannot estimate it."
            )
    return matrix, [label for label, _ in plan], assign


def _fill(plan: Plan, matrix: np.ndarray, rows: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """Fill ``matrix``; return each column's min and max over all source rows. Plain numeric
    columns with a row order take one compiled pass (threads share the rows); otherwise row
    blocks, each block's rows scattered straight to their places."""
    sources = [parts[0][0].values for _, parts in plan]
    simple = all(len(parts) == 1 and parts[0][1] is None for _, parts in plan) and all(
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
        for j, (_, parts) in enumerate(plan):
            column = None
            for var, code in parts:
                values = var.values[start:stop]
                if var.labels is not None:  # one column of a spline basis
                    values = values[:, code]
                elif code is not None:
                    values = (values == code).astype(np.float64)
                column = values if column is None else column * values
            target[:, j] = column
            low[j] = min(low[j], column.min())
            high[j] = max(high[j], column.max())
        if rows is not None:  # whole rows to their places: one cache line per row
            _layout.scatter_rows(target, position[start:stop], matrix)
    return low, high
