"""reporting stage of cohortcalc: paper-ready tables, figures and their exports.

Names load their module on first use (PEP 562, as the top-level package), so a module that
needs only the formatting helpers does not import matplotlib. ``table_one`` is imported at
once: it shares its name with its module, whose import would otherwise rebind
``cohortcalc.reporting.table_one`` to the module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

#: public name -> module, loaded by ``__getattr__``.
_LAZY = {
    "export_table": "cohortcalc.reporting.export",
    "render_table": "cohortcalc.reporting.export",
    "plot_cumulative_incidence": "cohortcalc.reporting.figures",
    "plot_survival": "cohortcalc.reporting.figures",
    "forest_plot": "cohortcalc.reporting.forest",
    "forest_rows": "cohortcalc.reporting.forest",
    "save_figure": "cohortcalc.reporting.style",
    "suppress_small_cells": "cohortcalc.reporting.suppression",
    "hr_table": "cohortcalc.reporting.tables",
    "write_word": "cohortcalc.reporting.word",
}


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use and cache the name here."""
    if name not in _LAZY:
        raise AttributeError(f"module 'cohortcalc.reporting' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
