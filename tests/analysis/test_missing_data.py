"""``missing_data:`` in a spec: impute once, fit each main model per completed data set, pool
by Rubin's rules into the HR tables; complete cases as a sensitivity analysis; refusals.

The pooled run is checked against a direct computation through the public API
(``cc.impute`` on the same population, ``cc.cox``/``cc.finegray`` per data set, ``cc.pool``);
``cc.pool`` itself is checked against ``mice::pool`` in ``tests/imputation``.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
import yaml

import cohortcalc as cc
from cohortcalc.analysis.exposure_response_spec import exposure_response_methods
from cohortcalc.analysis.spec import spec_from_text
from cohortcalc.errors import ModelWarning, SpecError
from cohortcalc.reporting.format import format_ratio_ci

sys.path.insert(0, str(Path(__file__).parent))  # the store helper beside this file
import imputation_data as data

VARIABLES = ["serum_creatinine", "uacr", "hdl_cholesterol", "smoking"]
MODEL_2 = ["age", "sex", "smoking", "hdl_cholesterol", "ckd"]
LEVELS = ["1-100", "101-400", ">400"]
SHOWN = ["1–100", "101–400", ">400"]  # en dash in tables


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return data.write_store(tmp_path_factory.mktemp("mi_store") / "store")


EVENTS: list[Any] = []  # the progress events of the module's run


@pytest.fixture(scope="module")
def run(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = tmp_path_factory.mktemp("mi_run") / "out"
        return cc.run(data.spec(store), out=out, progress=EVENTS.append)


def test_fit_progress_rises_through_the_pooled_and_complete_case_fits(run) -> None:
    """The pooled tasks advance the fit step as data sets are fitted; the complete-case tasks
    then count on from there: never backwards, ending at every task."""
    fit = [e for e in EVENTS if e.step == "fit"]
    counts = [e.completed for e in fit if e.status == "advance"]
    assert counts == sorted(counts) and len(set(counts)) > 3
    assert fit[-1].status == "done" and counts[-1] == fit[-1].total
    timings = run.manifest["timings_seconds"]  # imputation is timed inside the fit step
    assert 0 < timings["impute"] < timings["fit"]
    steps = ("data", "derive", "check", "fit", "tables", "figures", "report")
    assert timings["total"] == pytest.approx(
        sum(timings[s] for s in steps), abs=0.0045
    )  # 8 ms roundings


@pytest.fixture(scope="module")
def direct(run: Any) -> Any:
    """cc.impute on the run's population (before its trend score), outside the runner."""
    population = run.frame.drop("cac_category_score")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cc.impute(
            population, VARIABLES, seed=2026, m=3, iterations=3,
            time=["mi_years"], event=["mi_status"],
        )  # fmt: skip


def _cox(frame: pl.DataFrame, covariates: list[str]) -> Any:
    mi = frame.with_columns(mi=(pl.col("mi_status") == 1).cast(pl.Int8))
    reference = {"cac_category": "0"} if "cac_category" in covariates else None
    return cc.cox(mi, "mi_years", "mi", covariates, reference=reference)


def _finegray(frame: pl.DataFrame, covariates: list[str]) -> Any:
    reference = {"cac_category": "0"} if "cac_category" in covariates else None
    return cc.finegray(
        frame, "mi_years", "mi_status", cause=1, covariates=covariates, reference=reference
    )


@pytest.mark.parametrize(("method", "fitter"), [("cox", _cox), ("finegray", _finegray)])
def test_pooled_table_equals_direct_impute_fit_pool(run, direct, method, fitter) -> None:
    covariates = ["cac_category", *MODEL_2]
    pooled = cc.pool([fitter(d, covariates) for d in direct.datasets])
    fit = run.fit("mi", method, "cac_category", "Model 2")
    terms = [f"cac_category[{level}]" for level in LEVELS]
    ours = fit.result.summary.loc[terms]
    theirs = pooled.summary.loc[terms]
    for a, b in (("coef", "estimate"), ("se", "se"), ("hr_lower", "hr_lower"), ("p", "p")):
        np.testing.assert_allclose(ours[a], theirs[b], rtol=1e-10)
    np.testing.assert_allclose(fit.result.coef[terms], theirs["estimate"], rtol=1e-10)
    assert fit.result.n == run.frame.height  # every participant, none dropped for a missing lab
    table = run.tables[f"hr_mi_{method}"].frame
    column = next(c for c in table.columns if c.startswith("Model 2"))
    cells = table.set_index(table.columns[0])[column]
    for level, term in zip(SHOWN, terms, strict=True):
        row = theirs.loc[term]
        assert cells[level] == format_ratio_ci(row["hr"], row["hr_lower"], row["hr_upper"])


