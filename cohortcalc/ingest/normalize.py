"""Normalize one source: rename, cast, convert units, map codes, parse dates. Nothing else.

Every value that cannot be normalized becomes null and sets a boolean reason flag column
(``_flag:unparseable:<column>``, ``_flag:unparseable_date:<column>``,
``_flag:unknown_unit:<column>``), so the validator can quarantine the row or the ingest can stop
with the row named. Flags are booleans, not lists, because they are cheap to compute and count;
the list of reasons is built only for quarantined rows (``reason_list``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl

from cohortcalc.dictionary import Table, Variable
from cohortcalc.errors import IngestError
from cohortcalc.ingest.mapping import ColumnSpec, Mapping, Scalar, SourceSpec, code_key
from cohortcalc.ingest.readers import SOURCE_ROW, TextTypes
from cohortcalc.units import UNIT_ALIASES, canonical_unit_spelling

SOURCE_FILE = "_source_file"
REASONS = "_reasons"
FLAG = "_flag:"
ORIGINAL = "_orig:"  # the source text of a value with a problem
MISSING = "_miss:"  # true where a missing code was replaced by null
PARSE_REASONS = ("unparseable:", "unparseable_date:", "unknown_unit:")
DEFAULT_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d", "%Y%m%d")
BOOL_CODES: dict[str, bool] = {
    "1": True,
    "0": False,
    "true": True,
    "false": False,
    "yes": True,
    "no": False,
    "y": True,
    "n": False,
}
POLARS_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "category": pl.String(),
    "float": pl.Float64(),
    "int": pl.Int64(),
    "bool": pl.Boolean(),
    "date": pl.Date(),
}


def flag_columns(frame: pl.LazyFrame) -> list[str]:
    """The reason flag columns of ``frame``."""
    return [c for c in frame.collect_schema().names() if c.startswith(FLAG)]


def any_flag(flags: list[str]) -> pl.Expr:
    """True where any of ``flags`` is set (the row is to be quarantined)."""
    return pl.any_horizontal(flags).fill_null(False) if flags else pl.lit(False)


def reason_list(flags: list[str]) -> pl.Expr:
    """``_reasons``: the names of the flags set in each row (a list of strings)."""
    if not flags:
        return pl.lit([], pl.List(pl.String)).alias(REASONS)
    named = [pl.when(pl.col(f)).then(pl.lit(f.removeprefix(FLAG))) for f in flags]
    return pl.concat_list(named).list.drop_nulls().alias(REASONS)


@dataclass(frozen=True)
class ColumnPlan:
    """How one canonical column is computed, in three stages over temporary columns.

    ``clean``: the source value with missing codes nulled (as text for codes); ``parsed``:
    typed value computed from ``clean``; ``factor``: per-row unit factor (optional). Staging
    lets every expression run once: the reason flags reuse the stage columns.
    """

    clean: pl.Expr
    parsed: pl.Expr | None = None
    factor: pl.Expr | None = None
    parse_reason: str | None = None


def normalize_source(
    raw: pl.LazyFrame, source: SourceSpec, mapping: Mapping, table: Table, file_label: str
) -> pl.LazyFrame:
    """The source's mapped columns in canonical names, types and units, with reason flags.

    Besides the flags: ``_orig:<column>``, the source text of every value with a problem
    (null elsewhere), and ``_miss:<column>``, true where a missing code was replaced by null.
    """
    schema = raw.collect_schema()
    _check_columns_present(schema, source, file_label)
    plans: dict[str, ColumnPlan] = {}
    hits: dict[str, pl.Expr] = {}
    constants: dict[str, pl.Expr] = {}
    for var in table.variables:
        if var.name in source.columns:
            spec = source.column(var.name)
            missing = mapping.missing_codes_for(source, spec)
            plans[var.name] = _plan_column(var, spec, schema, missing, source.decimal)
            hit = missing_code_hit(pl.col(spec.column), schema[spec.column], missing)
            if hit is not None:
                hits[f"{MISSING}{var.name}"] = hit
        elif var.name in source.constants:
            constants[var.name] = pl.lit(source.constants[var.name])
    first = {f"_c:{n}": p.clean for n, p in plans.items()}
    first |= {f"_u:{n}": p.factor for n, p in plans.items() if p.factor is not None}
    first |= hits
    staged = raw.select(*(e.alias(k) for k, e in first.items()), SOURCE_ROW)
    second = {f"_p:{n}": p.parsed for n, p in plans.items() if p.parsed is not None}
    staged = staged.with_columns(e.alias(k) for k, e in second.items())
    values, flags, originals = [], [], []
    for var in table.variables:
        if var.name in constants:
            values.append(constants[var.name].cast(POLARS_TYPES[var.type]).alias(var.name))
        if var.name not in plans:
            continue
        value, column_flags = _value_and_flags(var, plans[var.name])
        values.append(value.alias(var.name))
        flags += [flag.alias(f"{FLAG}{reason}:{var.name}") for reason, flag in column_flags]
        if column_flags:
            problem = pl.any_horizontal([f for _, f in column_flags]).fill_null(False)
            text = pl.col(f"_c:{var.name}").cast(pl.String)
            originals.append(pl.when(problem).then(text).alias(f"{ORIGINAL}{var.name}"))
    return staged.select(
        *values,
        pl.lit(file_label).alias(SOURCE_FILE),
        pl.col(SOURCE_ROW).cast(pl.Int64),
        *flags,
        *originals,
        *hits,
    )


def _value_and_flags(var: Variable, plan: ColumnPlan) -> tuple[pl.Expr, list[tuple[str, pl.Expr]]]:
    """A column's canonical value and its value checks: parse, unit, hard range, code."""
    name = var.name
    value = pl.col(f"_p:{name}") if plan.parsed is not None else pl.col(f"_c:{name}")
    checks: list[tuple[str, pl.Expr]] = []
    if plan.parse_reason is not None:
        checks.append((plan.parse_reason, pl.col(f"_c:{name}").is_not_null() & value.is_null()))
    if plan.factor is not None:
        checks.append(("unknown_unit", value.is_not_null() & pl.col(f"_u:{name}").is_null()))
        value = value * pl.col(f"_u:{name}")
    value = value.cast(POLARS_TYPES[var.type])
    if var.hard_range is not None:
        checks.append(("hard_range", outside_range(value, var.hard_range)))
    if var.type == "category":
        checks.append(("invalid_code", value.is_not_null() & ~value.is_in(list(var.codes))))
    return value, checks


