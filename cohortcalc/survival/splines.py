"""Restricted cubic splines as ``rms::rcs``: knots, basis and the ``rcs(x, k)`` model term.

Harrell's truncated-power basis (Harrell 2015, *Regression Modeling Strategies*, 2nd ed.,
eq. 2.25): with knots t_1 < ... < t_k, the columns are x and, for j = 1..k-2,
(x - t_j)_+^3 - (x - t_{k-1})_+^3 (t_k - t_j)/(t_k - t_{k-1})
+ (x - t_k)_+^3 (t_{k-1} - t_j)/(t_k - t_{k-1}), divided by (t_k - t_1)^2 (``norm = 2`` of
``Hmisc::rcspline.eval``, which ``rms::rcs`` uses). Default knots are the quantiles of
Harrell's Table 2.3, with ``rcspline.eval``'s rules for tied ends and fewer than 100 values.
In a model, ``rcs(x, 4)`` is a ``terms.Basis`` (``RcsBasis``): every engine fits the knots
once from the column's frequency table (``np.unique`` locally, one group-by on Spark) and
computes the columns by the one formula ``rcs_columns``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cohortcalc.errors import ModelError, ModelWarning

#: Harrell (2015) Table 2.3: outer quantile of the default knots, by number of knots.
_OUTER_QUANTILE = {3: 0.10, 4: 0.05, 5: 0.05, 6: 0.05, 7: 0.025}
#: an end value held by at least this fraction of rows puts a knot next to it (rms ``fractied``).
FRACTION_TIED = 0.05

_RCS_TERM = re.compile(
    r"^rcs\(\s*(?P<column>[^,()\[\]]+?)\s*"
    r"(?:,\s*(?:knots\s*=\s*)?(?P<knots>\[[^\]]*\]|c\([^)]*\))|,\s*(?P<k>\d+))?\s*\)$"
)


@dataclass(frozen=True)
class SplineTerm:
    """A restricted cubic spline of ``column`` with fixed ``knots``, as fitted.

    ``labels`` name the basis columns as ``rms`` does (``x``, ``x'``, ``x''``); ``value_range``
    is the smallest and largest value of ``column`` among the rows of the fit, ``display_range``
    the 10th smallest and 10th largest (``rms::datadist``'s plotting limits; the range itself
    below 20 rows), where a curve is supported by data.
    """

    term: str
    column: str
    knots: tuple[float, ...]
    value_range: tuple[float, float]
    display_range: tuple[float, float]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.column + "'" * j for j in range(len(self.knots) - 1))

    def basis(self, values: np.ndarray) -> np.ndarray:
        """The basis at ``values`` (n x (k - 1)), linear column first."""
        return rcs_basis(values, self.knots)


@dataclass(frozen=True)
class SplineRequest:
    """An ``rcs(...)`` factor as written: its column and either a knot count or the knots."""

    term: str
    column: str
    n_knots: int | None
    knots: tuple[float, ...] | None

    def resolve(self, values: np.ndarray) -> SplineTerm:
        """The spline with its knots fixed from the column's values (the rows of the fit)."""
        return self.resolve_from_counts(
            *np.unique(np.asarray(values, np.float64), return_counts=True)
        )

    def resolve_from_counts(self, distinct: np.ndarray, counts: np.ndarray) -> SplineTerm:
        """As ``resolve``, from the column's frequency table (ascending distinct values and
        their row counts): one group-by pass on a distributed engine."""
        table = _Frequencies(np.asarray(distinct, np.float64), np.asarray(counts, np.int64))
        knots = (
            self.knots
            if self.knots is not None
            else rcs_knots_from_counts(
                table.values, table.counts, self.n_knots or 5, name=self.column
            )
        )
        if table.n == 0:
            raise ModelError(f"{self.term}: no rows with a value of {self.column!r}.")
        edge = 9 if table.n >= 20 else 0
        low, high, inner_low, inner_high = table.at_rank(
            np.array([0, table.n - 1, edge, table.n - 1 - edge])
        )
        return SplineTerm(
            self.term,
            self.column,
            tuple(float(k) for k in knots),
            (float(low), float(high)),
            (float(inner_low), float(inner_high)),
        )


@dataclass(frozen=True)
class RcsBasis:
    """``rcs(column, ...)`` as a ``terms.Basis``: ``fit`` fixes the knots from the column's
    frequency table over the rows used (``SplineRequest.resolve_from_counts``), ``columns`` is
    ``rcs_columns`` (NumPy arrays locally, Spark columns on Spark); ``spline`` is the fitted
    ``SplineTerm`` (None before ``fit``)."""

    request: SplineRequest
    spline: SplineTerm | None = None

    def labels(self, factor: str) -> list[str]:
        return list(self._fitted().labels)

    def fit(self, distinct: np.ndarray, counts: np.ndarray) -> RcsBasis:
        return RcsBasis(self.request, self.request.resolve_from_counts(distinct, counts))

    def columns(self, x: Any, positive: Callable[[Any], Any]) -> list[Any]:
        return rcs_columns(x, self._fitted().knots, positive)

    def _fitted(self) -> SplineTerm:
        if self.spline is None:
            raise ModelError(f"{self.request.term}: the spline's knots are not set yet.")
        return self.spline


def rcs_factor(factor: str) -> tuple[str, RcsBasis]:
    """(source column, basis) of an ``rcs(...)`` factor: the ``terms.BASIS_CALLS`` entry."""
    request = parse_rcs(factor)
    assert request is not None  # terms routes only factors written rcs(...) here
    return request.column, RcsBasis(request)


def splines_of(bases: Mapping[str, tuple[str, Any]]) -> dict[str, SplineTerm]:
    """The fitted ``SplineTerm`` of each ``rcs`` factor among a design's fitted bases."""
    return {
        factor: basis.spline
        for factor, (_, basis) in bases.items()
        if isinstance(basis, RcsBasis) and basis.spline is not None
    }


def parse_rcs(factor: str) -> SplineRequest | None:
    """``rcs(x)``, ``rcs(x, 4)``, ``rcs(x, knots=[a, b, c])`` or ``rcs(x, c(a, b, c))`` as a
    request; None if ``factor`` is not an ``rcs`` call. ``rcs(x)`` has 5 knots, as ``rms``."""
    text = factor.strip()
    if not text.startswith("rcs("):
        return None
    match = _RCS_TERM.match(text)
    if match is None:
        raise ModelError(
            f"cannot read the spline term {factor!r}; write rcs(column, 4) for 4 knots at the "
            "default quantiles or rcs(column, knots=[k1, k2, k3]) for given knots."
        )
    column = match.group("column").strip()
    if match.group("knots"):
        inner = match.group("knots").strip()
        inner = inner[2:-1] if inner.startswith("c(") else inner[1:-1]
        try:
            knots = tuple(float(part) for part in inner.split(",") if part.strip())
        except ValueError:
            raise ModelError(f"the knots of {factor!r} must be numbers.") from None
        _check_knots(knots, factor)
        return SplineRequest(text, column, None, knots)
    n_knots = int(match.group("k")) if match.group("k") else 5
    if not 3 <= n_knots <= 7:
        raise ModelError(
            f"{factor!r} asks for {n_knots} knots; default knot placement covers 3 to 7 knots "
            "(Harrell 2015, Table 2.3). Give the knots instead: rcs(column, knots=[...])."
        )
    return SplineRequest(text, column, n_knots, None)


def _check_knots(knots: tuple[float, ...], term: str) -> None:
    if len(knots) < 3:
        raise ModelError(f"{term!r} has {len(knots)} knot(s); a restricted cubic spline needs 3+.")
    if not all(np.isfinite(knots)) or bool(np.any(np.diff(knots) <= 0)):
        raise ModelError(f"the knots of {term!r} must be finite and strictly increasing.")


def rcs_basis(values: np.ndarray, knots: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """Harrell's restricted cubic spline basis, ``rms::rcs(x, knots)`` column for column.

    Harrell (2015) eq. 2.25, each nonlinear column divided by (t_k - t_1)^2 (Hmisc
    ``rcspline.eval(norm = 2)``, the ``rms`` default). Returns n x (k - 1) float64.
    """
    x = np.asarray(values, dtype=np.float64)
    return np.column_stack(rcs_columns(x, knots, lambda v: np.maximum(v, 0.0)))


def rcs_columns(x: Any, knots: Sequence[float] | np.ndarray, positive_part: Callable) -> list:
    """The basis columns as expressions of ``x``: numpy arrays, or Spark columns with
    ``positive_part = lambda v: F.greatest(v, F.lit(0.0))``; one formula for every engine.
    Cubes of differences scaled by (t_k - t_1)^(2/3), as ``rcspline.eval`` computes them."""
    t = [float(k) for k in knots]
    scale = (t[-1] - t[0]) ** (2.0 / 3.0)
    last, second_last = t[-1], t[-2]
    columns = [x]
    for j in range(len(t) - 2):
        columns.append(
            positive_part((x - t[j]) / scale) ** 3
            + (
                (second_last - t[j]) * positive_part((x - last) / scale) ** 3
                - (last - t[j]) * positive_part((x - second_last) / scale) ** 3
            )
            / (last - second_last)
        )
    return columns


def rcs_knots(values: np.ndarray, n_knots: int = 5, *, name: str = "x") -> np.ndarray:
    """Default knots of ``rms::rcs(x, n_knots)`` (Hmisc ``rcspline.eval``, ``fractied = 0.05``).

    Quantiles (R type 7) at Harrell's (2015, Table 2.3) positions; an end value held by ≥ 5%
    of rows (e.g. CAC = 0) gets a knot at the next distinct value instead; with fewer than 100
    values the outer knots are the 5th smallest and 5th largest. Warns (``ModelWarning``) where
    rms warns: too few distinct values, or the alternate placement. Missing (NaN) values are
    ignored.
    """
    x = np.asarray(values, dtype=np.float64)
    distinct, counts = np.unique(x[~np.isnan(x)], return_counts=True)
    return rcs_knots_from_counts(distinct, counts, n_knots, name=name)


def rcs_knots_from_counts(
    distinct: np.ndarray, counts: np.ndarray, n_knots: int = 5, *, name: str = "x"
) -> np.ndarray:
    """``rcs_knots`` from a frequency table: ascending distinct values and their row counts.

    The same knots as from the values themselves; a distributed engine gets the table in one
    aggregation (group by value, count) and computes the knots once, here.
    """
    table = _Frequencies(np.asarray(distinct, np.float64), np.asarray(counts, np.int64))
    if (
        table.values.shape != table.counts.shape
        or np.any(np.diff(table.values) <= 0)
        or np.any(table.counts <= 0)
        or np.isnan(table.values).any()
    ):
        raise ModelError(
            f"rcs({name}): the frequency table must hold strictly ascending distinct values, "
            "no NaN, each with a positive count."
        )
    if table.n < 6:
        raise ModelError(f"rcs({name}): fewer than 6 non-missing values; give the knots instead.")
    if not 3 <= n_knots <= 7:
        raise ModelError(f"rcs({name}, {n_knots}): default knots exist for 3 to 7 knots only.")
    n_distinct = table.values.shape[0]
    if n_distinct - 2 <= n_knots:
        warnings.warn(
            f"rcs({name}, {n_knots}): {n_knots} knots requested with {n_distinct} distinct "
            f"values; knots set to the {n_distinct - 2} interior values (as rms).",
            ModelWarning,
            stacklevel=2,
        )
        return _at_least_three(table.values[1:-1], name)
    outer = _OUTER_QUANTILE[n_knots]
    first, last, rest = _tied_ends(table)
    n_inner = n_knots - len(first) - len(last)
    if n_inner == 1:
        inner = rest.quantile7(np.array([0.5]))
    elif n_distinct <= n_inner:
        inner = table.values.copy()
    else:
        start = 0.5 if n_inner == 2 else outer
        inner = rest.quantile7(np.linspace(start, 1.0 - outer, n_inner))
        if np.unique(inner).shape[0] < min(n_inner, 3):
            inner = _alternate_knots(rest, first, last, outer, n_inner, name)
    if rest.n < 100:  # the 5th smallest and 5th largest replace the outer quantiles
        if not first.size:
            inner[0] = rest.at_rank(np.array([4]))[0]
        if not last.size:  # R's knots[nke] <- ...: past the end it appends
            fifth_largest = rest.at_rank(np.array([rest.n - 5]))[0]
            if n_inner - 1 < inner.shape[0]:
                inner[n_inner - 1] = fifth_largest
            else:
                inner = np.append(inner, fifth_largest)
    return _at_least_three(np.concatenate([first, inner, last]), name)


@dataclass(frozen=True)
class _Frequencies:
    """Ascending distinct values with their counts: the sorted data, run-length coded."""

    values: np.ndarray
    counts: np.ndarray

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def at_rank(self, ranks: np.ndarray) -> np.ndarray:
        """The values at 0-based ranks of the sorted data."""
        return self.values[np.searchsorted(np.cumsum(self.counts), ranks, side="right")]

    def quantile7(self, probabilities: np.ndarray) -> np.ndarray:
        """R's ``quantile(type = 7)``, with R's own arithmetic (1-based index, (1 - h) a + h b)."""
        index = 1.0 + (self.n - 1) * np.asarray(probabilities, dtype=np.float64)
        low, high = np.floor(index), np.ceil(index)
        below = self.at_rank(low.astype(np.int64) - 1)
        above = self.at_rank(high.astype(np.int64) - 1)
        h = index - low
        blend = (index > low) & (above != below)
        return np.where(blend, (1.0 - h) * below + h * above, below)

    def inside(self, low: float = -np.inf, high: float = np.inf) -> _Frequencies:
        """The rows strictly between ``low`` and ``high``."""
        keep = (self.values > low) & (self.values < high)
        return _Frequencies(self.values[keep], self.counts[keep])


def _tied_ends(table: _Frequencies) -> tuple[np.ndarray, np.ndarray, _Frequencies]:
    """rms's ``fractied`` rule: the knots set beside a minimum or maximum held by ≥ 5% of rows
    (only when no interior value is as heavily tied), and the rows left for the quantiles."""
    shares = table.counts / table.n
    first = last = np.empty(0)
    rest = table
    if shares[1:-1].max(initial=-np.inf) < FRACTION_TIED:
        if shares[0] >= FRACTION_TIED:
            first = table.values[1:2]
            rest = rest.inside(low=first[0])
        if shares[-1] >= FRACTION_TIED:
            last = rest.values[-2:-1]
            rest = rest.inside(high=last[0])
    return first, last, rest


def _alternate_knots(
    rest: _Frequencies,
    first: np.ndarray,
    last: np.ndarray,
    outer: float,
    n_inner: int,
    name: str,
) -> np.ndarray:
    """rcspline.eval's fallback when the quantiles coincide: twice as many quantile positions."""
    knots = rest.quantile7(np.linspace(outer, 1.0 - outer, 2 * n_inner))
    if first.size and np.unique(knots).shape[0] < 3:
        middle = (first[0] + last[0]) / 2 if last.size else rest.quantile7(np.array([0.5]))[0]
        end = last[0] if last.size else rest.quantile7(np.array([1.0 - outer]))[0]
        knots = np.sort(np.array([first[0], middle, end]))
    found = np.unique(knots).shape[0]
    if found < 3:
        raise ModelError(
            f"rcs({name}): fewer than 3 distinct knots can be placed (the values are too "
            "heavily tied); give the knots, use fewer, or model the column in categories."
        )
    warnings.warn(
        f"rcs({name}): could not obtain {n_inner} interior knots with the default algorithm; "
        f"used the alternate algorithm of rms, giving {found} knots.",
        ModelWarning,
        stacklevel=3,
    )
    return knots


def _at_least_three(knots: np.ndarray, name: str) -> np.ndarray:
    knots = np.unique(knots)  # as rcspline.eval: sort(unique(knots))
    if knots.shape[0] < 3:
        raise ModelError(
            f"rcs({name}): fewer than 3 distinct knots; the column has too few distinct values "
            "for a spline. Model it linearly or in categories."
        )
    return knots