def test_per_sd_and_trend_are_pooled(run, direct) -> None:
    sd = run.per_sd_units["log_cac"]
    pooled = cc.pool([_cox(d, ["log_cac", *MODEL_2]) for d in direct.datasets])
    summary = run.summary()
    chosen = (summary["method"] == "cox") & (summary["term"] == "log_cac")
    chosen &= (summary["model"] == "Model 2") & (summary["analysis"] == "main")
    (row,) = [r for _, r in summary[chosen & (summary["subgroup"] == "all")].iterrows()]
    expected = pooled.summary.loc["log_cac"]
    np.testing.assert_allclose(
        [row["hr"], row["hr_lower"], row["hr_upper"]],
        [expected["hr"] ** sd, expected["hr_lower"] ** sd, expected["hr_upper"] ** sd],
        rtol=1e-10,
    )
    scored = [d.with_columns(s=pl.col("cac_category").to_physical().cast(pl.Float64))
              for d in direct.datasets]  # fmt: skip
    trend = cc.pool([_cox(d, ["s", *MODEL_2]) for d in scored]).summary.loc["s", "p"]
    assert run.fit("mi", "cox", "cac_category", "Model 2").p_trend == pytest.approx(trend, 1e-10)


def test_subgroups_of_an_imputed_modifier_are_pooled_per_data_set(run, direct) -> None:
    covariates = ["cac_category", *[c for c in MODEL_2 if c != "ckd"]]
    within = [d.filter(pl.col("ckd")) for d in direct.datasets]
    pooled = cc.pool([_cox(d, covariates) for d in within]).summary
    (fit,) = [f for f in run.fits if f.key.subgroup == "ckd=true" and f.key.method == "cox"
              and f.key.exposure == "cac_category" and f.key.model == "Model 2"]  # fmt: skip
    term = "cac_category[>400]"
    assert fit.result.summary.loc[term, "coef"] == pytest.approx(pooled.loc[term, "estimate"])
    assert fit.result.summary.loc[term, "se"] == pytest.approx(pooled.loc[term, "se"], 1e-10)
    notes = " ".join(run.tables["hr_mi_cox_by_ckd"].footnotes)
    assert "Rubin's rules" in notes and "Subgroups by CKD" in notes
    assert "first completed data set" in notes
    assert notes.count("p for interaction") == 1
    assert "p for interaction: pooled Wald test (D1) of the exposure × modifier" in notes


@pytest.mark.parametrize("method", ["cox", "finegray"])
def test_interaction_is_the_d1_test_pooled_over_imputations(run, direct, method) -> None:
    """Each interaction model (exposure, Model 2, CKD, products) fitted on every completed
    data set, pooled, its product terms tested by D1: the run's test, its table and forest."""
    fitter = _cox if method == "cox" else _finegray
    covariates = ["cac_category", *MODEL_2, "cac_category:ckd"]
    pooled = cc.pool([fitter(d, covariates) for d in direct.datasets])
    products = [t for t in pooled.terms if ":" in t]
    expected = pooled.wald_test(products)
    (test,) = [t for t in run.interactions if t.key.method == method
               and t.key.exposure == "cac_category" and t.key.model == "Model 2"]  # fmt: skip
    assert test.test == "d1" and list(test.terms) == products and test.df == len(products) == 3
    assert test.statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert test.df2 == pytest.approx(expected.df2, rel=1e-9)
    assert test.p == pytest.approx(expected.p, rel=1e-8)
    assert test.p != pytest.approx(cc.pool([fitter(direct.datasets[0], covariates)] * 2)
                                   .wald_test(products).p, rel=1e-3)  # fmt: skip
    table = run.tables["interactions"]
    frame = table.frame
    chosen = frame["Exposure"].str.startswith("CAC category") & (frame["Model"] == "Model 2")
    chosen &= frame["Method"].str.contains("Fine") == (method == "finegray")
    (row,) = [r for _, r in frame[chosen].iterrows()]
    assert row["Test"] == "D1" and "Chi-square" not in table.frame.columns
    assert row["df"] == f"3, {expected.df2:.1f}"
    notes = " ".join(table.footnotes)
    assert "pooled over the imputed data sets" in notes and "Multiple imputation (m = 3)" in notes


def test_workers_give_the_same_pooled_results(store, run, tmp_path) -> None:
    """Two worker processes (chains and fit sets spread over them) give the numbers of one."""
    spec = data.spec(store)
    spec["missing_data"]["workers"] = 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parallel = cc.run(spec)
    assert parallel.manifest["inputs"]["missing_data"]["workers"] == 2
    assert run.manifest["inputs"]["missing_data"]["workers"] == 1  # auto: small cohort
    pd.testing.assert_frame_equal(parallel.summary(), run.summary())
    assert [(t.statistic, t.df2, t.p) for t in parallel.interactions] == [
        (t.statistic, t.df2, t.p) for t in run.interactions
    ]


