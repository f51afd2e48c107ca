"""cohortcalc: cohort epidemiology of vascular calcification.

The public API, re-exported; nothing else lives here. The errors are imported at once; every
other name loads its module on first use (PEP 562), so ``import cohortcalc`` and the CLI start
without matplotlib, numba or scipy.stats (0.3 s instead of 3 s).
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from cohortcalc.errors import (
    CohortcalcError,
    CohortcalcWarning,
    ConvergenceWarning,
    DataQualityWarning,
    DictionaryError,
    FeatureError,
    FrameError,
    IngestError,
    ModelError,
    ModelWarning,
    SpecError,
)

# Eager: the function ``ingest`` shares its name with the subpackage, whose import would
# otherwise rebind ``cohortcalc.ingest`` to the module. The subpackage is light (Polars).
from cohortcalc.ingest import IngestReport, ingest, read_store

if TYPE_CHECKING:
    from cohortcalc.analysis import AnalysisResult, ValidationResult, run, validate
    from cohortcalc.dictionary import load_dictionary
    from cohortcalc.features import agatston, derive
    from cohortcalc.reporting import (
        Table,
        export_table,
        forest_plot,
        forest_rows,
        hr_table,
        plot_cumulative_incidence,
        plot_survival,
        save_figure,
        suppress_small_cells,
        table_one,
    )
    from cohortcalc.survival.cox import cox
    from cohortcalc.survival.finegray import finegray
    from cohortcalc.survival.finegray_proportionality import finegray_ph_test
    from cohortcalc.survival.finegray_result import FineGrayResult
    from cohortcalc.survival.nonparametric import cumulative_incidence, kaplan_meier
    from cohortcalc.survival.proportionality import ph_test
    from cohortcalc.survival.rates import incidence_rates
    from cohortcalc.survival.results import CoxResult
    from cohortcalc.survival.tests import gray_test, logrank, lrtest, trend_test
    from cohortcalc.synth import simulate_cohort as simulate

#: public name -> (module, attribute), loaded by ``__getattr__``.
_LAZY: dict[str, tuple[str, str]] = {
    "AnalysisResult": ("cohortcalc.analysis", "AnalysisResult"),
    "CoxResult": ("cohortcalc.survival.results", "CoxResult"),
    "FineGrayResult": ("cohortcalc.survival.finegray_result", "FineGrayResult"),
    "Table": ("cohortcalc.reporting", "Table"),
    "ValidationResult": ("cohortcalc.analysis", "ValidationResult"),
    "agatston": ("cohortcalc.features", "agatston"),
    "cox": ("cohortcalc.survival.cox", "cox"),
    "cumulative_incidence": ("cohortcalc.survival.nonparametric", "cumulative_incidence"),
    "derive": ("cohortcalc.features", "derive"),
    "export_table": ("cohortcalc.reporting", "export_table"),
    "finegray": ("cohortcalc.survival.finegray", "finegray"),
    "forest_plot": ("cohortcalc.reporting", "forest_plot"),
    "forest_rows": ("cohortcalc.reporting", "forest_rows"),
    "gray_test": ("cohortcalc.survival.tests", "gray_test"),
    "finegray_ph_test": ("cohortcalc.survival.finegray_proportionality", "finegray_ph_test"),
    "hr_table": ("cohortcalc.reporting", "hr_table"),
    "incidence_rates": ("cohortcalc.survival.rates", "incidence_rates"),
    "kaplan_meier": ("cohortcalc.survival.nonparametric", "kaplan_meier"),
    "load_dictionary": ("cohortcalc.dictionary", "load_dictionary"),
    "logrank": ("cohortcalc.survival.tests", "logrank"),
    "lrtest": ("cohortcalc.survival.tests", "lrtest"),
    "ph_test": ("cohortcalc.survival.proportionality", "ph_test"),
    "plot_cumulative_incidence": ("cohortcalc.reporting", "plot_cumulative_incidence"),
    "plot_survival": ("cohortcalc.reporting", "plot_survival"),
    "run": ("cohortcalc.analysis", "run"),
    "save_figure": ("cohortcalc.reporting", "save_figure"),
    "simulate": ("cohortcalc.synth", "simulate_cohort"),
    "suppress_small_cells": ("cohortcalc.reporting", "suppress_small_cells"),
    "table_one": ("cohortcalc.reporting", "table_one"),
    "trend_test": ("cohortcalc.survival.tests", "trend_test"),
    "validate": ("cohortcalc.analysis", "validate"),
}

try:
    __version__ = version("cohortcalc")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "AnalysisResult",
    "CohortcalcError",
    "CohortcalcWarning",
    "ConvergenceWarning",
    "CoxResult",
    "DataQualityWarning",
    "DictionaryError",
    "FeatureError",
    "FineGrayResult",
    "FrameError",
    "IngestError",
    "IngestReport",
    "ModelError",
    "ModelWarning",
    "SpecError",
    "Table",
    "ValidationResult",
    "__version__",
    "agatston",
    "cox",
    "cumulative_incidence",
    "derive",
    "export_table",
    "finegray",
    "finegray_ph_test",
    "forest_plot",
    "forest_rows",
    "gray_test",
    "hr_table",
    "incidence_rates",
    "ingest",
    "kaplan_meier",
    "load_dictionary",
    "logrank",
    "lrtest",
    "ph_test",
    "plot_cumulative_incidence",
    "plot_survival",
    "read_store",
    "run",
    "save_figure",
    "simulate",
    "suppress_small_cells",
    "table_one",
    "trend_test",
    "validate",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use and cache the name here."""
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'cohortcalc' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
