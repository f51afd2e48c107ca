"""CKD-EPI 2021 eGFR and KDIGO staging against hand-worked values from the published equations."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohortcalc import FeatureError
from cohortcalc.features import derive
from cohortcalc.synth import simulate_cohort


def _egfr_cr_by_hand(scr: float, age: float, female: bool) -> float:
    """Inker et al. NEJM 2021, Table/Appendix: the 2021 creatinine equation written out."""
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    r = scr / kappa
    return 142 * min(r, 1) ** alpha * max(r, 1) ** -1.2 * 0.9938**age * (1.012 if female else 1)


def _egfr_cr_cys_by_hand(scr: float, scys: float, age: float, female: bool) -> float:
    kappa, alpha = (0.7, -0.219) if female else (0.9, -0.144)
    r, c = scr / kappa, scys / 0.8
    value = 135 * min(r, 1) ** alpha * max(r, 1) ** -0.544
    value *= min(c, 1) ** -0.323 * max(c, 1) ** -0.778 * 0.9961**age
    return value * (0.963 if female else 1)


def test_egfr_creatinine_worked_examples() -> None:
    # 60-year-old man, creatinine 1.0 mg/dL: 142 x (1/0.9)^-1.2 x 0.9938^60 = 86.16
    # 50-year-old woman, creatinine 0.6 mg/dL (below kappa):
    # 142 x (0.6/0.7)^-0.241 x 0.9938^50 x 1.012 = 109.28
    frame = pl.DataFrame(
        {
            "serum_creatinine": [1.0, 0.6, 2.5, 0.9, 0.7],
            "age": [60.0, 50.0, 75.0, 40.0, 40.0],
            "sex": ["male", "female", "female", "male", "female"],
        }
    )
    out = derive(frame)["egfr"].to_list()
    assert out[0] == pytest.approx(86.16, abs=0.01)
    assert out[1] == pytest.approx(109.28, abs=0.01)
    for value, row in zip(out, frame.iter_rows(), strict=True):
        assert value == pytest.approx(_egfr_cr_by_hand(row[0], row[1], row[2] == "female"))
    # at creatinine == kappa both branches give 142 x 0.9938^age (x 1.012 for women)
    assert out[3] == pytest.approx(142 * 0.9938**40)
    assert out[4] == pytest.approx(142 * 0.9938**40 * 1.012)


def test_egfr_creatinine_cystatin_worked_examples() -> None:
    rows = [(0.8, 1.2, 50.0, "female"), (1.3, 0.7, 66.0, "male"), (0.6, 0.8, 30.0, "female")]
    frame = pl.DataFrame(
        rows, schema=["serum_creatinine", "cystatin_c", "age", "sex"], orient="row"
    )
    out = derive(frame)["egfr_cr_cys"].to_list()
    for value, (scr, scys, age, sex) in zip(out, rows, strict=True):
        assert value == pytest.approx(_egfr_cr_cys_by_hand(scr, scys, age, sex == "female"))
    # woman, creatinine 0.8 (> kappa 0.7), cystatin 1.2 (> 0.8): 135 x 1.1429^-0.544 x 1.5^-0.778
    # x 0.9961^50 x 0.963 = 72.54
    assert out[0] == pytest.approx(72.54, abs=0.01)


def test_egfr_equals_synthetic_generator_independent_numpy_code() -> None:
    cohort = simulate_cohort(n=2000, seed=5)
    out = derive(cohort.tables["participants"])
    truth = cohort.analysis_frame()
    assert (out["egfr"] - truth["egfr"]).abs().max() < 1e-9
    assert (out["ckd"] == truth["ckd"]).all()


@pytest.mark.parametrize(
    ("egfr", "stage"),
    [(90.0, "G1"), (89.99, "G2"), (60.0, "G2"), (59.99, "G3a"), (45.0, "G3a"), (44.99, "G3b"),
     (30.0, "G3b"), (29.99, "G4"), (15.0, "G4"), (14.99, "G5"), (None, None)],
)  # fmt: skip
def test_kdigo_gfr_category_boundaries(egfr: float | None, stage: str | None) -> None:
    out = derive(pl.DataFrame({"egfr": [egfr]}, schema={"egfr": pl.Float64}))
    assert out["ckd_stage_g"].cast(pl.String).to_list() == [stage]


def test_kdigo_albuminuria_category_boundaries() -> None:
    out = derive(pl.DataFrame({"uacr": [0.0, 29.99, 30.0, 300.0, 300.01, None]}))
    assert out["ckd_stage_a"].cast(pl.String).to_list() == ["A1", "A1", "A2", "A2", "A3", None]
    assert out["ckd_stage_a"].dtype == pl.Enum(["A1", "A2", "A3"])


def test_ckd_definition_truth_table_with_missing_values() -> None:
    frame = pl.DataFrame(
        {
            "egfr": [59.99, 60.0, 60.0, None, None, 50.0, 70.0],
            "uacr": [10.0, 29.99, 30.0, 10.0, 40.0, None, None],
        }
    )
    assert derive(frame)["ckd"].to_list() == [True, False, True, None, True, True, None]
    egfr_only = derive(frame, ckd_definition="egfr")["ckd"].to_list()
    assert egfr_only == [True, False, False, None, None, True, False]


def test_ckd_needs_both_inputs_under_default_definition() -> None:
    out = derive(pl.DataFrame({"egfr": [50.0]}))
    assert "ckd" not in out.columns and "ckd_stage_g" in out.columns
    with pytest.raises(FeatureError, match=r"ckd needs \['uacr'\]"):
        derive(pl.DataFrame({"egfr": [50.0]}), require=["ckd"])
    with pytest.raises(FeatureError, match="ckd_definition"):
        derive(pl.DataFrame({"egfr": [50.0]}), ckd_definition="mdrd")


def test_impossible_kidney_values_name_column_and_participant() -> None:
    frame = pl.DataFrame(
        {"participant_id": ["P1", "P2"], "serum_creatinine": [1.0, -0.4], "age": [50.0, 60.0],
         "sex": ["male", "female"]}
    )  # fmt: skip
    with pytest.raises(
        FeatureError, match=r"serum_creatinine <= 0: 1 row\(s\) \(participant_id P2\)"
    ):
        derive(frame)
    nan_frame = frame.with_columns(serum_creatinine=pl.Series([1.0, float("nan")]))
    with pytest.raises(FeatureError, match=r"serum_creatinine is NaN.*P2"):
        derive(nan_frame)
    with pytest.raises(FeatureError, match=r"sex not one of \('female', 'male'\).*P1"):
        derive(frame.with_columns(sex=pl.Series(["M", "female"]), serum_creatinine=1.0))


@settings(max_examples=30, deadline=None)
@given(
    st.floats(0.2, 15.0),
    st.floats(0.2, 15.0),
    st.floats(18.0, 100.0),
    st.sampled_from(["female", "male"]),
)
def test_egfr_decreases_with_creatinine(low: float, high: float, age: float, sex: str) -> None:
    frame = pl.DataFrame(
        {"serum_creatinine": sorted([low, high]), "age": [age, age], "sex": [sex, sex]}
    )
    first, second = derive(frame)["egfr"].to_list()
    assert second <= first
    assert first == pytest.approx(_egfr_cr_by_hand(min(low, high), age, sex == "female"))


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from([0.7, 0.9, 0.8]) | st.floats(0.05, 15.0),
    st.sampled_from([0.8]) | st.floats(0.2, 8.0),
    st.floats(18.0, 100.0),
    st.sampled_from(["female", "male"]),
)
def test_egfr_spline_pieces_as_one_power_match_the_written_out_equations(
    scr: float, scys: float, age: float, sex: str
) -> None:
    """min(r,1)^a x max(r,1)^b computed as one power, on both sides of and at each knot."""
    columns = {"serum_creatinine": [scr], "cystatin_c": [scys], "age": [age], "sex": [sex]}
    frame = pl.DataFrame(columns)
    out = derive(frame)
    female = sex == "female"
    assert out["egfr"][0] == pytest.approx(_egfr_cr_by_hand(scr, age, female), rel=1e-13)
    expected = _egfr_cr_cys_by_hand(scr, scys, age, female)
    assert out["egfr_cr_cys"][0] == pytest.approx(expected, rel=1e-13)
