"""Forest plots: rows traced to the fits, log axis, null line, labels and estimates."""

from __future__ import annotations

import numpy as np
import pytest

from cohortcalc.errors import CohortcalcError
from cohortcalc.reporting.forest import forest_plot, forest_rows
from cohortcalc.reporting.format import format_ratio_ci


def test_forest_plot_rows_trace_to_the_fits(fakes):
    fits = {
        "Yes": fakes.Cox(fakes.summary({"log_cac": (0.25, 0.06)}), 500, 30),
        "No": fakes.Cox(fakes.summary({"log_cac": (0.15, 0.05)}), 1000, 50),
    }
    rows = forest_rows(fits, "log_cac", group="CKD")
    line = fits["Yes"].summary.loc["log_cac"]
    assert rows.loc[0, "hr"] == line["hr"] and rows.loc[0, "hr_upper"] == line["hr_upper"]
    figure = forest_plot(rows, notes={"CKD": "p for interaction = 0.21"})
    labels, n_axes, events_axes, plot, text = figure.axes
    assert plot.get_xscale() == "log"
    assert any(np.allclose(ln.get_xdata(), [1.0, 1.0]) for ln in plot.get_lines())  # null line
    label_texts = [t.get_text() for t in labels.texts]
    assert label_texts == ["CKD (p for interaction = 0.21)", "Yes", "No", "Subgroup"]
    assert labels.texts[0].get_fontweight() == "bold"
    assert [t.get_text() for t in n_axes.texts] == ["500", "1,000", "N"]
    assert [t.get_text() for t in events_axes.texts] == ["30", "50", "Events"]
    estimates = [t.get_text() for t in text.texts]
    assert format_ratio_ci(line["hr"], line["hr_lower"], line["hr_upper"]) in estimates
    with pytest.raises(CohortcalcError, match="term"):
        forest_rows(fits, "age")


def test_sections_model_and_doubling_ticks(fakes):
    fits = {
        "All participants": fakes.Cox(fakes.summary({"x": (0.7, 0.1)}), 900, 60),
        "Without CKD": fakes.Cox(fakes.summary({"x": (0.6, 0.12)}), 700, 40),
        "With CKD": fakes.Cox(fakes.summary({"x": (0.9, 0.2)}), 200, 20),
    }
    rows = forest_rows(fits, "x", group="CAC >400 vs 0")
    rows["section"] = [None, "CKD", "CKD"]
    rows["n_text"] = ["900", "700", "[c]"]  # as disclosure control prints them
    figure = forest_plot(
        rows, title="MI: hazard ratios", subtitle="Cox proportional hazards, Model 2",
        section_notes={("CAC >400 vs 0", "CKD"): "p for interaction = 0.040"},
    )  # fmt: skip
    labels, n_axes, _, plot, _ = figure.axes
    texts = [t.get_text() for t in labels.texts]
    assert texts[:5] == [
        "CAC >400 vs 0", "All participants", "CKD (p for interaction = 0.040)", "Without CKD",
        "With CKD",
    ]  # fmt: skip
    assert labels.texts[2].get_fontstyle() == "italic"
    assert "[c]" in [t.get_text() for t in n_axes.texts]
    assert "Cox proportional hazards, Model 2" in figure._suptitle.get_text()
    ticks = list(plot.get_xticks())
    assert 1.0 in ticks and all(np.log2(t).is_integer() for t in ticks)  # 0.5, 1, 2, 4, ...
    assert ticks[0] <= 0.5 and ticks[-1] >= max(rows["hr_upper"])
