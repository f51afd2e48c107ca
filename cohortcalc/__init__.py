"""cohortcalc: cohort epidemiology of vascular calcification.

The public API, re-exported; nothing else lives here.
"""

from importlib.metadata import PackageNotFoundError, version

from cohortcalc.analysis import AnalysisResult, ValidationResult, run, validate
from cohortcalc.dictionary import load_dictionary
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
from cohortcalc.features import agatston, derive
from cohortcalc.ingest import IngestReport, ingest, read_store
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
from cohortcalc.survival.finegray_result import FineGrayResult
from cohortcalc.survival.nonparametric import cumulative_incidence, kaplan_meier
from cohortcalc.survival.proportionality import ph_test
from cohortcalc.survival.rates import incidence_rates
from cohortcalc.survival.results import CoxResult
from cohortcalc.survival.tests import gray_test, logrank, lrtest, trend_test
from cohortcalc.synth import simulate_cohort as simulate

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
