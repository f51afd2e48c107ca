"""``exposure_response.adjusted_curves``: its tables equal ``cc.standardized_risk`` called
directly on fits of the analysis population (Cox with the competing event's cause-specific
fit, Cox without a competing event on the default time grid, Fine–Gray with a seeded
bootstrap), its figures are written with the run's formats and dpi and captioned, and bad
entries are refused with their spec line before anything is fitted."""

from __future__ import annotations

import copy
import math
import re
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml
from PIL import Image

import cohortcalc as cc
from cohortcalc.analysis.exposure_response_spec import exposure_response_problems
from cohortcalc.analysis.spec import spec_from_text
from cohortcalc.errors import SpecError

REPO = Path(__file__).resolve().parents[2]
HEADLINE = REPO / "analyses" / "cac_mi_ckd.yaml"
COVARIATES = ["age", "sex"]

SPEC: dict[str, Any] = {
    "name": "adjusted_curves",
    "title": "Adjusted curves",
    "data": {"synthetic": {"n": 1500, "seed": 11}},
    "population": [
        {"column": "age", "op": ">=", "value": 45},
        {"column": "cac_agatston", "op": "not_null"},
    ],
    "exposures": [
        {"column": "cac_category", "kind": "categorical", "reference": "0", "label": "CAC"},
        {"column": "log_cac", "kind": "continuous"},
    ],
    "outcomes": [
        {
            "name": "mi",
            "label": "MI",
            "time": "mi_years",
            "status": "mi_status",
            "event_code": 1,
            "competing_code": 2,
            "methods": ["cox"],
        },
        {"name": "death", "time": "death_years", "status": "death_status", "methods": ["cox"]},
    ],
    "models": {"adjustment": [{"name": "Model 1", "covariates": COVARIATES}]},
    "exposure_response": {
        "adjusted_curves": [
            {"exposure": "cac_category", "outcomes": ["mi"], "times": [2, 4, 6, 8], "at": [3, 8]},
            {"exposure": "cac_category", "outcomes": ["death"]},
            {
                "exposure": "log_cac",
                "levels": [0, 3, 6],
                "outcomes": ["mi"],
                "method": "finegray",
                "times": [3, 6],
                "n_boot": 20,
                "seed": 7,
            },
        ],
    },
    "outputs": {
        "tables": ["flow"],
        "figures": [],
        "table_formats": ["csv"],
        "figure_formats": ["png"],
        "figure_dpi": 600,
        "report": "md",
    },
}


@cache
def _run(out: Path) -> cc.AnalysisResult:
    return cc.run(copy.deepcopy(SPEC), out=out)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> cc.AnalysisResult:
    return _run(tmp_path_factory.mktemp("adjusted_curves"))


def _events(frame: pl.DataFrame, status: str, *codes: int) -> pl.DataFrame:
    return frame.with_columns((pl.col(status) == c).cast(pl.Int8).alias(f"is_{c}") for c in codes)


def _assert_table_equals(table: Any, direct: Any, at: list[float]) -> None:
    """Every number of the table is the direct call's, in the table's row order."""
    expected: dict[str, list[float]] = {"risk": [], "difference": [], "ratio": []}
    for t in at:
        for level in direct.levels:
            risk = direct.risk.loc[(direct.risk["time"] == t) & (direct.risk["level"] == level)]
            expected["risk"].append(float(risk["risk"].iloc[0]))
            if level != direct.reference:
                rows = (direct.contrasts["time"] == t) & (direct.contrasts["level"] == level)
                c = direct.contrasts.loc[rows]
                expected["difference"].append(float(c["difference"].iloc[0]))
                expected["ratio"].append(float(c["ratio"].iloc[0]))
    for quantity, values in expected.items():
        got = table.values.loc[table.values["quantity"] == quantity, "value"].to_numpy()
        np.testing.assert_allclose(got, values, rtol=1e-12, err_msg=quantity)
    assert len(table.frame) == len(at) * len(direct.levels)


