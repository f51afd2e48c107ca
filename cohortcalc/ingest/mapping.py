"""The mapping of one study's files onto the canonical tables (a YAML file, schema-checked).

Example (every key is documented in ``cohortcalc/ingest/mappings/synthetic_study.yaml``)::

    mapping_version: "1.0"
    study: my_study
    missing_codes: [-9, 999, "."]
    on_row_error: error            # or quarantine: unparseable values, bad units, duplicates
    sources:
      - file: baseline.csv          # relative to the mapping file
        table: participants
        constants: {site: "A"}
        columns:
          participant_id: SUBJID
          sex: {column: SEX, codes: {1: male, 2: female}}
          serum_calcium: {column: CA, unit_column: CA_UNIT}
          serum_creatinine: {column: CREAT, unit_by: {column: CENTER, units: {A: umol/L}}}
          baseline_date: {column: VISIT, date_format: "%d/%m/%Y"}
      - file: labs.dta              # more columns of the same table, one row per key
        table: participants
        role: columns               # joined on the table's key; default role: rows
        columns: {participant_id: SUBJID, serum_phosphate: PHOS}

Sources with ``role: rows`` (the default) are stacked; ``role: columns`` sources add
variables to those rows by the table's primary key. Errors name the key and its line in the
mapping file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cohortcalc.dictionary import DataDictionary
from cohortcalc.errors import DictionaryError, IngestError
from cohortcalc.safe_yaml import Location, line_of, load_yaml_file

FileFormat = Literal["csv", "tsv", "parquet", "sas7bdat", "xpt", "dta", "sav", "xlsx"]
RowErrorPolicy = Literal["error", "quarantine"]
ValueErrorPolicy = Literal["null", "quarantine"]
DEFAULT_MAX_LOSS = 0.02
#: Required variables ingest derives when no source maps them (see ingest/tables.py).
DERIVABLE: dict[str, tuple[str, ...]] = {"cac_lesions": ("lesion_id",), "followup": ("end_reason",)}
Scalar = str | int | float | bool

SUFFIX_FORMATS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".sas7bdat": "sas7bdat",
    ".xpt": "xpt",
    ".dta": "dta",
    ".sav": "sav",
    ".zsav": "sav",
    ".xlsx": "xlsx",
}


def code_key(value: Any) -> str:
    """The string a source code is compared by: ``1``, ``1.0`` and ``"1"`` all give ``"1"``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


