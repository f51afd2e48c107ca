"""The headline analysis's age-scale all-cause mortality outcome: the run's model equals
``cc.cox(entry="age_entry")`` fitted directly and R ``coxph(Surv(age_entry, death_age_exit,
death_status) ~ ...)`` (tests/reference/make_agescale_reference.R), and its tables count
person-years from entry to exit.

The shipped spec is run as it is, on n = 3,000 (seed 1) and with this one outcome, so that the
test stays fast; tests/reference/agescale_headline.csv is that run's population.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml

import cohortcalc as cc
from cohortcalc.analysis.spec import load_spec
from cohortcalc.reporting.format import format_ratio_ci

REPO = Path(__file__).parents[2]
REFERENCE = REPO / "tests" / "reference"
HEADLINE = REPO / "cohortcalc" / "analyses" / "cac_mi_ckd.yaml"
MODEL_2 = ["cac_category", "sex", "race_ethnicity", "diabetes", "smoking", "sbp", "bp_treated",
           "total_cholesterol", "hdl_cholesterol", "statin"]  # fmt: skip


def _headline() -> dict[str, Any]:
    spec = yaml.safe_load(HEADLINE.read_text())
    spec["data"]["synthetic"]["n"] = 3000
    spec["outcomes"] = [o for o in spec["outcomes"] if o["name"] == "death_age"]
    spec["effect_modifiers"] = []
    del spec["exposure_response"]["adjusted_curves"]  # of MI, not an outcome here
    del spec["prediction"]  # of MI too
    spec["outputs"].update(tables=["incidence_rates", "hazard_ratios"], figures=[])
    return spec


@pytest.fixture(scope="module")
def run() -> cc.AnalysisResult:
    return cc.run(copy.deepcopy(_headline()))


def test_headline_spec_has_an_age_scale_mortality_outcome() -> None:
    spec = load_spec(HEADLINE)
    (outcome,) = [o for o in spec.outcomes if o.name == "death_age"]
    assert (outcome.time_scale, outcome.entry, outcome.time) == ("age", "age_entry",
                                                                 "death_age_exit")  # fmt: skip
    sets = spec.models.covariate_sets(outcome)
    assert "age" not in sets["Model 2"] and sets["Model 2"] == MODEL_2[1:]
    assert "age" in spec.models.covariate_sets()["Model 1"]  # follow-up outcomes keep age
    assert (REPO / "analyses" / "cac_mi_ckd.yaml").read_text() == HEADLINE.read_text()


def test_population_is_the_committed_r_data(run: cc.AnalysisResult) -> None:
    committed = pl.read_csv(REFERENCE / "agescale_headline.csv", infer_schema_length=None)
    ours = run.frame.select(committed.columns)
    assert ours["participant_id"].to_list() == committed["participant_id"].to_list()
    for column in ("age_entry", "death_age_exit"):
        np.testing.assert_array_equal(ours[column].to_numpy(), committed[column].to_numpy())


def test_run_equals_direct_cox_and_r(run: cc.AnalysisResult) -> None:
    fit = run.fit("death_age", exposure="cac_category", model="Model 2").result
    direct = cc.cox(run.frame, time="death_age_exit", entry="age_entry", event="death_status",
                    covariates=MODEL_2, reference={"cac_category": "0"})  # fmt: skip
    np.testing.assert_allclose(fit.summary.to_numpy(), direct.summary.to_numpy(), rtol=1e-12)
    assert list(fit.summary.index) == list(direct.summary.index)
    reference = pl.read_csv(REFERENCE / "agescale_coefficients.csv", infer_schema_length=0)
    reference = reference.filter(pl.col("case") == "headline_death_age_model2")
    names = {"sexmale": "sex[male]", "diabetestrue": "diabetes[True]",
             "bp_treatedtrue": "bp_treated[True]", "statintrue": "statin[True]"}  # fmt: skip
    for row in reference.iter_rows(named=True):
        term = names.get(row["term"], row["term"])
        for prefix in ("cac_category", "race_ethnicity", "smoking"):
            if term.startswith(prefix) and "[" not in term:
                term = f"{prefix}[{term[len(prefix) :]}]"
        for column in ("coef", "se"):
            assert fit.summary.loc[term, column] == pytest.approx(float(row[column]), rel=1e-8)
    assert fit.n_events == int(reference["nevent"][0])
    assert fit.loglik == pytest.approx(float(reference["loglik"][0]), rel=1e-10)


def test_tables_use_age_scale_fits_and_person_years(run: cc.AnalysisResult) -> None:
    table = run.tables["hr_death_age_cox"].frame
    fit = run.fit("death_age", exposure="cac_category", model="Model 2").result
    row = table.loc[table.iloc[:, 0] == ">400"].iloc[0]
    hr = fit.summary.loc["cac_category[>400]"]
    assert row["Model 2 HR (95% CI)"] == format_ratio_ci(hr["hr"], hr["hr_lower"], hr["hr_upper"])
    # person-years from entry to exit: about 12 years each, not the ages summed from birth
    frame = run.frame.filter(pl.col("cac_category") == ">400")
    years = float((frame["death_age_exit"] - frame["age_entry"]).sum())
    assert row["Person-years"] == f"{years:,.1f}"
    rates = run.tables["incidence_rates"].frame
    total = float((run.frame["death_age_exit"] - run.frame["age_entry"]).sum())
    assert rates["Person-years"].iloc[0] == f"{total:,.1f}"
    assert total < 20 * run.frame.height


def test_landmark_on_the_age_scale_moves_entry(run: cc.AnalysisResult) -> None:
    fit = run.fit("death_age", exposure="cac_category", model="Model 2",
                  analysis="landmark_1y").result  # fmt: skip
    moved = run.frame.with_columns(pl.col("age_entry") + 1.0).filter(
        pl.col("death_age_exit") > pl.col("age_entry")
    )
    direct = cc.cox(moved, time="death_age_exit", entry="age_entry", event="death_status",
                    covariates=MODEL_2, reference={"cac_category": "0"})  # fmt: skip
    assert fit.n == moved.height < run.frame.height
    np.testing.assert_allclose(fit.summary.to_numpy(), direct.summary.to_numpy(), rtol=1e-12)


def test_methods_text_states_the_time_scale(run: cc.AnalysisResult) -> None:
    from cohortcalc.analysis.methods import methods_paragraphs

    text = "\n".join(methods_paragraphs(run.spec, run.frame.height, run.per_sd_units, {}))
    assert "age as the time scale: entry `age_entry`, exit `death_age_exit`" in text
    assert "person-years run from entry to exit" in text
    assert "first 1 year(s) after each participant's entry" in text
    assert "outcome-specific sets: for All-cause mortality, age as the time scale" in text


def test_numbers_at_risk_for_disclosure_are_the_delayed_entry_risk_sets(
    run: cc.AnalysisResult,
) -> None:
    """On the age scale a number at risk at age t counts entry < t <= exit; the disclosure
    pass must count the same rows the figure prints (cc.kaplan_meier with entry=)."""
    from cohortcalc.analysis.disclosure import CountSpace
    from cohortcalc.analysis.figures import risk_cells
    from cohortcalc.analysis.outputs import Context

    outputs = run.spec.outputs.model_copy(update={"figures": ["kaplan_meier"]})
    spec = run.spec.model_copy(update={"outputs": outputs})
    context = Context(spec, run.frame, run.flow, {}, (), (), None)  # type: ignore[arg-type]
    frame, listed = risk_cells(context)["km_death_age_by_cac_category"]
    outcome = spec.outcomes[0]
    dead = frame.with_columns(dead=pl.col("death_status") == 1)
    curves = cc.kaplan_meier(dead, time=outcome.time, event="dead", entry=outcome.entry,
                             by="cac_category")  # fmt: skip
    space, checked = CountSpace(id_column="participant_id"), 0
    for value, time, where in listed:
        rows = space._rows(frame, where).height
        group = frame.filter(pl.col("cac_category").cast(pl.String) == str(value))
        exact = group.filter((pl.col(outcome.entry) < time) & (pl.col(outcome.time) >= time))
        assert rows == exact.height > 0, (value, time)
        curve = curves.loc[curves["cac_category"].astype(str) == str(value)]
        later = curve.loc[curve["time"] >= time]
        entered = group.get_column(outcome.entry)
        if len(later) and (entered < time).sum() == (entered < later["time"].iloc[0]).sum():
            assert rows == int(later["n_risk"].iloc[0]), (value, time)  # the printed number
            checked += 1
    assert checked >= 8
