"""The spec's ``prediction:`` section: its tables carry exactly the numbers of a direct
``cc.incremental_value`` call on the analysis population, the tables, calibration figures,
report section and methods paragraph are written, small counts are suppressed, and bad
entries are refused before any fit with the spec line and the fix."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.analysis.methods import methods_paragraphs
from cohortcalc.analysis.spec import spec_from_text
from cohortcalc.errors import SpecError

REPO = Path(__file__).resolve().parents[2]

SPEC = """\
name: prediction
title: Prediction
data:
  synthetic: {n: 2500, seed: 5}
population:
  - {column: age, op: ">=", value: 45}
  - {column: cac_agatston, op: not_null}
exposures:
  - {column: cac_category, kind: categorical, reference: "0", label: CAC category}
outcomes:
  - name: mi
    label: Myocardial infarction
    time: mi_years
    status: mi_status
    event_code: 1
    competing_code: 2
models:
  adjustment:
    - {name: Model 1, covariates: [age, sex]}
prediction:
  outcome: mi
  base: pce_risk
  marker: log_cac
  horizon: 10
  thresholds: [0.075, 0.2]
  n_boot: 20
  seed: 3
  groups: 5
  by: cac_category
outputs:
  tables: [flow]
  figures: []
  table_formats: [csv]
  figure_formats: [png]