def test_cox_table_with_a_competing_event_equals_the_direct_standardized_risk(run) -> None:
    data = _events(run.frame, "mi_status", 1, 2)
    terms = ["cac_category", *COVARIATES]
    reference = {"cac_category": "0"}
    fit = cc.cox(data, "mi_years", "is_1", terms, reference=reference)
    death = cc.cox(data, "mi_years", "is_2", terms, reference=reference)
    direct = cc.standardized_risk(fit, data, "cac_category", [3, 8], competing=death)
    table = run.tables["adjusted_mi_cox_cac_category"]
    _assert_table_equals(table, direct, [3, 8])
    first = direct.contrasts.iloc[0]  # 1-100 vs 0 at 3 years, shown in percentage points
    decimals = 2 if direct.risk.query("time in [3, 8]")["upper"].max() < 0.1 else 1
    shown = [f"{100 * first[k]:.{decimals}f}" for k in ("difference", "difference_lower")]
    cell = table.cell(1, "Difference, percentage points (95% CI)")
    assert cell.startswith(f"{shown[0]} ({shown[1]} to ")
    assert table.cell(0, "Ratio (95% CI)") == "1 (reference)"
    assert "Cumulative incidence, % (95% CI)" in table.frame.columns
    assert "cause-specific Cox fits of 'mi_status = 1' and 'mi_status = 2'" in table.footnotes[1]


def test_cox_without_competing_event_uses_the_default_grid(run) -> None:
    data = _events(run.frame, "death_status", 1)
    fit = cc.cox(data, "death_years", "is_1", ["cac_category", *COVARIATES],
                 reference={"cac_category": "0"})  # fmt: skip
    follow_up = data.drop_nulls(["death_years", "cac_category", *COVARIATES])["death_years"]
    q = float(np.quantile(follow_up.to_numpy(), 0.9))
    unit = 10.0 ** (math.floor(math.log10(q)) - 1)  # two significant digits, rounded down
    horizon = math.floor(q / unit) * unit
    assert horizon <= q < horizon + unit
    at = [horizon / 4, horizon / 2, 3 * horizon / 4, horizon]
    direct = cc.standardized_risk(fit, data, "cac_category", at)
    table = run.tables["adjusted_death_cox_cac_category"]
    np.testing.assert_allclose(table.frame["Time (years)"].astype(float).unique(), at, rtol=1e-3)
    assert "Risk, % (95% CI)" in table.frame.columns  # 1 - S: no competing event
    got = table.values.loc[table.values["quantity"] == "risk", "value"].to_numpy()
    expected = [
        direct.risk.query("level == @lv")["risk"].iloc[k] for k in range(4) for lv in direct.levels
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_finegray_table_of_a_continuous_exposure_equals_the_seeded_bootstrap(run) -> None:
    fit = cc.finegray(run.frame, "mi_years", "mi_status", 1, ["log_cac", *COVARIATES])
    direct = cc.standardized_risk(fit, run.frame, "log_cac", [3, 6], [0, 3, 6], n_boot=20, seed=7)
    table = run.tables["adjusted_mi_finegray_log_cac"]
    _assert_table_equals(table, direct, [3.0, 6.0])
    top = direct.risk.query("time == 6 and level == 6").iloc[0]
    decimals = 2 if direct.risk["upper"].max() < 0.1 else 1
    expected = f"({100 * top['lower']:.{decimals}f} to {100 * top['upper']:.{decimals}f})"
    assert table.cell(5, "Cumulative incidence, % (95% CI)").endswith(expected)
    assert "20 refits, seed 7" in table.footnotes[1]


def test_figures_captions_and_methods_are_in_the_report(run) -> None:
    for name in ("adjusted_mi_cox_cac_category", "adjusted_death_cox_cac_category"):
        path = run.out / "figures" / f"{name}.png"
        assert run.figures[name] == (path,)
        with Image.open(path) as image:
            assert round(image.info["dpi"][0]) == 600
    text = run.report.read_text()
    assert "MI: standardised cumulative incidence by CAC (g-computation from cause-specific" in text
    assert "death: standardised risk by CAC (g-computation from a Cox model" in text
    assert "g-computation (Robins 1986)" in text and "20 bootstrap refits (seed 7)" in text
    assert (
        "no participant or event counts" in run.tables["adjusted_mi_cox_cac_category"].footnotes[2]
    )


def _problems(old: str, new: str) -> list[str]:
    text = HEADLINE.read_text()
    assert old in text
    return exposure_response_problems(spec_from_text(text.replace(old, new), source="x.yaml"))


def _line(text: str) -> int:
    return HEADLINE.read_text().splitlines().index(text) + 1 if text else 0


ENTRY = "    - {exposure: cac_category, outcomes: [mi], times: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], at: [5, 10]}"  # noqa: E501


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("    - {exposure: ckd, outcomes: [mi]}", r"'ckd' is not an exposure of the spec"),
        ("    - {exposure: log_cac, outcomes: [mi]}", r"'log_cac' is continuous; give 'levels"),
        ("    - {exposure: cac_category, model: Model 3}", r"model 'Model 3' is not an adjustment"),
        ("    - {exposure: cac_category, outcomes: [death_age]}", r"has delayed entry"),
        ("    - {exposure: cac_category, outcomes: [death], method: finegray}",
         r"'death' has no competing event"),
        ("    - {exposure: cac_category, outcomes: [stroke]}", r"\['stroke'\] are not in the"),
    ],
)  # fmt: skip
def test_bad_entries_are_refused_with_their_line(new: str, message: str) -> None:
    problems = _problems(ENTRY, new)
    assert len(problems) == 1
    assert problems[0].startswith(f"x.yaml, line {_line(ENTRY)}: ")
    assert re.search(message, problems[0]), problems[0]


