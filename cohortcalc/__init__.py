"""cohortcalc: cohort epidemiology of vascular calcification.

The public API, re-exported; nothing else lives here. The errors are imported at once; every
other name loads its module on first use (PEP 562), so ``import cohortcalc`` and the CLI start
without matplotlib, numba or scipy.stats (0.3 s instead of 3 s).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from cohortcalc._lazy import lazy_names
from cohortcalc.errors import (
    CohortcalcError,
    CohortcalcWarning,
    ConvergenceWarning,
    DataQualityWarning,
    DeriveOptionError,
    DictionaryError,
    FeatureError,
    FrameError,
    IngestError,
    ModelError,
    ModelWarning,
    OutputError,
    SpecError,
)
from cohortcalc.frames import register_engine, register_path_reader

# Eager: the function ``ingest`` shares its name with the subpackage, whose import would
# otherwise rebind ``cohortcalc.ingest`` to the module. The subpackage is light (Polars).
from cohortcalc.ingest import IngestReport, ingest, read_store

# The wiring of the stages that must not import each other (DESIGN.md): PySpark frames are
# fitted by the Spark engine, Parquet paths are read as the cohort store reads its tables.
register_engine("pyspark.sql", "cohortcalc.spark")
register_path_reader("cohortcalc.ingest.store:scan_parquet_path")

if TYPE_CHECKING:
    from cohortcalc.analysis import AnalysisResult, ValidationResult, run, validate
    from cohortcalc.dictionary import load_dictionary
    from cohortcalc.effects import (
        AdditiveInteraction,
        EValue,
        HrCurve,
        additive_interaction,
        evalue,
        evalues,
        hr_curve,
    )
    from cohortcalc.effects.figures import plot_hr_curve
    from cohortcalc.effects.standardized import StandardizedRisk, standardized_risk
    from cohortcalc.features import agatston, derive
    from cohortcalc.imputation import (
        Imputations,
        PooledResult,
        PooledTest,
        impute,
        plot_imputation_trace,
        plot_imputed_vs_observed,
        pool,
    )
    from cohortcalc.ingest.check import check_mapping
    from cohortcalc.performance.calibration import CalibrationResult, calibration
    from cohortcalc.performance.concordance import ConcordanceResult, concordance
    from cohortcalc.performance.incremental import IncrementalValueResult, incremental_value
    from cohortcalc.performance.reclassification import (
        ReclassificationResult,
        reclassification,
    )
    from cohortcalc.performance.score import ScoreResult, score
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
        write_word,
    )
    from cohortcalc.survival.cox import cox
    from cohortcalc.survival.finegray import finegray
    from cohortcalc.survival.finegray_proportionality import finegray_ph_test
    from cohortcalc.survival.finegray_result import FineGrayResult
    from cohortcalc.survival.nonparametric import cumulative_incidence, kaplan_meier
    from cohortcalc.survival.predict import PredictedRisk, predict
    from cohortcalc.survival.proportionality import ph_test
    from cohortcalc.survival.rates import incidence_rates
    from cohortcalc.survival.results import CoxResult
    from cohortcalc.survival.splines import rcs_basis, rcs_knots, rcs_knots_from_counts
    from cohortcalc.survival.tests import gray_test, logrank, lrtest, trend_test
    from cohortcalc.synth import simulate_cohort as simulate

#: public name -> (module, attribute), loaded by ``__getattr__``.
_LAZY: dict[str, tuple[str, str]] = {
    "AdditiveInteraction": ("cohortcalc.effects", "AdditiveInteraction"),
    "AnalysisResult": ("cohortcalc.analysis", "AnalysisResult"),
    "CalibrationResult": ("cohortcalc.performance.calibration", "CalibrationResult"),
    "ConcordanceResult": ("cohortcalc.performance.concordance", "ConcordanceResult"),
    "CoxResult": ("cohortcalc.survival.results", "CoxResult"),
    "EValue": ("cohortcalc.effects", "EValue"),
    "FineGrayResult": ("cohortcalc.survival.finegray_result", "FineGrayResult"),
    "HrCurve": ("cohortcalc.effects", "HrCurve"),
    "Imputations": ("cohortcalc.imputation", "Imputations"),
    "IncrementalValueResult": ("cohortcalc.performance.incremental", "IncrementalValueResult"),
    "PooledResult": ("cohortcalc.imputation", "PooledResult"),
    "PooledTest": ("cohortcalc.imputation", "PooledTest"),
    "PredictedRisk": ("cohortcalc.survival.predict", "PredictedRisk"),
    "ReclassificationResult": (
        "cohortcalc.performance.reclassification",
        "ReclassificationResult",
    ),
    "ScoreResult": ("cohortcalc.performance.score", "ScoreResult"),
    "StandardizedRisk": ("cohortcalc.effects.standardized", "StandardizedRisk"),
    "Table": ("cohortcalc.reporting", "Table"),
    "ValidationResult": ("cohortcalc.analysis", "ValidationResult"),
    "additive_interaction": ("cohortcalc.effects", "additive_interaction"),
    "agatston": ("cohortcalc.features", "agatston"),
    "calibration": ("cohortcalc.performance.calibration", "calibration"),
    "check_mapping": ("cohortcalc.ingest.check", "check_mapping"),
    "concordance": ("cohortcalc.performance.concordance", "concordance"),
    "cox": ("cohortcalc.survival.cox", "cox"),
    "cumulative_incidence": ("cohortcalc.survival.nonparametric", "cumulative_incidence"),
    "derive": ("cohortcalc.features", "derive"),
    "evalue": ("cohortcalc.effects", "evalue"),
    "evalues": ("cohortcalc.effects", "evalues"),
    "export_table": ("cohortcalc.reporting", "export_table"),
    "finegray": ("cohortcalc.survival.finegray", "finegray"),
    "finegray_ph_test": ("cohortcalc.survival.finegray_proportionality", "finegray_ph_test"),
    "forest_plot": ("cohortcalc.reporting", "forest_plot"),
    "forest_rows": ("cohortcalc.reporting", "forest_rows"),
    "gray_test": ("cohortcalc.survival.tests", "gray_test"),
    "hr_curve": ("cohortcalc.effects", "hr_curve"),
    "hr_table": ("cohortcalc.reporting", "hr_table"),
    "impute": ("cohortcalc.imputation", "impute"),
    "incidence_rates": ("cohortcalc.survival.rates", "incidence_rates"),
    "incremental_value": ("cohortcalc.performance.incremental", "incremental_value"),
    "kaplan_meier": ("cohortcalc.survival.nonparametric", "kaplan_meier"),
    "load_dictionary": ("cohortcalc.dictionary", "load_dictionary"),
    "logrank": ("cohortcalc.survival.tests", "logrank"),
    "lrtest": ("cohortcalc.survival.tests", "lrtest"),
    "ph_test": ("cohortcalc.survival.proportionality", "ph_test"),
    "plot_cumulative_incidence": ("cohortcalc.reporting", "plot_cumulative_incidence"),
    "plot_hr_curve": ("cohortcalc.effects.figures", "plot_hr_curve"),
    "plot_imputation_trace": ("cohortcalc.imputation", "plot_imputation_trace"),
    "plot_imputed_vs_observed": ("cohortcalc.imputation", "plot_imputed_vs_observed"),
    "plot_survival": ("cohortcalc.reporting", "plot_survival"),
    "pool": ("cohortcalc.imputation", "pool"),
    "predict": ("cohortcalc.survival.predict", "predict"),
    "rcs_basis": ("cohortcalc.survival.splines", "rcs_basis"),
    "rcs_knots": ("cohortcalc.survival.splines", "rcs_knots"),
    "rcs_knots_from_counts": ("cohortcalc.survival.splines", "rcs_knots_from_counts"),
    "reclassification": ("cohortcalc.performance.reclassification", "reclassification"),
    "run": ("cohortcalc.analysis", "run"),
    "save_figure": ("cohortcalc.reporting", "save_figure"),
    "score": ("cohortcalc.performance.score", "score"),
    "simulate": ("cohortcalc.synth", "simulate_cohort"),
    "standardized_risk": ("cohortcalc.effects.standardized", "standardized_risk"),
    "suppress_small_cells": ("cohortcalc.reporting", "suppress_small_cells"),
    "table_one": ("cohortcalc.reporting", "table_one"),
    "trend_test": ("cohortcalc.survival.tests", "trend_test"),
    "validate": ("cohortcalc.analysis", "validate"),
    "write_word": ("cohortcalc.reporting", "write_word"),
}

try:
    __version__ = version("cohortcalc")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "AdditiveInteraction",
    "AnalysisResult",
    "CalibrationResult",
    "CohortcalcError",
    "CohortcalcWarning",
    "ConcordanceResult",
    "ConvergenceWarning",
    "CoxResult",
    "DataQualityWarning",
    "DeriveOptionError",
    "DictionaryError",
    "EValue",
    "FeatureError",
    "FineGrayResult",
    "FrameError",
    "HrCurve",
    "Imputations",
    "IncrementalValueResult",
    "IngestError",
    "IngestReport",
    "ModelError",
    "ModelWarning",
    "OutputError",
    "PooledResult",
    "PooledTest",
    "PredictedRisk",
    "ReclassificationResult",
    "ScoreResult",
    "SpecError",
    "StandardizedRisk",
    "Table",
    "ValidationResult",
    "__version__",
    "additive_interaction",
    "agatston",
    "calibration",
    "check_mapping",
    "concordance",
    "cox",
    "cumulative_incidence",
    "derive",
    "evalue",
    "evalues",
    "export_table",
    "finegray",
    "finegray_ph_test",
    "forest_plot",
    "forest_rows",
    "gray_test",
    "hr_curve",
    "hr_table",
    "impute",
    "incidence_rates",
    "incremental_value",
    "ingest",
    "kaplan_meier",
    "load_dictionary",
    "logrank",
    "lrtest",
    "ph_test",
    "plot_cumulative_incidence",
    "plot_hr_curve",
    "plot_imputation_trace",
    "plot_imputed_vs_observed",
    "plot_survival",
    "pool",
    "predict",
    "rcs_basis",
    "rcs_knots",
    "rcs_knots_from_counts",
    "read_store",
    "reclassification",
    "run",
    "save_figure",
    "score",
    "simulate",
    "standardized_risk",
    "suppress_small_cells",
    "table_one",
    "trend_test",
    "validate",
    "write_word",
]


__getattr__, __dir__ = lazy_names(globals(), _LAZY)
