"""Code new rows exactly as a fit coded its own: the design matrix and stratum of each row.

Levels come from the fit (reference first), never from the new rows, so one row or a
validation cohort gets the fit's columns; a level or stratum the fit never saw is an error
naming the column, the value and the row. Rows with a missing covariate are kept and marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from cohortcalc.errors import ModelError
from cohortcalc.frames import to_polars
from cohortcalc.survival.design import Design


@dataclass(frozen=True)
class NewRows:
    """``matrix`` (n x p, NaN rows where ``missing``), stratum codes of the fit, row count."""

    matrix: np.ndarray
    stratum: np.ndarray
    missing: np.ndarray


def code_new_rows(
    frame: Any, design: Design, terms: Sequence[str], strata: Sequence[str]
) -> NewRows:
    """The fit's design for the rows of ``frame`` (``design`` is the fit's own Design)."""
    factors_by_term = [term.split(":") for term in design.assign]
    sources = list(dict.fromkeys(f for factors in factors_by_term for f in factors))
    data = to_polars(frame, columns=[*sources, *strata])
    missing = np.zeros(data.height, dtype=bool)
    for name in [*sources, *strata]:
        missing |= data[name].is_null().to_numpy()
    values = {name: _column(data[name], name, design.levels.get(name), missing) for name in sources}
    columns: list[np.ndarray] = []
    labels: list[str] = []
    for factors in factors_by_term:
        parts: list[tuple[str, np.ndarray]] = [("", np.ones(data.height))]
        for factor in factors:
            levels = design.levels.get(factor)
            options = (
                [(factor, values[factor])]
                if levels is None
                else [
                    (f"{factor}[{level}]", (values[factor] == k).astype(np.float64))
                    for k, level in enumerate(levels)
                    if k > 0
                ]
            )
            parts = [
                (f"{label}:{name}" if label else name, column * option)
                for label, column in parts
                for name, option in options
            ]
        labels += [label for label, _ in parts]
        columns += [column for _, column in parts]
    if tuple(labels) != tuple(terms):  # the coding above must be the fit's, term for term
        raise ModelError(f"cannot rebuild the fit's terms {list(terms)} (got {labels}).")
    matrix = np.column_stack(columns) if columns else np.zeros((data.height, 0))
    matrix[missing] = np.nan
    stratum = _stratum_codes(data, design, strata, missing)
    return NewRows(matrix, stratum, missing)


def _column(
    series: pl.Series, name: str, levels: tuple[str, ...] | None, missing: np.ndarray
) -> np.ndarray:
    """Numeric values, or codes into the fit's ``levels`` (an unseen level is an error)."""
    if levels is None:
        if not series.dtype.is_numeric() and series.dtype != pl.Boolean:
            raise ModelError(
                f"column {name!r} has type {series.dtype} but the fit used it as a number; "
                "convert it as the fitting frame was."
            )
        return series.cast(pl.Float64).fill_null(np.nan).to_numpy()
    text = _labels(series)
    lookup = {level: k for k, level in enumerate(levels)}
    codes = np.array([lookup.get(v, -1) for v in text], dtype=np.int64)
    unseen = (codes < 0) & ~missing
    if unseen.any():
        row = int(np.argmax(unseen))
        raise ModelError(
            f"column {name!r} has level {text[row]!r} (row {row}) that the fit never saw; "
            f"the fit's levels are {list(levels)}. Recode it to one of them or refit."
        )
    return codes


def _labels(series: pl.Series) -> list[Any]:
    """The text the design coded a column by (Boolean as "False"/"True", as design.py)."""
    if series.dtype == pl.Boolean:
        return [None if v is None else str(bool(v)) for v in series.to_list()]
    return series.cast(pl.String).to_list()


def _stratum_codes(
    data: pl.DataFrame, design: Design, strata: Sequence[str], missing: np.ndarray
) -> np.ndarray:
    """Each new row's stratum code in the fit (-1 where a value is missing); the lookup runs
    over the distinct strata, not the rows."""
    if not strata:
        return np.zeros(data.height, dtype=np.int64)
    from cohortcalc.survival.cox import group_codes

    fitted = group_codes(design.columns, design.column_levels, strata)
    first = np.unique(fitted, return_index=True)[1]  # one training row per stratum
    keys = [_training_keys(design, name, first) for name in strata]
    code_of = {tuple(key[k] for key in keys): int(fitted[row]) for k, row in enumerate(first)}
    parts = []  # per column: the distinct values and each row's index into them
    for name in strata:
        if name in design.column_levels:
            values = np.array(["" if v is None else v for v in _labels(data[name])], dtype=object)
        else:
            values = data[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
        parts.append(np.unique(values, return_inverse=True))
    combined = np.ravel_multi_index(
        [inverse.reshape(-1) for _, inverse in parts], [len(distinct) for distinct, _ in parts]
    )
    distinct_rows, inverse = np.unique(combined, return_inverse=True)
    inverse = inverse.reshape(-1)
    first_row = np.full(distinct_rows.shape[0], data.height, dtype=np.int64)
    np.minimum.at(first_row, inverse[~missing], np.flatnonzero(~missing))
    mapped = np.full(distinct_rows.shape[0], -1, dtype=np.int64)
    for k, flat in enumerate(distinct_rows):
        if first_row[k] == data.height:  # only rows with a missing value
            continue
        index = np.unravel_index(flat, [len(distinct) for distinct, _ in parts])
        key = tuple(_plain(parts[j][0][i]) for j, i in enumerate(index))
        if key not in code_of:
            raise ModelError(
                f"row {int(first_row[k])} is in stratum {dict(zip(strata, key, strict=True))}, "
                f"which the fit never saw (strata: {sorted(code_of, key=str)[:10]}); a "
                "stratified fit has no baseline hazard for it."
            )
        mapped[k] = code_of[key]
    return np.where(missing, -1, mapped[inverse])


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value the training keys hold."""
    return value.item() if isinstance(value, np.generic) else value


def _training_keys(design: Design, name: str, rows: np.ndarray) -> list[Any]:
    """The fit's stratum values of column ``name`` at ``rows``: labels, or numbers."""
    values = design.columns[name][rows]
    levels = design.column_levels.get(name)
    if levels is None:
        return values.tolist()
    return np.asarray(levels, dtype=object)[values].tolist()


def linear_predictor(matrix: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """xβ of each row, summed within the row alone: a row's prediction does not depend on
    which other rows are predicted with it (a BLAS matrix-vector product takes other code
    paths, with other roundings, for other numbers of rows)."""
    return (matrix * beta).sum(axis=1)
