"""Figures: axes, labels, colours and numbers at risk, inspected on the Figure objects."""

from __future__ import annotations

import matplotlib.colors as mcolors
import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.errors import CohortcalcError
from cohortcalc.reporting.figures import (
    OKABE_ITO,
    at_risk,
    plot_cumulative_incidence,
    plot_survival,
)

CAC = ["0", "1-100", "101-400", ">400"]


@pytest.fixture(scope="module")
def km_by_cac(cohort):
    return cc.kaplan_meier(cohort, time="mi_years", event="death_status", by="cac_category")


@pytest.fixture(scope="module")
def cif_by_ckd(cohort):
    return cc.cumulative_incidence(cohort, time="mi_years", event="mi_status", cause=1, by="ckd")


def _risk_numbers(figure) -> dict[float, list[str]]:
    table_axes = figure.axes[1]
    by_row: dict[float, list[str]] = {}
    for text in table_axes.texts:
        by_row.setdefault(text.get_position()[1], []).append(text.get_text())
    return by_row


def test_survival_figure_axes_legend_and_colours(km_by_cac):
    figure = plot_survival(km_by_cac)
    main, table_axes = figure.axes
    assert figure.get_size_inches()[0] == pytest.approx(3.5)
    assert main.get_xlabel() == "Time since baseline, years"
    assert main.get_ylabel() == "Survival, %"
    legend = main.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == CAC
    assert legend.get_title().get_text() == "CAC category (Agatston units)"
    colours = [mcolors.to_hex(line.get_color()).upper() for line in main.get_lines()]
    assert set(colours) <= {c.upper() for c in OKABE_ITO.values()}
    assert len(set(colours)) == 4
    assert len(main.collections) == 4  # one confidence band per group
    assert len(plot_survival(km_by_cac, ci=False).axes[0].collections) == 0
    assert [t.get_text() for t in table_axes.get_yticklabels()] == CAC
    assert table_axes.get_title(loc="left") == "Number at risk"


def test_numbers_at_risk_are_aligned_and_match_the_data(cohort, km_by_cac):
    figure = plot_survival(km_by_cac)
    main, table_axes = figure.axes
    ticks = list(main.get_xticks())
    assert ticks[0] == 0
    assert {t.get_position()[0] for t in table_axes.texts} == set(ticks)
    assert table_axes.get_xlim() == main.get_xlim()  # shared axis: numbers sit under the ticks
    rows = _risk_numbers(figure)
    for level, y in zip(CAC, (3, 2, 1, 0), strict=True):
        times = cohort.filter(pl.col("cac_category") == level)["mi_years"].to_numpy()
        expected = [f"{int((times >= t).sum()):,}" for t in ticks]
        texts = sorted(table_axes.texts, key=lambda t: t.get_position()[0])
        assert [t.get_text() for t in texts if t.get_position()[1] == y] == expected
    assert len(rows) == 4


def test_at_risk_reads_the_curve_table(cohort, cif_by_ckd):
    curve = cif_by_ckd.loc[cif_by_ckd["ckd"]].sort_values("time")
    times = cohort.filter(pl.col("ckd"))["mi_years"].to_numpy()
    grid = [0.0, 0.5, 3.0, 7.25, 100.0]
    assert list(at_risk(curve, grid)) == [int((times >= t).sum()) for t in grid]


def test_small_numbers_at_risk_are_suppressed(km_by_cac):
    horizon = float(km_by_cac["time"].max())
    figure = plot_survival(km_by_cac, at_risk_times=[0, horizon - 0.01], min_cell=11)
    texts = [t.get_text() for t in figure.axes[1].texts]
    assert "<11" in texts
    assert not any(t.isdigit() and 0 < int(t) < 11 for t in texts)


def test_cumulative_incidence_figure(cif_by_ckd):
    figure = plot_cumulative_incidence(
        cif_by_ckd, ylabel="Cumulative incidence of MI, %", max_time=10
    )
    main = figure.axes[0]
    assert main.get_ylabel() == "Cumulative incidence of MI, %"
    assert main.get_ylim()[0] == 0
    assert main.get_xlim()[1] == pytest.approx(10.1)
    assert [t.get_text() for t in main.get_legend().get_texts()] == ["Yes", "No"]
    first_line = main.get_lines()[0]
    assert first_line.get_ydata()[0] == 0.0  # CIF starts at zero
    assert max(first_line.get_xdata()) <= 10


def test_missing_estimate_column_is_an_error(km_by_cac):
    with pytest.raises(CohortcalcError, match="'cif'"):
        plot_cumulative_incidence(km_by_cac)


def test_facets_give_one_panel_per_stratum_on_a_shared_axis(cohort):
    curves = cc.cumulative_incidence(
        cohort, time="mi_years", event="mi_status", cause=1, by=["ckd", "cac_category"]
    )
    figure = plot_cumulative_incidence(curves, facet="ckd", max_time=10)
    yes, _, no, no_table = figure.axes
    assert [yes.get_title(), no.get_title()] == ["CKD: Yes", "CKD: No"]
    assert yes.get_ylim() == no.get_ylim() and yes.get_ylim()[0] == 0
    assert [t.get_text() for t in figure.legends[0].get_texts()] == CAC
    assert figure.get_size_inches()[0] == pytest.approx(7.0)
    ticks = list(no.get_xticks())
    for level, y in zip(CAC, (3, 2, 1, 0), strict=True):
        times = cohort.filter(~pl.col("ckd") & (pl.col("cac_category") == level))[
            "mi_years"
        ].to_numpy()
        texts = sorted(
            (t for t in no_table.texts if t.get_position()[1] == y),
            key=lambda t: t.get_position()[0],
        )
        assert [t.get_text() for t in texts] == [f"{int((times >= t).sum()):,}" for t in ticks]
    with pytest.raises(CohortcalcError, match="facet"):
        plot_cumulative_incidence(curves, facet="sex")
