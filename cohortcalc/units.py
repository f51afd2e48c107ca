"""Unit conversions: one table of factors, each with its source.

A conversion is ``canonical = source * factor``. Factors for amounts of substance follow from
the molar mass (mg/dL = mmol/L x M / 10). Variables name their analyte in the data dictionary;
the analyte picks the row of this table, so e.g. calcium and phosphate never share a factor.
"""

from __future__ import annotations

from dataclasses import dataclass

from cohortcalc.errors import DictionaryError


@dataclass(frozen=True)
class UnitConversion:
    """``to_unit = from_unit * factor`` for one analyte, with the source of the factor."""

    analyte: str
    from_unit: str
    to_unit: str
    factor: float
    source: str


_TIETZ = "Burtis CA, Bruns DE. Tietz Fundamentals of Clinical Chemistry, 7th ed., 2015, SI table"
_IUPAC = "IUPAC atomic weights (CIAAW 2021)"

CONVERSIONS: tuple[UnitConversion, ...] = (
    UnitConversion("calcium", "mmol/L", "mg/dL", 4.008, f"molar mass Ca 40.08 g/mol; {_IUPAC}"),
    UnitConversion("calcium", "mEq/L", "mg/dL", 2.004, f"Ca2+ valence 2, 40.08/2; {_IUPAC}"),
    UnitConversion("phosphate", "mmol/L", "mg/dL", 3.097, f"as P, 30.97 g/mol; {_IUPAC}"),
    UnitConversion(
        "creatinine", "µmol/L", "mg/dL", 1 / 88.40, f"C4H7N3O 113.12 g/mol: 88.40; {_TIETZ}"
    ),
    UnitConversion("creatinine", "mmol/L", "mg/dL", 1000 / 88.40, f"1000 µmol/L; {_TIETZ}"),
    UnitConversion(
        "cystatin_c", "nmol/L", "mg/L", 0.01334, "molar mass 13,343 g/mol (UniProt P01034)"
    ),
    UnitConversion("albumin", "g/L", "g/dL", 0.1, "1 dL = 0.1 L (SI definition)"),
    UnitConversion("pth", "pmol/L", "pg/mL", 9.43, f"intact PTH(1-84) 9425 g/mol; {_TIETZ}"),
    UnitConversion(
        "vitamin_d_25oh", "nmol/L", "ng/mL", 1 / 2.496, f"25(OH)D3 400.6 g/mol, 2.496; {_TIETZ}"
    ),
    UnitConversion(
        "alkaline_phosphatase", "µkat/L", "U/L", 60.0, "1 µkat = 60 µmol/min = 60 U (IFCC)"
    ),
    UnitConversion(
        "cholesterol", "mmol/L", "mg/dL", 38.67, f"molar mass 386.65 g/mol, 38.67; {_TIETZ}"
    ),
    UnitConversion(
        "uacr", "mg/mmol", "mg/g", 8.84, "creatinine 113.12 g/mol: 1 mmol = 0.11312 g (KDIGO 2012)"
    ),
    UnitConversion("uacr", "mg/g", "mg/g", 1.0, "canonical unit"),
    UnitConversion("pressure", "kPa", "mmHg", 7.50062, "1 mmHg = 133.322 Pa (ISO 80000-4)"),
    UnitConversion("area", "cm2", "mm2", 100.0, "1 cm = 10 mm (SI definition)"),
    UnitConversion("age", "months", "years", 1 / 12, "12 months per year (definition)"),
)

UNIT_ALIASES: dict[str, str] = {
    "umol/l": "µmol/L",
    "μmol/l": "µmol/L",
    "µmol/l": "µmol/L",
    "micromol/l": "µmol/L",
    "mmol/l": "mmol/L",
    "nmol/l": "nmol/L",
    "pmol/l": "pmol/L",
    "meq/l": "mEq/L",
    "mg/dl": "mg/dL",
    "g/dl": "g/dL",
    "g/l": "g/L",
    "mg/l": "mg/L",
    "pg/ml": "pg/mL",
    "ng/ml": "ng/mL",
    "u/l": "U/L",
    "iu/l": "U/L",
    "ukat/l": "µkat/L",
    "µkat/l": "µkat/L",
    "mg/g": "mg/g",
    "mg/mmol": "mg/mmol",
    "mmhg": "mmHg",
    "kpa": "kPa",
    "mm2": "mm2",
    "mm²": "mm2",
    "cm2": "cm2",
    "cm²": "cm2",
    "hu": "HU",
    "years": "years",
    "year": "years",
    "yr": "years",
    "months": "months",
}


def canonical_unit_spelling(unit: str) -> str:
    """The one spelling used internally for ``unit`` (``"umol/l"`` -> ``"µmol/L"``)."""
    key = unit.strip().replace(" ", "").lower()
    return UNIT_ALIASES.get(key, unit.strip())


def conversion_factor(analyte: str | None, from_unit: str, to_unit: str) -> float:
    """The factor that turns ``from_unit`` into ``to_unit`` for ``analyte``.

    Raises ``DictionaryError`` naming the analyte and the units when no factor is known.
    """
    source, target = canonical_unit_spelling(from_unit), canonical_unit_spelling(to_unit)
    if source == target:
        return 1.0
    for conv in CONVERSIONS:
        if conv.analyte == analyte and conv.from_unit == source and conv.to_unit == target:
            return conv.factor
        if conv.analyte == analyte and conv.from_unit == target and conv.to_unit == source:
            return 1.0 / conv.factor
    known = sorted({c.from_unit for c in CONVERSIONS if c.analyte == analyte} | {target})
    raise DictionaryError(
        f"no conversion from {from_unit!r} to {to_unit!r} for {analyte or 'this variable'}; "
        f"known units: {known}. Fix the unit in the mapping, or add a factor (with its source) "
        "to cohortcalc/units.py."
    )
