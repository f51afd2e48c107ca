"""Derived variables in the spec (a closed vocabulary), sparse-cell marking of HRs, and the
report's model checks (PH tests flagged, Gray's test per CIF figure)."""

from __future__ import annotations

import math

import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.analysis.derived import add_derived
from cohortcalc.analysis.spec import spec_from_text
from cohortcalc.errors import SpecError

BASE = """\
name: d
title: Derived
data: {synthetic: {n: 1500, seed: 2}}
derived:
%s
exposures:
  - {column: cac_category, kind: categorical, reference: "0"}
outcomes:
  - {name: death, time: death_years, status: death_status}
models:
  adjustment:
    - {name: M1, covariates: [age, sex]}
"""


def _spec(derived: str):
    return spec_from_text(BASE % derived, source="d.yaml")


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "x": [0.0, 1.0, 3.0, 45.0, 60.0, None, float("nan")],
            "level": ["a", "b", "c", "a", None, "b", "c"],
        }
    )


def test_log2_with_offset_and_divide_by_are_elementwise() -> None:
    spec = _spec(
        "  - {name: lx, column: x, log2: {offset: 1}}\n"
        "  - {name: ln, column: x, log: {offset: 0.5}}\n"
        "  - {name: x10, column: x, divide_by: 10}"
    )
    out = add_derived(spec, _frame())
    assert out["lx"].to_list()[:5] == pytest.approx([math.log2(v + 1) for v in (0, 1, 3, 45, 60)])
    assert out["ln"].to_list()[:5] == pytest.approx([math.log(v + 0.5) for v in (0, 1, 3, 45, 60)])
    assert out["x10"].to_list()[:5] == pytest.approx([0.0, 0.1, 0.3, 4.5, 6.0])
    assert out["lx"].to_list()[5:] == [None, None]  # null and NaN give null, not a row error


def test_log_of_zero_is_refused_with_count_and_fix() -> None:
    spec = _spec("  - {name: lx, column: x, log: {}}")
    with pytest.raises(SpecError) as caught:
        add_derived(spec, _frame())
    message = str(caught.value)
    assert "d.yaml, line 5" in message and "undefined for 1 value(s)" in message
    assert "offset: 1" in message


@pytest.mark.parametrize(
    ("closed", "expected"),
    [
        ("left", ["<45", "<45", "<45", "45-59", ">=60"]),
        ("right", ["<=45", "<=45", "<=45", "<=45", "46-60"]),
    ],
)
def test_cut_puts_a_value_on_a_break_on_the_closed_side(closed: str, expected: list) -> None:
    labels = '["<45", "45-59", ">=60"]' if closed == "left" else '["<=45", "46-60", ">60"]'
    spec = _spec(
        f"  - {{name: g, column: x, cut: {{breaks: [45, 60], labels: {labels}, closed: {closed}}}}}"
    )
    out = add_derived(spec, _frame())
    assert out["g"].to_list()[:5] == expected  # 45 and 60 sit on the breaks
    assert out["g"].to_list()[5:] == [None, None]
    assert isinstance(out.schema["g"], pl.Enum)  # ordered, so a p for trend can use it


def test_cut_needs_the_closed_side_and_one_label_per_group() -> None:
    with pytest.raises(SpecError, match="required key 'closed' is missing"):
        _spec("  - {name: g, column: x, cut: {breaks: [45], labels: [a, b]}}")
    with pytest.raises(SpecError, match=r"2 break.s. make 3 groups; give that many 'labels'"):
        _spec("  - {name: g, column: x, cut: {breaks: [1, 2], labels: [a, b], closed: left}}")


def test_recode_merges_levels_and_order_makes_them_ordered() -> None:
    spec = _spec("  - {name: m, column: level, recode: {b: bc, c: bc}, order: [a, bc]}")
    out = add_derived(spec, _frame())
    assert out["m"].to_list() == ["a", "bc", "bc", "a", None, "bc", "bc"]
    assert out.schema["m"] == pl.Enum(["a", "bc"])


@pytest.mark.parametrize(
    ("derived", "message"),
    [
        ("  - {name: m, column: level, recode: {z: a}}", r"names level\(s\) \['z'\] that do not"),
        ("  - {name: m, column: level, order: [a, b]}", r"level\(s\) \['c'\] of 'm' are not in"),
        ("  - {name: x, column: level, order: [a, b, c]}", "would replace the column"),
        ("  - {name: m, column: nothing, log: {}}", "'nothing', which is not a column"),
        ("  - {name: m, column: level, log: {}}", "needs a numeric column"),
    ],
)
def test_level_and_column_errors_name_the_line(derived: str, message: str) -> None:
    with pytest.raises(SpecError, match=message) as caught:
        add_derived(_spec(derived), _frame())
    assert "d.yaml, line 5" in str(caught.value)


def test_one_operation_per_variable() -> None:
    with pytest.raises(SpecError, match="give one of"):
        _spec("  - {name: m, column: x, log: {}, divide_by: 2}")


