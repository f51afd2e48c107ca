"""Model terms, shared by every engine: parse the covariates, order and check the levels of a
coded column, and expand each term into named design columns.

An engine reads a frame and reports, per covariate, whether it is numeric or coded and which
values occur; everything that decides names, coding and refusals is here, once. Coding is R's
``contr.treatment``: a coded column gives one 0/1 column per level but the reference (first)
level, named ``column[level]``; ``a:b`` is the product of the codings of ``a`` and ``b``.

Where a new kind of term plugs in (a spline basis ``rcs(x, k)``, say): ``DesignSpec`` holds
the parsed factors; ``design_columns`` is the one place a term becomes its columns (``Column``:
a label and the product of its parts). A basis adds a part kind whose parameters (knots) an
engine computes once from the data, before the columns are formed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cohortcalc.errors import ModelError

CATEGORICAL_WRAPPER = re.compile(r"^C\((?P<name>[^,()]+)\)$")


@dataclass(frozen=True)
class DesignSpec:
    """The parsed covariates: each term's factors (source column names, wrappers removed),
    the columns forced to be categorical by ``C(...)`` and the requested reference levels."""

    factors: tuple[tuple[str, ...], ...]
    categorical: frozenset[str] = frozenset()
    reference: Mapping[str, str] = field(default_factory=dict)

    @property
    def sources(self) -> list[str]:
        """The source columns, in order of first use."""
        return list(dict.fromkeys(f for factors in self.factors for f in factors))


@dataclass(frozen=True)
class Column:
    """One design column: its label and the product of its parts; a part is (source column,
    level index) for an indicator of a coded column, or (source column, None) for a number."""

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
    spec = DesignSpec(factors, frozenset(forced), {k: str(v) for k, v in (reference or {}).items()})
    unknown = set(spec.reference) - set(spec.sources)
    if unknown:
        raise ModelError(
            f"reference given for {sorted(unknown)}, which are not covariates; "
            f"covariates are {spec.sources}."
        )
    return spec


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
    """Every design column of ``spec`` (``levels``: those of the coded columns) and, per model
    term, the indices of its columns (R's ``assign``)."""
    columns: list[Column] = []
    assign: dict[str, tuple[int, ...]] = {}
    for factors in spec.factors:
        expanded: list[Column] = [Column("", ())]
        for factor in factors:
            options: list[tuple[str, int | None]] = (
                [(factor, None)]
                if factor not in levels
                else [(f"{factor}[{lv}]", k) for k, lv in enumerate(levels[factor]) if k > 0]
            )
            expanded = [
                Column(f"{c.label}:{opt}" if c.label else opt, (*c.parts, (factor, code)))
                for c in expanded
                for opt, code in options
            ]
        start = len(columns)
        columns.extend(expanded)
        assign[":".join(factors)] = tuple(range(start, len(columns)))
    return columns, assign


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
