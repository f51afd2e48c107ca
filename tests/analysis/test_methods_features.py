"""The methods text says the CKD definition and CAC cut points the run used."""

from __future__ import annotations

from cohortcalc.analysis.methods import features_sentence


def test_ckd_by_egfr_alone_is_not_described_with_uacr():
    text = features_sentence({"ckd_definition": "egfr"})
    assert "CKD as eGFR < 60 mL/min/1.73 m² (albuminuria not used)" in text
    assert "UACR" not in text


def test_the_default_and_other_definitions_and_cut_points():
    assert "CKD as eGFR < 60 mL/min/1.73 m² or UACR ≥ 30 mg/g" in features_sentence({})
    assert "creatinine–cystatin C" in features_sentence({"ckd_definition": "egfr_cr_cys_or_uacr"})
    assert "CAC categories 0, 1–100, 101–300, >300" in features_sentence({"cac_categories": "mesa"})
    custom = features_sentence({"cac_categories": [10, 100, 1000]})
    assert "CAC categories 0, 1–10, 11–100, 101–1000, >1000" in custom