def test_spark_engine_refused_before_a_session(store) -> None:
    spec = {**data.spec(store), "engine": "spark", "spark": {"master": "local[1]"}}
    with pytest.raises(SpecError, match="runs on the local engine only"):
        cc.run(spec)


def test_complete_cases_stay_as_sensitivity(run) -> None:
    complete = run.fit("mi", "cox", "cac_category", "Model 2", analysis="complete_cases")
    observed = run.frame.drop_nulls(["smoking", "hdl_cholesterol", "ckd"])
    assert complete.result.n == observed.height < run.frame.height
    assert not hasattr(complete.result, "pooled")  # an ordinary fit of the observed data
    table = run.tables["hr_mi_cox_complete_cases"]
    assert any("Complete-case analysis" in note for note in table.footnotes)
    assert not any("Rubin" in note for note in table.footnotes)


def test_footnotes_and_methods_text(run) -> None:
    for name in ("hr_mi_cox", "hr_mi_finegray", "estimates"):
        notes = " ".join(run.tables[name].footnotes)
        assert "Multiple imputation (m = 3), Rubin's rules" in notes
        assert "Wald intervals" not in notes and "p for trend: Wald" not in notes
    report = run.report.read_text()
    assert "**Missing data.**" in report or "Missing data." in report
    for text in ("m = 3 imputations, 3 iterations, seed 2026", "predictive mean matching",
                 "multinomial logistic regression", "Nelson–Aalen", "Complete-case",
                 "Tests of effect modification are D1 tests",
                 "a Wald test pooled over the imputed data sets (D1"):  # fmt: skip
        assert text in report, text
    assert "observed data (available cases)" not in report.split("Missing data.")[1][:2000]
    models = report.split("Models.")[1].split("</p>")[0]
    assert "available-case analysis" not in models and "see Missing data" in models
    record = run.manifest["inputs"]["missing_data"]
    n_missing = {r["variable"]: r["n_missing"] for r in record["missing"]}
    raw = run.frame
    assert n_missing == {v: raw[v].null_count() for v in VARIABLES}


def test_table_one_reports_observed_data_with_missing_counts(run) -> None:
    frame = run.tables["table_one"].frame.set_index("Characteristic")
    missing = frame["Missing, n"]
    for label, column in (("Smoking, n (%)", "smoking"),
                          ("HDL cholesterol, mg/dL, mean (SD)", "hdl_cholesterol"),
                          ("UACR, mg/g, mean (SD)", "uacr")):  # fmt: skip
        assert missing[label] == f"{run.frame[column].null_count():,}"
        assert run.frame[column].null_count() > 0  # observed data, not a completed data set


def test_diagnostics_figures_written(run) -> None:
    for name in ("imputation_trace", "imputed_vs_observed"):
        paths = run.figures[name]
        assert paths and all(p.is_file() and p.stat().st_size > 10_000 for p in paths)


def _yaml_spec(store: Path, **section: Any) -> str:
    spec = data.spec(store)
    spec["missing_data"] = {**spec["missing_data"], **section}
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