def test_a_bad_entry_stops_the_run_before_fitting(tmp_path: Path) -> None:
    spec = copy.deepcopy(SPEC)
    spec["exposure_response"] = {"adjusted_curves": [{"exposure": "ckd"}]}
    with pytest.raises(SpecError, match=r"'ckd' is not an exposure of the spec"):
        cc.run(spec, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_level_the_population_lacks_is_refused_with_its_line(tmp_path: Path) -> None:
    spec = copy.deepcopy(SPEC)
    spec["exposure_response"] = {
        "adjusted_curves": [{"exposure": "cac_category", "levels": ["0", "1-10"]}]
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    line = path.read_text().splitlines().index("  - exposure: cac_category") + 2
    with pytest.raises(SpecError, match=rf"line {line}: levels \['1-10'\] of 'cac_category'"):
        cc.run(path)


def test_times_must_be_positive_and_increasing() -> None:
    text = HEADLINE.read_text().replace("times: [1, 2, 3,", "times: [3, 2, 1,")
    with pytest.raises(SpecError, match=r"times must be positive and increasing"):
        spec_from_text(text, source="x.yaml")


def test_headline_spec_has_the_adjusted_cif_of_mi_by_cac_category() -> None:
    entry = cc.analysis.load_spec(HEADLINE).exposure_response.adjusted_curves[0]
    assert (entry.exposure, entry.outcomes, entry.method, entry.at) == (
        "cac_category", ["mi"], "cox", [5.0, 10.0],
    )  # fmt: skip


def test_spline_of_an_outcome_with_its_own_adjustment_uses_its_sets() -> None:
    spec = copy.deepcopy(SPEC)
    spec["data"]["synthetic"]["n"] = 800
    spec["outcomes"] = [
        {"name": "death_age", "time_scale": "age", "entry": "age_entry",
         "time": "death_age_exit", "status": "death_status",
         "adjustment": [{"name": "Model 1", "covariates": ["sex"]}]},
    ]  # fmt: skip
    spec["exposure_response"] = {"splines": [{"column": "log_cac", "knots": 3}]}
    table = cc.run(spec).tables["spline_death_age_cox_log_cac"]
    assert "adjusted for sex;" in table.footnotes[0]  # not the spec-wide age, sex