class UnitBy(BaseModel):
    """Units that differ by the value of another column (e.g. by site)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str
    units: dict[str, str]

    @field_validator("units", mode="before")
    @classmethod
    def _string_keys(cls, value: Any) -> Any:
        return {code_key(k): v for k, v in value.items()} if isinstance(value, dict) else value


class ColumnSpec(BaseModel):
    """How one canonical column is read from a source column."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str
    unit: str | None = None
    unit_column: str | None = None
    unit_by: UnitBy | None = None
    codes: dict[str, str | bool] | None = None
    missing_codes: tuple[Scalar, ...] | None = None
    date_format: str | None = None

    @field_validator("codes", mode="before")
    @classmethod
    def _string_keys(cls, value: Any) -> Any:
        return {code_key(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _one_unit_rule(self) -> ColumnSpec:
        given = [k for k in ("unit", "unit_column", "unit_by") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give only one of unit, unit_column, unit_by (got {given})")
        return self


class SourceSpec(BaseModel):
    """One source file and how its columns feed one canonical table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    table: str
    role: Literal["rows", "columns"] = "rows"
    format: FileFormat | None = None
    encoding: str | None = None
    delimiter: str | None = None
    decimal: Literal[".", ","] = "."
    sheet: str | int | None = None
    missing_codes: tuple[Scalar, ...] | None = None
    on_row_error: RowErrorPolicy | None = None
    on_value_error: ValueErrorPolicy | None = None
    max_loss: float | None = Field(default=None, ge=0, le=1)
    constants: dict[str, Scalar] = Field(default_factory=dict)
    columns: dict[str, ColumnSpec]

    @field_validator("columns", mode="before")
    @classmethod
    def _expand_short_form(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {k: {"column": v} if isinstance(v, str) else v for k, v in value.items()}

    @property
    def file_format(self) -> FileFormat:
        """The format given, or the one the file suffix implies."""
        if self.format is not None:
            return self.format
        suffix = Path(self.file).suffix.lower()
        if suffix not in SUFFIX_FORMATS:
            raise ValueError(
                f"cannot tell the format of {self.file!r} from its suffix; add format: "
                f"(one of {sorted(set(SUFFIX_FORMATS.values()))})"
            )
        return SUFFIX_FORMATS[suffix]

    def column(self, name: str) -> ColumnSpec:
        """The spec of canonical column ``name`` (short forms expanded)."""
        return self.columns[name]


class Mapping(BaseModel):
    """A study's mapping: its sources and the defaults they share."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mapping_version: str
    study: str
    missing_codes: tuple[Scalar, ...] = ()
    on_row_error: RowErrorPolicy = "error"
    on_value_error: ValueErrorPolicy = "null"
    max_loss: float = Field(default=DEFAULT_MAX_LOSS, ge=0, le=1)
    sources: tuple[SourceSpec, ...] = Field(min_length=1)

    def missing_codes_for(self, source: SourceSpec, column: ColumnSpec) -> tuple[Scalar, ...]:
        """Column codes override source codes, which override the mapping's."""
        for codes in (column.missing_codes, source.missing_codes):
            if codes is not None:
                return codes
        return self.missing_codes

    def row_error_policy(self, source: SourceSpec) -> RowErrorPolicy:
        """The source's policy, else the mapping's."""
        return source.on_row_error or self.on_row_error

    def value_error_policy(self, source: SourceSpec) -> ValueErrorPolicy:
        """``null`` (the value is nulled and listed in ``_issues/``) or ``quarantine`` (the row)."""
        return source.on_value_error or self.on_value_error

    def max_loss_for(self, source: SourceSpec) -> float:
        """The share of a source's rows, or of one column's values, it may lose to problems."""
        return self.max_loss if source.max_loss is None else source.max_loss


def builtin_mappings() -> dict[str, Path]:
    """The mappings shipped with cohortcalc (``cohortcalc/ingest/mappings/*.yaml``) by name."""
    folder = Path(str(resources.files("cohortcalc") / "ingest" / "mappings"))
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def resolve_mapping(mapping: str | Path) -> Path:
    """A mapping file path: ``mapping`` itself, or the shipped mapping of that name."""
    path = Path(mapping)
    if path.is_file():
        return path
    shipped = builtin_mappings()
    if str(mapping) in shipped:
        return shipped[str(mapping)]
    raise IngestError(
        f"{mapping}: no such mapping file, and no shipped mapping of that name (shipped: "
        f"{sorted(shipped)}). Give the path of your study's mapping YAML."
    )


def load_mapping(path: str | Path, dictionary: DataDictionary) -> Mapping:
    """Read, schema-check and dictionary-check a mapping file.

    Raises ``IngestError`` naming the file, the key and its line, and what to do.
    """
    path = Path(path)
    raw, root = load_yaml_file(path, IngestError, what="mapping file")  # root: lines by key
    try:
        mapping = Mapping.model_validate(raw)
    except ValidationError as err:
        problems = [
            f"line {_line_of(root, tuple(e['loc']))}: key {_dotted(tuple(e['loc']))}: {e['msg']}"
            for e in err.errors()
        ]
        raise IngestError(_problems_message(path, problems)) from err
    problems = []
    for index, source in enumerate(mapping.sources):
        for check in (check_source, lambda s, d: check_table_coverage(mapping, s, d)):
            try:
                check(source, dictionary)
            except (ValueError, DictionaryError) as err:
                loc: tuple[Any, ...] = ("sources", index, *getattr(err, "loc", ()))
                problems.append(f"line {_line_of(root, loc)}: key {_dotted(loc)}: {err}")
    if problems:
        raise IngestError(_problems_message(path, problems))
    return mapping


def _problems_message(path: Path, problems: list[str]) -> str:
    """Every problem of a mapping file, each with its line (one per line when several)."""
    if len(problems) == 1:
        return f"{path}, {problems[0]}. Fix this key (docs/mapping.md lists every key)."
    listed = "\n".join(f"  - {p}" for p in dict.fromkeys(problems))
    return (
        f"{path}: {len(problems)} problems; fix each key (docs/mapping.md lists every key):\n"
        f"{listed}"
    )


def check_table_coverage(mapping: Mapping, source: SourceSpec, dictionary: DataDictionary) -> None:
    """The source's table gets rows, its required variables and unique file names."""
    table = dictionary.table(source.table)
    siblings = [s for s in mapping.sources if s.table == source.table]
    if [s.file for s in mapping.sources].count(source.file) > 1:
        raise _KeyedError(f"{source.file!r} is mapped twice; map each file once", "file")
    if not any(s.role == "rows" for s in siblings):
        raise _KeyedError(f"no source of {source.table} has role: rows", "role")
    provided = {n for s in siblings for n in (*s.columns, *s.constants)}
    derivable = DERIVABLE.get(source.table, ())
    absent = [
        v.name
        for v in table.variables
        if v.required and v.name not in provided and v.name not in derivable
    ]
    if absent and source is siblings[0]:  # said once per table, at its first source
        raise _KeyedError(f"required variable(s) {absent} of {source.table} are not mapped")
    if source.role == "columns":
        missing_key = [k for k in table.key_columns if k not in source.columns]
        if missing_key:
            raise _KeyedError(f"a role: columns source must map the key {missing_key}", "role")
        others = {n for s in siblings if s is not source for n in (*s.columns, *s.constants)}
        shared = sorted((set(source.columns) & others) - set(table.key_columns))
        if shared:
            raise _KeyedError(f"variable(s) {shared} are also mapped by another source", "columns")


class _KeyedError(ValueError):
    def __init__(self, message: str, *loc: Any) -> None:
        super().__init__(message)
        self.loc = loc


def check_source(source: SourceSpec, dictionary: DataDictionary) -> None:
    """Check a source against the dictionary: table, columns, units and codes exist."""
    try:
        _ = source.file_format
        table = dictionary.table(source.table)
    except (ValueError, DictionaryError) as err:
        raise _KeyedError(str(err), "table" if "table" in str(err) else "file") from None
    for name in [*source.columns, *source.constants]:
        if name not in table.names:
            where = "columns" if name in source.columns else "constants"
            raise _KeyedError(
                f"{source.table} has no variable {name!r}; variables: {list(table.names)}",
                where,
                name,
            )
    for name, spec in source.columns.items():
        var = table.variable(name)
        units = [spec.unit] if spec.unit else []
        units += list(spec.unit_by.units.values()) if spec.unit_by else []
        for unit in units:
            try:
                var.factor_from(unit)
            except DictionaryError as err:
                raise _KeyedError(str(err), "columns", name) from None
        allowed = set(var.codes) if var.type == "category" else {True, False}
        bad = [v for v in (spec.codes or {}).values() if v not in allowed]
        if spec.codes and var.type in ("category", "bool") and bad:
            raise _KeyedError(
                f"code(s) {bad} are not allowed for {name}; allowed: {sorted(map(str, allowed))}",
                "columns",
                name,
                "codes",
            )


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc) or "(top level)"


def _line_of(root: dict[Location, int], loc: tuple[Any, ...]) -> int:
    """1-based line of the deepest key of ``loc`` that exists in the YAML file (``root``:
    the line of every key path, from ``load_yaml_file``); keys compare as text, as the
    schema turns code keys ``1`` into ``"1"``."""
    by_text = {tuple(str(part) for part in path): line for path, line in root.items()}
    return line_of(by_text, tuple(str(part) for part in loc)) or 1
