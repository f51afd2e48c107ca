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
    labels, plot, text = figure.axes
    assert plot.get_xscale() == "log"
    assert any(np.allclose(ln.get_xdata(), [1.0, 1.0]) for ln in plot.get_lines())  # null line
    label_texts = [t.get_text() for t in labels.texts]
    assert label_texts == ["CKD (p for interaction = 0.21)", "Yes", "No"]
    assert labels.texts[0].get_fontweight() == "bold"
    estimates = [t.get_text() for t in text.texts]
    assert format_ratio_ci(line["hr"], line["hr_lower"], line["hr_upper"]) in estimates
    with pytest.raises(CohortcalcError, match="term"):
        forest_rows(fits, "age")
