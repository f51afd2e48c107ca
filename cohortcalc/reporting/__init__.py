"""reporting stage of cohortcalc: paper-ready tables, figures and their exports."""

from cohortcalc.reporting.export import export_table, render_table
from cohortcalc.reporting.figures import plot_cumulative_incidence, plot_survival
from cohortcalc.reporting.forest import forest_plot, forest_rows
from cohortcalc.reporting.style import save_figure
from cohortcalc.reporting.suppression import suppress_small_cells
from cohortcalc.reporting.table import Table
from cohortcalc.reporting.table_one import table_one
from cohortcalc.reporting.tables import hr_table
from cohortcalc.reporting.word import write_word

__all__ = [
    "Table",
    "export_table",
    "forest_plot",
    "forest_rows",
    "hr_table",
    "plot_cumulative_incidence",
    "plot_survival",
    "render_table",
    "save_figure",
    "suppress_small_cells",
    "table_one",
    "write_word",
]
