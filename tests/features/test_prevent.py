"""AHA PREVENT base-model 10-year risks against independently computed worked examples.

The examples (tests/reference/prevent_examples.json, with their sources) come from the R
packages preventr and CVrisk; they are rounded to 0.001, so agreement is asserted to half of that.
They leave statin, smoking, eGFR < 60 and SBP < 110 untested, so every term is also checked
against an independent base-R implementation (tests/reference/make_prevent_crosscheck.R).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import narwhals as nw
import pandas as pd
import polars as pl
import pytest

from cohortcalc import FeatureError
from cohortcalc.features import derive
from cohortcalc.features.prevent import (
    CHOLESTEROL_MG_DL_TO_MMOL_L,
    PREVENT_10Y_COEFFICIENTS,
    prevent_ascvd_10y,
    prevent_cvd_10y,
    prevent_hf_10y,
    prevent_predictors,
)

REFERENCE = json.loads(
    (Path(__file__).parents[1] / "reference" / "prevent_examples.json").read_text()
)
EXAMPLES = REFERENCE["examples"]
HALF_ROUNDING = 0.0005 + 1e-12  # sources round to 3 decimals (0.1 percentage point)
OUTPUT = {"cvd": "prevent_cvd_10y", "ascvd": "prevent_ascvd_10y"}
BASE = EXAMPLES[0]["inputs"]  # female, 50 years, in range for every equation


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema_overrides={"age": pl.Float64, "sbp": pl.Float64})


def test_sources_and_examples_are_documented() -> None:
    assert "preventr" in REFERENCE["source"] and "Table S12A" in REFERENCE["source"]
    assert len(EXAMPLES) >= 7
    assert {e["inputs"]["sex"] for e in EXAMPLES} == {"female", "male"}


@pytest.mark.parametrize("example", EXAMPLES, ids=[e["name"] for e in EXAMPLES])
def test_cvd_and_ascvd_match_worked_examples(example: dict[str, Any]) -> None:
    out = derive(_frame([example["inputs"]]))
    for outcome, column in OUTPUT.items():
        if example[outcome] is not None:
            assert out[column][0] == pytest.approx(example[outcome], abs=HALF_ROUNDING), outcome


WITH_HF = [e for e in EXAMPLES if e["hf"] is not None]


@pytest.mark.parametrize("example", WITH_HF, ids=[e["name"] for e in WITH_HF])
def test_heart_failure_matches_worked_examples(example: dict[str, Any]) -> None:
    frame = nw.from_native(_frame([example["inputs"]]))
    risk = frame.select(hf=prevent_hf_10y())["hf"][0]
    assert risk == pytest.approx(example["hf"], abs=HALF_ROUNDING)


def test_every_term_matches_an_independent_r_implementation() -> None:
    """432 profiles over statin, smoking, SBP and eGFR on both spline pieces, age, BMI, sex.

    tests/reference/make_prevent_crosscheck.R: base R, coefficients transcribed separately.
    """
    reference = pl.read_csv(Path(__file__).parents[1] / "reference" / "prevent_crosscheck.csv")
    flags = ("statin", "bp_treated", "diabetes")
    frame = reference.with_columns(
        *[pl.col(f).cast(pl.Boolean) for f in flags],
        pl.when(pl.col("smoker") == 1).then(pl.lit("current")).otherwise(pl.lit("never"))
        .alias("smoking"),
        *[pl.col(c).cast(pl.Float64) for c in ("age", "sbp", "egfr", "bmi")],
    ).drop("smoker", "cvd", "ascvd", "hf")  # fmt: skip
    out = derive(frame)  # with bmi: the heart-failure equation too
    pairs = [("prevent_cvd_10y", "cvd"), ("prevent_ascvd_10y", "ascvd"), ("prevent_hf_10y", "hf")]
    for ours, theirs in pairs:
        difference = (out[ours] - reference[theirs]).abs().max()
        assert difference < 1e-12, (ours, difference)


def test_all_terms_vanish_at_the_centring_values() -> None:
    """Age 55, non-HDL 3.5 and HDL 1.3 mmol/L, SBP 130, eGFR 90, BMI 25, no factors: constant."""
    hdl = 1.3 / CHOLESTEROL_MG_DL_TO_MMOL_L
    row = {"age": 55.0, "total_cholesterol": hdl + 3.5 / CHOLESTEROL_MG_DL_TO_MMOL_L,
           "hdl_cholesterol": hdl, "sbp": 130.0, "egfr": 90.0, "bmi": 25.0, "diabetes": False,
           "smoking": "former", "bp_treated": False, "statin": False}  # fmt: skip
    frame = nw.from_native(pl.DataFrame([{**row, "sex": s} for s in ("female", "male")]))
    risks = {
        outcome: frame.select(x=equation())["x"].to_list()
        for outcome, equation in [
            ("cvd", prevent_cvd_10y), ("ascvd", prevent_ascvd_10y), ("hf", prevent_hf_10y)
        ]
    }  # fmt: skip
    for (outcome, sex), coefficients in PREVENT_10Y_COEFFICIENTS.items():
        expected = 1 / (1 + math.exp(-coefficients["constant"]))
        got = risks[outcome][0 if sex == "female" else 1]
        assert got == pytest.approx(expected, rel=1e-9), (outcome, sex)


@pytest.mark.parametrize(("column", "knot"), [("sbp", 110.0), ("egfr", 60.0)])
def test_splines_are_continuous_at_their_knots(column: str, knot: float) -> None:
    rows = [{**BASE, column: knot + step} for step in (-1e-6, 0.0, 1e-6)]
    out = derive(_frame(rows))
    for name in OUTPUT.values():
        low, at, high = out[name].to_list()  # no step: both spline pieces meet at the knot
        assert abs(at - low) < 1e-7 and abs(at - high) < 1e-7, name


@pytest.mark.parametrize(
    ("column", "inside", "outside"),
    [("age", (30.0, 79.0), (29.9, 79.5)), ("total_cholesterol", (130.0, 320.0), (129.0, 321.0)),
     ("hdl_cholesterol", (20.0, 100.0), (19.0, 101.0)), ("sbp", (90.0, 200.0), (89.0, 201.0)),
     ("egfr", (15.0, 140.0), (14.9, 141.0))],
)  # fmt: skip
def test_inputs_outside_the_published_ranges_give_null(
    column: str, inside: tuple[float, float], outside: tuple[float, float]
) -> None:
    values = [*inside, *outside]
    out = derive(pl.DataFrame([{**BASE, column: float(v)} for v in values]))
    for name in OUTPUT.values():
        risk = out[name].to_list()
        assert all(r is not None and 0 < r < 1 for r in risk[:2]), (name, risk)
        assert risk[2:] == [None, None], (name, risk)
    assert out["prevent_risk_group"].to_list()[2:] == [None, None]


def test_heart_failure_needs_bmi_in_range() -> None:
    frame = nw.from_native(pl.DataFrame([{**BASE, "bmi": b} for b in (18.5, 39.9, 18.4, 40.0)]))
    risk = frame.select(hf=prevent_hf_10y())["hf"].to_list()
    assert risk[0] is not None and risk[1] is not None and risk[2:] == [None, None]


def test_a_missing_value_gives_null_not_a_default() -> None:
    rows = [BASE, {**BASE, "statin": None}, {**BASE, "smoking": None}, {**BASE, "sex": None}]
    out = derive(pl.DataFrame(rows))
    assert out["prevent_cvd_10y"][0] is not None
    assert out["prevent_cvd_10y"].to_list()[1:] == [None, None, None]


def test_each_risk_factor_raises_risk() -> None:
    rows = [BASE, {**BASE, "smoking": "current"}, {**BASE, "egfr": 45.0},
            {**BASE, "sbp": 180.0}, {**BASE, "age": 65.0}]  # fmt: skip
    out = derive(_frame(rows))
    for name in OUTPUT.values():
        base, *raised = out[name].to_list()
        assert all(r > base for r in raised), name


def test_missing_inputs_leave_the_features_out_and_require_names_them() -> None:
    no_kidney = {k: v for k, v in BASE.items() if k != "egfr"}
    out = derive(pl.DataFrame([no_kidney]))
    assert not {"prevent_cvd_10y", "prevent_ascvd_10y", "prevent_risk_group"} & set(out.columns)
    with_creatinine = derive(pl.DataFrame([{**no_kidney, "serum_creatinine": 0.9}]))
    assert with_creatinine["prevent_cvd_10y"][0] is not None  # eGFR derived (CKD-EPI 2021)
    with pytest.raises(FeatureError, match="serum_creatinine"):
        derive(pl.DataFrame([no_kidney]), require=["prevent_risk_group"])


def test_heart_failure_only_with_bmi_and_bmi_must_be_positive() -> None:
    no_bmi = {k: v for k, v in BASE.items() if k != "bmi"}
    assert "prevent_hf_10y" not in derive(pl.DataFrame([no_bmi])).columns
    with pytest.raises(FeatureError, match=r"prevent_hf_10y needs \['bmi'\]"):
        derive(pl.DataFrame([no_bmi]), require=["prevent_hf_10y"])
    with_bmi = derive(pl.DataFrame([{**no_bmi, "bmi": 27.0}, {**no_bmi, "bmi": 45.0}]))
    assert with_bmi["prevent_hf_10y"][0] > 0 and with_bmi["prevent_hf_10y"][1] is None  # range
    with pytest.raises(FeatureError, match="bmi <= 0"):
        derive(pl.DataFrame([{**no_bmi, "bmi": 0.0}]))


def test_identical_on_polars_and_pandas() -> None:
    rows = [e["inputs"] for e in EXAMPLES]
    polars_out = derive(_frame(rows))
    pandas_out = derive(_frame(rows).to_pandas())
    assert isinstance(pandas_out, pd.DataFrame)
    for name in OUTPUT.values():
        ours, theirs = polars_out[name].to_list(), pandas_out[name].to_list()
        assert all(
            math.isclose(a, b, rel_tol=0, abs_tol=1e-12) for a, b in zip(ours, theirs, strict=True)
        )
    assert polars_out["prevent_risk_group"].cast(pl.String).to_list() == [
        str(g) for g in pandas_out["prevent_risk_group"]
    ]


@pytest.mark.parametrize(
    ("risk", "group"),
    [(0.0499, "low"), (0.05, "borderline"), (0.0749, "borderline"), (0.075, "intermediate"),
     (0.1999, "intermediate"), (0.20, "high")],
)  # fmt: skip
def test_risk_group_boundaries(risk: float, group: str) -> None:
    out = derive(pl.DataFrame({"prevent_ascvd_10y": [risk]}))
    assert out["prevent_risk_group"].cast(pl.String).to_list() == [group]


def test_predictors_given_as_columns_give_the_same_values_bit_for_bit() -> None:
    """derive() computes the predictors once as columns on engines other than Polars."""
    reference = pl.read_csv(Path(__file__).parents[1] / "reference" / "prevent_crosscheck.csv")
    frame = nw.from_native(
        reference.with_columns(
            *[pl.col(f).cast(pl.Boolean) for f in ("statin", "bp_treated", "diabetes")],
            smoking=pl.when(pl.col("smoker") == 1).then(pl.lit("current")).otherwise(pl.lit("x")),
        )
    )
    predictors = prevent_predictors()
    staged = frame.with_columns(**{f"p_{name}": value for name, value in predictors.items()})
    columns = {name: nw.col(f"p_{name}") for name in predictors}
    for equation in (prevent_cvd_10y, prevent_ascvd_10y):
        out = staged.select(inline=equation(), staged=equation(columns)).to_native()
        assert out["inline"].null_count() < out.height
        assert out["inline"].equals(out["staged"]), equation.__name__
