"""The data dictionary: canonical variables, their units, ranges and codes.

Loaded from ``cohortcalc/data_dictionary/dictionary.yaml`` (shipped as package data, and
reachable from the repository top level as ``data_dictionary/``), or from a path you give.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from cohortcalc.errors import DictionaryError
from cohortcalc.safe_yaml import load_yaml_file
from cohortcalc.units import canonical_unit_spelling, conversion_factor

VariableType = Literal["string", "float", "int", "bool", "date", "category"]
Bound = float | dt.date


class Variable(BaseModel):
    """One canonical variable: its type, unit, accepted source units, ranges and codes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: VariableType
    description: str
    citation: str
    table: str = ""
    required: bool = False
    defines_row: bool = False
    unit: str | None = None
    analyte: str | None = None
    source_units: tuple[str, ...] = ()
    hard_range: tuple[Bound, Bound] | None = None
    soft_range: tuple[Bound, Bound] | None = None
    codes: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Variable:
        if self.type == "category" and not self.codes:
            raise ValueError(f"{self.name}: a category needs its codes")
        for unit in self.source_units:
            conversion_factor(self.analyte, unit, self.unit or unit)  # raises if unknown
        for label, bounds in (("hard_range", self.hard_range), ("soft_range", self.soft_range)):
            if bounds is not None and bounds[0] > bounds[1]:  # type: ignore[operator]
                raise ValueError(f"{self.name}: {label} lower bound exceeds the upper")
        return self

    def factor_from(self, unit: str) -> float:
        """Multiply a value in ``unit`` by this to get the canonical unit."""
        accepted = {canonical_unit_spelling(u) for u in self.source_units}
        accepted.add(canonical_unit_spelling(self.unit or ""))
        if canonical_unit_spelling(unit) not in accepted:
            raise DictionaryError(
                f"{self.table}.{self.name}: unit {unit!r} is not accepted; accepted units: "
                f"{sorted(accepted)}. Fix the unit in the mapping, or add it to "
                "source_units in data_dictionary/dictionary.yaml (with a factor in units.py)."
            )
        return conversion_factor(self.analyte, unit, self.unit or unit)


class Table(BaseModel):
    """A canonical table: its variables and its key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str
    primary_key: str | tuple[str, ...]
    parent: str | None = None
    variables: tuple[Variable, ...]

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The primary-key columns as a tuple."""
        key = self.primary_key
        return (key,) if isinstance(key, str) else key

    @property
    def names(self) -> tuple[str, ...]:
        """Variable names in dictionary order."""
        return tuple(v.name for v in self.variables)

    @property
    def row_defining(self) -> frozenset[str]:
        """Variables without which a row means nothing: the key and ``defines_row`` ones.

        A problem with one of these quarantines the row; with any other, only the value.
        """
        return frozenset(self.key_columns) | {v.name for v in self.variables if v.defines_row}

    def variable(self, name: str) -> Variable:
        """The variable called ``name``; ``DictionaryError`` if the table has none."""
        for var in self.variables:
            if var.name == name:
                return var
        raise DictionaryError(
            f"no variable {name!r} in this table; variables: {list(self.names)}. "
            "Check the spelling against data_dictionary/README.md."
        )


class DataDictionary(BaseModel):
    """All canonical tables and variables, with the dictionary's version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dictionary_version: str
    tables: dict[str, Table]

    @model_validator(mode="before")
    @classmethod
    def _fill_table_names(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and isinstance(raw.get("tables"), dict):
            for table_name, table in raw["tables"].items():
                for var in (table or {}).get("variables") or []:
                    if isinstance(var, dict):
                        var.setdefault("table", table_name)
        return raw

    @model_validator(mode="after")
    def _keys_are_variables(self) -> DataDictionary:
        for table_name, table in self.tables.items():
            missing = [k for k in table.key_columns if k not in table.names]
            if missing:
                raise ValueError(f"{table_name}: key columns {missing} are not variables")
        return self

    @property
    def version(self) -> str:
        """The dictionary version (``dictionary_version`` in the YAML)."""
        return self.dictionary_version

    def table(self, name: str) -> Table:
        """The table called ``name``; ``DictionaryError`` if there is none."""
        if name not in self.tables:
            raise DictionaryError(
                f"no canonical table {name!r}; tables: {sorted(self.tables)}. "
                "Use one of these names in the mapping."
            )
        return self.tables[name]

    def variable(self, table: str, name: str) -> Variable:
        """The variable ``table.name``."""
        try:
            return self.table(table).variable(name)
        except DictionaryError as err:
            raise DictionaryError(f"{table}: {err}") from None


def dictionary_path() -> Path:
    """Where the shipped dictionary YAML lives (works for editable and wheel installs)."""
    return Path(str(resources.files("cohortcalc") / "data_dictionary" / "dictionary.yaml"))


def load_dictionary(path: str | Path | None = None) -> DataDictionary:
    """Load and check the data dictionary (the shipped one unless ``path`` is given)."""
    source = Path(path) if path is not None else dictionary_path()
    raw, _ = load_yaml_file(source, DictionaryError, what="data dictionary")
    try:
        return DataDictionary.model_validate(raw)
    except (ValidationError, DictionaryError) as err:
        raise DictionaryError(
            f"{source}: the data dictionary is malformed: {err}. Fix the YAML."
        ) from err


def render_markdown(dictionary: DataDictionary) -> str:
    """The human page (data_dictionary/README.md) generated from the dictionary."""
    lines = [
        "# cohortcalc data dictionary",
        "",
        f"Version {dictionary.version}. Generated from `dictionary.yaml` by "
        "`cohortcalc dictionary --markdown`; do not edit by hand.",
        "",
        "Hard range: values outside are impossible; the value is nulled and listed in the "
        "store's `_issues/` (or, for a variable marked †, which defines the row, the row is "
        "quarantined). Soft range: values outside are implausible, kept, and reported. Ranges "
        "are in the canonical unit. **Bold**: required (the mapping must provide it).",
    ]
    for name, table in dictionary.tables.items():
        key = ", ".join(table.key_columns)
        lines += ["", f"## {name}", "", f"{table.description} Key: `{key}`.", ""]
        lines += [
            "| variable | type | unit | accepted units | hard range | soft range | codes "
            "| description | citation |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        lines += [_markdown_row(var) for var in table.variables]
    return "\n".join(lines) + "\n"


def _markdown_row(var: Variable) -> str:
    def bounds(pair: tuple[Bound, Bound] | None) -> str:
        return "" if pair is None else f"{pair[0]} – {pair[1]}"

    name = f"**{var.name}**" if var.required else var.name
    name += " †" if var.defines_row else ""
    cells = [
        name,
        var.type,
        var.unit or "",
        ", ".join(var.source_units),
        bounds(var.hard_range),
        bounds(var.soft_range),
        ", ".join(var.codes),
        var.description,
        var.citation,
    ]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"
