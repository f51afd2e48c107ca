"""Multiple imputation by chained equations and Rubin's rules (``cc.impute``, ``cc.pool``).

Above ``features`` and ``survival``: it imputes raw inputs, re-derives features from them with
``cc.derive`` and pools the fits of each completed data set.
"""

from cohortcalc.imputation.figures import plot_imputation_trace, plot_imputed_vs_observed
from cohortcalc.imputation.impute import impute
from cohortcalc.imputation.pooled_tests import PooledTest
from cohortcalc.imputation.pooling import PooledResult, pool
from cohortcalc.imputation.results import Imputations

__all__ = [
    "Imputations",
    "PooledResult",
    "PooledTest",
    "impute",
    "plot_imputation_trace",
    "plot_imputed_vs_observed",
    "pool",
]
