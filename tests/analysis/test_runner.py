"""End-to-end runs: files written, every number traced to an independent fit, determinism."""

from __future__ import annotations

import copy
import dataclasses
import json
import math

import numpy as np
import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.analysis import STEPS
from cohortcalc.analysis.manifest import sha256_file
from cohortcalc.errors import SpecError


@pytest.fixture(scope="module")
def population() -> pl.DataFrame:
    """The small spec's population, rebuilt here without the runner."""
    cohort = cc.simulate(3000, seed=5)
    tables = cohort.tables
    frame = cc.derive(
        tables["participants"],
        lesions=tables["cac_lesions"],
        events=tables["events"],
        followup=tables["followup"],
    )
    return frame.filter(pl.col("age") >= 45).with_columns(
        mi_event=(pl.col("mi_status") == 1).cast(pl.Int8)
    )


def test_writes_tables_figures_report_and_manifest(small_run):
    _, out, _ = small_run
    for name in (
        "flow",
        "table_one",
        "hr_mi_cox",
        "hr_mi_finegray",
        "hr_mi_cox_by_ckd",
        "hr_mi_finegray_by_ckd",
        "hr_mi_cox_landmark_1y",
        "interactions",
        "estimates",
    ):
        for suffix in ("csv", "md"):
            assert (out / "tables" / f"{name}.{suffix}").stat().st_size > 0, name
    for name in ("cif_mi_by_cac_category", "forest_mi_cox", "forest_mi_finegray"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 10_000
    report = (out / "report.html").read_text()
    assert "<h2>Methods</h2>" in report and "Fine–Gray" in report
    assert 'id="figure-forest_mi_cox"><img src="data:image/png;base64,' in report  # embedded


def test_cox_fit_equals_a_direct_fit(small_run, population):
    result, _, _ = small_run
    fit = result.fit("mi", "cox", model="Model 1").result
    direct = cc.cox(
        population,
        time="mi_years",
        event="mi_event",
        covariates=["cac_category", "age", "sex"],
        reference={"cac_category": "0"},
    )
    assert fit.n == direct.n == population.height
    np.testing.assert_allclose(fit.summary["coef"], direct.summary["coef"], rtol=1e-10)
    np.testing.assert_allclose(fit.summary["se"], direct.summary["se"], rtol=1e-10)


def test_finegray_fit_equals_a_direct_fit(small_run, population):
    result, _, _ = small_run
    fit = result.fit("mi", "finegray").result
    direct = cc.finegray(
        population,
        time="mi_years",
        event="mi_status",
        cause=1,
        covariates=["cac_category", "age", "sex"],
    )
    np.testing.assert_allclose(fit.summary["coef"], direct.summary["coef"], rtol=1e-10)
    assert fit.n_events == int((population["mi_status"] == 1).sum())


def test_per_sd_rescales_by_the_population_sd(small_run, population):
    result, _, _ = small_run
    sd = float(population["log_cac"].std())
    assert result.per_sd_units["log_cac"] == pytest.approx(sd, rel=1e-12)
    raw = result.fit("mi", "cox", exposure="log_cac").result.summary.loc["log_cac"]
    row = result.summary().query("exposure == 'log_cac' and method == 'cox' and subgroup == 'all'")
    row = row[row["analysis"] == "main"].iloc[0]
    assert row["hr"] == pytest.approx(math.exp(raw["coef"] * sd), rel=1e-12)
    assert row["p"] == pytest.approx(raw["p"], rel=1e-12)


def test_landmark_sensitivity_restarts_the_clock(small_run, population):
    result, _, _ = small_run
    fit = result.fit("mi", "cox", analysis="landmark_1y").result
    landmark = population.filter(pl.col("mi_years") > 1).with_columns(pl.col("mi_years") - 1)
    direct = cc.cox(
        landmark, time="mi_years", event="mi_event", covariates=["cac_category", "age", "sex"]
    )
    assert fit.n == landmark.height < population.height
    np.testing.assert_allclose(fit.summary["coef"], direct.summary["coef"], rtol=1e-10)


def test_subgroups_partition_the_population(small_run):
    result, _, _ = small_run
    overall = result.fit("mi", "cox").result
    parts = [result.fit("mi", "cox", subgroup=f"ckd={v}").result for v in ("false", "true")]
    assert sum(p.n for p in parts) == overall.n
    assert sum(p.n_events for p in parts) == overall.n_events


def test_interaction_lrt_matches_direct_fits(small_run, population):
    result, _, _ = small_run
    test = next(
        t for t in result.interactions if (t.key.method, t.key.exposure) == ("cox", "cac_category")
    )
    covariates = ["cac_category", "age", "sex", "ckd"]
    reduced = cc.cox(population, time="mi_years", event="mi_event", covariates=covariates)
    full = cc.cox(
        population, time="mi_years", event="mi_event", covariates=[*covariates, "cac_category:ckd"]
    )
    assert test.test == "lrt" and test.df == 3
    assert test.statistic == pytest.approx(2 * (full.loglik - reduced.loglik), rel=1e-9)
    fine_gray = next(t for t in result.interactions if t.key.method == "finegray")
    assert fine_gray.test == "wald"


def test_hr_table_cells_come_from_the_fits(small_run):
    result, out, _ = small_run
    table = result.tables["hr_mi_cox"]
    fit = result.fit("mi", "cox").result.summary.loc["cac_category[>400]"]
    row = table.frame.index[table.frame.iloc[:, 0] == ">400"][0]
    column = next(c for c in table.frame.columns if "Model 1" in c)
    expected = f"{fit['hr']:.2f} ({fit['hr_lower']:.2f}–{fit['hr_upper']:.2f})"
    assert table.frame.loc[row, column] == expected
    assert expected in (out / "tables" / "hr_mi_cox.csv").read_text()


def test_manifest_records_inputs_versions_and_outputs(small_run):
    _, out, _ = small_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 5
    inputs = manifest["inputs"]
    assert {k: inputs[k] for k in ("kind", "n", "seed", "params")} == {
        "kind": "synthetic",
        "n": 3000,
        "seed": 5,
        "params": {},
    }
    assert set(inputs["sha256"]) == {"participants", "cac_lesions", "events", "followup"}
    assert len(manifest["spec"]["canonical_sha256"]) == 64
    assert manifest["packages"]["cohortcalc"] == cc.__version__
    assert set(manifest["timings_seconds"]) == {name for name, _ in STEPS} | {"total"}
    for path, digest in manifest["outputs"].items():
        assert sha256_file(out / path) == digest, path
    assert "tables/hr_mi_cox.csv" in manifest["outputs"]


def test_progress_reports_every_step_in_order(small_run):
    _, _, events = small_run
    starts = [e.step for e in events if e.status == "start"]
    dones = [e.step for e in events if e.status == "done"]
    assert starts == dones == [name for name, _ in STEPS]
    fit_events = [e for e in events if e.step == "fit" and e.status == "advance"]
    assert [e.completed for e in fit_events] == list(range(1, fit_events[0].total + 1))


def test_same_inputs_give_identical_tables(small_run, small_spec, tmp_path):
    _, first, _ = small_run
    cc.run(small_spec(), out=tmp_path)
    names = sorted(p.name for p in (first / "tables").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "tables").iterdir())
    for name in names:
        assert (first / "tables" / name).read_bytes() == (tmp_path / "tables" / name).read_bytes()
    assert (first / "report.html").read_bytes() == (tmp_path / "report.html").read_bytes()


