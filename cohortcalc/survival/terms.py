"""Model terms, shared by every engine: parse the covariates, order and check the levels of a
coded column, and expand each term into named design columns.

An engine reads a frame and reports, per covariate, whether it is numeric or coded and which
values occur; everything that decides names, coding and refusals is here, once. Coding is R's
``contr.treatment``: a coded column gives one 0/1 column per level but the reference (first)
level, named ``column[level]``; ``a:b`` is the product of the codings of ``a`` and ``b``.

Where a new kind of term plugs in (the spline basis ``rcs(x, k)`` is one): a factor written
``name(column, arguments)`` whose ``name`` is in ``BASES`` (or ``BASIS_PARSERS``, for
arguments of its own syntax) is a ``Basis``: its data-dependent
parameters (knots) are set once from the frequency table of the column over the rows used
(``np.unique`` locally, one group-by on Spark), and one formula (``columns``) gives its columns
over NumPy arrays or Spark columns; ``design_columns`` names them and forms interactions as
for any other factor.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from cohortcalc.errors import ModelError
from cohortcalc.survival.splines import rcs_factor

CATEGORICAL_WRAPPER = re.compile(r"^C\((?P<name>[^,()]+)\)$")
BASIS_CALL = re.compile(
    r"^(?P<function>[A-Za-z_]\w*)\((?P<source>[^,()]+)(?P<arguments>,[^()]*)?\)$"
)


class Basis(Protocol):
    """A numeric column expanded into several design columns (e.g. a spline basis)."""

    def labels(self, factor: str) -> list[str]:
        """The names of its columns (``factor`` is the term as written)."""
        ...

    def fit(self, distinct: np.ndarray, counts: np.ndarray) -> Basis:
        """The basis with its data-dependent parameters (knots) set from the frequency table
        of the rows used: sorted distinct values and how often each occurs."""
        ...

    def columns(self, x: Any, positive: Callable[[Any], Any]) -> list[Any]:
        """Its columns of ``x`` by one formula for every engine: NumPy arrays with
        ``positive = max(·, 0)`` locally, Spark columns with ``greatest(·, 0)`` on Spark."""
        ...


BASES: dict[str, Callable[[tuple[float, ...]], Basis]] = {}
"""Basis families usable in a covariate as ``name(column, number, ...)``: a new family is one
entry here, a constructor from the numeric arguments."""

BASIS_PARSERS: dict[str, Callable[[str], tuple[str, Basis]]] = {"rcs": rcs_factor}
"""Basis families with arguments of their own syntax (``rcs(x, knots=[a, b, c])``): one entry,
a parser of the factor as written into (source column, unfitted basis)."""

_FUNCTION = re.compile(r"^\s*(?P<function>[A-Za-z_]\w*)\s*\(")


@dataclass(frozen=True)
class DesignSpec:
    """The parsed covariates: each term's factors (source column names, wrappers removed),
    the columns forced to be categorical by ``C(...)`` and the requested reference levels."""

    factors: tuple[tuple[str, ...], ...]
    categorical: frozenset[str] = frozenset()
    reference: Mapping[str, str] = field(default_factory=dict)
    bases: Mapping[str, tuple[str, Basis]] = field(default_factory=dict)

    @property
    def sources(self) -> list[str]:
        """The source columns, in order of first use."""
        names = (self.bases[f][0] if f in self.bases else f for t in self.factors for f in t)
        return list(dict.fromkeys(names))


@dataclass(frozen=True)
class Column:
    """One design column: its label and the product of its parts; a part is (source column,
    level index) for an indicator of a coded column, (source column, None) for a number, or
    (basis factor, column index) for a column of a ``Basis``."""

    label: str
    parts: tuple[tuple[str, int | None], ...]


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


def design_spec(covariates: Sequence[str] | str, reference: Mapping[str, Any] | None) -> DesignSpec:
    """Parse ``covariates`` and check that every ``reference`` names a covariate."""
    term_factors = parse_covariates(covariates)
    forced = {
        m.group("name").strip()
        for factors in term_factors
        for f in factors
        if (m := CATEGORICAL_WRAPPER.match(f))
    }
    factors = tuple(tuple(_strip_wrapper(f) for f in term) for term in term_factors)
    bases = {f: basis for term in factors for f in term if (basis := _basis(f)) is not None}
    reference_text = {k: str(v) for k, v in (reference or {}).items()}
    spec = DesignSpec(factors, frozenset(forced), reference_text, bases)
    unknown = set(spec.reference) - set(spec.sources)
    if unknown:
        raise ModelError(
            f"reference given for {sorted(unknown)}, which are not covariates; "
            f"covariates are {spec.sources}."
        )
    return spec


def _basis(factor: str) -> tuple[str, Basis] | None:
    """(source column, basis) of a factor written ``name(column, arguments)`` with a known
    ``name``; None for a plain column."""
    called = _FUNCTION.match(factor)
    if called is not None and called.group("function") in BASIS_PARSERS:
        return BASIS_PARSERS[called.group("function")](factor)
    match = BASIS_CALL.match(factor)
    if match is None or match.group("function") not in BASES:
        return None
    text = (match.group("arguments") or ",").lstrip(",")
    try:
        arguments = tuple(float(a) for a in text.split(",") if a.strip())
    except ValueError as exc:
        raise ModelError(f"term {factor!r}: its arguments must be numbers.") from exc
    return match.group("source").strip(), BASES[match.group("function")](arguments)


def _strip_wrapper(factor: str) -> str:
    match = CATEGORICAL_WRAPPER.match(factor)
    return match.group("name").strip() if match else factor


def refuse_numeric_reference(spec: DesignSpec, coded: Sequence[str]) -> None:
    """A reference level for a covariate that enters as a number would be silently ignored."""
    numeric = [name for name in spec.reference if name not in coded]
    if numeric:
        raise ModelError(
            f"reference given for numeric covariate(s) {numeric}, which enter the model as "
            f"numbers (no levels, no reference). To treat the values as levels write "
            f"C({numeric[0]}); otherwise drop the reference."
        )


def order_levels(
    name: str,
    present: set[str],
    *,
    declared: Sequence[str] | None,
    numeric: bool,
    reference: str | None,
    check: bool = True,
) -> tuple[str, ...]:
    """The levels of a coded column, reference first, as the engines code them.

    ``present``: the values that occur (as text); ``declared``: the column's own level order
    (an Enum's categories, a pandas categorical's, Boolean's False/True), if any; otherwise
    numbers sort numerically and text alphabetically. ``check`` refuses a declared level
    without rows and a column with fewer than two levels.
    """
    if declared is not None:
        levels = list(declared)
    elif numeric:
        levels = sorted(present, key=float)
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
    return tuple(levels)


def design_columns(
    spec: DesignSpec, levels: Mapping[str, tuple[str, ...]]
) -> tuple[list[Column], dict[str, tuple[int, ...]]]:
    """Every design column of ``spec`` (``levels``: those of the coded columns; its bases
    fitted) and, per model term, the indices of its columns (R's ``assign``). Refuses two
    columns of one name (``rcs(x)`` beside ``x``: both give a column ``x``)."""
    columns: list[Column] = []
    assign: dict[str, tuple[int, ...]] = {}
    for factors in spec.factors:
        expanded: list[Column] = [Column("", ())]
        for factor in factors:
            if factor in spec.bases:
                labels = spec.bases[factor][1].labels(factor)
                options: list[tuple[str, int | None]] = [(lb, k) for k, lb in enumerate(labels)]
            elif factor in levels:
                options = [(f"{factor}[{lv}]", k) for k, lv in enumerate(levels[factor]) if k > 0]
            else:
                options = [(factor, None)]
            expanded = [
                Column(f"{c.label}:{opt}" if c.label else opt, (*c.parts, (factor, code)))
                for c in expanded
                for opt, code in options
            ]
        start = len(columns)
        columns.extend(expanded)
        assign[":".join(factors)] = tuple(range(start, len(columns)))
    labels = [c.label for c in columns]
    if len(set(labels)) < len(labels):
        twice = sorted({label for label in labels if labels.count(label) > 1})
        raise ModelError(f"coefficient(s) {twice} would appear twice; drop the repeated term.")
    return columns, assign


def refuse_coded_basis(factor: str, source: str) -> None:
    """A basis (``rcs(...)``) of a column coded as levels."""
    raise ModelError(
        f"term {factor!r} needs a numeric column; {source!r} is coded (text, categories or "
        "C(...)): the column must be numeric for a spline or other basis."
    )


def refuse_constant_column(label: str, value: float) -> None:
    """A design column with one value cannot be estimated."""
    raise ModelError(
        f"term {label!r} is constant (every row used equals {value:g}); remove it or check the "
        "data — a Cox model cannot estimate it."
    )


def refuse_non_finite(name: str, count: int, first_row: int) -> None:
    """NaN or infinite values in a numeric covariate."""
    raise ModelError(
        f"column {name!r} has {count} NaN or infinite value(s) (first at row {first_row} after "
        "dropping missing rows); fix them or set them to null (missing)."
    )