def outside_range(value: pl.Expr, bounds: tuple[Any, Any]) -> pl.Expr:
    """True where ``value`` lies outside the inclusive ``bounds`` (dates or numbers)."""

    def bound(edge: Any) -> pl.Expr:
        return pl.lit(edge, pl.Date) if isinstance(edge, dt.date) else pl.lit(float(edge))

    return (value < bound(bounds[0])) | (value > bound(bounds[1]))


def text_types(source: SourceSpec, mapping: Mapping, table: Table) -> TextTypes:
    """Columns a CSV reader may parse as numbers directly, with each one's text null code.

    Only number columns without a text missing code qualify (a code the reader nulled could
    not be counted); numeric missing codes are nulled after parsing, as usual.
    """
    unit_columns = {s.unit_column for s in source.columns.values()}
    unit_columns |= {s.unit_by.column for s in source.columns.values() if s.unit_by}
    dtypes: dict[str, pl.DataType] = {}
    nulls: dict[str, str] = {}
    for name, spec in source.columns.items():
        if table.variable(name).type not in ("float", "int") or spec.column in unit_columns:
            continue
        if source.decimal != ".":
            continue
        texts = [code_key(c) for c in mapping.missing_codes_for(source, spec) if not _is_number(c)]
        if texts:  # read as text, so each replaced code is counted (``_miss:``)
            continue
        dtypes[spec.column] = pl.Float64()
    return dtypes, nulls


def _check_columns_present(schema: pl.Schema, source: SourceSpec, file_label: str) -> None:
    for name in source.columns:
        spec = source.column(name)
        needed = [spec.column, spec.unit_column, spec.unit_by.column if spec.unit_by else None]
        for column in filter(None, needed):
            if column not in schema:
                available = [c for c in schema.names() if c != SOURCE_ROW]
                raise IngestError(
                    f"{file_label}: column {column!r} (mapped to {source.table}.{name}) is not in "
                    f"the file; its columns are {available}. Fix the column name in the mapping "
                    "or export the column."
                )


def _plan_column(
    var: Variable,
    spec: ColumnSpec,
    schema: pl.Schema,
    missing: tuple[Scalar, ...],
    decimal: str = ".",
) -> ColumnPlan:
    dtype = schema[spec.column]
    raw = _without_missing(pl.col(spec.column), dtype, missing)
    clean = pl.col(f"_c:{var.name}")
    if var.type in ("float", "int"):
        number = clean.str.replace(",", ".", literal=True) if decimal == "," else clean
        return ColumnPlan(
            raw,
            _parse_number(number if dtype == pl.String else clean, dtype, var.type),
            _unit_factor(var, spec, schema),
            "unparseable",
        )
    if var.type == "date":
        return ColumnPlan(
            raw, _parse_date(clean, dtype, spec.date_format), None, "unparseable_date"
        )
    text = _as_code_text(raw, dtype)
    if var.type == "bool":
        codes = {k.lower(): v for k, v in (spec.codes or BOOL_CODES).items()}
        parsed = lookup(clean.str.to_lowercase(), codes, pl.lit(None, pl.Boolean), pl.Boolean)
        return ColumnPlan(text, parsed, None, "invalid_code")
    if spec.codes:  # unmapped codes are kept, and fail the code check
        return ColumnPlan(text, lookup(clean, spec.codes, clean, pl.String))
    return ColumnPlan(text)