small_cell_threshold: THRESHOLD
"""


def _spec(text: str = SPEC, threshold: int = 0):
    return spec_from_text(text.replace("THRESHOLD", str(threshold)), source="p.yaml")


def _line(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


@cache
def _run(threshold: int, out: str | None = None):
    return cc.run(_spec(threshold=threshold), out=out)


def _direct(result, **changes):
    frame = result.frame.sort("participant_id").with_columns(
        (pl.col("mi_status") == 1).cast(pl.Int8).alias("event")
    )
    options = dict(
        time="mi_years", event="event", horizon=10, thresholds=[0.075, 0.2], base="pce_risk",
        marker="log_cac", by="cac_category", n_boot=20, seed=3, groups=5,
    )  # fmt: skip
    return cc.incremental_value(frame, **(options | changes))


def test_tables_carry_the_numbers_of_a_direct_incremental_value_call() -> None:
    result = _run(0)
    direct = _direct(result)
    table = result.tables["prediction_discrimination"]
    values = dict(zip(table.values["quantity"], table.values["value"], strict=True))
    expected = direct.discrimination.set_index("measure")["estimate"]
    assert set(values) == set(expected.index)
    for measure, value in values.items():
        assert value == pytest.approx(expected[measure], rel=1e-12, abs=1e-15), measure
    nri = direct.discrimination.set_index("measure").loc["nri_events"]
    text = f"{nri['estimate']:+.3f} ({nri['lower']:.3f} to {nri['upper']:.3f})".replace("-", "−")
    row = table.frame.index[table.frame["Measure"] == "NRI, events"][0]
    assert table.frame.loc[row, "Difference (95% CI)"] == text
    counts = table.footnotes[0]
    assert f"n = {direct.n:,}" in counts and f"events = {direct.new_fit.n_events:,}" in counts


def test_reclassification_and_risk_tables_reconcile_with_the_direct_call() -> None:
    result = _run(0)
    direct = _direct(result)
    table = result.tables["prediction_reclassification"]
    cells = direct.reclassification.counts.to_numpy()
    k = cells.shape[0]
    frame = table.frame
    names = list(frame.columns[1 : k + 1])
    block = frame.iloc[1 : k + 1]  # the participants block, after its heading row
    shown = block[names].map(lambda s: int(s.replace(",", ""))).to_numpy()
    np.testing.assert_array_equal(shown, cells)
    total = frame.iloc[k + 1]
    assert total.iloc[0] == "Total" and int(total["Total"].replace(",", "")) == direct.n
    events = table.values[table.values["quantity"] == "events"]
    exact = direct.reclassification.events.to_numpy()
    inner = events[events["source"].str.count("Total") == 0]["value"].to_numpy()
    np.testing.assert_allclose(inner, exact.ravel(), rtol=1e-12)
    risk = result.tables["prediction_risk_by_cac_category"]
    groups = direct.risk_by_group
    observed = risk.values[risk.values["quantity"] == "observed_risk"]["value"].to_numpy()
    np.testing.assert_allclose(observed, groups["observed"].to_numpy(), rtol=1e-12)
    participants = risk.frame["Participants"].str.replace(",", "").astype(int).to_numpy()
    assert participants[:-1].tolist() == groups["n"].tolist() and participants[-1] == direct.n


def test_cause_specific_means_competing_deaths_are_censored() -> None:
    """``method: cox`` is not the Fine–Gray analysis: its C differs from the Wolbers C."""
    result = _run(0)
    table = result.tables["prediction_discrimination"]
    c_new = table.values.set_index("quantity").loc["C, new", "value"]
    competing = _direct(result, event="mi_status", cause=1, n_boot=20)
    wolbers = competing.discrimination.set_index("measure").loc["C, new", "estimate"]
    assert c_new != pytest.approx(wolbers, rel=1e-6)


def test_run_writes_tables_figures_report_section_and_methods(tmp_path: Path) -> None:
    result = cc.run(_spec(threshold=11), out=tmp_path / "out")
    out = tmp_path / "out"
    for name in ("discrimination", "reclassification", "risk_by_cac_category"):
        assert (out / "tables" / f"prediction_{name}.csv").is_file()
    for model in ("base", "new"):
        path = out / "figures" / f"prediction_calibration_{model}.png"
        assert path.is_file() and path.stat().st_size > 10_000
    report = result.report.read_text()
    assert "<h2>Risk prediction</h2>" in report
    assert "Pencina, D&#x27;Agostino &amp; Steyerberg (2011)" in report
    assert "percentile bootstrap intervals of 20 replicates (seed 3" in report
    for model in ("PCE", "PCE + log(CAC+1)"):  # captions, not the figures' file names
        assert (
            f"Calibration of {model} for myocardial infarction by 10 years: observed "
            "(Kaplan–Meier, with 95% CI) against mean predicted risk in 5 groups"
        ) in report
    assert ">prediction_calibration_" not in report


def test_small_counts_are_suppressed_and_no_margin_gives_them_away() -> None:
    result = _run(11)
    table = result.tables["prediction_reclassification"]
    assert table.suppressed_below == 11
    exact = _direct(result).reclassification.counts.to_numpy()
    assert ((exact > 0) & (exact < 11)).any()  # the case this test is about
    frame = table.frame
    k = exact.shape[0]
    for start in (1, k + 3, 2 * k + 5):  # the participants, events and non-events blocks
        block = frame.iloc[start : start + k + 1, 1:].to_numpy()
        for line in (*block, *block.T):  # each row and column with its total
            hidden = sum(cell in ("<11", "[c]") for cell in line)
            assert hidden != 1, line
    shown = frame.iloc[1 : k + 1, 1 : k + 1].to_numpy()
    for (i, j), cell in np.ndenumerate(shown):
        if 0 < exact[i, j] < 11:
            assert cell == "<11"
        elif cell not in ("[c]",):
            assert int(cell.replace(",", "")) == exact[i, j]


@pytest.mark.parametrize(
    ("old", "new", "fragment", "message"),
    [
        ("  outcome: mi\n", "  outcome: stroke\n", "outcome: stroke", "'stroke' is not an outcome"),
        ("  base: pce_risk", "  base: pce_risc", "base: pce_risc", "'pce_risc' is not a column"),
        ("  horizon: 10", "  horizon: 40", "horizon: 40", "beyond the last follow-up time"),
        ("  by: cac_category", "  by: cac_cat", "by: cac_cat", "'cac_cat' is not a column"),
        ("  base: pce_risk", "  base: log_cac", "base: log_cac", "values outside \\(0, 1\\)"),
        (  # an exit age is no horizon: prediction runs on follow-up time only
            "    time: mi_years\n",
            "    time_scale: age\n    entry: age_entry\n    time: mi_age_exit\n",
            "outcome: mi",
            "on the age time scale; prediction needs follow-up time",
        ),
    ],
)
def test_bad_entries_are_refused_before_fitting_with_the_line(old, new, fragment, message) -> None:
    text = SPEC.replace(old, new)
    steps: list[str] = []
    with pytest.raises(SpecError, match=message) as error:
        cc.run(_spec(text), progress=lambda event: steps.append(event.step))
    assert f"p.yaml, line {_line(text, fragment)}" in str(error.value)
    assert "check" in steps and "fit" not in steps


@pytest.mark.parametrize(
    ("old", "new", "fragment", "message"),
    [
        (
            "[0.075, 0.2]",
            "[0.075, 1.2]",
            "thresholds",
            r"thresholds\.1: Input should be less than 1",
        ),
        (
            "[0.075, 0.2]",
            "[0, 0.2]",
            "thresholds",
            r"thresholds\.0: Input should be greater than 0",
        ),
        ("[0.075, 0.2]", "[0.2, 0.075]", "thresholds", "increasing and distinct"),
        ("  n_boot: 20", "  n_boot: 5", "n_boot", r"n_boot: Input should be greater than or equal"),
        ("  seed: 3", "  seeds: 3", "seeds", "unknown key 'seeds'"),
    ],
)
def test_bad_values_are_spec_errors_with_the_line(old, new, fragment, message) -> None:
    text = SPEC.replace(old, new)
    with pytest.raises(SpecError, match=message) as error:
        _spec(text)
    assert f"p.yaml, line {_line(text, fragment)}" in str(error.value)


def test_headline_asks_whether_cac_adds_to_the_pce_for_mi() -> None:
    spec = cc.analysis.load_spec(REPO / "analyses" / "cac_mi_ckd.yaml")
    section = spec.prediction
    assert section is not None
    assert (section.outcome, section.base, section.marker, section.method) == (
        "mi", "pce_risk", "log_cac", "cox",
    )  # fmt: skip
    assert (section.horizon, section.thresholds, section.by) == (10, [0.075, 0.2], "cac_category")
    outcome = next(o for o in spec.outcomes if o.name == "mi")
    assert outcome.competing_code is not None  # death competes
    methods = "\n".join(methods_paragraphs(spec, 100, {}, {"kind": "synthetic"}))
    assert re.search(r"cause-specific hazard \(competing events censored", methods)


def test_calibration_groups_without_events_name_the_spec_key() -> None:
    text = SPEC.replace("  groups: 5", "  groups: 20")
    with pytest.raises(cc.CohortcalcError, match=r"p\.yaml, line \d+: prediction of 'mi'.*"
                       r"set 'prediction\.groups'"):  # fmt: skip
        cc.run(_spec(text))


def test_warnings_of_the_call_are_printed_under_the_discrimination_table() -> None:
    import warnings

    result = _run(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _direct(result)
    messages = {str(w.message) for w in caught}
    assert messages  # 5 calibration groups of ~500 rows: some have fewer than 5 events
    footnotes = result.tables["prediction_discrimination"].footnotes
    assert {f"Warning: {m}" for m in messages} <= set(footnotes)
