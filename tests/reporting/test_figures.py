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
SHOWN = ["0", "1–100", "101–400", ">400"]  # as a reader sees them: en dashes


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
    assert [t.get_text() for t in legend.get_texts()] == SHOWN
    assert legend.get_title().get_text() == "CAC category (Agatston units)"
    colours = [mcolors.to_hex(line.get_color()).upper() for line in main.get_lines()]
    assert set(colours) <= {c.upper() for c in OKABE_ITO.values()}
    assert len(set(colours)) == 4
    assert len(main.collections) == 4  # one confidence band per group
    assert len(plot_survival(km_by_cac, ci=False).axes[0].collections) == 0
    assert [t.get_text() for t in table_axes.get_yticklabels()] == SHOWN
    assert table_axes.get_title(loc="left") == "Number at risk"


def test_the_legend_and_title_stay_clear_of_the_data(km_by_cac):
    title = "Kaplan–Meier curves of death by coronary artery calcium category, all participants"
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = plot_survival(km_by_cac, title=title)
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    main = figure.axes[0]
    plot_box = main.get_window_extent(renderer)
    legend_box = main.get_legend().get_window_extent(renderer)
    assert legend_box.y0 >= plot_box.y1 - 1  # above the plotting area, never on a curve
    title_box = figure._suptitle.get_window_extent(renderer)
    assert title_box.width <= figure.bbox.width  # wrapped: never wider than the figure
    assert "\n" in figure._suptitle.get_text()


def test_risk_table_text_is_readable_and_on_the_label_baseline(km_by_cac):
    from matplotlib.colors import to_rgb

    from cohortcalc.reporting.style import contrast, relative_luminance

    figure = plot_survival(km_by_cac)
    table_axes = figure.axes[1]
    white = relative_luminance((1.0, 1.0, 1.0))
    for text in [*table_axes.texts, *table_axes.get_yticklabels()]:
        assert contrast(relative_luminance(to_rgb(text.get_color())), white) >= 4.5
    assert {t.get_verticalalignment() for t in table_axes.texts} == {"center_baseline"}
    assert {t.get_verticalalignment() for t in table_axes.get_yticklabels()} == {"center_baseline"}


def test_optional_event_and_censored_rows(cohort, km_by_cac):
    figure = plot_survival(km_by_cac, risk_rows=("at risk", "events", "censored"))
    table_axes = figure.axes[1]
    labels = [t.get_text() for t in table_axes.get_yticklabels()]
    assert labels == [*SHOWN, "Cumulative events", *SHOWN, "Cumulative censored", *SHOWN]
    ticks = list(figure.axes[0].get_xticks())
    rows = _risk_numbers(figure)
    events_row = sorted(rows)[::-1][4]  # the "0" group's events line (after 4 at-risk lines)
    times = cohort.filter(pl.col("cac_category") == "0")
    died = times.filter(pl.col("death_status") == 1)["mi_years"].to_numpy()
    assert rows[events_row] == [f"{int((died <= t).sum()):,}" for t in ticks]
    with pytest.raises(CohortcalcError, match="risk_rows"):
        plot_survival(km_by_cac, risk_rows=("deaths",))


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
    assert [t.get_text() for t in main.get_legend().get_texts()] == ["Without CKD", "With CKD"]
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
    no, no_table, yes, _ = figure.axes
    assert [no.get_title(), yes.get_title()] == ["Without CKD", "With CKD"]
    assert yes.get_ylim() == no.get_ylim() and yes.get_ylim()[0] == 0
    assert [t.get_text() for t in no.get_legend().get_texts()] == SHOWN
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