RUN = """\
name: r
title: Derived in a run
data: {synthetic: {n: 2000, seed: 4}}
derived:
  - {name: sbp_10, column: sbp, divide_by: 10}
  - name: egfr_group
    column: egfr
    cut: {breaks: [60], labels: ["<60", ">=60"], closed: left}
population:
  - {column: age, op: ">=", value: 45}
exposures:
  - {column: cac_category, kind: categorical, reference: "0"}
outcomes:
  - {name: mi, time: mi_years, status: mi_status, competing_code: 2, methods: [cox, finegray]}
models:
  adjustment:
    - {name: M1, covariates: [age, sex, sbp_10]}
effect_modifiers:
  - {column: egfr_group}
outputs:
  tables: [hazard_ratios, assumptions]
  figures: [cumulative_incidence]
  figures_by: [cac_category, egfr_group, "cac_category within egfr_group"]
sparse_events_threshold: 20
"""


@pytest.fixture(scope="module")
def run() -> cc.AnalysisResult:
    return cc.run(spec_from_text(RUN, source="r.yaml"))


def test_per_unit_scaling_gives_the_hr_per_10_units(run: cc.AnalysisResult) -> None:
    fit = run.fit("mi", model="M1").result
    data = run.frame.with_columns(event=(pl.col("mi_status") == 1).cast(pl.Int8))
    covariates = ["cac_category", "age", "sex", "sbp"]
    direct = cc.cox(data, time="mi_years", event="event", covariates=covariates,
                    reference={"cac_category": "0"})  # fmt: skip
    assert fit.summary.loc["sbp_10", "coef"] == pytest.approx(
        10 * direct.summary.loc["sbp", "coef"], rel=1e-9
    )


def test_sparse_hazard_ratios_are_marked_and_footnoted(run: cc.AnalysisResult) -> None:
    table = run.tables["hr_mi_cox_by_egfr_group"]
    frame = table.frame
    hr = next(c for c in frame.columns if c.endswith("HR (95% CI)"))
    counts = run.frame.group_by(
        pl.col("egfr_group").cast(pl.String), pl.col("cac_category").cast(pl.String)
    ).agg(events=(pl.col("mi_status") == 1).sum())
    events = {(g, c): n for g, c, n in counts.iter_rows()}
    checked, group = 0, None
    for row in range(len(frame)):
        first, text = str(frame.iloc[row, 0]), str(frame.iloc[row][hr])
        if first.startswith("egfr_group: "):  # a group heading: "egfr_group: <60 (n = 319)"
            group = first.removeprefix("egfr_group: ").split(" (n = ")[0]
            continue
        level = first.strip().replace("–", "-")  # indented levels; ranges with an en dash
        if (group, level) not in events or text == "1.00 (reference)":
            continue
        sparse = events[(group, level)] < 20 or events[(group, "0")] < 20
        assert text.endswith("†") == sparse, (group, level, text)
        checked += 1
    assert checked == 6 and any(str(v).endswith("†") for v in frame[hr])
    assert any("Fewer than 20 events" in note for note in table.footnotes)


def test_model_checks_cover_every_main_model_and_cif_figure(run: cc.AnalysisResult) -> None:
    from cohortcalc.survival.finegray_proportionality import finegray_ph_test

    table = run.tables["assumptions"]
    frame = table.frame
    main = [f for f in run.fits if f.key.analysis == "main" and f.key.subgroup == "all"]
    assert len(frame) == len(main) + 3  # each main model, and Gray's test of 3 CIF figures
    cox_fit = run.fit("mi", "cox", model="M1").result
    expected = cc.ph_test(cox_fit).loc["GLOBAL", "p"]
    assert table.trace(0, "Global p")["value"][0] == pytest.approx(expected, rel=1e-12)
    fine_gray = run.fit("mi", "finegray", model="M1").result
    expected = finegray_ph_test(
        run.frame,
        time="mi_years",
        event="mi_status",
        cause=1,
        beta=fine_gray.coef,
        covariates=["cac_category", "age", "sex", "sbp_10"],
        reference={"cac_category": "0"},
    ).loc["GLOBAL", "p"]
    assert table.trace(1, "Global p")["value"][0] == pytest.approx(expected, rel=1e-12)
    for row in (0, 1):  # flagged exactly when the exposure or global p is below 0.05
        p = table.trace(row, "Exposure p")["value"][0], table.trace(row, "Global p")["value"][0]
        assert (frame["Flag"][row] != "") == (min(p) < 0.05)
    gray = cc.gray_test(run.frame, time="mi_years", event="mi_status", cause=1, group="egfr_group")
    assert frame["Check"][3] == "Gray's test (figure cif_mi_by_egfr_group)"
    assert table.trace(3, "Global p")["value"][0] == pytest.approx(gray.p, rel=1e-12)
    within = cc.gray_test(run.frame, time="mi_years", event="mi_status", cause=1,
                          group="cac_category", strata="egfr_group")  # fmt: skip
    assert frame["Check"][4] == "Gray's test (figure cif_mi_by_cac_category_within_egfr_group)"
    assert table.trace(4, "Global p")["value"][0] == pytest.approx(within.p, rel=1e-12)


def test_figure_grouping_is_a_column_or_column_within_column() -> None:
    text = RUN.replace('"cac_category within egfr_group"', '"cac_category by egfr_group"')
    with pytest.raises(SpecError, match="a figure grouping is a column or 'COLUMN within COLUMN'"):
        spec_from_text(text, source="r.yaml")