def _line_of(text: str, needle: str) -> int:
    """The line of ``needle`` in the missing_data section."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("missing_data:"))
    return next(i for i, line in enumerate(lines[start:], start + 1) if needle in line)


def test_m_below_two_refused_with_line(store) -> None:
    text = _yaml_spec(store, m=1)
    with pytest.raises(SpecError, match=r"line \d+: missing_data\.m: m must be at least 2"):
        spec_from_text(text, source="mi.yaml")


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("uacr_typo", "is not a column of the analysis frame"),
        ("mi_years", "is an outcome"),
        ("mi_status", "is an outcome"),
        ("cac_category", "is the exposure"),
        ("cac_agatston", "is the exposure"),
        ("egfr", r"is derived from \['serum_creatinine'.*impute its raw inputs"),
        ("ckd", r"is derived from .*\(list serum_creatinine, uacr\)"),
    ],
)
def test_refusals_name_the_spec_line(store, variable, message) -> None:
    text = _yaml_spec(store, variables=["uacr", variable])
    spec = spec_from_text(text, source="mi.yaml", base_dir=store.parent)
    line = _line_of(text, f"- {variable}")
    with pytest.raises(SpecError, match=rf"mi\.yaml, line {line}: '{variable}' {message}"):
        cc.run(spec)


def test_model_column_left_incomplete_is_refused(store) -> None:
    text = _yaml_spec(store, variables=["serum_creatinine", "uacr", "smoking"])
    spec = spec_from_text(text, source="mi.yaml", base_dir=store.parent)
    with pytest.raises(SpecError, match=r"'hdl_cholesterol' \(\d+ missing\).*add them"):
        cc.run(spec)


def test_example_spec_loads_with_twenty_imputations() -> None:
    spec = cc.analysis.load_spec(Path(__file__).parents[2] / "analyses" / "cac_mi_ckd_mi.yaml")
    assert spec.missing_data is not None and spec.missing_data.m == 20
    assert "ckd" not in [f.column for f in spec.population]  # a covariate imputed, not filtered


@pytest.fixture(scope="module")
def spline_run(store: Path) -> Any:
    spec = data.spec(store)
    spec["exposure_response"] = {
        "splines": [{"column": "log_cac", "knots": 4, "scale": "log1p", "reference": 0,
                     "at": [10, 100, 400], "outcomes": ["mi"]}],
        "additive_interactions": [{"first": {"column": "cac_agatston", "above": 0},
                                   "second": {"column": "ckd"}, "outcomes": ["mi"]}],
        "evalues": True,
    }  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cc.run(spec)


@pytest.mark.parametrize(("method", "fitter"), [("cox", _cox), ("finegray", _finegray)])
def test_spline_curve_is_pooled_over_the_completed_data_sets(
    spline_run, direct, method, fitter
) -> None:
    """The spline table of a run with missing_data: cc.hr_curve of the spline model fitted on
    each completed data set (Rubin's rules per point, D1 tests); other exposure–response
    tables say they use the observed data."""
    covariates = ["rcs(log_cac, 4)", *MODEL_2]
    fits = [fitter(d, covariates) for d in direct.datasets]
    curve = cc.hr_curve(fits, "log_cac", reference=0.0, at=np.log1p([10, 100, 400]))
    table = spline_run.tables[f"spline_mi_{method}_log_cac"]
    cells = table.frame.iloc[:, 1].tolist()
    expected = [format_ratio_ci(r.hr, r.hr_lower, r.hr_upper) for r in curve.table.itertuples()]
    assert cells == expected
    single = cc.hr_curve(fits[0], "log_cac", reference=0.0, at=np.log1p([10, 100, 400]))
    assert expected != [
        format_ratio_ci(r.hr, r.hr_lower, r.hr_upper) for r in single.table.itertuples()
    ]
    notes = " ".join(table.footnotes)
    assert "pooled over 3 imputed data sets" in notes
    assert f"F {curve.association.statistic:.2f} on 3 and {curve.association.df2:.1f} df" in notes
    evalues = spline_run.tables["evalues"]  # from the pooled HRs of the main fits
    assert "E-values of the HRs pooled over 3 imputed data sets" in " ".join(evalues.footnotes)
    pooled_hr = spline_run.fit("mi", "cox", "cac_category", "Model 2").result.summary
    row = evalues.frame[evalues.frame["Term"] == "cac_category[>400]"].iloc[0]
    hr = pooled_hr.loc["cac_category[>400]"]
    assert row["HR (95% CI)"] == format_ratio_ci(hr["hr"], hr["hr_lower"], hr["hr_upper"])
    additive = spline_run.tables["additive_mi_cac_agatston_above_0_ckd"]
    notes = " ".join(additive.footnotes)
    assert "pooled over 3 imputed data sets by Rubin's rules" in notes
    assert "not on the 3 imputed data sets" not in notes
    if method == "cox":  # the table's RERI is the pooled RERI of the direct fits
        binary = [d.with_columns(cac_agatston_above_0=pl.col("cac_agatston") > 0)
                  for d in direct.datasets]  # fmt: skip
        terms = ["cac_agatston_above_0 * ckd", *[c for c in MODEL_2 if c != "ckd"]]
        with pytest.warns(ModelWarning, match=r"protective .* \(in 3 of 3 imputed data sets"):
            result = cc.additive_interaction(
                [_cox(d, terms) for d in binary], "cac_agatston_above_0", "ckd"
            )
        reri = additive.frame.set_index("Quantity").loc["RERI", "Estimate (95% CI)"]
        assert reri.startswith(f"{result.measures.loc['RERI', 'estimate']:.2f} (")
    methods = " ".join(exposure_response_methods(spline_run.spec))
    assert "pooled over the imputed data sets (Rubin's rules), with D1 tests" in methods


def test_auto_workers_pay_for_themselves_and_fit_in_memory() -> None:
    """workers: auto is one process below rows × m = 100,000 (start-up would cost more than it
    saves), one per core up to m above it, and never more than free memory holds for six
    copies of the data each; a stated number is taken as it is."""
    import os

    from cohortcalc.analysis.imputation_spec import MissingData

    auto = MissingData(method="multiple_imputation", m=20, seed=1, variables=["uacr"])
    assert auto.workers == "auto"
    assert auto.processes(4_999) == 1
    assert auto.processes(5_000, 10**6) == min(os.cpu_count() or 1, 20)
    assert auto.processes(5_000, 10**15) == 1  # a petabyte of data: no room for copies
    three = MissingData(method="multiple_imputation", m=2, seed=1, variables=["uacr"], workers=3)
    assert three.processes(10, 10**15) == 3