def test_spec_errors_stop_before_any_fit(small_spec):
    spec = small_spec(models={"adjustment": [{"name": "M1", "covariates": ["age", "bmi"]}]})
    events: list = []
    with pytest.raises(SpecError, match="covariate of 'M1' 'bmi' is not a column"):
        cc.run(spec, progress=events.append)
    assert "fit" not in {e.step for e in events}


def test_run_without_out_keeps_everything_in_memory(small_spec):
    spec = small_spec(effect_modifiers=[], sensitivity=[])
    spec["outcomes"][0]["methods"] = ["cox"]
    result = cc.run(spec)
    assert result.out is None and result.report is None and result.figures == {}
    assert {"flow", "table_one", "hr_mi_cox", "estimates"} <= set(result.tables)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.fits = ()  # type: ignore[misc]


def test_raw_files_and_the_store_they_make_give_the_same_fits(small_spec, tmp_path):
    spec = small_spec(
        data={
            "raw": {
                "sources": "{out}/study_files",
                "mapping": "builtin:synthetic_study",
                "simulate_if_missing": {"n": 1200, "seed": 9},
            }
        },
        effect_modifiers=[],
        sensitivity=[],
    )
    spec["outcomes"][0]["methods"] = ["cox"]
    raw = cc.run(copy.deepcopy(spec), out=tmp_path / "raw")
    assert raw.manifest["inputs"]["kind"] == "raw"
    assert "mesa_demog.xpt" in raw.manifest["inputs"]["sha256"]
    participants = raw.manifest["inputs"]["rows"]["participants"]
    assert participants["read"] == participants["written"] + participants["quarantined"]
    stored = cc.read_store(tmp_path / "raw_participant_data" / "cohort_store")[
        "participants"
    ].collect()
    # repeated rows quarantined, impossible values nulled: every real participant is kept
    assert raw.flow["n_remaining"][0] == stored.height == 1200
    from_store = cc.run(
        {**spec, "data": {"store": str(tmp_path / "raw_participant_data" / "cohort_store")}}
    )
    assert from_store.manifest["inputs"]["kind"] == "store"
    a, b = raw.fit("mi").result.summary, from_store.fit("mi").result.summary
    np.testing.assert_array_equal(a["coef"].to_numpy(), b["coef"].to_numpy())


