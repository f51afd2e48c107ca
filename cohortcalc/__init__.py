"""cohortcalc: cohort epidemiology of vascular calcification.

The public API, re-exported; nothing else lives here.
"""

from importlib.metadata import PackageNotFoundError, version

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
from cohortcalc.ingest import IngestReport, ingest, read_store
from cohortcalc.survival.cox import cox
from cohortcalc.survival.finegray import finegray
from cohortcalc.survival.finegray_result import FineGrayResult
from cohortcalc.survival.nonparametric import cumulative_incidence, kaplan_meier
from cohortcalc.survival.rates import incidence_rates
from cohortcalc.survival.results import CoxResult
from cohortcalc.survival.tests import gray_test, logrank, lrtest, trend_test
from cohortcalc.synth import simulate_cohort as simulate

try:
    __version__ = version("cohortcalc")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = [
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
    "__version__",
    "cox",
    "cumulative_incidence",
    "finegray",
    "gray_test",
    "incidence_rates",
    "ingest",
    "kaplan_meier",
    "load_dictionary",
    "logrank",
    "lrtest",
    "read_store",
    "simulate",
    "trend_test",
]
