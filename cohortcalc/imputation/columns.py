"""Which columns may be imputed or predict, and how each is coded for the chained equations.

Continuous and count columns: predictive mean matching. Two categories (boolean, 0/1, two
labels): logistic. Unordered categories (3 to ``MAX_LEVELS``): multinomial logit. Ordered
categories (Polars Enum): PMM on the ordered codes, so imputations are observed levels and
keep their order. Dates, lists, structs and high-cardinality text cannot be imputed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from cohortcalc.errors import ModelError
from cohortcalc.imputation.chained import Variable

MAX_LEVELS = 20  # more unordered categories than this is an identifier, not a variable


@dataclass(frozen=True)
class Coding:
    """How a column maps to the engine's floats and back: its labels (categorical) in code
    order, whether they are ordered, and the column's original dtype."""

    dtype: pl.DataType
    labels: tuple | None = None
    ordered: bool = False

    def decode(self, name: str, values: np.ndarray) -> pl.Series:
        """Engine values back to a column of the original type."""
        if self.labels is None:
            series = pl.Series(name, values)
            return series.cast(self.dtype) if self.dtype.is_integer() else series
        labels = np.asarray(self.labels, dtype=object)[values.astype(np.int64)]
        return pl.Series(name, list(labels)).cast(self.dtype)


def coding_of(series: pl.Series) -> Coding | str:
    """The column's coding, or why it cannot take part (a sentence)."""
    dtype = series.dtype
    observed = series.drop_nulls()
    if isinstance(dtype, pl.Enum):
        return Coding(dtype, tuple(dtype.categories.to_list()), ordered=True)
    if dtype == pl.Boolean:
        return Coding(dtype, (False, True))
    if dtype.is_numeric():
        values = observed.cast(pl.Float64)
        if values.is_nan().any() or values.is_infinite().any():
            return "it holds NaN or infinite values (use null for a missing value)"
        if dtype.is_integer() and set(observed.unique().to_list()) <= {0, 1}:
            return Coding(dtype, (0, 1))
        return Coding(dtype)
    if dtype in (pl.String, pl.Categorical):
        labels = sorted(observed.cast(pl.String).unique().to_list())
        if len(labels) > MAX_LEVELS:
            return f"it is text with {len(labels)} distinct values (more than {MAX_LEVELS})"
        return Coding(dtype, tuple(labels))
    return f"its type {dtype} cannot be imputed or used as a predictor"


def encode(series: pl.Series, coding: Coding) -> np.ndarray:
    """Floats for the engine: values, or category codes; NaN where missing."""
    if coding.labels is None:
        return series.cast(pl.Float64).fill_null(np.nan).to_numpy().astype(np.float64)
    lookup = {label: float(code) for code, label in enumerate(coding.labels)}
    textual = isinstance(coding.dtype, pl.Enum) or coding.dtype in (pl.String, pl.Categorical)
    raw = series.cast(pl.String) if textual else series
    return np.array([np.nan if v is None else lookup[v] for v in raw.to_list()])


def target(name: str, series: pl.Series, predictors: Sequence[str]) -> tuple[Variable, Coding]:
    """An imputed variable: its engine form and coding; ModelError when it cannot be imputed."""
    coding = coding_of(series)
    if isinstance(coding, str):
        raise ModelError(
            f"variable {name!r} cannot be imputed: {coding}. Recode it (numbers, a boolean, "
            "or at most 20 categories) or leave it out of variables=."
        )
    values = encode(series, coding)
    n_observed = int(np.sum(~np.isnan(values)))
    if n_observed == 0:
        raise ModelError(
            f"variable {name!r} is missing for all {len(values)} participants; there is "
            "nothing to impute from. Leave it out of variables= (and of the analysis)."
        )
    if n_observed < 2 or np.unique(values[~np.isnan(values)]).size < 2:
        raise ModelError(
            f"variable {name!r} has {n_observed} observed value(s), all equal; an imputation "
            "model needs variation. Leave it out of variables=."
        )
    n_levels = 0 if coding.labels is None else len(coding.labels)
    if coding.ordered or coding.labels is None:
        method = "pmm"
    else:
        method = "logistic" if n_levels == 2 else "multinomial"
    variable = Variable(name, values, method, n_levels, coding.ordered, tuple(predictors))
    return variable, coding


def predictor(name: str, series: pl.Series) -> Variable | str:
    """A complete auxiliary predictor's engine form, or why it cannot be one."""
    if series.null_count():
        return f"it has {series.null_count()} missing value(s) and is not imputed"
    coding = coding_of(series)
    if isinstance(coding, str):
        return coding
    values = encode(series, coding)
    if np.unique(values).size < 2:
        return "it is constant"
    n_levels = 0 if coding.labels is None else len(coding.labels)
    return Variable(name, values, "", n_levels, coding.ordered)


#: A predictor column whose part not explained by the columns before it has less than this
#: share of its (centred) length is a linear combination of them.
COLLINEAR = 1e-7


def drop_collinear(
    predictors: Sequence[Variable], first: Sequence[Variable] = ()
) -> tuple[list[Variable], dict[str, str]]:
    """The ``predictors`` without those that are linear combinations of the intercept, the
    ``first`` columns (kept always: the outcome terms) and the predictors before them — e.g.
    a total next to the vessel scores that sum to it, or a copy of age. As mice's
    ``find.collinear`` before imputing: a model with such a column has a singular XᵀX. Also
    returns, per dropped name, the reason naming the columns it combines."""
    from cohortcalc.imputation.chained import block

    n = len(predictors[0].values) if predictors else 0
    basis = [np.full(n, 1.0 / np.sqrt(max(n, 1)))]
    originals, owners = [np.ones(n)], [""]
    kept, dropped = [], {}
    always = len(first)
    for i, variable in enumerate([*first, *predictors]):
        columns = block(variable, variable.values).T
        size = len(basis)
        for column in columns:  # each into the basis at once: a block's columns orthogonal too
            centred = column - column.mean()
            scale = np.linalg.norm(centred)
            residual = _residual(column, basis) if scale > 0 else centred
            if scale == 0 or np.linalg.norm(residual) < COLLINEAR * scale:
                break
            basis.append(residual / np.linalg.norm(residual))
            originals.append(column)
            owners.append(variable.name)
        else:
            if i >= always:
                kept.append(variable)
            continue
        del basis[size:], originals[size:], owners[size:]
        if i >= always:
            dropped[variable.name] = _combination(columns, originals, owners)
    return kept, dropped


def _residual(column: np.ndarray, basis: list[np.ndarray]) -> np.ndarray:
    """The column less its projection on the orthonormal ``basis`` (Gram–Schmidt, twice)."""
    q = np.column_stack(basis)
    residual = column - q @ (q.T @ column)
    return residual - q @ (q.T @ residual)


def _combination(columns: np.ndarray, kept: list[np.ndarray], owners: list[str]) -> str:
    """Why a variable was dropped: the kept columns that its columns combine (least squares on
    the standardised columns; weights below 1e-6 are rounding)."""
    x = np.column_stack(kept)
    x = x / np.maximum(np.linalg.norm(x, axis=0), 1e-300)
    weights = np.abs(np.linalg.lstsq(x, columns.T, rcond=None)[0]).max(axis=1)
    scale = max(float(np.linalg.norm(columns)), 1e-300)
    names = [owners[i] for i in np.argsort(-weights) if owners[i] and weights[i] > 1e-6 * scale]
    names = list(dict.fromkeys(names))
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    return (
        f"a linear combination of other predictors ({shown or 'constant'}); left out so that "
        "the imputation models stay estimable"
    )
