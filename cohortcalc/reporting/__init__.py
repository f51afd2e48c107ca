"""reporting stage of cohortcalc: paper-ready tables, figures and their exports.

Names load their module on first use (PEP 562, as the top-level package), so a module that
needs only the formatting helpers does not import matplotlib. ``table_one`` is imported at
once: it shares its name with its module, whose import would otherwise rebind
``cohortcalc.reporting.table_one`` to the module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cohortcalc._lazy import lazy_names
from cohortcalc.reporting.table import Table
from cohortcalc.reporting.table_one import table_one

if TYPE_CHECKING:
    from cohortcalc.reporting.export import export_table, render_table
    from cohortcalc.reporting.figures import plot_cumulative_incidence, plot_survival
    from cohortcalc.reporting.forest import forest_plot, forest_rows
    from cohortcalc.reporting.style import save_figure
    from cohortcalc.reporting.suppression import suppress_small_cells
    from cohortcalc.reporting.tables import hr_table
    from cohortcalc.reporting.word import write_word

__getattr__, __dir__ = lazy_names(
    globals(),
    {
        name: (f"cohortcalc.reporting.{module}", name)
        for name, module in (
            ("export_table", "export"),
            ("render_table", "export"),
            ("plot_cumulative_incidence", "figures"),
            ("plot_survival", "figures"),
            ("forest_plot", "forest"),
            ("forest_rows", "forest"),
            ("save_figure", "style"),
            ("suppress_small_cells", "suppression"),
            ("hr_table", "tables"),
            ("write_word", "word"),
        )
    },
)


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
