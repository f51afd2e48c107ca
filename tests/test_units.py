"""Unit conversions: factors follow from molar masses and SI definitions, each has a source."""

from __future__ import annotations

import pytest

from cohortcalc.errors import DictionaryError
from cohortcalc.units import CONVERSIONS, canonical_unit_spelling, conversion_factor

# Molar masses (g/mol) from IUPAC/CIAAW and the analytes' formulas, independent of units.py:
# mg/dL = mmol/L x M / 10.
MOLAR_MASS = {"calcium": 40.078, "phosphate": 30.974, "creatinine": 113.12, "cholesterol": 386.65}


@pytest.mark.parametrize("analyte", sorted(MOLAR_MASS))
def test_mmol_factors_follow_from_molar_mass(analyte: str) -> None:
    from_unit = "µmol/L" if analyte == "creatinine" else "mmol/L"
    expected = MOLAR_MASS[analyte] / 10 / (1000 if analyte == "creatinine" else 1)
    assert conversion_factor(analyte, from_unit, "mg/dL") == pytest.approx(expected, rel=1e-3)


def test_textbook_values_convert() -> None:
    assert 2.5 * conversion_factor("calcium", "mmol/L", "mg/dL") == pytest.approx(10.02)
    assert 88.4 * conversion_factor("creatinine", "umol/L", "mg/dL") == pytest.approx(1.0)
    assert 40 * conversion_factor("albumin", "g/L", "g/dL") == pytest.approx(4.0)
    assert 74.88 * conversion_factor("vitamin_d_25oh", "nmol/L", "ng/mL") == pytest.approx(30.0)
    assert 5.3 * conversion_factor("pth", "pmol/L", "pg/mL") == pytest.approx(49.979)
    assert 3 * conversion_factor("uacr", "mg/mmol", "mg/g") == pytest.approx(26.52)


def test_inverse_direction_is_the_reciprocal() -> None:
    forward = conversion_factor("phosphate", "mmol/L", "mg/dL")
    assert conversion_factor("phosphate", "mg/dL", "mmol/L") == pytest.approx(1 / forward)


def test_every_factor_has_a_source_and_is_positive() -> None:
    for conv in CONVERSIONS:
        assert conv.factor > 0
        assert len(conv.source) > 10, conv


def test_factor_is_per_analyte() -> None:
    calcium = conversion_factor("calcium", "mmol/L", "mg/dL")
    phosphate = conversion_factor("phosphate", "mmol/L", "mg/dL")
    assert calcium != pytest.approx(phosphate)


def test_unknown_conversion_names_units_and_fix() -> None:
    with pytest.raises(DictionaryError, match=r"'furlongs'.*units.py"):
        conversion_factor("calcium", "furlongs", "mg/dL")


@pytest.mark.parametrize("spelling", ["umol/L", "µmol/l", "μmol/L", "UMOL / L", "micromol/L"])
def test_unit_spellings_are_normalized(spelling: str) -> None:
    assert canonical_unit_spelling(spelling) == "µmol/L"