def lookup(value: pl.Expr, table: dict[str, Any], default: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """``table[value]`` per row, else ``default``: a when/then chain.

    Not ``Expr.replace``/``replace_strict``: the streaming engine runs those on whole columns,
    which holds every column of the source in memory; a when/then chain runs batch by batch.
    """
    if not table:
        return default
    (first, first_value), *rest = table.items()
    chain = pl.when(value == first).then(pl.lit(first_value, dtype))
    for key, result in rest:
        chain = chain.when(value == key).then(pl.lit(result, dtype))
    return chain.otherwise(default)


def _without_missing(column: pl.Expr, dtype: pl.DataType, missing: tuple[Scalar, ...]) -> pl.Expr:
    numbers = [float(c) for c in missing if _is_number(c)]
    if dtype == pl.String:
        texts = {code_key(c) for c in missing} | {f"{n:.1f}" for n in numbers} | {""}
        stripped = column.str.strip_chars()
        return pl.when(stripped.is_in(sorted(texts))).then(None).otherwise(stripped)
    if dtype.is_numeric() and numbers:
        return pl.when(column.cast(pl.Float64).is_in(numbers)).then(None).otherwise(column)
    return column


def missing_code_hit(
    column: pl.Expr, dtype: pl.DataType, missing: tuple[Scalar, ...]
) -> pl.Expr | None:
    """True where the source value is one of the missing codes (a blank is not a code)."""
    numbers = [float(c) for c in missing if _is_number(c)]
    if dtype == pl.String and missing:
        texts = {code_key(c) for c in missing} | {f"{n:.1f}" for n in numbers}
        return column.str.strip_chars().is_in(sorted(texts - {""})).fill_null(False)
    if dtype.is_numeric() and numbers:
        return column.cast(pl.Float64).is_in(numbers).fill_null(False)
    return None


def _is_number(code: Scalar) -> bool:
    if isinstance(code, bool):
        return False
    try:
        float(code)
    except ValueError:
        return False
    return True


def _as_code_text(raw: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Codes as text: numeric 1.0 and 1, and the texts "1.0" and "1", all become "1"."""
    if dtype == pl.String:
        return raw.str.strip_suffix(".0")
    if dtype.is_float():
        integral = raw == raw.floor()
        return pl.when(integral).then(raw.cast(pl.Int64).cast(pl.String)).otherwise(raw.cast(str))
    return raw.cast(pl.String)


def _parse_number(clean: pl.Expr, dtype: pl.DataType, kind: str) -> pl.Expr:
    if dtype == pl.String:
        parsed = clean.cast(pl.Float64, strict=False)
        parsed = pl.when(parsed.is_finite()).then(parsed)
    elif dtype.is_float():
        parsed = pl.when(clean.is_finite()).then(clean)
    elif dtype.is_numeric() or dtype == pl.Boolean:
        parsed = clean.cast(pl.Float64)
    else:
        parsed = pl.lit(None, pl.Float64)
    if kind == "int":
        parsed = pl.when(parsed == parsed.floor()).then(parsed)
    return parsed


def _unit_factor(var: Variable, spec: ColumnSpec, schema: pl.Schema) -> pl.Expr | None:
    """Per-row factor to the canonical unit (null where the row's unit is unknown)."""
    if spec.unit is not None:
        factor = var.factor_from(spec.unit)
        return None if factor == 1.0 else pl.lit(factor)
    if spec.unit_by is not None:
        by_code = {code: var.factor_from(unit) for code, unit in spec.unit_by.units.items()}
        site = _as_code_text(pl.col(spec.unit_by.column), schema[spec.unit_by.column])
        return lookup(site.str.strip_chars(), by_code, pl.lit(None, pl.Float64), pl.Float64)
    if spec.unit_column is not None:
        accepted = {canonical_unit_spelling(u) for u in (*var.source_units, var.unit or "")}
        spellings = {k: v for k, v in UNIT_ALIASES.items() if v in accepted}
        spellings |= {u.lower().replace(" ", ""): u for u in accepted}
        by_spelling = {s: var.factor_from(u) for s, u in spellings.items()}
        unit_text = pl.col(spec.unit_column).cast(pl.String).str.to_lowercase()
        unit_text = unit_text.str.replace_all(" ", "", literal=True)
        return lookup(unit_text, by_spelling, pl.lit(None, pl.Float64), pl.Float64)
    return None


def _parse_date(clean: pl.Expr, dtype: pl.DataType, date_format: str | None) -> pl.Expr:
    if dtype == pl.Date:
        return clean
    if isinstance(dtype, pl.Datetime):
        return clean.dt.date()
    if dtype == pl.String:
        formats = (date_format,) if date_format else DEFAULT_DATE_FORMATS
        return pl.coalesce(
            [clean.str.strptime(pl.Date, f, strict=False, exact=True) for f in formats]
        )
    return pl.lit(None, pl.Date)


def first_parse_failure(frame: pl.LazyFrame) -> tuple[str, int] | None:
    """(reason, source row) of the first parse failure in a normalized frame, if any."""
    flags = [f for f in flag_columns(frame) if f.removeprefix(FLAG).startswith(PARSE_REASONS)]
    if not flags:
        return None
    hit = frame.filter(any_flag(flags)).select(SOURCE_ROW, reason_list(flags)).head(1).collect()
    if hit.height == 0:
        return None
    return hit[REASONS][0][0], int(hit[SOURCE_ROW][0])
