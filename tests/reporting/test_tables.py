"""hr_table: structure, and every printed number traced back to a fit's summary or a count."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.errors import CohortcalcError, ModelError
from cohortcalc.reporting.format import REFERENCE_LABEL, format_count, format_ratio_ci
from cohortcalc.reporting.tables import RATE_COLUMN, hr_table

LEVELS = ["0", "1-100", "101-400", ">400"]
HR1, HR2 = "Model 1 HR (95% CI)", "Model 2 HR (95% CI)"


def _table(cohort, fake_models, **kwargs):
    return hr_table(cohort, models=fake_models, time="mi_years", event="mi_status", **kwargs)


def test_structure_rows_and_columns(cohort, fake_models, fakes):
    per_sd = {
        name: fakes.Cox(fakes.summary({"log_cac": (0.2, 0.05)}), 1500, 80) for name in fake_models
    }
    table = _table(cohort, fake_models, p_trend={"Model 1": 1e-5, "Model 2": 0.02}, per_sd=per_sd)
    exposure = table.frame.columns[0]
    assert list(table.frame.columns) == [
        exposure,
        "N",
        "Events",
        "Person-years",
        RATE_COLUMN,
        HR1,
        HR2,
    ]
    labels = list(table.frame[exposure])
    assert labels[:4] == ["0", "1–100", "101–400", ">400"]  # en dashes, the reader's form
    assert labels[4] == "p for trend"
    assert labels[5].startswith("Per SD log(CAC+1)")
    assert table.cell(4, HR1) == "<0.001" and table.cell(4, HR2) == "0.020"


def test_every_hr_cell_traces_to_summary(cohort, fake_models):
    table = _table(cohort, fake_models)
    for name, column in (("Model 1", HR1), ("Model 2", HR2)):
        summary = fake_models[name].summary
        assert table.cell(0, column) == REFERENCE_LABEL
        for row, level in enumerate(LEVELS[1:], start=1):
            line = summary.loc[f"cac_category[{level}]"]
            assert table.cell(row, column) == format_ratio_ci(
                line["hr"], line["hr_lower"], line["hr_upper"]
            )
            traced = table.trace(row, column).set_index("quantity")["value"]
            assert traced["hr"] == line["hr"]
            assert traced["hr_lower"] == line["hr_lower"]
            assert traced["hr_upper"] == line["hr_upper"]


def test_counts_and_rates_trace_to_the_data(cohort, fake_models):
    table = _table(cohort, fake_models)
    for row, level in enumerate(LEVELS):
        group = cohort.filter(pl.col("cac_category").cast(pl.String) == level)
        events = int((group["mi_status"] == 1).sum())
        person_years = float(group["mi_years"].sum())
        assert table.cell(row, "N") == format_count(group.height)
        assert table.cell(row, "Events") == format_count(events)
        traced = table.trace(row, RATE_COLUMN).set_index("quantity")["value"]
        assert traced["rate"] == pytest.approx(1000 * events / person_years, rel=1e-12)
        assert traced["rate_lower"] < traced["rate"] < traced["rate_upper"]
        assert table.trace(row, "Person-years")["value"].item() == pytest.approx(person_years)


def test_days_and_years_give_the_same_person_years(cohort, fake_models):
    years = _table(cohort, fake_models)
    days = hr_table(cohort, models=fake_models, time="mi_days", event="mi_status", time_unit="days")
    assert list(years.frame["N"]) == list(days.frame["N"])
    py_years = years.values.query("quantity == 'py'")["value"].to_numpy()
    py_days = days.values.query("quantity == 'py'")["value"].to_numpy()
    np.testing.assert_allclose(py_days, py_years, rtol=1e-3)  # day-rounded follow-up


def test_per_sd_row_rescales_the_fit(cohort, fake_models, fakes):
    sd_fit = fakes.Cox(fakes.summary({"log_cac": (0.2, 0.05), "age": (0.05, 0.01)}), 1500, 80)
    table = _table(cohort, {"Model 1": fake_models["Model 1"]}, per_sd={"Model 1": sd_fit})
    sd = float(np.std(cohort["log_cac"].to_numpy(), ddof=1))
    line = sd_fit.summary.loc["log_cac"]
    traced = table.trace(4, HR1).set_index("quantity")["value"]
    assert traced["hr"] == pytest.approx(np.exp(0.2 * sd), rel=1e-12)
    assert traced["hr_lower"] == pytest.approx(line["hr_lower"] ** sd, rel=1e-12)
    assert f"(SD {sd:.2f})" in table.frame.iloc[4, 0]
    unit = _table(
        cohort, {"Model 1": fake_models["Model 1"]}, per_sd={"Model 1": sd_fit}, per_sd_unit=1.0
    )
    assert unit.cell(4, HR1) == format_ratio_ci(line["hr"], line["hr_lower"], line["hr_upper"])


def test_footnotes_state_methods_and_covariates(cohort, fake_models):
    notes = " ".join(_table(cohort, fake_models).footnotes)
    assert "Efron" in notes
    assert "95% CIs of hazard ratios are Wald" in notes
    assert "Model 1: adjusted for age, sex." in notes
    assert "Model 2: adjusted for age, sex, diabetes, systolic blood pressure." in notes
    assert "exact Poisson" in notes
    assert "n = 1,490, events = 79" in notes


def test_confidence_level_is_read_from_the_summary(cohort, fakes):
    z90 = 1.6448536269514722
    summary = fakes.summary({f"cac_category[{lv}]": (0.1, 0.1) for lv in LEVELS[1:]}, z=z90)
    table = _table(cohort, {"Model 1": fakes.Cox(summary, 1500, 80)})
    assert any(note.startswith("90% CIs") for note in table.footnotes)


def test_fine_gray_models_show_subdistribution_hrs(cohort, fake_models, fakes):
    fine_gray = fakes.FineGray(fake_models["Model 1"].summary, 1500, 80)
    table = _table(cohort, {"Model 1": fake_models["Model 1"], "Model 1 (Fine–Gray)": fine_gray})
    assert "Model 1 (Fine–Gray) sHR (95% CI)" in table.frame.columns
    assert any("sHR, subdistribution hazard ratio" in note for note in table.footnotes)


def test_modifier_strata_and_interaction(cohort, fake_models):
    fit = fake_models["Model 1"]
    table = hr_table(
        cohort, models={"Model 1": {True: fit, False: fit}}, time="mi_years", event="mi_status",
        modifier="ckd", interaction_p=0.0312, p_trend={"Model 1": {True: 0.01, False: 0.2}},
    )  # fmt: skip
    frame = table.frame
    labels = list(frame.iloc[:, 0])
    n_ckd = cohort.filter(pl.col("ckd") & pl.col("cac_category").is_not_null()).height
    assert labels[0] == f"With CKD (n = {format_count(n_ckd)})"  # a bold group heading
    assert labels[6].startswith("Without CKD (n = ")
    assert table.group_rows == (0, 6)
    assert labels[1:6] == ["  0", "  1–100", "  101–400", "  >400", "  p for trend"]
    assert labels[-1] == "p for interaction" and table.cell(12, HR1) == "0.031"
    assert table.cell(5, HR1) == "0.010" and table.cell(11, HR1) == "0.200"
    for row, level in enumerate(LEVELS, start=1):
        ckd = cohort.filter(pl.col("ckd") & (pl.col("cac_category").cast(pl.String) == level))
        assert table.cell(row, "N") == format_count(ckd.height)


def test_missing_exposure_term_is_an_error(cohort, fakes):
    bad = fakes.Cox(fakes.summary({"age": (0.05, 0.01)}), 1500, 80)
    with pytest.raises(ModelError, match=r"cac_category\[level\]"):
        _table(cohort, {"Model 1": bad})


def test_modifier_needs_a_fit_per_stratum(cohort, fake_models):
    with pytest.raises(CohortcalcError, match="stratum"):
        hr_table(cohort, models=fake_models, time="mi_years", event="mi_status", modifier="ckd")


def test_every_printed_cell_has_a_traced_value(cohort, fake_models):
    table = _table(cohort, fake_models, p_trend={"Model 1": 0.01, "Model 2": 0.02})
    traced = set(zip(table.values["row"], table.values["column"], strict=True))
    for row in range(len(table.frame)):
        for column in table.frame.columns[1:]:
            if table.cell(row, column):
                assert (row, column) in traced, (row, column)


@pytest.fixture(scope="module")
def real_fits(cohort):
    """Sequential Cox models, a Fine–Gray model and a per-SD fit (cc.cox, cc.finegray)."""
    data = cohort.with_columns(
        mi=(pl.col("mi_status") == 1).cast(pl.Int64),
        log_cac_sd=(pl.col("log_cac") - pl.col("log_cac").mean()) / pl.col("log_cac").std(),
    )
    model1 = ["cac_category", "age", "sex"]
    model2 = [*model1, "diabetes", "sbp"]
    reference = {"cac_category": "0"}
    return {
        "data": data,
        "Model 1": cc.cox(data, "mi_years", "mi", model1, reference=reference),
        "Model 2": cc.cox(data, "mi_years", "mi", model2, reference=reference),
        "Fine–Gray": cc.finegray(data, "mi_years", "mi_status", 1, model2, reference=reference),
        "sd": cc.cox(data, "mi_years", "mi", ["log_cac_sd", "age", "sex"]),
        "trend": cc.trend_test(data, "mi_years", "mi", "cac_category"),
    }


def test_real_cox_and_fine_gray_fits_trace_exactly(real_fits):
    models = {name: real_fits[name] for name in ("Model 1", "Model 2", "Fine–Gray")}
    table = hr_table(
        real_fits["data"], models=models, time="mi_years", event="mi_status",
        per_sd={"Model 1": real_fits["sd"]}, per_sd_term="log_cac_sd", per_sd_unit=1.0,
        p_trend={"Model 1": real_fits["trend"]},
    )  # fmt: skip
    columns = {"Model 1": HR1, "Model 2": HR2, "Fine–Gray": "Fine–Gray sHR (95% CI)"}
    for name, column in columns.items():
        summary = real_fits[name].summary
        for row, level in enumerate(LEVELS[1:], start=1):
            line = summary.loc[f"cac_category[{level}]"]
            traced = table.trace(row, column).set_index("quantity")["value"]
            assert traced["hr"] == line["hr"] and traced["hr_lower"] == line["hr_lower"]
            assert table.cell(row, column) == format_ratio_ci(
                line["hr"], line["hr_lower"], line["hr_upper"]
            )
    sd_line = real_fits["sd"].summary.loc["log_cac_sd"]
    assert table.cell(5, HR1) == format_ratio_ci(
        sd_line["hr"], sd_line["hr_lower"], sd_line["hr_upper"]
    )
    assert table.trace(4, HR1)["value"].item() == real_fits["trend"].p
    notes = " ".join(table.footnotes)
    assert "Efron" in notes and "subdistribution" in notes and "Log-rank test for trend" in notes
    assert "Competing event(s): status code 2." in notes
    named = hr_table(
        real_fits["data"], models={"Model 1": real_fits["Model 1"]}, time="mi_years",
        event="mi_status", outcome_label="Myocardial infarction",
    )  # fmt: skip
    words = " ".join([named.title, *named.footnotes])
    assert "Events: myocardial infarction;" in words
    assert "mi_status" not in words and "mi_years" not in words  # words, not column names
    assert f"competing events = {real_fits['Fine–Gray'].n_competing:,}" in notes
    assert table.frame.iloc[5, 0] == "Per SD log_cac_sd"  # already standardised: no "(SD ...)"
    assert "Model 2: adjusted for age, sex, diabetes, systolic blood pressure." in notes
    events = table.values.query("quantity == 'events'")["value"].sum()
    assert events == real_fits["Model 1"].n_events  # the table counts what the model counts


def test_real_fits_within_ckd_strata_with_interaction(real_fits):
    data = real_fits["data"]
    covariates = ["cac_category", "age", "sex"]
    reference = {"cac_category": "0"}
    by_ckd = {
        value: cc.cox(
            data.filter(pl.col("ckd") == value), "mi_years", "mi", covariates, reference=reference
        )
        for value in (True, False)
    }
    main = cc.cox(data, "mi_years", "mi", [*covariates, "ckd"], reference=reference)
    product = cc.cox(
        data, "mi_years", "mi", [*covariates, "ckd", "cac_category:ckd"], reference=reference
    )
    interaction = cc.lrtest(main, product)
    table = hr_table(
        data, models={"Model 1": by_ckd}, time="mi_years", event="mi_status",
        modifier="ckd", interaction_p={"Model 1": interaction},
    )  # fmt: skip
    for offset, value in ((1, True), (6, False)):  # after each stratum's heading row
        summary = by_ckd[value].summary
        for index, level in enumerate(LEVELS[1:], start=1):
            line = summary.loc[f"cac_category[{level}]"]
            expected = format_ratio_ci(line["hr"], line["hr_lower"], line["hr_upper"])
            assert table.cell(offset + index, HR1) == expected
        stratum_events = table.values.query(
            f"quantity == 'events' and row < {offset + 4} and row >= {offset}"
        )
        assert stratum_events["value"].sum() == by_ckd[value].n_events
    assert table.trace(10, HR1)["value"].item() == interaction.p
    assert any("Likelihood" in note or "likelihood" in note for note in table.footnotes)


def test_rows_without_exposure_are_left_out(cohort, fake_models, fakes):
    blanked = cohort.with_columns(
        pl.when(pl.int_range(pl.len()) < 25)
        .then(None)
        .otherwise(pl.col("cac_category"))
        .alias("cac_category")
    )
    sd_fit = fakes.Cox(fakes.summary({"log_cac": (0.2, 0.05)}), 1475, 80)
    table = _table(blanked, {"Model 1": fake_models["Model 1"]}, per_sd={"Model 1": sd_fit})
    total = table.values.query("quantity == 'n'")["value"].sum()
    assert total == cohort.height - 25
    sd = float(np.std(blanked.drop_nulls("cac_category")["log_cac"].to_numpy(), ddof=1))
    assert f"(SD {sd:.2f})" in table.frame.iloc[4, 0]


def test_pandas_frames_give_the_same_table(cohort, fake_models):
    from_polars = _table(cohort, fake_models)
    from_pandas = _table(cohort.to_pandas(), fake_models)
    assert from_pandas.frame.equals(from_polars.frame)
    assert from_pandas.footnotes == from_polars.footnotes