def test_incidence_rates_are_counted_and_small_cells_suppressed(small_run, population):
    result, out, _ = small_run
    frame = result.tables["incidence_rates"].frame
    cac = next(c for c in frame.columns if c.startswith("CAC"))
    counts = population.group_by("ckd", pl.col("cac_category").cast(pl.String)).agg(
        events=(pl.col("mi_status") == 1).sum()
    )
    expected = {
        ("With CKD" if ckd else "Without CKD", level.replace("-", "–")): events
        for ckd, level, events in counts.iter_rows()
    }
    shown = {(r["CKD"], r[cac]): r for _, r in frame.iterrows() if r["CKD"] != "All"}
    assert set(shown) == set(expected)
    for cell, events in expected.items():
        if 0 < events < 11:
            assert shown[cell]["Events"] == "<11"
            assert shown[cell]["Rate per 1,000 PY (95% CI)"] == "—"
        else:  # shown, or hidden to protect a small count here or in another table
            assert shown[cell]["Events"] in (f"{events:,}", "[c]")
    assert 0 < min(expected.values()) < 11  # the small cohort exercises suppression
    total = frame.loc[frame["CKD"] == "All", "Events"].item()
    assert total == f"{int(population['mi_event'].sum()):,}"
    assert "<11" in (out / "tables" / "incidence_rates.csv").read_text()


def test_a_rerun_removes_only_the_outputs_it_no_longer_writes(small_spec, tmp_path):
    spec = small_spec(effect_modifiers=[], sensitivity=[])
    spec["outcomes"][0]["methods"] = ["cox"]
    spec["outputs"]["figures"] = []
    cc.run(spec, out=tmp_path)
    mine = tmp_path / "tables" / "notes.txt"
    mine.write_text("kept")
    spec["outputs"]["table_formats"] = ["csv"]
    cc.run(spec, out=tmp_path)
    assert not (tmp_path / "tables" / "hr_mi_cox.md").exists()
    assert (tmp_path / "tables" / "hr_mi_cox.csv").exists()
    assert mine.read_text() == "kept"


def test_continuous_only_and_string_exposures(small_spec, tmp_path):
    spec = small_spec(data={"synthetic": {"n": 1500, "seed": 5}}, sensitivity=[])
    spec["exposures"] = [{"column": "log_cac", "kind": "continuous", "per_sd": True}]
    spec["outcomes"][0]["methods"] = ["cox"]
    result = cc.run(spec, out=tmp_path / "continuous")
    assert "hr_mi_cox" not in result.tables  # the HR table needs a categorical exposure
    assert set(result.figures) == {"cif_mi_by_ckd", "forest_mi_cox"}
    assert "With CKD" in result.tables["table_one"].frame.columns  # grouped by the modifier

    spec = small_spec(data={"synthetic": {"n": 1500, "seed": 5}}, sensitivity=[])
    spec["exposures"] = [{"column": "smoking", "kind": "categorical", "reference": "never"}]
    spec["outcomes"][0]["methods"] = ["cox"]
    spec["effect_modifiers"] = []
    result = cc.run(spec)
    frame = result.tables["hr_mi_cox"].frame
    assert frame.iloc[0, 0] == "Never" and frame.iloc[0, -1] == "1.00 (reference)"
    assert set(result.fit("mi", "cox", exposure="smoking").exposure_terms) == {
        "smoking[current]",
        "smoking[former]",
    }
    assert result.fit("mi", "cox", exposure="smoking").p_trend is None  # unordered: no trend


def test_unknown_derive_option_is_a_spec_error(small_spec):
    with pytest.raises(SpecError, match=r"unknown derive option\(s\) \['cac_cuts'\]"):
        cc.run(small_spec(derive={"cac_cuts": [100, 300]}))


def test_interaction_table_names_methods_by_outcome(small_run):
    from cohortcalc.analysis.outputs import method_name
    from cohortcalc.analysis.spec import Outcome

    result, _, _ = small_run
    frame = result.tables["interactions"].frame
    assert set(frame["Method"]) == {"Cox (cause-specific HR)", "Fine–Gray (subdistribution HR)"}
    assert set(frame["Test"]) == {"LRT", "Wald"}
    death = Outcome(name="death", time="death_years", status="death_status")
    assert method_name("cox", death) == "Cox (HR)"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"store": "no/such/store"}, "cohort store .* is not a folder"),
        (
            {"raw": {"sources": "x", "mapping": "builtin:nope"}},
            r"no built-in mapping 'nope'; built-in mappings: "
            r"\['synthetic_centre', 'synthetic_study'\]",
        ),
        ({"raw": {"sources": "no/such/files", "mapping": "builtin:synthetic_study"}}, "does not"),
    ],
)
def test_bad_data_sources_are_spec_errors(small_spec, data, message, tmp_path):
    with pytest.raises(SpecError, match=message):
        cc.run(small_spec(data=data), out=tmp_path)


def test_report_captions_describe_each_figure(small_run):
    result, out, _ = small_run
    from cohortcalc.analysis.figures import caption
    from cohortcalc.analysis.outputs import Context

    report = (out / "report.html").read_text()
    assert "Cumulative incidence of mi by CAC category" in report
    assert "treating the competing event as such rather than as censoring" in report
    assert "Fine–Gray, Model 1" in report
    ctx = Context(
        result.spec,
        result.frame,
        result.flow,
        dict(result.per_sd_units),
        result.fits,
        result.interactions,
        None,
    )  # type: ignore[arg-type]
    assert caption(ctx, "unknown_figure") == "unknown_figure"
