"""The spec's ``exposure_response`` section: its tables equal the effect functions applied to
fits made directly on the analysis population, its figures are written, and bad entries are
SpecErrors naming the spec line."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.analysis.spec import spec_from_text
from cohortcalc.errors import SpecError

REPO = Path(__file__).resolve().parents[2]

SPEC: dict[str, Any] = {
    "name": "exposure_response",
    "title": "Exposure-response",
    "data": {"synthetic": {"n": 4000, "seed": 5}},
    "population": [
        {"column": "age", "op": ">=", "value": 45},
        {"column": "cac_agatston", "op": "not_null"},
        {"column": "ckd", "op": "not_null"},
    ],
    "exposures": [{"column": "log_cac", "kind": "continuous", "per_sd": True}],
    "outcomes": [
        {
            "name": "mi",
            "time": "mi_years",
            "status": "mi_status",
            "event_code": 1,
            "competing_code": 2,
            "methods": ["cox", "finegray"],
        },
    ],
    "models": {"adjustment": [{"name": "Model 1", "covariates": ["age", "sex"]}]},
    "small_cell_threshold": 0,  # off here: the counts are compared; suppression tested below
    "exposure_response": {
        "splines": [
            {
                "column": "log_cac",
                "knots": 4,
                "scale": "log1p",
                "reference": 0,
                "at": [10, 100, 1000],
                "label": "CAC",
            },
        ],
        "additive_interactions": [
            {"first": {"column": "cac_agatston", "above": 0}, "second": {"column": "ckd"}}
        ],
        "evalues": True,
    },
    "outputs": {
        "tables": ["flow"],
        "figures": [],
        "table_formats": ["csv"],
        "figure_formats": ["png"],
        "report": "md",
    },
}


@cache
def _run(out: Path) -> cc.AnalysisResult:
    return cc.run(copy.deepcopy(SPEC), out=out)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> cc.AnalysisResult:
    return _run(tmp_path_factory.mktemp("exposure_response"))


def _mi_event(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns((pl.col("mi_status") == 1).cast(pl.Int8).alias("_event"))


def test_spline_table_equals_hr_curve_of_a_direct_fit(run: cc.AnalysisResult) -> None:
    fit = cc.cox(_mi_event(run.frame), "mi_years", "_event", ["rcs(log_cac, 4)", "age", "sex"])
    curve = cc.hr_curve(fit, "log_cac", reference=0.0, at=np.log1p([10, 100, 1000]))
    table = run.tables["spline_mi_cox_log_cac"]
    assert table.frame["CAC"].tolist() == ["10", "100", "1,000"]
    np.testing.assert_allclose(table.values["value"], curve.table["hr"], rtol=1e-12)
    assert f"{curve.nonlinearity.statistic:.2f} on 2 df" in table.footnotes[1]
    assert "SHR (95% CI)" in run.tables["spline_mi_finegray_log_cac"].frame.columns
    figure = run.out / "figures" / "spline_mi_cox_log_cac.png"
    assert figure.is_file() and str(figure.relative_to(run.out)) in run.manifest["outputs"]


def test_additive_table_equals_additive_interaction_of_a_direct_fit(run) -> None:
    data = _mi_event(run.frame).with_columns(
        (pl.col("cac_agatston") > 0).cast(pl.Int8).alias("cac_agatston_above_0"),
        pl.col("ckd").cast(pl.Int8),
    )
    fit = cc.cox(data, "mi_years", "_event", ["cac_agatston_above_0 * ckd", "age", "sex"])
    expected = cc.additive_interaction(fit, "cac_agatston_above_0", "ckd").measures
    table = run.tables["additive_mi_cac_agatston_above_0_ckd"]
    values = table.values.set_index("quantity")["value"]
    for measure in ("RERI", "AP", "SI", "multiplicative"):
        assert values[measure] == pytest.approx(expected.loc[measure, "estimate"], rel=1e-12)
    assert table.frame["Estimate (95% CI)"].iloc[0] == "1 (reference)"
    participants = table.frame["Participants"].iloc[:4].str.replace(",", "").astype(int)
    events = table.frame["Events"].iloc[:4].str.replace(",", "").astype(int)
    assert (participants.sum(), events.sum()) == (fit.n, fit.n_events)  # counts reconcile
    cell = data.filter((pl.col("cac_agatston_above_0") == 1) & (pl.col("ckd") == 1))
    assert events.iloc[3] == cell.filter(pl.col("mi_status") == 1).height


def test_small_cells_of_the_joint_table_are_suppressed() -> None:
    spec = copy.deepcopy(SPEC)
    spec["data"]["synthetic"]["n"] = 1500
    spec["exposure_response"] = {
        "additive_interactions": SPEC["exposure_response"]["additive_interactions"]
    }
    spec["small_cell_threshold"] = 60
    table = cc.run(spec).tables["additive_mi_cac_agatston_above_0_ckd"]
    assert table.suppressed_below == 60
    events = table.frame["Events"].iloc[:4].tolist()
    assert "<60" in events and not any(e.isdigit() and int(e) < 60 for e in events)


def test_evalues_use_the_outcome_risk_at_the_end_of_follow_up(run) -> None:
    curve = cc.cumulative_incidence(
        run.frame.drop_nulls(["mi_years", "mi_status"]), "mi_years", "mi_status", 1
    )
    risk = float(curve["cif"].iloc[-1])
    fit = next(f for f in run.fits if f.key.method == "cox" and f.key.subgroup == "all")
    sd = run.per_sd_units["log_cac"]
    hr, lower, upper = np.exp(
        sd * (fit.result.coef["log_cac"] + np.array([0, -1.959963984540054, 1.959963984540054])
              * fit.result.summary.loc["log_cac", "se"])
    )  # fmt: skip
    expected = cc.evalue(hr, lower, upper, outcome_risk=risk)
    table = run.tables["evalues"]
    assert len(table.frame) == 1  # Cox only: a subdistribution HR is not a risk ratio
    assert table.values["value"].iloc[0] == pytest.approx(expected.point, rel=1e-9)
    assert table.frame["Outcome risk"].iloc[0] == f"{100 * risk:.1f}%"


def test_report_has_the_methods_paragraph_tables_and_figure(run) -> None:
    text = run.report.read_text()
    assert "**Exposure–response.** The association with CAC was modelled as a restricted" in text
    assert "RERI" in text and "E-values (VanderWeele & Ding 2017)" in text
    assert "## Exposure–response and additive interaction" in text
    assert "spline_mi_cox_log_cac.png" in text


def test_headline_spec_shows_the_cac_spline_and_the_cac_ckd_interaction() -> None:
    spec = cc.analysis.load_spec(REPO / "analyses" / "cac_mi_ckd.yaml")
    section = spec.exposure_response
    assert section is not None and section.evalues
    spline = section.splines[0]
    assert (spline.column, spline.scale, spline.reference, spline.outcomes) == (
        "log_cac", "log1p", 0.0, ["mi"],
    )  # fmt: skip
    pair = section.additive_interactions[0]
    assert (pair.first.column, pair.first.above, pair.second.column) == ("cac_agatston", 0, "ckd")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"splines": [{"column": "log_cak", "reference": 0}]}, "spline exposure 'log_cak'"),
        ({"splines": [{"column": "log_cac", "knots": 9}]}, "3 to 7 knots"),
        (
            {"additive_interactions": [{"first": {"column": "age"}, "second": {"column": "ckd"}}]},
            "'age' is not binary",
        ),
    ],
)
def test_bad_entries_are_spec_errors(change: dict, message: str) -> None:
    spec = copy.deepcopy(SPEC)
    spec["data"]["synthetic"]["n"] = 1500
    spec["exposure_response"] = change
    with pytest.raises(cc.CohortcalcError, match=message):
        cc.run(spec)


def test_unknown_key_in_the_section_names_its_line() -> None:
    text = (REPO / "analyses" / "cac_mi_ckd.yaml").read_text()
    bad = text.replace("  evalues: true", "  evalue: true")
    with pytest.raises(SpecError, match=r"exposure_response\.evalue: unknown key"):
        spec_from_text(bad, source="x.yaml")
